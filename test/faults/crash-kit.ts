/**
 * What the crash-recovery suite (test/edge-agent/crash-recovery.test.ts) and
 * the long runner (`npm run crash-loop`, test/faults/crash-loop.ts) share.
 *
 * How a crash is simulated: the agent daemon is spawned in its own process
 * group (`detached: true`) and killed with `kill(-pgid, SIGKILL)`, so the
 * agent and every xorriso it runs die at the same instant, as systemd's
 * KillMode=control-group does to a unit (and as a power cut would, minus the
 * page cache). After each kill the kit waits until no live process of that
 * group is left, then restarts the agent on the same state (same --config).
 *
 * Kill points: after BURN returned (before ingest), at a random time after
 * the agent started (recovery included), or at a random delay after the job
 * reached a step, seen by polling the catalog read-only: ingest, pack,
 * mastering, a copy's write, a copy's read-back (its row is `written`), a copy
 * just verified, a volume finished, cleanup. Every random choice comes from a
 * seeded PRNG (mulberry32) whose seed is printed.
 *
 * What "recovered" means is checked the way a user sees it: the CLI's
 * `optarc status <job> --json`, every disc on the shelf read back with bsdtar,
 * `sha256sum -c` and Payload-Oxum (no xorriso in the check), the staging area
 * and the images directory as files; plus the catalog (opened read-only) for
 * the accounting: every committed file on exactly one volume, every volume on
 * N verified copies, VSNs never assigned twice, and not lost either.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { readVolumeId, releaseWriteOnce } from '../../edge-agent/drives/stand-in-medium.js';
import { BIN, type RunResult, run } from '../helpers/processes.js';

export const MiB = 1024 * 1024;

// --- seeded randomness -------------------------------------------------------

export interface Rng {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
}

/** mulberry32: small, fast, good enough to spread kill points; the same seed gives the same choices. */
export function prng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed: seed >>> 0,
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
  };
}

/** The seed from OPTARC_CRASH_SEED (to replay a run), or a fresh one. */
export function seedFromEnv(): number {
  const s = process.env.OPTARC_CRASH_SEED;
  if (s !== undefined && s !== '') {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`OPTARC_CRASH_SEED must be a whole number, not ${s}`);
    return n >>> 0;
  }
  return randomBytes(4).readUInt32BE(0);
}

// --- the agent, in its own process group -----------------------------------

export interface CrashAgentOptions {
  /** Stand-in drives sr0..; default 2. */
  drives?: number;
  /** xorriso write speed of every drive (libburn throttles stdio: in 16 MiB steps, so small images ignore it). */
  speed?: number;
  /** Settings merged into agent.burn. */
  burn?: Record<string, unknown>;
  /** Argument vector the agent runs under, e.g. unshare + mounts for a private mount namespace. */
  wrap?: (argv: string[]) => string[];
  /** Directory to use (made if missing); default a fresh temp dir. */
  dir?: string;
}

interface Running {
  child: ChildProcess;
  pid: number;
  spawnedAt: number;
  ready: Promise<{ rpcPort: number }>;
  exited: Promise<void>;
}

export class CrashAgent {
  readonly dir: string;
  readonly state: string;
  readonly stage: string;
  readonly shelf: string;
  readonly images: string;
  readonly catalogFile: string;
  readonly config: string;
  readonly driveNames: string[];
  readonly pm: number;
  private readonly wrap: (argv: string[]) => string[];
  private current: Running | undefined;
  private readonly stderrLines: string[] = [];
  /** How many times the agent was started and killed. */
  starts = 0;
  kills = 0;

  private constructor(dir: string, pm: number, options: CrashAgentOptions) {
    this.dir = dir;
    this.state = path.join(dir, 'state');
    this.stage = path.join(dir, 'stage');
    this.shelf = path.join(dir, 'shelf');
    this.images = path.join(this.state, 'images');
    this.catalogFile = path.join(this.state, 'catalog.sqlite');
    this.config = path.join(dir, 'agent.json');
    this.driveNames = Array.from({ length: options.drives ?? 2 }, (_, i) => `sr${i}`);
    this.pm = pm;
    this.wrap = options.wrap ?? ((argv) => argv);
  }

  static async create(options: CrashAgentOptions = {}): Promise<CrashAgent> {
    const dir = options.dir ?? (await fs.mkdtemp(path.join(tmpdir(), 'optarc-crash-')));
    await fs.mkdir(dir, { recursive: true });
    const agent = new CrashAgent(dir, await quietPort(), options);
    const drives = agent.driveNames.map((name) => ({
      name,
      address: `stdio:${agent.mediumPath(name)}`,
      ...(options.speed ? { speed: options.speed } : {}),
      standIn: { shelf: agent.shelf },
    }));
    await fs.writeFile(
      agent.config,
      JSON.stringify({
        log: { level: 'warn' },
        agent: {
          portmap: { port: agent.pm },
          stateDir: agent.state,
          staging: { root: agent.stage, minFreeBytes: 0 },
          burn: { imagesDir: agent.images, ...options.burn },
          drives,
        },
      }),
    );
    return agent;
  }

  driveDir(name: string): string {
    return path.join(this.dir, 'drives', name);
  }

