/**
 * The embedded manifest index: an SQLite file beside the gateway store
 * (default var/gateway/index.sqlite), opened like every other (sqlite/).
 *
 * Archives repeat themselves: thousands of files share a directory, and the
 * same file names (frame-000123.fits) recur night after night. So a path is
 * kept as a directory string and a name string, each stored once
 * (index_dirs, index_names) with an FTS5 trigram index over the distinct
 * strings only, and a file row holds their ids. That keeps the trigram work
 * of ingest and the size of the file far below one trigram index over every
 * full path.
 *
 * A path substring q matches a file when its directory contains q, its name
 * contains q, or q spans the last slash: q = X/Y with the directory ending in
 * X and the name starting with Y. Case folding is ASCII-only (SQLite's lower()),
 * as in PostgreSQL's C locale, so both backends agree: the trigram match
 * narrows, lower()/instr() decide.
 *
 * Tables: index_volumes (one row per site and VSN: label, media, the image
 * object and version, the verified copies as JSON, dates, file count and
 * bytes); index_files (one row per manifest entry: volume, entry number, dir
 * and name ids, size, mtime, SHA-256 with its first 52 bits as an indexed
 * integer, mode, session, the extent when there is one, else the extents and
 * part as JSON). The stable
 * order (site, vsn, entry) is the volumes' (site, vsn) index walked with the
 * files' (volume_id, entry) index. Strings no longer used by any file stay
 * (they match nothing); a reindex into a new file drops them.
 *
 * How a query runs: by SHA-256 or exact path through their indexes; by
 * substring, through the matching strings' files when they are few (sorted
 * afterwards), else by walking the stable order and testing each file's
 * string ids (dense matches fill a page quickly). better-sqlite3 is
 * synchronous: a query holds the event loop for its few ms.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from '../../sqlite/open-database.js';
import type { FileHit, FileQuery, IndexedVolume, SearchIndex, VolumeQuery, VolumeSummary } from './search-index.js';
import { MIN_SUBSTRING } from './search-index.js';

/** The file indexes bulk mode drops and rebuilds (the order index stays: it is appended to in order). */
const SECONDARY_INDEXES = `
  CREATE INDEX IF NOT EXISTS index_files_sha ON index_files (sha_prefix);
  CREATE INDEX IF NOT EXISTS index_files_dir_name ON index_files (dir_id, name_id);
  CREATE INDEX IF NOT EXISTS index_files_name ON index_files (name_id);`;

const MIGRATIONS = [
  // 1 and 2 were earlier layouts; the index is derived and `reindex` refills it
  '-- replaced by 3',
  '-- replaced by 3',
  `
  DROP TABLE IF EXISTS indexed_paths;
  DROP TABLE IF EXISTS indexed_files;
  DROP TABLE IF EXISTS indexed_volumes;
  DROP TABLE IF EXISTS index_paths;
  DROP TABLE IF EXISTS index_files;
  DROP TABLE IF EXISTS index_volumes;
  CREATE TABLE index_volumes (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    vsn TEXT NOT NULL,
    label TEXT NOT NULL,
    media TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    manifest_key TEXT NOT NULL,
    image_bytes INTEGER NOT NULL,
    image_sha256 TEXT NOT NULL,
    sessions INTEGER NOT NULL,
    copies TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    acked_at INTEGER NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    UNIQUE (site, vsn)
  );
  -- a path with no slash has no directory: its dir_id is NULL ('' is the directory of /name)
  CREATE TABLE index_dirs (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
  CREATE TABLE index_names (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
  CREATE VIRTUAL TABLE index_dir_trigrams USING fts5 (text, content = 'index_dirs', content_rowid = 'id', tokenize = 'trigram');
  CREATE VIRTUAL TABLE index_name_trigrams USING fts5 (text, content = 'index_names', content_rowid = 'id', tokenize = 'trigram');
  CREATE TABLE index_files (
    id INTEGER PRIMARY KEY,
    volume_id INTEGER NOT NULL,
    entry INTEGER NOT NULL,
    dir_id INTEGER,
    name_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_s INTEGER NOT NULL,
    sha_prefix INTEGER NOT NULL,
    sha256 BLOB NOT NULL,
    mode INTEGER NOT NULL,
    session INTEGER NOT NULL,
    ext_offset INTEGER,
    ext_length INTEGER,
    extra TEXT
  );
  CREATE UNIQUE INDEX index_files_order ON index_files (volume_id, entry);
  ${SECONDARY_INDEXES}
  `,
  // 4: an exact path is one seek of (dir, name); the planner gets statistics
  `
  DROP INDEX IF EXISTS index_files_dir;
  ${SECONDARY_INDEXES}
  ANALYZE;
  `,
];

