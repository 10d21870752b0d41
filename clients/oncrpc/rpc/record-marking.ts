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

/** Where the decoder gets memory for records it assembles itself, and gives it back when it outgrows it. */
export interface RecordMemory {
  take(size: number): Buffer;
  release(buffer: Buffer): void;
}

const FRESH_MEMORY: RecordMemory = { take: (size) => Buffer.allocUnsafe(size), release() {} };

export class RecordDecoder {
  private readonly maxRecordSize: number;
  private readonly memory: RecordMemory;
  private header = Buffer.alloc(4);
  private headerHave = 0;
  private fragmentLeft = 0;
  private inFragment = false;
  private lastFragment = false;
  /** Small records: views of the reads that carried them, joined at the end if need be. */
  private parts: Buffer[] = [];
  private recordSize = 0;
  /** Large records: one buffer the record is assembled in, across fragments (see directBuffer). */
  private assembly: Buffer | undefined;

  constructor(maxRecordSize: number, memory: RecordMemory = FRESH_MEMORY) {
    this.maxRecordSize = maxRecordSize;
    this.memory = memory;
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
        this.startFragment(this.header.readUInt32BE(0));
      }
      if (this.fragmentLeft > 0) {
        const take = Math.min(this.fragmentLeft, chunk.length - pos);
        const bytes = chunk.subarray(pos, pos + take);
        if (this.assembly) {
          this.room(take).set(bytes);
        } else {
          this.parts.push(bytes);
          if (this.parts.length > MAX_PARTS) this.parts = [Buffer.concat(this.parts)];
        }
        this.fragmentLeft -= take;
        this.recordSize += take;
        pos += take;
      }
      const record = this.endOfFragment();
      if (record) records.push(record);
    }
    return records;
  }

  /**
   * Direct reads, for transports that can read into memory they are given.
   * Once a fragment with at least DIRECT_READ_THRESHOLD bytes to come begins,
   * the record is assembled in one buffer (the bytes already received copied
   * in, later fragments appended), and this returns the part of it the next
   * read may fill: at most the rest of the current fragment, so a read never
   * crosses into the next header. Report what was read with commitDirect().
   * Undefined when the next read should go through push().
   */
  directBuffer(): Buffer | undefined {
    if (!this.inFragment || this.fragmentLeft === 0) return undefined;
    if (!this.assembly) {
      if (this.fragmentLeft < DIRECT_READ_THRESHOLD) return undefined;
      // A last fragment gives the record's size; otherwise leave room for more fragments.
      const size = this.recordSize + Math.min(this.fragmentLeft, DIRECT_READ_MAX);
      const assembly = this.memory.take(
        this.lastFragment ? size : Math.max(size, Math.min(DIRECT_READ_MAX, this.maxRecordSize)),
      );
      let offset = 0;
      for (const p of this.parts) offset += p.copy(assembly, offset);
      this.parts = [];
      this.assembly = assembly;
    }
    return this.room(Math.min(this.fragmentLeft, DIRECT_READ_MAX));
  }

  /** `n` bytes were read into the buffer directBuffer() returned; returns the record they complete, if any. */
  commitDirect(n: number): Buffer[] {
    if (!this.assembly || n > this.fragmentLeft || this.recordSize + n > this.assembly.length) {
      throw new RangeError('commitDirect() without a matching directBuffer()');
    }
    this.fragmentLeft -= n;
    this.recordSize += n;
    const record = this.endOfFragment();
    return record ? [record] : [];
  }

  private startFragment(h: number): void {
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

  /**
   * The free part of the assembly buffer, at least `n` bytes long (at most `n`
   * returned). Grows the buffer when full — doubling, bounded by what the
   * fragment announced and by DIRECT_READ_MAX beyond the bytes received — so
   * what a client that stalls can make the server hold stays bounded.
   */
  private room(n: number): Buffer {
    let assembly = this.assembly!;
    if (assembly.length - this.recordSize < n) {
      const wanted = Math.max(assembly.length * 2, this.recordSize + n);
      const grown = this.memory.take(
        Math.min(wanted, this.recordSize + Math.max(n, DIRECT_READ_MAX), this.maxRecordSize),
      );
      assembly.copy(grown, 0, 0, this.recordSize);
      this.memory.release(assembly);
      assembly = grown;
      this.assembly = grown;
    }
    return assembly.subarray(this.recordSize, this.recordSize + n);
  }

  private endOfFragment(): Buffer | undefined {
    if (!this.inFragment || this.fragmentLeft > 0) return undefined;
    this.inFragment = false;
    if (!this.lastFragment) return undefined;
    let record: Buffer;
    if (this.assembly) {
      record = this.assembly.subarray(0, this.recordSize);
      this.assembly = undefined;
    } else {
      record = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.recordSize);
      this.parts = [];
    }
    this.recordSize = 0;
    return record;
  }
}

/** The 4-byte header that makes `length` bytes one single-fragment record. */
export function recordHeader(length: number): Buffer {
  if (length > 0x7fffffff) throw new RangeError(`record of ${length} bytes is too large for one fragment`);
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE((LAST_FRAGMENT | length) >>> 0, 0);
  return h;
}
