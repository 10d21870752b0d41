/**
 * The burning pipeline against its baselines, all measured in the same run,
 * every figure the median of several interleaved runs (order rotated):
 *
 *   mastering: masterImage over a 1 GiB tree (3 files of 320 MiB + 1,024 of
 *              64 KiB) vs `cp -r` of the same tree to the same filesystem;
 *              also xorriso alone with the same arguments with and without
 *              -md5, and the job's whole master step (masterImage + the
 *              image's SHA-256 + fsync, as burn-steps.ts does it).
 *   copies:    writeCopies of a 48 MiB image to 3 throttled stand-in drives
 *              vs to 1 (and, for reference, unthrottled).
 *   job:       a real agent daemon, a tree of ~3 test-32m volumes staged with
 *              `optarc put`, `optarc burn --copies 3 --wait` timed, vs its
 *              slowest stage run standalone with the same modules: mastering
 *              every volume alone, or writing (+ verifying) every copy alone.
 *   memory:    the agent's resident set (VmRSS every 100 ms, and VmHWM) while
 *              it burns a 4 GiB tree to one unthrottled stand-in drive.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Drive } from '../../edge-agent/drives/drive.js';
import { releaseWriteOnce } from '../../edge-agent/drives/stand-in-medium.js';
import { verifyCopy } from '../../edge-agent/drives/verify-copy.js';
import { writeCopies } from '../../edge-agent/drives/write-copies.js';
import { sha256Of } from '../../edge-agent/jobs/burn-steps.js';
import { estimateCostModel } from '../../edge-agent/mastering/image-size.js';
import { type ImageFile, masterImage, masteringArgs } from '../../edge-agent/mastering/master-image.js';
import { pathListBytes } from '../../edge-agent/mastering/path-list.js';
import { mediaProfile } from '../../edge-agent/packing/media-profiles.js';
import { packVolumes } from '../../edge-agent/packing/packer.js';
import { runXorriso } from '../../edge-agent/xorriso/run-xorriso.js';
import { BIN, freePort, run, startDaemon, stopDaemon } from '../helpers/processes.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export interface BurnBenchOptions {
  /** Runs of each side of each comparison (default 3). */
  runs: number;
  /** speed= of the throttled stand-in drives (libburn's stdio throttle; 1 = DVD 1x, about 1.4 MB/s). */
  speed: number;
  /** Size of the memory benchmark's tree, bytes (default 4 GiB; scaled down when the disk is short). */
  rssBytes: number;
  log: (s: string) => void;
}

export interface BurnFigures {
  runs: number;
  mastering: {
    bytes: number;
    files: number;
    seconds: Record<MasterSide, number>;
    all: Record<MasterSide, number[]>;
  };
  copies: {
    imageBytes: number;
    speed: number;
    seconds: { one: number; three: number; oneFull: number; threeFull: number };
  };
  job: JobFigures[];
  memory: MemoryFigures;
}

type MasterSide = 'cp' | 'cpSync' | 'xorrisoNoMd5' | 'xorrisoMd5' | 'masterImage' | 'masterStep';

export interface JobFigures {
  /** undefined: unthrottled. */
  speed?: number;
  volumes: number;
  copies: number;
  bytes: number;
  seconds: { job: number; master: number; write: number; writeOnly: number };
}

export interface MemoryFigures {
  bytes: number;
  requestedBytes: number;
  /** Why the tree is smaller than asked, when it is. */
  scaledBecause?: string;
  files: number;
  putSeconds: number;
  jobSeconds: number;
  peakRssPut: number;
  peakRssJob: number;
  /** VmHWM of the agent, reset (clear_refs) after staging: the exact peak during the job. */
  hwmJob?: number;
  /** The agent plus its child processes (xorriso), summed per sample. */
  peakTreeRssJob: number;
  /** The agent's child processes (xorriso) alone, summed per sample. */
  peakChildrenRssJob: number;
  samples: number;
  /** Where the job's time went, from the agent's catalog (journal and copy timestamps), seconds. */
  phases?: JobPhases;
}

export interface JobPhases {
  ingest: number;
  master: number;
  write: number;
  verify: number;
  /** Everything else: packing, unloading, cleanup, the client's polling. */
  rest: number;
}

