/**
 * The mirror's fault cases, each driven the way a site or an operator meets it:
 *
 * 1. S3 (a real Ceph RGW of the test's own) stops for 60 s in the middle of an
 *    upload: the mirror resumes the same multipart upload and never sends a
 *    part S3 already holds (a counting proxy between everyone and RGW sees
 *    every part PUT and its answer).
 * 2. The gateway process is stopped and started every ~2 s while a throttled
 *    upload runs: the volume is mirrored, intact, under ONE session resumed by
 *    token each time and ONE upload.
 * 2b. (known failure, a product bug: see its comment) after a gateway outage
 *    met between two parts, the agent goes on as soon as the session is back
 *    rather than waiting out a backoff that doubles with every outage.
 * 3. An agent whose token is wrong, revoked or expired is refused at $connect:
 *    nothing of it reaches the gateway or the bucket, its volumes wait in the
 *    outbox with their staged files, and the agent keeps serving its clients.
 * 4. An agent of site B naming site A's upload is answered UNKNOWN_UPLOAD, the
 *    same as for an upload that does not exist; no key or URL crosses sites.
 * 5. ~500 seeded mutations of valid session messages (truncations, flipped
 *    bytes, wrong types, huge strings, deep nesting, frames over 1 MiB...)
 *    each get a clear `error` (or the close code the websocket protocol
 *    defines) while a real agent mirrors through the same gateway.
 * 6. The sweeper aborts a multipart upload abandoned for longer than
 *    abandonAfterSeconds (60 s, the least allowed) and spares the active and
 *    the young ones; the next mirror.begin of the volume starts a new upload.
 *
 * Scheduling: case 1 (its own RGW, a 60 s outage) and case 6 (a real 60 s of
 * abandonment, mostly idle) run alongside the others; cases 2 to 5 take turns
 * (TakeTurns), so the throttled uploads whose timing matters never compete
 * with each other for the two CPUs.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { decodeAgentMessage } from '../../gateway/protocol/codec.js';
import type { GatewayMessage } from '../../gateway/protocol/session-messages.js';
import { startRgw, stopRgw } from '../../infra/rgw/rgw.js';
import { type BurnAgent, makeTree } from '../edge-agent/burn-kit.js';
import { buildCClient, C_CLIENT } from '../helpers/c-programs.js';
import { BIN, ROOT, run } from '../helpers/processes.js';
import { rgwMissing, sharedRgw } from '../helpers/test-rgw.js';
import {
  agentIdOf,
  helloMessage,
  MiB,
  type Mutation,
  mutate,
  Prng,
  type RawClient,
  sessionClient,
  sha256,
  sleep,
  startCountingProxy,
  TakeTurns,
  upgradeStatus,
} from './fault-kit.js';
import {
  getObject,
  listKeys,
  makeGateway,
  mirroredAgent,
  outbox,
  stagedFiles,
  type TestGateway,
  volumeStates,
  waitFor,
} from './mirror-kit.js';

const missing = rgwMissing();
const rgwTest = missing ? test.skip : test;
const skipped = missing ? ` [SKIPPED: ${missing}]` : '';

test.before(() => buildCClient());

/** Cases 2 to 5 (2b included) run one after another (see the header). */
const lane = new TakeTurns();

// ---------------------------------------------------------------- helpers

type Plan = Extract<GatewayMessage, { type: 'plan' }>;
type ErrorReply = Extract<GatewayMessage, { type: 'error' }>;

function query<T>(file: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

const catalogOf = (agent: BurnAgent) => path.join(agent.state, 'catalog.sqlite');

interface VolumeImage {
  vsn: string;
  bytes: number;
  sha256: string;
}

function volumesOf(agent: BurnAgent): VolumeImage[] {
  return query<{ vsn: string; image_bytes: number; image_sha256: Buffer }>(
    catalogOf(agent),
    'SELECT vsn, image_bytes, image_sha256 FROM volumes ORDER BY id',
  ).map((r) => ({ vsn: r.vsn, bytes: Number(r.image_bytes), sha256: Buffer.from(r.image_sha256).toString('hex') }));
}

const sentParts = (agent: BurnAgent) =>
  query<{ n: number }>(catalogOf(agent), 'SELECT COUNT(*) AS n FROM mirror_parts')[0]!.n;

/** Stages `files` with the C client and burns them (one copy of `media`); the burn job's number. */
async function stageAndBurn(
  t: ExecutionContext,
  agent: BurnAgent,
  files: Record<string, number>,
  media: string,
): Promise<string> {
  const src = path.join(agent.dir, 'src');
  await makeTree(src, files);
  const put = await run(C_CLIENT.put, ['--port', String(agent.rpcPort), '127.0.0.1', src]);
  t.is(put.code, 0, put.stderr);
  const burn = await run(
    C_CLIENT.burn,
    ['--port', String(agent.rpcPort), '-w', '127.0.0.1', '--copies', '1', '--media', media, '--label', 'FAULTS'],
    {},
    180_000,
  );
  t.is(burn.code, 0, `${burn.stdout}\n${burn.stderr}`);
  const job = /job (\d+)/.exec(burn.stdout)?.[1];
  if (!job) throw new Error(`no job number in: ${burn.stdout}`);
  return job;
}

/** The image object of a mirrored volume equals the image on its disc (the shelf copy) and the catalog's digest. */
async function checkObject(
  t: ExecutionContext,
  gw: TestGateway,
  agent: BurnAgent,
  site: string,
  v: VolumeImage,
): Promise<void> {
  const image = await getObject(gw, `sites/${site}/volumes/${v.vsn}/${v.vsn}.iso`);
  t.is(image.length, v.bytes, `${v.vsn}: the object has the image's size`);
  t.is(sha256(image), v.sha256, `${v.vsn}: the object's SHA-256 is the image's (catalog)`);
  const disc = await fs.readFile(path.join(agent.shelf, `${v.vsn}-1.iso`));
  t.is(sha256(image), sha256(disc.subarray(0, v.bytes)), `${v.vsn}: the object is the image on the disc`);
}

/** Lines of the agent's JSON log (stderr) from now on. */
function logLines(agent: BurnAgent): { lines: () => Record<string, unknown>[] } {
  let text = '';
  agent.child().stderr?.on('data', (d) => {
    text += d;
  });
  return {
    lines: () =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
  };
}

const hex = (n: number, rng = Math.random) =>
  Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(rng() * 16)]).join('');

