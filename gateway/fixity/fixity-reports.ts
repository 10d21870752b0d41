/**
 * `fixity.report`: the outcome of an agent's fixity checks. (Stub: the fixity
 * work records them in the gateway store, shows them on the search page and
 * alerts on a failure.)
 */
import type { HandlerDeps } from '../handlers/events.js';
import type { AgentMessage } from '../protocol/session-messages.js';
import type { SessionRow } from '../store/gateway-store.js';

export function recordFixity(
  m: Extract<AgentMessage, { type: 'fixity.report' }>,
  session: SessionRow,
  deps: HandlerDeps,
): void {
  for (const r of m.results) {
    if (!r.ok)
      deps.log?.warn('fixity check failed', { site: session.site, vsn: r.vsn, target: r.target, detail: r.detail });
  }
}
