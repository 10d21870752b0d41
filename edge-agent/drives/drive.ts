/**
 * One burner: a real drive (/dev/srN) or a stand-in (a `stdio:` file in a
 * directory, see stand-in-medium.ts). A drive knows its medium (loaded,
 * blank, written), loads a blank, unloads a burned disc to the shelf, and
 * runs at most one write at a time. Which job holds it is the pool's
 * business (drive-pool.ts); the write lock here is the last line of defence.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Logger, silentLogger } from '../../clients/oncrpc/logger.js';
import { DriveError } from './errors.js';
import { ejectHardware, inspectHardware, loadHardware } from './hardware-medium.js';
import {
  closeStandIn,
  discardStandIn,
  inspectStandIn,
  loadBlankStandIn,
  type MediumStatus,
  missing,
  setAsideShelved,
  shelveStandIn,
  standInMediumPath,
  type WriteOnceEnforcement,
} from './stand-in-medium.js';

export interface DriveConfig {
  name: string;
  /** `/dev/srN` for hardware, `stdio:/dir/medium` for a stand-in. */
  address: string;
  /** cdrecord speed (speed=N); unset: the drive's best. */
  speed?: number;
  /** Present for a stand-in drive: where unloaded discs go. */
  standIn?: { shelf: string };
}

export interface DriveState {
  name: string;
  address: string;
  /** Reserved by a job (or writing). */
  busy: boolean;
  job?: string;
  loaded: boolean;
  blank: boolean;
  /** The volume id of the written disc in the drive. */
  vsn?: string;
  /** What kind of disc is in: xorriso's "Media current" for hardware ("DVD-R sequential recording"), 'stand-in' or 'pipe' for a stand-in. */
  media?: string;
  missing: boolean;
}

export class Drive {
  readonly name: string;
  readonly address: string;
  readonly speed: number | undefined;
  readonly kind: 'stand-in' | 'hardware';
  readonly shelf: string | undefined;
  /** The stand-in's medium file. */
  readonly mediumPath: string | undefined;
  private holder: string | undefined;
  private writingNow = false;
  private readonly log: Logger;

  constructor(config: DriveConfig, log: Logger = silentLogger) {
    if (!config.name) throw new TypeError('a drive needs a name');
    if (config.speed !== undefined && !(Number.isInteger(config.speed) && config.speed > 0)) {
      throw new TypeError(`drive ${config.name}: speed is a positive whole number, not ${config.speed}`);
    }
    this.name = config.name;
    this.address = config.address;
    this.speed = config.speed;
    this.log = log;
    if (config.standIn) {
      this.kind = 'stand-in';
      this.shelf = config.standIn.shelf;
      this.mediumPath = standInMediumPath(config.address);
    } else {
      if (!config.address.startsWith('/dev/')) {
        throw new TypeError(
          `drive ${config.name}: a hardware drive's address is a device (/dev/srN); a stdio: address needs standIn`,
        );
      }
      this.kind = 'hardware';
    }
  }

  /** The job holding this drive, if any. */
  get job(): string | undefined {
    return this.holder;
  }

  get writing(): boolean {
    return this.writingNow;
  }

  /** Quick check without I/O beyond one stat: the address (stand-in: its directory) is gone. */
  isMissing(): boolean {
    return !existsSync(this.mediumPath ? path.dirname(this.mediumPath) : this.address);
  }

  /** What is in the drive. */
  async medium(signal?: AbortSignal): Promise<MediumStatus> {
    if (this.mediumPath) return inspectStandIn(this.mediumPath);
    return inspectHardware(this.name, this.address, signal);
  }

  async state(signal?: AbortSignal): Promise<DriveState> {
    // A burner a job holds (writing, or about to, or reading back) is not asked about its disc:
    // xorriso -toc would contend with the job for the drive. DRIVES and the metrics see it busy.
    const m: MediumStatus =
      (this.writingNow || this.holder !== undefined) && !this.mediumPath
        ? { missing: false, loaded: true, blank: false, bytes: 0n, sink: false }
        : await this.medium(signal);
    const s: DriveState = {
      name: this.name,
      address: this.address,
      busy: this.holder !== undefined || this.writingNow,
      loaded: m.loaded,
      blank: m.blank,
      missing: m.missing,
    };
    if (this.holder !== undefined) s.job = this.holder;
    if (m.vsn !== undefined) s.vsn = m.vsn;
    if (m.media !== undefined) s.media = m.media;
    return s;
  }

