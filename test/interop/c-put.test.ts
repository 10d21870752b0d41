/**
 * The reference C client (clients/c: rpcgen + libtirpc, its own SHA-256)
 * against the real optarc-agent. optarc-put stages a tree — nested and empty
 * directories, files of 0, 1, 9000, 65536, 1 MiB + 7 and 3 MiB bytes, a
 * non-ASCII UTF-8 name, a symbolic link and a FIFO it must skip — with record
 * buffers of 9000 bytes (what Solaris clients use) and 65536 (libtirpc's
 * default); every staged file must be byte-identical with its source, keep its
 * permission bits and modification time, and the SHA-256 printed must be
 * node:crypto's. A client that finds the agent held gets OPTARC_BUSY and exit
 * status 3; optarc-burn reports the agent's refusal (nothing committed) and exits 4.
 * As root, one run goes through the portmapper on port 111 (clnt_create) in a
 * private network namespace, as a Solaris client would find the agent.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { RpcClient } from '../../clients/oncrpc/index.js';
import {
  createCodecs,
  createOptarcV1Procedures,
  OPTARC_BYE,
  OPTARC_HELLO,
  OPTARC_PROG,
  OPTARC_V1,
  OptarcStatus,
} from '../../clients/protocol/generated/optarc.js';
import { buildCClient, C_CLIENT } from '../helpers/c-programs.js';
import { BIN, freePort, ROOT, run, startDaemon, stopDaemon } from '../helpers/processes.js';

const PUT = C_CLIENT.put;
const BURN = C_CLIENT.burn;
const SHA_TEST = C_CLIENT.sha256Test;
const asRoot = process.getuid?.() === 0 ? test.serial : test.serial.skip;

/** The source tree: path, size, permission bits. Modification times are set per file below. */
const FILES: [string, number, number][] = [
  ['empty.dat', 0, 0o644],
  ['one.bin', 1, 0o600],
  ['nested/nine-k.bin', 9000, 0o640],
  ['nested/deeper/sixty-four-k.bin', 65536, 0o755],
  ['nested/deeper/deepest/mib-plus-7.bin', 1048576 + 7, 0o444],
  ['three-mib.raw', 3 * 1048576, 0o664],
  ['données/été ☀ 日本.txt', 1234, 0o600],
];
const DIRS = ['nested', 'nested/deeper', 'nested/deeper/deepest', 'nested/empty-dir', 'données'];
const SKIPPED = ['link-to-one', 'a-fifo'];

const sha = (d: Buffer) => createHash('sha256').update(d).digest('hex');
const procs = createOptarcV1Procedures(createCodecs('utf-8'));
let tree = '';
const source = new Map<string, Buffer>();

test.before(async () => {
  buildCClient();
  tree = await fs.mkdtemp(path.join(tmpdir(), 'optarc-c-tree-'));
  for (const d of DIRS) await fs.mkdir(path.join(tree, d), { recursive: true });
  for (const [i, [rel, size, mode]] of FILES.entries()) {
    const data = randomBytes(size);
    const file = path.join(tree, rel);
    await fs.writeFile(file, data);
    await fs.chmod(file, mode);
    // distinct times in the past, to the nanosecond (fs.utimes keeps only microseconds)
    execFileSync('touch', ['-m', '-d', `@${1_100_000_000 + i * 3_456_789}.123456789`, file]);
    source.set(rel, data);
  }
  await fs.symlink('one.bin', path.join(tree, 'link-to-one'));
  execFileSync('mkfifo', [path.join(tree, 'a-fifo')]);
});

test.after.always(async () => {
  if (tree) await fs.rm(tree, { recursive: true, force: true });
});

async function tempDir(t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), prefix));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An agent configuration in `dir`: staging under dir/stage, the portmapper on `portmapPort`. */
async function agentConfig(dir: string, portmapPort: number): Promise<string> {
  const file = path.join(dir, 'agent.json');
  const config = {
    log: { level: 'warn' },
    agent: {
      rpc: { port: 0 },
      portmap: { port: portmapPort },
      stateDir: path.join(dir, 'state'),
      staging: { root: path.join(dir, 'stage'), minFreeBytes: 0 },
    },
  };
  await fs.writeFile(file, JSON.stringify(config));
  return file;
}

/** The real agent, serving its embedded portmapper on a free port (not 111). */
async function startAgent(t: ExecutionContext) {
  const dir = await tempDir(t, 'optarc-c-agent-');
  const config = await agentConfig(dir, await freePort());
  const { child, ready } = await startDaemon(BIN.agent, ['--config', config]);
  t.teardown(async () => {
    await stopDaemon(child);
  });
  return { rpcPort: ready.rpcPort as number, stage: path.join(dir, 'stage') };
}