/** The phases of the agent's one job, read from its catalog (read-only) while the agent runs. */
function jobPhases(catalog: string, total: number): JobPhases | undefined {
  try {
    const db = new Database(catalog, { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT volume_id, step, event, at FROM journal ORDER BY id').all() as {
        volume_id: number | null;
        step: string;
        event: string;
        at: number;
      }[];
      const span = (step: string) => {
        const b = rows.find((r) => r.step === step && r.event === 'begin')?.at;
        const d = rows.findLast((r) => r.step === step && r.event === 'done')?.at;
        return b !== undefined && d !== undefined ? (d - b) / 1000 : 0;
      };
      const copy = db
        .prepare(`SELECT volume_id, copy_no, written_at, verified_at FROM copies WHERE state = 'verified' ORDER BY id`)
        .all() as { volume_id: number; copy_no: number; written_at: number; verified_at: number }[];
      let write = 0;
      let verify = 0;
      for (const c of copy) {
        const begun =
          rows.findLast((r) => r.volume_id === c.volume_id && r.step === `copy ${c.copy_no}` && r.event === 'begin')
            ?.at ?? c.written_at;
        write += (c.written_at - begun) / 1000;
        verify += (c.verified_at - c.written_at) / 1000;
      }
      const ingest = span('ingest');
      const master = span('master');
      return { ingest, master, write, verify, rest: total - ingest - master - write - verify };
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function seconds<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const r = await f();
  return [Number(process.hrtime.bigint() - t0) / 1e9, r];
}

function sh(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * MiB }, (err, _o, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(),
    );
  });
}

/** Write a file of `size` random-ish bytes (a fresh random block repeated); returns its SHA-256. */
async function writeData(file: string, size: number): Promise<Buffer> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const block = randomBytes(Math.min(size, 16 * MiB));
  const hash = createHash('sha256');
  const fh = await fs.open(file, 'w', 0o644);
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(block.length, size - done);
      const chunk = n === block.length ? block : block.subarray(0, n);
      await fh.write(chunk);
      hash.update(chunk);
      done += n;
    }
  } finally {
    await fh.close();
  }
  return hash.digest();
}

interface TreeFile {
  rel: string;
  abs: string;
  size: number;
  sha256: Buffer;
}

/** `big` files of `bigSize` under big/, `small` files of `smallSize` spread over 16 dirs under small/. */
async function makeTree(root: string, big: number, bigSize: number, small: number, smallSize: number) {
  const files: TreeFile[] = [];
  for (let i = 0; i < big; i++) {
    const rel = `big/b${i}.bin`;
    const abs = path.join(root, rel);
    files.push({ rel, abs, size: bigSize, sha256: await writeData(abs, bigSize) });
  }
  for (let i = 0; i < small; i++) {
    const rel = `small/d${String(i % 16).padStart(2, '0')}/f${String(i).padStart(5, '0')}.dat`;
    const abs = path.join(root, rel);
    files.push({ rel, abs, size: smallSize, sha256: await writeData(abs, smallSize) });
  }
  return files;
}

async function imageFiles(files: TreeFile[]): Promise<ImageFile[]> {
  return Promise.all(
    files.map(async (f) => {
      const st = await fs.stat(f.abs, { bigint: true });
      return {
        source: f.abs,
        path: Buffer.from(f.rel),
        size: BigInt(f.size),
        sha256: f.sha256,
        mtime: { seconds: st.mtimeNs / 1_000_000_000n, nanoseconds: Number(st.mtimeNs % 1_000_000_000n) },
        mode: 0o644,
      };
    }),
  );
}

const label = (vsn: string, media: string, copies: number) => ({
  vsn,
  site: 'bench',
  class: 'archive',
  created: new Date(),
  media,
  copies,
  session: 1,
  job: 'bench',
});

