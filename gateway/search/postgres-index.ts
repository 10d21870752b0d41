/**
 * The shared manifest index: a PostgreSQL database (15 or later, with the
 * pg_trgm extension) that many gateway instances index into and search at once.
 * The same layout as the embedded index (sqlite-index.ts), for the same reason:
 * a trigram index over every full path is most of the cost of ingest (~20-30 µs
 * of server CPU per file on a 2-CPU VM), and archives repeat themselves. A path
 * is kept as a directory and a name, each string stored once (indexed_dirs,
 * indexed_names, with pg_trgm GIN indexes over the distinct strings), and a
 * file row holds their ids; a path without a slash has no directory (NULL), so
 * `/x` (directory "") and `x` stay apart.
 *
 * Tables: indexed_volumes (one row per site and VSN: label, media, the image
 * object and version, the verified copies as JSON, createdAt and ackedAt in ms,
 * and the file count and byte sum, kept at index time so that listing volumes is
 * cheap); indexed_files (one row per manifest entry: site, VSN and entry number,
 * its primary key and the stable order of results; directory and name ids; size;
 * mtime; SHA-256 and its first 52 bits as an indexed integer; mode, session,
 * part and extents as JSON). Text that compares is COLLATE "C": byte order and
 * ASCII-only case folding (ILIKE), as in SQLite, so both backends return the
 * same hits. Strings no longer used by any file stay (they match nothing).
 *
 * A path substring q (ILIKE, its %, _ and \ escaped; always a parameter)
 * matches a file when its directory contains q, its name contains q, or q = X/Y
 * spans the last slash: the directory ends with X, the name starts with Y. The
 * matching strings are looked up first (the planner may scan a dictionary for a
 * common q or use its trigram index for a rare one). When few strings and few
 * files match, those files are fetched through the id indexes and sorted; else
 * the stable order is walked, each file's path tested, which fills a page
 * quickly when matches are common. Those reads run with seq scans, hash and
 * merge joins and parallel workers off (SET LOCAL): on 10M rows the planner,
 * left to its estimates, may walk the order for a rare substring, sort millions
 * of rows for a common one, or hash a whole dictionary.
 *
 * A volume is indexed in two steps: its strings are added to the dictionaries
 * (short transactions of their own, so instances indexing at once never wait on
 * each other's long ones), then, in one transaction, its row is upserted and its
 * files deleted and inserted again, ROWS_PER_INSERT per statement (INSERT ...
 * SELECT FROM unnest of typed arrays, each array one parameter). bulk() drops
 * the secondary indexes while an empty index is filled and builds them at the
 * end. On a 2-CPU VM shared with other work, 1M files in 100k-file volumes:
 * ~50k files/s (15 µs of server CPU per file) when names recur, ~19k/s (20-27
 * µs) when every name is new, whose trigrams then dominate; bulk ~75k/s while
 * loading. The schema is a list of numbered migrations counted in
 * schema_version, applied in one transaction that holds an advisory lock, so
 * instances opening a new database at once apply each once.
 */
import pg from 'pg';
import type { FileHit, FileQuery, IndexedVolume, SearchIndex, VolumeQuery, VolumeSummary } from './search-index.js';

/** The schema_version row of this index (the table may serve other components). */
const COMPONENT = 'search-index';
/** pg_advisory_xact_lock key for migrations: "optarcsx". */
const MIGRATION_LOCK = '8030046097481364344';
/** Files per INSERT statement, strings per dictionary statement. */
const ROWS_PER_INSERT = 10_000;
/** A substring whose strings number at most this many... */
export const STRING_CAP = 10_000;
/** ...and whose files number at most this many is answered from them, sorted; else by walking the order. */
export const CANDIDATE_CAP = 20_000;

/**
 * The indexes bulk mode drops and builds again (the primary keys stay: files are appended to
 * theirs in order, and the dictionaries' digests keep each string once).
 */
const SECONDARY_INDEXES = `
  CREATE INDEX IF NOT EXISTS indexed_dirs_trgm ON indexed_dirs USING gin (text gin_trgm_ops);
  CREATE INDEX IF NOT EXISTS indexed_names_trgm ON indexed_names USING gin (text gin_trgm_ops);
  CREATE INDEX IF NOT EXISTS indexed_files_sha ON indexed_files (sha_prefix);
  CREATE INDEX IF NOT EXISTS indexed_files_dir ON indexed_files (dir_id);
  CREATE INDEX IF NOT EXISTS indexed_files_name ON indexed_files (name_id);`;

