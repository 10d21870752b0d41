/**
 * The mirror's upload machinery. The rate limiter runs on a simulated clock (no
 * wall-clock assertions anywhere in this file). The part uploader runs against the
 * shared real Ceph RGW, with the test playing the gateway: it creates the multipart
 * upload, presigns one URL per part with the SDK, completes the upload and reads the
 * object back. A small HTTP proxy in front of RGW stands in for a flaky or damaging
 * network (503s, one flipped byte).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import test, { type ExecutionContext } from 'ava';
import { MirrorError, type MirrorErrorCode } from '../../edge-agent/mirror/errors.js';
import {
  CHUNK_BYTES,
  PartBufferPool,
  type PartToSend,
  parseS3Error,
  putObject,
  type SentPart,
  uploadParts,
} from '../../edge-agent/mirror/part-uploader.js';
import { RateLimiter } from '../../edge-agent/mirror/rate-limiter.js';
import type { RgwInfo } from '../../infra/rgw/rgw.js';
import { s3ClientConfig } from '../../infra/rgw/s3-config.js';
import { freshBucket, rgwMissing, sharedRgw } from '../helpers/test-rgw.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const IMAGE_SIZE = 40 * MiB + 123_457; // 9 parts, the last one short

const missing = rgwMissing();
const rgwTest = missing ? test.skip : test;
const skipNote = missing ? ` [SKIPPED: ${missing}]` : '';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const md5hex = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const flush = () => new Promise<void>((r) => setImmediate(r));

// ---------------------------------------------------------------------------------------
// Rate limiter, on a simulated clock.

/** now()/sleep() for the limiter: time moves only when the test calls advance(). */
class FakeClock {
  t = 0;
  readonly sleeps: number[] = [];
  private timers: Array<{ at: number; fire: () => void }> = [];
  readonly now = () => this.t;
  readonly sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      this.sleeps.push(ms);
      const timer = { at: this.t + ms, fire: resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((x) => x !== timer);
          resolve();
        },
        { once: true },
      );
    });

  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = Math.max(this.t, due.at);
      this.timers = this.timers.filter((x) => x !== due);
      due.fire();
    }
    this.t = end;
    await flush();
  }
}

/** A promise's state, readable synchronously. */
function track(p: Promise<unknown>) {
  const s: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' };
  p.then(
    () => {
      s.state = 'resolved';
    },
    (e: unknown) => {
      s.state = 'rejected';
      s.error = e;
    },
  );
  return s;
}

function limiter(rate: number | null, burstBytes = 1000) {
  const clock = new FakeClock();
  return { clock, limiter: new RateLimiter(rate, { burstBytes, now: clock.now, sleep: clock.sleep }) };
}

test('rate limiter: take() waits n/rate of simulated time once the burst is spent', async (t) => {
  const { clock, limiter: l } = limiter(1000);
  t.is(l.rate, 1000);
  const first = track(l.take(1000));
  await flush();
  t.is(first.state, 'resolved', 'a full bucket lets the burst through at once');
  const second = track(l.take(500));
  await clock.advance(499);
  t.is(second.state, 'pending');
  await clock.advance(1);
  t.is(second.state, 'resolved', '500 bytes at 1000 B/s: 500 ms');
  t.is(clock.t, 500);
});

test('rate limiter: a request bigger than the burst goes into debt that the next takers pay back', async (t) => {
  const { clock, limiter: l } = limiter(1000);
  const big = track(l.take(3000));
  await flush();
  t.is(big.state, 'resolved', 'no deadlock: a full bucket lets a bigger request through');
  const next = track(l.take(1));
  await clock.advance(2000);
  t.is(next.state, 'pending', '2000 bytes of debt to pay back first');
  await clock.advance(1);
  t.is(next.state, 'resolved');

  // Half a bucket: a big request waits for a full bucket, not for tokens it can never get.
  const { clock: c2, limiter: l2 } = limiter(1000);
  await l2.take(500);
  const big2 = track(l2.take(5000));
  await c2.advance(499);
  t.is(big2.state, 'pending');
  await c2.advance(1);
  t.is(big2.state, 'resolved');
});

