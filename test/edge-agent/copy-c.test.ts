/**
 * optarc-copy, the rpcgen C client's COPY and BURN_COPY, on a real agent with
 * stand-in drives: a tree staged with optarc-put and burned once with
 * optarc-burn -w; the shelved disc loaded into sr0 and copied (-w) into the
 * copy area; then burned twice more as copies 2 and 3 of the same VSN, each
 * read back with bsdtar and validated as a bag, byte-identical with the
 * sources. A damaged disc fails the job (exit 1), an empty drive and an
 * unknown drive are refused by the agent (exit 4), bad command lines exit 2.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { buildCClient, C_CLIENT } from '../helpers/c-programs.js';
import { run } from '../helpers/processes.js';
import { makeTree, readCopy, startBurnAgent } from './burn-kit.js';

test.before(() => buildCClient());

const MiB = 1024 * 1024;
const HOST = '127.0.0.1';
/** The working directory (and so the copy area) is per client host and name: every program gives the same. */
const CLIENT = 'c-copy';

function common(port: number): string[] {
  return ['--port', String(port), '--client', CLIENT];
}

test('optarc-copy -w copies a loaded disc, then burns it twice more: copies 2 and 3 of the same VSN read back identical', async (t) => {
  const agent = await startBurnAgent(t, { drives: 2 });
  const src = path.join(agent.dir, 'src');
  const files = await makeTree(src, { 'night/a.fits': 2 * MiB + 3, 'night/deep/b.txt': 5, 'empty.dat': 0 });
  const put = await run(C_CLIENT.put, [...common(agent.rpcPort), HOST, src]);
  t.is(put.code, 0, put.stderr);

  const burn = await run(
    C_CLIENT.burn,
    [...common(agent.rpcPort), '-w', HOST, '--copies', '1', '--media', 'test-8m'],
    {},
    120_000,
  );
  t.is(burn.code, 0, `${burn.stdout}\n${burn.stderr}`);
  const shelved = await fs.readdir(agent.shelf);
  t.is(shelved.length, 1, `one disc on the shelf: ${shelved.join(', ')}`);
  const vsn = /^(.+)-1\.iso$/.exec(shelved[0] ?? '')?.[1];
  t.truthy(vsn, `the shelved disc is <VSN>-1.iso: ${shelved[0]}`);
  t.regex(burn.stdout, new RegExp(`^job \\d+ done: .*${vsn}`, 'm'), 'the burn names the volume');

  const bay = path.join(agent.dir, 'drives', 'sr0', 'medium');
  const copyArgs = [...common(agent.rpcPort), '-w', HOST, '--drive', 'sr0'];

  // a damaged disc: the job is accepted, then fails (exit 1) with its message on stdout
  const damaged = path.join(agent.dir, 'damaged.iso');
  await fs.copyFile(path.join(agent.shelf, `${vsn}-1.iso`), damaged);
  const fh = await fs.open(damaged, 'r+');
  await fh.write(Buffer.from('XXXX'), 0, 4, 100 * 2048);
  await fh.close();
  await fs.copyFile(damaged, bay);
  const bad = await run(C_CLIENT.copy, copyArgs, {}, 120_000);
  t.is(bad.code, 1, `${bad.stdout}\n${bad.stderr}`);
  const badJob = /^job (\d+)\n/.exec(bad.stdout)?.[1];
  t.truthy(badJob, `"job N" first: ${bad.stdout}`);
  t.regex(
    bad.stdout,
    new RegExp(`^job ${badJob} failed: .*the disc ${vsn} in sr0 differs from its mastered image`, 'm'),
  );

  // the operator loads the good disc: COPY reads it into the copy area
  await fs.copyFile(path.join(agent.shelf, `${vsn}-1.iso`), bay);
  const copy = await run(C_CLIENT.copy, copyArgs, {}, 120_000);
  t.is(copy.code, 0, `${copy.stdout}\n${copy.stderr}`);
  const copyJob = /^job (\d+)\n/.exec(copy.stdout)?.[1];
  t.truthy(copyJob, `"job N" first: ${copy.stdout}`);
  t.not(copyJob, badJob, 'a new job');
  t.regex(
    copy.stdout,
    new RegExp(`^job ${copyJob} done: copied ${vsn} \\(\\d+ bytes, identical to its mastered image\\) from sr0`, 'm'),
  );
  t.regex(copy.stderr, new RegExp(`^job ${copyJob} (queued|running|done) `, 'm'), 'the polled status on stderr');
  await fs.rm(bay); // the operator takes the disc out

  const empty = await run(C_CLIENT.copy, copyArgs);
  t.is(empty.code, 4, `${empty.stdout}\n${empty.stderr}`);
  t.regex(empty.stderr, /^optarc-copy: 127\.0\.0\.1: OPTARC_NO_MEDIUM: drive sr0 holds no written disc/m);
  t.is(empty.stdout, '', 'no job');

  const again = await run(
    C_CLIENT.copy,
    [...common(agent.rpcPort), '--wait', HOST, '--burn-copies', '2', '--media', 'test-8m'],
    {},
    120_000,
  );
  t.is(again.code, 0, `${again.stdout}\n${again.stderr}`);
  const againJob = /^job (\d+)\n/.exec(again.stdout)?.[1];
  t.truthy(againJob, `"job N" first: ${again.stdout}`);
  t.regex(again.stdout, new RegExp(`^job ${againJob} done: ${vsn} now has 3 verified copies`, 'm'));

  t.deepEqual(
    (await fs.readdir(agent.shelf)).sort(),
    [1, 2, 3].map((n) => `${vsn}-${n}.iso`),
    'copies 2 and 3 of the same VSN on the shelf',
  );
  for (const n of [2, 3]) {
    const payload = await readCopy(t, path.join(agent.shelf, `${vsn}-${n}.iso`));
    t.deepEqual([...payload.keys()].sort(), [...files.keys()].sort(), `copy ${n} holds the staged files`);
    for (const [p, data] of files) t.true(payload.get(p)?.equals(data), `copy ${n}: ${p} is byte-identical`);
  }
});