const MIGRATIONS: readonly string[] = [
  `
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
  CREATE TABLE indexed_volumes (
    site text COLLATE "C" NOT NULL,
    vsn text COLLATE "C" NOT NULL,
    label text NOT NULL,
    media text NOT NULL,
    key text NOT NULL,
    version_id text NOT NULL,
    manifest_key text NOT NULL,
    image_bytes bigint NOT NULL,
    image_sha256 text NOT NULL,
    sessions integer NOT NULL,
    copies text NOT NULL,
    created_at bigint NOT NULL,
    acked_at bigint NOT NULL,
    files bigint NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (site, vsn)
  );
  CREATE INDEX indexed_volumes_created_at ON indexed_volumes (created_at);
  -- a string is found by its SHA-256: a B-tree entry holds at most ~2.7 kB, a directory may be longer
  CREATE TABLE indexed_dirs (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest bytea NOT NULL UNIQUE,
    text text COLLATE "C" NOT NULL
  );
  CREATE TABLE indexed_names (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest bytea NOT NULL UNIQUE,
    text text COLLATE "C" NOT NULL
  );
  CREATE TABLE indexed_files (
    site text COLLATE "C" NOT NULL,
    vsn text COLLATE "C" NOT NULL,
    entry integer NOT NULL,
    dir_id integer,
    name_id integer NOT NULL,
    size bigint NOT NULL,
    mtime_s bigint NOT NULL,
    sha_prefix bigint NOT NULL,
    sha256 text COLLATE "C" NOT NULL,
    detail text NOT NULL,
    PRIMARY KEY (site, vsn, entry)
  );
  ${SECONDARY_INDEXES}
  `,
];

const INT8 = 20;
const NUMERIC = 1700;
/** bigint and numeric come back as JS numbers (every value here is a safe integer). */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8 || oid === NUMERIC
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as any)) as pg.CustomTypesConfig['getTypeParser'],
};

// ---------------------------------------------------------------- paths, patterns, array literals

/**
 * Directory and name of a path: `a/b/c.txt` → [`a/b`, `c.txt`], `/c.txt` → [``, `c.txt`], and a
 * path without a slash has no directory: `c.txt` → [null, `c.txt`]. Lone surrogates become U+FFFD,
 * as they do on their way to the database.
 */
export function splitPath(path: string): [string | null, string] {
  const p = path.toWellFormed();
  const slash = p.lastIndexOf('/');
  return slash < 0 ? [null, p] : [p.slice(0, slash), p.slice(slash + 1)];
}

/** ILIKE's pattern for s taken literally (its %, _ and \, the escape character, escaped). */
const literal = (s: string) => s.replace(/[\\%_]/g, '\\$&');

/** The dictionaries' key for a string: its UTF-8 bytes' SHA-256, computed by the server. */
const digestOf = (param: string) => `sha256(convert_to(${param}, 'UTF8'))`;

/** A text[] literal: every element quoted, `"` and `\` escaped; null is NULL. */
function textArray(values: readonly (string | null)[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    parts[i] = v === null || v === undefined ? 'NULL' : `"${v.replace(/["\\]/g, '\\$&')}"`;
  }
  return `{${parts.join(',')}}`;
}

/** An int[]/bigint[] literal of safe integers; null is NULL. */
function intArray(values: readonly (number | null)[]): string {
  for (const v of values) {
    if (v !== null && !Number.isSafeInteger(v)) throw new Error(`not a safe integer: ${v}`);
  }
  return `{${values.map((v) => (v === null ? 'NULL' : v)).join(',')}}`;
}

/** The indexed part of a SHA-256: its first 13 hex digits (52 bits, a safe integer). */
const shaPrefix = (sha256: string) => Number.parseInt(sha256.slice(0, 13), 16);

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Numbered parameters: each value is sent apart from the SQL text, never spliced into it. */
class Params {
  readonly values: unknown[] = [];
  arg(value: unknown, cast = ''): string {
    this.values.push(value);
    return `$${this.values.length}${cast}`;
  }
}