test('rate limiter: waiters are served in order', async (t) => {
  const { clock, limiter: l } = limiter(1000);
  await l.take(1000);
  const order: string[] = [];
  const a = l.take(800).then(() => order.push('big'));
  const b = l.take(1).then(() => order.push('small'));
  await clock.advance(800);
  await Promise.all([a, b.then(() => undefined), clock.advance(1)]);
  t.deepEqual(order, ['big', 'small'], 'a small request does not overtake a big one');
});

test('rate limiter: setRate takes effect for a waiter already sleeping', async (t) => {
  const { clock, limiter: l } = limiter(1000);
  await l.take(1000);
  const w = track(l.take(1000));
  await flush();
  t.deepEqual(clock.sleeps, [1000], 'sleeping a full second at 1000 B/s');
  l.setRate(10_000);
  t.is(l.rate, 10_000);
  await clock.advance(99);
  t.is(w.state, 'pending');
  await clock.advance(1);
  t.is(w.state, 'resolved', 'at 10 000 B/s the same 1000 bytes take 100 ms');

  // And slower: a waiter's wait gets longer.
  const again = l.take(1000);
  await clock.advance(100);
  await again; // the bucket is empty again
  const slow = track(l.take(1000));
  await clock.advance(50); // 500 bytes refilled at 10 000 B/s
  l.setRate(100); // the 500 missing bytes at 100 B/s: 5 s more
  await clock.advance(4999);
  t.is(slow.state, 'pending');
  await clock.advance(1);
  t.is(slow.state, 'resolved');
});

test('rate limiter: null means no wait, and switching to null releases the waiters', async (t) => {
  const { clock, limiter: l } = limiter(null);
  t.is(l.rate, null);
  for (let i = 0; i < 100; i++) await l.take(1e9);
  t.deepEqual(clock.sleeps, [], 'never slept');

  const { clock: c2, limiter: l2 } = limiter(10);
  await l2.take(1000);
  const w = track(l2.take(1000));
  await c2.advance(1);
  t.is(w.state, 'pending');
  l2.setRate(null);
  await flush();
  t.is(w.state, 'resolved', 'released without the clock moving');
  t.is(c2.t, 1);
});

test('rate limiter: pause() holds takers until resume()', async (t) => {
  const { clock, limiter: l } = limiter(null);
  l.pause();
  t.true(l.paused);
  const w = track(l.take(1));
  await clock.advance(3_600_000);
  t.is(w.state, 'pending', 'an hour later, still paused');
  t.deepEqual(clock.sleeps, [], 'waiting for resume(), not polling');
  l.resume();
  await flush();
  t.is(w.state, 'resolved');

  // With a rate: the bucket refills during the pause (up to the burst).
  const { clock: c2, limiter: l2 } = limiter(1000);
  await l2.take(1000);
  l2.pause();
  const w2 = track(l2.take(1000));
  await c2.advance(5000);
  t.is(w2.state, 'pending');
  l2.resume();
  await flush();
  t.is(w2.state, 'resolved');
});

test('rate limiter: an aborted take() rejects with ABORTED and the next waiter moves up', async (t) => {
  const { clock, limiter: l } = limiter(1000);
  await l.take(1000);
  const ac = new AbortController();
  const head = l.take(1000, ac.signal);
  const next = track(l.take(10));
  await clock.advance(5);
  ac.abort();
  const e = await t.throwsAsync(head, { instanceOf: MirrorError });
  t.is(e?.code, 'ABORTED');
  await clock.advance(4);
  t.is(next.state, 'pending');
  await clock.advance(1);
  t.is(next.state, 'resolved', 'only the 10 bytes of the remaining waiter are waited for');

  const early = await t.throwsAsync(l.take(1, AbortSignal.abort()), { instanceOf: MirrorError });
  t.is(early?.code, 'ABORTED');

  const { limiter: paused } = limiter(null);
  paused.pause();
  const ac2 = new AbortController();
  const p = paused.take(1, ac2.signal);
  ac2.abort();
  t.is((await t.throwsAsync(p, { instanceOf: MirrorError }))?.code, 'ABORTED', 'abort works while paused');
});