// ---------------------------------------------------------------- 1. S3 down for 60 s

rgwTest(
  `S3 stopped for 60 s in the middle of an upload: the mirror resumes the same upload and never re-sends a part S3 holds${skipped}`,
  async (t) => {
    t.timeout(420_000);
    const t0 = Date.now();
    await fs.mkdir(path.join(ROOT, 'var/tmp'), { recursive: true });
    const dir = await fs.mkdtemp(path.join(ROOT, 'var/tmp/mirror-outage-'));
    t.teardown(async () => {
      await stopRgw(dir).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    });
    const rgw = await startRgw({ dir, port: 0 });
    t.log(`own RGW up (${rgw.started}) in ${rgw.ms} ms on port ${rgw.port}`);
    // Everything that talks to S3 goes through the proxy: the gateway's client
    // and, since the gateway presigns for its endpoint, the agent's part PUTs.
    const proxy = await startCountingProxy(rgw.endpoint);
    t.teardown(() => proxy.close());
    const gw = await makeGateway(t, { ...rgw, endpoint: proxy.url });
    await gw.start();
    const { token } = await gw.issue('lab-1');
    const agent = await mirroredAgent(t, gw, token, {
      drives: 1,
      mirror: { maxBytesPerSecond: 3 * MiB, concurrency: 2 },
    });
    await stageAndBurn(t, agent, { 'night/big.fits': 28 * MiB }, 'test-32m');
    const [volume, ...others] = volumesOf(agent);
    t.is(others.length, 0, 'one volume');
    const partSize = 5 * MiB;
    const partsTotal = Math.ceil(volume!.bytes / partSize);
    t.true(partsTotal >= 5, `${partsTotal} parts`);

    await waitFor('two parts sent', () => sentParts(agent) >= 2, 60_000);
    const stoppedAt = Date.now();
    const sentBefore = sentParts(agent);
    await stopRgw(dir);
    t.log(`RGW stopped with ${sentBefore}/${partsTotal} parts sent, ${Math.round((stoppedAt - t0) / 1000)} s in`);
    t.is(volumeStates(agent).get(volume!.vsn), 'finished', 'the outage came in the middle of the upload');
    await sleep(60_000);
    const again = await startRgw({ dir });
    const backAt = Date.now();
    t.is(again.port, rgw.port, 'RGW is back on the same port');
    t.log(`RGW back after ${Math.round((backAt - stoppedAt) / 1000)} s (${again.started})`);
    await waitFor('the volume mirrored', () => volumeStates(agent).get(volume!.vsn) === 'mirrored', 240_000);
    t.log(`mirrored ${Math.round((Date.now() - backAt) / 1000)} s after RGW came back`);

    const puts = proxy.partPuts();
    t.deepEqual(new Set(puts.map((p) => p.uploadId)).size, 1, 'every part PUT went to one multipart upload');
    const ok = puts.filter((p) => p.status === 200);
    for (let n = 1; n <= partsTotal; n++) {
      t.is(ok.filter((p) => p.partNumber === n).length, 1, `part ${n} was stored exactly once`);
    }
    t.is(ok.length, partsTotal, 'no part number outside the image was stored');
    const doneBefore = ok.filter((p) => p.endedAt! < stoppedAt).map((p) => p.partNumber!);
    t.true(doneBefore.length >= 2, `parts ${doneBefore} were stored before the outage`);
    for (const n of doneBefore) {
      t.deepEqual(
        puts.filter((p) => p.partNumber === n && p.startedAt >= stoppedAt).length,
        0,
        `part ${n}, stored before the outage, was not sent again`,
      );
    }
    const failed = puts.filter((p) => p.status !== 200);
    t.true(failed.length >= 1, 'the outage cut part PUTs short (they failed, then resumed)');
    t.true(
      ok.some((p) => p.startedAt >= backAt),
      'parts were still missing when RGW came back',
    );
    t.log(
      `part PUTs: ${puts.length} (${ok.length} stored, ${failed.length} failed: ${[...new Set(failed.map((p) => p.status ?? p.error))].join(', ')})`,
    );

    await checkObject(t, gw, agent, 'lab-1', volume!);
    const mirrors = query<{ vsn: string }>(gw.store, 'SELECT vsn FROM mirrors');
    t.deepEqual(
      mirrors.map((m) => m.vsn),
      [volume!.vsn],
    );
    const uploads = query<{ state: string }>(gw.store, 'SELECT state FROM uploads WHERE vsn = ?', volume!.vsn);
    t.deepEqual(
      uploads.map((u) => u.state),
      ['done'],
      'one upload, resumed, completed',
    );
    t.log(`case 1 took ${Math.round((Date.now() - t0) / 1000)} s`);
  },
);

