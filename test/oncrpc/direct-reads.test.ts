/**
 * Direct reads: large calls are read by the kernel into the buffer their record
 * will occupy (RecordDecoder.directBuffer/commitDirect, wired by the server's
 * socket reader). The record must be byte-identical to what was sent, whatever
 * the fragmentation and however the reads split, and allocations ahead of data
 * are bounded by DIRECT_READ_MAX.
 */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { RpcClient, RpcServer } from '../../clients/oncrpc/index.js';
import { DIRECT_READ_MAX, DIRECT_READ_THRESHOLD, RecordDecoder } from '../../clients/oncrpc/rpc/record-marking.js';
import { blob, ECHO_PROG, ECHO_VERS, EchoProc, echoProgram } from '../interop/echo-program.js';

function header(length: number, last: boolean): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(((last ? 0x80000000 : 0) | length) >>> 0);
  return h;
}

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

test('a single-fragment 1 MiB record lands in one buffer, the bytes before the direct reads absorbed', (t) => {
  const body = randomBytes(1024 * 1024 + 100);
  const decoder = new RecordDecoder(8 << 20);
  const first = decoder.push(Buffer.concat([header(body.length, true), body.subarray(0, 1000)]));
  t.deepEqual(first, []);
  const target = decoder.directBuffer()!;
  t.truthy(target);
  t.is(target.length, body.length - 1000, 'the direct buffer is exactly the rest of the record');
  body.copy(target, 0, 1000, 500_000);
  t.deepEqual(decoder.commitDirect(500_000 - 1000), []);
  const rest = decoder.directBuffer()!;
  t.is(rest.buffer, target.buffer, 'the same buffer is offered until it is full');
  body.copy(rest, 0, 500_000);
  const [record] = decoder.commitDirect(body.length - 500_000);
  t.true(record.equals(body));
  t.is(record.buffer, target.buffer, 'the record is the buffer the kernel filled: no concatenation');
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
    t.true(
      directSizes.every((n) => n <= DIRECT_READ_MAX + DIRECT_READ_THRESHOLD),
      `allocations ahead of data stay bounded: ${directSizes.reduce((a, b) => Math.max(a, b), 0)}`,
    );
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
