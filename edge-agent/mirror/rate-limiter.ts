/**
 * The agent's upload bandwidth cap: one token bucket shared by every part upload
 * in flight, so N concurrent PUTs together stay under the site's rate.
 *
 *  - The bucket holds up to `burstBytes` tokens and refills at `bytesPerSecond`.
 *  - `take(n)` resolves once n bytes may go on the wire. Waiters are served in order
 *    (FIFO), so a big request is never starved by small ones.
 *  - A request bigger than the burst does not wait for tokens that can never
 *    accumulate: it waits for a full bucket and then drives the bucket into debt, which
 *    the next waiters pay back. The long-run rate is still `bytesPerSecond`.
 *  - `setRate()` applies at once, to the waiter already sleeping too; null = unlimited.
 *  - `pause()` holds every take() until `resume()` (the gateway can pause uploads).
 *  - An aborted take() rejects with MirrorError('ABORTED') and leaves the queue.
 *
 * Time comes from `now()` and waits from `sleep()`, both injectable, so tests run on
 * a simulated clock.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { abortedBy } from './errors.js';

export interface RateLimiterOptions {
  /** Bucket size. Default: a quarter second at the current rate, at least 256 KiB. */
  burstBytes?: number;
  /** Milliseconds, monotonic. Default performance.now(). */
  now?: () => number;
  /** Resolves after ms; may end early when `signal` fires (the limiter then re-plans). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

interface Waiter {
  n: number;
  resolve: () => void;
  reject: (e: unknown) => void;
  detach: () => void;
}

const MIN_BURST = 256 * 1024;

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}

function checkRate(r: number | null): void {
  if (r !== null && !(Number.isFinite(r) && r > 0)) {
    throw new RangeError(`rate must be a positive number of bytes per second or null, not ${r}`);
  }
}

export class RateLimiter {
  private bytesPerSecond: number | null;
  private readonly fixedBurst: number | undefined;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private tokens = 0;
  private last = 0;
  private isPaused = false;
  private pauseCount = 0;
  private readonly queue: Waiter[] = [];
  private pumping = false;
  /** Aborted to wake the pump from its sleep (rate change, resume, a waiter leaving). */
  private wake: AbortController | undefined;

  constructor(bytesPerSecond: number | null, o: RateLimiterOptions = {}) {
    checkRate(bytesPerSecond);
    if (o.burstBytes !== undefined && !(Number.isFinite(o.burstBytes) && o.burstBytes > 0)) {
      throw new RangeError(`burstBytes must be positive, not ${o.burstBytes}`);
    }
    this.bytesPerSecond = bytesPerSecond;
    this.fixedBurst = o.burstBytes;
    this.now = o.now ?? (() => performance.now());
    this.sleep = o.sleep ?? defaultSleep;
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Bytes per second, or null when unlimited. */
  get rate(): number | null {
    return this.bytesPerSecond;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /** The bucket's size at the current rate. */
  get burst(): number {
    if (this.fixedBurst !== undefined) return this.fixedBurst;
    return this.bytesPerSecond === null ? MIN_BURST : Math.max(MIN_BURST, this.bytesPerSecond / 4);
  }

  /** Takes effect at once, for waiters already queued too. null = unlimited. */
  setRate(bytesPerSecond: number | null): void {
    checkRate(bytesPerSecond);
    if (this.bytesPerSecond !== null) this.refill();
    const wasUnlimited = this.bytesPerSecond === null;
    this.bytesPerSecond = bytesPerSecond;
    this.last = this.now();
    // Coming from unlimited the bucket starts full; otherwise debt carries over.
    this.tokens = wasUnlimited ? this.burst : Math.min(this.tokens, this.burst);
    this.kick();
  }

  /**
   * How many times pause() has paused the limiter: an upload that failed while this
   * moved (or while paused) failed because of the pause, not of the network.
   */
  get pauses(): number {
    return this.pauseCount;
  }

  pause(): void {
    if (!this.isPaused) this.pauseCount++;
    this.isPaused = true;
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    this.kick();
  }

  /** Resolves when n more bytes may be sent. */
  take(n: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortedBy(signal));
    if (!(n > 0)) return Promise.resolve();
    if (this.queue.length === 0 && !this.isPaused && this.grant(n) === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(w);
        if (i < 0) return;
        this.queue.splice(i, 1);
        reject(abortedBy(signal));
        if (i === 0) this.kick();
      };
      const w: Waiter = {
        n,
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(w);
      this.kick();
    });
  }

  private refill(): void {
    const t = this.now();
    const dt = Math.max(0, t - this.last);
    this.last = t;
    if (this.bytesPerSecond !== null)
      this.tokens = Math.min(this.burst, this.tokens + (dt * this.bytesPerSecond) / 1000);
  }

  /** Takes n tokens and returns 0, or returns how many ms to wait before asking again. */
  private grant(n: number): number {
    if (this.bytesPerSecond === null) return 0;
    this.refill();
    const need = Math.min(n, this.burst);
    // A hair of tolerance: the clock's fractions must not cost an extra 1 ms sleep.
    if (this.tokens >= need - 1e-6) {
      this.tokens -= n;
      return 0;
    }
    return Math.max(1, Math.ceil(((need - this.tokens) * 1000) / this.bytesPerSecond));
  }

  private kick(): void {
    this.wake?.abort();
    if (!this.pumping && this.queue.length > 0) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        if (this.isPaused) {
          await this.nap(undefined);
          continue;
        }
        const head = this.queue[0]!;
        const wait = this.grant(head.n);
        if (wait === 0) {
          this.queue.shift();
          head.detach();
          head.resolve();
        } else {
          await this.nap(wait);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Sleeps ms (forever when undefined) or until kick(). */
  private async nap(ms: number | undefined): Promise<void> {
    const ac = new AbortController();
    this.wake = ac;
    const woken = new Promise<void>((r) => ac.signal.addEventListener('abort', () => r(), { once: true }));
    try {
      if (ms === undefined) await woken;
      // A failing sleep() must not stall the queue: it counts as having slept.
      else await Promise.race([this.sleep(ms, ac.signal).catch(() => undefined), woken]);
    } finally {
      if (this.wake === ac) this.wake = undefined;
      ac.abort(); // ends a real timer still pending
    }
  }
}
