/**
 * par2 recovery files on the disc, with the real par2, xorriso and bsdtar: a
 * small tree is mastered with its par2 files under recovery/, a copy of the
 * image (the stand-in for a burned disc) gets sectors of a payload file
 * overwritten, the copy is extracted, and repairTree makes every file
 * byte-identical to its source again (sha256sum -c on the bag agrees);
 * damage beyond the redundancy is UNREPAIRABLE, naming the file. The size
 * bounds the packer relies on are held against what par2 really wrote.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { MasteringError } from '../../edge-agent/mastering/errors.js';
import {
  estimateCostModel,
  estimateImageSectors,
  recoverySectors,
  withRecoveryCost,
} from '../../edge-agent/mastering/image-size.js';
import {
  type ImageFile,
  type MasteredImage,
  masterImage,
  type RootFile,
} from '../../edge-agent/mastering/master-image.js';
import { listMediaProfiles, mediaProfile } from '../../edge-agent/packing/media-profiles.js';
import {
  type CreatedRecovery,
  createRecoveryFiles,
  RecoveryError,
  repairTree,
  verifyTree,
} from '../../edge-agent/recovery/par2.js';
import {
  blockSizeFor,
  DEFAULT_PAR2_LAYOUT,
  recoveryBytesBound,
  splitSets,
} from '../../edge-agent/recovery/par2-layout.js';

const C_LOCALE = { LC_ALL: 'C', LANG: 'C' };
const sha = (d: Buffer) => createHash('sha256').update(d).digest();
const b = (s: string) => Buffer.from(s, 'utf8');

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'optarc-recovery-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Staged {
  files: ImageFile[];
  data: Map<string, Buffer>;
}

async function stage(root: string, specs: [string, Buffer][]): Promise<Staged> {
  const src = path.join(root, 'src');
  await fs.mkdir(src, { recursive: true });
  const files: ImageFile[] = [];
  const data = new Map<string, Buffer>();
  for (const [i, [p, d]] of specs.entries()) {
    const source = path.join(src, String(i));
    await fs.writeFile(source, d);
    files.push({
      source,
      path: b(p),
      size: BigInt(d.length),
      sha256: sha(d),
      mtime: { seconds: 1_700_000_000n + BigInt(i), nanoseconds: 0 },
      mode: 0o644,
    });
    data.set(p, d);
  }
  return { files, data };
}

/** A few files, about 2.6 MiB in all, one of them empty, one with a non-ASCII name. */
function smallTree(): [string, Buffer][] {
  return [
    ['big.bin', randomBytes(1536 * 1024)],
    ['dir/mid.bin', randomBytes(700 * 1024)],
    ['dir/sub/notes.txt', Buffer.from('observing log\n'.repeat(800))],
    ['dir/caf\u00e9 \u00e0 la carte.dat', randomBytes(300 * 1024 + 17)],
    ['empty', Buffer.alloc(0)],
  ];
}

async function masterWithRecovery(
  t: ExecutionContext,
  root: string,
  staged: Staged,
  vsn: string,
  percent = 10,
  layout?: Parameters<typeof createRecoveryFiles>[0]['layout'],
): Promise<{ image: MasteredImage; recovery: CreatedRecovery }> {
  const workDir = path.join(root, 'work');
  await fs.mkdir(workDir, { recursive: true });
  const recovery = await createRecoveryFiles({
    vsn,
    files: staged.files,
    workDir,
    redundancyPercent: percent,
    ...(layout ? { layout } : {}),
  });
  const payload = staged.files.reduce((s, f) => s + f.size, 0n);
  t.log(
    `par2 create -r${percent} over ${payload} bytes in ${staged.files.length} files: ${recovery.sets.length} set(s), ` +
      `${recovery.bytes} bytes (${((100 * Number(recovery.bytes)) / Number(payload)).toFixed(1)} %) in ` +
      `${recovery.seconds.toFixed(2)} s`,
  );
  const image = await masterImage({
    vsn,
    files: staged.files,
    rootFiles: recovery.files,
    output: path.join(root, `${vsn}.iso`),
    workDir,
    label: {
      vsn,
      site: 'Paranal Archive',
      class: 'raw-frames',
      created: new Date('2024-03-05T06:07:08.000Z'),
      media: 'test-8m-par2',
      copies: 2,
      session: 1,
      job: 'job-7',
    },
    charset: 'utf-8',
  });
  return { image, recovery };
}

