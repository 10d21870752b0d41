/**
 * Mastering with the real xorriso on real trees in temp dirs: images are
 * extracted with bsdtar and compared byte for byte, the bag is checked with
 * sha256sum -c, xorriso's own MD5 check runs on the image (and must catch a
 * flipped byte), every file is read back from its recorded extents, Joliet
 * names are read from the Joliet tree, and the size estimate and the packer's
 * additive cost model are held against real images of seeded random trees.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { parsePayloadOxum } from '../../edge-agent/mastering/bag.js';
import { MasteringError } from '../../edge-agent/mastering/errors.js';
import { extentBytes, extentsOf, parseExtentReport, unquoteShellWord } from '../../edge-agent/mastering/extents.js';
import {
  estimateCostModel,
  estimateImageSectors,
  fileSectors,
  fixedImageSectors,
  ImageSizeEstimator,
  SECTION_BYTES,
  type SizeEntry,
  sectionCount,
} from '../../edge-agent/mastering/image-size.js';
import { parseLabel } from '../../edge-agent/mastering/label.js';
import {
  type ImageFile,
  type MasteredImage,
  type MasterRequest,
  masterImage,
  progressOf,
  type VolumeLabel,
  xorrisoLibisofsVersion,
} from '../../edge-agent/mastering/master-image.js';
import { escapePathspec } from '../../edge-agent/mastering/path-list.js';
import { runXorriso } from '../../edge-agent/xorriso/run-xorriso.js';

const SECTOR = 2048;
const b = (s: string) => Buffer.from(s, 'utf8');
const L = (s: string) => Buffer.from(s, 'latin1');
const sha = (d: Buffer) => createHash('sha256').update(d).digest();
const C_LOCALE = { LC_ALL: 'C', LANG: 'C' };

/** mulberry32: a small seeded PRNG, so a failing tree can be rebuilt from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function tempDir(t: ExecutionContext, prefix = 'optarc-master-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), prefix));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Spec {
  path: Buffer;
  data?: Buffer;
  /** A sparse file of this size instead of data. */
  sparse?: bigint;
  mode?: number;
  /** mtime in whole seconds. */
  mtime?: number;
  /** The staged file's own name under src/ (raw bytes); a number by default. */
  sourceName?: Buffer;
}

/** Writes each spec's staged file under `root`/src and returns the request's files. */
async function stage(root: string, specs: Spec[]): Promise<ImageFile[]> {
  const src = path.join(root, 'src');
  await fs.mkdir(src, { recursive: true });
  const files: ImageFile[] = [];
  for (const [i, s] of specs.entries()) {
    const source = Buffer.concat([b(`${src}/`), s.sourceName ?? b(String(i))]);
    if (s.sparse !== undefined) {
      await fs.writeFile(source, '');
      await fs.truncate(source, Number(s.sparse));
    } else {
      await fs.writeFile(source, s.data ?? Buffer.alloc(0));
    }
    await fs.chmod(source, s.mode ?? 0o644);
    const mtime = s.mtime ?? 1_500_000_000 + i;
    await fs.utimes(source, mtime, mtime);
    files.push({
      source,
      path: s.path,
      size: s.sparse ?? BigInt(s.data?.length ?? 0),
      sha256: s.data ? sha(s.data) : Buffer.alloc(32),
      mtime: { seconds: BigInt(mtime), nanoseconds: 0 },
      mode: s.mode ?? 0o644,
    });
  }
  return files;
}

function label(vsn: string, over: Partial<VolumeLabel> = {}): VolumeLabel {
  return {
    vsn,
    site: 'Paranal Archive',
    class: 'raw-frames',
    created: new Date('2024-03-05T06:07:08.000Z'),
    media: 'bd-r',
    copies: 3,
    session: 1,
    job: 'job-42',
    ...over,
  };
}

async function master(
  t: ExecutionContext,
  root: string,
  files: ImageFile[],
  over: Partial<MasterRequest> = {},
): Promise<MasteredImage> {
  const workDir = path.join(root, `work-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(workDir, { recursive: true });
  const vsn = over.vsn ?? 'OPT_000001';
  const started = Date.now();
  const image = await masterImage({
    vsn,
    files,
    output: path.join(root, 'volume.iso'),
    workDir,
    label: label(vsn),
    charset: 'utf-8',
    ...over,
  });
  t.log(`mastered ${files.length} files into ${image.sectors} sectors in ${Date.now() - started} ms`);
  return image;
}

async function extract(root: string, image: string): Promise<string> {
  const dir = path.join(root, `x-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(dir);
  await execa('bsdtar', ['-xpf', image, '-C', dir], { env: C_LOCALE });
  return dir;
}

async function readAt(image: string, offset: bigint, length: number): Promise<Buffer> {
  const fd = await fs.open(image, 'r');
  try {
    const out = Buffer.alloc(length);
    const { bytesRead } = await fd.read(out, 0, length, Number(offset));
    return out.subarray(0, bytesRead);
  } finally {
    await fd.close();
  }
}

async function readExtents(image: string, extents: { offset: bigint; length: bigint }[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of extents) parts.push(await readAt(image, e.offset, Number(e.length)));
  return Buffer.concat(parts);
}

/** Every file path (raw bytes, latin1-keyed) under `dir`, relative to it. */
async function listTree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (rel: Buffer) => {
    const abs = Buffer.concat([b(`${dir}/`), rel]);
    for (const d of await fs.readdir(abs, { withFileTypes: true, encoding: 'buffer' })) {
      const child = rel.length ? Buffer.concat([rel, b('/'), d.name]) : d.name;
      if (d.isDirectory()) await walk(child);
      else out.set(child.toString('latin1'), child);
    }
  };
  await walk(Buffer.alloc(0));
  return out;
}

