/**
 * The operator's command API (gateway/handlers/agent-commands.ts) and the
 * `optarc-gateway command` CLI: a command is recorded, its controls are stored
 * for the agent's next session, it is pushed to every live connection of the
 * agent (a gone one is forgotten; none: undelivered), and the agent's answer is
 * read back. Only the admin token (or, without one, loopback) gets in; bad
 * bodies are 400 naming the field; unknown agents 404.
 *
 * The handlers run on hand-built events with a fake postToConnection; the CLI
 * runs against a real `optarc-gateway serve` with a scripted agent on a
 * websocket. The real agent answering real commands is test/mirror/mirror-status.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { configSchema } from '../../config/schema.js';
import { GoneError, type HandlerDeps, type HttpEvent } from '../../gateway/handlers/events.js';
import { messageHandler } from '../../gateway/handlers/message.js';
import { matchHttpRoute } from '../../gateway/handlers/routes.js';
import { AgentTokens } from '../../gateway/identity/agent-tokens.js';
import { decodeGatewayMessage } from '../../gateway/protocol/codec.js';
import { GatewayMessage } from '../../gateway/protocol/session-messages.js';
import { openSession, policyFor } from '../../gateway/sessions/open-session.js';
import { GatewayStore } from '../../gateway/store/gateway-store.js';
import { BIN, freePort, run, startDaemon, stopDaemon } from '../helpers/processes.js';
import { type LoggedLine, recordingLogger } from '../helpers/recording-logger.js';

const ADMIN = 'admin-token-0123456789abcdef';

interface Fixture {
  store: GatewayStore;
  deps: HandlerDeps;
  /** Messages posted, by connection id. */
  posted: Map<string, GatewayMessage[]>;
  /** Connection ids postToConnection answers GoneError for. */
  gone: Set<string>;
  logs: LoggedLine[];
  agent: { id: string; site: string };
  other: { id: string; site: string };
}

