/**
 * The shared manifest index: a PostgreSQL database (15 or later, with the
 * pg_trgm extension) that many gateway instances index into and search at once.
 *
 * Tables: indexed_volumes (one row per site and VSN: the image object and
 * version, the manifest's label, media, image, sessions and verified copies, its
 * createdAt, when acknowledged, and the file count and byte sum, kept at index
 * time so listing volumes is cheap) and indexed_files (one row per manifest
 * entry, `entry` being its position in the manifest's file list; extents and
 * part as JSON text). Text that orders or compares is COLLATE "C": byte order,
 * the same as SQLite's BINARY, so both backends return the same hits in the
 * same order. Indexes: the primary key (site, vsn, path, entry), which is the
 * stable order of results; SHA-256; path; and a pg_trgm GIN index on path for
 * substring search (ILIKE, the pattern's %, _ and \ escaped, always a parameter).
 *
 * A substring query asks the trigram index first for every hit (up to
 * SUBSTRING_CAP of them, in no order) and sorts those; only when there are more
 * (the substring is common) does it walk the order index instead, bitmap scans
 * off, which finds a page of common hits quickly. Without this the planner may
 * walk the order index for a rare substring, reading millions of rows.
 *
 * A volume is indexed in one transaction: its row upserted, its files deleted
 * and inserted again in chunks of CHUNK rows (INSERT ... SELECT FROM unnest of
 * typed arrays, each array one parameter). The schema is a list of numbered
 * migrations counted in schema_version, applied in one transaction that holds an
 * advisory lock, so instances opening a new database at once apply each once.
 */
import pg from 'pg';
import type { FileHit, FileQuery, IndexedVolume, SearchIndex, VolumeQuery, VolumeSummary } from './search-index.js';
import { MIN_SUBSTRING } from './search-index.js';

/** The schema_version row of this index (the table may serve other components). */
const COMPONENT = 'search-index';
/** pg_advisory_xact_lock key for migrations: "optarcsx". */
const MIGRATION_LOCK = '8030046097481364344';

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
  CREATE TABLE indexed_files (
    site text COLLATE "C" NOT NULL,
    vsn text COLLATE "C" NOT NULL,
    path text COLLATE "C" NOT NULL,
    entry integer NOT NULL,
    size bigint NOT NULL,
    mtime_s bigint NOT NULL,
    mode integer NOT NULL,
    session integer NOT NULL,
    sha256 text COLLATE "C" NOT NULL,
    part text,
    extents text NOT NULL,
    PRIMARY KEY (site, vsn, path, entry)
  );
  CREATE INDEX indexed_files_sha256 ON indexed_files (sha256);
  CREATE INDEX indexed_files_path ON indexed_files (path);
  CREATE INDEX indexed_files_path_trgm ON indexed_files USING gin (path gin_trgm_ops);
  ALTER TABLE indexed_files ALTER COLUMN path SET STATISTICS 1000;
  `,
];

/** Rows per INSERT statement while indexing a volume. */
const CHUNK = 10_000;
/** A substring query sorts at most this many hits from the trigram index (see the header). */
export const SUBSTRING_CAP = 5000;

const INT8 = 20;
const NUMERIC = 1700;
/** bigint and numeric come back as JS numbers (every value here is a safe integer). */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8 || oid === NUMERIC
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as any)) as pg.CustomTypesConfig['getTypeParser'],
};

// ---------------------------------------------------------------- array literals for unnest

/** A text[] literal: every element quoted, `"` and `\` escaped; null is NULL. */
function textArray(values: readonly (string | null)[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    parts[i] = v === null || v === undefined ? 'NULL' : `"${v.replace(/["\\]/g, '\\$&')}"`;
  }
  return `{${parts.join(',')}}`;
}

/** An int[]/bigint[] literal of safe integers. */
function intArray(values: readonly number[]): string {
  for (const v of values) {
    if (!Number.isSafeInteger(v)) throw new Error(`not a safe integer: ${v}`);
  }
  return `{${values.join(',')}}`;
}

const INSERT_FILES = `
  INSERT INTO indexed_files (site, vsn, path, entry, size, mtime_s, mode, session, sha256, part, extents)
  SELECT $1, $2, u.* FROM unnest($3::text[], $4::int[], $5::bigint[], $6::bigint[], $7::int[], $8::int[],
    $9::text[], $10::text[], $11::text[]) AS u`;

