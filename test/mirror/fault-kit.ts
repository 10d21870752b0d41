/**
 * Helpers for the mirror's fault tests (mirror-faults.test.ts):
 *
 * - a counting HTTP proxy put in front of RGW: it forwards every request
 *   unchanged (the Host header included, so SigV4 signatures made for the
 *   proxy's address verify at RGW) and records each one: method, part number
 *   and upload id from the query, when it started, and how it was answered;
 * - a raw websocket client that speaks the session protocol by hand, checks
 *   every message the gateway sends against the gateway's own schema, and
 *   tells how its connection was closed;
 * - seeded mutations of valid session messages, for fuzzing the gateway;
 * - a small serialising lock, so heavy tests take turns while long idle
 *   waits in other tests run alongside them.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { decodeGatewayMessage } from '../../gateway/protocol/codec.js';
import type { GatewayMessage } from '../../gateway/protocol/session-messages.js';

export const MiB = 1024 * 1024;

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- counting proxy

export interface ProxiedRequest {
  method: string;
  path: string;
  /** From the query, when there is one (a part PUT). */
  partNumber: number | undefined;
  uploadId: string | undefined;
  startedAt: number;
  /** The upstream's status, once it answered; undefined when it never did. */
  status: number | undefined;
  /** Why the request failed on the way (upstream refused, reset...). */
  error: string | undefined;
  endedAt: number | undefined;
}

export interface CountingProxy {
  url: string;
  port: number;
  requests: ProxiedRequest[];
  /** Part PUTs (requests with partNumber and uploadId in the query). */
  partPuts(): ProxiedRequest[];
  close(): Promise<void>;
}

/** A proxy on 127.0.0.1 that forwards everything to `target` (http://host:port), Host header unchanged. */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const pn = url.searchParams.get('partNumber');
    const record: ProxiedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      partNumber: pn === null ? undefined : Number(pn),
      uploadId: url.searchParams.get('uploadId') ?? undefined,
      startedAt: Date.now(),
      status: undefined,
      error: undefined,
      endedAt: undefined,
    };
    requests.push(record);
    const fail = (why: string) => {
      if (record.endedAt === undefined) {
        record.error = why;
        record.endedAt = Date.now();
      }
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end(why);
      else res.destroy();
    };
    const out = http.request(
      {
        host: upstream.hostname,
        port: Number(upstream.port),
        method: req.method,
        path: req.url,
        // every header as received: the Host header is the proxy's, as the signature expects
        headers: req.headers,
        agent: false,
      },
      (answer) => {
        record.status = answer.statusCode;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', () => {
          record.endedAt ??= Date.now();
        });
        answer.on('error', (e) => fail(`upstream answer: ${e.message}`));
      },
    );
    out.on('error', (e) => fail(`upstream: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    req.on('error', () => out.destroy());
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    partPuts: () =>
      requests.filter((r) => r.method === 'PUT' && r.partNumber !== undefined && r.uploadId !== undefined),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------- raw session client

export interface RawClient {
  ws: WebSocket;
  /** Every message received, in order. */
  received: GatewayMessage[];
  /** Frames the gateway sent that do not decode as gateway messages (should stay empty). */
  invalid: string[];
  send(value: unknown, options?: { binary?: boolean }): void;
  /** The next message received (after those already taken), within `ms`. */
  next(ms?: number): Promise<GatewayMessage>;
  /** Sends a request and resolves with the message that replies to its id. */
  request(message: Record<string, unknown> & { id: string }, ms?: number): Promise<GatewayMessage>;
  /** Resolves with the close code once the connection closed. */
  closed: Promise<number>;
  close(): Promise<number>;
}

/** Opens a websocket to the gateway with `token`; rejects with statusCode when the upgrade is refused. */
export function rawConnect(url: string, token: string): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, maxPayload: 64 * MiB });
    const received: GatewayMessage[] = [];
    const invalid: string[] = [];
    let taken = 0;
    const waiters: (() => void)[] = [];
    let closeCode: number | undefined;
    const closed = new Promise<number>((r) =>
      ws.once('close', (code) => {
        closeCode = code;
        r(code);
        for (const w of waiters.splice(0)) w();
      }),
    );
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '(binary)' : String(data);
      const decoded = decodeGatewayMessage(text);
      if (!decoded.ok) invalid.push(`${decoded.error.code}: ${decoded.error.message}: ${text.slice(0, 200)}`);
      else received.push(decoded.message);
      for (const w of waiters.splice(0)) w();
    });
    const waitUntil = async (cond: () => boolean, ms: number, what: string) => {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (closeCode !== undefined) throw new Error(`${what}: the connection closed (${closeCode})`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${what}: nothing within ${ms} ms`);
        await new Promise<void>((r) => {
          const timer = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(timer);
            r();
          });
        });
      }
    };
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
      ws.terminate();
    });
    ws.once('error', (e) => reject(e));
    ws.once('open', () => {
      ws.on('error', () => {});
      resolve({
        ws,
        received,
        invalid,
        closed,
        send: (value, options) => {
          const frame = typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value);
          ws.send(frame, { binary: options?.binary ?? false });
        },
        async next(ms = 10_000) {
          await waitUntil(() => received.length > taken, ms, 'next message');
          return received[taken++]!;
        },
        async request(message, ms = 30_000) {
          const from = received.length;
          ws.send(JSON.stringify(message));
          let found: GatewayMessage | undefined;
          await waitUntil(
            () => {
              found = received
                .slice(from)
                .find((m) => 'replyTo' in m && (m as { replyTo: string | null }).replyTo === message.id);
              return found !== undefined;
            },
            ms,
            `reply to ${message.type} ${message.id}`,
          );
          return found!;
        },
        close() {
          if (ws.readyState === WebSocket.CLOSED) return closed;
          ws.close();
          return closed;
        },
      });
    });
  });
}