// ---------------------------------------------------------------- rows

/** What a file row keeps as JSON besides its indexed columns (as in sqlite-index.ts). */
interface FileDetail {
  mode: number;
  session: number;
  extents: { offset: number; length: number }[];
  part?: { index: number; count: number; offset: number; length: number };
}

interface FileRow {
  site: string;
  vsn: string;
  entry: number;
  path: string;
  size: number;
  mtime_s: number;
  sha256: string;
  detail: string;
  key: string;
  version_id: string;
  copies: string;
  created_at: number;
}

/** The columns of a hit, from f (indexed_files), v (its volume), d and n (its directory and name). */
const HIT_COLUMNS = `f.site, f.vsn, f.entry, concat_ws('/', d.text, n.text) AS path, f.size, f.mtime_s, f.sha256,
  f.detail, v.key, v.version_id, v.copies, v.created_at`;
const HIT_JOINS = `JOIN indexed_volumes v ON v.site = f.site AND v.vsn = f.vsn
  JOIN indexed_names n ON n.id = f.name_id LEFT JOIN indexed_dirs d ON d.id = f.dir_id`;

function fileHit(r: FileRow): FileHit {
  const detail = JSON.parse(r.detail) as FileDetail;
  return {
    site: r.site,
    vsn: r.vsn,
    entry: r.entry,
    path: r.path,
    size: r.size,
    sha256: r.sha256,
    mtimeSeconds: r.mtime_s,
    mode: detail.mode,
    session: detail.session,
    part: detail.part ?? null,
    key: r.key,
    versionId: r.version_id,
    extents: detail.extents,
    copies: JSON.parse(r.copies),
    volumeCreatedAt: r.created_at,
  };
}

interface VolumeRow {
  site: string;
  vsn: string;
  label: string;
  media: string;
  key: string;
  version_id: string;
  manifest_key: string;
  image_bytes: number;
  image_sha256: string;
  sessions: number;
  copies: string;
  created_at: number;
  acked_at: number;
  files: number;
  bytes: number;
}

// ---------------------------------------------------------------- the index

