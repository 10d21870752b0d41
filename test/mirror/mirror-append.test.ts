/**
 * APPEND with the mirror on: each session of an open volume is mirrored in
 * turn. The bucket ends with the newest image (every session in it) as the
 * current version under the volume's key, the older image kept as an older
 * version, and a manifest listing both sessions' files; the staged files of
 * each session leave staging once their session is acknowledged.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import { decodeManifest } from '../../gateway/protocol/volume-manifest.js';
import { makeTree } from '../edge-agent/burn-kit.js';
import { rgwMissing, sharedRgw } from '../helpers/test-rgw.js';
import { getObject, makeGateway, mirroredAgent, outbox, volumeStates, waitFor } from './mirror-kit.js';

const missing = rgwMissing();
const rgwTest = missing ? test.skip : test;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

rgwTest(
  `each APPEND session is mirrored: the newest image is current, the older one kept as a version${missing ? ` [SKIPPED: ${missing}]` : ''}`,
  async (t) => {
    const rgw = await sharedRgw();
    const gw = await makeGateway(t, rgw);
    await gw.start();
    const { token } = await gw.issue('lab-1');
    const agent = await mirroredAgent(t, gw, token);
    const burn = async () => {
      const r = await agent.cli('burn', '--copies', '1', '--media', 'test-8m', '--append', '--wait', '--json');
      t.is(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };

    const first = await makeTree(path.join(agent.dir, 'a'), { 'run1/a.fits': 1_000_000, 'notes.txt': 5 });
    t.is((await agent.cli('put', path.join(agent.dir, 'a'))).code, 0);
    const vsn = (await burn()).volumes[0].vsn as string;
    await waitFor('session 1 mirrored', () => volumeStates(agent).get(vsn) === 'mirrored');

    const second = await makeTree(path.join(agent.dir, 'b'), { 'run2/c.fits': 2_000_000 });
    t.is((await agent.cli('put', path.join(agent.dir, 'b'))).code, 0);
    t.deepEqual(
      (await burn()).volumes.map((v: { vsn: string }) => v.vsn),
      [vsn],
      'the same volume',
    );
    await waitFor(
      'session 2 mirrored',
      () => volumeStates(agent).get(vsn) === 'mirrored' && outbox(agent).every((e) => e.state === 'acked'),
    );
    t.deepEqual(
      outbox(agent).map((e) => [e.session, e.state]),
      [
        [1, 'acked'],
        [2, 'acked'],
      ],
    );

    const key = `sites/lab-1/volumes/${vsn}/${vsn}.iso`;
    const versions = await gw.s3.send(new ListObjectVersionsCommand({ Bucket: gw.bucket, Prefix: key }));
    t.is(versions.Versions?.length, 2, 'both images kept, as versions');
    const image = await getObject(gw, key);
    const decoded = decodeManifest(await getObject(gw, `sites/lab-1/volumes/${vsn}/manifest.json`));
    if (!decoded.ok) return t.fail(decoded.message);
    t.is(decoded.manifest.sessions, 2);
    t.is(decoded.manifest.image.sha256, sha256(image), 'the current image is the two-session one');
    const bySession = new Map(decoded.manifest.files.map((f) => [f.path, f.session]));
    for (const p of first.keys()) t.is(bySession.get(p), 1, p);
    for (const p of second.keys()) t.is(bySession.get(p), 2, p);
    // a file of session 1, restored from the newest image by its extents
    const f = decoded.manifest.files.find((x) => x.path === 'run1/a.fits')!;
    const parts = [];
    for (const e of f.extents) parts.push(await getObject(gw, key, `bytes=${e.offset}-${e.offset + e.length - 1}`));
    t.is(sha256(Buffer.concat(parts)), sha256(first.get('run1/a.fits')!));
  },
);
