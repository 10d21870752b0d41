/**
 * Every optarc procedure fed mutated arguments (byte flips, truncations,
 * extensions, huge lengths) from a valid call, seeded so a failure replays:
 * each call gets GARBAGE_ARGS or a well-formed result, never a crash, and
 * afterwards the agent still serves and what was committed is intact.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { RpcClient, RpcError, type XdrType, XdrWriter } from '../../clients/oncrpc/index.js';
import {
  createCodecs,
  createOptarcV1Procedures,
  OPTARC_PROG,
  OPTARC_V1,
  OptarcStatus,
} from '../../clients/protocol/generated/optarc.js';
import { Prng, randomSeed } from '../fuzz/mutator.js';
import { startAgent } from './agent-kit.js';

const procs = createOptarcV1Procedures(createCodecs('utf-8'));

/** Arguments already encoded, sent as they are. */
const rawArgs: XdrType<Buffer> = {
  name: 'raw',
  encode: (w, v) => w.fixedOpaque(v),
  decode: () => Buffer.alloc(0),
};

function encodeArgs<T>(type: XdrType<T>, value: T): Buffer {
  const w = new XdrWriter();
  type.encode(w, value);
  return w.toBuffer();
}

test('mutated arguments to every procedure get GARBAGE_ARGS or a proper answer, and nothing is lost', async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? randomSeed());
  t.log(`seed ${seed} (FUZZ_SEED=${seed} replays)`);
  const rng = new Prng(seed);
  const { port, root, errors } = await startAgent(t, {
    quota: 1n << 26n,
    totalQuota: 1n << 27n,
    maxRecordSize: 2 << 20,
  });
  const rpc = await RpcClient.connect({ host: '127.0.0.1', port, timeoutMs: 10_000 });
  t.teardown(() => rpc.destroy());
  const call = (n: number, args: unknown) =>
    rpc.call(OPTARC_PROG, OPTARC_V1, n, (procs as any)[n].args, args, (procs as any)[n].result) as Promise<any>;

  const hello = await call(1, { protocol: 1, client_time: { seconds: 1n, nanoseconds: 0 }, client: 'fuzz' });
  const session = hello.value.session as bigint;
  const kept = randomBytes(5000);
  await call(3, { session, path: Buffer.from('keep'), mode: 0o755 });
  await call(4, { session, path: Buffer.from('keep/file'), offset: 0n, data: kept });
  const sha = createHash('sha256').update(kept).digest();
  t.is(
    (await call(5, { session, path: Buffer.from('keep/file'), size: 5000n, mode: 0o644, mtime: null, sha256: sha }))
      .tag,
    0,
  );

  const p = (s: string) => Buffer.from(s);
  const valid: Record<number, unknown> = {
    1: { protocol: 1, client_time: { seconds: 5n, nanoseconds: 7 }, client: 'fuzz-other' },
    2: { session },
    3: { session, path: p('dir'), mode: 0o755 },
    4: { session, path: p('dir/f'), offset: 0n, data: randomBytes(100) },
    5: { session, path: p('dir/f'), size: 100n, mode: 0o644, mtime: { seconds: 1n, nanoseconds: 0 }, sha256: sha },
    6: { session, dir: p('keep'), cookie: 0n, count: 10 },
    7: { session, path: p('keep/file') },
    8: { session, path: p('dir/f') },
    9: { session, mode: 1, copies: 2, media: 'DVD+R', label: 'L' },
    10: { session, job: 1n },
    11: { session },
    12: { session, drive: 'sr0' },
    13: { session, drive: 'sr0', eject: true },
    14: { session, drive: 'sr0', dir: p(''), cookie: 0n, count: 1 },
    15: { session, drive: 'sr0', path: p('x'), offset: 0n, count: 10 },
    16: { session, drive: 'sr0' },
    17: { session, copies: 1, media: 'DVD+R' },
  };
  let garbage = 0;
  let answered = 0;
  for (let i = 0; i < 1500; i++) {
    const n = 1 + rng.int(17);
    if (n === 2) continue; // BYE would end the session the rest of the run uses
    const bytes = Buffer.from(encodeArgs((procs as any)[n].args, valid[n]));
    let mutated: Buffer;
    switch (rng.int(4)) {
      case 0:
        for (let k = 0; k < 1 + rng.int(4); k++) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
        mutated = bytes;
        break;
      case 1:
        mutated = bytes.subarray(0, rng.int(bytes.length));
        break;
      case 2:
        mutated = Buffer.concat([bytes, randomBytes(1 + rng.int(64))]);
        break;
      default: {
        const at = rng.int(Math.max(1, bytes.length - 4)) & ~3;
        bytes.writeUInt32BE(0xffffffff, Math.min(at, bytes.length - 4));
        mutated = bytes;
      }
    }
    try {
      const res = await rpc.call(
        OPTARC_PROG,
        OPTARC_V1,
        n,
        rawArgs,
        mutated.subarray(0, mutated.length & ~3),
        (procs as any)[n].result,
      );
      t.true(typeof (res as { tag: number }).tag === 'number');
      answered++;
    } catch (e) {
      t.true(
        e instanceof RpcError && e.code === 'GARBAGE_ARGS',
        `procedure ${n}, case ${i}: ${(e as Error).message} ${errors.at(-1)}`,
      );
      garbage++;
    }
  }
  t.log(`${answered} answered, ${garbage} GARBAGE_ARGS`);
  t.true(answered > 0 && garbage > 0, 'both outcomes were exercised');
  const st = await call(7, { session, path: p('keep/file') });
  t.is(st.tag, OptarcStatus.OPTARC_OK, 'the session still works');
  t.true(st.value.committed && st.value.sha256.equals(sha), 'the committed file is intact');
  const [dir] = await fs.readdir(path.join(root, 'sessions'));
  t.true((await fs.readFile(path.join(root, 'sessions', dir, 'tree/keep/file'))).equals(kept));
});
