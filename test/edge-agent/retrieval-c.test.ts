/**
 * Retrieval through optarc-get, the rpcgen C client, on a real agent with
 * stand-in drives whose mirror talks to a real gateway on the test RGW:
 *  - the cloud copy as the only source (no disc loaded): get --offline, then
 *    pickup --wait, byte-identical, the retrieval's source "cloud";
 *  - a damaged disc loaded: the file still comes back intact (from the
 *    cloud), the damage recorded in source_faults and named in the message;
 *  - 1,000 offline requests across the five priorities (the C client files
 *    priority 5's): all complete with the right bytes, and priority 5 is
 *    served within the rounds its quota allows (the scheduler's round of
 *    every request, from the catalog);
 *  - an agent killed (SIGKILL) with queued requests: after the restart every
 *    one completes and is collected with its token;
 *  - find (over more than one page), whereis and status, and the exit codes
 *    of each refusal; where valgrind is installed, find and whereis free
 *    every XDR result.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AgentClient } from '../../clients/node/agent-client.js';
import { OptarcRetrievalState, OptarcRetrieveMode } from '../../clients/protocol/generated/optarc.js';
import { buildCClient, C_CLIENT } from '../helpers/c-programs.js';
import { run } from '../helpers/processes.js';
import { rgwMissing, sharedRgw } from '../helpers/test-rgw.js';
import { makeGateway, mirroredAgent, volumeStates, waitFor } from '../mirror/mirror-kit.js';
import { startBurnAgent } from './burn-kit.js';
import {
  bay,
  burnTree,
  CLIENT,
  catalogRows,
  damagedCopy,
  HOST,
  loadDisc,
  optarcGet,
  retrievalRow,
  sha256,
  shelfCopy,
} from './retrieval-kit.js';

const KiB = 1024;
const missing = rgwMissing();
const rgwTest = missing ? test.serial.skip : test.serial;
const skipped = missing ? ` [SKIPPED: ${missing}]` : '';
const TOKEN = /^([0-9a-f]{32})\n$/;

test.before(() => buildCClient());

/** A burned tree mirrored to a fresh bucket through a running gateway; no disc left in a drive. */
async function mirroredStack(t: ExecutionContext, sizes: Record<string, number>) {
  const rgw = await sharedRgw();
  const gw = await makeGateway(t, rgw);
  const { token } = await gw.issue('lab-1');
  await gw.start();
  const agent = await mirroredAgent(t, gw, token, { drives: 1 });
  const { files, vsn } = await burnTree(t, agent, sizes);
  await waitFor(`${vsn} mirrored`, () => volumeStates(agent).get(vsn) === 'mirrored');
  await t.throwsAsync(fs.access(bay(agent, 'sr0')), undefined, 'no disc is left in the drive');
  return { gw, agent, files, vsn };
}

