/**
 * The catalog as ImageNet's data dictionary: volumes (new since a date), files
 * by pattern (EXACT bytes, SQL LIKE with % and _, or a glob), and where a file
 * is (by path or SHA-256): its volumes, their copies, which drive holds one
 * now, the cloud object and the last fixity checks.
 *
 * Owns: the SQL of these queries, the path-pattern matchers (LIKE and glob
 * over the path's characters, case-sensitive), the paging cookies, and the
 * bounds of every answer (strings clipped to optarc.x's bounds, copies to
 * OPTARC_MAX_COPIES, a page to OPTARC_MAX_HITS and to a byte budget well under
 * the agent's smallest allowed record size).
 *
 * Paging: every listing has a stable order whose last key the cookie names.
 * Volumes go by (created, id); files and locations by their volume's
 * (created, id), then volume_files' primary key (session, file id, path in
 * the image), so a LIKE or glob page walks that index volume by volume and
 * reads only the rows up to its last hit. A cookie is a 48-bit row id
 * (volumes.id, or volume_files' rowid) under a 16-bit check derived from the
 * listing's kind and that id: the next page starts strictly after that row's
 * key, so volumes or files added meanwhile never repeat a hit or shift the
 * pages (new volumes sort after the old ones). A cookie failing its check, or
 * naming a row that does not exist, is CatalogQueryError BAD_COOKIE.
 */

import { createHash } from 'node:crypto';
import {
  OPTARC_MAX_COPIES,
  OPTARC_MAX_DRIVE,
  OPTARC_MAX_HITS,
  OPTARC_MAX_KEY,
  OPTARC_MAX_LABEL,
  OPTARC_MAX_MEDIA,
  OPTARC_MAX_NAME,
  OPTARC_MAX_PATH,
  OPTARC_MAX_TEXT,
  OPTARC_SHA256_SIZE,
  type OptarcCatCopy,
  type OptarcCatFile,
  type OptarcCatVolume,
  type OptarcLocation,
  type OptarcTime,
} from '../../clients/protocol/generated/optarc.js';
import { cloudObjectOf } from '../cloud/cloud-reader.js';
import type { DrivePool } from '../drives/drive-pool.js';
import type { Catalog, CopyRow } from './catalog.js';

export interface CatalogQueriesOptions {
  catalog: Catalog;
  pool: DrivePool;
  /** How paths' bytes read as characters for LIKE and glob; unset: UTF-8 when valid, else ISO-8859-1. */
  charset?: 'utf-8' | 'iso-8859-1';
  /** Bytes one page may take encoded (default 512 KiB; the agent accepts records of 1 MiB + 4 KiB at least). */
  maxPageBytes?: number;
}

export type CatalogQueryCode = 'BAD_ARGUMENT' | 'BAD_COOKIE' | 'NOT_FOUND';

/** A query the catalog cannot answer as asked: the code is the contract's status without its prefix. */
export class CatalogQueryError extends Error {
  readonly code: CatalogQueryCode;
  constructor(code: CatalogQueryCode, message: string) {
    super(message);
    this.name = 'CatalogQueryError';
    this.code = code;
  }
}

export type MatchKind = 'exact' | 'like' | 'glob';

export interface Page<T> {
  items: T[];
  cookie: bigint;
  eof: boolean;
}

export interface PageRequest {
  cookie: bigint;
  /** 0: as many as a page holds; more than OPTARC_MAX_HITS: OPTARC_MAX_HITS. */
  count: number;
}

export interface FindRequest extends PageRequest {
  match: MatchKind;
  pattern: Buffer;
  since: OptarcTime;
  /** Only this volume; '' for all. */
  vsn: string;
}

export interface WhereisRequest extends PageRequest {
  path: Buffer;
  sha256: Buffer | null;
}

const DEFAULT_PAGE_BYTES = 512 * 1024;
const ZERO_SHA = Buffer.alloc(OPTARC_SHA256_SIZE);
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
const ID_BITS = 48n;
const ID_MASK = (1n << ID_BITS) - 1n;
type Listing = 'volumes' | 'files';

