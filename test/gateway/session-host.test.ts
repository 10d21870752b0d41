/**
 * The serverless-style handlers and the local host that runs them: an agent
 * authenticates on the websocket upgrade with its bearer token, opens a session
 * with `hello`, is answered `error` for bad messages without losing the
 * connection, and its connection row goes when it closes. The handlers are also
 * run directly on hand-built events (no host), and `optarc-gateway serve` is
 * started as a real process.
 */
import crypto from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import WebSocket from 'ws';
import { connectHandler } from '../../gateway/handlers/connect.js';
import { disconnectHandler } from '../../gateway/handlers/disconnect.js';
import type { HandlerDeps, WebSocketEvent } from '../../gateway/handlers/events.js';
import { messageHandler } from '../../gateway/handlers/message.js';
import { type LocalHost, startLocalHost } from '../../gateway/host/local-host.js';
import { AgentTokens } from '../../gateway/identity/agent-tokens.js';
import { decodeGatewayMessage } from '../../gateway/protocol/codec.js';
import type { GatewayMessage } from '../../gateway/protocol/session-messages.js';
import { GatewayStore } from '../../gateway/store/gateway-store.js';
import { BIN, startDaemon, stopDaemon } from '../helpers/processes.js';

function tempStore(): { dir: string; file: string; store: GatewayStore } {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-gw-session-'));
  const file = path.join(dir, 'gateway.sqlite');
  return { dir, file, store: new GatewayStore(file) };
}

async function withHost(
  run: (ctx: { host: LocalHost; url: string; store: GatewayStore; tokens: AgentTokens }) => Promise<void>,
): Promise<void> {
  const { store } = tempStore();
  const host = await startLocalHost({ host: '127.0.0.1', port: 0, store });
  try {
    await run({ host, url: `ws://127.0.0.1:${host.port}/`, store, tokens: new AgentTokens(store) });
  } finally {
    await host.close();
    store.close();
  }
}

function hello(id: string, agentId: string, extra: Record<string, unknown> = {}) {
  return { v: 1, type: 'hello', id, agentId, agentVersion: '0.1.0', drives: [], pendingVolumes: [], ...extra };
}

interface Client {
  ws: WebSocket;
  /** The next message the gateway sent, decoded and checked against the schema. */
  next(): Promise<GatewayMessage>;
  send(value: unknown): void;
  closed(): Promise<void>;
}

/** Opens a websocket with the token; rejects with the status when the upgrade is refused. */
function connect(url: string, token: string | null): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, token === null ? {} : { headers: { Authorization: `Bearer ${token}` } });
    const inbox: GatewayMessage[] = [];
    const waiting: ((m: GatewayMessage) => void)[] = [];
    ws.on('message', (data) => {
      const decoded = decodeGatewayMessage(String(data));
      if (!decoded.ok) throw new Error(`gateway sent an invalid message: ${decoded.error.message}`);
      const w = waiting.shift();
      if (w) w(decoded.message);
      else inbox.push(decoded.message);
    });
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode }));
      ws.terminate();
    });
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        next: () =>
          new Promise((res, rej) => {
            const m = inbox.shift();
            if (m) return res(m);
            const timer = setTimeout(() => rej(new Error('no message from the gateway within 5 s')), 5000);
            waiting.push((msg) => {
              clearTimeout(timer);
              res(msg);
            });
          }),
        send: (value) => ws.send(typeof value === 'string' ? value : JSON.stringify(value)),
        closed: () =>
          new Promise((res) => {
            if (ws.readyState === WebSocket.CLOSED) return res();
            ws.once('close', () => res());
            ws.close();
          }),
      }),
    );
  });
}

async function refusedStatus(url: string, token: string | null): Promise<number | undefined> {
  try {
    const c = await connect(url, token);
    await c.closed();
    return 200;
  } catch (e) {
    return (e as { statusCode?: number }).statusCode;
  }
}

