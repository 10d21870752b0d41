/**
 * The embedded portmapper over UDP, as SunOS-era pmap_getport() and libtirpc's
 * last-resort lookup ask it: one call per datagram, the same answers as TCP,
 * garbage ignored without harm.
 */
import dgram from 'node:dgram';
import test from 'ava';
import {
  EmbeddedPortmapper,
  IPPROTO_TCP,
  IPPROTO_UDP,
  MAX_REGISTRATIONS,
  mapping,
  PMAP_PROG,
  PmapProc,
  PortmapClient,
  readReplyHeader,
  writeCallHeader,
  XdrReader,
  XdrWriter,
  x,
} from '../../clients/oncrpc/index.js';

function udpCall(port: number, datagram: Buffer, timeoutMs = 1000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeoutMs);
    s.on('message', (msg) => {
      clearTimeout(timer);
      s.close();
      resolve(msg);
    });
    s.send(datagram, port, '127.0.0.1');
  });
}

function getPortCall(xid: number, prog: number, vers: number, prot: number): Buffer {
  const w = new XdrWriter();
  writeCallHeader(w, xid, PMAP_PROG, 2, PmapProc.GETPORT, { flavor: 'none' });
  mapping.encode(w, { prog, vers, prot, port: 0 });
  return w.toBuffer();
}

test('GETPORT over UDP answers like TCP, and garbage datagrams are ignored', async (t) => {
  const pm = new EmbeddedPortmapper();
  const port = await pm.listen(0);
  t.teardown(() => pm.close());
  pm.registry.setMapping({ prog: 0x2a7c0001, vers: 1, prot: IPPROTO_TCP, port: 40001 }, 'test');

  const reply = await udpCall(port, getPortCall(0xdeadbeef, 0x2a7c0001, 1, IPPROTO_TCP));
  t.truthy(reply, 'a reply datagram');
  const r = new XdrReader(reply!);
  t.deepEqual(readReplyHeader(r), { xid: 0xdeadbeef, kind: 'success' });
  t.is(x.uint.decode(r), 40001);
  t.is(r.remaining, 0, 'no record marking on UDP');

  const self = new XdrReader((await udpCall(port, getPortCall(7, PMAP_PROG, 2, IPPROTO_UDP)))!);
  readReplyHeader(self);
  t.is(x.uint.decode(self), port, 'the portmapper lists itself on UDP');

  t.is(await udpCall(port, Buffer.from('not an rpc call'), 300), undefined);
  t.is(await udpCall(port, getPortCall(8, 0x2a7c0001, 1, IPPROTO_TCP).subarray(0, 30), 300), undefined);
  const after = await udpCall(port, getPortCall(9, 0x2a7c0001, 1, IPPROTO_TCP));
  t.truthy(after, 'still answering after garbage');
});

test('the portmapper protects its own entries and bounds its table', async (t) => {
  const pm = new EmbeddedPortmapper();
  const port = await pm.listen(0);
  t.teardown(() => pm.close());
  const c = await PortmapClient.connect('127.0.0.1', port);
  t.teardown(() => c.close());
  t.false(await c.unset(PMAP_PROG, 2), 'UNSET of the portmapper itself is refused');
  t.false(await c.set(PMAP_PROG, 9, 1234), 'SET of program 100000 is refused');
  t.is(await c.getPort(PMAP_PROG, 2), port);
  let accepted = 0;
  for (let i = 0; i < MAX_REGISTRATIONS + 10; i++) if (await c.set(0x30000000 + i, 1, 2000)) accepted++;
  t.is(accepted, MAX_REGISTRATIONS - 6, 'six entries are the portmapper itself');
  t.is((await c.dump()).length, MAX_REGISTRATIONS, 'DUMP still answers with the full table');
});