/** One archived file (or part) on one volume, as the SQL returns it. */
interface HitRow {
  rowid: bigint;
  volume_id: bigint;
  vsn: string;
  session: bigint;
  path: Buffer;
  size: bigint;
  mode: bigint;
  mtime_s: bigint;
  mtime_ns: bigint;
  sha256: Buffer;
  part_index: bigint | null;
  part_count: bigint | null;
  part_offset: bigint | null;
  part_length: bigint | null;
}

/** Where a files (or locations) listing stands: the sort key of its last hit. */
interface HitKey {
  created: bigint;
  volume: bigint;
  session: bigint;
  file: bigint;
  image: Buffer;
}

const FIRST_HIT: HitKey = { created: -(2n ** 62n), volume: 0n, session: -1n, file: -1n, image: Buffer.alloc(0) };

const HIT_SELECT = `
  SELECT vf.rowid AS rowid, v.id AS volume_id, v.vsn AS vsn, vf.session AS session, f.path AS path,
         f.size AS size, f.mode AS mode, f.mtime_s AS mtime_s, f.mtime_ns AS mtime_ns, f.sha256 AS sha256,
         vf.part_index AS part_index, vf.part_count AS part_count, vf.part_offset AS part_offset,
         vf.part_length AS part_length`;
const DONE = `f.state = 'archived' AND v.state IN ('finished', 'mirrored')`;
/** An archived file (or part) on a volume that is done (finished, mirrored), a volume's files at a time. */
const HIT_COLUMNS = `${HIT_SELECT}
  FROM volume_files vf JOIN files f ON f.id = vf.file_id JOIN volumes v ON v.id = vf.volume_id
  WHERE ${DONE}`;
/** The same, files first (CROSS JOIN fixes the order): a SHA-256 through its index, a path in one pass. */
const FILE_FIRST_COLUMNS = `${HIT_SELECT}
  FROM files f CROSS JOIN volume_files vf ON vf.file_id = f.id CROSS JOIN volumes v ON v.id = vf.volume_id
  WHERE ${DONE}`;
/** The order of every files listing: the volume's (created, id), then volume_files' primary key. */
const HIT_ORDER = 'ORDER BY v.created_at, v.id, vf.session, vf.file_id, vf.image_path';

export class CatalogQueries {
  constructor(readonly o: CatalogQueriesOptions) {}

  private get db() {
    return this.o.catalog.database;
  }

  private get pageBytes(): number {
    return this.o.maxPageBytes ?? DEFAULT_PAGE_BYTES;
  }

  /** Every volume of the agent created at or after `since` (0 seconds: all), by creation then id. */
  async volumes(since: OptarcTime, page: PageRequest): Promise<Page<OptarcCatVolume>> {
    const sinceMs = sinceMillis(since);
    const count = pageCount(page.count);
    const after = this.volumeKey(page.cookie);
    const rows = this.db
      .prepare(
        `SELECT id FROM volumes WHERE created_at >= ? AND (created_at, id) > (?, ?)
         ORDER BY created_at, id LIMIT ?`,
      )
      .all(sinceMs, after[0], after[1], count + 1) as { id: bigint }[];
    const views = new VolumeViews(this, await loadedDrives(this.o.pool));
    const items: OptarcCatVolume[] = [];
    let bytes = 12;
    let last = page.cookie;
    for (const r of rows.slice(0, count)) {
      const v = views.of(Number(r.id));
      const size = volumeBytes(v);
      if (items.length > 0 && bytes + size > this.pageBytes) return { items, cookie: last, eof: false };
      items.push(v);
      bytes += size;
      last = makeCookie('volumes', r.id);
    }
    return { items, cookie: last, eof: rows.length <= count };
  }