function fixture(
  t: import('ava').ExecutionContext,
  settings: Record<string, unknown> = { adminToken: ADMIN },
): Fixture {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-gw-cmd-'));
  const store = new GatewayStore(path.join(dir, 'gateway.sqlite'));
  t.teardown(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const tokens = new AgentTokens(store);
  const agent = tokens.issue('lab-1').agent;
  const other = tokens.issue('lab-2').agent;
  const posted = new Map<string, GatewayMessage[]>();
  const gone = new Set<string>();
  const { log, logs } = recordingLogger();
  const deps: HandlerDeps = {
    store,
    settings: configSchema.parse({ gateway: settings }).gateway,
    log,
    async postToConnection(id, message) {
      if (gone.has(id)) throw new GoneError(id);
      // what goes on the wire must be a valid gateway message
      GatewayMessage.parse(message);
      posted.set(id, [...(posted.get(id) ?? []), message]);
    },
  };
  return { store, deps, posted, gone, logs, agent, other };
}

/** Runs the route matching `method path` as the host would. */
async function call(
  f: Fixture,
  method: string,
  rawPath: string,
  options: { body?: unknown; token?: string | null; ip?: string } = {},
) {
  const route = matchHttpRoute(method, rawPath);
  if (!route) throw new Error(`no route for ${method} ${rawPath}`);
  const token = options.token === undefined ? ADMIN : options.token;
  const event: HttpEvent = {
    routeKey: route.routeKey,
    rawPath,
    pathParameters: route.pathParameters,
    headers: token === null ? {} : { Authorization: `Bearer ${token}` },
    body: typeof options.body === 'string' || options.body === undefined ? options.body : JSON.stringify(options.body),
    requestContext: { http: { sourceIp: options.ip ?? '127.0.0.1' } },
  };
  const r = await route.handler(event, f.deps);
  return { ...r, json: r.body ? JSON.parse(r.body) : undefined };
}

function connect(f: Fixture, id: string, agentId = f.agent.id) {
  f.store.insertConnection({ id, agentId, site: agentId === f.agent.id ? 'lab-1' : 'lab-2', connectedAt: Date.now() });
}

test('a command is recorded, its control stored, and pushed to every live connection of the agent; a gone one is forgotten', async (t) => {
  const f = fixture(t);
  connect(f, 'c-live');
  connect(f, 'c-gone');
  connect(f, 'c-other', f.other.id);
  f.gone.add('c-gone');

  const r = await call(f, 'POST', `/agents/${f.agent.id}/commands`, {
    body: { type: 'throttle', bytesPerSecond: 1048576 },
  });
  t.is(r.statusCode, 202, r.body);
  t.is(r.headers?.['content-type'], 'application/json');
  t.deepEqual(Object.keys(r.json).sort(), ['delivered', 'id', 'state']);
  t.true(r.json.delivered);
  t.is(r.json.state, 'sent');
  t.regex(r.json.id, /^cmd_[0-9a-f]{24}$/);
  t.deepEqual(f.posted.get('c-live'), [{ v: 1, type: 'throttle', id: r.json.id, bytesPerSecond: 1048576 }]);
  t.false(f.posted.has('c-other'), "another agent's connection gets nothing");
  t.is(f.store.connection('c-gone'), undefined, 'the gone connection is forgotten');
  t.truthy(f.store.connection('c-live'));

  // durable: a session opened later carries the limit
  t.is(f.store.agent(f.agent.id)?.throttleBytesPerSecond, 1048576);
  t.is(policyFor(f.agent.id, f.deps).throttleBytesPerSecond, 1048576);

  // the row, then the agent's answer through the websocket handler
  const sent = await call(f, 'GET', `/agents/${f.agent.id}/commands/${r.json.id}`);
  t.is(sent.statusCode, 200);
  t.like(sent.json, {
    id: r.json.id,
    agentId: f.agent.id,
    type: 'throttle',
    state: 'sent',
    detail: '',
    answeredAt: null,
  });
  t.deepEqual(sent.json.args, { bytesPerSecond: 1048576 });
  t.regex(sent.json.createdAt, /^\d{4}-\d\d-\d\dT/);
  await messageHandler(
    {
      requestContext: { routeKey: '$default', connectionId: 'c-live', eventType: 'MESSAGE' },
      body: JSON.stringify({
        v: 1,
        type: 'command.result',
        replyTo: r.json.id,
        command: 'throttle',
        ok: true,
        detail: 'upload limit 1048576 bytes/s',
      }),
    },
    f.deps,
  );
  const answered = await call(f, 'GET', `/agents/${f.agent.id}/commands/${r.json.id}`);
  t.like(answered.json, { state: 'ok', detail: 'upload limit 1048576 bytes/s' });
  t.truthy(answered.json.answeredAt);

  // a limit lifted with null
  const lift = await call(f, 'POST', `/agents/${f.agent.id}/commands`, {
    body: { type: 'throttle', bytesPerSecond: null },
  });
  t.is(lift.statusCode, 202);
  t.is(f.store.agent(f.agent.id)?.throttleBytesPerSecond, null);
  t.deepEqual(f.posted.get('c-live')?.at(-1), { v: 1, type: 'throttle', id: lift.json.id, bytesPerSecond: null });

  const log = f.logs.find((l) => l.msg === 'command sent');
  t.like(log?.fields, { agent: f.agent.id, site: 'lab-1', type: 'throttle', connections: 2, delivered: 1 });
});

test('pause and resume set the agent paused for its next session; verify carries the VSN; reason goes with pause', async (t) => {
  const f = fixture(t);
  connect(f, 'c1');
  const pause = await call(f, 'POST', `/agents/${f.agent.id}/commands`, {
    body: { type: 'pause', reason: 'link maintenance' },
  });
  t.is(pause.statusCode, 202);
  t.deepEqual(f.posted.get('c1'), [{ v: 1, type: 'pause', id: pause.json.id, reason: 'link maintenance' }]);
  t.true(f.store.agent(f.agent.id)?.paused);
  t.deepEqual(f.store.command(pause.json.id)?.args, { reason: 'link maintenance' });

  // an agent connecting while paused is told so right after its session
  f.store.insertConnection({ id: 'c2', agentId: f.agent.id, site: 'lab-1', connectedAt: Date.now() });
  const opened = openSession(
    { v: 1, type: 'hello', id: 'h1', agentId: f.agent.id, agentVersion: '0.1.0', drives: [], pendingVolumes: [] },
    f.store.connection('c2')!,
    f.deps,
  );
  t.deepEqual(
    opened.map((m) => m.type),
    ['session', 'pause'],
  );

  const resume = await call(f, 'POST', `/agents/${f.agent.id}/commands`, { body: { type: 'resume' } });
  t.is(resume.statusCode, 202);
  t.false(f.store.agent(f.agent.id)?.paused);
  t.deepEqual(f.posted.get('c1')?.at(-1), { v: 1, type: 'resume', id: resume.json.id });

  const verify = await call(f, 'POST', `/agents/${f.agent.id}/commands`, {
    body: { type: 'verify', vsn: 'OPT000001' },
  });
  t.is(verify.statusCode, 202);
  t.deepEqual(f.posted.get('c1')?.at(-1), { v: 1, type: 'verify', id: verify.json.id, vsn: 'OPT000001' });
  t.deepEqual(f.store.command(verify.json.id)?.args, { vsn: 'OPT000001' });
  t.false(f.store.agent(f.agent.id)?.paused, 'verify changes no control');
});

test('an agent with no live connection: the command is undelivered, its control is stored all the same', async (t) => {
  const f = fixture(t);
  connect(f, 'c-gone');
  f.gone.add('c-gone');
  const r = await call(f, 'POST', `/agents/${f.agent.id}/commands`, { body: { type: 'pause' } });
  t.is(r.statusCode, 202);
  t.deepEqual({ delivered: r.json.delivered, state: r.json.state }, { delivered: false, state: 'undelivered' });
  t.is(f.store.command(r.json.id)?.state, 'undelivered');
  t.true(f.store.agent(f.agent.id)?.paused);
  t.deepEqual(f.store.connections(f.agent.id), []);
  const none = await call(f, 'POST', `/agents/${f.agent.id}/commands`, { body: { type: 'verify', vsn: 'OPT000002' } });
  t.is(none.json.state, 'undelivered');
  t.is((await call(f, 'GET', `/agents/${f.agent.id}/commands/${none.json.id}`)).json.state, 'undelivered');
});

test('with an admin token only its bearer gets in (401 otherwise, before any agent is looked up); without one only loopback (403)', async (t) => {
  const f = fixture(t);
  const post = (options: { token?: string | null; ip?: string }, agentId = f.agent.id) =>
    call(f, 'POST', `/agents/${agentId}/commands`, { body: { type: 'resume' }, ...options });

  for (const token of [null, 'wrong-token-0123456789abcdef', `${ADMIN}x`, ADMIN.slice(0, -1), '']) {
    const r = await post({ token });
    t.is(r.statusCode, 401, `token ${JSON.stringify(token)}`);
    t.is(r.json.error, 'UNAUTHORIZED');
    t.regex(r.headers?.['www-authenticate'] ?? '', /^Bearer/);
  }
  t.is((await post({ token: 'wrong-token-0123456789abcdef' }, 'no-such-agent')).statusCode, 401, 'no probing agents');
  t.is((await call(f, 'GET', `/agents/${f.agent.id}/commands/cmd_x`, { token: null })).statusCode, 401);
  t.is((await post({ token: ADMIN, ip: '203.0.113.9' })).statusCode, 202, 'the token works from anywhere');
  t.is(f.store.counts(Date.now()).commands.sent ?? 0, 0);
  t.is(f.store.counts(Date.now()).commands.undelivered, 1, 'only the authorised request made a command');
  const refusal = f.logs.find((l) => l.msg === 'operator request refused');
  t.truthy(refusal);
  t.false(JSON.stringify(f.logs).includes('wrong-token'), 'tokens are never logged');

  const open = fixture(t, {});
  for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.0.0.2']) {
    t.is(
      (await call(open, 'POST', `/agents/${open.agent.id}/commands`, { body: { type: 'resume' }, token: null, ip }))
        .statusCode,
      202,
      ip,
    );
  }
  for (const ip of ['10.0.0.5', '::ffff:10.0.0.5', '2001:db8::1', '']) {
    const r = await call(open, 'POST', `/agents/${open.agent.id}/commands`, {
      body: { type: 'resume' },
      token: null,
      ip,
    });
    t.is(r.statusCode, 403, ip);
    t.is(r.json.error, 'FORBIDDEN');
  }
});

