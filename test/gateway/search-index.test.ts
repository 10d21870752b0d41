/**
 * The manifest index, fed the way the gateway feeds it: a real agent burns
 * and mirrors a tree through `optarc-gateway serve`; each acknowledged volume
 * is then found by path substring (also across a volume boundary and with
 * SQL-looking text), by SHA-256 and by VSN, scoped to the reader's sites, in
 * a stable order with paging; a hit's extents restore the file from the image
 * object alone. `optarc-gateway reindex` rebuilds the same index from the
 * bucket's manifests; a manifest that does not check out is skipped, not indexed.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import { SqliteIndex } from '../../gateway/search/sqlite-index.js';
import { makeTree } from '../edge-agent/burn-kit.js';
import { BIN, run } from '../helpers/processes.js';
import { rgwMissing, sharedRgw } from '../helpers/test-rgw.js';
import { getObject, makeGateway, mirroredAgent, volumeStates, waitFor } from '../mirror/mirror-kit.js';

const missing = rgwMissing();
const rgwTest = missing ? test.skip : test;
const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

rgwTest(
  `acknowledged volumes are indexed, found, restorable by their extents, and reindex rebuilds the same index${missing ? ` [SKIPPED: ${missing}]` : ''}`,
  async (t) => {
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    await gw.start();
    const { token } = await gw.issue('lab-1');
    const agent = await mirroredAgent(t, gw, token, { drives: 1 });
    const files = await makeTree(path.join(agent.dir, 'src'), {
      'night1/m31.fits': 3 * MiB,
      'night1/notes.txt': 100,
      'night2/m42.fits': 4 * MiB,
      "night3/o'brien; DROP TABLE indexed_files.txt": 10,
      'night4/m31.fits': 2 * MiB,
    });
    t.is((await agent.cli('put', path.join(agent.dir, 'src'))).code, 0);
    const burn = await agent.cli('burn', '--copies', '1', '--media', 'test-8m', '--wait', '--json');
    t.is(burn.code, 0, burn.stderr);
    const vsns = [...volumeStates(agent).keys()];
    t.true(vsns.length >= 2, 'several volumes');
    await waitFor('every volume mirrored', () => [...volumeStates(agent).values()].every((s) => s === 'mirrored'));
    await gw.stop(); // the index file is read here as another process would

    const index = new SqliteIndex(gw.index);
    const live = { volumes: await index.volumes(), files: await index.findFiles({ sites: ['lab-1'], limit: 1000 }) };
    t.deepEqual(
      live.volumes.map((v) => v.vsn),
      vsns,
    );
    t.is(live.files.length, files.size);

    // by substring, across volumes, in a stable order
    const m31 = await index.findFiles({ sites: ['lab-1'], pathContains: 'm31.fits', limit: 10 });
    t.deepEqual(
      m31.map((h) => h.path),
      ['night1/m31.fits', 'night4/m31.fits'].sort((a, b) => {
        const va = live.files.find((f) => f.path === a)!.vsn;
        const vb = live.files.find((f) => f.path === b)!.vsn;
        return va === vb ? a.localeCompare(b) : va.localeCompare(vb);
      }),
    );
    // paging: one hit per page, the second page after the first hit
    const [page1] = await index.findFiles({ sites: ['lab-1'], pathContains: 'm31', limit: 1 });
    const page2 = await index.findFiles({ sites: ['lab-1'], pathContains: 'm31', limit: 1, after: page1 });
    t.is(page2.length, 1);
    t.not(page2[0]!.path + page2[0]!.vsn, page1!.path + page1!.vsn);
    // SQL-looking text is data; a short substring works without the trigram index
    t.deepEqual(
      (await index.findFiles({ sites: ['lab-1'], pathContains: "o'brien; DROP TABLE", limit: 10 })).map((h) => h.path),
      ["night3/o'brien; DROP TABLE indexed_files.txt"],
    );
    t.is((await index.findFiles({ sites: ['lab-1'], pathContains: 'm4', limit: 10 })).length, 1);
    // another site's reader sees nothing
    t.deepEqual(await index.findFiles({ sites: ['lab-2'], pathContains: 'fits', limit: 10 }), []);

    // by SHA-256; the hit's extents restore the file from the image object alone
    const want = files.get('night2/m42.fits')!;
    const [hit] = await index.findFiles({ sites: ['lab-1'], sha256: sha256(want), limit: 10 });
    t.is(hit?.path, 'night2/m42.fits');
    t.is(hit?.copies.length, 1);
    const parts: Buffer[] = [];
    for (const e of hit!.extents)
      parts.push(await getObject(gw, hit!.key, `bytes=${e.offset}-${e.offset + e.length - 1}`));
    t.true(Buffer.concat(parts).equals(want), 'restored byte-identical');
    t.is(
      (await index.findFiles({ sites: ['lab-1'], vsn: hit!.vsn, limit: 100 })).every((h) => h.vsn === hit!.vsn),
      true,
    );
    await index.close();

    // reindex from S3 alone gives the same index; a forged manifest is skipped
    await gw.s3.send(
      new PutObjectCommand({
        Bucket: gw.bucket,
        Key: 'sites/lab-1/volumes/OPT999999/manifest.json',
        Body: '{"format":"nope"}',
      }),
    );
    rmSync(gw.index);
    const r = await run(BIN.gateway, ['reindex', '--config', gw.config]);
    t.is(r.code, 1, 'a skipped manifest is reported with exit 1');
    const result = JSON.parse(r.stdout);
    t.is(result.volumes, vsns.length);
    t.is(result.files, files.size);
    t.deepEqual(
      result.skipped.map((s: { key: string }) => s.key),
      ['sites/lab-1/volumes/OPT999999/manifest.json'],
    );
    const rebuilt = new SqliteIndex(gw.index);
    t.deepEqual(await rebuilt.volumes(), live.volumes);
    t.deepEqual(await rebuilt.findFiles({ sites: ['lab-1'], limit: 1000 }), live.files);
    await rebuilt.close();
  },
);
