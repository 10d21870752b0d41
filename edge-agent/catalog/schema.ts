/**
 * The catalog's tables, as numbered migrations applied in order at open.
 *
 * - files: every file a job took from a working directory (staged, then
 *   archived once its volume is finished), with its size and SHA-256.
 * - volumes: one disc's worth of data under a serial (VSN); state hot (planned)
 *   → mastered (image made) → finished (every required copy verified) →
 *   mirrored (the cloud holds it; the gateway issue). `failed` when given up.
 * - volume_files: which file (or part of a file) a volume holds, in which
 *   session, at which byte ranges of the image.
 * - copies: one row per physical disc (or attempt at one): drive, medium,
 *   state writing → written → verified, or bad with the reason.
 * - jobs and journal: a job's parameters and state, and every step it took,
 *   written before the step's side effects (the recovery replays it).
 * - volume_sessions: which job added which session to a volume (APPEND);
 *   a volume is `appendable` (written open, multi-session) when an APPEND made
 *   it, closed otherwise or once an APPEND no longer fits.
 * - mirror_outbox (3): the mirror's durable outbox: one row per volume session
 *   to upload (queued when the volume finishes, in the same transaction), its
 *   multipart upload id once begun, bytes sent, attempts and the last error,
 *   and the key and version id the gateway acknowledged. mirror_parts: the
 *   parts of an upload already sent (ETag and MD5), so a restarted agent
 *   completes the upload without sending them again.
 * - retrievals (4): every RETRIEVE, online or offline: its token, priority
 *   and deadline, the file and volume it names, its state queued → fetching →
 *   ready → collected (or failed, expired), where its data came from, the
 *   sources that failed so far (faults) and why it failed (failure: corrupt,
 *   no_source, no_space), its cache file and the scheduler round that served
 *   it. The journal the offline queue is restored from after a crash.
 * - source_faults (4): every time a source of data (a disc, the cloud copy)
 *   gave bytes that failed their SHA-256, or could not be read: the damage
 *   recorded, with the copy when it was a disc.
 * - fixity_passes, fixity_checks (4): scheduled re-verification. A pass checks
 *   every target (a volume's cloud image, a loaded disc) once; each check is a
 *   row, so an interrupted pass resumes with the targets it has not checked
 *   (git-annex fsck's incremental mode).
 * - meta: the schema version and the VSN counter.
 *
 * Indexes follow NAStore's catalog: volumes by VSN, by state, by media, by
 * client id; files by client and by SHA-256.
 */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  INSERT INTO meta (key, value) VALUES ('next_vsn', '1');

  CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('burn', 'copy', 'burn_copy')),
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    client_id TEXT NOT NULL,
    client TEXT NOT NULL,
    params TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX jobs_state ON jobs (state);

  CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    volume_id INTEGER REFERENCES volumes (id),
    step TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('begin', 'done', 'failed', 'undone')),
    detail TEXT NOT NULL DEFAULT '',
    at INTEGER NOT NULL
  );
  CREATE INDEX journal_job ON journal (job_id, id);

  CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    client_id TEXT NOT NULL,
    path BLOB NOT NULL,
    size INTEGER NOT NULL,
    sha256 BLOB NOT NULL,
    mode INTEGER NOT NULL,
    mtime_s INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('staged', 'archived')),
    UNIQUE (job_id, path)
  );
  CREATE INDEX files_client ON files (client_id, state);
  CREATE INDEX files_sha256 ON files (sha256);

  CREATE TABLE volumes (
    id INTEGER PRIMARY KEY,
    vsn TEXT NOT NULL UNIQUE,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    seq INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('hot', 'mastered', 'finished', 'mirrored', 'failed')),
    media TEXT NOT NULL,
    client_id TEXT NOT NULL,
    label TEXT NOT NULL,
    required_copies INTEGER NOT NULL,
    image_path TEXT,
    image_bytes INTEGER,
    image_sha256 BLOB,
    sectors INTEGER,
    sessions INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (job_id, seq)
  );
  CREATE INDEX volumes_state ON volumes (state);
  CREATE INDEX volumes_media ON volumes (media);
  CREATE INDEX volumes_client ON volumes (client_id);

  CREATE TABLE volume_files (
    volume_id INTEGER NOT NULL REFERENCES volumes (id),
    session INTEGER NOT NULL,
    file_id INTEGER NOT NULL REFERENCES files (id),
    image_path BLOB NOT NULL,
    part_index INTEGER,
    part_count INTEGER,
    part_offset INTEGER,
    part_length INTEGER,
    extents TEXT,
    PRIMARY KEY (volume_id, session, file_id, image_path)
  );
  CREATE INDEX volume_files_file ON volume_files (file_id);

  CREATE TABLE copies (
    id INTEGER PRIMARY KEY,
    volume_id INTEGER NOT NULL REFERENCES volumes (id),
    copy_no INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    drive TEXT NOT NULL,
    medium TEXT,
    state TEXT NOT NULL CHECK (state IN ('writing', 'written', 'verified', 'bad')),
    error TEXT NOT NULL DEFAULT '',
    sha256 BLOB,
    md5 TEXT,
    written_at INTEGER,
    verified_at INTEGER,
    UNIQUE (volume_id, copy_no, attempt)
  );
  CREATE INDEX copies_volume ON copies (volume_id, state);
  `,
  `
  ALTER TABLE volumes ADD COLUMN appendable INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE volume_sessions (
    volume_id INTEGER NOT NULL REFERENCES volumes (id),
    session INTEGER NOT NULL,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (volume_id, session),
    UNIQUE (volume_id, job_id)
  );
  `,
  `
  CREATE TABLE mirror_outbox (
    id INTEGER PRIMARY KEY,
    volume_id INTEGER NOT NULL REFERENCES volumes (id),
    session INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'uploading', 'acked')),
    upload_id TEXT,
    bytes_done INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    s3_key TEXT,
    version_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    acked_at INTEGER,
    UNIQUE (volume_id, session)
  );
  CREATE INDEX mirror_outbox_state ON mirror_outbox (state, id);
  CREATE TABLE mirror_parts (
    outbox_id INTEGER NOT NULL REFERENCES mirror_outbox (id),
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    etag TEXT NOT NULL,
    md5 TEXT NOT NULL,
    PRIMARY KEY (outbox_id, upload_id, part_number)
  );
  INSERT INTO mirror_outbox (volume_id, session, state, created_at, updated_at)
    SELECT id, sessions, 'queued', COALESCE(finished_at, created_at), COALESCE(finished_at, created_at)
    FROM volumes WHERE state = 'finished';
  `,
  `
  CREATE TABLE retrievals (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    client TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('online', 'offline')),
    priority INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 5),
    deadline INTEGER,
    volume_id INTEGER NOT NULL REFERENCES volumes (id),
    file_id INTEGER NOT NULL REFERENCES files (id),
    session INTEGER NOT NULL,
    image_path BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'fetching', 'ready', 'collected', 'failed', 'expired')),
    source TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    faults TEXT NOT NULL DEFAULT '',
    failure TEXT CHECK (failure IN ('corrupt', 'no_source', 'no_space')),
    cache_file TEXT,
    bytes INTEGER NOT NULL DEFAULT 0,
    round INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    ready_at INTEGER,
    expires_at INTEGER
  );
  CREATE INDEX retrievals_queue ON retrievals (state, priority, deadline, id);
  CREATE TABLE source_faults (
    id INTEGER PRIMARY KEY,
    volume_id INTEGER NOT NULL REFERENCES volumes (id),
    copy_id INTEGER REFERENCES copies (id),
    source TEXT NOT NULL CHECK (source IN ('disc', 'cloud')),
    file_id INTEGER REFERENCES files (id),
    detail TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX source_faults_volume ON source_faults (volume_id, id);
  CREATE INDEX files_path ON files (path);
  CREATE TABLE fixity_passes (
    id INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    reason TEXT NOT NULL DEFAULT 'schedule'
  );
  CREATE TABLE fixity_checks (
    id INTEGER PRIMARY KEY,
    pass_id INTEGER NOT NULL REFERENCES fixity_passes (id),
    volume_id INTEGER NOT NULL REFERENCES volumes (id),
    target TEXT NOT NULL,
    copy_id INTEGER REFERENCES copies (id),
    ok INTEGER NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '',
    at INTEGER NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0,
    UNIQUE (pass_id, volume_id, target)
  );
  CREATE INDEX fixity_checks_volume ON fixity_checks (volume_id, target, id);
  `,
];
