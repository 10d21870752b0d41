/**
 * Fixity at the gateway: a real agent mirroring to `optarc-gateway serve` on
 * the test RGW checks its cloud image (`optarc fixity --run --wait`); the
 * gateway's search API shows the check (validated against the served OpenAPI
 * schema), its /metrics count failures, and the search page in Chromium shows
 * a failed check on the volume view.
 *
 * How the cloud copy is damaged, honestly: S3 versions are immutable (an
 * overwrite of the key is a new version, and the agent reads the version it
 * had acknowledged), so bit rot inside the acknowledged version cannot be
 * made through S3. The test stores the image with one flipped byte as a new
 * version of the same key and, with the agent stopped, points the agent's
 * acknowledged mirror at that version: the agent then reads, through the
 * gateway's presigned ranged GETs, bytes that differ from its image by one
 * byte, which is exactly what rot in the stored version would look like.
 * Then that version is deleted outright (DeleteObject with its VersionId): the
 * object the agent trusts is gone, the other failure fixity must catch.
 *
 * The store's bookkeeping is checked directly too: an older or repeated report
 * replaces nothing and counts no failure twice.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import test from 'ava';
import Database from 'better-sqlite3';
import { chromium } from 'playwright-core';
import { type FixityRow, GatewayStore } from '../../gateway/store/gateway-store.js';
import {
  apiVolume,
  burnTree,
  checkRows,
  fixityAgent,
  gatewayFixity,
  gatewayMetrics,
  MiB,
  readerToken,
  waitMirrored,
} from '../edge-agent/fixity-kit.js';
import { rgwMissing, sharedRgw } from '../helpers/test-rgw.js';
import { makeGateway, waitFor } from '../mirror/mirror-kit.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = rgwMissing() ?? (existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (infra/install.sh)`);
const e2eTest = missing ? test.skip : test;

interface FixityJson {
  failures: number;
  checks: { vsn: string; target: string; ok: boolean; bytes: number; detail: string }[];
}

e2eTest(
  `a damaged and then a lost cloud image: exit 9, the gateway's API, metrics and page show the failure${missing ? ` [SKIPPED: ${missing}]` : ''}`,
  async (t) => {
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    const { token } = await gw.issue('lab-1');
    await gw.start();
    const agent = await fixityAgent(t, { gw, token });
    const [vsn] = await burnTree(agent, { 'x/four.fits': 3 * MiB + 11 }, 'CLOUD');
    t.truthy(vsn);
    await waitMirrored(agent, [vsn!]);

    // the OpenAPI description the gateway serves, to validate its answers with
    const doc = (await (await fetch(`http://127.0.0.1:${gw.port}/api/v1/openapi.json`)).json()) as any;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema({ $id: 'openapi', components: doc.components });
    const schemaOf = (route: string) =>
      JSON.parse(
        JSON.stringify(doc.paths[route].get.responses['200'].content['application/json'].schema).replaceAll(
          '"#/components',
          '"openapi#/components',
        ),
      );
    const validVolume = ajv.compile(schemaOf('/api/v1/volumes/{site}/{vsn}'));
    const validList = ajv.compile(schemaOf('/api/v1/volumes'));
    const reader = await readerToken(gw);

    // before any check: the field is there, empty
    let api = await apiVolume(gw, reader, vsn!);
    t.is(api.status, 200);
    t.deepEqual(api.volume?.fixity, []);
    t.true(validVolume({ volume: api.volume }), ajv.errorsText(validVolume.errors));

    // a sound cloud image
    const sound = await agent.cli('fixity', '--run', '--wait', '--json');
    t.is(sound.code, 0, `${sound.stdout}${sound.stderr}`);
    const ok = JSON.parse(sound.stdout) as FixityJson;
    t.deepEqual(
      ok.checks.map((c) => `${c.vsn} ${c.target} ${c.ok}`),
      [`${vsn} cloud true`],
    );
    await waitFor('the gateway shows the check', async () => {
      const v = (await apiVolume(gw, reader, vsn!)).volume;
      return v?.fixity.length === 1;
    });
    api = await apiVolume(gw, reader, vsn!);
    t.true(validVolume({ volume: api.volume }), ajv.errorsText(validVolume.errors));
    const cloudOk = api.volume?.fixity[0];
    if (!cloudOk) return t.fail('no fixity check shown');
    t.is(cloudOk.target, 'cloud');
    t.true(cloudOk.ok);
    t.is(cloudOk.bytes, ok.checks[0]!.bytes);
    t.is(cloudOk.detail, '');
    const list = (await (
      await fetch(`http://127.0.0.1:${gw.port}/api/v1/volumes?site=lab-1`, {
        headers: { authorization: `Bearer ${reader}` },
      })
    ).json()) as { volumes: { vsn: string; fixity: unknown[] }[] };
    t.true(validList(list), ajv.errorsText(validList.errors));
    t.is(list.volumes.find((v) => v.vsn === vsn)!.fixity.length, 1, 'the volume list carries fixity too');
    t.is((await gatewayMetrics(gw)).get('optarc_gateway_fixity_failures_total'), 0);
    t.is((await gatewayMetrics(gw)).get('optarc_gateway_fixity_targets'), 1);

    // damage: the image with one flipped byte as a new version, the agent's acknowledged mirror pointed at it
    const catalogFile = path.join(agent.state, 'catalog.sqlite');
    const acked = (() => {
      const db = new Database(catalogFile, { readonly: true });
      try {
        return db
          .prepare(
            `SELECT m.s3_key AS key, m.version_id AS versionId FROM mirror_outbox m JOIN volumes v ON v.id = m.volume_id
             WHERE v.vsn = ? AND m.state = 'acked'`,
          )
          .get(vsn) as { key: string; versionId: string };
      } finally {
        db.close();
      }
    })();
    const got = await gw.s3.send(
      new GetObjectCommand({ Bucket: gw.bucket, Key: acked.key, VersionId: acked.versionId }),
    );
    const image = Buffer.from(await got.Body!.transformToByteArray());
    const at = Math.floor(image.length / 3);
    image[at] = image[at]! ^ 0x01;
    const put = await gw.s3.send(new PutObjectCommand({ Bucket: gw.bucket, Key: acked.key, Body: image }));
    t.truthy(put.VersionId);
    t.not(put.VersionId, acked.versionId);
    await agent.stop();
    const rw = new Database(catalogFile);
    rw.prepare('UPDATE mirror_outbox SET version_id = ? WHERE s3_key = ? AND version_id = ?').run(
      put.VersionId,
      acked.key,
      acked.versionId,
    );
    rw.close();
    await agent.restart();

    const damaged = await agent.cli('fixity', '--run', '--wait');
    t.is(damaged.code, 9, `${damaged.stdout}${damaged.stderr}`);
    t.log(damaged.stdout, damaged.stderr);
    t.regex(
      damaged.stderr,
      new RegExp(
        `${vsn} cloud: SHA-256 of ${acked.key} \\(version ${put.VersionId}\\) is [0-9a-f]{64}, not [0-9a-f]{64}`,
      ),
    );
    t.regex(damaged.stderr, /do not re-burn from it/);
    const failedRows = checkRows(agent).filter((r) => r.target === 'cloud' && r.ok === 0);
    t.is(failedRows.length, 1, 'the catalog holds the failed check');
    await waitFor('the gateway shows the failure', async () => {
      const v = (await apiVolume(gw, reader, vsn!)).volume;
      return v?.fixity[0]?.ok === false;
    });
    api = await apiVolume(gw, reader, vsn!);
    t.true(validVolume({ volume: api.volume }), ajv.errorsText(validVolume.errors));
    t.regex(api.volume?.fixity[0]?.detail ?? '', /is [0-9a-f]{64}, not [0-9a-f]{64}/);
    let gm = await gatewayMetrics(gw);
    t.is(gm.get('optarc_gateway_fixity_failures_total'), 1, 'the failure counter rose');
    t.is(gm.get('optarc_gateway_fixity_failing'), 1);

    // the page shows it on the volume view
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 30_000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    t.teardown(() => browser.close());
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`http://127.0.0.1:${gw.port}/search`);
    await page.getByLabel('Reader token').fill(reader);
    await page.locator('#save-token').click();
    await page.goto(`http://127.0.0.1:${gw.port}/search#volume?site=lab-1&vsn=${vsn}`);
    const item = page.locator('[data-testid="fixity-check"][data-target="cloud"]');
    await item.waitFor();
    t.is(await item.getAttribute('data-ok'), 'false');
    const text = (await item.textContent()) ?? '';
    t.regex(text, /^cloud: FAILED, checked \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    t.regex(text, /do not re-burn from it/);
    t.is(await page.locator('[data-testid="volume-fixity"]').getAttribute('data-failed'), '1');
    await fs.mkdir(path.resolve('var/screenshots'), { recursive: true });
    await page.screenshot({ path: path.resolve('var/screenshots/fixity-volume.png'), fullPage: true });

    // lost: the version the agent trusts is deleted outright
    await gw.s3.send(new DeleteObjectCommand({ Bucket: gw.bucket, Key: acked.key, VersionId: put.VersionId }));
    const lost = await agent.cli('fixity', '--run', '--wait', '--json');
    t.is(lost.code, 9, `${lost.stdout}${lost.stderr}`);
    const lostJson = JSON.parse(lost.stdout) as FixityJson;
    t.regex(
      lostJson.checks[0]!.detail,
      new RegExp(`version ${put.VersionId}\\) is gone from the bucket.*S3 answered 404`),
    );
    await waitFor('the gateway counted the second failure', async () => {
      return (await gatewayMetrics(gw)).get('optarc_gateway_fixity_failures_total') === 2;
    });
    gm = await gatewayMetrics(gw);
    t.is(gm.get('optarc_gateway_fixity_failing'), 1, 'still one target failing');
    t.is(gatewayFixity(gw).length, 1);
  },
);

test('the gateway store keeps the newest check per target and counts each failure once', (t) => {
  const dir = path.join(os.tmpdir(), `optarc-fixity-store-${process.pid}-${Date.now()}`);
  const store = new GatewayStore(path.join(dir, 'gateway.sqlite'));
  t.teardown(async () => {
    store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const row = (target: string, ok: boolean, checkedAt: number): FixityRow => ({
    site: 'lab-1',
    vsn: 'OPTA000001',
    target,
    ok,
    checkedAt,
    bytes: 100,
    detail: ok ? '' : 'bad',
    agentId: '0123456789abcdef',
  });
  t.is(store.recordFixity([row('cloud', false, 2000), row('disc sr0', true, 2000)], 1).length, 2);
  t.is(store.recordFixity([row('cloud', false, 2000)], 2).length, 0, 'a repeated report keeps nothing');
  t.is(store.recordFixity([row('cloud', true, 1000)], 3).length, 0, 'an older one replaces nothing');
  let c = store.counts(5).fixity;
  t.deepEqual(c, { targets: 2, failing: 1, failuresTotal: 1 });
  t.is(store.recordFixity([row('cloud', true, 3000)], 4).length, 1, 'a newer one is kept');
  c = store.counts(5).fixity;
  t.deepEqual(c, { targets: 2, failing: 0, failuresTotal: 1 }, 'the counter keeps the past failure');
  t.is(store.recordFixity([row('cloud', false, 4000)], 5).length, 1);
  t.deepEqual(store.counts(5).fixity, { targets: 2, failing: 1, failuresTotal: 2 });
  const held = store.fixityOf([{ site: 'lab-1', vsn: 'OPTA000001' }]).get('lab-1/OPTA000001')!;
  t.deepEqual(
    held.map((f) => `${f.target} ${f.ok} ${f.checkedAt}`),
    ['cloud false 4000', 'disc sr0 true 2000'],
  );
  t.deepEqual(store.fixityOf([{ site: 'lab-2', vsn: 'OPTA000001' }]).get('lab-2/OPTA000001'), [], 'per site');
});
