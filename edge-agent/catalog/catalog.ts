/**
 * The agent's catalog: an embedded SQLite database (WAL, synchronous=FULL, so
 * a commit that returned survives a power cut) holding files, volumes, copies,
 * jobs and the journal of their steps. See schema.ts for what each table means.
 *
 * Every method is one transaction. Methods that create things are idempotent
 * where a job step may run them twice after a crash (files are keyed by job
 * and path, volumes by job and sequence, VSNs come from a counter bumped in
 * the same transaction that inserts the volume, so a VSN is never issued twice).
 */
import type Database from 'better-sqlite3';
import { openDatabase } from '../../sqlite/open-database.js';
import { MIGRATIONS } from './schema.js';

export type JobKind = 'burn' | 'copy' | 'burn_copy';
export type JobState = 'queued' | 'running' | 'done' | 'failed';
export type VolumeState = 'hot' | 'mastered' | 'finished' | 'mirrored' | 'failed';
export type CopyState = 'writing' | 'written' | 'verified' | 'bad';
export type JournalEvent = 'begin' | 'done' | 'failed' | 'undone';

export interface JobRow {
  id: number;
  kind: JobKind;
  state: JobState;
  clientId: string;
  client: string;
  params: Record<string, unknown>;
  message: string;
  createdAt: number;
  updatedAt: number;
}

export interface FileRow {
  id: number;
  jobId: number;
  clientId: string;
  path: Buffer;
  size: bigint;
  sha256: Buffer;
  mode: number;
  mtime: { seconds: bigint; nanoseconds: number };
  state: 'staged' | 'archived';
}

export interface NewFile {
  path: Buffer;
  size: bigint;
  sha256: Buffer;
  mode: number;
  mtime: { seconds: bigint; nanoseconds: number };
}

export interface VolumeRow {
  id: number;
  vsn: string;
  jobId: number;
  seq: number;
  state: VolumeState;
  media: string;
  clientId: string;
  label: string;
  requiredCopies: number;
  imagePath: string | null;
  imageBytes: bigint | null;
  imageSha256: Buffer | null;
  sectors: number | null;
  sessions: number;
  /** Written open (multi-session): an APPEND may add a session. */
  appendable: boolean;
  createdAt: number;
  finishedAt: number | null;
}

export interface Part {
  index: number;
  count: number;
  offset: bigint;
  length: bigint;
}

export interface PlannedPiece {
  fileId: number;
  imagePath: Buffer;
  part?: Part;
}

export interface PlannedVolumeRow {
  media: string;
  label: string;
  requiredCopies: number;
  appendable?: boolean;
  pieces: PlannedPiece[];
}

export interface Extent {
  offset: bigint;
  length: bigint;
}

export interface VolumeFileRow {
  volumeId: number;
  session: number;
  file: FileRow;
  imagePath: Buffer;
  part: Part | null;
  extents: Extent[] | null;
}

export interface CopyRow {
  id: number;
  volumeId: number;
  copyNo: number;
  attempt: number;
  drive: string;
  medium: string | null;
  state: CopyState;
  error: string;
  sha256: Buffer | null;
  md5: string | null;
  writtenAt: number | null;
  verifiedAt: number | null;
}

export interface JournalRow {
  id: number;
  jobId: number;
  volumeId: number | null;
  step: string;
  event: JournalEvent;
  detail: string;
  at: number;
}

export type MirrorState = 'queued' | 'uploading' | 'acked';

/** One volume session in the mirror's outbox. */
export interface MirrorEntry {
  id: number;
  volumeId: number;
  session: number;
  state: MirrorState;
  uploadId: string | null;
  bytesDone: number;
  attempts: number;
  lastError: string;
  key: string | null;
  versionId: string | null;
  createdAt: number;
  updatedAt: number;
  ackedAt: number | null;
}

export interface CatalogOptions {
  /** Prefix of volume serials: VSNs are the prefix and six digits. ISO d-characters only. */
  vsnPrefix?: string;
  now?: () => number;
}

export class Catalog {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly vsnPrefix: string;
  private readonly now: () => number;