test('buffer pool: lends at most maxBuffers, reuses them, and grows a too-small one in place', async (t) => {
  const pool = new PartBufferPool(2);
  const a = await pool.acquire(100);
  const b = await pool.acquire(100);
  t.is(a.bytes.length, 100);
  const third = pool.acquire(50);
  const thirdState = track(third);
  await flush();
  t.is(thirdState.state, 'pending', 'both buffers lent: wait');
  a.release();
  const c = await third;
  t.is(c.bytes.length, 50);
  t.is(pool.allocations, 2, 'the released buffer was reused');
  c.release();
  b.release();
  const big = await pool.acquire(1000); // neither free buffer is big enough
  t.is(big.bytes.length, 1000);
  t.is(pool.buffers, 2, 'a small buffer was dropped for the big one');
  t.is(pool.allocations, 3);
  t.is(pool.maxInUse, 2);
  const ac = new AbortController();
  const b2 = await pool.acquire(10);
  t.is(pool.allocations, 3, 'the 100-byte buffer left serves 10 bytes');
  const waiting = pool.acquire(10, ac.signal);
  ac.abort();
  t.is((await t.throwsAsync(waiting, { instanceOf: MirrorError }))?.code, 'ABORTED');
  big.release();
  b2.release();
  // idle: trim lets every free buffer go; the next part allocates afresh
  t.is(pool.trim(), 2);
  t.is(pool.buffers, 0);
  const d = await pool.acquire(10);
  t.is(pool.allocations, 4);
  t.is(pool.trim(), 0, 'a lent buffer is not trimmed');
  d.release();
  t.is(pool.buffers, 1);
});

test('S3 error bodies: Code and Message', (t) => {
  t.deepEqual(
    parseS3Error(
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>BadDigest</Code><Message></Message><RequestId>tx1</RequestId></Error>',
    ),
    { code: 'BadDigest', message: undefined },
  );
  t.deepEqual(parseS3Error('<Error><Code>AccessDenied</Code><Message>Request has expired &amp; so</Message></Error>'), {
    code: 'AccessDenied',
    message: 'Request has expired & so',
  });
  t.deepEqual(parseS3Error('Bad Gateway'), { code: undefined, message: undefined });
});

// ---------------------------------------------------------------------------------------
// Part uploads against RGW, the test playing the gateway.

interface Kit {
  rgw: RgwInfo;
  s3: S3Client;
  bucket: string;
}

async function kit(t: ExecutionContext): Promise<Kit> {
  const rgw = await sharedRgw();
  const bucket = await freshBucket(rgw, 'optarc-mirror');
  const s3 = new S3Client(s3ClientConfig(rgw));
  t.teardown(() => s3.destroy());
  return { rgw, s3, bucket };
}

/** A random image on disk. */
async function image(t: ExecutionContext, size = IMAGE_SIZE): Promise<{ file: string; data: Buffer }> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'optarc-mirror-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const data = randomBytes(size);
  const file = path.join(dir, 'volume.iso');
  await fs.writeFile(file, data);
  return { file, data };
}

/** What the gateway does: a multipart upload and one presigned URL per part. */
async function plan(k: Kit, key: string, size: number, expiresIn = 600) {
  const { UploadId } = await k.s3.send(new CreateMultipartUploadCommand({ Bucket: k.bucket, Key: key }));
  const uploadId = UploadId!;
  const parts: PartToSend[] = [];
  for (let offset = 0, partNumber = 1; offset < size; offset += PART, partNumber++) {
    const url = await presignPart(k, key, uploadId, partNumber, expiresIn);
    parts.push({ partNumber, url, offset, length: Math.min(PART, size - offset) });
  }
  return { uploadId, parts };
}

