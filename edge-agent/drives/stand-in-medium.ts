/**
 * The medium of a stand-in drive: a directory-backed emulation of a burner
 * with an autoloader. The drive's address is `stdio:<dir>/<file>`; that file
 * is the disc in the drive. No file: the drive is empty. An empty file: a
 * blank disc. A written file: a burned disc. A FIFO: a sequential sink (a
 * pipe to some reader, always "blank"), used to provoke write errors.
 * The directory gone: the drive is missing.
 *
 * Write-once: a burned disc is closed by setting the ext4/tmpfs immutable
 * attribute (`chattr +i`, needs root / CAP_LINUX_IMMUTABLE). xorriso itself
 * then refuses a second burn: libburn cannot open the pseudo-drive for
 * writing ("Failed to open device (a pseudo-drive) : Operation not
 * permitted") and the medium stays as it was. Where chattr is not possible
 * (not root, a filesystem without the attribute) the medium is only made
 * mode 0444, which root ignores: write-once is then enforced by this layer
 * alone (a non-empty medium is refused with NOT_BLANK before xorriso runs;
 * that check applies in both cases).
 *
 * Unloading moves the disc onto the shelf as `<shelf>/<vsn>-<copy>.iso`
 * (never over an existing one), fsyncs both directories, and leaves the
 * shelved file read-only (mode 0444, not immutable, so a shelf can be
 * removed like any directory). A closed disc still in a drive is immutable:
 * use releaseWriteOnce() before removing a stand-in's directory wholesale.
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { DriveError } from './errors.js';

export interface MediumStatus {
  missing: boolean;
  loaded: boolean;
  blank: boolean;
  /** The bytes on the disc (0 for a blank or a sink). */
  bytes: bigint;
  /** The medium is a FIFO: a sequential sink that is always blank. */
  sink: boolean;
  /** The volume id of the ISO 9660 image on the disc, when there is one. */
  vsn?: string;
  /** The kind of disc in the drive, when one is in. */
  media?: string;
}

const PVD_OFFSET = 16 * 2048;

export function standInMediumPath(address: string): string {
  if (!address.startsWith('stdio:') || address.length <= 'stdio:'.length) {
    throw new TypeError(`a stand-in drive's address is stdio:/path/to/medium, not ${JSON.stringify(address)}`);
  }
  return address.slice('stdio:'.length);
}

export async function inspectStandIn(medium: string): Promise<MediumStatus> {
  const dir = path.dirname(medium);
  const none: MediumStatus = { missing: false, loaded: false, blank: false, bytes: 0n, sink: false };
  try {
    if (!(await fs.stat(dir)).isDirectory()) return { ...none, missing: true };
  } catch {
    return { ...none, missing: true };
  }
  let st: Awaited<ReturnType<typeof fs.stat>>;
  try {
    st = await fs.stat(medium);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return none;
    throw e;
  }
  if (st.isFIFO()) return { ...none, loaded: true, blank: true, sink: true, media: 'pipe' };
  const bytes = BigInt(st.size);
  if (bytes === 0n) return { ...none, loaded: true, blank: true, media: 'stand-in' };
  const vsn = await readVolumeId(medium);
  return { ...none, loaded: true, blank: false, bytes, media: 'stand-in', ...(vsn ? { vsn } : {}) };
}

/** The ISO 9660 volume id (primary volume descriptor, bytes 40..71), or undefined. */
export async function readVolumeId(file: string): Promise<string | undefined> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(72);
    const { bytesRead } = await fh.read(buf, 0, 72, PVD_OFFSET);
    if (bytesRead < 72 || buf[0] !== 1 || buf.toString('latin1', 1, 6) !== 'CD001') return undefined;
    const id = buf.toString('latin1', 40, 72).trim();
    return id || undefined;
  } finally {
    await fh.close();
  }
}

