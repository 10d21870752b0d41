/**
 * The gateway store: an embedded SQLite database (WAL, synchronous=FULL, so a
 * commit that returned survives a power cut) for the gateway's own state. S3
 * holds the truth about images and manifests; this file holds what only the
 * gateway knows, starting with the agents allowed to talk to it.
 *
 * Tables, as numbered migrations applied in order at open (user_version):
 * - agents: one row per issued agent token: its id, its site, the token's hash
 *   (never the token), when it was issued and, once revoked, when. Indexed by site.
 * - connections (2): one row per live websocket connection of an agent, added by
 *   `$connect` once the token verified and removed by `$disconnect`: the
 *   connection id the host gave it, the agent, its site, when it connected.
 * - sessions (2): one row per session a `hello` opened: its id, the agent and
 *   site, the connection it was opened on, a SHA-256 of its resume token (never
 *   the token: it is 256 random bits, so a plain hash suffices), when it was made.
 *   Sessions outlive connections (so an agent can resume one later: the
 *   session moves to the new connection and gets a new resume token).
 * - (3) agents gain an expiry and the operator's controls (paused, throttle);
 *   uploads: one row per multipart upload the gateway began for a site's volume
 *   (S3's upload id, keys, size, SHA-256 and manifest digest the agent declared,
 *   part size, open → done | failed | aborted); mirrors: one row per
 *   acknowledged mirror (the image's and manifest's keys and version ids); the
 *   search index reads these. commands: what operators sent agents and their answers.
 * - readers (4): one row per search reader token: a name, the sites it may
 *   read (JSON array), the token's hash, when issued, expiry and revocation;
 *   secrets: random keys the gateway makes once (the search cursors' MAC key).
 * - fixity (5): the latest fixity check an agent reported per (site, VSN,
 *   target): ok, when checked, bytes hashed, the detail, which agent said it,
 *   and how many failed checks of that target were ever received (the
 *   failures counter of the metrics). An older or repeated report does not
 *   replace a newer one, nor count twice.
 *
 * Every method is one transaction.
 */
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import { openDatabase } from '../../sqlite/open-database.js';

export const MIGRATIONS: string[] = [
  `
  CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  CREATE INDEX agents_site ON agents (site);
  `,
  `
  CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents (id),
    site TEXT NOT NULL,
    connected_at INTEGER NOT NULL
  );
  CREATE INDEX connections_agent ON connections (agent_id);
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents (id),
    site TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    resume_token_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX sessions_agent ON sessions (agent_id);
  `,
  `
  ALTER TABLE agents ADD COLUMN expires_at INTEGER;
  ALTER TABLE agents ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE agents ADD COLUMN throttle_bytes_per_second INTEGER;
  CREATE INDEX sessions_connection ON sessions (connection_id);

  CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents (id),
    vsn TEXT NOT NULL,
    key TEXT NOT NULL,
    manifest_key TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    part_size INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'done', 'failed', 'aborted')),
    detail TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX uploads_vsn ON uploads (site, vsn, state);
  CREATE INDEX uploads_state ON uploads (state, updated_at);

  CREATE TABLE mirrors (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    vsn TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    manifest_key TEXT NOT NULL,
    manifest_version_id TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    acked_at INTEGER NOT NULL
  );
  CREATE INDEX mirrors_vsn ON mirrors (site, vsn, acked_at);

  CREATE TABLE commands (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents (id),
    type TEXT NOT NULL,
    args TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sent', 'undelivered', 'ok', 'failed')),
    detail TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    answered_at INTEGER
  );
  CREATE INDEX commands_agent ON commands (agent_id, created_at);
  `,
  `
  CREATE TABLE readers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sites TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
  );
  CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
  );
  `,
  `
  CREATE TABLE fixity (
    site TEXT NOT NULL,
    vsn TEXT NOT NULL,
    target TEXT NOT NULL,
    ok INTEGER NOT NULL,
    checked_at INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    detail TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (site, vsn, target)
  );
  CREATE INDEX fixity_failing ON fixity (ok);
  `,
];

/** The latest fixity check of one target (a volume's cloud image or one of its discs). */
export interface FixityRow {
  site: string;
  vsn: string;
  /** `cloud`, `copy N` or `disc DRIVE`. */
  target: string;
  ok: boolean;
  /** Milliseconds since the epoch. */
  checkedAt: number;
  bytes: number;
  detail: string;
  agentId: string;
}

