/**
 * A real S3 for the local stack and the tests: Ceph RGW (radosgw, beast frontend) from
 * Debian's ceph 16.2 packages (`radosgw ceph-mon ceph-osd`), on a one-node cluster that
 * lives entirely in one directory: one monitor, one BlueStore OSD on a sparse block file,
 * one radosgw on 127.0.0.1.
 *
 *   startRgw({ dir, port })  cold start (creates the cluster and the S3 user), restart
 *                            (starts whichever daemon is down), or nothing when all run;
 *                            resolves once a signed S3 request succeeds
 *   stopRgw(dir)             stops radosgw, the OSD, the monitor (in that order)
 *   rgwStatus(dir)           which daemons run (pid, RSS) and whether S3 answers
 *   node dist/infra/rgw/rgw.js start|stop|status [--dir D] [--port P] [--block-gib N]
 *                            prints one JSON line; exit status 1 on failure, and
 *                            3 from `status` when the cluster is not running
 *                            (defaults: --dir var/rgw, --port the last one used, else 7480)
 *
 * Timings on a 2-CPU VM: cold start ~15 s (the OSD's mkfs ~2 s, radosgw's first start,
 * which creates its pools, ~8 s), restart ~4.5 s, stop <1 s; the first CreateBucket takes
 * ~4.5 s more (the bucket index and data pools are created then). RSS: ~30 MB mon,
 * ~50-130 MB OSD, ~40-190 MB radosgw (idle - after 640 MiB written and read).
 *
 * Every call is idempotent and serialised by a lock file in the directory. The daemons
 * daemonise themselves (ceph's own fork), run as the calling user (root in the stack),
 * write their pid files, admin sockets and logs under `dir/run` and `dir/log`, and are
 * recognised by their command line naming `dir/ceph.conf`, so a stale pid file or a
 * zombie never passes for a running daemon and nothing outside `dir` is ever signalled.
 * The cluster's identity (fsid, ports, keys) is kept in `dir/rgw.json`, written only
 * when a cold start has fully succeeded: a directory without it is wiped and rebuilt.
 *
 * Why the directory must be on ext4/xfs and not tmpfs, why auth none needs crc
 * messenger modes, and the other settings that cost hours: see ceph-conf.ts.
 * How clients must talk to it (path style, us-east-1, Content-MD5, no flexible
 * checksums): see s3-config.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { withDirLock } from '../dir-lock.js';
import { type CephPaths, cephConf, cephPaths, MON_ID, OSD_ID, RGW_NAME } from './ceph-conf.js';
import { RGW_REGION, type RgwEndpoint, s3Answers } from './s3-config.js';

export { RGW_REGION, type RgwEndpoint, s3ClientConfig } from './s3-config.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEFAULT_RGW_DIR = path.join(ROOT, 'var/rgw');
export const DEFAULT_RGW_PORT = 7480;
export const DEFAULT_BLOCK_SIZE = 20 * 1024 ** 3;
/** The S3 user every cluster gets. */
export const RGW_UID = 'optarc';

export type DaemonKey = 'mon' | 'osd' | 'rgw';

interface Daemon {
  key: DaemonKey;
  /** ceph's `$name`: names the pid file, the log and the admin socket. */
  name: string;
  bin: string;
  args: (p: CephPaths) => string[];
}

const DAEMONS: Daemon[] = [
  { key: 'mon', name: `mon.${MON_ID}`, bin: 'ceph-mon', args: (p) => ['-c', p.conf, '-i', MON_ID] },
  { key: 'osd', name: `osd.${OSD_ID}`, bin: 'ceph-osd', args: (p) => ['-c', p.conf, '-i', String(OSD_ID)] },
  { key: 'rgw', name: RGW_NAME, bin: 'radosgw', args: (p) => ['-c', p.conf, '-n', RGW_NAME] },
];

interface RgwState {
  version: 1;
  fsid: string;
  monPort: number;
  port: number;
  osdUuid: string;
  blockSizeBytes: number;
  uid: string;
  accessKeyId: string;
  secretAccessKey: string;
  createdAt: string;
}

