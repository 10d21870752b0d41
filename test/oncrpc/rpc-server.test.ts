/**
 * RpcServer's connection policy: many concurrent clients, a connection cap
 * with a clear refusal, the idle timeout, backpressure against a peer that
 * never reads, graceful close, the record size limit enforced before buffering,
 * and the record-marking violations that close a connection.
 */
import net from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { AcceptStat, RpcClient, RpcError, x } from '../../clients/oncrpc/index.js';
import {
  CapturingLogger,
  callBody,
  encodeArgs,
  frame,
  header,
  Proc,
  RawConnection,
  rawCall,
  rawConnection,
  sleep,
  startTestServer,
  TEST_PROG,
  until,
} from './rpc-test-kit.js';

async function client(t: ExecutionContext, port: number): Promise<RpcClient> {
  const c = await RpcClient.connect({ host: '127.0.0.1', port, timeoutMs: 10_000 });
  t.teardown(() => c.destroy());
  return c;
}

function echo(c: RpcClient, data: Buffer): Promise<Buffer> {
  return c.call(TEST_PROG, 1, Proc.ECHO, x.opaque(), data, x.opaque());
}

/** Pipelined calls on a raw socket, one buffer. */
function pipelined(count: number, proc: number, args: Buffer, firstXid = 1): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) out.push(frame(callBody({ xid: firstXid + i, proc, args })));
  return Buffer.concat(out);
}

test('50 concurrent clients × 20 pipelined calls each get their own answers', async (t) => {
  const { server, port, counters } = await startTestServer(t);
  const clients = await Promise.all(Array.from({ length: 50 }, () => client(t, port)));
  const results = await Promise.all(
    clients.map(async (c, ci) => {
      const calls = Array.from({ length: 20 }, (_, k) => {
        const payload = Buffer.from(`client ${ci} call ${k} `.repeat(1 + ((ci * 7 + k) % 13)));
        return echo(c, payload).then((got) => got.equals(payload));
      });
      return (await Promise.all(calls)).every(Boolean);
    }),
  );
  t.true(results.every(Boolean));
  // All 50 were open at once: each has been answered and none has closed.
  t.is(server.stats.connections, 50);
  t.is(counters.ECHO, 1000);
  t.is(server.stats.accepted, 50);
  t.is(server.stats.refused, 0);
  t.is(server.stats.calls, 1000);
});

test('past the connection cap a connection is closed at once, counted, and logged; earlier ones keep working', async (t) => {
  const log = new CapturingLogger();
  const { server, port } = await startTestServer(t, { maxConnections: 3, log });
  const first = await Promise.all([client(t, port), client(t, port), client(t, port)]);
  for (const c of first) t.deepEqual(await echo(c, Buffer.from('ok')), Buffer.from('ok'));

  const extra = await rawConnection(t, port);
  extra.send(frame(callBody({ xid: 1, proc: Proc.NULL })));
  t.true(await extra.waitClosed(3000), 'the extra connection is closed');
  t.is(extra.records.length, 0, 'and never answered');
  t.is(server.stats.refused, 1);
  t.is(server.stats.connections, 3);
  const line = log.find((l) => l.msg.includes('connection cap'));
  t.truthy(line);
  t.is(line?.fields.peer, `127.0.0.1:${extra.localPort}`);

  // The RpcClient sees the refusal as a closed connection.
  const refused = await client(t, port);
  const e = await t.throwsAsync(echo(refused, Buffer.from('x')), { instanceOf: RpcError });
  t.is(e?.code, 'CONNECTION_CLOSED');
  t.is(server.stats.refused, 2);

  for (const c of first) t.deepEqual(await echo(c, Buffer.from('still')), Buffer.from('still'));

  // A freed slot is usable again.
  first[0].destroy();
  t.true(await until(() => server.stats.connections === 2, 3000));
  const again = await client(t, port);
  t.deepEqual(await echo(again, Buffer.from('again')), Buffer.from('again'));
  t.is(server.stats.refused, 2);
});

