/**
 * Faults a burn meets on real hardware, provoked on a real agent daemon with
 * stand-in drives (see test/faults/crash-kit.ts for the agent and the
 * checks). Each one either recovers — the job still ends with N verified
 * copies per volume, read back byte-identical by bsdtar — or fails with an
 * error that names the cause:
 *
 * - a write error on one drive (its "disc" is a FIFO whose reader hangs up
 *   after 1 MiB): that attempt is recorded bad, WRITE_FAILED, and the copy is
 *   burned again on a fresh blank in another drive;
 * - media full (the drive's directory is a 1 MiB tmpfs, in a private mount
 *   namespace: root only): NO_SPACE in xorriso's words, retried elsewhere;
 * - ENOSPC while mastering (the images directory is a 2 MiB tmpfs): the job
 *   fails NO_SPACE naming the images directory, no partial image is left,
 *   the staged files are kept — and burn once the space is there;
 * - a drive that disappears mid-job (its directory removed while it writes):
 *   its copy is recorded bad, DRIVE_MISSING naming the drive, and the copies
 *   go to the drive that is left; when no drive is left, the job fails
 *   naming the missing drive, and the staged files are kept.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { releaseWriteOnce } from '../../edge-agent/drives/stand-in-medium.js';
import {
  CatalogView,
  CrashAgent,
  type CrashAgentOptions,
  checkJob,
  checkState,
  MiB,
  prng,
  sleep,
  stageAndBurn,
  waitForJob,
} from '../faults/crash-kit.js';
import { makeTree } from './burn-kit.js';

const asRoot = process.getuid?.() === 0 ? test : test.skip;
const CLIENT = 'crash-site';

async function agentFor(t: ExecutionContext, options: CrashAgentOptions = {}) {
  const agent = await CrashAgent.create(options);
  const view = new CatalogView(agent.catalogFile);
  t.teardown(async () => {
    view.close();
    await agent.dispose();
  });
  return { agent, view };
}

/** Runs the agent in a private mount namespace where each `dir` is a tmpfs of `size`. */
function withTmpfs(mounts: { dir: string; size: string }[]): (argv: string[]) => string[] {
  const script = `${mounts.map((_, i) => `mount -t tmpfs -o size=$${2 * i + 1} tmpfs "$${2 * i + 2}"`).join(' && ')} && shift ${2 * mounts.length} && exec "$@"`;
  return (argv) => [
    'unshare',
    '--mount',
    '--',
    'sh',
    '-c',
    script,
    'sh',
    ...mounts.flatMap((m) => [m.size, m.dir]),
    ...argv,
  ];
}

function execText(file: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(file, args, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    ),
  );
}

/** Three directories of ~5 MiB: three test-8m volumes. */
function threeVolumes(seed: number): Record<string, number> {
  const rng = prng(seed);
  const sizes: Record<string, number> = {};
  for (const d of ['a', 'b', 'c']) {
    sizes[`${d}/one.bin`] = 3 * MiB + rng.int(0, 100_000);
    sizes[`${d}/two.bin`] = MiB + rng.int(0, 100_000);
    sizes[`${d}/note.txt`] = rng.int(1, 4000);
  }
  return sizes;
}

async function status(agent: CrashAgent, job: number) {
  const s = await agent.cli('status', String(job), '--json');
  if (s.code !== 0) throw new Error(`optarc status failed: ${s.stderr}`);
  return JSON.parse(s.stdout) as { stateName: string; message: string; percent: number; volumes: { vsn: string }[] };
}

/** What lies in the staging trees (one working directory per client), with contents. */
async function stagedTree(agent: CrashAgent): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (dir: string, rel: string) => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(dir, e.name), r);
      else out.set(r, await fs.readFile(path.join(dir, e.name)));
    }
  };
  for (const d of await fs.readdir(path.join(agent.stage, 'sessions'))) {
    await walk(path.join(agent.stage, 'sessions', d, 'tree'), '');
  }
  return out;
}

/** Every file staged and committed again, byte-identical: nothing the failed job took was lost. */
async function assertStagedKept(t: ExecutionContext, agent: CrashAgent, sources: Map<string, Buffer>) {
  const tree = await stagedTree(agent);
  t.deepEqual([...tree.keys()].sort(), [...sources.keys()].sort(), 'every staged file is still in the tree');
  for (const [p, data] of sources) t.true(tree.get(p)?.equals(data), `${p} is intact`);
  const ls = await agent.cli('ls', 'a', '--client', CLIENT, '--json');
  t.is(ls.code, 0, ls.stderr);
  t.true(
    (JSON.parse(ls.stdout) as { committed: boolean }[]).every((e) => e.committed),
    `still committed: ${ls.stdout}`,
  );
}