/** Waits (bounded) until `cond` holds; returns whether it did. */
async function eventually(cond: () => boolean, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

test('an agent connects with its token, says hello and gets a session for its site; closing forgets the connection', async (t) => {
  await withHost(async ({ url, store, tokens }) => {
    const { agent, token } = tokens.issue('lab-7');
    tokens.issue('other-site');
    const client = await connect(url, token);
    t.true(await eventually(() => store.connections(agent.id).length === 1));
    const [conn] = store.connections(agent.id);
    t.is(conn!.site, 'lab-7');
    t.is(store.connections().length, 1);

    client.send(hello('h-1', agent.id));
    const reply = await client.next();
    if (reply.type !== 'session') return t.fail(`expected session, got ${JSON.stringify(reply)}`);
    t.is(reply.replyTo, 'h-1');
    t.is(reply.site, 'lab-7');
    t.false(reply.resumed);
    t.deepEqual(reply.policy, {
      throttleBytesPerSecond: null,
      schedule: [],
      storageClass: 'STANDARD',
      requiredCopies: 1,
    });

    const rows = store.sessions(agent.id);
    t.is(rows.length, 1);
    t.is(rows[0]!.id, reply.sessionId);
    t.is(rows[0]!.site, 'lab-7');
    t.is(rows[0]!.connectionId, conn!.id);
    t.deepEqual(rows[0]!.resumeTokenHash, crypto.createHash('sha256').update(reply.resumeToken).digest());

    // A second hello opens a distinct session with a distinct resume token.
    client.send(hello('h-2', agent.id));
    const again = await client.next();
    if (again.type !== 'session') return t.fail(`expected session, got ${JSON.stringify(again)}`);
    t.is(again.replyTo, 'h-2');
    t.not(again.sessionId, reply.sessionId);
    t.not(again.resumeToken, reply.resumeToken);

    await client.closed();
    t.true(await eventually(() => store.connections().length === 0), 'the connection row is removed on close');
    t.is(store.sessions(agent.id).length, 2, 'sessions outlive the connection');
  });
});

test('bad, revoked, missing and malformed credentials are refused 401 on upgrade, and nothing is recorded', async (t) => {
  await withHost(async ({ url, store, tokens }) => {
    const { agent, token } = tokens.issue('lab-1');
    const revoked = tokens.issue('lab-1');
    tokens.revoke(revoked.agent.id);
    const flipped = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    const unknown = `oa_${'0'.repeat(16)}_${token.split('_').slice(2).join('_')}`;

    t.is(await refusedStatus(url, flipped), 401, 'wrong secret');
    t.is(await refusedStatus(url, revoked.token), 401, 'revoked');
    t.is(await refusedStatus(url, unknown), 401, 'unknown agent');
    t.is(await refusedStatus(url, 'not-a-token'), 401, 'malformed');
    t.is(await refusedStatus(url, null), 401, 'no Authorization header');
    t.is(store.connections().length, 0);

    // The good token still gets in.
    const ok = await connect(url, token);
    t.is(store.connections(agent.id).length, 1);
    await ok.closed();
  });
});

test('bad messages get an error naming the problem and the connection stays usable', async (t) => {
  await withHost(async ({ url, store, tokens }) => {
    const { agent, token } = tokens.issue('lab-2');
    const client = await connect(url, token);

    client.send(hello('h-bad', agent.id, { agentVersion: 'not a version!' }));
    const bad = await client.next();
    if (bad.type !== 'error') return t.fail(`expected error, got ${JSON.stringify(bad)}`);
    t.is(bad.code, 'BAD_MESSAGE');
    t.regex(bad.message, /^agentVersion: /);
    t.is(bad.replyTo, 'h-bad');

    client.send(hello('h-extra', agent.id, { surprise: 1 }));
    const extra = await client.next();
    if (extra.type !== 'error') return t.fail(`expected error, got ${JSON.stringify(extra)}`);
    t.is(extra.code, 'BAD_MESSAGE');
    t.regex(extra.message, /^surprise: unknown field/);

    client.send('{not json');
    const notJson = await client.next();
    if (notJson.type !== 'error') return t.fail(`expected error, got ${JSON.stringify(notJson)}`);
    t.is(notJson.code, 'BAD_JSON');
    t.is(notJson.replyTo, null);

    client.send({ ...hello('h-v2', agent.id), v: 2 });
    const version = await client.next();
    t.like(version, { type: 'error', code: 'VERSION', replyTo: 'h-v2' });

    client.ws.send(Buffer.from(JSON.stringify(hello('h-bin', agent.id))), { binary: true });
    t.like(await client.next(), { type: 'error', code: 'BAD_JSON' });

    client.send(hello('h-other', 'someone-else'));
    t.like(await client.next(), { type: 'error', code: 'AGENT_MISMATCH', replyTo: 'h-other' });

    // mirror requests need a session first
    client.send({ v: 1, type: 'plan.more', id: 'p-1', uploadId: 'u-1', fromPart: 2 });
    t.like(await client.next(), { type: 'error', code: 'NO_SESSION', replyTo: 'p-1' });
    client.send({ v: 1, type: 'mirror.progress', vsn: 'V1', uploadId: 'u-1', partsDone: 0, bytesDone: 0 });
    t.like(await client.next(), { type: 'error', code: 'NO_SESSION', replyTo: null });

    t.is(store.sessions(agent.id).length, 0, 'no bad message opened a session');
    t.is(client.ws.readyState, WebSocket.OPEN);
    client.send(hello('h-good', agent.id));
    t.like(await client.next(), { type: 'session', replyTo: 'h-good', site: 'lab-2' });
    t.is(store.sessions(agent.id).length, 1);
    await client.closed();
  });
});

test('the handlers are plain functions over API-Gateway-shaped events', async (t) => {
  const { store } = tempStore();
  t.teardown(() => store.close());
  const { agent, token } = new AgentTokens(store).issue('lab-3');
  const posted: { connectionId: string; message: GatewayMessage }[] = [];
  const deps: HandlerDeps = {
    store,
    now: () => 1_700_000_000_000,
    async postToConnection(connectionId, message) {
      posted.push({ connectionId, message });
    },
  };
  const ev = (routeKey: string, eventType: WebSocketEvent['requestContext']['eventType'], connectionId = 'conn-1') => ({
    requestContext: { routeKey, connectionId, eventType },
  });

  t.deepEqual(
    await connectHandler({ ...ev('$connect', 'CONNECT', 'conn-x'), headers: { authorization: 'Bearer nope' } }, deps),
    { statusCode: 401, body: 'Unauthorized' },
  );
  t.is(store.connection('conn-x'), undefined);

  const ok = await connectHandler(
    { ...ev('$connect', 'CONNECT'), headers: { AUTHORIZATION: `Bearer ${token}` } },
    deps,
  );
  t.is(ok.statusCode, 200);
  t.deepEqual(store.connection('conn-1'), {
    id: 'conn-1',
    agentId: agent.id,
    site: 'lab-3',
    connectedAt: 1_700_000_000_000,
  });

  const res = await messageHandler(
    { ...ev('$default', 'MESSAGE'), body: JSON.stringify(hello('d-1', agent.id)) },
    deps,
  );
  t.is(res.statusCode, 200);
  t.is(posted.length, 1);
  t.is(posted[0]!.connectionId, 'conn-1');
  t.like(posted[0]!.message, { type: 'session', replyTo: 'd-1', site: 'lab-3' });
  t.is(store.sessions(agent.id)[0]!.createdAt, 1_700_000_000_000);

  // A connection $connect never recorded gets no answer at all.
  const stranger = await messageHandler(
    { ...ev('$default', 'MESSAGE', 'conn-unknown'), body: JSON.stringify(hello('d-2', agent.id)) },
    deps,
  );
  t.is(stranger.statusCode, 403);
  t.is(posted.length, 1);

  t.is((await disconnectHandler(ev('$disconnect', 'DISCONNECT'), deps)).statusCode, 200);
  t.is(store.connection('conn-1'), undefined);
  // Once disconnected, the connection cannot talk either.
  t.is((await messageHandler({ ...ev('$default', 'MESSAGE'), body: '{}' }, deps)).statusCode, 403);
});

test('optarc-gateway serve: ready line, /healthz, an agent session, clean stop on SIGTERM', async (t) => {
  const { dir, file, store } = tempStore();
  const { agent, token } = new AgentTokens(store).issue('lab-4');
  const config = path.join(dir, 'optarc.json');
  writeFileSync(config, JSON.stringify({ gateway: { store: file, http: { host: '127.0.0.1', port: 0 } } }));
  const daemon = await startDaemon(BIN.gateway, ['serve', '--config', config]);
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await stopDaemon(daemon.child);
    store.close();
  });
  t.true(daemon.ready.ready);
  const port = daemon.ready.port as number;
  t.true(Number.isInteger(port) && port > 0);

  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.is(health.status, 200);
  t.is(((await health.json()) as { ok?: unknown }).ok, true);
  t.is((await fetch(`http://127.0.0.1:${port}/nothing-here`)).status, 404);

  const client = await connect(`ws://127.0.0.1:${port}/`, token);
  client.send(hello('s-1', agent.id));
  t.like(await client.next(), { type: 'session', replyTo: 's-1', site: 'lab-4' });
  t.is(store.connections(agent.id).length, 1);

  const closedByServer = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));
  stopped = true;
  t.is(await stopDaemon(daemon.child), 0, daemon.stderr());
  t.is(await closedByServer, 1001);
  t.is(store.connections().length, 0, 'shutting down ran $disconnect for the open connection');
});