  constructor(file: string, options: CatalogOptions = {}) {
    this.file = file;
    this.vsnPrefix = options.vsnPrefix ?? 'OPT';
    if (!/^[A-Z0-9_]{1,20}$/.test(this.vsnPrefix)) {
      throw new Error(`VSN prefix ${JSON.stringify(this.vsnPrefix)} must be 1-20 of A-Z, 0-9 and _`);
    }
    this.now = options.now ?? Date.now;
    this.db = openDatabase(file, { what: 'catalog', migrations: MIGRATIONS });
    this.db.defaultSafeIntegers(true);
  }

  close(): void {
    this.db.close();
  }

  /**
   * The SQLite handle (integers read as BigInt), for the owners of the
   * catalog's later tables: catalog-queries.ts, the retrieval journal, the
   * fixity records. Each keeps its own SQL beside its own logic.
   */
  get database(): Database.Database {
    return this.db;
  }

  /** The catalog's clock (ms since the epoch). */
  clock(): number {
    return this.now();
  }

  // --- jobs and journal ---------------------------------------------------

  createJob(kind: JobKind, clientId: string, client: string, params: Record<string, unknown>): JobRow {
    const at = this.now();
    const info = this.db
      .prepare(
        `INSERT INTO jobs (kind, state, client_id, client, params, created_at, updated_at)
         VALUES (?, 'queued', ?, ?, ?, ?, ?)`,
      )
      .run(kind, clientId, client, JSON.stringify(params), at, at);
    return this.job(Number(info.lastInsertRowid))!;
  }

  job(id: number): JobRow | undefined {
    const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as any;
    return r ? toJob(r) : undefined;
  }

  /** Jobs that were queued or running when the agent stopped, oldest first. */
  unfinishedJobs(): JobRow[] {
    return (this.db.prepare(`SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY id`).all() as any[]).map(
      toJob,
    );
  }

  setJobState(id: number, state: JobState, message = ''): void {
    this.db
      .prepare('UPDATE jobs SET state = ?, message = ?, updated_at = ? WHERE id = ?')
      .run(state, message, this.now(), id);
  }

