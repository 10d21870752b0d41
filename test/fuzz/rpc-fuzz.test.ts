/**
 * The bounded in-suite fuzz run (at most 2,000 cases, about 12 s) and the
 * connection flood. The long run is `npm run fuzz -- --seconds N --seed S`
 * (test/fuzz/long-run.ts); both share test/fuzz/mutator.ts.
 *
 * The seed is random on each run and printed; FUZZ_SEED=<n> repeats a run.
 */
import test from 'ava';
import { RpcClient, x } from '../../clients/oncrpc/index.js';
import { Proc, RawConnection, startTestServer, TEST_PROG, until } from '../oncrpc/rpc-test-kit.js';
import { collectGarbage, describe, makeCase, randomSeed, recordSeeds, runFuzz, violations } from './mutator.js';

const MiB = 2 ** 20;
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : randomSeed();

test('the fuzzer is deterministic: a seed and a case number give the same bytes', async (t) => {
  const { port } = await startTestServer(t);
  const seeds = await recordSeeds(port);
  t.true(seeds.length >= 15);
  // The recorded AUTH_SYS call carries the credential the client sent.
  const sys = seeds.find((s) => s.name === 'sys WHOAMI');
  t.is(sys?.layout.credFlavor, 1);
  for (const i of [0, 1, 17, 999]) {
    const a = makeCase(12345, i, seeds);
    const b = makeCase(12345, i, seeds);
    t.deepEqual(a.writes, b.writes);
    t.is(a.kind, b.kind);
  }
  t.notDeepEqual(makeCase(12345, 3, seeds).writes, makeCase(54321, 3, seeds).writes);
});

test('fuzzed calls never crash the server; every faulty connection is answered well-formed or closed', async (t) => {
  t.timeout(40_000);
  t.log(`fuzz seed ${seed} (repeat with FUZZ_SEED=${seed})`);
  const report = await runFuzz({ seed, maxCases: 2000, maxMs: 12_000, concurrency: 32 });
  t.log(describe(report));
  t.deepEqual(report.uncaught, []);
  t.deepEqual(report.failures, [], `seed ${seed}`);
  t.deepEqual(report.goodClient.errors, []);
  t.true(report.goodClient.calls > 50, `the well-behaved client made ${report.goodClient.calls} calls`);
  t.true(report.cases >= 500, `${report.cases} cases ran`);
  // Each mutation family was exercised.
  for (const kind of ['random-fragments', 'pipelined', 'truncated-args', 'bad-flavor', 'byte-flips', 'garbage-after']) {
    t.true((report.kinds[kind] ?? 0) > 0, `no ${kind} cases`);
  }
  t.true(report.server.protocolErrors > 0);
  t.deepEqual(violations(report), []);
  const m = report.memory;
  t.true(m.end.heapUsed - m.baseline.heapUsed < 64 * MiB);
  t.true(m.end.arrayBuffers - m.baseline.arrayBuffers < 64 * MiB);
  t.true(m.peak.arrayBuffers < m.baseline.arrayBuffers + 512 * MiB);
});

test('a connection flood past the cap is refused and counted, memory stays bounded, and a client is served after', async (t) => {
  t.timeout(30_000);
  const CAP = 20;
  const FLOOD = 200;
  const { server, port } = await startTestServer(t, { maxConnections: CAP, idleTimeoutMs: 60_000 });
  const held: RawConnection[] = [];
  t.teardown(() => {
    for (const c of held) c.destroy();
  });

  collectGarbage();
  const before = process.memoryUsage();
  let expectedRefused = 0;
  for (let round = 0; round < 5; round++) {
    const settled = await Promise.allSettled(Array.from({ length: FLOOD }, () => RawConnection.open(port)));
    const conns = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    held.push(...conns);
    // Refused connections are closed by the server; the ones it took stay open.
    t.true(
      await until(() => conns.filter((c) => !c.closed).length === CAP, 10_000),
      `round ${round}: ${conns.filter((c) => !c.closed).length} open`,
    );
    expectedRefused += FLOOD - CAP;
    t.is(server.stats.connections, CAP);
    t.is(server.stats.refused, expectedRefused);
    // The connections the server took are served.
    const open = conns.filter((c) => !c.closed);
    for (const c of open.slice(0, 3)) {
      c.send(Buffer.concat([Buffer.from([0x80, 0, 0, 40]), nullCall(round)]));
      t.is((await c.reply()).header.xid, round);
    }
    for (const c of conns) c.destroy();
    held.length = 0;
    t.true(await until(() => server.stats.connections === 0, 5000));
  }
  collectGarbage();
  const after = process.memoryUsage();
  t.log(
    `refused ${server.stats.refused}; heap ${(before.heapUsed / MiB).toFixed(1)} → ${(after.heapUsed / MiB).toFixed(1)} MiB`,
  );
  t.true(after.heapUsed - before.heapUsed < 32 * MiB);
  t.true(after.arrayBuffers - before.arrayBuffers < 32 * MiB);

  // Once the flood is gone, a legitimate client is served.
  const c = await RpcClient.connect({ host: '127.0.0.1', port, timeoutMs: 5000 });
  t.teardown(() => c.destroy());
  const data = Buffer.from('after the flood');
  t.deepEqual(await c.call(TEST_PROG, 1, Proc.ECHO, x.opaque(), data, x.opaque()), data);
  t.is(server.stats.refused, expectedRefused);
});

function nullCall(xid: number): Buffer {
  const b = Buffer.alloc(40);
  b.writeUInt32BE(xid, 0);
  b.writeUInt32BE(2, 8);
  b.writeUInt32BE(TEST_PROG, 12);
  b.writeUInt32BE(1, 16);
  return b;
}