test('a write error on one drive: the attempt is recorded bad (WRITE_FAILED) and the copy is burned on another drive', async (t) => {
  t.timeout(110_000);
  const { agent, view } = await agentFor(t, { drives: 3 });
  await agent.start();
  // sr1's "disc" is a FIFO; each time a writer opens it, the reader takes 1 MiB and hangs up
  const fifo = agent.mediumPath('sr1');
  t.is((await execText('mkfifo', [fifo])).code, 0);
  const reader: ChildProcess = spawn(
    'sh',
    ['-c', 'while [ -p "$0" ]; do head -c 1048576 "$0" > /dev/null; done', fifo],
    { detached: true, stdio: 'ignore' },
  );
  t.teardown(() => {
    try {
      process.kill(-reader.pid!, 'SIGKILL');
    } catch {}
  });
  const src = path.join(agent.dir, 'src');
  const sources = await makeTree(src, threeVolumes(1));
  const job = await stageAndBurn(agent, src, { copies: 2, media: 'test-8m' }, CLIENT);
  await waitForJob(view, job, 100_000, agent);

  const s = await status(agent, job);
  t.is(s.stateName, 'done', s.message);
  const c = await checkJob(agent, view, job, sources, 2);
  t.deepEqual(c.violations, []);
  const bad = view.copies(job).filter((x) => x.state === 'bad');
  t.true(bad.length >= 1, 'the drive with the write error was used and failed');
  for (const b of bad) {
    t.is(b.drive, 'sr1');
    t.regex(b.error, /^WRITE_FAILED: drive sr1: .*(Broken pipe|Cannot write|write)/i);
    const redone = view.copies(job).find((x) => x.vsn === b.vsn && x.copyNo === b.copyNo && x.state === 'verified');
    t.truthy(redone, `${b.vsn} copy ${b.copyNo} was burned again`);
    t.not(redone?.drive, 'sr1', 'on another drive');
    t.true(redone!.attempt > b.attempt, 'as a later attempt, on a fresh blank');
  }
  t.true(
    view.copies(job).every((x) => x.state !== 'verified' || x.drive !== 'sr1'),
    'nothing verified on sr1',
  );
  t.regex(agent.log(200), /copy failed.*"drive":"sr1".*WRITE_FAILED/, 'the agent logs the failed copy');
  t.deepEqual((await checkState(agent, view)).violations, []);
});

asRoot(
  'media full: a drive whose disc is too small fails NO_SPACE in xorriso words, the copy goes to another drive',
  async (t) => {
    t.timeout(110_000);
    // the agent's own mount namespace: sr1's directory is a 1 MiB tmpfs
    const dir = await fs.mkdtemp(path.join(tmpdir(), 'optarc-crash-'));
    const small = path.join(dir, 'drives', 'sr1');
    await fs.mkdir(small, { recursive: true });
    const { agent, view } = await agentFor(t, { dir, drives: 3, wrap: withTmpfs([{ dir: small, size: '1m' }]) });
    await agent.start();
    const src = path.join(agent.dir, 'src');
    const sources = await makeTree(src, threeVolumes(2));
    const job = await stageAndBurn(agent, src, { copies: 2, media: 'test-8m' }, CLIENT);
    await waitForJob(view, job, 100_000, agent);

    const s = await status(agent, job);
    t.is(s.stateName, 'done', s.message);
    const c = await checkJob(agent, view, job, sources, 2);
    t.deepEqual(c.violations, []);
    const bad = view.copies(job).filter((x) => x.state === 'bad');
    t.true(bad.length >= 1, 'the small drive was used and refused the image');
    for (const b of bad) {
      t.is(b.drive, 'sr1');
      t.regex(b.error, /^NO_SPACE: drive sr1: the image does not fit: .*exceeds free space on media/);
      const redone = view.copies(job).find((x) => x.vsn === b.vsn && x.copyNo === b.copyNo && x.state === 'verified');
      t.truthy(redone, `${b.vsn} copy ${b.copyNo} was burned again`);
      t.not(redone?.drive, 'sr1', 'on another drive');
    }
    t.deepEqual((await checkState(agent, view)).violations, []);
  },
);