  /** Archived files whose path matches, on volumes created at or after `since`, optionally on one volume. */
  find(q: FindRequest): Page<OptarcCatFile> {
    const sinceMs = sinceMillis(q.since);
    const count = pageCount(q.count);
    const after = this.hitKey(q.cookie);
    let filter = 'AND v.created_at >= ?';
    const args: unknown[] = [sinceMs];
    if (q.vsn !== '') {
      if (!this.o.catalog.volumeByVsn(q.vsn)) {
        throw new CatalogQueryError('NOT_FOUND', `no volume ${q.vsn} in the catalog: see the VSNs CAT_VOLUMES lists`);
      }
      filter += ' AND v.vsn = ?';
      args.push(q.vsn);
    }
    let test: (path: Buffer) => boolean = () => true;
    let needles: Buffer[] = [];
    if (q.match === 'exact') {
      if (q.pattern.length === 0) {
        throw new CatalogQueryError(
          'BAD_ARGUMENT',
          'an EXACT match needs a path: use LIKE or GLOB with "" for every file',
        );
      }
      filter += ' AND f.path = ?';
      args.push(q.pattern);
    } else if (q.pattern.length > 0) {
      const text = this.text(q.pattern, 'pattern');
      const pattern = q.match === 'like' ? parseLike(text) : parseGlob(text);
      test = (path) => matches(pattern, [...this.text(path, 'path')]);
      needles = literalRuns(pattern);
    }
    const hits =
      q.match === 'exact'
        ? this.fewHits(filter, args, after, count)
        : this.scanHits(after, sinceMs, q.vsn, count, needles, test);
    return this.paged(hits, count, q.cookie, (h) => toFile(h), fileBytes);
  }

  /** Every volume holding the file with this content (sha256), or else this exact path. */
  async whereis(q: WhereisRequest): Promise<Page<OptarcLocation>> {
    const count = pageCount(q.count);
    const after = this.hitKey(q.cookie);
    let filter: string;
    let arg: Buffer;
    if (q.sha256) {
      if (q.sha256.length !== OPTARC_SHA256_SIZE) {
        throw new CatalogQueryError('BAD_ARGUMENT', `a SHA-256 is ${OPTARC_SHA256_SIZE} bytes, not ${q.sha256.length}`);
      }
      filter = 'AND f.sha256 = ?';
      arg = q.sha256;
    } else {
      if (q.path.length === 0) throw new CatalogQueryError('BAD_ARGUMENT', 'CAT_WHEREIS needs a path or a SHA-256');
      filter = 'AND f.path = ?';
      arg = q.path;
    }
    const hits = this.fewHits(filter, [arg], after, count);
    const views = new VolumeViews(this, await loadedDrives(this.o.pool));
    return this.paged(
      hits,
      count,
      q.cookie,
      (h) => ({ file: toFile(h), volume: views.of(Number(h.volume_id)) }),
      (l) => fileBytes(l.file) + volumeBytes(l.volume),
    );
  }

  /**
   * Up to count + 1 hits after `after` (the extra one tells eof) among the few
   * rows an index finds (a SHA-256, an exact path): one query, sorted.
   */
  private fewHits(filter: string, args: unknown[], after: HitKey, count: number): HitRow[] {
    return this.db
      .prepare(
        `${FILE_FIRST_COLUMNS} ${filter}
         AND (v.created_at, v.id, vf.session, vf.file_id, vf.image_path) > (?, ?, ?, ?, ?)
         ${HIT_ORDER} LIMIT ?`,
      )
      .all(...args, after.created, after.volume, after.session, after.file, after.image, count + 1) as HitRow[];
  }

  /**
   * Up to count + 1 hits after `after` whose path passes `test`: volume by
   * volume in order, each volume's files along volume_files' primary key, so
   * a page reads only the rows up to its last hit (no sort of the catalog).
   * SQLite drops first the paths lacking one of `needles` (bytes every match
   * contains), so a rare pattern does not cost a JavaScript call per file.
   */
  private scanHits(
    after: HitKey,
    sinceMs: bigint,
    vsn: string,
    count: number,
    needles: Buffer[],
    test: (path: Buffer) => boolean,
  ): HitRow[] {
    const volumes = this.db
      .prepare(
        `SELECT id FROM volumes WHERE state IN ('finished', 'mirrored') AND created_at >= ?
           AND (created_at, id) >= (?, ?) ${vsn ? 'AND vsn = ?' : ''}
         ORDER BY created_at, id`,
      )
      .all(sinceMs, after.created, after.volume, ...(vsn ? [vsn] : [])) as { id: bigint }[];
    const files = this.db.prepare(
      `${HIT_COLUMNS} AND vf.volume_id = ? AND (vf.session, vf.file_id, vf.image_path) > (?, ?, ?)
       ${needles.map(() => 'AND instr(f.path, ?) > 0').join(' ')}
       ORDER BY vf.session, vf.file_id, vf.image_path`,
    );
    const out: HitRow[] = [];
    for (const { id } of volumes) {
      const from = id === after.volume ? after : FIRST_HIT;
      // read to its end or left early; nothing else runs on the connection meanwhile
      for (const row of files.iterate(
        id,
        from.session,
        from.file,
        from.image,
        ...needles,
      ) as IterableIterator<HitRow>) {
        if (!test(row.path)) continue;
        out.push(row);
        if (out.length > count) return out;
      }
    }
    return out;
  }

