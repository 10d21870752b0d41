/**
 * The fixity records in the catalog (tables fixity_passes and fixity_checks,
 * migration 4 of catalog/schema.ts): opening, resuming and closing passes,
 * one row per check (the checkpoint: UNIQUE (pass_id, volume_id, target), so
 * a resumed pass skips what it already checked), the checks not yet reported
 * to the gateway, the latest check per (volume, target) paged by cookie, and
 * the counts the metrics read. All the fixity SQL lives here.
 */
import type { Catalog } from '../catalog/catalog.js';

export interface PassRow {
  id: number;
  startedAt: number;
  finishedAt: number | null;
  reason: string;
}

export interface CheckRow {
  id: number;
  passId: number;
  volumeId: number;
  vsn: string;
  target: string;
  copyId: number | null;
  ok: boolean;
  bytes: bigint;
  detail: string;
  at: number;
  reported: boolean;
}

export interface NewCheck {
  passId: number;
  volumeId: number;
  target: string;
  copyId?: number | null;
  ok: boolean;
  bytes: bigint;
  detail: string;
  at: number;
}

/** What the metrics read (stateless: from the catalog at scrape time). */
export interface FixityCounts {
  /** Checks ever recorded, by result. */
  checks: { ok: number; failed: number };
  /** (volume, target) pairs whose latest check failed. */
  failing: number;
  /** When the last finished pass finished (ms), or null. */
  lastPassFinishedAt: number | null;
  /** A pass is open (running, or waiting to resume). */
  passOpen: boolean;
}

const num = (v: unknown): number => Number(v as bigint | number);

function toPass(r: any): PassRow {
  return {
    id: num(r.id),
    startedAt: num(r.started_at),
    finishedAt: r.finished_at === null ? null : num(r.finished_at),
    reason: r.reason,
  };
}

function toCheck(r: any): CheckRow {
  return {
    id: num(r.id),
    passId: num(r.pass_id),
    volumeId: num(r.volume_id),
    vsn: r.vsn,
    target: r.target,
    copyId: r.copy_id === null ? null : num(r.copy_id),
    ok: num(r.ok) !== 0,
    bytes: BigInt(r.bytes),
    detail: r.detail,
    at: num(r.at),
    reported: num(r.reported) !== 0,
  };
}

export class FixityRecords {
  constructor(private readonly catalog: Catalog) {}

  private get db() {
    return this.catalog.database;
  }

  openPass(reason: 'schedule' | 'request', at: number): PassRow {
    const info = this.db.prepare('INSERT INTO fixity_passes (started_at, reason) VALUES (?, ?)').run(at, reason);
    return { id: num(info.lastInsertRowid), startedAt: at, finishedAt: null, reason };
  }

  /** The pass left open (by a crash or a stop), if any: the newest. */
  openedPass(): PassRow | undefined {
    const r = this.db.prepare('SELECT * FROM fixity_passes WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1').get();
    return r ? toPass(r) : undefined;
  }

  /** Marks a pass done: every target it could check was checked. */
  finishPass(id: number, at: number): void {
    this.db.prepare('UPDATE fixity_passes SET finished_at = ? WHERE id = ? AND finished_at IS NULL').run(at, id);
  }

  /** Closes the open passes older than `keep` (they are not resumed). */
  closeStale(keep: number, at: number): number {
    return this.db
      .prepare('UPDATE fixity_passes SET finished_at = ? WHERE finished_at IS NULL AND id != ?')
      .run(at, keep).changes;
  }

  /** The newest pass, finished or not. */
  lastPass(): PassRow | undefined {
    const r = this.db.prepare('SELECT * FROM fixity_passes ORDER BY id DESC LIMIT 1').get();
    return r ? toPass(r) : undefined;
  }

  lastFinishedPass(): PassRow | undefined {
    const r = this.db
      .prepare('SELECT * FROM fixity_passes WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1')
      .get();
    return r ? toPass(r) : undefined;
  }

  /** When the oldest volume was created (ms), if there is one: the schedule's start before any pass. */
  firstVolumeAt(): number | undefined {
    const r = this.db.prepare('SELECT MIN(created_at) AS at FROM volumes').get() as { at: bigint | null };
    return r.at === null ? undefined : num(r.at);
  }

  /** The targets a pass already checked, as `volumeId target`. */
  checked(passId: number): Set<string> {
    const rows = this.db.prepare('SELECT volume_id, target FROM fixity_checks WHERE pass_id = ?').all(passId) as any[];
    return new Set(rows.map((r) => `${num(r.volume_id)} ${r.target}`));
  }