rgwTest(
  `the cloud copy as the only source: get --offline, pickup --wait, byte-identical from the cloud${skipped}`,
  async (t) => {
    const { agent, files, vsn } = await mirroredStack(t, {
      'obs/night1/a.fits': 300 * KiB + 5,
      'obs/night1/b.txt': 1234,
      'obs/c.dat': 0,
    });
    const out = path.join(agent.dir, 'out');
    await fs.mkdir(out);

    // online needs a loaded disc: refused with its own exit code, nothing written
    const online = await optarcGet(agent, ['get', '-o', path.join(out, 'online'), 'obs/night1/a.fits']);
    t.is(online.code, 6, `${online.stdout}\n${online.stderr}`);
    t.regex(online.stderr, /OPTARC_NO_MEDIUM/);
    t.deepEqual(await fs.readdir(out), [], 'nothing written for a refused get');

    const q = await optarcGet(agent, ['get', '--offline', '--priority', '2', 'obs/night1/a.fits']);
    t.is(q.code, 0, q.stderr);
    const token = TOKEN.exec(q.stdout)?.[1];
    if (!token) return t.fail(`the token alone on stdout: ${JSON.stringify(q.stdout)}`);
    t.regex(q.stderr, new RegExp(`obs/night1/a\\.fits \\(${300 * KiB + 5} bytes on ${vsn}\\) (queued|fetching|ready)`));

    const deadline = Math.floor(Date.now() / 1000) + 3600;
    const withDeadline = await optarcGet(agent, [
      'get',
      '--offline',
      '--priority',
      '4',
      '--deadline',
      String(deadline),
      'obs/night1/b.txt',
    ]);
    t.is(withDeadline.code, 0, withDeadline.stderr);
    const token2 = TOKEN.exec(withDeadline.stdout)?.[1] as string;
    const status2 = await optarcGet(agent, ['status', token2]);
    t.regex(status2.stdout, new RegExp(`^deadline ${deadline}$`, 'm'), 'the deadline as given');
    t.regex(status2.stdout, /^priority 4$/m);
    const b = path.join(out, 'b.txt');
    const pickB = await optarcGet(agent, ['pickup', '--wait', '-o', b, token2]);
    t.is(pickB.code, 0, pickB.stderr);
    t.true((await fs.readFile(b)).equals(files.get('obs/night1/b.txt') as Buffer));
    await fs.rm(b);

    const status = await optarcGet(agent, ['status', token]);
    t.is(status.code, 0, status.stderr);
    t.regex(status.stdout, new RegExp(`^token ${token}$`, 'm'));
    t.regex(status.stdout, /^mode offline$/m);
    t.regex(status.stdout, /^priority 2$/m);
    t.regex(status.stdout, new RegExp(`^sha256 ${sha256(files.get('obs/night1/a.fits') as Buffer)}$`, 'm'));

    const file = path.join(out, 'a.fits');
    const pick = await optarcGet(agent, ['pickup', '--wait', '-o', file, token]);
    t.is(pick.code, 0, `${pick.stdout}\n${pick.stderr}`);
    t.true((await fs.readFile(file)).equals(files.get('obs/night1/a.fits') as Buffer), 'byte-identical');
    t.regex(
      pick.stdout,
      new RegExp(
        `^${token}: ${300 * KiB + 5} bytes of obs/night1/a\\.fits from cloud, SHA-256 [0-9a-f]{64} checked -> `,
        'm',
      ),
    );
    t.deepEqual(await fs.readdir(out), ['a.fits'], 'no temporary file left');
    const row = retrievalRow(agent, token);
    t.is(row?.source, 'cloud', 'the catalog says the data came from the cloud');
    t.is(row?.mode, 'offline');

    // collected: the entry is freed, the token no longer gives data (exit 9)
    const again = await optarcGet(agent, ['pickup', '-o', path.join(out, 'again'), token]);
    t.is(again.code, 9, `${again.stdout}\n${again.stderr}`);
    t.false((await fs.readdir(out)).includes('again'), 'nothing written for a collected token');

    // an empty file, to stdout, by its SHA-256
    const empty = await optarcGet(agent, ['get', '--offline', '--priority', '5', '--wait', sha256(Buffer.alloc(0))]);
    t.is(empty.code, 0, empty.stderr);
    t.regex(empty.stdout, /^[0-9a-f]{32}\n$/, 'only the token on stdout: the file is empty');
    t.regex(empty.stderr, / 0 bytes of obs\/c\.dat from cloud, SHA-256 e3b0c442/);

    // a file that is not archived: exit 7; a token never issued: exit 9; bad lines: exit 2
    const none = await optarcGet(agent, ['get', '--offline', '--priority', '1', 'obs/none']);
    t.is(none.code, 7, none.stderr);
    t.regex(none.stderr, /OPTARC_NOT_FOUND/);
    const never = await optarcGet(agent, ['pickup', '0123456789abcdef0123456789abcdef']);
    t.is(never.code, 9, never.stderr);
    t.regex(never.stderr, /OPTARC_EXPIRED/);
    for (const bad of [
      ['get', '--offline', 'obs/c.dat'],
      ['get', '--offline', '--priority', '6', 'obs/c.dat'],
      ['get', '--offline', '--priority', '0', 'obs/c.dat'],
      ['get', '--priority', '1', 'obs/c.dat'],
      ['get', '--wait', 'obs/c.dat'],
      ['get', '--offline', '--priority', '1', '--deadline', 'tomorrow', 'obs/c.dat'],
      ['get', '--offline', '--priority', '1', '-o', 'x', 'obs/c.dat'],
      ['pickup', '--offline', token],
      ['pickup', 'x'.repeat(65)],
      ['status'],
      ['fetch', 'obs/c.dat'],
    ]) {
      const r = await optarcGet(agent, bad);
      t.is(r.code, 2, `exit 2 for [${bad.join(' ')}]: ${r.stderr}`);
      t.regex(r.stderr, /^usage: optarc-get /);
      t.is(r.stdout, '');
    }
  },
);

