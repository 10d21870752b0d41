/**
 * Finding an archived file for RETRIEVE: a file on a volume that is finished
 * or mirrored (every required copy verified), by SHA-256 or by its exact path
 * bytes, optionally on one VSN; and, for a journaled request, the file's
 * size, digest and extents (byte ranges of the image, the same on the disc and
 * in the cloud object). Read-only SQL over files, volume_files and volumes.
 */
import type Database from 'better-sqlite3';
import type { Catalog, Extent } from '../catalog/catalog.js';

export interface ArchivedFile {
  fileId: number;
  volumeId: number;
  vsn: string;
  volumeState: 'finished' | 'mirrored';
  session: number;
  imagePath: Buffer;
  path: Buffer;
  size: number;
  sha256: Buffer;
  /** Null for a whole file; else this piece's place in a file cut across volumes. */
  part: { index: number; count: number } | null;
  /** Null when the mastering did not record them. */
  extents: Extent[] | null;
}

const SELECT_ANY = `SELECT f.id AS file_id, v.id AS volume_id, v.vsn, v.state AS volume_state, vf.session,
    vf.image_path, f.path, f.size, f.sha256, vf.part_index, vf.part_count, vf.extents
  FROM volume_files vf JOIN files f ON f.id = vf.file_id JOIN volumes v ON v.id = vf.volume_id
  WHERE 1 = 1`;
const SELECT = `${SELECT_ANY} AND v.state IN ('finished', 'mirrored')`;

export class ArchivedFiles {
  private readonly db: Database.Database;

  constructor(catalog: Catalog) {
    this.db = catalog.database;
  }

  /** Every archived copy of the file: by digest when given, else by path; newest volume and session first. */
  find(by: { sha256: Buffer } | { path: Buffer }, vsn: string): ArchivedFile[] {
    const where = 'sha256' in by ? 'f.sha256 = ?' : 'f.path = ?';
    const args: unknown[] = ['sha256' in by ? by.sha256 : by.path];
    let sql = `${SELECT} AND ${where}`;
    if (vsn) {
      sql += ' AND v.vsn = ?';
      args.push(vsn);
    }
    sql += ' ORDER BY v.id DESC, vf.session DESC, f.id DESC';
    return (this.db.prepare(sql).all(...args) as any[]).map(toFile);
  }

  /**
   * The piece a journaled request names, if the catalog still has it on an
   * archived volume (`archivedOnly` false: on a volume in any state, to
   * describe an old request).
   */
  piece(
    volumeId: number,
    session: number,
    fileId: number,
    imagePath: Buffer,
    archivedOnly = true,
  ): ArchivedFile | undefined {
    const r = this.db
      .prepare(
        `${archivedOnly ? SELECT : SELECT_ANY} AND vf.volume_id = ? AND vf.session = ? AND vf.file_id = ? AND vf.image_path = ?`,
      )
      .get(volumeId, session, fileId, imagePath);
    return r ? toFile(r) : undefined;
  }

  volumeExists(vsn: string): boolean {
    return this.db.prepare('SELECT 1 FROM volumes WHERE vsn = ?').get(vsn) !== undefined;
  }
}

function toFile(r: any): ArchivedFile {
  return {
    fileId: Number(r.file_id),
    volumeId: Number(r.volume_id),
    vsn: r.vsn,
    volumeState: r.volume_state,
    session: Number(r.session),
    imagePath: r.image_path,
    path: r.path,
    size: Number(r.size),
    sha256: r.sha256,
    part: r.part_index === null ? null : { index: Number(r.part_index), count: Number(r.part_count) },
    extents: r.extents
      ? (JSON.parse(r.extents) as [string, string][]).map(([o, l]) => ({ offset: BigInt(o), length: BigInt(l) }))
      : null,
  };
}
