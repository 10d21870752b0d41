/**
 * One page of a file search: the index's own filters, plus globs and regexes
 * matched here (path-matchers.ts) over a scan the index narrows by the
 * pattern's literal. A pattern scan is bounded by a time budget: when it runs
 * out before the page is full, the page comes back `complete: false` with
 * `next` at the last path looked at, so the client scans on with the next
 * request and the gateway never spends more than the budget on one request.
 *
 * `next` is null only when the index holds no further match; with a full page
 * it is the last hit (the next page may then turn out empty).
 */
import { globMatcher, longest, type PathMatcher, regexMatcher } from './path-matchers.js';
import type { FileHit, FileKey, FileQuery, SearchIndex } from './search-index.js';
import { MIN_SUBSTRING } from './search-index.js';

export interface FileSearch extends Omit<FileQuery, 'limit' | 'after'> {
  glob?: string;
  regex?: string;
  limit: number;
  after?: FileKey;
}

export interface FilePage {
  hits: FileHit[];
  next: FileKey | null;
  complete: boolean;
}

export interface FileSearchOptions {
  /** Most time a glob or regex scan may take, ms. */
  budgetMs: number;
  /** Rows fetched from the index per step of a scan. */
  batch?: number;
  now?: () => number;
}

export function keyOf(h: FileKey): FileKey {
  return { site: h.site, vsn: h.vsn, entry: h.entry };
}

/** Compiles the request's patterns (throws PatternError for one that cannot be used). */
export function matchersOf(s: Pick<FileSearch, 'glob' | 'regex'>): PathMatcher[] {
  const m: PathMatcher[] = [];
  if (s.glob !== undefined) m.push(globMatcher(s.glob));
  if (s.regex !== undefined) m.push(regexMatcher(s.regex));
  return m;
}

export async function searchFiles(index: SearchIndex, s: FileSearch, o: FileSearchOptions): Promise<FilePage> {
  const { glob: _g, regex: _r, limit, after, ...filters } = s;
  const matchers = matchersOf(s);
  if (matchers.length === 0) {
    const rows = await index.findFiles({ ...filters, limit: limit + 1, ...(after ? { after } : {}) });
    const hits = rows.slice(0, limit);
    return { hits, next: rows.length > limit ? keyOf(hits[hits.length - 1]!) : null, complete: true };
  }
  // narrow by the longest literal a match must contain, unless the request names a substring itself
  const literal = longest(matchers.map((m) => m.literal));
  const narrowed =
    filters.pathContains === undefined && [...literal].length >= MIN_SUBSTRING
      ? { ...filters, pathContains: literal }
      : filters;
  const now = o.now ?? Date.now;
  const deadline = now() + o.budgetMs;
  const batch = o.batch ?? 500;
  const hits: FileHit[] = [];
  let position = after;
  for (;;) {
    const rows = await index.findFiles({ ...narrowed, limit: batch, ...(position ? { after: position } : {}) });
    for (const row of rows) {
      if (!matchers.every((m) => m.test(row.path))) continue;
      if (hits.length === limit) return { hits, next: keyOf(hits[limit - 1]!), complete: true };
      hits.push(row);
    }
    if (rows.length < batch) return { hits, next: null, complete: true };
    position = keyOf(rows[rows.length - 1]!);
    if (now() >= deadline) return { hits, next: position, complete: hits.length === limit };
  }
}
