/**
 * Mirroring a disc image to S3 (the shared test RGW, a real Ceph RGW) against
 * the baselines, all measured in the same run, each figure the median of
 * several runs with the order of the sides rotated between runs. The image is
 * 1 GiB (by default) of random data, written once to var/ (a real filesystem,
 * not tmpfs) and read from the page cache by every side; every upload goes to
 * a new key, deleted (untimed) once measured, and RGW's garbage collected at once
 * (`radosgw-admin gc process --include-all`): RGW otherwise keeps a deleted
 * object's data for 2 h, and a few runs would fill the shared test OSD.
 *
 *   aws-cli:     `aws s3 cp` (Debian's awscli), `default.s3.multipart_chunksize 16MB`
 *                and `max_concurrent_requests 4`, set with `aws configure set` in
 *                an isolated AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE, path
 *                style, us-east-1. It sends Content-MD5 on every part (and, over
 *                http, a signed SHA-256 of the payload). Not installed: recorded as
 *                such, the other sides still run.
 *   lib-storage: `@aws-sdk/lib-storage` `Upload` with its defaults (5 MiB parts,
 *                4 at once) over a read stream of the image, the client as
 *                infra/rgw/s3-config.ts sets it (checksums WHEN_REQUIRED: none).
 *   optarc:      the real code of both ends: the gateway's ObjectStore (from the
 *                config schema's defaults) creates the upload and presigns every
 *                part (16 MiB); the agent's uploadParts, in its own process (an
 *                uploader already started, as the agent daemon is), sends them
 *                `agent.mirror.concurrency` (4) at once with Content-MD5 through a
 *                RateLimiter with no limit; then the gateway's checks and
 *                completion (ListParts against the agent's ETags and MD5s,
 *                CompleteMultipartUpload, HeadObject), as completeMirror does.
 *                Timed on its own after that: the gateway's SHA-256 read-back
 *                (ObjectStore.sha256: ranged GETs, verifyConcurrency at once).
 *   whole path:  a real `optarc-gateway serve` and agent daemon (one stand-in
 *                drive): each run stages and burns the image (untimed), and the
 *                agent's MirrorService mirrors the volume; timed from the
 *                gateway's mirror.begin to every part stored and to the ack,
 *                from the gateway's store and the agent's catalog (polled), with
 *                the agent's RSS sampled meanwhile. If it cannot run (no xorriso,
 *                say), that is recorded and the other sides still run.
 *
 * The uploader process's memory: VmRSS sampled every 50 ms and its VmHWM at the
 * end. CPU: each client's own (children's times from /proc/self/stat for the
 * processes, process.cpuUsage for lib-storage in this one) and the RGW's (radosgw
 * + ceph-osd + ceph-mon, from /proc/<pid>/stat), to show where the time goes.
 *
 * This file is also the uploader process: `node mirror-bench.js --uploader`
 * reads a job (JSON) on stdin, runs uploadParts, answers with JSON on stdout.
 * Only the uploader's modules are imported statically; the rest is imported when
 * the benchmark runs, so the uploader process holds what the agent's mirror holds.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, createReadStream, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { type PartToSend, type SentPart, uploadParts } from '../../edge-agent/mirror/part-uploader.js';
import { RateLimiter } from '../../edge-agent/mirror/rate-limiter.js';
import type { ObjectStore } from '../../gateway/s3/object-store.js';
import type { RgwInfo } from '../../infra/rgw/rgw.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const UPLOADER_FLAG = '--uploader';
const SELF = fileURLToPath(import.meta.url);

export interface MirrorBenchOptions {
  /** Runs of each side (default 3). */
  runs: number;
  /** Size of the image (default 1 GiB). */
  imageBytes: number;
  log: (s: string) => void;
}

type Side = 'awsCli' | 'libStorage' | 'optarc' | 'full';

export interface SideRun {
  /** Wall time of the upload (optarc: create, presign, parts, checks, complete). */
  seconds: number;
  /** The client's CPU, user + system. */
  clientCpu: number;
  /** radosgw + ceph-osd + ceph-mon CPU during the upload. */
  serverCpu: number;
}

export interface OptarcRun extends SideRun {
  /** CreateMultipartUpload and every part's presigned URL. */
  createPresign: number;
  /** uploadParts, as the uploader process timed it. */
  parts: number;
  /** From the job sent to the uploader to its answer (parts + the pipe). */
  partsWall: number;
  /** ListParts and the ETag/MD5 checks, CompleteMultipartUpload, HeadObject. */
  complete: number;
  /** The SHA-256 read-back alone. */
  verify: number;
  verifyCpu: number;
  verifyServerCpu: number;
  /** The uploader's VmHWM at the end, and the most VmRSS seen sampling. */
  hwmBytes: number;
  sampledPeakBytes: number;
  /** VmRSS of the uploader once started, before the job. */
  readyRssBytes: number;
  /** The uploader's event-loop utilization during uploadParts, and its longest event-loop delay (ms). */
  elu: number;
  maxBlockMs: number;
}

/** One volume mirrored by a real agent through a real `optarc-gateway serve`. */
export interface FullRun {
  imageBytes: number;
  /** mirror.begin (the gateway's upload row) to every part recorded by the agent. */
  parts: number;
  /** mirror.begin to the agent's ack: parts, manifest, the gateway's checks, completion and read-back. */
  seconds: number;
  agentCpu: number;
  gatewayCpu: number;
  serverCpu: number;
  /** The agent's VmRSS while its mirror ran (sampled every 50 ms), its VmHWM since the mirror began, and before it. */
  agentPeakRssBytes: number;
  agentHwmBytes: number;
  agentRssBeforeBytes: number;
  /** The agent's VmRSS once the volume is acknowledged (the part buffers stay pooled). */
  agentRssAfterBytes: number;
}

export interface MirrorFigures {
  runs: number;
  imageBytes: number;
  partBytes: number;
  concurrency: number;
  verifyConcurrency: number;
  verifyRangeBytes: number;
  /** `aws --version`, or why there is no aws-cli side. */
  awsCli: { bin: string; version: string } | { missing: string };
  libStorageVersion: string;
  rgwVersion: string;
  workDir: string;
  all: { awsCli: SideRun[]; libStorage: SideRun[]; optarc: OptarcRun[]; full: FullRun[] };
  /** Why the full agent + gateway path was not measured, when it was not. */
  fullFailed?: string;
  /** 1-minute load average when the runs started and ended (other work on the VM). */
  load: [number, number];
  /** MD5 and SHA-256 of one part in this process, MB/s (what the uploader's main thread pays per part). */
  hashMBps: { md5: number; sha256: number };
}

