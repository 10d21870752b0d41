/**
 * `presign.get` through a real `optarc-gateway serve` on the shared test RGW:
 * an agent with a session asks for byte ranges of its site's volume image and
 * gets `links`, one presigned GET per range with the Range header signed in.
 * Each URL, fetched with its own Range, serves exactly those bytes (206) of
 * the asked version; with any other Range, or none, S3 refuses it (403).
 * Keys of another site are FORBIDDEN_KEY, and without hello there is no
 * session (NO_SESSION).
 */
import crypto from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import WebSocket from 'ws';
import { decodeGatewayMessage } from '../../gateway/protocol/codec.js';
import type { GatewayMessage } from '../../gateway/protocol/session-messages.js';
import { LINK_SECONDS } from '../../gateway/retrieval/presign-get.js';
import { rgwMissing, sharedRgw } from '../helpers/test-rgw.js';
import { makeGateway, type TestGateway } from '../mirror/mirror-kit.js';

const missing = rgwMissing();
const rgwTest = missing ? test.skip : test;

const SITE = 'lab-1';
const KEY = `sites/${SITE}/volumes/VOL_0001/VOL_0001.iso`;
const OTHER_KEY = 'sites/lab-2/volumes/VOL_0001/VOL_0001.iso';

interface AgentSocket {
  /** The next message the gateway sent, checked against the protocol schema. */
  next(): Promise<GatewayMessage>;
  send(value: unknown): void;
  close(): Promise<void>;
}

