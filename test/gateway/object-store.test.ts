/**
 * The gateway's S3 access layer (gateway/s3/) against a real Ceph RGW (the shared test
 * RGW in var/test-rgw, one fresh bucket per test or group): building it from the config
 * (explicit endpoint and keys, the local RGW's rgw.json, neither), the bucket, a multipart
 * upload driven only through presigned part URLs and plain fetch as an agent would drive
 * it (Content-MD5 on every part, resume from ListParts), reading back (HEAD, SHA-256 by
 * ranged GETs, small objects), aborting and sweeping uploads, and how failures are coded
 * (a closed port, a server answering 5xx, wrong keys).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetBucketVersioningCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import test, { type ExecutionContext } from 'ava';
import { type Config, configSchema } from '../../config/schema.js';
import { ObjectStore, ObjectStoreError } from '../../gateway/s3/object-store.js';
import { sweepAbandonedUploads } from '../../gateway/s3/sweep-uploads.js';
import { type RgwInfo, s3ClientConfig } from '../../infra/rgw/rgw.js';
import { freshBucket, rgwMissing, sharedRgw, TEST_RGW_DIR } from '../helpers/test-rgw.js';

const MiB = 1024 * 1024;
const missing = rgwMissing();
const rgwTest = missing ? test.skip : test;
const note = missing ? ` [SKIPPED: ${missing}]` : '';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest();
const md5b64 = (b: Uint8Array) => md5(b).toString('base64');
const sha256hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const bucketName = () => `optarc-os-${randomBytes(4).toString('hex')}`;

/** The validated `gateway` section for these settings, as the gateway would get it. */
function gatewayConfig(s3: Record<string, unknown>, mirror: Record<string, unknown> = {}): Config['gateway'] {
  return configSchema.parse({ gateway: { s3, mirror } }).gateway;
}

function explicitConfig(rgw: RgwInfo, bucket: string): Config['gateway'] {
  return gatewayConfig(
    { endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, bucket },
    { presignSeconds: 300, verifyConcurrency: 3, verifyRangeBytes: MiB },
  );
}

/** An ObjectStore over a client we hold, so a test can watch its requests. */
function storeOver(config: S3ClientConfig, bucket: string): { store: ObjectStore; client: S3Client } {
  const client = new S3Client(config);
  return {
    client,
    store: new ObjectStore({ client, bucket, presignSeconds: 300, verifyConcurrency: 3, verifyRangeBytes: MiB }),
  };
}

async function codeOf(t: ExecutionContext, p: Promise<unknown>): Promise<ObjectStoreError> {
  const err = await t.throwsAsync(p, { instanceOf: ObjectStoreError });
  return err as ObjectStoreError;
}

let rgw: RgwInfo;
/** A versioned bucket made by ensureBucket through fromConfig with explicit endpoint and keys. */
let store: ObjectStore;
/** A plain SDK client for setting up objects behind the store's back. */
let raw: S3Client;

test.before(async () => {
  if (missing) return;
  rgw = await sharedRgw();
  store = ObjectStore.fromConfig(explicitConfig(rgw, bucketName()));
  await store.ensureBucket();
  raw = new S3Client(s3ClientConfig(rgw));
});

test.after.always(() => {
  store?.destroy();
  raw?.destroy();
});

async function putRaw(key: string, body: Buffer): Promise<string | undefined> {
  const r = await raw.send(
    new PutObjectCommand({ Bucket: store.bucket, Key: key, Body: body, ContentMD5: md5b64(body) }),
  );
  return r.VersionId;
}

rgwTest(
  `fromConfig with endpoint and keys: ensureBucket twice is harmless and leaves versioning on${note}`,
  async (t) => {
    const bucket = bucketName();
    const s = ObjectStore.fromConfig(explicitConfig(rgw, bucket));
    try {
      t.is(s.bucket, bucket);
      await s.ensureBucket();
      await s.ensureBucket();
      const v = await raw.send(new GetBucketVersioningCommand({ Bucket: bucket }));
      t.is(v.Status, 'Enabled');
      t.is(await s.head('sites/lab/nothing.iso'), null);
      t.deepEqual(await s.listObjects('sites/'), []);
    } finally {
      s.destroy();
    }
  },
);

