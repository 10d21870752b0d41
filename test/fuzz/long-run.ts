/**
 * The long fuzz run: `npm run fuzz -- --seconds 60 --seed 1234`.
 *   --seconds N   how long to run (default 60)
 *   --seed S      the run's seed (default random; always printed)
 *   --case I      run only case I of that seed (repeatable), to reproduce a failure
 *   --concurrency C  cases at once (default 32)
 * Exits 1 when a property is violated.
 */
import { describe, randomSeed, runFuzz, violations } from './mutator.js';

function parseArgs(argv: string[]): { seconds: number; seed: number; cases: number[]; concurrency: number } {
  let seconds = 60;
  let seed = randomSeed();
  let concurrency = 32;
  const cases: number[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => {
      const v = inline ?? argv[++i];
      const n = Number(v);
      if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a non-negative number`);
      return n;
    };
    if (flag === '--seconds') seconds = value();
    else if (flag === '--seed') seed = value() >>> 0;
    else if (flag === '--case') cases.push(Math.floor(value()));
    else if (flag === '--concurrency') concurrency = Math.max(1, Math.floor(value()));
    else if (flag === '--help' || flag === '-h') {
      console.log('usage: long-run [--seconds N] [--seed S] [--case I]... [--concurrency C]');
      process.exit(0);
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  return { seconds, seed, cases, concurrency };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  console.log(`fuzzing the RPC server for ${args.seconds} s with seed ${args.seed}`);
  let lastPrint = Date.now();
  const report = await runFuzz({
    seed: args.seed,
    maxCases: Number.MAX_SAFE_INTEGER,
    maxMs: args.seconds * 1000,
    concurrency: args.concurrency,
    only: args.cases.length > 0 ? args.cases : undefined,
    progress: (r) => {
      if (Date.now() - lastPrint < 10_000) return;
      lastPrint = Date.now();
      const heap = (process.memoryUsage().heapUsed / 2 ** 20).toFixed(1);
      console.log(
        `  ${(r.elapsedMs / 1000).toFixed(0)} s: ${r.cases} cases, ${r.failureCount} failures, heap ${heap} MiB`,
      );
    },
  });
  console.log(describe(report));
  const bad = violations(report);
  if (bad.length > 0) {
    console.log(`FAILED (seed ${args.seed}): ${bad.join('; ')}`);
    process.exitCode = 1;
  } else {
    console.log(`OK (seed ${args.seed})`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
