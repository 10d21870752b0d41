/**
 * RETRIEVE, RETRIEVE_STATUS and RETRIEVE_CACHED through AgentClient against a
 * real agent with stand-in drives, a volume burned with the CLI and its disc
 * on the shelf:
 * - bad requests: unknown file, bad priority, unknown token, ONLINE with no
 *   disc loaded (NO_MEDIUM naming the shelf and --offline);
 * - OFFLINE with no disc and no gateway stays QUEUED (NOT_READY, "waiting for
 *   a source"), and is served once the operator loads the disc;
 * - ONLINE from a loaded disc: READY, the exact bytes, eof frees the entry
 *   (EXPIRED after, cache file gone);
 * - a damaged disc: its SHA-256 fails, the damage is recorded and the good
 *   disc in another drive serves the file; with only the damaged disc, CORRUPT;
 * - a restart with queued requests and a stray cache file: the queue
 *   survives, the stray file goes, round numbers go on; a file larger than
 *   the cache area is refused (NO_SPACE), one that does not fit now waits
 *   until an uncollected entry expires (tiny expiryHours: EXPIRED, its file
 *   gone) and is then served;
 * - the cloud copy (a real gateway on the test RGW): an OFFLINE request with
 *   no disc loaded is served from it; with the gateway down it waits, and is
 *   served once the gateway is back; a damaged disc falls back to the cloud.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { AgentError } from '../../clients/node/agent-client.js';
import { OptarcRetrievalState, OptarcRetrieveMode } from '../../clients/protocol/generated/optarc.js';
import { rgwMissing, sharedRgw } from '../helpers/test-rgw.js';
import { makeGateway, mirroredAgent, volumeStates, waitFor } from '../mirror/mirror-kit.js';
import { startBurnAgent } from './burn-kit.js';
import {
  bay,
  burnVolume,
  cacheDir,
  cacheFiles,
  collect,
  connect,
  damagedCopy,
  fileOnVolume,
  loadDisc,
  MiB,
  retrievalRows,
  settle,
  sourceFaults,
  unloadDisc,
  until,
} from './retrieval-rpc-kit.js';

const NO_TIME = { seconds: 0n, nanoseconds: 0 };
const S = OptarcRetrievalState;
const ONLINE = OptarcRetrieveMode.OPTARC_ONLINE;
const OFFLINE = OptarcRetrieveMode.OPTARC_OFFLINE;

function args(
  p: Buffer,
  mode: 1 | 2,
  priority = 0,
  o: { sha256?: Buffer; vsn?: string; deadline?: { seconds: bigint; nanoseconds: number } } = {},
) {
  return { path: p, sha256: o.sha256 ?? null, vsn: o.vsn ?? '', mode, priority, deadline: o.deadline ?? NO_TIME };
}

async function status(p: Promise<unknown>): Promise<{ status: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AgentError) return { status: e.statusName, message: e.message };
    throw e;
  }
  return { status: 'OPTARC_OK', message: '' };
}

test('online and offline retrieval from discs: bad requests refused, queued until a disc is loaded, exact bytes, damage recorded, CORRUPT when every source is bad', async (t) => {
  const agent = await startBurnAgent(t, { drives: 2, extra: { retrieval: { onlineWaitSeconds: 15 } } });
  const { vsn, files } = await burnVolume(t, agent, {
    'night/a.fits': 3 * MiB + 17,
    'night/b.txt': 1000,
    'empty.dat': 0,
  });
  const a = fileOnVolume(agent, vsn, 'night/a.fits');
  const b = fileOnVolume(agent, vsn, 'night/b.txt');
  const dataA = files.get('night/a.fits')!;
  const c = await connect(t, agent);

  // --- bad requests
  t.is((await status(c.retrieve(args(Buffer.from('no/such/file'), OFFLINE, 1)))).status, 'OPTARC_NOT_FOUND');
  t.is(
    (await status(c.retrieve(args(a.path, OFFLINE, 1, { vsn: 'NOSUCH000001' })))).status,
    'OPTARC_NOT_FOUND',
    'an unknown VSN',
  );
  for (const priority of [0, 6]) {
    const r = await status(c.retrieve(args(a.path, OFFLINE, priority)));
    t.is(r.status, 'OPTARC_BAD_ARGUMENT', `priority ${priority}`);
    t.regex(r.message, /priority is 1 \(first\) to 5/);
  }
  t.is((await status(c.retrieve(args(Buffer.alloc(0), OFFLINE, 1)))).status, 'OPTARC_BAD_ARGUMENT', 'no name');
  const unknown = 'f'.repeat(32);
  const st = await status(c.retrieveStatus(unknown));
  t.is(st.status, 'OPTARC_EXPIRED');
  t.regex(st.message, /no such retrieval token/);
  t.is((await status(c.retrieveCached(unknown, 0n, 10))).status, 'OPTARC_EXPIRED');
  t.is((await status(c.retrieveStatus('not a token'))).status, 'OPTARC_EXPIRED');

  // --- ONLINE with no disc loaded: NO_MEDIUM, naming where the copy sits and --offline
  const noMedium = await status(c.retrieve(args(a.path, ONLINE)));
  t.is(noMedium.status, 'OPTARC_NO_MEDIUM');
  t.true(noMedium.message.includes(path.join(agent.shelf, `${vsn}-1.iso`)), noMedium.message);
  t.regex(noMedium.message, /--offline/);

  // --- OFFLINE with no disc and no gateway: queued, not ready, waiting for a source
  const queued = await c.retrieve(args(b.path, OFFLINE, 3));
  t.regex(queued.token, /^[0-9a-f]{32}$/);
  t.is(queued.state, S.OPTARC_RETRIEVAL_QUEUED);
  t.is(queued.priority, 3);
  t.is(queued.position, 0, 'nothing ahead of it');
  t.is(queued.vsn, vsn);
  t.is(queued.size, 1000n);
  t.true(queued.sha256.equals(createHash('sha256').update(files.get('night/b.txt')!).digest()));
  await until('the scheduler to try the queued request', async () =>
    (await c.retrieveStatus(queued.token)).message.startsWith('waiting for a source'),
  );
  const waiting = await c.retrieveStatus(queued.token);
  t.is(waiting.state, S.OPTARC_RETRIEVAL_QUEUED, 'still queued: nothing lost');
  t.true(waiting.message.includes(`no copy of ${vsn} is in a drive`), waiting.message);
  const notReady = await status(c.retrieveCached(queued.token, 0n, 100));
  t.is(notReady.status, 'OPTARC_NOT_READY');
  t.regex(notReady.message, /queued/);
  // a second offline request of a higher priority goes ahead of it
  // (with a deadline an hour ago: still served, with a note)
  const anHourAgo = { seconds: BigInt(Math.floor(Date.now() / 1000) - 3600), nanoseconds: 0 };
  const urgent = await c.retrieve(
    args(Buffer.alloc(0), OFFLINE, 1, {
      sha256: createHash('sha256').update(Buffer.alloc(0)).digest(),
      deadline: anHourAgo,
    }),
  );
  t.is(urgent.state, S.OPTARC_RETRIEVAL_QUEUED);
  t.is(urgent.deadline.seconds, anHourAgo.seconds, 'the deadline as asked');
  t.is(urgent.size, 0n, 'found by SHA-256: the empty file');
  t.is((await c.retrieveStatus(queued.token)).position, 1, 'the priority-1 request is ahead in the round');

  // --- the operator loads the disc: ONLINE is READY at once, with the exact bytes
  await loadDisc(agent, vsn, 'sr0');
  const online = await c.retrieve(args(a.path, ONLINE));
  t.is(online.state, S.OPTARC_RETRIEVAL_READY, online.message);
  t.is(online.mode, ONLINE);
  t.is(online.priority, 0);
  t.is(online.source, 'disc sr0');
  t.is(online.percent, 100);
  t.true(online.expires.seconds > BigInt(Math.floor(Date.now() / 1000)), 'expires in the future');
  t.true((await cacheFiles(agent)).includes(online.token), 'the entry is in the cache area');
  t.is(
    (await status(c.retrieveCached(online.token, BigInt(dataA.length) + 1n, 10))).status,
    'OPTARC_BAD_ARGUMENT',
    'an offset past the end',
  );
  t.is((await status(c.retrieveCached(online.token, 0n, MiB + 1))).status, 'OPTARC_BAD_ARGUMENT', 'a read too large');
  const got = await collect(c, online.token, 1000 * 1000);
  t.true(got.data.equals(dataA), 'the exact bytes of the file');
  t.deepEqual(got.eofs, [false, false, false, true], 'eof on the read that reaches the end, only');
  t.is((await status(c.retrieveCached(online.token, 0n, 10))).status, 'OPTARC_EXPIRED', 'collected: freed');
  t.is((await c.retrieveStatus(online.token)).state, S.OPTARC_RETRIEVAL_COLLECTED);
  t.false((await cacheFiles(agent)).includes(online.token), 'its cache file is gone');

  // --- read-ahead: the end answered before the rest is not the end of the entry; every byte read is
  const ahead = await c.retrieve(args(a.path, ONLINE));
  t.is(ahead.state, S.OPTARC_RETRIEVAL_READY, ahead.message);
  const n = 1000 * 1000;
  const lastAt = BigInt(Math.floor((dataA.length - 1) / n) * n);
  const tail = await c.retrieveCached(ahead.token, lastAt, n);
  t.true(tail.eof, 'the last chunk, read first, says eof');
  t.is((await c.retrieveStatus(ahead.token)).state, S.OPTARC_RETRIEVAL_READY, 'but the earlier bytes are still unread');
  const parts: Buffer[] = [];
  for (let at = 0n; at < lastAt; at += BigInt(n)) parts.push((await c.retrieveCached(ahead.token, at, n)).data);
  t.true(Buffer.concat([...parts, tail.data]).equals(dataA), 'read out of order, the exact bytes');
  t.is((await c.retrieveStatus(ahead.token)).state, S.OPTARC_RETRIEVAL_COLLECTED, 'freed once every byte was read');
  t.false((await cacheFiles(agent)).includes(ahead.token));
  const pipelined = await c.retrieve(args(a.path, ONLINE));
  const chunks: Buffer[] = [];
  await c.retrieveCachedAll(pipelined.token, pipelined.size, (d) => void chunks.push(d), { chunk: n, window: 3 });
  t.true(Buffer.concat(chunks).equals(dataA), 'AgentClient read-ahead: 3 reads in flight, the exact bytes');
  t.is((await c.retrieveStatus(pipelined.token)).state, S.OPTARC_RETRIEVAL_COLLECTED);

  // --- the queued offline requests are served from the disc now
  for (const r of [urgent, queued]) {
    const done = await settle(c, r.token);
    t.is(done.state, S.OPTARC_RETRIEVAL_READY, done.message);
    t.is(done.source, 'disc sr0');
  }
  t.regex((await c.retrieveStatus(urgent.token)).message, /served after its deadline/);
  t.is((await collect(c, urgent.token)).data.length, 0, 'the empty file');
  t.true((await collect(c, queued.token)).data.equals(files.get('night/b.txt')!));
  const rounds = retrievalRows(agent).filter((r) => r.token === queued.token || r.token === urgent.token);
  t.true(
    rounds.every((r) => typeof r.round === 'number' && r.round >= 1),
    `the offline requests record their round: ${JSON.stringify(rounds)}`,
  );

  // --- a damaged disc in sr0, the good one in sr1: the check fails, the damage is recorded, sr1 serves
  await fs.copyFile(await damagedCopy(agent, vsn, a.offset, 'damaged.iso'), bay(agent, 'sr0'));
  await loadDisc(agent, vsn, 'sr1');
  const fallback = await c.retrieve(args(a.path, ONLINE));
  t.is(fallback.state, S.OPTARC_RETRIEVAL_READY, fallback.message);
  t.is(fallback.source, 'disc sr1');
  t.regex(fallback.message, /disc in sr0 failed its SHA-256 \(damage recorded\)/);
  t.true((await collect(c, fallback.token)).data.equals(dataA));
  const faults = sourceFaults(agent);
  t.is(faults.length, 1, 'one fault recorded');
  t.is(faults[0]?.source, 'disc');
  t.regex(faults[0]?.detail ?? '', /^drive sr0: SHA-256/);

  // --- only the damaged disc, no cloud copy: every source failed its check
  await unloadDisc(agent, 'sr1');
  const corrupt = await status(c.retrieve(args(a.path, ONLINE)));
  t.is(corrupt.status, 'OPTARC_CORRUPT', corrupt.message);
  t.regex(corrupt.message, /disc in sr0 failed its SHA-256/);
  t.is(sourceFaults(agent).length, 2, 'the damage recorded again, for this request');
  t.deepEqual(
    (await cacheFiles(agent)).filter((f) => f.endsWith('.part')),
    [],
    'no partial file left behind',
  );
});

test('a restart keeps the queue and the round numbers, deletes stray cache files; the cache budget holds; an uncollected entry expires', async (t) => {
  const agent = await startBurnAgent(t, {
    drives: 1,
    extra: { retrieval: { expiryHours: 0.003, cacheBytes: 3 * MiB } },
  });
  const { vsn, files } = await burnVolume(t, agent, {
    'run/x.bin': 2 * MiB + 5,
    'run/y.bin': 300,
    'run/big.bin': 3 * MiB + 1,
  });
  const x = fileOnVolume(agent, vsn, 'run/x.bin');
  const y = fileOnVolume(agent, vsn, 'run/y.bin');
  let c = await connect(t, agent);

  // larger than the whole cache area: refused at once
  const big = await status(c.retrieve(args(fileOnVolume(agent, vsn, 'run/big.bin').path, OFFLINE, 1)));
  t.is(big.status, 'OPTARC_NO_SPACE');
  t.regex(big.message, /more than the whole cache area \(3145728 bytes/);

  // served once from the disc, to have a round on record
  await loadDisc(agent, vsn, 'sr0');
  const first = await c.retrieve(args(y.path, OFFLINE, 2));
  const firstDone = await settle(c, first.token);
  t.is(firstDone.state, S.OPTARC_RETRIEVAL_READY, firstDone.message);
  t.true((await collect(c, first.token)).data.equals(files.get('run/y.bin')!));
  const firstRound = retrievalRows(agent).find((r) => r.token === first.token)?.round;
  t.is(typeof firstRound, 'number');
  await unloadDisc(agent, 'sr0');

  // two requests queued with no source; a stray file in the cache area
  const q1 = await c.retrieve(args(x.path, OFFLINE, 5));
  const q2 = await c.retrieve(args(y.path, OFFLINE, 1));
  t.is(q1.state, S.OPTARC_RETRIEVAL_QUEUED);
  const stray = path.join(cacheDir(agent), `${'0'.repeat(32)}.part`);
  await fs.writeFile(stray, 'left by a crash');
  c.close();
  await agent.stop();
  await agent.restart();
  c = await connect(t, agent, 'retriever-2');
  t.false((await cacheFiles(agent)).includes(path.basename(stray)), 'the stray file is deleted at start');
  for (const q of [q1, q2]) {
    t.is((await c.retrieveStatus(q.token)).state, S.OPTARC_RETRIEVAL_QUEUED, 'the token survives the restart');
  }

  // the disc comes back: both are served, in later rounds
  await loadDisc(agent, vsn, 'sr0');
  const r1 = await settle(c, q1.token);
  const r2 = await settle(c, q2.token);
  t.is(r1.state, S.OPTARC_RETRIEVAL_READY, r1.message);
  t.is(r2.state, S.OPTARC_RETRIEVAL_READY, r2.message);
  const rows = retrievalRows(agent);
  for (const q of [q1, q2]) {
    const round = rows.find((r) => r.token === q.token)?.round ?? 0;
    t.true(round > (firstRound ?? 0), `round ${round} continues after ${firstRound}`);
  }
  t.true((await collect(c, q2.token)).data.equals(files.get('run/y.bin')!));

  // q1 is left uncollected and holds 2 MiB of the 3 MiB budget: another 2 MiB request waits for space
  t.true((await cacheFiles(agent)).includes(q1.token));
  const q3 = await c.retrieve(args(x.path, OFFLINE, 1));
  await until('the request to wait for cache space', async () =>
    (await c.retrieveStatus(q3.token)).message.startsWith('waiting for cache space'),
  );
  t.is((await c.retrieveStatus(q3.token)).state, S.OPTARC_RETRIEVAL_QUEUED);
  t.false(
    (await cacheFiles(agent)).some((f) => f.startsWith(q3.token)),
    'nothing of it in the cache yet',
  );

  // q1 expires (0.003 h), its file is deleted, and the space goes to q3
  await until(
    'the entry to expire',
    async () => (await c.retrieveStatus(q1.token)).state === S.OPTARC_RETRIEVAL_EXPIRED,
  );
  const gone = await status(c.retrieveCached(q1.token, 0n, 10));
  t.is(gone.status, 'OPTARC_EXPIRED');
  t.regex(gone.message, /expired before it was collected/);
  t.false((await cacheFiles(agent)).includes(q1.token), 'the expired entry is deleted');
  const r3 = await settle(c, q3.token);
  t.is(r3.state, S.OPTARC_RETRIEVAL_READY, r3.message);
  t.true((await collect(c, q3.token)).data.equals(files.get('run/x.bin')!));
});

const missing = rgwMissing();
const rgwTest = missing ? test.skip : test;

rgwTest(
  `the cloud copy serves OFFLINE requests with no disc loaded, waits while the gateway is down, and backs up a damaged disc${missing ? ` [SKIPPED: ${missing}]` : ''}`,
  async (t) => {
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    const { token } = await gw.issue('lab-1');
    await gw.start();
    const agent = await mirroredAgent(t, gw, token, { drives: 1 });
    const { vsn, files } = await burnVolume(t, agent, { 'sky/m31.fits': 2 * MiB + 333, 'sky/notes.txt': 4321 });
    await waitFor(`${vsn} mirrored`, () => volumeStates(agent).get(vsn) === 'mirrored');
    const m31 = fileOnVolume(agent, vsn, 'sky/m31.fits');
    const notes = fileOnVolume(agent, vsn, 'sky/notes.txt');
    const c = await connect(t, agent);

    // no disc anywhere: the cloud copy, by ranged GETs of the file's extents
    const r = await c.retrieve(args(m31.path, OFFLINE, 4));
    t.is(r.state, S.OPTARC_RETRIEVAL_QUEUED);
    const done = await settle(c, r.token);
    t.is(done.state, S.OPTARC_RETRIEVAL_READY, done.message);
    t.is(done.source, 'cloud');
    t.true((await collect(c, r.token)).data.equals(files.get('sky/m31.fits')!), 'the exact bytes from the cloud');

    // the gateway goes down: an OFFLINE request waits for a source, and is served once it is back
    await gw.stop();
    const later = await c.retrieve(args(notes.path, OFFLINE, 5));
    await until('the request to wait for a source', async () =>
      (await c.retrieveStatus(later.token)).message.startsWith('waiting for a source'),
    );
    const waiting = await c.retrieveStatus(later.token);
    t.is(waiting.state, S.OPTARC_RETRIEVAL_QUEUED, 'nothing lost');
    t.regex(waiting.message, /gateway is not connected/);
    t.is((await status(c.retrieveCached(later.token, 0n, 10))).status, 'OPTARC_NOT_READY');
    await gw.start();
    const served = await settle(c, later.token);
    t.is(served.state, S.OPTARC_RETRIEVAL_READY, served.message);
    t.is(served.source, 'cloud');
    t.true((await collect(c, later.token)).data.equals(files.get('sky/notes.txt')!));

    // a damaged disc in the drive: its check fails, recorded, and the cloud copy serves the file
    await fs.copyFile(await damagedCopy(agent, vsn, m31.offset, 'damaged.iso'), bay(agent, 'sr0'));
    const online = await c.retrieve(args(m31.path, ONLINE));
    const end = await settle(c, online.token);
    t.is(end.state, S.OPTARC_RETRIEVAL_READY, end.message);
    t.is(end.source, 'cloud');
    t.regex(end.message, /disc in sr0 failed its SHA-256 \(damage recorded\)/);
    t.true((await collect(c, online.token)).data.equals(files.get('sky/m31.fits')!));
    const faults = sourceFaults(agent);
    t.deepEqual(
      faults.map((f) => f.source),
      ['disc'],
      "the disc's damage is recorded, once",
    );
  },
);