export class PostgresIndex implements SearchIndex {
  readonly backend = 'postgres' as const;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly caps: { strings: number; files: number },
  ) {}

  /**
   * Connect to `url` (a pool of at most `max` connections, default 10) and bring its schema up to
   * date. `substringCaps` (default STRING_CAP and CANDIDATE_CAP) is for tests of the walk.
   */
  static async open(
    url: string,
    options: { max?: number; substringCaps?: { strings: number; files: number } } = {},
  ): Promise<PostgresIndex> {
    const caps = options.substringCaps ?? { strings: STRING_CAP, files: CANDIDATE_CAP };
    if (!Number.isSafeInteger(caps.strings) || !Number.isSafeInteger(caps.files)) {
      throw new Error('substringCaps are whole numbers');
    }
    const pool = new pg.Pool({ connectionString: url, types, max: options.max ?? 10 });
    // an idle client's error (the server restarted) must not crash the process; the next query reconnects
    pool.on('error', () => {});
    try {
      await migrate(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresIndex(pool, caps);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async indexVolume(v: IndexedVolume): Promise<void> {
    const m = v.manifest;
    const createdAt = Date.parse(m.createdAt);
    if (!Number.isFinite(createdAt)) throw new Error(`manifest createdAt ${m.createdAt} is not a date`);
    const n = m.files.length;
    const dirOf = new Array<string | null>(n);
    const nameOf = new Array<string>(n);
    const dirIds = new Map<string, number>();
    const nameIds = new Map<string, number>();
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const f = m.files[i]!;
      const [dir, name] = splitPath(f.path);
      dirOf[i] = dir;
      nameOf[i] = name;
      if (dir !== null) dirIds.set(dir, 0);
      nameIds.set(name, 0);
      bytes += f.size;
    }
    const c = await this.pool.connect();
    let broken = false;
    try {
      await addStrings(c, 'indexed_dirs', dirIds);
      await addStrings(c, 'indexed_names', nameIds);
      await c.query('BEGIN');
      await c.query(
        `INSERT INTO indexed_volumes (site, vsn, label, media, key, version_id, manifest_key, image_bytes,
           image_sha256, sessions, copies, created_at, acked_at, files, bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (site, vsn) DO UPDATE SET label = excluded.label, media = excluded.media, key = excluded.key,
           version_id = excluded.version_id, manifest_key = excluded.manifest_key,
           image_bytes = excluded.image_bytes, image_sha256 = excluded.image_sha256, sessions = excluded.sessions,
           copies = excluded.copies, created_at = excluded.created_at, acked_at = excluded.acked_at,
           files = excluded.files, bytes = excluded.bytes`,
        [
          v.site,
          v.vsn,
          m.label,
          m.media,
          v.key,
          v.versionId,
          v.manifestKey,
          m.image.bytes,
          m.image.sha256,
          m.sessions,
          JSON.stringify(m.copies),
          createdAt,
          v.ackedAt,
          n,
          bytes,
        ],
      );
      await c.query('DELETE FROM indexed_files WHERE site = $1 AND vsn = $2', [v.site, v.vsn]);
      // the next statement's arrays are built while the server inserts the previous one's
      let pending: Promise<unknown> | undefined;
      for (let start = 0; start < n; start += ROWS_PER_INSERT) {
        const end = Math.min(start + ROWS_PER_INSERT, n);
        const k = end - start;
        const entries = new Array<number>(k);
        const dirs = new Array<number | null>(k);
        const names = new Array<number>(k);
        const sizes = new Array<number>(k);
        const mtimes = new Array<number>(k);
        const prefixes = new Array<number>(k);
        const sha256s = new Array<string>(k);
        const details = new Array<string>(k);
        for (let i = 0; i < k; i++) {
          const e = start + i;
          const f = m.files[e]!;
          const dir = dirOf[e]!;
          entries[i] = e;
          dirs[i] = dir === null ? null : dirIds.get(dir)!;
          names[i] = nameIds.get(nameOf[e])!;
          sizes[i] = f.size;
          mtimes[i] = f.mtimeSeconds;
          prefixes[i] = shaPrefix(f.sha256);
          sha256s[i] = f.sha256;
          const detail: FileDetail = { mode: f.mode, session: f.session, extents: f.extents };
          if (f.part) detail.part = f.part;
          details[i] = JSON.stringify(detail);
        }
        const params = [
          v.site,
          v.vsn,
          intArray(entries),
          intArray(dirs),
          intArray(names),
          intArray(sizes),
          intArray(mtimes),
          intArray(prefixes),
          // hex digits: nothing to escape
          `{${sha256s.join(',')}}`,
          textArray(details),
        ];
        await pending;
        pending = c.query(
          `INSERT INTO indexed_files (site, vsn, entry, dir_id, name_id, size, mtime_s, sha_prefix, sha256, detail)
           SELECT $1, $2, u.* FROM unnest($3::int[], $4::int[], $5::int[], $6::bigint[], $7::bigint[], $8::bigint[],
             $9::text[], $10::text[]) AS u`,
          params,
        );
        // a rejection is awaited on the next round or below; keep it from being "unhandled" meanwhile
        pending.catch(() => {});
      }
      await pending;
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      c.release(broken);
    }
  }

  async bulk<T>(load: () => Promise<T>): Promise<T> {
    const { rows } = await this.pool.query<{ empty: boolean }>(
      'SELECT NOT EXISTS (SELECT 1 FROM indexed_files) AS empty',
    );
    if (!rows[0]!.empty) return load();
    await this.pool.query(
      'DROP INDEX IF EXISTS indexed_dirs_trgm, indexed_names_trgm, indexed_files_sha, indexed_files_dir, indexed_files_name',
    );
    try {
      return await load();
    } finally {
      await this.transaction(async (c) => {
        await c.query(`SET LOCAL maintenance_work_mem = '256MB'; ${SECONDARY_INDEXES}`);
      });
      await this.pool.query('ANALYZE indexed_files, indexed_dirs, indexed_names, indexed_volumes');
    }
  }

  async findFiles(q: FileQuery): Promise<FileHit[]> {
    if (q.sites.length === 0) return [];
    // stored SHA-256s are lowercase hex: anything else finds nothing
    if (q.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(q.sha256)) return [];
    if (q.pathContains !== undefined && q.path === undefined && q.sha256 === undefined) {
      const hits = await this.fewCandidates(q);
      if (hits) return hits;
    }
    // Walk the stable order. With `after`, the scan starts at the key: in the key's volume, in the
    // key's site's later volumes, then in the later sites (a bound next to "site = ANY" on the first
    // column would make PostgreSQL 15 scan each site from its start).
    const sql = new Params();
    const ranges: string[] = [];
    const a = q.after;
    if (!a) {
      ranges.push(`f.site = ANY(${sql.arg([...q.sites], '::text[]')})`);
    } else {
      if (q.sites.includes(a.site)) {
        const [site, vsn] = [sql.arg(a.site), sql.arg(a.vsn)];
        ranges.push(
          `f.site = ${site} AND f.vsn = ${vsn} AND f.entry > ${sql.arg(a.entry, '::int')}`,
          `f.site = ${site} AND f.vsn > ${vsn}`,
        );
      }
      const later = q.sites.filter((s) => byteOrder(s, a.site) > 0);
      if (later.length > 0) ranges.push(`f.site = ANY(${sql.arg(later, '::text[]')})`);
      if (ranges.length === 0) return [];
    }
    const filters = fileFilters(q, sql);
    if (q.pathContains !== undefined) {
      filters.push(`concat_ws('/', d.text, n.text) ILIKE ${sql.arg(`%${literal(q.pathContains)}%`)}`);
    }
    const limit = sql.arg(q.limit, '::int');
    const branches = ranges.map(
      (range) => `(SELECT ${HIT_COLUMNS} FROM indexed_files f ${HIT_JOINS}
        WHERE ${[range, ...filters].join(' AND ')} ORDER BY f.site, f.vsn, f.entry LIMIT ${limit})`,
    );
    const { rows } = await this.planned<FileRow>(
      `SELECT * FROM (${branches.join(' UNION ALL ')}) AS w ORDER BY site, vsn, entry LIMIT ${limit}`,
      sql.values,
    );
    return rows.map(fileHit);
  }

  /**
   * A substring's hits when few strings and files match: the files found through the matching
   * strings' ids, sorted. Undefined when there are more (then the order is walked).
   */
  private async fewCandidates(q: FileQuery): Promise<FileHit[] | undefined> {
    const s = q.pathContains!;
    // "/" alone matches every file in a directory: walking finds those
    if (s === '/') return undefined;
    // 1. The strings: the planner may scan a dictionary for a common substring (a page of it holds
    // the cap's worth) or ask its trigram index for a rare one.
    const strings = new Params();
    const contains = strings.arg(`%${literal(s)}%`);
    const lookup = (table: string, pattern: string) =>
      `ARRAY(SELECT id FROM ${table} WHERE text ILIKE ${pattern} LIMIT ${this.caps.strings + 1})`;
    const slash = s.lastIndexOf('/');
    // a name has no slash: a substring with one is in the directory, or spans the last slash
    const lists = [`${lookup('indexed_dirs', contains)} AS d`];
    lists.push(slash < 0 ? `${lookup('indexed_names', contains)} AS n` : `'{}'::int[] AS n`);
    const [x, y] = slash < 0 ? [undefined, undefined] : [s.slice(0, slash), s.slice(slash + 1)];
    // q = X/Y across the last slash: the directory ends with X (any directory when X is empty),
    // the name starts with Y (any name when Y is empty)
    if (x) lists.push(`${lookup('indexed_dirs', strings.arg(`%${literal(x)}`))} AS sd`);
    if (y) lists.push(`${lookup('indexed_names', strings.arg(`${literal(y)}%`))} AS sn`);
    const found = (
      await this.pool.query<Record<'d' | 'n' | 'sd' | 'sn', number[]>>(`SELECT ${lists.join(', ')}`, strings.values)
    ).rows[0]!;
    if (Object.values(found).some((ids) => ids.length > this.caps.strings)) return undefined;

    // 2. Their files, through the id indexes, sorted.
    const sql = new Params();
    const ids = (list: number[]) => sql.arg(list, '::int[]');
    const match: string[] = [];
    if (found.d.length > 0) match.push(`f.dir_id = ANY(${ids(found.d)})`);
    if (found.n.length > 0) match.push(`f.name_id = ANY(${ids(found.n)})`);
    if ((x || y) && (!x || found.sd.length > 0) && (!y || found.sn.length > 0)) {
      const dirs = x ? `f.dir_id = ANY(${ids(found.sd)})` : 'f.dir_id IS NOT NULL';
      match.push(y ? `(${dirs} AND f.name_id = ANY(${ids(found.sn)}))` : dirs);
    }
    if (match.length === 0) return [];
    const where = [`f.site = ANY(${sql.arg([...q.sites], '::text[]')})`, `(${match.join(' OR ')})`];
    where.push(...fileFilters(q, sql));
    if (q.after) {
      const a = q.after;
      where.push(`(f.site, f.vsn, f.entry) > (${sql.arg(a.site)}, ${sql.arg(a.vsn)}, ${sql.arg(a.entry, '::int')})`);
    }
    const { rows } = await this.planned<FileRow & { files: number }>(
      `WITH h AS MATERIALIZED (
        SELECT f.* FROM indexed_files f JOIN indexed_volumes v ON v.site = f.site AND v.vsn = f.vsn
        WHERE ${where.join(' AND ')} LIMIT ${this.caps.files + 1}
      ),
      page AS (SELECT * FROM h ORDER BY site, vsn, entry LIMIT ${sql.arg(q.limit, '::int')})
      SELECT s.files, p.* FROM (SELECT count(*) AS files FROM h) s
      LEFT JOIN LATERAL (
        SELECT ${HIT_COLUMNS} FROM page f ${HIT_JOINS} WHERE s.files <= ${this.caps.files}
      ) p ON true
      ORDER BY p.site, p.vsn, p.entry`,
      sql.values,
    );
    if (rows[0]!.files > this.caps.files) return undefined;
    return rows.filter((r) => r.site !== null).map(fileHit);
  }

  async listVolumes(q: VolumeQuery): Promise<VolumeSummary[]> {
    if (q.sites.length === 0) return [];
    const sql = new Params();
    const where: string[] = [`site = ANY(${sql.arg([...q.sites], '::text[]')})`];
    if (q.vsn !== undefined) where.push(`vsn = ${sql.arg(q.vsn)}`);
    if (q.createdSince !== undefined) where.push(`created_at >= ${sql.arg(q.createdSince, '::numeric')}`);
    if (q.after) where.push(`(site, vsn) > (${sql.arg(q.after.site)}, ${sql.arg(q.after.vsn)})`);
    const { rows } = await this.pool.query<VolumeRow>(
      `SELECT * FROM indexed_volumes WHERE ${where.join(' AND ')} ORDER BY site, vsn LIMIT ${sql.arg(q.limit, '::int')}`,
      sql.values,
    );
    return rows.map((r) => ({
      site: r.site,
      vsn: r.vsn,
      label: r.label,
      media: r.media,
      key: r.key,
      versionId: r.version_id,
      manifestKey: r.manifest_key,
      imageBytes: r.image_bytes,
      imageSha256: r.image_sha256,
      sessions: r.sessions,
      copies: JSON.parse(r.copies),
      createdAt: r.created_at,
      ackedAt: r.acked_at,
      files: r.files,
      bytes: r.bytes,
    }));
  }

  async volumes(): Promise<{ site: string; vsn: string; versionId: string; files: number }[]> {
    const { rows } = await this.pool.query<{ site: string; vsn: string; version_id: string; files: number }>(
      'SELECT site, vsn, version_id, files FROM indexed_volumes ORDER BY site, vsn',
    );
    return rows.map((r) => ({ site: r.site, vsn: r.vsn, versionId: r.version_id, files: r.files }));
  }

  /**
   * A read whose plan is the one written: index scans and nested loops. A seq scan and a sort,
   * or a hash of a whole dictionary, would read millions of rows; the planner may pick them when
   * its estimates are off (right after a big load, before statistics catch up).
   */
  private planned<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.transaction(async (c) => {
      // and no parallel workers: starting them costs more than finding a page of hits
      await c.query(
        'SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL max_parallel_workers_per_gather = 0',
      );
      return c.query<R>(text, values);
    });
  }

  private async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken = false;
    try {
      await c.query('BEGIN');
      const result = await fn(c);
      await c.query('COMMIT');
      return result;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      c.release(broken);
    }
  }
}

