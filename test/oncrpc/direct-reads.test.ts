/**
 * Direct reads: large calls are read by the kernel into the buffer their record
 * will occupy (RecordDecoder.directBuffer/commitDirect, wired by the server's
 * socket reader). The record must be byte-identical to what was sent, whatever
 * the fragmentation and however the reads split, and allocations ahead of data
 * are bounded by DIRECT_READ_MAX.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import test from 'ava';
import { procedure, RpcClient, RpcServer, x } from '../../clients/oncrpc/index.js';
import { RecordBufferPool } from '../../clients/oncrpc/rpc/record-buffer-pool.js';
import { DIRECT_READ_THRESHOLD, RecordDecoder } from '../../clients/oncrpc/rpc/record-marking.js';
import { blob, ECHO_PROG, ECHO_VERS, EchoProc, echoProgram } from '../interop/echo-program.js';
import { header } from './rpc-test-kit.js';

/** Feed `stream` as a socket reader would: direct when offered, else `chunk`-sized pushes. */
function feed(decoder: RecordDecoder, stream: Buffer, chunk: number, directRead: number) {
  const records: Buffer[] = [];
  const directSizes: number[] = [];
  let pos = 0;
  while (pos < stream.length) {
    const target = decoder.directBuffer();
    if (target) {
      directSizes.push(target.length);
      const n = Math.min(directRead, target.length, stream.length - pos);
      stream.copy(target, 0, pos, pos + n);
      pos += n;
      records.push(...decoder.commitDirect(n));
    } else {
      const n = Math.min(chunk, stream.length - pos);
      records.push(...decoder.push(stream.subarray(pos, pos + n)));
      pos += n;
    }
  }
  return { records, directSizes };
}

test('a single-fragment 1 MiB record lands in one pooled buffer, the bytes before the direct reads absorbed', (t) => {
  const body = randomBytes(1024 * 1024 + 100);
  const pool = new RecordBufferPool();
  const decoder = new RecordDecoder(8 << 20, pool);
  const first = decoder.push(Buffer.concat([header(body.length, true), body.subarray(0, 1000)]));
  t.deepEqual(first, []);
  let pos = 1000;
  const buffers = new Set<ArrayBufferLike>();
  let record: Buffer | undefined;
  for (let target = decoder.directBuffer(); target; target = decoder.directBuffer()) {
    buffers.add(target.buffer);
    const n = Math.min(target.length, 300_000);
    body.copy(target, 0, pos, pos + n);
    pos += n;
    [record] = decoder.commitDirect(n);
  }
  t.is(pos, body.length);
  t.true(record!.equals(body));
  t.is(buffers.size, 1, 'every direct read filled the same buffer');
  t.true(buffers.has(record!.buffer), 'the record is the buffer the kernel filled: no concatenation');
  t.is(pool.outstanding, 1);
  pool.release(record!);
  t.is(pool.outstanding, 0);
});

test('a client that sends a header and stalls makes the decoder reserve little', (t) => {
  const taken: number[] = [];
  const decoder = new RecordDecoder(8 << 20, {
    take: (n) => {
      taken.push(n);
      return Buffer.allocUnsafe(n);
    },
    release() {},
  });
  decoder.push(header(8 * 1024 * 1024 - 10, true));
  const target = decoder.directBuffer()!;
  t.true(target.length <= DIRECT_READ_THRESHOLD, `first direct read ${target.length} bytes`);
  t.deepEqual(taken, [DIRECT_READ_THRESHOLD], 'reserved ahead of any data: one threshold');
  decoder.commitDirect(target.length);
  const next = decoder.directBuffer()!;
  t.true(next.length <= 8 * DIRECT_READ_THRESHOLD, `then in proportion to what arrived: ${next.length}`);
});