/** 101 when the gateway accepts a websocket with `token` (closed again at once), else the refusal's HTTP status. */
export async function upgradeStatus(url: string, token: string): Promise<number | undefined> {
  try {
    const c = await rawConnect(url, token);
    await c.close();
    return 101;
  } catch (e) {
    return (e as { statusCode?: number }).statusCode;
  }
}

export function helloMessage(id: string, agentId: string, extra: Record<string, unknown> = {}) {
  return { v: 1, type: 'hello', id, agentId, agentVersion: '0.1.0-faults', drives: [], pendingVolumes: [], ...extra };
}

/** The agent id inside a token `oa_<id>_<secret>`. */
export function agentIdOf(token: string): string {
  const m = /^oa_([0-9a-f]{16})_/.exec(token);
  if (!m) throw new Error('not an agent token');
  return m[1]!;
}

/** Connects with `token` and opens a session (hello → session). */
export async function sessionClient(
  url: string,
  token: string,
): Promise<{ client: RawClient; session: Extract<GatewayMessage, { type: 'session' }> }> {
  const client = await rawConnect(url, token);
  const reply = await client.request(helloMessage('hello-1', agentIdOf(token)));
  if (reply.type !== 'session') throw new Error(`hello answered ${JSON.stringify(reply)}`);
  return { client, session: reply };
}

// ---------------------------------------------------------------- seeded mutations

/** mulberry32: a tiny seeded PRNG; each fuzz case is reproducible from (seed, case). */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

export type MutationKind =
  | 'truncate'
  | 'flip-ascii'
  | 'flip-invalid-utf8'
  | 'wrong-type'
  | 'drop-field'
  | 'extra-field'
  | 'huge-string'
  | 'deep-nesting'
  | 'oversized'
  | 'binary'
  | 'bad-version'
  | 'not-object';

export interface Mutation {
  kind: MutationKind;
  /** What goes on the wire: text (maybe over 1 MiB) or bytes (invalid UTF-8, binary frames). */
  frame: string | Buffer;
  binary: boolean;
}

