/**
 * XdrWriter encodes RFC 4506 primitives into a scatter/gather list.
 *
 * Small fields go into a scratch buffer; opaque data of BULK_THRESHOLD bytes or
 * more is referenced, never copied, so a 1 MiB WRITE reply or call is handed to
 * the socket as [header, fields, payload, padding] and written with writev.
 * The writer never recurses: output assembly is one flat array.
 */
import { XdrError } from './errors.js';

const BULK_THRESHOLD = 2048;
const ZERO_PAD = Buffer.alloc(4);

export class XdrWriter {
  private chunks: Buffer[] = [];
  private buf: Buffer;
  private pos = 0;
  private segStart = 0;
  private total = 0;

  private readonly recordMarked: boolean;

  /**
   * With `recordMark`, the first four bytes are reserved for the TCP record
   * marking header, filled in by finishRecord(): a small reply is then a single
   * buffer and a single write.
   */
  constructor(initialSize = 512, recordMark = false) {
    // The reserved header must fit in the first buffer, or finishRecord() has nowhere to write it.
    this.buf = Buffer.allocUnsafe(recordMark ? Math.max(initialSize, 4) : initialSize);
    this.recordMarked = recordMark;
    if (recordMark) this.pos = 4;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.total + (this.pos - this.segStart) - (this.recordMarked ? 4 : 0);
  }

  private reserve(n: number): void {
    if (this.buf.length - this.pos >= n) return;
    this.flushSegment();
    this.buf = Buffer.allocUnsafe(Math.max(n, Math.min(this.buf.length * 2, 64 * 1024)));
    this.pos = 0;
    this.segStart = 0;
  }

  private flushSegment(): void {
    if (this.pos > this.segStart) {
      this.chunks.push(this.buf.subarray(this.segStart, this.pos));
      this.total += this.pos - this.segStart;
      this.segStart = this.pos;
    }
  }

  uint(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new XdrError('XDR_RANGE', `unsigned int out of range: ${v}`);
    }
    this.reserve(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  int(v: number): void {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
      throw new XdrError('XDR_RANGE', `int out of range: ${v}`);
    }
    this.reserve(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  hyper(v: bigint): void {
    if (typeof v !== 'bigint' || v < -(1n << 63n) || v > (1n << 63n) - 1n) {
      throw new XdrError('XDR_RANGE', `hyper out of range: ${String(v)}`);
    }
    this.reserve(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  uhyper(v: bigint): void {
    if (typeof v !== 'bigint' || v < 0n || v > (1n << 64n) - 1n) {
      throw new XdrError('XDR_RANGE', `unsigned hyper out of range: ${String(v)}`);
    }
    this.reserve(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
  }

  float(v: number): void {
    this.reserve(4);
    this.buf.writeFloatBE(v, this.pos);
    this.pos += 4;
  }

  double(v: number): void {
    this.reserve(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  bool(v: boolean): void {
    this.uint(v ? 1 : 0);
  }

  /** Bytes plus zero padding to a multiple of four; large data is referenced, not copied. */
  fixedOpaque(data: Uint8Array): void {
    const n = data.length;
    const pad = (4 - (n & 3)) & 3;
    if (n >= BULK_THRESHOLD) {
      this.flushSegment();
      this.chunks.push(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, n));
      this.total += n;
      if (pad) {
        this.chunks.push(ZERO_PAD.subarray(0, pad));
        this.total += pad;
      }
      return;
    }
    this.reserve(n + pad);
    this.buf.set(data, this.pos);
    this.pos += n;
    for (let i = 0; i < pad; i++) this.buf[this.pos++] = 0;
  }

  /** Variable-length opaque: length prefix, then the bytes. */
  opaque(data: Uint8Array): void {
    this.uint(data.length);
    this.fixedOpaque(data);
  }

  /** The encoded bytes as a list of buffers, in order. The writer must not be reused. */
  finish(): Buffer[] {
    this.flushSegment();
    return this.chunks;
  }

  /** Finish a writer made with `recordMark`: the header says one last fragment of everything after it. */
  finishRecord(): Buffer[] {
    if (!this.recordMarked) throw new Error('finishRecord() needs a writer made with recordMark');
    const chunks = this.finish();
    const bodyLength = this.total - 4;
    if (bodyLength > 0x7fffffff) throw new XdrError('XDR_TOO_LONG', `record of ${bodyLength} bytes is too large`);
    chunks[0].writeUInt32BE((0x80000000 | bodyLength) >>> 0, 0);
    return chunks;
  }

  /** The encoded bytes as one buffer (copies when there is more than one chunk). */
  toBuffer(): Buffer {
    const chunks = this.finish();
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.total);
  }
}
