/**
 * Hashing an image for fixity: SHA-256 over exactly the image's bytes, read
 * from a disc (a stand-in medium file or the drive's device: a burned disc is
 * padded past the image, so only the image's own length counts) or from the
 * cloud object (presigned ranged GETs through the gateway, chunk by chunk, in
 * order). Each answers the digest and the bytes read; a short read is a
 * result (`bytes` < the image's), not an exception, because it is itself a
 * fixity finding. Reads stop when `signal` aborts (FixityAbort).
 */
import { createHash } from 'node:crypto';
import type { ByteRange, CloudObject, CloudReader } from '../cloud/cloud-reader.js';
import { hashMedium, type MediumDigest } from '../drives/verify-copy.js';

/** The pass was stopped while hashing (the target stays unchecked). */
export class FixityAbort extends Error {
  constructor() {
    super('the fixity pass was stopped');
    this.name = 'FixityAbort';
  }
}

export interface ImageDigest {
  sha256: Buffer;
  bytes: bigint;
  /** Why fewer bytes than asked were read (a read error, the disc's end). */
  problem?: string;
}

/** Ranged GETs of this size (the last may be shorter). */
export const CLOUD_CHUNK_BYTES = 64 * 1024 * 1024;
/** Chunks presigned at once (links stay valid an hour: a batch is read well within that). */
const PRESIGN_BATCH = 4;

/** SHA-256 of the first `bytes` bytes of a file or device (drives/verify-copy.ts hashMedium). */
export async function hashLocal(file: string, bytes: bigint, signal: AbortSignal): Promise<ImageDigest> {
  let d: MediumDigest;
  try {
    d = await hashMedium(file, bytes, { signal });
  } catch (e) {
    if (signal.aborted) throw new FixityAbort();
    throw e;
  }
  const problem =
    d.error !== undefined
      ? `read error at byte ${d.bytesRead}: ${d.error}`
      : d.bytesRead < bytes
        ? `the disc ends after ${d.bytesRead} of the image's ${bytes} bytes`
        : undefined;
  return { sha256: d.sha256, bytes: d.bytesRead, ...(problem ? { problem } : {}) };
}

/** The ranges covering `bytes` bytes in chunks of `chunk`. */
export function chunkRanges(bytes: number, chunk: number): ByteRange[] {
  const out: ByteRange[] = [];
  for (let offset = 0; offset < bytes; offset += chunk) out.push({ offset, length: Math.min(chunk, bytes - offset) });
  return out;
}

/**
 * SHA-256 of the cloud object's first `bytes` bytes, read in order. CloudErrors
 * propagate (the caller decides which are findings and which mean "try later").
 */
export async function hashCloud(
  cloud: CloudReader,
  object: CloudObject,
  bytes: number,
  signal: AbortSignal,
  chunk = CLOUD_CHUNK_BYTES,
): Promise<ImageDigest> {
  const hash = createHash('sha256');
  let read = 0n;
  const ranges = chunkRanges(bytes, chunk);
  for (let i = 0; i < ranges.length; i += PRESIGN_BATCH) {
    if (signal.aborted) throw new FixityAbort();
    const signed = await untilAborted(cloud.presign(object, ranges.slice(i, i + PRESIGN_BATCH), 'fixity'), signal);
    for (const r of signed) {
      if (signal.aborted) throw new FixityAbort();
      try {
        read += BigInt(
          await cloud.fetch(
            r,
            (b) => {
              hash.update(b);
            },
            signal,
          ),
        );
      } catch (e) {
        if (signal.aborted) throw new FixityAbort();
        throw e;
      }
    }
  }
  return { sha256: hash.digest(), bytes: read };
}

/** `p`, or FixityAbort as soon as `signal` aborts (the gateway may not answer for minutes). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new FixityAbort());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new FixityAbort());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
