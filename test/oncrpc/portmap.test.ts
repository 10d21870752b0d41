/**
 * The embedded portmapper (program 100000: portmap v2, rpcbind v3 and v4)
 * through PortmapClient and on the wire, universal addresses, and advertise():
 * registering in a portmapper that already runs, starting an embedded one when
 * none answers, or refusing clearly when told not to.
 */
import net from 'node:net';
import test, { type ExecutionContext } from 'ava';
import {
  advertise,
  EmbeddedPortmapper,
  fromUniversalAddress,
  IPPROTO_TCP,
  IPPROTO_UDP,
  mapping,
  PMAP_PROG,
  PmapProc,
  PortmapClient,
  RpcbProc,
  RpcClient,
  rpcb,
  toUniversalAddress,
  type XdrReader,
  x,
} from '../../clients/oncrpc/index.js';
import {
  CapturingLogger,
  callBody,
  encodeArgs,
  frame,
  Proc,
  rawCall,
  rawConnection,
  startTestServer,
  TEST_PROG,
} from './rpc-test-kit.js';

async function portmapper(t: ExecutionContext): Promise<{ pm: EmbeddedPortmapper; port: number }> {
  const pm = new EmbeddedPortmapper({ host: '127.0.0.1' });
  const port = await pm.listen(0);
  t.teardown(() => pm.close());
  return { pm, port };
}

async function pmClient(t: ExecutionContext, port: number): Promise<PortmapClient> {
  const c = await PortmapClient.connect('127.0.0.1', port);
  t.teardown(() => c.close());
  return c;
}

