/**
 * The README's first command, checked end to end on the running stack (`npm
 * start`): the C client stages a small tree through the portmapper on port
 * 111 and burns it (`optarc-burn -w`); then the volume must appear in the
 * stack's bucket, image and manifest, acknowledged by the gateway, with the
 * image's SHA-256 as the agent recorded it. Run by .ci/run after `npm start`:
 *   node dist/test/stack-smoke.js
 * Prints what it checked; exits 0 when every check passed, 1 otherwise.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { decodeManifest } from '../gateway/protocol/volume-manifest.js';
import { s3ClientConfig } from '../infra/rgw/s3-config.js';
import { buildCClient, C_CLIENT } from './helpers/c-programs.js';
import { ROOT, run } from './helpers/processes.js';

async function main(): Promise<number> {
  buildCClient();
  const src = mkdtempSync(path.join(tmpdir(), 'optarc-smoke-'));
  try {
    mkdirSync(path.join(src, 'smoke'));
    const data = randomBytes(200_000);
    writeFileSync(path.join(src, 'smoke', 'frame.fits'), data);
    const put = await run(C_CLIENT.put, ['127.0.0.1', src]);
    if (put.code !== 0) throw new Error(`optarc-put failed: ${put.stderr}`);
    const burn = await run(
      C_CLIENT.burn,
      ['-w', '127.0.0.1', '--copies', '2', '--media', 'test-8m', '--label', 'SMOKE'],
      {},
      180_000,
    );
    if (burn.code !== 0) throw new Error(`optarc-burn failed: ${burn.stdout}${burn.stderr}`);
    const vsn = /\b([A-Z0-9_]+\d{6})\b/.exec(burn.stdout)?.[1];
    if (!vsn) throw new Error(`no VSN in: ${burn.stdout}`);
    console.log(`burned ${vsn} on 2 verified copies`);

    const rgw = JSON.parse(readFileSync(path.join(ROOT, 'var/rgw/rgw.json'), 'utf8'));
    const s3 = new S3Client(
      s3ClientConfig({
        endpoint: `http://127.0.0.1:${rgw.port}`,
        accessKeyId: rgw.accessKeyId,
        secretAccessKey: rgw.secretAccessKey,
      }),
    );
    const key = `sites/local/volumes/${vsn}/${vsn}.iso`;
    const manifestKey = `sites/local/volumes/${vsn}/manifest.json`;
    const deadline = Date.now() + 120_000;
    let manifest: Buffer | undefined;
    while (!manifest) {
      try {
        await s3.send(new HeadObjectCommand({ Bucket: 'optarc', Key: key }));
        const r = await s3.send(new GetObjectCommand({ Bucket: 'optarc', Key: manifestKey }));
        manifest = Buffer.from(await r.Body!.transformToByteArray());
      } catch {
        if (Date.now() > deadline) throw new Error(`${key} and its manifest did not appear in the bucket within 120 s`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const decoded = decodeManifest(manifest);
    if (!decoded.ok) throw new Error(`the manifest is invalid: ${decoded.message}`);
    const image = await s3.send(new GetObjectCommand({ Bucket: 'optarc', Key: key }));
    const bytes = Buffer.from(await image.Body!.transformToByteArray());
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== decoded.manifest.image.sha256) throw new Error(`the object's SHA-256 ${sha} is not the manifest's`);
    const file = decoded.manifest.files.find((f) => f.path.endsWith('smoke/frame.fits'));
    if (!file || file.sha256 !== createHash('sha256').update(data).digest('hex'))
      throw new Error('the manifest does not list the staged file with its SHA-256');
    s3.destroy();
    console.log(`mirrored: s3://optarc/${key} (${bytes.length} bytes, SHA-256 checked) and its manifest`);
    return 0;
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`stack smoke test failed: ${(e as Error).message}`);
    process.exit(1);
  },
);
