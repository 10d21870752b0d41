/**
 * What the burning tests share: a real agent daemon with stand-in drives in a
 * temp dir, trees of files to stage, and the independent checks every burned
 * copy must pass: bsdtar (libarchive, not xorriso) lists and extracts it,
 * every payload file is byte-identical to its source, `sha256sum -c` validates
 * the bag's manifest, and bag-info's Payload-Oxum matches.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { releaseWriteOnce } from '../../edge-agent/drives/stand-in-medium.js';
import { BIN, freePort, run, startDaemon, stopDaemon } from '../helpers/processes.js';

export interface BurnAgent {
  dir: string;
  state: string;
  stage: string;
  shelf: string;
  config: string;
  pm: number;
  rpcPort: number;
  cli: (...args: string[]) => ReturnType<typeof run>;
  stop: () => Promise<number | null>;
  /** Starts the agent again on the same state (after a stop or a kill). */
  restart: () => Promise<void>;
  child: () => import('node:child_process').ChildProcess;
}

export interface BurnAgentOptions {
  drives?: number;
  speed?: number;
  extra?: Record<string, unknown>;
}

export async function startBurnAgent(t: ExecutionContext, options: BurnAgentOptions = {}): Promise<BurnAgent> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'optarc-burn-'));
  t.teardown(async () => {
    await releaseWriteOnce(dir); // a closed stand-in disc left in a drive is immutable
    await fs.rm(dir, { recursive: true, force: true });
  });
  const state = path.join(dir, 'state');
  const shelf = path.join(dir, 'shelf');
  const pm = await freePort();
  const drives = Array.from({ length: options.drives ?? 3 }, (_, i) => ({
    name: `sr${i}`,
    address: `stdio:${path.join(dir, 'drives', `sr${i}`, 'medium')}`,
    ...(options.speed ? { speed: options.speed } : {}),
    standIn: { shelf },
  }));
  const config = path.join(dir, 'agent.json');
  await fs.writeFile(
    config,
    JSON.stringify({
      log: { level: 'warn' },
      agent: {
        portmap: { port: pm },
        stateDir: state,
        staging: { root: path.join(dir, 'stage'), minFreeBytes: 0 },
        drives,
        ...options.extra,
      },
    }),
  );
  let daemon = await startDaemon(BIN.agent, ['--config', config]);
  const agent: BurnAgent = {
    dir,
    state,
    stage: path.join(dir, 'stage'),
    shelf,
    config,
    pm,
    rpcPort: daemon.ready.rpcPort as number,
    cli: (...args: string[]) => run(BIN.optarc, [...args, '--portmap-port', String(pm)], {}, 120_000),
    stop: () => stopDaemon(daemon.child),
    restart: async () => {
      daemon = await startDaemon(BIN.agent, ['--config', config]);
      agent.rpcPort = daemon.ready.rpcPort as number;
    },
    child: () => daemon.child,
  };
  t.teardown(() => stopDaemon(daemon.child));
  return agent;
}

/** A tree of files: nested directories, an empty file, odd names, sizes given in bytes. */
export async function makeTree(root: string, sizes: Record<string, number>): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const [p, size] of Object.entries(sizes)) {
    const data = randomBytes(size);
    await fs.mkdir(path.dirname(path.join(root, p)), { recursive: true });
    await fs.writeFile(path.join(root, p), data, { mode: 0o640 });
    files.set(p, data);
  }
  return files;
}

export function exec(
  file: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * Checks one burned copy with tools that are not xorriso: extracts it with
 * bsdtar, validates the bag, and returns the payload files (path → bytes).
 */
export async function readCopy(t: ExecutionContext, copy: string): Promise<Map<string, Buffer>> {
  const out = await fs.mkdtemp(path.join(tmpdir(), 'optarc-copy-'));
  try {
    const x = await exec('bsdtar', ['-xf', copy, '-C', out]);
    t.is(x.code, 0, `bsdtar extracts ${copy}: ${x.stderr}`);
    const check = await exec('sha256sum', ['--strict', '-c', 'manifest-sha256.txt'], out);
    t.is(check.code, 0, `sha256sum -c validates the bag of ${copy}: ${check.stdout}${check.stderr}`);
    const payload = new Map<string, Buffer>();
    const walk = async (dir: string, rel: string) => {
      for (const e of await fs.readdir(dir, { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(path.join(dir, e.name), r);
        else payload.set(r, await fs.readFile(path.join(dir, e.name)));
      }
    };
    await walk(path.join(out, 'data'), '');
    const info = await fs.readFile(path.join(out, 'bag-info.txt'), 'utf8');
    const oxum = /^Payload-Oxum:\s*(\d+)\.(\d+)\s*$/m.exec(info);
    t.truthy(oxum, 'bag-info.txt has a Payload-Oxum');
    let bytes = 0;
    for (const d of payload.values()) bytes += d.length;
    t.is(Number(oxum?.[1]), bytes, 'Payload-Oxum counts the payload bytes');
    t.is(Number(oxum?.[2]), payload.size, 'Payload-Oxum counts the payload files');
    const manifestLines = (await fs.readFile(path.join(out, 'manifest-sha256.txt'), 'utf8')).trim().split('\n');
    t.is(manifestLines.length, payload.size, 'the manifest names every payload file');
    return payload;
  } finally {
    await fs.rm(out, { recursive: true, force: true });
  }
}
