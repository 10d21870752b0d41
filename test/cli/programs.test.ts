/**
 * The three programs as a user runs them: --help, configuration precedence
 * (flags over OPTARC_* environment over the file), clear errors for bad
 * settings, and `optarc ping` reaching an agent through its portmapper.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { BIN, freePort, run, startDaemon, stopDaemon } from '../helpers/processes.js';

for (const [name, file] of Object.entries(BIN)) {
  test(`${name} --help prints usage and exits 0`, async (t) => {
    const r = await run(file, ['--help']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^usage: optarc/);
    t.regex(r.stdout, /--config FILE/);
  });
}

test('optarc with an unknown command or flag exits 2 with a message', async (t) => {
  const a = await run(BIN.optarc, ['frobnicate']);
  t.is(a.code, 2);
  t.regex(a.stderr, /unknown command 'frobnicate'/);
  const b = await run(BIN.optarc, ['ping', '--no-such-flag']);
  t.is(b.code, 2);
  t.regex(b.stderr, /no-such-flag/);
});

test('settings: flags override the environment, which overrides the file', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'optarc.json');
  writeFileSync(file, JSON.stringify({ agent: { rpc: { port: 1001, maxConnections: 7 }, portmap: { port: 1111 } } }));
  const fromFile = JSON.parse((await run(BIN.agent, ['--config', file, '--print-config'])).stdout);
  t.is(fromFile.agent.rpc.port, 1001);
  t.is(fromFile.agent.rpc.maxConnections, 7);
  t.is(fromFile.agent.rpc.idleTimeoutSeconds, 300, 'unset settings keep their defaults');
  const fromEnv = JSON.parse(
    (await run(BIN.agent, ['--config', file, '--print-config'], { OPTARC_AGENT_RPC_PORT: '2002' })).stdout,
  );
  t.is(fromEnv.agent.rpc.port, 2002);
  t.is(fromEnv.agent.rpc.maxConnections, 7);
  const fromFlag = JSON.parse(
    (
      await run(BIN.agent, ['--config', file, '--print-config', '--rpc-port', '3003'], {
        OPTARC_AGENT_RPC_PORT: '2002',
      })
    ).stdout,
  );
  t.is(fromFlag.agent.rpc.port, 3003);
  const negated = JSON.parse((await run(BIN.agent, ['--print-config', '--no-embedded-portmap'])).stdout);
  t.false(negated.agent.portmap.embedded);
});

test('bad settings are refused with the setting and its source named', async (t) => {
  const env = await run(BIN.agent, ['--print-config'], { OPTARC_AGENT_RPC_PORT: '70000' });
  t.is(env.code, 2);
  t.regex(env.stderr, /agent\.rpc\.port/);
  t.regex(env.stderr, /OPTARC_AGENT_RPC_PORT/);
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const unknownKey = path.join(dir, 'unknown.json');
  writeFileSync(unknownKey, JSON.stringify({ agnet: {} }));
  const r1 = await run(BIN.agent, ['--config', unknownKey, '--print-config']);
  t.is(r1.code, 2);
  t.regex(r1.stderr, /agnet/);
  const broken = path.join(dir, 'broken.json');
  writeFileSync(broken, '{ not json');
  const r2 = await run(BIN.gateway, ['config', '--config', broken]);
  t.is(r2.code, 2);
  t.regex(r2.stderr, /cannot read config file/);
});

test('optarc ping finds the agent through an embedded portmapper and calls NULL', async (t) => {
  const pmPort = await freePort();
  const agent = await startDaemon(BIN.agent, ['--portmap-port', String(pmPort), '--rpc-port', '0']);
  t.teardown(() => stopDaemon(agent.child));
  t.is(agent.ready.portmap, 'embedded');
  t.is(agent.ready.portmapPort, pmPort);

  const ping = await run(BIN.optarc, ['ping', '--portmap-port', String(pmPort), '--json']);
  t.is(ping.code, 0, ping.stderr);
  const answer = JSON.parse(ping.stdout);
  t.true(answer.ok);
  t.is(answer.port, agent.ready.rpcPort);

  const withAuth = await run(BIN.optarc, ['ping', '--port', String(agent.ready.rpcPort), '--auth-sys']);
  t.is(withAuth.code, 0, withAuth.stderr);
  t.regex(withAuth.stdout, /answered NULL/);

  const maps = JSON.parse((await run(BIN.optarc, ['portmap', '--portmap-port', String(pmPort), '--json'])).stdout);
  t.deepEqual(
    maps.find((m: { prog: number }) => m.prog === 0x2a7c0001),
    { prog: 0x2a7c0001, vers: 1, prot: 6, port: agent.ready.rpcPort },
  );
  t.is(await stopDaemon(agent.child), 0, 'SIGTERM stops the agent cleanly');
});

test('optarc ping names the problem when no agent is registered', async (t) => {
  const pmPort = await freePort();
  const nothing = await run(BIN.optarc, ['ping', '--portmap-port', String(pmPort), '--timeout', '2']);
  t.is(nothing.code, 1);
  t.regex(nothing.stderr, /cannot connect to 127\.0\.0\.1:\d+/);
});

test('the agent without a portmapper and with --no-embedded-portmap fails clearly', async (t) => {
  const pmPort = await freePort();
  const r = await run(BIN.agent, ['--portmap-port', String(pmPort), '--no-embedded-portmap']);
  t.is(r.code, 1);
  t.regex(r.stderr, /no portmapper answers at 127\.0\.0\.1:\d+/);
});