/** The Joliet tree's file paths, decoded from UCS-2, by walking the image's directory records. */
async function jolietPaths(image: string): Promise<string[]> {
  const data = await fs.readFile(image);
  let svd: Buffer | undefined;
  for (let lba = 32 + 16; lba < 32 + 32; lba++) {
    const vd = data.subarray(lba * SECTOR, (lba + 1) * SECTOR);
    if (vd[0] === 2 && vd.subarray(1, 6).toString('latin1') === 'CD001') svd = vd;
    if (vd[0] === 255) break;
  }
  if (!svd) throw new Error('no Joliet volume descriptor');
  const out: string[] = [];
  const walk = (lba: number, size: number, prefix: string) => {
    let off = 0;
    while (off < size) {
      const at = lba * SECTOR + off;
      const len = data[at]!;
      if (len === 0) {
        off = (Math.floor(off / SECTOR) + 1) * SECTOR;
        continue;
      }
      const rec = data.subarray(at, at + len);
      const nameLen = rec[32]!;
      const raw = rec.subarray(33, 33 + nameLen);
      if (!(nameLen === 1 && raw[0]! <= 1)) {
        const swapped = Buffer.from(raw).swap16();
        const name = swapped.toString('utf16le').replace(/;1$/, '');
        const isDir = (rec[25]! & 2) !== 0;
        if (isDir) walk(rec.readUInt32LE(2), rec.readUInt32LE(10), `${prefix}${name}/`);
        else out.push(`${prefix}${name}`);
      }
      off += len;
    }
  };
  walk(svd.readUInt32LE(156 + 2), svd.readUInt32LE(156 + 10), '');
  return out.sort();
}

async function check(t: ExecutionContext, image: MasteredImage, files: ImageFile[], contents: Buffer[]) {
  const st = await fs.stat(image.path);
  t.is(BigInt(st.size), image.bytes);
  t.is(image.sectors * SECTOR, st.size);
  t.is(image.files.length, files.length);
  for (const [i, f] of image.files.entries()) {
    t.true(f.path.equals(files[i]!.path));
    t.is(extentBytes(f.extents), files[i]!.size, `extents of ${f.path.toString('latin1')}`);
    const back = await readExtents(image.path, f.extents);
    t.true(back.equals(contents[i]!), `bytes at the extents of ${f.path.toString('latin1')}`);
    for (const e of f.extents) t.is(e.offset % BigInt(SECTOR), 0n);
  }
}

// --- mastering a tree ------------------------------------------------------