rgwTest(
  `fromConfig with only rgwDir reads rgw.json; presigned manifest PUT; unversioned bucket gives null versions${note}`,
  async (t) => {
    const bucket = await freshBucket(rgw, 'optarc-os-plain'); // never versioned
    const s = ObjectStore.fromConfig(gatewayConfig({ rgwDir: TEST_RGW_DIR, bucket }));
    try {
      const manifest = Buffer.from(JSON.stringify({ vsn: 'OPT000007', files: [] }));
      const url = await s.presignPut('sites/lab/OPT000007.manifest.json', { contentType: 'application/json' });
      t.true(url.startsWith(`${rgw.endpoint}/${bucket}/sites/lab/OPT000007.manifest.json?`), url);
      const res = await fetch(url, {
        method: 'PUT',
        body: manifest,
        headers: { 'Content-Type': 'application/json', 'Content-MD5': md5b64(manifest) },
      });
      t.is(res.status, 200, await res.text());
      const head = await s.head('sites/lab/OPT000007.manifest.json');
      t.is(head?.size, manifest.length);
      t.is(head?.etag, `"${md5(manifest).toString('hex')}"`);
      t.is(head?.versionId, null);
      const got = await s.getSmall('sites/lab/OPT000007.manifest.json', 4096);
      t.true(got.body.equals(manifest));
      t.is(got.versionId, null);
    } finally {
      s.destroy();
    }
  },
);

test('fromConfig without endpoint and keys and no rgw.json: S3_NOT_CONFIGURED naming the file and the settings', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-no-rgw-'));
  const err = t.throws(() => ObjectStore.fromConfig(gatewayConfig({ rgwDir: dir })), { instanceOf: ObjectStoreError });
  t.is(err?.code, 'S3_NOT_CONFIGURED');
  t.true(err?.message.includes(path.join(dir, 'rgw.json')), err?.message);
  t.regex(err?.message ?? '', /gateway\.s3\.endpoint.*gateway\.s3\.accessKeyId.*gateway\.s3\.secretAccessKey/);
  t.regex(err?.message ?? '', /gateway\.s3\.rgwDir/);
});

