/**
 * The drives of one agent and who holds them. A job reserves N drives at
 * once; a drive belongs to one job at a time. Requests wait in strict FIFO
 * order: a later request is never served before an earlier one that is still
 * waiting, even if it could be (no starvation of a job that needs many drives
 * or excludes some). A wait can be cancelled. A request that can never be
 * served (more drives than exist outside `exclude`, or than are present)
 * fails at once instead of waiting forever.
 */
import { type Logger, silentLogger } from '../../clients/oncrpc/logger.js';
import { Drive, type DriveConfig, type DriveState } from './drive.js';
import { DriveError } from './errors.js';

export { Drive, type DriveConfig, type DriveState } from './drive.js';

export interface Reservation {
  readonly job: string;
  /** The drives still held (release() removes them). */
  readonly drives: Drive[];
  /** Release one drive, or all of them. Idempotent. */
  release(drive?: Drive): void;
}

export interface ReserveOptions {
  /** Drive names the job must not get (e.g. the drives that already burned other copies). */
  exclude?: string[];
  signal?: AbortSignal;
}

interface Waiter {
  job: string;
  count: number;
  exclude: Set<string>;
  resolve(r: Reservation): void;
  reject(e: Error): void;
  cleanup(): void;
}

export class DrivePool {
  private readonly drives: Drive[];
  private readonly byName = new Map<string, Drive>();
  private readonly waiters: Waiter[] = [];
  private readonly log: Logger;

  constructor(drives: DriveConfig[], options: { log?: Logger } = {}) {
    this.log = options.log ?? silentLogger;
    const addresses = new Set<string>();
    this.drives = drives.map((c) => {
      if (this.byName.has(c.name)) throw new TypeError(`two drives are named ${c.name}`);
      if (addresses.has(c.address)) throw new TypeError(`two drives share the address ${c.address}`);
      const d = new Drive(c, this.log);
      this.byName.set(c.name, d);
      addresses.add(c.address);
      return d;
    });
  }

  /** Every drive and its disc, in configuration order. */
  list(signal?: AbortSignal): Promise<DriveState[]> {
    return Promise.all(this.drives.map((d) => d.state(signal)));
  }

  get(name: string): Drive | undefined {
    return this.byName.get(name);
  }

  /** How many drives are configured. */
  get size(): number {
    return this.drives.length;
  }

  /** All drives, in configuration order. */
  all(): Drive[] {
    return [...this.drives];
  }

  /** Jobs waiting for drives, oldest first. */
  waiting(): string[] {
    return this.waiters.map((w) => w.job);
  }

  /** Waits (FIFO order, abortable) until `count` drives are free, none in `exclude`, and reserves them for `job`. */
  reserve(job: string, count: number, options: ReserveOptions = {}): Promise<Reservation> {
    if (!Number.isSafeInteger(count) || count < 1) {
      return Promise.reject(new TypeError(`a reservation is for one drive or more, not ${count}`));
    }
    const exclude = new Set(options.exclude ?? []);
    const eligible = this.drives.filter((d) => !exclude.has(d.name));
    if (eligible.length < count) {
      return Promise.reject(
        new DriveError(
          'NO_DRIVES',
          `job ${job} wants ${count} drives but only ${eligible.length} exist${exclude.size ? ` outside ${[...exclude].join(', ')}` : ''}`,
        ),
      );
    }
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(aborted(job));
    return new Promise<Reservation>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        reject(aborted(job));
        this.pump();
      };
      const waiter: Waiter = {
        job,
        count,
        exclude,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.pump();
      if (this.waiters.includes(waiter)) this.log.info('job waits for drives', { job, count });
    });
  }

  private pump(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0]!;
      const eligible = this.drives.filter((d) => !w.exclude.has(d.name));
      const absent = eligible.filter((d) => d.isMissing());
      if (eligible.length - absent.length < w.count) {
        this.waiters.shift();
        w.cleanup();
        w.reject(
          new DriveError(
            'DRIVE_MISSING',
            `job ${w.job} wants ${w.count} drives but ${absent.map((d) => d.name).join(', ')} ${absent.length === 1 ? 'is' : 'are'} missing`,
            absent[0]?.name,
          ),
        );
        continue;
      }
      const free = eligible.filter((d) => d.job === undefined && !d.writing && !absent.includes(d));
      if (free.length < w.count) return;
      this.waiters.shift();
      w.cleanup();
      const taken = free.slice(0, w.count);
      for (const d of taken) d.setHolder(w.job);
      this.log.info('drives reserved', { job: w.job, drives: taken.map((d) => d.name) });
      w.resolve(this.reservation(w.job, taken));
    }
  }

  private reservation(job: string, taken: Drive[]): Reservation {
    const held = [...taken];
    const pool = this;
    return {
      job,
      get drives() {
        return [...held];
      },
      release(drive?: Drive) {
        const which = drive ? held.filter((d) => d === drive) : [...held];
        if (which.length === 0) return;
        for (const d of which) {
          held.splice(held.indexOf(d), 1);
          if (d.job === job) d.setHolder(undefined);
        }
        pool.log.info('drives released', { job, drives: which.map((d) => d.name) });
        pool.pump();
      },
    };
  }
}

function aborted(job: string): DriveError {
  return new DriveError('ABORTED', `job ${job} stopped waiting for drives: cancelled`);
}
