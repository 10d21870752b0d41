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
/**
 * Fragment payloads are kept as views of the socket's reads; past this many
 * (a client sending small fragments), the record moves to an assembly buffer
 * that grows by doubling, so assembling it stays linear in its size.
 */
const MAX_PARTS = 64;
/** A fragment with at least this much still to come is read straight into its record's memory. */
export const DIRECT_READ_THRESHOLD = 64 * 1024;
/** The most one direct read asks for: a 1 MiB WRITE and its header fit in one. */
export const DIRECT_READ_MAX = 1024 * 1024 + 64 * 1024;
/**
 * Memory is reserved ahead of the data only in proportion to what has arrived
 * (at most this many times the bytes received, at least DIRECT_READ_THRESHOLD),
 * so a client that sends a header and stalls holds little.
 */
const AHEAD_FACTOR = 8;

/**
 * Where the decoder gets memory for the records it assembles, and gives back
 * what it outgrows. take() may return a buffer longer than asked (the extra is
 * capacity the decoder may use).
 */
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

  /** True between the first byte of a record and its last. */
  get midRecord(): boolean {
    return this.inFragment || this.headerHave > 0 || this.recordSize > 0;
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
          if (this.parts.length > MAX_PARTS) this.startAssembly(2 * (this.recordSize + take));
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
   * crosses into the next header, and never more than AHEAD_FACTOR times what
   * has arrived. Report what was read with commitDirect(). Undefined when the
   * next read should go through push().
   */
  directBuffer(): Buffer | undefined {
    if (!this.inFragment || this.fragmentLeft === 0) return undefined;
    if (!this.assembly) {
      if (this.fragmentLeft < DIRECT_READ_THRESHOLD) return undefined;
      const ahead = Math.min(this.fragmentLeft, Math.max(DIRECT_READ_THRESHOLD, AHEAD_FACTOR * this.recordSize));
      this.startAssembly(this.recordSize + ahead);
    }
    // Read into the room the buffer has; when it is full, grow it in proportion to what arrived.
    const free = this.assembly!.length - this.recordSize;
    const n =
      free > 0
        ? Math.min(this.fragmentLeft, free)
        : Math.min(this.fragmentLeft, DIRECT_READ_MAX, Math.max(DIRECT_READ_THRESHOLD, AHEAD_FACTOR * this.recordSize));
    return this.room(n);
  }

  /** Move the record from views of reads into one buffer of at least `size` bytes. */
  private startAssembly(size: number): void {
    const assembly = this.memory.take(Math.min(size, this.maxRecordSize));
    let offset = 0;
    for (const p of this.parts) offset += p.copy(assembly, offset);
    this.parts = [];
    this.assembly = assembly;
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
   * Exactly `n` bytes of free space at the end of the assembled record, growing
   * the assembly buffer (to at least double) when it has less.
   */
  private room(n: number): Buffer {
    let assembly = this.assembly!;
    if (assembly.length - this.recordSize < n) {
      const grown = this.memory.take(Math.min(Math.max(assembly.length * 2, this.recordSize + n), this.maxRecordSize));
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

/**
 * Write a record-marked message (from XdrWriter.finishRecord) to a socket: one
 * write for a single buffer, else corked so the chunks leave in one writev and
 * bulk payloads are never concatenated.
 */
export function writeRecord(
  socket: { write(b: Buffer): boolean; cork(): void; uncork(): void },
  chunks: Buffer[],
): void {
  if (chunks.length === 1) {
    socket.write(chunks[0]);
    return;
  }
  socket.cork();
  for (const c of chunks) socket.write(c);
  socket.uncork();
}

/** The 4-byte header that makes `length` bytes one single-fragment record. */
export function recordHeader(length: number): Buffer {
  if (length > 0x7fffffff) throw new RangeError(`record of ${length} bytes is too large for one fragment`);
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE((LAST_FRAGMENT | length) >>> 0, 0);
  return h;
}
