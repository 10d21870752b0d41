/**
 * The shapes the gateway's handlers take and return, modelled on AWS API
 * Gateway's websocket and HTTP events so the same handlers run under the local
 * host (host/local-host.ts) and as cloud functions. Only the fields the
 * handlers read are declared.
 *
 * Handlers are plain async functions `(event, deps) => result`: they keep
 * nothing in memory between calls. Everything they need comes in `deps` (the
 * store, a way to push a message to a connection, a clock); everything they
 * remember goes to the store.
 */

import type { Logger } from '../../clients/oncrpc/logger.js';
import { type Config, configSchema } from '../../config/schema.js';
import type { GatewayMessage } from '../protocol/session-messages.js';
import type { ObjectStore } from '../s3/object-store.js';
import type { SearchIndex } from '../search/search-index.js';
import type { GatewayStore } from '../store/gateway-store.js';

export type WebSocketEventType = 'CONNECT' | 'DISCONNECT' | 'MESSAGE';

export interface WebSocketEvent {
  requestContext: {
    /** `$connect`, `$disconnect`, `$default` or a message route. */
    routeKey: string;
    connectionId: string;
    eventType: WebSocketEventType;
  };
  /** Request headers (on `$connect`); names may come in any case. */
  headers?: Record<string, string | undefined>;
  /** The message text (on message routes). */
  body?: string;
  /** True when `body` is base64 of a binary frame. */
  isBase64Encoded?: boolean;
}

export interface HttpEvent {
  /** `GET /healthz` style: method, space, path. */
  routeKey: string;
  rawPath: string;
  /** What follows `?` in the URL, undecoded ('' when none). */
  rawQueryString?: string;
  /** Values of the route's `{name}` segments. */
  pathParameters?: Record<string, string>;
  headers?: Record<string, string | undefined>;
  body?: string;
  requestContext?: { http?: { sourceIp?: string } };
}

export interface HandlerResult {
  statusCode: number;
  body?: string;
  headers?: Record<string, string>;
}

/** Thrown by postToConnection when the connection is gone (API Gateway answers 410). */
export class GoneError extends Error {
  constructor(readonly connectionId: string) {
    super(`connection ${connectionId} is gone`);
    this.name = 'GoneError';
  }
}

/** The gateway's settings the handlers read (config/schema.ts, section gateway). */
export type GatewaySettings = Pick<Config['gateway'], 'mirror' | 'policy' | 'adminToken' | 'metrics' | 'search'>;

export interface HandlerDeps {
  store: GatewayStore;
  /** The bucket; absent when S3 is not configured (mirror requests are then refused with S3_NOT_CONFIGURED). */
  objects?: ObjectStore;
  /** Defaults (configSchema's) when absent. */
  settings?: GatewaySettings;
  /** The manifest index; acknowledged volumes are indexed into it when present. */
  index?: SearchIndex;
  log?: Logger;
  /** Sends one message to a connection; rejects with GoneError when it is closed. */
  postToConnection(connectionId: string, message: GatewayMessage): Promise<void>;
  /** Milliseconds since the epoch; Date.now when absent. */
  now?: () => number;
}

export type WebSocketHandler = (event: WebSocketEvent, deps: HandlerDeps) => Promise<HandlerResult>;
export type HttpHandler = (event: HttpEvent, deps: HandlerDeps) => Promise<HandlerResult>;

/** A header's value whatever the case of its name. */
export function header(headers: WebSocketEvent['headers'], name: string): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

/** The settings in force: deps.settings, or the schema's defaults. */
export function settingsOf(deps: HandlerDeps): GatewaySettings {
  return deps.settings ?? DEFAULT_SETTINGS;
}

const DEFAULT_SETTINGS: GatewaySettings = configSchema.parse({}).gateway;