test('an idle connection is closed after the idle timeout; one with a call in flight is not', async (t) => {
  const log = new CapturingLogger();
  const { server, port } = await startTestServer(t, { idleTimeoutMs: 500, log });
  const idle = await rawConnection(t, port);
  const started = Date.now();
  const r = await rawCall(idle, { xid: 1, proc: Proc.NULL });
  t.is(r.header.kind, 'success');
  t.true(await idle.waitClosed(3000));
  const waited = Date.now() - started;
  t.true(waited >= 400, `closed after ${waited} ms`);
  t.truthy(log.find((l) => l.msg === 'closing idle connection' && l.fields.peer === `127.0.0.1:${idle.localPort}`));

  // A call that takes longer than the idle timeout is answered.
  const busy = await rawConnection(t, port);
  const slow = await rawCall(busy, { xid: 2, proc: Proc.DELAY, args: encodeArgs(x.uint, 1200) });
  t.deepEqual(slow.header, { xid: 2, kind: 'success' });
  t.is(slow.reader.uint(), 1200);
  // ... and once it has been answered, the connection idles out like any other.
  const answered = Date.now();
  t.true(await busy.waitClosed(3000), 'closed after its slow call was answered');
  t.true(Date.now() - answered >= 250, `closed ${Date.now() - answered} ms after the reply`);

  // A connection that keeps talking stays open past several timeouts.
  const chatty = await rawConnection(t, port);
  for (let i = 0; i < 12; i++) {
    t.is((await rawCall(chatty, { xid: i, proc: Proc.NULL })).header.kind, 'success');
    await sleep(80);
  }
  t.false(chatty.closed);
  const ok = await until(() => server.stats.connections === 0, 3000);
  t.true(ok, `${server.stats.connections} busy=${busy.closed} chatty=${chatty.closed}`);
});

test('backpressure: a peer that pipelines big calls and never reads does not make the server buffer without bound', async (t) => {
  const { server, port, counters } = await startTestServer(t, { maxQueuedReplyBytes: 256 * 1024 });
  const N = 2000;
  const SIZE = 64 * 1024;
  const raw = await rawConnection(t, port);
  raw.socket.pause(); // never read
  raw.send(pipelined(N, Proc.BIG, encodeArgs(x.uint, SIZE)));
  // The calls are all sent (the whole request is ~100 KB); the server stops once replies back up.
  await until(() => counters.BIG > 0, 3000);
  await sleep(400);
  const ranWhileBlocked = counters.BIG;
  await sleep(400);
  t.is(counters.BIG, ranWhileBlocked, 'the server stays paused while the peer does not read');
  // What the server ran is what fits in its queue and the kernel's socket buffers, far from all of it.
  t.true(ranWhileBlocked < N / 4, `${ranWhileBlocked} of ${N} calls ran while the peer was not reading`);
  t.log(`${ranWhileBlocked} of ${N} calls (${((ranWhileBlocked * SIZE) / 2 ** 20).toFixed(1)} MiB) ran while blocked`);
  const mem = process.memoryUsage();
  t.true(mem.arrayBuffers < 512 * 2 ** 20, `arrayBuffers ${mem.arrayBuffers}`);

  raw.socket.resume();
  t.true(await raw.waitRecords(N, 15_000), `${raw.records.length} of ${N} replies`);
  for (let i = 0; i < N; i++) {
    const r = await raw.reply();
    if (r.header.xid !== i + 1 || r.header.kind !== 'success') t.fail(`reply ${i}: ${JSON.stringify(r.header)}`);
    const data = x.opaque().decode(r.reader);
    if (data.length !== SIZE) t.fail(`reply ${i} has ${data.length} bytes`);
  }
  t.is(counters.BIG, N);
  t.is(server.stats.connections, 1);
});

test('backpressure: replies held behind a slow call count against maxCallsInFlight', async (t) => {
  const { port, counters } = await startTestServer(t, { maxCallsInFlight: 16 });
  const raw = await rawConnection(t, port);
  const N = 1000;
  raw.send(
    Buffer.concat([
      frame(callBody({ xid: 0, proc: Proc.DELAY, args: encodeArgs(x.uint, 1500) })),
      pipelined(N, Proc.BIG, encodeArgs(x.uint, 32 * 1024), 1),
    ]),
  );
  t.true(await until(() => counters.BIG > 0, 1000));
  await sleep(200);
  // While call 0 sleeps, the finished replies after it cannot be sent: the server stops reading.
  t.is(counters.DELAY, 1);
  t.true(counters.BIG <= 15, `${counters.BIG} calls ran behind the slow one`);
  t.is(raw.records.length, 0);
  t.true(await raw.waitRecords(N + 1, 10_000));
  const first = await raw.reply();
  t.deepEqual(first.header, { xid: 0, kind: 'success' });
  for (let i = 1; i <= N; i++) {
    const r = await raw.reply();
    if (r.header.xid !== i) t.fail(`reply ${i} has xid ${r.header.xid}`);
  }
  t.is(counters.BIG, N);
});