rgwTest(
  `multipart upload through presigned part URLs and fetch: resume point, complete, head, versioned${note}`,
  async (t) => {
    const key = 'sites/mp/OPT000001.iso';
    const parts = [5 * MiB, 5 * MiB, 5 * MiB, 1_234_567].map((n) => randomBytes(n));
    const image = Buffer.concat(parts);
    const uploadId = await store.createUpload(key, {
      contentType: 'application/x-iso9660-image',
      metadata: { sha256: sha256hex(image), vsn: 'OPT000001' },
    });
    const putPart = async (n: number) => {
      const body = parts[n - 1]!;
      const url = await store.presignPart(key, uploadId, n);
      t.regex(url, /[?&]X-Amz-SignedHeaders=host(&|$)/, 'only the host is signed');
      t.notRegex(url, /checksum/i, 'no flexible checksum for the agent to satisfy');
      const res = await fetch(url, { method: 'PUT', body, headers: { 'Content-MD5': md5b64(body) } });
      t.is(res.status, 200, `part ${n}: ${await res.text()}`);
      return res.headers.get('etag');
    };
    const partEtag = (n: number) => `"${md5(parts[n - 1]!).toString('hex')}"`;

    t.is(await putPart(1), partEtag(1));
    t.is(await putPart(2), partEtag(2));
    // the agent reconnects here: the gateway tells it to resume at part 3
    t.deepEqual(await store.listParts(key, uploadId), [
      { partNumber: 1, etag: partEtag(1), size: 5 * MiB },
      { partNumber: 2, etag: partEtag(2), size: 5 * MiB },
    ]);
    t.deepEqual(
      (await store.listUploads('sites/mp/')).map((u) => [u.key, u.uploadId]),
      [[key, uploadId]],
    );
    await putPart(4); // out of order is fine
    await putPart(3);
    const stored = await store.listParts(key, uploadId);
    t.deepEqual(
      stored.map((p) => [p.partNumber, p.size]),
      [
        [1, 5 * MiB],
        [2, 5 * MiB],
        [3, 5 * MiB],
        [4, 1_234_567],
      ],
    );

    const done = await store.complete(key, uploadId, [...stored].reverse());
    const multipartEtag = `"${md5(Buffer.concat(parts.map(md5))).toString('hex')}-4"`;
    t.is(done.etag, multipartEtag);
    t.truthy(done.versionId, 'the bucket is versioned: Complete names the new version');

    const head = await store.head(key);
    t.deepEqual(head, {
      size: image.length,
      etag: multipartEtag,
      versionId: done.versionId,
      metadata: { sha256: sha256hex(image), vsn: 'OPT000001' },
    });
    t.deepEqual(await store.head(key, done.versionId!), head);
    t.deepEqual(await store.listUploads('sites/mp/'), [], 'the upload is no longer pending');
    const listed = await store.listObjects('sites/mp/');
    t.deepEqual(
      listed.map((o) => [o.key, o.size]),
      [[key, image.length]],
    );
    t.true(listed[0]!.lastModified instanceof Date);
    t.is(await store.sha256(key, { versionId: done.versionId! }), sha256hex(image));
    // the gateway may crash between Complete and recording it: completing again is harmless
    t.deepEqual(await store.complete(key, uploadId, stored), done);
  },
);

rgwTest(
  `a part PUT with a wrong Content-MD5 is refused through its presigned URL (400 BadDigest)${note}`,
  async (t) => {
    const key = 'sites/lab/OPT000002.iso';
    const uploadId = await store.createUpload(key, {});
    const body = randomBytes(5 * MiB);
    const url = await store.presignPart(key, uploadId, 1);
    const wrong = md5b64(Buffer.concat([body.subarray(0, body.length - 1), Buffer.from([body.at(-1)! ^ 1])]));
    const res = await fetch(url, { method: 'PUT', body, headers: { 'Content-MD5': wrong } });
    t.is(res.status, 400);
    t.regex(await res.text(), /<Code>BadDigest<\/Code>/);
    t.deepEqual(await store.listParts(key, uploadId), [], 'nothing was stored');
    const good = await fetch(url, { method: 'PUT', body, headers: { 'Content-MD5': md5b64(body) } });
    t.is(good.status, 200, 'the same URL takes the right bytes');
    const [part] = await store.listParts(key, uploadId);
    t.is(part?.etag, `"${md5(body).toString('hex')}"`);
    const badPart = await codeOf(t, store.complete(key, uploadId, [{ partNumber: 1, etag: `"${'0'.repeat(32)}"` }]));
    t.is(badPart.code, 'S3_ERROR');
    t.is(badPart.s3Code, 'InvalidPart');
    await store.abort(key, uploadId);
  },
);

