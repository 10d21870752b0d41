/**
 * The search API (described by search/openapi.ts): files by substring, glob,
 * regex, exact path, SHA-256, size, dates, site and VSN; volumes; one volume;
 * each file with its copies and presigned restore links. Volumes carry the
 * latest fixity check of each target (cloud image, disc) agents reported.
 *
 * Who may read: a reader token (identity/reader-tokens.ts) as
 * `Authorization: Bearer`, checked before anything else; every query is
 * scoped to the reader's sites, and a request naming another site is
 * refused 403 FORBIDDEN_SITE (whether or not that site has anything).
 * Errors are JSON `{error: CODE, message}`: 400 BAD_QUERY / BAD_CURSOR,
 * 401 UNAUTHORIZED, 403 FORBIDDEN_SITE, 404 NOT_FOUND, 414 QUERY_TOO_LONG,
 * 503 INDEX_UNAVAILABLE when the gateway runs without an index. Whatever the
 * query string holds, the answer is one of these or 200, never a 500 for input.
 */
import { z } from 'zod';
import { IdentityError } from '../identity/agent-tokens.js';
import { ReaderTokens } from '../identity/reader-tokens.js';
import { CursorError, decodeCursor, encodeCursor, queryDigest } from '../search/cursor.js';
import { searchFiles } from '../search/file-search.js';
import { OPENAPI } from '../search/openapi.js';
import { PatternError } from '../search/path-matchers.js';
import { restoreLinks } from '../search/restore-links.js';
import type { FileHit, FileKey, SearchIndex, VolumeSummary } from '../search/search-index.js';
import {
  type FileRequest,
  filtersOf,
  parseFileRequest,
  parseVolumeRequest,
  SearchRequestError,
} from '../search/search-request.js';
import type { FixityRow } from '../store/gateway-store.js';
import { type HandlerDeps, type HandlerResult, type HttpEvent, header, settingsOf } from './events.js';

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const FileKeySchema = z.strictObject({
  site: z.string().max(63),
  vsn: z.string().max(32),
  entry: z.number().int().min(0),
});
const VolumeKeySchema = z.strictObject({ site: z.string().max(63), vsn: z.string().max(32) });
const CURSOR_KEY = 'search-cursor';

/** The cursors' MAC key: the configured one (shared by instances), else the store's own. */
function cursorKey(deps: HandlerDeps): Buffer {
  const configured = settingsOf(deps).search.cursorKey;
  return configured ? Buffer.from(configured, 'utf8') : deps.store.secret(CURSOR_KEY);
}

function reply(statusCode: number, body: unknown): HandlerResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: `${JSON.stringify(body)}\n`,
  };
}