// ---------------------------------------------------------------- 2. the gateway keeps dropping

rgwTest(`the websocket dropped every ~2 s during a mirror (gateway restarts): the mirror completes${skipped}`, (t) =>
  lane.run(async () => {
    t.timeout(300_000);
    const t0 = Date.now();
    const rgw = await sharedRgw();
    // two parts per plan: the agent must come back for plan.more mid-upload
    const gw = await makeGateway(t, rgw, { mirror: { partsPerPlan: 2 } });
    await gw.start();
    const { id, token } = await gw.issue('lab-1');
    const agent = await mirroredAgent(t, gw, token, {
      drives: 1,
      mirror: { maxBytesPerSecond: Math.round(1.2 * MiB), concurrency: 2 },
    });
    const log = logLines(agent);
    await stageAndBurn(t, agent, { 'night/c.fits': 18 * MiB }, 'test-32m');
    const [volume] = volumesOf(agent);
    const partsTotal = Math.ceil(volume!.bytes / (5 * MiB));

    // restart the gateway every ~2 s until every part is sent (at most 12 times)
    let restarts = 0;
    let restartsMidTransfer = 0;
    const downMs: number[] = [];
    while (restarts < 12 && volumeStates(agent).get(volume!.vsn) !== 'mirrored') {
      await sleep(2000);
      const midTransfer = sentParts(agent) < partsTotal;
      if (!midTransfer && restarts >= 3) break;
      const down = Date.now();
      await gw.stop();
      await sleep(300);
      await gw.start();
      downMs.push(Date.now() - down);
      restarts++;
      if (midTransfer) restartsMidTransfer++;
    }
    t.log(
      `gateway restarted ${restarts} times, ${restartsMidTransfer} of them while parts were being sent; down ${downMs.join(', ')} ms`,
    );
    t.true(restartsMidTransfer >= 3, 'the connection dropped several times in the middle of the transfer');
    await waitFor('the volume mirrored', () => volumeStates(agent).get(volume!.vsn) === 'mirrored', 180_000);

    await checkObject(t, gw, agent, 'lab-1', volume!);
    const mirrors = query<{ vsn: string }>(gw.store, 'SELECT vsn FROM mirrors WHERE agent_id = ?', id);
    t.deepEqual(
      mirrors.map((m) => m.vsn),
      [volume!.vsn],
      'one mirror row',
    );
    const uploads = query<{ state: string }>(gw.store, 'SELECT state FROM uploads WHERE agent_id = ?', id);
    t.deepEqual(
      uploads.map((u) => u.state),
      ['done'],
      'one upload for the whole mirror, resumed across the drops',
    );
    const sessions = query<{ id: string }>(gw.store, 'SELECT id FROM sessions WHERE agent_id = ?', id);
    t.is(sessions.length, 1, 'one session, resumed by its token after every drop');
    // (the agent may still be coming back from the last restart)
    const connections = () => query<{ id: string }>(gw.store, 'SELECT id FROM connections WHERE agent_id = ?', id);
    await waitFor('the agent connected', () => connections().length > 0, 15_000);
    await sleep(500);
    t.is(connections().length, 1, 'only the live connection is recorded: every dropped one was forgotten');
    const failures = log.lines().filter((l) => l.msg === 'mirror attempt failed');
    t.log(
      `agent: ${failures.length} failed attempts (${failures.map((f) => String(f.error).slice(0, 60)).join(' | ')}); case 2 took ${Math.round((Date.now() - t0) / 1000)} s`,
    );
  }),
);

// ---------------------------------------------------------------- 2b. back as soon as the gateway is

/*
 * A request refused for want of a session (GATEWAY_UNAVAILABLE while the
 * connection is down) is not the volume's failure: the mirror must not count
 * it as an attempt nor back off on it (5 s doubling to 10 min), but go on as
 * soon as the session is back (the gateway resumes the upload from ListParts).
 * Found by this test: each gateway blip between two parts used to cost 5, 10,
 * 20 s ... of idle line.
 */
