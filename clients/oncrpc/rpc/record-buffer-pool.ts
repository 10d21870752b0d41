/**
 * Reusable memory for large call records.
 *
 * Every large call read into fresh memory costs page faults as the kernel first
 * writes each page (measured: ~34,000 minor faults per 2,800 1 MiB WRITEs, where
 * the C server, whose malloc reuses freed memory, takes ~550), and that, not
 * copying, is what separates a Node server from libtirpc on bulk writes. The pool
 * hands out buffers of one size class for direct reads and takes them back only
 * from procedures that declare `borrowsArgs` (their handlers keep nothing of the
 * call once they settle), so memory is never reused while anything can see it.
 */
import { DIRECT_READ_MAX, DIRECT_READ_THRESHOLD } from './record-marking.js';

export class RecordBufferPool {
  readonly bufferSize: number;
  readonly maxFree: number;
  private readonly free: Buffer[] = [];
  /** Buffers handed out and not yet back: a second release of one is ignored. */
  private readonly lent = new WeakSet<ArrayBufferLike>();

  constructor(maxFree = 8, bufferSize = DIRECT_READ_MAX + DIRECT_READ_THRESHOLD) {
    this.maxFree = maxFree;
    this.bufferSize = bufferSize;
  }

  /** A buffer of `size` bytes; pooled memory when the size fits the size class. */
  take(size: number): Buffer {
    if (size > this.bufferSize) return Buffer.allocUnsafe(size);
    const whole = this.free.pop() ?? Buffer.allocUnsafeSlow(this.bufferSize);
    this.lent.add(whole.buffer);
    return whole.subarray(0, size);
  }

  /** Give back the memory behind `view` (any view of a buffer from take()); other buffers are ignored. */
  release(view: Buffer): void {
    const memory = view.buffer;
    if (!this.lent.has(memory)) return;
    this.lent.delete(memory);
    if (this.free.length < this.maxFree) this.free.push(Buffer.from(memory, 0, this.bufferSize));
  }

  get available(): number {
    return this.free.length;
  }
}
