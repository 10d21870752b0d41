/**
 * A private PostgreSQL for the local stack and the tests (the shared search index,
 * gateway/search/postgres-index.ts): one cluster that lives entirely in one directory,
 * run from Debian's packages (`postgresql postgresql-contrib`, binaries in
 * /usr/lib/postgresql/<version>/bin, the newest installed version for a new cluster),
 * listening on 127.0.0.1 only, with trust authentication for the superuser `postgres`
 * (loopback and the unix socket, which sits in the data directory).
 *
 *   startPostgres({ dir, port })  cold start (initdb), restart, or nothing when it runs;
 *                                 resolves once a connection answers `SELECT 1`
 *   stopPostgres(dir)             fast shutdown (sessions are disconnected)
 *   postgresStatus(dir)           whether the postmaster runs (pid, RSS) and answers
 *   node dist/infra/postgres/postgres.js start|stop|status [--dir D] [--port P]
 *                                 prints one JSON line; exit status 1 on failure, and
 *                                 3 from `status` when the cluster is not running
 *                                 (defaults: --dir var/postgres, --port the last one
 *                                 used, else 5433)
 *
 * Layout: `dir/data` (PGDATA, mode 0700, and the socket), `dir/log/postgres.log`,
 * `dir/postgres.json` (port, URL, version: written only once a cold start has fully
 * succeeded, so a directory without it is wiped and rebuilt) and `dir/lock`: every call
 * is idempotent and serialised by that lock, so test processes starting the cluster at
 * once share one. PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as
 * the `postgres` system user (`runuser -u postgres --`) and the data directory is
 * chowned to it; when a directory above `dir` does not let that user through (a checkout
 * under /root), the data and log directories go to /var/lib/optarc-postgres/<hash of dir>
 * instead (the state file and the lock stay in `dir`). Otherwise they
 * run as the calling user. The postmaster is recognised by its command line naming
 * `dir/data`, so a stale postmaster.pid never passes for a running server and nothing
 * outside `dir` is ever signalled. Settings are rewritten at each start
 * (`data/optarc.conf`). Timings on a 2-CPU VM: cold start ~1.1 s (initdb), restart ~0.5 s.
 */

import { createHash } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execa } from 'execa';
import pg from 'pg';
import { withDirLock } from '../dir-lock.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEFAULT_PG_DIR = path.join(ROOT, 'var/postgres');
/** Not 5432: a system cluster from the same packages may take that one. */
export const DEFAULT_PG_PORT = 5433;
/** The cluster's superuser (initdb -U), whoever runs the server. */
export const PG_SUPERUSER = 'postgres';
const PACKAGES_BIN = '/usr/lib/postgresql';

export interface PostgresOptions {
  dir: string;
  /** Port on 127.0.0.1; 0 picks a free one. Default: the last one used, else 5433. */
  port?: number;
  /** Give up after this long. Default 60 s. */
  timeoutMs?: number;
}

export interface PostgresInfo {
  dir: string;
  port: number;
  /** The superuser's URL for the `postgres` database. */
  url: string;
  /** The unix socket's directory. */
  socketDir: string;
  version: string;
  pid: number;
  started: 'cold' | 'restart' | 'already-running';
  ms: number;
}

export interface PostgresStatus {
  dir: string;
  initialized: boolean;
  running: boolean;
  answers: boolean;
  pid: number | null;
  rssKiB: number | null;
  port?: number;
  url?: string;
  version?: string;
}

interface PgState {
  version: 1;
  pgVersion: string;
  port: number;
  url: string;
  socketDir: string;
  createdAt: string;
}

interface PgPaths {
  dir: string;
  data: string;
  log: string;
  logFile: string;
  state: string;
  lock: string;
}

/**
 * Whether every existing directory from / down to `dir` lets other users
 * through (o+x): the postgres user must reach its data directory, and a
 * checkout under a private home (/root is 0700) does not let it.
 */
function reachableByOthers(dir: string): boolean {
  let p = path.resolve(dir);
  const chain: string[] = [];
  for (;;) {
    chain.push(p);
    const up = path.dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const d of chain.reverse()) {
    let mode: number;
    try {
      mode = statSync(d).mode;
    } catch {
      return true; // the rest is made by us, 0755
    }
    if ((mode & 0o001) === 0) return false;
  }
  return true;
}

