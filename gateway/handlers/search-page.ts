/**
 * The archivists' search page: `GET /` redirects to `GET /search`, which serves
 * gateway/web/search.html, and `GET /search/search.js` / `search.css` its
 * script and style. The page is static (no build step, no third-party code) and
 * talks only to the search API (/api/v1/...) with the reader token the user
 * types, plus the presigned S3 GETs of a download. The files are read from the
 * repository's gateway/web/ folder, found relative to this module once compiled
 * (dist/gateway/handlers/ → ../../../gateway/web/), once, then kept. Every
 * answer is `cache-control: no-cache` and carries a strict Content-Security-Policy:
 * scripts and styles from this origin only (no inline code, Trusted Types
 * required so no string can become HTML), images from this origin, data: and
 * blob:, and connections to this origin and to the S3 endpoint that presigned
 * URLs point at, found by presigning a throwaway GET with the handler's own
 * ObjectStore (any https:/http: origin if that fails; this origin only without a bucket).
 */
import { readFile } from 'node:fs/promises';
import type { ObjectStore } from '../s3/object-store.js';
import type { HandlerDeps, HandlerResult, HttpEvent, HttpHandler } from './events.js';

const WEB_DIR = new URL('../../../gateway/web/', import.meta.url);

interface Asset {
  file: string;
  contentType: string;
}

const ASSETS = {
  html: { file: 'search.html', contentType: 'text/html; charset=utf-8' },
  js: { file: 'search.js', contentType: 'text/javascript; charset=utf-8' },
  css: { file: 'search.css', contentType: 'text/css; charset=utf-8' },
} as const satisfies Record<string, Asset>;

/** Each file's text, read on first use and kept; a failed read is retried next time. */
const cache = new Map<string, Promise<string>>();

function load(asset: Asset): Promise<string> {
  let text = cache.get(asset.file);
  if (!text) {
    text = readFile(new URL(asset.file, WEB_DIR), 'utf8');
    cache.set(asset.file, text);
    text.catch(() => cache.delete(asset.file));
  }
  return text;
}

/** The origin presigned GETs point at, per bucket (null: presigning failed). */
const s3Origins = new WeakMap<ObjectStore, Promise<string | null>>();

async function s3Origin(objects: ObjectStore): Promise<string | null> {
  let origin = s3Origins.get(objects);
  if (!origin) {
    origin = objects
      .presignRangeGet('sites/csp-probe', { start: 0, end: 0, seconds: 60 })
      .then((url) => new URL(url).origin)
      .catch(() => null);
    s3Origins.set(objects, origin);
  }
  return origin;
}

/** What the page may connect to: this origin, and where the bucket's presigned URLs go. */
async function connectSources(deps: HandlerDeps): Promise<string> {
  if (!deps.objects) return "'self'";
  const origin = await s3Origin(deps.objects);
  if (origin && /^https?:\/\/[^\s;,']+$/.test(origin)) return `'self' ${origin}`;
  deps.log?.warn('search page: cannot tell the S3 origin, allowing any in connect-src');
  return "'self' https: http:";
}

async function securityHeaders(deps: HandlerDeps): Promise<Record<string, string>> {
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    `connect-src ${await connectSources(deps)}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
  return {
    'cache-control': 'no-cache',
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
}

function serve(asset: Asset): HttpHandler {
  return async (_event: HttpEvent, deps: HandlerDeps): Promise<HandlerResult> => {
    let body: string;
    try {
      body = await load(asset);
    } catch (e) {
      deps.log?.error('search page: cannot read asset', { file: asset.file, error: (e as Error).message });
      return {
        statusCode: 500,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' },
        body: `the search page's ${asset.file} is missing from this deployment\n`,
      };
    }
    return {
      statusCode: 200,
      headers: { 'content-type': asset.contentType, ...(await securityHeaders(deps)) },
      body,
    };
  };
}

async function redirectToSearch(): Promise<HandlerResult> {
  return {
    statusCode: 302,
    headers: { location: '/search', 'cache-control': 'no-cache', 'content-type': 'text/plain; charset=utf-8' },
    body: 'see /search\n',
  };
}

export const SEARCH_PAGE_ROUTES: Record<string, HttpHandler> = {
  'GET /': redirectToSearch,
  'GET /search': serve(ASSETS.html),
  'GET /search/search.js': serve(ASSETS.js),
  'GET /search/search.css': serve(ASSETS.css),
};
