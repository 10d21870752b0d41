/**
 * The drives layer against real xorriso on stand-in drives (stdio: files in
 * temp directories): N copies from one read of the image, a write error on one
 * drive while the others finish, a full medium, throttled drives, the pool's
 * reservations, write-once media, and read-back checks that catch damage.
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { DrivePool, type Reservation } from '../../edge-agent/drives/drive-pool.js';
import { DriveError } from '../../edge-agent/drives/errors.js';
import { isImmutable, releaseWriteOnce } from '../../edge-agent/drives/stand-in-medium.js';
import { verifyCopy } from '../../edge-agent/drives/verify-copy.js';
import { type CopyOutcome, writeCopies } from '../../edge-agent/drives/write-copies.js';
import { runXorriso, XorrisoError } from '../../edge-agent/xorriso/run-xorriso.js';
import { ROOT } from '../helpers/processes.js';
import {
  brokenPipeDrive,
  fileLba,
  flipByte,
  head,
  makeImage,
  readChars,
  rootDirectoryNameOffset,
  standIns,
  xorrisoChildren,
} from './stand-in-drives.js';

const runFile = promisify(execFile);
const asRoot = process.getuid?.() === 0 ? test : test.skip;
const MiB = 1024 * 1024;

async function tempDir(t: ExecutionContext, name: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), `optarc-drives-${name}-`));
  t.teardown(async () => {
    await releaseWriteOnce(dir);
    await fs.rm(dir, { recursive: true, force: true });
  });
  return dir;
}

function outcome(outcomes: CopyOutcome[], drive: string): CopyOutcome {
  const o = outcomes.find((x) => x.drive === drive);
  if (!o) throw new Error(`no outcome for ${drive}`);
  return o;
}

const tick = () => new Promise((r) => setTimeout(r, 20));

test.serial('three copies from one read of the image: identical, verified, shelved', async (t) => {
  const dir = await tempDir(t, 'three');
  const img = await makeImage(dir, 'vol1', { 'big.bin': 6 * MiB, 'small.txt': Buffer.from('hello\n') }, 'VOL0001');
  const pool = new DrivePool(await standIns(dir, ['d1', 'd2', 'd3']));
  const r = await pool.reserve('job-1', 3);
  const drives = r.drives;
  for (const d of drives) await d.loadBlank();
  t.deepEqual(
    (await pool.list()).map((s) => [s.name, s.loaded, s.blank, s.busy, s.job]),
    [
      ['d1', true, true, true, 'job-1'],
      ['d2', true, true, true, 'job-1'],
      ['d3', true, true, true, 'job-1'],
    ],
  );

  let opens = 0;
  let streamed = 0;
  const progress = new Map<string, bigint>();
  const before = await readChars();
  const outcomes = await writeCopies(
    img.path,
    img.bytes,
    drives.map((drive, i) => ({ drive, copy: i + 1 })),
    {
      onProgress: (d, n) => progress.set(d, n),
      open: (file, range) => {
        opens++;
        const stream = createReadStream(file, range);
        stream.on('data', (c: string | Buffer) => {
          streamed += c.length;
        });
        return stream;
      },
    },
  );
  const readDuringBurn = (await readChars()) - before;
  t.deepEqual(
    outcomes.map((o) => [o.drive, o.copy, o.ok, o.bytesWritten, o.error]),
    [
      ['d1', 1, true, img.bytes, undefined],
      ['d2', 2, true, img.bytes, undefined],
      ['d3', 3, true, img.bytes, undefined],
    ],
  );
  t.is(opens, 1, 'the image is opened once');
  t.is(BigInt(streamed), img.bytes, 'exactly one image worth of bytes streamed from it');
  // Independent of the open() seam: the whole process read(2) less than twice the image (three reads would be 3x).
  t.log(`this process read ${readDuringBurn} bytes while burning a ${img.bytes}-byte image to 3 drives`);
  t.true(readDuringBurn < 2n * img.bytes, `process read ${readDuringBurn} bytes for a ${img.bytes}-byte image`);
  for (const d of ['d1', 'd2', 'd3']) t.is(progress.get(d), img.bytes);

  const original = await fs.readFile(img.path);
  for (const d of drives) {
    t.true((await head(d.mediumPath!, img.bytes)).equals(original), `${d.name} holds the image`);
    const check = await verifyCopy(d.address, img.bytes, img.sha256);
    t.deepEqual([check.ok, check.md5, check.problems, check.bytesRead], [true, 'match', [], img.bytes], d.name);
    t.true(check.sha256.equals(img.sha256));
  }
  t.deepEqual(
    (await pool.list()).map((s) => [s.loaded, s.blank, s.vsn]),
    [
      [true, false, 'VOL0001'],
      [true, false, 'VOL0001'],
      [true, false, 'VOL0001'],
    ],
  );
  const shelved = await Promise.all(drives.map((d, i) => d.unload('VOL0001', i + 1)));
  t.deepEqual(
    shelved,
    [1, 2, 3].map((n) => path.join(dir, 'shelf', `VOL0001-${n}.iso`)),
  );
  for (const s of shelved) t.true((await verifyCopy(`stdio:${s}`, img.bytes, img.sha256)).ok, s);
  t.deepEqual(
    (await pool.list()).map((s) => [s.loaded, s.busy]),
    [
      [false, true],
      [false, true],
      [false, true],
    ],
  );
  r.release();
  t.deepEqual(r.drives, [], 'a released reservation holds nothing');
  t.false((await pool.list()).some((s) => s.busy));
  // The shelf slot of a copy is never overwritten.
  await drives[0]!.loadBlank();
  await fs.writeFile(drives[0].mediumPath!, 'x');
  const taken = await t.throwsAsync(drives[0]!.unload('VOL0001', 1), { instanceOf: DriveError });
  t.is(taken?.code, 'SHELF_TAKEN');
  t.true((await verifyCopy(`stdio:${shelved[0]}`, img.bytes, img.sha256)).ok);
});

test('a write error on one drive: that copy fails WRITE_FAILED, the others finish and verify', async (t) => {
  const dir = await tempDir(t, 'ioerr');
  const img = await makeImage(dir, 'vol2', { 'data.bin': 6 * MiB }, 'VOL0002');
  const configs = await standIns(dir, ['good1', 'good2', 'bad']);
  const pool = new DrivePool(configs);
  const bad = pool.get('bad')!;
  // The bad drive's "disc" is a FIFO whose reader stops after 1 MiB: libburn's write fails at sector 512.
  const pipe = await brokenPipeDrive(bad.mediumPath!, 1 * MiB);
  await pool.get('good1')!.loadBlank();
  await pool.get('good2')!.loadBlank();
  const r = await pool.reserve('job-2', 3);
  const outcomes = await writeCopies(
    img.path,
    img.bytes,
    r.drives.map((drive, i) => ({ drive, copy: i + 1 })),
    { fifoBytes: 256 * 1024, highWaterMark: 64 * 1024 },
  );
  t.is(await pipe.received, 1 * MiB, 'the reader took 1 MiB and hung up');
  const b = outcome(outcomes, 'bad');
  t.false(b.ok);
  t.is(b.error?.code, 'WRITE_FAILED');
  t.regex(b.error?.message ?? '', /Broken pipe|Cannot write/);
  t.true(b.bytesWritten < img.bytes, `dropped mid-stream after ${b.bytesWritten} of ${img.bytes} bytes`);
  for (const name of ['good1', 'good2']) {
    const o = outcome(outcomes, name);
    t.deepEqual([o.ok, o.bytesWritten, o.error], [true, img.bytes, undefined], name);
    const check = await verifyCopy(pool.get(name)!.address, img.bytes, img.sha256);
    t.true(check.ok, `${name}: ${check.problems.join('; ')}`);
  }
  t.deepEqual(await xorrisoChildren(dir), [], 'every xorriso has exited');
  r.release();
});

asRoot('a medium too small: NO_SPACE with xorriso own words, the other copy completes', async (t) => {
  const dir = await tempDir(t, 'nospace');
  const img = await makeImage(dir, 'vol3', { 'data.bin': 3 * MiB }, 'VOL0003');
  const configs = await standIns(dir, ['tiny', 'roomy']);
  const mod = (p: string) => `file://${path.join(ROOT, 'dist/edge-agent/drives', p)}`;
  // Runs inside a private mount namespace where tiny's directory is a 1 MiB tmpfs.
  const scenario = `
    import { execFileSync } from 'node:child_process';
    const { DrivePool } = await import(${JSON.stringify(mod('drive-pool.js'))});
    const { writeCopies } = await import(${JSON.stringify(mod('write-copies.js'))});
    const configs = ${JSON.stringify(configs)};
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', ${JSON.stringify(path.join(dir, 'tiny'))}]);
    const pool = new DrivePool(configs);
    const r = await pool.reserve('job-3', 2);
    for (const d of r.drives) await d.loadBlank();
    const outcomes = await writeCopies(${JSON.stringify(img.path)}, ${img.bytes}n,
      r.drives.map((drive, i) => ({ drive, copy: i + 1 })));
    process.stdout.write(JSON.stringify(outcomes, (k, v) => typeof v === 'bigint' ? String(v) : v) + '\\n');
  `;
  const { stdout } = await runFile(
    'unshare',
    ['--mount', '--', process.execPath, '--input-type=module', '-e', scenario],
    {
      timeout: 60_000,
    },
  );
  const outcomes = JSON.parse(stdout.trim().split('\n').pop()!) as { drive: string; ok: boolean; error?: any }[];
  const tiny = outcomes.find((o) => o.drive === 'tiny')!;
  t.false(tiny.ok);
  t.is(tiny.error?.code, 'NO_SPACE');
  t.regex(tiny.error?.message, /FAILURE : Image size \d+s exceeds free space on media \d+s/);
  const roomy = outcomes.find((o) => o.drive === 'roomy')!;
  t.true(roomy.ok, JSON.stringify(roomy));
  t.true((await verifyCopy(configs[1]!.address, img.bytes, img.sha256)).ok);
});

test('speed=1 is honoured, copies burn in parallel, the slowest drive sets the pace', async (t) => {
  // libburn throttles a stdio: drive in 16 MiB steps (16 MiB at full speed, then a ~11 s pause at
  // speed=1): the image must be larger than that for the throttle to show.
  const dir = await tempDir(t, 'speed');
  const img = await makeImage(dir, 'vol4', { 'data.bin': 24 * MiB }, 'VOL0004');
  const configs = await standIns(dir, ['fast-alone', 'slow-alone', 'slow1', 'slow2', 'fast']);
  for (const c of configs) if (c.name.startsWith('slow')) c.speed = 1;
  const pool = new DrivePool(configs);
  for (const d of pool.all()) await d.loadBlank();
  // xorriso's own fifo at 1 MiB, so that a slow writer cannot swallow the rest of the image into it.
  const opts = { fifoBytes: MiB, highWaterMark: 64 * 1024 };
  const timed = async (names: string[], onProgress?: (d: string, n: bigint) => void) => {
    const start = performance.now();
    const outcomes = await writeCopies(
      img.path,
      img.bytes,
      names.map((n, i) => ({ drive: pool.get(n)!, copy: i + 1 })),
      { ...opts, onProgress },
    );
    return { outcomes, seconds: (performance.now() - start) / 1000 };
  };
  const fed = new Map<string, bigint>();
  let maxLead = 0n;
  let fastFullyFedAt = 0;
  const groupStart = performance.now();
  const [alone, one, three] = await Promise.all([
    timed(['fast-alone']),
    timed(['slow-alone']),
    timed(['slow1', 'slow2', 'fast'], (d, n) => {
      fed.set(d, n);
      const slowest = [fed.get('slow1') ?? 0n, fed.get('slow2') ?? 0n].reduce((a, b) => (a < b ? a : b));
      const lead = (fed.get('fast') ?? 0n) - slowest;
      if (lead > maxLead) maxLead = lead;
      if (d === 'fast' && n === img.bytes) fastFullyFedAt = (performance.now() - groupStart) / 1000;
    }),
  ]);
  const all = [...alone.outcomes, ...one.outcomes, ...three.outcomes];
  t.true(
    all.every((o) => o.ok),
    JSON.stringify(all.map((o) => o.error)),
  );
  const mbps = (s: number) => (Number(img.bytes) / s / 1e6).toFixed(2);
  t.log(
    `${img.bytes} bytes: unthrottled ${alone.seconds.toFixed(1)} s (${mbps(alone.seconds)} MB/s); speed=1: one copy ${one.seconds.toFixed(1)} s (${mbps(one.seconds)} MB/s), three copies ${three.seconds.toFixed(1)} s; fast drive's lead over the slowest at most ${maxLead} bytes`,
  );
  t.log(`fast drive fully fed after ${fastFullyFedAt.toFixed(1)} s`);
  t.true(one.seconds > 2 * alone.seconds, 'speed=1 is slower than unthrottled');
  t.true(three.seconds < 1.5 * one.seconds, 'three throttled copies take about as long as one (parallel, not in turn)');
  // Unbounded buffering would let the fast drive run ahead by several MiB while the slow ones pause.
  t.true(maxLead < BigInt(MiB), `the fast drive ran ${maxLead} bytes ahead of the slowest`);
  t.true(
    fastFullyFedAt > one.seconds / 2,
    `the fast drive got its last byte after ${fastFullyFedAt.toFixed(1)} s: it waited for the slow ones`,
  );
  for (const n of ['slow1', 'fast']) t.true((await verifyCopy(pool.get(n)!.address, img.bytes, img.sha256)).ok, n);
});

test('a cancelled burn resolves only after every xorriso has exited', async (t) => {
  const dir = await tempDir(t, 'abort');
  const img = await makeImage(dir, 'vol5', { 'data.bin': 4 * MiB }, 'VOL0005');
  const configs = await standIns(dir, ['a', 'b'], 1);
  const pool = new DrivePool(configs);
  for (const d of pool.all()) await d.loadBlank();
  const ac = new AbortController();
  const outcomes = await writeCopies(
    img.path,
    img.bytes,
    pool.all().map((drive, i) => ({ drive, copy: i + 1 })),
    {
      signal: ac.signal,
      fifoBytes: 256 * 1024,
      onProgress: (_d, n) => {
        if (n > 512 * 1024) ac.abort();
      },
    },
  );
  t.deepEqual(await xorrisoChildren(dir), [], 'no xorriso left running');
  t.deepEqual(
    outcomes.map((o) => [o.ok, o.error?.code]),
    [
      [false, 'ABORTED'],
      [false, 'ABORTED'],
    ],
  );
  t.true(outcomes.every((o) => o.bytesWritten < img.bytes));
  t.false(
    pool.all().some((d) => d.writing),
    'write locks released',
  );
});

test('pool: exclusive reservations, strict FIFO waiting, exclude, abort while waiting', async (t) => {
  const dir = await tempDir(t, 'pool');
  const pool = new DrivePool(await standIns(dir, ['d1', 'd2', 'd3']));
  t.is(pool.size, 3);
  const a = await pool.reserve('a', 2);
  t.deepEqual(
    a.drives.map((d) => d.name),
    ['d1', 'd2'],
  );
  const granted: string[] = [];
  const track = (p: Promise<Reservation>) =>
    p.then((r) => {
      granted.push(r.job);
      return r;
    });
  const b = track(pool.reserve('b', 2));
  const c = track(pool.reserve('c', 1)); // d3 is free, but b came first
  await tick();
  t.deepEqual(granted, [], 'b waits for two drives, c waits behind b');
  t.deepEqual(pool.waiting(), ['b', 'c']);
  a.release(pool.get('d1'));
  const rb = await b;
  t.deepEqual(
    rb.drives.map((d) => d.name),
    ['d1', 'd3'],
  );
  await tick();
  t.deepEqual(granted, ['b'], 'c still waits: nothing free');
  t.deepEqual(
    (await pool.list()).map((s) => s.job),
    ['b', 'a', 'b'],
  );
  a.release();
  const rc = await c;
  t.deepEqual(
    rc.drives.map((d) => d.name),
    ['d2'],
  );
  t.deepEqual(granted, ['b', 'c']);

  // exclude
  rb.release();
  const ex = await pool.reserve('x', 1, { exclude: ['d1'] });
  t.deepEqual(
    ex.drives.map((d) => d.name),
    ['d3'],
  );
  const never = await t.throwsAsync(pool.reserve('y', 2, { exclude: ['d1', 'd2'] }), { instanceOf: DriveError });
  t.is(never?.code, 'NO_DRIVES');

  // abort while waiting; the next in line is then served
  const ac = new AbortController();
  const waiting = pool.reserve('z', 2, { signal: ac.signal });
  const behind = track(pool.reserve('w', 1));
  await tick();
  t.deepEqual(pool.waiting(), ['z', 'w']);
  ac.abort();
  const aborted = await t.throwsAsync(waiting, { instanceOf: DriveError });
  t.is(aborted?.code, 'ABORTED');
  const rw = await behind;
  t.deepEqual(
    rw.drives.map((d) => d.name),
    ['d1'],
  );
  t.deepEqual(pool.waiting(), []);
  // release is idempotent and a drive held by another job stays held
  ex.release();
  ex.release();
  t.is(pool.get('d1')!.job, 'w');
  const pre = new AbortController();
  pre.abort();
  t.is(
    (await t.throwsAsync(pool.reserve('p', 1, { signal: pre.signal }), { instanceOf: DriveError }))?.code,
    'ABORTED',
  );
});

test('pool: a drive whose directory vanished is missing and refuses clearly', async (t) => {
  const dir = await tempDir(t, 'missing');
  const img = await makeImage(dir, 'vol6', { 'f.bin': 100_000 }, 'VOL0006');
  const pool = new DrivePool(await standIns(dir, ['d1', 'gone']));
  await fs.rm(path.join(dir, 'gone'), { recursive: true });
  const states = await pool.list();
  t.deepEqual(
    states.map((s) => [s.name, s.missing, s.loaded]),
    [
      ['d1', false, false],
      ['gone', true, false],
    ],
  );
  const gone = pool.get('gone')!;
  const e1 = await t.throwsAsync(gone.loadBlank(), { instanceOf: DriveError });
  t.is(e1?.code, 'DRIVE_MISSING');
  t.regex(e1?.message ?? '', /drive gone is missing: its directory .*gone does not exist/);
  const e2 = await t.throwsAsync(pool.reserve('j', 2), { instanceOf: DriveError });
  t.is(e2?.code, 'DRIVE_MISSING');
  t.regex(e2?.message ?? '', /gone is missing/);
  const one = await pool.reserve('j', 1);
  t.deepEqual(
    one.drives.map((d) => d.name),
    ['d1'],
  );
  const [o] = await writeCopies(img.path, img.bytes, [{ drive: gone, copy: 1 }]);
  t.deepEqual([o!.ok, o!.error?.code, o!.bytesWritten], [false, 'DRIVE_MISSING', 0n]);
  // An empty drive is NO_MEDIUM, and the same drive twice in one burn is DRIVE_BUSY.
  const d1 = pool.get('d1')!;
  const [empty] = await writeCopies(img.path, img.bytes, [{ drive: d1, copy: 1 }]);
  t.is(empty!.error?.code, 'NO_MEDIUM');
  await d1.loadBlank();
  const twice = await writeCopies(img.path, img.bytes, [
    { drive: d1, copy: 1 },
    { drive: d1, copy: 2 },
  ]);
  t.deepEqual(
    twice.map((x) => [x.ok, x.error?.code]),
    [
      [true, undefined],
      [false, 'DRIVE_BUSY'],
    ],
  );
});

test('an image that ends early stops every writer: IMAGE_UNREADABLE, no disc is closed', async (t) => {
  const dir = await tempDir(t, 'short');
  const img = await makeImage(dir, 'vol8', { 'f.bin': 2 * MiB }, 'VOL0008');
  const pool = new DrivePool(await standIns(dir, ['d1', 'd2']));
  for (const d of pool.all()) await d.loadBlank();
  const half = (await fs.readFile(img.path)).subarray(0, Number(img.bytes) / 2);
  const e = await t.throwsAsync(
    writeCopies(
      img.path,
      img.bytes,
      pool.all().map((drive, i) => ({ drive, copy: i + 1 })),
      { open: () => Readable.from([half]) },
    ),
    { instanceOf: DriveError },
  );
  t.is(e?.code, 'IMAGE_UNREADABLE');
  t.regex(e?.message ?? '', new RegExp(`gave ${half.length} bytes, not ${img.bytes}`));
  t.deepEqual(await xorrisoChildren(dir), []);
  for (const d of pool.all()) {
    t.false(d.writing);
    t.false(await isImmutable(d.mediumPath!), `${d.name}: a short burn is not closed`);
  }
});

asRoot('write-once: a closed stand-in disc refuses a second burn, in the layer and in xorriso itself', async (t) => {
  const dir = await tempDir(t, 'once');
  const first = await makeImage(dir, 'first', { 'a.bin': 200_000 }, 'FIRST');
  const second = await makeImage(dir, 'second', { 'b.bin': 300_000 }, 'SECOND');
  const pool = new DrivePool(await standIns(dir, ['d1']));
  const d1 = pool.get('d1')!;
  await d1.loadBlank();
  const [o1] = await writeCopies(first.path, first.bytes, [{ drive: d1, copy: 1 }]);
  t.true(o1!.ok);
  t.is(o1!.closed, 'immutable');
  t.true(await isImmutable(d1.mediumPath!));
  const burned = await fs.readFile(d1.mediumPath!);

  // The layer refuses before xorriso runs.
  const [o2] = await writeCopies(second.path, second.bytes, [{ drive: d1, copy: 1 }]);
  t.deepEqual([o2!.ok, o2!.error?.code, o2!.bytesWritten], [false, 'NOT_BLANK', 0n]);
  t.regex(o2!.error?.message ?? '', /write-once media cannot be written again/);
  t.is((await t.throwsAsync(d1.loadBlank(), { instanceOf: DriveError }))?.code, 'NOT_BLANK');

  // xorriso itself refuses too, when asked directly.
  const raw = await t.throwsAsync(
    runXorriso(['-as', 'cdrecord', '-v', `dev=${d1.address}`, '-waiti', `tsize=${second.bytes}`, '-'], {
      stdin: createReadStream(second.path),
    }),
    { instanceOf: XorrisoError },
  );
  t.regex(raw?.message ?? '', /Failed to open device \(a pseudo-drive\) : Operation not permitted/);
  t.true((await fs.readFile(d1.mediumPath!)).equals(burned), 'the closed disc is unchanged');
  // Control: without the immutable attribute, xorriso overwrites a written stdio file without a word.
  const plain = path.join(dir, 'plain-file');
  await fs.copyFile(d1.mediumPath!, plain);
  await runXorriso(['-as', 'cdrecord', '-v', `dev=stdio:${plain}`, '-waiti', `tsize=${second.bytes}`, '-'], {
    stdin: createReadStream(second.path),
  });
  t.true((await head(plain, second.bytes)).equals(await fs.readFile(second.path)), 'xorriso alone would overwrite');

  // Unloaded to the shelf, a fresh blank takes a new burn.
  const shelved = await d1.unload('FIRST', 1);
  t.true((await verifyCopy(`stdio:${shelved}`, first.bytes, first.sha256)).ok);
  await d1.loadBlank();
  const [o3] = await writeCopies(second.path, second.bytes, [{ drive: d1, copy: 1 }]);
  t.true(o3!.ok);
  t.true((await verifyCopy(d1.address, second.bytes, second.sha256)).ok);
  // A bad disc goes to the shelf apart, numbered.
  t.is(await d1.unload('SECOND', 1, 'bad'), path.join(dir, 'shelf', 'SECOND-1.bad-1.iso'));
});

test('verifyCopy catches a truncated copy, a flipped file byte and a flipped directory byte', async (t) => {
  const dir = await tempDir(t, 'verify');
  const img = await makeImage(dir, 'vol7', { 'payload.bin': 400_000, 'zzz.txt': Buffer.from('last\n') }, 'VOL0007');
  const original = await fs.readFile(img.path);
  const copy = async (name: string, data: Buffer) => {
    const p = path.join(dir, name);
    await fs.writeFile(p, data);
    return p;
  };

  // A good copy, padded past the image like a burned one, passes.
  const padded = await copy('padded.iso', Buffer.concat([original, Buffer.alloc(300 * 1024)]));
  const good = await verifyCopy(`stdio:${padded}`, img.bytes, img.sha256);
  t.deepEqual([good.ok, good.md5, good.problems], [true, 'match', []]);

  const truncated = await copy('truncated.iso', original.subarray(0, original.length / 2));
  const tr = await verifyCopy(`stdio:${truncated}`, img.bytes, img.sha256);
  t.false(tr.ok);
  t.is(tr.bytesRead, BigInt(original.length / 2));
  t.true(
    tr.problems.some((p) => /copy is truncated: only \d+ of the image's \d+ bytes/.test(p)),
    tr.problems.join('\n'),
  );

  const payload = await copy('payload.iso', original);
  await flipByte(payload, (await fileLba(img.path, '/payload.bin')) * 2048 + 1234);
  const pl = await verifyCopy(`stdio:${payload}`, img.bytes, img.sha256);
  t.deepEqual([pl.ok, pl.md5, pl.bytesRead], [false, 'mismatch', img.bytes]);
  t.true(
    pl.problems.some((p) => p.startsWith('file MD5 mismatch: /payload.bin')),
    pl.problems.join('\n'),
  );
  t.true(pl.problems.some((p) => p.startsWith('session MD5 tag mismatch')));
  t.true(pl.problems.some((p) => p.startsWith('SHA-256 of the copy')));

  const directory = await copy('directory.iso', original);
  await flipByte(directory, await rootDirectoryNameOffset(img.path, 'payload.bin'));
  const dr = await verifyCopy(`stdio:${directory}`, img.bytes, img.sha256);
  t.deepEqual([dr.ok, dr.md5], [false, 'mismatch']);
  t.true(
    dr.problems.some((p) => p.startsWith('directory tree MD5 mismatch')),
    dr.problems.join('\n'),
  );

  // Same bytes, wrong image: SHA-256 alone tells.
  const other = await makeImage(dir, 'other', { 'x.bin': 1000 }, 'OTHER');
  const wrong = await verifyCopy(`stdio:${other.path}`, img.bytes, img.sha256);
  t.false(wrong.ok);
});
