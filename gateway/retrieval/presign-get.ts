/**
 * `presign.get`: an agent reading its own site's objects. The agent holds no
 * cloud credentials; for a retrieval (one file's byte ranges inside a volume's
 * image), a re-burn (the whole image in chunks) or a fixity pass (the image,
 * to hash it) it asks here, and gets one presigned GET per range with the
 * Range header signed into it, so each URL serves exactly that range. Only
 * keys under the session's site are signed (FORBIDDEN_KEY otherwise); a range
 * past the object's end is S3's to refuse (416), which the agent reports.
 */

import type { HandlerDeps } from '../handlers/events.js';
import { HandlerError } from '../handlers/handler-error.js';
import {
  type AgentMessage,
  type GatewayMessage,
  keyIsUnderSite,
  PROTOCOL_VERSION,
} from '../protocol/session-messages.js';
import type { SessionRow } from '../store/gateway-store.js';

/** How long a presigned read stays valid. */
export const LINK_SECONDS = 3600;

export async function presignGet(
  m: Extract<AgentMessage, { type: 'presign.get' }>,
  session: SessionRow,
  deps: HandlerDeps,
): Promise<GatewayMessage> {
  if (!deps.objects) throw new HandlerError('S3_NOT_CONFIGURED', 'this gateway has no bucket configured');
  if (!keyIsUnderSite(m.key, session.site)) {
    throw new HandlerError('FORBIDDEN_KEY', `${m.key} is not under this agent's site (sites/${session.site}/)`);
  }
  const objects = deps.objects;
  const now = (deps.now ?? Date.now)();
  const ranges = await Promise.all(
    m.ranges.map(async (r) => ({
      offset: r.offset,
      length: r.length,
      url: await objects.presignRangeGet(m.key, {
        ...(m.versionId ? { versionId: m.versionId } : {}),
        start: r.offset,
        end: r.offset + r.length - 1,
        seconds: LINK_SECONDS,
      }),
    })),
  );
  deps.log?.info('presigned reads', { site: session.site, key: m.key, ranges: ranges.length, purpose: m.purpose });
  return {
    v: PROTOCOL_VERSION,
    type: 'links',
    replyTo: m.id,
    key: m.key,
    ranges,
    expiresAt: new Date(now + LINK_SECONDS * 1000).toISOString(),
  };
}
