/**
 * The sweeper: aborts multipart uploads agents abandoned. An upload is
 * abandoned when S3 started it more than gateway.mirror.abandonAfterSeconds
 * ago and the store saw no activity on it (begin, plan, progress) for as
 * long; its row becomes `aborted`, so a later mirror.begin starts afresh.
 * Uploads S3 holds that the store does not know are abandoned by definition.
 * Run every sweepEverySeconds by `optarc-gateway serve`, once by
 * `optarc-gateway sweep`, and on a schedule in the cloud (infra/aws).
 */
import { siteKeyPrefix } from '../identity/agent-tokens.js';
import { sweepAbandonedUploads } from '../s3/sweep-uploads.js';
import { type HandlerDeps, settingsOf } from './events.js';

export async function runSweep(deps: HandlerDeps): Promise<{ aborted: number; kept: number }> {
  if (!deps.objects) return { aborted: 0, kept: 0 };
  const now = (deps.now ?? Date.now)();
  const olderThanMs = settingsOf(deps).mirror.abandonAfterSeconds * 1000;
  const prefix = siteKeyPrefix('x').slice(0, 'sites/'.length); // every site
  const result = await sweepAbandonedUploads(deps.objects, {
    prefix,
    olderThanMs,
    now: () => now,
    isActive: (uploadId) => {
      const u = deps.store.upload(uploadId);
      return u !== undefined && u.state === 'open' && now - u.updatedAt <= olderThanMs;
    },
  });
  for (const a of result.aborted) {
    const u = deps.store.upload(a.uploadId);
    if (u?.state === 'open') deps.store.setUploadState(a.uploadId, 'aborted', now, 'abandoned: aborted by the sweeper');
  }
  deps.log?.info('sweep', { aborted: result.aborted.length, kept: result.kept });
  return { aborted: result.aborted.length, kept: result.kept };
}
