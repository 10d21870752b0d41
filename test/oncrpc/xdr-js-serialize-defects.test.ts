/**
 * xdr-js-serialize 0.3.0 (pinned in package.json) measured against RFC 4506.
 *
 * Each defect test does two things on the same input:
 *   (a) asserts the library's *wrong* behaviour, so that if a new version fixes it
 *       this test fails and tells us to look again;
 *   (b) asserts our codec (clients/oncrpc/xdr) does it right.
 * The last tests are differential: where the library is right, our bytes equal its bytes.
 */

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import lib from 'xdr-js-serialize';
import { decode, encode, XdrError, type XdrErrorCode, x } from '../../clients/oncrpc/xdr/index.js';

// CommonJS compiled by Babel: under Node's ESM loader the default import is
// module.exports, and the types sit under its `default` property.
const T = lib.default;

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function throwsXdr(t: ExecutionContext, fn: () => unknown, code: XdrErrorCode): void {
  const err = t.throws(fn, { instanceOf: XdrError });
  t.is(err?.code, code, `expected ${code}, got ${err?.code}: ${err?.message}`);
}

test('loading: the types are under `default` of the CommonJS export', (t) => {
  t.is(typeof T.Str, 'function');
  t.is((lib as unknown as Record<string, unknown>).Str, undefined);
});

// ------------------------------------------------------------------ strings

test('defect: strings are written with the UTF-16 length and as "ascii" bytes', (t) => {
  const text = 'é✓😀';
  // (a) length 4 (UTF-16 code units), each unit truncated to its low byte.
  t.is(new T.Str(text).toXDR('hex'), '00000004' + 'e9133d00');
  // (b) 9 UTF-8 bytes, then 3 bytes of padding.
  t.is(encode(x.string(), text).toString('hex'), '00000009' + 'c3a9e29c93f09f9880' + '000000');
});

test('defect: strings are read as "ascii" (high bit dropped), so UTF-8 names are corrupted', (t) => {
  const wire = hex('00000009 c3a9e29c 93f09f98 80000000');
  // (a) each byte loses its top bit: C3 A9 -> 'C' ')', and so on.
  const s = new T.Str().fromXDR(wire);
  t.is(s.value, 'C)b\u001c\u0013p\u001f\u0018\u0000');
  t.not(s.value, 'é✓😀');
  // (b)
  t.is(decode(x.string(), wire), 'é✓😀');
  // And ISO-8859-1 deployments: é is the single byte E9 both ways.
  t.is(decode(x.string(255, 'iso-8859-1'), hex('00000001 e9000000')), 'é');
  t.is(new T.Str().fromXDR(hex('00000001 e9000000')).value, 'i'); // (a) E9 & 0x7F
});

// ------------------------------------------------------ unbounded allocation

/**
 * Run `fn` with Buffer.alloc spied on: any request above 1 MiB is recorded and
 * refused *before* memory is allocated, so the library never gets its 4 GiB.
 */
function spyLargeAllocs(fn: () => void): { requested: number[]; error: unknown } {
  const original = Buffer.alloc;
  const requested: number[] = [];
  let error: unknown;
  Buffer.alloc = ((size: number, ...rest: unknown[]) => {
    if (size > 1024 * 1024) {
      requested.push(size);
      throw new Error('spy: large allocation refused');
    }
    return (original as (...a: unknown[]) => Buffer)(size, ...rest);
  }) as typeof Buffer.alloc;
  try {
    fn();
  } catch (e) {
    error = e;
  } finally {
    Buffer.alloc = original;
  }
  return { requested, error };
}

