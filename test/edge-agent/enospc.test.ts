/**
 * A full staging filesystem, for real: a 2 MiB tmpfs in a private mount
 * namespace (unshare; needs root). Writing past it is a clear NO_SPACE, the
 * file stays uncommitted and out of the tree, committed files are intact, and
 * once space is freed staging goes on.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ROOT } from '../helpers/processes.js';

const asRoot = process.getuid?.() === 0 ? test : test.skip;

asRoot('ENOSPC while staging is NO_SPACE, and nothing half-written reaches the tree', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'optarc-enospc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const script = path.join(ROOT, 'dist/test/edge-agent/enospc-scenario.js');
  const out: string = await new Promise((resolve, reject) =>
    execFile(
      'unshare',
      ['--mount', '--', process.execPath, script, path.join(dir, 'stage')],
      { timeout: 60_000 },
      (err, stdout, stderr) =>
        err && !stdout ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(String(stdout)),
    ),
  );
  const r = JSON.parse(out.trim().split('\n').pop()!);
  t.falsy(r.crashed, r.crashed);
  t.is(r.error, 'NO_SPACE', r.message);
  // refused by the free-space check before the write, or by ENOSPC during it: both say what to do
  t.regex(r.message, /staging filesystem (is full|has \d+ bytes free)/);
  t.false(r.big.committed);
  t.deepEqual(r.tree, ['small'], 'the uncommitted file never reached the tree');
  t.true(r.smallIntact);
  t.true(r.afterOk, 'staging goes on once space is freed');
});