test('a bad body is 400 naming the field, and records nothing', async (t) => {
  const f = fixture(t);
  const cases: [unknown, RegExp][] = [
    [undefined, /^\(body\): send a JSON object/],
    ['{"type": ', /^\(body\): not JSON/],
    [[], /^\(body\):/],
    [{}, /^type: /],
    [{ type: 'reboot' }, /^type: /],
    [{ type: 'throttle' }, /^bytesPerSecond: throttle needs bytesPerSecond/],
    [{ type: 'throttle', bytesPerSecond: 0 }, /^bytesPerSecond: /],
    [{ type: 'throttle', bytesPerSecond: 1.5 }, /^bytesPerSecond: /],
    [{ type: 'throttle', bytesPerSecond: '1M' }, /^bytesPerSecond: /],
    [{ type: 'verify' }, /^vsn: verify needs vsn/],
    [{ type: 'verify', vsn: 'opt 1' }, /^vsn: /],
    [{ type: 'pause', vsn: 'OPT000001' }, /^vsn: goes with verify, not pause/],
    [{ type: 'resume', bytesPerSecond: 5 }, /^bytesPerSecond: goes with throttle, not resume/],
    [{ type: 'pause', force: true }, /^force: unknown field/],
    [{ type: 'pause', reason: 'x'.repeat(2000) }, /^reason: /],
  ];
  for (const [body, message] of cases) {
    const r = await call(f, 'POST', `/agents/${f.agent.id}/commands`, { body });
    t.is(r.statusCode, 400, JSON.stringify(body));
    t.is(r.json.error, 'BAD_REQUEST');
    t.regex(r.json.message, message, JSON.stringify(body));
  }
  t.deepEqual(f.store.counts(Date.now()).commands, {});
  t.false(f.store.agent(f.agent.id)?.paused);
});

