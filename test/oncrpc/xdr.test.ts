/**
 * The XDR codec against RFC 4506. Every expected byte string below is written by
 * hand from the RFC's rules (big-endian, 4-byte units, zero padding), never
 * produced by the code under test.
 */
import test, { type ExecutionContext } from 'ava';
import {
  decode,
  encode,
  XdrError,
  type XdrErrorCode,
  XdrReader,
  type XdrType,
  XdrWriter,
  x,
} from '../../clients/oncrpc/xdr/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const toHex = (b: Buffer): string => b.toString('hex');

function throwsXdr(t: ExecutionContext, fn: () => unknown, code: XdrErrorCode): XdrError {
  const err = t.throws(fn, { instanceOf: XdrError });
  t.is(err?.code, code, `expected ${code}, got ${err?.code}: ${err?.message}`);
  return err as XdrError;
}

function encodesAs<T>(t: ExecutionContext, type: XdrType<T>, value: T, expectedHex: string): void {
  const expected = hex(expectedHex);
  t.is(toHex(encode(type, value)), toHex(expected), `${type.name} encode ${String(value)}`);
  t.deepEqual(decode(type, expected), value, `${type.name} decode ${expectedHex}`);
}

/** Index of the first differing element, -1 if none (ava's deepEqual is slow on 100,000 elements). */
function firstMismatch<T>(a: readonly T[], b: readonly T[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}

// ---------------------------------------------------------------- primitives

test('int: 32-bit two’s complement, big-endian (RFC 4506 §4.1)', (t) => {
  encodesAs(t, x.int, 0, '00000000');
  encodesAs(t, x.int, 1, '00000001');
  encodesAs(t, x.int, -1, 'ffffffff');
  encodesAs(t, x.int, -2, 'fffffffe');
  encodesAs(t, x.int, 0x12345678, '12345678');
  encodesAs(t, x.int, 2147483647, '7fffffff');
  encodesAs(t, x.int, -2147483648, '80000000');
  throwsXdr(t, () => encode(x.int, 2147483648), 'XDR_RANGE');
  throwsXdr(t, () => encode(x.int, -2147483649), 'XDR_RANGE');
  throwsXdr(t, () => encode(x.int, 1.5), 'XDR_RANGE');
});

test('unsigned int: 0 .. 2^32-1 (RFC 4506 §4.2)', (t) => {
  encodesAs(t, x.uint, 0, '00000000');
  encodesAs(t, x.uint, 0xdeadbeef, 'deadbeef');
  encodesAs(t, x.uint, 0x80000000, '80000000');
  encodesAs(t, x.uint, 0xffffffff, 'ffffffff');
  throwsXdr(t, () => encode(x.uint, -1), 'XDR_RANGE');
  throwsXdr(t, () => encode(x.uint, 0x100000000), 'XDR_RANGE');
  throwsXdr(t, () => encode(x.uint, Number.NaN), 'XDR_RANGE');
});

test('hyper: 64-bit signed BigInt, range-checked (RFC 4506 §4.5)', (t) => {
  encodesAs(t, x.hyper, 0n, '0000000000000000');
  encodesAs(t, x.hyper, 0x0102030405060708n, '0102030405060708');
  encodesAs(t, x.hyper, -1n, 'ffffffffffffffff');
  encodesAs(t, x.hyper, 2n ** 63n - 1n, '7fffffffffffffff');
  encodesAs(t, x.hyper, -(2n ** 63n), '8000000000000000');
  throwsXdr(t, () => encode(x.hyper, 2n ** 63n), 'XDR_RANGE');
  throwsXdr(t, () => encode(x.hyper, -(2n ** 63n) - 1n), 'XDR_RANGE');
  // Numbers are refused, not converted: above 2^53 they have already lost precision.
  throwsXdr(t, () => encode(x.hyper, 1 as unknown as bigint), 'XDR_RANGE');
  throwsXdr(t, () => encode(x.hyper, (2 ** 60) as unknown as bigint), 'XDR_RANGE');
});

test('unsigned hyper: 0 .. 2^64-1 as BigInt', (t) => {
  encodesAs(t, x.uhyper, 0n, '0000000000000000');
  encodesAs(t, x.uhyper, 2n ** 63n, '8000000000000000');
  encodesAs(t, x.uhyper, 2n ** 64n - 1n, 'ffffffffffffffff');
  encodesAs(t, x.uhyper, 9007199254740993n, '0020000000000001'); // 2^53 + 1, exact
  throwsXdr(t, () => encode(x.uhyper, 2n ** 64n), 'XDR_RANGE');
  throwsXdr(t, () => encode(x.uhyper, -1n), 'XDR_RANGE');
  throwsXdr(t, () => encode(x.uhyper, 5 as unknown as bigint), 'XDR_RANGE');
});

test('bool: 0 or 1 only (RFC 4506 §4.4)', (t) => {
  encodesAs(t, x.bool, false, '00000000');
  encodesAs(t, x.bool, true, '00000001');
  throwsXdr(t, () => decode(x.bool, hex('00000002')), 'XDR_BAD_BOOL');
  throwsXdr(t, () => decode(x.bool, hex('ffffffff')), 'XDR_BAD_BOOL');
  throwsXdr(t, () => encode(x.bool, 1 as unknown as boolean), 'XDR_TYPE');
});

test('float and double: IEEE 754 big-endian (RFC 4506 §4.6, §4.7)', (t) => {
  encodesAs(t, x.float, 1, '3f800000');
  encodesAs(t, x.float, -2, 'c0000000');
  encodesAs(t, x.float, 0.5, '3f000000');
  encodesAs(t, x.float, Number.POSITIVE_INFINITY, '7f800000');
  encodesAs(t, x.double, 1, '3ff0000000000000');
  encodesAs(t, x.double, -2, 'c000000000000000');
  encodesAs(t, x.double, 0.1, '3fb999999999999a');
  encodesAs(t, x.double, Number.NEGATIVE_INFINITY, 'fff0000000000000');
  t.true(Number.isNaN(decode(x.double, hex('7ff8000000000000'))));
});

test('enum: declared values only, encode and decode (RFC 4506 §4.3)', (t) => {
  const colour = x.enumeration('colour', { RED: 0, GREEN: 1, BLUE: 2, NONE: -1 });
  encodesAs(t, colour, colour.values.RED, '00000000');
  encodesAs(t, colour, colour.values.BLUE, '00000002');
  encodesAs(t, colour, colour.values.NONE, 'ffffffff');
  throwsXdr(t, () => encode(colour, 3 as 0), 'XDR_BAD_ENUM');
  throwsXdr(t, () => encode(colour, -2 as 0), 'XDR_BAD_ENUM');
  throwsXdr(t, () => decode(colour, hex('00000003')), 'XDR_BAD_ENUM');
  throwsXdr(t, () => decode(colour, hex('80000000')), 'XDR_BAD_ENUM');
});

// ------------------------------------------------------- strings and opaque

test('string: length, bytes, zero padding to 4 (RFC 4506 §4.11)', (t) => {
  const s = x.string();
  encodesAs(t, s, '', '00000000');
  encodesAs(t, s, 'a', '00000001 61000000');
  encodesAs(t, s, 'ab', '00000002 61620000');
  encodesAs(t, s, 'abc', '00000003 61626300');
  encodesAs(t, s, 'abcd', '00000004 61626364');
  encodesAs(t, s, 'abcde', '00000005 61626364 65000000');
});

test('string in UTF-8: length counts bytes; malformed text refused', (t) => {
  const s = x.string(255, 'utf-8');
  // é = C3 A9, ✓ = E2 9C 93, 😀 = F0 9F 98 80: 9 bytes, 3 bytes of padding.
  encodesAs(t, s, 'é✓😀', '00000009 c3a9e29c 93f09f98 80000000');
  throwsXdr(t, () => decode(s, hex('00000002 c3280000')), 'XDR_CHARSET'); // bad continuation byte
  throwsXdr(t, () => decode(s, hex('00000002 c0af0000')), 'XDR_CHARSET'); // overlong '/'
  throwsXdr(t, () => decode(s, hex('00000003 eda08000')), 'XDR_CHARSET'); // encoded surrogate D800
  throwsXdr(t, () => decode(s, hex('00000001 ff000000')), 'XDR_CHARSET');
  throwsXdr(t, () => encode(s, '\ud800'), 'XDR_CHARSET'); // lone high surrogate
  throwsXdr(t, () => encode(s, 'a\udc00b'), 'XDR_CHARSET'); // lone low surrogate
});

test('string in ISO-8859-1: one byte per character, nothing above U+00FF', (t) => {
  const s = x.string(255, 'iso-8859-1');
  encodesAs(t, s, 'é', '00000001 e9000000');
  encodesAs(t, s, 'Aÿ\u0080', '00000003 41ff8000');
  throwsXdr(t, () => encode(s, '✓'), 'XDR_CHARSET');
  throwsXdr(t, () => encode(s, 'ok😀'), 'XDR_CHARSET');
});

test('string maximum counts bytes, on encode and on decode', (t) => {
  const s4 = x.string(4);
  encodesAs(t, s4, 'abcd', '00000004 61626364');
  throwsXdr(t, () => encode(s4, 'abcde'), 'XDR_TOO_LONG');
  // Two UTF-16 code units, five UTF-8 bytes: too long for string<4>.
  throwsXdr(t, () => encode(s4, 'é✓'), 'XDR_TOO_LONG');
  throwsXdr(t, () => decode(s4, hex('00000005 61626364 65000000')), 'XDR_TOO_LONG');
});

test('variable-length opaque: length, bytes, padding (RFC 4506 §4.10)', (t) => {
  const o = x.opaque();
  encodesAs(t, o, Buffer.alloc(0), '00000000');
  encodesAs(t, o, hex('01'), '00000001 01000000');
  encodesAs(t, o, hex('010203'), '00000003 01020300');
  encodesAs(t, o, hex('01020304'), '00000004 01020304');
  encodesAs(t, o, hex('0102030405'), '00000005 01020304 05000000');
  const o4 = x.opaque(4);
  throwsXdr(t, () => encode(o4, hex('0102030405')), 'XDR_TOO_LONG');
  throwsXdr(t, () => decode(o4, hex('00000005 01020304 05000000')), 'XDR_TOO_LONG');
  // Data present but its padding missing.
  throwsXdr(t, () => decode(o, hex('00000001 01')), 'XDR_SHORT');
});

test('fixed-length opaque: bytes and padding, no length (RFC 4506 §4.9)', (t) => {
  encodesAs(t, x.fixedOpaque(3), hex('aabbcc'), 'aabbcc00');
  encodesAs(t, x.fixedOpaque(4), hex('aabbccdd'), 'aabbccdd');
  encodesAs(t, x.fixedOpaque(5), hex('aabbccddee'), 'aabbccdd ee000000');
  throwsXdr(t, () => encode(x.fixedOpaque(4), hex('aabbcc')), 'XDR_TYPE');
  throwsXdr(t, () => decode(x.fixedOpaque(5), hex('aabbccdd ee')), 'XDR_SHORT');
});

// -------------------------------------------------------------- composites

test('arrays: variable with count, fixed without (RFC 4506 §4.12, §4.13)', (t) => {
  encodesAs(t, x.array(x.uint), [], '00000000');
  encodesAs(t, x.array(x.uint), [1, 2], '00000002 00000001 00000002');
  encodesAs(t, x.array(x.string()), ['a', 'bcdef'], '00000002 00000001 61000000 00000005 62636465 66000000');
  encodesAs(t, x.fixedArray(x.int, 3), [-1, 0, 1], 'ffffffff 00000000 00000001');
  throwsXdr(t, () => encode(x.fixedArray(x.int, 3), [1, 2]), 'XDR_TYPE');
  const a2 = x.array(x.uint, 2);
  throwsXdr(t, () => encode(a2, [1, 2, 3]), 'XDR_TOO_LONG');
  throwsXdr(t, () => decode(a2, hex('00000003 00000001 00000002 00000003')), 'XDR_TOO_LONG');
});

test('optional data: a bool then the value (RFC 4506 §4.19)', (t) => {
  const o = x.optional(x.int);
  encodesAs(t, o, null, '00000000');
  encodesAs(t, o, 5, '00000001 00000005');
  encodesAs(t, o, -1, '00000001 ffffffff');
  throwsXdr(t, () => decode(o, hex('00000002 00000005')), 'XDR_BAD_BOOL');
});

test('struct: fields in declaration order (RFC 4506 §4.14)', (t) => {
  const s = x.struct('s', [
    ['a', x.int],
    ['b', x.string()],
    ['c', x.bool],
    ['d', x.uhyper],
  ] as const);
  encodesAs(t, s, { a: 7, b: 'xyz', c: true, d: 1n }, '00000007 00000003 78797a00 00000001 0000000000000001');
  const decoded = decode(s, hex('00000007 00000003 78797a00 00000001 0000000000000001'));
  t.deepEqual(Object.keys(decoded), ['a', 'b', 'c', 'd']);
});

test('union with default: unknown discriminant takes the default arm (RFC 4506 §4.15)', (t) => {
  const u = x.union('u', x.int, { 0: x.int, 1: x.xvoid }, x.string());
  encodesAs(t, u, { tag: 0, value: -1 }, '00000000 ffffffff');
  encodesAs(t, u, { tag: 1, value: undefined }, '00000001');
  encodesAs(t, u, { tag: 9, value: 'hi' }, '00000009 00000002 68690000');
  encodesAs(t, u, { tag: -5, value: '' }, 'fffffffb 00000000');
});

test('union without default: unknown discriminant is XDR_BAD_UNION both ways', (t) => {
  const kind = x.enumeration('kind', { A: 0, B: 1, C: 2 });
  const u = x.union('u', kind, { 0: x.uint, 1: x.bool });
  encodesAs(t, u, { tag: 0, value: 42 }, '00000000 0000002a');
  encodesAs(t, u, { tag: 1, value: true }, '00000001 00000001');
  // C is a declared enum value but has no arm and there is no default.
  throwsXdr(t, () => encode(u, { tag: 2, value: 1 }), 'XDR_BAD_UNION');
  throwsXdr(t, () => decode(u, hex('00000002 00000001')), 'XDR_BAD_UNION');
  // Undeclared enum value: the discriminant itself is refused.
  throwsXdr(t, () => decode(u, hex('00000007 00000001')), 'XDR_BAD_ENUM');
  const plain = x.union('plain', x.int, { 0: x.uint });
  throwsXdr(t, () => decode(plain, hex('00000007 00000001')), 'XDR_BAD_UNION');
  throwsXdr(t, () => encode(plain, { tag: 7, value: 1 }), 'XDR_BAD_UNION');
});

// ------------------------------------------------------------------ bounds

test('huge length prefixes fail fast, before any allocation', (t) => {
  const before = process.memoryUsage().arrayBuffers;
  const claim = hex('ffffffff 00010203');
  throwsXdr(t, () => decode(x.opaque(65536), claim), 'XDR_TOO_LONG');
  throwsXdr(t, () => decode(x.opaque(), claim), 'XDR_SHORT');
  throwsXdr(t, () => decode(x.string(65536), claim), 'XDR_TOO_LONG');
  throwsXdr(t, () => decode(x.string(), claim), 'XDR_SHORT');
  throwsXdr(t, () => decode(x.array(x.uint, 1024), claim), 'XDR_TOO_LONG');
  throwsXdr(t, () => decode(x.array(x.uint), claim), 'XDR_SHORT');
  // Within the maximum, but more elements than bytes remaining: refused before the array is made.
  throwsXdr(t, () => decode(x.array(x.uint, 1000), hex('00000003 00000001 00000002')), 'XDR_SHORT');
  throwsXdr(t, () => decode(x.array(x.array(x.uint)), hex('00000001 7fffffff')), 'XDR_SHORT');
  const grew = process.memoryUsage().arrayBuffers - before;
  t.true(grew < 16 * 1024 * 1024, `arrayBuffers grew by ${grew} bytes`);
});

test('an opaque length that fits the maximum but not the record is XDR_SHORT', (t) => {
  throwsXdr(t, () => decode(x.opaque(65536), hex('00010000 01020304')), 'XDR_SHORT');
  throwsXdr(t, () => decode(x.uint, hex('000000')), 'XDR_SHORT');
  throwsXdr(t, () => decode(x.hyper, hex('00000000 000000')), 'XDR_SHORT');
});

test('decode() refuses trailing bytes; XdrReader leaves them', (t) => {
  throwsXdr(t, () => decode(x.uint, hex('00000001 00000002')), 'XDR_TRAILING');
  throwsXdr(t, () => decode(x.string(), hex('00000001 61000000 00')), 'XDR_TRAILING');
  const r = new XdrReader(hex('00000001 00000002'));
  t.is(r.uint(), 1);
  t.is(r.remaining, 4);
  t.is(r.uint(), 2);
  t.is(r.remaining, 0);
});

// ------------------------------------------------------------------ scale

test('one message of 100,000 uints encodes and decodes', (t) => {
  const n = 100_000;
  const values = Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 0);
  const bytes = encode(x.array(x.uint), values);
  t.is(bytes.length, 4 + 4 * n);
  t.is(bytes.readUInt32BE(0), n);
  for (const i of [0, 1, 4242, n - 1]) t.is(bytes.readUInt32BE(4 + 4 * i), values[i]);
  const back = decode(x.array(x.uint), bytes);
  t.is(back.length, n);
  t.is(firstMismatch(back, values), -1);
});

