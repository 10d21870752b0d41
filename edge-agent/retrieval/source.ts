/**
 * What a source of a retrieved file is (a loaded disc, the cloud copy) and how
 * it fails: `damaged` (it gave bytes that cannot be right, or an I/O error:
 * the damage is recorded and the next source is tried) or `unreachable` (not
 * there now: gateway down, disc taken out; tried again later).
 */
import type { Extent } from '../catalog/catalog.js';

export interface Source {
  kind: 'disc' | 'cloud';
  /** In words, for the retrieval's `source`: "disc sr0", "cloud". */
  name: string;
  /** Tells this source apart across one request's retries (a disc reloaded is another source). */
  key: string;
  /** The drive, for a disc. */
  drive?: string;
  /** Reads the extents in order, handing every chunk to `onData`. */
  read(extents: readonly Extent[], onData: (chunk: Buffer) => Promise<void>, signal: AbortSignal): Promise<void>;
}

export class SourceFailure extends Error {
  constructor(
    readonly kind: 'damaged' | 'unreachable' | 'aborted',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SourceFailure';
  }
}

/** Extents with bytes in them, as numbers (image offsets are well below 2^53). */
export function byteRanges(extents: readonly Extent[]): { offset: number; length: number }[] {
  return extents.filter((e) => e.length > 0n).map((e) => ({ offset: Number(e.offset), length: Number(e.length) }));
}