  /** A page of at most `count` items and the page byte budget, its cookie naming the last one. */
  private paged<T>(
    hits: HitRow[],
    count: number,
    cookie: bigint,
    view: (h: HitRow) => T,
    size: (t: T) => number,
  ): Page<T> {
    const items: T[] = [];
    let bytes = 12;
    let last = cookie;
    for (const h of hits.slice(0, count)) {
      const item = view(h);
      const n = size(item);
      if (items.length > 0 && bytes + n > this.pageBytes) return { items, cookie: last, eof: false };
      items.push(item);
      bytes += n;
      last = makeCookie('files', h.rowid);
    }
    return { items, cookie: last, eof: hits.length <= count };
  }

  /** The (created, id) a volumes cookie continues after. */
  private volumeKey(cookie: bigint): [bigint, bigint] {
    if (cookie === 0n) return [-(2n ** 62n), 0n];
    const id = readCookie('volumes', cookie);
    const r = this.db.prepare('SELECT created_at FROM volumes WHERE id = ?').get(id) as
      | { created_at: bigint }
      | undefined;
    if (!r) throw badCookie(cookie);
    return [r.created_at, id];
  }

  /** The sort key of the hit a files (or locations) cookie continues after. */
  private hitKey(cookie: bigint): HitKey {
    if (cookie === 0n) return FIRST_HIT;
    const rowid = readCookie('files', cookie);
    const r = this.db
      .prepare(
        `SELECT v.created_at AS created, v.id AS volume, vf.session AS session, vf.file_id AS file,
                vf.image_path AS image
         FROM volume_files vf JOIN volumes v ON v.id = vf.volume_id WHERE vf.rowid = ?`,
      )
      .get(rowid) as HitKey | undefined;
    if (!r) throw badCookie(cookie);
    return r;
  }

  /** A path's (or pattern's) bytes as characters, in the agent's charset. */
  private text(bytes: Buffer, what: string): string {
    if (this.o.charset === 'iso-8859-1') return bytes.toString('latin1');
    try {
      return STRICT_UTF8.decode(bytes);
    } catch {
      if (this.o.charset === 'utf-8' && what === 'pattern') {
        throw new CatalogQueryError('BAD_ARGUMENT', 'the pattern is not valid UTF-8, the agent charset');
      }
      return bytes.toString('latin1');
    }
  }

  /** The copies, fixity words and cloud object of one volume. */
  volumeView(id: number, loaded: Map<string, string[]>): OptarcCatVolume {
    const v = this.o.catalog.volume(id);
    if (!v) throw new CatalogQueryError('NOT_FOUND', `volume ${id} vanished from the catalog`);
    const files = this.db
      .prepare('SELECT COUNT(DISTINCT file_id) AS n FROM volume_files WHERE volume_id = ?')
      .get(id) as { n: bigint };
    const cloud = cloudObjectOf(this.o.catalog, id);
    return {
      vsn: clip(v.vsn, OPTARC_MAX_LABEL),
      label: clip(v.label, OPTARC_MAX_LABEL),
      media: clip(v.media, OPTARC_MAX_MEDIA),
      state: clip(v.state, OPTARC_MAX_NAME),
      created: timeOf(v.createdAt),
      image_bytes: v.imageBytes ?? 0n,
      image_sha256: v.imageSha256?.length === OPTARC_SHA256_SIZE ? v.imageSha256 : ZERO_SHA,
      sessions: v.sessions,
      files: Number(files.n),
      copies: copiesOf(this.o.catalog.volumeCopies(id), loaded.get(v.vsn) ?? []),
      cloud_key: clip(cloud?.key ?? '', OPTARC_MAX_KEY),
      cloud_version: clip(cloud?.versionId ?? '', OPTARC_MAX_KEY),
      fixity: clip(this.fixityWords(id), OPTARC_MAX_TEXT),
    };
  }

