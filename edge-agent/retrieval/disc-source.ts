/**
 * Loaded discs as sources: every drive (not being written) whose written disc
 * carries the volume's serial, read at the file's extents straight off the
 * medium (the stand-in's file, or the device). Reads only; a short or failing
 * read is damage.
 */
import fs, { type FileHandle } from 'node:fs/promises';
import type { Logger } from '../../clients/oncrpc/index.js';
import type { Extent } from '../catalog/catalog.js';
import type { Drive, DrivePool } from '../drives/drive-pool.js';
import { byteRanges, type Source, SourceFailure } from './source.js';

const CHUNK = 1024 * 1024;

/** Drives holding a written disc, by VSN (drives being written, and hardware drives a job holds, left alone). */
export async function loadedDiscs(pool: DrivePool, log: Logger): Promise<Map<string, Drive[]>> {
  const out = new Map<string, Drive[]>();
  for (const d of pool.all()) {
    // a burner being written is never read; a hardware one a job holds is not asked either (xorriso
    // would contend with the job), while a stand-in's closed disc can be read beside a job's reads
    if (d.writing || (d.job !== undefined && d.kind === 'hardware')) continue;
    try {
      const m = await d.medium();
      if (m.missing || !m.loaded || m.blank || !m.vsn) continue;
      out.set(m.vsn, [...(out.get(m.vsn) ?? []), d]);
    } catch (e) {
      log.warn('a drive could not be asked for its disc', { drive: d.name, error: (e as Error).message });
    }
  }
  return out;
}

export async function discSource(drive: Drive): Promise<Source> {
  const medium = drive.mediumPath ?? drive.address;
  let key = `disc:${drive.name}`;
  if (drive.mediumPath) {
    const st = await fs.stat(drive.mediumPath).catch(() => undefined);
    if (st) key += `:${st.ino}:${st.size}:${st.mtimeMs}`;
  }
  return {
    kind: 'disc',
    name: `disc ${drive.name}`,
    key,
    drive: drive.name,
    read: (extents, onData, signal) => readExtents(drive.name, medium, extents, onData, signal),
  };
}

async function readExtents(
  driveName: string,
  medium: string,
  extents: readonly Extent[],
  onData: (chunk: Buffer) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await fs.open(medium, 'r');
  } catch (e) {
    throw new SourceFailure('unreachable', `the disc in ${driveName} cannot be opened: ${(e as Error).message}`, {
      cause: e,
    });
  }
  try {
    for (const r of byteRanges(extents)) {
      let done = 0;
      while (done < r.length) {
        if (signal.aborted) throw new SourceFailure('aborted', 'the read was stopped');
        const want = Math.min(CHUNK, r.length - done);
        const buf = Buffer.allocUnsafe(want);
        let got: number;
        try {
          got = (await fh.read(buf, 0, want, r.offset + done)).bytesRead;
        } catch (e) {
          throw new SourceFailure(
            'damaged',
            `the disc in ${driveName} failed a read at byte ${r.offset + done}: ${(e as Error).message}`,
            { cause: e },
          );
        }
        if (got === 0) {
          throw new SourceFailure(
            'damaged',
            `the disc in ${driveName} ends at byte ${r.offset + done}, inside the file`,
          );
        }
        done += got;
        await onData(buf.subarray(0, got));
      }
    }
  } finally {
    await fh.close();
  }
}