/** The conditions on a file row f (and its volume v) other than its site, the `after` key and a substring. */
function fileFilters(q: FileQuery, sql: Params): string[] {
  const w: string[] = [];
  if (q.path !== undefined) {
    const [dir, name] = splitPath(q.path);
    w.push(`f.name_id = (SELECT id FROM indexed_names WHERE digest = ${digestOf(sql.arg(name))})`);
    w.push(
      dir === null
        ? 'f.dir_id IS NULL'
        : `f.dir_id = (SELECT id FROM indexed_dirs WHERE digest = ${digestOf(sql.arg(dir))})`,
    );
  }
  if (q.sha256 !== undefined) {
    w.push(`f.sha_prefix = ${sql.arg(shaPrefix(q.sha256))} AND f.sha256 = ${sql.arg(q.sha256)}`);
  }
  if (q.vsn !== undefined) w.push(`f.vsn = ${sql.arg(q.vsn)}`);
  if (q.sizeMin !== undefined) w.push(`f.size >= ${sql.arg(q.sizeMin, '::numeric')}`);
  if (q.sizeMax !== undefined) w.push(`f.size <= ${sql.arg(q.sizeMax, '::numeric')}`);
  if (q.mtimeFrom !== undefined) w.push(`f.mtime_s >= ${sql.arg(q.mtimeFrom, '::numeric')}`);
  if (q.mtimeBefore !== undefined) w.push(`f.mtime_s < ${sql.arg(q.mtimeBefore, '::numeric')}`);
  if (q.volumeCreatedSince !== undefined) w.push(`v.created_at >= ${sql.arg(q.volumeCreatedSince, '::numeric')}`);
  return w;
}