test('a tree with nested dirs and awkward names masters, extracts byte for byte, and its bag verifies', async (t) => {
  const root = await tempDir(t);
  const specs: Spec[] = [
    { path: b('README'), data: b('read me\n'), mode: 0o644 },
    { path: b('scans/2024/night-01/frame=0001.fits'), data: randomBytes(300_000), mode: 0o640 },
    { path: b('scans/2024/night-01/frame=0002.fits'), data: randomBytes(5_000) },
    { path: b('scans/Ünïcödé ✓/Größe.txt'), data: b('utf-8 names\n') },
    { path: b('with space/ leading and trailing '), data: b('spaces') },
    { path: b('odd/a\\b=c\\'), data: b('backslashes and equals') },
    { path: b('odd/100%25 done'), data: b('percent') },
    { path: b('odd/it\'s "quoted"'), data: b('quotes') },
    { path: b('empty/zero-length'), data: Buffer.alloc(0) },
    { path: b('bin/tool'), data: randomBytes(70_000), mode: 0o755 },
    { path: b(`long/${'n'.repeat(200)}.dat`), data: b('a long name') },
    { path: b('big/three-mib.bin'), data: randomBytes(3 * 1024 * 1024 + 17) },
  ];
  const files = await stage(root, specs);
  // Staged files whose own names need escaping in the path list, too.
  const odd = await stage(path.join(root, 'odd=src\\dir'), [
    { path: b('from-odd-source'), data: b('source path with = and \\'), sourceName: b('x=y\\z') },
  ]);
  files.push(...odd);
  const contents = [...specs.map((s) => s.data ?? Buffer.alloc(0)), b('source path with = and \\')];
  const progress: number[] = [];
  const image = await master(t, root, files, { onProgress: (f) => progress.push(f) });
  await check(t, image, files, contents);

  t.true(progress.length > 0);
  t.is(progress.at(-1), 1);
  t.deepEqual(
    progress,
    [...progress].sort((x, y) => x - y),
    'progress never goes back',
  );

  const x = await extract(root, image.path);
  const tree = await listTree(x);
  const payload = [...tree.keys()].filter((k) => k.startsWith('data/'));
  t.deepEqual(payload.sort(), files.map((f) => `data/${f.path.toString('latin1')}`).sort());
  for (const [i, f] of files.entries()) {
    const extracted = Buffer.concat([b(`${x}/data/`), f.path]);
    t.true((await fs.readFile(extracted)).equals(contents[i]!), f.path.toString());
    const st = await fs.stat(extracted);
    t.is(st.mode & 0o7777, f.mode, `mode of ${f.path.toString()}`);
    t.is(BigInt(Math.floor(st.mtimeMs / 1000)), f.mtime.seconds, `mtime of ${f.path.toString()}`);
  }
  t.deepEqual([...tree.keys()].filter((k) => !k.startsWith('data/')).sort(), [
    'LABEL.TXT',
    'bag-info.txt',
    'bagit.txt',
    'manifest-sha256.txt',
    'tagmanifest-sha256.txt',
  ]);

  const sums = await execa('sha256sum', ['-c', '--strict', 'manifest-sha256.txt'], { cwd: x, reject: false });
  t.is(sums.exitCode, 0, sums.stdout + sums.stderr);
  t.is(sums.stdout.split('\n').filter((l) => l.endsWith(': OK')).length, files.length);
  const tags = await execa('sha256sum', ['-c', '--strict', 'tagmanifest-sha256.txt'], { cwd: x, reject: false });
  t.is(tags.exitCode, 0, tags.stdout + tags.stderr);

  const bagit = await fs.readFile(path.join(x, 'bagit.txt'), 'utf8');
  t.is(bagit, 'BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n');
  const info = await fs.readFile(path.join(x, 'bag-info.txt'), 'utf8');
  const total = files.reduce((s, f) => s + f.size, 0n);
  t.deepEqual(parsePayloadOxum(info), { bytes: total, count: files.length });
  t.regex(info, /^External-Identifier: OPT_000001$/m);
  t.regex(info, /^Source-Organization: Paranal Archive$/m);
  t.regex(info, /^Bagging-Date: 2024-03-05$/m);

  const lab = parseLabel(await fs.readFile(path.join(x, 'LABEL.TXT'), 'utf8'));
  const want = label('OPT_000001');
  t.is(lab.get('VSN'), want.vsn);
  t.is(lab.get('SITE'), want.site);
  t.is(lab.get('CLASS'), want.class);
  t.is(lab.get('CREATED'), want.created.toISOString());
  t.is(lab.get('MEDIA'), want.media);
  t.is(lab.get('COPIES'), String(want.copies));
  t.is(lab.get('SESSION'), String(want.session));
  t.is(lab.get('JOB'), want.job);
  t.is(lab.get('SIZE')?.split(' ')[0], String(total));
  t.is(lab.get('FILES'), String(files.length));
  t.regex(lab.get('COPY-POLICY') ?? '', /^3 copies/);

  // Bag and label files sit at their extents too, and hash as reported.
  t.is(image.bagFiles.length, 5);
  for (const bf of image.bagFiles) {
    const onDisc = await fs.readFile(path.join(x, bf.path.toString()));
    t.true((await readExtents(image.path, bf.extents)).equals(onDisc), bf.path.toString());
    t.true(sha(onDisc).equals(bf.sha256));
    t.is(BigInt(onDisc.length), bf.size);
  }

  // The manifest's hashes are the request's (never recomputed): a wrong one shows up in sha256sum -c.
  const manifest = await fs.readFile(path.join(x, 'manifest-sha256.txt'), 'latin1');
  for (const f of files) t.true(manifest.includes(`${f.sha256.toString('hex')}  data/${f.path.toString('latin1')}\n`));

  const joliet = await jolietPaths(image.path);
  t.true(joliet.includes('data/scans/Ünïcödé ✓/Größe.txt'), joliet.join('\n'));
  t.true(joliet.includes('data/README'));
});

test('a hash given at staging is what the manifest says, not a recomputation', async (t) => {
  const root = await tempDir(t);
  const files = await stage(root, [{ path: b('a.txt'), data: b('actual content') }]);
  files[0]!.sha256 = sha(b('what staging saw'));
  const image = await master(t, root, files);
  const x = await extract(root, image.path);
  const sums = await execa('sha256sum', ['-c', 'manifest-sha256.txt'], { cwd: x, reject: false });
  t.not(sums.exitCode, 0);
  t.regex(sums.stdout, /data\/a\.txt: FAILED/);
  t.true(image.files[0]!.sha256.equals(sha(b('what staging saw'))));
});

