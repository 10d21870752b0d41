/**
 * `optarc get` and `optarc pickup`, the CLI as a user runs it, against a real
 * agent with a stand-in drive (files staged and burned with the C clients):
 * online from the loaded disc (to a file, and to stdout); online with no
 * disc (exit 4, NO_MEDIUM); offline with no source at hand (queued: the
 * token, pickup exits 8 until the operator loads the disc, then pickup
 * --wait collects it); a collected token (exit 4, EXPIRED); a file not in the
 * catalog (exit 7); bad options (exit 2). Then the clients' own checks
 * (optarc-get and the CLI) against a scripted stand-in of the optarc program
 * that serves small chunks: pickup --wait follows queued → fetching → ready
 * and reassembles the chunks; data that fails its announced SHA-256 or size
 * is never written under the asked-for name (C exit 11, CLI exit 4).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { type CallContext, type Procedure, RpcServer } from '../../clients/oncrpc/index.js';
import {
  createCodecs,
  createOptarcV1Procedures,
  OPTARC_BYE,
  OPTARC_HELLO,
  OPTARC_PROG,
  OPTARC_RETRIEVE,
  OPTARC_RETRIEVE_CACHED,
  OPTARC_RETRIEVE_STATUS,
  OPTARC_V1,
  OptarcRetrievalState,
  OptarcRetrieveMode,
  OptarcStatus,
} from '../../clients/protocol/generated/optarc.js';
import { type BurnAgent, startBurnAgent } from '../edge-agent/burn-kit.js';
import {
  burnTree,
  CLIENT,
  loadDisc,
  retrievalRow,
  sha256,
  shelfCopy,
  unloadDisc,
} from '../edge-agent/retrieval-kit.js';
import { buildCClient, C_CLIENT } from '../helpers/c-programs.js';
import { BIN, run } from '../helpers/processes.js';

test.before(() => buildCClient());

const KiB = 1024;

function optarc(agent: BurnAgent, ...args: string[]) {
  return agent.cli(...args, '--client', CLIENT);
}

test('optarc get online from a loaded disc, get --offline and pickup with their exit codes', async (t) => {
  const agent = await startBurnAgent(t, { drives: 1 });
  const { files, vsn } = await burnTree(t, agent, {
    'run/a.fits': 150 * KiB + 9,
    'run/notes.txt': 0,
    // text, to compare what comes on stdout
    'run/log.txt': Buffer.from('line of the night log\n'.repeat(100).slice(0, 2000)),
  });
  const text = files.get('run/log.txt') as Buffer;
  const out = path.join(agent.dir, 'out');
  await fs.mkdir(out);

  // online with no disc in the drive: refused, nothing written
  const noDisc = await optarc(agent, 'get', 'run/a.fits', '--output', path.join(out, 'a'));
  t.is(noDisc.code, 4, `${noDisc.stdout}\n${noDisc.stderr}`);
  t.regex(noDisc.stderr, /OPTARC_NO_MEDIUM/);
  t.regex(noDisc.stderr, /--offline/, 'it says what to do instead');
  t.deepEqual(await fs.readdir(out), []);

  // the operator loads the disc: online get to a file, then by SHA-256 with --json
  await loadDisc(agent, 'sr0', shelfCopy(agent, vsn));
  const a = path.join(out, 'a.fits');
  const online = await optarc(agent, 'get', 'run/a.fits', '--output', a);
  t.is(online.code, 0, `${online.stdout}\n${online.stderr}`);
  t.true((await fs.readFile(a)).equals(files.get('run/a.fits') as Buffer), 'byte-identical');
  t.regex(
    online.stdout,
    /^[0-9a-f]{32}: 153609 bytes of run\/a\.fits from disc sr0\b.*SHA-256 [0-9a-f]{64} checked -> /,
  );
  t.deepEqual(await fs.readdir(out), ['a.fits'], 'no temporary file left behind');

  const bySha = path.join(out, 'by-sha');
  const j = await optarc(agent, 'get', sha256(text), '--output', bySha, '--json');
  t.is(j.code, 0, j.stderr);
  const jr = JSON.parse(j.stdout);
  t.is(jr.path, 'run/log.txt');
  t.is(jr.sha256, sha256(text));
  t.is(jr.mode, 'online');
  t.is(jr.vsn, vsn);
  t.regex(jr.source, /^disc sr0/);
  t.true((await fs.readFile(bySha)).equals(text));

  // to stdout when there is no --output
  const toStdout = await optarc(agent, 'get', 'run/log.txt', '--vsn', vsn);
  t.is(toStdout.code, 0, toStdout.stderr);
  t.is(toStdout.stdout, text.toString('latin1'), 'the data on stdout');
  t.regex(toStdout.stderr, /2000 bytes of run\/log\.txt from disc sr0/);

  // offline with the disc out and no cloud copy: queued; pickup says not ready (8)
  await unloadDisc(agent, 'sr0');
  const off = await optarc(
    agent,
    'get',
    'run/a.fits',
    '--offline',
    '--priority',
    '2',
    '--deadline',
    '2100-01-01T00:00:00Z',
    '--json',
  );
  t.is(off.code, 0, off.stderr);
  const r = JSON.parse(off.stdout);
  t.regex(r.token, /^[0-9a-f]{32}$/);
  t.is(r.state, 'queued');
  t.is(r.mode, 'offline');
  t.is(r.priority, 2);
  t.is(r.deadline, '2100-01-01T00:00:00.000Z');
  t.is(r.size, String(150 * KiB + 9));

  const offText = await optarc(agent, 'get', 'run/notes.txt', '--offline');
  t.is(offText.code, 0, offText.stderr);
  t.regex(offText.stdout, /^[0-9a-f]{32}\n$/, 'the token alone on stdout');
  t.regex(offText.stderr, /queued at priority 3/, 'priority 3 by default');
  const emptyToken = offText.stdout.trim();

  const early = await optarc(agent, 'pickup', r.token, '--output', path.join(out, 'early'));
  t.is(early.code, 8, `${early.stdout}\n${early.stderr}`);
  t.regex(early.stderr, /not ready yet: queued at priority 2/);
  const earlyJson = await optarc(agent, 'pickup', r.token, '--json', '--output', path.join(out, 'early'));
  t.is(earlyJson.code, 8);
  t.is(JSON.parse(earlyJson.stderr).error, 'NOT_READY');
  t.false(
    (await fs.readdir(out)).some((f) => f.includes('early')),
    'nothing written while not ready',
  );

  // the disc comes back: pickup --wait collects both
  await loadDisc(agent, 'sr0', shelfCopy(agent, vsn));
  const later = path.join(out, 'later.fits');
  const pick = await optarc(agent, 'pickup', r.token, '--wait', '--output', later, '--progress');
  t.is(pick.code, 0, `${pick.stdout}\n${pick.stderr}`);
  t.true((await fs.readFile(later)).equals(files.get('run/a.fits') as Buffer));
  t.is(retrievalRow(agent, r.token)?.state, 'collected');
  const emptyOut = path.join(out, 'notes.txt');
  const pickEmpty = await optarc(agent, 'pickup', emptyToken, '--wait', '--output', emptyOut);
  t.is(pickEmpty.code, 0, pickEmpty.stderr);
  t.is((await fs.readFile(emptyOut)).length, 0);

  // collected: the token gives nothing more (exit 4, EXPIRED)
  const twice = await optarc(agent, 'pickup', r.token, '--output', path.join(out, 'twice'));
  t.is(twice.code, 4, `${twice.stdout}\n${twice.stderr}`);
  t.regex(twice.stderr, /OPTARC_EXPIRED/);

  // offline --wait in one go, from the loaded disc
  const waited = path.join(out, 'waited.txt');
  const w = await optarc(agent, 'get', 'run/log.txt', '--offline', '--priority', '1', '--wait', '--output', waited);
  t.is(w.code, 0, w.stderr);
  t.true((await fs.readFile(waited)).equals(text));

  // a path the catalog does not have: nothing found (7)
  const none = await optarc(agent, 'get', 'run/none.fits', '--output', path.join(out, 'none'));
  t.is(none.code, 7, `${none.stdout}\n${none.stderr}`);

  // bad usage: exit 2, without touching the agent
  for (const bad of [
    ['get'],
    ['get', 'a', 'b'],
    ['get', 'run/a.fits', '--priority', '2'],
    ['get', 'run/a.fits', '--deadline', '2100-01-01'],
    ['get', 'run/a.fits', '--offline', '--priority', '6'],
    ['get', 'run/a.fits', '--offline', '--priority', 'two'],
    ['get', 'run/a.fits', '--offline', '--deadline', 'someday'],
    ['get', 'run/a.fits', '--offline', '--output', 'x'],
    ['get', 'run/a.fits', '--json'],
    ['pickup'],
    ['pickup', 'x'.repeat(65)],
  ]) {
    const b = await optarc(agent, ...bad);
    t.is(b.code, 2, `exit 2 for [${bad.join(' ')}]: ${b.stderr}`);
  }
});

// ---------------------------------------------------------------------------
// The clients' own checks, against a scripted stand-in of the optarc program
// (optarc's RpcServer) that hands out data in small chunks, and can lie.

const TOKEN = 'feedfacefeedfacefeedfacefeedface';

interface Stand {
  data: Buffer;
  /** What RETRIEVE_STATUS announces; the data it serves may differ. */
  announced: Buffer;
  states: number[];
}

