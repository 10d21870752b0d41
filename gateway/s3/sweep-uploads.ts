/**
 * The sweeper: multipart uploads that an agent started and never finished hold their
 * parts' bytes in the bucket (billed, invisible to listings) until someone aborts them.
 * sweepAbandonedUploads aborts every upload under a prefix initiated more than
 * `olderThanMs` ago, except those `isActive` says a session still uses (a huge image on
 * a slow line may legitimately take longer). Age is measured from S3's own `Initiated`
 * time against `now()`. Aborts run one at a time and are idempotent, so a sweep that
 * fails half-way (S3_UNAVAILABLE) is simply run again.
 */
import type { ObjectStore } from './object-store.js';

export interface SweepOptions {
  prefix: string;
  olderThanMs: number;
  now?: () => number;
  isActive?: (uploadId: string) => boolean;
}

export interface SweepResult {
  aborted: { key: string; uploadId: string }[];
  /** Uploads under the prefix left alone: too young, or still in use. */
  kept: number;
}

export async function sweepAbandonedUploads(objects: ObjectStore, o: SweepOptions): Promise<SweepResult> {
  const now = (o.now ?? Date.now)();
  const aborted: SweepResult['aborted'] = [];
  let kept = 0;
  for (const u of await objects.listUploads(o.prefix)) {
    const old = now - u.initiated.getTime() > o.olderThanMs;
    if (!old || o.isActive?.(u.uploadId)) {
      kept++;
      continue;
    }
    await objects.abort(u.key, u.uploadId);
    aborted.push({ key: u.key, uploadId: u.uploadId });
  }
  return { aborted, kept };
}
