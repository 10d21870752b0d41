/**
 * Sends an image's multipart-upload parts (and small objects such as the manifest) to
 * S3 through presigned URLs the gateway handed out. The agent holds no credentials:
 * every URL is signed for `host` only, and each PUT adds an unsigned `Content-MD5`, so
 * S3 (RGW 16.2 here, which ignores x-amz-checksum-*) refuses a part whose bytes were
 * damaged on the way (400 BadDigest).
 *
 * Per part: a buffer from a small pool (at most `concurrency` part buffers alive, reused
 * from part to part), filled from the image with positional reads (a short read means the
 * image changed: FILE_CHANGED), its MD5, then one PUT with Content-Length and Content-MD5
 * whose body goes out in 256 KiB chunks, each one waiting for the shared RateLimiter and
 * for the socket to drain. node:http rather than fetch, so the pacing is ours.
 *
 * Failures (errors.ts): 403 → URL_EXPIRED (RGW says AccessDenied for an expired URL,
 * SignatureDoesNotMatch for a tampered one); other 4xx → PART_REJECTED; refused/reset
 * connections, a stalled socket, 5xx, 429 → NETWORK, retried on the same buffer with
 * backoff (0.5 s doubling, cap 10 s, jitter) up to maxAttemptsPerPart attempts (a failure
 * while the limiter was paused does not count: RGW drops a body stalled for 65 s). A URL
 * signed for another part number is refused before sending (GATEWAY_ERROR): S3 would store
 * the bytes as that other part. The first failure that is not retried stops new parts,
 * aborts those in flight, and is what uploadParts rejects with.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import * as fastq from 'fastq';
import { abortedBy, MirrorError, type MirrorErrorCode } from './errors.js';
import type { RateLimiter } from './rate-limiter.js';

export interface PartToSend {
  partNumber: number;
  url: string;
  offset: number;
  length: number;
}

export interface SentPart {
  partNumber: number;
  /** As S3 returned it, quotes included. */
  etag: string;
  /** MD5 of the part's bytes, hex. */
  md5: string;
}

export interface UploadPartsOptions {
  /** The image. */
  file: string;
  parts: PartToSend[];
  /** Parts in flight. */
  concurrency: number;
  limiter: RateLimiter;
  /** Attempts per part; only NETWORK failures are retried, those during a pause do not count. */
  maxAttemptsPerPart: number;
  signal?: AbortSignal;
  /** Called once per finished part (the caller records it durably); awaited. */
  onPart?: (sent: SentPart) => void | Promise<void>;
  /**
   * Body bytes flushed to the socket, for progress. Never more than each part's length in
   * total: a retried part reports only what goes beyond its earlier attempts.
   */
  onBytes?: (n: number) => void;
  /** Wait before retry number `attempt` (1 = after the first failure). Default: backoff(). */
  retryDelayMs?: (attempt: number) => number;
  /** Where part buffers come from. Default: a pool of `concurrency` buffers for this call. */
  bufferPool?: PartBufferPool;
  /** A request with no progress on the socket for this long fails as NETWORK. Default 60 s. */
  idleTimeoutMs?: number;
}

export interface PutObjectOptions {
  limiter?: RateLimiter;
  signal?: AbortSignal;
  contentType?: string;
  /** Attempts; only NETWORK failures are retried. Default 3. */
  maxAttempts?: number;
  retryDelayMs?: (attempt: number) => number;
  idleTimeoutMs?: number;
}

/** Body bytes per write, each gated by the limiter. */
export const CHUNK_BYTES = 256 * 1024;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const MAX_READ = 1 << 30;
const MAX_ERROR_BODY = 64 * 1024;

/** 0.5 s doubling up to 10 s, each wait drawn from [half, full] of that. */
export function backoff(attempt: number): number {
  const base = Math.min(10_000, 500 * 2 ** Math.max(0, attempt - 1));
  return base / 2 + (Math.random() * base) / 2;
}

/** A buffer lent by a PartBufferPool: `bytes` is exactly the size asked for. */
export interface PooledBuffer {
  readonly bytes: Buffer;
  release(): void;
}

/**
 * At most `maxBuffers` part buffers alive at once, reused across parts (and across
 * uploads, when one pool is shared). acquire() waits while all of them are lent out.
 * The counters are there so a test can check the memory bound.
 */
