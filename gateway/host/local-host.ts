/**
 * The local host: runs the gateway's handlers on `node:http` + `ws`, the way
 * API Gateway runs them in the cloud.
 *
 * - A websocket upgrade (any path) runs `$connect` with the request's headers;
 *   when it does not answer 200 the upgrade is refused with that status
 *   (e.g. `HTTP/1.1 401 Unauthorized`) and the socket closed.
 * - Each text frame runs `$default` with the frame as body; a binary frame is
 *   passed base64 with isBase64Encoded (and refused by the handler). Frames over
 *   1 MiB close the connection (1009), as the codec would refuse them anyway.
 * - A close runs `$disconnect`.
 * - HTTP: the routes of handlers/routes.ts (`GET /healthz`, `GET /metrics`, the
 *   operator's command API); anything else 404.
 *
 * The map of live sockets by connection id is the host's transport state (API
 * Gateway's own, in the cloud); the handlers keep none. Each connection's events
 * run one after another, so replies go out in the order their requests came.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { type Logger, silentLogger } from '../../clients/oncrpc/logger.js';
import {
  type GatewaySettings,
  GoneError,
  type HandlerDeps,
  type HttpEvent,
  type HttpHandler,
  type WebSocketEvent,
  type WebSocketEventType,
} from '../handlers/events.js';
import { matchHttpRoute, WEBSOCKET_ROUTES } from '../handlers/routes.js';
import { encodeMessage, MAX_MESSAGE_BYTES } from '../protocol/codec.js';
import type { ObjectStore } from '../s3/object-store.js';
import type { SearchIndex } from '../search/search-index.js';
import type { GatewayStore } from '../store/gateway-store.js';

export interface LocalHostOptions {
  host: string;
  /** 0 takes a free port. */
  port: number;
  store: GatewayStore;
  /** The bucket (absent: mirror requests are refused with S3_NOT_CONFIGURED). */
  objects?: ObjectStore;
  /** The manifest index acknowledged volumes go into. */
  index?: SearchIndex;
  settings?: GatewaySettings;
  log?: Logger;
}

export interface LocalHost {
  port: number;
  /** Closes every connection (running `$disconnect` for each), then the server. */
  close(): Promise<void>;
}

/** Largest HTTP request body read (command requests are small JSON). */
const MAX_HTTP_BODY = 64 * 1024;

/** How long close() waits for agents to answer a close frame before cutting them off. */
const CLOSE_GRACE_MS = 1000;

function flatHeaders(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function refuseUpgrade(socket: Duplex, status: number): void {
  const reason = http.STATUS_CODES[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const log = options.log ?? silentLogger;
  const sockets = new Map<string, WebSocket>();
  /** Per connection: the tail of its chain of handler calls. */
  const chains = new Map<string, Promise<void>>();

  const deps: HandlerDeps = {
    store: options.store,
    objects: options.objects,
    index: options.index,
    settings: options.settings,
    log,
    async postToConnection(connectionId, message) {
      const ws = sockets.get(connectionId);
      if (!ws || ws.readyState !== WebSocket.OPEN) throw new GoneError(connectionId);
      const text = encodeMessage(message);
      await new Promise<void>((resolve, reject) =>
        ws.send(text, (err) => (err ? reject(new GoneError(connectionId)) : resolve())),
      );
    },
  };

  const event = (connectionId: string, routeKey: string, eventType: WebSocketEventType): WebSocketEvent => ({
    requestContext: { routeKey, connectionId, eventType },
  });

  /** Runs a handler call after the connection's earlier ones; failures are logged, never thrown. */
  const enqueue = (connectionId: string, work: () => Promise<unknown>): Promise<void> => {
    const next = (chains.get(connectionId) ?? Promise.resolve()).then(work).then(
      () => undefined,
      (e: unknown) => log.error('handler failed', { connectionId, error: (e as Error)?.message ?? String(e) }),
    );
    chains.set(connectionId, next);
    return next;
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const rawQueryString = q < 0 ? '' : url.slice(q + 1);
    const route = matchHttpRoute(req.method ?? 'GET', rawPath);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const { routeKey, handler, pathParameters } = route;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_HTTP_BODY) {
        res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('request body too large\n');
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_HTTP_BODY) return;
      const body = chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined;
      const sourceIp = req.socket.remoteAddress;
      runHttp(
        handler,
        {
          routeKey,
          rawPath,
          rawQueryString,
          pathParameters,
          headers: flatHeaders(req),
          body,
          requestContext: { http: { sourceIp } },
        },
        res,
      );
    });
  });

  const runHttp = (handler: HttpHandler, httpEvent: HttpEvent, res: http.ServerResponse) => {
    const { routeKey } = httpEvent;
    handler(httpEvent, deps).then(
      (r) => res.writeHead(r.statusCode, r.headers).end(r.body ?? ''),
      (e: unknown) => {
        log.error('http handler failed', { routeKey, error: (e as Error)?.message ?? String(e) });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      },
    );
  };

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const connectionId = crypto.randomBytes(12).toString('base64url');
    void (async () => {
      let status: number;
      try {
        const result = await WEBSOCKET_ROUTES.$connect(
          { ...event(connectionId, '$connect', 'CONNECT'), headers: flatHeaders(req) },
          deps,
        );
        status = result.statusCode;
      } catch (e) {
        log.error('$connect failed', { connectionId, error: (e as Error)?.message ?? String(e) });
        status = 500;
      }
      if (status !== 200) {
        refuseUpgrade(socket, status);
        return;
      }
      const disconnect = () =>
        enqueue(connectionId, async () => {
          sockets.delete(connectionId);
          try {
            await WEBSOCKET_ROUTES.$disconnect(event(connectionId, '$disconnect', 'DISCONNECT'), deps);
          } finally {
            chains.delete(connectionId);
          }
        });
      if (socket.destroyed) {
        void disconnect();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        sockets.set(connectionId, ws);
        log.info('agent connected', { connectionId });
        ws.on('message', (data, isBinary) => {
          const buf = Array.isArray(data)
            ? Buffer.concat(data)
            : data instanceof ArrayBuffer
              ? Buffer.from(data)
              : data;
          const body = isBinary ? buf.toString('base64') : buf.toString('utf8');
          void enqueue(connectionId, () =>
            WEBSOCKET_ROUTES.$default(
              { ...event(connectionId, '$default', 'MESSAGE'), body, isBase64Encoded: isBinary },
              deps,
            ),
          );
        });
        ws.on('error', (e) => log.warn('websocket error', { connectionId, error: e.message }));
        ws.on('close', () => {
          log.info('agent disconnected', { connectionId });
          void disconnect();
        });
      });
    })();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const open = [...sockets.values()];
      await Promise.all(
        open.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === WebSocket.CLOSED) return resolve();
              const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
              ws.once('close', () => {
                clearTimeout(timer);
                resolve();
              });
              ws.close(1001, 'gateway shutting down');
            }),
        ),
      );
      // Let every connection's pending handler calls (including $disconnect) finish.
      // (Each close event above enqueued its $disconnect before resolving, so the tails include them.)
      await Promise.all([...chains.values()]);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })();
    return closing;
  };

  return { port, close };
}