rgwTest(`find and whereis through the C client: paging, patterns, copies and the cloud object${skipped}`, async (t) => {
  const sizes: Record<string, number> = { 'cat/x.dat': 10, 'cat/y.dat': 20 };
  for (let i = 0; i < 140; i++) sizes[`many/f${String(i).padStart(3, '0')}.txt`] = 1 + i;
  const { agent, files, vsn } = await mirroredStack(t, sizes);

  const all = await optarcGet(agent, ['find', '--glob', 'many/*']);
  t.is(all.code, 0, all.stderr);
  const lines = all.stdout.trim().split('\n');
  t.is(lines.length, 140, 'every hit, over more than one page of 128');
  const line = lines.find((l) => l.endsWith(' many/f007.txt'));
  t.is(line, `${vsn} 8 ${sha256(files.get('many/f007.txt') as Buffer)} many/f007.txt`);

  const like = await optarcGet(agent, ['find', '--like', 'cat/_.dat']);
  t.is(like.code, 0, like.stderr);
  t.deepEqual(
    like.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[3])
      .sort(),
    ['cat/x.dat', 'cat/y.dat'],
  );
  const nothing = await optarcGet(agent, ['find', 'nowhere/*']);
  t.is(nothing.code, 7, nothing.stderr);
  t.is(nothing.stdout, '');

  const where = await optarcGet(agent, ['whereis', 'cat/x.dat']);
  t.is(where.code, 0, where.stderr);
  t.regex(where.stdout, new RegExp(`^${vsn} 10 ${sha256(files.get('cat/x.dat') as Buffer)} cat/x\\.dat$`, 'm'));
  t.regex(where.stdout, /^ {2}copy 1 verified/m);
  t.regex(where.stdout, new RegExp(`^ {2}cloud sites/lab-1/volumes/${vsn}/${vsn}\\.iso`, 'm'));
  const bySha = await optarcGet(agent, ['whereis', sha256(files.get('cat/y.dat') as Buffer)]);
  t.is(bySha.code, 0, bySha.stderr);
  t.regex(bySha.stdout, / cat\/y\.dat$/m);
  const nowhere = await optarcGet(agent, ['whereis', 'cat/none']);
  t.is(nowhere.code, 7, `nothing found: ${nowhere.stderr}`);
  t.is(nowhere.stdout, '');

  // every XDR result of the paged answers is freed (valgrind, where installed)
  if (spawnSync('valgrind', ['--version']).status === 0) {
    for (const args of [
      ['find', '--glob', 'many/*'],
      ['whereis', 'cat/x.dat'],
    ]) {
      const r = await run(
        'valgrind',
        [
          '--leak-check=full',
          '--errors-for-leak-kinds=definite,indirect',
          '--error-exitcode=99',
          C_CLIENT.get,
          '--port',
          String(agent.rpcPort),
          '--client',
          CLIENT,
          HOST,
          ...args,
        ],
        {},
        120_000,
      );
      t.is(r.code, 0, r.stderr);
      t.regex(r.stderr, /ERROR SUMMARY: 0 errors/);
      t.regex(r.stderr, /definitely lost: 0 bytes|no leaks are possible/);
    }
  }
});

