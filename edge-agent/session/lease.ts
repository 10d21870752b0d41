/**
 * The controller lease: one client controls the agent at a time (NetDVD's rule).
 *
 * HELLO acquires it and gets a session id; anyone else gets BUSY naming the
 * holder and since when. Every call of the holder renews it. BYE releases it
 * at once; losing the connection releases it after a grace period (a client
 * that reconnects at once keeps its session); a lease not renewed for
 * `leaseMs` lapses, so a crashed client cannot hold the device forever.
 * Time comes from an injectable clock so the rules can be tested exactly.
 */
import { randomBytes } from 'node:crypto';

export interface LeaseOptions {
  /** A lease not renewed for this long lapses (default 10 min). */
  leaseMs?: number;
  /** After the holder's connection closes, how long the lease waits for it (default 30 s). */
  disconnectGraceMs?: number;
  now?: () => number;
}

export interface Holder {
  session: bigint;
  host: string;
  client: string;
  since: number;
  lastSeen: number;
  /** Set while the holder's connection is gone: the time it went. */
  disconnectedAt?: number;
}

export type AcquireResult = { ok: true; holder: Holder } | { ok: false; busy: Holder };

export type CheckResult = { ok: true; holder: Holder } | { ok: false; reason: 'NO_SESSION' | 'LEASE_EXPIRED' };

export class ControllerLease {
  readonly leaseMs: number;
  readonly disconnectGraceMs: number;
  private readonly now: () => number;
  private holder: Holder | undefined;
  /** Sessions that lapsed, so a late call is told "expired", not "unknown" (bounded). */
  private readonly lapsed = new Set<bigint>();

  constructor(options: LeaseOptions = {}) {
    this.leaseMs = options.leaseMs ?? 10 * 60 * 1000;
    this.disconnectGraceMs = options.disconnectGraceMs ?? 30 * 1000;
    this.now = options.now ?? Date.now;
  }

  /** The current holder, after dropping a lease that has lapsed. */
  current(): Holder | undefined {
    const h = this.holder;
    if (!h) return undefined;
    const t = this.now();
    const idle = t - h.lastSeen >= this.leaseMs;
    const gone = h.disconnectedAt !== undefined && t - h.disconnectedAt >= this.disconnectGraceMs;
    if (idle || gone) {
      this.remember(h.session);
      this.holder = undefined;
      return undefined;
    }
    return h;
  }

  acquire(host: string, client: string): AcquireResult {
    const h = this.current();
    if (h) return { ok: false, busy: h };
    const t = this.now();
    const holder: Holder = { session: randomBytes(8).readBigUInt64BE(0) || 1n, host, client, since: t, lastSeen: t };
    this.holder = holder;
    return { ok: true, holder };
  }

  /** Check a session id on a call, renewing the lease when it is the holder's. */
  check(session: bigint): CheckResult {
    const h = this.current();
    if (h && h.session === session) {
      h.lastSeen = this.now();
      h.disconnectedAt = undefined;
      return { ok: true, holder: h };
    }
    return { ok: false, reason: this.lapsed.has(session) ? 'LEASE_EXPIRED' : 'NO_SESSION' };
  }

  /** BYE: release at once. */
  release(session: bigint): boolean {
    const h = this.current();
    if (!h || h.session !== session) return false;
    this.holder = undefined;
    return true;
  }

  /** The holder's connection closed: the lease lapses after the grace period unless it calls again. */
  disconnected(session: bigint): void {
    const h = this.holder;
    if (h && h.session === session && h.disconnectedAt === undefined) h.disconnectedAt = this.now();
  }

  private remember(session: bigint): void {
    this.lapsed.add(session);
    if (this.lapsed.size > 1024) this.lapsed.delete(this.lapsed.values().next().value as bigint);
  }
}