/** Rows per INSERT statement when indexing (fewer statements, same transaction). */
const ROWS_PER_INSERT = 64;
const FILE_COLUMNS = 13;
const INSERT_COLUMNS =
  'volume_id, entry, dir_id, name_id, size, mtime_s, sha_prefix, sha256, mode, session, ext_offset, ext_length, extra';
/** A substring whose strings hold at most this many files is answered from them and sorted; else by walking. */
const CANDIDATE_CAP = 5_000;
/** Page cache of the index's connection, KiB: 64 MiB, and 1 GiB during a bulk load. */
const CACHE_KIB = 65_536;
const BULK_CACHE_KIB = 1_048_576;
/** A span X/Y with at most this many (dir, name) pairs is looked up pair by pair in the (dir, name) index. */
const MAX_SPAN_PAIRS = 50_000;
/** This connection's temp tables of the string ids a substring matches. */
type MatchTable = 'match_dirs' | 'match_names' | 'span_dirs' | 'span_names';

/**
 * Directory and name of a path: `a/b/c.txt` → [`a/b`, `c.txt`]; `/c.txt` →
 * [``, `c.txt`]; a path with no slash, `c.txt` → [null, `c.txt`].
 */
export function splitPath(path: string): [string | null, string] {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? [null, path] : [path.slice(0, slash), path.slice(slash + 1)];
}

function joinPath(dir: string | null, name: string): string {
  return dir === null ? name : `${dir}/${name}`;
}

/** What a file row keeps as JSON when it has more than one extent or is a part (else NULL). */
interface FileExtra {
  extents: { offset: number; length: number }[];
  part?: { index: number; count: number; offset: number; length: number };
}

/** The first 13 hex digits (52 bits) of a SHA-256, as a safe integer: what is indexed. */
function shaPrefix(hex: string): number {
  return Number.parseInt(hex.slice(0, 13), 16);
}

export class SqliteIndex implements SearchIndex {
  readonly backend = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly insertFiles: Database.Statement;
  private readonly insertFile: Database.Statement;
  private readonly strings: Record<
    'dirs' | 'names',
    { get: Database.Statement; add: Database.Statement; trigrams: Database.Statement }
  >;

  private readonly candidateCap: number;
  /** In bulk(): statistics wait for the end. */
  private bulkLoading = false;

  /** options.candidateCap: see CANDIDATE_CAP (tests set it low to exercise the walk). */
  constructor(
    readonly file: string,
    options: { candidateCap?: number } = {},
  ) {
    this.candidateCap = options.candidateCap ?? CANDIDATE_CAP;
    this.db = openDatabase(file, { what: 'search index', migrations: MIGRATIONS });
    // the index is rebuilt from S3 if lost: a commit need not wait for the disk (WAL stays consistent)
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma(`cache_size = -${CACHE_KIB}`);
    // statistics from a sample (ANALYZE, PRAGMA optimize): quick on millions of rows
    this.db.pragma('analysis_limit = 2000');
    this.insertFiles = this.db.prepare(
      `INSERT INTO index_files (${INSERT_COLUMNS})
       VALUES ${Array.from({ length: ROWS_PER_INSERT }, () => `(${Array(FILE_COLUMNS).fill('?').join(', ')})`).join(', ')}`,
    );
    this.insertFile = this.db.prepare(
      `INSERT INTO index_files (${INSERT_COLUMNS})
       VALUES (${Array(FILE_COLUMNS).fill('?').join(', ')})`,
    );
    const strings = (table: 'dirs' | 'names') => ({
      get: this.db.prepare(`SELECT id FROM index_${table} WHERE text = ?`).pluck(),
      add: this.db.prepare(`INSERT INTO index_${table} (text) VALUES (?)`),
      trigrams: this.db.prepare(`INSERT INTO index_${table.slice(0, -1)}_trigrams (rowid, text) VALUES (?, ?)`),
    });
    this.strings = { dirs: strings('dirs'), names: strings('names') };
    for (const t of ['match_dirs', 'match_names', 'span_dirs', 'span_names'])
      this.db.exec(`CREATE TEMP TABLE IF NOT EXISTS ${t} (id INTEGER PRIMARY KEY)`);
  }