asRoot(
  'ENOSPC while mastering: the job fails NO_SPACE naming the images directory, no partial image, staged files kept',
  async (t) => {
    t.timeout(110_000);
    const dir = await fs.mkdtemp(path.join(tmpdir(), 'optarc-crash-'));
    const images = path.join(dir, 'state', 'images');
    await fs.mkdir(images, { recursive: true });
    const { agent, view } = await agentFor(t, { dir, drives: 2, wrap: withTmpfs([{ dir: images, size: '2m' }]) });
    await agent.start();
    const src = path.join(agent.dir, 'src');
    const sources = await makeTree(src, { 'a/one.bin': 3 * MiB, 'a/two.bin': 100_000, 'a/three.txt': 10 });
    const job = await stageAndBurn(agent, src, { copies: 2, media: 'test-8m' }, CLIENT);
    await waitForJob(view, job, 100_000, agent);

    const s = await status(agent, job);
    t.log(s.message);
    t.is(s.stateName, 'failed');
    t.regex(s.message, /NO_SPACE|no space left|does not fit on its filesystem/i);
    t.true(s.message.includes(agent.images), `the message names the images directory: ${s.message}`);
    t.true(s.message.includes(s.volumes[0]!.vsn), 'and the volume');
    // inside the agent's namespace, on the full filesystem: nothing half-made is left
    const left = await execText('nsenter', [
      '-t',
      String(agent.pid),
      '-m',
      '--',
      'find',
      agent.images,
      '-mindepth',
      '1',
    ]);
    t.is(left.code, 0, left.out);
    t.is(left.out.trim(), '', 'no partial image, work directory or image is left');
    t.deepEqual(
      view.volumes(job).map((v) => v.state),
      ['failed'],
    );
    t.deepEqual(view.copies(job), [], 'no disc was touched');
    t.deepEqual(await fs.readdir(path.join(agent.stage, 'jobs')), [], "the job's area is removed");
    await assertStagedKept(t, agent, sources);

    // with room for images again (the agent restarted without the small filesystem), the same files burn
    await agent.stop();
    const roomy = await CrashAgent.create({ dir, drives: 2 });
    t.teardown(() => roomy.kill());
    await roomy.start();
    const again = await stageAndBurn(roomy, src, { copies: 2, media: 'test-8m' }, CLIENT);
    await waitForJob(view, again, 100_000, roomy);
    const c = await checkJob(roomy, view, again, sources, 2);
    t.deepEqual(c.violations, []);
    t.not(c.vsns[0], s.volumes[0]!.vsn, 'the failed volume keeps its VSN; the new one takes the next');
  },
);

test('a drive that disappears mid-job: its copy is recorded DRIVE_MISSING and the copies go to the drive left', async (t) => {
  t.timeout(110_000);
  const { agent, view } = await agentFor(t, { drives: 2 });
  await agent.start();
  const src = path.join(agent.dir, 'src');
  const sources = await makeTree(src, threeVolumes(3));
  const job = await stageAndBurn(agent, src, { copies: 2, media: 'test-8m' }, CLIENT);
  // while sr1 writes its first copy, its bay is pulled out
  while (!view.copies(job).some((c) => c.drive === 'sr1' && c.state === 'writing')) await sleep(5);
  await sleep(100);
  await releaseWriteOnce(agent.driveDir('sr1'));
  await fs.rm(agent.driveDir('sr1'), { recursive: true, force: true });
  await waitForJob(view, job, 100_000, agent);

  const s = await status(agent, job);
  t.is(s.stateName, 'done', s.message);
  const c = await checkJob(agent, view, job, sources, 2);
  t.deepEqual(c.violations, []);
  const copies = view.copies(job);
  const bad = copies.filter((x) => x.state === 'bad');
  t.is(bad.length, 1, JSON.stringify(bad));
  t.is(bad[0]!.drive, 'sr1');
  t.regex(bad[0]!.error, /^DRIVE_MISSING: drive sr1 disappeared/);
  const after = copies.filter((x) => x.id > bad[0]!.id);
  t.true(after.length > 0);
  t.true(
    after.every((x) => x.drive === 'sr0'),
    'every later attempt is on sr0',
  );
  t.regex(agent.log(200), /a drive is missing.*"drive":"sr1"/);
});

test('the only drive disappears mid-job: the job fails naming it, and the staged files are kept', async (t) => {
  t.timeout(110_000);
  const { agent, view } = await agentFor(t, { drives: 1 });
  await agent.start();
  const src = path.join(agent.dir, 'src');
  const sources = await makeTree(src, threeVolumes(4));
  const job = await stageAndBurn(agent, src, { copies: 1, media: 'test-8m' }, CLIENT);
  while (!view.copies(job).some((c) => c.state === 'writing')) await sleep(5);
  await sleep(100);
  await releaseWriteOnce(agent.driveDir('sr0'));
  await fs.rm(agent.driveDir('sr0'), { recursive: true, force: true });
  await waitForJob(view, job, 100_000, agent);

  const s = await status(agent, job);
  t.log(s.message);
  t.is(s.stateName, 'failed');
  t.regex(s.message, /every drive is missing \(sr0\)/);
  t.deepEqual(
    view.volumes(job).map((v) => v.state),
    ['failed', 'failed', 'failed'],
  );
  const bad = view.copies(job);
  t.is(bad.length, 1);
  t.regex(bad[0]!.error, /^DRIVE_MISSING: drive sr0 disappeared/);
  t.deepEqual(await fs.readdir(path.join(agent.stage, 'jobs')), [], "the job's area is removed");
  await assertStagedKept(t, agent, sources);
});
