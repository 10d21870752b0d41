/**
 * Fixity at the agent, driven the way an operator would: `optarc fixity` over
 * RPC against a real agent mirroring to a real gateway on the test RGW.
 *
 * - Incremental: a pass held in the middle of a cloud check (the gateway is
 *   frozen with SIGSTOP, so the presign request waits) is killed with
 *   SIGKILL; after the restart the same pass completes the cloud checks and
 *   does not check the loaded disc again (rows counted in the catalog).
 * - A loaded disc with one flipped byte: `optarc fixity --run --wait` exits 9
 *   naming the volume and target and proposing `optarc reburn`; the catalog
 *   holds the failed check, the agent's metrics count it, and the gateway's
 *   API and metrics show it.
 * - Without the gateway the cloud checks are skipped (not failures) and the
 *   pass still finishes.
 * - The schedule starts passes by itself; a check made while the gateway is
 *   down stays unreported and reaches the gateway once it is up.
 * - Bad input: an unknown VSN (exit 4), a malformed one (exit 2).
 */
import test from 'ava';
import { AgentClient, AgentError } from '../../clients/node/agent-client.js';
import { rgwMissing, sharedRgw } from '../helpers/test-rgw.js';
import { makeGateway, waitFor } from '../mirror/mirror-kit.js';
import {
  apiVolume,
  burnTree,
  checkRows,
  fixityAgent,
  flipByte,
  gatewayFixity,
  gatewayMetrics,
  gatewayProcess,
  imageBytesOf,
  loadDisc,
  MiB,
  passRows,
  readerToken,
  waitMirrored,
} from './fixity-kit.js';

const missing = rgwMissing();
const rgwTest = missing ? test.serial.skip : test.serial;
const named = (title: string) => (missing ? `${title} [SKIPPED: ${missing}]` : title);

interface FixityJson {
  running: boolean;
  failures: number;
  lastPass: string | null;
  nextPass: string | null;
  checks: { vsn: string; target: string; ok: boolean; checkedAt: string; bytes: number; detail: string }[];
}

