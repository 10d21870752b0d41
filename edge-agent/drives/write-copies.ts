/**
 * Burns one image to N drives at once from ONE read of the image: a single
 * read stream is teed into N `xorriso -as cdrecord` processes' stdin. Each
 * chunk goes to every live writer before the next chunk is read, so the
 * slowest drive sets the pace and memory stays bounded (per writer: its
 * PassThrough's buffer, about 2 x highWaterMark, plus the OS pipe; xorriso
 * keeps its own fifo, `fifoBytes`, 4 MiB by default). A writer that fails
 * (write error, medium full, refused medium) is dropped and the others go on
 * to the end. The promise settles only after every xorriso has exited.
 */
import { once } from 'node:events';
import fs from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { runXorriso, XorrisoError } from '../xorriso/run-xorriso.js';
import type { Drive } from './drive.js';
import { DriveError } from './errors.js';

export interface CopyTarget {
  drive: Drive;
  copy: number;
}

export interface CopyOutcome {
  drive: string;
  copy: number;
  ok: boolean;
  error?: { code: string; message: string };
  /** Bytes of the image fed to this drive's writer. */
  bytesWritten: bigint;
  /** How the burned disc is kept write-once (set when ok). */
  closed?: 'immutable' | 'layer' | 'disc';
}

export interface WriteCopiesOptions {
  signal?: AbortSignal;
  /** Cumulative bytes fed to a drive, as they are handed to its writer. */
  onProgress?: (drive: string, bytes: bigint) => void;
  /** Chunk size of the image read and buffer size per writer (default 256 KiB). */
  highWaterMark?: number;
  /** xorriso's own fifo per writer (cdrecord fs=); default xorriso's 4 MiB. */
  fifoBytes?: number;
  /**
   * Leave the discs open for later sessions (cdrecord -multi; an APPEND volume):
   * they are not closed, so a stand-in is not made write-once either.
   */
  multi?: boolean;
  /** How the image is opened (default fs). Called at most once: the image is read once. */
  open?: (image: string, range: { start: number; end: number; highWaterMark: number }) => Readable;
}

interface Writer {
  index: number;
  target: CopyTarget;
  input: PassThrough;
  fed: bigint;
  dead: boolean;
  finished: Promise<void>;
  error?: DriveError;
}

const DEFAULT_HWM = 256 * 1024;

export async function writeCopies(
  image: string,
  imageBytes: bigint,
  targets: CopyTarget[],
  options: WriteCopiesOptions = {},
): Promise<CopyOutcome[]> {
  if (imageBytes <= 0n) throw new RangeError(`an image to burn has bytes, not ${imageBytes}`);
  if (imageBytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`image of ${imageBytes} bytes is too large`);
  const hwm = options.highWaterMark ?? DEFAULT_HWM;
  const outcomes: CopyOutcome[] = targets.map((t) => ({
    drive: t.drive.name,
    copy: t.copy,
    ok: false,
    bytesWritten: 0n,
  }));
  const unlocks: (() => void)[] = [];
  try {
    // 1. Each drive: free, present, a blank disc in. A refused drive never starts a writer.
    const ready: number[] = [];
    await Promise.all(
      targets.map(async (t, i) => {
        try {
          unlocks[i] = t.drive.beginWrite();
          await t.drive.checkWritable(options.signal);
          ready.push(i);
        } catch (e) {
          outcomes[i]!.error = describe(e, t.drive.name);
        }
      }),
    );
    ready.sort((a, b) => a - b);
    if (options.signal?.aborted) {
      for (const i of ready) outcomes[i]!.error = { code: 'ABORTED', message: 'the burn was cancelled' };
      return outcomes;
    }
    if (ready.length === 0) return outcomes;

    // 2. The image, opened once.
    const source = await openImage(image, imageBytes, hwm, options.open);

    // 3. One xorriso per drive.
    const stop = new AbortController();
    const onOuterAbort = () => stop.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const writers: Writer[] = ready.map((i) => startWriter(i, targets[i]!, imageBytes, hwm, stop.signal, options));

    // 4. Tee: every chunk to every live writer; wait for the slowest before reading on.
    let readError: unknown;
    let readBytes = 0n;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        if (stop.signal.aborted) break;
        const live = writers.filter((w) => !w.dead);
        if (live.length === 0) break;
        readBytes += BigInt(chunk.length);
        const waits: Promise<void>[] = [];
        for (const w of live) {
          if (!w.input.write(chunk)) waits.push(drained(w));
        }
        if (waits.length > 0) await Promise.all(waits);
      }
    } catch (e) {
      readError = e;
      stop.abort(e);
    } finally {
      source.destroy();
    }
    if (readError === undefined && !stop.signal.aborted && readBytes !== imageBytes && writers.some((w) => !w.dead)) {
      // The image ended early (or ran long): never let xorriso close a disc on a short track.
      readError = new Error(`the image gave ${readBytes} bytes, not ${imageBytes}`);
      stop.abort(readError);
    }
    for (const w of writers) if (!w.dead) w.input.end();
    await Promise.all(writers.map((w) => w.finished));
    options.signal?.removeEventListener('abort', onOuterAbort);

    // 5. Outcomes; a complete burn closes its disc.
    await Promise.all(
      writers.map(async (w) => {
        const o = outcomes[w.index]!;
        o.bytesWritten = w.fed;
        if (readError !== undefined) {
          o.error = {
            code: 'ABORTED',
            message: `the burn stopped: the image could not be read (${errText(readError)})`,
          };
        } else if (w.error) {
          o.error = { code: w.error.code, message: w.error.message };
        } else if (w.fed !== imageBytes) {
          o.error = {
            code: 'WRITE_FAILED',
            message: `drive ${w.target.drive.name}: xorriso ended after ${w.fed} of ${imageBytes} bytes`,
          };
        } else {
          try {
            if (!options.multi) o.closed = await w.target.drive.close();
            o.ok = true;
          } catch (e) {
            o.error = describe(e, w.target.drive.name);
          }
        }
      }),
    );
    if (readError !== undefined) {
      throw new DriveError('IMAGE_UNREADABLE', `reading ${image} failed part way: ${errText(readError)}`, undefined, {
        cause: readError,
      });
    }
    return outcomes;
  } finally {
    for (const u of unlocks) u?.();
  }
}