  mediumPath(name: string): string {
    return path.join(this.driveDir(name), 'medium');
  }

  get pid(): number | undefined {
    return this.current?.pid;
  }

  get alive(): boolean {
    return this.current !== undefined && this.current.child.exitCode === null && this.current.child.signalCode === null;
  }

  /** When the running agent was spawned (performance.now()). */
  get spawnedAt(): number {
    return this.current?.spawnedAt ?? 0;
  }

  /** Spawns the agent in a process group of its own; `ready` resolves on its "ready" line. */
  spawn(): Running {
    if (this.alive) throw new Error('the agent is running already');
    const argv = this.wrap([process.execPath, BIN.agent, '--config', this.config]);
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.starts++;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const ready = new Promise<{ rpcPort: number }>((resolve, reject) => {
      let out = '';
      let errPartial = '';
      const timer = setTimeout(() => reject(new Error(`agent not ready after 30 s:\n${this.log()}`)), 30_000);
      child.stdout!.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.includes('"ready"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line));
        }
      });
      child.stderr!.on('data', (d) => {
        const lines = (errPartial + String(d)).split('\n');
        errPartial = lines.pop() ?? '';
        this.stderrLines.push(...lines);
        if (this.stderrLines.length > 400) this.stderrLines.splice(0, this.stderrLines.length - 400);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`agent exited (${code ?? signal}) before ready:\n${this.log()}`));
      });
    });
    ready.catch(() => {});
    if (child.pid === undefined) throw new Error('the agent could not be spawned');
    this.current = { child, pid: child.pid, spawnedAt: performance.now(), ready, exited };
    return this.current;
  }

  /** Spawns the agent and waits until it serves. */
  async start(): Promise<void> {
    await this.spawn().ready;
  }

  /** Waits until the running agent serves. */
  async ready(): Promise<void> {
    if (!this.current) throw new Error('the agent is not running');
    await this.current.ready;
  }

  /** kill -9 of the whole process group; resolves once no live process of the group is left. */
  async kill(): Promise<void> {
    const r = this.current;
    if (!r) return;
    try {
      process.kill(-r.pid, 'SIGKILL');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
    this.kills++;
    await r.exited;
    const deadline = performance.now() + 10_000;
    for (;;) {
      const left = liveGroupMembers(r.pid);
      if (left.length === 0) break;
      if (performance.now() > deadline) {
        throw new Error(`processes of the killed agent's group ${r.pid} survive: ${left.join(', ')}`);
      }
      await sleep(10);
    }
    this.current = undefined;
  }

  /** A graceful stop (SIGTERM), as systemd stops the unit. */
  async stop(): Promise<void> {
    const r = this.current;
    if (!r || !this.alive) {
      this.current = undefined;
      return;
    }
    r.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(-r.pid, 'SIGKILL');
      } catch {}
    }, 15_000);
    await r.exited;
    clearTimeout(timer);
    this.current = undefined;
  }

  cli(...args: string[]): Promise<RunResult> {
    return run(BIN.optarc, [...args, '--portmap-port', String(this.pm)], {}, 120_000);
  }

  /** The agent's stderr (warnings and errors), last lines. */
  log(lines = 60): string {
    return this.stderrLines.slice(-lines).join('\n');
  }

  /** Kill the agent and remove its directory. */
  async dispose(keep = false): Promise<void> {
    await this.kill().catch(() => {});
    if (keep) return;
    await releaseWriteOnce(this.dir); // a closed stand-in disc left in a drive is immutable
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * A port for the agent's portmapper that stays free across restarts: below the
 * kernel's ephemeral range (32768-60999 here), so no outgoing connection of
 * this host (the CLI's, other tests') takes it while the agent is down, as
 * one did to a port freePort() gave, failing a restart with EADDRINUSE.
 */
export async function quietPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await Promise.all([
      new Promise<boolean>((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
      }),
      new Promise<boolean>((resolve) => {
        const u = dgram.createSocket('udp4');
        u.once('error', () => resolve(false));
        u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
      }),
    ]);
    if (free.every(Boolean)) return port;
  }
}

/** Live (not zombie) processes whose process group is `pgid`, as "pid comm". */
export function liveGroupMembers(pgid: number): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    const state = fields[0];
    const pgrp = Number(fields[2]);
    if (pgrp === pgid && state !== 'Z' && state !== 'X') {
      out.push(`${name} ${stat.slice(stat.indexOf('(') + 1, close)}`);
    }
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// --- the catalog, read-only ---------------------------------------------------

export interface JournalEntry {
  id: number;
  volumeId: number | null;
  step: string;
  event: string;
  detail: string;
}

export interface CopyEntry {
  id: number;
  volumeId: number;
  vsn: string;
  copyNo: number;
  attempt: number;
  drive: string;
  medium: string | null;
  state: string;
  error: string;
}

export interface VolumeEntry {
  id: number;
  vsn: string;
  jobId: number;
  state: string;
  requiredCopies: number;
  imagePath: string | null;
  imageBytes: number | null;
  imageSha256: Buffer | null;
}

/** The agent's catalog opened read-only, the way an operator's sqlite3 shell would look at it. */
export class CatalogView {
  private db: Database.Database | undefined;
  constructor(readonly file: string) {}