rgwTest(
  named(
    'a pass killed mid-way resumes without re-checking; a damaged disc fails with exit 9 and a re-burn proposal; no gateway: cloud skipped',
  ),
  async (t) => {
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    const { id: agentId, token } = await gw.issue('lab-1');
    const gateway = await gatewayProcess(t, gw);
    const agent = await fixityAgent(t, { gw, token });
    const vsns = await burnTree(agent, { 'a/one.fits': 5 * MiB, 'b/two.fits': 5 * MiB }, 'FIX');
    t.is(vsns.length, 2, `two volumes: ${vsns}`);
    const [v1, v2] = vsns as [string, string];
    await waitMirrored(agent, vsns);

    // nothing checked yet
    const empty = await agent.cli('fixity', '--json');
    t.is(empty.code, 0, empty.stderr);
    const none = JSON.parse(empty.stdout) as FixityJson;
    t.deepEqual(none.checks, []);
    t.is(none.lastPass, null);
    t.is(none.nextPass, null, 'everyHours 0: no schedule');

    // a pass held in its first cloud check (the gateway frozen), then killed
    await loadDisc(agent, v1, 'sr0');
    gateway.freeze();
    const started = await agent.cli('fixity', '--run', '--json');
    t.is(started.code, 0, started.stderr);
    t.true((JSON.parse(started.stdout) as FixityJson).running, 'FIXITY run=true answers at once, the pass running');
    await waitFor('the disc checked', () => checkRows(agent).length === 1, 60_000);
    const before = checkRows(agent);
    t.is(before[0]!.target, 'disc sr0');
    t.is(before[0]!.vsn, v1);
    t.is(before[0]!.ok, 1);
    agent.child().kill('SIGKILL');
    await new Promise((resolve) => agent.child().once('exit', resolve));
    t.is(passRows(agent).length, 1);
    t.is(passRows(agent)[0]!.finished_at, null, 'the killed pass is open');
    gateway.thaw();
    await agent.restart();

    const resumed = await agent.cli('fixity', '--wait', '--json');
    t.is(resumed.code, 0, `${resumed.stdout}${resumed.stderr}`);
    const after = checkRows(agent);
    const passes = passRows(agent);
    t.is(passes.length, 1, 'the same pass resumed, no new one');
    t.not(passes[0]!.finished_at, null, 'and finished');
    t.is(after.length, 3, `disc once, each cloud image once: ${JSON.stringify(after)}`);
    const same = (r: (typeof after)[number]) => ({ id: r.id, pass: r.pass_id, target: r.target, at: r.at, ok: r.ok });
    t.deepEqual(same(after[0]!), same(before[0]!), 'the disc check made before the kill is kept, not repeated');
    t.deepEqual(
      after
        .slice(1)
        .map((r) => `${r.pass_id} ${r.vsn} ${r.target} ${r.ok}`)
        .sort(),
      [`1 ${v1} cloud 1`, `1 ${v2} cloud 1`],
    );
    for (const r of after) t.is(r.bytes, imageBytesOf(agent, r.vsn), `${r.vsn} ${r.target}: every image byte hashed`);
    const report = JSON.parse(resumed.stdout) as FixityJson;
    t.false(report.running);
    t.is(report.failures, 0);
    t.is(report.checks.length, 3);
    t.true(report.checks.every((c) => c.ok));
    t.truthy(report.lastPass);
    let m = await agent.metrics();
    t.is(m.get('optarc_fixity_checks_total{result="ok"}'), 3);
    t.is(m.get('optarc_fixity_failures_total'), 0);
    t.true((m.get('optarc_fixity_last_pass_timestamp_seconds') ?? 0) > 0);
    t.is(m.get('optarc_fixity_pass_open'), 0);

    // every check reaches the gateway (the one made while it was frozen included)
    await waitFor('the checks reported', () => checkRows(agent).every((r) => r.reported === 1), 60_000);
    await waitFor('the gateway holds them', () => gatewayFixity(gw).length === 3, 60_000);
    const reader = await readerToken(gw);
    const api1 = await apiVolume(gw, reader, v1);
    t.is(api1.status, 200);
    t.deepEqual(api1.volume!.fixity.map((f) => `${f.target} ${f.ok}`).sort(), ['cloud true', 'disc sr0 true']);

    // one flipped byte in the loaded disc: exit 9, naming it and proposing the re-burn
    const gwFailuresBefore = (await gatewayMetrics(gw)).get('optarc_gateway_fixity_failures_total');
    t.is(gwFailuresBefore, 0);
    const bay = await loadDisc(agent, v1, 'sr0');
    await flipByte(bay, Math.floor(imageBytesOf(agent, v1) / 2));
    const damaged = await agent.cli('fixity', '--run', '--wait');
    t.is(damaged.code, 9, `${damaged.stdout}${damaged.stderr}`);
    t.regex(damaged.stderr, new RegExp(`${v1} disc sr0: the disc of ${v1} in sr0 is damaged`));
    t.regex(damaged.stderr, new RegExp(`optarc reburn ${v1}`));
    t.regex(damaged.stdout, new RegExp(`${v1}\\s+disc sr0\\s+FAILED`));
    const failedRow = checkRows(agent).find((r) => r.pass_id === 2 && r.target === 'disc sr0');
    t.truthy(failedRow);
    t.is(failedRow!.ok, 0);
    t.regex(failedRow!.detail, /SHA-256 of its \d+ image bytes is [0-9a-f]{64}, not [0-9a-f]{64}/);
    t.is(checkRows(agent).filter((r) => r.pass_id === 2).length, 3, 'pass 2 checked the disc and both cloud images');
    m = await agent.metrics();
    t.is(m.get('optarc_fixity_failures_total'), 1);
    t.is(m.get('optarc_fixity_failing'), 1);
    t.is(m.get('optarc_fixity_checks_total{result="ok"}'), 5);
    await waitFor(
      'the gateway shows the failure',
      async () =>
        (await apiVolume(gw, reader, v1)).volume?.fixity.some((f) => f.target === 'disc sr0' && !f.ok) ?? false,
      60_000,
    );
    const api2 = (await apiVolume(gw, reader, v1)).volume!;
    const disc = api2.fixity.find((f) => f.target === 'disc sr0')!;
    t.regex(disc.detail, /re-burn it from the cloud/);
    t.true(api2.fixity.find((f) => f.target === 'cloud')!.ok);
    const gm = await gatewayMetrics(gw);
    t.is(gm.get('optarc_gateway_fixity_failures_total'), 1, 'the gateway counted the failure');
    t.is(gm.get('optarc_gateway_fixity_failing'), 1);
    // the gateway's alert: a warning naming the volume, the target and the command that re-burns it
    const alert = gateway
      .log()
      .split('\n')
      .find((l) => l.includes('fixity check FAILED'));
    t.truthy(alert, `the gateway warned: ${gateway.log()}`);
    t.true(alert!.includes(v1) && alert!.includes('disc sr0'), alert);
    t.true(alert!.includes(`optarc-gateway command ${agentId} reburn ${v1}`), alert);

    // --vsn narrows the report; the failing count stays over all volumes
    const only2 = await agent.cli('fixity', '--vsn', v2, '--json');
    t.is(only2.code, 0, 'v2 has no failing check');
    const r2 = JSON.parse(only2.stdout) as FixityJson;
    t.deepEqual(
      r2.checks.map((c) => `${c.vsn} ${c.target}`),
      [`${v2} cloud`],
    );
    t.is(r2.failures, 1);

    // over RPC: paged one check at a time with cookies, every latest check once; bad cookies and counts refused
    const client = await AgentClient.connect({ host: '127.0.0.1', port: agent.rpcPort });
    t.teardown(() => client.close());
    await client.hello('fixity-test');
    const paged: string[] = [];
    let cookie = 0n;
    for (let i = 0; i < 10; i++) {
      const page = await client.fixity({ cookie, count: 1 });
      t.true(page.checks.length <= 1);
      paged.push(...page.checks.map((c) => `${c.vsn} ${c.target} ${c.ok}`));
      t.is(page.failures, 1);
      t.false(page.running);
      if (page.eof) break;
      cookie = page.cookie;
    }
    t.deepEqual(paged.sort(), [`${v1} cloud true`, `${v1} disc sr0 false`, `${v2} cloud true`].sort());
    const badCookie = await client.fixity({ cookie: 987654321n }).catch((e: unknown) => e);
    t.true(badCookie instanceof AgentError);
    t.is((badCookie as AgentError).statusName, 'OPTARC_BAD_COOKIE');
    const badCount = await client.fixity({ count: 0 }).catch((e: unknown) => e);
    t.is((badCount as AgentError).statusName, 'OPTARC_BAD_ARGUMENT');
    const badVsn = await client.fixity({ vsn: 'NOSUCH999', run: true }).catch((e: unknown) => e);
    t.is((badVsn as AgentError).statusName, 'OPTARC_NOT_FOUND');
    t.is(passRows(agent).length, 2, 'a refused FIXITY started no pass');
    await client.bye();

    // no gateway: the sound disc is checked again, the cloud images are skipped, not failed
    await gateway.stop();
    await loadDisc(agent, v1, 'sr0');
    const offline = await agent.cli('fixity', '--run', '--wait', '--json');
    t.is(offline.code, 0, `${offline.stdout}${offline.stderr}`);
    const pass3 = checkRows(agent).filter((r) => r.pass_id === 3);
    t.deepEqual(
      pass3.map((r) => `${r.target} ${r.ok}`),
      ['disc sr0 1'],
      'only the disc was checked',
    );
    t.not(passRows(agent)[2]!.finished_at, null, 'the pass finished despite the skipped cloud checks');
    const off = JSON.parse(offline.stdout) as FixityJson;
    t.is(off.failures, 0, 'the disc is sound again and nothing else failed');
    t.is(pass3[0]!.reported, 0, 'kept for the gateway');

    // bad input
    const unknown = await agent.cli('fixity', '--vsn', 'NOSUCH999');
    t.is(unknown.code, 4, unknown.stderr);
    t.regex(unknown.stderr, /no volume NOSUCH999/);
    const malformed = await agent.cli('fixity', '--vsn', 'bad vsn');
    t.is(malformed.code, 2, malformed.stderr);
  },
);