  journal(jobId: number, volumeId: number | null, step: string, event: JournalEvent, detail = ''): void {
    this.db
      .prepare('INSERT INTO journal (job_id, volume_id, step, event, detail, at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(jobId, volumeId, step, event, detail, this.now());
  }

  journalOf(jobId: number): JournalRow[] {
    return (this.db.prepare('SELECT * FROM journal WHERE job_id = ? ORDER BY id').all(jobId) as any[]).map((r) => ({
      id: Number(r.id),
      jobId: Number(r.job_id),
      volumeId: r.volume_id === null ? null : Number(r.volume_id),
      step: r.step,
      event: r.event,
      detail: r.detail,
      at: Number(r.at),
    }));
  }

  // --- files ----------------------------------------------------------------

  /** Records the files a job takes; a second call with the same paths changes nothing. */
  addFiles(jobId: number, clientId: string, files: NewFile[]): void {
    const insert = this.db.prepare(
      `INSERT OR IGNORE INTO files (job_id, client_id, path, size, sha256, mode, mtime_s, mtime_ns, state)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'staged')`,
    );
    this.db.transaction(() => {
      for (const f of files) {
        insert.run(jobId, clientId, f.path, f.size, f.sha256, f.mode, f.mtime.seconds, f.mtime.nanoseconds);
      }
    })();
  }

  jobFiles(jobId: number): FileRow[] {
    return (this.db.prepare('SELECT * FROM files WHERE job_id = ? ORDER BY id').all(jobId) as any[]).map(toFile);
  }

  archiveFiles(jobId: number): void {
    this.db.prepare(`UPDATE files SET state = 'archived' WHERE job_id = ?`).run(jobId);
  }

  // --- volumes --------------------------------------------------------------

  /**
   * Creates a job's volumes with fresh VSNs, unless the job has volumes
   * already (a replayed step): then returns those.
   */
  planVolumes(jobId: number, clientId: string, planned: PlannedVolumeRow[]): VolumeRow[] {
    return this.db.transaction(() => {
      const existing = this.jobVolumes(jobId);
      if (existing.length > 0) return existing;
      const insertVolume = this.db.prepare(
        `INSERT INTO volumes (vsn, job_id, seq, state, media, client_id, label, required_copies, appendable, created_at)
         VALUES (?, ?, ?, 'hot', ?, ?, ?, ?, ?, ?)`,
      );
      const insertPiece = this.db.prepare(
        `INSERT INTO volume_files (volume_id, session, file_id, image_path, part_index, part_count, part_offset, part_length)
         VALUES (?, 1, ?, ?, ?, ?, ?, ?)`,
      );
      planned.forEach((v, seq) => {
        const vsn = this.takeVsn();
        const info = insertVolume.run(
          vsn,
          jobId,
          seq + 1,
          v.media,
          clientId,
          v.label,
          v.requiredCopies,
          v.appendable ? 1 : 0,
          this.now(),
        );
        const volumeId = Number(info.lastInsertRowid);
        for (const p of v.pieces) {
          insertPiece.run(
            volumeId,
            p.fileId,
            p.imagePath,
            p.part?.index ?? null,
            p.part?.count ?? null,
            p.part?.offset ?? null,
            p.part?.length ?? null,
          );
        }
      });
      return this.jobVolumes(jobId);
    })();
  }

  private takeVsn(): string {
    const row = this.db.prepare(`SELECT value FROM meta WHERE key = 'next_vsn'`).get() as { value: string };
    const n = Number(row.value);
    this.db.prepare(`UPDATE meta SET value = ? WHERE key = 'next_vsn'`).run(String(n + 1));
    return `${this.vsnPrefix}${String(n).padStart(6, '0')}`;
  }

  jobVolumes(jobId: number): VolumeRow[] {
    return (this.db.prepare('SELECT * FROM volumes WHERE job_id = ? ORDER BY seq').all(jobId) as any[]).map(toVolume);
  }

  volume(id: number): VolumeRow | undefined {
    const r = this.db.prepare('SELECT * FROM volumes WHERE id = ?').get(id) as any;
    return r ? toVolume(r) : undefined;
  }

  volumeByVsn(vsn: string): VolumeRow | undefined {
    const r = this.db.prepare('SELECT * FROM volumes WHERE vsn = ?').get(vsn) as any;
    return r ? toVolume(r) : undefined;
  }

  volumes(filter: { state?: VolumeState; media?: string; clientId?: string } = {}): VolumeRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.state) where.push('state = ?') && args.push(filter.state);
    if (filter.media) where.push('media = ?') && args.push(filter.media);
    if (filter.clientId) where.push('client_id = ?') && args.push(filter.clientId);
    const sql = `SELECT * FROM volumes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`;
    return (this.db.prepare(sql).all(...args) as any[]).map(toVolume);
  }

  volumeFiles(volumeId: number): VolumeFileRow[] {
    const rows = this.db
      .prepare(
        `SELECT vf.*, f.id AS f_id, f.job_id AS f_job_id, f.client_id AS f_client_id, f.path AS f_path,
                f.size AS f_size, f.sha256 AS f_sha256, f.mode AS f_mode, f.mtime_s AS f_mtime_s,
                f.mtime_ns AS f_mtime_ns, f.state AS f_state
         FROM volume_files vf JOIN files f ON f.id = vf.file_id
         WHERE vf.volume_id = ? ORDER BY vf.session, vf.image_path`,
      )
      .all(volumeId) as any[];
    return rows.map((r) => ({
      volumeId: Number(r.volume_id),
      session: Number(r.session),
      file: toFile({
        id: r.f_id,
        job_id: r.f_job_id,
        client_id: r.f_client_id,
        path: r.f_path,
        size: r.f_size,
        sha256: r.f_sha256,
        mode: r.f_mode,
        mtime_s: r.f_mtime_s,
        mtime_ns: r.f_mtime_ns,
        state: r.f_state,
      }),
      imagePath: r.image_path,
      part:
        r.part_index === null
          ? null
          : {
              index: Number(r.part_index),
              count: Number(r.part_count),
              offset: BigInt(r.part_offset),
              length: BigInt(r.part_length),
            },
      extents: r.extents
        ? (JSON.parse(r.extents) as [string, string][]).map(([o, l]) => ({ offset: BigInt(o), length: BigInt(l) }))
        : null,
    }));
  }

  /** Records a mastered image and where each file sits in it. */
  setMastered(
    volumeId: number,
    image: { path: string; bytes: bigint; sha256: Buffer; sectors: number },
    extents: { imagePath: Buffer; extents: Extent[] }[],
    session = 1,
  ): void {
    const update = this.db.prepare(
      'UPDATE volume_files SET extents = ? WHERE volume_id = ? AND image_path = ? AND session = ?',
    );
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE volumes SET state = 'mastered', image_path = ?, image_bytes = ?, image_sha256 = ?, sectors = ? WHERE id = ?`,
        )
        .run(image.path, image.bytes, image.sha256, image.sectors, volumeId);
      for (const e of extents) {
        update.run(
          JSON.stringify(e.extents.map((x) => [String(x.offset), String(x.length)])),
          volumeId,
          e.imagePath,
          session,
        );
      }
    })();
  }

  /** The volume has every required copy: finished, and the journal says so, in one transaction. */
  finishVolume(jobId: number, volumeId: number): void {
    this.db.transaction(() => {
      this.setVolumeState(volumeId, 'finished');
      this.journal(jobId, volumeId, 'finish', 'done');
      // the mirror's outbox: this session of the volume is to be uploaded
      const at = this.now();
      this.db
        .prepare(
          `INSERT INTO mirror_outbox (volume_id, session, state, created_at, updated_at)
           SELECT id, sessions, 'queued', ?, ? FROM volumes WHERE id = ?
           ON CONFLICT (volume_id, session) DO NOTHING`,
        )
        .run(at, at, volumeId);
    })();
  }

  setVolumeState(volumeId: number, state: VolumeState): void {
    this.db
      .prepare('UPDATE volumes SET state = ?, finished_at = CASE WHEN ? = ? THEN ? ELSE finished_at END WHERE id = ?')
      .run(state, state, 'finished', this.now(), volumeId);
  }

  /** The client's open volume of a medium an APPEND adds its session to, if any. */
  appendTarget(clientId: string, media: string): VolumeRow | undefined {
    const r = this.db
      .prepare(
        `SELECT * FROM volumes WHERE client_id = ? AND media = ? AND appendable = 1 AND state IN ('finished', 'mirrored')
         ORDER BY id DESC LIMIT 1`,
      )
      .get(clientId, media) as any;
    return r ? toVolume(r) : undefined;
  }

  /**
   * Records the next session of a volume for a job, with the files it adds
   * (image paths relative to the payload); a replayed call returns the
   * session the job already has.
   */
  addSession(volumeId: number, jobId: number, pieces: PlannedPiece[]): number {
    return this.db.transaction(() => {
      const had = this.db
        .prepare('SELECT session FROM volume_sessions WHERE volume_id = ? AND job_id = ?')
        .get(volumeId, jobId) as { session: bigint } | undefined;
      if (had) return Number(had.session);
      const volume = this.volume(volumeId)!;
      const session = volume.sessions + 1;
      this.db
        .prepare('INSERT INTO volume_sessions (volume_id, session, job_id, created_at) VALUES (?, ?, ?, ?)')
        .run(volumeId, session, jobId, this.now());
      const insert = this.db.prepare(
        'INSERT INTO volume_files (volume_id, session, file_id, image_path) VALUES (?, ?, ?, ?)',
      );
      for (const p of pieces) insert.run(volumeId, session, p.fileId, p.imagePath);
      this.db.prepare('UPDATE volumes SET sessions = ? WHERE id = ?').run(session, volumeId);
      return session;
    })();
  }

  /** Forgets the session a failed APPEND recorded before any disc or image held it. */
  dropSession(volumeId: number, jobId: number): void {
    this.db.transaction(() => {
      const session = this.sessionOf(volumeId, jobId);
      const volume = this.volume(volumeId);
      if (session === undefined || !volume || volume.sessions !== session) return;
      this.db.prepare('DELETE FROM volume_files WHERE volume_id = ? AND session = ?').run(volumeId, session);
      this.db.prepare('DELETE FROM volume_sessions WHERE volume_id = ? AND session = ?').run(volumeId, session);
      this.db.prepare('UPDATE volumes SET sessions = ? WHERE id = ?').run(session - 1, volumeId);
    })();
  }

  /** The job that added a volume's session, if an APPEND did. */
  sessionOf(volumeId: number, jobId: number): number | undefined {
    const r = this.db
      .prepare('SELECT session FROM volume_sessions WHERE volume_id = ? AND job_id = ?')
      .get(volumeId, jobId) as { session: bigint } | undefined;
    return r ? Number(r.session) : undefined;
  }

  /** The volumes a job made, and those it added a session to (APPEND), in order. */
  volumesOfJob(jobId: number): VolumeRow[] {
    return (
      this.db
        .prepare(
          `SELECT * FROM volumes WHERE job_id = ?
           UNION SELECT v.* FROM volumes v JOIN volume_sessions s ON s.volume_id = v.id WHERE s.job_id = ?
           ORDER BY id`,
        )
        .all(jobId, jobId) as any[]
    ).map(toVolume);
  }

  /** No more sessions: the volume is closed. */
  closeVolume(volumeId: number): void {
    this.db.prepare('UPDATE volumes SET appendable = 0 WHERE id = ?').run(volumeId);
  }

  /** BURN_COPY: the volume needs `more` further copies, burned from `image` (its own image or a COPY of a disc). */
  addRequiredCopies(
    volumeId: number,
    more: number,
    image: string,
    journal: { jobId: number; step: string; detail: string },
  ): VolumeRow {
    // the journal line and the change are one transaction: a replay sees both or neither
    this.db.transaction(() => {
      this.journal(journal.jobId, volumeId, journal.step, 'begin', journal.detail);
      this.db
        .prepare('UPDATE volumes SET required_copies = required_copies + ?, image_path = ? WHERE id = ?')
        .run(more, image, volumeId);
    })();
    return this.volume(volumeId)!;
  }

  /** The newest finished job of a kind for a client (BURN_COPY finds the COPY it burns). */
  latestJob(clientId: string, kind: JobKind, state: JobState): JobRow | undefined {
    const r = this.db
      .prepare('SELECT * FROM jobs WHERE client_id = ? AND kind = ? AND state = ? ORDER BY id DESC LIMIT 1')
      .get(clientId, kind, state) as any;
    return r ? toJob(r) : undefined;
  }

  // --- copies ---------------------------------------------------------------

  /** A new attempt at copy `copyNo` of a volume, on a drive, journaled before the drive is touched. */
  beginCopy(volumeId: number, copyNo: number, drive: string): CopyRow {
    return this.db.transaction(() => {
      const last = this.db
        .prepare('SELECT MAX(attempt) AS a FROM copies WHERE volume_id = ? AND copy_no = ?')
        .get(volumeId, copyNo) as { a: bigint | null };
      const attempt = Number(last.a ?? 0n) + 1;
      const info = this.db
        .prepare(`INSERT INTO copies (volume_id, copy_no, attempt, drive, state) VALUES (?, ?, ?, ?, 'writing')`)
        .run(volumeId, copyNo, attempt, drive);
      return this.copy(Number(info.lastInsertRowid))!;
    })();
  }

  /** The newest copy attempt made on a drive, if any. */
  lastCopyOnDrive(drive: string): CopyRow | undefined {
    const r = this.db.prepare('SELECT * FROM copies WHERE drive = ? ORDER BY id DESC LIMIT 1').get(drive) as any;
    return r ? toCopy(r) : undefined;
  }

  copy(id: number): CopyRow | undefined {
    const r = this.db.prepare('SELECT * FROM copies WHERE id = ?').get(id) as any;
    return r ? toCopy(r) : undefined;
  }

  volumeCopies(volumeId: number): CopyRow[] {
    return (
      this.db.prepare('SELECT * FROM copies WHERE volume_id = ? ORDER BY copy_no, attempt').all(volumeId) as any[]
    ).map(toCopy);
  }

  copyWritten(id: number, medium: string | null): void {
    this.db
      .prepare(`UPDATE copies SET state = 'written', medium = COALESCE(?, medium), written_at = ? WHERE id = ?`)
      .run(medium, this.now(), id);
  }

  copyVerified(id: number, check: { sha256: Buffer; md5: string }, medium: string | null): void {
    this.db
      .prepare(
        `UPDATE copies SET state = 'verified', sha256 = ?, md5 = ?, medium = COALESCE(?, medium), verified_at = ? WHERE id = ?`,
      )
      .run(check.sha256, check.md5, medium, this.now(), id);
  }

  copyBad(id: number, error: string, medium: string | null = null): void {
    this.db
      .prepare(`UPDATE copies SET state = 'bad', error = ?, medium = COALESCE(?, medium) WHERE id = ?`)
      .run(error, medium, id);
  }

  setCopyMedium(id: number, medium: string): void {
    this.db.prepare('UPDATE copies SET medium = ? WHERE id = ?').run(medium, id);
  }

  // --- the mirror's outbox ----------------------------------------------------

  /** Outbox entries not yet acknowledged, oldest first (a volume's older sessions first). */
  pendingMirrors(): MirrorEntry[] {
    return (this.db.prepare(`SELECT * FROM mirror_outbox WHERE state != 'acked' ORDER BY id`).all() as any[]).map(
      toMirrorEntry,
    );
  }

  mirrorEntry(id: number): MirrorEntry | undefined {
    const r = this.db.prepare('SELECT * FROM mirror_outbox WHERE id = ?').get(id) as any;
    return r ? toMirrorEntry(r) : undefined;
  }

  /** The outbox entries of a volume, by session. */
  mirrorsOfVolume(volumeId: number): MirrorEntry[] {
    return (
      this.db.prepare('SELECT * FROM mirror_outbox WHERE volume_id = ? ORDER BY session').all(volumeId) as any[]
    ).map(toMirrorEntry);
  }

  /** The upload the gateway began for an entry (a new upload id forgets the parts of the old one). */
  mirrorUploading(id: number, uploadId: string): void {
    this.db.transaction(() => {
      this.db
        .prepare(`UPDATE mirror_outbox SET state = 'uploading', upload_id = ?, updated_at = ? WHERE id = ?`)
        .run(uploadId, this.now(), id);
      this.db.prepare('DELETE FROM mirror_parts WHERE outbox_id = ? AND upload_id != ?').run(id, uploadId);
    })();
  }

  /** One part is in S3 (its ETag and MD5, for the completion). */
  mirrorPartSent(id: number, uploadId: string, part: { partNumber: number; etag: string; md5: string }): void {
    this.db
      .prepare(
        `INSERT INTO mirror_parts (outbox_id, upload_id, part_number, etag, md5) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (outbox_id, upload_id, part_number) DO UPDATE SET etag = excluded.etag, md5 = excluded.md5`,
      )
      .run(id, uploadId, part.partNumber, part.etag, part.md5);
  }

  mirrorParts(id: number, uploadId: string): { partNumber: number; etag: string; md5: string }[] {
    return (
      this.db
        .prepare('SELECT * FROM mirror_parts WHERE outbox_id = ? AND upload_id = ? ORDER BY part_number')
        .all(id, uploadId) as any[]
    ).map((r) => ({ partNumber: Number(r.part_number), etag: r.etag, md5: r.md5 }));
  }

  mirrorProgress(id: number, bytesDone: number): void {
    this.db
      .prepare('UPDATE mirror_outbox SET bytes_done = ?, updated_at = ? WHERE id = ?')
      .run(bytesDone, this.now(), id);
  }

  /** An attempt failed: counted, with its reason; the entry stays in the outbox. */
  mirrorFailed(id: number, error: string): void {
    this.db
      .prepare('UPDATE mirror_outbox SET attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?')
      .run(error.slice(0, 2000), this.now(), id);
  }

  /**
   * The gateway acknowledged the upload: the entry is done and, when it is the
   * volume's latest session and the volume is finished, the volume is mirrored;
   * one transaction.
   */
  mirrorAcked(id: number, ack: { key: string; versionId: string }): void {
    this.db.transaction(() => {
      const at = this.now();
      this.db
        .prepare(
          `UPDATE mirror_outbox SET state = 'acked', s3_key = ?, version_id = ?, bytes_done = (
             SELECT image_bytes FROM volumes WHERE volumes.id = mirror_outbox.volume_id), last_error = '',
             acked_at = ?, updated_at = ? WHERE id = ?`,
        )
        .run(ack.key, ack.versionId, at, at, id);
      this.db.prepare('DELETE FROM mirror_parts WHERE outbox_id = ?').run(id);
      this.db
        .prepare(
          `UPDATE volumes SET state = 'mirrored' WHERE state = 'finished' AND id = (
             SELECT volume_id FROM mirror_outbox WHERE id = ? AND session = volumes.sessions)`,
        )
        .run(id);
    })();
  }

  // --- counts (metrics) -----------------------------------------------------

  /** Rows per state in jobs, volumes, copies and files: one GROUP BY each, read in one transaction. */
  counts(): {
    jobs: Record<string, number>;
    volumes: Record<string, number>;
    copies: Record<string, number>;
    files: Record<string, number>;
  } {
    const byState = (table: 'jobs' | 'volumes' | 'copies' | 'files') => {
      const out: Record<string, number> = {};
      const rows = this.db.prepare(`SELECT state, COUNT(*) AS n FROM ${table} GROUP BY state`).all() as {
        state: string;
        n: bigint;
      }[];
      for (const r of rows) out[r.state] = Number(r.n);
      return out;
    };
    return this.db.transaction(() => ({
      jobs: byState('jobs'),
      volumes: byState('volumes'),
      copies: byState('copies'),
      files: byState('files'),
    }))();
  }
}

function toJob(r: any): JobRow {
  return {
    id: Number(r.id),
    kind: r.kind,
    state: r.state,
    clientId: r.client_id,
    client: r.client,
    params: JSON.parse(r.params),
    message: r.message,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toFile(r: any): FileRow {
  return {
    id: Number(r.id),
    jobId: Number(r.job_id),
    clientId: r.client_id,
    path: r.path,
    size: BigInt(r.size),
    sha256: r.sha256,
    mode: Number(r.mode),
    mtime: { seconds: BigInt(r.mtime_s), nanoseconds: Number(r.mtime_ns) },
    state: r.state,
  };
}

function toVolume(r: any): VolumeRow {
  return {
    id: Number(r.id),
    vsn: r.vsn,
    jobId: Number(r.job_id),
    seq: Number(r.seq),
    state: r.state,
    media: r.media,
    clientId: r.client_id,
    label: r.label,
    requiredCopies: Number(r.required_copies),
    imagePath: r.image_path,
    imageBytes: r.image_bytes === null ? null : BigInt(r.image_bytes),
    imageSha256: r.image_sha256,
    sectors: r.sectors === null ? null : Number(r.sectors),
    sessions: Number(r.sessions),
    appendable: Number(r.appendable) === 1,
    createdAt: Number(r.created_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
  };
}

function toCopy(r: any): CopyRow {
  return {
    id: Number(r.id),
    volumeId: Number(r.volume_id),
    copyNo: Number(r.copy_no),
    attempt: Number(r.attempt),
    drive: r.drive,
    medium: r.medium,
    state: r.state,
    error: r.error,
    sha256: r.sha256,
    md5: r.md5,
    writtenAt: r.written_at === null ? null : Number(r.written_at),
    verifiedAt: r.verified_at === null ? null : Number(r.verified_at),
  };
}

function toMirrorEntry(r: any): MirrorEntry {
  return {
    id: Number(r.id),
    volumeId: Number(r.volume_id),
    session: Number(r.session),
    state: r.state,
    uploadId: r.upload_id,
    bytesDone: Number(r.bytes_done),
    attempts: Number(r.attempts),
    lastError: r.last_error,
    key: r.s3_key,
    versionId: r.version_id,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    ackedAt: r.acked_at === null ? null : Number(r.acked_at),
  };
}