// --- the uploader process ----------------------------------------------------------

interface UploaderJob {
  file: string;
  parts: PartToSend[];
  concurrency: number;
  maxAttemptsPerPart: number;
}

interface UploaderAnswer {
  parts: SentPart[];
  /** uploadParts, start to end. */
  seconds: number;
  /** The process's CPU (user + system) over its whole life, seconds. */
  cpuSeconds: number;
  hwmBytes: number;
  /** Event-loop utilization during uploadParts (1: the thread never waited), and its longest event-loop delay, ms. */
  elu: number;
  maxBlockMs: number;
}

function statusBytes(pid: number | 'self', field: 'VmRSS' | 'VmHWM'): number {
  let status = '';
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 0;
  }
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return m ? Number(m[1]) * KiB : 0;
}

async function uploaderMain(): Promise<void> {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const job = JSON.parse(Buffer.concat(chunks).toString('utf8')) as UploaderJob;
  const limiter = new RateLimiter(null); // as the agent's, with no agent.mirror.maxBytesPerSecond
  const delays = monitorEventLoopDelay({ resolution: 5 });
  delays.enable();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const parts = await uploadParts({
    file: job.file,
    parts: job.parts,
    concurrency: job.concurrency,
    limiter,
    maxAttemptsPerPart: job.maxAttemptsPerPart,
  });
  const seconds = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  delays.disable();
  const cpu = process.cpuUsage();
  const answer: UploaderAnswer = {
    parts,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    hwmBytes: statusBytes('self', 'VmHWM'),
    elu,
    maxBlockMs: delays.max / 1e6,
  };
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}

interface Uploader {
  child: ChildProcess;
  pid: number;
  /** Sends the job; resolves with the answer. */
  run(job: UploaderJob): Promise<UploaderAnswer>;
}

/** Starts the uploader process and resolves once it has loaded its modules. */
function startUploader(): Promise<Uploader> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, UPLOADER_FLAG], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let answered: ((a: UploaderAnswer) => void) | undefined;
    let failed: ((e: Error) => void) | undefined;
    child.stderr!.on('data', (d) => {
      err += d;
    });
    child.stdout!.on('data', (d) => {
      out += d;
      for (;;) {
        const nl = out.indexOf('\n');
        if (nl < 0) break;
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const msg = JSON.parse(line);
        if (msg.ready) {
          resolve({
            child,
            pid: child.pid!,
            run: (job) =>
              new Promise<UploaderAnswer>((res, rej) => {
                answered = res;
                failed = rej;
                child.stdin!.end(JSON.stringify(job));
              }),
          });
        } else {
          answered?.(msg as UploaderAnswer);
        }
      }
    });
    child.once('exit', (code) => {
      const e = new Error(`the uploader exited with ${code}; stderr:\n${err}`);
      reject(e);
      failed?.(e);
    });
  });
}

// --- measuring ----------------------------------------------------------------------

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const hr = () => process.hrtime.bigint();
const since = (t0: bigint) => Number(hr() - t0) / 1e9;

let clockTicks = 100;

/** utime + stime (or cutime + cstime: children waited for) of a process, seconds. */
function cpuOf(pid: number | 'self', children = false): number {
  let stat = '';
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // fields after the command name "(...)": state is field 3, utime 14, stime 15, cutime 16, cstime 17
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const at = (n: number) => Number(f[n - 3]);
  return (children ? at(16) + at(17) : at(14) + at(15)) / clockTicks;
}

function execOut(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: env ?? process.env, maxBuffer: 16 * MiB }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(`${stdout}${stderr}`),
    );
  });
}

