/**
 * The burning pipeline end to end, driven as a legacy site drives it: the
 * rpcgen C clients stage a tree (optarc-put) and burn it (optarc-burn -w) on
 * a real agent with three stand-in drives; then every copy of every volume is
 * read back with bsdtar and validated as a bag, and the CLI reports the job.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { buildCClient, C_CLIENT } from '../helpers/c-programs.js';
import { run } from '../helpers/processes.js';
import { exec, makeTree, readCopy, startBurnAgent } from './burn-kit.js';

test.before(() => buildCClient());

const MiB = 1024 * 1024;

test('C clients stage a tree and BURN 3 copies across volumes; every copy reads back identical and validates as a bag', async (t) => {
  const agent = await startBurnAgent(t, { drives: 3 });
  const src = path.join(agent.dir, 'src');
  // ~12 MiB in directories that each fit a test-8m volume: at least two volumes
  const files = await makeTree(src, {
    'run1/a.fits': 3 * MiB + 7,
    'run1/b.fits': MiB,
    'run1/deep/c.bin': 9000,
    'run2/d.fits': 4 * MiB,
    'run2/notes with spaces=ok.txt': 100,
    'run3/e.fits': 2 * MiB + 1,
    'empty.dat': 0,
    'top.txt': 1,
  });
  const put = await run(C_CLIENT.put, ['--port', String(agent.rpcPort), '127.0.0.1', src]);
  t.is(put.code, 0, put.stderr);

  const burn = await run(
    C_CLIENT.burn,
    ['--port', String(agent.rpcPort), '-w', '127.0.0.1', '--copies', '3', '--media', 'test-8m', '--label', 'NIGHT 1'],
    {},
    120_000,
  );
  t.is(burn.code, 0, `${burn.stdout}\n${burn.stderr}`);
  const job = /^job (\d+) done: /m.exec(burn.stdout)?.[1];
  t.truthy(job, burn.stdout);
  t.regex(burn.stderr, /copy1@sr\d writing/, 'progress per copy on stderr');

  const status = await agent.cli('status', job!, '--json');
  t.is(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout);
  t.is(s.stateName, 'done');
  t.is(s.percent, 100);
  t.true(s.volumes.length >= 2, `several volumes: ${status.stdout}`);
  const vsns: string[] = s.volumes.map((v: { vsn: string }) => v.vsn);
  t.is(new Set(vsns).size, vsns.length, 'no VSN twice');

  // every copy of every volume, read by bsdtar, holds the same payload; together they hold the tree once
  const seen = new Map<string, string>();
  for (const vsn of vsns) {
    let first: Map<string, Buffer> | undefined;
    for (const copy of [1, 2, 3]) {
      const payload = await readCopy(t, path.join(agent.shelf, `${vsn}-${copy}.iso`));
      if (!first) first = payload;
      else
        t.deepEqual([...payload.keys()].sort(), [...first.keys()].sort(), `${vsn} copy ${copy} holds the same files`);
      for (const [p, data] of payload) {
        t.true(files.get(p)?.equals(data), `${vsn} copy ${copy}: ${p} is byte-identical to its source`);
      }
    }
    for (const p of first!.keys()) {
      t.false(seen.has(p), `${p} is on one volume only (also on ${seen.get(p)})`);
      seen.set(p, vsn);
    }
  }
  t.deepEqual([...seen.keys()].sort(), [...files.keys()].sort(), 'the volumes hold the whole tree');
  // a directory that fits a volume stays on one volume
  for (const dir of ['run1', 'run2', 'run3']) {
    const where = new Set([...seen].filter(([p]) => p.startsWith(`${dir}/`)).map(([, v]) => v));
    t.is(where.size, 1, `${dir} is on one volume`);
  }

  // the burned files left the staging area (the C client's working directory), and the job's area is gone
  const left: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(dir, e.name));
      else left.push(path.join(dir, e.name));
    }
  };
  for (const client of await fs.readdir(path.join(agent.stage, 'sessions'))) {
    await walk(path.join(agent.stage, 'sessions', client, 'tree'));
  }
  t.deepEqual(left, [], 'burned files are released from staging');
  t.deepEqual(await fs.readdir(path.join(agent.stage, 'jobs')), [], 'no job area is left behind');
  const shelf = (await fs.readdir(agent.shelf)).sort();
  t.is(shelf.length, vsns.length * 3, `three discs per volume on the shelf: ${shelf.join(' ')}`);
});

test('BURN refusals are clear: nothing committed, an unknown medium, too many copies', async (t) => {
  const agent = await startBurnAgent(t, { drives: 1 });
  const empty = await agent.cli('burn', '--copies', '1', '--media', 'test-8m');
  t.is(empty.code, 4);
  t.regex(empty.stderr, /OPTARC_NOT_FOUND: nothing is committed/);

  const src = path.join(agent.dir, 'src');
  await makeTree(src, { 'a.txt': 10 });
  t.is((await agent.cli('put', src)).code, 0);
  const media = await agent.cli('burn', '--copies', '1', '--media', 'hd-dvd');
  t.is(media.code, 4);
  t.regex(media.stderr, /OPTARC_BAD_ARGUMENT: unknown media type "hd-dvd": known types are cd-r, /);
  const many = await agent.cli('burn', '--copies', '9', '--media', 'test-8m');
  t.is(many.code, 4);
  t.regex(many.stderr, /OPTARC_BAD_ARGUMENT: copies must be 1 to 8, not 9/);
});

test('a file bigger than the medium fails the job with a message naming it, and nothing is lost', async (t) => {
  const agent = await startBurnAgent(t, { drives: 1 });
  const src = path.join(agent.dir, 'src');
  await makeTree(src, { 'small.txt': 10, 'huge.bin': 3 * MiB });
  t.is((await agent.cli('put', src)).code, 0);
  const burn = await agent.cli('burn', '--copies', '1', '--media', 'test-2m', '--wait');
  t.is(burn.code, 6, burn.stderr);
  t.regex(burn.stderr, /job \d+ failed: "huge\.bin" is 3145728 bytes .* more than fits on a test-2m volume/);
  const ls = await agent.cli('ls', '--json');
  t.deepEqual(
    JSON.parse(ls.stdout)
      .map((e: { name: string }) => e.name)
      .sort(),
    ['huge.bin', 'small.txt'],
    'both files stay staged',
  );
});

test('a burned disc loaded in a drive is mounted and read back over RPC, file by file, byte-identical', async (t) => {
  const agent = await startBurnAgent(t, { drives: 1 });
  const src = path.join(agent.dir, 'src');
  const files = await makeTree(src, { 'run1/a.fits': 3 * MiB + 5, 'run1/b.txt': 10, 'é name.txt': 3, 'empty.dat': 0 });
  t.is((await agent.cli('put', src)).code, 0);
  const burn = await agent.cli('burn', '--copies', '1', '--media', 'test-8m', '--wait', '--json');
  t.is(burn.code, 0, burn.stderr);
  const vsn = JSON.parse(burn.stdout).volumes[0].vsn as string;

  const notLoaded = await agent.cli('read', vsn, 'data/run1/b.txt');
  t.is(notLoaded.code, 4, 'the disc is on the shelf, not in a drive');
  t.regex(notLoaded.stderr, new RegExp(`no drive of the agent holds volume ${vsn}`));

  // the operator puts the shelved disc into the drive
  await fs.copyFile(path.join(agent.shelf, `${vsn}-1.iso`), path.join(agent.dir, 'drives', 'sr0', 'medium'));
  const drives = JSON.parse((await agent.cli('drives', '--json')).stdout);
  t.like(drives[0], { name: 'sr0', loaded: true, vsn });
  for (const [p, data] of files) {
    const out = path.join(agent.dir, 'out.bin');
    const read = await agent.cli('read', vsn, `data/${p}`, '--output', out);
    t.is(read.code, 0, read.stderr);
    t.true((await fs.readFile(out)).equals(data), `${p} reads back byte-identical`);
  }
  const listed = await agent.cli('vol-ls', vsn, 'data/run1', '--json');
  t.is(listed.code, 0, listed.stderr);
  const entries = JSON.parse(listed.stdout) as { name: string; kind: string; size: string; sha256: string | null }[];
  t.deepEqual(
    entries.map((e) => [e.name, e.kind, String(e.size)]),
    [
      ['a.fits', 'file', String(3 * MiB + 5)],
      ['b.txt', 'file', '10'],
    ],
  );
  t.is(
    entries[1]!.sha256,
    createHash('sha256').update(files.get('run1/b.txt')!).digest('hex'),
    'with the staged SHA-256',
  );
  const root = JSON.parse((await agent.cli('vol-ls', vsn, '--json')).stdout).map((e: { name: string }) => e.name);
  t.deepEqual(root, [
    'LABEL.TXT',
    'bag-info.txt',
    'bagit.txt',
    'data',
    'manifest-sha256.txt',
    'tagmanifest-sha256.txt',
  ]);
  const missing = await agent.cli('read', vsn, 'data/run1/nope');
  t.is(missing.code, 4);
  t.regex(missing.stderr, /OPTARC_NOT_FOUND: "data\/run1\/nope" is not on OPT\d+/);
  const dir = await agent.cli('read', vsn, 'data/run1');
  t.regex(dir.stderr, /OPTARC_IS_DIR/);
});

test('COPY reads a loaded disc into the copy area, BURN_COPY burns it again as further verified copies of the same VSN', async (t) => {
  const agent = await startBurnAgent(t, { drives: 2 });
  const src = path.join(agent.dir, 'src');
  const files = await makeTree(src, { 'night/a.fits': 2 * MiB, 'night/b.txt': 5 });
  t.is((await agent.cli('put', src)).code, 0);
  const burn = await agent.cli('burn', '--copies', '1', '--media', 'test-8m', '--wait', '--json');
  t.is(burn.code, 0, burn.stderr);
  const vsn = JSON.parse(burn.stdout).volumes[0].vsn as string;

  // a damaged disc is refused: never multiplied
  const damaged = path.join(agent.dir, 'damaged.iso');
  await fs.copyFile(path.join(agent.shelf, `${vsn}-1.iso`), damaged);
  const fh = await fs.open(damaged, 'r+');
  await fh.write(Buffer.from('XXXX'), 0, 4, 100 * 2048);
  await fh.close();
  const bay = path.join(agent.dir, 'drives', 'sr0', 'medium');
  await fs.copyFile(damaged, bay);
  const bad = await agent.cli('copy', 'sr0', '--wait');
  t.is(bad.code, 6, bad.stderr);
  t.regex(bad.stderr, new RegExp(`the disc ${vsn} in sr0 differs from its mastered image`));

  await fs.copyFile(path.join(agent.shelf, `${vsn}-1.iso`), bay);
  const copy = await agent.cli('copy', 'sr0', '--wait');
  t.is(copy.code, 0, copy.stderr);
  t.regex(copy.stdout, new RegExp(`copied ${vsn} \\(\\d+ bytes, identical to its mastered image\\) from sr0`));
  await fs.rm(bay); // the operator takes the disc out

  const again = await agent.cli('burn-copy', '--copies', '2', '--media', 'test-8m', '--wait');
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, new RegExp(`${vsn} now has 3 verified copies`));
  for (const n of [2, 3]) {
    const payload = await readCopy(t, path.join(agent.shelf, `${vsn}-${n}.iso`));
    for (const [p, data] of files) t.true(payload.get(p)?.equals(data), `copy ${n}: ${p} identical`);
  }
  const none = await startBurnAgent(t, { drives: 1 });
  const refused = await none.cli('burn-copy', '--copies', '1', '--media', 'test-8m');
  t.is(refused.code, 4);
  t.regex(refused.stderr, /OPTARC_NOT_FOUND: no disc was copied in this working directory: COPY one first/);
});

test('with spanning on, a file bigger than the medium is cut into parts across volumes, and SPANNING.TXT puts it back together', async (t) => {
  const agent = await startBurnAgent(t, { drives: 1, extra: { burn: { spanning: true } } });
  const src = path.join(agent.dir, 'src');
  const files = await makeTree(src, { 'cube/big.fits': 5 * MiB + 123, 'cube/small.txt': 7 });
  t.is((await agent.cli('put', src)).code, 0);
  const burn = await agent.cli('burn', '--copies', '1', '--media', 'test-2m', '--wait', '--json');
  t.is(burn.code, 0, burn.stderr);
  const vsns: string[] = JSON.parse(burn.stdout).volumes.map((v: { vsn: string }) => v.vsn);
  t.true(vsns.length >= 3, `a 5 MiB file on 2 MiB discs takes at least 3 volumes: ${vsns.join(' ')}`);

  const parts = new Map<number, Buffer>();
  let count = 0;
  let whole = '';
  for (const vsn of vsns) {
    const disc = path.join(agent.shelf, `${vsn}-1.iso`);
    const payload = await readCopy(t, disc);
    const out = await fs.mkdtemp(path.join(agent.dir, 'x-'));
    t.is((await exec('bsdtar', ['-xf', disc, '-C', out, 'SPANNING.TXT'])).code, 0, `${vsn} carries SPANNING.TXT`);
    const lines = (await fs.readFile(path.join(out, 'SPANNING.TXT'), 'utf8'))
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    for (const line of lines) {
      const [index, of, offset, length, size, sha, partPath, filePath] = line.split('\t');
      t.is(filePath, 'cube/big.fits');
      t.is(Number(size), 5 * MiB + 123);
      const data = payload.get(partPath)!;
      t.is(data.length, Number(length), `${partPath} has its length`);
      t.true(
        files
          .get('cube/big.fits')!
          .subarray(Number(offset), Number(offset) + data.length)
          .equals(data),
      );
      parts.set(Number(index), data);
      count = Number(of);
      whole = sha!;
    }
  }
  t.true(count >= 3);
  t.is(parts.size, count, 'every part is on some disc');
  const joined = Buffer.concat([...Array(count).keys()].map((i) => parts.get(i + 1)!));
  t.true(joined.equals(files.get('cube/big.fits')!), 'the parts, in order, are the file');
  t.is(createHash('sha256').update(joined).digest('hex'), whole, 'and SPANNING.TXT names its SHA-256');
});

test('a medium with par2 recovery: a burned copy damaged in a file is repaired by par2 from the recovery files on the disc', async (t) => {
  const agent = await startBurnAgent(t, { drives: 1 });
  const src = path.join(agent.dir, 'src');
  const files = await makeTree(src, { 'plates/p1.fits': 2 * MiB, 'plates/p2.fits': MiB + 17 });
  t.is((await agent.cli('put', src)).code, 0);
  const burn = await agent.cli('burn', '--copies', '1', '--media', 'test-8m-par2', '--wait', '--json');
  t.is(burn.code, 0, burn.stderr);
  const vsn = JSON.parse(burn.stdout).volumes[0].vsn as string;
  const disc = path.join(agent.shelf, `${vsn}-1.iso`);

  // damage 8 KiB inside p1.fits on a copy of the disc
  const image = await fs.readFile(disc);
  const at = image.indexOf(files.get('plates/p1.fits')!.subarray(0, 4096));
  t.true(at > 0, 'the file lies in the image');
  const damaged = path.join(agent.dir, 'damaged.iso');
  image.fill(0x55, at + 65536, at + 65536 + 8192);
  await fs.writeFile(damaged, image);

  const tree = path.join(agent.dir, 'extracted');
  await fs.mkdir(tree);
  t.is((await exec('bsdtar', ['-xf', damaged, '-C', tree])).code, 0);
  t.not((await exec('sha256sum', ['-c', 'manifest-sha256.txt'], tree)).code, 0, 'the damage shows');
  const recovery = (await fs.readdir(path.join(tree, 'recovery'))).filter((f) => f.endsWith('.par2'));
  t.true(recovery.length >= 2, `par2 index and recovery volumes on the disc: ${recovery.join(' ')}`);
  const index = recovery.find((f) => !f.includes('.vol'))!;
  // the recovery files name the payload relative to the bag root (data/...): par2 runs there
  const repair = await exec('par2', ['repair', '-q', '-B', tree, `recovery/${index}`], tree);
  t.is(repair.code, 0, repair.stdout + repair.stderr);
  t.is(
    (await exec('sha256sum', ['--strict', '-c', 'manifest-sha256.txt'], tree)).code,
    0,
    'repaired: the bag validates',
  );
  for (const [p, data] of files) t.true((await fs.readFile(path.join(tree, 'data', p))).equals(data), `${p} repaired`);
});
