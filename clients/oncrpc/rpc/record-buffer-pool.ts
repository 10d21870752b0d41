/**
 * Reusable memory for large call records.
 *
 * Every large call read into fresh memory costs page faults as the kernel first
 * writes each page (measured: ~34,000 minor faults per 2,800 1 MiB WRITEs, where
 * the C server, whose malloc reuses freed memory, takes ~550), and that, not
 * copying, is what separates a Node server from libtirpc on bulk writes. The pool
 * hands out buffers of one size class to record decoders, which give back what
 * they outgrow, and takes back a finished call's buffer only from procedures
 * that declare `borrowsArgs` (their handlers keep nothing of the call once they
 * settle), so memory is never reused while anything can see it. At most
 * `maxLent` pooled buffers are out at once; past that, take() allocates exactly
 * what is asked.
 */
import { DIRECT_READ_MAX, DIRECT_READ_THRESHOLD } from './record-marking.js';

export class RecordBufferPool {
  readonly bufferSize: number;
  readonly maxFree: number;
  readonly maxLent: number;
  private readonly free: Buffer[] = [];
  /** Buffers handed out and not yet back: a second release of one is ignored. */
  private readonly lent = new WeakSet<ArrayBufferLike>();
  private lentCount = 0;
  /** A lent buffer that is never given back (kept by a handler) stops counting when it is collected. */
  private readonly collected = new FinalizationRegistry<undefined>(() => {
    this.lentCount--;
  });

  constructor(maxFree = 8, maxLent = 64, bufferSize = DIRECT_READ_MAX + DIRECT_READ_THRESHOLD) {
    this.maxFree = maxFree;
    this.maxLent = maxLent;
    this.bufferSize = bufferSize;
  }

  /** At least `size` bytes: a whole pooled buffer when the size fits the size class and the lending cap allows. */
  take(size: number): Buffer {
    if (size > this.bufferSize || this.lentCount >= this.maxLent) return Buffer.allocUnsafe(size);
    const whole = this.free.pop() ?? Buffer.allocUnsafeSlow(this.bufferSize);
    this.lent.add(whole.buffer);
    this.lentCount++;
    this.collected.register(whole.buffer, undefined, whole.buffer);
    return whole;
  }

  /** Give back the memory behind `view` (any view of a buffer from take()); other buffers are ignored. */
  release(view: Buffer): void {
    const memory = view.buffer;
    if (!this.lent.has(memory)) return;
    this.lent.delete(memory);
    this.lentCount--;
    this.collected.unregister(memory);
    if (this.free.length < this.maxFree) this.free.push(Buffer.from(memory, 0, this.bufferSize));
  }

  /** Pooled buffers out now. */
  get outstanding(): number {
    return this.lentCount;
  }

  get available(): number {
    return this.free.length;
  }
}