/** Debian's awscli (/usr/bin/aws) first, else an `aws` on PATH; undefined when there is none. */
function findAws(): string | undefined {
  const dirs = ['/usr/bin', ...(process.env.PATH ?? '').split(':').filter(Boolean)];
  for (const d of dirs) {
    const p = path.join(d, 'aws');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

/** 1 GiB (by default) of random data; returns its SHA-256 (hex). */
async function writeImage(file: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const fh = await fs.open(file, 'w', 0o644);
  try {
    for (let done = 0; done < size; ) {
      const chunk = randomBytes(Math.min(16 * MiB, size - done));
      await fh.write(chunk);
      hash.update(chunk);
      done += chunk.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

function hashRate(algorithm: 'md5' | 'sha256', bytes: Buffer): number {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = hr();
    createHash(algorithm).update(bytes).digest();
    times.push(since(t0));
  }
  return bytes.length / 1e6 / median(times);
}

/** Runs every mirroring benchmark; the image lives in var/ under the repository, removed afterwards. */
export async function mirrorBenchmark(o: MirrorBenchOptions): Promise<MirrorFigures> {
  // everything but the uploader's modules is imported here, so the uploader process stays lean
  const [{ CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, HeadObjectCommand, S3Client }, lib] =
    await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]);
  const { configSchema } = await import('../../config/schema.js');
  const { ObjectStore } = await import('../../gateway/s3/object-store.js');
  const { partCount, partLength, partSizeFor } = await import('../../gateway/mirror/plan-parts.js');
  const { s3ClientConfig } = await import('../../infra/rgw/rgw.js');
  const { cephPaths } = await import('../../infra/rgw/ceph-conf.js');
  const { ROOT } = await import('../helpers/processes.js');
  const { rgwMissing, sharedRgw } = await import('../helpers/test-rgw.js');

  const missing = rgwMissing();
  if (missing) throw new Error(`mirror bench: ${missing}`);
  clockTicks = Number((await execOut('getconf', ['CLK_TCK'])).trim()) || 100;
  const rgw: RgwInfo = await sharedRgw();
  const bucket = `optarc-bench-mirror-${randomBytes(4).toString('hex')}`;
  const config = configSchema.parse({
    gateway: {
      s3: { endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, bucket },
    },
  });
  const m = config.gateway.mirror;
  const concurrency = config.agent.mirror.concurrency;
  const partBytes = partSizeFor(o.imageBytes, m.partSizeBytes);
  const serverPids = [rgw.pids.rgw, rgw.pids.osd, rgw.pids.mon].filter((p) => p > 0);
  // RGW frees a deleted object's data only after rgw_gc_obj_min_wait (2 h): a few runs of 1 GiB uploads would fill
  // the shared test OSD (40 GiB) and stall every client of it. Collect the garbage now, untimed, after each deletion.
  const reclaim = () =>
    execOut('radosgw-admin', ['-c', cephPaths(rgw.dir).conf, 'gc', 'process', '--include-all']).catch((e: Error) =>
      o.log(`mirror: radosgw-admin gc process failed: ${e.message.split('\n')[0]}`),
    );
  const serverCpu = () => serverPids.reduce((n, p) => n + cpuOf(p), 0);

  // the gateway's timeouts (gateway/s3/client-config.ts): a request RGW never answers fails and is retried, not a hang
  const s3: S3Client = new S3Client({
    ...s3ClientConfig(rgw),
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
  });
  const store: ObjectStore = ObjectStore.fromConfig(config.gateway);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));

  await fs.mkdir(path.join(ROOT, 'var'), { recursive: true });
  const work = await fs.mkdtemp(path.join(ROOT, 'var', 'bench-mirror-'));
  const image = path.join(work, 'image.bin');
  const awsHome = path.join(work, 'aws');
  const awsBin = findAws();
  let awsCli: MirrorFigures['awsCli'] = { missing: 'not installed (apt-get install awscli)' };
  const awsEnv = {
    ...process.env,
    AWS_CONFIG_FILE: path.join(awsHome, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(awsHome, 'credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
  let uploader: Uploader | undefined;
  const all: MirrorFigures['all'] = { awsCli: [], libStorage: [], optarc: [], full: [] };
  let full: FullPath | undefined;
  let fullFailed: string | undefined;
  const loadStart = os.loadavg()[0]!;
  try {
    o.log(`mirror: writing a ${(o.imageBytes / GiB).toFixed(2)} GiB image of random data in ${work}`);
    const sha256 = await writeImage(image, o.imageBytes);

    if (awsBin) {
      await fs.mkdir(awsHome, { recursive: true });
      const set = (k: string, v: string) => execOut(awsBin, ['configure', 'set', k, v], awsEnv);
      await set('default.region', 'us-east-1');
      await set('default.s3.multipart_chunksize', '16MB');
      await set('default.s3.max_concurrent_requests', '4');
      await set('default.s3.addressing_style', 'path');
      await set('aws_access_key_id', rgw.accessKeyId);
      await set('aws_secret_access_key', rgw.secretAccessKey);
      awsCli = { bin: awsBin, version: (await execOut(awsBin, ['--version'], awsEnv)).trim().split('\n')[0]! };
    }
    o.log(`mirror: aws-cli ${'version' in awsCli ? `${awsCli.version} (${awsCli.bin})` : awsCli.missing}`);

    const removeObject = async (Key: string) => {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
      await reclaim();
    };
    const checkSize = async (Key: string) => {
      const h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key }));
      if (h.ContentLength !== o.imageBytes) throw new Error(`${Key}: ${h.ContentLength} bytes, not ${o.imageBytes}`);
    };
    const measure = async <T>(f: () => Promise<T>, clientCpu: () => number) => {
      const [c0, s0, t0] = [clientCpu(), serverCpu(), hr()];
      const r = await f();
      const seconds = since(t0);
      return { r, seconds, clientCpu: clientCpu() - c0, serverCpu: serverCpu() - s0 };
    };
    const selfCpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    };

    const sides: Record<Exclude<Side, 'full'>, (key: string) => Promise<void>> = {
      awsCli: async (key) => {
        const r = await measure(
          () =>
            execOut(
              awsBin!,
              [
                '--endpoint-url',
                rgw.endpoint,
                's3',
                'cp',
                image,
                `s3://${bucket}/${key}`,
                '--only-show-errors',
                '--no-progress',
              ],
              awsEnv,
            ),
          () => cpuOf('self', true),
        );
        await checkSize(key);
        all.awsCli.push({ seconds: r.seconds, clientCpu: r.clientCpu, serverCpu: r.serverCpu });
      },
      libStorage: async (key) => {
        const r = await measure(
          () =>
            new lib.Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: createReadStream(image) } }).done(),
          selfCpu,
        );
        await checkSize(key);
        all.libStorage.push({ seconds: r.seconds, clientCpu: r.clientCpu, serverCpu: r.serverCpu });
      },
      optarc: async (key) => {
        const u = uploader!;
        uploader = undefined; // one job per uploader process
        const readyRssBytes = statusBytes(u.pid, 'VmRSS');
        let sampledPeakBytes = readyRssBytes;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            sampledPeakBytes = Math.max(sampledPeakBytes, statusBytes(u.pid, 'VmRSS'));
            await new Promise((r) => setTimeout(r, 50));
          }
        })();
        const exited = new Promise<void>((r) => (u.child.exitCode !== null ? r() : u.child.once('exit', () => r())));
        let createPresign = 0;
        let partsWall = 0;
        let complete = 0;
        let answer: UploaderAnswer | undefined;
        const r = await measure(
          async () => {
            // the gateway: mirror.begin → createUpload and a plan of presigned URLs
            let t = hr();
            const uploadId = await store.createUpload(key, {
              metadata: { 'optarc-vsn': 'BENCH', 'optarc-sha256': sha256, 'optarc-site': 'bench' },
            });
            const count = partCount(o.imageBytes, partBytes);
            const parts: PartToSend[] = [];
            for (let n = 1; n <= count; n++) {
              parts.push({
                partNumber: n,
                url: await store.presignPart(key, uploadId, n),
                offset: (n - 1) * partBytes,
                length: partLength(o.imageBytes, partBytes, n),
              });
            }
            createPresign = since(t);
            // the agent: every part
            t = hr();
            answer = await u.run({
              file: image,
              parts,
              concurrency,
              maxAttemptsPerPart: config.agent.mirror.maxAttemptsPerPart,
            });
            partsWall = since(t);
            // the gateway: mirror.complete → the parts S3 holds are the agent's, complete, head
            t = hr();
            const stored = new Map((await store.listParts(key, uploadId)).map((p) => [p.partNumber, p]));
            for (const p of answer.parts) {
              const s = stored.get(p.partNumber);
              const unquote = (e: string) => e.replace(/^"|"$/g, '');
              if (!s || unquote(s.etag) !== unquote(p.etag) || unquote(p.etag) !== p.md5)
                throw new Error(`part ${p.partNumber}: S3 holds ${s?.etag}, the agent sent ${p.etag} (MD5 ${p.md5})`);
              if (s.size !== partLength(o.imageBytes, partBytes, p.partNumber))
                throw new Error(`part ${p.partNumber}: ${s.size} bytes`);
            }
            if (answer.parts.length !== count) throw new Error(`${answer.parts.length} parts sent, not ${count}`);
            const done = await store.complete(key, uploadId, answer.parts);
            const head = await store.head(key, done.versionId ?? undefined);
            if (head?.size !== o.imageBytes) throw new Error(`${key}: ${head?.size} bytes after complete`);
            complete = since(t);
          },
          () => 0, // the uploader reports its own
        );
        await exited;
        sampling = false;
        await sampler;
        const v = await measure(() => store.sha256(key, { size: o.imageBytes }), selfCpu);
        if (v.r !== sha256) throw new Error(`${key}: SHA-256 read back ${v.r}, not ${sha256}`);
        const a = answer!;
        all.optarc.push({
          seconds: r.seconds,
          clientCpu: answer!.cpuSeconds,
          serverCpu: r.serverCpu,
          createPresign,
          parts: a.seconds,
          partsWall,
          complete,
          verify: v.seconds,
          verifyCpu: v.clientCpu,
          verifyServerCpu: v.serverCpu,
          hwmBytes: a.hwmBytes,
          sampledPeakBytes,
          readyRssBytes,
          elu: a.elu,
          maxBlockMs: a.maxBlockMs,
        });
      },
    };

    // the whole path: a real gateway and agent; each run burns the image (untimed), then mirrors it
    try {
      full = await startFullPath(work, rgw, serverCpu, reclaim, o.log);
    } catch (e) {
      fullFailed = (e as Error).message.split('\n')[0]!;
      o.log(`mirror: the agent + gateway path cannot run: ${(e as Error).message}`);
    }

    // warm-up, untimed: a quarter of the image through lib-storage
    const warm = 'warm-up';
    await new lib.Upload({
      client: s3,
      params: {
        Bucket: bucket,
        Key: warm,
        Body: createReadStream(image, { end: Math.floor(o.imageBytes / 4) - 1 }),
        ContentLength: Math.floor(o.imageBytes / 4),
      },
    }).done();
    await removeObject(warm);

    const order: Side[] = [
      ...(awsBin ? ['awsCli' as const] : []),
      'libStorage',
      'optarc',
      ...(full ? ['full' as const] : []),
    ];
    for (let run = 0; run < o.runs; run++) {
      for (let i = 0; i < order.length; i++) {
        const side = order[(i + run) % order.length]!;
        if (side === 'full') {
          try {
            const r = await full!.mirrorOnce(image, run);
            all.full.push(r);
            o.log(
              `mirror run ${run + 1}/${o.runs} full: parts ${r.parts.toFixed(2)} s (${(r.imageBytes / 1e6 / r.parts).toFixed(0)} MB/s), begin to ack ${r.seconds.toFixed(2)} s (${(r.imageBytes / 1e6 / r.seconds).toFixed(0)} MB/s); agent CPU ${r.agentCpu.toFixed(1)} s, gateway ${r.gatewayCpu.toFixed(1)} s, RGW ${r.serverCpu.toFixed(1)} s; agent RSS ${(r.agentRssBeforeBytes / 1e6).toFixed(0)} MB before, peak ${(r.agentPeakRssBytes / 1e6).toFixed(0)} MB, VmHWM ${(r.agentHwmBytes / 1e6).toFixed(0)} MB, after ${(r.agentRssAfterBytes / 1e6).toFixed(0)} MB`,
            );
          } catch (e) {
            fullFailed = (e as Error).message.split('\n')[0]!;
            o.log(`mirror: the agent + gateway path failed: ${(e as Error).message}`);
            order.splice(order.indexOf('full'), 1);
            i--;
          }
          continue;
        }
        if (side === 'optarc') uploader ??= await startUploader(); // started before the clock, as a daemon is
        await execOut('sync', []);
        const key = `bench/${side}/run-${run}-${randomBytes(3).toString('hex')}`;
        await sides[side](key);
        await removeObject(key);
        const last = all[side].at(-1)!;
        o.log(
          `mirror run ${run + 1}/${o.runs} ${side}: ${last.seconds.toFixed(2)} s (${(o.imageBytes / 1e6 / last.seconds).toFixed(0)} MB/s), client CPU ${last.clientCpu.toFixed(1)} s, RGW CPU ${last.serverCpu.toFixed(1)} s` +
            (side === 'optarc'
              ? (() => {
                  const x = all.optarc.at(-1)!;
                  return `; uploader ELU ${(100 * x.elu).toFixed(0)}%, longest delay ${x.maxBlockMs.toFixed(0)} ms; create+presign ${x.createPresign.toFixed(2)} s, parts ${x.parts.toFixed(2)} s, complete ${x.complete.toFixed(2)} s, verify ${x.verify.toFixed(2)} s (${(o.imageBytes / 1e6 / x.verify).toFixed(0)} MB/s); uploader RSS ${(x.readyRssBytes / 1e6).toFixed(0)} MB ready, VmHWM ${(x.hwmBytes / 1e6).toFixed(0)} MB, sampled ${(x.sampledPeakBytes / 1e6).toFixed(0)} MB`;
                })()
              : ''),
        );
      }
    }
    const part = randomBytes(partBytes);
    const hashMBps = { md5: hashRate('md5', part), sha256: hashRate('sha256', part) };
    const rgwVersion = (await execOut('radosgw', ['--version']).catch(() => '?')).trim().split('\n')[0]!;
    const libStorageVersion = JSON.parse(
      readFileSync(path.join(ROOT, 'node_modules/@aws-sdk/lib-storage/package.json'), 'utf8'),
    ).version as string;
    return {
      runs: o.runs,
      imageBytes: o.imageBytes,
      partBytes,
      concurrency,
      verifyConcurrency: m.verifyConcurrency,
      verifyRangeBytes: m.verifyRangeBytes,
      awsCli,
      libStorageVersion,
      rgwVersion,
      workDir: path.relative(ROOT, path.dirname(work)),
      all,
      ...(fullFailed ? { fullFailed } : {}),
      load: [loadStart, os.loadavg()[0]!],
      hashMBps,
    };
  } finally {
    await full?.stop().catch((e: Error) => o.log(`mirror: stopping the agent and gateway: ${e.message}`));
    (uploader as Uploader | undefined)?.child.kill('SIGTERM');
    // whatever a failed run left: uploads in progress, objects; then the bucket
    for (const u of await store.listUploads('').catch(() => [])) await store.abort(u.key, u.uploadId).catch(() => {});
    for (const k of await store.listObjects('').catch(() => []))
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: k.key })).catch(() => {});
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    await reclaim();
    s3.destroy();
    store.destroy();
    await fs.rm(work, { recursive: true, force: true });
  }
}