rgwTest(
  `after each gateway outage met between two parts the mirror goes on as soon as the session is back (no growing backoff)${skipped}`,
  (t) =>
    lane.run(async () => {
      t.timeout(300_000);
      const t0 = Date.now();
      const rgw = await sharedRgw();
      // a proxy in front of RGW shows when each part PUT starts and ends
      const proxy = await startCountingProxy(rgw.endpoint);
      t.teardown(() => proxy.close());
      // one part per plan: after each part the agent asks the gateway for the next (plan.more)
      const gw = await makeGateway(t, { ...rgw, endpoint: proxy.url }, { mirror: { partsPerPlan: 1 } });
      await gw.start();
      const { token } = await gw.issue('lab-1');
      const agent = await mirroredAgent(t, gw, token, {
        drives: 1,
        mirror: { maxBytesPerSecond: 2 * MiB, concurrency: 1 },
      });
      await stageAndBurn(t, agent, { 'night/e.fits': 28 * MiB }, 'test-32m');
      const [volume] = volumesOf(agent);

      const gaps: number[] = [];
      const timeline = () =>
        proxy.requests
          .filter((r) => r.path.includes('/sites/'))
          .map(
            (r) =>
              `${r.method} part ${r.partNumber ?? '-'} ${r.startedAt - t0}..${(r.endedAt ?? 0) - t0} ms ${r.status ?? r.error}`,
          )
          .join('; ');
      const events: string[] = [];
      const until = (what: string, check: () => boolean, ms: number) =>
        waitFor(what, check, ms).catch((e: Error) => {
          throw new Error(`${e.message}; ${events.join('; ')}; S3: ${timeline()}`);
        });
      for (let outage = 0; outage < 3; outage++) {
        // a part has just left: stop the gateway (before the part is stored), and keep it down
        // until the part is stored and the agent, asking for the next one, has found no session
        const fresh = () => proxy.partPuts().find((p) => p.endedAt === undefined && Date.now() - p.startedAt < 700);
        await until('a part PUT just started', () => fresh() !== undefined, 120_000);
        const part = fresh()!;
        events.push(`gateway down at ${Date.now() - t0} ms (part ${part.partNumber} under way)`);
        await gw.stop();
        await until('the part stored', () => part.endedAt !== undefined, 60_000);
        await sleep(1000);
        await gw.start();
        const backAt = Date.now();
        events.push(`gateway back at ${backAt - t0} ms`);
        // the agent's next PUT to S3: the next part, or the manifest after the last part
        const next = () =>
          proxy.requests.find((r) => r.method === 'PUT' && r.path.includes('/sites/') && r.startedAt > backAt);
        await until("the agent's next PUT", () => next() !== undefined, 120_000);
        gaps.push(next()!.startedAt - backAt);
      }
      t.log(`from the gateway back to the agent's next PUT: ${gaps.join(', ')} ms`);
      await waitFor('the volume mirrored', () => volumeStates(agent).get(volume!.vsn) === 'mirrored', 120_000);
      await checkObject(t, gw, agent, 'lab-1', volume!);
      // the lost sessions were not counted against the volume: no attempt recorded, so no backoff
      // (the gaps above are logged, not asserted: wall-clock bounds do not belong in the suite)
      const entries = outbox(agent);
      t.is(entries.length, 1, 'one volume, one outbox entry');
      const entry = entries[0];
      t.is(entry?.attempts, 0, `no failed attempt recorded: ${entry?.last_error}`);
      t.is(entry?.state, 'acked');
      t.log(`case 2b took ${Math.round((Date.now() - t0) / 1000)} s`);
    }),
);

// ---------------------------------------------------------------- 3. bad tokens

