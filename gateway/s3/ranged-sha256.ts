/**
 * SHA-256 of `size` bytes read as consecutive ranges, `concurrency` ranges in flight,
 * hashed strictly in order. A sliding window: range i+concurrency is asked for only once
 * range i has been hashed, so at most `concurrency` ranges (about concurrency × rangeBytes
 * bytes) are held at once, however large the object. The first failure stops the window:
 * the ranges still in flight are aborted and their errors swallowed, and that failure
 * (or the caller's abort reason) is what rejects.
 */
import { createHash } from 'node:crypto';

export interface RangedSha256Options {
  size: number;
  rangeBytes: number;
  concurrency: number;
  /**
   * Fetch bytes start..end inclusive; must resolve with exactly end - start + 1 bytes,
   * whole or as the chunks they arrived in (hashed in turn: no copy into one array).
   */
  fetchRange: (start: number, end: number, signal: AbortSignal) => Promise<Uint8Array | Uint8Array[]>;
  signal?: AbortSignal;
  onProgress?: (bytesHashed: number) => void;
}

export async function rangedSha256(o: RangedSha256Options): Promise<string> {
  if (!(Number.isSafeInteger(o.size) && o.size >= 0)) throw new RangeError(`bad size ${o.size}`);
  if (!(Number.isSafeInteger(o.rangeBytes) && o.rangeBytes > 0)) throw new RangeError(`bad rangeBytes ${o.rangeBytes}`);
  if (!(Number.isSafeInteger(o.concurrency) && o.concurrency > 0)) {
    throw new RangeError(`bad concurrency ${o.concurrency}`);
  }
  o.signal?.throwIfAborted();
  const hash = createHash('sha256');
  const ranges = Math.ceil(o.size / o.rangeBytes);
  const stop = new AbortController();
  const onAbort = () => stop.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const window: Promise<Uint8Array[]>[] = [];
  let next = 0;
  const launch = () => {
    const start = next * o.rangeBytes;
    const end = Math.min(o.size, start + o.rangeBytes) - 1;
    next++;
    const p = o.fetchRange(start, end, stop.signal).then((got) => {
      const chunks = Array.isArray(got) ? got : [got];
      const length = chunks.reduce((n, c) => n + c.length, 0);
      if (length !== end - start + 1) {
        throw new Error(`range ${start}-${end}: got ${length} bytes, expected ${end - start + 1}`);
      }
      return chunks;
    });
    p.catch(() => {}); // a failure is seen when its turn comes, or dropped once another has failed
    window.push(p);
  };
  try {
    while (next < ranges && window.length < o.concurrency) launch();
    let hashed = 0;
    while (window.length > 0) {
      for (const chunk of await window.shift()!) {
        hash.update(chunk);
        hashed += chunk.length;
      }
      o.onProgress?.(hashed);
      if (next < ranges) launch();
    }
    return hash.digest('hex');
  } catch (err) {
    if (!stop.signal.aborted) stop.abort(err);
    if (o.signal?.aborted) throw o.signal.reason;
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}