test.serial('defect: a 0xFFFFFFFF length prefix makes the library allocate 4 GiB, even for opaque<65536>', (t) => {
  const wire = hex('ffffffff 00010203');
  // (a) the allocation asked for is the wire's length, not bounded by maxLength nor by the input.
  const opaque = spyLargeAllocs(() => new T.VarOpaque(65536).fromXDR(wire));
  t.deepEqual(opaque.requested, [0xffffffff]);
  t.is((opaque.error as Error).message, 'spy: large allocation refused');
  const str = spyLargeAllocs(() => new T.Str('', 255).fromXDR(wire));
  t.deepEqual(str.requested, [0xffffffff]);
  // (b) ours: refused on the length alone, no large allocation, memory does not jump.
  const before = process.memoryUsage().arrayBuffers;
  const ours = spyLargeAllocs(() => {
    throwsXdr(t, () => decode(x.opaque(65536), wire), 'XDR_TOO_LONG');
    throwsXdr(t, () => decode(x.opaque(), wire), 'XDR_SHORT');
    throwsXdr(t, () => decode(x.string(255), wire), 'XDR_TOO_LONG');
    throwsXdr(t, () => decode(x.string(), wire), 'XDR_SHORT');
  });
  t.deepEqual(ours.requested, []);
  t.is(ours.error, undefined);
  t.true(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024);
});

// ------------------------------------------------------------------- hypers

test('defect: out-of-range hypers are silently wrapped or clamped', (t) => {
  // (a) strings wrap modulo 2^64; numbers saturate. Nothing is refused.
  t.is(new T.Hyper('9223372036854775808').toXDR('hex'), '8000000000000000'); // 2^63 -> -2^63
  t.is(new T.Hyper('-9223372036854775809').toXDR('hex'), '7fffffffffffffff'); // -2^63-1 -> 2^63-1
  t.is(new T.UHyper('18446744073709551616').toXDR('hex'), '0000000000000000'); // 2^64 -> 0
  t.is(new T.UHyper('-1').toXDR('hex'), 'ffffffffffffffff'); // -1 -> 2^64-1
  t.is(new T.Hyper(2 ** 64).toXDR('hex'), '7fffffffffffffff'); // clamped
  t.is(new T.UHyper(2 ** 65).toXDR('hex'), 'ffffffffffffffff'); // clamped
  // (b)
  throwsXdr(t, () => encode(x.hyper, 2n ** 63n), 'XDR_RANGE');
  throwsXdr(t, () => encode(x.hyper, -(2n ** 63n) - 1n), 'XDR_RANGE');
  throwsXdr(t, () => encode(x.uhyper, 2n ** 64n), 'XDR_RANGE');
  throwsXdr(t, () => encode(x.uhyper, -1n), 'XDR_RANGE');
  t.is(encode(x.hyper, 2n ** 63n - 1n).toString('hex'), '7fffffffffffffff');
  t.is(encode(x.hyper, -(2n ** 63n)).toString('hex'), '8000000000000000');
  t.is(encode(x.uhyper, 2n ** 64n - 1n).toString('hex'), 'ffffffffffffffff');
});

test('defect: hypers take numbers, so values above 2^53 lose precision', (t) => {
  const exact = 9007199254740993n; // 2^53 + 1
  // (a) the only numeric input the library takes cannot hold it; it encodes 2^53.
  t.is(new T.Hyper(Number(exact)).toXDR('hex'), '0020000000000000');
  t.is(new T.UHyper(Number(exact)).toXDR('hex'), '0020000000000000');
  // (b) BigInt in, exact bytes out; numbers are refused rather than rounded.
  t.is(encode(x.hyper, exact).toString('hex'), '0020000000000001');
  t.is(encode(x.uhyper, exact).toString('hex'), '0020000000000001');
  t.is(decode(x.hyper, hex('0020000000000001')), exact);
  throwsXdr(t, () => encode(x.hyper, Number(exact) as unknown as bigint), 'XDR_RANGE');
});

test('defect: hypers refuse BigInt', (t) => {
  const Hyper = T.Hyper as unknown as new (v: bigint) => unknown;
  const UHyper = T.UHyper as unknown as new (v: bigint) => unknown;
  // (a)
  t.throws(() => new Hyper(5n), { instanceOf: TypeError, message: /BigInt/ });
  t.throws(() => new UHyper(5n), { instanceOf: TypeError, message: /BigInt/ });
  // (b)
  t.is(encode(x.hyper, 5n).toString('hex'), '0000000000000005');
  t.is(encode(x.uhyper, 5n).toString('hex'), '0000000000000005');
});