  /** Put a blank disc in (stand-in: a fresh empty file; hardware: close the tray and require a blank). */
  async loadBlank(signal?: AbortSignal): Promise<void> {
    if (this.writingNow) throw this.busyError();
    if (this.mediumPath) return loadBlankStandIn(this.name, this.mediumPath);
    return loadHardware(this.name, this.address, signal);
  }

  /**
   * Take the burned disc out. Stand-in: it moves to `<shelf>/<vsn>-<copy>.iso`
   * and that path is returned. Hardware: the tray opens, and the returned
   * string names the shelf slot the operator should put it in.
   * A `tag` (e.g. 'bad') shelves the disc apart, numbered: `<vsn>-<copy>.<tag>-<n>.iso`.
   * Nothing to shelve (empty drive, blank disc, a pipe) is NO_MEDIUM; a taken slot is SHELF_TAKEN.
   */
  async unload(vsn: string, copy: number, tag?: string, signal?: AbortSignal): Promise<string> {
    if (this.writingNow) throw this.busyError();
    if (this.mediumPath) return shelveStandIn(this.name, this.mediumPath, this.shelf!, vsn, copy, tag);
    await ejectHardware(this.name, this.address, signal);
    return `shelf:${vsn}-${copy}${tag ? `.${tag}` : ''}`;
  }

  /**
   * Stand-in: move the disc in the good slot of `vsn` copy `copy` on this
   * drive's shelf aside under `tag` (see setAsideShelved); its new path, or
   * null when the slot is empty. Hardware: null (the operator's shelf).
   */
  async setAsideShelved(vsn: string, copy: number, tag: string): Promise<string | null> {
    if (!this.shelf) return null;
    return setAsideShelved(this.shelf, vsn, copy, tag);
  }

  /** Throw the disc in the drive away (a ruined burn). Hardware: eject it. */
  async discard(signal?: AbortSignal): Promise<void> {
    if (this.writingNow) throw this.busyError();
    if (this.mediumPath) return discardStandIn(this.name, this.mediumPath);
    await ejectHardware(this.name, this.address, signal);
  }

  /** Refuses unless a blank disc (or a sink) is in a present drive. */
  async checkWritable(signal?: AbortSignal): Promise<MediumStatus> {
    const m = await this.medium(signal);
    if (m.missing) {
      throw this.mediumPath
        ? missing(this.name, this.mediumPath)
        : new DriveError('DRIVE_MISSING', `drive ${this.name} is missing: ${this.address} does not exist`, this.name);
    }
    if (!m.loaded) throw new DriveError('NO_MEDIUM', `drive ${this.name} has no disc: load a blank first`, this.name);
    if (!m.blank) {
      throw new DriveError(
        'NOT_BLANK',
        `drive ${this.name} holds a written, closed disc (${m.bytes} bytes${m.vsn ? `, volume ${m.vsn}` : ''}): write-once media cannot be written again`,
        this.name,
      );
    }
    return m;
  }

  /** Take the write lock; returns its release. One write per drive at a time. */
  beginWrite(): () => void {
    if (this.writingNow) throw this.busyError();
    this.writingNow = true;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.writingNow = false;
    };
  }

  /** After a complete burn: close the disc (stand-in: write-once, see stand-in-medium.ts). */
  async close(): Promise<WriteOnceEnforcement | 'disc'> {
    if (!this.mediumPath) return 'disc';
    const m = await inspectStandIn(this.mediumPath);
    if (m.sink || !m.loaded) return 'layer';
    const how = await closeStandIn(this.mediumPath);
    if (how === 'layer') {
      this.log.warn(
        'cannot make the burned stand-in disc immutable (needs root and chattr): write-once kept by the drive layer only',
        {
          drive: this.name,
          medium: this.mediumPath,
        },
      );
    }
    return how;
  }

  /** @internal the pool marks who holds the drive. */
  setHolder(job: string | undefined): void {
    this.holder = job;
  }

  private busyError(): DriveError {
    return new DriveError(
      'DRIVE_BUSY',
      `drive ${this.name} is writing${this.holder ? ` for job ${this.holder}` : ''}`,
      this.name,
    );
  }
}
