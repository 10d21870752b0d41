/**
 * The search from a shell: reader tokens made and revoked with
 * `optarc-gateway readers`, then `optarc find` and `optarc whereis` against
 * the gateway, in both output forms, with their exit codes; and the curl line
 * whereis prints, run by a real shell, restores a three-extent file exactly.
 */

import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { BIN, run } from '../helpers/processes.js';
import { rgwMissing } from '../helpers/test-rgw.js';
import { startSearchGateway } from './search-kit.js';

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const why = rgwMissing();

(why ? test.skip : test)('readers, optarc find and optarc whereis from the shell', async (t) => {
  const gw = await startSearchGateway(t);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'optarc-search-cli-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'gateway.json');
  await fs.writeFile(config, JSON.stringify({ gateway: { store: gw.storeFile } }));
  const gateway = (...args: string[]) => run(BIN.gateway, [...args, '--config', config]);

  // readers: issued once, listed without their tokens, refused without a site
  const add = await gateway('readers', 'add', '--site', 'lab-1', '--name', 'night shift', '--json');
  t.is(add.code, 0, add.stderr);
  const reader = JSON.parse(add.stdout);
  t.regex(reader.token, /^or_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  t.deepEqual(reader.sites, ['lab-1']);
  const list = await gateway('readers', 'list', '--json');
  t.is(list.code, 0);
  t.true(
    JSON.parse(list.stdout).some((r: { id: string; name: string }) => r.id === reader.id && r.name === 'night shift'),
  );
  t.false(list.stdout.includes(reader.token), 'tokens are never listed');
  t.is((await gateway('readers', 'add')).code, 2);
  t.is((await gateway('readers', 'add', '--site', 'Bad Site!')).code, 2);

  const env = { OPTARC_CLIENT_GATEWAY_URL: gw.url, OPTARC_CLIENT_GATEWAY_READER_TOKEN: reader.token };
  const optarc = (...args: string[]) => run(BIN.optarc, args, env);

  // find: substring, glob (by its wildcards), regex, each in table and JSON form
  const found = await optarc('find', 'm31.fits');
  t.is(found.code, 0, found.stderr);
  const lines = found.stdout.trim().split('\n');
  t.regex(lines[0]!, /^SITE\s+VSN\s+SIZE\s+MODIFIED\s+COPIES\s+PATH$/);
  t.deepEqual(
    lines.slice(1).map((l) => l.split(/\s+/).at(-1)),
    ['night1/m31.fits', 'night4/m31.fits'],
  );
  t.regex(lines[1]!, /^lab-1\s+OPT000001\s+68\.4 KiB\s+2025-12-01 00:00:00\s+2\s+night1\/m31\.fits$/);
  const globbed = await optarc('find', 'night4/frames/frame-00?.raw', '--json');
  t.is(JSON.parse(globbed.stdout).length, 10);
  const regexed = await optarc('find', '--regex', 'frame-01[01]', '--json');
  t.deepEqual(
    JSON.parse(regexed.stdout).map((f: { path: string }) => f.path),
    ['night4/frames/frame-010.raw', 'night4/frames/frame-011.raw'],
  );
  const limited = await optarc('find', 'frame', '--limit', '5', '--json');
  t.is(JSON.parse(limited.stdout).length, 5);
  const newer = await optarc('find', 'night', '--new-since', '2026-06-01', '--json');
  t.true(JSON.parse(newer.stdout).every((f: { vsn: string }) => f.vsn === 'OPT000003'));

  // whereis by path: volume, copies, and a curl line that restores the three-extent file
  const cube = gw.files.get('night2/big-cube.fits')!;
  const where = await optarc('whereis', 'night2/big-cube.fits');
  t.is(where.code, 0, where.stderr);
  t.regex(where.stdout, /volume OPT000002 at site lab-1/);
  t.regex(where.stdout, /copy 1: shelf\/A1 \(burned in sr0/);
  t.regex(where.stdout, /copy 2: shelf\/B7 \(burned in sr1/);
  const curl = where.stdout
    .split('\n')
    .find((l) => l.trim().startsWith('{ curl'))!
    .trim();
  t.is(curl.match(/curl -fsS/g)?.length, 3, 'one ranged GET per extent');
  await promisify(execFile)('bash', ['-c', curl], { cwd: dir });
  t.is(sha256(await fs.readFile(path.join(dir, 'big-cube.fits'))), sha256(cube), 'restored by curl, byte-identical');
  // by SHA-256, as JSON
  const bySha = await optarc('whereis', sha256(cube), '--json');
  t.deepEqual(
    JSON.parse(bySha.stdout).map((f: { vsn: string; path: string }) => [f.vsn, f.path]),
    [['OPT000002', 'night2/big-cube.fits']],
  );

  // exit codes: nothing found 7, a bad query 2, another site's or a revoked reader 4
  const none = await optarc('whereis', 'no/such/file');
  t.is(none.code, 7);
  t.regex(none.stderr, /no volume in the index holds no\/such\/file/);
  t.is((await optarc('find', 'zzzzzz')).code, 7);
  const short = await optarc('find', 'ab', '--json');
  t.is(short.code, 2);
  t.is(JSON.parse(short.stderr).error, 'BAD_QUERY');
  const other = await optarc('find', 'm31', '--site', 'lab-2');
  t.is(other.code, 4);
  t.regex(other.stderr, /FORBIDDEN_SITE/);
  t.is((await gateway('readers', 'revoke', reader.id)).code, 0);
  const revoked = await optarc('find', 'm31');
  t.is(revoked.code, 4);
  t.regex(revoked.stderr, /UNAUTHORIZED/);
  const noToken = await run(BIN.optarc, ['find', 'm31'], {
    OPTARC_CLIENT_GATEWAY_URL: gw.url,
    OPTARC_CLIENT_GATEWAY_READER_TOKEN_FILE: path.join(dir, 'missing.token'),
  });
  t.is(noToken.code, 2);
  t.regex(noToken.stderr, /no reader token/);
});