export class PartBufferPool {
  readonly maxBuffers: number;
  /** Buffers allocated over the pool's life. */
  allocations = 0;
  /** Bytes allocated over the pool's life. */
  allocatedBytes = 0;
  /** The most buffers lent out at once. */
  maxInUse = 0;
  private readonly free: Buffer[] = [];
  private alive = 0;
  private lent = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(maxBuffers: number) {
    if (!(Number.isInteger(maxBuffers) && maxBuffers >= 1))
      throw new RangeError(`maxBuffers must be ≥ 1: ${maxBuffers}`);
    this.maxBuffers = maxBuffers;
  }

  /** Buffers currently alive (lent or free). */
  get buffers(): number {
    return this.alive;
  }

  get inUse(): number {
    return this.lent;
  }

  async acquire(size: number, signal?: AbortSignal): Promise<PooledBuffer> {
    for (;;) {
      if (signal?.aborted) throw abortedBy(signal);
      const buf = this.take(size);
      if (buf) {
        this.lent++;
        this.maxInUse = Math.max(this.maxInUse, this.lent);
        let released = false;
        return {
          bytes: buf.subarray(0, size),
          release: () => {
            if (released) return;
            released = true;
            this.lent--;
            this.free.push(buf);
            this.waiters.shift()?.();
          },
        };
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve();
        };
        this.waiters.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  /** Lets go of the buffers no one holds (the mirror calls it when idle, so idle memory is small). */
  trim(): number {
    const n = this.free.length;
    this.alive -= n;
    this.free.length = 0;
    return n;
  }

  private take(size: number): Buffer | undefined {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.length >= size && (best < 0 || b.length < this.free[best]!.length)) best = i;
    }
    if (best >= 0) return this.free.splice(best, 1)[0];
    if (this.alive >= this.maxBuffers) {
      if (this.free.length === 0) return undefined;
      this.free.pop(); // too small for this part: let it go, a bigger one takes its place
      this.alive--;
    }
    this.alive++;
    this.allocations++;
    this.allocatedBytes += size;
    return Buffer.allocUnsafeSlow(size);
  }
}

/**
 * Uploads `parts` of `file`, `concurrency` at a time. Resolves with every part sent,
 * ascending by partNumber. The first failure not retried stops the rest and is thrown.
 */
export async function uploadParts(o: UploadPartsOptions): Promise<SentPart[]> {
  if (!(Number.isInteger(o.concurrency) && o.concurrency >= 1)) throw new RangeError(`concurrency: ${o.concurrency}`);
  if (!(Number.isInteger(o.maxAttemptsPerPart) && o.maxAttemptsPerPart >= 1)) {
    throw new RangeError(`maxAttemptsPerPart: ${o.maxAttemptsPerPart}`);
  }
  const parts = [...o.parts].sort((a, b) => a.partNumber - b.partNumber);
  const urls = new Map(parts.map((p) => [p.partNumber, checkPart(p)]));
  if (urls.size !== parts.length) throw new MirrorError('GATEWAY_ERROR', 'the plan names a part number twice');
  if (o.signal?.aborted) throw abortedBy(o.signal);
  if (parts.length === 0) return [];

  // Fires on the caller's abort or on the first failure not retried; everything listens to it.
  const stop = new AbortController();
  let first: unknown;
  const fail = (e: unknown) => {
    if (first !== undefined) return;
    first = e;
    stop.abort(e);
  };
  const onCallerAbort = () => fail(abortedBy(o.signal));
  o.signal?.addEventListener('abort', onCallerAbort, { once: true });

  const pool = o.bufferPool ?? new PartBufferPool(o.concurrency);
  const agents = new Agents(o.concurrency);
  const done: SentPart[] = [];
  let fh: fs.FileHandle | undefined;
  try {
    fh = await openImage(o.file);
    const image = fh;
    const worker = async (part: PartToSend): Promise<void> => {
      if (stop.signal.aborted) return;
      try {
        const sent = await sendPart(o, image, part, urls.get(part.partNumber)!, pool, agents, stop.signal);
        done.push(sent);
        await o.onPart?.(sent);
      } catch (e) {
        fail(e);
      }
    };
    const queue = fastq.promise(worker, o.concurrency);
    await Promise.all(parts.map((p) => queue.push(p)));
  } finally {
    o.signal?.removeEventListener('abort', onCallerAbort);
    await fh?.close();
    agents.destroy();
  }
  if (first !== undefined) throw first;
  return done.sort((a, b) => a.partNumber - b.partNumber);
}