/** A port nothing listens on right now (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

test('universal addresses: host.p1.p2 both ways', (t) => {
  t.is(toUniversalAddress('127.0.0.1', 111), '127.0.0.1.0.111');
  t.is(toUniversalAddress('127.0.0.1', 1001), '127.0.0.1.3.233');
  t.is(toUniversalAddress('10.1.2.3', 65535), '10.1.2.3.255.255');
  t.is(toUniversalAddress('0.0.0.0', 0), '0.0.0.0.0.0');
  t.deepEqual(fromUniversalAddress('127.0.0.1.3.233'), { host: '127.0.0.1', port: 1001 });
  t.deepEqual(fromUniversalAddress('10.1.2.3.255.255'), { host: '10.1.2.3', port: 65535 });
  t.deepEqual(fromUniversalAddress('::1.8.1'), { host: '::1', port: 2049 });
  for (const port of [1, 255, 256, 2049, 32768, 65534]) {
    t.deepEqual(fromUniversalAddress(toUniversalAddress('192.168.0.9', port)), { host: '192.168.0.9', port });
  }
  for (const bad of ['', '1.2', 'a.b.c', '127.0.0.1.256.0', '127.0.0.1.0.256', '127.0.0.1.-1.0', 'h.1.x']) {
    t.is(fromUniversalAddress(bad), undefined, JSON.stringify(bad));
  }
});

test('portmap v2: NULL, SET, GETPORT, DUMP, UNSET', async (t) => {
  const { port } = await portmapper(t);
  const c = await pmClient(t, port);
  await c.null();

  // The portmapper lists itself, in the three versions it speaks, on TCP and UDP, as rpcbind does.
  const self = [IPPROTO_TCP, IPPROTO_UDP].flatMap((prot) =>
    [2, 3, 4].map((vers) => ({ prog: PMAP_PROG, vers, prot, port })),
  );
  t.is(await c.getPort(PMAP_PROG, 2), port);
  t.deepEqual(await c.dump(), self);
  t.is(await c.getPort(PMAP_PROG, 3), port);
  t.is(await c.getPort(PMAP_PROG, 2, IPPROTO_UDP), port);

  t.true(await c.set(400_100, 1, 2049));
  t.true(await c.set(400_100, 2, 2050));
  t.true(await c.set(400_100, 1, 3049, IPPROTO_UDP));
  // Registering the same (prog, vers, protocol) twice is refused, as rpcbind does.
  t.false(await c.set(400_100, 1, 9999));
  // An unknown protocol number cannot be registered.
  t.false(await c.set(400_101, 1, 1234, 99));

  t.is(await c.getPort(400_100, 1), 2049);
  t.is(await c.getPort(400_100, 2), 2050);
  t.is(await c.getPort(400_100, 1, IPPROTO_UDP), 3049);
  // As rpcbind does, an unregistered version of a known program answers with another
  // version's port, so the caller learns the supported range from PROG_MISMATCH.
  t.true([2049, 2050].includes(await c.getPort(400_100, 3)));
  t.is(await c.getPort(400_999, 1), 0, 'an unknown program is port 0');
  t.is(await c.getPort(400_100, 1, 99), 0, 'an unknown protocol is port 0');

  const dump = await c.dump();
  t.deepEqual(
    dump.filter((m) => m.prog === 400_100),
    [
      { prog: 400_100, vers: 1, prot: IPPROTO_TCP, port: 2049 },
      { prog: 400_100, vers: 2, prot: IPPROTO_TCP, port: 2050 },
      { prog: 400_100, vers: 1, prot: IPPROTO_UDP, port: 3049 },
    ],
  );

  // UNSET removes every protocol of (prog, vers).
  t.true(await c.unset(400_100, 1));
  t.false(await c.unset(400_100, 1));
  t.is(await c.getPort(400_100, 1, IPPROTO_UDP), 0, 'no UDP version is left');
  t.is(await c.getPort(400_100, 2), 2050);
  t.is(await c.getPort(400_100, 1), 2050, 'only version 2 is left on TCP');
  t.deepEqual(
    (await c.dump()).filter((m) => m.prog === 400_100),
    [{ prog: 400_100, vers: 2, prot: IPPROTO_TCP, port: 2050 }],
  );
  t.true(await c.unset(400_100, 2));
  t.is(await c.getPort(400_100, 1), 0);
  t.is(await c.getPort(400_100, 2), 0);
  t.deepEqual(await c.dump(), self);
});

test('portmap v2 DUMP is an XDR linked list on the wire', async (t) => {
  const { port } = await portmapper(t);
  const c = await pmClient(t, port);
  t.true(await c.set(400_200, 1, 700));
  t.true(await c.set(400_201, 4, 0x1234, IPPROTO_UDP));

  const raw = await rawConnection(t, port);
  const r = await rawCall(raw, { xid: 77, prog: PMAP_PROG, vers: 2, proc: PmapProc.DUMP });
  t.deepEqual(r.header, { xid: 77, kind: 'success' });
  // pmaplist *: (1, mapping) for each entry, then 0.
  const rd: XdrReader = r.reader;
  const entries: number[][] = [];
  for (let i = 0; i < 10; i++) {
    const more = rd.uint();
    if (more === 0) break;
    t.is(more, 1);
    entries.push([rd.uint(), rd.uint(), rd.uint(), rd.uint()]);
  }
  t.is(rd.remaining, 0);
  t.deepEqual(entries, [
    [PMAP_PROG, 2, IPPROTO_TCP, port],
    [PMAP_PROG, 3, IPPROTO_TCP, port],
    [PMAP_PROG, 4, IPPROTO_TCP, port],
    [PMAP_PROG, 2, IPPROTO_UDP, port],
    [PMAP_PROG, 3, IPPROTO_UDP, port],
    [PMAP_PROG, 4, IPPROTO_UDP, port],
    [400_200, 1, IPPROTO_TCP, 700],
    [400_201, 4, IPPROTO_UDP, 0x1234],
  ]);

  // GETPORT on the wire: a bare unsigned int.
  const g = await rawCall(raw, {
    xid: 78,
    prog: PMAP_PROG,
    vers: 2,
    proc: PmapProc.GETPORT,
    args: encodeArgs(mapping, { prog: 400_200, vers: 1, prot: IPPROTO_TCP, port: 0 }),
  });
  t.is(g.reader.uint(), 700);
  t.is(g.reader.remaining, 0);
});

test('rpcbind v3 and v4: GETADDR answers universal addresses, "" for an unknown program; DUMP lists entries', async (t) => {
  const { port } = await portmapper(t);
  const c = await pmClient(t, port);
  t.true(await c.set(400_300, 1, 0x0a0b));

  for (const v of [3, 4]) {
    t.is(await c.getAddr(PMAP_PROG, 4, 'tcp', v), toUniversalAddress('127.0.0.1', port), `self via v${v}`);
    t.is(await c.getAddr(400_300, 1, 'tcp', v), '127.0.0.1.10.11', `v${v}`);
    t.is(await c.getAddr(400_300, 1, 'udp', v), '', `v${v}: not on udp`);
    t.is(await c.getAddr(PMAP_PROG, 2, 'udp', v), toUniversalAddress('127.0.0.1', port), `v${v}: itself on udp`);
    t.is(await c.getAddr(400_300, 2, 'tcp', v), '127.0.0.1.10.11', `v${v}: another version, as rpcbind answers`);
    t.is(await c.getAddr(400_999, 1, 'tcp', v), '', `v${v}: unknown program`);
    const dump = await c.rpcbDump(v);
    t.deepEqual(
      dump.map((e) => [e.prog, e.vers, e.netid, e.addr]),
      [
        [PMAP_PROG, 2, 'tcp', toUniversalAddress('127.0.0.1', port)],
        [PMAP_PROG, 3, 'tcp', toUniversalAddress('127.0.0.1', port)],
        [PMAP_PROG, 4, 'tcp', toUniversalAddress('127.0.0.1', port)],
        [PMAP_PROG, 2, 'udp', toUniversalAddress('127.0.0.1', port)],
        [PMAP_PROG, 3, 'udp', toUniversalAddress('127.0.0.1', port)],
        [PMAP_PROG, 4, 'udp', toUniversalAddress('127.0.0.1', port)],
        [400_300, 1, 'tcp', '127.0.0.1.10.11'],
      ],
    );
  }

  // rpcbind SET/UNSET by netid, seen by portmap v2 as well.
  const rpc = await RpcClient.connect({ host: '127.0.0.1', port });
  t.teardown(() => rpc.destroy());
  const entry = { prog: 400_301, vers: 2, netid: 'tcp', addr: '127.0.0.1.31.64', owner: 'test' };
  t.true(await rpc.call(PMAP_PROG, 4, RpcbProc.SET, rpcb, entry, x.bool));
  t.false(await rpc.call(PMAP_PROG, 3, RpcbProc.SET, rpcb, entry, x.bool), 'already registered');
  t.is(await c.getAddr(400_301, 2, 'tcp', 3), '127.0.0.1.31.64');
  t.is(await c.getPort(400_301, 2), 0x1f40);
  const gettime = await rpc.call(PMAP_PROG, 4, RpcbProc.GETTIME, x.xvoid, undefined, x.uint);
  t.true(Math.abs(gettime - Date.now() / 1000) < 5);
  t.true(await rpc.call(PMAP_PROG, 4, RpcbProc.UNSET, rpcb, { ...entry, addr: '', owner: '' }, x.bool));
  t.is(await c.getAddr(400_301, 2, 'tcp', 4), '');
  t.is(await c.getPort(400_301, 2), 0);

  // Procedures the embedded portmapper does not offer are PROC_UNAVAIL, other versions PROG_MISMATCH 2..4.
  const noCallit = await t.throwsAsync(rpc.call(PMAP_PROG, 2, PmapProc.CALLIT, x.xvoid, undefined, x.xvoid));
  t.is((noCallit as { code?: string }).code, 'PROC_UNAVAIL');
  const v5 = await t.throwsAsync(rpc.call(PMAP_PROG, 5, 0, x.xvoid, undefined, x.xvoid));
  t.deepEqual((v5 as { details?: unknown }).details, { low: 2, high: 4 });
});

test('advertise() registers a server in a portmapper that already runs, and withdraw() removes it', async (t) => {
  const { port: pmPort } = await portmapper(t);
  const { server, port: serverPort } = await startTestServer(t);
  const log = new CapturingLogger();
  const ad = await advertise(server, { host: '127.0.0.1', port: pmPort, log });
  t.is(ad.mode, 'system');
  t.is(ad.portmapPort, pmPort);
  t.is(ad.embedded, undefined);
  t.truthy(log.find((l) => l.msg.includes('registered')));

  const c = await pmClient(t, pmPort);
  // Every program and version the server offers.
  t.is(await c.getPort(TEST_PROG, 1), serverPort);
  t.is(await c.getPort(TEST_PROG, 3), serverPort);
  t.is(await c.getPort(0x20000102, 1), serverPort);
  t.is(await c.getAddr(TEST_PROG, 1), toUniversalAddress('127.0.0.1', serverPort));

  // Found through the portmapper, the server answers.
  const found = fromUniversalAddress(await c.getAddr(TEST_PROG, 1, 'tcp', 3));
  t.truthy(found);
  const rpc = await RpcClient.connect({ host: found!.host, port: found!.port });
  t.teardown(() => rpc.destroy());
  t.is(await rpc.call(TEST_PROG, 1, Proc.DELAY, x.uint, 1, x.uint), 1);

  // A stale registration (a server that died) is replaced on the next advertise().
  await ad.withdraw();
  t.true(await c.set(TEST_PROG, 1, 1));
  t.is(await c.getPort(TEST_PROG, 1), 1);
  const again = await advertise(server, { host: '127.0.0.1', port: pmPort });
  t.is(await c.getPort(TEST_PROG, 1), serverPort);

  await again.withdraw();
  t.is(await c.getPort(TEST_PROG, 1), 0);
  t.is(await c.getPort(TEST_PROG, 3), 0);
  t.is(await c.getAddr(0x20000102, 1), '');
  t.deepEqual(
    (await c.dump()).map((m) => m.prog),
    Array(6).fill(PMAP_PROG),
  );
});

test('advertise() starts an embedded portmapper where none answers, and the program is findable through it', async (t) => {
  const { server, port: serverPort } = await startTestServer(t);
  const pmPort = await freePort();
  t.false(await PortmapClient.probe('127.0.0.1', pmPort, 1000));
  const ad = await advertise(server, { host: '127.0.0.1', port: pmPort, embedded: true });
  t.teardown(() => ad.withdraw());
  t.is(ad.mode, 'embedded');
  t.is(ad.portmapPort, pmPort);
  t.truthy(ad.embedded);
  t.true(await PortmapClient.probe('127.0.0.1', pmPort, 1000));

  const c = await pmClient(t, pmPort);
  t.is(await c.getPort(TEST_PROG, 1), serverPort);
  t.is(await c.getAddr(TEST_PROG, 3, 'tcp', 4), toUniversalAddress('127.0.0.1', serverPort));
  t.is(await c.getAddr(TEST_PROG, 1, 'tcp', 3), toUniversalAddress('127.0.0.1', serverPort));
  t.is(await c.getPort(PMAP_PROG, 2), pmPort);

  // A client that finds the server there is answered by it.
  const raw = await rawConnection(t, serverPort);
  raw.send(frame(callBody({ xid: 1, proc: Proc.NULL })));
  t.deepEqual((await raw.reply()).header, { xid: 1, kind: 'success' });

  // withdraw() stops the embedded portmapper.
  c.close();
  await ad.withdraw();
  t.false(await PortmapClient.probe('127.0.0.1', pmPort, 1000));
});

test('advertise() with embedded: false rejects clearly when no portmapper answers', async (t) => {
  const { server } = await startTestServer(t);
  const pmPort = await freePort();
  const e = await t.throwsAsync(advertise(server, { host: '127.0.0.1', port: pmPort, embedded: false }));
  t.regex(e?.message ?? '', new RegExp(`no portmapper answers at 127\\.0\\.0\\.1:${pmPort}`));
  // Nothing was started on that port.
  t.false(await PortmapClient.probe('127.0.0.1', pmPort, 1000));
});

test('the embedded portmapper refuses garbage like any RPC server and keeps serving', async (t) => {
  const { port } = await portmapper(t);
  const raw = await rawConnection(t, port);
  // GETPORT with a truncated mapping.
  const r = await rawCall(raw, { xid: 1, prog: PMAP_PROG, vers: 2, proc: PmapProc.GETPORT, args: Buffer.alloc(8) });
  t.is(r.header.kind, 'accepted-error');
  // rpcbind GETADDR with a netid longer than 255 bytes.
  const long = await rawCall(raw, {
    xid: 2,
    prog: PMAP_PROG,
    vers: 4,
    proc: RpcbProc.GETADDR,
    args: Buffer.concat([Buffer.from('00061a8000000001', 'hex'), encodeArgs(x.opaque(), Buffer.alloc(300, 0x61))]),
  });
  t.is(long.header.kind, 'accepted-error');
  const c = await pmClient(t, port);
  await c.null();
  t.is(await c.getPort(PMAP_PROG, 2), port);
});
