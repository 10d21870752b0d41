/**
 * The local S3: a real Ceph RGW started by infra/rgw in a temporary directory on the
 * repo's var/ (a real filesystem: the OSD's block file needs one), driven with the AWS
 * SDK the way optarc uses it: Content-MD5 on every PUT and part, multipart uploads,
 * ranged GETs, presigned URLs used with plain fetch. Then stopped, restarted on the same
 * directory (fast, data kept), and stopped for good.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statfsSync,
} from 'node:fs';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import test from 'ava';
import { type RgwInfo, rgwStatus, s3ClientConfig, startRgw, stopRgw } from '../../infra/rgw/rgw.js';
import { ROOT } from '../helpers/processes.js';

const TMPFS_MAGIC = 0x01021994;
const MiB = 1024 * 1024;
const BUCKET = 'optarc-test';

const onPath = (bin: string) => (process.env.PATH ?? '').split(':').some((d) => d && existsSync(path.join(d, bin)));
const CEPH_BINS = ['radosgw', 'radosgw-admin', 'ceph-mon', 'ceph-osd', 'ceph', 'monmaptool'];
const missing = CEPH_BINS.filter((b) => !onPath(b));
const hasCeph = missing.length === 0;
const serial = hasCeph ? test.serial : test.skip;
const skipNote = hasCeph
  ? ''
  : ` [SKIPPED: ${missing.join(', ')} not installed: run infra/install.sh (apt packages radosgw ceph-mon ceph-osd)]`;

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest();
const md5b64 = (b: Uint8Array) => md5(b).toString('base64');
const md5hex = (b: Uint8Array) => md5(b).toString('hex');
const sha256hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Deterministic, non-repeating test data (so a misplaced byte range cannot match by chance). */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(Math.ceil(size / 4) * 4);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b.subarray(0, size);
}

async function bytesOf(s3: S3Client, key: string, range?: string) {
  const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, ...(range ? { Range: range } : {}) }));
  return { r, body: Buffer.from(await r.Body!.transformToByteArray()) };
}

async function s3Error(p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode };
  }
  return { name: 'no error', status: undefined };
}

/** 127.0.0.1:port for each TCP socket the process listens on (IPv6 ones are returned raw). */
function listening(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // fd closed meanwhile
    }
  }
  const out: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '0A' || !inodes.has(f[9]!)) continue;
      const [hexIp, hexPort] = f[1]!.split(':') as [string, string];
      const ip =
        table === 'tcp' ? [6, 4, 2, 0].map((i) => Number.parseInt(hexIp.slice(i, i + 2), 16)).join('.') : `v6:${hexIp}`;
      out.push(`${ip}:${Number.parseInt(hexPort, 16)}`);
    }
  }
  return out;
}

/** Live (non-zombie) processes whose command line names this cluster's ceph.conf. */
function daemonsOf(dir: string): number[] {
  const conf = path.join(dir, 'ceph.conf');
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').includes(conf)) pids.push(Number(e));
    } catch {
      // gone
    }
  }
  return pids;
}

let dir = '';
let rgw: RgwInfo;
let s3: S3Client;
const small = pattern(200_000, 7);
const partSizes = [5 * MiB, 5 * MiB, MiB + 12_345];
const parts = partSizes.map((n, i) => pattern(n, 100 + i));
const big = Buffer.concat(parts);

test.before(async () => {
  if (!hasCeph) return;
  mkdirSync(path.join(ROOT, 'var/tmp'), { recursive: true });
  dir = mkdtempSync(path.join(ROOT, 'var/tmp/rgw-test-'));
  rgw = await startRgw({ dir, port: 0 });
  s3 = new S3Client(s3ClientConfig(rgw));
});

test.after.always(async () => {
  if (!hasCeph || !dir) return;
  s3?.destroy();
  await stopRgw(dir);
  rmSync(dir, { recursive: true, force: true });
});