test("unknown agents and commands are 404, a revoked agent 409; one agent cannot read another one's command", async (t) => {
  const f = fixture(t);
  const unknown = await call(f, 'POST', '/agents/0123456789abcdef/commands', { body: { type: 'pause' } });
  t.is(unknown.statusCode, 404);
  t.is(unknown.json.error, 'NO_SUCH_AGENT');
  t.is((await call(f, 'POST', '/agents/NOT_AN_ID/commands', { body: { type: 'pause' } })).statusCode, 404);

  const r = await call(f, 'POST', `/agents/${f.agent.id}/commands`, { body: { type: 'resume' } });
  const elsewhere = await call(f, 'GET', `/agents/${f.other.id}/commands/${r.json.id}`);
  t.is(elsewhere.statusCode, 404);
  t.is(elsewhere.json.error, 'NO_SUCH_COMMAND');
  t.is((await call(f, 'GET', `/agents/${f.agent.id}/commands/cmd_000`)).statusCode, 404);
  t.is((await call(f, 'GET', `/agents/${f.agent.id}/commands/${encodeURIComponent('a b')}`)).statusCode, 404);

  new AgentTokens(f.store).revoke(f.other.id);
  const revoked = await call(f, 'POST', `/agents/${f.other.id}/commands`, { body: { type: 'pause' } });
  t.is(revoked.statusCode, 409);
  t.is(revoked.json.error, 'AGENT_REVOKED');
});