/** The stand-in for a burned disc: a byte copy of the image. */
async function burnCopy(image: string, to: string): Promise<string> {
  await fs.copyFile(image, to);
  return to;
}

/** Overwrites `length` bytes at `offset` of `file` with bytes that differ from every byte there. */
async function damage(file: string, offset: bigint, length: number): Promise<void> {
  const fd = await fs.open(file, 'r+');
  try {
    const old = Buffer.alloc(length);
    await fd.read(old, 0, length, Number(offset));
    const garbage = Buffer.from(old.map((x) => x ^ 0xa5));
    await fd.write(garbage, 0, length, Number(offset));
  } finally {
    await fd.close();
  }
}

async function extract(copy: string, dir: string): Promise<string> {
  await fs.mkdir(dir);
  await execa('bsdtar', ['-xf', copy, '-C', dir], { env: C_LOCALE });
  return dir;
}

async function listTree(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listTree(dir, p)));
    else out.push(p);
  }
  return out.sort();
}

function extentOf(image: MasteredImage, p: string) {
  const f = image.files.find((x) => x.path.equals(b(p)));
  if (!f || f.extents.length !== 1) throw new Error(`${p} has no single extent`);
  return f.extents[0]!;
}

test('par2 files on the disc repair sectors damaged on a burned copy, and the bag verifies again', async (t) => {
  const root = await tempDir(t);
  const staged = await stage(root, smallTree());
  const { image, recovery } = await masterWithRecovery(t, root, staged, 'RCV001');

  // The recovery files are on the disc at the root, outside data/, as tag files of the bag.
  const names = image.bagFiles.map((f) => f.path.toString());
  t.true(names.includes('recovery/RCV001.par2'), names.join(', '));
  const vol = names.find((n) => /^recovery\/RCV001\.vol0+\+0*\d+\.par2$/.test(n));
  t.truthy(vol, names.join(', '));
  t.deepEqual(recovery.sets.length, 1);
  t.is(recovery.sets[0]!.files, 4, 'the empty file is left out of the set');
  for (const f of recovery.files) {
    const onDisc = image.bagFiles.find((x) => x.path.equals(f.path));
    t.truthy(onDisc, f.path.toString());
    t.true(onDisc!.extents.length > 0);
  }

  // The size bounds the packer relies on hold against what par2 wrote and xorriso made.
  const payload = staged.files.reduce((s, f) => s + f.size, 0n);
  const pathBytes = staged.files.reduce((s, f) => s + f.path.length, 0);
  const entries = staged.files.map((f) => ({ path: f.path, size: f.size }));
  const reserve = recoverySectors(payload, staged.files.length, 10, { pathBytes });
  t.true(
    image.sectors <= estimateImageSectors(entries) + reserve,
    `${image.sectors} > ${estimateImageSectors(entries)} + ${reserve}`,
  );
  t.true(image.sectors <= mediaProfile('test-8m-par2').sectors, `${image.sectors} sectors`);
  const cost = withRecoveryCost(estimateCostModel(), 10);
  const additive = cost.fixedSectors + staged.files.reduce((s, f) => s + cost.fileSectors(f.path, f.size), 0);
  t.true(image.sectors <= additive, `${image.sectors} > additive ${additive}`);
  // ... and are not wildly loose: the par2 files are about 10 % of the payload plus their checksums.
  t.true(Number(recovery.bytes) > 0.1 * Number(payload), `${recovery.bytes} bytes of par2`);
  t.true(reserve * 2048 < 0.35 * Number(payload), `${reserve} sectors reserved`);

  // Burn a copy, then damage 4 KiB of big.bin on it, 100 KiB into the file.
  const copy = await burnCopy(image.path, path.join(root, 'copy-1.iso'));
  const ext = extentOf(image, 'big.bin');
  await damage(copy, ext.offset + 100n * 1024n, 4096);
  const x = await extract(copy, path.join(root, 'x'));
  const damagedBytes = await fs.readFile(path.join(x, 'data/big.bin'));
  t.false(damagedBytes.equals(staged.data.get('big.bin')!), 'the damaged file comes out wrong');
  const before = await execa('sha256sum', ['-c', '--strict', 'manifest-sha256.txt'], { cwd: x, reject: false });
  t.not(before.exitCode, 0, 'sha256sum -c catches the damage');
  t.regex(before.stdout, /data\/big\.bin: FAILED/);

  // A check alone writes nothing.
  const checked = await verifyTree(x);
  t.is(checked.status, 'repairable');
  t.deepEqual(
    checked.sets[0]!.damaged.map((n) => n.toString()),
    ['data/big.bin'],
  );
  t.true((await fs.readFile(path.join(x, 'data/big.bin'))).equals(damagedBytes), 'verify left the file alone');

  const started = Date.now();
  const report = await repairTree(x);
  t.log(`par2 repair of 4 KiB in ${payload} bytes: ${Date.now() - started} ms`);
  t.is(report.status, 'repaired');
  t.deepEqual(
    report.repaired.map((n) => n.toString()),
    ['data/big.bin'],
  );
  t.deepEqual(
    report.backupsRemoved.map((n) => n.toString()),
    ['data/big.bin.1'],
  );
  for (const [p, d] of staged.data) {
    t.true((await fs.readFile(path.join(x, 'data', p))).equals(d), `${p} is byte-identical to its source`);
  }
  const sums = await execa('sha256sum', ['-c', '--strict', 'manifest-sha256.txt'], { cwd: x, reject: false });
  t.is(sums.exitCode, 0, sums.stdout + sums.stderr);
  const tags = await execa('sha256sum', ['-c', '--strict', 'tagmanifest-sha256.txt'], { cwd: x, reject: false });
  t.is(tags.exitCode, 0, tags.stdout + tags.stderr);
  t.regex(tags.stdout, /recovery\/RCV001\.par2: OK/);
  // Nothing but the disc's own files is left behind (par2's copy of the damaged file is gone).
  const onDisc = (await listTree(x)).filter((p) => p.startsWith('data/'));
  t.deepEqual(onDisc, [...staged.data.keys()].map((p) => `data/${p}`).sort());

  const again = await repairTree(x);
  t.is(again.status, 'intact');
  t.deepEqual(again.repaired, []);
});