  /** The latest check of each fixity target of a volume, in words: the cloud first, then discs. */
  private fixityWords(volumeId: number): string {
    const rows = this.db
      .prepare(
        `SELECT target, ok, detail, at FROM fixity_checks
         WHERE id IN (SELECT MAX(id) FROM fixity_checks WHERE volume_id = ? GROUP BY target)
         ORDER BY target != 'cloud', target`,
      )
      .all(volumeId) as { target: string; ok: bigint; detail: string; at: bigint }[];
    return rows
      .map((r) => {
        const when = minute(Number(r.at));
        return r.ok !== 0n ? `${r.target} ok ${when}` : `${r.target} FAILED ${when}${r.detail ? `: ${r.detail}` : ''}`;
      })
      .join('; ');
  }
}

/** Volume views built once per answer (a volume shows up in many locations). */
class VolumeViews {
  private readonly cache = new Map<number, OptarcCatVolume>();
  constructor(
    private readonly q: CatalogQueries,
    private readonly loaded: Map<string, string[]>,
  ) {}

  of(id: number): OptarcCatVolume {
    let v = this.cache.get(id);
    if (!v) {
      v = this.q.volumeView(id, this.loaded);
      this.cache.set(id, v);
    }
    return v;
  }
}

/** VSN → the drives whose loaded disc carries it. A drive that cannot be asked now is left out. */
async function loadedDrives(pool: DrivePool): Promise<Map<string, string[]>> {
  const states = await Promise.all(pool.all().map((d) => d.state().catch(() => undefined)));
  const out = new Map<string, string[]>();
  for (const s of states) {
    if (!s?.loaded || s.blank || !s.vsn) continue;
    out.set(s.vsn, [...(out.get(s.vsn) ?? []), s.name]);
  }
  return out;
}

/**
 * A volume's copies for the contract, at most OPTARC_MAX_COPIES (when there
 * are more, the superseded attempts go first). A loaded disc tells its VSN
 * but not which copy it is: each drive holding this VSN is put on the first
 * verified copy without a drive (then on any copy that is not bad).
 */
function copiesOf(rows: CopyRow[], drives: string[]): OptarcCatCopy[] {
  let kept = rows;
  if (kept.length > OPTARC_MAX_COPIES) {
    const latest = new Map<number, CopyRow>();
    for (const c of rows) latest.set(c.copyNo, c);
    kept = rows.filter((c) => latest.get(c.copyNo) === c);
  }
  const copies: OptarcCatCopy[] = kept.slice(0, OPTARC_MAX_COPIES).map((c) => ({
    copy: c.copyNo,
    state: clip(c.state, OPTARC_MAX_NAME),
    medium: clip(c.medium ?? '', OPTARC_MAX_PATH),
    drive: '',
    note: clip(c.error, OPTARC_MAX_TEXT),
  }));
  for (const drive of drives) {
    const to =
      copies.find((c) => c.drive === '' && c.state === 'verified') ??
      copies.find((c) => c.drive === '' && c.state !== 'bad');
    if (to) to.drive = clip(drive, OPTARC_MAX_DRIVE);
  }
  return copies;
}

function toFile(h: HitRow): OptarcCatFile {
  return {
    path: h.path,
    size: h.size,
    mode: Number(h.mode),
    mtime: { seconds: h.mtime_s, nanoseconds: Number(h.mtime_ns) },
    sha256: h.sha256,
    vsn: clip(h.vsn, OPTARC_MAX_LABEL),
    session: Number(h.session),
    // the catalog counts parts from 0, the contract from 1 (0 is a whole file)
    part: h.part_index === null ? 0 : Number(h.part_index) + 1,
    parts: h.part_count === null ? 0 : Number(h.part_count),
    part_offset: h.part_offset ?? 0n,
    part_length: h.part_length ?? h.size,
  };
}

