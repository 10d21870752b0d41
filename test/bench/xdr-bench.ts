/**
 * XDR encode+decode throughput: optarc's codec vs the raw xdr-js-serialize
 * 0.3.0 vs a minimal hand-written Buffer codec, for a small struct (ops/s) and
 * a 1 MiB opaque (MB/s). Each function runs for about `ms` milliseconds and
 * returns its rate; run.ts takes the median of several runs.
 */
import { createRequire } from 'node:module';
import { XdrReader, XdrWriter, x } from '../../clients/oncrpc/index.js';

const require = createRequire(import.meta.url);
const lib = require('xdr-js-serialize').default as Record<string, any>;

const NAME = 'scan-000042.fits';
const TAG = Buffer.from('0123456789abcdef');
const MIB = Buffer.alloc(1024 * 1024, 7);

const smallStruct = x.struct('entry', [
  ['id', x.uint],
  ['delta', x.int],
  ['name', x.string(255)],
  ['tag', x.opaque(64)],
  ['flag', x.bool],
]);
const bulk = x.opaque();

function rate(ms: number, op: () => void): number {
  for (let i = 0; i < 200; i++) op(); // warm up
  let n = 0;
  const t0 = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < limit) {
    for (let i = 0; i < 64; i++) op();
    n += 64;
    elapsed = process.hrtime.bigint() - t0;
  }
  return n / (Number(elapsed) / 1e9);
}

function rateBulk(ms: number, op: () => void): number {
  op();
  let n = 0;
  const t0 = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < limit) {
    op();
    n++;
    elapsed = process.hrtime.bigint() - t0;
  }
  return (n * MIB.length) / (Number(elapsed) / 1e9) / 1e6;
}

let sink = 0;

export const smallStructOps = {
  optarc: (ms: number) =>
    rate(ms, () => {
      const w = new XdrWriter(128);
      smallStruct.encode(w, { id: 42, delta: -7, name: NAME, tag: TAG, flag: true });
      const v = smallStruct.decode(new XdrReader(w.toBuffer()));
      sink += v.id;
    }),
  library: (ms: number) =>
    rate(ms, () => {
      const keys = ['id', 'delta', 'name', 'tag', 'flag'];
      const tag = new lib.VarOpaque(64);
      tag.value = TAG;
      const s = new lib.Struct(keys, [
        new lib.UInt(42),
        new lib.Int(-7),
        new lib.Str(NAME, 255),
        tag,
        new lib.Bool(true),
      ]);
      const bytes: Buffer = s.toXDR();
      const d = new lib.Struct(keys, [
        new lib.UInt(),
        new lib.Int(),
        new lib.Str('', 255),
        new lib.VarOpaque(64),
        new lib.Bool(),
      ]);
      d.fromXDR(bytes);
      sink += d.values.length;
    }),
  direct: (ms: number) =>
    rate(ms, () => {
      const b = Buffer.allocUnsafe(128);
      let p = 0;
      p = b.writeUInt32BE(42, p);
      p = b.writeInt32BE(-7, p);
      const nameLen = b.write(NAME, p + 4, 'utf8');
      b.writeUInt32BE(nameLen, p);
      p += 4 + ((nameLen + 3) & ~3);
      p = b.writeUInt32BE(TAG.length, p);
      TAG.copy(b, p);
      p += (TAG.length + 3) & ~3;
      p = b.writeUInt32BE(1, p);
      // decode
      let q = 0;
      const id = b.readUInt32BE(q);
      q += 8;
      const n = b.readUInt32BE(q);
      const name = b.toString('utf8', q + 4, q + 4 + n);
      q += 4 + ((n + 3) & ~3);
      const tl = b.readUInt32BE(q);
      const tag = b.subarray(q + 4, q + 4 + tl);
      sink += id + name.length + tag.length;
    }),
};

export const bulkOpaqueMBps = {
  /** Encode to a scatter list (the payload is referenced) and decode a view: no byte is copied. */
  optarc: (ms: number) =>
    rateBulk(ms, () => {
      const w = new XdrWriter(64);
      bulk.encode(w, MIB);
      const chunks = w.finish();
      sink += chunks.length;
      const record = RECORD; // the bytes as they arrive in a received record
      sink += bulk.decode(new XdrReader(record)).length;
    }),
  /** The same, plus one copy of the encoded bytes into a contiguous buffer (what a direct codec does). */
  optarcContiguous: (ms: number) =>
    rateBulk(ms, () => {
      const w = new XdrWriter(64);
      bulk.encode(w, MIB);
      const record = w.toBuffer();
      sink += bulk.decode(new XdrReader(record)).length;
    }),
  library: (ms: number) =>
    rateBulk(ms, () => {
      const o = new lib.VarOpaque();
      o.value = MIB;
      const bytes: Buffer = o.toXDR();
      const d = new lib.VarOpaque();
      d.fromXDR(bytes);
      sink += d.value.length;
    }),
  direct: (ms: number) =>
    rateBulk(ms, () => {
      const b = Buffer.allocUnsafe(4 + MIB.length);
      b.writeUInt32BE(MIB.length, 0);
      MIB.copy(b, 4);
      const n = b.readUInt32BE(0);
      sink += b.subarray(4, 4 + n).length;
    }),
};

const RECORD = (() => {
  const w = new XdrWriter(64);
  bulk.encode(w, MIB);
  return w.toBuffer();
})();

export function keepAlive(): number {
  return sink;
}