test('damage beyond the redundancy is UNREPAIRABLE, naming the file and the blocks lacking', async (t) => {
  const root = await tempDir(t);
  const staged = await stage(root, smallTree());
  const { image, recovery } = await masterWithRecovery(t, root, staged, 'RCV002');
  const set = recovery.sets[0]!;
  const copy = await burnCopy(image.path, path.join(root, 'copy-1.iso'));
  // Twice the bytes the set's recovery blocks can stand for, inside big.bin.
  const ext = extentOf(image, 'big.bin');
  const span = 2 * set.recoveryBlocks * set.blockSize;
  t.true(BigInt(span) < ext.length, `${span} bytes fit in big.bin`);
  await damage(copy, ext.offset, span);
  const x = await extract(copy, path.join(root, 'x'));
  const hurt = await fs.readFile(path.join(x, 'data/big.bin'));

  const e = await t.throwsAsync(repairTree(x), { instanceOf: RecoveryError });
  t.is(e?.code, 'UNREPAIRABLE');
  t.regex(e?.message ?? '', /data\/big\.bin/);
  t.regex(e?.message ?? '', /\d+ more recovery blocks would be needed/);
  const details = e?.details as { sets: { status: string; blocksNeeded?: number }[] };
  t.is(details.sets[0]!.status, 'unrepairable');
  t.true((details.sets[0]!.blocksNeeded ?? 0) >= set.recoveryBlocks, String(details.sets[0]!.blocksNeeded));
  // Nothing was claimed or changed: the file is as damaged as before, and the bag still says so.
  t.true((await fs.readFile(path.join(x, 'data/big.bin'))).equals(hurt));
  const sums = await execa('sha256sum', ['-c', 'manifest-sha256.txt'], { cwd: x, reject: false });
  t.not(sums.exitCode, 0);
  await t.throwsAsync(verifyTree(x), {
    instanceOf: RecoveryError,
    message: /beyond what the recovery files can repair/,
  });

  // With the same damage but the file's own par2 files gone, repair says there is nothing to repair with.
  await fs.rm(path.join(x, 'recovery'), { recursive: true });
  await t.throwsAsync(repairTree(x), { instanceOf: RecoveryError, message: /no par2 files/ });
});

