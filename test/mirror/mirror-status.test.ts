/**
 * Operating the mirror, end to end: a real `optarc-gateway serve` on the test
 * RGW (with an admin token) and a real burning agent with its metrics
 * endpoint on. Through `optarc-gateway command` an operator throttles the
 * agent (its /metrics shows the limit, the command is answered ok), pauses it
 * (a volume burned meanwhile stays finished and queued, nothing reaches the
 * gateway), resumes it (`optarc status` shows the volume mirroring with a live
 * percent, then mirrored), and asks it to verify a volume: intact, then, with a
 * byte of a shelf copy changed, DAMAGED. The gateway's /metrics counts the
 * mirrors; a wrong admin token is 401 and an unknown agent 404.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import type { MirrorEntry, VolumeRow } from '../../edge-agent/catalog/catalog.js';
import { releaseWriteOnce } from '../../edge-agent/drives/stand-in-medium.js';
import { mirrorFamilies, render } from '../../edge-agent/metrics/index.js';
import type { MirrorStatus } from '../../edge-agent/mirror/mirror-service.js';
import { volumeMirrorState } from '../../edge-agent/service/burn-procedures.js';
import { makeTree, startBurnAgent } from '../edge-agent/burn-kit.js';
import { parseMetrics } from '../helpers/metrics-text.js';
import { BIN, freePort, run } from '../helpers/processes.js';
import { rgwMissing, sharedRgw } from '../helpers/test-rgw.js';
import { makeGateway, outbox, volumeStates, waitFor } from './mirror-kit.js';

const MiB = 1024 * 1024;
const ADMIN = 'mirror-status-admin-token-0123456789';
const missing = rgwMissing();
const rgwTest = missing ? test.skip : test;

async function scrape(url: string, token?: string): Promise<Map<string, number>> {
  const r = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status}`);
  return parseMetrics(await r.text());
}

interface VolumeJson {
  vsn: string;
  state: string;
  percent: number;
  mirror?: { state: string; percent: number; paused: boolean; disconnected: boolean; lastError: string };
}

rgwTest(
  `operator commands steer a real agent's mirror: throttle, pause, resume, verify; status and metrics show it${missing ? ` [SKIPPED: ${missing}]` : ''}`,
  async (t) => {
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    // the operator's API needs the admin token
    const gwConfig = JSON.parse(await fs.readFile(gw.config, 'utf8'));
    gwConfig.gateway.adminToken = ADMIN;
    await fs.writeFile(gw.config, JSON.stringify(gwConfig));
    const { id, token } = await gw.issue('lab-1');
    await gw.start();

    const metricsPort = await freePort();
    const agent = await startBurnAgent(t, {
      drives: 2,
      extra: {
        burn: { site: 'lab-1' },
        mirror: { gatewayUrl: gw.url, token, reconnectMinSeconds: 0.2, reconnectMaxSeconds: 2 },
        metrics: { enabled: true, host: '127.0.0.1', port: metricsPort },
      },
    });
    const agentMetrics = () => scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    const gatewayMetrics = () => scrape(`http://127.0.0.1:${gw.port}/metrics`, ADMIN);
    const command = (...args: string[]) =>
      run(BIN.gateway, ['command', id, ...args, '--config', gw.config], {}, 60_000);
    const jobStatus = async (job: string) => {
      const r = await agent.cli('status', job, '--json');
      if (r.code !== 0) throw new Error(`optarc status: ${r.stderr}`);
      return JSON.parse(r.stdout) as { stateName: string; volumes: VolumeJson[] };
    };

    await waitFor(
      'the agent connected',
      async () => (await agentMetrics()).get('optarc_mirror_connected') === 1,
      30_000,
    );
    t.is((await gatewayMetrics()).get('optarc_gateway_connections'), 1);
    t.is((await agentMetrics()).get('optarc_mirror_rate_limit_bytes_per_second'), Number.POSITIVE_INFINITY);

    // throttle: answered ok, and the agent's limit is the operator's
    const throttle = await command('throttle', '1M', '--wait');
    t.is(throttle.code, 0, throttle.stderr);
    t.regex(throttle.stdout, /throttle: ok: upload limit 1048576 bytes\/s/);
    t.is((await agentMetrics()).get('optarc_mirror_rate_limit_bytes_per_second'), MiB);

    // pause, then burn: the volumes are finished and stay queued, the gateway is asked nothing
    const pause = await command('pause', '--reason', 'test window', '--wait');
    t.is(pause.code, 0, pause.stderr);
    t.regex(pause.stdout, /pause: ok: paused/);
    t.is((await agentMetrics()).get('optarc_mirror_paused'), 1);

    const src = path.join(agent.dir, 'src');
    await makeTree(src, { 'night1/a.fits': 5 * MiB + 3, 'night1/b.txt': 100, 'night2/c.fits': 4 * MiB });
    const put = await agent.cli('put', src);
    t.is(put.code, 0, put.stderr);
    const burn = await agent.cli(
      'burn',
      '--copies',
      '2',
      '--media',
      'test-8m',
      '--label',
      'PAUSED',
      '--wait',
      '--json',
    );
    t.is(burn.code, 0, burn.stderr);
    const job = String(JSON.parse(burn.stdout).job);
    const states = volumeStates(agent);
    t.true(states.size >= 2, `several volumes: ${[...states]}`);
    await new Promise((r) => setTimeout(r, 3000)); // longer than the mirror's idle poll
    t.deepEqual(new Set(volumeStates(agent).values()), new Set(['finished']), 'paused: nothing mirrored');
    t.true(outbox(agent).every((e) => e.state === 'queued'));
    const gwDb = () => new Database(gw.store, { readonly: true });
    let db = gwDb();
    t.is((db.prepare('SELECT COUNT(*) AS n FROM uploads').get() as { n: number }).n, 0, 'no upload was begun');
    db.close();
    t.is((await agentMetrics()).get('optarc_mirror_queue_volumes'), states.size);

    const queued = await jobStatus(job);
    t.is(queued.stateName, 'done');
    for (const v of queued.volumes) {
      t.is(v.state, 'queued for mirror (paused)', v.vsn);
      t.like(v.mirror, { state: 'queued', paused: true, disconnected: false, lastError: '' });
    }
    const text = await agent.cli('status', job);
    t.regex(text.stdout, /OPT\d+ queued for mirror 0% \[-+\]\n {4}paused/);

    // resume: the volumes go up, at 1 MiB/s slowly enough to see one mirroring with a live percent
    const resume = await command('resume', '--wait');
    t.is(resume.code, 0, resume.stderr);
    t.regex(resume.stdout, /resume: ok: resumed/);
    let live: VolumeJson | undefined;
    await waitFor(
      'a volume mirroring part way',
      async () => {
        live = (await jobStatus(job)).volumes.find(
          (v) => v.mirror?.state === 'mirroring' && v.percent > 0 && v.percent < 100,
        );
        return live !== undefined;
      },
      60_000,
    );
    t.is(live!.state, 'mirroring');
    const during = await agentMetrics();
    t.is(during.get('optarc_mirror_paused'), 0);
    t.true((during.get(`optarc_mirror_upload_bytes{vsn="${live!.vsn}"}`) ?? 0) > 0);

    // lifting the limit over the API (null) lets the rest go at full speed
    const lift = await command('throttle', 'none', '--wait');
    t.is(lift.code, 0, lift.stderr);
    t.is((await agentMetrics()).get('optarc_mirror_rate_limit_bytes_per_second'), Number.POSITIVE_INFINITY);
    await waitFor('every volume mirrored', () => [...volumeStates(agent).values()].every((s) => s === 'mirrored'));

    const mirrored = await jobStatus(job);
    t.deepEqual(
      mirrored.volumes.map((v) => [v.vsn, v.state, v.percent, v.mirror?.state]),
      [...states.keys()].map((vsn) => [vsn, 'mirrored', 100, 'mirrored']),
    );
    t.regex((await agent.cli('status', job)).stdout, /OPT\d+ mirrored 100% \[#+\]/);
    const after = await agentMetrics();
    t.is(after.get('optarc_mirror_queue_volumes'), 0);
    t.is(after.get('optarc_mirror_volumes_mirrored_total'), states.size);
    t.true((after.get('optarc_mirror_bytes_sent_total') ?? 0) >= 9 * MiB);
    t.is(after.get('optarc_mirror_failures_total'), 0);
    t.is(after.get('optarc_volumes{state="mirrored"}'), states.size);
    const gm = await gatewayMetrics();
    t.is(gm.get('optarc_gateway_mirrors_total'), states.size);
    t.is(gm.get('optarc_gateway_uploads{state="done"}'), states.size);
    t.true((gm.get('optarc_gateway_mirrored_bytes_total') ?? 0) >= 9 * MiB);

    // verify: every copy intact; then one byte of a copy changed: DAMAGED, and the command failed
    const vsn = [...states.keys()][0]!;
    const verify = await command('verify', vsn, '--wait');
    t.is(verify.code, 0, verify.stderr);
    t.regex(verify.stdout, new RegExp(`verify: ok: ${vsn}: copy 1: intact; copy 2: intact`));

    const catalog = new Database(path.join(agent.state, 'catalog.sqlite'), { readonly: true });
    const copy = catalog
      .prepare(
        `SELECT c.medium, v.image_bytes AS bytes FROM copies c JOIN volumes v ON v.id = c.volume_id
         WHERE v.vsn = ? AND c.copy_no = 2 AND c.state = 'verified'`,
      )
      .get(vsn) as { medium: string; bytes: number | bigint };
    catalog.close();
    t.truthy(copy?.medium?.startsWith('/'), `copy 2 of ${vsn} is at hand: ${copy?.medium}`);
    await releaseWriteOnce(path.dirname(copy.medium)); // a closed disc is immutable (chattr +i)
    await fs.chmod(copy.medium, 0o644);
    const fh = await fs.open(copy.medium, 'r+');
    try {
      const at = Math.floor(Number(copy.bytes) / 2);
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, at);
      b[0] = b[0]! ^ 0xff;
      await fh.write(b, 0, 1, at);
    } finally {
      await fh.close();
    }
    const damaged = await command('verify', vsn, '--wait', '--json');
    t.is(damaged.code, 1, damaged.stderr);
    const row = JSON.parse(damaged.stdout);
    t.like(row, { agentId: id, type: 'verify', state: 'failed', args: { vsn } });
    t.regex(row.detail, /copy 1: intact; copy 2: DAMAGED/);

    // the gateway's record of every command
    db = gwDb();
    const commands = db.prepare('SELECT type, state FROM commands ORDER BY created_at, rowid').all();
    db.close();
    t.deepEqual(commands, [
      { type: 'throttle', state: 'ok' },
      { type: 'pause', state: 'ok' },
      { type: 'resume', state: 'ok' },
      { type: 'throttle', state: 'ok' },
      { type: 'verify', state: 'ok' },
      { type: 'verify', state: 'failed' },
    ]);
    const gc = await gatewayMetrics();
    t.is(gc.get('optarc_gateway_commands{state="ok"}'), 5);
    t.is(gc.get('optarc_gateway_commands{state="failed"}'), 1);

    // who may ask
    const wrong = await fetch(`http://127.0.0.1:${gw.port}/agents/${id}/commands`, {
      method: 'POST',
      headers: { authorization: 'Bearer this-is-not-the-admin-token', 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'pause' }),
    });
    t.is(wrong.status, 401);
    const unknown = await run(BIN.gateway, ['command', 'ffffffffffffffff', 'pause', '--config', gw.config]);
    t.is(unknown.code, 1);
    t.regex(unknown.stderr, /404: there is no agent ffffffffffffffff/);
    t.is((await agentMetrics()).get('optarc_mirror_paused'), 0, 'the refused pause changed nothing');
  },
);

// --- the pieces, without an agent ---------------------------------------------------

const idle: MirrorStatus = {
  connected: true,
  gatewayError: '',
  paused: false,
  outsideSchedule: false,
  bytesPerSecond: null,
  queued: 1,
  current: null,
  lastError: '',
  bytesSent: 0,
  volumesMirrored: 0,
  failures: 0,
};

function volume(over: Partial<VolumeRow> = {}): VolumeRow {
  return { id: 7, vsn: 'OPT000007', state: 'finished', sessions: 1, imageBytes: 1000n, ...over } as VolumeRow;
}

function entry(over: Partial<MirrorEntry> = {}): MirrorEntry {
  return {
    id: 1,
    volumeId: 7,
    session: 1,
    state: 'queued',
    uploadId: null,
    bytesDone: 0,
    attempts: 0,
    lastError: '',
    key: null,
    versionId: null,
    createdAt: 0,
    updatedAt: 0,
    ackedAt: null,
    ...over,
  };
}

test("a finished volume's mirror state: queued (with notes), mirroring with the live percent, mirrored", (t) => {
  const view = (entries: MirrorEntry[]) => ({ outbox: () => entries, status: () => idle });
  t.deepEqual(volumeMirrorState(volume(), view([entry()]), idle), { state: 'queued for mirror', percent: 0 });
  t.deepEqual(volumeMirrorState(volume({ state: 'mirrored' }), view([]), idle), { state: 'mirrored', percent: 100 });
  t.deepEqual(volumeMirrorState(volume(), view([entry({ state: 'acked' })]), idle), {
    state: 'mirrored',
    percent: 100,
  });
  t.is(volumeMirrorState(volume(), view([]), idle), undefined, 'no outbox entry: left as finished');
  t.is(volumeMirrorState(volume({ sessions: 2 }), view([entry()]), idle), undefined, "an older session's entry");

  // a resumable upload waiting, with its last error (one line) and the controls
  t.deepEqual(
    volumeMirrorState(volume(), view([entry({ state: 'uploading', bytesDone: 250, lastError: 'S3 said\nSlowDown' })]), {
      ...idle,
      paused: true,
      connected: false,
    }),
    { state: 'queued for mirror (paused, gateway not connected, last error: S3 said SlowDown)', percent: 25 },
  );
  // the one going up now: live bytes, no stale error
  t.deepEqual(
    volumeMirrorState(volume(), view([entry({ state: 'uploading', bytesDone: 100, lastError: 'old' })]), {
      ...idle,
      current: { vsn: 'OPT000007', bytesDone: 640, bytes: 1000 },
    }),
    { state: 'mirroring', percent: 64 },
  );
  // the contract's 255 bytes, cut on a character boundary
  const long = volumeMirrorState(volume(), view([entry({ lastError: 'é'.repeat(300) })]), idle)!;
  t.true(Buffer.byteLength(long.state) <= 255, String(Buffer.byteLength(long.state)));
  t.regex(long.state, /^queued for mirror \(last error: é+\.\.\.$/);
});

test("the mirror's metric families: connected, paused, limit (+Inf when none), queue, the upload going on, counters", (t) => {
  const text = render(
    mirrorFamilies({
      ...idle,
      paused: true,
      bytesPerSecond: 2048,
      queued: 3,
      current: { vsn: 'OPT000002', bytesDone: 10, bytes: 99 },
      bytesSent: 12345,
      volumesMirrored: 2,
      failures: 1,
      lastError: 'x',
    }),
  );
  const m = parseMetrics(text);
  t.is(m.get('optarc_mirror_connected'), 1);
  t.is(m.get('optarc_mirror_paused'), 1);
  t.is(m.get('optarc_mirror_rate_limit_bytes_per_second'), 2048);
  t.is(m.get('optarc_mirror_queue_volumes'), 3);
  t.is(m.get('optarc_mirror_upload_bytes_done{vsn="OPT000002"}'), 10);
  t.is(m.get('optarc_mirror_upload_bytes{vsn="OPT000002"}'), 99);
  t.is(m.get('optarc_mirror_bytes_sent_total'), 12345);
  t.is(m.get('optarc_mirror_volumes_mirrored_total'), 2);
  t.is(m.get('optarc_mirror_failures_total'), 1);
  t.is(m.get('optarc_mirror_last_error'), 1);
  t.regex(text, /# TYPE optarc_mirror_bytes_sent_total counter/);
  const none = parseMetrics(render(mirrorFamilies(idle)));
  t.is(none.get('optarc_mirror_rate_limit_bytes_per_second'), Number.POSITIVE_INFINITY);
  t.false(
    [...none.keys()].some((k) => k.startsWith('optarc_mirror_upload_bytes')),
    'no upload, no series',
  );
});
