/**
 * Restore links: for one indexed file, presigned GETs of exactly its bytes
 * inside the image object (one per extent; a file over 4 GiB has several in
 * ISO 9660), each to be sent with its Range header, which is signed. Plus a
 * shell command that fetches them in order into the file's base name, for
 * people with only curl.
 */
import path from 'node:path';
import type { ObjectStore } from '../s3/object-store.js';
import type { FileHit } from './search-index.js';

export interface RestoreLinks {
  expiresAt: string;
  ranges: { url: string; range: string; offset: number; length: number }[];
  curl: string;
}

export async function restoreLinks(
  objects: ObjectStore,
  hit: FileHit,
  o: { seconds: number; now: number },
): Promise<RestoreLinks> {
  const filename = path.posix.basename(hit.path);
  const ranges = await Promise.all(
    hit.extents
      .filter((e) => e.length > 0)
      .map(async (e) => {
        const end = e.offset + e.length - 1;
        const url = await objects.presignRangeGet(hit.key, {
          versionId: hit.versionId,
          start: e.offset,
          end,
          seconds: o.seconds,
          filename,
        });
        return { url, range: `bytes=${e.offset}-${end}`, offset: e.offset, length: e.length };
      }),
  );
  const out = shellQuote(filename);
  const fetches = ranges.map((r) => `curl -fsS -H ${shellQuote(`Range: ${r.range}`)} ${shellQuote(r.url)}`);
  const curl =
    fetches.length === 0
      ? `: > ${out}`
      : fetches.length === 1
        ? `${fetches[0]} -o ${out}`
        : `{ ${fetches.join(' && ')}; } > ${out}`;
  return { expiresAt: new Date(o.now + o.seconds * 1000).toISOString(), ranges, curl };
}

/** `s` as one POSIX shell word. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
