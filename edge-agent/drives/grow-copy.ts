/**
 * APPEND on a disc that already holds a volume: the volume's image has grown
 * by a session (mastered once, see mastering's `base` option), and each copy
 * is brought to the grown image without being written again from the start.
 *
 * How depends on the medium, and that difference lives here:
 * - overwriteable media (a stand-in `stdio:` file, as xorriso itself calls it,
 *   or DVD+RW/BD-RE): xorriso's multi-session emulation rewrites LBA 0–31 (the
 *   emulated table of contents pointing at the newest session) and writes the
 *   new session after the old one. So the copy gets exactly those two byte
 *   ranges of the grown image; everything else on it is already identical
 *   (it was verified against the previous image);
 * - sequential write-once media (DVD-R, BD-R) would take only the new session
 *   at their next writable address, and only if they were left open; that is
 *   not supported here yet and is refused with a clear error.
 *
 * A shelved stand-in disc is first put back in the drive (as an operator
 * would), grown, and later shelved again by the caller.
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import type { Drive } from './drive.js';
import { DriveError } from './errors.js';
import { setImmutable } from './stand-in-medium.js';

/** The ranges of a grown image a copy of the previous image lacks. */
export interface GrowRange {
  offset: bigint;
  length: bigint;
}

/** Puts a shelved stand-in disc into an empty drive (or one holding a blank). */
export async function loadFromShelf(drive: Drive, shelved: string): Promise<void> {
  if (drive.kind !== 'stand-in' || !drive.mediumPath) {
    throw new DriveError(
      'NO_MEDIUM',
      `drive ${drive.name} is a real drive: put disc ${shelved} in it by hand`,
      drive.name,
    );
  }
  const m = await drive.medium();
  if (m.missing) throw new DriveError('DRIVE_MISSING', `drive ${drive.name} is missing`, drive.name);
  if (m.loaded && !m.blank) {
    throw new DriveError('NOT_BLANK', `drive ${drive.name} already holds a written disc: unload it first`, drive.name);
  }
  if (m.loaded) await fs.rm(drive.mediumPath, { force: true });
  await setImmutable(shelved, false);
  await fs.rename(shelved, drive.mediumPath);
}

/** Writes the ranges of the grown image onto the disc in the drive, in place. */
export async function growCopy(drive: Drive, grownImage: string, ranges: GrowRange[]): Promise<void> {
  if (drive.kind !== 'stand-in' || !drive.mediumPath) {
    throw new DriveError(
      'WRITE_FAILED',
      `drive ${drive.name}: appending a session to sequential media (DVD-R, BD-R) is not supported yet: burn a NEW volume`,
      drive.name,
    );
  }
  const release = drive.beginWrite();
  const source = await fs.open(grownImage, 'r');
  let target: fs.FileHandle | undefined;
  try {
    await setImmutable(drive.mediumPath, false);
    await fs.chmod(drive.mediumPath, 0o644);
    target = await fs.open(drive.mediumPath, constants.O_RDWR);
    const buf = Buffer.allocUnsafe(1 << 20);
    for (const r of ranges) {
      let done = 0n;
      while (done < r.length) {
        const n = Number(r.length - done < BigInt(buf.length) ? r.length - done : BigInt(buf.length));
        const { bytesRead } = await source.read(buf, 0, n, Number(r.offset + done));
        if (bytesRead !== n) {
          throw new DriveError('WRITE_FAILED', `the grown image ${grownImage} ended early`, drive.name);
        }
        await target.write(buf, 0, n, Number(r.offset + done));
        done += BigInt(n);
      }
    }
    await target.sync();
  } catch (e) {
    if (e instanceof DriveError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new DriveError(
      code === 'ENOSPC' ? 'NO_SPACE' : 'WRITE_FAILED',
      `drive ${drive.name}: appending failed: ${(e as Error).message}`,
      drive.name,
    );
  } finally {
    await target?.close();
    await source.close();
    release();
  }
}
