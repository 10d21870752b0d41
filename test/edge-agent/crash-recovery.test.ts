/**
 * Crash recovery, for real: a real agent daemon with two stand-in drives
 * burns 2 copies of 3 test-8m volumes per job, and is killed with SIGKILL at
 * 20 or more points spread over its jobs, then restarted on the same state
 * each time, until every job is done.
 *
 * The kill is a crash of the agent's whole host process tree: the daemon runs
 * in its own process group (spawned detached) and the test sends SIGKILL to
 * the group, so the xorriso processes it runs die with it, as under systemd's
 * KillMode=control-group. Kill points (test/faults/crash-kit.ts): right after
 * BURN returns, then during ingest, mastering, a copy's write, a copy's
 * read-back, just after a copy is verified and shelved, just after a volume
 * finishes, during cleanup, and at random times after a restart (during its
 * own recovery too). Random choices come from a seeded PRNG: the seed is
 * logged, and OPTARC_CRASH_SEED=<seed> replays the same choices (timings
 * still vary).
 *
 * After each job, what must hold (checkJob/checkState): the CLI reports it
 * done; every committed file is on exactly one volume; every volume has 2
 * verified copies on the shelf that bsdtar reads back byte-identical, with a
 * valid bag; no attempt is left writing/written; VSNs are never assigned
 * twice — and, as found, none is lost either: they stay contiguous, because a
 * job's VSNs are taken in the same transaction that plans its volumes; every
 * labelled disc on the shelf, interrupted ones included, holds the start of
 * its own volume's image; drives hold no written disc; `<stage>/jobs` is
 * empty; no `*.partial` or `*.work` image is left; the burned files left the
 * staged tree.
 *
 * Two more tests replay, without timing luck, the windows the kills found
 * (each seen by the crash loop): the agent dies after a verified copy was put
 * on the shelf but before the catalog recorded it; the agent dies after an
 * image was recorded but before its work directory was removed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Catalog } from '../../edge-agent/catalog/catalog.js';
import { DrivePool } from '../../edge-agent/drives/drive-pool.js';
import { releaseWriteOnce } from '../../edge-agent/drives/stand-in-medium.js';
import { master, writeVolume } from '../../edge-agent/jobs/burn-steps.js';
import { JobProgress } from '../../edge-agent/jobs/job-progress.js';
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
} from '../faults/crash-kit.js';
import { makeTree } from './burn-kit.js';

const POINTS = 20;

test('kill -9 at 20+ points of burn jobs: every job ends with its files on 2 verified copies, VSNs never reused, nothing orphaned', async (t) => {
  t.timeout(170_000);
  const seed = seedFromEnv();
  t.log(`seed ${seed} (replay with OPTARC_CRASH_SEED=${seed})`);
  const rng = prng(seed);
  const agent = await CrashAgent.create({ drives: 2 });
  const view = new CatalogView(agent.catalogFile);
  t.teardown(async () => {
    view.close();
    await agent.dispose();
  });
  await agent.start();
  const started = performance.now();
  const kills: KillRecord[] = [];
  const hits = new Map<string, number>();
  let jobs = 0;
  while (kills.length < POINTS) {
    jobs++;
    t.true(jobs <= 6, `20 kill points within 6 jobs (got ${kills.length})`);
    if (jobs > 6) break;
    const src = path.join(agent.dir, `src-${jobs}`);
    const sources = await makeTree(src, jobTreeSizes(rng, 30));
    const job = await stageAndBurn(agent, src, { copies: 2, media: 'test-8m', label: `CRASH ${jobs}` });
    const k = await crashUntilDone(agent, view, job, rng, {
      maxKills: Math.min(11, POINTS - kills.length),
      afterBurn: true,
      // the first job walks the pipeline in order; later ones pick at random
      schedule: jobs === 1 ? ['ingest', 'master', 'write', 'verify', 'verified', 'finish', 'cleanup'] : [],
      hits,
      timeSpanMs: 5000,
    });
    kills.push(...k);
    for (const x of k)
      t.log(`job ${job} killed ${x.atMs} ms after start, ${x.trigger}: ${x.phases.join('+')} (${x.last})`);
    const c = await checkJob(agent, view, job, sources, 2);
    t.deepEqual(c.violations, [], `job ${job} after ${k.length} kills`);
    t.is(c.discsRead, 3 * 2, 'three volumes, two copies each, read back');
    t.log(`job ${job}: ${c.vsns.join(' ')}; ${c.interrupted} attempts interrupted, ${c.bad} bad`);
    const s = await checkState(agent, view);
    t.deepEqual(s.violations, [], `agent state after job ${job}`);
    await fs.rm(src, { recursive: true, force: true });
  }
  const s = await checkState(agent, view);
  t.is(s.volumes, jobs * 3);
  t.is(s.nextVsn, jobs * 3 + 1, 'no VSN issued and lost');
  t.is(s.shelved.good, jobs * 3 * 2);
  const { phases, triggers } = tally(kills);
  t.log(
    `${kills.length} kill points over ${jobs} jobs in ${((performance.now() - started) / 1000).toFixed(1)} s; phases ${JSON.stringify(phases)}; triggers ${JSON.stringify(triggers)}; shelf ${JSON.stringify(s.shelved)}`,
  );
  t.true(kills.length >= POINTS, `${kills.length} kill points`);
  t.true((triggers['right after BURN returned'] ?? 0) >= 1, 'a kill right after BURN returned');
  for (const p of ['master', 'write', 'verify', 'cleanup'] as const) {
    t.true((phases[p] ?? 0) >= 1, `a kill landed during ${p}: ${JSON.stringify(phases)}`);
  }
  // the kill right after BURN returned aims at ingest, but a quick ingest may already be done when it
  // lands (CI seed 3978193600): that is timing, not a fault, so it is told rather than failed
  if ((phases.ingest ?? 0) + (phases.queued ?? 0) === 0) {
    t.log(`no kill landed before ingest was done this time (seed ${seed}); npm run crash-loop covers more points`);
  }
});

/**
 * A catalog with one job whose one volume is mastered (a real xorriso image of
 * one file), and a context for the burn steps with two stand-in drives: the
 * state in which the narrow windows below are replayed.
 */