async function scriptedAgent(t: ExecutionContext, stand: Stand) {
  const calls: string[] = [];
  let polls = 0;
  const ok = (value?: unknown) => ({ tag: OptarcStatus.OPTARC_OK, value });
  const retrieval = (state: number) => ({
    token: TOKEN,
    state,
    mode: OptarcRetrieveMode.OPTARC_OFFLINE,
    priority: 4,
    position: state === OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED ? 7 : 0,
    deadline: { seconds: 0n, nanoseconds: 0 },
    vsn: 'OPT000009',
    path: Buffer.from('deep/data.bin'),
    size: BigInt(stand.announced.length),
    sha256: createHash('sha256').update(stand.announced).digest(),
    source: state === OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED ? '' : 'cloud',
    percent: state === OptarcRetrievalState.OPTARC_RETRIEVAL_FETCHING ? 40 : 0,
    expires: { seconds: 0n, nanoseconds: 0 },
    message: '',
  });
  const handlers: Record<number, (a: any) => unknown> = {
    [OPTARC_HELLO]: () =>
      ok({
        protocol: 1,
        session: 0x5eed_0002n,
        lease_seconds: 60,
        quota: { limit: 1n << 30n, used: 0n },
        agent_time: { seconds: BigInt(Math.floor(Date.now() / 1000)), nanoseconds: 0 },
        charset: 'utf-8',
        max_data: 1 << 20,
      }),
    [OPTARC_BYE]: () => ok(),
    [OPTARC_RETRIEVE]: () => ok(retrieval(OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED)),
    [OPTARC_RETRIEVE_STATUS]: () => ok(retrieval(stand.states[Math.min(polls++, stand.states.length - 1)] as number)),
    // at most 1000 bytes a call: the clients must follow the offsets
    [OPTARC_RETRIEVE_CACHED]: (a) => {
      const at = Number(a.offset);
      const data = stand.data.subarray(at, at + Math.min(a.count, 1000));
      calls.push(`CACHED ${at}`);
      return ok({ data, eof: at + data.length >= stand.data.length });
    },
  };
  const procedures: Record<number, Procedure> = {};
  for (const [num, p] of Object.entries(createOptarcV1Procedures(createCodecs()))) {
    const h = handlers[Number(num)];
    if (!h) continue;
    procedures[Number(num)] = {
      name: p.name,
      args: p.args as Procedure['args'],
      result: p.result as Procedure['result'],
      handler: (a: any, _ctx: CallContext) => h(a),
    };
  }
  const server = new RpcServer({ closeTimeoutMs: 500 });
  server.addProgram({ name: 'optarc-scripted', prog: OPTARC_PROG, vers: OPTARC_V1, procedures });
  const port = await server.listen(0);
  t.teardown(() => server.close());
  return { port, calls, polls: () => polls };
}

