/**
 * Staging throughput: the same trees staged through the `optarc` CLI (the
 * TypeScript client), through the rpcgen C client `optarc-put`, and copied by
 * `cp -r` to the same disk, in the same run. Also the agent's peak resident
 * memory while it stages the large tree.
 *
 *   small: 1,000 files of 4 KiB        large: 4 files of 256 MiB (1 GiB)
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIN, freePort, startDaemon, stopDaemon } from '../helpers/processes.js';

export interface StagingFigures {
  tree: string;
  files: number;
  bytes: number;
  seconds: { cp: number; cpSync: number; ts: number; c?: number };
  peakRssBytes: number;
}

function timed(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    execFile(cmd, args, { maxBuffer: 256 * 1024 * 1024 }, (err, _out, stderr) => {
      if (err) return reject(new Error(`${path.basename(cmd)} ${args.join(' ')}: ${err.message}\n${stderr}`));
      resolve(Number(process.hrtime.bigint() - t0) / 1e9);
    });
  });
}

async function makeTrees(dir: string) {
  const small = path.join(dir, 'small');
  await fs.mkdir(small, { recursive: true });
  for (let i = 0; i < 1000; i++)
    await fs.writeFile(path.join(small, `f${String(i).padStart(4, '0')}.dat`), randomBytes(4096));
  const large = path.join(dir, 'large');
  await fs.mkdir(large, { recursive: true });
  const chunk = randomBytes(16 * 1024 * 1024);
  for (let i = 0; i < 4; i++) {
    const f = await fs.open(path.join(large, `part${i}.raw`), 'w');
    for (let j = 0; j < 16; j++) await f.write(chunk);
    await f.close();
  }
  return {
    small: { path: small, files: 1000, bytes: 1000 * 4096 },
    large: { path: large, files: 4, bytes: 4 * 256 * 1024 * 1024 },
  };
}

async function rssOf(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/** Stage each tree through every client, fresh agent per run, and cp -r as the baseline. */
export async function stagingBenchmark(runs: number, cClient: string | undefined): Promise<StagingFigures[]> {
  const work = await fs.mkdtemp(path.join(tmpdir(), 'optarc-bench-stage-'));
  try {
    const trees = await makeTrees(path.join(work, 'src'));
    const out: StagingFigures[] = [];
    for (const [name, tree] of Object.entries(trees)) {
      const secs: { cp: number[]; cpSync: number[]; ts: number[]; c: number[] } = { cp: [], cpSync: [], ts: [], c: [] };
      let peak = 0;
      for (let run = 0; run < runs; run++) {
        const cpTarget = path.join(work, `cp-${name}-${run}`);
        secs.cp.push(await timed('cp', ['-r', tree.path, cpTarget]));
        await fs.rm(cpTarget, { recursive: true, force: true });
        // the agent makes every committed file durable (fsync) before it answers: cp followed by sync does too
        await timed('sync', []);
        secs.cpSync.push(await timed('sh', ['-c', 'cp -r "$0" "$1" && sync', tree.path, cpTarget]));
        await fs.rm(cpTarget, { recursive: true, force: true });
        for (const side of cClient ? (['ts', 'c'] as const) : (['ts'] as const)) {
          const stage = path.join(work, `stage-${side}`);
          const config = path.join(work, 'agent.json');
          const pm = await freePort();
          await fs.writeFile(
            config,
            JSON.stringify({
              agent: { portmap: { port: pm }, stateDir: path.join(stage, '..', 'state'), staging: { root: stage } },
            }),
          );
          const agent = await startDaemon(BIN.agent, ['--config', config]);
          let sampling = true;
          const sampler = (async () => {
            while (sampling) {
              peak = Math.max(peak, await rssOf(agent.child.pid!));
              await new Promise((r) => setTimeout(r, 50));
            }
          })();
          try {
            if (side === 'ts') {
              secs.ts.push(
                await timed(process.execPath, [BIN.optarc, 'put', tree.path, '--portmap-port', String(pm), '--json']),
              );
            } else {
              secs.c.push(await timed(cClient!, ['--port', String(agent.ready.rpcPort), '127.0.0.1', tree.path]));
            }
          } finally {
            sampling = false;
            await sampler;
            await stopDaemon(agent.child);
            await fs.rm(stage, { recursive: true, force: true });
          }
        }
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
      out.push({
        tree: name,
        files: tree.files,
        bytes: tree.bytes,
        seconds: {
          cp: med(secs.cp),
          cpSync: med(secs.cpSync),
          ts: med(secs.ts),
          ...(secs.c.length ? { c: med(secs.c) } : {}),
        },
        peakRssBytes: peak,
      });
    }
    return out;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