test('ISO-8859-1 names keep their bytes on Rock Ridge, become proper Joliet, and the bag says so', async (t) => {
  const root = await tempDir(t);
  const specs: Spec[] = [
    { path: L('caf\u00e9/men\u00fc.txt'), data: b('latin1 dir and file'), sourceName: L('men\u00fc-staged') },
    { path: L('Gr\u00f6\u00dfe=\u00bd'), data: randomBytes(10_000) },
    { path: L('plain.txt'), data: b('ascii') },
    { path: L('c1-\u0085-nbsp-\u00a0'), data: b('C1 control and no-break space bytes') },
  ];
  const files = await stage(root, specs);
  const image = await master(t, root, files, { charset: 'iso-8859-1', vsn: 'LATIN_1' });
  await check(
    t,
    image,
    files,
    specs.map((s) => s.data!),
  );

  const x = await extract(root, image.path);
  const tree = await listTree(x);
  for (const [i, f] of files.entries()) {
    const key = `data/${f.path.toString('latin1')}`;
    t.true(tree.has(key), `raw bytes of ${JSON.stringify(key)} on Rock Ridge`);
    t.true((await fs.readFile(Buffer.concat([b(`${x}/`), tree.get(key)!]))).equals(specs[i].data!));
  }
  const sums = await execa('sha256sum', ['-c', '--strict', 'manifest-sha256.txt'], {
    cwd: x,
    reject: false,
    env: C_LOCALE,
  });
  t.is(sums.exitCode, 0, sums.stdout + sums.stderr);
  t.is(
    await fs.readFile(path.join(x, 'bagit.txt'), 'latin1'),
    'BagIt-Version: 1.0\nTag-File-Character-Encoding: ISO-8859-1\n',
  );
  t.is(parseLabel(await fs.readFile(path.join(x, 'LABEL.TXT'), 'utf8')).get('NAME-CHARSET'), 'ISO-8859-1');

  const joliet = await jolietPaths(image.path);
  t.deepEqual(
    joliet.filter((p) => p.startsWith('data/')).sort(),
    files.map((f) => `data/${f.path.toString('latin1')}`).sort(),
  );
});

test('xorriso verifies the session and per-file MD5s, and catches a flipped byte', async (t) => {
  const root = await tempDir(t);
  const specs: Spec[] = [
    { path: b('one/a.bin'), data: randomBytes(50_000) },
    { path: b('two/b.bin'), data: randomBytes(9_000) },
  ];
  const image = await master(t, root, await stage(root, specs));
  const good = await runXorriso([
    '-no_rc',
    '-md5',
    'on',
    '-indev',
    `stdio:${image.path}`,
    '-check_md5_r',
    'sorry',
    '/',
    '--',
  ]);
  t.regex(good.stdout, /File contents and their MD5 checksums match/);
  t.deepEqual(good.problems, []);

  const bad = path.join(root, 'bad.iso');
  await fs.copyFile(image.path, bad);
  const victim = image.files[0].extents[0]!;
  const fd = await fs.open(bad, 'r+');
  const byte = Buffer.alloc(1);
  await fd.read(byte, 0, 1, Number(victim.offset) + 1000);
  byte[0] = byte[0]! ^ 0xff;
  await fd.write(byte, 0, 1, Number(victim.offset) + 1000);
  await fd.close();
  const err = await t.throwsAsync(
    runXorriso(['-no_rc', '-md5', 'on', '-indev', `stdio:${bad}`, '-check_md5_r', 'sorry', '/', '--']),
  );
  t.regex(`${err?.message}`, /MD5|mismatch/i);
});

test('an existing output is replaced, not appended to', async (t) => {
  const root = await tempDir(t);
  const first = await master(t, root, await stage(path.join(root, 'a'), [{ path: b('first.txt'), data: b('1') }]));
  const second = await master(t, root, await stage(path.join(root, 'b'), [{ path: b('second.txt'), data: b('2') }]), {
    vsn: 'OPT_000002',
  });
  t.is(first.path, second.path);
  const tree = await listTree(await extract(root, second.path));
  t.false(tree.has('data/first.txt'));
  t.true(tree.has('data/second.txt'));
  const toc = await runXorriso(['-no_rc', '-indev', `stdio:${second.path}`, '-toc']);
  t.is((`${toc.stdout}\n${toc.stderr}`.match(/^ISO session/gm) ?? []).length, 1);
});

test('an empty payload still makes a volume with its bag and label', async (t) => {
  const root = await tempDir(t);
  const image = await master(t, root, []);
  t.deepEqual(image.files, []);
  const x = await extract(root, image.path);
  const info = await fs.readFile(path.join(x, 'bag-info.txt'), 'utf8');
  t.deepEqual(parsePayloadOxum(info), { bytes: 0n, count: 0 });
  t.true(image.sectors <= fixedImageSectors());
});