rgwTest(`sha256 reads back by ranged GETs, verifyConcurrency at once, in order${note}`, async (t) => {
  const { store: s, client } = storeOver(s3ClientConfig(rgw), store.bucket);
  let inFlight = 0;
  let maxInFlight = 0;
  const ranges: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'GetObjectCommand') return next(args);
      ranges.push((args.input as { Range: string }).Range);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        return await next(args);
      } finally {
        inFlight--;
      }
    },
    { step: 'initialize' },
  );
  try {
    const key = 'sites/lab/OPT000003.iso';
    const size = 7.5 * MiB + 123; // 8 ranges of 1 MiB, the last one short
    const first = randomBytes(size);
    const v1 = await putRaw(key, first);
    const progress: number[] = [];
    t.is(await s.sha256(key, { onProgress: (n) => progress.push(n) }), sha256hex(first));
    t.is(ranges.length, 8);
    t.is(ranges.at(-1), `bytes=${7 * MiB}-${size - 1}`);
    t.true(maxInFlight >= 2 && maxInFlight <= 3, `at most verifyConcurrency (3) GETs at once, saw ${maxInFlight}`);
    t.deepEqual(
      progress,
      [1, 2, 3, 4, 5, 6, 7, 7.5].map((m) => (m === 7.5 ? size : m * MiB)),
    );

    // an overwrite makes a new version; the old one still hashes as it was
    const second = randomBytes(3 * MiB);
    await putRaw(key, second);
    t.is(await s.sha256(key), sha256hex(second));
    t.is(await s.sha256(key, { versionId: v1!, size }), sha256hex(first));

    await putRaw('sites/lab/empty', Buffer.alloc(0));
    t.is(await s.sha256('sites/lab/empty'), sha256hex(Buffer.alloc(0)));
    t.is((await codeOf(t, s.sha256('sites/lab/absent.iso'))).code, 'NO_SUCH_KEY');
    const aborted = await s.sha256(key, { signal: AbortSignal.abort() }).then(
      () => 'resolved',
      (err: Error) => err.name,
    );
    t.is(aborted, 'AbortError', "an aborted hash rejects with the signal's reason");
  } finally {
    s.destroy();
  }
});

rgwTest(`getSmall: whole object, TOO_LARGE beyond maxBytes, NO_SUCH_KEY when missing${note}`, async (t) => {
  const body = randomBytes(10_000);
  const versionId = await putRaw('sites/lab/small.json', body);
  const got = await store.getSmall('sites/lab/small.json', 10_000);
  t.true(got.body.equals(body));
  t.is(got.versionId, versionId ?? null);
  const big = await codeOf(t, store.getSmall('sites/lab/small.json', 9_999));
  t.is(big.code, 'TOO_LARGE');
  t.regex(big.message, /10000 bytes, more than the 9999 allowed/);
  t.is((await codeOf(t, store.getSmall('sites/lab/none.json', 10_000))).code, 'NO_SUCH_KEY');
});

rgwTest(`an aborted upload: listParts and complete give NO_SUCH_UPLOAD, abort again is fine${note}`, async (t) => {
  const key = 'sites/lab/OPT000004.iso';
  const uploadId = await store.createUpload(key, {});
  await store.abort(key, uploadId);
  await t.notThrowsAsync(store.abort(key, uploadId));
  t.is((await codeOf(t, store.listParts(key, uploadId))).code, 'NO_SUCH_UPLOAD');
  t.is((await codeOf(t, store.complete(key, uploadId, [{ partNumber: 1, etag: '"x"' }]))).code, 'NO_SUCH_UPLOAD');
  t.is(await store.head(key), null);
});

rgwTest(`the sweeper aborts old uploads under its prefix, keeps young and active ones${note}`, async (t) => {
  const old = { key: 'sites/sweep/OPT000010.iso', uploadId: await store.createUpload('sites/sweep/OPT000010.iso') };
  const active = await store.createUpload('sites/sweep/OPT000011.iso');
  const elsewhere = await store.createUpload('sites/other/OPT000012.iso');
  await new Promise((r) => setTimeout(r, 1500)); // RGW's Initiated has whole seconds
  const young = await store.createUpload('sites/sweep/OPT000013.iso');
  const youngAt = (await store.listUploads('sites/sweep/')).find((u) => u.uploadId === young)!.initiated.getTime();
  const hour = 3600_000;

  const r = await sweepAbandonedUploads(store, {
    prefix: 'sites/sweep/',
    olderThanMs: hour,
    now: () => youngAt + hour - 500, // the young one is just under an hour old, the others over
    isActive: (id) => id === active,
  });
  t.deepEqual(r, { aborted: [old], kept: 2 });
  t.deepEqual((await store.listUploads('sites/sweep/')).map((u) => u.uploadId).sort(), [active, young].sort());
  t.is((await codeOf(t, store.listParts(old.key, old.uploadId))).code, 'NO_SUCH_UPLOAD');
  t.deepEqual(
    (await store.listUploads('sites/other/')).map((u) => u.uploadId),
    [elsewhere],
  );
  for (const [key, id] of [
    ['sites/sweep/OPT000011.iso', active],
    ['sites/sweep/OPT000013.iso', young],
    ['sites/other/OPT000012.iso', elsewhere],
  ] as const) {
    await store.abort(key, id);
  }
});