rgwTest(`a wrong, revoked or expired agent token is refused at $connect; the agent keeps its volumes${skipped}`, (t) =>
  lane.run(async () => {
    t.timeout(300_000);
    const t0 = Date.now();
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    await gw.start();

    const revoked = await gw.issue('lab-revoked');
    const rv = await run(BIN.gateway, ['agents', 'revoke', revoked.id, '--config', gw.config]);
    t.is(rv.code, 0, rv.stderr);
    // `agents add --expires-days` takes fractional days: 0.00005 days is 4.3 s, so
    // this token really expires by itself (no store edit) before its agent starts
    const add = await run(BIN.gateway, [
      'agents',
      'add',
      '--site',
      'lab-expired',
      '--expires-days',
      '0.00005',
      '--json',
      '--config',
      gw.config,
    ]);
    t.is(add.code, 0, add.stderr);
    const expired = JSON.parse(add.stdout) as { id: string; token: string; expiresAt: string };
    const expiresAt = Date.parse(expired.expiresAt);
    t.true(expiresAt - Date.now() < 5000, `expires at ${expired.expiresAt}`);
    t.is(await upgradeStatus(gw.url, expired.token), 101, 'the token works before it expires');
    await sleep(Math.max(0, expiresAt - Date.now()) + 200);
    // well formed, names a real agent, wrong secret
    const real = await gw.issue('lab-wrong');
    const wrong = { id: real.id, token: `oa_${real.id}_${'A'.repeat(43)}` };
    t.not(wrong.token, real.token);
    const good = await gw.issue('lab-ok');

    const cases = [
      { name: 'revoked', site: 'lab-revoked', ...revoked },
      { name: 'expired', site: 'lab-expired', ...expired },
      { name: 'wrong', site: 'lab-wrong', ...wrong },
      { name: 'good', site: 'lab-ok', ...good },
    ];
    const agents = await Promise.all(
      cases.map(async (c) => {
        const agent = await mirroredAgent(t, gw, c.token, { drives: 1, site: c.site });
        const log = logLines(agent);
        const job = await stageAndBurn(
          t,
          agent,
          { [`${c.name}/a.dat`]: MiB + 11, [`${c.name}/b.txt`]: 100 },
          'test-8m',
        );
        return { ...c, agent, log, job, burnedAt: Date.now() };
      }),
    );
    const control = agents.find((a) => a.name === 'good')!;
    await waitFor('the control agent mirrored', () =>
      [...volumeStates(control.agent).values()].every((s) => s === 'mirrored'),
    );
    const refused = (a: (typeof agents)[number]) =>
      a.log
        .lines()
        .filter(
          (l) => l.msg === 'gateway refused the agent' && l.status === 401 && Date.parse(String(l.time)) > a.burnedAt,
        );
    // the refused agents keep trying (backoff 0.2 - 2 s): wait for two refusals after their volumes finished
    for (const a of agents.filter((x) => x !== control)) {
      await waitFor(`${a.name}: refused twice after the burn`, () => refused(a).length >= 2, 30_000);
    }

    const keys = [...(await listKeys(gw, '')).keys()];
    t.true(keys.length >= 2, 'the control volume reached the bucket');
    t.true(
      keys.every((k) => k.startsWith('sites/lab-ok/')),
      `only the good agent's keys are in the bucket: ${keys.join(', ')}`,
    );
    const uploads = await gw.s3.send(new ListMultipartUploadsCommand({ Bucket: gw.bucket }));
    t.deepEqual(uploads.Uploads ?? [], [], 'no multipart upload was begun');

    for (const a of agents.filter((x) => x !== control)) {
      const states = volumeStates(a.agent);
      t.true(states.size >= 1, `${a.name}: burned`);
      t.deepEqual(new Set(states.values()), new Set(['finished']), `${a.name}: volumes stay finished`);
      const entries = outbox(a.agent);
      t.is(entries.length, states.size, `${a.name}: one outbox entry per volume`);
      t.true(
        entries.every((e) => e.state === 'queued' && e.attempts === 0),
        `${a.name}: outbox entries stay queued, never attempted: ${JSON.stringify(entries)}`,
      );
      const staged = await stagedFiles(a.agent.stage);
      t.true(
        staged.some((p) => p.endsWith('a.dat')) && staged.some((p) => p.endsWith('b.txt')),
        `${a.name}: staged files kept: ${staged.join(', ')}`,
      );
      for (const table of ['connections', 'sessions', 'uploads', 'mirrors']) {
        const rows = query(gw.store, `SELECT * FROM ${table} WHERE agent_id = ?`, a.id);
        t.is(rows.length, 0, `${a.name}: no ${table} row in the gateway store`);
      }
      t.is(a.agent.child().exitCode, null, `${a.name}: the agent runs`);
      const status = await a.agent.cli('status', a.job, '--json');
      t.is(status.code, 0, `${a.name}: optarc status works: ${status.stderr}`);
      const js = JSON.parse(status.stdout) as {
        stateName: string;
        volumes: { vsn: string; state: string; mirror?: { state: string; disconnected: boolean; percent: number } }[];
      };
      t.is(js.stateName, 'done', `${a.name}: the burn job is done`);
      t.deepEqual(
        js.volumes.map((v) => v.mirror && { state: v.mirror.state, disconnected: v.mirror.disconnected }),
        js.volumes.map(() => ({ state: 'queued', disconnected: true })),
        `${a.name}: status shows each volume queued for mirror, gateway not connected: ${status.stdout}`,
      );
      for (const v of js.volumes) t.regex(v.state, /gateway not connected: .*HTTP 401/, `${a.name}: status says why`);
      t.log(`${a.name}: refused ${refused(a).length} times since its burn`);
    }
    t.log(`case 3 took ${Math.round((Date.now() - t0) / 1000)} s`);
  }),
);

// ---------------------------------------------------------------- 4. another site's upload

