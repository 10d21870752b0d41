/**
 * The local stack: `npm start` starts every optarc service in the background and
 * waits until each is ready; `npm stop` stops them; `npm run status` reports.
 * Each service writes a pid file under var/run/ and logs under var/log/, and is
 * ready when it prints its JSON "ready" line. Starting twice is harmless.
 *
 * The stack is, in order:
 *  - the local S3: a one-node Ceph RGW under var/rgw (see infra/rgw/; started
 *    first, stopped last, its keys in var/rgw/rgw.json);
 *  - the gateway (`optarc-gateway serve` on 127.0.0.1:8780, its store in
 *    var/gateway, the bucket `optarc` on the RGW);
 *  - the edge agent: its RPC service answering NULL, registered with the
 *    system rpcbind on 127.0.0.1:111 when one runs, or serving an embedded
 *    portmapper there otherwise, with three stand-in drives under
 *    var/agent/drives, mirroring to the gateway as site `local` with a token
 *    the stack issued on its first start (var/stack/agent.token, mode 600).
 * The stack also issues, once, a search reader token for site `local`
 * (var/stack/reader.token), which `optarc find` and `optarc whereis` read.
 * Settings in ./optarc.json or OPTARC_* variables apply to every service.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RGW_DIR, rgwStatus, startRgw, stopRgw } from './rgw/rgw.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUN = path.join(ROOT, 'var/run');
const LOG = path.join(ROOT, 'var/log');

const TOKEN_FILE = path.join(ROOT, 'var/stack/agent.token');
/** The reader token `optarc find`/`whereis` use by default (client.gateway.readerTokenFile). */
const READER_TOKEN_FILE = path.join(ROOT, 'var/stack/reader.token');
const GATEWAY_URL = 'ws://127.0.0.1:8780';