/** One PUT of `body` (a manifest, say) with Content-MD5. Resolves with the ETag. */
export async function putObject(url: string, body: Buffer, o: PutObjectOptions = {}): Promise<string> {
  const target = parseUrl(url, 'the object');
  const headers: http.OutgoingHttpHeaders = { 'Content-MD5': createHash('md5').update(body).digest('base64') };
  if (o.contentType !== undefined) headers['Content-Type'] = o.contentType;
  const what = `PUT ${redact(target)}`;
  return withRetries(o.maxAttempts ?? 3, o.retryDelayMs ?? backoff, o.signal, o.limiter, async () => {
    const answer = await putOnce({
      url: target,
      body,
      headers,
      agent: undefined,
      limiter: o.limiter,
      signal: o.signal,
      idleTimeoutMs: o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      onFlushed: () => {},
      what,
    });
    return judge(answer, what, 'MANIFEST_REJECTED');
  });
}

function checkPart(p: PartToSend): URL {
  const bad = (why: string) => new MirrorError('GATEWAY_ERROR', `part ${p.partNumber} of the plan: ${why}`);
  if (!(Number.isInteger(p.partNumber) && p.partNumber >= 1 && p.partNumber <= 10_000)) throw bad('bad part number');
  if (!(Number.isSafeInteger(p.offset) && p.offset >= 0)) throw bad(`bad offset ${p.offset}`);
  if (!(Number.isSafeInteger(p.length) && p.length >= 0 && p.length <= 5 * 1024 ** 3)) {
    throw bad(`bad length ${p.length}`);
  }
  const url = parseUrl(p.url, `part ${p.partNumber}`);
  const n = url.searchParams.get('partNumber');
  // A URL signed for another part would be accepted by S3 and store these bytes as that part.
  if (n !== null && Number(n) !== p.partNumber) throw bad(`its URL is signed for part ${n}`);
  return url;
}