// --- bounds -------------------------------------------------------------------

function pageCount(count: number): number {
  return count === 0 || count > OPTARC_MAX_HITS ? OPTARC_MAX_HITS : count;
}

/** `s` cut to at most `max` UTF-8 bytes, never inside a character. */
function clip(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = '';
  let n = 0;
  for (const ch of s) {
    const b = Buffer.byteLength(ch);
    if (n + b > max) break;
    out += ch;
    n += b;
  }
  return out;
}

/** Bytes of a string or opaque in XDR: length word and padded data. */
function xdr(n: number): number {
  return 4 + Math.ceil(n / 4) * 4;
}

function fileBytes(f: OptarcCatFile): number {
  return xdr(f.path.length) + 8 + 4 + 12 + 32 + xdr(Buffer.byteLength(f.vsn)) + 4 * 3 + 16;
}

function volumeBytes(v: OptarcCatVolume): number {
  const s = (t: string) => xdr(Buffer.byteLength(t));
  let n = s(v.vsn) + s(v.label) + s(v.media) + s(v.state) + 12 + 8 + 32 + 8 + 4;
  for (const c of v.copies) n += 4 + s(c.state) + s(c.medium) + s(c.drive) + s(c.note);
  return n + s(v.cloud_key) + s(v.cloud_version) + s(v.fixity);
}

// --- times --------------------------------------------------------------------

/** `since` as catalog milliseconds (created_at >= it); 0 seconds and 0 ns: no bound. */
function sinceMillis(t: OptarcTime): bigint {
  if (t.nanoseconds >= 1_000_000_000) {
    throw new CatalogQueryError('BAD_ARGUMENT', `a time's nanoseconds are below 1000000000, not ${t.nanoseconds}`);
  }
  if (t.seconds === 0n && t.nanoseconds === 0) return -(2n ** 62n);
  return t.seconds * 1000n + BigInt(Math.ceil(t.nanoseconds / 1_000_000));
}

function timeOf(ms: number): OptarcTime {
  const s = Math.floor(ms / 1000);
  return { seconds: BigInt(s), nanoseconds: (ms - s * 1000) * 1_000_000 };
}

/** 2026-11-22T06:00Z */
function minute(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16)}Z`;
}

// --- cookies ------------------------------------------------------------------

function check(listing: Listing, id: bigint): bigint {
  return BigInt(`0x${createHash('sha256').update(`optarc catalog ${listing} ${id}`).digest('hex').slice(0, 4)}`);
}

function makeCookie(listing: Listing, id: bigint): bigint {
  return (check(listing, id) << ID_BITS) | (id & ID_MASK);
}

function readCookie(listing: Listing, cookie: bigint): bigint {
  const id = cookie & ID_MASK;
  if (id === 0n || cookie >> ID_BITS !== check(listing, id)) throw badCookie(cookie);
  return id;
}

function badCookie(cookie: bigint): CatalogQueryError {
  return new CatalogQueryError(
    'BAD_COOKIE',
    `cookie ${cookie} was not issued by this listing: start again with cookie 0 and pass each answer's cookie on`,
  );
}

// --- path patterns --------------------------------------------------------------

/** One step of a pattern: a run of any characters, one character, a literal, or a class. */
type Token =
  | { kind: 'star' }
  | { kind: 'any' }
  | { kind: 'literal'; ch: number }
  | { kind: 'class'; negate: boolean; ranges: [number, number][] };

function badPattern(message: string): CatalogQueryError {
  return new CatalogQueryError('BAD_ARGUMENT', message);
}

/** SQL LIKE: % any run, _ one character, \ makes the next character literal. Case-sensitive. */
export function parseLike(pattern: string): Token[] {
  const cs = [...pattern];
  const out: Token[] = [];
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    if (c === '%') pushStar(out);
    else if (c === '_') out.push({ kind: 'any' });
    else if (c === '\\') {
      const next = cs[++i];
      if (next === undefined) throw badPattern('the LIKE pattern ends in an escape (\\): write \\\\ for a backslash');
      out.push({ kind: 'literal', ch: next.codePointAt(0)! });
    } else out.push({ kind: 'literal', ch: c.codePointAt(0)! });
  }
  return out;
}