export interface RgwOptions {
  dir: string;
  /** radosgw's port on 127.0.0.1; 0 picks a free one. Default: the last one used, else 7480. */
  port?: number;
  /** Sparse size of the OSD's block file, fixed at the cold start. Default 20 GiB. */
  blockSizeBytes?: number;
  /** The S3 user's keys, fixed at the cold start. Default: random, kept in dir/rgw.json. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Give up after this long. Default 120 s for a cold start, 60 s otherwise. */
  timeoutMs?: number;
}

export interface RgwInfo extends RgwEndpoint {
  dir: string;
  port: number;
  region: string;
  forcePathStyle: true;
  uid: string;
  pids: Record<DaemonKey, number>;
  started: 'cold' | 'restart' | 'already-running';
  ms: number;
}

export interface DaemonStatus {
  pid: number;
  rssKiB: number;
}

export interface RgwStatus {
  dir: string;
  initialized: boolean;
  running: boolean;
  s3: boolean;
  daemons: Record<DaemonKey, DaemonStatus | null>;
  endpoint?: string;
  port?: number;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Environment for ceph tools: CEPH_ARGS/CEPH_CONF from the caller would override our conf. */
function toolEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CEPH_ARGS;
  delete env.CEPH_CONF;
  return env;
}

// ---------------------------------------------------------------- processes

function cmdline(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw ? raw.split('\0').filter((a) => a !== '') : undefined; // empty: zombie or kernel thread
  } catch {
    return undefined;
  }
}

function isOurs(pid: number, d: Daemon, p: CephPaths): boolean {
  const argv = cmdline(pid);
  return argv !== undefined && path.basename(argv[0]!) === d.bin && argv.includes(p.conf);
}

function pidFile(d: Daemon, p: CephPaths): string {
  return path.join(p.run, `${d.name}.pid`);
}

/** The daemon's pid: from its pid file when that is right, else by scanning /proc. */
function findPid(d: Daemon, p: CephPaths): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(d, p), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && isOurs(pid, d, p)) return pid;
  } catch {
    // no pid file: scan
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (isOurs(pid, d, p)) return pid;
  }
  return undefined;
}

/**
 * Whether a process has fully exited. Its cmdline empties early in exit (when its memory
 * goes), before its files and sockets are closed: wait for the zombie state instead.
 */
function exited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function logTail(d: Daemon, p: CephPaths, lines = 15): string {
  const parts: string[] = [];
  for (const file of [path.join(p.log, `${d.name}.launch.log`), path.join(p.log, `${d.name}.log`)]) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    if (text) parts.push(`--- ${file}\n${text}`);
  }
  return parts.join('\n');
}

