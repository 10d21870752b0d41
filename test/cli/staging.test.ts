/**
 * Staging with the `optarc` CLI against a real agent daemon, as a user does:
 * put a tree (byte-identical on the agent, SHA-256s reported), re-run to see
 * it resume (nothing re-sent, a changed file re-sent), list it, see BUSY and
 * refusals as exit codes, and progress on stderr.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AgentClient } from '../../clients/node/agent-client.js';
import { BIN, freePort, run, startDaemon, stopDaemon } from '../helpers/processes.js';

const sha = (d: Buffer) => createHash('sha256').update(d).digest('hex');

async function agentDaemon(t: ExecutionContext) {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'optarc-cli-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const pm = await freePort();
  const config = path.join(dir, 'optarc.json');
  await fs.writeFile(
    config,
    JSON.stringify({
      agent: { portmap: { port: pm }, stateDir: path.join(dir, 'state'), staging: { root: path.join(dir, 'stage') } },
    }),
  );
  const agent = await startDaemon(BIN.agent, ['--config', config]);
  t.teardown(() => stopDaemon(agent.child));
  const cli = (...args: string[]) => run(BIN.optarc, [...args, '--portmap-port', String(pm)]);
  return { dir, pm, cli, stage: path.join(dir, 'stage'), port: agent.ready.rpcPort as number };
}

async function makeTree(root: string) {
  const files: Record<string, Buffer> = {
    'empty.dat': Buffer.alloc(0),
    'one.txt': Buffer.from('1'),
    'run1/a.fits': randomBytes(3 * 1024 * 1024 + 7),
    'run1/b.fits': randomBytes(65536),
    'run1/deep/er/c.bin': randomBytes(9000),
    'é✓ notes.txt': Buffer.from('non-ASCII name'),
  };
  for (const [p, data] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, p)), { recursive: true });
    await fs.writeFile(path.join(root, p), data, { mode: 0o640 });
  }
  return files;
}

async function stagedTree(stage: string): Promise<string> {
  const [client] = await fs.readdir(path.join(stage, 'sessions'));
  return path.join(stage, 'sessions', client, 'tree');
}

test('optarc put stages a tree byte-identical, reports SHA-256s, and resumes', async (t) => {
  const { dir, cli, stage } = await agentDaemon(t);
  const src = path.join(dir, 'src');
  const files = await makeTree(src);
  await fs.chmod(path.join(src, 'run1'), 0o750);

  const first = await cli('put', src, '--json', '--progress');
  t.is(first.code, 0, first.stderr);
  const r = JSON.parse(first.stdout);
  t.is(r.files.length, 6);
  t.is(r.directories, 3);
  t.regex(first.stderr, /put: 6\/6 files/, 'progress on stderr');
  const tree = await stagedTree(stage);
  for (const [p, data] of Object.entries(files)) {
    const staged = await fs.readFile(path.join(tree, p));
    t.true(staged.equals(data), p);
    t.is(r.files.find((f: { path: string }) => f.path === p)?.sha256, sha(data));
    t.is((await fs.stat(path.join(tree, p))).mode & 0o777, 0o640);
  }

  t.is((await fs.stat(path.join(tree, 'run1'))).mode & 0o777, 0o750, 'directories keep their permission bits');

  const again = JSON.parse((await cli('put', src, '--json')).stdout);
  t.true(
    again.files.every((f: { skipped: boolean }) => f.skipped),
    'a re-run sends nothing',
  );
  t.is(again.bytesSent, '0');

  files['run1/b.fits'] = randomBytes(100);
  await fs.writeFile(path.join(src, 'run1/b.fits'), files['run1/b.fits']);
  const third = JSON.parse((await cli('put', src, '--json')).stdout);
  t.deepEqual(
    third.files.filter((f: { skipped: boolean }) => !f.skipped).map((f: { path: string }) => f.path),
    ['run1/b.fits'],
    'only the changed file is sent again',
  );
  t.true((await fs.readFile(path.join(tree, 'run1/b.fits'))).equals(files['run1/b.fits']));

  const ls = JSON.parse((await cli('ls', 'run1', '--json')).stdout);
  t.deepEqual(
    ls.map((e: { name: string; committed: boolean }) => [e.name, e.committed]),
    [
      ['a.fits', true],
      ['b.fits', true],
      ['deep', true],
    ],
  );
});

test('exit codes: BUSY is 3, a refused request 4, bad usage 2, no agent 1', async (t) => {
  const { cli, port } = await agentDaemon(t);
  const holder = await AgentClient.connect({ host: '127.0.0.1', port });
  t.teardown(() => holder.close());
  await holder.hello('holder');
  const busy = await cli('hello');
  t.is(busy.code, 3);
  t.regex(busy.stderr, /OPTARC_BUSY: the agent is controlled by holder on 127\.0\.0\.1/);
  await holder.bye();

  const burn = await cli('burn', '--copies', '2', '--media', 'DVD+R');
  t.is(burn.code, 4);
  t.regex(burn.stderr, /OPTARC_NOT_FOUND: nothing is committed in the working directory/);
  t.is((await cli('burn', '--copies', '0', '--media', 'DVD+R')).code, 2);
  const read = await cli('read', 'OPT001', 'run1/a.fits');
  t.is(read.code, 4, 'no drive holds that volume');
  t.regex(read.stderr, /no drive of the agent holds volume OPT001/);
  t.is((await cli('read', 'OPT001')).code, 2);
  t.is((await cli('put')).code, 2);
  const missing = await cli('put', '/no/such/dir', '--json');
  t.is(missing.code, 5, 'a local file problem');
  t.is(JSON.parse(missing.stderr.trim().split('\n').pop()!).error, 'ENOENT');
  const busyJson = await cli('burn', '--copies', '1', '--media', 'BD-R', '--json');
  t.deepEqual(Object.keys(JSON.parse(busyJson.stderr.trim().split('\n').pop()!)), ['error', 'message']);
  const nobody = await run(BIN.optarc, ['hello', '--portmap-port', String(await freePort()), '--timeout', '2']);
  t.is(nobody.code, 1);
  const hello = await cli('hello', '--json', '--client', 'me');
  t.is(hello.code, 0, hello.stderr);
  t.is(JSON.parse(hello.stdout).client, 'me');
});