function toFixity(r: any): FixityRow {
  return {
    site: r.site,
    vsn: r.vsn,
    target: r.target,
    ok: Number(r.ok) !== 0,
    checkedAt: Number(r.checked_at),
    bytes: Number(r.bytes),
    detail: r.detail,
    agentId: r.agent_id,
  };
}

/** A search reader (identity/reader-tokens.ts): who may read which sites' index. */
export interface ReaderRow {
  id: string;
  name: string;
  sites: string[];
  tokenHash: Buffer;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

function toReader(r: any): ReaderRow {
  return {
    id: r.id,
    name: r.name,
    sites: JSON.parse(r.sites),
    tokenHash: r.token_hash,
    createdAt: r.created_at,
    expiresAt: r.expires_at ?? null,
    revokedAt: r.revoked_at ?? null,
  };
}

export interface AgentRow {
  id: string;
  site: string;
  /** What the identity module stored for the token; opaque here. */
  tokenHash: Buffer;
  /** Milliseconds since the epoch. */
  createdAt: number;
  revokedAt: number | null;
  /** When the token stops working (null: never). */
  expiresAt: number | null;
  /** An operator paused this agent's uploads. */
  paused: boolean;
  /** An operator's upload limit for this agent (null: the policy's). */
  throttleBytesPerSecond: number | null;
}

export interface ConnectionRow {
  /** The id the host (or API Gateway) gave the connection. */
  id: string;
  agentId: string;
  site: string;
  /** Milliseconds since the epoch. */
  connectedAt: number;
}

export interface SessionRow {
  id: string;
  agentId: string;
  site: string;
  /** The connection the session was opened on (it may be gone since). */
  connectionId: string;
  /** SHA-256 of the resume token. */
  resumeTokenHash: Buffer;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

export type UploadState = 'open' | 'done' | 'failed' | 'aborted';

export interface UploadRow {
  /** S3's multipart upload id. */
  id: string;
  site: string;
  agentId: string;
  vsn: string;
  key: string;
  manifestKey: string;
  size: number;
  sha256: string;
  manifestDigest: string;
  partSize: number;
  state: UploadState;
  detail: string;
  createdAt: number;
  updatedAt: number;
}

export interface MirrorRow {
  site: string;
  agentId: string;
  vsn: string;
  uploadId: string;
  key: string;
  versionId: string;
  size: number;
  sha256: string;
  manifestKey: string;
  manifestVersionId: string;
  manifestDigest: string;
  ackedAt: number;
}

export type CommandState = 'sent' | 'undelivered' | 'ok' | 'failed';

export interface CommandRow {
  id: string;
  agentId: string;
  type: string;
  args: Record<string, unknown>;
  state: CommandState;
  detail: string;
  createdAt: number;
  answeredAt: number | null;
}

/** What GatewayStore.counts() answers (the gateway's metrics). */
export interface GatewayCounts {
  agents: { active: number; revoked: number; expired: number };
  /** Unrevoked agents an operator paused, or throttled. */
  pausedAgents: number;
  throttledAgents: number;
  connections: number;
  /** Agents with at least one live connection. */
  connectedAgents: number;
  sessions: number;
  uploads: Record<string, number>;
  mirrors: number;
  mirroredBytes: number;
  commands: Record<string, number>;
  fixity: {
    /** Targets with a reported check. */
    targets: number;
    /** Targets whose latest check failed. */
    failing: number;
    /** Failed checks ever received. */
    failuresTotal: number;
  };
}

export class GatewayStore {
  readonly file: string;
  private readonly db: Database.Database;

  /** Secrets read once (they never change once made). */
  private readonly secrets = new Map<string, Buffer>();

  constructor(file: string) {
    this.file = file;
    // Only hashes live here, but nobody else needs to read them either.
    this.db = openDatabase(file, { what: 'gateway store', migrations: MIGRATIONS, mode: 0o600 });
  }

  close(): void {
    this.db.close();
  }

  /** The schema version (number of migrations applied). */
  version(): number {
    return Number(this.db.pragma('user_version', { simple: true }));
  }

  // --- agents ---------------------------------------------------------------

  insertAgent(row: { id: string; site: string; tokenHash: Buffer; createdAt: number }): void {
    this.db
      .prepare('INSERT INTO agents (id, site, token_hash, created_at) VALUES (?, ?, ?, ?)')
      .run(row.id, row.site, row.tokenHash, row.createdAt);
  }