function startWriter(
  index: number,
  target: CopyTarget,
  imageBytes: bigint,
  hwm: number,
  signal: AbortSignal,
  options: WriteCopiesOptions,
): Writer {
  const drive = target.drive;
  const input = new PassThrough({ highWaterMark: hwm });
  input.on('error', () => {});
  const args = ['-as', 'cdrecord', '-v', `dev=${drive.address}`, '-waiti', `tsize=${imageBytes}`];
  if (drive.speed !== undefined) args.push(`speed=${drive.speed}`);
  if (options.multi) args.push('-multi');
  if (options.fifoBytes !== undefined) args.push(`fs=${options.fifoBytes}`);
  args.push('-');
  const w: Writer = { index, target, input, fed: 0n, dead: false, finished: Promise.resolve() };
  // runXorriso pipes `input` into xorriso's stdin synchronously, before its first await:
  // the counting listener below is added after the pipe, so no chunk flows before it is attached.
  const run = runXorriso(args, { stdin: input, signal });
  input.on('data', (chunk: Buffer) => {
    w.fed += BigInt(chunk.length);
    options.onProgress?.(drive.name, w.fed);
  });
  w.finished = run.then(
    () => {
      w.dead = true;
    },
    (e: unknown) => {
      w.dead = true;
      w.error = writeError(e, drive, signal);
      input.unpipe();
      input.destroy();
    },
  );
  return w;
}

/** Resolves when the writer can take more, or when it has exited (then it is dropped). */
function drained(w: Writer): Promise<void> {
  if (w.dead) return Promise.resolve();
  const ac = new AbortController();
  return Promise.race([once(w.input, 'drain', { signal: ac.signal }).then(() => {}), w.finished])
    .catch(() => {})
    .finally(() => ac.abort());
}

async function openImage(
  image: string,
  imageBytes: bigint,
  hwm: number,
  open: WriteCopiesOptions['open'],
): Promise<Readable> {
  const range = { start: 0, end: Number(imageBytes) - 1, highWaterMark: hwm };
  if (open) return open(image, range);
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(image, 'r');
  } catch (e) {
    throw new DriveError('IMAGE_UNREADABLE', `cannot open the image ${image}: ${errText(e)}`, undefined, { cause: e });
  }
  const size = BigInt((await fh.stat()).size);
  if (size < imageBytes) {
    await fh.close();
    throw new DriveError(
      'IMAGE_UNREADABLE',
      `the image ${image} has ${size} bytes, fewer than the ${imageBytes} to burn`,
    );
  }
  return fh.createReadStream(range);
}

function writeError(e: unknown, drive: Drive, signal: AbortSignal): DriveError {
  if (e instanceof XorrisoError) {
    const said = e.message;
    switch (e.code) {
      case 'NO_SPACE':
        return new DriveError('NO_SPACE', `drive ${drive.name}: the image does not fit: ${said}`, drive.name, {
          cause: e,
        });
      case 'ABORTED':
        return new DriveError('ABORTED', `drive ${drive.name}: the burn was cancelled`, drive.name, { cause: e });
      case 'NO_DRIVE':
        return new DriveError('DRIVE_MISSING', `drive ${drive.name} could not be opened: ${said}`, drive.name, {
          cause: e,
        });
      case 'NO_MEDIUM':
        return /not blank|closed/i.test(said)
          ? new DriveError('NOT_BLANK', `drive ${drive.name}: ${said}`, drive.name, { cause: e })
          : new DriveError('NO_MEDIUM', `drive ${drive.name}: ${said}`, drive.name, { cause: e });
      default:
        // A closed stand-in disc is immutable: libburn cannot open it for writing.
        if (drive.kind === 'stand-in' && /Failed to open device.*Operation not permitted/i.test(said)) {
          return new DriveError(
            'NOT_BLANK',
            `drive ${drive.name}: the disc is closed (write-once): ${said}`,
            drive.name,
            {
              cause: e,
            },
          );
        }
        return new DriveError('WRITE_FAILED', `drive ${drive.name}: ${said}`, drive.name, { cause: e });
    }
  }
  if (signal.aborted) return new DriveError('ABORTED', `drive ${drive.name}: the burn was cancelled`, drive.name);
  return new DriveError('WRITE_FAILED', `drive ${drive.name}: ${errText(e)}`, drive.name, { cause: e });
}

function describe(e: unknown, drive: string): { code: string; message: string } {
  if (e instanceof DriveError) return { code: e.code, message: e.message };
  return { code: 'WRITE_FAILED', message: `drive ${drive}: ${errText(e)}` };
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