test('a report too big for one xorriso run is taken over LBA ranges, with spanning files merged', async (t) => {
  const root = await tempDir(t);
  const r = prng(7);
  const specs: Spec[] = Array.from({ length: 150 }, (_, i) => ({
    path: b(`d${i % 9}/file-${i}`),
    data: randomBytes(i % 10 === 0 ? 600_000 : Math.floor(r() * 9000)),
  }));
  specs.push({ path: b('empty'), data: Buffer.alloc(0) });
  const files = await stage(root, specs);
  const ranged = await master(t, root, files, { maxReportBytes: 1500 });
  await check(
    t,
    ranged,
    files,
    specs.map((s) => s.data!),
  );
  t.true(ranged.files.filter((f) => f.size > 0n).every((f) => f.extents.length === 1));
  t.deepEqual(ranged.files.at(-1)!.extents, []);
});

// --- refusals ----------------------------------------------------------------

test('a staged file whose size differs from the request is SOURCE_CHANGED, naming it', async (t) => {
  const root = await tempDir(t);
  const files = await stage(root, [
    { path: b('ok.txt'), data: b('fine') },
    { path: b('dir/grown.txt'), data: b('twelve bytes') },
  ]);
  await fs.appendFile(files[1]!.source, 'more');
  const err = await t.throwsAsync(master(t, root, files), { instanceOf: MasteringError });
  t.is(err?.code, 'SOURCE_CHANGED');
  t.regex(err?.message ?? '', /dir\/grown\.txt/);
  t.regex(err?.message ?? '', /16 bytes, the request says 12/);
  t.true(err?.path?.equals(b('dir/grown.txt')));
  await t.throwsAsync(fs.stat(path.join(root, 'volume.iso')));

  await fs.rm(files[1]!.source);
  const gone = await t.throwsAsync(master(t, root, files), { instanceOf: MasteringError });
  t.is(gone?.code, 'SOURCE_CHANGED');
  t.regex(gone?.message ?? '', /cannot be read \(ENOENT\)/);
});

const asRoot = process.getuid?.() === 0 ? test : test.skip;

asRoot(
  'an image that does not fit its filesystem is NO_SPACE and leaves nothing behind (tmpfs, needs root)',
  async (t) => {
    const root = await tempDir(t);
    const files = await stage(root, [{ path: b('three-mib.bin'), data: randomBytes(3 * 1024 * 1024) }]);
    const small = path.join(root, 'small-fs');
    await fs.mkdir(small);
    const request = {
      vsn: 'OPT_NOSPACE',
      files: files.map((f) => ({ ...f, source: String(f.source), size: String(f.size), mtime: 0 })),
      output: path.join(small, 'volume.iso'),
      workDir: path.join(root, 'work'),
    };
    await fs.mkdir(request.workDir);
    const module = path.resolve('dist/edge-agent/mastering/master-image.js');
    // In a private mount namespace: a 1 MiB tmpfs receives the 3 MiB image.
    const script = `
    import { masterImage } from ${JSON.stringify(module)};
    const r = ${JSON.stringify(request)};
    const files = r.files.map((f) => ({ ...f, path: Buffer.from(f.path.data), sha256: Buffer.from(f.sha256.data),
      size: BigInt(f.size), mtime: { seconds: 0n, nanoseconds: 0 } }));
    const label = { vsn: r.vsn, site: 's', class: 'c', created: new Date(0), media: 'bd-r', copies: 1, session: 1, job: 'j' };
    try {
      await masterImage({ ...r, files, label, charset: 'utf-8' });
      console.log(JSON.stringify({ ok: true }));
    } catch (e) {
      console.log(JSON.stringify({ code: e.code, message: e.message }));
    }`;
    const out = await execa(
      'unshare',
      [
        '--mount',
        '--',
        'sh',
        '-c',
        `mount -t tmpfs -o size=1m tmpfs "$0" && "$1" --input-type=module -e "$2"; ls -A "$0"`,
        small,
        process.execPath,
        script,
      ],
      { reject: false },
    );
    const lines = out.stdout.trim().split('\n');
    const result = JSON.parse(lines.find((l) => l.startsWith('{')) ?? '{}');
    t.log(result.message);
    t.is(result.code, 'NO_SPACE', `${out.stdout}\n${out.stderr}`);
    t.regex(result.message ?? '', /does not fit|no space/i);
    t.deepEqual(
      lines.filter((l) => !l.startsWith('{')),
      [],
      'no partial image left on the full filesystem',
    );
  },
);