const {
  OPTARC_RETRIEVAL_QUEUED: QUEUED,
  OPTARC_RETRIEVAL_FETCHING: FETCHING,
  OPTARC_RETRIEVAL_READY: READY,
} = OptarcRetrievalState;

test('pickup --wait follows queued → fetching → ready and reassembles the chunks (C client and CLI)', async (t) => {
  const data = randomBytes(4321);
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'optarc-get-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));

  const c = await scriptedAgent(t, { data, announced: data, states: [QUEUED, FETCHING, READY] });
  const out = path.join(dir, 'c.bin');
  const r = await run(C_CLIENT.get, ['--port', String(c.port), '127.0.0.1', 'pickup', '--wait', '-o', out, TOKEN]);
  t.is(r.code, 0, r.stderr);
  t.true((await fs.readFile(out)).equals(data));
  t.deepEqual(c.calls, ['CACHED 0', 'CACHED 1000', 'CACHED 2000', 'CACHED 3000', 'CACHED 4000']);
  t.is(r.stderr, `${TOKEN} queued at priority 4, position 7\n${TOKEN} fetching 40% from cloud\n`);
  t.is(r.stdout, `${TOKEN}: 4321 bytes of deep/data.bin from cloud, SHA-256 ${sha256(data)} checked -> ${out}\n`);

  const n = await scriptedAgent(t, { data, announced: data, states: [QUEUED, FETCHING, READY] });
  const cliOut = path.join(dir, 'cli.bin');
  const cli = await run(BIN.optarc, [
    'pickup',
    TOKEN,
    '--wait',
    '--progress',
    '--output',
    cliOut,
    '--port',
    String(n.port),
  ]);
  t.is(cli.code, 0, cli.stderr);
  t.true((await fs.readFile(cliOut)).equals(data));
  t.is(n.calls.length, 5, 'five chunks');
  t.regex(cli.stderr, /queued at priority 4, position 7\n.*fetching 40% from cloud\n/);

  // not ready and no --wait: exit 8, one status call, nothing read
  const q = await scriptedAgent(t, { data, announced: data, states: [QUEUED] });
  const notReady = await run(C_CLIENT.get, ['--port', String(q.port), '127.0.0.1', 'pickup', '-o', out, TOKEN]);
  t.is(notReady.code, 8, notReady.stderr);
  t.regex(notReady.stderr, /not ready yet: .* queued at priority 4, position 7/);
  t.is(q.polls(), 1);
  t.deepEqual(q.calls, []);
});