test('rpcgen linked list of 100,000 entries round-trips', (t) => {
  const n = 100_000;
  const entry = x.struct('entry', [
    ['id', x.uint],
    ['name', x.string(16)],
  ] as const);
  const values = Array.from({ length: n }, (_, i) => ({ id: i, name: `f${i % 10}` }));
  const bytes = encode(x.list(entry), values);
  // Per entry: "data follows" 1, id, name length 2, two bytes + 2 padding; then a final 0.
  t.is(bytes.length, n * 16 + 4);
  for (const i of [0, 1, 77_777, n - 1]) {
    t.is(bytes.readUInt32BE(16 * i), 1);
    t.is(bytes.readUInt32BE(16 * i + 4), i);
    t.is(bytes.readUInt32BE(16 * i + 8), 2);
    t.is(bytes.toString('latin1', 16 * i + 12, 16 * i + 14), `f${i % 10}`);
  }
  t.is(bytes.readUInt32BE(16 * n), 0);
  const back = decode(x.list(entry), bytes);
  t.is(back.length, n);
  t.is(
    back.findIndex((v, i) => v.id !== values[i].id || v.name !== values[i].name || Object.keys(v).length !== 2),
    -1,
  );
});

test('list wire format and maximum', (t) => {
  encodesAs(t, x.list(x.uint), [], '00000000');
  encodesAs(t, x.list(x.uint), [5, 6], '00000001 00000005 00000001 00000006 00000000');
  const l3 = x.list(x.uint, 3);
  encodesAs(t, l3, [1, 2, 3], '00000001 00000001 00000001 00000002 00000001 00000003 00000000');
  throwsXdr(t, () => encode(l3, [1, 2, 3, 4]), 'XDR_TOO_LONG');
  throwsXdr(
    t,
    () => decode(l3, hex('00000001 00000001 00000001 00000002 00000001 00000003 00000001 00000004 00000000')),
    'XDR_TOO_LONG',
  );
  throwsXdr(t, () => decode(l3, hex('00000001 00000001 00000002 00000002')), 'XDR_BAD_BOOL');
  throwsXdr(t, () => decode(l3, hex('00000001 00000001')), 'XDR_SHORT');
});