/** Run a ceph tool to completion; its output goes to dir/log/<label>.log and into the error. */
async function tool(p: CephPaths, label: string, file: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await execa(file, args, {
    reject: false,
    timeout: timeoutMs,
    stdin: 'ignore',
    env: toolEnv(),
    extendEnv: false,
  });
  // 0600: radosgw-admin prints the S3 user's secret key
  writeFileSync(path.join(p.log, `${label}.log`), `$ ${file} ${args.join(' ')}\n${r.stdout}\n${r.stderr}\n`, {
    mode: 0o600,
  });
  if (r.exitCode !== 0 || r.timedOut) {
    const why = r.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${r.exitCode ?? r.signal}`;
    throw new Error(`${file} ${args.join(' ')}: ${why}\n${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** Start one daemon (it forks itself) and wait for its pid. */
async function launch(d: Daemon, p: CephPaths, deadline: number): Promise<number> {
  const launchLog = path.join(p.log, `${d.name}.launch.log`);
  // Output to a file, not a pipe: the forked daemon must hold nothing of ours.
  const r = await execa(d.bin, d.args(p), {
    reject: false,
    // radosgw's parent only returns once radosgw has reached the cluster
    timeout: Math.max(5000, deadline - Date.now()),
    stdin: 'ignore',
    stdout: { file: launchLog },
    stderr: { file: launchLog, append: true },
    env: toolEnv(),
    extendEnv: false,
  });
  if (r.exitCode !== 0 || r.timedOut) {
    throw new Error(`${d.bin} did not start (${r.timedOut ? 'timeout' : `exit ${r.exitCode}`})\n${logTail(d, p)}`);
  }
  const pidDeadline = Date.now() + 10_000;
  while (Date.now() < pidDeadline) {
    const pid = findPid(d, p);
    if (pid) return pid;
    await sleep(50);
  }
  throw new Error(`${d.bin} exited right after starting\n${logTail(d, p)}`);
}

async function stopDaemon(d: Daemon, p: CephPaths, timeoutMs = 30_000): Promise<boolean> {
  const pid = findPid(d, p);
  if (!pid) {
    rmSync(pidFile(d, p), { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (!exited(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      await sleep(200);
      break;
    }
    await sleep(50);
  }
  rmSync(pidFile(d, p), { force: true });
  return true;
}

// ---------------------------------------------------------------- small helpers

const FS_NAMES: Record<number, string> = {
  61267: 'ext4',
  1481003842: 'xfs',
  2435016766: 'btrfs',
  16914836: 'tmpfs',
  2240043254: 'ramfs',
  2035054128: 'overlay',
  26985: 'nfs',
};
const IN_MEMORY = new Set([0x01021994, 0x858458f6]);

/**
 * BlueStore opens its block file with O_DIRECT; tmpfs and ramfs would hold the whole
 * "disk" in RAM (and recent kernels accept O_DIRECT on tmpfs, so the probe alone is
 * not enough): refuse both by filesystem type, then probe O_DIRECT for the rest.
 */
export function checkFilesystem(dir: string): string {
  const type = Number(statfsSync(dir).type);
  const name = FS_NAMES[type] ?? `0x${type.toString(16)}`;
  if (IN_MEMORY.has(type)) {
    throw new Error(
      `${dir} is on ${name}: the OSD's block file must be on a real filesystem (ext4, xfs), e.g. under /var/tmp or the repo's var/`,
    );
  }
  const probe = path.join(dir, `.odirect-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, constants.O_CREAT | constants.O_WRONLY | constants.O_DIRECT, 0o600));
  } catch (err) {
    throw new Error(`${dir} (${name}) refuses O_DIRECT, which BlueStore needs: ${(err as Error).message}`);
  } finally {
    rmSync(probe, { force: true });
  }
  return name;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function anonymousAnswers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

function readState(p: CephPaths): RgwState | undefined {
  if (!existsSync(p.state)) return undefined;
  return JSON.parse(readFileSync(p.state, 'utf8')) as RgwState;
}

function writeState(p: CephPaths, s: RgwState): void {
  const tmp = `${p.state}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, p.state);
}

function writeConf(p: CephPaths, s: RgwState): void {
  writeFileSync(
    p.conf,
    cephConf(p, { fsid: s.fsid, monPort: s.monPort, rgwPort: s.port, blockSizeBytes: s.blockSizeBytes }),
  );
}

const endpointOf = (s: RgwState): RgwEndpoint => ({
  endpoint: `http://127.0.0.1:${s.port}`,
  accessKeyId: s.accessKeyId,
  secretAccessKey: s.secretAccessKey,
});

/** One caller at a time per directory; a lock left by a dead process is taken over. */
async function withLock<T>(p: CephPaths, fn: () => Promise<T>): Promise<T> {
  return withDirLock(p.lock, fn, { timeoutMs: 180_000, pollMs: 100 });
}

/** Wait until a signed S3 request succeeds, failing early when a daemon dies. */
async function waitForS3(p: CephPaths, s: RgwState, deadline: number): Promise<void> {
  const e = endpointOf(s);
  for (;;) {
    if (await s3Answers(e, 2000)) return;
    for (const d of DAEMONS) {
      if (!findPid(d, p)) throw new Error(`${d.name} stopped while waiting for S3\n${logTail(d, p)}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`S3 on ${e.endpoint} not answering in time\n${DAEMONS.map((d) => logTail(d, p, 5)).join('\n')}`);
    }
    await sleep(200);
  }
}

function randomKey(len: number, alphabet: string): string {
  const bytes = randomBytes(len);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

// ---------------------------------------------------------------- the API

async function coldStart(p: CephPaths, o: RgwOptions, port: number, deadline: number): Promise<RgwState> {
  // Whatever a failed cold start left behind goes: daemons first, then our parts of dir.
  for (const d of [...DAEMONS].reverse()) await stopDaemon(d, p);
  for (const f of [p.conf, p.monmap, path.dirname(p.monData), path.dirname(p.osdData), p.rgwData, p.run]) {
    rmSync(f, { recursive: true, force: true });
  }
  for (const f of [p.run, p.log, p.monData, p.osdData, p.rgwData]) mkdirSync(f, { recursive: true });

  const s: RgwState = {
    version: 1,
    fsid: randomUUID(),
    monPort: await freePort(),
    port,
    osdUuid: randomUUID(),
    blockSizeBytes: o.blockSizeBytes ?? DEFAULT_BLOCK_SIZE,
    uid: RGW_UID,
    accessKeyId: o.accessKeyId ?? randomKey(20, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'),
    secretAccessKey:
      o.secretAccessKey ?? randomKey(40, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'),
    createdAt: new Date().toISOString(),
  };
  writeConf(p, s);
  const [mon, osd, rgw] = DAEMONS as [Daemon, Daemon, Daemon];
  const conf = ['-c', p.conf];
  await tool(p, 'monmaptool', 'monmaptool', [
    '--create',
    '--clobber',
    '--fsid',
    s.fsid,
    '--addv',
    MON_ID,
    `[v2:127.0.0.1:${s.monPort}]`,
    p.monmap,
  ]);
  await tool(p, 'mon-mkfs', 'ceph-mon', [...conf, '--mkfs', '-i', MON_ID, '--monmap', p.monmap]);
  await launch(mon, p, deadline);
  await tool(p, 'osd-new', 'ceph', [...conf, '--connect-timeout', '30', 'osd', 'new', s.osdUuid, String(OSD_ID)]);
  await tool(p, 'osd-mkfs', 'ceph-osd', [...conf, '-i', String(OSD_ID), '--mkfs', '--osd-uuid', s.osdUuid]);
  await launch(osd, p, deadline);
  await launch(rgw, p, deadline);
  // radosgw creates its zone and pools at its first start; the user goes in after that.
  while (!(await anonymousAnswers(s.port))) {
    for (const d of DAEMONS) {
      if (!findPid(d, p)) throw new Error(`${d.name} stopped during the cold start\n${logTail(d, p)}`);
    }
    if (Date.now() > deadline) throw new Error(`radosgw not answering on port ${s.port}\n${logTail(rgw, p)}`);
    await sleep(200);
  }
  await tool(p, 'user-create', 'radosgw-admin', [
    ...conf,
    'user',
    'create',
    '--uid',
    s.uid,
    '--display-name',
    'optarc local S3',
    '--access-key',
    s.accessKeyId,
    '--secret-key',
    s.secretAccessKey,
  ]);
  await waitForS3(p, s, deadline);
  writeState(p, s);
  return s;
}

/** Start the cluster in `dir` (creating it on first use) and resolve once S3 answers. */
export async function startRgw(o: RgwOptions): Promise<RgwInfo> {
  const t0 = Date.now();
  const p = cephPaths(o.dir);
  mkdirSync(p.dir, { recursive: true });
  checkFilesystem(p.dir);
  return withLock(p, async () => {
    let s = readState(p);
    let started: RgwInfo['started'];
    if (!s) {
      const deadline = t0 + (o.timeoutMs ?? 120_000);
      const port = o.port === 0 ? await freePort() : (o.port ?? DEFAULT_RGW_PORT);
      if (!(await portFree(port))) throw new Error(`port 127.0.0.1:${port} is in use: pass another --port`);
      s = await coldStart(p, o, port, deadline);
      started = 'cold';
    } else {
      const deadline = t0 + (o.timeoutMs ?? 60_000);
      if (
        (o.accessKeyId && o.accessKeyId !== s.accessKeyId) ||
        (o.secretAccessKey && o.secretAccessKey !== s.secretAccessKey)
      ) {
        throw new Error(`${p.dir} already has an S3 user with other keys (see ${p.state})`);
      }
      const [mon, , rgw] = DAEMONS as [Daemon, Daemon, Daemon];
      // port 0: keep the last port while it is ours or free, else any free one
      const wanted =
        o.port === 0 ? (findPid(rgw, p) || (await portFree(s.port)) ? s.port : await freePort()) : (o.port ?? s.port);
      if (wanted !== s.port) {
        await stopDaemon(rgw, p); // it listens on the old port
        s = { ...s, port: wanted };
        writeState(p, s);
      }
      writeConf(p, s); // settings from this version of the code apply at each start
      const running = DAEMONS.every((d) => findPid(d, p) !== undefined);
      if (running && (await s3Answers(endpointOf(s), 3000))) {
        started = 'already-running';
      } else {
        if (!findPid(mon, p) && !(await portFree(s.monPort))) {
          throw new Error(`the monitor's port 127.0.0.1:${s.monPort} is taken by another process`);
        }
        if (!findPid(rgw, p) && !(await portFree(s.port))) {
          throw new Error(`port 127.0.0.1:${s.port} is in use: pass another --port`);
        }
        for (const d of DAEMONS) if (!findPid(d, p)) await launch(d, p, deadline);
        await waitForS3(p, s, deadline);
        started = 'restart';
      }
    }
    const pids = Object.fromEntries(DAEMONS.map((d) => [d.key, findPid(d, p) ?? 0])) as Record<DaemonKey, number>;
    return {
      ...endpointOf(s),
      dir: p.dir,
      port: s.port,
      region: RGW_REGION,
      forcePathStyle: true,
      uid: s.uid,
      pids,
      started,
      ms: Date.now() - t0,
    };
  });
}

/** Stop the cluster's daemons (radosgw, OSD, monitor); returns the names of those that ran. */
export async function stopRgw(dir: string): Promise<{ dir: string; stopped: string[] }> {
  const p = cephPaths(dir);
  if (!existsSync(p.dir)) return { dir: p.dir, stopped: [] };
  return withLock(p, async () => {
    const stopped: string[] = [];
    for (const d of [...DAEMONS].reverse()) if (await stopDaemon(d, p)) stopped.push(d.name);
    return { dir: p.dir, stopped };
  });
}

export async function rgwStatus(dir: string): Promise<RgwStatus> {
  const p = cephPaths(dir);
  const s = existsSync(p.dir) ? readState(p) : undefined;
  const daemons = {} as Record<DaemonKey, DaemonStatus | null>;
  for (const d of DAEMONS) {
    const pid = existsSync(p.dir) ? findPid(d, p) : undefined;
    daemons[d.key] = pid ? { pid, rssKiB: rssKiB(pid) } : null;
  }
  const all = Object.values(daemons).every((x) => x !== null);
  const s3 = s !== undefined && daemons.rgw !== null && (await s3Answers(endpointOf(s), 3000));
  return {
    dir: p.dir,
    initialized: s !== undefined,
    running: all && s3,
    s3,
    daemons,
    ...(s ? { ...endpointOf(s), port: s.port, region: RGW_REGION } : {}),
  };
}

// ---------------------------------------------------------------- CLI

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  let dir = DEFAULT_RGW_DIR;
  let port: number | undefined;
  let blockSizeBytes: number | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    const v = rest[i + 1];
    if (!['--dir', '--port', '--block-gib'].includes(a!)) throw new Error(`unknown argument ${a}`);
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--dir') dir = path.resolve(v);
    else if (a === '--port') port = Number(v);
    else blockSizeBytes = Number(v) * 1024 ** 3;
    i++;
  }
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new Error('--port takes 0..65535');
  }
  if (blockSizeBytes !== undefined && !(blockSizeBytes >= 1024 ** 3)) throw new Error('--block-gib takes >= 1');
  let out: object;
  if (cmd === 'start') out = await startRgw({ dir, port, blockSizeBytes });
  else if (cmd === 'stop') out = await stopRgw(dir);
  else if (cmd === 'status') out = await rgwStatus(dir);
  else throw new Error('usage: rgw.js start|stop|status [--dir D] [--port P] [--block-gib N]');
  console.log(JSON.stringify({ ok: true, command: cmd, ...out }));
  return cmd === 'status' && !(out as RgwStatus).running ? 3 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      console.log(JSON.stringify({ ok: false, command: process.argv[2], error: err.message }));
      process.exitCode = 1;
    },
  );
}