  private get conn(): Database.Database {
    this.db ??= new Database(this.file, { readonly: true, fileMustExist: true });
    return this.db;
  }

  /** Runs a read, reopening once if the connection went stale across an agent restart. */
  private read<T>(f: (db: Database.Database) => T): T {
    try {
      return f(this.conn);
    } catch {
      this.close();
      return f(this.conn);
    }
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }

  job(id: number): { state: string; message: string } | undefined {
    return this.read((db) => db.prepare('SELECT state, message FROM jobs WHERE id = ?').get(id) as any);
  }

  journal(jobId: number, afterId = 0): JournalEntry[] {
    return this.read((db) =>
      (
        db
          .prepare(
            'SELECT id, volume_id AS volumeId, step, event, detail FROM journal WHERE job_id = ? AND id > ? ORDER BY id',
          )
          .all(jobId, afterId) as any[]
      ).map((r) => ({ ...r })),
    );
  }

  lastJournalId(jobId: number): number {
    return this.read(
      (db) =>
        (db.prepare('SELECT MAX(id) AS m FROM journal WHERE job_id = ?').get(jobId) as { m: number | null }).m ?? 0,
    );
  }

  volumes(jobId?: number): VolumeEntry[] {
    return this.read((db) =>
      (
        db
          .prepare(
            `SELECT id, vsn, job_id AS jobId, state, required_copies AS requiredCopies, image_path AS imagePath,
                    image_bytes AS imageBytes, image_sha256 AS imageSha256
             FROM volumes ${jobId === undefined ? '' : 'WHERE job_id = ?'} ORDER BY id`,
          )
          .all(...(jobId === undefined ? [] : [jobId])) as any[]
      ).map((r) => ({ ...r })),
    );
  }

  copies(jobId?: number): CopyEntry[] {
    return this.read((db) =>
      (
        db
          .prepare(
            `SELECT c.id, c.volume_id AS volumeId, v.vsn, c.copy_no AS copyNo, c.attempt, c.drive, c.medium, c.state, c.error
             FROM copies c JOIN volumes v ON v.id = c.volume_id
             ${jobId === undefined ? '' : 'WHERE v.job_id = ?'} ORDER BY c.id`,
          )
          .all(...(jobId === undefined ? [] : [jobId])) as any[]
      ).map((r) => ({ ...r })),
    );
  }

  /** Files of a job and the volumes holding them (one row per piece). */
  filePlacement(jobId: number): { path: string; state: string; size: number; vsns: string[] }[] {
    return this.read((db) =>
      (
        db
          .prepare(
            `SELECT f.path, f.state, f.size, group_concat(v.vsn, ' ') AS vsns
             FROM files f LEFT JOIN volume_files vf ON vf.file_id = f.id LEFT JOIN volumes v ON v.id = vf.volume_id
             WHERE f.job_id = ? GROUP BY f.id ORDER BY f.id`,
          )
          .all(jobId) as any[]
      ).map((r) => ({
        path: Buffer.from(r.path).toString('utf8'),
        state: r.state,
        size: Number(r.size),
        vsns: r.vsns ? String(r.vsns).split(' ') : [],
      })),
    );
  }

  /** Image paths a volume holds. */
  volumePaths(volumeId: number): string[] {
    return this.read((db) =>
      (db.prepare('SELECT image_path FROM volume_files WHERE volume_id = ?').all(volumeId) as any[]).map((r) =>
        Buffer.from(r.image_path).toString('utf8'),
      ),
    );
  }

  nextVsn(): number {
    return this.read((db) => Number((db.prepare(`SELECT value FROM meta WHERE key = 'next_vsn'`).get() as any).value));
  }
}

// --- what a kill hit ------------------------------------------------------------

export type Phase = 'queued' | 'ingest' | 'pack' | 'master' | 'write' | 'verify' | 'between' | 'cleanup' | 'done';

/** The steps the job was in when it was killed, read from the catalog once the agent is dead. */
export function phasesAt(view: CatalogView, jobId: number): Phase[] {
  const job = view.job(jobId);
  if (!job || job.state === 'done' || job.state === 'failed') return ['done'];
  const journal = view.journal(jobId);
  const has = (step: string, event: string) => journal.some((j) => j.step === step && j.event === event);
  if (journal.length === 0) return ['queued'];
  if (!has('ingest', 'done')) return ['ingest'];
  if (!has('pack', 'done') && view.volumes(jobId).length === 0) return ['pack'];
  if (has('cleanup', 'begin')) return ['cleanup'];
  const phases = new Set<Phase>();
  const mastering = new Map<number, boolean>();
  for (const j of journal)
    if (j.step === 'master' && j.volumeId !== null) mastering.set(j.volumeId, j.event === 'begin');
  if ([...mastering.values()].some(Boolean)) phases.add('master');
  for (const c of view.copies(jobId)) {
    if (c.state === 'writing') phases.add('write');
    if (c.state === 'written') phases.add('verify');
  }
  if (phases.size === 0) phases.add('between');
  return [...phases];
}

// --- kill triggers ----------------------------------------------------------------

export type EventName = 'ingest' | 'pack' | 'master' | 'write' | 'verify' | 'verified' | 'finish' | 'cleanup';