rgwTest(
  `a damaged disc loaded: the file comes back intact from the cloud, the damage recorded${skipped}`,
  async (t) => {
    const { agent, files, vsn } = await mirroredStack(t, {
      'obs/a.fits': 200 * KiB + 3,
      'obs/b.fits': 50 * KiB,
    });
    const data = files.get('obs/a.fits') as Buffer;
    const damaged = path.join(agent.dir, 'damaged.iso');
    const at = await damagedCopy(shelfCopy(agent, vsn), data, damaged);
    t.log(`flipped 64 bytes at ${at} of ${vsn}'s image, inside obs/a.fits`);
    await loadDisc(agent, 'sr0', damaged);

    const file = path.join(agent.dir, 'a.fits');
    const got = await optarcGet(agent, ['get', '-o', file, 'obs/a.fits']);
    t.is(got.code, 0, `${got.stdout}\n${got.stderr}`);
    t.true((await fs.readFile(file)).equals(data), 'the file is intact');
    const token = /^([0-9a-f]{32}): /.exec(got.stdout)?.[1];
    if (!token) return t.fail(`the token on stdout: ${got.stdout}`);
    t.regex(got.stdout, / from cloud, /, 'it came from the cloud');

    const row = retrievalRow(agent, token);
    t.is(row?.source, 'cloud');
    // the retrieval's message (RETRIEVE_STATUS, still answered for a collected token) names the failed disc
    const status = await optarcGet(agent, ['status', token]);
    t.is(status.code, 0, status.stderr);
    t.regex(status.stdout, /^state collected$/m);
    t.regex(status.stdout, /^source cloud$/m);
    t.regex(
      status.stdout,
      /^message .*disc.*sr0|^message .*sr0.*disc/im,
      `the message names the failed disc: ${status.stdout}`,
    );
    const faults = catalogRows<{ source: string; detail: string; path: Buffer | null }>(
      agent,
      `SELECT f.source, f.detail, fi.path FROM source_faults f LEFT JOIN files fi ON fi.id = f.file_id
     JOIN volumes v ON v.id = f.volume_id WHERE v.vsn = ?`,
      vsn,
    );
    t.true(faults.length >= 1, 'the damage is recorded');
    t.is(faults[0]?.source, 'disc');
    t.is(faults[0]?.path?.toString(), 'obs/a.fits', 'against the file it damaged');
    t.log(`source_faults: ${faults.map((f) => `${f.source}: ${f.detail}`).join('; ')}`);

    // the other file, outside the damage, still comes off the disc
    const other = path.join(agent.dir, 'b.fits');
    const ok = await optarcGet(agent, ['get', '-o', other, 'obs/b.fits']);
    t.is(ok.code, 0, ok.stderr);
    t.true((await fs.readFile(other)).equals(files.get('obs/b.fits') as Buffer));
    t.regex(ok.stdout, / from disc sr0/, 'an intact file comes from the loaded disc');
  },
);