test('data that fails its SHA-256 is never written under the asked-for name (C client exit 11, CLI exit 4)', async (t) => {
  const data = randomBytes(2500);
  const bad = Buffer.from(data);
  bad[1234] = (bad[1234] as number) ^ 1;
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'optarc-get-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));

  const c = await scriptedAgent(t, { data: bad, announced: data, states: [READY] });
  const r = await run(C_CLIENT.get, [
    '--port',
    String(c.port),
    '127.0.0.1',
    'pickup',
    '-o',
    path.join(dir, 'c.bin'),
    TOKEN,
  ]);
  t.is(r.code, 11, r.stderr);
  t.regex(
    r.stderr,
    new RegExp(
      `fails its check: 2500 bytes with SHA-256 ${sha256(bad)}, expected 2500 bytes with SHA-256 ${sha256(data)}`,
    ),
  );
  t.is(r.stdout, '');

  const n = await scriptedAgent(t, { data: bad, announced: data, states: [READY] });
  const cli = await run(BIN.optarc, ['pickup', TOKEN, '--output', path.join(dir, 'cli.bin'), '--port', String(n.port)]);
  t.is(cli.code, 4, cli.stderr);
  t.regex(cli.stderr, /OPTARC_CORRUPT: .*fails its check/);

  // a short answer (fewer bytes than announced) fails the same way
  const s = await scriptedAgent(t, { data: data.subarray(0, 2000), announced: data, states: [READY] });
  const short = await run(C_CLIENT.get, [
    '--port',
    String(s.port),
    '127.0.0.1',
    'pickup',
    '-o',
    path.join(dir, 's.bin'),
    TOKEN,
  ]);
  t.is(short.code, 11, short.stderr);
  t.regex(short.stderr, /2000 bytes with SHA-256 [0-9a-f]{64}, expected 2500 bytes/);
  t.deepEqual(await fs.readdir(dir), [], 'no file, no temporary file left');
});

const valgrind = spawnSync('valgrind', ['--version']).status === 0;
(valgrind ? test : test.skip)(
  'optarc-get pickup --wait frees every XDR result (valgrind: no leak, no error)',
  async (t) => {
    const data = randomBytes(3500);
    const dir = await fs.mkdtemp(path.join(tmpdir(), 'optarc-get-'));
    t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
    for (const [stand, code] of [
      [{ data, announced: data, states: [QUEUED, FETCHING, READY] }, 0],
      [{ data: data.subarray(1), announced: data, states: [READY] }, 11],
    ] as const) {
      const agent = await scriptedAgent(t, { ...stand, states: [...stand.states] });
      const out = path.join(dir, `out-${code}`);
      const r = await run(
        'valgrind',
        [
          '--leak-check=full',
          '--errors-for-leak-kinds=definite,indirect',
          '--error-exitcode=99',
          C_CLIENT.get,
          '--port',
          String(agent.port),
          '127.0.0.1',
          'pickup',
          '--wait',
          '-o',
          out,
          TOKEN,
        ],
        {},
        90_000,
      );
      t.is(r.code, code, r.stderr);
      t.regex(r.stderr, /ERROR SUMMARY: 0 errors/);
      t.regex(r.stderr, /definitely lost: 0 bytes|no leaks are possible/);
    }
  },
);