  /** Records one check: its id, or undefined when the pass already holds one for this target (nothing is replaced). */
  record(c: NewCheck): number | undefined {
    const info = this.db
      .prepare(
        `INSERT OR IGNORE INTO fixity_checks (pass_id, volume_id, target, copy_id, ok, bytes, detail, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(c.passId, c.volumeId, c.target, c.copyId ?? null, c.ok ? 1 : 0, c.bytes, c.detail, c.at);
    return info.changes === 1 ? num(info.lastInsertRowid) : undefined;
  }

  /** Checks the gateway has not been told about, oldest first. */
  unreported(limit: number): CheckRow[] {
    return (
      this.db
        .prepare(
          `SELECT c.*, v.vsn FROM fixity_checks c JOIN volumes v ON v.id = c.volume_id
           WHERE c.reported = 0 ORDER BY c.id LIMIT ?`,
        )
        .all(limit) as any[]
    ).map(toCheck);
  }

  /** Marks the latest check of every target to be sent again (a new session: the gateway's view is refreshed). */
  resendLatest(): number {
    return this.db
      .prepare(
        `UPDATE fixity_checks SET reported = 0
         WHERE reported = 1 AND id IN (SELECT MAX(id) FROM fixity_checks GROUP BY volume_id, target)`,
      )
      .run().changes;
  }

  markReported(ids: readonly number[]): void {
    const update = this.db.prepare('UPDATE fixity_checks SET reported = 1 WHERE id = ?');
    this.db.transaction(() => {
      for (const id of ids) update.run(id);
    })();
  }

  /**
   * One page of the latest check per (volume, target), in the order each pair
   * was first checked. The cookie is the id of the first check of the last
   * pair returned (0 to start), so it stays valid while new checks arrive.
   */
  latest(o: { volumeId?: number; cookie: bigint; count: number }): {
    checks: CheckRow[];
    cookie: bigint;
    eof: boolean;
  } {
    const where = o.volumeId === undefined ? '' : 'WHERE volume_id = @volume';
    const groups = this.db
      .prepare(
        `SELECT MIN(id) AS first, MAX(id) AS latest FROM fixity_checks ${where}
         GROUP BY volume_id, target HAVING MIN(id) > @cookie ORDER BY first LIMIT @limit`,
      )
      .all({ cookie: o.cookie, limit: o.count + 1, ...(o.volumeId === undefined ? {} : { volume: o.volumeId }) }) as {
      first: bigint;
      latest: bigint;
    }[];
    const page = groups.slice(0, o.count);
    const get = this.db.prepare(
      'SELECT c.*, v.vsn FROM fixity_checks c JOIN volumes v ON v.id = c.volume_id WHERE c.id = ?',
    );
    const checks = page.map((g) => toCheck(get.get(g.latest)));
    const last = page[page.length - 1];
    return { checks, cookie: last ? BigInt(last.first) : o.cookie, eof: groups.length <= o.count };
  }

  /** Whether `cookie` is one latest() can have issued: the id of a check. */
  isCookie(cookie: bigint): boolean {
    return this.db.prepare('SELECT 1 FROM fixity_checks WHERE id = ?').get(cookie) !== undefined;
  }

  /** (volume, target) pairs whose latest check failed. */
  failing(): number {
    const r = this.db
      .prepare(
        `SELECT COUNT(*) AS n FROM fixity_checks c
         JOIN (SELECT MAX(id) AS id FROM fixity_checks GROUP BY volume_id, target) l ON l.id = c.id
         WHERE c.ok = 0`,
      )
      .get() as { n: bigint };
    return num(r.n);
  }

  counts(): FixityCounts {
    return this.db.transaction(() => {
      const rows = this.db.prepare('SELECT ok, COUNT(*) AS n FROM fixity_checks GROUP BY ok').all() as {
        ok: bigint;
        n: bigint;
      }[];
      const checks = { ok: 0, failed: 0 };
      for (const r of rows) {
        if (num(r.ok) !== 0) checks.ok += num(r.n);
        else checks.failed += num(r.n);
      }
      const last = this.lastFinishedPass();
      return {
        checks,
        failing: this.failing(),
        lastPassFinishedAt: last?.finishedAt ?? null,
        passOpen: this.openedPass() !== undefined,
      };
    })();
  }
}

/** The fixity counts of a catalog (for the metrics collector). */
export function fixityCounts(catalog: Catalog): FixityCounts {
  return new FixityRecords(catalog).counts();
}