test('many files are cut into several par2 sets; each repairs its own files and the bounds hold', async (t) => {
  const root = await tempDir(t);
  let seed = 7;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  const specs: [string, Buffer][] = [];
  for (let i = 0; i < 45; i++)
    specs.push([`d${i % 4}/f${String(i).padStart(3, '0')}.bin`, randomBytes(1 + (next() % 40_000))]);
  specs.push(['d9/empty', Buffer.alloc(0)]);
  const staged = await stage(root, specs);
  const layout = { maxFilesPerSet: 20, blocksPerSet: 400, minBlockBytes: 1024 };
  const { image, recovery } = await masterWithRecovery(t, root, staged, 'RCV003', 20, layout);

  t.deepEqual(
    recovery.sets.map((s) => [s.base, s.files]),
    [
      ['RCV003-1', 15],
      ['RCV003-2', 15],
      ['RCV003-3', 15],
    ],
  );
  for (const s of recovery.sets) t.true(s.sourceBlocks <= layout.blocksPerSet && s.blockSize >= 1024);
  t.is(recovery.files.length, 6);

  const payload = staged.files.reduce((s, f) => s + f.size, 0n);
  const pathBytes = staged.files.reduce((s, f) => s + f.path.length, 0);
  const bound = recoveryBytesBound(
    { bytes: payload, files: staged.files.length, pathBytes },
    20,
    { sets: 3, largestSet: 20 },
    { ...DEFAULT_PAR2_LAYOUT, ...layout },
  );
  t.true(Number(recovery.bytes) <= bound, `${recovery.bytes} > ${bound}`);
  const entries = staged.files.map((f) => ({ path: f.path, size: f.size }));
  const reserve = recoverySectors(payload, staged.files.length, 20, { pathBytes, layout });
  t.true(image.sectors <= estimateImageSectors(entries) + reserve, `${image.sectors} sectors`);
  const cost = withRecoveryCost(estimateCostModel(), 20, layout);
  const additive = cost.fixedSectors + staged.files.reduce((s, f) => s + cost.fileSectors(f.path, f.size), 0);
  t.true(image.sectors <= additive, `${image.sectors} > additive ${additive}`);

  // Damage one file of the second set: only that set repairs, the others are intact.
  const set2 = splitSets(staged.files, { ...DEFAULT_PAR2_LAYOUT, ...layout })[1]!.map((f) => f.path.toString());
  const target = set2[3]!;
  const copy = await burnCopy(image.path, path.join(root, 'copy.iso'));
  const ext = extentOf(image, target);
  await damage(copy, ext.offset, Math.min(2048, Number(ext.length)));
  const x = await extract(copy, path.join(root, 'x'));
  const report = await repairTree(x);
  t.deepEqual(
    report.sets.map((s) => [path.basename(s.par2File), s.status]),
    [
      ['RCV003-1.par2', 'intact'],
      ['RCV003-2.par2', 'repaired'],
      ['RCV003-3.par2', 'intact'],
    ],
  );
  t.deepEqual(
    report.repaired.map((n) => n.toString()),
    [`data/${target}`],
  );
  const sums = await execa('sha256sum', ['-c', '--strict', 'manifest-sha256.txt'], { cwd: x, reject: false });
  t.is(sums.exitCode, 0, sums.stdout);
});

test('a set whose index file is lost repairs from its recovery file alone', async (t) => {
  const root = await tempDir(t);
  const staged = await stage(root, smallTree());
  const { image } = await masterWithRecovery(t, root, staged, 'RCV004');
  const copy = await burnCopy(image.path, path.join(root, 'copy.iso'));
  const ext = extentOf(image, 'dir/mid.bin');
  await damage(copy, ext.offset + 8192n, 2048);
  const x = await extract(copy, path.join(root, 'x'));
  await fs.rm(path.join(x, 'recovery/RCV004.par2'));
  const report = await repairTree(x);
  t.is(report.status, 'repaired');
  t.regex(path.basename(report.sets[0]!.par2File), /^RCV004\.vol\d+\+\d+\.par2$/);
  t.true((await fs.readFile(path.join(x, 'data/dir/mid.bin'))).equals(staged.data.get('dir/mid.bin')!));
});