rgwTest(`an agent of site B naming site A's upload is answered UNKNOWN_UPLOAD, like a made-up one${skipped}`, (t) =>
  lane.run(async () => {
    t.timeout(120_000);
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    await gw.start();
    const a = await sessionClient(gw.url, (await gw.issue('lab-a')).token);
    const b = await sessionClient(gw.url, (await gw.issue('lab-b')).token);
    t.teardown(async () => {
      await a.client.close();
      await b.client.close();
    });
    t.is(a.session.site, 'lab-a');
    t.is(b.session.site, 'lab-b');

    const declared = { vsn: 'A00007', size: 12 * MiB + 5, sha256: hex(64), manifestDigest: hex(64) };
    const planA = await a.client.request({ v: 1, type: 'mirror.begin', id: 'a-begin', ...declared });
    if (planA.type !== 'plan') return t.fail(`mirror.begin answered ${JSON.stringify(planA)}`);
    const bucketPath = `/${gw.bucket}/`;
    const under = (url: string, site: string) =>
      decodeURIComponent(new URL(url).pathname).startsWith(`${bucketPath}sites/${site}/`);
    t.true(planA.key.startsWith('sites/lab-a/'), planA.key);
    t.true(planA.manifest.key.startsWith('sites/lab-a/'), planA.manifest.key);
    t.true(under(planA.manifest.url, 'lab-a'), planA.manifest.url);
    t.is(planA.parts.length, 3);
    for (const p of planA.parts) t.true(under(p.url, 'lab-a'), `part ${p.partNumber}: ${p.url}`);
    const updatedBefore = query<{ updated_at: number }>(
      gw.store,
      'SELECT updated_at FROM uploads WHERE id = ?',
      planA.uploadId,
    )[0]!.updated_at;

    // B names A's upload, then an upload that does not exist: the answers must not tell them apart
    const madeUp = `2~${hex(32)}`;
    const ask = async (uploadId: string, tag: string) => {
      const more = await b.client.request({ v: 1, type: 'plan.more', id: `b-more-${tag}`, uploadId, fromPart: 1 });
      const complete = await b.client.request({
        v: 1,
        type: 'mirror.complete',
        id: `b-complete-${tag}`,
        vsn: declared.vsn,
        uploadId,
        parts: [1, 2, 3].map((n) => {
          const md5 = hex(32);
          return { partNumber: n, etag: `"${md5}"`, md5 };
        }),
      });
      return { more, complete };
    };
    const theirs = await ask(planA.uploadId, 'theirs');
    const none = await ask(madeUp, 'none');
    const shape = (m: GatewayMessage, uploadId: string) => {
      const e = m as ErrorReply;
      return {
        keys: Object.keys(m).sort(),
        type: m.type,
        code: e.code,
        message: e.message?.split(uploadId).join('<id>'),
      };
    };
    for (const k of ['more', 'complete'] as const) {
      t.is(theirs[k].type, 'error', `${k}: refused`);
      t.is((theirs[k] as ErrorReply).code, 'UNKNOWN_UPLOAD', `${k}: ${JSON.stringify(theirs[k])}`);
      t.is((theirs[k] as ErrorReply).replyTo, `b-${k === 'more' ? 'more' : 'complete'}-theirs`);
      t.deepEqual(
        shape(theirs[k], planA.uploadId),
        shape(none[k], madeUp),
        `${k}: the same answer for another site's upload as for none`,
      );
      t.false(JSON.stringify(theirs[k]).includes('lab-a'), `${k}: the answer does not name site A`);
    }

    // B's progress report naming A's upload is not taken as activity on it
    b.client.send({
      v: 1,
      type: 'mirror.progress',
      vsn: declared.vsn,
      uploadId: planA.uploadId,
      partsDone: 2,
      bytesDone: 5,
    });
    await b.client.request({ v: 1, type: 'plan.more', id: 'b-sync', uploadId: madeUp, fromPart: 1 });
    t.is(
      query<{ updated_at: number }>(gw.store, 'SELECT updated_at FROM uploads WHERE id = ?', planA.uploadId)[0]!
        .updated_at,
      updatedBefore,
      "B's mirror.progress did not touch A's upload",
    );

    // B mirroring a volume of the same name gets its own upload under its own prefix
    const planB = await b.client.request({ v: 1, type: 'mirror.begin', id: 'b-begin', ...declared });
    if (planB.type !== 'plan') return t.fail(`B's mirror.begin answered ${JSON.stringify(planB)}`);
    t.not(planB.uploadId, planA.uploadId);
    t.true(planB.key.startsWith('sites/lab-b/') && planB.manifest.key.startsWith('sites/lab-b/'));
    for (const url of [planB.manifest.url, ...planB.parts.map((p) => p.url)]) {
      t.true(under(url, 'lab-b'), url);
      t.false(decodeURIComponent(url).includes('lab-a'), `B's URL never mentions lab-a: ${url}`);
    }

    // A's upload is untouched: A still gets its plan, and S3 still holds the upload
    const againA = await a.client.request({
      v: 1,
      type: 'plan.more',
      id: 'a-more',
      uploadId: planA.uploadId,
      fromPart: 1,
    });
    t.is(againA.type, 'plan', JSON.stringify(againA));
    const listed = await gw.s3.send(new ListMultipartUploadsCommand({ Bucket: gw.bucket }));
    t.true((listed.Uploads ?? []).some((u) => u.UploadId === planA.uploadId && u.Key === planA.key));
    t.deepEqual([...a.client.invalid, ...b.client.invalid], [], 'every gateway message was well formed');
  }),
);

// ---------------------------------------------------------------- 5. fuzzed session messages

const FUZZ_SEED = 20_240_611;
const FUZZ_CASES = 500;