/** Runs `fn` for an authorised reader, mapping every refusal to its status. */
async function asReader(
  event: HttpEvent,
  deps: HandlerDeps,
  fn: (sites: string[], index: SearchIndex) => Promise<unknown>,
): Promise<HandlerResult> {
  try {
    const auth = header(event.headers, 'authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) throw new ApiError(401, 'UNAUTHORIZED', 'send a reader token: Authorization: Bearer or_...');
    let sites: string[];
    try {
      sites = new ReaderTokens(deps.store, deps.now).verify(m[1]!).sites;
    } catch (e) {
      if (e instanceof IdentityError) throw new ApiError(401, 'UNAUTHORIZED', 'the reader token is not valid');
      throw e;
    }
    if (!deps.index) throw new ApiError(503, 'INDEX_UNAVAILABLE', 'this gateway runs without a manifest index');
    return reply(200, await fn(sites, deps.index));
  } catch (e) {
    if (e instanceof ApiError) return reply(e.status, { error: e.code, message: e.message });
    if (e instanceof SearchRequestError) {
      return reply(e.code === 'QUERY_TOO_LONG' ? 414 : 400, { error: e.code, message: e.message });
    }
    if (e instanceof PatternError) return reply(400, { error: 'BAD_QUERY', message: e.message });
    if (e instanceof CursorError) return reply(400, { error: 'BAD_CURSOR', message: e.message });
    deps.log?.error('search request failed', { path: event.rawPath, error: (e as Error)?.message ?? String(e) });
    return reply(500, { error: 'INTERNAL', message: 'the gateway failed to answer; see its log' });
  }
}

/** The sites a request reads: the one it names (if the reader reads it), else all the reader's. */
function scope(readerSites: string[], site: string | undefined): string[] {
  if (site === undefined) return readerSites;
  if (!readerSites.includes(site)) throw new ApiError(403, 'FORBIDDEN_SITE', `this token does not read site ${site}`);
  return [site];
}

async function fileOut(hit: FileHit, deps: HandlerDeps, now: number) {
  const settings = settingsOf(deps).search;
  return {
    site: hit.site,
    vsn: hit.vsn,
    path: hit.path,
    size: hit.size,
    sha256: hit.sha256,
    modified: new Date(hit.mtimeSeconds * 1000).toISOString(),
    mode: hit.mode,
    session: hit.session,
    part: hit.part,
    volumeCreatedAt: new Date(hit.volumeCreatedAt).toISOString(),
    copies: hit.copies,
    object: { key: hit.key, versionId: hit.versionId },
    extents: hit.extents,
    restore: deps.objects ? await restoreLinks(deps.objects, hit, { seconds: settings.linkSeconds, now }) : null,
  };
}

function fixityOut(f: FixityRow) {
  return {
    target: f.target,
    ok: f.ok,
    checkedAt: new Date(f.checkedAt).toISOString(),
    bytes: f.bytes,
    detail: f.detail,
  };
}

function volumesOut(volumes: VolumeSummary[], deps: HandlerDeps) {
  const fixity = deps.store.fixityOf(volumes);
  return volumes.map((v) => volumeOut(v, fixity.get(`${v.site}/${v.vsn}`) ?? []));
}

function volumeOut(v: VolumeSummary, fixity: FixityRow[]) {
  return {
    site: v.site,
    vsn: v.vsn,
    label: v.label,
    media: v.media,
    createdAt: new Date(v.createdAt).toISOString(),
    mirroredAt: new Date(v.ackedAt).toISOString(),
    sessions: v.sessions,
    files: v.files,
    bytes: v.bytes,
    copies: v.copies,
    image: { key: v.key, versionId: v.versionId, bytes: v.imageBytes, sha256: v.imageSha256 },
    manifest: { key: v.manifestKey },
    fixity: fixity.map(fixityOut),
  };
}

export async function findFilesHandler(event: HttpEvent, deps: HandlerDeps): Promise<HandlerResult> {
  return asReader(event, deps, async (readerSites, index) => {
    const settings = settingsOf(deps).search;
    const r: FileRequest = parseFileRequest(event.rawQueryString ?? '', settings.maxQueryChars);
    const key = cursorKey(deps);
    const digest = queryDigest({ files: 1, ...filtersOf(r) });
    const after: FileKey | undefined = r.cursor ? decodeCursor(key, digest, r.cursor, FileKeySchema) : undefined;
    const page = await searchFiles(
      index,
      {
        sites: scope(readerSites, r.site),
        ...(r.q !== undefined ? { pathContains: r.q } : {}),
        ...(r.glob !== undefined ? { glob: r.glob } : {}),
        ...(r.regex !== undefined ? { regex: r.regex } : {}),
        ...(r.path !== undefined ? { path: r.path } : {}),
        ...(r.sha256 !== undefined ? { sha256: r.sha256 } : {}),
        ...(r.vsn !== undefined ? { vsn: r.vsn } : {}),
        ...(r.sizeMin !== undefined ? { sizeMin: r.sizeMin } : {}),
        ...(r.sizeMax !== undefined ? { sizeMax: r.sizeMax } : {}),
        ...(r.modifiedFrom !== undefined ? { mtimeFrom: r.modifiedFrom } : {}),
        ...(r.modifiedBefore !== undefined ? { mtimeBefore: r.modifiedBefore } : {}),
        ...(r.newSince !== undefined ? { volumeCreatedSince: r.newSince } : {}),
        limit: r.limit,
        ...(after ? { after } : {}),
      },
      { budgetMs: settings.scanBudgetMs, ...(deps.now ? { now: deps.now } : {}) },
    );
    const now = (deps.now ?? Date.now)();
    return {
      files: await Promise.all(page.hits.map((h) => fileOut(h, deps, now))),
      next: page.next ? encodeCursor(key, digest, page.next) : null,
      complete: page.complete,
    };
  });
}

export async function listVolumesHandler(event: HttpEvent, deps: HandlerDeps): Promise<HandlerResult> {
  return asReader(event, deps, async (readerSites, index) => {
    const r = parseVolumeRequest(event.rawQueryString ?? '', settingsOf(deps).search.maxQueryChars);
    const key = cursorKey(deps);
    const digest = queryDigest({ volumes: 1, ...filtersOf(r) });
    const after = r.cursor ? decodeCursor(key, digest, r.cursor, VolumeKeySchema) : undefined;
    const rows = await index.listVolumes({
      sites: scope(readerSites, r.site),
      ...(r.newSince !== undefined ? { createdSince: r.newSince } : {}),
      limit: r.limit + 1,
      ...(after ? { after } : {}),
    });
    const volumes = rows.slice(0, r.limit);
    const last = volumes[volumes.length - 1];
    return {
      volumes: volumesOut(volumes, deps),
      next: rows.length > r.limit && last ? encodeCursor(key, digest, { site: last.site, vsn: last.vsn }) : null,
    };
  });
}

export async function getVolumeHandler(event: HttpEvent, deps: HandlerDeps): Promise<HandlerResult> {
  return asReader(event, deps, async (readerSites, index) => {
    if (event.rawQueryString)
      throw new SearchRequestError('BAD_QUERY', 'a volume is named by its path alone: no parameters');
    const site = event.pathParameters?.site ?? '';
    const vsn = event.pathParameters?.vsn ?? '';
    const sites = scope(readerSites, site);
    const [v] = await index.listVolumes({ sites, vsn, limit: 1 });
    if (!v) throw new ApiError(404, 'NOT_FOUND', `no volume ${vsn} at site ${site}`);
    return { volume: volumesOut([v], deps)[0] };
  });
}

export async function openapiHandler(): Promise<HandlerResult> {
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' },
    body: `${JSON.stringify(OPENAPI, null, 2)}\n`,
  };
}
