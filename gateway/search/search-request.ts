/**
 * Reading a search request's query string into a checked request, or a clear
 * refusal: every parameter is known (a typo is named, not ignored), given at
 * most once, within its length, and of its type. The parameters are those of
 * openapi.ts. Refusals are SearchRequestError with the code the API answers:
 * QUERY_TOO_LONG (414) for a query string or a pattern over its limit,
 * BAD_QUERY (400) for anything else.
 */
import { MAX_LIMIT, MIN_SUBSTRING } from './search-index.js';

export class SearchRequestError extends Error {
  constructor(
    readonly code: 'BAD_QUERY' | 'QUERY_TOO_LONG',
    message: string,
  ) {
    super(message);
    this.name = 'SearchRequestError';
  }
}

export const MAX_PATTERN_CHARS = 1024;
export const DEFAULT_LIMIT = 50;
const SITE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const VSN = /^[A-Z0-9_]{1,32}$/;
const SHA256 = /^[0-9a-fA-F]{64}$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

export const FILE_PARAMS = [
  'q',
  'glob',
  'regex',
  'path',
  'sha256',
  'site',
  'vsn',
  'sizeMin',
  'sizeMax',
  'modifiedFrom',
  'modifiedBefore',
  'newSince',
  'limit',
  'cursor',
] as const;
export const VOLUME_PARAMS = ['site', 'newSince', 'limit', 'cursor'] as const;

export interface FileRequest {
  q?: string;
  glob?: string;
  regex?: string;
  path?: string;
  sha256?: string;
  site?: string;
  vsn?: string;
  sizeMin?: number;
  sizeMax?: number;
  /** seconds since the epoch */
  modifiedFrom?: number;
  modifiedBefore?: number;
  /** ms since the epoch */
  newSince?: number;
  limit: number;
  cursor?: string;
}

export interface VolumeRequest {
  site?: string;
  newSince?: number;
  limit: number;
  cursor?: string;
}

/** The query string's parameters, each once and known; throws SearchRequestError. */
function params(raw: string, known: readonly string[], maxChars: number): Map<string, string> {
  if (raw.length > maxChars) {
    throw new SearchRequestError('QUERY_TOO_LONG', `the query string is ${raw.length} characters; at most ${maxChars}`);
  }
  let search: URLSearchParams;
  try {
    // URLSearchParams replaces bad percent-escapes rather than failing: check them first
    decodeURIComponent(raw.replaceAll('+', ' '));
    search = new URLSearchParams(raw);
  } catch {
    throw new SearchRequestError('BAD_QUERY', 'the query string has a bad percent-escape');
  }
  const out = new Map<string, string>();
  for (const [name, value] of search) {
    if (!known.includes(name)) {
      throw new SearchRequestError(
        'BAD_QUERY',
        `unknown parameter ${JSON.stringify(name)}; known: ${known.join(', ')}`,
      );
    }
    if (out.has(name)) throw new SearchRequestError('BAD_QUERY', `parameter ${name} is given more than once`);
    if (value.includes('\u0000'))
      throw new SearchRequestError('BAD_QUERY', `parameter ${name} contains a NUL character`);
    out.set(name, value);
  }
  return out;
}

function text(p: Map<string, string>, name: string, max = MAX_PATTERN_CHARS): string | undefined {
  const v = p.get(name);
  if (v === undefined) return undefined;
  if (v === '') throw new SearchRequestError('BAD_QUERY', `${name} is empty`);
  if ([...v].length > max) {
    throw new SearchRequestError('QUERY_TOO_LONG', `${name} is ${[...v].length} characters; at most ${max}`);
  }
  return v;
}

function matching(p: Map<string, string>, name: string, re: RegExp, what: string): string | undefined {
  const v = p.get(name);
  if (v === undefined) return undefined;
  if (!re.test(v))
    throw new SearchRequestError('BAD_QUERY', `${name} must be ${what}, not ${JSON.stringify(v.slice(0, 80))}`);
  return v;
}