  async close(): Promise<void> {
    this.db.close();
  }

  async indexVolume(v: IndexedVolume): Promise<void> {
    const m = v.manifest;
    const db = this.db;
    const dirIds = new Map<string, number>();
    const nameIds = new Map<string, number>();
    const stringId = (table: 'dirs' | 'names', cache: Map<string, number>, text: string): number => {
      let id = cache.get(text);
      if (id !== undefined) return id;
      const s = this.strings[table];
      id = s.get.get(text) as number | undefined;
      if (id === undefined) {
        id = Number(s.add.run(text).lastInsertRowid);
        s.trigrams.run(id, text);
      }
      cache.set(text, id);
      return id;
    };
    db.transaction(() => {
      const was = db.prepare('SELECT id FROM index_volumes WHERE site = ? AND vsn = ?').pluck().get(v.site, v.vsn);
      if (was !== undefined) {
        db.prepare('DELETE FROM index_files WHERE volume_id = ?').run(was);
        db.prepare('DELETE FROM index_volumes WHERE id = ?').run(was);
      }
      let bytes = 0;
      for (const f of m.files) bytes += f.size;
      const volumeId = db
        .prepare(
          `INSERT INTO index_volumes (site, vsn, label, media, key, version_id, manifest_key, image_bytes, image_sha256,
             sessions, copies, created_at, acked_at, files, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
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
          Date.parse(m.createdAt),
          v.ackedAt,
          m.files.length,
          bytes,
        ).lastInsertRowid;
      const batch: unknown[] = [];
      m.files.forEach((f, entry) => {
        const [dir, name] = splitPath(f.path);
        const single = f.extents.length === 1 && !f.part ? f.extents[0]! : undefined;
        batch.push(
          volumeId,
          entry,
          dir === null ? null : stringId('dirs', dirIds, dir),
          stringId('names', nameIds, name),
          f.size,
          f.mtimeSeconds,
          shaPrefix(f.sha256),
          Buffer.from(f.sha256, 'hex'),
          f.mode,
          f.session,
          single?.offset ?? null,
          single?.length ?? null,
          single ? null : JSON.stringify(f.part ? { extents: f.extents, part: f.part } : { extents: f.extents }),
        );
        if (batch.length === ROWS_PER_INSERT * FILE_COLUMNS) {
          this.insertFiles.run(batch);
          batch.length = 0;
        }
      });
      for (let i = 0; i < batch.length; i += FILE_COLUMNS) this.insertFile.run(batch.slice(i, i + FILE_COLUMNS));
    })();
    // statistics again once the tables have grown tenfold since they were taken (cheap otherwise)
    if (!this.bulkLoading) this.db.pragma('optimize');
  }

  async bulk<T>(load: () => Promise<T>): Promise<T> {
    const empty = this.db.prepare('SELECT NOT EXISTS (SELECT 1 FROM index_files)').pluck().get() === 1;
    if (!empty) return load();
    this.db.exec(
      'DROP INDEX IF EXISTS index_files_sha; DROP INDEX IF EXISTS index_files_dir_name; DROP INDEX IF EXISTS index_files_name;',
    );
    this.bulkLoading = true;
    // a bigger page cache while loading: dictionary strings land all over their unique index,
    // and a small cache spills those pages to the WAL again and again
    this.db.pragma(`cache_size = -${BULK_CACHE_KIB}`);
    try {
      return await load();
    } finally {
      this.db.pragma(`cache_size = -${CACHE_KIB}`);
      this.bulkLoading = false;
      this.db.exec(SECONDARY_INDEXES);
      this.analyze();
    }
  }

  /**
   * Refreshes the planner's statistics (sampled: analysis_limit), so it knows
   * a directory is far more selective than a name recurring across nights.
   */
  private analyze(): void {
    this.db.exec('ANALYZE');
  }

  async findFiles(q: FileQuery): Promise<FileHit[]> {
    if (q.sites.length === 0) return [];
    const where: string[] = [`v.site IN (${q.sites.map(() => '?').join(', ')})`];
    const args: unknown[] = [...q.sites];
    const add = (sql: string, ...values: unknown[]) => {
      where.push(sql);
      args.push(...values);
    };
    if (q.vsn !== undefined) add('v.vsn = ?', q.vsn);
    if (q.volumeCreatedSince !== undefined) add('v.created_at >= ?', q.volumeCreatedSince);
    if (q.sizeMin !== undefined) add('f.size >= ?', q.sizeMin);
    if (q.sizeMax !== undefined) add('f.size <= ?', q.sizeMax);
    if (q.mtimeFrom !== undefined) add('f.mtime_s >= ?', q.mtimeFrom);
    if (q.mtimeBefore !== undefined) add('f.mtime_s < ?', q.mtimeBefore);
    if (q.after) {
      add(
        '(v.site > ? OR (v.site = ? AND (v.vsn > ? OR (v.vsn = ? AND f.entry > ?))))',
        q.after.site,
        q.after.site,
        q.after.vsn,
        q.after.vsn,
        q.after.entry,
      );
    }
    // the selective filters, through their indexes
    let selective = false;
    if (q.sha256 !== undefined) {
      if (!/^[0-9a-f]{64}$/.test(q.sha256)) return [];
      add('f.sha_prefix = ? AND f.sha256 = ?', shaPrefix(q.sha256), Buffer.from(q.sha256, 'hex'));
      selective = true;
    }
    if (q.path !== undefined) {
      const [dir, name] = splitPath(q.path);
      add('f.name_id = (SELECT id FROM index_names WHERE text = ?)', name);
      if (dir === null) add('f.dir_id IS NULL');
      else add('f.dir_id = (SELECT id FROM index_dirs WHERE text = ?)', dir);
      selective = true;
    }
    let walk = !selective;
    if (q.pathContains !== undefined) {
      const m = this.substringMatch(q.pathContains);
      add(m.sql, ...m.args);
      if (!selective) {
        // few files behind the matching strings (in any site: counted in the indexes alone, without
        // reading a row): fetch them and sort; many: walk the order, where they are met soon
        const count = this.db
          .prepare(`SELECT COUNT(*) FROM (SELECT 1 FROM index_files f WHERE ${m.sql} LIMIT ${this.candidateCap + 1})`)
          .pluck()
          .get(...m.args) as number;
        walk = count > this.candidateCap;
      }
    }
    const from = walk
      ? 'index_volumes v CROSS JOIN index_files f ON f.volume_id = v.id'
      : 'index_files f CROSS JOIN index_volumes v ON v.id = f.volume_id';
    const rows = this.db
      .prepare(
        `SELECT v.site, v.vsn, f.entry, d.text AS dir, n.text AS name, f.size, f.mtime_s, f.sha256, f.mode, f.session,
           f.ext_offset, f.ext_length, f.extra,
           v.key, v.version_id, v.copies, v.created_at
         FROM ${from} LEFT JOIN index_dirs d ON d.id = f.dir_id JOIN index_names n ON n.id = f.name_id
         WHERE ${where.join(' AND ')} ORDER BY v.site, v.vsn, f.entry LIMIT ?`,
      )
      .all(...args, q.limit) as any[];
    return rows.map(fileHit);
  }

  /**
   * The condition "the path contains q" (ASCII case-insensitive) over a file
   * row f: its dir or its name contains q, or q = X/Y spans the last slash
   * (the dir ends with X and the name starts with Y). The matching string ids
   * are found once, by the trigram indexes, into this connection's temp
   * tables, so the file queries only look them up; a span is joined through
   * the (dir, name) index when its pairs are few, else through whichever side
   * is smaller.
   */
  private substringMatch(q: string): { sql: string; args: unknown[] } {
    const fill = (into: MatchTable, table: 'dirs' | 'names', test: string, needle: string, ...testArgs: unknown[]) => {
      const trigrams = `index_${table.slice(0, -1)}_trigrams`;
      this.db.prepare(`DELETE FROM temp.${into}`).run();
      const select =
        [...needle].length >= MIN_SUBSTRING
          ? this.db
              .prepare(
                `INSERT INTO temp.${into} SELECT s.id FROM ${trigrams} t JOIN index_${table} s ON s.id = t.rowid
                 WHERE ${trigrams} MATCH ? AND ${test}`,
              )
              .run(`"${needle.replaceAll('"', '""')}"`, ...testArgs)
          : this.db
              .prepare(`INSERT INTO temp.${into} SELECT s.id FROM index_${table} s WHERE ${test}`)
              .run(...testArgs);
      return select.changes;
    };
    const contains = 'instr(lower(s.text), lower(?)) > 0';
    fill('match_dirs', 'dirs', contains, q, q);
    fill('match_names', 'names', contains, q, q);
    const terms = ['f.dir_id IN temp.match_dirs', 'f.name_id IN temp.match_names'];
    const slash = q.lastIndexOf('/');
    if (slash >= 0) {
      const x = q.slice(0, slash);
      const y = q.slice(slash + 1);
      // every directory ends with '': a file with a directory has a slash after it
      const dirs =
        x === ''
          ? fill('span_dirs', 'dirs', '1', '')
          : fill('span_dirs', 'dirs', 'substr(lower(s.text), -length(?)) = lower(?)', x, x, x);
      if (y === '') terms.push('f.dir_id IN temp.span_dirs');
      else {
        const names = fill('span_names', 'names', 'substr(lower(s.text), 1, length(?)) = lower(?)', y, y, y);
        terms.push(
          dirs * names <= MAX_SPAN_PAIRS
            ? '(f.dir_id, f.name_id) IN (SELECT d.id, n.id FROM temp.span_dirs d CROSS JOIN temp.span_names n)'
            : names <= dirs
              ? '(f.name_id IN temp.span_names AND +f.dir_id IN temp.span_dirs)'
              : '(f.dir_id IN temp.span_dirs AND +f.name_id IN temp.span_names)',
        );
      }
    }
    return { sql: `(${terms.join(' OR ')})`, args: [] };
  }

  async listVolumes(q: VolumeQuery): Promise<VolumeSummary[]> {
    if (q.sites.length === 0) return [];
    const where: string[] = [`site IN (${q.sites.map(() => '?').join(', ')})`];
    const args: unknown[] = [...q.sites];
    if (q.vsn !== undefined) {
      where.push('vsn = ?');
      args.push(q.vsn);
    }
    if (q.createdSince !== undefined) {
      where.push('created_at >= ?');
      args.push(q.createdSince);
    }
    if (q.after) {
      where.push('(site, vsn) > (?, ?)');
      args.push(q.after.site, q.after.vsn);
    }
    const rows = this.db
      .prepare(`SELECT * FROM index_volumes WHERE ${where.join(' AND ')} ORDER BY site, vsn LIMIT ?`)
      .all(...args, q.limit) as any[];
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
    return (
      this.db.prepare('SELECT site, vsn, version_id, files FROM index_volumes ORDER BY site, vsn').all() as any[]
    ).map((r) => ({ site: r.site, vsn: r.vsn, versionId: r.version_id, files: r.files }));
  }
}

function fileHit(r: any): FileHit {
  const extra: FileExtra =
    r.extra === null ? { extents: [{ offset: r.ext_offset, length: r.ext_length }] } : JSON.parse(r.extra);
  return {
    site: r.site,
    vsn: r.vsn,
    entry: r.entry,
    path: joinPath(r.dir, r.name),
    size: r.size,
    sha256: (r.sha256 as Buffer).toString('hex'),
    mtimeSeconds: r.mtime_s,
    mode: r.mode,
    session: r.session,
    part: extra.part ?? null,
    key: r.key,
    versionId: r.version_id,
    extents: extra.extents,
    copies: JSON.parse(r.copies),
    volumeCreatedAt: r.created_at,
  };
}