// --- the CLI against a real gateway ------------------------------------------------

interface ServedGateway {
  port: number;
  config: string;
  store: string;
  url: string;
  stderr: () => string;
}

async function serve(t: import('ava').ExecutionContext, adminToken?: string): Promise<ServedGateway> {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-gw-cli-'));
  const port = await freePort();
  const store = path.join(dir, 'gateway.sqlite');
  const config = path.join(dir, 'gateway.json');
  writeFileSync(
    config,
    JSON.stringify({
      log: { level: 'info' },
      gateway: {
        http: { host: '127.0.0.1', port },
        store,
        // no S3 here: nothing is mirrored, and the gateway says so once
        s3: { rgwDir: path.join(dir, 'no-rgw') },
        ...(adminToken ? { adminToken } : {}),
      },
    }),
  );
  const daemon = await startDaemon(BIN.gateway, ['serve', '--config', config]);
  t.teardown(async () => {
    await stopDaemon(daemon.child);
    rmSync(dir, { recursive: true, force: true });
  });
  return { port, config, store, url: `ws://127.0.0.1:${port}`, stderr: daemon.stderr };
}

/** A scripted agent: connects with its token, says hello, answers each command with `answer`. */
async function scriptedAgent(
  t: import('ava').ExecutionContext,
  url: string,
  token: string,
  agentId: string,
  answer: (m: GatewayMessage) => { ok: boolean; detail: string },
): Promise<GatewayMessage[]> {
  const got: GatewayMessage[] = [];
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
  t.teardown(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const session = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      const d = decodeGatewayMessage(String(data));
      if (!d.ok) throw new Error(d.error.message);
      const m = d.message;
      got.push(m);
      if (m.type === 'session') resolve();
      if (m.type === 'pause' || m.type === 'resume' || m.type === 'throttle' || m.type === 'verify') {
        const a = answer(m);
        ws.send(JSON.stringify({ v: 1, type: 'command.result', replyTo: m.id, command: m.type, ...a }));
      }
    });
  });
  ws.send(
    JSON.stringify({ v: 1, type: 'hello', id: 'h1', agentId, agentVersion: '0.1.0', drives: [], pendingVolumes: [] }),
  );
  await session;
  return got;
}

