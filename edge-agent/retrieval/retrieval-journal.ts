/**
 * The retrieval journal: every RETRIEVE as a row of `retrievals` (migration
 * 4), from queued to collected, failed or expired, and the damage sources
 * showed as rows of `source_faults`. Written before anything is fetched or
 * freed, so a restarted agent knows every request it still owes. All SQL on
 * those two tables lives here.
 */
import type Database from 'better-sqlite3';
import type { Catalog } from '../catalog/catalog.js';
import type { QueuedRequest } from './retrieval-scheduler.js';

export type RetrievalState = 'queued' | 'fetching' | 'ready' | 'collected' | 'failed' | 'expired';
export type RetrievalMode = 'online' | 'offline';
/** Why a failed request failed: every source failed its check, none could be reached, or it can never fit. */
export type Failure = 'corrupt' | 'no_source' | 'no_space';

export interface RetrievalRow {
  id: number;
  token: string;
  clientId: string;
  client: string;
  mode: RetrievalMode;
  /** 0 for ONLINE, else 1..5. */
  priority: number;
  /** ms since the epoch, or null. */
  deadline: number | null;
  volumeId: number;
  fileId: number;
  session: number;
  imagePath: Buffer;
  state: RetrievalState;
  source: string;
  /** What happens now, or why it failed. */
  message: string;
  /** Sources that failed, in words, oldest first. */
  faults: string;
  failure: Failure | null;
  cacheFile: string | null;
  /** The file's size. */
  bytes: number;
  round: number | null;
  createdAt: number;
  updatedAt: number;
  readyAt: number | null;
  expiresAt: number | null;
}

export interface NewRetrieval {
  token: string;
  clientId: string;
  client: string;
  mode: RetrievalMode;
  priority: number;
  deadline: number | null;
  volumeId: number;
  fileId: number;
  session: number;
  imagePath: Buffer;
  bytes: number;
  message: string;
}

export interface SourceFault {
  volumeId: number;
  copyId: number | null;
  source: 'disc' | 'cloud';
  fileId: number;
  detail: string;
}

/** Kept faults text per request: the newest are kept when it grows past this. */
const MAX_FAULTS = 4000;

export class RetrievalJournal {
  private readonly db: Database.Database;

  /** Prepared statements by their SQL: status polls and reads run a few of them many times. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly catalog: Catalog) {
    this.db = catalog.database;
  }

  private statement(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  insert(r: NewRetrieval): RetrievalRow {
    const at = this.catalog.clock();
    const info = this.statement(
      `INSERT INTO retrievals (token, client_id, client, mode, priority, deadline, volume_id, file_id, session,
           image_path, state, message, bytes, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
    ).run(
      r.token,
      r.clientId,
      r.client,
      r.mode,
      r.priority,
      r.deadline,
      r.volumeId,
      r.fileId,
      r.session,
      r.imagePath,
      r.message,
      r.bytes,
      at,
      at,
    );
    return this.byId(Number(info.lastInsertRowid))!;
  }

  byId(id: number): RetrievalRow | undefined {
    const r = this.statement('SELECT * FROM retrievals WHERE id = ?').get(id);
    return r ? toRow(r) : undefined;
  }

  byToken(token: string): RetrievalRow | undefined {
    const r = this.statement('SELECT * FROM retrievals WHERE token = ?').get(token);
    return r ? toRow(r) : undefined;
  }

  /** Queued OFFLINE requests, as the scheduler sees them (with their volume). */
  queuedOffline(): (QueuedRequest & { volumeId: number })[] {
    return (
      this.statement(
        `SELECT id, priority, deadline, created_at, volume_id FROM retrievals
           WHERE state = 'queued' AND mode = 'offline'`,
      ).all() as any[]
    ).map((r) => ({
      id: Number(r.id),
      volumeId: Number(r.volume_id),
      priority: Number(r.priority),
      deadline: r.deadline === null ? null : Number(r.deadline),
      createdAt: Number(r.created_at),
    }));
  }

  /** Queued ONLINE requests (waiting for cache space, or left by a restart), oldest first. */
  queuedOnline(): RetrievalRow[] {
    return this.rows(`SELECT * FROM retrievals WHERE state = 'queued' AND mode = 'online' ORDER BY id`);
  }

  inState(state: RetrievalState): RetrievalRow[] {
    return this.rows('SELECT * FROM retrievals WHERE state = ? ORDER BY id', state);
  }

