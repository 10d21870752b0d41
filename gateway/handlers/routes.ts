/**
 * Which handler answers which route: the one table the local host
 * (host/local-host.ts) and the cloud deployment (infra/aws/, gateway/lambda.ts)
 * both read, so a route cannot exist in one and not the other.
 *
 * Websocket routes are API Gateway's route keys. HTTP routes are
 * `METHOD /path`, where a `{name}` segment matches one path segment and is
 * passed in `event.pathParameters.name` (API Gateway HTTP API syntax).
 */
import { getAgentCommandHandler, postAgentCommandHandler } from './agent-commands.js';
import { connectHandler } from './connect.js';
import { disconnectHandler } from './disconnect.js';
import type { HttpHandler, WebSocketHandler } from './events.js';
import { gatewayMetricsHandler } from './gateway-metrics.js';
import { healthHandler } from './health.js';
import { messageHandler } from './message.js';
import { findFilesHandler, getVolumeHandler, listVolumesHandler, openapiHandler } from './search-api.js';
import { SEARCH_PAGE_ROUTES } from './search-page.js';

export const WEBSOCKET_ROUTES: Readonly<Record<'$connect' | '$disconnect' | '$default', WebSocketHandler>> = {
  $connect: connectHandler,
  $disconnect: disconnectHandler,
  $default: messageHandler,
};

export const HTTP_ROUTES: Readonly<Record<string, HttpHandler>> = {
  'GET /healthz': healthHandler,
  'GET /metrics': gatewayMetricsHandler,
  'POST /agents/{agentId}/commands': postAgentCommandHandler,
  'GET /agents/{agentId}/commands/{commandId}': getAgentCommandHandler,
  'GET /api/v1/files': findFilesHandler,
  'GET /api/v1/volumes': listVolumesHandler,
  'GET /api/v1/volumes/{site}/{vsn}': getVolumeHandler,
  'GET /api/v1/openapi.json': openapiHandler,
  ...SEARCH_PAGE_ROUTES,
};

/** The HTTP route matching `method` and `rawPath`, with its path parameters. */
export function matchHttpRoute(
  method: string,
  rawPath: string,
): { routeKey: string; handler: HttpHandler; pathParameters: Record<string, string> } | undefined {
  const segments = rawPath.split('/');
  for (const [routeKey, handler] of Object.entries(HTTP_ROUTES)) {
    const [m, template] = routeKey.split(' ') as [string, string];
    if (m !== method) continue;
    const want = template.split('/');
    if (want.length !== segments.length) continue;
    const pathParameters: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < want.length && ok; i++) {
      const w = want[i]!;
      const got = segments[i]!;
      if (w.startsWith('{') && w.endsWith('}')) {
        if (got === '') ok = false;
        else {
          try {
            pathParameters[w.slice(1, -1)] = decodeURIComponent(got);
          } catch {
            ok = false;
          }
        }
      } else if (w !== got) ok = false;
    }
    if (ok) return { routeKey, handler, pathParameters };
  }
  return undefined;
}