test('a closed port: S3_UNAVAILABLE quickly, naming the cause; presigning needs no network', async (t) => {
  const { store: s } = storeOver(
    {
      ...s3ClientConfig({ endpoint: 'http://127.0.0.1:1', accessKeyId: 'AK', secretAccessKey: 'SK' }),
      maxAttempts: 1,
    },
    'optarc',
  );
  try {
    const t0 = Date.now();
    const err = await codeOf(t, s.head('sites/lab/x.iso'));
    t.is(err.code, 'S3_UNAVAILABLE');
    t.is(err.s3Code, 'ECONNREFUSED');
    t.regex(err.message, /HeadObject optarc\/sites\/lab\/x\.iso: S3 unavailable: ECONNREFUSED/);
    t.is((await codeOf(t, s.listUploads('sites/'))).code, 'S3_UNAVAILABLE');
    t.is((await codeOf(t, sweepAbandonedUploads(s, { prefix: 'sites/', olderThanMs: 0 }))).code, 'S3_UNAVAILABLE');
    t.true(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    t.regex(await s.presignPart('sites/lab/x.iso', 'u1', 1), /^http:\/\/127\.0\.0\.1:1\/optarc\/sites\/lab\/x\.iso\?/);
  } finally {
    s.destroy();
  }
});

test('S3 answering 5xx is S3_UNAVAILABLE; a 4xx is S3_ERROR with S3 code and message', async (t) => {
  const answers: Record<string, [number, string]> = {
    '/optarc/busy': [503, 'SlowDown'],
    '/optarc/broken': [500, 'InternalError'],
    '/optarc/denied': [403, 'AccessDenied'],
  };
  const server = http.createServer((req, res) => {
    const [status, code] = answers[(req.url ?? '').split('?')[0]!] ?? [404, 'NoSuchKey'];
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0"?><Error><Code>${code}</Code><Message>said ${code}</Message></Error>`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const { store: s } = storeOver(
    {
      ...s3ClientConfig({ endpoint: `http://127.0.0.1:${port}`, accessKeyId: 'AK', secretAccessKey: 'SK' }),
      maxAttempts: 1,
    },
    'optarc',
  );
  try {
    for (const key of ['busy', 'broken']) {
      const err = await codeOf(t, s.getSmall(key, 100));
      t.is(err.code, 'S3_UNAVAILABLE', key);
      t.is(err.httpStatus, key === 'busy' ? 503 : 500);
    }
    const denied = await codeOf(t, s.getSmall('denied', 100));
    t.is(denied.code, 'S3_ERROR');
    t.is(denied.s3Code, 'AccessDenied');
    t.regex(denied.message, /AccessDenied \(HTTP 403\): said AccessDenied/);
    t.is((await codeOf(t, s.getSmall('other', 100))).code, 'NO_SUCH_KEY');
  } finally {
    s.destroy();
    server.close();
  }
});

rgwTest(`wrong keys against RGW: S3_ERROR with RGW's code${note}`, async (t) => {
  const s = ObjectStore.fromConfig(
    gatewayConfig({
      endpoint: rgw.endpoint,
      accessKeyId: rgw.accessKeyId,
      secretAccessKey: 'not-the-secret',
      bucket: store.bucket,
    }),
  );
  try {
    const err = await codeOf(t, s.listObjects('sites/'));
    t.is(err.code, 'S3_ERROR');
    t.is(err.s3Code, 'SignatureDoesNotMatch');
    t.is(err.httpStatus, 403);
  } finally {
    s.destroy();
  }
});