test('the block layout: near-equal sets, block sizes that fit, and a bound that grows with the payload', (t) => {
  const layout = { ...DEFAULT_PAR2_LAYOUT, maxFilesPerSet: 100 };
  const files = Array.from({ length: 250 }, (_, i) => ({ path: b(`f${String(i).padStart(3, '0')}`), size: 10n }));
  files.push({ path: b('zero'), size: 0n });
  const sets = splitSets(files, layout);
  t.deepEqual(
    sets.map((s) => s.length),
    [84, 83, 83],
  );
  t.is(sets[0][0]!.path.toString(), 'f000');
  t.false(
    sets.flat().some((f) => f.size === 0n),
    'empty files are in no set',
  );

  const sizes = [5_000_000_000n, 123_457n, 1n];
  const { blockSize, blocks } = blockSizeFor(sizes, layout);
  t.is(blockSize % 4, 0);
  t.true(blocks <= layout.blocksPerSet, String(blocks));
  const smaller = blockSize - 4;
  const atSmaller = sizes.reduce((n, s) => n + Number((s + BigInt(smaller) - 1n) / BigInt(smaller)), 0);
  t.true(atSmaller > layout.blocksPerSet, 'the block size is the smallest that fits');
  t.deepEqual(blockSizeFor([100n], layout), { blockSize: layout.minBlockBytes, blocks: 1 });

  t.is(recoverySectors(0n, 3, 10), 0);
  const a = recoverySectors(100_000_000n, 10, 10, { pathBytes: 300 });
  const c = recoverySectors(200_000_000n, 10, 10, { pathBytes: 300 });
  t.true(a > (0.1 * 100_000_000) / 2048 && a < (0.11 * 100_000_000) / 2048 + 600, String(a));
  t.true(c > a);
  t.is(a % 32, 0);
  for (const bad of [0, 101, 2.5]) {
    t.throws(() => recoverySectors(1000n, 1, bad), { instanceOf: RangeError });
  }
});

test('requests par2 cannot serve, and root files that cannot go on the disc, are refused clearly', async (t) => {
  const root = await tempDir(t);
  const staged = await stage(root, [['a.bin', randomBytes(10_000)]]);
  const workDir = path.join(root, 'work');
  await fs.mkdir(workDir);
  for (const redundancyPercent of [0, 101, 7.5]) {
    const e = await t.throwsAsync(
      createRecoveryFiles({ vsn: 'RCV005', files: staged.files, workDir, redundancyPercent }),
      {
        instanceOf: RecoveryError,
      },
    );
    t.is(e?.code, 'BAD_ARGUMENT');
  }
  const lower = await t.throwsAsync(
    createRecoveryFiles({ vsn: 'rcv', files: staged.files, workDir, redundancyPercent: 10 }),
    { instanceOf: RecoveryError },
  );
  t.is(lower?.code, 'BAD_ARGUMENT');
  const missing = await t.throwsAsync(
    createRecoveryFiles({
      vsn: 'RCV005',
      files: staged.files,
      workDir,
      redundancyPercent: 10,
      program: 'par2-not-here',
    }),
    { instanceOf: RecoveryError },
  );
  t.is(missing?.code, 'TOOL_MISSING');
  t.regex(missing?.message ?? '', /Debian package par2/);
  const bare = path.join(root, 'bare');
  await fs.mkdir(path.join(bare, 'data'), { recursive: true });
  const none = await t.throwsAsync(repairTree(bare), { instanceOf: RecoveryError });
  t.is(none?.code, 'NO_RECOVERY_FILES');

  const rec = await createRecoveryFiles({ vsn: 'RCV005', files: staged.files, workDir, redundancyPercent: 10 });
  const base: RootFile = rec.files[0]!;
  for (const bad of ['data/x.par2', '../x.par2', 'bagit.txt', 'LABEL.TXT/x', 'recovery/caf\u00e9', '/abs', 'a//b']) {
    const e = await t.throwsAsync(
      masterImage({
        vsn: 'RCV005',
        files: staged.files,
        rootFiles: [{ ...base, path: b(bad) }],
        output: path.join(root, 'bad.iso'),
        workDir,
        label: {
          vsn: 'RCV005',
          site: 's',
          class: 'c',
          created: new Date(0),
          media: 'test-8m-par2',
          copies: 1,
          session: 1,
          job: '1',
        },
        charset: 'utf-8',
      }),
      { instanceOf: MasteringError },
      bad,
    );
    t.is(e?.code, 'BAD_NAME', bad);
  }
});

test('the test-8m-par2 profile asks for par2 at 10 %, and no other profile asks for recovery', (t) => {
  t.deepEqual(mediaProfile('TEST-8M-PAR2').recovery, { kind: 'par2', redundancyPercent: 10 });
  t.is(mediaProfile('test-8m-par2').sectors, 4096);
  t.deepEqual(
    listMediaProfiles()
      .filter((p) => p.recovery)
      .map((p) => p.name),
    ['test-8m-par2'],
  );
});