test('names that cannot go on a disc are BAD_NAME before xorriso runs', async (t) => {
  const root = await tempDir(t);
  const [good] = await stage(root, [{ path: b('x'), data: b('x') }]);
  const bad: [Buffer, RegExp][] = [
    [b('a\nb'), /newline/],
    [Buffer.from([0x61, 0x00, 0x62]), /NUL/],
    [b('/abs'), /absolute/],
    [b('a//b'), /empty component/],
    [b('a/../b'), /"\." or "\.\."/],
    [b(`${'n'.repeat(256)}`), /longer than 255/],
    [Buffer.from([0x63, 0x61, 0x66, 0xe9]), /not valid UTF-8/],
  ];
  for (const [p, why] of bad) {
    const err = await t.throwsAsync(master(t, root, [{ ...good!, path: p }]), { instanceOf: MasteringError });
    t.is(err?.code, 'BAD_NAME', p.toString('latin1'));
    t.regex(err?.message ?? '', why);
  }
  const dup = await t.throwsAsync(master(t, root, [good!, { ...good! }]), { instanceOf: MasteringError });
  t.regex(dup?.message ?? '', /listed twice/);
  const under = await t.throwsAsync(master(t, root, [good!, { ...good!, path: b('x/y') }]), {
    instanceOf: MasteringError,
  });
  t.regex(under?.message ?? '', /which is a file/);
  const vsn = await t.throwsAsync(master(t, root, [good!], { vsn: 'lower case' }), { instanceOf: MasteringError });
  t.is(vsn?.code, 'BAD_NAME');
  const lab = await t.throwsAsync(master(t, root, [good!], { label: label('OPT_000001', { site: 'two\nlines' }) }), {
    instanceOf: MasteringError,
  });
  t.is(lab?.code, 'BAD_LABEL');
});

test('a cancelled run is ABORTED and leaves no image', async (t) => {
  const root = await tempDir(t);
  const files = await stage(root, [{ path: b('big.bin'), sparse: 400n * 1024n * 1024n }]);
  const ctl = new AbortController();
  const run = master(t, root, files, {
    signal: ctl.signal,
    onProgress: () => ctl.abort(),
  });
  setTimeout(() => ctl.abort(), 300).unref();
  const err = await t.throwsAsync(run, { instanceOf: MasteringError });
  t.is(err?.code, 'ABORTED');
  await t.throwsAsync(fs.stat(path.join(root, 'volume.iso')));
});

test('a directory of many long names masters, or fails fast and clearly on libisofs < 1.5.6', async (t) => {
  const root = await tempDir(t);
  // 120 names of 230 bytes: about 15 KiB of Rock Ridge continuation areas in one directory.
  const specs: Spec[] = Array.from({ length: 120 }, (_, i) => ({
    path: b(`many/${String(i).padStart(4, '0')}${'y'.repeat(226)}`),
    data: b(`file ${i}`),
  }));
  const files = await stage(root, specs);
  const version = (await xorrisoLibisofsVersion()) ?? '0';
  const [major = 0, minor = 0, patch = 0] = version.split('.').map(Number);
  const fixed = major > 1 || (major === 1 && (minor > 5 || (minor === 5 && patch >= 6)));
  t.log(`libisofs ${version}`);
  const started = Date.now();
  if (fixed) {
    const image = await master(t, root, files);
    await check(
      t,
      image,
      files,
      specs.map((s) => s.data!),
    );
  } else {
    const err = await t.throwsAsync(master(t, root, files), { instanceOf: MasteringError });
    t.is(err?.code, 'TOOL_FAILED');
    t.regex(err?.message ?? '', /libisofs 1\.5\.\d .*continuation areas.*1\.5\.6/);
    t.true(Date.now() - started < 20_000);
    await t.throwsAsync(fs.stat(path.join(root, 'volume.iso')));
  }
});

// --- parsers -----------------------------------------------------------------

// Captured from xorriso 1.5.4 on an image holding a 4,400,000,000-byte file (two sections).
const CAPTURED_SECTIONS = `Report layout: xt , Startlba ,   Blocks , Sectsize , ISO image path
File data lba:  0 ,       63 ,        1 ,        5 , '/data/a'
File data lba:  0 ,       64 ,  2097151 , 4294965248 , '/data/huge'
File data lba:  1 ,  2097215 ,    51287 , 105034752 , '/data/huge'
`;
const CAPTURED_LBA = `Report layout: xt , Startlba ,   Blocks , Filesize , ISO image path
File data lba:  0 ,       63 ,        1 ,        5 , '/data/a'
File data lba:  1 ,  2097215 ,    51287 , 4400000000 , '/data/huge'
File data lba:  0 ,       64 ,  2097151 , 4400000000 , '/data/huge'
`;

