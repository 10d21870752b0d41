/**
 * BURN in APPEND mode, as a user does it with the CLI on a real agent with
 * stand-in drives: the first APPEND makes an open volume, the next adds a
 * session to it, and every copy, grown in place, reads back with bsdtar as
 * the newest session (the whole payload, a re-committed file in its new
 * version) and validates as a bag; the older session stays readable (xorriso
 * -load session 1); a NEW burn's volume is closed and never appended to; a
 * session that does not fit closes the open volume and opens another.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { buildCClient, C_CLIENT } from '../helpers/c-programs.js';
import { run } from '../helpers/processes.js';
import { exec, makeTree, readCopy, startBurnAgent } from './burn-kit.js';

const MiB = 1024 * 1024;

async function burn(agent: Awaited<ReturnType<typeof startBurnAgent>>, ...args: string[]) {
  const r = await agent.cli('burn', '--copies', '2', '--media', 'test-8m', '--wait', '--json', ...args);
  return { ...r, status: r.code === 0 ? JSON.parse(r.stdout) : undefined };
}

test('APPEND adds a session to the open volume: every copy shows the newest session, the older one stays readable', async (t) => {
  const agent = await startBurnAgent(t, { drives: 2 });
  const first = await makeTree(path.join(agent.dir, 'a'), { 'run1/a.fits': MiB, 'run1/b.txt': 10, 'notes.txt': 5 });
  t.is((await agent.cli('put', path.join(agent.dir, 'a'))).code, 0);
  const one = await burn(agent, '--append');
  t.is(one.code, 0, one.stderr);
  t.is(one.status.volumes.length, 1);
  const vsn = one.status.volumes[0].vsn as string;

  // the client stages more, and a new version of notes.txt
  const second = await makeTree(path.join(agent.dir, 'b'), { 'run2/c.fits': 2 * MiB, 'notes.txt': 9 });
  t.is((await agent.cli('put', path.join(agent.dir, 'b'))).code, 0);
  const two = await burn(agent, '--append');
  t.is(two.code, 0, two.stderr);
  t.regex(two.status.message, new RegExp(`session 2 appended to ${vsn}, 2 verified copies`));
  t.deepEqual(
    two.status.volumes.map((v: { vsn: string }) => v.vsn),
    [vsn],
    'no new volume',
  );

  const newest = new Map([...first, ...second]);
  for (const copy of [1, 2]) {
    const disc = path.join(agent.shelf, `${vsn}-${copy}.iso`);
    const payload = await readCopy(t, disc);
    t.deepEqual([...payload.keys()].sort(), [...newest.keys()].sort(), `copy ${copy} shows the whole payload`);
    for (const [p, data] of newest) t.true(payload.get(p)?.equals(data), `copy ${copy}: ${p} is its newest version`);
    const label = await exec('xorriso', ['-no_rc', '-indev', `stdio:${disc}`, '-toc']);
    t.regex(label.stdout + label.stderr, /ISO session\s*:\s*2\s*,/, `copy ${copy} has two sessions`);
    // the older session, as it was
    const out = path.join(agent.dir, `s1-${copy}`);
    const old = await exec('xorriso', [
      '-no_rc',
      '-osirrox',
      'on',
      '-indev',
      `stdio:${disc}`,
      '-load',
      'session',
      '1',
      '-extract',
      '/data',
      out,
    ]);
    t.is(old.code, 0, old.stderr);
    for (const [p, data] of first) {
      t.true((await fs.readFile(path.join(out, p))).equals(data), `copy ${copy}: session 1 still holds ${p} as it was`);
    }
  }
});

test('a NEW burn closes its volume; an APPEND that does not fit closes the open volume and opens another', async (t) => {
  const agent = await startBurnAgent(t, { drives: 2 });
  await makeTree(path.join(agent.dir, 'a'), { 'a.bin': MiB });
  t.is((await agent.cli('put', path.join(agent.dir, 'a'))).code, 0);
  const closed = await burn(agent);
  t.is(closed.code, 0, closed.stderr);
  const closedVsn = closed.status.volumes[0].vsn as string;

  await makeTree(path.join(agent.dir, 'b'), { 'b.bin': MiB });
  t.is((await agent.cli('put', path.join(agent.dir, 'b'))).code, 0);
  const open = await burn(agent, '--append');
  t.is(open.code, 0, open.stderr);
  const openVsn = open.status.volumes[0].vsn as string;
  t.not(openVsn, closedVsn, 'a NEW volume is closed: APPEND opens another');

  await makeTree(path.join(agent.dir, 'c'), { 'c.bin': 7 * MiB });
  t.is((await agent.cli('put', path.join(agent.dir, 'c'))).code, 0);
  const full = await burn(agent, '--append');
  t.is(full.code, 0, full.stderr);
  const nextVsn = full.status.volumes[0].vsn as string;
  t.not(nextVsn, openVsn, 'the session does not fit: a new open volume');
  for (const [vsn, name] of [
    [closedVsn, 'a.bin'],
    [openVsn, 'b.bin'],
    [nextVsn, 'c.bin'],
  ] as const) {
    const payload = await readCopy(t, path.join(agent.shelf, `${vsn}-1.iso`));
    t.deepEqual([...payload.keys()], [name], `${vsn} holds ${name} only`);
  }
});

test('the rpcgen C client appends a session the same way (optarc-put, optarc-burn --append -w)', async (t) => {
  buildCClient();
  const agent = await startBurnAgent(t, { drives: 2 });
  const port = String(agent.rpcPort);
  const cBurn = (...extra: string[]) =>
    run(
      C_CLIENT.burn,
      ['--port', port, '-w', '127.0.0.1', '--copies', '2', '--media', 'test-8m', '--append', ...extra],
      {},
      120_000,
    );
  const a = await makeTree(path.join(agent.dir, 'a'), { 'scan/0001.tif': 300_000 });
  t.is((await run(C_CLIENT.put, ['--port', port, '127.0.0.1', path.join(agent.dir, 'a')])).code, 0);
  const one = await cBurn();
  t.is(one.code, 0, `${one.stdout}${one.stderr}`);
  const vsn = /\((OPT\d+)\)/.exec(one.stdout)?.[1];
  t.truthy(vsn, one.stdout);
  const b = await makeTree(path.join(agent.dir, 'b'), { 'scan/0002.tif': 200_000 });
  t.is((await run(C_CLIENT.put, ['--port', port, '127.0.0.1', path.join(agent.dir, 'b')])).code, 0);
  const two = await cBurn();
  t.is(two.code, 0, `${two.stdout}${two.stderr}`);
  t.regex(two.stdout, new RegExp(`done: session 2 appended to ${vsn}`));
  const payload = await readCopy(t, path.join(agent.shelf, `${vsn}-2.iso`));
  for (const [p, data] of [...a, ...b]) t.true(payload.get(p)?.equals(data), `${p} is on the grown copy`);
});