test.serial(
  '1,000 offline requests over five priorities: all complete, priority 5 within its quota of rounds',
  async (t) => {
    const agent = await startBurnAgent(t, { drives: 1 });
    const sizes: Record<string, number> = {};
    for (let i = 0; i < 40; i++) sizes[`set/f${String(i).padStart(2, '0')}.dat`] = 256 + 37 * i;
    const { files, vsn } = await burnTree(t, agent, sizes);
    const names = [...files.keys()];
    const counts = [600, 100, 100, 100, 100];
    const quotas = [8, 4, 2, 1, 1];
    const want = new Map<string, string>(); // token → path

    // no disc loaded and no cloud copy: every request waits in the queue
    const agentClient = await AgentClient.connect({ host: HOST, port: agent.rpcPort, timeoutMs: 60_000 });
    t.teardown(() => agentClient.close());
    await agentClient.hello(CLIENT);
    let n = 0;
    for (let p = 1; p <= 4; p++) {
      for (let i = 0; i < (counts[p - 1] as number); i++) {
        const name = names[n++ % names.length] as string;
        const r = await agentClient.retrieve({
          path: Buffer.from(name),
          sha256: null,
          vsn: '',
          mode: OptarcRetrieveMode.OPTARC_OFFLINE,
          priority: p,
          deadline: { seconds: 0n, nanoseconds: 0 },
        });
        t.is(r.state, OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED);
        want.set(r.token, name);
      }
    }
    await agentClient.bye();
    // priority 5 through the C client, one run each
    for (let i = 0; i < (counts[4] as number); i++) {
      const name = names[n++ % names.length] as string;
      const r = await optarcGet(agent, ['get', '--offline', '--priority', '5', name]);
      const token = TOKEN.exec(r.stdout)?.[1];
      if (r.code !== 0 || !token) return t.fail(`optarc-get --offline: ${r.code} ${r.stdout} ${r.stderr}`);
      want.set(token, name);
    }
    t.is(want.size, 1000, 'a distinct token for each request');
    // (a request is 'fetching' for the moment the scheduler looks for a source and finds none)
    const waiting = catalogRows<{ n: number }>(
      agent,
      "SELECT count(*) AS n FROM retrievals WHERE state IN ('queued', 'fetching')",
    )[0];
    t.is(waiting?.n, 1000, 'all wait while no source is at hand');

    // the operator loads the disc: the scheduler serves the queue from it
    await loadDisc(agent, 'sr0', shelfCopy(agent, vsn));
    await waitFor(
      'every request ready',
      () =>
        catalogRows<{ n: number }>(agent, "SELECT count(*) AS n FROM retrievals WHERE state = 'ready'")[0]?.n === 1000,
      180_000,
    );

    const rows = catalogRows<{ token: string; priority: number; round: number | null; source: string }>(
      agent,
      'SELECT token, priority, round, source FROM retrievals',
    );
    t.true(
      rows.every((r) => r.round !== null),
      'every request has the round that served it',
    );
    t.true(
      rows.every((r) => r.source.startsWith('disc')),
      'from the loaded disc',
    );
    const first = Math.min(...rows.map((r) => r.round as number));
    const byPriority = [1, 2, 3, 4, 5].map((p) =>
      rows.filter((r) => r.priority === p).map((r) => (r.round as number) - first + 1),
    );
    for (let p = 1; p <= 5; p++) {
      const rounds = byPriority[p - 1] as number[];
      t.is(rounds.length, counts[p - 1], `priority ${p}: all its requests`);
      t.log(
        `priority ${p}: ${rounds.length} requests served in rounds ${Math.min(...rounds)}..${Math.max(...rounds)} (quota ${quotas[p - 1]} per round)`,
      );
    }
    // per round, no priority got more than its quota while every priority still had requests waiting
    const perRound = new Map<string, number>();
    for (const r of rows) perRound.set(`${r.round}/${r.priority}`, (perRound.get(`${r.round}/${r.priority}`) ?? 0) + 1);
    const busiest = Math.min(...byPriority.map((rs) => Math.max(...rs))) + first - 1;
    for (const [key, count] of perRound) {
      const [round, p] = key.split('/').map(Number) as [number, number];
      if (round < busiest)
        t.true(count <= (quotas[p - 1] as number), `round ${round} served ${count} of priority ${p}`);
    }
    // Priority 5 is not starved: it starts while the flood of priority 1 is still being served (strict
    // priority would serve it only after all 900 others), and from then on it gets its quota every round,
    // so its 100 requests take ceil(100 / 1) rounds. Its first round is not pinned to round 1: requests
    // that found no source before the disc came in wait out a retry delay, so the first rounds after it
    // came in see only part of the queue; that delay is the slack, and it is measured (t.log).
    const p1 = byPriority[0] as number[];
    const p5 = byPriority[4] as number[];
    const start = Math.min(...p5);
    const end = Math.max(...p5);
    t.true(
      start < Math.max(...p1),
      `priority 5 first served in round ${start}, under the flood (to round ${Math.max(...p1)})`,
    );
    const bound = Math.ceil((counts[4] as number) / (quotas[4] as number));
    t.true(end - start + 1 <= bound, `priority 5 took ${end - start + 1} rounds from its first, bound ${bound}`);
    t.log(
      `priority 5: first served in round ${start}, all ${p5.length} done in round ${end}: ${end - start + 1} rounds (bound ${bound} + ${start - 1} of slack)`,
    );

    // collect every one: 990 through AgentClient, 10 through optarc-get pickup
    const tokens = [...want.keys()];
    const viaC = tokens.slice(-10);
    await agentClient.hello(CLIENT);
    for (const token of tokens.slice(0, -10)) {
      const chunk = await agentClient.retrieveCached(token, 0n, 1024 * 1024);
      t.true(chunk.eof);
      if (!chunk.data.equals(files.get(want.get(token) as string) as Buffer)) t.fail(`${token}: wrong bytes`);
    }
    await agentClient.bye();
    for (const token of viaC) {
      const file = path.join(agent.dir, `${token}.out`);
      const r = await optarcGet(agent, ['pickup', '-o', file, token]);
      t.is(r.code, 0, r.stderr);
      t.true((await fs.readFile(file)).equals(files.get(want.get(token) as string) as Buffer));
    }
    const left = catalogRows<{ n: number }>(
      agent,
      "SELECT count(*) AS n FROM retrievals WHERE state <> 'collected'",
    )[0];
    t.is(left?.n, 0, 'all 1,000 collected');
  },
);