/** The master step as burn-steps.ts runs it: masterImage to a temporary name, SHA-256 of the image, fsync, rename. */
async function masterStep(vsn: string, files: ImageFile[], output: string, workDir: string, media: string) {
  const partial = `${output}.partial`;
  await fs.rm(workDir, { recursive: true, force: true });
  await fs.mkdir(workDir, { recursive: true });
  try {
    const image = await masterImage({
      vsn,
      files,
      output: partial,
      workDir,
      label: label(vsn, media, 1),
      charset: 'utf-8',
    });
    const sha256 = await sha256Of(partial);
    const fd = await fs.open(partial, 'r');
    await fd.sync();
    await fd.close();
    await fs.rename(partial, output);
    return { bytes: image.bytes, sha256 };
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

// --- mastering ----------------------------------------------------------------

async function masteringBench(work: string, o: BurnBenchOptions): Promise<BurnFigures['mastering']> {
  const src = path.join(work, 'master-src');
  o.log('burn/mastering: writing a 1 GiB tree (3 x 320 MiB + 1,024 x 64 KiB)');
  const tree = await makeTree(src, 3, 320 * MiB, 1024, 64 * KiB);
  const files = await imageFiles(tree);
  const bytes = tree.reduce((n, f) => n + f.size, 0);
  const out = path.join(work, 'master-out');
  await fs.mkdir(out, { recursive: true });
  const iso = path.join(out, 'bench.iso');
  const workDir = path.join(out, 'work');
  // The same path list masterImage hands xorriso (payload under /data; the bag's few KiB left out).
  const listFile = path.join(work, 'master-path-list');
  await fs.writeFile(
    listFile,
    pathListBytes(files.map((f) => ({ isoPath: Buffer.from(`/data/${f.path}`), diskPath: Buffer.from(f.source) }))),
  );
  const xorrisoArgs = (md5: boolean) => {
    const args = masteringArgs({ vsn: 'BENCH0001', output: iso, listFile, charset: 'utf-8' });
    const i = args.indexOf('-md5');
    if (!md5) args[i + 1] = 'off';
    return args;
  };
  const sides: [MasterSide, () => Promise<void>][] = [
    ['cp', () => sh('cp', ['-r', src, path.join(out, 'cp')])],
    ['cpSync', () => sh('sh', ['-c', 'cp -r "$0" "$1" && sync', src, path.join(out, 'cp')])],
    ['xorrisoNoMd5', () => runXorriso(xorrisoArgs(false)).then(() => {})],
    ['xorrisoMd5', () => runXorriso(xorrisoArgs(true)).then(() => {})],
    [
      'masterImage',
      async () => {
        await fs.mkdir(workDir, { recursive: true });
        await masterImage({
          vsn: 'BENCH0001',
          files,
          output: iso,
          workDir,
          label: label('BENCH0001', 'dvd-r', 1),
          charset: 'utf-8',
        });
      },
    ],
    ['masterStep', () => masterStep('BENCH0001', files, iso, workDir, 'dvd-r').then(() => {})],
  ];
  // untimed warm-up: the fresh tree's writeback done and every source page read once before the first timed side
  await sh('sync', []);
  await sides[0]![1]();
  await fs.rm(path.join(out, 'cp'), { recursive: true, force: true });
  const all = Object.fromEntries(sides.map(([s]) => [s, [] as number[]])) as Record<MasterSide, number[]>;
  for (let r = 0; r < o.runs; r++) {
    for (let i = 0; i < sides.length; i++) {
      const [side, f] = sides[(i + r) % sides.length]!;
      await sh('sync', []); // the previous side's dirty pages are not this side's cost
      const [s] = await seconds(f);
      all[side].push(s);
      await fs.rm(path.join(out, 'cp'), { recursive: true, force: true });
      await fs.rm(iso, { force: true });
      await fs.rm(workDir, { recursive: true, force: true });
    }
    o.log(`burn/mastering run ${r + 1}: ${sides.map(([s]) => `${s} ${all[s].at(-1)!.toFixed(2)} s`).join(', ')}`);
  }
  await fs.rm(src, { recursive: true, force: true });
  await fs.rm(out, { recursive: true, force: true });
  const secs = Object.fromEntries(Object.entries(all).map(([k, v]) => [k, median(v)])) as Record<MasterSide, number>;
  return { bytes, files: tree.length, seconds: secs, all };
}

// --- copies -------------------------------------------------------------------

async function standInDrives(root: string, n: number, speed?: number): Promise<Drive[]> {
  const shelf = path.join(root, 'shelf');
  const drives: Drive[] = [];
  for (let i = 0; i < n; i++) {
    const dir = path.join(root, `sr${i}`);
    await fs.mkdir(dir, { recursive: true });
    drives.push(
      new Drive({
        name: `sr${i}`,
        address: `stdio:${path.join(dir, 'medium')}`,
        ...(speed ? { speed } : {}),
        standIn: { shelf },
      }),
    );
  }
  return drives;
}

/** Load blanks, writeCopies to `drives` as the agent does (default fifo and chunk sizes); the seconds it took. */
async function timedBurn(image: string, bytes: bigint, drives: Drive[]): Promise<number> {
  for (const d of drives) await d.loadBlank();
  const [s, outcomes] = await seconds(() =>
    writeCopies(
      image,
      bytes,
      drives.map((drive, i) => ({ drive, copy: i + 1 })),
    ),
  );
  const bad = outcomes.filter((x) => !x.ok);
  if (bad.length > 0) throw new Error(`burn failed: ${JSON.stringify(bad.map((b) => b.error))}`);
  for (const d of drives) await d.discard();
  return s;
}

async function copiesBench(work: string, o: BurnBenchOptions): Promise<BurnFigures['copies']> {
  const dir = path.join(work, 'copies');
  const tree = path.join(dir, 'tree');
  await writeData(path.join(tree, 'data.bin'), 48 * MiB);
  const image = path.join(dir, 'vol.iso');
  await sh('xorriso', ['-md5', 'on', '-volid', 'BENCHCOPY', '-outdev', `stdio:${image}`, '-map', tree, '/', '-commit']);
  const bytes = BigInt((await fs.stat(image)).size);
  const slow = await standInDrives(path.join(dir, 'slow'), 3, o.speed);
  const fast = await standInDrives(path.join(dir, 'fast'), 3);
  const t: Record<'one' | 'three' | 'oneFull' | 'threeFull', number[]> = {
    one: [],
    three: [],
    oneFull: [],
    threeFull: [],
  };
  const sides: [keyof typeof t, Drive[]][] = [
    ['one', slow.slice(0, 1)],
    ['three', slow],
  ];
  for (let r = 0; r < o.runs; r++) {
    for (let i = 0; i < sides.length; i++) {
      const [side, drives] = sides[(i + r) % sides.length]!;
      t[side].push(await timedBurn(image, bytes, drives));
    }
    o.log(
      `burn/copies run ${r + 1} (speed=${o.speed}): 1 copy ${t.one.at(-1)!.toFixed(2)} s, 3 copies ${t.three.at(-1)!.toFixed(2)} s`,
    );
  }
  // unthrottled, for reference: where a stand-in's own cost (xorriso start, libburn, the disk) shows
  for (let r = 0; r < o.runs; r++) {
    t.oneFull.push(await timedBurn(image, bytes, fast.slice(0, 1)));
    t.threeFull.push(await timedBurn(image, bytes, fast));
  }
  o.log(
    `burn/copies unthrottled: 1 copy ${median(t.oneFull).toFixed(2)} s, 3 copies ${median(t.threeFull).toFixed(2)} s`,
  );
  await releaseWriteOnce(dir);
  await fs.rm(dir, { recursive: true, force: true });
  return {
    imageBytes: Number(bytes),
    speed: o.speed,
    seconds: { one: median(t.one), three: median(t.three), oneFull: median(t.oneFull), threeFull: median(t.threeFull) },
  };
}

// --- an agent daemon ------------------------------------------------------------

interface Agent {
  dir: string;
  pid: number;
  cli: (...args: string[]) => ReturnType<typeof run>;
  stop: () => Promise<void>;
}

async function startAgent(dir: string, drives: number, speed?: number): Promise<Agent> {
  await fs.mkdir(dir, { recursive: true });
  const pm = await freePort();
  const shelf = path.join(dir, 'shelf');
  const config = path.join(dir, 'agent.json');
  await fs.writeFile(
    config,
    JSON.stringify({
      log: { level: 'warn' },
      agent: {
        portmap: { port: pm },
        stateDir: path.join(dir, 'state'),
        staging: { root: path.join(dir, 'stage'), minFreeBytes: 0 },
        drives: Array.from({ length: drives }, (_, i) => ({
          name: `sr${i}`,
          address: `stdio:${path.join(dir, 'drives', `sr${i}`, 'medium')}`,
          ...(speed ? { speed } : {}),
          standIn: { shelf },
        })),
      },
    }),
  );
  const daemon = await startDaemon(BIN.agent, ['--config', config]);
  return {
    dir,
    pid: daemon.child.pid!,
    cli: (...args: string[]) => run(BIN.optarc, [...args, '--portmap-port', String(pm)], {}, 30 * 60_000),
    stop: async () => {
      await stopDaemon(daemon.child);
      await releaseWriteOnce(dir); // closed stand-in discs are immutable
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

async function cliOk(agent: Agent, ...args: string[]) {
  const r = await agent.cli(...args);
  if (r.code !== 0) throw new Error(`optarc ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r;
}

// --- whole job vs its slowest stage ----------------------------------------------

async function jobBench(work: string, o: BurnBenchOptions, speed: number | undefined): Promise<JobFigures> {
  const media = 'test-32m';
  const copies = 3;
  const src = path.join(work, 'job-src');
  // 6 x 11 MiB + 120 x 64 KiB (73.5 MiB): three test-32m volumes (the small files' directory kept whole)
  const tree = await makeTree(src, 6, 11 * MiB, 120, 64 * KiB);
  const files = await imageFiles(tree);
  const bytes = tree.reduce((n, f) => n + f.size, 0);
  const plan = packVolumes(
    files.map((f, id) => ({ id, path: f.path, size: f.size })),
    { capacitySectors: mediaProfile(media).sectors, cost: estimateCostModel(), mediumName: media },
  );
  const what = speed ? `speed=${speed}` : 'unthrottled';
  const t = { job: [] as number[], master: [] as number[], write: [] as number[], writeOnly: [] as number[] };
  let volumes = 0;

  const wholeJob = async () => {
    const agent = await startAgent(path.join(work, 'job-agent'), copies, speed);
    try {
      await cliOk(agent, 'put', src, '--json');
      const [s, r] = await seconds(() =>
        cliOk(agent, 'burn', '--copies', String(copies), '--media', media, '--label', 'BENCH', '--wait', '--json'),
      );
      const n = /(\d+) volumes? \(/.exec(r.stdout)?.[1];
      volumes = Number(n ?? 0);
      t.job.push(s);
    } finally {
      await agent.stop();
    }
  };

  const stages = async () => {
    const dir = path.join(work, 'job-stages');
    await fs.mkdir(dir, { recursive: true });
    const drives = await standInDrives(path.join(dir, 'drives'), copies, speed);
    try {
      // 1. every volume mastered, alone (the job's master step, in turn as masterConcurrency 1 does)
      const images: { path: string; bytes: bigint; sha256: Buffer }[] = [];
      let master = 0;
      for (const [i, v] of plan.entries()) {
        const vsn = `BENCH${String(i).padStart(4, '0')}`;
        const out = path.join(dir, `${vsn}.iso`);
        const [s, img] = await seconds(() =>
          masterStep(
            vsn,
            v.pieces.map((p) => files[p.id]!),
            out,
            path.join(dir, `${vsn}.work`),
            media,
          ),
        );
        master += s;
        images.push({ path: out, ...img });
      }
      // 2. every volume written to its copies and each copy verified, alone (the job's write step)
      let write = 0;
      let writeOnly = 0;
      for (const img of images) {
        const t0 = process.hrtime.bigint();
        for (const d of drives) await d.loadBlank();
        const outcomes = await writeCopies(
          img.path,
          img.bytes,
          drives.map((drive, i) => ({ drive, copy: i + 1 })),
        );
        writeOnly += Number(process.hrtime.bigint() - t0) / 1e9;
        if (!outcomes.every((x) => x.ok)) throw new Error(`burn failed: ${JSON.stringify(outcomes)}`);
        const checks = await Promise.all(drives.map((d) => verifyCopy(d.address, img.bytes, img.sha256)));
        if (!checks.every((c) => c.ok))
          throw new Error(`verify failed: ${JSON.stringify(checks.map((c) => c.problems))}`);
        for (const d of drives) await d.unload(path.basename(img.path, '.iso'), drives.indexOf(d) + 1);
        write += Number(process.hrtime.bigint() - t0) / 1e9;
      }
      t.master.push(master);
      t.write.push(write);
      t.writeOnly.push(writeOnly);
    } finally {
      await releaseWriteOnce(dir);
      await fs.rm(dir, { recursive: true, force: true });
    }
  };

  const sides = [wholeJob, stages];
  for (let r = 0; r < o.runs; r++) {
    for (let i = 0; i < sides.length; i++) {
      await sh('sync', []);
      await sides[(i + r) % sides.length]!();
    }
    o.log(
      `burn/job run ${r + 1} (${what}, ${volumes} volumes x ${copies} copies): job ${t.job.at(-1)!.toFixed(2)} s; alone: mastering ${t.master.at(-1)!.toFixed(2)} s, writing+verifying ${t.write.at(-1)!.toFixed(2)} s (writing ${t.writeOnly.at(-1)!.toFixed(2)} s)`,
    );
  }
  await fs.rm(src, { recursive: true, force: true });
  if (volumes !== plan.length) o.log(`burn/job: the agent made ${volumes} volumes, the standalone plan ${plan.length}`);
  return {
    ...(speed ? { speed } : {}),
    volumes,
    copies,
    bytes,
    seconds: { job: median(t.job), master: median(t.master), write: median(t.write), writeOnly: median(t.writeOnly) },
  };
}

// --- agent memory during a big job ------------------------------------------------

async function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/** The process and all its descendants (through /proc/<pid>/task/<tid>/children). */
async function processTree(pid: number): Promise<number[]> {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const tasks = await fs.readdir(`/proc/${out[i]}/task`).catch(() => [] as string[]);
    for (const tid of tasks) {
      const kids = await fs.readFile(`/proc/${out[i]}/task/${tid}/children`, 'utf8').catch(() => '');
      for (const k of kids.trim().split(/\s+/)) if (k) out.push(Number(k));
    }
  }
  return out;
}

async function memoryBench(work: string, o: BurnBenchOptions): Promise<MemoryFigures> {
  // the tree, its staged copy (the job hard-links it), the image and the disc, plus a margin
  const stat = await fs.statfs(work);
  const avail = Number(stat.bavail) * Number(stat.bsize);
  let size = o.rssBytes;
  let scaledBecause: string | undefined;
  while (size > GiB && 4 * size + 4 * GiB > avail) size /= 2;
  if (size !== o.rssBytes) {
    scaledBecause = `${(avail / GiB).toFixed(1)} GiB free on ${work}: the run needs about 4x the tree`;
  }
  const big = size / 4; // 3 big files make 3/4 of the tree, 1,024 small ones the rest
  const smallSize = Math.floor(size / 4 / 1024);
  o.log(
    `burn/memory: writing a ${(size / GiB).toFixed(1)} GiB tree (3 x ${big / MiB} MiB + 1,024 x ${smallSize / KiB} KiB)`,
  );
  const src = path.join(work, 'rss-src');
  const tree = await makeTree(src, 3, big, 1024, smallSize);
  const bytes = tree.reduce((n, f) => n + f.size, 0);
  const agent = await startAgent(path.join(work, 'rss-agent'), 1);
  const state: { phase: 'put' | 'job' | 'idle' } = { phase: 'put' };
  const peak = { put: 0, job: 0, treeJob: 0, children: 0 };
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const rss = await statusKiB(agent.pid, 'VmRSS');
      if (state.phase === 'put') peak.put = Math.max(peak.put, rss);
      if (state.phase === 'job') {
        peak.job = Math.max(peak.job, rss);
        let children = 0;
        for (const p of await processTree(agent.pid)) if (p !== agent.pid) children += await statusKiB(p, 'VmRSS');
        peak.treeJob = Math.max(peak.treeJob, rss + children);
        peak.children = Math.max(peak.children, children);
        samples++;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const [putSeconds] = await seconds(() => cliOk(agent, 'put', src, '--json'));
    // reset the agent's high-water mark so VmHWM covers the job alone (Linux clear_refs, value 5)
    const reset = await fs
      .writeFile(`/proc/${agent.pid}/clear_refs`, '5')
      .then(() => true)
      .catch(() => false);
    state.phase = 'job';
    const [jobSeconds] = await seconds(() =>
      cliOk(agent, 'burn', '--copies', '1', '--media', 'bd-r', '--label', 'BENCH RSS', '--wait', '--json'),
    );
    const hwm = reset ? await statusKiB(agent.pid, 'VmHWM') : undefined;
    state.phase = 'idle';
    const phases = jobPhases(path.join(agent.dir, 'state', 'catalog.sqlite'), jobSeconds);
    if (phases) o.log(`burn/memory: job phases ${JSON.stringify(phases)}`);
    o.log(
      `burn/memory: put ${putSeconds.toFixed(1)} s, job ${jobSeconds.toFixed(1)} s; agent peak RSS ${(peak.put / 1e6).toFixed(0)} MB staging, ${(peak.job / 1e6).toFixed(0)} MB in the job (VmHWM ${hwm ? (hwm / 1e6).toFixed(0) : '?'} MB), with xorriso ${(peak.treeJob / 1e6).toFixed(0)} MB, xorriso alone ${(peak.children / 1e6).toFixed(0)} MB`,
    );
    return {
      bytes,
      requestedBytes: o.rssBytes,
      ...(scaledBecause ? { scaledBecause } : {}),
      files: tree.length,
      putSeconds,
      jobSeconds,
      peakRssPut: peak.put,
      peakRssJob: peak.job,
      ...(hwm ? { hwmJob: hwm } : {}),
      peakTreeRssJob: peak.treeJob,
      peakChildrenRssJob: peak.children,
      samples,
      ...(phases ? { phases } : {}),
    };
  } finally {
    sampling = false;
    await sampler;
    await agent.stop();
    await fs.rm(src, { recursive: true, force: true });
  }
}

/** Runs every burning benchmark in a temp dir it removes afterwards. */
export async function burnBenchmark(o: BurnBenchOptions): Promise<BurnFigures> {
  const work = await fs.mkdtemp(path.join(tmpdir(), 'optarc-bench-burn-'));
  try {
    const mastering = await masteringBench(work, o);
    const copies = await copiesBench(work, o);
    const job = [await jobBench(work, o, o.speed), await jobBench(work, o, undefined)];
    const memory = await memoryBench(work, o);
    return { runs: o.runs, mastering, copies, job, memory };
  } finally {
    await releaseWriteOnce(work);
    await fs.rm(work, { recursive: true, force: true });
  }
}

// --- BENCHMARKS.md ------------------------------------------------------------------

/** masterImage's own cost over xorriso alone, or that it is lost in the runs' spread. */
function aroundXorriso(f: BurnFigures): string {
  const { seconds: m, all } = f.mastering;
  const extra = m.masterImage - m.xorrisoMd5;
  const spread = Math.max(...[all.masterImage, all.xorrisoMd5].map((v) => Math.max(...v) - Math.min(...v)));
  return extra > spread
    ? `adds ${extra.toFixed(2)} s`
    : `is lost in the runs' spread (medians ${extra.toFixed(2)} s apart, runs spread over ${spread.toFixed(2)} s)`;
}

/** The burning section of BENCHMARKS.md. */
export function burnMarkdown(f: BurnFigures, command: string): string[] {
  const s = (x: number) => `${x.toFixed(2)} s`;
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const met = (ok: boolean) => (ok ? 'yes' : '**no**');
  const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
  const m = f.mastering.seconds;
  const c = f.copies.seconds;
  const [jt, ju] = f.job;
  const slowest = (j: JobFigures) => Math.max(j.seconds.master, j.seconds.write);
  const slowName = (j: JobFigures) => (j.seconds.master >= j.seconds.write ? 'mastering' : 'writing + verifying');
  const mem = f.memory;
  const memPeak = Math.max(mem.peakRssJob, mem.hwmJob ?? 0);
  const gib = (n: number) => `${(n / GiB).toFixed(n % GiB ? 1 : 0)} GiB`;
  return [
    '## Burning: mastering, copies, whole jobs, agent memory',
    '',
    `Written by \`${command}\` on ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.versions.node},`,
    `${os.totalmem() > 0 ? `${(os.totalmem() / GiB).toFixed(0)} GiB RAM, ` : ''}everything in one temp dir on the root filesystem (\`test/bench/burn-bench.ts\`).`,
    `Every time is the median of ${f.runs} runs; the two sides of each comparison alternate, their order rotated between runs.`,
    '',
    '| benchmark | measured | baseline | ratio | goal | met? |',
    '|---|---|---|---|---|---|',
    `| mastering 1 GiB: \`masterImage\` vs \`cp -r\` (neither syncs) | ${s(m.masterImage)} | ${s(m.cp)} | ${x(m.masterImage, m.cp)} | ≤ 1.5× | ${met(m.masterImage <= 1.5 * m.cp)} |`,
    `| 3 copies vs 1 copy, ${f.copies.imageBytes >> 20} MiB image, stand-ins at speed=${f.copies.speed} | ${s(c.three)} | ${s(c.one)} | ${x(c.three, c.one)} | ≤ 1.1× | ${met(c.three <= 1.1 * c.one)} |`,
    `| whole job (${jt!.volumes} × test-32m, ${jt!.copies} copies, speed=${jt!.speed}) vs its slowest stage (${slowName(jt!)}) | ${s(jt!.seconds.job)} | ${s(slowest(jt!))} | ${x(jt!.seconds.job, slowest(jt!))} | ≤ 1.3× | ${met(jt!.seconds.job <= 1.3 * slowest(jt!))} |`,
    `| agent peak RSS during a ${gib(mem.bytes)} job${mem.scaledBecause ? ' (scaled down, see below)' : ''} | ${mb(memPeak)} | — | — | < 200 MB | ${met(memPeak < 200e6)} |`,
    '',
    '### Mastering 1 GiB (3 files of 320 MiB + 1,024 of 64 KiB)',
    '',
    'Source tree and output on the same filesystem; the source is in the page cache for every side (the machine has',
    "the RAM for it). `sync` (untimed) runs before each side so one side's dirty pages are not the next one's cost.",
    '*xorriso alone* is `runXorriso` with the arguments `masterImage` passes (`masteringArgs`, the same path list),',
    'once as is and once with `-md5 off`; *master step* is what a job runs (`burn-steps.ts`): `masterImage`, then',
    'the SHA-256 of the whole image, an fsync and a rename.',
    '',
    '| side | median | vs `cp -r` | vs `cp -r && sync` | runs |',
    '|---|---|---|---|---|',
    ...(
      [
        ['`cp -r`', 'cp'],
        ['`cp -r && sync`', 'cpSync'],
        ['xorriso alone, `-md5 off`', 'xorrisoNoMd5'],
        ['xorriso alone, `-md5 on`', 'xorrisoMd5'],
        ['`masterImage` (xorriso + bag + extents report)', 'masterImage'],
        ['job master step (`masterImage` + image SHA-256 + fsync)', 'masterStep'],
      ] as [string, MasterSide][]
    ).map(
      ([name, k]) =>
        `| ${name} | ${s(m[k])} | ${x(m[k], m.cp)} | ${x(m[k], m.cpSync)} | ${f.mastering.all[k].map((v) => v.toFixed(1)).join(', ')} |`,
    ),
    '',
    `Where the time goes: xorriso's \`-md5 on\` costs ${s(m.xorrisoMd5 - m.xorrisoNoMd5)} (${x(m.xorrisoMd5, m.xorrisoNoMd5)} xorriso without it: libisofs computes`,
    'an MD5 per file and one over the whole session, in its own code); what `masterImage` does around xorriso (the bag,',
    `two stat passes, the extents report) ${aroundXorriso(f)}; the job's second pass over the`,
    `image (its SHA-256, then an fsync) adds ${s(m.masterStep - m.masterImage)}.`,
    '',
    `### ${f.copies.imageBytes >> 20} MiB image to 1 and to 3 stand-in drives (\`writeCopies\`)`,
    '',
    `Throttled: libburn's stdio throttle at speed=${f.copies.speed} (speed=1 is DVD 1x, about 1.4 MB/s; it takes a 48 MiB`,
    'image about 37 s, too long to repeat here). Default fifo and chunk sizes, as the agent burns. Loading blanks and',
    'discarding the discs is not timed.',
    '',
    '| drives | 1 copy | 3 copies | 3 / 1 |',
    '|---|---|---|---|',
    `| speed=${f.copies.speed} | ${s(c.one)} | ${s(c.three)} | ${x(c.three, c.one)} |`,
    `| unthrottled | ${s(c.oneFull)} | ${s(c.threeFull)} | ${x(c.threeFull, c.oneFull)} |`,
    '',
    '### A whole job vs its slowest stage',
    '',
    `A fresh agent daemon with three stand-in drives; 6 files of 11 MiB and 120 of 64 KiB (${(jt!.bytes / MiB).toFixed(1)} MiB) staged with`,
    '`optarc put` (not timed); the time of `optarc burn --copies 3 --media test-32m --wait` (BURN to done, as the',
    'client sees it: CLI start, 250 ms polling). The stages alone use the same modules in the bench process, on the',
    "packer's plan: every volume's master step in turn (masterConcurrency 1), then every volume written to three",
    'drives, each copy verified and unloaded (the write step).',
    '',
    '| drives | volumes | whole job | mastering alone | writing + verifying alone (writing only) | job / slowest stage | goal |',
    '|---|---|---|---|---|---|---|',
    ...[jt!, ju!].map(
      (j) =>
        `| ${j.speed ? `speed=${j.speed}` : 'unthrottled'} | ${j.volumes} | ${s(j.seconds.job)} | ${s(j.seconds.master)} | ${s(j.seconds.write)} (${s(j.seconds.writeOnly)}) | ${x(j.seconds.job, slowest(j))} | ≤ 1.3× |`,
    ),
    '',
    `### Agent memory during a ${gib(mem.bytes)} job`,
    '',
    ...(mem.scaledBecause
      ? [`**Scaled down** from the ${gib(mem.requestedBytes)} asked for: ${mem.scaledBecause}.`, '']
      : []),
    `${mem.files.toLocaleString('en-US')} files (3 of ${mem.bytes / 4 / MiB} MiB, ${mem.files - 3} of ${mem.bytes / 4 / (mem.files - 3) / KiB} KiB), staged with \`optarc put\` (${mem.putSeconds.toFixed(0)} s), then`,
    `\`optarc burn --copies 1 --media bd-r --wait\` (${mem.jobSeconds.toFixed(0)} s) to one unthrottled stand-in drive. The agent's`,
    `VmRSS sampled every 100 ms (${mem.samples} samples in the job), and its VmHWM reset after staging and read at the end.`,
    '',
    '| agent peak RSS, job (sampled) | agent VmHWM, job | xorriso children, job | agent + children, job | agent peak RSS, staging | goal |',
    '|---|---|---|---|---|---|',
    `| ${mb(mem.peakRssJob)} | ${mem.hwmJob ? mb(mem.hwmJob) : '—'} | ${mb(mem.peakChildrenRssJob)} | ${mb(mem.peakTreeRssJob)} | ${mb(mem.peakRssPut)} | < 200 MB (agent) |`,
    '',
    ...(mem.phases
      ? [
          `Where the job's ${mem.jobSeconds.toFixed(0)} s went (the agent's catalog journal and copy timestamps): ingest ${mem.phases.ingest.toFixed(1)} s,`,
          `master step ${mem.phases.master.toFixed(1)} s, writing the copy ${mem.phases.write.toFixed(1)} s, verifying it ${mem.phases.verify.toFixed(1)} s, the rest`,
          `(packing, unloading, cleanup, the client's polling) ${mem.phases.rest.toFixed(1)} s.`,
          '',
        ]
      : []),
  ];
}
