/**
 * The staging area on a real filesystem in a temp dir: sequential writes with
 * SHA-256 computed on arrival, idempotent retransmissions, commits that check
 * size and digest (and leave the file uncommitted when they fail), quotas,
 * free-space reserve, paging with cookies, symlink escapes, raw-byte names.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { type StagingCode, StagingError } from '../../edge-agent/staging/errors.js';
import { StagingArea } from '../../edge-agent/staging/staging-area.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const sha = (d: Buffer) => createHash('sha256').update(d).digest();
const T0 = { seconds: 1_700_000_000n, nanoseconds: 0 };

async function area(t: ExecutionContext, opts: Partial<ConstructorParameters<typeof StagingArea>[0]> = {}) {
  const root = await fs.mkdtemp(path.join(tmpdir(), 'optarc-stage-'));
  t.teardown(() => fs.rm(root, { recursive: true, force: true }));
  const a = new StagingArea({
    root,
    charset: 'utf-8',
    sessionQuotaBytes: 1n << 40n,
    totalQuotaBytes: 1n << 40n,
    minFreeBytes: 0n,
    ...opts,
  });
  const dir = await a.open('s1', () => T0);
  t.teardown(() => dir.close());
  return { root, area: a, dir, tree: path.join(root, 'sessions/s1/tree') };
}

async function code(t: ExecutionContext, p: Promise<unknown>, expected: StagingCode) {
  const e = await t.throwsAsync(p, { instanceOf: StagingError });
  t.is(e?.code, expected, e?.message);
  return e as StagingError;
}

test('a file written in chunks and committed lands in the tree with its SHA-256, mode and time', async (t) => {
  const { dir, tree } = await area(t);
  const data = randomBytes(300_000);
  await dir.mkdir(b('scans'));
  for (let off = 0; off < data.length; off += 65536) {
    t.is(
      await dir.write(b('scans/a.fits'), BigInt(off), data.subarray(off, off + 65536)),
      BigInt(Math.min(off + 65536, data.length)),
    );
  }
  await t.throwsAsync(fs.stat(path.join(tree, 'scans/a.fits')), undefined, 'not in the tree before commit');
  const r = await dir.commit(
    b('scans/a.fits'),
    BigInt(data.length),
    0o640,
    { seconds: 1_600_000_000n, nanoseconds: 0 },
    sha(data),
  );
  t.true(r.sha256.equals(sha(data)));
  const onDisk = await fs.readFile(path.join(tree, 'scans/a.fits'));
  t.true(onDisk.equals(data));
  const st = await fs.stat(path.join(tree, 'scans/a.fits'));
  t.is(st.mode & 0o777, 0o640);
  t.is(Math.floor(st.mtimeMs / 1000), 1_600_000_000);
  const e = await dir.stat(b('scans/a.fits'));
  t.true(e.committed);
  t.true(e.sha256?.equals(sha(data)));
  // without mtime, the client's clock at HELLO is used
  await dir.write(b('b'), 0n, b('x'));
  await dir.commit(b('b'), 1n, 0o644, null, null);
  t.is(Math.floor((await fs.stat(path.join(tree, 'b'))).mtimeMs / 1000), 1_700_000_000);
});

test('retransmitted WRITEs and COMMITs change nothing; a rewrite with other bytes is hashed right', async (t) => {
  const { dir, tree } = await area(t);
  const data = randomBytes(100_000);
  await dir.write(b('f'), 0n, data.subarray(0, 60_000));
  await dir.write(b('f'), 0n, data.subarray(0, 60_000)); // retransmission
  await dir.write(b('f'), 60_000n, data.subarray(60_000));
  await dir.write(b('f'), 50_000n, data.subarray(50_000, 70_000)); // overlapping retransmission
  const r = await dir.commit(b('f'), 100_000n, 0o644, null, sha(data));
  const again = await dir.commit(b('f'), 100_000n, 0o644, null, sha(data));
  t.true(again.sha256.equals(r.sha256));
  t.true((await fs.readFile(path.join(tree, 'f'))).equals(data));
  await code(t, dir.write(b('f'), 0n, b('late')), 'COMMITTED');

  const g = Buffer.from(data);
  await dir.write(b('g'), 0n, data);
  g.write('REWRITTEN', 10);
  await dir.write(b('g'), 10n, b('REWRITTEN'));
  const rg = await dir.commit(b('g'), 100_000n, 0o644, null, null);
  t.true(rg.sha256.equals(sha(g)), 'the digest covers the rewritten bytes');
});

test('failed commits say why and leave the file uncommitted, ready for a correct commit', async (t) => {
  const { dir, tree } = await area(t);
  const data = randomBytes(1000);
  await dir.write(b('f'), 0n, data);
  const sizes = await code(t, dir.commit(b('f'), 999n, 0o644, null, null), 'SIZE_MISMATCH');
  t.deepEqual(sizes.detail, { kind: 'sizes', expected: 999n, actual: 1000n });
  const wrong = sha(b('something else'));
  const digests = await code(t, dir.commit(b('f'), 1000n, 0o644, null, wrong), 'CHECKSUM_MISMATCH');
  t.true(
    digests.detail?.kind === 'digests' &&
      digests.detail.expected.equals(wrong) &&
      digests.detail.actual.equals(sha(data)),
  );
  await t.throwsAsync(fs.stat(path.join(tree, 'f')));
  t.false((await dir.stat(b('f'))).committed);
  await dir.commit(b('f'), 1000n, 0o644, null, sha(data));
  t.true((await fs.readFile(path.join(tree, 'f'))).equals(data));
});

test('bad offsets, names and missing parents are refused with their codes', async (t) => {
  const { dir } = await area(t);
  await code(t, dir.write(b('f'), 10n, b('gap')), 'BAD_ARGUMENT');
  await code(t, dir.write(b('../escape'), 0n, b('x')), 'BAD_NAME');
  await code(t, dir.write(b('/abs'), 0n, b('x')), 'BAD_NAME');
  await code(t, dir.write(b('no/such/dir/f'), 0n, b('x')), 'NOT_FOUND');
  await dir.mkdir(b('d'));
  await code(t, dir.mkdir(b('d')), 'EXISTS');
  await code(t, dir.write(b('d'), 0n, b('x')), 'IS_DIR');
  await dir.write(b('file'), 0n, b('x'));
  await dir.commit(b('file'), 1n, 0o644, null, null);
  await code(t, dir.write(b('file/inside'), 0n, b('x')), 'NOT_DIR');
  await code(t, dir.commit(b('nothing'), 5n, 0o644, null, null), 'NOT_FOUND');
  await dir.commit(b('empty'), 0n, 0o644, null, sha(Buffer.alloc(0)));
  t.is((await dir.stat(b('empty'))).size, 0n);
});

test('a symbolic link planted in the staging area cannot be followed out of it', async (t) => {
  const { dir, tree } = await area(t);
  const outside = await fs.mkdtemp(path.join(tmpdir(), 'optarc-outside-'));
  t.teardown(() => fs.rm(outside, { recursive: true, force: true }));
  await fs.symlink(outside, path.join(tree, 'link'));
  await code(t, dir.write(b('link/pwned'), 0n, b('x')), 'BAD_NAME');
  await code(t, dir.mkdir(b('link/sub')), 'BAD_NAME');
  t.deepEqual(await fs.readdir(outside), []);
});

test('quotas and the free-space reserve refuse data before it is written', async (t) => {
  const { dir } = await area(t, { sessionQuotaBytes: 1000n });
  await dir.write(b('f'), 0n, Buffer.alloc(900));
  const e = await code(t, dir.write(b('f'), 900n, Buffer.alloc(200)), 'QUOTA_EXCEEDED');
  t.deepEqual(e.detail, { kind: 'quota', limit: 1000n, used: 900n });
  t.is((await dir.stat(b('f'))).size, 900n, 'nothing of the refused write was kept');
  await dir.remove(b('f'));
  t.is(await dir.write(b('g'), 0n, Buffer.alloc(1000)), 1000n, 'the quota is free again after REMOVE');

  const full = await area(t, { minFreeBytes: 1n << 62n });
  await code(t, full.dir.write(b('f'), 0n, b('x')), 'NO_SPACE');
});

test('LIST pages through a large directory with cookies and refuses forged ones', async (t) => {
  const { dir } = await area(t);
  await dir.mkdir(b('big'));
  const names: string[] = [];
  for (let i = 0; i < 700; i++) {
    const n = `f${String(i).padStart(4, '0')}`;
    names.push(n);
    await dir.write(b(`big/${n}`), 0n, b(n));
    if (i % 2 === 0) await dir.commit(b(`big/${n}`), BigInt(n.length), 0o644, null, null);
  }
  const seen: string[] = [];
  let cookie = 0n;
  let pages = 0;
  for (;;) {
    const page = await dir.list(b('big'), cookie, 256);
    seen.push(...page.entries.map((e) => e.name.toString()));
    pages++;
    if (page.eof) break;
    cookie = page.cookie;
  }
  t.is(pages, 3);
  t.deepEqual(seen, names);
  const first = await dir.list(b('big'), 0n, 10);
  t.is(first.entries.filter((e) => e.committed).length, 5, 'committed and uncommitted files are told apart');
  await code(t, dir.list(b(''), first.cookie, 10), 'BAD_COOKIE');
  await code(t, dir.list(b('big'), first.cookie + 100_000n, 10), 'BAD_COOKIE');
  await code(t, dir.remove(b('big')), 'NOT_EMPTY');
});

test('an ISO-8859-1 agent keeps the raw bytes of names on disk', async (t) => {
  const root = await fs.mkdtemp(path.join(tmpdir(), 'optarc-stage-'));
  t.teardown(() => fs.rm(root, { recursive: true, force: true }));
  const a = new StagingArea({
    root,
    charset: 'iso-8859-1',
    sessionQuotaBytes: 1n << 30n,
    totalQuotaBytes: 1n << 30n,
    minFreeBytes: 0n,
  });
  const dir = await a.open('latin', () => T0);
  t.teardown(() => dir.close());
  const name = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in ISO-8859-1
  await dir.write(name, 0n, b('data'));
  await dir.commit(name, 4n, 0o644, null, null);
  const onDisk = await fs.readdir(path.join(root, 'sessions/latin/tree'), { encoding: 'buffer' });
  t.deepEqual(onDisk, [name]);
  const listed = await dir.list(Buffer.alloc(0), 0n, 10);
  t.true(listed.entries[0].name.equals(name));
});

test('pipelined WRITEs to one file apply in arrival order, and a session can resume a partial file', async (t) => {
  const { dir, tree } = await area(t);
  const data = randomBytes(64 * 20);
  const writes = [];
  for (let i = 0; i < 20; i++) writes.push(dir.write(b('p'), BigInt(i * 64), data.subarray(i * 64, (i + 1) * 64)));
  const sizes = await Promise.all(writes);
  t.deepEqual(
    sizes,
    Array.from({ length: 20 }, (_, i) => BigInt((i + 1) * 64)),
  );
  await dir.close(); // the session ends with the file uncommitted
  await dir.write(b('q'), 0n, data.subarray(0, 100));
  await dir.close();
  await dir.write(b('q'), 100n, data.subarray(100));
  await dir.commit(b('p'), BigInt(data.length), 0o644, null, sha(data));
  await dir.commit(b('q'), BigInt(data.length), 0o644, null, sha(data));
  t.true((await fs.readFile(path.join(tree, 'q'))).equals(data), 'the second session continued the first one’s bytes');
});

test('after a failed commit the file can still be written and committed (found by the fuzzer)', async (t) => {
  const { dir, tree } = await area(t);
  const data = randomBytes(3000);
  await dir.write(b('f'), 0n, data.subarray(0, 1000));
  await code(t, dir.commit(b('f'), 1000n, 0o644, null, sha(b('wrong'))), 'CHECKSUM_MISMATCH');
  await dir.write(b('f'), 1000n, data.subarray(1000));
  await code(t, dir.commit(b('f'), 3000n, 0o644, null, sha(b('wrong'))), 'CHECKSUM_MISMATCH');
  await dir.commit(b('f'), 3000n, 0o644, null, sha(data));
  t.true((await fs.readFile(path.join(tree, 'f'))).equals(data));
});

test('after an agent restart, committed files are known again and their partial leftovers are dropped', async (t) => {
  const { root, dir } = await area(t);
  const data = randomBytes(4000);
  await dir.mkdir(b('d'));
  await dir.write(b('d/kept'), 0n, data);
  await dir.commit(b('d/kept'), 4000n, 0o644, null, sha(data));
  await dir.write(b('d/half'), 0n, data.subarray(0, 100));
  await dir.close();
  // a new agent process: a new StagingArea on the same root
  const again = new StagingArea({
    root,
    charset: 'utf-8',
    sessionQuotaBytes: 1n << 40n,
    totalQuotaBytes: 1n << 40n,
    minFreeBytes: 0n,
  });
  t.is(await again.recover(() => T0), 1, 'the working directory left by the last run is taken up');
  t.is(again.used, 4000n, 'and counted against the area before any HELLO');
  const dir2 = await again.open('s1', () => T0);
  t.teardown(() => dir2.close());
  const kept = await dir2.stat(b('d/kept'));
  t.true(kept.committed);
  t.true(kept.sha256?.equals(sha(data)), 'the SHA-256 is known again');
  t.is(dir2.used, 4000n);
  await code(t, dir2.stat(b('d/half')), 'NOT_FOUND');
  t.deepEqual(await fs.readdir(path.join(root, 'sessions/s1/partial')), []);
  const recommit = await dir2.commit(b('d/kept'), 4000n, 0o644, null, sha(data));
  t.true(recommit.sha256.equals(sha(data)), 'a client re-running put is answered OK');
});

test('concurrent WRITEs to different files cannot together pass the quota (found in review)', async (t) => {
  const { dir } = await area(t, { sessionQuotaBytes: 3n * 1024n * 1024n });
  const results = await Promise.allSettled(
    Array.from({ length: 8 }, (_, i) => dir.write(b(`f${i}`), 0n, Buffer.alloc(1024 * 1024))),
  );
  t.is(results.filter((r) => r.status === 'fulfilled').length, 3);
  for (const r of results) if (r.status === 'rejected') t.is((r.reason as StagingError).code, 'QUOTA_EXCEEDED');
  t.is(dir.used, 3n * 1024n * 1024n);
});

test('"g" and "g/" are one file: a WRITE and a REMOVE on the two spellings run one after the other', async (t) => {
  const { dir } = await area(t);
  await dir.write(b('g'), 0n, Buffer.alloc(10));
  const [w, r] = await Promise.allSettled([dir.write(b('g'), 10n, Buffer.alloc(10)), dir.remove(b('g/'))]);
  t.is(w.status, 'fulfilled');
  t.is(r.status, 'fulfilled');
  t.is(dir.used, 0n, 'the quota count follows the file');
  await code(t, dir.stat(b('g')), 'NOT_FOUND');
});
