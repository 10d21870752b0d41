/**
 * `GET /metrics`: the gateway's Prometheus metrics (text format 0.0.4), when
 * gateway.metrics.enabled (404 otherwise). Who may scrape is who may use the
 * operator API (agent-commands.ts authorizeAdmin): the admin bearer token when
 * one is set, else the loopback address only.
 *
 * Stateless like every handler: each scrape counts the store's rows
 * (GatewayStore.counts(), one transaction), so every instance answers the
 * same and nothing is lost when one restarts. Every state a table can hold
 * is reported (0 when no row has it), so a series never vanishes. The process
 * metrics are this instance's.
 */
import { agentVersion, processFamilies } from '../../edge-agent/metrics/collector.js';
import {
  EXPOSITION_CONTENT_TYPE,
  type MetricFamily,
  render,
  type Sample,
} from '../../edge-agent/metrics/exposition.js';
import type { GatewayCounts } from '../store/gateway-store.js';
import { authorizeAdmin } from './agent-commands.js';
import { type HandlerDeps, type HandlerResult, type HttpEvent, settingsOf } from './events.js';

const AGENT_STATES = ['active', 'revoked', 'expired'] as const;
const UPLOAD_STATES = ['open', 'done', 'failed', 'aborted'] as const;
const COMMAND_STATES = ['sent', 'undelivered', 'ok', 'failed'] as const;

function gauge(name: string, help: string, samples: Sample[]): MetricFamily {
  return { name, help, type: 'gauge', samples };
}

function counter(name: string, help: string, value: number): MetricFamily {
  return { name, help, type: 'counter', samples: [{ value }] };
}

function byState(known: readonly string[], counts: Record<string, number>): Sample[] {
  const states = [...known, ...Object.keys(counts).filter((s) => !known.includes(s))];
  return states.map((state) => ({ labels: { state }, value: counts[state] ?? 0 }));
}

/** The gateway's metric families for these counts. */
export function gatewayFamilies(c: GatewayCounts): MetricFamily[] {
  return [
    gauge(
      'optarc_gateway_agents',
      'Agents the gateway issued tokens to, by state (active, revoked, expired).',
      byState(AGENT_STATES, c.agents),
    ),
    gauge('optarc_gateway_agents_paused', 'Unrevoked agents an operator paused.', [{ value: c.pausedAgents }]),
    gauge('optarc_gateway_agents_throttled', 'Unrevoked agents with an operator upload limit.', [
      { value: c.throttledAgents },
    ]),
    gauge('optarc_gateway_connections', 'Live websocket connections of agents.', [{ value: c.connections }]),
    gauge('optarc_gateway_connected_agents', 'Agents with at least one live connection.', [
      { value: c.connectedAgents },
    ]),
    gauge('optarc_gateway_sessions', 'Agent sessions the gateway keeps (they outlive connections).', [
      { value: c.sessions },
    ]),
    gauge(
      'optarc_gateway_uploads',
      'Multipart uploads the gateway began, by state.',
      byState(UPLOAD_STATES, c.uploads),
    ),
    counter('optarc_gateway_mirrors_total', 'Volume mirrors acknowledged (image and manifest checked).', c.mirrors),
    counter('optarc_gateway_mirrored_bytes_total', 'Image bytes of the acknowledged mirrors.', c.mirroredBytes),
    gauge(
      'optarc_gateway_commands',
      'Operator commands sent to agents, by state (sent, undelivered, ok, failed).',
      byState(COMMAND_STATES, c.commands),
    ),
    counter(
      'optarc_gateway_fixity_failures_total',
      'Failed fixity checks agents reported (a cloud image or a disc that no longer hashes to its SHA-256).',
      c.fixity.failuresTotal,
    ),
    gauge('optarc_gateway_fixity_failing', 'Targets (cloud images, discs) whose latest reported fixity check failed.', [
      { value: c.fixity.failing },
    ]),
    gauge('optarc_gateway_fixity_targets', 'Targets (cloud images, discs) with a reported fixity check.', [
      { value: c.fixity.targets },
    ]),
  ];
}

export async function gatewayMetricsHandler(event: HttpEvent, deps: HandlerDeps): Promise<HandlerResult> {
  if (!settingsOf(deps).metrics?.enabled)
    return { statusCode: 404, headers: { 'content-type': 'text/plain' }, body: 'not found\n' };
  const refused = authorizeAdmin(event, deps);
  if (refused) return refused;
  const families = [
    ...gatewayFamilies(deps.store.counts((deps.now ?? Date.now)())),
    gauge('optarc_gateway_store_version', 'Schema version of the gateway store (migrations applied).', [
      { value: deps.store.version() },
    ]),
    gauge('optarc_build_info', 'The running gateway; always 1.', [
      { labels: { version: agentVersion(), component: 'gateway' }, value: 1 },
    ]),
    ...processFamilies(),
  ];
  return {
    statusCode: 200,
    headers: { 'content-type': EXPOSITION_CONTENT_TYPE, 'cache-control': 'no-store' },
    body: render(families),
  };
}