/** A websocket session as an agent opens one: bearer token on the upgrade. */
function connect(gw: TestGateway, token: string): Promise<AgentSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${gw.url}/`, { headers: { Authorization: `Bearer ${token}` } });
    const inbox: (GatewayMessage | Error)[] = [];
    const waiting: ((m: GatewayMessage | Error) => void)[] = [];
    const deliver = (m: GatewayMessage | Error) => {
      const w = waiting.shift();
      if (w) w(m);
      else inbox.push(m);
    };
    ws.on('message', (data) => {
      const decoded = decodeGatewayMessage(String(data));
      deliver(
        decoded.ok ? decoded.message : new Error(`the gateway sent an invalid message: ${decoded.error.message}`),
      );
    });
    ws.on('close', () => deliver(new Error('the gateway closed the connection')));
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        next: () =>
          new Promise((res, rej) => {
            const settle = (m: GatewayMessage | Error) => (m instanceof Error ? rej(m) : res(m));
            const m = inbox.shift();
            if (m) return settle(m);
            const timer = setTimeout(() => rej(new Error('no message from the gateway within 30 s')), 30_000);
            waiting.push((msg) => {
              clearTimeout(timer);
              settle(msg);
            });
          }),
        send: (value) => ws.send(JSON.stringify(value)),
        close: () =>
          new Promise((res) => {
            if (ws.readyState === WebSocket.CLOSED) return res();
            ws.once('close', () => res());
            ws.close();
          }),
      }),
    );
  });
}

const hello = (id: string, agentId: string) => ({
  v: 1,
  type: 'hello',
  id,
  agentId,
  agentVersion: '0.1.0',
  drives: [],
  pendingVolumes: [],
});

const presignGet = (id: string, key: string, ranges: { offset: number; length: number }[], versionId?: string) => ({
  v: 1,
  type: 'presign.get',
  id,
  key,
  ...(versionId ? { versionId } : {}),
  ranges,
  purpose: 'retrieve',
});

const rangeHeader = (offset: number, length: number) => `bytes=${offset}-${offset + length - 1}`;

async function get(
  url: string,
  range?: string,
): Promise<{ status: number; body: Buffer; contentRange: string | null }> {
  const r = await fetch(url, range === undefined ? {} : { headers: { Range: range } });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()), contentRange: r.headers.get('content-range') };
}

async function put(gw: TestGateway, key: string, body: Buffer): Promise<string | undefined> {
  const r = await gw.s3.send(new PutObjectCommand({ Bucket: gw.bucket, Key: key, Body: body }));
  return r.VersionId;
}

rgwTest('presign.get: links that serve exactly the asked ranges of the asked version, and only those', async (t) => {
  const rgw = await sharedRgw();
  const gw = await makeGateway(t, rgw);
  await gw.start();
  const agent = await gw.issue(SITE);
  await gw.issue('lab-2');

  // A volume image of this site (3 MiB + 5, so ranges are not aligned to anything) and one of another site.
  const image = crypto.randomBytes(3 * 1024 * 1024 + 5);
  const versionId = await put(gw, KEY, image);
  t.truthy(versionId, 'the gateway made its bucket versioned');
  await put(gw, OTHER_KEY, crypto.randomBytes(4096));

  const socket = await connect(gw, agent.token);
  t.teardown(() => socket.close());

  // No hello yet: no session, so nothing is signed.
  socket.send(presignGet('g-0', KEY, [{ offset: 0, length: 16 }]));
  t.like(await socket.next(), { type: 'error', code: 'NO_SESSION', replyTo: 'g-0' });

  socket.send(hello('h-1', agent.id));
  t.like(await socket.next(), { type: 'session', replyTo: 'h-1', site: SITE });

  const asked = [
    { offset: 0, length: 2048 },
    { offset: 1_000_003, length: 70_001 },
  ];
  socket.send(presignGet('g-1', KEY, asked, versionId));
  const links = await socket.next();
  if (links.type !== 'links') return t.fail(`expected links, got ${JSON.stringify(links)}`);
  t.is(links.replyTo, 'g-1');
  t.is(links.key, KEY);
  t.deepEqual(
    links.ranges.map((r) => ({ offset: r.offset, length: r.length })),
    asked,
    'one link per asked range, in order',
  );
  t.true(Date.parse(links.expiresAt) > Date.now(), links.expiresAt);
  for (const r of links.ranges) {
    const u = new URL(r.url);
    t.true(u.href.startsWith(`${rgw.endpoint.replace(/\/$/, '')}/`), r.url);
    t.is(u.searchParams.get('X-Amz-Expires'), String(LINK_SECONDS));
    t.is(u.searchParams.get('versionId'), versionId ?? null);
    t.deepEqual(u.searchParams.get('X-Amz-SignedHeaders')?.split(';').sort(), ['host', 'range']);
  }

  // Each link with its own Range: exactly those bytes.
  for (const r of links.ranges) {
    const got = await get(r.url, rangeHeader(r.offset, r.length));
    t.is(got.status, 206);
    t.is(got.contentRange, `bytes ${r.offset}-${r.offset + r.length - 1}/${image.length}`);
    t.true(
      got.body.equals(image.subarray(r.offset, r.offset + r.length)),
      `bytes of ${rangeHeader(r.offset, r.length)}`,
    );
  }

  // The same links with another Range, a widened one, or none: refused by S3.
  const [first, second] = links.ranges;
  t.is((await get(first.url, rangeHeader(2048, 2048))).status, 403, 'another range');
  t.is((await get(first.url, rangeHeader(0, 2049))).status, 403, 'a range one byte longer');
  t.is((await get(second.url, rangeHeader(first.offset, first.length))).status, 403, "the other link's range");
  t.is((await get(first.url)).status, 403, 'no Range header');

  // The links name the version asked for: a newer version of the key does not change what they serve.
  const newer = crypto.randomBytes(image.length);
  const newerVersion = await put(gw, KEY, newer);
  t.not(newerVersion, versionId);
  const again = await get(first.url, rangeHeader(first.offset, first.length));
  t.is(again.status, 206);
  t.true(again.body.equals(image.subarray(0, 2048)), 'still the asked version');

  // Without versionId: the newest version.
  socket.send(presignGet('g-2', KEY, [{ offset: 5, length: 10 }]));
  const latest = await socket.next();
  if (latest.type !== 'links') return t.fail(`expected links, got ${JSON.stringify(latest)}`);
  t.is(latest.replyTo, 'g-2');
  t.is(new URL(latest.ranges[0].url).searchParams.get('versionId'), null);
  const newest = await get(latest.ranges[0].url, rangeHeader(5, 10));
  t.is(newest.status, 206);
  t.true(newest.body.equals(newer.subarray(5, 15)));

  // Another site's object, though it exists: FORBIDDEN_KEY, naming this agent's prefix.
  socket.send(presignGet('g-3', OTHER_KEY, [{ offset: 0, length: 16 }]));
  const forbidden = await socket.next();
  t.like(forbidden, { type: 'error', code: 'FORBIDDEN_KEY', replyTo: 'g-3' });
  if (forbidden.type === 'error') t.regex(forbidden.message, /sites\/lab-1\//);

  // A key that is not sites/<site>/... at all is refused by the decoder, naming the field.
  socket.send(presignGet('g-4', 'volumes/VOL_0001.iso', [{ offset: 0, length: 16 }]));
  const badKey = await socket.next();
  t.like(badKey, { type: 'error', code: 'BAD_MESSAGE', replyTo: 'g-4' });
  if (badKey.type === 'error') t.regex(badKey.message, /^key: /);
  socket.send(presignGet('g-5', KEY, []));
  const noRanges = await socket.next();
  t.like(noRanges, { type: 'error', code: 'BAD_MESSAGE', replyTo: 'g-5' });
  if (noRanges.type === 'error') t.regex(noRanges.message, /^ranges: /);

  // A range past the object's end is signed; S3 refuses it when fetched (416), which the agent reports.
  socket.send(presignGet('g-6', KEY, [{ offset: image.length, length: 10 }]));
  const past = await socket.next();
  if (past.type !== 'links') return t.fail(`expected links, got ${JSON.stringify(past)}`);
  t.is((await get(past.ranges[0].url, rangeHeader(image.length, 10))).status, 416);

  // The most ranges one request may ask for fit in one answer.
  const many = Array.from({ length: 256 }, (_, i) => ({ offset: i * 12_289, length: 1 + i }));
  socket.send(presignGet('g-8', KEY, many, versionId));
  const all = await socket.next();
  if (all.type !== 'links') return t.fail(`expected links, got ${JSON.stringify(all).slice(0, 300)}`);
  t.deepEqual(
    all.ranges.map((r) => ({ offset: r.offset, length: r.length })),
    many,
  );
  const r255 = all.ranges[255];
  const got255 = await get(r255.url, rangeHeader(r255.offset, r255.length));
  t.is(got255.status, 206);
  t.true(got255.body.equals(image.subarray(r255.offset, r255.offset + r255.length)));

  // The session is still usable after all those errors.
  socket.send(presignGet('g-7', KEY, [{ offset: image.length - 1, length: 1 }], newerVersion));
  const last = await socket.next();
  if (last.type !== 'links') return t.fail(`expected links, got ${JSON.stringify(last)}`);
  const tail = await get(last.ranges[0].url, rangeHeader(image.length - 1, 1));
  t.is(tail.status, 206);
  t.true(tail.body.equals(newer.subarray(-1)));
});