// -------------------------------------------------------- enums and unions

test('defect: undeclared enum values encode without error', (t) => {
  // (a)
  t.is(new T.Enum({ 0: 'A', 1: 'B' }, 7).toXDR('hex'), '00000007');
  // (b)
  const ab = x.enumeration('ab', { A: 0, B: 1 });
  throwsXdr(t, () => encode(ab, 7 as 0), 'XDR_BAD_ENUM');
  throwsXdr(t, () => decode(ab, hex('00000007')), 'XDR_BAD_ENUM');
});

test('defect: unions have no default: arm', (t) => {
  // union u switch (kind k) { case A: unsigned int a; case B: void; default: unsigned int other; };
  const wire = hex('00000007 0000002a');
  // (a) there is no way to declare a default: an extra "default" entry is ignored, and
  //     an unlisted discriminant is an error instead of the default arm.
  const kind = new T.Enum({ 0: 'A', 1: 'B' }, 0);
  const u = new T.Union(kind, {
    A: () => new T.UInt(),
    B: () => new T.Void(),
    default: () => new T.UInt(),
  });
  t.throws(() => u.fromXDR(wire), { message: /Invalid enum value: 7/ });
  // (b)
  const ours = x.union('u', x.int, { 0: x.uint, 1: x.xvoid }, x.uint);
  t.deepEqual(decode(ours, wire), { tag: 7, value: 42 });
  t.deepEqual(encode(ours, { tag: 7, value: 42 }), wire);
  // and without a default, ours refuses with a typed error.
  throwsXdr(t, () => decode(x.union('u', x.int, { 0: x.uint, 1: x.xvoid }), wire), 'XDR_BAD_UNION');
});

// ------------------------------------------------------------ max lengths

test('defect: maximum lengths are not enforced on encode', (t) => {
  // (a) opaque<4>, string<3>, unsigned int<2> all encode more than their maximum.
  const o = new T.VarOpaque(4);
  o.value = hex('0102030405');
  t.is(o.toXDR('hex'), '00000005' + '0102030405000000');
  const s = new T.Str('abc', 3);
  s.value = 'abcdef';
  t.is(s.toXDR('hex'), '00000006' + '616263646566' + '0000');
  const a = new T.VarArray(2, () => new T.UInt());
  a.values = [new T.UInt(1), new T.UInt(2), new T.UInt(3)];
  t.is(a.toXDR('hex'), '00000003' + '00000001' + '00000002' + '00000003');
  // Its constructor checks string<4> in UTF-16 units, not bytes: 'é✓' (5 UTF-8 bytes) passes.
  t.notThrows(() => new T.Str('é✓', 4));
  // (b)
  throwsXdr(t, () => encode(x.opaque(4), hex('0102030405')), 'XDR_TOO_LONG');
  throwsXdr(t, () => encode(x.string(3), 'abcdef'), 'XDR_TOO_LONG');
  throwsXdr(t, () => encode(x.array(x.uint, 2), [1, 2, 3]), 'XDR_TOO_LONG');
  throwsXdr(t, () => encode(x.string(4), 'é✓'), 'XDR_TOO_LONG');
});

// ---------------------------------------------------------- stack overflow

test('defect: output assembly recurses per chunk (stack overflow on 20,000 uints)', (t) => {
  const n = 20_000;
  const values = Array.from({ length: n }, (_, i) => i);
  // (a)
  const arr = new T.VarArray(n, () => new T.UInt());
  arr.values = values.map((v) => new T.UInt(v));
  t.throws(() => arr.toXDR(), { instanceOf: RangeError, message: /call stack/ });
  // (b) same message, encoded and decoded.
  const bytes = encode(x.array(x.uint), values);
  t.is(bytes.length, 4 + 4 * n);
  t.is(bytes.readUInt32BE(0), n);
  t.is(bytes.readUInt32BE(4 + 4 * (n - 1)), n - 1);
  const back = decode(x.array(x.uint), bytes);
  t.is(
    back.findIndex((v, i) => v !== i),
    -1,
  );
  t.is(back.length, n);
});