serial(`cold start: a running cluster on a real filesystem, daemons on 127.0.0.1 only${skipNote}`, async (t) => {
  t.not(Number(statfsSync(dir).type), TMPFS_MAGIC, 'the test directory must not be tmpfs');
  t.is(rgw.started, 'cold');
  t.log(`cold start ${rgw.ms} ms`);
  t.regex(rgw.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.truthy(rgw.accessKeyId && rgw.secretAccessKey);
  const st = await rgwStatus(dir);
  t.true(st.running);
  t.true(st.s3);
  for (const key of ['mon', 'osd', 'rgw'] as const) {
    const d = st.daemons[key];
    t.truthy(d, `${key} is running`);
    t.is(d!.pid, rgw.pids[key]);
    const addrs = listening(d!.pid);
    t.true(addrs.length > 0, `${key} listens`);
    t.deepEqual(
      addrs.filter((a) => !a.startsWith('127.0.0.1:')),
      [],
      `${key} listens on 127.0.0.1 only`,
    );
  }
  t.true(listening(rgw.pids.rgw).includes(`127.0.0.1:${rgw.port}`));
  t.log(`RSS KiB: mon ${st.daemons.mon!.rssKiB}, osd ${st.daemons.osd!.rssKiB}, rgw ${st.daemons.rgw!.rssKiB}`);

  const again = await startRgw({ dir });
  t.is(again.started, 'already-running');
  t.deepEqual(again.pids, rgw.pids);
  t.is(again.accessKeyId, rgw.accessKeyId);
  t.true(again.ms < 5000, `second start took ${again.ms} ms`);
});

serial(`PutObject with Content-MD5 stores the bytes; the ETag is their MD5${skipNote}`, async (t) => {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const put = await s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: 'small.bin', Body: small, ContentMD5: md5b64(small) }),
  );
  t.is(put.ETag, `"${md5hex(small)}"`);
  const { body } = await bytesOf(s3, 'small.bin');
  t.true(body.equals(small));
});

serial(`a wrong Content-MD5 is refused with BadDigest and changes nothing${skipNote}`, async (t) => {
  const other = pattern(small.length, 8);
  const fresh = await s3Error(
    s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'bad.bin', Body: other, ContentMD5: md5b64(small) })),
  );
  t.deepEqual(fresh, { name: 'BadDigest', status: 400 });
  const head = await s3Error(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'bad.bin' })));
  t.is(head.status, 404, 'nothing stored under the refused key');

  const over = await s3Error(
    s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'small.bin', Body: other, ContentMD5: md5b64(small) })),
  );
  t.is(over.name, 'BadDigest');
  const { body } = await bytesOf(s3, 'small.bin');
  t.true(body.equals(small), 'the existing object is untouched');
});

serial(`multipart upload of 3 parts with Content-MD5 per part, ListParts, Complete${skipNote}`, async (t) => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'image.iso' }));
  t.truthy(UploadId);
  const bad = await s3Error(
    s3.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: 'image.iso',
        UploadId,
        PartNumber: 1,
        Body: parts[0],
        ContentMD5: md5b64(parts[1]!),
      }),
    ),
  );
  t.deepEqual(bad, { name: 'BadDigest', status: 400 }, 'a part with a wrong Content-MD5 is refused');

  const etags: string[] = [];
  for (const [i, body] of parts.entries()) {
    const r = await s3.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: 'image.iso',
        UploadId,
        PartNumber: i + 1,
        Body: body,
        ContentMD5: md5b64(body),
      }),
    );
    t.is(r.ETag, `"${md5hex(body)}"`, `part ${i + 1} ETag`);
    etags.push(r.ETag!);
  }
  const listed = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'image.iso', UploadId }));
  t.deepEqual(
    (listed.Parts ?? []).map((p) => [p.PartNumber, p.Size, p.ETag]),
    parts.map((b, i) => [i + 1, b.length, etags[i]]),
  );
  const done = await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: BUCKET,
      Key: 'image.iso',
      UploadId,
      MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
    }),
  );
  const multipartEtag = `"${md5hex(Buffer.concat(parts.map((b) => md5(b))))}-3"`;
  // RGW 16.2 answers CompleteMultipartUpload with an empty <ETag></ETag> (a known RGW bug,
  // Red Hat BZ 2266579): the object's ETag comes from HeadObject instead.
  t.true(done.ETag === '' || done.ETag === multipartEtag, `Complete's ETag ${done.ETag}`);
  if (done.ETag === '') t.log('RGW defect still present: CompleteMultipartUpload returns an empty ETag');

  const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'image.iso' }));
  t.is(head.ETag, multipartEtag);
  t.is(head.ContentLength, big.length);
  // What the gateway does with the manifest's checksum: read back, SHA-256, compare.
  const { body } = await bytesOf(s3, 'image.iso');
  t.is(sha256hex(body), sha256hex(big));
});