test('backpressure: a reply queue limit below the socket high-water mark still resumes', async (t) => {
  const { port, counters } = await startTestServer(t, { maxQueuedReplyBytes: 1024 });
  const N = 6000;
  const raw = await rawConnection(t, port);
  raw.socket.pause();
  // 36 MB of replies, more than the kernel buffers; the calls are sent in several
  // writes so that reads keep arriving after the server first pauses.
  for (let i = 0; i < 6; i++) {
    raw.send(pipelined(N / 6, Proc.BIG, encodeArgs(x.uint, 6000), 1 + (i * N) / 6));
    await sleep(20);
  }
  await sleep(300);
  t.true(counters.BIG < N, `${counters.BIG} ran before the peer read`);
  raw.socket.resume();
  t.true(await raw.waitRecords(N, 10_000), `${raw.records.length} of ${N} replies`);
  t.is(counters.BIG, N);
});

test('close() lets a call in flight answer, then closes the connection and refuses new ones', async (t) => {
  // A long closeTimeoutMs: close() must finish because the calls are answered, not by giving up.
  const { server, port, counters } = await startTestServer(t, { closeTimeoutMs: 20_000 });
  const c = await client(t, port);
  const raw = await rawConnection(t, port);
  await echo(c, Buffer.from('warm'));
  t.is((await rawCall(raw, { xid: 1, proc: Proc.NULL })).header.kind, 'success');

  const slow = c.call(TEST_PROG, 1, Proc.DELAY, x.uint, 300, x.uint);
  raw.send(frame(callBody({ xid: 2, proc: Proc.DELAY, args: encodeArgs(x.uint, 200) })));
  // Both calls are in flight (a call the server has not read yet when close() begins is not).
  t.true(await until(() => counters.DELAY === 2, 5000));
  const started = Date.now();
  const closing = server.close();
  t.is(await slow, 300);
  const r = await raw.reply();
  t.deepEqual(r.header, { xid: 2, kind: 'success' });
  await closing;
  const took = Date.now() - started;
  t.true(took < 10_000, `close() took ${took} ms`);
  t.true(await raw.waitClosed(2000));
  t.is(server.stats.connections, 0);
  await t.throwsAsync(RpcClient.connect({ host: '127.0.0.1', port, connectTimeoutMs: 2000 }));
  // A second close() is harmless.
  await server.close();
});

test('close() does not wait for a peer that stays silent, and cuts a call that outlasts closeTimeoutMs', async (t) => {
  const { server, port } = await startTestServer(t, { closeTimeoutMs: 300 });
  const quiet = await rawConnection(t, port);
  const stuck = await rawConnection(t, port);
  stuck.send(frame(callBody({ xid: 9, proc: Proc.DELAY, args: encodeArgs(x.uint, 2000) })));
  await sleep(50);
  const started = Date.now();
  await server.close();
  const took = Date.now() - started;
  t.true(took < 2000, `close() took ${took} ms`);
  t.true(await quiet.waitClosed(2000));
  t.true(await stuck.waitClosed(2000));
  t.is(stuck.records.length, 0);
});

test('a record header claiming more than maxRecordSize closes the connection before the data arrives', async (t) => {
  const log = new CapturingLogger();
  const { server, port } = await startTestServer(t, { maxRecordSize: 4096, log });
  const big = await rawConnection(t, port);
  // Only the 4-byte header: 2 GiB - 1 claimed, nothing sent after it.
  big.send(header(0x7fffffff, true));
  t.true(await big.waitClosed(3000));
  const line = log.find((l) => l.msg.includes('record marking') && l.fields.peer === `127.0.0.1:${big.localPort}`);
  t.truthy(line, JSON.stringify(log.lines));
  t.regex(String(line?.fields.error), /exceeds the maximum 4096/);
  t.is(server.stats.protocolErrors, 1);

  // Fragments that together pass the limit are refused the same way.
  const frags = await rawConnection(t, port);
  frags.send(Buffer.concat([header(3000, false), Buffer.alloc(3000), header(3000, true)]));
  t.true(await frags.waitClosed(3000));
  t.is(server.stats.protocolErrors, 2);

  // A record within the limit is served.
  const ok = await rawConnection(t, port);
  const data = Buffer.alloc(4000, 3);
  const r = await rawCall(ok, { xid: 1, proc: Proc.ECHO, args: encodeArgs(x.opaque(), data) });
  t.deepEqual(x.opaque().decode(r.reader), data);
  t.false(ok.closed);

  // The client's own view of a refused record.
  const c = await client(t, port);
  const e = await t.throwsAsync(echo(c, Buffer.alloc(8192)), { instanceOf: RpcError });
  t.is(e?.code, 'CONNECTION_CLOSED');
});