// --- the whole path: optarc-gateway serve + an agent that burns and mirrors -----------

interface FullPath {
  /** Stages `image` as a one-file tree, burns it (untimed), and times the mirror of its volume. */
  mirrorOnce(image: string, run: number): Promise<FullRun>;
  stop(): Promise<void>;
}

async function startFullPath(
  work: string,
  rgw: RgwInfo,
  serverCpu: () => number,
  reclaim: () => Promise<unknown>,
  log: (s: string) => void,
): Promise<FullPath> {
  const { BIN, freePort, run, startDaemon, stopDaemon } = await import('../helpers/processes.js');
  const { default: Database } = await import('better-sqlite3');
  const { releaseWriteOnce } = await import('../../edge-agent/drives/stand-in-medium.js');
  const {
    DeleteBucketCommand,
    DeleteObjectsCommand,
    ListObjectVersionsCommand,
    S3Client: Client,
  } = await import('@aws-sdk/client-s3');
  const { s3ClientConfig } = await import('../../infra/rgw/rgw.js');

  const dir = path.join(work, 'full');
  await fs.mkdir(dir, { recursive: true });
  const bucket = `optarc-bench-full-${randomBytes(4).toString('hex')}`;
  const gwPort = await freePort();
  const gwStore = path.join(dir, 'gateway.sqlite');
  const gwConfig = path.join(dir, 'gateway.json');
  // the gateway with its defaults (16 MiB parts, read-back 4 × 16 MiB), a bucket of its own (it creates it, versioned)
  await fs.writeFile(
    gwConfig,
    JSON.stringify({
      log: { level: 'warn' },
      gateway: {
        http: { host: '127.0.0.1', port: gwPort },
        store: gwStore,
        s3: { endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, bucket },
      },
    }),
  );
  const s3 = new Client({
    ...s3ClientConfig(rgw),
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
  });
  /** Every version of every object in the (versioned) bucket, then RGW's garbage. */
  const purge = async () => {
    for (;;) {
      const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
      const ids = [...(r.Versions ?? []), ...(r.DeleteMarkers ?? [])].map((v) => ({
        Key: v.Key!,
        VersionId: v.VersionId!,
      }));
      if (ids.length === 0) break;
      await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: ids } }));
    }
    await reclaim();
  };
  const stops: (() => Promise<unknown>)[] = [async () => s3.destroy()];
  const stopAll = async () => {
    for (const f of stops.reverse()) await f().catch(() => undefined);
  };
  try {
    const gateway = await startDaemon(BIN.gateway, ['serve', '--config', gwConfig]);
    stops.push(() => stopDaemon(gateway.child));
    stops.push(async () => {
      await purge();
      await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    });
    const issued = await run(BIN.gateway, ['agents', 'add', '--site', 'bench', '--json', '--config', gwConfig]);
    if (issued.code !== 0) throw new Error(`optarc-gateway agents add: ${issued.stderr}`);
    const token = JSON.parse(issued.stdout).token as string;

    const agentDir = path.join(dir, 'agent');
    const pm = await freePort();
    const agentConfig = path.join(agentDir, 'agent.json');
    const state = path.join(agentDir, 'state');
    await fs.mkdir(agentDir, { recursive: true });
    await fs.writeFile(
      agentConfig,
      JSON.stringify({
        log: { level: 'warn' },
        agent: {
          portmap: { port: pm },
          stateDir: state,
          staging: { root: path.join(agentDir, 'stage'), minFreeBytes: 0 },
          drives: [
            {
              name: 'sr0',
              address: `stdio:${path.join(agentDir, 'drives', 'sr0', 'medium')}`,
              standIn: { shelf: path.join(agentDir, 'shelf') },
            },
          ],
          burn: { site: 'bench' },
          // the agent's mirror defaults (4 parts at once, no limit), reconnecting quickly
          mirror: { gatewayUrl: `ws://127.0.0.1:${gwPort}`, token, reconnectMinSeconds: 0.2, reconnectMaxSeconds: 2 },
        },
      }),
    );
    const agent = await startDaemon(BIN.agent, ['--config', agentConfig]);
    stops.push(async () => {
      await stopDaemon(agent.child);
      await releaseWriteOnce(agentDir); // closed stand-in discs are immutable
    });
    const agentPid = agent.child.pid!;
    const cli = async (...args: string[]) => {
      const r = await run(BIN.optarc, [...args, '--portmap-port', String(pm)], {}, 30 * 60_000);
      if (r.code !== 0) throw new Error(`optarc ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
      return r;
    };
    const catalog = () => new Database(path.join(state, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
    const gwDb = () => new Database(gwStore, { readonly: true, fileMustExist: true });

    return {
      async mirrorOnce(image, runNo) {
        const src = path.join(dir, `src-${runNo}`);
        await fs.mkdir(src, { recursive: true });
        await fs.link(image, path.join(src, `image-${runNo}.bin`));
        await cli('put', src, '--json');
        const db = catalog();
        const lastId = (db.prepare('SELECT COALESCE(MAX(id), 0) AS n FROM mirror_outbox').get() as { n: number }).n;
        const burn = cli('burn', '--copies', '1', '--media', 'bd-r', '--label', `BENCH ${runNo}`, '--wait', '--json');
        let burnError: unknown;
        burn.catch((e) => {
          burnError = e;
        });
        type Row = {
          id: number;
          state: string;
          bytes_done: number;
          acked_at: number | null;
          vsn: string;
          size: number;
        };
        const rowOf = () =>
          db
            .prepare(
              `SELECT o.id, o.state, o.bytes_done, o.acked_at, v.vsn, v.image_bytes AS size
               FROM mirror_outbox o JOIN volumes v ON v.id = o.volume_id WHERE o.id > ? ORDER BY o.id LIMIT 1`,
            )
            .get(lastId) as Row | undefined;
        const partsOf = (id: number) =>
          (db.prepare('SELECT COUNT(*) AS n FROM mirror_parts WHERE outbox_id = ?').get(id) as { n: number }).n;
        const deadline = Date.now() + 30 * 60_000;
        let row: Row | undefined;
        let mirroring = false;
        let partsAt: number | undefined;
        let up: { created_at: number; size: number; part_size: number } | undefined;
        const uploadOf = (vsn: string) => {
          const gw = gwDb();
          try {
            return gw
              .prepare('SELECT created_at, size, part_size FROM uploads WHERE vsn = ? ORDER BY created_at DESC')
              .get(vsn) as typeof up;
          } finally {
            gw.close();
          }
        };
        let rssBefore = 0;
        let peak = 0;
        let cpu0 = { agent: 0, gateway: 0, server: 0 };
        try {
          for (;;) {
            if (burnError) throw burnError;
            if (Date.now() > deadline) throw new Error('the volume was not mirrored within 30 minutes');
            row = rowOf();
            if (row && !mirroring && row.state !== 'queued') {
              // the mirror has begun (the gateway answered mirror.begin with a plan): from here the agent's memory
              mirroring = true;
              rssBefore = statusBytes(agentPid, 'VmRSS');
              await fs.writeFile(`/proc/${agentPid}/clear_refs`, '5').catch(() => undefined);
              cpu0 = { agent: cpuOf(agentPid), gateway: cpuOf(gateway.child.pid!), server: serverCpu() };
              up = uploadOf(row.vsn);
              if (!up) throw new Error(`the gateway has no upload of ${row.vsn}`);
              if (up.part_size !== 16 * MiB) log(`mirror: the gateway planned ${up.part_size}-byte parts`);
            }
            if (mirroring) peak = Math.max(peak, statusBytes(agentPid, 'VmRSS'));
            if (row && up && partsAt === undefined && row.state === 'uploading') {
              if (partsOf(row.id) >= Math.ceil(Number(up.size) / Number(up.part_size))) partsAt = Date.now();
            }
            if (row?.state === 'acked') break;
            await new Promise((r) => setTimeout(r, 50));
          }
          const cpu = { agent: cpuOf(agentPid), gateway: cpuOf(gateway.child.pid!), server: serverCpu() };
          const hwm = statusBytes(agentPid, 'VmHWM');
          await burn;
          if (!up) throw new Error(`the mirror of ${row!.vsn} was never seen under way`);
          const begin = Number(up.created_at);
          return {
            imageBytes: Number(up.size),
            parts: ((partsAt ?? Number(row!.acked_at)) - begin) / 1000,
            seconds: (Number(row!.acked_at) - begin) / 1000,
            agentCpu: cpu.agent - cpu0.agent,
            gatewayCpu: cpu.gateway - cpu0.gateway,
            serverCpu: cpu.server - cpu0.server,
            agentPeakRssBytes: peak,
            agentHwmBytes: hwm,
            agentRssBeforeBytes: rssBefore,
            agentRssAfterBytes: statusBytes(agentPid, 'VmRSS'),
          };
        } finally {
          db.close();
          await burn.catch(() => undefined);
          await fs.rm(src, { recursive: true, force: true });
          await purge(); // the next run's volume is another key: this one's bytes can go now
        }
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

// --- BENCHMARKS.md ------------------------------------------------------------------

/** The mirror section of BENCHMARKS.md. */
export function mirrorMarkdown(f: MirrorFigures, command: string): string[] {
  const cores = os.cpus().length;
  const MBps = (bytes: number, s: number) => bytes / 1e6 / s;
  const rate = (s: number, bytes = f.imageBytes) => `${MBps(bytes, s).toFixed(0)} MB/s`;
  const secs = (s: number) => `${s.toFixed(2)} s`;
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const met = (ok: boolean) => (ok ? 'yes' : '**no**');
  const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
  const med = median;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const runs = (xs: number[]) => xs.map((v) => v.toFixed(1)).join(', ');
  const gib = `${(f.imageBytes / GiB).toFixed(f.imageBytes % GiB ? 2 : 0)} GiB`;
  const part = `${f.partBytes / MiB} MiB`;
  const hasAws = 'version' in f.awsCli;
  const noAws = 'missing' in f.awsCli ? f.awsCli.missing : '';
  const awsVersion = 'version' in f.awsCli ? f.awsCli.version.split(' ')[0]! : '';
  // throughputs (MB/s), so that the whole path's slightly bigger image (the ISO) compares fairly
  const awsRate = hasAws ? med(f.all.awsCli.map((r) => MBps(f.imageBytes, r.seconds))) : Number.NaN;
  const libRate = med(f.all.libStorage.map((r) => MBps(f.imageBytes, r.seconds)));
  const op = f.all.optarc;
  const upRate = med(op.map((r) => MBps(f.imageBytes, r.seconds)));
  const verifyRate = med(op.map((r) => MBps(f.imageBytes, r.verify)));
  const totalRate = med(op.map((r) => MBps(f.imageBytes, r.seconds + r.verify)));
  const fp = f.all.full;
  const fullParts = fp.length ? med(fp.map((r) => MBps(r.imageBytes, r.parts))) : Number.NaN;
  const fullAll = fp.length ? med(fp.map((r) => MBps(r.imageBytes, r.seconds))) : Number.NaN;
  const r0 = (n: number) => `${n.toFixed(0)} MB/s`;
  const vsAws = (v: number) => (hasAws ? x(v, awsRate) : '—');
  const goal = (v: number) => (hasAws ? met(v / awsRate >= 1.2) : '— (no aws-cli)');
  const awsCell = hasAws ? r0(awsRate) : `aws-cli: ${noAws}`;
  const uploaderPeak = Math.max(...op.map((r) => Math.max(r.hwmBytes, r.sampledPeakBytes)));
  const agentPeak = fp.length ? Math.max(...fp.map((r) => Math.max(r.agentHwmBytes, r.agentPeakRssBytes))) : 0;
  const cpuMed = (xs: number[]) => `${med(xs).toFixed(1)} s`;
  const busy = (rs: { clientCpu: number; serverCpu: number; seconds: number }[]) =>
    `${(100 * mean(rs.map((r) => (r.clientCpu + r.serverCpu) / r.seconds / cores))).toFixed(0)}%`;
  const row = (name: string, rs: SideRun[], secondsOf: (r: SideRun) => number) => {
    const v = med(rs.map((r) => MBps(f.imageBytes, secondsOf(r))));
    return `| ${name} | ${secs(med(rs.map(secondsOf)))} | ${r0(v)} | ${vsAws(v)} | ${x(v, libRate)} | ${runs(rs.map(secondsOf))} | ${cpuMed(rs.map((r) => r.clientCpu))} | ${cpuMed(rs.map((r) => r.serverCpu))} | ${busy(rs)} |`;
  };
  const optBreak = {
    createPresign: med(op.map((r) => r.createPresign)),
    parts: med(op.map((r) => r.parts)),
    pipe: med(op.map((r) => r.partsWall - r.parts)),
    complete: med(op.map((r) => r.complete)),
  };
  const partCount = Math.ceil(f.imageBytes / f.partBytes);
  const md5Seconds = f.imageBytes / 1e6 / f.hashMBps.md5;
  const awsLabel = hasAws ? `\`aws s3 cp\` (${awsVersion}, 16 MB parts, 4 at once)` : '`aws s3 cp`';
  return [
    `## Mirroring: a ${gib} image to RGW, optarc vs \`aws s3 cp\` vs \`@aws-sdk/lib-storage\``,
    '',
    `Written by \`${command}\` on ${new Date().toISOString().slice(0, 10)}: \`nproc\` ${cores} (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / GiB).toFixed(0)} GiB RAM,`,
    `Node ${process.versions.node}; the shared test RGW (\`var/test-rgw\`: ${f.rgwVersion.replace(/ \(.*$/, '')}, one OSD on a file) on the same VM, over`,
    `loopback (\`test/bench/mirror-bench.ts\`). The image: ${gib} of random data in \`${f.workDir}/\` (the root filesystem), in the page`,
    `cache for every side. Every figure is the median of ${f.runs} runs, the sides' order rotated between runs, each run to a new`,
    `key. MB = 10⁶ bytes. The VM was shared with other work: load average ${f.load[0].toFixed(1)} when the runs began, ${f.load[1].toFixed(1)} when they ended.`,
    '',
    '| benchmark | measured | baseline | ratio | goal | met? |',
    '|---|---|---|---|---|---|',
    `| optarc upload (gateway ObjectStore + agent uploadParts, Content-MD5 on every part) vs ${awsLabel} | ${r0(upRate)} | ${awsCell} | ${vsAws(upRate)} | ≥ 1.2× | ${goal(upRate)} |`,
    `| optarc upload + the gateway's SHA-256 read-back vs ${awsLabel} | ${r0(totalRate)} | ${awsCell} | ${vsAws(totalRate)} | ≥ 1.2× | ${goal(totalRate)} |`,
    ...(fp.length
      ? [
          `| whole path (agent + \`optarc-gateway serve\`), mirror.begin to every part stored, vs ${awsLabel} | ${r0(fullParts)} | ${awsCell} | ${vsAws(fullParts)} | ≥ 1.2× | ${goal(fullParts)} |`,
          `| whole path, mirror.begin to ack (parts, manifest, checks, read-back), vs ${awsLabel} | ${r0(fullAll)} | ${awsCell} | ${vsAws(fullAll)} | ≥ 1.2× | ${goal(fullAll)} |`,
        ]
      : []),
    `| optarc upload vs lib-storage ${f.libStorageVersion} \`Upload\` with defaults (no checksums) | ${r0(upRate)} | ${r0(libRate)} | ${x(upRate, libRate)} | — | — |`,
    ...(fp.length
      ? [
          `| agent daemon peak RSS while mirroring (whole path) | ${mb(agentPeak)} | — | — | < 200 MB | ${met(agentPeak < 200e6)} |`,
        ]
      : []),
    `| agent uploader process peak RSS while mirroring (component path) | ${mb(uploaderPeak)} | — | — | < 200 MB | ${met(uploaderPeak < 200e6)} |`,
    '',
    ...(hasAws ? [] : [`**aws-cli was not measured**: ${noAws}.`, '']),
    ...(f.fullFailed ? [`**The whole path was not measured**: ${f.fullFailed}.`, ''] : []),
    '### Each side',
    '',
    `- *optarc upload*: the real code of both ends, called directly: the gateway's \`ObjectStore\` (config defaults) creates the`,
    `  upload and presigns all ${partCount} part URLs (${part} parts); the agent's \`uploadParts\`, in a process of its own started`,
    `  before the clock (as the agent daemon is), sends them ${f.concurrency} at once with Content-MD5 (RGW refuses a mismatch: 400`,
    "  BadDigest) through the agent's RateLimiter with no limit; then what `completeMirror` does: ListParts checked against",
    '  the ETags and MD5s the agent reports, CompleteMultipartUpload, HeadObject.',
    `- *read-back*: \`ObjectStore.sha256\`, ranged GETs of ${f.verifyRangeBytes / MiB} MiB, ${f.verifyConcurrency} at once, one SHA-256 over them in order, compared with the image's.`,
    '- *whole path*: a real `optarc-gateway serve` (its defaults, own versioned bucket) and a real agent daemon (its mirror',
    '  defaults: 4 parts at once, no limit) with one stand-in drive. Each run stages the image as a one-file tree and burns',
    "  it (`optarc burn --copies 1 --media bd-r`, untimed); the agent then mirrors the volume's ISO (the image plus the ISO's",
    "  own few hundred KiB). Timed from the gateway's mirror.begin (its upload row) to the last part recorded in the agent's",
    "  catalog, and to the agent's ack (manifest PUT, the gateway's checks, completion and SHA-256 read-back), polled every",
    '  50 ms.',
    `- \`aws s3 cp\` (${hasAws ? `${awsVersion}, \`${(f.awsCli as { bin: string }).bin}\`` : noAws}): an isolated config written by \`aws configure set\`:`,
    '  `default.s3.multipart_chunksize 16MB`, `default.s3.max_concurrent_requests 4`, `default.s3.addressing_style path`,',
    '  `default.region us-east-1`, `--endpoint-url`. It sends Content-MD5 and, over http, a signed SHA-256 of every part',
    '  (`x-amz-content-sha256`, which RGW then checks), with `Expect: 100-continue`.',
    `- lib-storage ${f.libStorageVersion} \`Upload\`: its defaults (5 MiB parts, 4 at once) over a read stream of the image; the client as`,
    '  infra/rgw/s3-config.ts makes it (`requestChecksumCalculation: WHEN_REQUIRED`): no Content-MD5, but SigV4 signs',
    '  each part body by its SHA-256.',
    '',
    `CPU is user + system seconds, medians: the client's own (the uploader process for optarc; for the whole path the agent,`,
    `with the gateway's in brackets) and the RGW's (radosgw + ceph-osd + ceph-mon). *busy*: client + RGW CPU over ${cores} cores × wall time.`,
    '',
    '| side | median | MB/s | vs aws-cli | vs lib-storage | runs (s) | client CPU | RGW CPU | busy |',
    '|---|---|---|---|---|---|---|---|---|',
    ...(hasAws ? [row(awsLabel, f.all.awsCli, (r) => r.seconds)] : [`| \`aws s3 cp\` | ${noAws} | | | | | | | |`]),
    row(`lib-storage ${f.libStorageVersion} \`Upload\` (defaults)`, f.all.libStorage, (r) => r.seconds),
    row('optarc upload', op, (r) => r.seconds),
    `| optarc read-back alone | ${secs(med(op.map((r) => r.verify)))} | ${r0(verifyRate)} | — | — | ${runs(op.map((r) => r.verify))} | ${cpuMed(op.map((r) => r.verifyCpu))} (gateway) | ${cpuMed(op.map((r) => r.verifyServerCpu))} | — |`,
    `| optarc upload + read-back | ${secs(med(op.map((r) => r.seconds + r.verify)))} | ${r0(totalRate)} | ${vsAws(totalRate)} | ${x(totalRate, libRate)} | ${runs(op.map((r) => r.seconds + r.verify))} | — | — | — |`,
    ...(fp.length
      ? [
          `| whole path: begin → all parts | ${secs(med(fp.map((r) => r.parts)))} | ${r0(fullParts)} | ${vsAws(fullParts)} | ${x(fullParts, libRate)} | ${runs(fp.map((r) => r.parts))} | — | — | — |`,
          `| whole path: begin → ack | ${secs(med(fp.map((r) => r.seconds)))} | ${r0(fullAll)} | ${vsAws(fullAll)} | ${x(fullAll, libRate)} | ${runs(fp.map((r) => r.seconds))} | ${cpuMed(fp.map((r) => r.agentCpu))} (${cpuMed(fp.map((r) => r.gatewayCpu))}) | ${cpuMed(fp.map((r) => r.serverCpu))} | ${busy(fp.map((r) => ({ clientCpu: r.agentCpu + r.gatewayCpu, serverCpu: r.serverCpu, seconds: r.seconds })))} |`,
        ]
      : []),
    '',
    `Where optarc's upload time goes (component path, medians): create + presign ${secs(optBreak.createPresign)}; \`uploadParts\``,
    `${secs(optBreak.parts)} (${rate(optBreak.parts)}; with ${f.concurrency} in flight a ${part} part takes ${((optBreak.parts * f.concurrency) / partCount).toFixed(2)} s on average); the job's pipe to and from`,
    `the uploader ${secs(optBreak.pipe)}; ListParts + checks + complete + HEAD ${secs(optBreak.complete)}. MD5 runs at ${f.hashMBps.md5.toFixed(0)} MB/s on this`,
    `CPU (SHA-256 ${f.hashMBps.sha256.toFixed(0)} MB/s), so Content-MD5 costs ${secs(md5Seconds)} of the uploader's one thread per ${gib}, in`,
    `${part} blocks during which it writes to no socket. The uploader's event loop was busy ${(100 * med(op.map((r) => r.elu))).toFixed(0)}% of \`uploadParts\``,
    `(median; its longest event-loop delay ${med(op.map((r) => r.maxBlockMs)).toFixed(0)} ms, which includes waiting for a core). The RGW spent`,
    `${(med(op.map((r) => r.serverCpu)) / (f.imageBytes / GiB)).toFixed(1)} CPU-seconds per GiB on optarc's parts, ${hasAws ? `${(med(f.all.awsCli.map((r) => r.serverCpu)) / (f.imageBytes / GiB)).toFixed(1)} on aws-cli's, ` : ''}${(med(f.all.libStorage.map((r) => r.serverCpu)) / (f.imageBytes / GiB)).toFixed(1)} on lib-storage's`,
    "(a presigned part is UNSIGNED-PAYLOAD: RGW checks its MD5 and computes the ETag's, but hashes no SHA-256; 5 MiB parts are",
    "also 3× the requests): client and RGW share the VM's cores, so every CPU-second a side saves is throughput.",
    '',
    `Where the read-back's time goes: ${cpuMed(op.map((r) => r.verifyCpu))} of CPU in the process that reads (the gateway's, one thread) and`,
    `${cpuMed(op.map((r) => r.verifyServerCpu))} in the RGW for ${gib}, against ${secs(f.imageBytes / 1e6 / f.hashMBps.sha256)} for the SHA-256 itself. A CPU profile of \`ObjectStore.sha256\``,
    `(\`node --cpu-prof\`, not part of this bench) puts most of the rest in the SDK collecting each ${f.verifyRangeBytes / MiB} MiB range into a`,
    'new array (`transformToByteArray`) and in garbage collection. The read-back starts once the upload is complete, so',
    "its time adds to the upload's.",
    '',
    "### Memory: the agent's mirror",
    '',
    "*Uploader process*: what the agent's mirror holds (part-uploader.ts and the RateLimiter, no SDK), VmRSS sampled every",
    '50 ms and VmHWM read when it answers.',
    ...(fp.length
      ? [
          "*Agent daemon*: the whole agent during the whole path's mirror: VmRSS sampled every 50 ms from mirror.begin to the",
          'ack, and its VmHWM reset (clear_refs) when the mirror began; *before* is its VmRSS when the mirror began (just after',
          `the burn), *after* once the volume is acknowledged. Before its first mirror the agent held ${mb(fp[0]!.agentRssBeforeBytes)}, after it`,
          `${mb(fp[0]!.agentRssAfterBytes)}: the mirror's pool of ${f.concurrency} part buffers (MirrorService's PartBufferPool) is held while the`,
          'outbox has work, and let go (trimmed) once it is empty, which is after the moment *after* is read.',
        ]
      : []),
    '',
    '| process | RSS before | peak RSS (sampled) | VmHWM | after | part buffers | goal |',
    '|---|---|---|---|---|---|---|',
    `| uploader (component path) | ${mb(med(op.map((r) => r.readyRssBytes)))} | ${mb(Math.max(...op.map((r) => r.sampledPeakBytes)))} | ${mb(Math.max(...op.map((r) => r.hwmBytes)))} | — | ${f.concurrency} × ${part} | < 200 MB |`,
    ...(fp.length
      ? [
          `| agent daemon (whole path) | ${mb(med(fp.map((r) => r.agentRssBeforeBytes)))} (median) | ${mb(Math.max(...fp.map((r) => r.agentPeakRssBytes)))} | ${mb(Math.max(...fp.map((r) => r.agentHwmBytes)))} | ${mb(med(fp.map((r) => r.agentRssAfterBytes)))} | ${f.concurrency} × ${part} | < 200 MB |`,
        ]
      : []),
    '',
    'awscli is a bench extra, not something optarc needs, and infra/install.sh has no optional packages, so it does not',
    'install it: for the aws-cli baseline, `apt-get install -y awscli` (Debian 12: aws-cli 2.9), then',
    '`npm run bench -- --only mirror`. Without it the other sides still run. Options: `--mirror-runs N` (default 3),',
    '`--mirror-gib N` (image size, default 1).',
    '',
  ];
}

if (process.argv[2] === UPLOADER_FLAG && process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  uploaderMain().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