async function masteredVolume(t: ExecutionContext) {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'optarc-window-'));
  t.teardown(async () => {
    await releaseWriteOnce(dir);
    await fs.rm(dir, { recursive: true, force: true });
  });
  const shelf = path.join(dir, 'shelf');
  const drives = ['a', 'b'].map((name) => ({
    name,
    address: `stdio:${path.join(dir, name, 'medium')}`,
    standIn: { shelf },
  }));
  for (const d of drives) await fs.mkdir(path.join(dir, d.name), { recursive: true });
  const images = path.join(dir, 'images');
  await fs.mkdir(path.join(dir, 'tree'));
  await fs.mkdir(images);
  await fs.writeFile(path.join(dir, 'tree', 'f.bin'), Buffer.alloc(300_000, 7));
  const image = path.join(images, 'OPT000001.iso');
  execFileSync(
    'xorriso',
    ['-md5', 'on', '-volid', 'OPT000001', '-outdev', `stdio:${image}`, '-map', path.join(dir, 'tree'), '/', '-commit'],
    { stdio: 'ignore' },
  );
  const data = await fs.readFile(image);
  const catalog = new Catalog(path.join(dir, 'catalog.sqlite'));
  t.teardown(() => catalog.close());
  const job = catalog.createJob('burn', 'c', 'c', {});
  catalog.addFiles(job.id, 'c', [
    {
      path: Buffer.from('f.bin'),
      size: 300_000n,
      sha256: Buffer.alloc(32),
      mode: 0o644,
      mtime: { seconds: 0n, nanoseconds: 0 },
    },
  ]);
  const file = catalog.jobFiles(job.id)[0]!;
  const [planned] = catalog.planVolumes(job.id, 'c', [
    { media: 'test-8m', label: '', requiredCopies: 2, pieces: [{ fileId: file.id, imagePath: Buffer.from('f.bin') }] },
  ]);
  const sha256 = createHash('sha256').update(data).digest();
  catalog.setMastered(
    planned!.id,
    { path: image, bytes: BigInt(data.length), sha256, sectors: data.length / 2048 },
    [],
  );
  const pool = new DrivePool(drives);
  const ctx = {
    catalog,
    pool,
    staging: undefined as never,
    jobsDir: path.join(dir, 'jobs'),
    imagesDir: images,
    charset: 'utf-8' as const,
    site: 'local',
    volumeClass: 'archive',
    maxAttempts: 3,
    releaseAfterMirror: false,
    log: { info() {}, warn() {}, error() {} },
  };
  return { dir, shelf, images, image, data, catalog, pool, ctx, job, volume: catalog.volume(planned.id)! };
}

