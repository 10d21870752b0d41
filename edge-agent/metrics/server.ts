/**
 * The metrics endpoint: plain node:http, GET (or HEAD) /metrics answers the
 * collector's families in the text exposition format 0.0.4, /healthz answers
 * `ok`, anything else 404 (405 for another method on a known path). A scrape
 * whose collector throws is a 500 and a log line, never a half document.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Logger, silentLogger } from '../../clients/oncrpc/logger.js';
import { EXPOSITION_CONTENT_TYPE, type MetricFamily, render } from './exposition.js';

export interface MetricsServerOptions {
  host: string;
  /** 0 takes a free port (the returned `port` says which). */
  port: number;
  collect: () => MetricFamily[] | Promise<MetricFamily[]>;
  log?: Logger;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const log = options.log ?? silentLogger;
  const server = http.createServer((req, res) => {
    void answer(req, res, options.collect, log);
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => log.error('metrics server error', { error: e.message }));
  const port = (server.address() as AddressInfo).port;
  log.info('metrics endpoint ready', { host: options.host, port, path: '/metrics' });
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function answer(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  collect: MetricsServerOptions['collect'],
  log: Logger,
): Promise<void> {
  const pathname = new URL(req.url ?? '/', 'http://metrics').pathname;
  if (pathname !== '/metrics' && pathname !== '/healthz') return send(res, 404, 'not found\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'method not allowed\n');
  }
  if (pathname === '/healthz') return send(res, 200, 'ok\n', req.method === 'HEAD');
  let body: string;
  try {
    body = render(await collect());
  } catch (e) {
    log.error('metrics scrape failed', { error: (e as Error).message });
    return send(res, 500, 'scrape failed\n');
  }
  send(res, 200, body, req.method === 'HEAD', EXPOSITION_CONTENT_TYPE);
}

function send(
  res: http.ServerResponse,
  status: number,
  body: string,
  headOnly = false,
  type = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(headOnly ? undefined : body);
}
