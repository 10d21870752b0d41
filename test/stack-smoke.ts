/**
 * The README's first command, checked end to end on the running stack (`npm
 * start`): the C client stages a small tree through the portmapper on port
 * 111 and burns it (`optarc-burn -w`); then the volume must appear in the
 * stack's bucket, image and manifest, acknowledged by the gateway, with the
 * image's SHA-256 as the agent recorded it. Then the search: the file is found
 * by substring, glob, SHA-256 and date through the API (with the stack's reader
 * token, var/stack/reader.token) and the CLI (`optarc find`, `optarc whereis`),
 * and its restore links download it byte-identical. Then getting it back from
 * the agent as a legacy client does: the C client (`optarc-get`) finds it in
 * the agent's catalog over RPC and retrieves it offline (no disc is loaded: the
 * stand-ins shelve what they burn, so it comes from the cloud copy by ranged
 * GETs), byte-identical; `optarc locate` places it; `optarc fixity --run
 * --wait` re-hashes the cloud image. Run by .ci/run after `npm start`:
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
    await searchChecks(vsn, data);
    await retrievalChecks(vsn, data, src);
    return 0;
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}

/** The burned file, found through the search API and the CLI, restored by its range links. */
async function searchChecks(vsn: string, data: Buffer): Promise<void> {
  const token = readFileSync(path.join(ROOT, 'var/stack/reader.token'), 'utf8').trim();
  const sha = createHash('sha256').update(data).digest('hex');
  const today = new Date().toISOString().slice(0, 10);
  const api = async (query: string) => {
    const r = await fetch(`http://127.0.0.1:8780/api/v1/files?${query}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (r.status !== 200) throw new Error(`GET /api/v1/files?${query}: ${r.status} ${await r.text()}`);
    return (await r.json()) as {
      files: { vsn: string; path: string; restore: { ranges: { url: string; range: string }[] } }[];
    };
  };
  for (const query of [
    'q=smoke/frame',
    `glob=${encodeURIComponent('*smoke/frame.f?ts')}`,
    `sha256=${sha}`,
    `newSince=${today}&q=frame.fits`,
    `modifiedFrom=${today}&q=frame.fits`,
  ]) {
    const hits = (await api(query)).files.filter((f) => f.vsn === vsn);
    if (hits.length !== 1) throw new Error(`the API's ${query} found ${hits.length} hits on ${vsn}, not 1`);
  }
  const [hit] = (await api(`sha256=${sha}`)).files.filter((f) => f.vsn === vsn);
  const parts: Buffer[] = [];
  for (const r of hit!.restore.ranges) {
    const res = await fetch(r.url, { headers: { range: r.range } });
    if (res.status !== 206) throw new Error(`restore range ${r.range}: HTTP ${res.status}`);
    parts.push(Buffer.from(await res.arrayBuffer()));
  }
  if (!Buffer.concat(parts).equals(data)) throw new Error('the restore links did not give back the file');
  console.log(
    `found ${hit!.path} on ${vsn} by substring, glob, SHA-256 and date; restored byte-identical by its range links`,
  );

  const cli = (...args: string[]) =>
    run(path.join(ROOT, 'dist/clients/node/cli.js'), [
      ...args,
      '--reader-token-file',
      path.join(ROOT, 'var/stack/reader.token'),
    ]);
  const find = await cli('find', 'smoke/frame', '--json');
  if (find.code !== 0 || !JSON.parse(find.stdout).some((f: { vsn: string }) => f.vsn === vsn))
    throw new Error(`optarc find did not find it (exit ${find.code}): ${find.stderr}`);
  const where = await cli('whereis', sha);
  if (where.code !== 0 || !where.stdout.includes(`volume ${vsn} at site local`) || !where.stdout.includes('curl'))
    throw new Error(`optarc whereis did not place it (exit ${where.code}): ${where.stdout}${where.stderr}`);
  const none = await cli('whereis', 'no/such/file');
  if (none.code !== 7) throw new Error(`optarc whereis of a missing file exited ${none.code}, not 7`);
  console.log(`optarc find and optarc whereis place it on ${vsn}`);
}

/** The file got back from the agent: found in its catalog and retrieved from the cloud copy, through C and the CLI. */
async function retrievalChecks(vsn: string, data: Buffer, scratch: string): Promise<void> {
  const sha = createHash('sha256').update(data).digest('hex');
  const find = await run(C_CLIENT.get, ['127.0.0.1', 'find', '--glob', '--vsn', vsn, '*smoke/frame.fits']);
  const line = find.stdout.split('\n').find((l) => l.includes(sha));
  if (find.code !== 0 || !line)
    throw new Error(`optarc-get find did not list it (exit ${find.code}): ${find.stdout}${find.stderr}`);
  const archived = line.slice(line.indexOf(sha) + sha.length).trim();
  const out = path.join(scratch, 'retrieved.fits');
  const get = await run(
    C_CLIENT.get,
    ['127.0.0.1', 'get', '--offline', '--priority', '1', '--wait', '-o', out, '--vsn', vsn, archived],
    {},
    180_000,
  );
  if (get.code !== 0) throw new Error(`optarc-get get --offline failed (exit ${get.code}): ${get.stdout}${get.stderr}`);
  if (!readFileSync(out).equals(data)) throw new Error('optarc-get did not give back the file byte-identical');
  console.log(`optarc-get found ${archived} in the agent's catalog and retrieved it offline, byte-identical`);

  const cli = (...args: string[]) => run(path.join(ROOT, 'dist/clients/node/cli.js'), args, {}, 180_000);
  const locate = await cli('locate', sha);
  if (locate.code !== 0 || !locate.stdout.includes(vsn))
    throw new Error(`optarc locate did not place it on ${vsn} (exit ${locate.code}): ${locate.stdout}${locate.stderr}`);
  const fixity = await cli('fixity', '--run', '--wait', '--vsn', vsn, '--json');
  if (fixity.code !== 0)
    throw new Error(`optarc fixity --run --wait exited ${fixity.code}: ${fixity.stdout}${fixity.stderr}`);
  if (!fixity.stdout.includes('cloud'))
    throw new Error(`optarc fixity did not report the cloud image: ${fixity.stdout}`);
  console.log(`optarc locate places it on ${vsn}; optarc fixity re-hashed the cloud image: ok`);
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`stack smoke test failed: ${(e as Error).message}`);
    process.exit(1);
  },
);