test('extent reports: multi-section files in both layouts, quoting, empty files', (t) => {
  for (const text of [CAPTURED_SECTIONS, CAPTURED_LBA]) {
    const files = parseExtentReport(text);
    t.deepEqual(
      files.map((f) => f.path),
      ['/data/a', '/data/huge'],
    );
    const huge = extentsOf(files[1]!);
    t.deepEqual(huge, [
      { offset: 64n * 2048n, length: 4294965248n },
      { offset: 2097215n * 2048n, length: 105034752n },
    ]);
    t.is(extentBytes(huge), 4_400_000_000n);
    t.deepEqual(extentsOf(files[0]!), [{ offset: 63n * 2048n, length: 5n }]);
  }
  const quoted = parseExtentReport(
    `Report layout: xt , Startlba ,   Blocks , Sectsize , ISO image path\nFile data lba:  0 ,       58 ,       49 ,   100000 , '/data/it'"'"'s "q" \\n , x'\nFile data lba:  0 ,       62 ,        0 ,        0 , '/data/empty'\n`,
  );
  t.is(quoted[0]!.path, `/data/it's "q" \\n , x`);
  t.deepEqual(extentsOf(quoted[1]!), []);
  t.is(unquoteShellWord(`'a'\\''b'"c d"`), "a'bc d");
  t.throws(() => unquoteShellWord("'open"));
  t.throws(() => extentsOf({ path: '/x', layout: 'sections', sections: [{ xt: 0, lba: 1, blocks: 1, size: 4096n }] }));
});

test('progress lines and pathspec escaping', (t) => {
  const near = (x: number | undefined, y: number) => t.true(x !== undefined && Math.abs(x - y) < 1e-9, `${x} vs ${y}`);
  near(progressOf('xorriso : UPDATE : Writing:      16384s   11.2%   fifo  48%  buf  50%'), 0.112);
  near(progressOf('xorriso : UPDATE : Writing:     126082s   86.0%   fifo   0%  buf  50%  161.8xD '), 0.86);
  near(progressOf('xorriso : UPDATE :  47.34% done, estimate finish Thu Jan 01 00:00:00 2025'), 0.4734);
  t.is(progressOf('xorriso : UPDATE :       3 files added in 1 seconds'), undefined);
  t.deepEqual(escapePathspec(b('a=b\\c')), b('a\\=b\\\\c'));
  t.is(escapePathspec(b('plain')).toString(), 'plain');
});

// --- the size estimate -------------------------------------------------------

interface Tree {
  name: string;
  specs: Spec[];
}

function randomName(r: () => number, min: number, max: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+, =äöüé✓日本';
  const n = min + Math.floor(r() * (max - min + 1));
  let s = '';
  while (Buffer.byteLength(s) < n) s += alphabet[Math.floor(r() * alphabet.length)];
  while (Buffer.byteLength(s) > n) s = s.slice(0, -1);
  return s.replace(/^\.+/, 'x') || 'x';
}

/**
 * Random trees: many small files, deep directories, long names (at most 10
 * names over 100 bytes per directory: more trip the libisofs < 1.5.6 bug),
 * a few big sparse files.
 */
function randomTree(seed: number, kind: 'small' | 'deep' | 'long' | 'big'): Tree {
  const r = prng(seed);
  const specs: Spec[] = [];
  const seen = new Set<string>();
  const longPerDir = new Map<string, number>();
  const dirs: string[] = [''];
  const count = kind === 'small' ? 700 : kind === 'big' ? 40 : 300;
  for (let i = 0; i < count; i++) {
    let dir = dirs[Math.floor(r() * dirs.length)]!;
    const depth = dir.split('/').length;
    if (r() < (kind === 'deep' ? 0.45 : 0.12) && depth < (kind === 'deep' ? 14 : 5)) {
      const long = kind === 'long' && r() < 0.3 && (longPerDir.get(dir) ?? 0) < 10;
      const sub = randomName(r, long ? 101 : 1, long ? 230 : kind === 'deep' ? 40 : 20);
      if (long) longPerDir.set(dir, (longPerDir.get(dir) ?? 0) + 1);
      dir = dir ? `${dir}/${sub}` : sub;
      dirs.push(dir);
    }
    const long = kind === 'long' && r() < 0.35 && (longPerDir.get(dir) ?? 0) < 10;
    const leaf = randomName(r, long ? 101 : 1, long ? 255 : 30);
    if (long) longPerDir.set(dir, (longPerDir.get(dir) ?? 0) + 1);
    const p = dir ? `${dir}/${leaf}` : leaf;
    if (seen.has(p) || dirs.includes(p) || [...seen].some((s) => p.startsWith(`${s}/`))) continue;
    seen.add(p);
    if (kind === 'big' && i < 4) {
      specs.push({ path: b(p), sparse: BigInt(Math.floor(5_000_000 + r() * 30_000_000)) });
    } else {
      const size = r() < 0.05 ? 0 : Math.floor(r() ** 3 * (kind === 'small' ? 6000 : 40_000));
      specs.push({ path: b(p), data: randomBytes(size) });
    }
  }
  // Directories that ended up also being file names are dropped (a path can be one or the other).
  const files = new Set(specs.map((s) => s.path.toString()));
  return {
    name: `${kind}#${seed}`,
    specs: specs.filter((s) => ![...files].some((f) => s.path.toString().startsWith(`${f}/`))),
  };
}

const TREES: Tree[] = [
  randomTree(1, 'small'),
  randomTree(2, 'deep'),
  randomTree(3, 'long'),
  randomTree(4, 'big'),
  randomTree(5, 'long'),
];