/** ILIKE's pattern for "contains s": its %, _ and \ (the escape character) taken literally. */
export function containsPattern(s: string): string {
  return `%${s.replace(/[\\%_]/g, '\\$&')}%`;
}

// ---------------------------------------------------------------- the index

const FILE_COLUMNS = `f.site, f.vsn, f.path, f.entry, f.size, f.mtime_s, f.mode, f.session, f.sha256, f.part,
  f.extents, v.key, v.version_id, v.copies, v.created_at`;
const FILE_ORDER = 'site, vsn, path, entry';

interface FileRow {
  site: string;
  vsn: string;
  path: string;
  entry: number;
  size: number;
  mtime_s: number;
  mode: number;
  session: number;
  sha256: string;
  part: string | null;
  extents: string;
  key: string;
  version_id: string;
  copies: string;
  created_at: number;
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

export class PostgresIndex implements SearchIndex {
  readonly backend = 'postgres' as const;

  private constructor(private readonly pool: pg.Pool) {}

  /** Connect to `url` and bring its schema up to date. */
  static async open(url: string, options: { max?: number } = {}): Promise<PostgresIndex> {
    const pool = new pg.Pool({ connectionString: url, types, max: options.max ?? 10 });
    // an idle client's error (the server restarted) must not crash the process; the next query reconnects
    pool.on('error', () => {});
    try {
      await migrate(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresIndex(pool);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async indexVolume(v: IndexedVolume): Promise<void> {
    const m = v.manifest;
    const createdAt = Date.parse(m.createdAt);
    if (!Number.isFinite(createdAt)) throw new Error(`manifest createdAt ${m.createdAt} is not a date`);
    let bytes = 0;
    for (const f of m.files) bytes += f.size;
    const copies = JSON.stringify(
      m.copies.map((c) => ({ copy: c.copy, drive: c.drive, medium: c.medium, verifiedAt: c.verifiedAt })),
    );
    await this.transaction(async (c) => {
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
          copies,
          createdAt,
          v.ackedAt,
          m.files.length,
          bytes,
        ],
      );
      await c.query('DELETE FROM indexed_files WHERE site = $1 AND vsn = $2', [v.site, v.vsn]);
      // the next chunk's arrays are built while the server inserts the previous one
      let pending: Promise<unknown> | undefined;
      for (let start = 0; start < m.files.length; start += CHUNK) {
        const files = m.files.slice(start, start + CHUNK);
        const n = files.length;
        const entries = new Array<number>(n);
        const paths = new Array<string>(n);
        const sizes = new Array<number>(n);
        const mtimes = new Array<number>(n);
        const modes = new Array<number>(n);
        const sessions = new Array<number>(n);
        const sha256s = new Array<string>(n);
        const parts = new Array<string | null>(n);
        const extents = new Array<string>(n);
        for (let i = 0; i < n; i++) {
          const f = files[i]!;
          entries[i] = start + i;
          paths[i] = f.path;
          sizes[i] = f.size;
          mtimes[i] = f.mtimeSeconds;
          modes[i] = f.mode;
          sessions[i] = f.session;
          sha256s[i] = f.sha256;
          parts[i] = f.part
            ? JSON.stringify({ index: f.part.index, count: f.part.count, offset: f.part.offset, length: f.part.length })
            : null;
          extents[i] = JSON.stringify(f.extents.map((e) => ({ offset: e.offset, length: e.length })));
        }
        const params = [
          v.site,
          v.vsn,
          textArray(paths),
          intArray(entries),
          intArray(sizes),
          intArray(mtimes),
          intArray(modes),
          intArray(sessions),
          // hex digits: nothing to escape
          `{${sha256s.join(',')}}`,
          textArray(parts),
          textArray(extents),
        ];
        await pending;
        pending = c.query(INSERT_FILES, params);
        // a rejection is awaited on the next round or below; keep it from being "unhandled" meanwhile
        pending.catch(() => {});
      }
      await pending;
    });
  }

  async findFiles(q: FileQuery): Promise<FileHit[]> {
    if (q.sites.length === 0) return [];
    const args: unknown[] = [];
    const arg = (value: unknown, cast = '') => {
      args.push(value);
      return `$${args.length}${cast}`;
    };
    const where: string[] = [`f.site = ANY(${arg([...q.sites], '::text[]')})`];
    if (q.path !== undefined) where.push(`f.path = ${arg(q.path)}`);
    if (q.pathContains !== undefined) where.push(`f.path ILIKE ${arg(containsPattern(q.pathContains))}`);
    if (q.sha256 !== undefined) where.push(`f.sha256 = ${arg(q.sha256)}`);
    if (q.vsn !== undefined) where.push(`f.vsn = ${arg(q.vsn)}`);
    if (q.sizeMin !== undefined) where.push(`f.size >= ${arg(q.sizeMin, '::numeric')}`);
    if (q.sizeMax !== undefined) where.push(`f.size <= ${arg(q.sizeMax, '::numeric')}`);
    if (q.mtimeFrom !== undefined) where.push(`f.mtime_s >= ${arg(q.mtimeFrom, '::numeric')}`);
    if (q.mtimeBefore !== undefined) where.push(`f.mtime_s < ${arg(q.mtimeBefore, '::numeric')}`);
    if (q.volumeCreatedSince !== undefined) where.push(`v.created_at >= ${arg(q.volumeCreatedSince, '::numeric')}`);
    if (q.after) {
      const a = q.after;
      where.push(
        `(f.site, f.vsn, f.path, f.entry) > (${arg(a.site)}, ${arg(a.vsn)}, ${arg(a.path)}, ${arg(a.entry, '::int')})`,
      );
    }
    const from = `FROM indexed_files f JOIN indexed_volumes v ON v.site = f.site AND v.vsn = f.vsn
      WHERE ${where.join(' AND ')}`;
    const limit = arg(q.limit, '::int');
    const ordered = `SELECT ${FILE_COLUMNS} ${from} ORDER BY f.site, f.vsn, f.path, f.entry LIMIT ${limit}`;

    if (q.pathContains === undefined) {
      return (await this.pool.query<FileRow>(ordered, args)).rows.map(fileHit);
    }
    if ([...q.pathContains].length >= MIN_SUBSTRING) {
      // every hit from the trigram index (in no order, at most the cap), then sorted
      const capped = `WITH hits AS MATERIALIZED (SELECT ${FILE_COLUMNS} ${from} LIMIT ${SUBSTRING_CAP + 1})
        SELECT *, (SELECT count(*) FROM hits) AS hits_n FROM hits ORDER BY ${FILE_ORDER} LIMIT ${limit}`;
      const rows = (await this.pool.query<FileRow & { hits_n: number }>(capped, args)).rows;
      if (rows.length === 0 || rows[0]!.hits_n <= SUBSTRING_CAP) return rows.map(fileHit);
    }
    // a common substring (or one too short for trigrams): walk the order index
    return (
      await this.transaction(async (c) => {
        await c.query('SET LOCAL enable_bitmapscan = off');
        return c.query<FileRow>(ordered, args);
      })
    ).rows.map(fileHit);
  }

  async listVolumes(q: VolumeQuery): Promise<VolumeSummary[]> {
    if (q.sites.length === 0) return [];
    const args: unknown[] = [];
    const arg = (value: unknown, cast = '') => {
      args.push(value);
      return `$${args.length}${cast}`;
    };
    const where: string[] = [`site = ANY(${arg([...q.sites], '::text[]')})`];
    if (q.vsn !== undefined) where.push(`vsn = ${arg(q.vsn)}`);
    if (q.createdSince !== undefined) where.push(`created_at >= ${arg(q.createdSince, '::numeric')}`);
    if (q.after) where.push(`(site, vsn) > (${arg(q.after.site)}, ${arg(q.after.vsn)})`);
    const { rows } = await this.pool.query<VolumeRow>(
      `SELECT * FROM indexed_volumes WHERE ${where.join(' AND ')} ORDER BY site, vsn LIMIT ${arg(q.limit, '::int')}`,
      args,
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

function fileHit(r: FileRow): FileHit {
  return {
    site: r.site,
    vsn: r.vsn,
    path: r.path,
    entry: r.entry,
    size: r.size,
    sha256: r.sha256,
    mtimeSeconds: r.mtime_s,
    mode: r.mode,
    session: r.session,
    part: r.part === null ? null : JSON.parse(r.part),
    key: r.key,
    versionId: r.version_id,
    extents: JSON.parse(r.extents),
    copies: JSON.parse(r.copies),
    volumeCreatedAt: r.created_at,
  };
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