export type Trigger =
  /** At once after BURN returned its job id. */
  | { kind: 'after-burn' }
  /** `ms` after the agent was spawned (its recovery included). */
  | { kind: 'time'; ms: number }
  /** `delayMs` after the job next reaches `on`. */
  | { kind: 'event'; on: EventName; delayMs: number };

export function describeTrigger(t: Trigger): string {
  if (t.kind === 'after-burn') return 'right after BURN returned';
  if (t.kind === 'time') return `${t.ms} ms after start`;
  return `${t.delayMs} ms after ${t.on}`;
}

/**
 * Events the job can still reach, given how far it got. `down`: the trigger
 * is armed while the agent is down, so a step it replays from the start counts.
 */
function possibleEvents(view: CatalogView, jobId: number, down: boolean): EventName[] {
  const journal = view.journal(jobId);
  const has = (step: string, event: string) => journal.some((j) => j.step === step && j.event === event);
  const volumes = view.volumes(jobId);
  const out: EventName[] = [];
  if (!has('ingest', down ? 'done' : 'begin')) out.push('ingest');
  if (!has('pack', down ? 'done' : 'begin')) out.push('pack');
  if (volumes.length === 0 || volumes.some((v) => v.state === 'hot')) out.push('master');
  if (volumes.length === 0 || volumes.some((v) => v.state !== 'finished'))
    out.push('write', 'verify', 'verified', 'finish');
  out.push('cleanup');
  return out;
}

const DELAYS: Record<EventName, [number, number]> = {
  ingest: [0, 40],
  pack: [0, 2],
  master: [0, 700],
  write: [0, 500],
  verify: [0, 80],
  verified: [0, 3],
  finish: [0, 3],
  cleanup: [0, 15],
};

/**
 * The next kill point: a time after start about a third of the time, else an
 * event the job can still reach, preferring the phases hit least so far.
 */
export function chooseTrigger(
  rng: Rng,
  view: CatalogView,
  jobId: number,
  hits: Map<string, number>,
  timeSpanMs: number,
  down: boolean,
): Trigger {
  if (rng.next() < 0.3) return { kind: 'time', ms: rng.int(0, timeSpanMs) };
  const possible = possibleEvents(view, jobId, down);
  const least = Math.min(...possible.map((e) => hits.get(e) ?? 0));
  const rare = possible.filter((e) => (hits.get(e) ?? 0) <= least + 1);
  const on = rng.pick(rare);
  const [lo, hi] = DELAYS[on];
  return { kind: 'event', on, delayMs: rng.int(lo, hi) };
}

/** A snapshot to tell a new event from one that happened before the trigger was armed. */
interface Mark {
  journalId: number;
  written: Set<number>;
}

function mark(view: CatalogView, jobId: number): Mark {
  return {
    journalId: view.lastJournalId(jobId),
    written: new Set(
      view
        .copies(jobId)
        .filter((c) => c.state === 'written')
        .map((c) => c.id),
    ),
  };
}

function reached(view: CatalogView, jobId: number, on: EventName, m: Mark): boolean {
  if (on === 'verify') return view.copies(jobId).some((c) => c.state === 'written' && !m.written.has(c.id));
  const rows = view.journal(jobId, m.journalId);
  switch (on) {
    case 'ingest':
      return rows.some((r) => r.step === 'ingest' && r.event === 'begin');
    case 'pack':
      return rows.some((r) => r.step === 'pack' && r.event === 'begin');
    case 'master':
      return rows.some((r) => r.step === 'master' && r.event === 'begin');
    case 'write':
      return rows.some((r) => /^copy \d+$/.test(r.step) && r.event === 'begin');
    case 'verified':
      return rows.some((r) => /^copy \d+$/.test(r.step) && r.event === 'done');
    case 'finish':
      return rows.some((r) => r.step === 'finish' && r.event === 'done');
    case 'cleanup':
      return rows.some((r) => r.step === 'cleanup' && r.event === 'begin');
  }
}

function jobEnded(view: CatalogView, jobId: number): boolean {
  const s = view.job(jobId)?.state;
  return s === 'done' || s === 'failed';
}

export interface KillRecord {
  job: number;
  trigger: string;
  /** ms from the agent's spawn (or from the BURN, for the running agent) to the kill. */
  atMs: number;
  phases: Phase[];
  /** The journal's last entry before the kill. */
  last: string;
}

export interface CrashRunOptions {
  /** Kills for this job at most; then it is left to finish. */
  maxKills: number;
  /** Spread of time triggers (ms after start). */
  timeSpanMs?: number;
  /** Give up waiting for the job after this long without a kill (ms). */
  finishTimeoutMs?: number;
  /** The first kill lands right after BURN returned (the caller just submitted the job). */
  afterBurn?: boolean;
  /** Events to kill at first, in order (each skipped once the job is past it); then random ones. */
  schedule?: EventName[];
  /** Kill-point counts by trigger, shared across jobs to spread them. */
  hits?: Map<string, number>;
  onKill?: (k: KillRecord) => void;
}

/**
 * Kills the agent at chosen points of job `jobId` and restarts it on the same
 * state each time, until the job has ended. Each trigger is armed while the
 * agent is down, so a kill can land during the restart's own recovery.
 * Returns the kills that landed while the job was unfinished (a trigger the
 * job outran is no kill point). The agent is left running and ready.
 */
