/**
 * The long crash run: `npm run crash-loop -- --points 200 [--seed N] [--max-kills-per-job 10] [--keep]`.
 *
 * One agent daemon (two stand-in drives) burns job after job — each 2 copies
 * of 3 test-8m volumes — and is killed with SIGKILL (its whole process group,
 * xorriso included: see test/faults/crash-kit.ts) at random points of every
 * job, then restarted on the same state, until the given number of kill
 * points has landed. After every job the invariants of checkJob and
 * checkState must hold (N verified copies read back byte-identical by
 * bsdtar, every file on exactly one volume, VSNs unique and contiguous, no
 * orphan in staging, images or drives). Prints one line per job and a
 * summary; exits 1 on any violation or failure, with the seed to replay it
 * (OPTARC_CRASH_SEED or --seed) and the agent's directory kept.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { makeTree } from '../edge-agent/burn-kit.js';
import {
  CatalogView,
  CrashAgent,
  checkJob,
  checkState,
  crashUntilDone,
  jobTreeSizes,
  type KillRecord,
  prng,
  seedFromEnv,
  stageAndBurn,
  tally,
} from './crash-kit.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      points: { type: 'string', default: '200' },
      seed: { type: 'string' },
      'max-kills-per-job': { type: 'string', default: '10' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: crash-loop [--points N] [--seed S] [--max-kills-per-job K] [--keep]\n' +
        '  kills the agent (kill -9 of its process group) at N points over burn jobs, restarting it each time,\n' +
        '  and checks after every job that nothing was lost, duplicated or orphaned. Exit 1 on any violation.\n',
    );
    return 0;
  }
  const points = Number(values.points);
  const perJob = Number(values['max-kills-per-job']);
  if (!Number.isInteger(points) || points < 1)
    throw new Error(`--points is a positive whole number, not ${values.points}`);
  if (!Number.isInteger(perJob) || perJob < 1) throw new Error('--max-kills-per-job is a positive whole number');
  if (values.seed !== undefined) process.env.OPTARC_CRASH_SEED = values.seed;
  const seed = seedFromEnv();
  const rng = prng(seed);
  const started = performance.now();
  const elapsed = () => ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(`crash-loop: ${points} kill points, seed ${seed} (replay: --seed ${seed})\n`);

  const agent = await CrashAgent.create({ drives: 2 });
  const view = new CatalogView(agent.catalogFile);
  const checked = new Set<string>();
  const kills: KillRecord[] = [];
  const hits = new Map<string, number>();
  const violations: string[] = [];
  let jobs = 0;
  let interrupted = 0;
  let failure: unknown;
  try {
    await agent.start();
    while (kills.length < points && violations.length === 0) {
      jobs++;
      const src = path.join(agent.dir, 'src');
      await fs.rm(src, { recursive: true, force: true });
      const sources = await makeTree(src, jobTreeSizes(rng, 30));
      const jobStart = performance.now();
      const job = await stageAndBurn(agent, src, { copies: 2, media: 'test-8m', label: `LOOP ${jobs}` });
      const k = await crashUntilDone(agent, view, job, rng, {
        maxKills: Math.min(perJob, points - kills.length),
        afterBurn: rng.next() < 0.5,
        hits,
        timeSpanMs: 6000,
      });
      kills.push(...k);
      const c = await checkJob(agent, view, job, sources, 2);
      const s = await checkState(agent, view, { checked });
      interrupted += c.interrupted;
      for (const v of [...c.violations, ...s.violations]) violations.push(`job ${job}: ${v}`);
      const { phases } = tally(k);
      process.stdout.write(
        `job ${job}: ${k.length} kills (${Object.entries(phases)
          .map(([p, n]) => `${p} ${n}`)
          .join(', ')}), ${c.vsns.join(' ')}, ${c.interrupted} attempts interrupted, ${c.discsRead} discs read, ` +
          `${((performance.now() - jobStart) / 1000).toFixed(1)} s; total ${kills.length}/${points} at ${elapsed()} s` +
          `${c.violations.length + s.violations.length > 0 ? ' — VIOLATIONS' : ' — ok'}\n`,
      );
      for (const x of k) {
        if (process.env.OPTARC_CRASH_VERBOSE) {
          process.stdout.write(`  killed ${x.atMs} ms after start, ${x.trigger}: ${x.phases.join('+')} (${x.last})\n`);
        }
      }
    }
  } catch (e) {
    failure = e;
  }
  const s = await checkState(agent, view, { checked }).catch((e) => ({ violations: [String(e)], volumes: 0 }));
  for (const v of s.violations) if (!violations.some((x) => x.endsWith(v))) violations.push(`final: ${v}`);
  const { phases, triggers } = tally(kills);
  const ok = failure === undefined && violations.length === 0 && kills.length >= points;
  process.stdout.write(
    [
      '',
      `crash-loop ${ok ? 'PASSED' : 'FAILED'}: ${kills.length} kill points over ${jobs} jobs in ${elapsed()} s (seed ${seed})`,
      `  agent starts ${agent.starts}, kills ${agent.kills}; volumes issued ${s.volumes}; attempts interrupted ${interrupted}`,
      `  kills by phase: ${JSON.stringify(phases)}`,
      `  kills by trigger: ${JSON.stringify(triggers)}`,
      ...violations.map((v) => `  VIOLATION ${v}`),
      ...(failure
        ? [`  FAILURE ${failure instanceof Error ? (failure.stack ?? failure.message) : String(failure)}`]
        : []),
      '',
    ].join('\n'),
  );
  view.close();
  if (!ok) {
    process.stdout.write(`agent log (last lines):\n${agent.log(40)}\nstate kept in ${agent.dir}\n`);
    await agent.dispose(true);
    return 1;
  }
  await agent.dispose(values.keep);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`crash-loop: ${(e as Error).stack ?? e}\n`);
    process.exit(2);
  },
);
