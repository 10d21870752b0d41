/**
 * The gateway's AWS Lambda entry points. infra/aws/gateway.template.json names
 * each one as `dist/gateway/lambda.<export>`:
 *
 * - `connect`, `disconnect`, `message`: the websocket API's `$connect`,
 *   `$disconnect` and `$default` routes, each running its handler from
 *   WEBSOCKET_ROUTES on API Gateway's event as it comes;
 * - `http`: every route of the HTTP API (payload format 2.0). API Gateway has
 *   already matched the request: `event.routeKey` is the route's template
 *   (`POST /agents/{agentId}/commands`) and `pathParameters` are filled, so the
 *   handler is looked up by that key in HTTP_ROUTES; any other key answers 404;
 * - `sweep`: the scheduled sweeper (the event is ignored).
 *
 * The handlers' deps are built once per container, on first use (lambdaDeps).
 * The manifest index is the PostgreSQL database at
 * OPTARC_GATEWAY_SEARCH_POSTGRES_URL when set (shared by every container),
 * else an SQLite file (OPTARC_GATEWAY_SEARCH_INDEX, default /tmp/optarc-index.sqlite)
 * per container (testing only, as the store).
 * The gateway store is an SQLite file (env OPTARC_GATEWAY_STORE, default
 * /tmp/optarc-gateway.sqlite): each Lambda container has its own, so this
 * suits testing only until the shared database arrives (infra/aws/README.md).
 * Messages to agents go out through the API Gateway management API at
 * OPTARC_GATEWAY_MANAGEMENT_ENDPOINT (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`).
 */

import {
  ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { S3Client } from '@aws-sdk/client-s3';
import { createLogger } from '../clients/oncrpc/logger.js';
import { loadConfig } from '../config/load.js';
import {
  GoneError,
  type HandlerDeps,
  type HandlerResult,
  type HttpEvent,
  type WebSocketEvent,
} from './handlers/events.js';
import { HTTP_ROUTES, WEBSOCKET_ROUTES } from './handlers/routes.js';
import { runSweep } from './handlers/sweep.js';
import { encodeMessage } from './protocol/codec.js';
import { ObjectStore } from './s3/object-store.js';
import { PostgresIndex } from './search/postgres-index.js';
import { SqliteIndex } from './search/sqlite-index.js';
import { GatewayStore } from './store/gateway-store.js';

export const STORE_ENV = 'OPTARC_GATEWAY_STORE';
export const DEFAULT_STORE = '/tmp/optarc-gateway.sqlite';
export const DEFAULT_INDEX = '/tmp/optarc-index.sqlite';
export const MANAGEMENT_ENDPOINT_ENV = 'OPTARC_GATEWAY_MANAGEMENT_ENDPOINT';

/** An HTTP API (payload 2.0) event: a binary body comes base64-encoded. */
export type LambdaHttpEvent = HttpEvent & { isBase64Encoded?: boolean };

/** postToConnection through the management API; a connection that is gone (410) rejects with GoneError. */
function managementApiPoster(endpoint: string | undefined): HandlerDeps['postToConnection'] {
  let client: ApiGatewayManagementApiClient | undefined;
  return async (connectionId, message) => {
    if (!endpoint) throw new Error(`${MANAGEMENT_ENDPOINT_ENV} is not set: cannot send to websocket connections`);
    const data = Buffer.from(encodeMessage(message), 'utf8');
    client ??= new ApiGatewayManagementApiClient({ endpoint });
    try {
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
      if (e instanceof GoneException || status === 410) throw new GoneError(connectionId);
      throw e;
    }
  };
}

/**
 * The handlers' deps in a Lambda container: the store and postToConnection
 * from the environment, then `extra` merged over them (the place for what
 * HandlerDeps gains, e.g. `objects: ObjectStore.fromConfig(...)`, and for
 * tests to swap a part).
 */
export function lambdaDeps(extra: Partial<HandlerDeps> = {}, env: NodeJS.ProcessEnv = process.env): HandlerDeps {
  return {
    store: extra.store ?? new GatewayStore(env[STORE_ENV] || DEFAULT_STORE),
    postToConnection: managementApiPoster(env[MANAGEMENT_ENDPOINT_ENV]),
    ...extra,
  };
}

let containerDeps: Promise<HandlerDeps> | undefined;

/** This container's deps, built on first use (a failure is retried by the next call). */
function deps(): Promise<HandlerDeps> {
  containerDeps ??= buildDeps().catch((e) => {
    containerDeps = undefined;
    throw e;
  });
  return containerDeps;
}

async function buildDeps(): Promise<HandlerDeps> {
  // settings from OPTARC_GATEWAY_* (the template sets the bucket and region); S3 with the function's role
  const gateway = loadConfig().gateway;
  // an explicit endpoint (an S3-compatible store, or tests) is used as configured; else AWS S3 with the role
  const objects = gateway.s3.endpoint
    ? ObjectStore.fromConfig(gateway)
    : new ObjectStore({
        client: new S3Client({
          region: gateway.s3.region,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }),
        bucket: gateway.s3.bucket,
        presignSeconds: gateway.mirror.presignSeconds,
        verifyConcurrency: gateway.mirror.verifyConcurrency,
        verifyRangeBytes: gateway.mirror.verifyRangeBytes,
      });
  const index = gateway.search.postgresUrl
    ? await PostgresIndex.open(gateway.search.postgresUrl, { max: 2 })
    : new SqliteIndex(gateway.search.index ?? DEFAULT_INDEX);
  return lambdaDeps({ objects, index, settings: gateway, log: createLogger('gateway', 'info') });
}

export const connect = async (event: WebSocketEvent): Promise<HandlerResult> =>
  WEBSOCKET_ROUTES.$connect(event, await deps());

export const disconnect = async (event: WebSocketEvent): Promise<HandlerResult> =>
  WEBSOCKET_ROUTES.$disconnect(event, await deps());

export const message = async (event: WebSocketEvent): Promise<HandlerResult> =>
  WEBSOCKET_ROUTES.$default(event, await deps());

export const http = async (event: LambdaHttpEvent): Promise<HandlerResult> => {
  const handler = Object.hasOwn(HTTP_ROUTES, event.routeKey) ? HTTP_ROUTES[event.routeKey] : undefined;
  if (!handler) return { statusCode: 404, headers: { 'content-type': 'text/plain' }, body: 'not found\n' };
  const { isBase64Encoded, ...rest } = event;
  const body =
    isBase64Encoded && rest.body !== undefined ? Buffer.from(rest.body, 'base64').toString('utf8') : rest.body;
  return handler({ ...rest, body }, await deps());
};

export const sweep = async (): Promise<{ aborted: number; kept: number }> => runSweep(await deps());