rgwTest(
  named('the schedule starts passes by itself; a check made while the gateway is down is reported once it is up'),
  async (t) => {
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    const { token } = await gw.issue('lab-1');
    // a pass every 1.8 s; the gateway not started yet
    const agent = await fixityAgent(t, { gw, token, everyHours: 0.0005 });
    const [vsn] = await burnTree(agent, { 'c/three.fits': 2 * MiB }, 'SCHED');
    t.truthy(vsn);
    await loadDisc(agent, vsn!, 'sr1');
    await waitFor(
      'a scheduled pass checked the disc',
      () => checkRows(agent).some((r) => r.target === 'disc sr1' && r.vsn === vsn),
      60_000,
    );
    const scheduled = passRows(agent);
    t.true(scheduled.length >= 1);
    t.true(
      scheduled.every((p) => p.reason === 'schedule'),
      'nobody asked: every pass came from the schedule',
    );
    const row = checkRows(agent).find((r) => r.target === 'disc sr1')!;
    t.is(row.ok, 1);
    t.is(row.reported, 0, 'no gateway session: not reported yet');
    t.false(
      checkRows(agent).some((r) => r.target === 'cloud'),
      'not mirrored yet: no cloud image to check',
    );
    const report = JSON.parse((await agent.cli('fixity', '--json')).stdout) as FixityJson;
    t.truthy(report.nextPass, 'a next pass is scheduled');
    t.true(Date.parse(report.nextPass!) > Date.parse(new Date(scheduled[0]!.started_at).toISOString()));

    await gw.start();
    await waitMirrored(agent, [vsn!]);
    await waitFor('the disc check reported', () => checkRows(agent).every((r) => r.reported === 1), 60_000);
    await waitFor(
      'the gateway holds the disc check',
      () => gatewayFixity(gw).some((f) => f.vsn === vsn && f.target === 'disc sr1' && f.ok === 1),
      60_000,
    );
    // and the next scheduled passes check the cloud image too
    await waitFor(
      'a scheduled pass checked the cloud image',
      () => checkRows(agent).some((r) => r.target === 'cloud' && r.vsn === vsn && r.ok === 1),
      60_000,
    );
    const reader = await readerToken(gw);
    await waitFor(
      'the API shows both targets',
      async () => ((await apiVolume(gw, reader, vsn!)).volume?.fixity.length ?? 0) === 2,
      60_000,
    );
    const api = await apiVolume(gw, reader, vsn!);
    t.deepEqual(api.volume!.fixity.map((f) => `${f.target} ${f.ok}`).sort(), ['cloud true', 'disc sr1 true']);
  },
);