test('a record of one-byte fragments assembles correctly', (t) => {
  const body = randomBytes(256 * 1024);
  const stream = Buffer.alloc(body.length * 5);
  for (let i = 0; i < body.length; i++) {
    stream.writeUInt32BE(((i === body.length - 1 ? 0x80000000 : 0) | 1) >>> 0, i * 5);
    stream[i * 5 + 4] = body[i];
  }
  const records = new RecordDecoder(1 << 20).push(stream);
  t.is(records.length, 1);
  t.true(records[0].equals(body));
});

test('records survive every fragmentation and read split through direct reads', (t) => {
  const bodies = [randomBytes(200_000), randomBytes(3), randomBytes(3 * 1024 * 1024 + 5), randomBytes(70_000)];
  // record 0: two fragments (150,000 + 50,000); record 2: three fragments; others single
  const stream = Buffer.concat([
    header(150_000, false),
    bodies[0].subarray(0, 150_000),
    header(50_000, true),
    bodies[0].subarray(150_000),
    header(3, true),
    bodies[1],
    header(1_000_000, false),
    bodies[2].subarray(0, 1_000_000),
    header(2_000_000, false),
    bodies[2].subarray(1_000_000, 3_000_000),
    header(bodies[2].length - 3_000_000, true),
    bodies[2].subarray(3_000_000),
    header(70_000, true),
    bodies[3],
  ]);
  for (const [chunk, directRead] of [
    [65536, 1 << 30],
    [1, 7],
    [9000, 100_000],
    [4096, 65536],
  ]) {
    const { records, directSizes } = feed(new RecordDecoder(8 << 20), stream, chunk, directRead);
    t.is(records.length, 4, `chunk ${chunk}, direct ${directRead}`);
    for (const [i, r] of records.entries()) {
      t.true(r.equals(bodies[i]), `record ${i} with chunk ${chunk}, direct ${directRead}`);
    }
    t.true(directSizes.length > 0, 'direct reads were offered');
  }
});

test('small fragments are never read directly, and a commit without a buffer is refused', (t) => {
  const decoder = new RecordDecoder(1 << 20);
  decoder.push(header(DIRECT_READ_THRESHOLD - 1, true));
  t.is(decoder.directBuffer(), undefined);
  t.throws(() => decoder.commitDirect(1), { instanceOf: RangeError });
});

for (const directReads of [true, false]) {
  test(`the server echoes large calls intact with directReads ${directReads}`, async (t) => {
    const server = new RpcServer({ maxRecordSize: 16 << 20, directReads });
    server.addProgram(echoProgram());
    const port = await server.listen(0);
    t.teardown(() => server.close());
    const client = await RpcClient.connect({ host: '127.0.0.1', port });
    t.teardown(() => client.destroy());
    for (const size of [0, 70_000, 1024 * 1024, 4 * 1024 * 1024 + 7]) {
      const payload = randomBytes(size);
      const back = await client.call(ECHO_PROG, ECHO_VERS, EchoProc.ECHO, blob, payload, blob);
      t.true(back.equals(payload), `size ${size}`);
    }
    if (directReads)
      t.true(server.stats.directReadBytes > 4 * 1024 * 1024, `${server.stats.directReadBytes} bytes read directly`);
    else t.is(server.stats.directReadBytes, 0);
  });
}

test('a record fragmented like libtirpc (256 KiB fragments) assembles in one buffer without a final copy', (t) => {
  const body = randomBytes(1024 * 1024 + 60);
  const frag = 262_140;
  const pieces: Buffer[] = [];
  for (let off = 0; off < body.length; off += frag) {
    const end = Math.min(off + frag, body.length);
    pieces.push(header(end - off, end === body.length), body.subarray(off, end));
  }
  const pool = new RecordBufferPool();
  const taken: number[] = [];
  const decoder = new RecordDecoder(8 << 20, {
    take: (n) => {
      taken.push(n);
      return pool.take(n);
    },
    release: (b) => pool.release(b),
  });
  const { records } = feed(decoder, Buffer.concat(pieces), 65536, 1 << 30);
  t.is(records.length, 1);
  t.true(records[0].equals(body));
  t.is(taken.length, 1, `one pooled buffer for the whole record, not one per fragment: ${taken}`);
});