async function tsClient(t: ExecutionContext, port: number) {
  const rpc = await RpcClient.connect({ host: '127.0.0.1', port });
  t.teardown(() => rpc.destroy());
  return (n: number, args: unknown): Promise<any> =>
    rpc.call(OPTARC_PROG, OPTARC_V1, n, (procs as any)[n].args, args, (procs as any)[n].result);
}

const hello = (client: string) => ({
  protocol: 1,
  client_time: { seconds: BigInt(Math.floor(Date.now() / 1000)), nanoseconds: 0 },
  client,
});

/** Directories and regular files under `dir`, depth first in byte order of the names (optarc-put's order). */
async function walk(dir: string, rel = ''): Promise<{ kind: 'd' | 'f'; rel: string }[]> {
  const entries = (await fs.readdir(dir, { withFileTypes: true })) as Dirent[];
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  const out: { kind: 'd' | 'f'; rel: string }[] = [];
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      out.push({ kind: 'd', rel: r });
      out.push(...(await walk(path.join(dir, e.name), r)));
    } else if (e.isFile()) {
      out.push({ kind: 'f', rel: r });
    } else {
      out.push({ kind: 'f', rel: `(other) ${r}` });
    }
  }
  return out;
}

/** What optarc-put printed and what the agent staged, against the source tree. */
async function assertStaged(t: ExecutionContext, stage: string, put: { code: number; stdout: string; stderr: string }) {
  t.is(put.code, 0, put.stderr);
  const lines = put.stdout.trimEnd().split('\n');
  const total = lines.pop();
  const bytes = FILES.reduce((n, [, size]) => n + size, 0);
  t.is(total, `total: ${FILES.length} files, ${bytes} bytes, ${DIRS.length} directories, ${SKIPPED.length} skipped`);
  for (const name of SKIPPED) t.regex(put.stderr, new RegExp(`^optarc-put: ${name}: warning: skipped`, 'm'));

  const order = (await walk(tree)).filter((e) => e.kind === 'f' && source.has(e.rel)).map((e) => e.rel);
  const printed = lines.map((l) => /^([0-9a-f]{64}) {2}(.+)$/.exec(l));
  t.deepEqual(
    printed.map((m) => m?.[2]),
    order,
    'one line per file, in byte order of the names, depth first',
  );
  for (const m of printed) {
    const rel = m?.[2] ?? '';
    t.is(m?.[1], sha(source.get(rel) ?? Buffer.alloc(0)), `SHA-256 printed for ${rel}`);
  }

  const sessions = await fs.readdir(path.join(stage, 'sessions'));
  t.is(sessions.length, 1, 'one working directory');
  const work = path.join(stage, 'sessions', sessions[0]);
  t.deepEqual(await fs.readdir(path.join(work, 'partial')), [], 'nothing left uncommitted');
  const staged = path.join(work, 'tree');
  t.deepEqual(
    await walk(staged),
    (await walk(tree)).filter((e) => !e.rel.startsWith('(other)')),
    'the tree holds the directories and regular files, no link, no FIFO',
  );
  for (const [rel] of FILES) {
    const file = path.join(staged, rel);
    t.true((await fs.readFile(file)).equals(source.get(rel)!), `${rel} byte-identical`);
    const [a, b] = await Promise.all([
      fs.stat(path.join(tree, rel), { bigint: true }),
      fs.stat(file, { bigint: true }),
    ]);
    t.is(b.mode & 0o777n, a.mode & 0o777n, `${rel} mode`);
    // optarc-put sends seconds and nanoseconds; the agent sets times through a
    // floating-point fs.utimes, which keeps microseconds
    const skew = b.mtimeNs - a.mtimeNs;
    t.true(skew > -1000n && skew < 1000n, `${rel} mtime ${b.mtimeNs} vs ${a.mtimeNs} (within 1 µs)`);
  }
}

for (const bufsize of [9000, 65536]) {
  test(`optarc-put stages the tree byte-identical with ${bufsize}-byte record buffers`, async (t) => {
    const agent = await startAgent(t);
    const args = ['--port', String(agent.rpcPort), '--bufsize', String(bufsize), '--client', `c-put-${bufsize}`];
    // AUTH_SYS on one run, AUTH_NONE on the other
    if (bufsize === 65536) args.push('--auth-sys');
    const put = await run(PUT, [...args, '127.0.0.1', tree]);
    await assertStaged(t, agent.stage, put);

    // a second run into the same working directory changes nothing and succeeds
    const again = await run(PUT, [...args, '127.0.0.1', tree]);
    t.is(again.code, 0, again.stderr);
    t.is(again.stdout, put.stdout);
  });
}