export async function loadBlankStandIn(drive: string, medium: string): Promise<void> {
  const status = await inspectStandIn(medium);
  if (status.missing) throw missing(drive, medium);
  if (status.loaded && status.blank) return;
  if (status.loaded) {
    throw new DriveError(
      'NOT_BLANK',
      `drive ${drive} holds a written disc (${status.bytes} bytes${status.vsn ? `, volume ${status.vsn}` : ''}): unload it first`,
      drive,
    );
  }
  const fh = await fs.open(medium, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsyncDir(path.dirname(medium));
}

export type WriteOnceEnforcement = 'immutable' | 'layer';

/** Close a burned disc: xorriso can no longer open it for writing (see the header). */
export async function closeStandIn(medium: string): Promise<WriteOnceEnforcement> {
  await fs.chmod(medium, 0o444);
  return (await setImmutable(medium, true)) ? 'immutable' : 'layer';
}

/** Whether the file carries the immutable attribute. */
export async function isImmutable(file: string): Promise<boolean> {
  const r = await execa('lsattr', ['-d', file], { reject: false });
  if (r.exitCode !== 0) return false;
  const flags = String(r.stdout).trim().split(/\s+/)[0] ?? '';
  return flags.includes('i');
}

export async function setImmutable(file: string, on: boolean): Promise<boolean> {
  const r = await execa('chattr', [on ? '+i' : '-i', file], { reject: false });
  return r.exitCode === 0;
}

/**
 * Clear the immutable attribute on everything under `dir` (closed discs still
 * in stand-in drives) so the tree can be removed. Errors are ignored.
 */
export async function releaseWriteOnce(dir: string): Promise<void> {
  await execa('chattr', ['-R', '-f', '-i', dir], { reject: false });
}

/** Move the disc in the drive onto the shelf; returns the shelved path. */
export async function shelveStandIn(
  drive: string,
  medium: string,
  shelf: string,
  vsn: string,
  copy: number,
  tag?: string,
): Promise<string> {
  for (const [what, v] of [
    ['VSN', vsn],
    ['shelf tag', tag],
  ] as const) {
    if (v !== undefined && (!/^[A-Za-z0-9._-]+$/.test(v) || v.startsWith('.'))) {
      throw new TypeError(`a ${what} for the shelf is letters, digits, '.', '_' and '-', not ${JSON.stringify(v)}`);
    }
  }
  if (!Number.isSafeInteger(copy) || copy < 0) throw new TypeError(`a copy number is a whole number, not ${copy}`);
  const status = await inspectStandIn(medium);
  if (status.missing) throw missing(drive, medium);
  if (!status.loaded) throw new DriveError('NO_MEDIUM', `drive ${drive} has no disc to unload`, drive);
  if (status.sink)
    throw new DriveError('NO_MEDIUM', `drive ${drive} writes to a pipe: there is no disc to unload`, drive);
  if (status.blank) throw new DriveError('NO_MEDIUM', `drive ${drive} holds a blank disc: nothing to shelve`, drive);
  await fs.mkdir(shelf, { recursive: true });
  const wasImmutable = await isImmutable(medium);
  if (wasImmutable) await setImmutable(medium, false);
  let target = '';
  // A good copy has one slot, <vsn>-<copy>.iso; tagged discs (e.g. 'bad') are numbered: <vsn>-<copy>.bad-1.iso, ...
  for (let n = 1; ; n++) {
    target = path.join(shelf, tag === undefined ? `${vsn}-${copy}.iso` : `${vsn}-${copy}.${tag}-${n}.iso`);
    try {
      await placeOnShelf(medium, target);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        if (wasImmutable) await setImmutable(medium, true);
        throw e;
      }
      if (tag === undefined) {
        if (wasImmutable) await setImmutable(medium, true);
        throw new DriveError('SHELF_TAKEN', `the shelf already holds ${target}: disc left in drive ${drive}`, drive);
      }
    }
  }
  await fs.chmod(target, 0o444);
  await fsyncDir(shelf);
  await fs.unlink(medium);
  await fsyncDir(path.dirname(medium));
  return target;
}

/**
 * Move the disc in a good copy's slot (`<shelf>/<vsn>-<copy>.iso`) aside to
 * `<vsn>-<copy>.<tag>-<n>.iso`, freeing the slot; returns its new path, or
 * null when the slot is empty. For a disc shelved by a run that stopped
 * before the catalog recorded it: the slot belongs to the copy that will be
 * recorded, and the unrecorded disc is kept, tagged, never overwritten.
 */
export async function setAsideShelved(shelf: string, vsn: string, copy: number, tag: string): Promise<string | null> {
  const slot = path.join(shelf, `${vsn}-${copy}.iso`);
  if (!(await fs.stat(slot).catch(() => null))) return null;
  for (let n = 1; ; n++) {
    const target = path.join(shelf, `${vsn}-${copy}.${tag}-${n}.iso`);
    try {
      await fs.link(slot, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    await fsyncDir(shelf);
    await fs.unlink(slot);
    await fsyncDir(shelf);
    return target;
  }
}

/** link() never replaces an existing name: a shelved disc is never overwritten (EEXIST). */
async function placeOnShelf(medium: string, target: string): Promise<void> {
  try {
    await fs.link(medium, target);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw e;
  }
  await fs.copyFile(medium, target, constants.COPYFILE_EXCL);
  const fh = await fs.open(target, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Throw the disc in the drive away (a ruined or unwanted disc). */
export async function discardStandIn(drive: string, medium: string): Promise<void> {
  const status = await inspectStandIn(medium);
  if (status.missing) throw missing(drive, medium);
  if (!status.loaded || status.sink) return;
  await setImmutable(medium, false);
  await fs.unlink(medium);
  await fsyncDir(path.dirname(medium));
}

export function missing(drive: string, medium: string): DriveError {
  return new DriveError(
    'DRIVE_MISSING',
    `drive ${drive} is missing: its directory ${path.dirname(medium)} does not exist`,
    drive,
  );
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