serial(`ranged GetObject returns exactly the range${skipNote}`, async (t) => {
  const start = 5 * MiB - 10; // across the boundary between parts 1 and 2
  const end = 5 * MiB + 9;
  const { r, body } = await bytesOf(s3, 'image.iso', `bytes=${start}-${end}`);
  t.is(r.$metadata.httpStatusCode, 206);
  t.is(r.ContentRange, `bytes ${start}-${end}/${big.length}`);
  t.is(body.length, 20);
  t.true(body.equals(big.subarray(start, end + 1)));

  const tail = await bytesOf(s3, 'image.iso', 'bytes=-7');
  t.true(tail.body.equals(big.subarray(big.length - 7)));
});

serial(`a presigned PUT URL works with plain fetch, and its Content-MD5 is enforced${skipNote}`, async (t) => {
  const body = pattern(300_000, 9);
  const url = await getSignedUrl(
    s3,
    new PutObjectCommand({ Bucket: BUCKET, Key: 'presigned.bin', ContentMD5: md5b64(body) }),
    { expiresIn: 300 },
  );
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/optarc-test\/presigned\.bin\?.*X-Amz-Signature=/);

  const tampered = pattern(300_000, 10);
  const refused = await fetch(url, { method: 'PUT', body: tampered, headers: { 'Content-MD5': md5b64(body) } });
  t.is(refused.status, 400);
  t.regex(await refused.text(), /BadDigest/);

  const res = await fetch(url, { method: 'PUT', body, headers: { 'Content-MD5': md5b64(body) } });
  t.is(res.status, 200, await res.text());
  t.is(res.headers.get('etag'), `"${md5hex(body)}"`);
  const { body: stored } = await bytesOf(s3, 'presigned.bin');
  t.true(stored.equals(body));

  // And the retrieval path: a presigned GET with a Range header, one request.
  const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: 'image.iso' }), {
    expiresIn: 300,
  });
  const ranged = await fetch(getUrl, { headers: { Range: 'bytes=1000-1999' } });
  t.is(ranged.status, 206);
  t.true(Buffer.from(await ranged.arrayBuffer()).equals(big.subarray(1000, 2000)));
});

serial(`stop, then a restart on the same directory is fast and keeps the objects${skipNote}`, async (t) => {
  const stopped = await stopRgw(dir);
  t.deepEqual(stopped.stopped, ['client.rgw', 'osd.0', 'mon.a']);
  t.deepEqual(daemonsOf(dir), [], 'no daemon of this cluster is left');
  const down = await rgwStatus(dir);
  t.false(down.running);
  t.deepEqual(down.daemons, { mon: null, osd: null, rgw: null });
  t.deepEqual((await stopRgw(dir)).stopped, [], 'stopping twice is harmless');

  const back = await startRgw({ dir });
  t.is(back.started, 'restart');
  t.log(`restart ${back.ms} ms`);
  t.true(back.ms < 20_000, `restart took ${back.ms} ms`);
  t.is(back.port, rgw.port);
  t.is(back.accessKeyId, rgw.accessKeyId);
  t.notDeepEqual(back.pids, rgw.pids);

  const client = new S3Client(s3ClientConfig(back));
  try {
    const a = await bytesOf(client, 'small.bin');
    t.true(a.body.equals(small));
    const b = await bytesOf(client, 'image.iso');
    t.is(sha256hex(b.body), sha256hex(big));
  } finally {
    client.destroy();
  }
  const st = await rgwStatus(dir);
  t.log(
    `RSS KiB after the run: mon ${st.daemons.mon?.rssKiB}, osd ${st.daemons.osd?.rssKiB}, rgw ${st.daemons.rgw?.rssKiB}`,
  );
});

const shmIsTmpfs = existsSync('/dev/shm') && Number(statfsSync('/dev/shm').type) === TMPFS_MAGIC;

(hasCeph && shmIsTmpfs ? test : test.skip)(
  `a tmpfs directory is refused before anything starts${skipNote}`,
  async (t) => {
    const shm = mkdtempSync('/dev/shm/optarc-rgw-');
    t.teardown(async () => {
      await stopRgw(shm);
      rmSync(shm, { recursive: true, force: true });
    });
    await t.throwsAsync(startRgw({ dir: shm, port: 0 }), { message: /tmpfs.*real filesystem/ });
    t.false(existsSync(path.join(shm, 'ceph.conf')));
    t.deepEqual(daemonsOf(shm), []);
  },
);