/**
 * A glob of the whole path: * any run (across / too), ? one character, [...]
 * a class ([!...] or [^...] negated, a-z ranges, ] first is literal), \ makes
 * the next character literal. An unclosed class, an empty or reversed range,
 * or a trailing \ is refused.
 */
export function parseGlob(pattern: string): Token[] {
  const cs = [...pattern];
  const out: Token[] = [];
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    if (c === '*') pushStar(out);
    else if (c === '?') out.push({ kind: 'any' });
    else if (c === '\\') {
      const next = cs[++i];
      if (next === undefined) throw badPattern('the glob ends in an escape (\\): write \\\\ for a backslash');
      out.push({ kind: 'literal', ch: next.codePointAt(0)! });
    } else if (c === '[') {
      const start = i;
      let j = i + 1;
      let negate = false;
      if (cs[j] === '!' || cs[j] === '^') {
        negate = true;
        j++;
      }
      const ranges: [number, number][] = [];
      let first = true;
      for (;;) {
        let m = cs[j];
        if (m === undefined) throw badPattern(`the glob's class opened at character ${start + 1} is not closed by ]`);
        if (m === ']' && !first) break;
        first = false;
        if (m === '\\') {
          m = cs[++j];
          if (m === undefined) throw badPattern('the glob ends in an escape (\\) inside a class');
        }
        const lo = m.codePointAt(0)!;
        let hi = lo;
        if (cs[j + 1] === '-' && cs[j + 2] !== undefined && cs[j + 2] !== ']') {
          let h = cs[j + 2]!;
          j += 2;
          if (h === '\\') {
            h = cs[++j]!;
            if (h === undefined) throw badPattern('the glob ends in an escape (\\) inside a class');
          }
          hi = h.codePointAt(0)!;
          if (hi < lo) throw badPattern(`the glob's range ${m}-${h} runs backwards: write it ${h}-${m}`);
        }
        ranges.push([lo, hi]);
        j++;
      }
      out.push({ kind: 'class', negate, ranges });
      i = j;
    } else out.push({ kind: 'literal', ch: c.codePointAt(0)! });
  }
  return out;
}

/**
 * The runs of ASCII literals of a pattern (at most 8, the longest): every path
 * it matches holds each of them as bytes, in any charset optarc speaks.
 */
function literalRuns(pattern: Token[]): Buffer[] {
  const runs: string[] = [];
  let run = '';
  for (const t of pattern) {
    if (t.kind === 'literal' && t.ch < 0x80) run += String.fromCharCode(t.ch);
    else {
      if (run) runs.push(run);
      run = '';
    }
  }
  if (run) runs.push(run);
  return runs
    .sort((a, b) => b.length - a.length)
    .slice(0, 8)
    .map((r) => Buffer.from(r, 'latin1'));
}

function pushStar(out: Token[]): void {
  if (out.at(-1)?.kind !== 'star') out.push({ kind: 'star' });
}

function one(t: Token, ch: number): boolean {
  switch (t.kind) {
    case 'any':
      return true;
    case 'literal':
      return t.ch === ch;
    case 'class':
      return t.ranges.some(([lo, hi]) => ch >= lo && ch <= hi) !== t.negate;
    default:
      return false;
  }
}

/**
 * Does the whole text match? Every token but a star takes exactly one
 * character, so backtracking to the last star is enough: O(text × pattern)
 * at worst, whatever the pattern.
 */
export function matches(pattern: Token[], chars: string[]): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < chars.length) {
    const tok = pattern[p];
    if (tok && tok.kind !== 'star' && one(tok, chars[t].codePointAt(0)!)) {
      p++;
      t++;
    } else if (tok?.kind === 'star') {
      star = p++;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else return false;
  }
  while (pattern[p]?.kind === 'star') p++;
  return p === pattern.length;
}
