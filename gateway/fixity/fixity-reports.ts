/**
 * `fixity.report`: the outcome of an agent's fixity checks. Each result is
 * kept in the gateway store as the latest check of its (site, VSN, target)
 * unless a newer one is held (store: recordFixity), so the search API and page
 * show it; every newly received failure is a warning in the gateway's log
 * naming the site, VSN, target, the agent's detail and the remedy the
 * operator can send, and counts in optarc_gateway_fixity_failures_total.
 */
import type { HandlerDeps } from '../handlers/events.js';
import type { AgentMessage } from '../protocol/session-messages.js';
import type { FixityRow, SessionRow } from '../store/gateway-store.js';

export function recordFixity(
  m: Extract<AgentMessage, { type: 'fixity.report' }>,
  session: SessionRow,
  deps: HandlerDeps,
): void {
  const rows: FixityRow[] = m.results.map((r) => ({
    site: session.site,
    vsn: r.vsn,
    target: r.target,
    ok: r.ok,
    checkedAt: Date.parse(r.checkedAt),
    bytes: r.bytes,
    detail: r.detail,
    agentId: session.agentId,
  }));
  const kept = deps.store.recordFixity(rows, (deps.now ?? Date.now)());
  for (const r of kept) {
    if (r.ok) continue;
    const remedy =
      r.target === 'cloud'
        ? `the cloud image is damaged: check the discs (optarc-gateway command ${session.agentId} verify ${r.vsn}) and re-make it from a sound one`
        : `re-burn it from the cloud: optarc-gateway command ${session.agentId} reburn ${r.vsn}`;
    deps.log?.warn('fixity check FAILED', {
      site: r.site,
      agent: r.agentId,
      vsn: r.vsn,
      target: r.target,
      checkedAt: new Date(r.checkedAt).toISOString(),
      detail: r.detail,
      remedy,
    });
  }
  if (kept.length > 0) {
    deps.log?.info('fixity reported', {
      site: session.site,
      checks: kept.length,
      failed: kept.filter((r) => !r.ok).length,
    });
  }
}
