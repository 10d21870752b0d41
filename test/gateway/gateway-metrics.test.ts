/**
 * The gateway's `GET /metrics` (gateway/handlers/gateway-metrics.ts): counts
 * read from the store on each scrape (agents by state, connections, sessions,
 * uploads, mirrors, commands), every known state present even at 0, the
 * operator's authorisation, 404 when switched off; and the structured log of
 * `$connect` / `$disconnect` (who, never the token).
 *
 * End to end with a real agent mirroring: test/mirror/mirror-status.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import WebSocket from 'ws';
import { configSchema } from '../../config/schema.js';
import { connectHandler } from '../../gateway/handlers/connect.js';
import { disconnectHandler } from '../../gateway/handlers/disconnect.js';
import type { HandlerDeps, HttpEvent } from '../../gateway/handlers/events.js';
import { gatewayMetricsHandler } from '../../gateway/handlers/gateway-metrics.js';
import { AgentTokens } from '../../gateway/identity/agent-tokens.js';
import { GatewayStore } from '../../gateway/store/gateway-store.js';
import { parseMetrics } from '../helpers/metrics-text.js';
import { BIN, freePort, run, startDaemon, stopDaemon } from '../helpers/processes.js';
import { recordingLogger } from '../helpers/recording-logger.js';

const ADMIN = 'metrics-admin-token-0123456789';
const NOW = Date.UTC(2030, 0, 1);

function fixture(t: ExecutionContext, settings: Record<string, unknown> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-gw-metrics-'));
  const file = path.join(dir, 'gateway.sqlite');
  const store = new GatewayStore(file);
  t.teardown(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const { log, logs } = recordingLogger();
  const deps: HandlerDeps = {
    store,
    settings: configSchema.parse({ gateway: settings }).gateway,
    log,
    now: () => NOW,
    postToConnection: async () => {},
  };
  return { dir, file, store, deps, logs };
}

const scrape = (deps: HandlerDeps, options: { token?: string; ip?: string } = {}) => {
  const event: HttpEvent = {
    routeKey: 'GET /metrics',
    rawPath: '/metrics',
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    requestContext: { http: { sourceIp: options.ip ?? '127.0.0.1' } },
  };
  return gatewayMetricsHandler(event, deps);
};

/** Fills a store: 2 active agents (one paused, one throttled), 1 revoked, 1 expired; connections, sessions, uploads, mirrors, commands. */
function populate(store: GatewayStore) {
  let clock = NOW - 10_000;
  const tokens = new AgentTokens(store, { now: () => clock });
  const a = tokens.issue('lab-1').agent;
  const b = tokens.issue('lab-2').agent;
  const revoked = tokens.issue('lab-3').agent;
  tokens.revoke(revoked.id);
  tokens.issue('lab-4', { expiresAt: NOW - 1 });
  clock = NOW;
  store.setAgentControls(a.id, { paused: true });
  store.setAgentControls(b.id, { throttleBytesPerSecond: 1000 });
  store.insertConnection({ id: 'c1', agentId: a.id, site: 'lab-1', connectedAt: NOW });
  store.insertConnection({ id: 'c2', agentId: a.id, site: 'lab-1', connectedAt: NOW });
  store.insertConnection({ id: 'c3', agentId: b.id, site: 'lab-2', connectedAt: NOW });
  for (const [i, agent] of [a, a, b].entries()) {
    store.insertSession({
      id: `s${i}`,
      agentId: agent.id,
      site: agent.site,
      connectionId: `c${i + 1}`,
      resumeTokenHash: Buffer.alloc(32, i),
      createdAt: NOW,
    });
  }
  const upload = (id: string, vsn: string, size: number) =>
    store.insertUpload({
      id,
      site: 'lab-1',
      agentId: a.id,
      vsn,
      key: `sites/lab-1/volumes/${vsn}/${vsn}.iso`,
      manifestKey: `sites/lab-1/volumes/${vsn}/manifest.json`,
      size,
      sha256: 'a'.repeat(64),
      manifestDigest: 'b'.repeat(64),
      partSize: 5 * 1024 * 1024,
      createdAt: NOW,
    });
  for (const [i, size] of [1000, 2500].entries()) {
    const vsn = `OPT00000${i + 1}`;
    upload(`u${i}`, vsn, size);
    store.insertMirror({
      site: 'lab-1',
      agentId: a.id,
      vsn,
      uploadId: `u${i}`,
      key: `sites/lab-1/volumes/${vsn}/${vsn}.iso`,
      versionId: 'v1',
      size,
      sha256: 'a'.repeat(64),
      manifestKey: `sites/lab-1/volumes/${vsn}/manifest.json`,
      manifestVersionId: 'v1',
      manifestDigest: 'b'.repeat(64),
      ackedAt: NOW,
    });
  }
  upload('u-open', 'OPT000003', 10);
  upload('u-failed', 'OPT000004', 10);
  store.setUploadState('u-failed', 'failed', NOW, 'checksum mismatch');
  for (const [id, state] of [
    ['k1', 'sent'],
    ['k2', 'sent'],
    ['k3', 'undelivered'],
  ] as const)
    store.insertCommand({ id, agentId: a.id, type: 'pause', args: {}, state, createdAt: NOW });
  store.answerCommand('k2', a.id, false, 'DAMAGED', NOW);
  return { a, b };
}

