/**
 * Fetching one file into the cache: each source in turn streams the file's
 * extents into `<token>.part` while hashing; only bytes whose count and
 * SHA-256 match the catalog are renamed to `<token>` (fsynced). A source that
 * gives wrong bytes or fails a read is reported (`onFault`) and the next one
 * is tried. The outcome says whether the file is ready, whether every source
 * failed its check, or whether some source could not be reached now.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ArchivedFile } from './archived-files.js';
import { type Source, SourceFailure } from './source.js';

export type FetchOutcome =
  | { kind: 'ready'; source: Source }
  /** Every source tried (now or before) failed its check, and none was out of reach. */
  | { kind: 'corrupt' }
  /** Nothing was fetched and something could not be reached: `why` in words. */
  | { kind: 'unreachable'; why: string };

export interface FetchJob {
  file: ArchivedFile;
  /** In order: loaded discs, then the cloud copy. */
  sources: Source[];
  /** Sources that exist but cannot be reached now, in words. */
  unreachable: string[];
  /** Source keys that already failed their check for this request (not tried again). */
  failedBefore: Set<string>;
  partPath: string;
  readyPath: string;
  signal: AbortSignal;
  /** Bytes of the current attempt written so far. */
  onProgress(bytes: number): void;
  /** A source failed its check (`checksum`) or a read: `detail` says how. */
  onFault(source: Source, detail: string, kind: 'checksum' | 'read'): void;
}

export async function fetchFile(job: FetchJob): Promise<FetchOutcome> {
  const unreachable = [...job.unreachable];
  let tried = job.failedBefore.size;
  for (const source of job.sources) {
    if (job.failedBefore.has(source.key)) continue;
    tried++;
    try {
      const digest = await copyInto(job, source);
      if (digest.bytes === job.file.size && digest.sha256.equals(job.file.sha256)) {
        await fs.rename(job.partPath, job.readyPath);
        await syncDir(path.dirname(job.readyPath));
        return { kind: 'ready', source };
      }
      await fs.rm(job.partPath, { force: true });
      job.failedBefore.add(source.key);
      job.onFault(
        source,
        digest.bytes === job.file.size
          ? `SHA-256 ${digest.sha256.toString('hex')} instead of ${job.file.sha256.toString('hex')}`
          : `${digest.bytes} bytes instead of ${job.file.size}`,
        'checksum',
      );
    } catch (e) {
      await fs.rm(job.partPath, { force: true });
      if (!(e instanceof SourceFailure)) throw e; // the cache area itself failed: the caller's business
      if (e.kind === 'aborted') throw e;
      if (e.kind === 'unreachable') {
        tried--;
        unreachable.push(e.message);
        continue;
      }
      job.failedBefore.add(source.key);
      job.onFault(source, e.message, 'read');
    }
  }
  if (unreachable.length > 0 || tried === 0) {
    return { kind: 'unreachable', why: unreachable.join('; ') || 'no source of the file is known' };
  }
  return { kind: 'corrupt' };
}

/** Bytes gathered before one write to the .part file (a network source hands over ~100 KiB at a time). */
const WRITE_BATCH = 1024 * 1024;

async function copyInto(job: FetchJob, source: Source): Promise<{ bytes: number; sha256: Buffer }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const fh = await fs.open(job.partPath, 'w', 0o600);
  const flush = async () => {
    if (pendingBytes === 0) return;
    const batch = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    let off = 0;
    while (off < batch.length) off += (await fh.write(batch, off, batch.length - off)).bytesWritten;
  };
  try {
    await source.read(
      job.file.extents ?? [],
      async (chunk) => {
        // never more than the file: a source that runs on is wrong, and the cache budget holds
        if (bytes + chunk.length > job.file.size)
          throw new SourceFailure('damaged', `${source.name} gave more bytes than the file has`);
        hash.update(chunk);
        pending.push(chunk);
        pendingBytes += chunk.length;
        bytes += chunk.length;
        if (pendingBytes >= WRITE_BATCH) await flush();
        job.onProgress(bytes);
      },
      job.signal,
    );
    await flush();
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { bytes, sha256: hash.digest() };
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