// -------------------------------------------------------------- zero copy

test('opaque decode is a view of the input, not a copy', (t) => {
  const input = Buffer.alloc(16); // not from the shared pool
  hex('00000005 0a0b0c0d 0e000000').copy(input);
  const r = new XdrReader(input);
  const data = r.opaque(64);
  t.is(toHex(data), '0a0b0c0d0e');
  t.is(data.buffer, input.buffer);
  t.is(data.byteOffset, input.byteOffset + 4);
  input[4] = 0xff;
  t.is(data[0], 0xff);
  const viaDecode = decode(x.opaque(), input.subarray(0, 12));
  input[5] = 0xee;
  t.is(viaDecode[1], 0xee);
});

test('XdrWriter references bulk opaque data instead of copying it', (t) => {
  const payload = Buffer.alloc(3001, 0x5a);
  const w = new XdrWriter();
  w.uint(7);
  w.opaque(payload);
  w.uint(9);
  t.is(w.length, 4 + 4 + 3001 + 3 + 4);
  const chunks = w.finish();
  t.true(chunks.length >= 3, `${chunks.length} chunks`);
  t.true(
    chunks.some((c) => c === payload),
    'the payload chunk is the caller’s Buffer',
  );
  const all = Buffer.concat(chunks);
  t.is(toHex(all.subarray(0, 8)), '0000000700000bb9');
  t.true(all.subarray(8, 8 + 3001).equals(payload));
  t.is(toHex(all.subarray(8 + 3001)), '000000' + '00000009');
  // A small opaque is copied into the scratch buffer: no chunk is the caller's buffer.
  const small = hex('010203');
  const w2 = new XdrWriter();
  w2.opaque(small);
  const chunks2 = w2.finish();
  t.false(chunks2.some((c) => c === small));
  t.is(toHex(Buffer.concat(chunks2)), '0000000301020300');
});