const cli = (gw: ServedGateway, args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(BIN.gateway, ['command', ...args, '--config', gw.config], env);

test('optarc-gateway command: sends through the running gateway, --wait prints the answer; exit 0 ok, 1 failed or undelivered', async (t) => {
  const gw = await serve(t, ADMIN);
  const issued = await run(BIN.gateway, ['agents', 'add', '--site', 'lab-1', '--json', '--config', gw.config]);
  const { id, token } = JSON.parse(issued.stdout) as { id: string; token: string };

  // nobody connected yet: undelivered (exit 1), the limit kept for the agent's session
  const early = await cli(gw, [id, 'throttle', '2M']);
  t.is(early.code, 1, early.stderr);
  t.regex(early.stdout, /undelivered: agent [0-9a-f]{16} is not connected \(it applies when the agent next connects\)/);

  const got = await scriptedAgent(t, gw.url, token, id, (m) =>
    m.type === 'verify'
      ? { ok: false, detail: `${m.vsn}: copy 1: DAMAGED: sha256 differs` }
      : { ok: true, detail: `${m.type} done` },
  );
  const session = got.find((m) => m.type === 'session');
  t.is(session?.type === 'session' ? session.policy.throttleBytesPerSecond : undefined, 2 * 1024 * 1024);

  const sent = await cli(gw, [id, 'pause', '--reason', 'maintenance']);
  t.is(sent.code, 0, sent.stderr);
  t.regex(sent.stdout, /^command cmd_[0-9a-f]+ pause: sent to agent /);

  const ok = await cli(gw, [id, 'throttle', 'none', '--wait']);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /throttle: ok: throttle done\n$/);

  const failed = await cli(gw, [id, 'verify', 'OPT000007', '--wait', '--json']);
  t.is(failed.code, 1, failed.stderr);
  const row = JSON.parse(failed.stdout);
  t.like(row, { agentId: id, type: 'verify', state: 'failed', args: { vsn: 'OPT000007' } });
  t.regex(row.detail, /DAMAGED/);

  t.deepEqual(
    got.filter((m) => m.type !== 'session').map((m) => m.type),
    ['pause', 'throttle', 'verify'],
  );
  const pause = got.find((m) => m.type === 'pause');
  t.is(pause?.type === 'pause' ? pause.reason : undefined, 'maintenance');

  const db = new Database(gw.store, { readonly: true });
  const agentRow = db.prepare('SELECT paused, throttle_bytes_per_second AS t FROM agents WHERE id = ?').get(id) as {
    paused: number;
    t: number | null;
  };
  db.close();
  t.deepEqual(agentRow, { paused: 1, t: null });

  // the structured log: who connected, never the token
  const lines = gw
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.truthy(lines.find((l) => l.msg === 'agent connected' && l.agent === id && l.site === 'lab-1'));
  t.truthy(lines.find((l) => l.msg === 'command sent' && l.agent === id && l.type === 'verify'));
  t.false(gw.stderr().includes(token), 'the agent token is never logged');
  t.false(gw.stderr().includes(ADMIN), 'the admin token is never logged');
});

test('optarc-gateway command: a wrong admin token is 401, an unknown agent 404 (exit 1); usage errors exit 2 before anything is sent', async (t) => {
  const gw = await serve(t, ADMIN);
  const issued = await run(BIN.gateway, ['agents', 'add', '--site', 'lab-1', '--json', '--config', gw.config]);
  const { id } = JSON.parse(issued.stdout) as { id: string };

  const wrong = await cli(gw, [id, 'pause'], { OPTARC_GATEWAY_ADMIN_TOKEN: 'not-the-admin-token-at-all' });
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /the gateway answered 401: send Authorization: Bearer/);
  const raw = await fetch(`http://127.0.0.1:${gw.port}/agents/${id}/commands`, {
    method: 'POST',
    headers: { authorization: 'Bearer not-the-admin-token-at-all', 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'pause' }),
  });
  t.is(raw.status, 401);
  t.is(((await raw.json()) as { error: string }).error, 'UNAUTHORIZED');

  const unknown = await cli(gw, ['0123456789abcdef', 'resume']);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /404: there is no agent 0123456789abcdef/);

  const usage: string[][] = [
    [],
    [id],
    [id, 'reboot'],
    [id, 'throttle'],
    [id, 'throttle', 'fast'],
    [id, 'throttle', '0'],
    [id, 'verify'],
    [id, 'verify', 'opt-1'],
    [id, 'pause', 'now'],
    [id, 'resume', '--reason', 'x'],
    [id, 'pause', '--timeout', '5'],
    ['Not An Id', 'pause'],
  ];
  for (const args of usage) {
    const r = await cli(gw, args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /optarc-gateway: .+ \(see optarc-gateway --help\)/);
  }
  const db = new Database(gw.store, { readonly: true });
  t.is((db.prepare('SELECT COUNT(*) AS n FROM commands').get() as { n: number }).n, 0, 'nothing was recorded');
  db.close();

  const down = await run(BIN.gateway, [
    'command',
    id,
    'pause',
    '--config',
    gw.config,
    '--http-port',
    String(await freePort()),
  ]);
  t.is(down.code, 1);
  t.regex(down.stderr, /cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+/);
});