function pgPaths(dir: string): PgPaths {
  const d = path.resolve(dir);
  // as root with `dir` out of the postgres user's reach, the server's own files live under
  // /var/lib/optarc-postgres (one folder per `dir`); the state and the lock stay in `dir`
  const server =
    asRoot() && !reachableByOthers(d)
      ? path.join('/var/lib/optarc-postgres', createHash('sha256').update(d).digest('hex').slice(0, 16))
      : d;
  return {
    dir: d,
    data: path.join(server, 'data'),
    log: path.join(server, 'log'),
    logFile: path.join(server, 'log/postgres.log'),
    state: path.join(d, 'postgres.json'),
    lock: path.join(d, 'lock'),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- binaries and user

/** Installed server versions with their bin directories, newest first. */
export function installedVersions(): { version: string; bin: string }[] {
  let entries: string[];
  try {
    entries = readdirSync(PACKAGES_BIN);
  } catch {
    return [];
  }
  return entries
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .map((v) => ({ version: v, bin: path.join(PACKAGES_BIN, v, 'bin') }))
    .filter((x) => ['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(path.join(x.bin, b))))
    .sort((a, b) => Number(b.version) - Number(a.version));
}

/** Why a cluster cannot run here, or undefined when it can. */
export function postgresMissing(): string | undefined {
  const newest = installedVersions()[0];
  const install = 'run infra/install.sh (apt packages postgresql postgresql-contrib)';
  if (!newest) return `no PostgreSQL server binaries under ${PACKAGES_BIN}/<version>/bin: ${install}`;
  const trgm = `/usr/share/postgresql/${newest.version}/extension/pg_trgm.control`;
  if (!existsSync(trgm)) return `the pg_trgm extension is missing (${trgm}): ${install}`;
  if (process.getuid?.() === 0 && !existsSync('/usr/sbin/runuser') && !existsSync('/sbin/runuser')) {
    return 'running as root needs runuser (util-linux) to run PostgreSQL as the postgres user';
  }
  return undefined;
}

function binFor(version?: string): { version: string; bin: string } {
  const all = installedVersions();
  const found = version === undefined ? all[0] : all.find((x) => x.version === version);
  if (!found) {
    throw new Error(
      version === undefined
        ? (postgresMissing() ?? 'PostgreSQL is not installed')
        : `the cluster was made by PostgreSQL ${version}, which is not installed (have: ${all.map((x) => x.version).join(', ') || 'none'})`,
    );
  }
  return found;
}

const asRoot = () => process.getuid?.() === 0;

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const uid = await execa('id', ['-u', PG_SUPERUSER], { reject: false });
  const gid = await execa('id', ['-g', PG_SUPERUSER], { reject: false });
  if (uid.exitCode !== 0 || gid.exitCode !== 0) {
    throw new Error(`running as root, but there is no ${PG_SUPERUSER} system user (the postgresql package makes it)`);
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Give the server's user what it must own (as root); a no-op otherwise. */
async function ownForServer(...paths: string[]): Promise<void> {
  if (!asRoot()) return;
  const { uid, gid } = await postgresIds();
  for (const p of paths) chownSync(p, uid, gid);
}

/** Environment for the tools: PG* variables from the caller would point them elsewhere. */
function toolEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // and the locale comes from initdb's options alone
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PG') && !k.startsWith('LC_') && k !== 'LANG' && k !== 'LANGUAGE') env[k] = v;
  }
  return env;
}

/** Run a server tool as the server's user; its output goes to dir/log/<label>.log and into the error. */
async function tool(
  p: PgPaths,
  label: string,
  file: string,
  args: string[],
  options: { timeoutMs?: number; detached?: boolean } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const [cmd, argv] = asRoot() ? ['runuser', ['-u', PG_SUPERUSER, '--', file, ...args]] : [file, args];
  const logFile = path.join(p.log, `${label}.log`);
  writeFileSync(logFile, `$ ${cmd} ${argv.join(' ')}\n`);
  // Output to a file, not a pipe: the server pg_ctl leaves running must hold nothing of ours.
  const r = await execa(cmd, argv, {
    reject: false,
    timeout: timeoutMs,
    cwd: p.dir,
    stdin: 'ignore',
    stdout: { file: logFile, append: true },
    stderr: { file: logFile, append: true },
    env: toolEnv(),
    extendEnv: false,
    // its own session: a terminal's ^C to the caller's process group must not reach the server
    detached: options.detached ?? false,
  });
  if (r.exitCode !== 0 || r.timedOut) {
    const why = r.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${r.exitCode ?? r.signal}`;
    throw new Error(`${file} ${args.join(' ')}: ${why}\n${tail(logFile)}\n${tail(p.logFile)}`);
  }
}

function tail(file: string, lines = 15): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  return text ? `--- ${file}\n${text}` : '';
}

// ---------------------------------------------------------------- the postmaster

function cmdline(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw ? raw.split('\0').filter((a) => a !== '') : undefined;
  } catch {
    return undefined;
  }
}

/** The postmaster of `p.data`, from postmaster.pid when that names it. */
function findPid(p: PgPaths): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(p.data, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const argv = cmdline(pid);
  return argv !== undefined && path.basename(argv[0]!) === 'postgres' && argv.includes(p.data) ? pid : undefined;
}

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

function freePort(): Promise<number> {
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

const urlFor = (port: number, database = 'postgres') =>
  `postgres://${PG_SUPERUSER}@127.0.0.1:${port}/${encodeURIComponent(database)}`;

async function answers(url: string, timeoutMs = 3000): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

// ---------------------------------------------------------------- state, settings, lock

function readState(p: PgPaths): PgState | undefined {
  if (!existsSync(p.state)) return undefined;
  return JSON.parse(readFileSync(p.state, 'utf8')) as PgState;
}

function writeState(p: PgPaths, s: PgState): void {
  const tmp = `${p.state}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(tmp, p.state);
}

const confString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** The settings this code wants, included from postgresql.conf, rewritten at each start. */
async function writeConf(p: PgPaths, port: number): Promise<void> {
  const file = path.join(p.data, 'optarc.conf');
  writeFileSync(
    file,
    [
      '# written by infra/postgres/postgres.ts at each start: edits here are lost',
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `unix_socket_directories = ${confString(p.data)}`,
      // parallel test files each hold a pool
      'max_connections = 200',
      'shared_buffers = 512MB',
      'work_mem = 16MB',
      'maintenance_work_mem = 256MB',
      // bulk ingest: fewer forced checkpoints
      'max_wal_size = 4GB',
      "log_line_prefix = '%m [%p] %q%u@%d '",
      'log_min_duration_statement = -1',
      '',
    ].join('\n'),
  );
  await ownForServer(file);
}

/** One caller at a time per directory; a lock left by a dead process is taken over. */
async function withLock<T>(p: PgPaths, fn: () => Promise<T>): Promise<T> {
  mkdirSync(p.dir, { recursive: true });
  return withDirLock(p.lock, fn, { timeoutMs: 120_000, pollMs: 50 });
}

// ---------------------------------------------------------------- the API

async function launch(p: PgPaths, bin: string, port: number, timeoutMs: number): Promise<number> {
  if (!(await portFree(port))) throw new Error(`port 127.0.0.1:${port} is in use: pass another --port`);
  // a postmaster.pid naming a process that is not ours is stale (a crash, a reboot)
  if (findPid(p) === undefined) rmSync(path.join(p.data, 'postmaster.pid'), { force: true });
  await writeConf(p, port);
  const seconds = String(Math.max(5, Math.ceil(timeoutMs / 1000)));
  await tool(
    p,
    'pg_ctl-start',
    path.join(bin, 'pg_ctl'),
    ['start', '-D', p.data, '-l', p.logFile, '-w', '-t', seconds],
    {
      timeoutMs: timeoutMs + 5000,
      detached: true,
    },
  );
  const pid = findPid(p);
  if (!pid) throw new Error(`the postmaster exited right after starting\n${tail(p.logFile)}`);
  return pid;
}

async function waitAnswers(p: PgPaths, url: string, deadline: number): Promise<void> {
  for (;;) {
    if (await answers(url)) return;
    if (!findPid(p)) throw new Error(`the postmaster stopped while waiting for it to answer\n${tail(p.logFile)}`);
    if (Date.now() > deadline) throw new Error(`PostgreSQL on ${url} not answering in time\n${tail(p.logFile)}`);
    await sleep(100);
  }
}

async function stopPostmaster(p: PgPaths, timeoutMs = 60_000): Promise<boolean> {
  const pid = findPid(p);
  if (!pid) return false;
  const state = readState(p);
  let bin: string | undefined;
  try {
    bin = binFor(state?.pgVersion ?? readFileSync(path.join(p.data, 'PG_VERSION'), 'utf8').trim()).bin;
  } catch {
    bin = undefined;
  }
  if (bin) {
    const seconds = String(Math.ceil(timeoutMs / 1000));
    await tool(p, 'pg_ctl-stop', path.join(bin, 'pg_ctl'), ['stop', '-D', p.data, '-m', 'fast', '-w', '-t', seconds], {
      timeoutMs: timeoutMs + 5000,
    }).catch(() => {});
  }
  if (!exited(pid)) {
    process.kill(pid, 'SIGQUIT'); // immediate shutdown
    const deadline = Date.now() + 10_000;
    while (!exited(pid)) {
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGKILL');
        break;
      }
      await sleep(50);
    }
  }
  return true;
}

async function coldStart(p: PgPaths, port: number, deadline: number): Promise<PgState> {
  await stopPostmaster(p);
  rmSync(p.data, { recursive: true, force: true });
  mkdirSync(p.data, { recursive: true, mode: 0o700 });
  await ownForServer(p.data, p.log);
  const { version, bin } = binFor();
  // C.UTF-8 (glibc >= 2.35 has it built in): character classes for all of Unicode, which
  // pg_trgm uses to cut words into trigrams; results are ordered with COLLATE "C" anyway
  const locales = await execa('locale', ['-a'], { reject: false });
  const locale = /^C\.utf-?8$/im.test(locales.stdout ?? '') ? 'C.UTF-8' : 'C';
  await tool(p, 'initdb', path.join(bin, 'initdb'), [
    '-D',
    p.data,
    '-U',
    PG_SUPERUSER,
    '--auth=trust',
    '--encoding=UTF8',
    `--locale=${locale}`,
  ]).catch((err: Error) => {
    if (asRoot() && /Permission denied|could not (access|change)/i.test(err.message)) {
      throw new Error(
        `${err.message}\n(the ${PG_SUPERUSER} user must be able to reach ${p.data}: every directory above it needs o+x)`,
      );
    }
    throw err;
  });
  writeFileSync(path.join(p.data, 'postgresql.conf'), "\ninclude_if_exists = 'optarc.conf'\n", { flag: 'a' });
  const s: PgState = {
    version: 1,
    pgVersion: version,
    port,
    url: urlFor(port),
    socketDir: p.data,
    createdAt: new Date().toISOString(),
  };
  await launch(p, bin, port, deadline - Date.now());
  await waitAnswers(p, s.url, deadline);
  writeState(p, s);
  return s;
}

/** Start the cluster in `dir` (creating it on first use) and resolve once it answers. */
export async function startPostgres(o: PostgresOptions): Promise<PostgresInfo> {
  const t0 = Date.now();
  const deadline = t0 + (o.timeoutMs ?? 60_000);
  const p = pgPaths(o.dir);
  mkdirSync(p.log, { recursive: true });
  return withLock(p, async () => {
    let s = readState(p);
    let started: PostgresInfo['started'];
    if (!s) {
      const port = o.port === 0 ? await freePort() : (o.port ?? DEFAULT_PG_PORT);
      if (!(await portFree(port))) throw new Error(`port 127.0.0.1:${port} is in use: pass another --port`);
      s = await coldStart(p, port, deadline);
      started = 'cold';
    } else {
      await ownForServer(p.log);
      const running = findPid(p) !== undefined;
      // port 0: keep the last port while it is ours or free, else any free one
      const wanted =
        o.port === 0 ? (running || (await portFree(s.port)) ? s.port : await freePort()) : (o.port ?? s.port);
      if (running && wanted === s.port && (await answers(s.url))) {
        started = 'already-running';
      } else {
        if (running) await stopPostmaster(p);
        if (wanted !== s.port) {
          s = { ...s, port: wanted, url: urlFor(wanted) };
          writeState(p, s);
        }
        await launch(p, binFor(s.pgVersion).bin, s.port, deadline - Date.now());
        await waitAnswers(p, s.url, deadline);
        started = 'restart';
      }
    }
    return {
      dir: p.dir,
      port: s.port,
      url: s.url,
      socketDir: s.socketDir,
      version: s.pgVersion,
      pid: findPid(p) ?? 0,
      started,
      ms: Date.now() - t0,
    };
  });
}

/** Stop the cluster (fast shutdown); `stopped` says whether it ran. */
export async function stopPostgres(dir: string): Promise<{ dir: string; stopped: boolean }> {
  const p = pgPaths(dir);
  if (!existsSync(p.dir)) return { dir: p.dir, stopped: false };
  mkdirSync(p.log, { recursive: true });
  return withLock(p, async () => ({ dir: p.dir, stopped: await stopPostmaster(p) }));
}

export async function postgresStatus(dir: string): Promise<PostgresStatus> {
  const p = pgPaths(dir);
  const s = existsSync(p.dir) ? readState(p) : undefined;
  const pid = existsSync(p.dir) ? findPid(p) : undefined;
  const ok = s !== undefined && pid !== undefined && (await answers(s.url));
  return {
    dir: p.dir,
    initialized: s !== undefined,
    running: ok,
    answers: ok,
    pid: pid ?? null,
    rssKiB: pid ? rssKiB(pid) : null,
    ...(s ? { port: s.port, url: s.url, version: s.pgVersion } : {}),
  };
}

// ---------------------------------------------------------------- CLI

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  let dir = DEFAULT_PG_DIR;
  let port: number | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    const v = rest[i + 1];
    if (!['--dir', '--port'].includes(a!)) throw new Error(`unknown argument ${a}`);
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--dir') dir = path.resolve(v);
    else port = Number(v);
    i++;
  }
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new Error('--port takes 0..65535');
  }
  let out: object;
  if (cmd === 'start') out = await startPostgres({ dir, port });
  else if (cmd === 'stop') out = await stopPostgres(dir);
  else if (cmd === 'status') out = await postgresStatus(dir);
  else throw new Error('usage: postgres.js start|stop|status [--dir D] [--port P]');
  console.log(JSON.stringify({ ok: true, command: cmd, ...out }));
  return cmd === 'status' && !(out as PostgresStatus).running ? 3 : 0;
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
