/**
 * RFC 5531 §11 record marking: RecordDecoder and recordHeader().
 * Fragment headers here are built by hand (frag()), not with recordHeader().
 */
import test, { type ExecutionContext } from 'ava';
import { RecordDecoder, RecordMarkingError, recordHeader } from '../../clients/oncrpc/rpc/record-marking.js';

/** One fragment: a 4-byte header (top bit = last, low 31 bits = length) then the data. */
function frag(data: Buffer | string, last: boolean): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const h = Buffer.alloc(4);
  h[0] = ((body.length >>> 24) & 0x7f) | (last ? 0x80 : 0);
  h[1] = (body.length >>> 16) & 0xff;
  h[2] = (body.length >>> 8) & 0xff;
  h[3] = body.length & 0xff;
  return Buffer.concat([h, body]);
}

const str = (records: Buffer[]): string[] => records.map((r) => r.toString('latin1'));

function throwsRm(t: ExecutionContext, fn: () => unknown, code: 'RECORD_TOO_LARGE' | 'EMPTY_FRAGMENT'): void {
  const err = t.throws(fn, { instanceOf: RecordMarkingError });
  t.is(err?.code, code, err?.message);
}

/** A stream of several records exercising every shape the decoder accepts. */
const stream = Buffer.concat([
  frag('hello', true), // one fragment
  frag('ab', false), // three fragments
  frag('c', false),
  frag('defg', true),
  frag('', true), // an empty record
  frag('xyz', false), // data, then a zero-length last fragment
  frag('', true),
  frag('1', false), // 1-byte fragments
  frag('2', false),
  frag('3', true),
  frag('last record!', true),
]);
const expected = ['hello', 'abcdefg', '', 'xyz', '123', 'last record!'];

test('one record in one chunk', (t) => {
  const d = new RecordDecoder(1024);
  const records = d.push(Buffer.from('80000003616263', 'hex'));
  t.deepEqual(str(records), ['abc']);
  t.is(d.buffered, 0);
});

test('a record split over several fragments', (t) => {
  const d = new RecordDecoder(1024);
  t.deepEqual(str(d.push(Buffer.concat([frag('abc', false), frag('defg', false), frag('h', true)]))), ['abcdefgh']);
});

test('a zero-length LAST fragment ends a record whose earlier fragments carried data', (t) => {
  const d = new RecordDecoder(1024);
  t.deepEqual(d.push(frag('abcd', false)), []);
  t.is(d.buffered, 4);
  const records = d.push(Buffer.from('80000000', 'hex'));
  t.deepEqual(str(records), ['abcd']);
  t.is(d.buffered, 0);
});

test('a record that is only 0x80000000 is an empty record', (t) => {
  const d = new RecordDecoder(1024);
  const one = d.push(Buffer.from('80000000', 'hex'));
  t.is(one.length, 1);
  t.is(one[0].length, 0);
  const two = d.push(Buffer.from('8000000080000000', 'hex'));
  t.deepEqual(
    two.map((r) => r.length),
    [0, 0],
  );
});

test('1-byte fragments', (t) => {
  const d = new RecordDecoder(1024);
  const parts = [...'hello'].map((c, i, all) => frag(c, i === all.length - 1));
  t.deepEqual(str(d.push(Buffer.concat(parts))), ['hello']);
});

test('several records in one chunk (pipelining) come out in order', (t) => {
  const d = new RecordDecoder(1024);
  t.deepEqual(str(d.push(stream)), expected);
  // The decoder is back at a record boundary: another record decodes normally.
  t.deepEqual(str(d.push(frag('again', true))), ['again']);
});

test('fed byte by byte, the same records come out', (t) => {
  const d = new RecordDecoder(1024);
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) out.push(...d.push(stream.subarray(i, i + 1)));
  t.deepEqual(str(out), expected);
});

test('every split point, and every pair of split points, gives the same records', (t) => {
  let failures = 0;
  for (let i = 0; i <= stream.length; i++) {
    const d = new RecordDecoder(1024);
    const out = [...d.push(stream.subarray(0, i)), ...d.push(stream.subarray(i))];
    if (JSON.stringify(str(out)) !== JSON.stringify(expected)) failures++;
  }
  t.is(failures, 0, 'single split');
  for (let i = 0; i <= stream.length; i++) {
    for (let j = i; j <= stream.length; j++) {
      const d = new RecordDecoder(1024);
      const out = [...d.push(stream.subarray(0, i)), ...d.push(stream.subarray(i, j)), ...d.push(stream.subarray(j))];
      if (JSON.stringify(str(out)) !== JSON.stringify(expected)) failures++;
    }
  }
  t.is(failures, 0, 'double split');
});

test('a header split across chunks at each byte boundary', (t) => {
  const f = frag('0123456789', true);
  for (let cut = 1; cut < 4; cut++) {
    const d = new RecordDecoder(1024);
    t.deepEqual(d.push(f.subarray(0, cut)), []);
    t.deepEqual(str(d.push(f.subarray(cut))), ['0123456789']);
  }
});

