/**
 * The embedded manifest index: an SQLite file beside the gateway store
 * (default var/gateway/index.sqlite), opened like every other (sqlite/).
 *
 * Tables: indexed_volumes (one row per site and VSN: the image key and
 * version, the verified copies as JSON, when acknowledged) and indexed_files
 * (one row per file entry: path, size, mtime, SHA-256, session, extents as
 * JSON), with an FTS5 trigram table over the paths for substring search, kept
 * in step in the same transaction. Indexed by SHA-256 and by (site, vsn, path),
 * which is also the stable order of results.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from '../../sqlite/open-database.js';
import type { FileHit, FileQuery, IndexedVolume, SearchIndex } from './search-index.js';

const MIGRATIONS = [
  `
  CREATE TABLE indexed_volumes (
    site TEXT NOT NULL,
    vsn TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    manifest_key TEXT NOT NULL,
    copies TEXT NOT NULL,
    acked_at INTEGER NOT NULL,
    PRIMARY KEY (site, vsn)
  );
  CREATE TABLE indexed_files (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    vsn TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    mtime_s INTEGER NOT NULL,
    session INTEGER NOT NULL,
    extents TEXT NOT NULL
  );
  CREATE INDEX indexed_files_order ON indexed_files (site, vsn, path);
  CREATE INDEX indexed_files_sha256 ON indexed_files (sha256);
  CREATE VIRTUAL TABLE indexed_paths USING fts5 (path, content = 'indexed_files', content_rowid = 'id', tokenize = 'trigram');
  `,
];

export class SqliteIndex implements SearchIndex {
  private readonly db: Database.Database;

  constructor(readonly file: string) {
    this.db = openDatabase(file, { what: 'search index', migrations: MIGRATIONS });
  }

  close(): void {
    this.db.close();
  }

  indexVolume(v: IndexedVolume): void {
    const removePaths = this.db.prepare(
      `INSERT INTO indexed_paths (indexed_paths, rowid, path) SELECT 'delete', id, path FROM indexed_files WHERE site = ? AND vsn = ?`,
    );
    const insertFile = this.db.prepare(
      `INSERT INTO indexed_files (site, vsn, path, size, sha256, mtime_s, session, extents) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertPath = this.db.prepare('INSERT INTO indexed_paths (rowid, path) VALUES (?, ?)');
    this.db.transaction(() => {
      removePaths.run(v.site, v.vsn);
      this.db.prepare('DELETE FROM indexed_files WHERE site = ? AND vsn = ?').run(v.site, v.vsn);
      this.db
        .prepare(
          `INSERT INTO indexed_volumes (site, vsn, key, version_id, manifest_key, copies, acked_at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (site, vsn) DO UPDATE SET key = excluded.key, version_id = excluded.version_id,
             manifest_key = excluded.manifest_key, copies = excluded.copies, acked_at = excluded.acked_at`,
        )
        .run(v.site, v.vsn, v.key, v.versionId, v.manifestKey, JSON.stringify(v.manifest.copies), v.ackedAt);
      for (const f of v.manifest.files) {
        const id = insertFile.run(
          v.site,
          v.vsn,
          f.path,
          f.size,
          f.sha256,
          f.mtimeSeconds,
          f.session,
          JSON.stringify(f.extents),
        ).lastInsertRowid;
        insertPath.run(id, f.path);
      }
    })();
  }

  findFiles(q: FileQuery): FileHit[] {
    if (q.sites.length === 0) return [];
    const where: string[] = [`f.site IN (${q.sites.map(() => '?').join(', ')})`];
    const args: unknown[] = [...q.sites];
    if (q.pathContains !== undefined) {
      if ([...q.pathContains].length >= 3) {
        // the trigram index narrows, LIKE-free: the phrase is the substring, quotes doubled
        where.push('f.id IN (SELECT rowid FROM indexed_paths WHERE indexed_paths MATCH ?)');
        args.push(`"${q.pathContains.replaceAll('"', '""')}"`);
      } else {
        where.push('instr(f.path, ?) > 0');
        args.push(q.pathContains);
      }
    }
    if (q.sha256 !== undefined) {
      where.push('f.sha256 = ?');
      args.push(q.sha256);
    }
    if (q.vsn !== undefined) {
      where.push('f.vsn = ?');
      args.push(q.vsn);
    }
    if (q.after) {
      where.push('(f.site, f.vsn, f.path) > (?, ?, ?)');
      args.push(q.after.site, q.after.vsn, q.after.path);
    }
    const rows = this.db
      .prepare(
        `SELECT f.*, v.key, v.version_id, v.copies FROM indexed_files f
         JOIN indexed_volumes v ON v.site = f.site AND v.vsn = f.vsn
         WHERE ${where.join(' AND ')} ORDER BY f.site, f.vsn, f.path, f.id LIMIT ?`,
      )
      .all(...args, q.limit) as any[];
    return rows.map((r) => ({
      site: r.site,
      vsn: r.vsn,
      path: r.path,
      size: Number(r.size),
      sha256: r.sha256,
      mtimeSeconds: Number(r.mtime_s),
      session: Number(r.session),
      key: r.key,
      versionId: r.version_id,
      extents: JSON.parse(r.extents),
      copies: JSON.parse(r.copies),
    }));
  }

  volumes(): { site: string; vsn: string; versionId: string; files: number }[] {
    return (
      this.db
        .prepare(
          `SELECT v.site, v.vsn, v.version_id, (SELECT COUNT(*) FROM indexed_files f WHERE f.site = v.site AND f.vsn = v.vsn) AS files
           FROM indexed_volumes v ORDER BY v.site, v.vsn`,
        )
        .all() as any[]
    ).map((r) => ({ site: r.site, vsn: r.vsn, versionId: r.version_id, files: Number(r.files) }));
  }
}