interface Service {
  name: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

const SERVICES: Service[] = [
  { name: 'gateway', args: [path.join(ROOT, 'dist/gateway/main.js'), 'serve'] },
  {
    name: 'agent',
    args: [path.join(ROOT, 'dist/edge-agent/main.js')],
    env: { OPTARC_AGENT_MIRROR_GATEWAY_URL: GATEWAY_URL, OPTARC_AGENT_MIRROR_TOKEN_FILE: TOKEN_FILE },
  },
];

/** A token issued once through the gateway's CLI (`what` add --site local) and kept in `file`. */
function ensureToken(what: 'agents' | 'readers', file: string, label: string): boolean {
  if (existsSync(file)) return true;
  const r = spawnSync(
    process.execPath,
    [path.join(ROOT, 'dist/gateway/main.js'), what, 'add', '--site', 'local', '--json'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) {
    console.error(`gateway: cannot issue ${label}: ${r.stderr.trim()}`);
    return false;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.parse(r.stdout).token}\n`, { mode: 0o600 });
  console.log(`gateway: issued ${label} (${path.relative(ROOT, file)})`);
  return true;
}

const pidFile = (s: Service) => path.join(RUN, `${s.name}.pid`);
const readyFile = (s: Service) => path.join(RUN, `${s.name}.ready.json`);
const logFile = (s: Service) => path.join(LOG, `${s.name}.log`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runningPid(s: Service): number | undefined {
  if (!existsSync(pidFile(s))) return undefined;
  const pid = Number(readFileSync(pidFile(s), 'utf8'));
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

function readReady(s: Service): Record<string, unknown> | undefined {
  if (!existsSync(readyFile(s))) return undefined;
  const line = readFileSync(readyFile(s), 'utf8')
    .split('\n')
    .find((l) => l.includes('"ready"'));
  return line ? JSON.parse(line) : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(s: Service): Promise<boolean> {
  const pid = runningPid(s);
  if (pid) {
    console.log(`${s.name}: already running (pid ${pid}) ${JSON.stringify(readReady(s) ?? {})}`);
    return true;
  }
  mkdirSync(RUN, { recursive: true });
  mkdirSync(LOG, { recursive: true });
  rmSync(readyFile(s), { force: true });
  const out = openSync(readyFile(s), 'w');
  const err = openSync(logFile(s), 'a');
  const child = spawn(process.execPath, s.args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', out, err],
    env: { ...process.env, ...s.env },
  });
  closeSync(out);
  closeSync(err);
  writeFileSync(pidFile(s), String(child.pid));
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? 1;
  });
  child.unref();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const ready = readReady(s);
    if (ready) {
      console.log(`${s.name}: started (pid ${child.pid}) ${JSON.stringify(ready)}`);
      return true;
    }
    if (exited !== null) break;
    await sleep(100);
  }
  rmSync(pidFile(s), { force: true });
  const tail = existsSync(logFile(s)) ? readFileSync(logFile(s), 'utf8').trim().split('\n').slice(-5).join('\n') : '';
  console.error(
    `${s.name}: failed to start${exited !== null ? ` (exit ${exited})` : ' (not ready after 20 s)'}; log ${logFile(s)}:\n${tail}`,
  );
  if (exited === null && child.pid) process.kill(child.pid, 'SIGTERM');
  return false;
}

async function stop(s: Service): Promise<void> {
  const pid = runningPid(s);
  if (!pid) {
    console.log(`${s.name}: not running`);
    rmSync(pidFile(s), { force: true });
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(pidFile(s), { force: true });
  rmSync(readyFile(s), { force: true });
  console.log(`${s.name}: stopped (pid ${pid})`);
}

/** Ceph's daemons come from infra/install.sh; without them the stack runs without its S3. */
const haveCeph = () => ['radosgw', 'ceph-mon', 'ceph-osd'].every((b) => existsSync(`/usr/bin/${b}`));

async function startS3(): Promise<boolean> {
  if (!haveCeph()) {
    console.log('s3: Ceph RGW is not installed (run infra/install.sh): the stack runs without its S3');
    return true;
  }
  try {
    const info = await startRgw({ dir: DEFAULT_RGW_DIR });
    console.log(
      `s3: ${info.started} in ${(info.ms / 1000).toFixed(1)} s at ${info.endpoint} (keys in var/rgw/rgw.json)`,
    );
    return true;
  } catch (e) {
    console.error(`s3: failed to start: ${(e as Error).message}`);
    return false;
  }
}

async function main(): Promise<number> {
  const command = process.argv[2];
  if (command === 'start') {
    if (!(await startS3())) return 1;
    if (!ensureToken('agents', TOKEN_FILE, "the local agent's token")) return 1;
    if (!ensureToken('readers', READER_TOKEN_FILE, 'a search reader token for site local')) return 1;
    for (const s of SERVICES) if (!(await start(s))) return 1;
    return 0;
  }
  if (command === 'stop') {
    for (const s of [...SERVICES].reverse()) await stop(s);
    if (haveCeph() && existsSync(DEFAULT_RGW_DIR)) {
      const r = await stopRgw(DEFAULT_RGW_DIR);
      console.log(`s3: ${r.stopped.length > 0 ? `stopped ${r.stopped.join(', ')}` : 'not running'}`);
    }
    return 0;
  }
  if (command === 'status') {
    let ok = true;
    if (haveCeph()) {
      const r = await rgwStatus(DEFAULT_RGW_DIR);
      console.log(r.running ? `s3: running at ${r.endpoint}${r.s3 ? '' : ' (not answering)'}` : 's3: not running');
      ok &&= r.running && r.s3;
    }
    for (const s of SERVICES) {
      const pid = runningPid(s);
      console.log(
        pid ? `${s.name}: running (pid ${pid}) ${JSON.stringify(readReady(s) ?? {})}` : `${s.name}: not running`,
      );
      ok &&= pid !== undefined;
    }
    return ok ? 0 : 3;
  }
  console.error('usage: stack.js start|stop|status');
  return 2;
}

main().then((code) => process.exit(code));