export async function crashUntilDone(
  agent: CrashAgent,
  view: CatalogView,
  jobId: number,
  rng: Rng,
  options: CrashRunOptions,
): Promise<KillRecord[]> {
  const kills: KillRecord[] = [];
  const hits = options.hits ?? new Map<string, number>();
  const timeSpan = options.timeSpanMs ?? 4000;
  const schedule = [...(options.schedule ?? [])];
  const next = (down: boolean): Trigger => {
    const possible = possibleEvents(view, jobId, down);
    while (schedule.length > 0) {
      const on = schedule.shift()!;
      if (!possible.includes(on)) continue;
      // a scheduled kill is meant to land inside its step: the short end of the spread
      const [lo, hi] = DELAYS[on];
      return { kind: 'event', on, delayMs: rng.int(lo, Math.ceil(hi / 3)) };
    }
    return chooseTrigger(rng, view, jobId, hits, timeSpan, down);
  };
  let trigger: Trigger = options.afterBurn ? { kind: 'after-burn' } : next(false);
  let m = mark(view, jobId);
  // a time trigger counts from the agent's spawn, or from now for a job the running agent took
  let armedAt = performance.now();
  for (;;) {
    if (jobEnded(view, jobId)) break;
    let fire = false;
    if (trigger.kind === 'after-burn') fire = true;
    else if (trigger.kind === 'time') {
      const at = Math.max(agent.spawnedAt, armedAt) + trigger.ms;
      while (!jobEnded(view, jobId) && performance.now() < at) {
        if (!agent.alive) throw new Error(`the agent died on its own:\n${agent.log()}`);
        await sleep(Math.min(3, at - performance.now()));
      }
      fire = !jobEnded(view, jobId);
    } else {
      const deadline = performance.now() + (options.finishTimeoutMs ?? 120_000);
      while (performance.now() < deadline) {
        if (jobEnded(view, jobId)) break;
        if (reached(view, jobId, trigger.on, m)) {
          fire = true;
          break;
        }
        if (!agent.alive) throw new Error(`the agent died on its own:\n${agent.log()}`);
        await sleep(3);
      }
      if (fire && trigger.delayMs > 0) await sleep(trigger.delayMs);
    }
    if (!fire) {
      if (jobEnded(view, jobId)) break;
      throw new Error(`job ${jobId} made no progress toward ${describeTrigger(trigger)}:\n${agent.log()}`);
    }
    const atMs = Math.round(performance.now() - Math.max(agent.spawnedAt, armedAt));
    await agent.kill();
    const phases = phasesAt(view, jobId);
    const lastRow = view.journal(jobId).at(-1);
    if (!phases.includes('done')) {
      const key = trigger.kind === 'event' ? trigger.on : trigger.kind;
      hits.set(key, (hits.get(key) ?? 0) + 1);
      const k: KillRecord = {
        job: jobId,
        trigger: describeTrigger(trigger),
        atMs,
        phases,
        last: lastRow ? `${lastRow.step} ${lastRow.event}${lastRow.detail ? ` (${lastRow.detail})` : ''}` : 'none',
      };
      kills.push(k);
      options.onKill?.(k);
    }
    if (kills.length >= options.maxKills) break;
    trigger = next(true);
    m = mark(view, jobId);
    armedAt = performance.now();
    agent.spawn();
  }
  if (!agent.alive) agent.spawn();
  await agent.ready();
  await waitForJob(view, jobId, options.finishTimeoutMs ?? 120_000, agent);
  return kills;
}

export async function waitForJob(view: CatalogView, jobId: number, timeoutMs: number, agent?: CrashAgent) {
  const deadline = performance.now() + timeoutMs;
  while (!jobEnded(view, jobId)) {
    if (performance.now() > deadline) throw new Error(`job ${jobId} did not end in ${timeoutMs} ms:\n${agent?.log()}`);
    if (agent && !agent.alive) throw new Error(`the agent died on its own:\n${agent.log()}`);
    await sleep(20);
  }
}

// --- staging a job ------------------------------------------------------------------

/**
 * A tree for three test-8m volumes: three directories of ~5 MiB (each fits a
 * volume, no two fit together) holding a few big files and many small ones
 * (so ingest and cleanup take long enough to be hit), and small top-level files.
 */
export function jobTreeSizes(rng: Rng, small = 60): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const d of ['alpha', 'beta', 'gamma']) {
    sizes[`${d}/big-1.bin`] = 2 * MiB + rng.int(0, 512 * 1024);
    sizes[`${d}/big-2.bin`] = MiB + rng.int(0, 512 * 1024);
    sizes[`${d}/sub/big-3.bin`] = MiB + rng.int(0, 256 * 1024);
    for (let i = 0; i < small; i++) sizes[`${d}/sub/s${String(i).padStart(3, '0')}.dat`] = rng.int(0, 6000);
  }
  for (let i = 0; i < 10; i++) sizes[`top-${i}.txt`] = rng.int(1, 3000);
  sizes['empty.dat'] = 0;
  return sizes;
}