/**
 * Give every string of `ids` its id (the map's values), adding the new ones. Short statements
 * outside the volume's transaction, in digest order: instances adding the same strings at once
 * wait for each other only briefly. A string another instance adds meanwhile is read again. The
 * known strings are looked up by their digests (= ANY: one index probe each), never by a join
 * the planner could turn into a hash of the whole dictionary.
 */
async function addStrings(c: pg.PoolClient, table: 'indexed_dirs' | 'indexed_names', ids: Map<string, number>) {
  const all = [...ids.keys()];
  for (let start = 0; start < all.length; start += ROWS_PER_INSERT) {
    let todo = all.slice(start, start + ROWS_PER_INSERT);
    for (let attempt = 0; todo.length > 0; attempt++) {
      if (attempt === 3) throw new Error(`${table}: ${todo.length} strings not found after adding them`);
      const { rows } = await c.query<{ id: number; text: string }>(
        `WITH input AS (SELECT ${digestOf('t')} AS digest, t AS text FROM unnest($1::text[]) AS t),
         added AS (
           INSERT INTO ${table} (digest, text) SELECT digest, text FROM input ORDER BY digest
           ON CONFLICT (digest) DO NOTHING RETURNING id, text
         )
         SELECT id, text FROM added
         UNION ALL SELECT s.id, s.text FROM ${table} s WHERE s.digest = ANY(ARRAY(SELECT digest FROM input))`,
        [textArray(todo)],
      );
      for (const r of rows) ids.set(r.text, r.id);
      todo = todo.filter((t) => ids.get(t) === 0);
    }
  }
}

async function migrate(pool: pg.Pool): Promise<void> {
  const c = await pool.connect();
  let broken = false;
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK]);
    // read only now, under the lock: another instance may have just migrated
    await c.query(
      'CREATE TABLE IF NOT EXISTS schema_version (component text COLLATE "C" PRIMARY KEY, version integer NOT NULL)',
    );
    const { rows } = await c.query<{ version: number }>('SELECT version FROM schema_version WHERE component = $1', [
      COMPONENT,
    ]);
    const version = rows[0]?.version ?? 0;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `the search index database has schema version ${version}, newer than this program knows (${MIGRATIONS.length})`,
      );
    }
    for (let v = version; v < MIGRATIONS.length; v++) await c.query(MIGRATIONS[v]!);
    if (version < MIGRATIONS.length) {
      await c.query(
        `INSERT INTO schema_version (component, version) VALUES ($1, $2)
         ON CONFLICT (component) DO UPDATE SET version = excluded.version`,
        [COMPONENT, MIGRATIONS.length],
      );
    }
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    c.release(broken);
  }
}