  /** Ready entries whose time ran out at `now`. */
  dueForExpiry(now: number): RetrievalRow[] {
    return this.rows(`SELECT * FROM retrievals WHERE state = 'ready' AND expires_at <= ? ORDER BY id`, now);
  }

  /** The highest round recorded, 0 when none. */
  maxRound(): number {
    const r = this.statement('SELECT MAX(round) AS m FROM retrievals').get() as { m: bigint | null };
    return Number(r.m ?? 0n);
  }

  counts(): Record<RetrievalState, number> {
    const out: Record<RetrievalState, number> = {
      queued: 0,
      fetching: 0,
      ready: 0,
      collected: 0,
      failed: 0,
      expired: 0,
    };
    for (const r of this.statement('SELECT state, COUNT(*) AS n FROM retrievals GROUP BY state').all() as any[]) {
      out[r.state as RetrievalState] = Number(r.n);
    }
    return out;
  }

  /** Serving starts: in the cache as `<token>.part` from now on; `round` is null for ONLINE. */
  fetching(id: number, round: number | null): void {
    this.update(id, `state = 'fetching', round = ?, message = ''`, round);
  }

  ready(id: number, v: { source: string; cacheFile: string; expiresAt: number; message: string }): void {
    const at = this.catalog.clock();
    this.statement(
      `UPDATE retrievals SET state = 'ready', source = ?, cache_file = ?, ready_at = ?, expires_at = ?, message = ?,
           updated_at = ? WHERE id = ?`,
    ).run(v.source, v.cacheFile, at, v.expiresAt, v.message, at, id);
  }

  failed(id: number, failure: Failure, message: string): void {
    this.update(id, `state = 'failed', failure = ?, message = ?, cache_file = NULL`, failure, message);
  }

  /** Back in the queue, not served (no source now, stopped, or restored after a crash): no round either. */
  requeue(id: number, message: string): void {
    this.update(id, `state = 'queued', message = ?, cache_file = NULL, round = NULL`, message);
  }

  setMessage(id: number, message: string): void {
    this.update(id, 'message = ?', message);
  }

  collected(id: number): void {
    this.update(id, `state = 'collected', cache_file = NULL`);
  }

  expired(id: number): void {
    this.update(id, `state = 'expired', cache_file = NULL`);
  }

  /** A source gave bad bytes or none: recorded for the volume, and noted on the request. */
  sourceFault(requestId: number, f: SourceFault, note: string): void {
    const at = this.catalog.clock();
    this.db.transaction(() => {
      this.statement(
        'INSERT INTO source_faults (volume_id, copy_id, source, file_id, detail, at) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(f.volumeId, f.copyId, f.source, f.fileId, f.detail, at);
      const row = this.byId(requestId);
      if (!row) return;
      const faults = `${row.faults}${note}`;
      this.update(requestId, 'faults = ?', faults.length > MAX_FAULTS ? faults.slice(-MAX_FAULTS) : faults);
    })();
  }

  /** Faults recorded for a volume, oldest first (for tests and the catalog). */
  faultsOf(volumeId: number): (SourceFault & { id: number; at: number })[] {
    return (this.statement('SELECT * FROM source_faults WHERE volume_id = ? ORDER BY id').all(volumeId) as any[]).map(
      (r) => ({
        id: Number(r.id),
        volumeId: Number(r.volume_id),
        copyId: r.copy_id === null ? null : Number(r.copy_id),
        source: r.source,
        fileId: Number(r.file_id),
        detail: r.detail,
        at: Number(r.at),
      }),
    );
  }

  private update(id: number, set: string, ...args: unknown[]): void {
    this.statement(`UPDATE retrievals SET ${set}, updated_at = ? WHERE id = ?`).run(...args, this.catalog.clock(), id);
  }

  private rows(sql: string, ...args: unknown[]): RetrievalRow[] {
    return (this.statement(sql).all(...args) as any[]).map(toRow);
  }
}

function num(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function toRow(r: any): RetrievalRow {
  return {
    id: Number(r.id),
    token: r.token,
    clientId: r.client_id,
    client: r.client,
    mode: r.mode,
    priority: Number(r.priority),
    deadline: num(r.deadline),
    volumeId: Number(r.volume_id),
    fileId: Number(r.file_id),
    session: Number(r.session),
    imagePath: r.image_path,
    state: r.state,
    source: r.source,
    message: r.message,
    faults: r.faults,
    failure: r.failure,
    cacheFile: r.cache_file,
    bytes: Number(r.bytes),
    round: num(r.round),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    readyAt: num(r.ready_at),
    expiresAt: num(r.expires_at),
  };
}