test('while another client holds the agent, optarc-put gets OPTARC_BUSY and exits 3; after its BYE it succeeds', async (t) => {
  const agent = await startAgent(t);
  const small = await tempDir(t, 'optarc-c-small-');
  await fs.writeFile(path.join(small, 'note.txt'), 'held\n');
  const call = await tsClient(t, agent.rpcPort);
  const held = await call(OPTARC_HELLO, hello('ts-holder'));
  t.is(held.tag, OptarcStatus.OPTARC_OK);

  const busy = await run(PUT, ['--port', String(agent.rpcPort), '--client', 'c-second', '127.0.0.1', small]);
  t.is(busy.code, 3, busy.stderr);
  t.regex(busy.stderr, /^optarc-put: 127\.0\.0\.1: OPTARC_BUSY: the agent is controlled by ts-holder/m);
  t.regex(busy.stderr, /detail: held by client ts-holder on 127\.0\.0\.1/);
  t.is(busy.stdout, '');

  t.is((await call(OPTARC_BYE, { session: held.value.session })).tag, OptarcStatus.OPTARC_OK);
  const ok = await run(PUT, ['--port', String(agent.rpcPort), '--client', 'c-second', '127.0.0.1', small]);
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout, `${sha(Buffer.from('held\n'))}  note.txt\ntotal: 1 files, 5 bytes, 0 directories, 0 skipped\n`);
});

test('optarc-burn prints the agent refusal (nothing committed), exits 4 and frees the agent with BYE', async (t) => {
  const agent = await startAgent(t);
  const port = String(agent.rpcPort);
  for (const extra of [[]]) {
    const burn = await run(BURN, [
      '--port',
      port,
      '127.0.0.1',
      '--copies',
      '2',
      '--media',
      'DVD+R',
      '--label',
      'VOL1',
      ...extra,
    ]);
    t.is(burn.code, 4, burn.stderr);
    t.regex(
      burn.stderr,
      /^optarc-burn: 127\.0\.0\.1: OPTARC_NOT_FOUND: nothing is committed in the working directory/m,
    );
    t.is(burn.stdout, '');
  }
  const call = await tsClient(t, agent.rpcPort);
  t.is((await call(OPTARC_HELLO, hello('after-burn'))).tag, OptarcStatus.OPTARC_OK, 'the burn client said BYE');

  const usage = await run(BURN, ['--port', port, '127.0.0.1', '--copies', '2']);
  t.is(usage.code, 2, 'no --media is a usage error');
  t.regex(usage.stderr, /^usage: optarc-burn/);
  t.is((await run(PUT, ['127.0.0.1'])).code, 2, 'optarc-put without a directory is a usage error');
  t.is((await run(PUT, ['--bufsize', '9000', '127.0.0.1', tree])).code, 2, '--bufsize needs --port');
});

test("optarc-put's SHA-256 passes the NIST vectors and agrees with node:crypto for every length 0..300", async (t) => {
  const vectors = await run(SHA_TEST, []);
  t.is(vectors.code, 0, vectors.stdout);
  t.regex(vectors.stdout, /^ok \d+ checks$/m);
  const lengths = await run(SHA_TEST, ['--lengths', '300']);
  t.is(lengths.code, 0);
  const lines = lengths.stdout.trimEnd().split('\n');
  t.is(lines.length, 301);
  const mismatches = lines.filter((line) => {
    const [n, hex] = line.split(' ');
    const data = Buffer.alloc(Number(n), 0);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    return hex !== sha(data);
  });
  t.deepEqual(mismatches, [], 'every length hashes as node:crypto does');
});

asRoot('through the portmapper on port 111 (clnt_create, AUTH_SYS) in a private network namespace', async (t) => {
  const dir = await tempDir(t, 'optarc-c-ns-');
  const config = await agentConfig(dir, 111);
  const script = path.join(ROOT, 'dist/test/interop/c-put-scenario.js');
  const r = await new Promise<Record<string, any>>((resolve, reject) => {
    execFile(
      'unshare',
      ['--net', '--mount', '--fork', '--', process.execPath, script, config, tree, 'c-put-portmap'],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const line = String(stdout).trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(line));
        } catch {
          reject(new Error(`scenario failed: ${err?.message}\n${stdout}\n${stderr}`));
        }
      },
    );
  });
  t.falsy(r.error, r.error);
  t.is(r.agent.portmap, 'embedded');
  t.is(r.agent.portmapPort, 111);
  await assertStaged(t, path.join(dir, 'stage'), r.put);
  t.is(r.burn.code, 0, r.burn.stderr);
  t.regex(r.burn.stdout, /^job \d+$/m);
});