for (const tree of TREES) {
  test(`estimate >= real image, and close to it: ${tree.name}`, async (t) => {
    const root = await tempDir(t);
    const files = await stage(root, tree.specs);
    const entries: SizeEntry[] = files.map((f) => ({ path: f.path, size: f.size }));
    const image = await master(t, root, files);
    const estimate = estimateImageSectors(entries);
    const model = estimateCostModel();
    const additive = model.fixedSectors + entries.reduce((s, e) => s + model.fileSectors(e.path, e.size), 0);
    const informed = estimateCostModel({ items: entries, capacitySectors: 2_298_496 });
    const additiveInformed =
      informed.fixedSectors + entries.reduce((s, e) => s + informed.fileSectors(e.path, e.size), 0);
    const data = entries.reduce((s, e) => s + fileSectors(e.size), 0);
    t.log(
      `${entries.length} files, ${data} data sectors: image ${image.sectors}, estimate ${estimate} ` +
        `(+${estimate - image.sectors}), additive ${Math.ceil(additive)}, informed ${Math.ceil(additiveInformed)}`,
    );
    t.true(image.sectors <= estimate, `image ${image.sectors} > estimate ${estimate}`);
    t.true(estimate <= image.sectors * 1.05 + 96, `estimate ${estimate} too far above ${image.sectors}`);
    t.true(estimate <= additive, `additive ${additive} < estimate ${estimate}`);
    t.true(estimate <= additiveInformed, `informed additive ${additiveInformed} < estimate ${estimate}`);
    t.true(additiveInformed <= additive + 1e-6);
  });
}

test('the additive cost model bounds the estimate for every subset a packer could choose', (t) => {
  const under: string[] = [];
  for (const tree of TREES) {
    const entries: SizeEntry[] = tree.specs.map((s) => ({ path: s.path, size: s.sparse ?? BigInt(s.data!.length) }));
    const r = prng(99);
    for (const capacity of [4096, 16_384, 2_298_496]) {
      const model = estimateCostModel({ items: entries, capacitySectors: capacity });
      for (let k = 0; k < 25; k++) {
        const keep = r();
        const subset = entries.filter(() => r() < keep);
        const sum = model.fixedSectors + subset.reduce((s, e) => s + model.fileSectors(e.path, e.size), 0);
        const estimate = estimateImageSectors(subset);
        if (sum < estimate) under.push(`${tree.name}, capacity ${capacity}: additive ${sum} < estimate ${estimate}`);
      }
    }
  }
  t.deepEqual(under, []);
});

test('the incremental estimator: sectorsWith previews add exactly and leaves no trace', (t) => {
  const entries = TREES[2]!.specs.map((s) => ({ path: s.path, size: s.sparse ?? BigInt(s.data!.length) }));
  const est = new ImageSizeEstimator();
  for (const e of entries) {
    const before = est.sectors;
    const preview = est.sectorsWith(e);
    t.is(est.sectors, before);
    est.add(e);
    t.is(est.sectors, preview);
  }
  t.is(est.files, entries.length);
  t.is(est.sectors, estimateImageSectors(entries));
  t.throws(() => est.add(entries[0]!), { message: /counted twice/ });
  t.true(estimateImageSectors([{ path: b('x'), size: 5n * SECTION_BYTES }]) > 5 * Number(SECTION_BYTES / 2048n));
  t.is(sectionCount(SECTION_BYTES), 1);
  t.is(sectionCount(SECTION_BYTES + 1n), 2);
  t.is(sectionCount(0n), 1);
});

// --- a file over 4 GiB (slow: opt in) -----------------------------------------

const slow = process.env.OPTARC_SLOW_TESTS ? test : test.skip;

slow('SLOW (OPTARC_SLOW_TESTS=1, ~1 min, 4.4 GB of disk): a file over 4 GiB gets two extents', async (t) => {
  t.timeout(600_000);
  const root = await tempDir(t);
  const size = 4_400_000_000n;
  const files = await stage(root, [
    { path: b('huge.bin'), sparse: size },
    { path: b('small.txt'), data: b('small') },
  ]);
  const fd = await fs.open(files[0]!.source, 'r+');
  await fd.write(b('HEAD'), 0, 4, 0);
  await fd.write(b('TAIL'), 0, 4, Number(size) - 4);
  await fd.close();
  const image = await master(t, root, files);
  const huge = image.files[0]!;
  t.is(huge.extents.length, 2);
  t.is(extentBytes(huge.extents), size);
  t.deepEqual(await readAt(image.path, huge.extents[0]!.offset, 4), b('HEAD'));
  const last = huge.extents[1]!;
  t.deepEqual(await readAt(image.path, last.offset + last.length - 4n, 4), b('TAIL'));
  t.true(image.sectors <= estimateImageSectors(files.map((f) => ({ path: f.path, size: f.size }))));
});