/** What a gateway must answer to an undecodable frame, worked out without the gateway's code. */
function expectedRefusal(m: Mutation): { code: string; replyTo: string | null } {
  if (m.binary) return { code: 'BAD_JSON', replyTo: null };
  let value: unknown;
  try {
    value = JSON.parse(m.frame as string);
  } catch {
    return { code: 'BAD_JSON', replyTo: null };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { code: 'BAD_MESSAGE', replyTo: null };
  const o = value as Record<string, unknown>;
  const replyTo = typeof o.id === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(o.id) ? o.id : null;
  if (!Object.hasOwn(o, 'v')) return { code: 'BAD_MESSAGE', replyTo };
  if (o.v !== 1) return { code: 'VERSION', replyTo };
  return { code: 'BAD_MESSAGE', replyTo };
}

rgwTest(
  `~${FUZZ_CASES} malformed or oversized session messages each get a clear error while a real agent mirrors through the same gateway${skipped}`,
  (t) =>
    lane.run(async () => {
      t.timeout(300_000);
      const t0 = Date.now();
      const rgw = await sharedRgw();
      const gw = await makeGateway(t, rgw);
      await gw.start();
      const fuzzer = await gw.issue('lab-fuzz');
      const fuzzId = agentIdOf(fuzzer.token);
      const { token } = await gw.issue('lab-1');
      const agent = await mirroredAgent(t, gw, token, { drives: 1, mirror: { maxBytesPerSecond: 2 * MiB } });

      const seeds: Record<string, unknown>[] = [
        helloMessage('s-hello', fuzzId),
        {
          v: 1,
          type: 'mirror.begin',
          id: 's-begin',
          vsn: 'FUZZ01',
          size: 12 * MiB,
          sha256: hex(64),
          manifestDigest: hex(64),
        },
        { v: 1, type: 'mirror.progress', vsn: 'FUZZ01', uploadId: 'u-fuzz-1', partsDone: 1, bytesDone: 5 * MiB },
        {
          v: 1,
          type: 'mirror.complete',
          id: 's-complete',
          vsn: 'FUZZ01',
          uploadId: 'u-fuzz-1',
          parts: [
            { partNumber: 1, etag: '"0123456789abcdef0123456789abcdef"', md5: '0123456789abcdef0123456789abcdef' },
          ],
        },
        { v: 1, type: 'plan.more', id: 's-more', uploadId: 'u-fuzz-1', fromPart: 2 },
        { v: 1, type: 'command.result', replyTo: 'c-1', command: 'pause', ok: true, detail: 'paused' },
      ];
      for (const s of seeds) t.true(decodeAgentMessage(JSON.stringify(s)).ok, `seed ${s.type} is valid`);

      await stageAndBurn(t, agent, { 'night/f.fits': 12 * MiB }, 'test-32m');
      const [volume] = volumesOf(agent);
      const fuzzStart = Date.now();

      const connectFuzzer = async (): Promise<RawClient> => (await sessionClient(gw.url, fuzzer.token)).client;
      let client = await connectFuzzer();
      const clients = [client];
      t.teardown(async () => {
        for (const c of clients) await c.close();
      });
      const stats = new Map<string, number>();
      const codes = new Map<string, number>();
      const problems: string[] = [];
      let valid = 0;
      let reconnects = 0;
      for (let i = 0; i < FUZZ_CASES; i++) {
        const rng = new Prng(FUZZ_SEED + i * 7919);
        const m = mutate(rng, rng.pick(seeds), `f${i}`);
        const label = `case ${i} (seed ${FUZZ_SEED}, ${m.kind})`;
        stats.set(m.kind, (stats.get(m.kind) ?? 0) + 1);
        const from = client.received.length;
        client.send(m.frame, { binary: m.binary });
        if (m.kind === 'oversized' || m.kind === 'flip-invalid-utf8') {
          // the websocket layer refuses these before any handler: over 1 MiB → 1009, not UTF-8 → 1007
          const want = m.kind === 'oversized' ? 1009 : 1007;
          const code = await Promise.race([client.closed, sleep(10_000).then(() => -1)]);
          if (code !== want) problems.push(`${label}: closed with ${code}, not ${want}`);
          if (client.received.length > from) problems.push(`${label}: answered before closing`);
          client = await connectFuzzer();
          clients.push(client);
          reconnects++;
          continue;
        }
        const ping = await client.request({
          v: 1,
          type: 'plan.more',
          id: `ping-${i}`,
          uploadId: 'ping-none',
          fromPart: 1,
        });
        if (ping.type !== 'error' || ping.code !== 'UNKNOWN_UPLOAD')
          problems.push(`${label}: ping answered ${JSON.stringify(ping)}`);
        const end = client.received.indexOf(ping);
        const replies = client.received.slice(from, end);
        for (const r of replies) {
          if (r.type === 'error') codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
          if (r.type === 'error' && r.code === 'INTERNAL') problems.push(`${label}: INTERNAL: ${r.message}`);
        }
        const decoded = m.binary ? { ok: false } : decodeAgentMessage(m.frame as string);
        if (decoded.ok) {
          valid++; // a mutation that is still a valid message: answered as such (checked against the schema)
          continue;
        }
        const want = expectedRefusal(m);
        if (replies.length !== 1) {
          problems.push(`${label}: ${replies.length} replies: ${JSON.stringify(replies).slice(0, 300)}`);
          continue;
        }
        const r = replies[0]!;
        if (r.type !== 'error') {
          problems.push(`${label}: answered ${r.type}`);
          continue;
        }
        if (r.code !== want.code) problems.push(`${label}: code ${r.code}, expected ${want.code}: ${r.message}`);
        if (r.replyTo !== want.replyTo) problems.push(`${label}: replyTo ${r.replyTo}, expected ${want.replyTo}`);
        if (r.message.length === 0 || r.message.length > 1024)
          problems.push(`${label}: message of ${r.message.length} characters`);
      }
      const fuzzEnd = Date.now();
      for (const c of clients) problems.push(...c.invalid.map((x) => `the gateway sent an invalid message: ${x}`));
      t.deepEqual(problems, [], problems.slice(0, 20).join('\n'));
      t.log(
        `fuzz: ${FUZZ_CASES} cases in ${fuzzEnd - fuzzStart} ms, ${valid} still valid, ${reconnects} reconnects; kinds ${JSON.stringify(Object.fromEntries(stats))}; codes ${JSON.stringify(Object.fromEntries(codes))}`,
      );
      t.true(gw.running(), 'the gateway process is alive');

      // the real agent was served all along
      await waitFor('the real agent mirrored', () => volumeStates(agent).get(volume!.vsn) === 'mirrored', 120_000);
      await checkObject(t, gw, agent, 'lab-1', volume!);
      const [upload] = query<{ created_at: number }>(
        gw.store,
        'SELECT created_at FROM uploads WHERE vsn = ?',
        volume!.vsn,
      );
      const [mirror] = query<{ acked_at: number }>(gw.store, 'SELECT acked_at FROM mirrors WHERE vsn = ?', volume!.vsn);
      t.true(upload!.created_at < fuzzEnd && mirror!.acked_at > fuzzStart, 'the mirror ran while the fuzzing did');
      // and a newcomer is served too
      const fresh = await sessionClient(gw.url, (await gw.issue('lab-late')).token);
      t.is(fresh.session.site, 'lab-late');
      await fresh.client.close();
      t.true(gw.running(), 'the gateway process is still alive');
      t.log(`case 5 took ${Math.round((Date.now() - t0) / 1000)} s`);
    }),
);

// ---------------------------------------------------------------- 6. the sweeper

rgwTest(
  `an upload abandoned longer than abandonAfterSeconds is aborted by the sweeper; the next begin starts anew${skipped}`,
  async (t) => {
    t.timeout(300_000);
    const t0 = Date.now();
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    await gw.start();
    const { client } = await sessionClient(gw.url, (await gw.issue('lab-s')).token);
    t.teardown(() => client.close());

    const declare = (vsn: string) => ({ vsn, size: 12 * MiB, sha256: hex(64), manifestDigest: hex(64) });
    const begin = async (d: ReturnType<typeof declare>, id: string): Promise<Plan> => {
      const r = await client.request({ v: 1, type: 'mirror.begin', id, ...d });
      if (r.type !== 'plan') throw new Error(`mirror.begin answered ${JSON.stringify(r)}`);
      return r;
    };
    const putPart = async (plan: Plan, n: number) => {
      const p = plan.parts.find((x) => x.partNumber === n)!;
      const res = await fetch(p.url, { method: 'PUT', body: Buffer.alloc(p.length, n) });
      t.is(res.status, 200, `part ${n} of ${plan.vsn} stored`);
    };
    const abandoned = declare('SWEEP1');
    const active = declare('SWEEP2');
    const plan1 = await begin(abandoned, 'b1');
    const plan2 = await begin(active, 'b2');
    await putPart(plan1, 1);
    await putPart(plan2, 1);

    // abandonAfterSeconds is at least 60: S3's own `Initiated` time has to be
    // that old, so this waits for real (while the other cases run) rather than
    // faking a clock; the store's last activity on both uploads ages with it.
    const initiated = async () => {
      const r = await gw.s3.send(new ListMultipartUploadsCommand({ Bucket: gw.bucket }));
      return new Map((r.Uploads ?? []).map((u) => [u.UploadId!, u.Initiated!.getTime()]));
    };
    await waitFor(
      'both uploads initiated over 61 s ago in S3',
      async () => {
        const ages = await initiated();
        return [plan1.uploadId, plan2.uploadId].every((id) => Date.now() - (ages.get(id) ?? Date.now()) > 61_000);
      },
      120_000,
    );
    // the agent of SWEEP2 is still at it: its progress report marks the upload active
    client.send({
      v: 1,
      type: 'mirror.progress',
      vsn: 'SWEEP2',
      uploadId: plan2.uploadId,
      partsDone: 1,
      bytesDone: 5 * MiB,
    });
    // and SWEEP3 has just begun (young in S3)
    const plan3 = await begin(declare('SWEEP3'), 'b3');
    const rows = () =>
      new Map(
        query<{ id: string; state: string; updated_at: number; detail: string }>(gw.store, 'SELECT * FROM uploads').map(
          (r) => [r.id, r],
        ),
      );
    t.true(Date.now() - rows().get(plan1.uploadId)!.updated_at > 60_000, 'no activity on SWEEP1 for over 60 s');
    t.true(Date.now() - rows().get(plan2.uploadId)!.updated_at < 30_000, 'SWEEP2 was active just now');

    const sweep = await run(BIN.gateway, ['sweep', '--config', gw.config], {
      OPTARC_GATEWAY_MIRROR_ABANDON_AFTER_SECONDS: '60',
    });
    t.is(sweep.code, 0, sweep.stderr);
    t.deepEqual(JSON.parse(sweep.stdout), { aborted: 1, kept: 2 }, sweep.stdout);

    const left = await initiated();
    t.false(left.has(plan1.uploadId), 'the abandoned upload is gone from S3');
    t.true(left.has(plan2.uploadId) && left.has(plan3.uploadId), 'the active and the young upload are kept');
    // RGW 16.2 answers ListParts of an aborted upload 404 NoSuchKey (AWS: NoSuchUpload)
    const gone = await t.throwsAsync(
      gw.s3.send(new ListPartsCommand({ Bucket: gw.bucket, Key: plan1.key, UploadId: plan1.uploadId })),
    );
    t.true(['NoSuchUpload', 'NoSuchKey'].includes(gone?.name ?? ''), `S3 no longer knows the upload: ${gone?.name}`);
    const after = rows();
    t.is(after.get(plan1.uploadId)!.state, 'aborted');
    t.regex(after.get(plan1.uploadId)!.detail, /sweeper/);
    t.is(after.get(plan2.uploadId)!.state, 'open');
    t.is(after.get(plan3.uploadId)!.state, 'open');

    // the agent comes back to SWEEP1: a new upload, every part to send again
    const again = await begin(abandoned, 'b1-again');
    t.not(again.uploadId, plan1.uploadId, 'a new multipart upload');
    t.deepEqual(
      again.parts.map((p) => p.partNumber),
      [1, 2, 3],
    );
    t.is(rows().get(again.uploadId)?.state, 'open');
    t.true((await initiated()).has(again.uploadId));
    t.deepEqual(client.invalid, []);
    t.log(`case 6 took ${Math.round((Date.now() - t0) / 1000)} s`);
  },
);