test('optarc-copy: an unknown drive is refused (exit 4, OPTARC_NO_SUCH_DRIVE), BURN_COPY before any COPY too; BYE frees the agent', async (t) => {
  const agent = await startBurnAgent(t, { drives: 1 });
  const unknown = await run(C_CLIENT.copy, [...common(agent.rpcPort), '-w', HOST, '--drive', 'sr9']);
  t.is(unknown.code, 4, `${unknown.stdout}\n${unknown.stderr}`);
  t.regex(unknown.stderr, /^optarc-copy: 127\.0\.0\.1: OPTARC_NO_SUCH_DRIVE: there is no drive sr9/m);
  t.is(unknown.stdout, '', 'no job');

  // not OPTARC_BUSY (3): the refused client said BYE
  const none = await run(C_CLIENT.copy, [...common(agent.rpcPort), HOST, '--burn-copies', '1', '--media', 'test-8m']);
  t.is(none.code, 4, `${none.stdout}\n${none.stderr}`);
  t.regex(none.stderr, /^optarc-copy: 127\.0\.0\.1: OPTARC_NOT_FOUND: no disc was copied in this working directory/m);
  t.is(none.stdout, '', 'no job');
});

test('optarc-copy: bad command lines print the usage and exit 2 without calling the agent', async (t) => {
  const agent = await startBurnAgent(t, { drives: 1 });
  const port = common(agent.rpcPort);
  const cases: string[][] = [
    [],
    [...port],
    [...port, '--drive', 'sr0'],
    [...port, HOST],
    [...port, HOST, '--drive'],
    [...port, HOST, '--drive', ''],
    [...port, HOST, '--drive', 'd'.repeat(65)],
    [...port, HOST, '--drive', 'sr0', '--burn-copies', '1'],
    [...port, HOST, '--drive', 'sr0', '--media', 'test-8m'],
    [...port, HOST, '--burn-copies', '2'],
    [...port, HOST, '--media', 'test-8m'],
    [...port, HOST, '--burn-copies', '0', '--media', 'test-8m'],
    [...port, HOST, '--burn-copies', 'two', '--media', 'test-8m'],
    [...port, HOST, '--burn-copies', '1', '--media', 'm'.repeat(33)],
    [...port, HOST, 'other-host', '--drive', 'sr0'],
    [...port, HOST, '--drive', 'sr0', '--frobnicate'],
    ['--port', '0', HOST, '--drive', 'sr0'],
  ];
  for (const args of cases) {
    const r = await run(C_CLIENT.copy, args);
    t.is(r.code, 2, `exit 2 for [${args.join(' ')}]: ${r.stdout}${r.stderr}`);
    t.regex(r.stderr, /^usage: optarc-copy .*\n.*--drive D\n.*optarc-copy .*\n.*--burn-copies N --media NAME\n/);
    t.is(r.stdout, '', `nothing on stdout for [${args.join(' ')}]`);
  }
});