const WRONG_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  1e308,
  2 ** 53 + 2,
  '',
  'x',
  [],
  {},
  [1, 2, 3],
  { a: 1 },
  '9'.repeat(400),
];

/** One mutation of `seed` (a valid message), chosen by `rng`; the message's id becomes `id`. */
export function mutate(rng: Prng, seed: Record<string, unknown>, id: string): Mutation {
  const base: Record<string, unknown> = 'id' in seed ? { ...seed, id } : { ...seed };
  const text = JSON.stringify(base);
  const keys = Object.keys(base);
  const kind = rng.pick<MutationKind>([
    'truncate',
    'truncate',
    'flip-ascii',
    'flip-ascii',
    'flip-ascii',
    'flip-invalid-utf8',
    'wrong-type',
    'wrong-type',
    'wrong-type',
    'drop-field',
    'extra-field',
    'huge-string',
    'deep-nesting',
    'oversized',
    'binary',
    'bad-version',
    'not-object',
  ]);
  const json = (v: unknown): Mutation => ({ kind, frame: JSON.stringify(v), binary: false });
  switch (kind) {
    case 'truncate':
      return { kind, frame: text.slice(0, rng.int(text.length)), binary: false };
    case 'flip-ascii': {
      const chars = [...text];
      for (let n = 1 + rng.int(3); n > 0; n--) chars[rng.int(chars.length)] = String.fromCharCode(0x20 + rng.int(0x5f));
      return { kind, frame: chars.join(''), binary: false };
    }
    case 'flip-invalid-utf8': {
      const bytes = Buffer.from(text, 'utf8');
      bytes[rng.int(bytes.length)] = 0xc0 | rng.int(2); // 0xC0/0xC1 never occur in UTF-8
      return { kind, frame: bytes, binary: false };
    }
    case 'wrong-type': {
      const k = rng.pick(keys);
      return json({ ...base, [k]: rng.pick(WRONG_VALUES) });
    }
    case 'drop-field': {
      const k = rng.pick(keys.filter((x) => x !== 'id') as string[]);
      const { [k]: _dropped, ...rest } = base;
      return json(rest);
    }
    case 'extra-field':
      return json({
        ...base,
        [rng.pick(['extra', '__proto__', 'constructor', 'ID', 'type '])]: rng.pick(WRONG_VALUES),
      });
    case 'huge-string': {
      const k = rng.pick(keys.filter((x) => x !== 'v' && x !== 'type' && x !== 'id') as string[]);
      return json({ ...base, [k]: 'A'.repeat(200_000 + rng.int(700_000)) });
    }
    case 'deep-nesting': {
      const depth = 1000 + rng.int(60_000);
      const k = rng.pick([...keys.filter((x) => x !== 'v' && x !== 'type' && x !== 'id'), 'nested']);
      const marker = '"__DEEP__"';
      const at = JSON.stringify({ ...base, [k]: '__DEEP__' });
      const nested =
        rng.int(2) === 0 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      return { kind, frame: at.replace(marker, nested), binary: false };
    }
    case 'oversized': {
      const k = rng.pick(keys.filter((x) => x !== 'v' && x !== 'type' && x !== 'id') as string[]);
      return json({ ...base, [k]: 'B'.repeat(MiB + 1 + rng.int(MiB)) });
    }
    case 'binary':
      return { kind, frame: Buffer.from(text, 'utf8'), binary: true };
    case 'bad-version':
      return json({ ...base, v: rng.pick([0, 2, '1', 1.0001, null, -1]) });
    case 'not-object':
      return json(rng.pick([[base], 'hello', 42, null, true, [1, 2]]));
  }
}

// ---------------------------------------------------------------- taking turns

/** A lock: run(fn) waits for the runs before it. */
export class TakeTurns {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const mine = this.tail.then(fn, fn);
    this.tail = mine.catch(() => undefined);
    return mine;
  }
}
