/**
 * Runs inside a private mount namespace (see enospc.test.ts): a 2 MiB tmpfs is
 * the staging filesystem, a client stages more than fits, and the scenario
 * prints what it saw as one JSON line.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { StagingError } from '../../edge-agent/staging/errors.js';
import { StagingArea } from '../../edge-agent/staging/staging-area.js';

const root = process.argv[2];

async function main() {
  await fs.mkdir(root, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', root]);
  const area = new StagingArea({
    root,
    charset: 'utf-8',
    sessionQuotaBytes: 1n << 40n,
    totalQuotaBytes: 1n << 40n,
    minFreeBytes: 0n,
  });
  const dir = await area.open('full', () => ({ seconds: 0n, nanoseconds: 0 }));
  const small = randomBytes(100_000);
  await dir.write(Buffer.from('small'), 0n, small);
  await dir.commit(Buffer.from('small'), 100_000n, 0o644, null, createHash('sha256').update(small).digest());
  const result: Record<string, unknown> = {};
  const chunk = randomBytes(256 * 1024);
  let offset = 0n;
  try {
    for (let i = 0; i < 16; i++) {
      await dir.write(Buffer.from('big'), offset, chunk);
      offset += BigInt(chunk.length);
    }
    result.error = 'no error';
  } catch (e) {
    result.error = e instanceof StagingError ? e.code : String(e);
    result.message = (e as Error).message;
  }
  result.writtenBeforeError = String(offset);
  result.big = await dir.stat(Buffer.from('big')).then((e) => ({ committed: e.committed, size: String(e.size) }));
  result.tree = await fs.readdir(`${root}/sessions/full/tree`);
  result.smallIntact = (await fs.readFile(`${root}/sessions/full/tree/small`)).equals(small);
  await dir.remove(Buffer.from('big'));
  const after = randomBytes(1000);
  await dir.write(Buffer.from('after'), 0n, after);
  await dir.commit(Buffer.from('after'), 1000n, 0o644, null, null);
  result.afterOk = (await fs.readFile(`${root}/sessions/full/tree/after`)).equals(after);
  await dir.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ crashed: String(e?.stack ?? e) })}\n`);
  process.exit(1);
});