test('the pool reuses memory only for procedures that borrow their arguments, and never while in use', (t) => {
  const pool = new RecordBufferPool(2);
  const a = pool.take(1000);
  const b = pool.take(1000);
  t.not(a.buffer, b.buffer);
  pool.release(a);
  pool.release(a); // a second release is ignored
  const c = pool.take(10);
  const d = pool.take(10);
  t.is(c.buffer, a.buffer, 'released memory is reused');
  t.not(d.buffer, a.buffer, 'but handed out once only');
  const big = pool.take(pool.bufferSize + 1);
  pool.release(big);
  t.is(pool.available, 0, 'buffers outside the size class are not pooled');
  pool.release(Buffer.alloc(10));
  t.is(pool.available, 0, 'foreign buffers are ignored');
});

test('concurrent large calls to borrowing and keeping procedures never see each other’s bytes', async (t) => {
  const kept: Buffer[] = [];
  const server = new RpcServer({ maxRecordSize: 16 << 20 });
  server.addProgram({
    name: 'mixed',
    prog: ECHO_PROG,
    vers: ECHO_VERS,
    procedures: {
      // keeps views of its arguments (no borrowsArgs): their memory must never be reused
      1: procedure('KEEP', blob, x.uint, (data) => {
        kept.push(data);
        return kept.length;
      }),
      // borrows: digests the bytes after a delay, then lets the memory go
      2: procedure(
        'SUM',
        blob,
        x.uint,
        async (data) => {
          await new Promise((r) => setTimeout(r, 5));
          return data.reduce((s, v) => (s + v) >>> 0, 0);
        },
        { borrowsArgs: true },
      ),
    },
  });
  const port = await server.listen(0);
  t.teardown(() => server.close());
  const client = await RpcClient.connect({ host: '127.0.0.1', port });
  t.teardown(() => client.destroy());
  const keptPayloads: Buffer[] = [];
  const sums: Promise<unknown>[] = [];
  for (let i = 0; i < 12; i++) {
    const keep = randomBytes(700_000);
    keptPayloads.push(keep);
    await client.call(ECHO_PROG, ECHO_VERS, 1, blob, keep, x.uint);
    for (let j = 0; j < 3; j++) {
      const p = randomBytes(900_000);
      const expected = p.reduce((s, v) => (s + v) >>> 0, 0);
      sums.push(client.call(ECHO_PROG, ECHO_VERS, 2, blob, p, x.uint).then((sum) => t.is(sum, expected)));
    }
  }
  await Promise.all(sums);
  t.true(server.recordBuffers.available > 0, 'borrowed memory came back to the pool');
  for (const [i, k] of kept.entries()) t.true(k.equals(keptPayloads[i]), `kept argument ${i} intact`);
});

test('a call trickled in slower than recordTimeoutMs is cut off, with a log line naming the peer', async (t) => {
  const warnings: string[] = [];
  const log = {
    info() {},
    error() {},
    warn: (m: string, f?: Record<string, unknown>) => warnings.push(`${m} ${f?.peer}`),
  };
  const server = new RpcServer({ recordTimeoutMs: 300, log });
  server.addProgram(echoProgram());
  const port = await server.listen(0);
  t.teardown(() => server.close());
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {}); // the server resets the connection mid-trickle
  t.teardown(() => socket.destroy());
  await new Promise((r) => socket.once('connect', r));
  const closed = new Promise<number>((resolve) => {
    const started = Date.now();
    socket.once('close', () => resolve(Date.now() - started));
  });
  socket.write(Buffer.concat([header(100_000, true), Buffer.alloc(10)]));
  const trickle = setInterval(() => socket.write(Buffer.alloc(1)), 50);
  t.teardown(() => clearInterval(trickle));
  const after = await closed;
  t.true(after >= 250, `closed after ${after} ms, not before the deadline`);
  t.true(
    warnings.some((w) => w.startsWith('closing connection: a call did not arrive whole in time 127.0.0.1:')),
    warnings.join('\n'),
  );
});