test('window replayed: a verified copy shelved just before the crash is set aside, not a SHELF_TAKEN failure', async (t) => {
  // The state a kill leaves between drive.unload() (the good disc is on the shelf as <vsn>-<n>.iso)
  // and catalog.copyVerified(): the attempt is `written`. Made with the real drive calls, then replayed.
  const { shelf, image, catalog, pool, ctx, job, volume } = await masteredVolume(t);
  const a = pool.get('a')!;
  await a.loadBlank();
  const row = catalog.beginCopy(volume.id, 1, 'a');
  await fs.copyFile(image, a.mediumPath!);
  catalog.copyWritten(row.id, null);
  t.is(await a.unload('OPT000001', 1), path.join(shelf, 'OPT000001-1.iso'));

  await writeVolume(ctx, job, volume, new JobProgress());
  const copies = catalog.volumeCopies(volume.id);
  t.deepEqual(
    copies.map((c) => [c.copyNo, c.state, c.error.split(':')[0]]),
    [
      [1, 'bad', 'INTERRUPTED'],
      [1, 'verified', ''],
      [2, 'verified', ''],
    ],
  );
  t.is(catalog.volume(volume.id)!.state, 'finished');
  t.deepEqual((await fs.readdir(shelf)).sort(), [
    'OPT000001-1.interrupted-1.iso',
    'OPT000001-1.iso',
    'OPT000001-2.iso',
  ]);
  t.is(copies[0]!.medium, path.join(shelf, 'OPT000001-1.interrupted-1.iso'), 'the set-aside disc is recorded');
  for (const c of copies.slice(1)) t.is(c.medium, path.join(shelf, `OPT000001-${c.copyNo}.iso`));
});

test('window replayed: a crash after the image was recorded, before its work directory was removed, leaves nothing', async (t) => {
  // Found by the crash loop: master() recorded the image, then the kill came before its `finally`
  // removed <vsn>.work; the resumed job saw the volume mastered and never looked at the leftovers.
  const { images, image, data, ctx, job, volume } = await masteredVolume(t);
  await fs.mkdir(path.join(images, 'OPT000001.work', 'bag'), { recursive: true });
  await fs.writeFile(path.join(images, 'OPT000001.work', 'bag', 'bag-info.txt'), 'x');
  await fs.writeFile(path.join(images, 'OPT000001.iso.partial'), 'x');
  const again = await master(
    ctx,
    job,
    volume,
    { copies: 2, media: 'test-8m', label: '', spanning: false },
    new JobProgress(),
  );
  t.is(again.state, 'mastered');
  t.deepEqual(await fs.readdir(images), ['OPT000001.iso'], 'no work directory or partial image is left');
  t.true((await fs.readFile(image)).equals(data), 'the recorded image is kept as it was, not mastered again');
});