test('defect: rpcgen linked lists (entry *next) overflow the stack (5,000 entries)', (t) => {
  const n = 5000;
  // (a) struct entry { unsigned int item; entry *next; }; entry *head; built iteratively.
  let head = new T.Option(new T.Struct(), null);
  for (let i = n - 1; i >= 0; i--) {
    const entry = new T.Struct(['item', 'next'], [new T.UInt(i), head]);
    head = new T.Option(entry, entry);
  }
  t.throws(() => head.toXDR(), { instanceOf: RangeError, message: /call stack/ });
  // (b)
  const values = Array.from({ length: n }, (_, i) => i);
  const bytes = encode(x.list(x.uint), values);
  t.is(bytes.length, 8 * n + 4);
  t.is(bytes.readUInt32BE(8 * (n - 1)), 1);
  t.is(bytes.readUInt32BE(8 * (n - 1) + 4), n - 1);
  t.is(bytes.readUInt32BE(8 * n), 0);
  const back = decode(x.list(x.uint), bytes);
  t.is(back.length, n);
  t.is(
    back.findIndex((v, i) => v !== i),
    -1,
  );
});

test('the library does encode short linked lists with the same bytes as ours', (t) => {
  // Guards the test above: the nesting is a correct list, it is only the depth that fails.
  const n = 50;
  let head = new T.Option(new T.Struct(), null);
  for (let i = n - 1; i >= 0; i--) {
    const entry = new T.Struct(['item', 'next'], [new T.UInt(i * 3), head]);
    head = new T.Option(entry, entry);
  }
  const values = Array.from({ length: n }, (_, i) => i * 3);
  t.deepEqual(head.toXDR(), encode(x.list(x.uint), values));
});