rgwTest(
  `an agent killed with queued offline requests: after the restart all complete and are picked up by token${skipped}`,
  async (t) => {
    const { gw, agent, files } = await mirroredStack(t, {
      'k/a.dat': 40 * KiB + 1,
      'k/b.dat': 3 * KiB,
      'k/c.dat': 70 * KiB,
    });
    // the gateway goes away: the cloud copy cannot be reached, no disc is loaded
    await gw.stop();
    const want = new Map<string, string>();
    let p = 1;
    for (const name of [...files.keys(), ...files.keys()]) {
      const r = await optarcGet(agent, ['get', '--offline', '--priority', String(p), name]);
      const token = TOKEN.exec(r.stdout)?.[1];
      if (r.code !== 0 || !token) return t.fail(`optarc-get --offline: ${r.code} ${r.stdout} ${r.stderr}`);
      want.set(token, name);
      p = (p % 5) + 1;
    }
    for (const token of want.keys()) {
      const s = await optarcGet(agent, ['pickup', token]);
      t.is(s.code, 8, `queued, not ready: ${s.stderr}`);
    }

    const child = agent.child();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    await agent.restart();
    // restored from the journal: still queued (not lost, which would be EXPIRED, exit 9)
    for (const token of want.keys()) {
      const s = await optarcGet(agent, ['pickup', token]);
      t.is(s.code, 8, `queued after the restart: ${s.stderr}`);
    }
    await gw.start();

    for (const [token, name] of want) {
      const file = path.join(agent.dir, `${token}.out`);
      const r = await optarcGet(agent, ['pickup', '--wait', '-o', file, token], 180_000);
      t.is(r.code, 0, `${token}: ${r.stdout}\n${r.stderr}`);
      t.true((await fs.readFile(file)).equals(files.get(name) as Buffer), `${name} intact after the crash`);
      t.regex(r.stdout, / from cloud, /);
    }
    t.is(
      catalogRows<{ n: number }>(agent, "SELECT count(*) AS n FROM retrievals WHERE state = 'collected'")[0]?.n,
      want.size,
    );
  },
);
