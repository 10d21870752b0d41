/**
 * The embedded manifest index: an SQLite file beside the gateway store
 * (default var/gateway/index.sqlite), opened like every other (sqlite/).
 *
 * Tables: index_volumes (one row per site and VSN: label, media, the image
 * object and version, the verified copies as JSON, dates, file count and
 * bytes) and index_files (one row per manifest entry: path, entry number,
 * size, mtime, mode, SHA-256, session, part and extents as JSON), with an
 * FTS5 trigram table over the paths (external content, kept in step in the
 * same transaction) for substring search. Site and VSN are repeated in each
 * file row so that (site, vsn, path, entry), the stable order of results,
 * is one index. Case folding of substrings is ASCII-only (SQLite's lower()),
 * as in PostgreSQL's C locale, so both backends agree: the trigram match
 * narrows, the instr() test decides.
 *
 * better-sqlite3 is synchronous; the interface is async for the PostgreSQL
 * backend's sake, and a query here holds the event loop for its few ms.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from '../../sqlite/open-database.js';
import type { FileHit, FileQuery, IndexedVolume, SearchIndex, VolumeQuery, VolumeSummary } from './search-index.js';
import { MIN_SUBSTRING } from './search-index.js';

const MIGRATIONS = [
  // 1 was the first index (indexed_*), replaced by 2; the index is derived and `reindex` refills it
  '-- replaced by 2',
  `
  DROP TABLE IF EXISTS indexed_paths;
  DROP TABLE IF EXISTS indexed_files;
  DROP TABLE IF EXISTS indexed_volumes;
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
  CREATE INDEX index_volumes_created ON index_volumes (created_at);
  CREATE TABLE index_files (
    id INTEGER PRIMARY KEY,
    volume_id INTEGER NOT NULL,
    site TEXT NOT NULL,
    vsn TEXT NOT NULL,
    path TEXT NOT NULL,
    entry INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    mtime_s INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    session INTEGER NOT NULL,
    part TEXT,
    extents TEXT NOT NULL
  );
  CREATE UNIQUE INDEX index_files_order ON index_files (site, vsn, path, entry);
  CREATE INDEX index_files_sha256 ON index_files (sha256);
  CREATE INDEX index_files_path ON index_files (path);
  CREATE INDEX index_files_volume ON index_files (volume_id);
  CREATE VIRTUAL TABLE index_paths USING fts5 (path, content = 'index_files', content_rowid = 'id', tokenize = 'trigram');
  `,
];

const FILE_COLUMNS = `f.site, f.vsn, f.path, f.entry, f.size, f.sha256, f.mtime_s, f.mode, f.session, f.part, f.extents,
  v.key, v.version_id, v.copies, v.created_at`;

export class SqliteIndex implements SearchIndex {
  readonly backend = 'sqlite' as const;
  private readonly db: Database.Database;

  constructor(readonly file: string) {
    this.db = openDatabase(file, { what: 'search index', migrations: MIGRATIONS });
  }

  async close(): Promise<void> {
    this.db.close();
  }

  async indexVolume(v: IndexedVolume): Promise<void> {
    const m = v.manifest;
    const db = this.db;
    const old = db.prepare('SELECT id FROM index_volumes WHERE site = ? AND vsn = ?');
    const forgetPaths = db.prepare(
      `INSERT INTO index_paths (index_paths, rowid, path) SELECT 'delete', id, path FROM index_files WHERE volume_id = ?`,
    );
    const forgetFiles = db.prepare('DELETE FROM index_files WHERE volume_id = ?');
    const forgetVolume = db.prepare('DELETE FROM index_volumes WHERE id = ?');
    const insertVolume = db.prepare(
      `INSERT INTO index_volumes (site, vsn, label, media, key, version_id, manifest_key, image_bytes, image_sha256,
         sessions, copies, created_at, acked_at, files, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertFile = db.prepare(
      `INSERT INTO index_files (volume_id, site, vsn, path, entry, size, sha256, mtime_s, mode, session, part, extents)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertPath = db.prepare('INSERT INTO index_paths (rowid, path) VALUES (?, ?)');
    db.transaction(() => {
      const was = old.get(v.site, v.vsn) as { id: number } | undefined;
      if (was) {
        forgetPaths.run(was.id);
        forgetFiles.run(was.id);
        forgetVolume.run(was.id);
      }
      const bytes = m.files.reduce((sum, f) => sum + f.size, 0);
      const volumeId = insertVolume.run(
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
      m.files.forEach((f, entry) => {
        const id = insertFile.run(
          volumeId,
          v.site,
          v.vsn,
          f.path,
          entry,
          f.size,
          f.sha256,
          f.mtimeSeconds,
          f.mode,
          f.session,
          f.part ? JSON.stringify(f.part) : null,
          JSON.stringify(f.extents),
        ).lastInsertRowid;
        insertPath.run(id, f.path);
      });
    })();
  }

  async findFiles(q: FileQuery): Promise<FileHit[]> {
    if (q.sites.length === 0) return [];
    const where: string[] = [`f.site IN (${q.sites.map(() => '?').join(', ')})`];
    const args: unknown[] = [...q.sites];
    let from = 'index_files f';
    if (q.pathContains !== undefined) {
      if ([...q.pathContains].length >= MIN_SUBSTRING) {
        // the trigram index narrows (the phrase is the substring, quotes doubled); instr decides
        from = 'index_paths p CROSS JOIN index_files f ON f.id = p.rowid';
        where.push('index_paths MATCH ?');
        args.push(`"${q.pathContains.replaceAll('"', '""')}"`);
      }
      where.push('instr(lower(f.path), lower(?)) > 0');
      args.push(q.pathContains);
    }
    const equal = (column: string, value: unknown) => {
      if (value === undefined) return;
      where.push(`${column} = ?`);
      args.push(value);
    };
    const bound = (column: string, op: string, value: number | undefined) => {
      if (value === undefined) return;
      where.push(`${column} ${op} ?`);
      args.push(value);
    };
    equal('f.path', q.path);
    equal('f.sha256', q.sha256);
    equal('f.vsn', q.vsn);
    bound('f.size', '>=', q.sizeMin);
    bound('f.size', '<=', q.sizeMax);
    bound('f.mtime_s', '>=', q.mtimeFrom);
    bound('f.mtime_s', '<', q.mtimeBefore);
    bound('v.created_at', '>=', q.volumeCreatedSince);
    if (q.after) {
      where.push('(f.site, f.vsn, f.path, f.entry) > (?, ?, ?, ?)');
      args.push(q.after.site, q.after.vsn, q.after.path, q.after.entry);
    }
    const rows = this.db
      .prepare(
        `SELECT ${FILE_COLUMNS} FROM ${from} JOIN index_volumes v ON v.id = f.volume_id
         WHERE ${where.join(' AND ')} ORDER BY f.site, f.vsn, f.path, f.entry LIMIT ?`,
      )
      .all(...args, q.limit) as any[];
    return rows.map(fileHit);
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