  agent(id: string): AgentRow | undefined {
    const r = this.db.prepare('SELECT * FROM agents WHERE id = ?').get(id) as any;
    return r ? toAgent(r) : undefined;
  }

  /** Agents, oldest first; only those of `site` when given. */
  agents(site?: string): AgentRow[] {
    const rows = (
      site === undefined
        ? this.db.prepare('SELECT * FROM agents ORDER BY created_at, id').all()
        : this.db.prepare('SELECT * FROM agents WHERE site = ? ORDER BY created_at, id').all(site)
    ) as any[];
    return rows.map(toAgent);
  }

  insertReader(row: Omit<ReaderRow, 'revokedAt'>): void {
    this.db
      .prepare('INSERT INTO readers (id, name, sites, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(row.id, row.name, JSON.stringify(row.sites), row.tokenHash, row.createdAt, row.expiresAt);
  }

  reader(id: string): ReaderRow | undefined {
    const r = this.db.prepare('SELECT * FROM readers WHERE id = ?').get(id);
    return r ? toReader(r) : undefined;
  }

  /** The gateway's secret named `name` (e.g. the search cursors' MAC key): 32 random bytes, made on first use. */
  secret(name: string): Buffer {
    const known = this.secrets.get(name);
    if (known) return known;
    this.db.prepare('INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)').run(name, crypto.randomBytes(32));
    const value = (this.db.prepare('SELECT value FROM secrets WHERE name = ?').get(name) as { value: Buffer }).value;
    this.secrets.set(name, value);
    return value;
  }

  /** Readers, oldest first. */
  readers(): ReaderRow[] {
    return (this.db.prepare('SELECT * FROM readers ORDER BY created_at, id').all() as any[]).map(toReader);
  }

  /** Marks a reader revoked at `at` unless it already is; true when this call revoked it. */
  revokeReader(id: string, at: number): boolean {
    return (
      this.db.prepare('UPDATE readers SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes > 0
    );
  }

  /** Marks an agent revoked at `at` unless it already is; true when this call revoked it. */
  revokeAgent(id: string, at: number): boolean {
    return (
      this.db.prepare('UPDATE agents SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes > 0
    );
  }

  /** Sets when an agent's token stops working (null: never). */
  setAgentExpiry(id: string, expiresAt: number | null): void {
    this.db.prepare('UPDATE agents SET expires_at = ? WHERE id = ?').run(expiresAt, id);
  }

  /** The controls an operator set on an agent: paused, and a throttle (null: none). */
  setAgentControls(id: string, controls: { paused?: boolean; throttleBytesPerSecond?: number | null }): void {
    if (controls.paused !== undefined)
      this.db.prepare('UPDATE agents SET paused = ? WHERE id = ?').run(controls.paused ? 1 : 0, id);
    if (controls.throttleBytesPerSecond !== undefined)
      this.db
        .prepare('UPDATE agents SET throttle_bytes_per_second = ? WHERE id = ?')
        .run(controls.throttleBytesPerSecond, id);
  }

  // --- connections ----------------------------------------------------------

  insertConnection(row: ConnectionRow): void {
    this.db
      .prepare('INSERT INTO connections (id, agent_id, site, connected_at) VALUES (?, ?, ?, ?)')
      .run(row.id, row.agentId, row.site, row.connectedAt);
  }

  connection(id: string): ConnectionRow | undefined {
    const r = this.db.prepare('SELECT * FROM connections WHERE id = ?').get(id) as any;
    return r ? toConnection(r) : undefined;
  }

  /** Live connections, oldest first; only those of `agentId` when given. */
  connections(agentId?: string): ConnectionRow[] {
    const rows = (
      agentId === undefined
        ? this.db.prepare('SELECT * FROM connections ORDER BY connected_at, id').all()
        : this.db.prepare('SELECT * FROM connections WHERE agent_id = ? ORDER BY connected_at, id').all(agentId)
    ) as any[];
    return rows.map(toConnection);
  }

  /** Forgets a connection; true when it was there. */
  deleteConnection(id: string): boolean {
    return this.db.prepare('DELETE FROM connections WHERE id = ?').run(id).changes > 0;
  }

  // --- sessions -------------------------------------------------------------

  insertSession(row: SessionRow): void {
    this.db
      .prepare(
        'INSERT INTO sessions (id, agent_id, site, connection_id, resume_token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(row.id, row.agentId, row.site, row.connectionId, row.resumeTokenHash, row.createdAt);
  }

  session(id: string): SessionRow | undefined {
    const r = this.db.prepare('SELECT * FROM sessions WHERE id = ?').get(id) as any;
    return r ? toSession(r) : undefined;
  }

  /** The session opened (or last resumed) on a connection. */
  sessionOfConnection(connectionId: string): SessionRow | undefined {
    const r = this.db
      .prepare('SELECT * FROM sessions WHERE connection_id = ? ORDER BY created_at DESC LIMIT 1')
      .get(connectionId) as any;
    return r ? toSession(r) : undefined;
  }

  /** The agent's session whose resume token hashes to `hash`. */
  sessionByResumeToken(agentId: string, hash: Buffer): SessionRow | undefined {
    const r = this.db
      .prepare('SELECT * FROM sessions WHERE agent_id = ? AND resume_token_hash = ?')
      .get(agentId, hash) as any;
    return r ? toSession(r) : undefined;
  }

  /** Moves a session to a new connection with a new resume token (the old one stops working). */
  resumeSession(id: string, connectionId: string, resumeTokenHash: Buffer): void {
    this.db
      .prepare('UPDATE sessions SET connection_id = ?, resume_token_hash = ? WHERE id = ?')
      .run(connectionId, resumeTokenHash, id);
  }

  // --- uploads and mirrors ----------------------------------------------------

  insertUpload(row: Omit<UploadRow, 'state' | 'detail' | 'updatedAt'>): void {
    this.db
      .prepare(
        `INSERT INTO uploads (id, site, agent_id, vsn, key, manifest_key, size, sha256, manifest_digest, part_size,
           state, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)`,
      )
      .run(
        row.id,
        row.site,
        row.agentId,
        row.vsn,
        row.key,
        row.manifestKey,
        row.size,
        row.sha256,
        row.manifestDigest,
        row.partSize,
        row.createdAt,
        row.createdAt,
      );
  }

  upload(id: string): UploadRow | undefined {
    const r = this.db.prepare('SELECT * FROM uploads WHERE id = ?').get(id) as any;
    return r ? toUpload(r) : undefined;
  }

  /** The open upload of a site's volume with this image digest, if one is under way. */
  openUpload(site: string, vsn: string, sha256: string): UploadRow | undefined {
    const r = this.db
      .prepare(
        `SELECT * FROM uploads WHERE site = ? AND vsn = ? AND sha256 = ? AND state = 'open'
         ORDER BY created_at DESC LIMIT 1`,
      )
      .get(site, vsn, sha256) as any;
    return r ? toUpload(r) : undefined;
  }

  /** Open uploads, least recently active first. */
  openUploads(): UploadRow[] {
    return (this.db.prepare(`SELECT * FROM uploads WHERE state = 'open' ORDER BY updated_at`).all() as any[]).map(
      toUpload,
    );
  }

  setUploadState(id: string, state: UploadState, at: number, detail = ''): void {
    this.db.prepare('UPDATE uploads SET state = ?, detail = ?, updated_at = ? WHERE id = ?').run(state, detail, at, id);
  }

  /** The manifest an open upload will be completed with changed (same image). */
  setUploadManifestDigest(id: string, manifestDigest: string, at: number): void {
    this.db
      .prepare(`UPDATE uploads SET manifest_digest = ?, updated_at = ? WHERE id = ? AND state = 'open'`)
      .run(manifestDigest, at, id);
  }

  /** Records activity on an open upload (the sweeper leaves active ones alone). */
  touchUpload(id: string, at: number): void {
    this.db.prepare(`UPDATE uploads SET updated_at = ? WHERE id = ? AND state = 'open'`).run(at, id);
  }

  /** Records an acknowledged mirror and closes its upload, in one transaction. */
  insertMirror(row: MirrorRow): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO mirrors (site, agent_id, vsn, upload_id, key, version_id, size, sha256, manifest_key,
             manifest_version_id, manifest_digest, acked_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          row.site,
          row.agentId,
          row.vsn,
          row.uploadId,
          row.key,
          row.versionId,
          row.size,
          row.sha256,
          row.manifestKey,
          row.manifestVersionId,
          row.manifestDigest,
          row.ackedAt,
        );
      this.setUploadState(row.uploadId, 'done', row.ackedAt);
    })();
  }

  /** The latest acknowledged mirror of a site's volume (optionally of one image digest). */
  latestMirror(site: string, vsn: string, sha256?: string): MirrorRow | undefined {
    const r = (
      sha256 === undefined
        ? this.db
            .prepare('SELECT * FROM mirrors WHERE site = ? AND vsn = ? ORDER BY acked_at DESC, id DESC LIMIT 1')
            .get(site, vsn)
        : this.db
            .prepare(
              'SELECT * FROM mirrors WHERE site = ? AND vsn = ? AND sha256 = ? ORDER BY acked_at DESC, id DESC LIMIT 1',
            )
            .get(site, vsn, sha256)
    ) as any;
    return r ? toMirror(r) : undefined;
  }

  /** Acknowledged mirrors, oldest first; of one site when given. */
  mirrors(site?: string): MirrorRow[] {
    const rows = (
      site === undefined
        ? this.db.prepare('SELECT * FROM mirrors ORDER BY acked_at, id').all()
        : this.db.prepare('SELECT * FROM mirrors WHERE site = ? ORDER BY acked_at, id').all(site)
    ) as any[];
    return rows.map(toMirror);
  }

  // --- commands -----------------------------------------------------------------

  insertCommand(row: Omit<CommandRow, 'answeredAt' | 'detail'>): void {
    this.db
      .prepare('INSERT INTO commands (id, agent_id, type, args, state, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(row.id, row.agentId, row.type, JSON.stringify(row.args), row.state, row.createdAt);
  }

  command(id: string): CommandRow | undefined {
    const r = this.db.prepare('SELECT * FROM commands WHERE id = ?').get(id) as any;
    return r ? toCommand(r) : undefined;
  }

  /** Records an agent's answer to a command it was sent; false when no such command of that agent awaits one. */
  answerCommand(id: string, agentId: string, ok: boolean, detail: string, at: number): boolean {
    return (
      this.db
        .prepare(
          `UPDATE commands SET state = ?, detail = ?, answered_at = ? WHERE id = ? AND agent_id = ? AND state = 'sent'`,
        )
        .run(ok ? 'ok' : 'failed', detail, at, id, agentId).changes > 0
    );
  }

  setCommandState(id: string, state: CommandState): void {
    this.db.prepare('UPDATE commands SET state = ? WHERE id = ?').run(state, id);
  }

  // --- counts (metrics) -----------------------------------------------------------

  /**
   * Rows by state in every table, read in one transaction (so one scrape sees
   * one moment): agents active, revoked or expired at `now`, and paused; live
   * connections and the agents they belong to; sessions; uploads and commands
   * by state; acknowledged mirrors and their bytes.
   */
  counts(now: number): GatewayCounts {
    const byState = (table: 'uploads' | 'commands') => {
      const out: Record<string, number> = {};
      const rows = this.db.prepare(`SELECT state, COUNT(*) AS n FROM ${table} GROUP BY state`).all() as {
        state: string;
        n: number;
      }[];
      for (const r of rows) out[r.state] = Number(r.n);
      return out;
    };
    return this.db.transaction(() => {
      const agents = this.db
        .prepare(
          `SELECT
             COALESCE(SUM(revoked_at IS NULL AND (expires_at IS NULL OR expires_at > @now)), 0) AS active,
             COALESCE(SUM(revoked_at IS NOT NULL), 0) AS revoked,
             COALESCE(SUM(revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= @now), 0) AS expired,
             COALESCE(SUM(paused != 0 AND revoked_at IS NULL), 0) AS paused,
             COALESCE(SUM(throttle_bytes_per_second IS NOT NULL AND revoked_at IS NULL), 0) AS throttled
           FROM agents`,
        )
        .get({ now }) as Record<string, number>;
      const connections = this.db
        .prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT agent_id) AS agents FROM connections')
        .get() as { n: number; agents: number };
      const sessions = this.db.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number };
      const mirrors = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM mirrors').get() as {
        n: number;
        bytes: number;
      };
      const fixity = this.db
        .prepare(
          'SELECT COUNT(*) AS n, COALESCE(SUM(ok = 0), 0) AS failing, COALESCE(SUM(failures), 0) AS failures FROM fixity',
        )
        .get() as { n: number; failing: number; failures: number };
      return {
        agents: { active: Number(agents.active), revoked: Number(agents.revoked), expired: Number(agents.expired) },
        pausedAgents: Number(agents.paused),
        throttledAgents: Number(agents.throttled),
        connections: Number(connections.n),
        connectedAgents: Number(connections.agents),
        sessions: Number(sessions.n),
        uploads: byState('uploads'),
        mirrors: Number(mirrors.n),
        mirroredBytes: Number(mirrors.bytes),
        commands: byState('commands'),
        fixity: { targets: Number(fixity.n), failing: Number(fixity.failing), failuresTotal: Number(fixity.failures) },
      };
    })();
  }

