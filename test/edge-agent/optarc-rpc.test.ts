/**
 * The optarc program through the RPC, as a client sees it: HELLO and BUSY,
 * staging a file with its SHA-256 checked, failures with their details, the
 * lease lapsing and being released after a client vanishes, access refused,
 * and the burning procedures answering NOT_AVAILABLE (never a made-up job).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  RecordDecoder,
  RpcClient,
  readReplyHeader,
  writeCallHeader,
  XdrReader,
  XdrWriter,
} from '../../clients/oncrpc/index.js';
import {
  createCodecs,
  createOptarcV1Procedures,
  OPTARC_PROG,
  OPTARC_V1,
  OptarcBurnMode,
  OptarcStatus,
} from '../../clients/protocol/generated/optarc.js';
import { startAgent } from './agent-kit.js';
import { HOSTILE } from './hostile-names.js';

const procs = createOptarcV1Procedures(createCodecs('utf-8'));
type Procs = typeof procs;
const b = (s: string) => Buffer.from(s, 'utf8');
const sha = (d: Buffer) => createHash('sha256').update(d).digest();
const now = () => ({ seconds: BigInt(Math.floor(Date.now() / 1000)), nanoseconds: 0 });

const agent = startAgent;

async function client(t: ExecutionContext, port: number) {
  const rpc = await RpcClient.connect({ host: '127.0.0.1', port });
  t.teardown(() => rpc.destroy());
  const call = <N extends keyof Procs>(n: N, args: Parameters<Procs[N]['args']['encode']>[1]) =>
    rpc.call(OPTARC_PROG, OPTARC_V1, Number(n), procs[n].args as any, args, procs[n].result as any) as Promise<any>;
  return { rpc, call };
}

async function hello(c: Awaited<ReturnType<typeof client>>, name: string) {
  return c.call(1, { protocol: 1, client_time: now(), client: name });
}

test('one controller: a second HELLO is told BUSY, naming the holder; BYE frees the agent', async (t) => {
  const { port } = await agent(t);
  const a = await client(t, port);
  const bb = await client(t, port);
  const ha = await hello(a, 'scanner-a');
  t.is(ha.tag, OptarcStatus.OPTARC_OK);
  t.is(ha.value.protocol, 1);
  t.is(ha.value.charset, 'utf-8', 'the client learns how its path bytes are read');
  t.is(ha.value.max_data, 1_048_576);
  t.true(ha.value.session > 0n);
  const busy = await hello(bb, 'scanner-b');
  t.is(busy.tag, OptarcStatus.OPTARC_BUSY);
  t.is(busy.value.detail.tag, OptarcStatus.OPTARC_BUSY);
  t.is(busy.value.detail.value.holder, '127.0.0.1');
  t.is(busy.value.detail.value.client, 'scanner-a');
  t.regex(busy.value.message, /controlled by scanner-a/);
  t.is((await a.call(2, { session: ha.value.session })).tag, OptarcStatus.OPTARC_OK);
  t.is((await hello(bb, 'scanner-b')).tag, OptarcStatus.OPTARC_OK);
  const stale = await a.call(7, { session: ha.value.session, path: b('x') });
  t.is(stale.tag, OptarcStatus.OPTARC_NO_SESSION);
});

test('a file staged over RPC arrives byte-identical with its SHA-256; mismatches carry both values', async (t) => {
  const { port, root } = await agent(t);
  const a = await client(t, port);
  const { session } = (await hello(a, 'lab')).value;
  t.is((await a.call(3, { session, path: b('run1'), mode: 0o750 })).tag, OptarcStatus.OPTARC_OK);
  const data = randomBytes(2_500_000);
  for (let off = 0; off < data.length; off += 1 << 20) {
    const args = { session, path: b('run1/img.raw'), offset: BigInt(off), data: data.subarray(off, off + (1 << 20)) };
    const w = await a.call(4, args);
    t.is(w.tag, OptarcStatus.OPTARC_OK);
    t.is((await a.call(4, args)).value.size, w.value.size, 'a retransmitted WRITE changes nothing');
  }
  const bad = await a.call(5, {
    session,
    path: b('run1/img.raw'),
    size: BigInt(data.length),
    mode: 0o644,
    mtime: null,
    sha256: sha(b('x')),
  });
  t.is(bad.tag, OptarcStatus.OPTARC_CHECKSUM_MISMATCH);
  t.true(bad.value.detail.value.actual.equals(sha(data)));
  t.true(bad.value.detail.value.expected.equals(sha(b('x'))));
  const short = await a.call(5, { session, path: b('run1/img.raw'), size: 5n, mode: 0o644, mtime: null, sha256: null });
  t.is(short.tag, OptarcStatus.OPTARC_SIZE_MISMATCH);
  t.deepEqual(short.value.detail.value, { expected: 5n, actual: BigInt(data.length) });
  const ok = await a.call(5, {
    session,
    path: b('run1/img.raw'),
    size: BigInt(data.length),
    mode: 0o640,
    mtime: null,
    sha256: sha(data),
  });
  t.is(ok.tag, OptarcStatus.OPTARC_OK);
  t.true(ok.value.sha256.equals(sha(data)));
  const [clientDir] = await fs.readdir(path.join(root, 'sessions'));
  t.true((await fs.readFile(path.join(root, 'sessions', clientDir, 'tree/run1/img.raw'))).equals(data));

  const list = await a.call(6, { session, dir: b('run1'), cookie: 0n, count: 10 });
  t.is(list.tag, OptarcStatus.OPTARC_OK);
  t.is(list.value.entries.length, 1);
  t.true(list.value.entries[0].committed);
  t.true(list.value.entries[0].sha256.equals(sha(data)));
  t.is((await a.call(4, { session, path: b('../x'), offset: 0n, data: b('x') })).tag, OptarcStatus.OPTARC_BAD_NAME);
  t.is((await a.call(8, { session, path: b('nope') })).tag, OptarcStatus.OPTARC_NOT_FOUND);
});

test('the burning procedures answer NOT_AVAILABLE, never a made-up job', async (t) => {
  const { port } = await agent(t);
  const a = await client(t, port);
  const { session } = (await hello(a, 'lab')).value;
  const burn = await a.call(9, {
    session,
    mode: OptarcBurnMode.OPTARC_BURN_NEW,
    copies: 2,
    media: 'DVD+R',
    label: 'VOL1',
  });
  t.is(burn.tag, OptarcStatus.OPTARC_NOT_AVAILABLE);
  t.regex(burn.value.message, /not installed/);
  t.is((await a.call(11, { session })).tag, OptarcStatus.OPTARC_NOT_AVAILABLE);
  t.is(
    (await a.call(9, { session: 1n, mode: 1, copies: 1, media: 'x', label: 'y' })).tag,
    OptarcStatus.OPTARC_NO_SESSION,
  );
});

test('an idle lease lapses; a vanished client releases it after the grace period and its file stays uncommitted', async (t) => {
  const { port, root } = await agent(t, { leaseMs: 300, graceMs: 200 });
  const a = await client(t, port);
  const first = (await hello(a, 'a')).value.session;
  await new Promise((r) => setTimeout(r, 400));
  t.is((await a.call(7, { session: first, path: b('x') })).tag, OptarcStatus.OPTARC_LEASE_EXPIRED);

  const v = await client(t, port);
  const { session } = (await hello(v, 'vanishing')).value;
  await v.call(4, { session, path: b('half.dat'), offset: 0n, data: randomBytes(1000) });
  v.rpc.destroy();
  const other = await client(t, port);
  await new Promise((r) => setTimeout(r, 50));
  t.is((await hello(other, 'other')).tag, OptarcStatus.OPTARC_BUSY, 'held during the grace period');
  await new Promise((r) => setTimeout(r, 300));
  t.is((await hello(other, 'other')).tag, OptarcStatus.OPTARC_OK, 'released after it');
  for (const d of await fs.readdir(path.join(root, 'sessions'))) {
    t.deepEqual(await fs.readdir(path.join(root, 'sessions', d, 'tree')), [], 'nothing half-written reached a tree');
  }
});

test('hosts outside the allowlist and unsupported versions are refused with the reason', async (t) => {
  const closed = await agent(t, { allow: ['192.0.2.0/24'] });
  const a = await client(t, closed.port);
  const denied = await hello(a, 'x');
  t.is(denied.tag, OptarcStatus.OPTARC_ACCESS_DENIED);
  t.regex(denied.value.message, /agent\.access\.allow/);
  const open = await agent(t);
  const c = await client(t, open.port);
  const v0 = await c.call(1, { protocol: 0, client_time: now(), client: 'old' });
  t.is(v0.tag, OptarcStatus.OPTARC_VERSION_MISMATCH);
  t.deepEqual(v0.value.detail.value, { low: 1, high: 1 });
});

test('each committed file is recorded with the host, client and AUTH_SYS identity that sent it', async (t) => {
  const { port, root } = await agent(t);
  const rpc = await RpcClient.connect({
    host: '127.0.0.1',
    port,
    credentials: { flavor: 'sys', stamp: 1, machineName: 'sun1', uid: 1234, gid: 56, gids: [] },
  });
  t.teardown(() => rpc.destroy());
  const call = (n: keyof Procs, args: unknown) =>
    rpc.call(OPTARC_PROG, OPTARC_V1, Number(n), procs[n].args as any, args, procs[n].result as any) as Promise<any>;
  const { session } = (await call(1, { protocol: 1, client_time: now(), client: 'scanner-7' })).value;
  const data = b('audited bytes');
  await call(4, { session, path: b('a.txt'), offset: 0n, data });
  t.is(
    (await call(5, { session, path: b('a.txt'), size: BigInt(data.length), mode: 0o644, mtime: null, sha256: null }))
      .tag,
    0,
  );
  const [dir] = await fs.readdir(path.join(root, 'sessions'));
  const lines = (await fs.readFile(path.join(root, 'sessions', dir, 'audit.jsonl'), 'utf8')).trim().split('\n');
  t.is(lines.length, 1);
  const rec = JSON.parse(lines[0]);
  t.like(rec, {
    path: 'a.txt',
    size: String(data.length),
    sha256: sha(data).toString('hex'),
    host: '127.0.0.1',
    client: 'scanner-7',
    uid: 1234,
    gid: 56,
  });
});

test('writing past the quota is refused with the limit and the usage, and the file stays uncommitted', async (t) => {
  const { port } = await agent(t, { quota: 100_000n });
  const a = await client(t, port);
  const { session, quota } = (await hello(a, 'q')).value;
  t.deepEqual(quota, { limit: 100_000n, used: 0n });
  t.is(
    (await a.call(4, { session, path: b('big'), offset: 0n, data: Buffer.alloc(60_000) })).tag,
    OptarcStatus.OPTARC_OK,
  );
  const over = await a.call(4, { session, path: b('big'), offset: 60_000n, data: Buffer.alloc(60_000) });
  t.is(over.tag, OptarcStatus.OPTARC_QUOTA_EXCEEDED);
  t.deepEqual(over.value.detail.value, { limit: 100_000n, used: 60_000n });
  t.regex(over.value.message, /quota/);
  const st = await a.call(7, { session, path: b('big') });
  t.is(st.value.size, 60_000n);
  t.false(st.value.committed);
});

test('two clients racing for the lease: exactly one becomes the controller', async (t) => {
  const { port } = await agent(t);
  const clients = await Promise.all(Array.from({ length: 8 }, () => client(t, port)));
  const answers = await Promise.all(clients.map((c, i) => hello(c, `racer-${i}`)));
  t.is(answers.filter((r) => r.tag === OptarcStatus.OPTARC_OK).length, 1);
  t.is(answers.filter((r) => r.tag === OptarcStatus.OPTARC_BUSY).length, 7);
});

test('a WRITE or COMMIT_FILE retransmitted with the same xid changes nothing', async (t) => {
  const { port, root } = await agent(t);
  const a = await client(t, port);
  const { session } = (await hello(a, 'rexmit')).value;
  const data = randomBytes(5000);
  const raw = net.connect(port, '127.0.0.1');
  t.teardown(() => raw.destroy());
  await new Promise((r) => raw.once('connect', r));
  const replies: Buffer[] = [];
  const decoder = new RecordDecoder(1 << 20);
  raw.on('data', (d) => replies.push(...decoder.push(d)));
  const record = (xid: number, proc: 4 | 5, args: unknown) => {
    const w = new XdrWriter(256, true);
    writeCallHeader(w, xid, OPTARC_PROG, OPTARC_V1, proc, { flavor: 'none' });
    (procs[proc].args as any).encode(w, args);
    return Buffer.concat(w.finishRecord());
  };
  const write = record(77, 4, { session, path: b('r.bin'), offset: 0n, data });
  const commit = record(78, 5, { session, path: b('r.bin'), size: 5000n, mode: 0o644, mtime: null, sha256: sha(data) });
  raw.write(Buffer.concat([write, write, commit, commit]));
  const deadline = Date.now() + 5000;
  while (replies.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.is(replies.length, 4);
  const results = replies.map((rec) => {
    const r = new XdrReader(rec);
    const h = readReplyHeader(r);
    return { xid: h.xid, res: (h.xid === 77 ? procs[4] : procs[5]).result.decode(r) as any };
  });
  t.deepEqual(
    results.map((x) => [x.xid, x.res.tag]),
    [
      [77, 0],
      [77, 0],
      [78, 0],
      [78, 0],
    ],
  );
  t.is(results[1].res.value.size, 5000n, 'the second WRITE found the bytes already there');
  t.true(results[3].res.value.sha256.equals(sha(data)));
  const [dir] = await fs.readdir(path.join(root, 'sessions'));
  t.true((await fs.readFile(path.join(root, 'sessions', dir, 'tree/r.bin'))).equals(data));
});

test('a client whose clock is far off is served, and the skew is logged', async (t) => {
  const { port, warnings } = await agent(t);
  const a = await client(t, port);
  const r = await a.call(1, { protocol: 1, client_time: { seconds: 86_400n, nanoseconds: 0 }, client: 'old-clock' });
  t.is(r.tag, OptarcStatus.OPTARC_OK);
  t.true(warnings.some((w) => w.startsWith('client clock differs from the agent clock') && w.includes('old-clock')));
});

test('an agent that requires a reserved source port refuses clients on unprivileged ports', async (t) => {
  const { port } = await agent(t, { reservedPort: true });
  const a = await client(t, port);
  const r = await hello(a, 'unprivileged');
  t.is(r.tag, OptarcStatus.OPTARC_ACCESS_DENIED);
  t.regex(r.value.message, /reserved source port/);
});

test(`every name of the hostile corpus is refused through the RPC with BAD_NAME, and nothing is created`, async (t) => {
  const { port, root } = await agent(t);
  const a = await client(t, port);
  const { session } = (await hello(a, 'hostile')).value;
  for (const [name] of HOSTILE) {
    if (name.length > 1023) {
      // longer than optarc_path<1023>: the argument itself is refused before the agent sees it
      await t.throwsAsync(a.call(4, { session, path: name, offset: 0n, data: b('x') }));
      continue;
    }
    const w = await a.call(4, { session, path: name, offset: 0n, data: b('x') });
    t.is(w.tag, OptarcStatus.OPTARC_BAD_NAME, `WRITE ${JSON.stringify(name.toString('latin1'))}`);
    t.true(w.value.message.length > 10);
    t.is((await a.call(3, { session, path: name, mode: 0o755 })).tag, OptarcStatus.OPTARC_BAD_NAME);
  }
  const [dir] = await fs.readdir(path.join(root, 'sessions'));
  t.deepEqual(await fs.readdir(path.join(root, 'sessions', dir, 'tree')), []);
  t.deepEqual(await fs.readdir(path.join(root, 'sessions', dir, 'partial')), []);
});

test('the holder working over a second connection keeps its lease alive; losing that one starts the grace period too', async (t) => {
  const { port } = await agent(t, { graceMs: 200, leaseMs: 60_000 });
  const first = await client(t, port);
  const { session } = (await hello(first, 'two-conns')).value;
  const second = await client(t, port);
  t.is(
    (await second.call(7, { session, path: b('nothing') })).tag,
    OptarcStatus.OPTARC_NOT_FOUND,
    'the session works from a second connection',
  );
  first.rpc.destroy();
  await new Promise((r) => setTimeout(r, 50));
  t.is(
    (await second.call(3, { session, path: b('d'), mode: 0o755 })).tag,
    OptarcStatus.OPTARC_OK,
    'a call cancels the pending release',
  );
  await new Promise((r) => setTimeout(r, 300));
  const other = await client(t, port);
  t.is(
    (await hello(other, 'other')).tag,
    OptarcStatus.OPTARC_BUSY,
    'still held: the holder called after the first connection closed',
  );
  second.rpc.destroy();
  await new Promise((r) => setTimeout(r, 350));
  t.is((await hello(other, 'other')).tag, OptarcStatus.OPTARC_OK, 'released once the second connection is gone too');
});
