/**
 * The staging area: one working directory per client under a root that may sit
 * on its own filesystem, with a quota per client's directory (sessionQuotaBytes), a quota for the whole area,
 * and a reserve of free space that staging never eats into (so staging can
 * never starve the mastering of images, as ASTO kept its stage areas apart).
 */
import fs from 'node:fs/promises';
import { StagingError } from './errors.js';
import type { Charset } from './names.js';
import { type SpaceKeeper, type Time, WorkingDirectory } from './working-directory.js';

export interface StagingAreaOptions {
  root: string;
  charset: Charset;
  sessionQuotaBytes: bigint;
  totalQuotaBytes: bigint;
  /** Free space on the staging filesystem that staging leaves alone. */
  minFreeBytes: bigint;
}

export class StagingArea implements SpaceKeeper {
  readonly options: StagingAreaOptions;
  private readonly dirs = new Map<string, WorkingDirectory>();

  constructor(options: StagingAreaOptions) {
    this.options = options;
  }

  /** Bytes staged across every session, committed or not. */
  get used(): bigint {
    let n = 0n;
    for (const d of this.dirs.values()) n += d.used;
    return n;
  }

  /**
   * Take up every working directory an earlier run left, so the area's quota
   * counts what is already staged before any client says HELLO.
   */
  async recover(defaultTime: () => Time): Promise<number> {
    let names: string[] = [];
    try {
      names = await fs.readdir(`${this.options.root}/sessions`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const name of names) if (/^[A-Za-z0-9_-]{1,64}$/.test(name)) await this.open(name, defaultTime);
    return names.length;
  }

  /** The working directory `name` (a client's), made on first use; the same object afterwards. */
  async open(name: string, defaultTime: () => Time): Promise<WorkingDirectory> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new RangeError(`bad working directory name ${name}`);
    const existing = this.dirs.get(name);
    if (existing) {
      existing.defaultTime = defaultTime;
      return existing;
    }
    const dir = new WorkingDirectory(
      `${this.options.root}/sessions/${name}`,
      this.options.charset,
      this.options.sessionQuotaBytes,
      this,
      defaultTime,
    );
    await dir.init();
    this.dirs.set(name, dir);
    return dir;
  }

  /**
   * The working directory `name` for a job (ingest, cleanup): like open(), but
   * a directory already open keeps the time its client gave at HELLO.
   */
  async forJob(name: string): Promise<WorkingDirectory> {
    return (
      this.dirs.get(name) ?? this.open(name, () => ({ seconds: BigInt(Math.floor(Date.now() / 1000)), nanoseconds: 0 }))
    );
  }

  /**
   * Hold `growth` bytes for `dir`: the quotas are checked and the bytes counted
   * in one step, before anything waits, so concurrent WRITEs cannot together
   * pass a quota each of them fits alone. The caller gives the bytes back
   * (dir.used -= growth) if the write then fails.
   */
  async reserve(dir: WorkingDirectory, growth: bigint): Promise<void> {
    if (dir.used + growth > dir.quotaBytes) {
      throw new StagingError(
        'QUOTA_EXCEEDED',
        `the session's quota of ${dir.quotaBytes} bytes would be exceeded (${dir.used} used): commit a burn or remove files`,
        { kind: 'quota', limit: dir.quotaBytes, used: dir.used },
      );
    }
    const used = this.used;
    if (used + growth > this.options.totalQuotaBytes) {
      throw new StagingError(
        'QUOTA_EXCEEDED',
        `the staging area's quota of ${this.options.totalQuotaBytes} bytes would be exceeded (${used} used)`,
        { kind: 'quota', limit: this.options.totalQuotaBytes, used },
      );
    }
    dir.used += growth;
    const s = await fs.statfs(this.options.root, { bigint: true });
    const free = s.bavail * s.bsize;
    if (free - growth < this.options.minFreeBytes) {
      dir.used -= growth;
      throw new StagingError(
        'NO_SPACE',
        `the staging filesystem has ${free} bytes free and keeps ${this.options.minFreeBytes} in reserve: free space or wait for a burn`,
      );
    }
  }
}
