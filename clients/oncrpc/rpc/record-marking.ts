/**
 * ONC RPC record marking over TCP (RFC 5531 §11).
 *
 * A record is one or more fragments, each behind a 4-byte header: the top bit
 * marks the last fragment, the low 31 bits give its length. The decoder accepts
 * anything a real client sends: headers and XDR fields split across TCP reads,
 * 1-byte fragments, a zero-length *last* fragment (libtirpc sends one whenever a
 * record exactly fills its buffer), several records in one read. It refuses,
 * before buffering a byte of it, a record that would grow past `maxRecordSize`,
 * and it refuses a zero-length fragment that is not the last (libtirpc drops the
 * connection for that too).
 */

export class RecordMarkingError extends Error {
  readonly code: 'RECORD_TOO_LARGE' | 'EMPTY_FRAGMENT';
  constructor(code: 'RECORD_TOO_LARGE' | 'EMPTY_FRAGMENT', message: string) {
    super(message);
    this.name = 'RecordMarkingError';
    this.code = code;
  }
}

const LAST_FRAGMENT = 0x80000000;
/** Fragment payloads are kept as views of the socket's reads; past this many, they are merged. */
const MAX_PARTS = 64;
/** A fragment with at least this much still to come is read straight into its record's memory. */
export const DIRECT_READ_THRESHOLD = 64 * 1024;
/**
 * The largest buffer allocated ahead of data for a direct read: what one client
 * that stalls mid-record can make the server hold beyond what it sent. Covers a
 * 1 MiB WRITE and its header in one buffer.
 */
export const DIRECT_READ_MAX = 1024 * 1024 + 64 * 1024;

export class RecordDecoder {
  private readonly maxRecordSize: number;
  private header = Buffer.alloc(4);
  private headerHave = 0;
  private fragmentLeft = 0;
  private inFragment = false;
  private lastFragment = false;
  private parts: Buffer[] = [];
  private recordSize = 0;
  private direct: Buffer | undefined;
  private directFilled = 0;

  constructor(maxRecordSize: number) {
    this.maxRecordSize = maxRecordSize;
  }

  /** Bytes of the record being assembled (for memory accounting). */
  get buffered(): number {
    return this.recordSize;
  }

  /**
   * Feed bytes from the stream; returns every record they complete. Throws
   * RecordMarkingError on a protocol violation (the connection must be closed).
   */
  push(chunk: Buffer): Buffer[] {
    const records: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (!this.inFragment) {
        const take = Math.min(4 - this.headerHave, chunk.length - pos);
        chunk.copy(this.header, this.headerHave, pos, pos + take);
        this.headerHave += take;
        pos += take;
        if (this.headerHave < 4) break;
        this.headerHave = 0;
        const h = this.header.readUInt32BE(0);
        this.lastFragment = (h & LAST_FRAGMENT) !== 0;
        this.fragmentLeft = h & ~LAST_FRAGMENT;
        if (this.fragmentLeft === 0 && !this.lastFragment) {
          throw new RecordMarkingError('EMPTY_FRAGMENT', 'zero-length fragment that is not the last of its record');
        }
        if (this.recordSize + this.fragmentLeft > this.maxRecordSize) {
          throw new RecordMarkingError(
            'RECORD_TOO_LARGE',
            `record of at least ${this.recordSize + this.fragmentLeft} bytes exceeds the maximum ${this.maxRecordSize}`,
          );
        }
        this.inFragment = true;
      }
      if (this.fragmentLeft > 0) {
        const take = Math.min(this.fragmentLeft, chunk.length - pos);
        this.parts.push(chunk.subarray(pos, pos + take));
        if (this.parts.length > MAX_PARTS) this.parts = [Buffer.concat(this.parts)];
        this.fragmentLeft -= take;
        this.recordSize += take;
        pos += take;
      }
      if (this.fragmentLeft === 0) {
        this.inFragment = false;
        if (this.lastFragment) {
          const parts = this.parts;
          records.push(parts.length === 1 ? parts[0] : Buffer.concat(parts, this.recordSize));
          this.parts = [];
          this.recordSize = 0;
        }
      }
    }
    return records;
  }

  /**
   * Direct reads, for transports that can read into memory they are given: when
   * a large part of the current fragment is still to come, a buffer that the
   * next read may fill, so the bytes land where the record will live (no
   * intermediate chunk, no later concatenation). The few bytes of a record
   * received before are copied in, so a single-fragment record ends up as one
   * buffer. Report what was read with commitDirect(). Undefined when the next
   * read should go through push().
   */
  directBuffer(): Buffer | undefined {
    if (this.direct) return this.direct.subarray(this.directFilled);
    if (!this.inFragment || this.fragmentLeft < DIRECT_READ_THRESHOLD) return undefined;
    const absorb = this.recordSize <= DIRECT_READ_THRESHOLD;
    const prefix = absorb ? this.recordSize : 0;
    const buf = Buffer.allocUnsafe(prefix + Math.min(this.fragmentLeft, DIRECT_READ_MAX));
    if (absorb) {
      let offset = 0;
      for (const p of this.parts) offset += p.copy(buf, offset);
      this.parts = [];
    }
    this.direct = buf;
    this.directFilled = prefix;
    return buf.subarray(prefix);
  }

  /** `n` bytes were read into the buffer directBuffer() returned; returns the record they complete, if any. */
  commitDirect(n: number): Buffer[] {
    const direct = this.direct;
    if (!direct || n > direct.length - this.directFilled)
      throw new RangeError('commitDirect() without a matching directBuffer()');
    this.directFilled += n;
    this.fragmentLeft -= n;
    this.recordSize += n;
    if (this.directFilled < direct.length) return [];
    this.parts.push(direct);
    this.direct = undefined;
    if (this.fragmentLeft > 0) return [];
    this.inFragment = false;
    if (!this.lastFragment) return [];
    const parts = this.parts;
    const record = parts.length === 1 ? parts[0] : Buffer.concat(parts, this.recordSize);
    this.parts = [];
    this.recordSize = 0;
    return [record];
  }
}

/** The 4-byte header that makes `length` bytes one single-fragment record. */
export function recordHeader(length: number): Buffer {
  if (length > 0x7fffffff) throw new RangeError(`record of ${length} bytes is too large for one fragment`);
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE((LAST_FRAGMENT | length) >>> 0, 0);
  return h;
}