// ----------------------------------------------------------------- no .d.ts

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test('defect: the package ships no type declarations', (t) => {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('xdr-js-serialize/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as Record<string, unknown>;
  t.is(pkg.version, '0.3.0');
  // (a) no types/typings field, no .d.ts anywhere in it, and no @types package
  //     (test/oncrpc/xdr-js-serialize.d.ts stands in).
  t.is(pkg.types, undefined);
  t.is(pkg.typings, undefined);
  t.deepEqual(
    filesUnder(dirname(pkgPath)).filter((f) => /\.d\.[cm]?ts$/.test(f)),
    [],
  );
  t.throws(() => require.resolve('@types/xdr-js-serialize/package.json'));
  // (b) our codec's declarations are emitted beside it.
  const ours = fileURLToPath(new URL('../../clients/oncrpc/xdr/index.d.ts', import.meta.url));
  t.true(existsSync(ours), ours);
  t.regex(readFileSync(ours, 'utf8'), /export declare function decode<T>/);
});

// ------------------------------------------------------------ differential

function same(t: ExecutionContext, what: string, theirs: Buffer, ours: Buffer): void {
  t.is(ours.toString('hex'), theirs.toString('hex'), what);
}

test('differential: where the library is right, our bytes equal its bytes', (t) => {
  for (const v of [0, 1, -1, 42, -42, 2147483647, -2147483648, 0x12345678]) {
    same(t, `int ${v}`, new T.Int(v).toXDR(), encode(x.int, v));
  }
  for (const v of [0, 1, 255, 65536, 0x7fffffff, 0x80000000, 0xdeadbeef, 0xffffffff]) {
    same(t, `uint ${v}`, new T.UInt(v).toXDR(), encode(x.uint, v));
  }
  for (const v of [true, false]) same(t, `bool ${v}`, new T.Bool(v).toXDR(), encode(x.bool, v));
  for (const v of [0, -0, 1, -1.5, Math.PI, 1e300, -1e-300, Number.POSITIVE_INFINITY, Number.NaN]) {
    same(t, `double ${v}`, new T.Double(v).toXDR(), encode(x.double, v));
    same(t, `float ${v}`, new T.Float(v).toXDR(), encode(x.float, v));
  }
  for (const v of ['0', '1', '-1', '9223372036854775807', '-9223372036854775808', '1311768467294899695']) {
    same(t, `hyper ${v}`, new T.Hyper(v).toXDR(), encode(x.hyper, BigInt(v)));
  }
  for (const v of ['0', '1', '18446744073709551615', '9223372036854775808']) {
    same(t, `uhyper ${v}`, new T.UHyper(v).toXDR(), encode(x.uhyper, BigInt(v)));
  }
  let printable = '';
  for (let c = 0x20; c < 0x7f; c++) printable += String.fromCharCode(c);
  for (const v of ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'hello, world', printable]) {
    same(t, `string ${JSON.stringify(v)}`, new T.Str(v).toXDR(), encode(x.string(), v));
    t.is(decode(x.string(), new T.Str(v).toXDR()), v);
    t.is(new T.Str().fromXDR(encode(x.string(), v)).value, v);
  }
  for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 3001]) {
    const data = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff));
    const o = new T.VarOpaque();
    o.value = data;
    same(t, `opaque of ${n}`, o.toXDR(), encode(x.opaque(), data));
    t.deepEqual(decode(x.opaque(), o.toXDR()), data);
    const f = new T.FixedOpaque(n);
    f.value = data;
    same(t, `opaque[${n}]`, f.toXDR(), encode(x.fixedOpaque(n), data));
  }
  for (const values of [[], [7], [1, 2, 3], [0xffffffff, 0, 0x80000000]]) {
    const a = new T.VarArray(100, () => new T.UInt());
    a.values = values.map((v) => new T.UInt(v));
    same(t, `unsigned int<> ${values}`, a.toXDR(), encode(x.array(x.uint), values));
  }
  const declared = { 0: 'RED', 1: 'GREEN', 5: 'BLUE', [-3]: 'NEG' };
  const colour = x.enumeration('colour', { RED: 0, GREEN: 1, BLUE: 5, NEG: -3 });
  for (const v of [0, 1, 5, -3] as const) {
    same(t, `enum ${v}`, new T.Enum(declared, v).toXDR(), encode(colour, v));
    t.is(new T.Enum(declared).fromXDR(encode(colour, v)).value, v);
  }
});

test('differential: structs, optionals and declared union arms agree too', (t) => {
  const theirs = new T.Struct(
    ['id', 'name', 'flag', 'size'],
    [new T.UInt(9), new T.Str('disc-01'), new T.Bool(true), new T.UHyper('4700000000')],
  );
  const rec = x.struct('rec', [
    ['id', x.uint],
    ['name', x.string(32)],
    ['flag', x.bool],
    ['size', x.uhyper],
  ] as const);
  same(t, 'struct', theirs.toXDR(), encode(rec, { id: 9, name: 'disc-01', flag: true, size: 4700000000n }));

  same(t, 'optional absent', new T.Option(new T.Int(), null).toXDR(), encode(x.optional(x.int), null));
  const present = new T.Int(-5);
  same(t, 'optional present', new T.Option(present, present).toXDR(), encode(x.optional(x.int), -5));

  const kind = new T.Enum({ 0: 'A', 1: 'B' }, 1);
  const u = new T.Union(kind, { A: () => new T.Void(), B: () => new T.Str() });
  u.data = new T.Str('ok');
  const ours = x.union('u', x.enumeration('kind', { A: 0, B: 1 }), { 0: x.xvoid, 1: x.string() });
  same(t, 'union arm B', u.toXDR(), encode(ours, { tag: 1, value: 'ok' }));
});