  // --- fixity -----------------------------------------------------------------

  /**
   * Keeps each reported check that is newer than the one held for its target;
   * answers the checks kept (an older or repeated report is dropped, so a
   * failure is counted once however often the agent resends it).
   */
  recordFixity(rows: readonly FixityRow[], receivedAt: number): FixityRow[] {
    const upsert = this.db.prepare(
      `INSERT INTO fixity (site, vsn, target, ok, checked_at, bytes, detail, agent_id, failures, received_at)
       VALUES (@site, @vsn, @target, @ok, @checkedAt, @bytes, @detail, @agentId, @failed, @receivedAt)
       ON CONFLICT (site, vsn, target) DO UPDATE SET
         ok = excluded.ok, checked_at = excluded.checked_at, bytes = excluded.bytes, detail = excluded.detail,
         agent_id = excluded.agent_id, failures = failures + excluded.failures, received_at = excluded.received_at
       WHERE excluded.checked_at > fixity.checked_at`,
    );
    return this.db.transaction(() => {
      const kept: FixityRow[] = [];
      for (const r of rows) {
        const info = upsert.run({ ...r, ok: r.ok ? 1 : 0, failed: r.ok ? 0 : 1, receivedAt });
        if (info.changes === 1) kept.push(r);
      }
      return kept;
    })();
  }