function integer(p: Map<string, string>, name: string, min: number, max: number): number | undefined {
  const v = p.get(name);
  if (v === undefined) return undefined;
  const n = /^\d{1,16}$/.test(v) ? Number(v) : Number.NaN;
  if (!(Number.isSafeInteger(n) && n >= min && n <= max)) {
    throw new SearchRequestError(
      'BAD_QUERY',
      `${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(v.slice(0, 80))}`,
    );
  }
  return n;
}

/** A date (YYYY-MM-DD, midnight UTC) or date-time with a zone, as ms since the epoch. */
function date(p: Map<string, string>, name: string): number | undefined {
  const v = p.get(name);
  if (v === undefined) return undefined;
  const ms = DATE_ONLY.test(v) ? Date.parse(`${v}T00:00:00Z`) : DATE_TIME.test(v) ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(ms) || (DATE_ONLY.test(v) && new Date(ms).toISOString().slice(0, 10) !== v)) {
    throw new SearchRequestError(
      'BAD_QUERY',
      `${name} must be a date (2026-11-22) or a date-time with a zone (2026-11-22T08:00:00Z), not ${JSON.stringify(v.slice(0, 80))}`,
    );
  }
  return ms;
}

function limit(p: Map<string, string>): number {
  return integer(p, 'limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT;
}

export function parseFileRequest(raw: string, maxChars: number): FileRequest {
  const p = params(raw, FILE_PARAMS, maxChars);
  const r: FileRequest = { limit: limit(p) };
  const q = text(p, 'q');
  if (q !== undefined) {
    if ([...q].length < MIN_SUBSTRING) {
      throw new SearchRequestError(
        'BAD_QUERY',
        `q must be at least ${MIN_SUBSTRING} characters (use glob or regex for less)`,
      );
    }
    r.q = q;
  }
  const set = <K extends keyof FileRequest>(k: K, v: FileRequest[K] | undefined) => {
    if (v !== undefined) r[k] = v;
  };
  set('glob', text(p, 'glob'));
  set('regex', text(p, 'regex'));
  set('path', text(p, 'path', 4096));
  set('sha256', matching(p, 'sha256', SHA256, '64 hexadecimal digits')?.toLowerCase());
  set('site', matching(p, 'site', SITE, 'a site name (lowercase letters, digits, dashes)'));
  set('vsn', matching(p, 'vsn', VSN, 'a volume serial (A-Z, 0-9, _)'));
  set('sizeMin', integer(p, 'sizeMin', 0, Number.MAX_SAFE_INTEGER));
  set('sizeMax', integer(p, 'sizeMax', 0, Number.MAX_SAFE_INTEGER));
  const from = date(p, 'modifiedFrom');
  const before = date(p, 'modifiedBefore');
  if (from !== undefined) r.modifiedFrom = Math.ceil(from / 1000);
  if (before !== undefined) r.modifiedBefore = Math.ceil(before / 1000);
  set('newSince', date(p, 'newSince'));
  set('cursor', p.get('cursor'));
  if (r.sizeMin !== undefined && r.sizeMax !== undefined && r.sizeMin > r.sizeMax) {
    throw new SearchRequestError('BAD_QUERY', 'sizeMin is more than sizeMax');
  }
  return r;
}

export function parseVolumeRequest(raw: string, maxChars: number): VolumeRequest {
  const p = params(raw, VOLUME_PARAMS, maxChars);
  const r: VolumeRequest = { limit: limit(p) };
  const site = matching(p, 'site', SITE, 'a site name (lowercase letters, digits, dashes)');
  if (site !== undefined) r.site = site;
  const since = date(p, 'newSince');
  if (since !== undefined) r.newSince = since;
  const cursor = p.get('cursor');
  if (cursor !== undefined) r.cursor = cursor;
  return r;
}

/** The filters of a request (no page size, no cursor): what a cursor is bound to. */
export function filtersOf(r: FileRequest | VolumeRequest): Record<string, unknown> {
  const { limit: _l, cursor: _c, ...filters } = r;
  return filters;
}