function presignPart(k: Kit, key: string, uploadId: string, partNumber: number, expiresIn = 600) {
  const cmd = new UploadPartCommand({ Bucket: k.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber });
  return getSignedUrl(k.s3, cmd, { expiresIn });
}

async function complete(k: Kit, key: string, uploadId: string, sent: SentPart[]): Promise<void> {
  await k.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: k.bucket,
      Key: key,
      UploadId: uploadId,
      MultipartUpload: { Parts: sent.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
    }),
  );
}

async function objectBytes(k: Kit, key: string) {
  const r = await k.s3.send(new GetObjectCommand({ Bucket: k.bucket, Key: key }));
  return { r, body: Buffer.from(await r.Body!.transformToByteArray()) };
}

async function storedParts(k: Kit, key: string, uploadId: string): Promise<number[]> {
  const r = await k.s3.send(new ListPartsCommand({ Bucket: k.bucket, Key: key, UploadId: uploadId }));
  return (r.Parts ?? []).map((p) => p.PartNumber!);
}

/** A limiter that remembers every byte it was asked for. */
class CountingLimiter extends RateLimiter {
  asked = 0;
  override take(n: number, signal?: AbortSignal): Promise<void> {
    this.asked += n;
    return super.take(n, signal);
  }
}

/** retryDelayMs that counts retries (it is called once before each retry). */
function retries() {
  const r = {
    count: 0,
    delay: (_attempt: number) => {
      r.count++;
      return 1;
    },
  };
  return r;
}

async function mirrorError(t: ExecutionContext, p: Promise<unknown>, code: MirrorErrorCode): Promise<MirrorError> {
  const e = await t.throwsAsync(p, { instanceOf: MirrorError });
  t.is(e?.code, code, e?.message);
  return e as MirrorError;
}

