/**
 * XdrReader decodes RFC 4506 primitives from one received record.
 *
 * Every length read from the wire is checked against the declared maximum and
 * the bytes actually remaining *before* anything is allocated, so a length of
 * 0xFFFFFFFF costs nothing. Opaque data is returned as a view into the record
 * (zero copy): callers that keep it past the record's lifetime must copy it.
 */
import { XdrError } from './errors.js';

export class XdrReader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;

  constructor(buf: Buffer, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.end - this.pos < n) {
      throw new XdrError('XDR_SHORT', `${what}: needs ${n} bytes, ${this.end - this.pos} remain`);
    }
  }

  uint(): number {
    this.need(4, 'unsigned int');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  int(): number {
    this.need(4, 'int');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  hyper(): bigint {
    this.need(8, 'hyper');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8, 'unsigned hyper');
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  float(): number {
    this.need(4, 'float');
    const v = this.buf.readFloatBE(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8, 'double');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A bool, or the "data follows" flag of an optional or a linked list. */
  bool(): boolean {
    const v = this.uint();
    if (v > 1) throw new XdrError('XDR_BAD_BOOL', `bool must be 0 or 1, got ${v}`);
    return v === 1;
  }

  /** A length prefix, bounded by `max` and by what is left in the record. */
  length(max: number, unitSize: number, what: string): number {
    const n = this.uint();
    if (n > max) throw new XdrError('XDR_TOO_LONG', `${what}: length ${n} exceeds maximum ${max}`);
    // Each element takes at least unitSize bytes: a count that cannot fit is refused now.
    if (n * unitSize > this.end - this.pos) {
      throw new XdrError('XDR_SHORT', `${what}: length ${n} but only ${this.end - this.pos} bytes remain`);
    }
    return n;
  }

  /** `n` bytes plus padding to a multiple of four, as a view of the record. */
  fixedOpaque(n: number, what = 'opaque'): Buffer {
    const padded = (n + 3) & ~3;
    this.need(padded, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += padded;
    return v;
  }

  /** Variable-length opaque<max>: zero-copy view of the record. */
  opaque(max: number, what = 'opaque'): Buffer {
    const n = this.length(max, 1, what);
    return this.fixedOpaque(n, what);
  }
}