test('GET /metrics counts the store: agents by state, connections, sessions, uploads, mirrors and bytes, commands', async (t) => {
  const { store, deps } = fixture(t);
  populate(store);
  const r = await scrape(deps);
  t.is(r.statusCode, 200);
  t.is(r.headers?.['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  t.true(r.body!.endsWith('\n'));
  const m = parseMetrics(r.body!);
  const expected: Record<string, number> = {
    'optarc_gateway_agents{state="active"}': 2,
    'optarc_gateway_agents{state="revoked"}': 1,
    'optarc_gateway_agents{state="expired"}': 1,
    optarc_gateway_agents_paused: 1,
    optarc_gateway_agents_throttled: 1,
    optarc_gateway_connections: 3,
    optarc_gateway_connected_agents: 2,
    optarc_gateway_sessions: 3,
    'optarc_gateway_uploads{state="open"}': 1,
    'optarc_gateway_uploads{state="done"}': 2,
    'optarc_gateway_uploads{state="failed"}': 1,
    'optarc_gateway_uploads{state="aborted"}': 0,
    optarc_gateway_mirrors_total: 2,
    optarc_gateway_mirrored_bytes_total: 3500,
    'optarc_gateway_commands{state="sent"}': 1,
    'optarc_gateway_commands{state="failed"}': 1,
    'optarc_gateway_commands{state="undelivered"}': 1,
    'optarc_gateway_commands{state="ok"}': 0,
    optarc_gateway_store_version: store.version(),
  };
  for (const [k, v] of Object.entries(expected)) t.is(m.get(k), v, k);
  t.true((m.get('process_resident_memory_bytes') ?? 0) > 0);
  t.true([...m.keys()].some((k) => k.startsWith('optarc_build_info{')));
  t.regex(r.body!, /# TYPE optarc_gateway_mirrors_total counter/);
  t.regex(r.body!, /# TYPE optarc_gateway_connections gauge/);
});

test('an empty store: every series is there, at 0', async (t) => {
  const { deps } = fixture(t);
  const m = parseMetrics((await scrape(deps)).body!);
  for (const s of ['active', 'revoked', 'expired']) t.is(m.get(`optarc_gateway_agents{state="${s}"}`), 0);
  for (const s of ['open', 'done', 'failed', 'aborted']) t.is(m.get(`optarc_gateway_uploads{state="${s}"}`), 0);
  for (const s of ['sent', 'undelivered', 'ok', 'failed']) t.is(m.get(`optarc_gateway_commands{state="${s}"}`), 0);
  t.is(m.get('optarc_gateway_mirrors_total'), 0);
  t.is(m.get('optarc_gateway_mirrored_bytes_total'), 0);
  t.is(m.get('optarc_gateway_connections'), 0);
});

test('stateless: a second handler on the same store file answers the same numbers', async (t) => {
  const { store, deps, file } = fixture(t);
  populate(store);
  const other = new GatewayStore(file);
  t.teardown(() => other.close());
  const a = parseMetrics((await scrape(deps)).body!);
  const b = parseMetrics((await scrape({ ...deps, store: other })).body!);
  for (const [k, v] of a) if (k.startsWith('optarc_gateway_')) t.is(b.get(k), v, k);
});

test('who may scrape: the admin bearer when one is set (401 otherwise), else loopback only (403); off: 404', async (t) => {
  const withToken = fixture(t, { adminToken: ADMIN });
  t.is((await scrape(withToken.deps)).statusCode, 401);
  t.is((await scrape(withToken.deps, { token: 'not-it-not-it-not-it' })).statusCode, 401);
  t.is((await scrape(withToken.deps, { token: ADMIN, ip: '198.51.100.7' })).statusCode, 200);
  const open = fixture(t);
  t.is((await scrape(open.deps, { ip: '::1' })).statusCode, 200);
  t.is((await scrape(open.deps, { ip: '198.51.100.7' })).statusCode, 403);
  const off = fixture(t, { metrics: { enabled: false } });
  t.is((await scrape(off.deps)).statusCode, 404);
});

test('$connect and $disconnect log the agent and its site; a refusal its reason; never the token', async (t) => {
  const { store, deps, logs } = fixture(t);
  const tokens = new AgentTokens(store, { now: () => NOW });
  const { agent, token } = tokens.issue('lab-9');
  const connect = (id: string, authorization?: string) =>
    connectHandler(
      {
        requestContext: { routeKey: '$connect', connectionId: id, eventType: 'CONNECT' },
        headers: authorization ? { Authorization: authorization } : {},
      },
      deps,
    );
  t.is((await connect('c1', `Bearer ${token}`)).statusCode, 200);
  t.deepEqual(logs.at(-1), {
    level: 'info',
    msg: 'agent connected',
    fields: { agent: agent.id, site: 'lab-9', connectionId: 'c1' },
  });
  const forged = `${token.slice(0, -2)}xx`;
  t.is((await connect('c2', `Bearer ${forged}`)).statusCode, 401);
  t.like(logs.at(-1), {
    level: 'warn',
    msg: 'agent connection refused',
    fields: { connectionId: 'c2', reason: 'BAD_TOKEN', agent: agent.id, site: 'lab-9' },
  });
  t.is((await connect('c3')).statusCode, 401);
  t.like(logs.at(-1), { msg: 'agent connection refused', fields: { reason: 'NO_TOKEN' } });
  tokens.revoke(agent.id);
  t.is((await connect('c4', `Bearer ${token}`)).statusCode, 401);
  t.like(logs.at(-1), { fields: { reason: 'REVOKED', agent: agent.id } });

  await disconnectHandler(
    { requestContext: { routeKey: '$disconnect', connectionId: 'c1', eventType: 'DISCONNECT' } },
    deps,
  );
  t.like(logs.at(-1), {
    level: 'info',
    msg: 'agent disconnected',
    fields: { agent: agent.id, site: 'lab-9', connectionId: 'c1' },
  });
  const text = JSON.stringify(logs);
  t.false(text.includes(token.split('_')[2]!), "no token's secret in the log");
  t.false(text.includes(forged.split('_')[2]!));
});

test('optarc-gateway serve answers GET /metrics over HTTP; a connected agent shows as a connection', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-gw-metrics-serve-'));
  const port = await freePort();
  const config = path.join(dir, 'gateway.json');
  writeFileSync(
    config,
    JSON.stringify({
      log: { level: 'warn' },
      gateway: {
        http: { host: '127.0.0.1', port },
        store: path.join(dir, 'gateway.sqlite'),
        s3: { rgwDir: path.join(dir, 'no-rgw') },
        adminToken: ADMIN,
      },
    }),
  );
  const daemon = await startDaemon(BIN.gateway, ['serve', '--config', config]);
  t.teardown(async () => {
    await stopDaemon(daemon.child);
    rmSync(dir, { recursive: true, force: true });
  });
  const get = async () => {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
    return { status: r.status, type: r.headers.get('content-type'), metrics: parseMetrics(await r.text()) };
  };
  const before = await get();
  t.is(before.status, 200);
  t.is(before.type, 'text/plain; version=0.0.4; charset=utf-8');
  t.is(before.metrics.get('optarc_gateway_connections'), 0);
  t.is((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 401);

  const { token } = JSON.parse(
    (await run(BIN.gateway, ['agents', 'add', '--site', 'lab-1', '--json', '--config', config])).stdout,
  ) as { token: string };
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { headers: { Authorization: `Bearer ${token}` } });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const during = await get();
  t.is(during.metrics.get('optarc_gateway_connections'), 1);
  t.is(during.metrics.get('optarc_gateway_agents{state="active"}'), 1);
  ws.close();
  await new Promise((r) => ws.once('close', r));
  for (let i = 0; i < 40 && (await get()).metrics.get('optarc_gateway_connections') !== 0; i++)
    await new Promise((r) => setTimeout(r, 50));
  t.is((await get()).metrics.get('optarc_gateway_connections'), 0);
});