test('XdrWriter across many scratch buffers keeps byte order', (t) => {
  const w = new XdrWriter(8);
  for (let i = 0; i < 5000; i++) {
    w.uint(i);
    if (i % 1000 === 0) w.opaque(Buffer.alloc(2048 + (i % 3), i & 0xff));
  }
  const all = Buffer.concat(w.finish());
  let pos = 0;
  for (let i = 0; i < 5000; i++) {
    t.is(all.readUInt32BE(pos), i);
    pos += 4;
    if (i % 1000 === 0) {
      const n = 2048 + (i % 3);
      t.is(all.readUInt32BE(pos), n);
      pos += 4;
      t.true(all.subarray(pos, pos + n).every((b) => b === (i & 0xff)));
      pos += (n + 3) & ~3;
    }
  }
  t.is(pos, all.length);
});

test('finishRecord() writes a last-fragment record marking header', (t) => {
  const w = new XdrWriter(512, true);
  w.uint(1);
  x.string().encode(w, 'ab');
  const chunks = w.finishRecord();
  t.is(toHex(Buffer.concat(chunks)), '8000000c' + '00000001' + '00000002' + '61620000');
  t.is(chunks.length, 1, 'a small record is one buffer');

  const payload = Buffer.alloc(3001, 1);
  const big = new XdrWriter(64, true);
  big.uint(2);
  big.opaque(payload);
  big.uint(3);
  const bigChunks = big.finishRecord();
  t.true(bigChunks.includes(payload));
  const all = Buffer.concat(bigChunks);
  // Body: 4 + 4 + 3001 + 3 padding + 4 = 3016 = 0xbc8.
  t.is(toHex(all.subarray(0, 12)), '80000bc8' + '00000002' + '00000bb9');
  t.is(all.length, 4 + 3016);
  t.is(all.readUInt32BE(4 + 3012), 3);

  // A scratch buffer smaller than the reserved header must still carry it.
  for (const size of [0, 1, 2, 3, 4]) {
    const tiny = new XdrWriter(size, true);
    tiny.uint(5);
    t.is(toHex(Buffer.concat(tiny.finishRecord())), '80000004' + '00000005', `initialSize ${size}`);
  }

  const empty = new XdrWriter(16, true);
  t.is(toHex(Buffer.concat(empty.finishRecord())), '80000000');
  t.throws(() => new XdrWriter().finishRecord());
});
