/**
 * `optarc volumes`, `optarc files` and `optarc locate` (node
 * dist/clients/node/cli.js) against a real agent that burned a real volume,
 * one of its discs put back in a drive: the JSON a script reads, the table
 * and report a person reads, and the exit codes: 0 found, 2 bad usage, 4 a
 * pattern the agent refuses, 7 nothing found.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { makeTree, startBurnAgent } from '../edge-agent/burn-kit.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('volumes, files and locate show the catalog; scripts get JSON and exit codes 0, 2, 4 and 7', async (t) => {
  const agent = await startBurnAgent(t, { drives: 2 });
  const src = path.join(agent.dir, 'src');
  const files = await makeTree(src, {
    'night1/a.fits': 20_000,
    'night1/b_1.txt': 10,
    'night1/b%1.txt': 11,
    'night2/deep/c.bin': 300,
  });
  const before = new Date(Date.now() - 1000).toISOString();
  t.is((await agent.cli('put', src)).code, 0);
  const burn = await agent.cli('burn', '--copies', '2', '--media', 'test-8m', '--label', 'NIGHTS', '--wait', '--json');
  t.is(burn.code, 0, burn.stderr);
  const vsn = JSON.parse(burn.stdout).volumes[0].vsn as string;
  // copy 2 goes back into drive sr1
  await fs.copyFile(path.join(agent.shelf, `${vsn}-2.iso`), path.join(agent.dir, 'drives', 'sr1', 'medium'));

  // volumes
  const volumes = await agent.cli('volumes', '--json');
  t.is(volumes.code, 0, volumes.stderr);
  const vs = JSON.parse(volumes.stdout);
  t.is(vs.length, 1);
  t.like(vs[0], { vsn, label: 'NIGHTS', media: 'test-8m', state: 'finished', files: 4, cloudKey: '' });
  t.deepEqual(
    vs[0].copies.map((c: { copy: number; state: string; drive: string }) => [c.copy, c.state, c.drive]),
    [
      [1, 'verified', 'sr1'],
      [2, 'verified', ''],
    ],
    'the loaded disc is put on the first verified copy (a disc does not tell which copy it is)',
  );
  t.true(Date.parse(vs[0].created) >= Date.parse(before));
  t.is((await agent.cli('volumes', '--since', before, '--json')).code, 0);
  const table = await agent.cli('volumes');
  t.is(table.code, 0);
  t.regex(table.stdout, /^VSN\s+LABEL\s+MEDIA\s+STATE\s+CREATED\s+SIZE\s+FILES\s+COPIES\s+CLOUD$/m);
  t.regex(
    table.stdout,
    new RegExp(`^${vsn}\\s+NIGHTS\\s+test-8m\\s+finished\\s.*\\s4\\s+1 verified@sr1, 2 verified\\s+-$`, 'm'),
  );
  const future = await agent.cli('volumes', '--since', '2999-01-01', '--json');
  t.is(future.code, 7, 'nothing created since then');
  t.like(JSON.parse(future.stderr), { error: 'NOT_FOUND' });
  const badDate = await agent.cli('volumes', '--since', 'yesterday');
  t.is(badDate.code, 2);
  t.regex(badDate.stderr, /--since takes an ISO 8601 date or time/);
  t.is((await agent.cli('volumes', '--since', '2026-13-45')).code, 2, 'not a date');

  // files: a glob by default, LIKE, EXACT, a VSN
  const files1 = async (...args: string[]) => {
    const r = await agent.cli('files', ...args, '--json');
    t.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { path: string }[]).map((f) => f.path).sort();
  };
  t.deepEqual(await files1(), [...files.keys()].sort());
  t.deepEqual(await files1('*c.bin'), ['night2/deep/c.bin'], 'a glob crosses /');
  t.deepEqual(await files1('night1/b_1.txt', '--like'), ['night1/b%1.txt', 'night1/b_1.txt']);
  t.deepEqual(await files1('night1/b\\%1.txt', '--like'), ['night1/b%1.txt']);
  t.deepEqual(await files1('night1/a.fits', '--exact', '--vsn', vsn), ['night1/a.fits']);
  const one = JSON.parse((await agent.cli('files', 'night1/a.fits', '--exact', '--json')).stdout)[0];
  t.like(one, { vsn, size: 20_000, sha256: sha(files.get('night1/a.fits')!), part: 0, session: 1 });
  const ftable = await agent.cli('files', 'night2/*');
  t.is(ftable.code, 0);
  t.regex(ftable.stdout, /^VSN\s+SESSION\s+PART\s+SIZE\s+MODIFIED\s+SHA256\s+PATH$/m);
  t.regex(ftable.stdout, new RegExp(`^${vsn}\\s+1\\s+-\\s+300 B\\s.*night2/deep/c\\.bin$`, 'm'));

  const nothing = await agent.cli('files', 'night9/*', '--json');
  t.is(nothing.code, 7);
  t.regex(JSON.parse(nothing.stderr).message, /no archived file matches "night9\/\*"/);
  const exactMiss = await agent.cli('files', 'night1/a.fit', '--exact');
  t.is(exactMiss.code, 7);
  t.regex(exactMiss.stderr, /^optarc: no archived file matches "night1\/a\.fit"/);
  const badGlob = await agent.cli('files', 'night1/[z-a]');
  t.is(badGlob.code, 4, 'the agent refuses a malformed glob');
  t.regex(badGlob.stderr, /OPTARC_BAD_ARGUMENT: the glob's range z-a runs backwards/);
  t.is((await agent.cli('files', 'x', '--like', '--glob')).code, 2, 'two match kinds');
  t.is((await agent.cli('files', '--exact')).code, 2, 'EXACT needs a path');
  t.is((await agent.cli('files', 'a', 'b')).code, 2, 'one pattern at most');
  const unknownVsn = await agent.cli('files', '--vsn', 'NOPE000');
  t.is(unknownVsn.code, 4);
  t.regex(unknownVsn.stderr, /OPTARC_NOT_FOUND: no volume NOPE000 in the catalog/);
  t.is((await agent.cli('files', '--since', 'soon')).code, 2);
  t.is((await agent.cli('files', '--since', '2999-01-01T00:00Z')).code, 7);

  // locate by path and by SHA-256
  const data = files.get('night2/deep/c.bin')!;
  const byPath = await agent.cli('locate', 'night2/deep/c.bin', '--json');
  t.is(byPath.code, 0, byPath.stderr);
  const locations = JSON.parse(byPath.stdout);
  t.is(locations.length, 1);
  t.like(locations[0].file, { path: 'night2/deep/c.bin', vsn, sha256: sha(data), size: 300 });
  t.like(locations[0].volume, { vsn, state: 'finished', cloudKey: '' });
  t.is(locations[0].volume.copies[0].drive, 'sr1');
  const bySha = await agent.cli('locate', sha(data), '--json');
  t.is(bySha.code, 0);
  t.deepEqual(JSON.parse(bySha.stdout), locations);
  const report = await agent.cli('locate', `/${'night2/deep/c.bin'}`);
  t.is(report.code, 0, report.stderr);
  t.regex(report.stdout, new RegExp(`^night2/deep/c\\.bin  \\(300 B, sha256 ${sha(data)}\\)$`, 'm'));
  t.regex(report.stdout, new RegExp(`^  volume ${vsn} "NIGHTS" \\(test-8m, finished\\), session 1$`, 'm'));
  t.regex(report.stdout, new RegExp(`^  copy 1 verified: kept at \\S*${vsn}-1\\.iso, loaded in sr1$`, 'm'));
  t.regex(report.stdout, new RegExp(`^  copy 2 verified: kept at \\S*${vsn}-2\\.iso$`, 'm'));
  t.regex(report.stdout, /^ {2}cloud: not mirrored$/m);
  const lost = await agent.cli('locate', 'night2/nothing.bin');
  t.is(lost.code, 7);
  t.regex(lost.stderr, /no volume in the agent's catalog holds night2\/nothing\.bin/);
  t.is((await agent.cli('locate', '0'.repeat(64))).code, 7, 'no file has that content');
  t.is((await agent.cli('locate')).code, 2);
  t.is((await agent.cli('locate', 'a', 'b')).code, 2);
});