/** Stages `src` with the CLI (`optarc put`) and submits a BURN; returns the job id. */
export async function stageAndBurn(
  agent: CrashAgent,
  src: string,
  burn: { copies: number; media: string; label?: string },
  client = 'crash-site',
): Promise<number> {
  const put = await agent.cli('put', src, '--client', client, '--json');
  if (put.code !== 0) throw new Error(`optarc put failed (${put.code}): ${put.stderr}\n${agent.log()}`);
  const b = await agent.cli(
    'burn',
    '--copies',
    String(burn.copies),
    '--media',
    burn.media,
    '--label',
    burn.label ?? 'CRASH',
    '--client',
    client,
    '--json',
  );
  if (b.code !== 0) throw new Error(`optarc burn failed (${b.code}): ${b.stderr}\n${agent.log()}`);
  return Number(JSON.parse(b.stdout).job);
}

// --- reading a disc without xorriso ---------------------------------------------------

function exec(file: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * Reads a disc with bsdtar (libarchive), checks its bag with `sha256sum -c`
 * and its Payload-Oxum, and returns the payload (path under data/ → bytes)
 * with every problem found.
 */
export async function readDisc(disc: string): Promise<{ payload: Map<string, Buffer>; problems: string[] }> {
  const problems: string[] = [];
  const payload = new Map<string, Buffer>();
  const out = await fs.mkdtemp(path.join(tmpdir(), 'optarc-disc-'));
  try {
    const x = await exec('bsdtar', ['-xf', disc, '-C', out]);
    if (x.code !== 0) return { payload, problems: [`bsdtar cannot extract ${disc}: ${x.stderr.trim()}`] };
    const check = await exec('sha256sum', ['--strict', '--quiet', '-c', 'manifest-sha256.txt'], out);
    if (check.code !== 0) problems.push(`sha256sum -c fails on ${disc}: ${(check.stdout + check.stderr).trim()}`);
    const walk = async (dir: string, rel: string) => {
      for (const e of await fs.readdir(dir, { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(path.join(dir, e.name), r);
        else payload.set(r, await fs.readFile(path.join(dir, e.name)));
      }
    };
    await walk(path.join(out, 'data'), '');
    const info = await fs.readFile(path.join(out, 'bag-info.txt'), 'utf8').catch(() => '');
    const oxum = /^Payload-Oxum:\s*(\d+)\.(\d+)\s*$/m.exec(info);
    let bytes = 0;
    for (const d of payload.values()) bytes += d.length;
    if (!oxum) problems.push(`${disc}: bag-info.txt has no Payload-Oxum`);
    else if (Number(oxum[1]) !== bytes || Number(oxum[2]) !== payload.size) {
      problems.push(`${disc}: Payload-Oxum ${oxum[1]}.${oxum[2]} but the payload is ${bytes}.${payload.size}`);
    }
  } finally {
    await fs.rm(out, { recursive: true, force: true });
  }
  return { payload, problems };
}

async function sha256Prefix(file: string, bytes: number): Promise<Buffer> {
  const h = createHash('sha256');
  const fh = await fs.open(file, 'r');
  try {
    for await (const chunk of fh.createReadStream({ start: 0, end: bytes - 1, highWaterMark: MiB })) h.update(chunk);
  } finally {
    await fh.close().catch(() => {});
  }
  return h.digest();
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  await walk(dir, '');
  return out;
}

// --- the invariants -------------------------------------------------------------------------

export interface JobCheck {
  violations: string[];
  vsns: string[];
  /** Attempts the crashes cut short (marked bad as interrupted) and other bad attempts. */
  interrupted: number;
  bad: number;
  discsRead: number;
}

/**
 * Everything a finished job must satisfy after any number of crashes:
 * - the CLI reports it done at 100 %, naming its volumes;
 * - every committed file is on exactly one volume, archived in the catalog;
 * - every volume is finished with exactly one verified copy per copy number,
 *   each on the shelf as <vsn>-<n>.iso, read back by bsdtar byte-identical to
 *   the sources, its bag valid, its first image-size bytes equal to the image;
 * - no attempt is left `writing` or `written`;
 * - the job's area is gone, the burned files left the staged tree.
 */
export async function checkJob(
  agent: CrashAgent,
  view: CatalogView,
  jobId: number,
  sources: Map<string, Buffer>,
  copies: number,
): Promise<JobCheck> {
  const v: string[] = [];
  const result: JobCheck = { violations: v, vsns: [], interrupted: 0, bad: 0, discsRead: 0 };
  const status = await agent.cli('status', String(jobId), '--json');
  if (status.code !== 0) {
    v.push(`optarc status ${jobId} failed (${status.code}): ${status.stderr}`);
    return result;
  }
  const s = JSON.parse(status.stdout) as {
    stateName: string;
    percent: number;
    message: string;
    volumes: { vsn: string }[];
  };
  if (s.stateName !== 'done') v.push(`job ${jobId} is ${s.stateName}, not done: ${s.message}`);
  if (s.percent !== 100) v.push(`job ${jobId} reports ${s.percent} %, not 100`);
  const volumes = view.volumes(jobId);
  result.vsns = volumes.map((x) => x.vsn);
  const cliVsns = s.volumes.map((x) => x.vsn);
  if (cliVsns.join(' ') !== result.vsns.join(' ')) {
    v.push(`the CLI names volumes ${cliVsns.join(' ')}, the catalog ${result.vsns.join(' ')}`);
  }
  if (volumes.length === 0) v.push(`job ${jobId} has no volumes`);

  // the journal tells the whole story, however often the agent died: every step ended
  const journal = view.journal(jobId);
  const ended = (step: string, volumeId: number | null = null) =>
    journal.some((j) => j.step === step && j.event === 'done' && (volumeId === null || j.volumeId === volumeId));
  for (const step of ['ingest', 'pack', 'cleanup']) if (!ended(step)) v.push(`the journal never says ${step} done`);
  for (const vol of volumes) {
    for (const step of ['master', 'finish']) {
      if (!ended(step, vol.id)) v.push(`the journal never says ${step} done for ${vol.vsn}`);
    }
  }

  // every committed file on exactly one volume
  const placement = view.filePlacement(jobId);
  const placed = new Map(placement.map((f) => [f.path, f]));
  for (const p of sources.keys()) {
    const f = placed.get(p);
    if (!f) v.push(`${p} was committed but the job did not take it`);
    else {
      if (f.vsns.length !== 1) v.push(`${p} is on ${f.vsns.length} volumes (${f.vsns.join(' ')}), not exactly one`);
      if (f.state !== 'archived') v.push(`${p} is ${f.state} in the catalog, not archived`);
    }
  }
  for (const f of placement) if (!sources.has(f.path)) v.push(`the job took ${f.path}, which was never staged`);

  // every volume: N verified copies on the shelf, byte-identical
  const rows = view.copies(jobId);
  const seen = new Map<string, string>();
  for (const vol of volumes) {
    if (vol.state !== 'finished') v.push(`${vol.vsn} is ${vol.state}, not finished`);
    if (vol.requiredCopies !== copies) v.push(`${vol.vsn} requires ${vol.requiredCopies} copies, not ${copies}`);
    const mine = rows.filter((c) => c.volumeId === vol.id);
    for (const c of mine) {
      if (c.state === 'writing' || c.state === 'written') {
        v.push(`${vol.vsn} copy ${c.copyNo} attempt ${c.attempt} was left ${c.state}`);
      }
      if (c.state === 'bad') {
        if (c.error.startsWith('INTERRUPTED')) result.interrupted++;
        else result.bad++;
      }
    }
    const expected = vol.imagePath ? new Set(view.volumePaths(vol.id)) : new Set<string>();
    let first: Map<string, Buffer> | undefined;
    for (let n = 1; n <= copies; n++) {
      const verified = mine.filter((c) => c.copyNo === n && c.state === 'verified');
      if (verified.length !== 1) {
        v.push(`${vol.vsn} copy ${n} has ${verified.length} verified attempts, not exactly one`);
        continue;
      }
      const slot = path.join(agent.shelf, `${vol.vsn}-${n}.iso`);
      if (verified[0]!.medium !== slot)
        v.push(`${vol.vsn} copy ${n} is recorded at ${verified[0]!.medium}, not ${slot}`);
      const st = await fs.stat(slot).catch(() => null);
      if (!st) {
        v.push(`${vol.vsn} copy ${n} is not on the shelf (${slot})`);
        continue;
      }
      if (vol.imageBytes === null || vol.imageSha256 === null) v.push(`${vol.vsn} has no image recorded`);
      else if (!(await sha256Prefix(slot, vol.imageBytes)).equals(Buffer.from(vol.imageSha256))) {
        v.push(`${vol.vsn} copy ${n}: its first ${vol.imageBytes} bytes differ from the image`);
      }
      const label = await readVolumeId(slot).catch(() => undefined);
      if (label !== vol.vsn) v.push(`${slot} carries volume id ${label}, not ${vol.vsn}`);
      const disc = await readDisc(slot);
      result.discsRead++;
      v.push(...disc.problems);
      for (const [p, data] of disc.payload) {
        const src = sources.get(p);
        if (!src) v.push(`${vol.vsn} copy ${n} holds ${p}, which was never staged`);
        else if (!src.equals(data)) v.push(`${vol.vsn} copy ${n}: ${p} differs from its source`);
        if (!expected.has(p)) v.push(`${vol.vsn} copy ${n} holds ${p}, which the catalog does not place on it`);
      }
      for (const p of expected) if (!disc.payload.has(p)) v.push(`${vol.vsn} copy ${n} lacks ${p}`);
      if (!first) {
        first = disc.payload;
        for (const p of disc.payload.keys()) {
          if (seen.has(p)) v.push(`${p} is on ${vol.vsn} and on ${seen.get(p)}`);
          seen.set(p, vol.vsn);
        }
      } else if ([...disc.payload.keys()].sort().join('\n') !== [...first.keys()].sort().join('\n')) {
        v.push(`${vol.vsn} copy ${n} holds other files than copy 1`);
      }
    }
  }
  for (const p of sources.keys()) if (!seen.has(p)) v.push(`${p} is on no disc`);

  // nothing of the job left in the stage area
  const area = path.join(agent.stage, 'jobs', String(jobId));
  if (await fs.stat(area).catch(() => null)) v.push(`the job's area ${area} is left behind`);
  for (const client of await fs.readdir(path.join(agent.stage, 'sessions')).catch(() => [] as string[])) {
    for (const f of await walkFiles(path.join(agent.stage, 'sessions', client, 'tree'))) {
      if (sources.has(f)) v.push(`${f} was burned but is still staged in ${client}'s tree`);
    }
  }
  return result;
}

export interface StateCheck {
  violations: string[];
  volumes: number;
  nextVsn: number;
  shelved: { good: number; bad: number; interrupted: number; other: number };
}

/**
 * What must hold of the agent's whole state between jobs:
 * - VSNs: unique, and contiguous from the first (<prefix>000001 ..), with the
 *   counter one past the last (none issued and lost);
 * - the shelf: every untagged disc is a verified copy in the catalog; every
 *   disc that carries an ISO volume id belongs to that volume and holds the
 *   start of its image (a disc is never burned under another volume's VSN,
 *   nor a VSN over other data);
 * - the drives hold nothing but blanks; `<stage>/jobs` is empty; no
 *   `*.partial` or `*.work` in the images directory.
 */
export async function checkState(
  agent: CrashAgent,
  view: CatalogView,
  options: {
    prefix?: string /** Shelf files already checked (updated): a long run checks each disc once. */;
    checked?: Set<string>;
  } = {},
): Promise<StateCheck> {
  const prefix = options.prefix ?? 'OPT';
  const v: string[] = [];
  const volumes = view.volumes();
  const next = view.nextVsn();
  const result: StateCheck = {
    violations: v,
    volumes: volumes.length,
    nextVsn: next,
    shelved: { good: 0, bad: 0, interrupted: 0, other: 0 },
  };
  const vsns = volumes.map((x) => x.vsn);
  if (new Set(vsns).size !== vsns.length) v.push(`a VSN is assigned twice: ${vsns.join(' ')}`);
  const want = volumes.map((_, i) => `${prefix}${String(i + 1).padStart(6, '0')}`);
  if ([...vsns].sort().join(' ') !== want.join(' ')) v.push(`VSNs are not contiguous: ${vsns.join(' ')}`);
  if (next !== volumes.length + 1) v.push(`the VSN counter is at ${next} with ${volumes.length} volumes issued`);

  const byVsn = new Map(volumes.map((x) => [x.vsn, x]));
  const verified = new Set(
    view
      .copies()
      .filter((c) => c.state === 'verified')
      .map((c) => c.medium),
  );
  for (const name of (await fs.readdir(agent.shelf).catch(() => [] as string[])).sort()) {
    const file = path.join(agent.shelf, name);
    const m = /^([A-Z0-9_]+)-(\d+)(?:\.(bad|interrupted)-\d+)?\.iso$/.exec(name);
    if (!m) {
      v.push(`an unknown file on the shelf: ${name}`);
      result.shelved.other++;
      continue;
    }
    const tag = m[3];
    if (options.checked?.has(name)) {
      if (tag === undefined) result.shelved.good++;
      else if (tag === 'bad') result.shelved.bad++;
      else result.shelved.interrupted++;
      continue;
    }
    options.checked?.add(name);
    if (tag === undefined) {
      result.shelved.good++;
      if (!verified.has(file)) v.push(`${name} is on the shelf but no verified copy in the catalog is it`);
    } else if (tag === 'bad') result.shelved.bad++;
    else result.shelved.interrupted++;
    const st = await fs.stat(file);
    const label = st.size >= 34 * 1024 ? await readVolumeId(file).catch(() => undefined) : undefined;
    if (label === undefined) continue; // too little was written to carry a label
    const vol = byVsn.get(label);
    if (!vol) {
      v.push(`${name} carries volume id ${label}, which the catalog never issued`);
      continue;
    }
    if (vol.imagePath === null || vol.imageBytes === null) continue;
    const n = Math.min(st.size, vol.imageBytes);
    const [a, b] = await Promise.all([sha256Prefix(file, n), sha256Prefix(vol.imagePath, n)]);
    if (!a.equals(b)) v.push(`${name} carries ${label} but its first ${n} bytes are not ${label}'s image`);
  }

  for (const d of agent.driveNames) {
    const st = await fs.stat(agent.mediumPath(d)).catch(() => null);
    if (st?.isFile() && st.size > 0) v.push(`drive ${d} still holds a written disc (${st.size} bytes)`);
  }
  const jobs = await fs.readdir(path.join(agent.stage, 'jobs')).catch(() => [] as string[]);
  if (jobs.length > 0) v.push(`${agent.stage}/jobs is not empty: ${jobs.join(' ')}`);
  for (const f of await fs.readdir(agent.images).catch(() => [] as string[])) {
    if (f.endsWith('.partial') || f.endsWith('.work')) v.push(`${f} is left in the images directory`);
  }
  return result;
}

/** Counts of kill records by phase and by trigger kind. */
export function tally(kills: KillRecord[]): { phases: Record<string, number>; triggers: Record<string, number> } {
  const phases: Record<string, number> = {};
  const triggers: Record<string, number> = {};
  for (const k of kills) {
    for (const p of k.phases) phases[p] = (phases[p] ?? 0) + 1;
    const t = k.trigger.replace(/^\d+ ms (after )?/, '').replace(/^after start$/, 'time');
    triggers[t] = (triggers[t] ?? 0) + 1;
  }
  return { phases, triggers };
}