  /** The latest check per target of each volume, by target. */
  fixityOf(volumes: readonly { site: string; vsn: string }[]): Map<string, FixityRow[]> {
    const get = this.db.prepare('SELECT * FROM fixity WHERE site = ? AND vsn = ? ORDER BY target');
    const out = new Map<string, FixityRow[]>();
    this.db.transaction(() => {
      for (const v of volumes) out.set(`${v.site}/${v.vsn}`, (get.all(v.site, v.vsn) as any[]).map(toFixity));
    })();
    return out;
  }

  /** Sessions of an agent, oldest first. */
  sessions(agentId: string): SessionRow[] {
    const rows = this.db
      .prepare('SELECT * FROM sessions WHERE agent_id = ? ORDER BY created_at, id')
      .all(agentId) as any[];
    return rows.map(toSession);
  }
}

function toConnection(r: any): ConnectionRow {
  return { id: r.id, agentId: r.agent_id, site: r.site, connectedAt: Number(r.connected_at) };
}

function toSession(r: any): SessionRow {
  return {
    id: r.id,
    agentId: r.agent_id,
    site: r.site,
    connectionId: r.connection_id,
    resumeTokenHash: Buffer.from(r.resume_token_hash),
    createdAt: Number(r.created_at),
  };
}

function toAgent(r: any): AgentRow {
  return {
    id: r.id,
    site: r.site,
    tokenHash: Buffer.from(r.token_hash),
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    paused: r.paused === 1,
    throttleBytesPerSecond: r.throttle_bytes_per_second === null ? null : Number(r.throttle_bytes_per_second),
  };
}

function toUpload(r: any): UploadRow {
  return {
    id: r.id,
    site: r.site,
    agentId: r.agent_id,
    vsn: r.vsn,
    key: r.key,
    manifestKey: r.manifest_key,
    size: Number(r.size),
    sha256: r.sha256,
    manifestDigest: r.manifest_digest,
    partSize: Number(r.part_size),
    state: r.state,
    detail: r.detail,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toMirror(r: any): MirrorRow {
  return {
    site: r.site,
    agentId: r.agent_id,
    vsn: r.vsn,
    uploadId: r.upload_id,
    key: r.key,
    versionId: r.version_id,
    size: Number(r.size),
    sha256: r.sha256,
    manifestKey: r.manifest_key,
    manifestVersionId: r.manifest_version_id,
    manifestDigest: r.manifest_digest,
    ackedAt: Number(r.acked_at),
  };
}

function toCommand(r: any): CommandRow {
  return {
    id: r.id,
    agentId: r.agent_id,
    type: r.type,
    args: JSON.parse(r.args),
    state: r.state,
    detail: r.detail,
    createdAt: Number(r.created_at),
    answeredAt: r.answered_at === null ? null : Number(r.answered_at),
  };
}