test('records stay intact after later chunks arrive', (t) => {
  const d = new RecordDecoder(1024);
  const first = d.push(Buffer.concat([frag('ab', false), frag('cd', true)]));
  d.push(frag('zzzz', false));
  d.push(frag('yy', true));
  t.deepEqual(str(first), ['abcd']);
});

test('a zero-length fragment that is not the last is EMPTY_FRAGMENT', (t) => {
  throwsRm(t, () => new RecordDecoder(1024).push(Buffer.from('00000000', 'hex')), 'EMPTY_FRAGMENT');
  const d = new RecordDecoder(1024);
  d.push(frag('abc', false));
  throwsRm(t, () => d.push(Buffer.from('00000000', 'hex')), 'EMPTY_FRAGMENT');
  // Split header: nothing until the fourth byte, then the error.
  const s = new RecordDecoder(1024);
  t.deepEqual(s.push(Buffer.from('000000', 'hex')), []);
  throwsRm(t, () => s.push(Buffer.from('00', 'hex')), 'EMPTY_FRAGMENT');
});

test('a record over maxRecordSize is refused as soon as its header arrives', (t) => {
  // Only the 4 header bytes: no data has been fed when it throws.
  throwsRm(t, () => new RecordDecoder(1024).push(Buffer.from('7fffffff', 'hex')), 'RECORD_TOO_LARGE');
  throwsRm(t, () => new RecordDecoder(1024).push(Buffer.from('ffffffff', 'hex')), 'RECORD_TOO_LARGE');
  throwsRm(t, () => new RecordDecoder(1024).push(Buffer.from('80000401', 'hex')), 'RECORD_TOO_LARGE'); // 1025
  // Header split 3 + 1: nothing happens until the header is whole.
  const d = new RecordDecoder(1024);
  t.deepEqual(d.push(Buffer.from('7fffff', 'hex')), []);
  throwsRm(t, () => d.push(Buffer.from('ff', 'hex')), 'RECORD_TOO_LARGE');
  // Exactly the maximum is fine.
  const ok = new RecordDecoder(1024);
  const records = ok.push(frag(Buffer.alloc(1024, 7), true));
  t.is(records.length, 1);
  t.is(records[0].length, 1024);
});

test('the size accumulated over several fragments is bounded too', (t) => {
  const d = new RecordDecoder(10);
  t.deepEqual(d.push(frag('123456', false)), []);
  t.deepEqual(d.push(frag('7890', false)), []); // 10 bytes: still within
  t.is(d.buffered, 10);
  // One more byte announced: refused at its header, before the byte arrives.
  throwsRm(t, () => d.push(Buffer.from('80000001', 'hex')), 'RECORD_TOO_LARGE');

  const e = new RecordDecoder(10);
  e.push(frag('123456', false));
  throwsRm(t, () => e.push(Buffer.from('80000005', 'hex')), 'RECORD_TOO_LARGE');

  // A zero-length last fragment on a full record is accepted.
  const f = new RecordDecoder(10);
  t.deepEqual(str(f.push(Buffer.concat([frag('1234567890', false), frag('', true)]))), ['1234567890']);
  // And the limit is per record: the next record starts from zero.
  t.deepEqual(str(f.push(frag('abcdefghij', true))), ['abcdefghij']);
});

test('100,000 one-byte fragments make the correct record', (t) => {
  const n = 100_000;
  const data = Buffer.alloc(n);
  for (let i = 0; i < n; i++) data[i] = (i * 7 + 3) & 0xff;
  const wire = Buffer.alloc(5 * n);
  for (let i = 0; i < n; i++) {
    wire[5 * i] = i === n - 1 ? 0x80 : 0;
    wire[5 * i + 3] = 1;
    wire[5 * i + 4] = data[i];
  }
  const whole = new RecordDecoder(1 << 20).push(wire);
  t.is(whole.length, 1);
  t.true(whole[0].equals(data));
  // The same stream arriving in 7-byte reads (cuts inside headers and between them).
  const d = new RecordDecoder(1 << 20);
  const out: Buffer[] = [];
  for (let i = 0; i < wire.length; i += 7) out.push(...d.push(wire.subarray(i, i + 7)));
  t.is(out.length, 1);
  t.true(out[0].equals(data));
});

test('recordHeader(): last-fragment bit and 31-bit length', (t) => {
  t.is(recordHeader(0).toString('hex'), '80000000');
  t.is(recordHeader(3).toString('hex'), '80000003');
  t.is(recordHeader(0x12345678).toString('hex'), '92345678');
  t.is(recordHeader(0x7fffffff).toString('hex'), 'ffffffff');
  t.throws(() => recordHeader(0x80000000), { instanceOf: RangeError });
  const body = Buffer.from('payload');
  t.deepEqual(str(new RecordDecoder(64).push(Buffer.concat([recordHeader(body.length), body]))), ['payload']);
});