function parseUrl(s: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new MirrorError('GATEWAY_ERROR', `${what}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MirrorError('GATEWAY_ERROR', `${what}: not an http(s) URL`);
  }
  return url;
}

/** host and path: the query holds the signature, which has no place in logs. */
function redact(url: URL): string {
  return `${url.host}${url.pathname}`;
}

async function openImage(file: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MirrorError('FILE_CHANGED', `${file}: the image is gone`, { cause: e });
    }
    throw e;
  }
}

async function sendPart(
  o: UploadPartsOptions,
  image: fs.FileHandle,
  part: PartToSend,
  url: URL,
  pool: PartBufferPool,
  agents: Agents,
  signal: AbortSignal,
): Promise<SentPart> {
  const buffer = await pool.acquire(part.length, signal);
  try {
    const bytes = buffer.bytes;
    await readExactly(image, o.file, bytes, part);
    if (signal.aborted) throw abortedBy(signal);
    const md5 = createHash('md5').update(bytes).digest();
    const headers: http.OutgoingHttpHeaders = { 'Content-MD5': md5.toString('base64') };
    const what = `PUT part ${part.partNumber} to ${redact(url)}`;
    let reported = 0; // bytes of this part already passed to onBytes
    const etag = await withRetries(o.maxAttemptsPerPart, o.retryDelayMs ?? backoff, signal, o.limiter, async () => {
      let flushed = 0;
      const answer = await putOnce({
        url,
        body: bytes,
        headers,
        agent: agents.for(url),
        limiter: o.limiter,
        signal,
        idleTimeoutMs: o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        what,
        onFlushed: (n) => {
          flushed += n;
          if (flushed > reported) {
            o.onBytes?.(flushed - reported);
            reported = flushed;
          }
        },
      });
      return judge(answer, what, 'PART_REJECTED');
    });
    return { partNumber: part.partNumber, etag, md5: md5.toString('hex') };
  } finally {
    buffer.release();
  }
}

async function readExactly(image: fs.FileHandle, file: string, bytes: Buffer, part: PartToSend): Promise<void> {
  let got = 0;
  while (got < bytes.length) {
    const want = Math.min(bytes.length - got, MAX_READ);
    const { bytesRead } = await image.read(bytes, got, want, part.offset + got);
    if (bytesRead === 0) {
      throw new MirrorError(
        'FILE_CHANGED',
        `${file} ends at byte ${part.offset + got}, inside part ${part.partNumber} ` +
          `(${part.offset}..${part.offset + part.length}): the image changed underneath`,
      );
    }
    got += bytesRead;
  }
}

/**
 * Runs `attempt` until it succeeds or fails with something not retryable, at most
 * `maxAttempts` times. A failure while `limiter` was paused does not count: a socket
 * held open through a long pause gets dropped by the server (RGW: after 65 s), and
 * that is not the network failing.
 */
async function withRetries<T>(
  maxAttempts: number,
  delayMs: (attempt: number) => number,
  signal: AbortSignal | undefined,
  limiter: RateLimiter | undefined,
  attempt: () => Promise<T>,
): Promise<T> {
  for (let failures = 0; ; ) {
    const pauses = limiter?.pauses;
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof MirrorError) || !e.retryable || signal?.aborted) throw e;
      const excused = limiter !== undefined && (limiter.paused || limiter.pauses !== pauses);
      if (!excused) failures++;
      if (failures >= maxAttempts) {
        throw new MirrorError(e.code, `${e.message} (gave up after ${failures} attempt${failures === 1 ? '' : 's'})`, {
          cause: e,
          status: e.status,
          s3Code: e.s3Code,
        });
      }
      try {
        await delay(Math.max(0, delayMs(Math.max(1, failures))), undefined, { signal });
      } catch {
        throw abortedBy(signal);
      }
    }
  }
}

/** keep-alive agents for one upload, maxSockets = concurrency. */
class Agents {
  private httpAgent: http.Agent | undefined;
  private httpsAgent: https.Agent | undefined;
  constructor(private readonly maxSockets: number) {}

  for(url: URL): http.Agent {
    if (url.protocol === 'https:') {
      this.httpsAgent ??= new https.Agent({ keepAlive: true, maxSockets: this.maxSockets });
      return this.httpsAgent;
    }
    this.httpAgent ??= new http.Agent({ keepAlive: true, maxSockets: this.maxSockets });
    return this.httpAgent;
  }

  destroy(): void {
    this.httpAgent?.destroy();
    this.httpsAgent?.destroy();
  }
}

interface Answer {
  status: number;
  etag: string | undefined;
  body: string;
}

interface PutAttempt {
  url: URL;
  body: Buffer;
  headers: http.OutgoingHttpHeaders;
  agent: http.Agent | undefined;
  limiter: RateLimiter | undefined;
  signal: AbortSignal | undefined;
  idleTimeoutMs: number;
  onFlushed: (n: number) => void;
  what: string;
}

/**
 * One PUT. Resolves with S3's answer, whatever its status (an early answer, sent before
 * the body is all out, stops the writing); rejects with NETWORK or ABORTED. Settles only
 * once the request is closed, so the caller may reuse `body` at once.
 */
async function putOnce(a: PutAttempt): Promise<Answer> {
  const { signal } = a;
  if (signal?.aborted) throw abortedBy(signal);
  // The first chunk is paid for before a connection is taken: no socket idles through
  // a pause or a slow rate before the request has even started.
  const firstChunk = Math.min(CHUNK_BYTES, a.body.length);
  if (a.limiter && firstChunk > 0) await a.limiter.take(firstChunk, signal);
  return new Promise<Answer>((resolve, reject) => {
    const client = a.url.protocol === 'https:' ? https : http;
    const req = client.request(a.url, {
      method: 'PUT',
      agent: a.agent,
      headers: { ...a.headers, 'Content-Length': String(a.body.length) },
    });
    const closed = new Promise<void>((r) => req.once('close', () => r()));
    const stopWriting = new AbortController();
    let settled = false;
    let ended = false;
    let inLimiter = false;
    let idle: NodeJS.Timeout | undefined;

    const finish = (e: unknown, answer?: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      stopWriting.abort();
      signal?.removeEventListener('abort', onAbort);
      if (e !== undefined || !ended) req.destroy();
      // Settle once the socket has let go of `body` (bounded, in case 'close' never comes).
      const settle = () => {
        clearTimeout(fallback);
        if (e !== undefined) reject(e);
        else resolve(answer!);
      };
      const fallback = setTimeout(settle, 1000);
      void closed.then(settle);
    };
    const touch = () => {
      if (settled || inLimiter) return;
      clearTimeout(idle);
      idle = setTimeout(
        () => finish(new MirrorError('NETWORK', `${a.what}: no progress for ${a.idleTimeoutMs} ms`)),
        a.idleTimeoutMs,
      );
    };
    const onAbort = () => finish(abortedBy(signal));
    signal?.addEventListener('abort', onAbort, { once: true });

    req.on('error', (e) => finish(networkError(a.what, e)));
    // RGW drops a request whose body stalls for 65 s with a bare FIN; Node then emits
    // 'close' on the request and no 'error'.
    req.on('close', () => finish(new MirrorError('NETWORK', `${a.what}: connection closed before an answer`)));
    req.on('response', (res) => {
      stopWriting.abort();
      touch();
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        touch();
        if (size < MAX_ERROR_BODY) {
          chunks.push(c);
          size += c.length;
        }
      });
      res.on('end', () => {
        const etag = res.headers.etag;
        finish(undefined, { status: res.statusCode ?? 0, etag, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (e) => finish(networkError(a.what, e)));
      res.on('close', () => {
        if (!res.complete) finish(new MirrorError('NETWORK', `${a.what}: the answer was cut short`));
      });
    });

    const writeBody = async () => {
      const writeSignal = signal ? AbortSignal.any([signal, stopWriting.signal]) : stopWriting.signal;
      touch();
      for (let off = 0; off < a.body.length; off += CHUNK_BYTES) {
        const chunk = a.body.subarray(off, Math.min(off + CHUNK_BYTES, a.body.length));
        if (a.limiter && off > 0) {
          inLimiter = true;
          clearTimeout(idle); // waiting on our own limiter (or a pause) is not a stalled socket
          try {
            await a.limiter.take(chunk.length, writeSignal);
          } finally {
            inLimiter = false;
          }
          touch();
        }
        if (stopWriting.signal.aborted) return;
        const more = req.write(chunk, (err) => {
          if (!err) {
            touch();
            a.onFlushed(chunk.length);
          }
        });
        if (!more) await once(req, 'drain', { signal: stopWriting.signal });
      }
      if (stopWriting.signal.aborted) return;
      ended = true;
      req.end();
    };
    writeBody().catch((e) => {
      // Stopped because of an answer, an error or an abort: finish() has that in hand.
      if (!stopWriting.signal.aborted) finish(networkError(a.what, e));
    });
  });
}

/** 2xx → the ETag; otherwise the MirrorError that status and S3 error code call for. */
function judge(answer: Answer, what: string, refused: MirrorErrorCode): string {
  if (answer.status >= 200 && answer.status < 300) {
    if (!answer.etag) throw new MirrorError(refused, `${what}: HTTP ${answer.status} without an ETag`);
    return answer.etag;
  }
  const { code, message } = parseS3Error(answer.body);
  const text = `${what}: HTTP ${answer.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;
  const o = { status: answer.status, s3Code: code };
  if (answer.status === 403) throw new MirrorError('URL_EXPIRED', text, o);
  if (answer.status >= 500 || answer.status === 429 || answer.status === 408 || code === 'RequestTimeout') {
    throw new MirrorError('NETWORK', text, o);
  }
  throw new MirrorError(refused, text, o);
}

/** `<Code>` and `<Message>` of an S3 XML error body (RGW leaves Message empty). */
export function parseS3Error(body: string): { code: string | undefined; message: string | undefined } {
  const field = (tag: string) => {
    const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(body);
    const v = m?.[1]?.trim();
    return v ? unescapeXml(v) : undefined;
  };
  return { code: field('Code'), message: field('Message') };
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) =>
    e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'quot' ? '"' : e === 'apos' ? "'" : '&',
  );
}

function networkError(what: string, e: unknown): MirrorError {
  if (e instanceof MirrorError) return e;
  const err = e as NodeJS.ErrnoException;
  return new MirrorError('NETWORK', `${what}: ${err.code ?? err.message ?? String(e)}`, { cause: e });
}