test('a zero-length fragment that is not the last closes the connection; an empty last fragment is fine', async (t) => {
  const log = new CapturingLogger();
  const { server, port } = await startTestServer(t, { log });
  const bad = await rawConnection(t, port);
  const body = callBody({ xid: 5, proc: Proc.NULL });
  bad.send(Buffer.concat([header(8, false), body.subarray(0, 8), header(0, false)]));
  t.true(await bad.waitClosed(3000));
  t.is(bad.records.length, 0);
  t.is(server.stats.protocolErrors, 1);
  t.truthy(
    log.find((l) => l.fields.peer === `127.0.0.1:${bad.localPort}` && /zero-length/.test(String(l.fields.error))),
  );

  // libtirpc ends a record that filled its buffer with an empty last fragment.
  const good = await rawConnection(t, port);
  good.send(frame(body, [body.length]));
  const r = await good.reply();
  t.deepEqual(r.header, { xid: 5, kind: 'success' });
  // And 1-byte fragments reassemble.
  good.send(
    frame(callBody({ xid: 6, proc: Proc.ADD, args: Buffer.from('0000000200000003', 'hex') }), Array(60).fill(1)),
  );
  const r2 = await good.reply();
  t.deepEqual(r2.header, { xid: 6, kind: 'success' });
  t.is(r2.reader.int(), 5);
});

test('a connection that resets mid-call does not disturb the others', async (t) => {
  const { server, port } = await startTestServer(t);
  const c = await client(t, port);
  for (let i = 0; i < 20; i++) {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    await new Promise((resolve) => s.once('connect', resolve));
    s.write(frame(callBody({ xid: i, proc: Proc.DELAY, args: encodeArgs(x.uint, 30) })));
    s.write(frame(callBody({ xid: i, proc: Proc.BIG, args: encodeArgs(x.uint, 1 << 20) })));
    s.resetAndDestroy();
  }
  t.deepEqual(await echo(c, Buffer.from('fine')), Buffer.from('fine'));
  t.true(await until(() => server.stats.connections === 1, 3000));
  const raw = await RawConnection.open(port);
  t.teardown(() => raw.destroy());
  const r = await rawCall(raw, { xid: 3, proc: Proc.ECHO16, args: encodeArgs(x.uint, 17) });
  t.deepEqual(r.header, { xid: 3, kind: 'accepted-error', stat: AcceptStat.GARBAGE_ARGS });
});

test('a call that cannot be answered after big ones: their replies still arrive whole, then the connection closes', async (t) => {
  // found by the fuzzer (seed 1977452237): closing at once cut the replies still queued before it
  const { port, server } = await startTestServer(t);
  const conn = await RawConnection.open(port);
  t.teardown(() => conn.socket.destroy());
  const big = 1024 * 1024; // BIG answers at most 1 MiB of data
  const calls = 16; // more than the kernel's socket buffers hold while the client does not read
  conn.socket.pause(); // a client that reads late: the replies wait in the server's buffers
  conn.send(
    Buffer.concat([
      ...Array.from({ length: calls }, (_, i) =>
        frame(callBody({ xid: i + 1, proc: Proc.BIG, args: encodeArgs(x.uint, big) })),
      ),
      frame(callBody({ xid: 100, proc: Proc.NULL, msgType: 0x4500 })), // not a CALL: it cannot be answered
      frame(callBody({ xid: 101, proc: Proc.NULL })), // after it: dropped
    ]),
  );
  await sleep(500);
  conn.socket.resume();
  t.true(await conn.waitClosed(20_000), 'the server closes the connection');
  t.is(conn.records.length, calls, 'every reply owed before the bad call, and none after');
  conn.records.forEach((reply, i) => {
    t.is(reply.readUInt32BE(0), i + 1, `reply ${i + 1} in order`);
    t.is(reply.length, 24 + 4 + big, `reply ${i + 1} whole: header, length and 1 MiB of data`);
  });
  t.true(server.stats.calls >= calls + 1);
});