rgwTest(`a 40 MiB image in 5 MiB parts, 3 at a time, completes to the same bytes${skipNote}`, async (t) => {
  const k = await kit(t);
  const { file, data } = await image(t);
  const { uploadId, parts } = await plan(k, 'site-a/VOL001.iso', data.length);
  t.is(parts.length, 9);
  t.is(parts.at(-1)!.length, data.length - 8 * PART);
  const limiter = new CountingLimiter(null);
  const seen: SentPart[] = [];
  let bytes = 0;
  const sent = await uploadParts({
    file,
    parts: [...parts].reverse(), // any order in, ascending out
    concurrency: 3,
    limiter,
    maxAttemptsPerPart: 3,
    onPart: (p) => {
      seen.push(p);
    },
    onBytes: (n) => {
      bytes += n;
    },
  });
  t.deepEqual(
    sent.map((p) => p.partNumber),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  t.is(seen.length, 9, 'onPart once per part');
  t.is(bytes, data.length, 'onBytes adds up to the image');
  t.is(limiter.asked, data.length, 'every byte went through the limiter');
  for (const p of sent) {
    const part = parts[p.partNumber - 1]!;
    const slice = data.subarray(part.offset, part.offset + part.length);
    t.is(p.md5, md5hex(slice));
    t.is(p.etag, `"${md5hex(slice)}"`, 'the ETag as RGW returned it, quotes included');
  }
  await complete(k, 'site-a/VOL001.iso', uploadId, sent);
  const { body } = await objectBytes(k, 'site-a/VOL001.iso');
  t.is(body.length, data.length);
  t.is(sha256(body), sha256(data));
});

rgwTest(`resume: parts 1-3 first, the rest in a second call, completes to the same bytes${skipNote}`, async (t) => {
  const k = await kit(t);
  const { file, data } = await image(t);
  const { uploadId, parts } = await plan(k, 'resume.iso', data.length);
  const limiter = new RateLimiter(null);
  const o = { file, concurrency: 3, limiter, maxAttemptsPerPart: 3 };
  const first = await uploadParts({ ...o, parts: parts.slice(0, 3) });
  t.deepEqual(await storedParts(k, 'resume.iso', uploadId), [1, 2, 3]);
  const rest = await uploadParts({ ...o, parts: parts.slice(3) });
  t.deepEqual(
    rest.map((p) => p.partNumber),
    [4, 5, 6, 7, 8, 9],
  );
  await complete(k, 'resume.iso', uploadId, [...first, ...rest]);
  const { body } = await objectBytes(k, 'resume.iso');
  t.is(sha256(body), sha256(data));
});

rgwTest(`memory: 40 MiB at concurrency 2 allocates 2 part buffers and reuses them${skipNote}`, async (t) => {
  const k = await kit(t);
  const { file, data } = await image(t);
  const { uploadId, parts } = await plan(k, 'memory.iso', data.length);
  // A pool far bigger than needed, so any bound seen is the uploader's own.
  const pool = new PartBufferPool(64);
  const sent = await uploadParts({
    file,
    parts,
    concurrency: 2,
    limiter: new RateLimiter(null),
    maxAttemptsPerPart: 3,
    bufferPool: pool,
  });
  t.is(pool.allocations, 2, `${pool.allocations} part buffers allocated for ${parts.length} parts`);
  t.is(pool.allocatedBytes, 2 * PART);
  t.is(pool.maxInUse, 2);
  t.is(pool.inUse, 0, 'all returned');
  await complete(k, 'memory.iso', uploadId, sent);
  t.is(sha256((await objectBytes(k, 'memory.iso')).body), sha256(data));
});

rgwTest(`a URL for another upload is refused (404 NoSuchUpload): PART_REJECTED, not retried${skipNote}`, async (t) => {
  const k = await kit(t);
  const { file, data } = await image(t, 6 * MiB);
  const { UploadId } = await k.s3.send(new CreateMultipartUploadCommand({ Bucket: k.bucket, Key: 'other.iso' }));
  await k.s3.send(new AbortMultipartUploadCommand({ Bucket: k.bucket, Key: 'other.iso', UploadId: UploadId! }));
  const url = await presignPart(k, 'other.iso', UploadId!, 1);
  const r = retries();
  const e = await mirrorError(
    t,
    uploadParts({
      file,
      parts: [{ partNumber: 1, url, offset: 0, length: data.length }],
      concurrency: 2,
      limiter: new RateLimiter(null),
      maxAttemptsPerPart: 5,
      retryDelayMs: r.delay,
    }),
    'PART_REJECTED',
  );
  t.is(e.status, 404);
  t.is(e.s3Code, 'NoSuchUpload');
  t.false(e.retryable);
  t.is(r.count, 0, 'no retry');
  t.notRegex(e.message, /X-Amz-Signature/, 'no signature in messages');
});

rgwTest(
  `a URL whose part number was changed after signing: 403 SignatureDoesNotMatch, URL_EXPIRED${skipNote}`,
  async (t) => {
    const k = await kit(t);
    const { file, data } = await image(t, 7 * MiB);
    const { uploadId, parts } = await plan(k, 'tampered.iso', data.length);
    const url = parts[0]!.url.replace('partNumber=1', 'partNumber=2');
    t.not(url, parts[0]!.url);
    const r = retries();
    let bytes = 0;
    const e = await mirrorError(
      t,
      uploadParts({
        file,
        parts: [{ ...parts[1]!, url }],
        concurrency: 1,
        limiter: new RateLimiter(null),
        maxAttemptsPerPart: 5,
        retryDelayMs: r.delay,
        onBytes: (n) => {
          bytes += n;
        },
      }),
      'URL_EXPIRED',
    );
    t.is(e.status, 403);
    t.is(e.s3Code, 'SignatureDoesNotMatch');
    t.is(r.count, 0, 'no retry');
    t.true(bytes <= parts[1]!.length, 'sent once at most');
    t.deepEqual(await storedParts(k, 'tampered.iso', uploadId), []);
  },
);

rgwTest(`a URL signed for another part number is refused before sending: GATEWAY_ERROR${skipNote}`, async (t) => {
  const k = await kit(t);
  const { file, data } = await image(t, 7 * MiB);
  const { uploadId, parts } = await plan(k, 'swapped.iso', data.length);
  // S3 would take these bytes as part 2: nothing at RGW's end can notice.
  const swapped = [
    { ...parts[0]!, url: parts[1]!.url },
    { ...parts[1]!, url: parts[0]!.url },
  ];
  let bytes = 0;
  const e = await mirrorError(
    t,
    uploadParts({
      file,
      parts: swapped,
      concurrency: 2,
      limiter: new RateLimiter(null),
      maxAttemptsPerPart: 3,
      onBytes: (n) => {
        bytes += n;
      },
    }),
    'GATEWAY_ERROR',
  );
  t.regex(e.message, /signed for part 2/);
  t.is(bytes, 0);
  t.deepEqual(await storedParts(k, 'swapped.iso', uploadId), []);
});

rgwTest(`an expired URL: 403 AccessDenied, URL_EXPIRED, not retried${skipNote}`, async (t) => {
  const k = await kit(t);
  const { file, data } = await image(t, 6 * MiB);
  const { uploadId, parts } = await plan(k, 'expired.iso', data.length, 1);
  await new Promise((r) => setTimeout(r, 2000)); // let the 1 s URLs expire
  const r = retries();
  const e = await mirrorError(
    t,
    uploadParts({
      file,
      parts,
      concurrency: 2,
      limiter: new RateLimiter(null),
      maxAttemptsPerPart: 5,
      retryDelayMs: r.delay,
    }),
    'URL_EXPIRED',
  );
  t.is(e.status, 403);
  t.is(e.s3Code, 'AccessDenied', 'RGW 16.2 says AccessDenied, with an empty Message');
  t.false(e.retryable);
  t.is(r.count, 0);
  t.deepEqual(await storedParts(k, 'expired.iso', uploadId), []);
});

rgwTest(`connection refused: NETWORK after exactly maxAttemptsPerPart attempts${skipNote}`, async (t) => {
  const { file, data } = await image(t, MiB);
  const r = retries();
  const attempts: number[] = [];
  const e = await mirrorError(
    t,
    uploadParts({
      file,
      parts: [
        { partNumber: 1, url: 'http://127.0.0.1:1/bucket/key?partNumber=1&uploadId=x', offset: 0, length: data.length },
      ],
      concurrency: 1,
      limiter: new RateLimiter(null),
      maxAttemptsPerPart: 4,
      retryDelayMs: (n) => {
        attempts.push(n);
        return r.delay(n);
      },
    }),
    'NETWORK',
  );
  t.deepEqual(attempts, [1, 2, 3], 'three retries: four attempts');
  t.regex(e.message, /ECONNREFUSED/);
  t.regex(e.message, /gave up after 4 attempts/);
  t.true(e.retryable, 'the caller may try again later');
});

test('a server that takes the body and never answers: NETWORK (no progress), retried, then given up', async (t) => {
  const { file, data } = await image(t, MiB);
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.resume(); // reads everything, answers nothing
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as AddressInfo;
  const r = retries();
  const e = await mirrorError(
    t,
    uploadParts({
      file,
      parts: [{ partNumber: 1, url: `http://127.0.0.1:${port}/b/k?partNumber=1`, offset: 0, length: data.length }],
      concurrency: 1,
      limiter: new RateLimiter(null),
      maxAttemptsPerPart: 2,
      retryDelayMs: r.delay,
      idleTimeoutMs: 200,
    }),
    'NETWORK',
  );
  t.regex(e.message, /no progress/);
  t.is(r.count, 1);
  t.is(connections, 2, 'a stalled socket is dropped, the retry opens a new one');
});

test('a connection dropped while uploads are paused does not use up an attempt', async (t) => {
  const { file, data } = await image(t, 3 * MiB);
  // Stands in for RGW dropping a request that sat through a pause (it does so after 65 s).
  let requests = 0;
  const server = http.createServer((req, res) => {
    const n = ++requests;
    const chunks: Buffer[] = [];
    let got = 0;
    req.on('data', (c: Buffer) => {
      got += c.length;
      chunks.push(c);
      if (n === 1 && got >= CHUNK_BYTES) req.socket.destroy();
    });
    req.on('end', () => {
      res.writeHead(200, { ETag: `"${md5hex(Buffer.concat(chunks))}"` });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as AddressInfo;
  const limiter = new RateLimiter(null);
  const retried: number[] = [];
  let bytes = 0;
  const sent = await uploadParts({
    file,
    parts: [{ partNumber: 1, url: `http://127.0.0.1:${port}/b/k?partNumber=1`, offset: 0, length: data.length }],
    concurrency: 1,
    limiter,
    maxAttemptsPerPart: 1, // no retry for a failure of the network
    onBytes: (n) => {
      if (bytes === 0) limiter.pause(); // the gateway pauses uploads mid-part
      bytes += n;
    },
    retryDelayMs: (n) => {
      retried.push(n);
      limiter.resume(); // ... and resumes them once the connection is gone
      return 1;
    },
  });
  t.is(requests, 2);
  t.deepEqual(retried, [1]);
  t.deepEqual(sent, [{ partNumber: 1, etag: `"${md5hex(data)}"`, md5: md5hex(data) }]);
  t.is(bytes, data.length);
});

/** An HTTP hop in front of RGW: reads each request whole, then lets `hop` decide. */
async function proxy(
  t: ExecutionContext,
  rgw: RgwInfo,
  hop: (n: number, body: Buffer) => 'forward' | 'corrupt' | 'fail',
) {
  const upstream = new URL(rgw.endpoint);
  let requests = 0;
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const what = hop(++requests, body);
    if (what === 'fail') {
      res.writeHead(503, { 'Content-Type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>try later</Message></Error>');
      return;
    }
    if (what === 'corrupt') body[body.length >> 1]! ^= 0x01;
    const out = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    out.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  return {
    via: (url: string) => url.replace(upstream.host, `127.0.0.1:${port}`),
    get requests() {
      return requests;
    },
  };
}

rgwTest(`503s are retried on the same bytes, and the part lands${skipNote}`, async (t) => {
  const k = await kit(t);
  const { file, data } = await image(t, 3 * MiB);
  const { uploadId, parts } = await plan(k, 'flaky.iso', data.length);
  const hop = await proxy(t, k.rgw, (n) => (n <= 2 ? 'fail' : 'forward'));
  const r = retries();
  let bytes = 0;
  const sent = await uploadParts({
    file,
    parts: parts.map((p) => ({ ...p, url: hop.via(p.url) })),
    concurrency: 1,
    limiter: new RateLimiter(null),
    maxAttemptsPerPart: 3,
    retryDelayMs: r.delay,
    onBytes: (n) => {
      bytes += n;
    },
  });
  t.is(hop.requests, 3);
  t.is(r.count, 2);
  t.is(bytes, data.length, 'a retried part is counted once in the progress');
  await complete(k, 'flaky.iso', uploadId, sent);
  t.is(sha256((await objectBytes(k, 'flaky.iso')).body), sha256(data));
});

rgwTest(
  `a byte flipped on the way: RGW refuses it (400 BadDigest), PART_REJECTED, not retried${skipNote}`,
  async (t) => {
    const k = await kit(t);
    const { file, data } = await image(t, 3 * MiB);
    const { uploadId, parts } = await plan(k, 'damaged.iso', data.length);
    const hop = await proxy(t, k.rgw, () => 'corrupt');
    const r = retries();
    const e = await mirrorError(
      t,
      uploadParts({
        file,
        parts: parts.map((p) => ({ ...p, url: hop.via(p.url) })),
        concurrency: 1,
        limiter: new RateLimiter(null),
        maxAttemptsPerPart: 3,
        retryDelayMs: r.delay,
      }),
      'PART_REJECTED',
    );
    t.is(e.status, 400);
    t.is(e.s3Code, 'BadDigest');
    t.is(hop.requests, 1);
    t.is(r.count, 0);
    t.deepEqual(await storedParts(k, 'damaged.iso', uploadId), []);
  },
);

rgwTest(`an image truncated underneath: FILE_CHANGED at the first short part${skipNote}`, async (t) => {
  const k = await kit(t);
  const { file, data } = await image(t);
  const { parts } = await plan(k, 'truncated.iso', data.length);
  const done: number[] = [];
  const e = await mirrorError(
    t,
    uploadParts({
      file,
      parts,
      concurrency: 1,
      limiter: new RateLimiter(null),
      maxAttemptsPerPart: 3,
      onPart: async (p) => {
        done.push(p.partNumber);
        if (p.partNumber === 1) await fs.truncate(file, 2 * PART + 1000); // inside part 3
      },
    }),
    'FILE_CHANGED',
  );
  t.deepEqual(done, [1, 2], 'part 2 still had its bytes; part 3 did not');
  t.regex(e.message, /part 3/);
  t.false(e.retryable);
});

rgwTest(`abort mid-upload: ABORTED at once, nothing half-sent is stored${skipNote}`, async (t) => {
  const k = await kit(t);
  const { file, data } = await image(t);
  const { uploadId, parts } = await plan(k, 'aborted.iso', data.length);
  const ac = new AbortController();
  const pool = new PartBufferPool(3);
  let bytes = 0;
  let finished = 0;
  // 2 MiB/s: the image would take 20 s; the abort comes with the first bytes on the wire.
  const e = await mirrorError(
    t,
    uploadParts({
      file,
      parts,
      concurrency: 3,
      limiter: new RateLimiter(2 * MiB),
      maxAttemptsPerPart: 3,
      bufferPool: pool,
      signal: ac.signal,
      onPart: () => {
        finished++;
      },
      onBytes: (n) => {
        bytes += n;
        ac.abort();
      },
    }),
    'ABORTED',
  );
  t.false(e.retryable);
  t.is(finished, 0, 'no part finished');
  t.true(bytes < data.length / 4, `${bytes} bytes sent before the abort took hold`);
  t.is(pool.inUse, 0, 'every buffer returned');
  t.deepEqual(await storedParts(k, 'aborted.iso', uploadId), [], 'RGW kept no part');

  // Aborted while the limiter is paused (the gateway paused uploads): still prompt.
  const paused = new RateLimiter(null);
  paused.pause();
  const ac2 = new AbortController();
  const p = uploadParts({ file, parts, concurrency: 3, limiter: paused, maxAttemptsPerPart: 3, signal: ac2.signal });
  await new Promise((r) => setImmediate(r));
  ac2.abort();
  await mirrorError(t, p, 'ABORTED');
});

rgwTest(`putObject sends a manifest with Content-MD5; GetObject returns it${skipNote}`, async (t) => {
  const k = await kit(t);
  const manifest = Buffer.from(
    JSON.stringify({ vsn: 'VOL001', files: [{ path: 'scans/a.fits', size: 300_000, sha256: 'ab'.repeat(32) }] }),
  );
  const url = await getSignedUrl(k.s3, new PutObjectCommand({ Bucket: k.bucket, Key: 'site-a/VOL001.json' }), {
    expiresIn: 600,
  });
  const etag = await putObject(url, manifest, { contentType: 'application/json', limiter: new RateLimiter(null) });
  t.is(etag, `"${md5hex(manifest)}"`);
  const { r, body } = await objectBytes(k, 'site-a/VOL001.json');
  t.true(body.equals(manifest));
  t.is(r.ContentType, 'application/json');

  const hop = await proxy(t, k.rgw, () => 'corrupt');
  const e = await mirrorError(t, putObject(hop.via(url), manifest, { maxAttempts: 3 }), 'MANIFEST_REJECTED');
  t.is(e.s3Code, 'BadDigest');
  t.is(hop.requests, 1);
});
