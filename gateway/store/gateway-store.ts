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
];

export interface AgentRow {
  id: string;
  site: string;
  /** What the identity module stored for the token; opaque here. */
  tokenHash: Buffer;
  /** Milliseconds since the epoch. */
  createdAt: number;
  revokedAt: number | null;
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

export class GatewayStore {
  readonly file: string;
  private readonly db: Database.Database;

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

  /** Marks an agent revoked at `at` unless it already is; true when this call revoked it. */
  revokeAgent(id: string, at: number): boolean {
    return (
      this.db.prepare('UPDATE agents SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes > 0
    );
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
  };
}
