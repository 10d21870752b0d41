/**
 * `optarc find` and `optarc whereis`: the gateway's search API from the
 * command line (client.gateway: its URL and a reader token). find pages
 * through the hits with the API's cursors up to --limit; whereis names one
 * file by path or SHA-256 and tells every volume holding it, where its copies
 * sit, and how to restore it from the cloud alone.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../../../config/schema.js';

/** The search API answered with an error (its code and message). */
export class SearchApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SearchApiError';
  }
}

/** No reader token configured. */
export class NoReaderToken extends Error {}

export interface FoundFile {
  site: string;
  vsn: string;
  path: string;
  size: number;
  sha256: string;
  modified: string;
  copies: { copy: number; drive: string; medium: string | null; verifiedAt: string }[];
  object: { key: string; versionId: string };
  extents: { offset: number; length: number }[];
  restore: { expiresAt: string; ranges: { url: string; range: string }[]; curl: string } | null;
}

export class SearchClient {
  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {}

  static fromConfig(client: Config['client']): SearchClient {
    let token = client.gateway.readerToken;
    if (token === undefined) {
      try {
        token = readFileSync(client.gateway.readerTokenFile, 'utf8').trim();
      } catch (e) {
        throw new NoReaderToken(
          `no reader token: set client.gateway.readerToken (OPTARC_CLIENT_GATEWAY_READER_TOKEN) or put one in ${client.gateway.readerTokenFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); optarc-gateway readers add --site SITE makes one`,
        );
      }
    }
    return new SearchClient(client.gateway.url.replace(/\/+$/, ''), token, client.timeoutSeconds * 1000);
  }

  /** Every hit of `query`, following the cursors, at most `max`. */
  async files(query: Record<string, string>, max: number): Promise<{ files: FoundFile[]; more: boolean }> {
    const found: FoundFile[] = [];
    let cursor: string | null = null;
    do {
      const params = new URLSearchParams({ ...query, limit: String(Math.min(1000, max - found.length + 1)) });
      if (cursor) params.set('cursor', cursor);
      const page = (await this.get(`/api/v1/files?${params}`)) as { files: FoundFile[]; next: string | null };
      found.push(...page.files);
      cursor = page.next;
    } while (cursor && found.length <= max);
    return { files: found.slice(0, max), more: found.length > max || cursor !== null };
  }

  private async get(pathAndQuery: string): Promise<unknown> {
    let r: Response;
    try {
      r = await fetch(`${this.url}${pathAndQuery}`, {
        headers: { authorization: `Bearer ${this.token}` },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new SearchApiError(
        0,
        'GATEWAY_UNREACHABLE',
        `cannot reach the gateway at ${this.url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`,
      );
    }
    const text = await r.text();
    let body: { error?: string; message?: string } | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!r.ok) {
      throw new SearchApiError(r.status, body?.error ?? `HTTP_${r.status}`, body?.message ?? text.slice(0, 200));
    }
    return body;
  }
}

/** What `optarc find PATTERN` asks: a glob when --glob or the pattern has * ? or [, a regex with --regex, else a substring. */
export function findQuery(
  pattern: string,
  o: { glob?: boolean; regex?: boolean; site?: string; vsn?: string; newSince?: string },
): Record<string, string> {
  const q: Record<string, string> = {};
  if (o.glob && o.regex) throw new RangeError('--glob and --regex exclude each other');
  if (o.regex) q.regex = pattern;
  else if (o.glob || /[*?[]/.test(pattern)) q.glob = pattern;
  else q.q = pattern;
  if (o.site) q.site = o.site;
  if (o.vsn) q.vsn = o.vsn;
  if (o.newSince) q.newSince = o.newSince;
  return q;
}

/** What `optarc whereis X` asks: a SHA-256 when X is 64 hex digits, else the exact path. */
export function whereisQuery(what: string): Record<string, string> {
  return /^[0-9a-fA-F]{64}$/.test(what) ? { sha256: what } : { path: what.replace(/^\/+/, '') };
}

function size(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** find's table: one line per file. */
export function findTable(files: FoundFile[]): string {
  const rows = [
    ['SITE', 'VSN', 'SIZE', 'MODIFIED', 'COPIES', 'PATH'],
    ...files.map((f) => [
      f.site,
      f.vsn,
      size(f.size),
      f.modified.slice(0, 19).replace('T', ' '),
      String(f.copies.length),
      f.path,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** whereis's report: per volume holding the file, its copies and how to restore it. */
export function whereisText(files: FoundFile[]): string {
  return files
    .map((f) =>
      [
        `${f.path}  (${size(f.size)}, sha256 ${f.sha256})`,
        `  volume ${f.vsn} at site ${f.site}`,
        ...f.copies.map(
          (c) => `  copy ${c.copy}: ${c.medium ?? 'location unknown'} (burned in ${c.drive}, verified ${c.verifiedAt})`,
        ),
        `  cloud: ${f.object.key} (version ${f.object.versionId}), bytes ${f.extents.map((e) => `${e.offset}+${e.length}`).join(', ') || 'none (empty file)'}`,
        ...(f.restore ? [`  restore (link valid until ${f.restore.expiresAt}):`, `    ${f.restore.curl}`] : []),
      ].join('\n'),
    )
    .join('\n\n');
}
