/**
 * ONC RPC v2 messages as the server answers them (RFC 5531 §9): version checks,
 * every accept_stat and reject_stat, AUTH_NONE and AUTH_SYS, the opaque xid,
 * and reply order on a pipelined connection. Where the TypeScript client cannot
 * send a malformed call, the bytes are built by hand and sent on a raw socket.
 */
import { randomInt } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import {
  AcceptStat,
  AuthStat,
  type Credentials,
  RpcClient,
  RpcError,
  XdrWriter,
  x,
} from '../../clients/oncrpc/index.js';
import {
  addArgs,
  authSys,
  authSysBody,
  callBody,
  encodeArgs,
  frame,
  Proc,
  rawCall,
  rawConnection,
  STRICT_PROG,
  startTestServer,
  TEST_PROG,
  whoami,
} from './rpc-test-kit.js';

async function client(t: ExecutionContext, port: number, credentials?: Credentials): Promise<RpcClient> {
  const c = await RpcClient.connect({ host: '127.0.0.1', port, credentials, timeoutMs: 5000 });
  t.teardown(() => c.destroy());
  return c;
}

async function rejection(t: ExecutionContext, p: Promise<unknown>): Promise<RpcError> {
  const e = await t.throwsAsync(p, { instanceOf: RpcError });
  return e as RpcError;
}

test('CALL gets a REPLY carrying the result, through the client and on the wire', async (t) => {
  const { port } = await startTestServer(t);
  const c = await client(t, port);
  await c.call(TEST_PROG, 1, Proc.NULL, x.xvoid, undefined, x.xvoid);
  t.deepEqual(
    await c.call(TEST_PROG, 1, Proc.ECHO, x.opaque(), Buffer.from('hello'), x.opaque()),
    Buffer.from('hello'),
  );
  t.is(await c.call(TEST_PROG, 1, Proc.ADD, addArgs, { a: 40, b: 2 }, x.int), 42);
  t.true(await c.call(TEST_PROG, 1, Proc.FLAG, x.bool, false, x.bool));

  const raw = await rawConnection(t, port);
  const r = await rawCall(raw, { xid: 0x1234, proc: Proc.ADD, args: encodeArgs(addArgs, { a: -5, b: 3 }) });
  t.deepEqual(r.header, { xid: 0x1234, kind: 'success' });
  // xid, REPLY, MSG_ACCEPTED, verifier AUTH_NONE with an empty body, SUCCESS, then the int result.
  t.is(r.record.toString('hex'), `00001234${'00000001'}${'00000000'.repeat(4)}fffffffe`);
});

test('only RPC version 2 is spoken: any other gets RPC_MISMATCH 2..2 and the connection stays usable', async (t) => {
  const { port, counters } = await startTestServer(t);
  const raw = await rawConnection(t, port);
  for (const rpcvers of [0, 1, 3, 0x7fffffff, 0xffffffff]) {
    const r = await rawCall(raw, { xid: rpcvers ^ 0x55, rpcvers, proc: Proc.NULL });
    t.deepEqual(r.header, { xid: (rpcvers ^ 0x55) >>> 0, kind: 'rpc-mismatch', low: 2, high: 2 }, `rpcvers ${rpcvers}`);
  }
  t.is(counters.NULL, 0);
  const ok = await rawCall(raw, { xid: 7, proc: Proc.NULL });
  t.is(ok.header.kind, 'success');
  t.is(counters.NULL, 1);

  // A version mismatch is answered before anything else is looked at, even for a program nobody serves.
  const r = await rawCall(raw, {
    xid: 8,
    rpcvers: 3,
    prog: 0x3fffffff,
    proc: 77,
    cred: { flavor: 9, body: Buffer.alloc(0) },
  });
  t.is(r.header.kind, 'rpc-mismatch');
});

test('PROG_UNAVAIL, PROG_MISMATCH with the served range, PROC_UNAVAIL', async (t) => {
  const { port } = await startTestServer(t);
  const c = await client(t, port);

  const unavail = await rejection(t, c.call(0x3ffffffe, 1, 0, x.xvoid, undefined, x.xvoid));
  t.is(unavail.code, 'PROG_UNAVAIL');

  // TEST_PROG is served in versions 1 and 3: asking for 2 or 4 names that range.
  for (const vers of [0, 2, 4, 0xffffffff]) {
    const mismatch = await rejection(t, c.call(TEST_PROG, vers, 0, x.xvoid, undefined, x.xvoid));
    t.is(mismatch.code, 'PROG_MISMATCH');
    t.deepEqual(mismatch.details, { low: 1, high: 3 });
  }
  // Version 3 exists, with only NULL.
  await c.call(TEST_PROG, 3, Proc.NULL, x.xvoid, undefined, x.xvoid);
  const noProc3 = await rejection(t, c.call(TEST_PROG, 3, Proc.ECHO, x.opaque(), Buffer.alloc(1), x.opaque()));
  t.is(noProc3.code, 'PROC_UNAVAIL');

  for (const proc of [99, 0xffffffff]) {
    const e = await rejection(t, c.call(TEST_PROG, 1, proc, x.xvoid, undefined, x.xvoid));
    t.is(e.code, 'PROC_UNAVAIL');
  }

  const raw = await rawConnection(t, port);
  const r = await rawCall(raw, { xid: 1, vers: 2, proc: 0 });
  t.deepEqual(r.header, { xid: 1, kind: 'accepted-error', stat: AcceptStat.PROG_MISMATCH, low: 1, high: 3 });
  const r2 = await rawCall(raw, { xid: 2, prog: 1, proc: 0 });
  t.deepEqual(r2.header, { xid: 2, kind: 'accepted-error', stat: AcceptStat.PROG_UNAVAIL });
  const r3 = await rawCall(raw, { xid: 3, proc: 1000 });
  t.deepEqual(r3.header, { xid: 3, kind: 'accepted-error', stat: AcceptStat.PROC_UNAVAIL });
});

test('arguments that do not decode get GARBAGE_ARGS and the handler never runs', async (t) => {
  const { port, counters } = await startTestServer(t);
  const raw = await rawConnection(t, port);
  const u32 = (...v: number[]) => {
    const w = new XdrWriter(16);
    for (const n of v) w.uint(n >>> 0);
    return w.toBuffer();
  };
  const cases: { name: string; proc: number; args: Buffer }[] = [
    { name: 'ADD with no arguments', proc: Proc.ADD, args: Buffer.alloc(0) },
    { name: 'ADD truncated to one int', proc: Proc.ADD, args: u32(1) },
    { name: 'ADD truncated mid-int', proc: Proc.ADD, args: Buffer.from([0, 0, 0, 1, 0, 0]) },
    { name: 'bool 2', proc: Proc.FLAG, args: u32(2) },
    { name: 'bool 0xFFFFFFFF', proc: Proc.FLAG, args: u32(0xffffffff) },
    { name: 'opaque<16> of 17 bytes', proc: Proc.ECHO16, args: Buffer.concat([u32(17), Buffer.alloc(20)]) },
    { name: 'opaque<> claiming 0xFFFFFFFF bytes', proc: Proc.ECHO, args: u32(0xffffffff) },
    {
      name: 'opaque<> claiming more than the record holds',
      proc: Proc.ECHO,
      args: Buffer.concat([u32(100), Buffer.alloc(12)]),
    },
    { name: 'opaque<> missing its padding', proc: Proc.ECHO, args: Buffer.concat([u32(5), Buffer.from('hello')]) },
    { name: 'uint cut short', proc: Proc.DELAY, args: Buffer.from([0, 0]) },
  ];
  let xid = 100;
  for (const c of cases) {
    const r = await rawCall(raw, { xid: ++xid, proc: c.proc, args: c.args });
    t.deepEqual(r.header, { xid, kind: 'accepted-error', stat: AcceptStat.GARBAGE_ARGS }, c.name);
  }
  t.is(counters.ADD + counters.FLAG + counters.ECHO + counters.ECHO16 + counters.DELAY, 0);

  // The limits themselves are fine.
  const ok = await rawCall(raw, {
    xid: 1,
    proc: Proc.ECHO16,
    args: encodeArgs(x.opaque(16), Buffer.alloc(16, 1)),
  });
  t.deepEqual(ok.header, { xid: 1, kind: 'success' });
  t.deepEqual(x.opaque(16).decode(ok.reader), Buffer.alloc(16, 1));

  const c = await client(t, port);
  const e = await rejection(t, c.call(TEST_PROG, 1, Proc.FLAG, x.uint, 2, x.bool));
  t.is(e.code, 'GARBAGE_ARGS');
});

test('a handler that throws or rejects gets SYSTEM_ERR, a log line, and the server keeps serving', async (t) => {
  const { port, log, server } = await startTestServer(t);
  const c = await client(t, port);
  for (let i = 0; i < 3; i++) {
    const thrown = await rejection(t, c.call(TEST_PROG, 1, Proc.THROW, x.xvoid, undefined, x.xvoid));
    t.is(thrown.code, 'SYSTEM_ERR');
    const rejected = await rejection(t, c.call(TEST_PROG, 1, Proc.REJECT, x.xvoid, undefined, x.xvoid));
    t.is(rejected.code, 'SYSTEM_ERR');
    // Same connection, right after.
    t.is(await c.call(TEST_PROG, 1, Proc.ADD, addArgs, { a: i, b: 1 }, x.int), i + 1);
  }
  // Pipelined with good calls on one connection: each gets its own answer.
  const mixed = await Promise.allSettled([
    c.call(TEST_PROG, 1, Proc.REJECT, x.xvoid, undefined, x.xvoid),
    c.call(TEST_PROG, 1, Proc.ECHO, x.opaque(), Buffer.from('a'), x.opaque()),
    c.call(TEST_PROG, 1, Proc.THROW, x.xvoid, undefined, x.xvoid),
    c.call(TEST_PROG, 1, Proc.ECHO, x.opaque(), Buffer.from('b'), x.opaque()),
  ]);
  t.deepEqual(
    mixed.map((m) => (m.status === 'fulfilled' ? String(m.value) : (m.reason as RpcError).code)),
    ['SYSTEM_ERR', 'a', 'SYSTEM_ERR', 'b'],
  );
  const failures = log.lines.filter((l) => l.level === 'error' && l.msg === 'procedure failed');
  t.is(failures.length, 8);
  t.true(failures.some((l) => String(l.fields.error).includes('always throws')));
  t.true(failures.some((l) => String(l.fields.error).includes('always rejects')));
  t.is(server.stats.connections, 1);

  const raw = await rawConnection(t, port);
  const r = await rawCall(raw, { xid: 0xabcdef, proc: Proc.THROW });
  t.deepEqual(r.header, { xid: 0xabcdef, kind: 'accepted-error', stat: AcceptStat.SYSTEM_ERR });
});

test('AUTH_NONE and AUTH_SYS credentials reach the procedure', async (t) => {
  const { port } = await startTestServer(t);
  const none = await client(t, port);
  t.deepEqual(await none.call(TEST_PROG, 1, Proc.WHOAMI, x.xvoid, undefined, whoami), {
    flavor: 'none',
    stamp: 0,
    machineName: '',
    uid: 0,
    gid: 0,
    gids: [],
  });

  const cred = {
    flavor: 'sys' as const,
    stamp: 0xdeadbeef,
    machineName: 'scanner-console.lab',
    uid: 1001,
    gid: 10,
    gids: [10, 14, 1000],
  };
  const sys = await client(t, port, cred);
  t.deepEqual(await sys.call(TEST_PROG, 1, Proc.WHOAMI, x.xvoid, undefined, whoami), {
    flavor: 'sys',
    stamp: cred.stamp,
    machineName: cred.machineName,
    uid: cred.uid,
    gid: cred.gid,
    gids: cred.gids,
  });

  // The limits: a 255-byte machine name, 16 gids, uid/gid at the top of their range, latin-1 bytes.
  const limits = {
    flavor: 'sys' as const,
    stamp: 0,
    machineName: `h\u00e9${'x'.repeat(253)}`,
    uid: 0xffffffff,
    gid: 0xfffffffe,
    gids: Array.from({ length: 16 }, (_, i) => i * 1000),
  };
  const maxed = await client(t, port, limits);
  const who = await maxed.call(TEST_PROG, 1, Proc.WHOAMI, x.xvoid, undefined, whoami);
  t.is(who.machineName.length, 255);
  t.deepEqual(who, { ...limits });

  // By hand on the wire, with an empty machine name and no gids.
  const raw = await rawConnection(t, port);
  const r = await rawCall(raw, {
    xid: 5,
    proc: Proc.WHOAMI,
    cred: authSys({ stamp: 1, machineName: '', uid: 2, gid: 3, gids: [] }),
  });
  t.deepEqual(whoami.decode(r.reader), { flavor: 'sys', stamp: 1, machineName: '', uid: 2, gid: 3, gids: [] });
});

test('credential flavors other than AUTH_NONE and AUTH_SYS get AUTH_ERROR AUTH_BADCRED', async (t) => {
  const { port, counters } = await startTestServer(t);
  const raw = await rawConnection(t, port);
  // AUTH_SHORT, AUTH_DH, AUTH_KERB4, RPCSEC_GSS, and nonsense.
  for (const flavor of [2, 3, 4, 6, 390003, 0x7fffffff, 0xffffffff]) {
    const r = await rawCall(raw, { xid: flavor, proc: Proc.NULL, cred: { flavor, body: Buffer.from('xxxx') } });
    t.deepEqual(r.header, { xid: flavor >>> 0, kind: 'auth-error', stat: AuthStat.AUTH_BADCRED }, `flavor ${flavor}`);
  }
  t.is(counters.NULL, 0);
  // The same connection still serves a proper call.
  const ok = await rawCall(raw, { xid: 1, proc: Proc.NULL });
  t.is(ok.header.kind, 'success');
  t.is(counters.NULL, 1);
});

test('malformed AUTH_SYS bodies get AUTH_BADCRED', async (t) => {
  const { port, counters } = await startTestServer(t);
  const raw = await rawConnection(t, port);
  const good = { stamp: 7, machineName: 'host', uid: 1, gid: 1, gids: [1, 2] };
  const goodBody = authSysBody(good);
  const bodies: { name: string; body: Buffer }[] = [
    { name: '17 gids', body: authSysBody({ ...good, gids: Array.from({ length: 17 }, (_, i) => i) }) },
    { name: '256-byte machine name', body: authSysBody({ ...good, machineName: 'm'.repeat(256) }) },
    {
      name: 'gid count 0xFFFFFFFF',
      body: Buffer.concat([goodBody.subarray(0, goodBody.length - 12), Buffer.from('ffffffff', 'hex')]),
    },
    {
      name: 'machine name length 0xFFFFFFFF',
      body: Buffer.concat([Buffer.from('00000007ffffffff', 'hex'), Buffer.alloc(16)]),
    },
    { name: 'truncated in the gids', body: goodBody.subarray(0, goodBody.length - 4) },
    { name: 'truncated after the stamp', body: goodBody.subarray(0, 4) },
    { name: 'empty', body: Buffer.alloc(0) },
    { name: 'trailing bytes', body: Buffer.concat([goodBody, Buffer.alloc(4)]) },
  ];
  let xid = 0;
  for (const b of bodies) {
    const r = await rawCall(raw, { xid: ++xid, proc: Proc.WHOAMI, cred: { flavor: 1, body: b.body } });
    t.deepEqual(r.header, { xid, kind: 'auth-error', stat: AuthStat.AUTH_BADCRED }, b.name);
  }
  t.is(counters.WHOAMI, 0);
  const ok = await rawCall(raw, { xid: 99, proc: Proc.WHOAMI, cred: { flavor: 1, body: goodBody } });
  t.deepEqual(whoami.decode(ok.reader), { flavor: 'sys', ...good });
});

test('a program that requires AUTH_SYS refuses AUTH_NONE with AUTH_TOOWEAK', async (t) => {
  const { port, counters } = await startTestServer(t);
  const none = await client(t, port);
  const e = await rejection(t, none.call(STRICT_PROG, 1, Proc.NULL, x.xvoid, undefined, x.xvoid));
  t.is(e.code, 'AUTH_ERROR');
  t.is(e.details.authStat, AuthStat.AUTH_TOOWEAK);
  t.is(counters.NULL, 0);

  const sys = await client(t, port, { flavor: 'sys', stamp: 1, machineName: 'ws1', uid: 500, gid: 50, gids: [] });
  await sys.call(STRICT_PROG, 1, Proc.NULL, x.xvoid, undefined, x.xvoid);
  t.is((await sys.call(STRICT_PROG, 1, Proc.WHOAMI, x.xvoid, undefined, whoami)).uid, 500);
  t.is(counters.NULL, 1);

  // A malformed AUTH_SYS body is AUTH_BADCRED here too, not TOOWEAK.
  const raw = await rawConnection(t, port);
  const r = await rawCall(raw, {
    xid: 3,
    prog: STRICT_PROG,
    proc: Proc.NULL,
    cred: { flavor: 1, body: Buffer.alloc(3) },
  });
  t.deepEqual(r.header, { xid: 3, kind: 'auth-error', stat: AuthStat.AUTH_BADCRED });
  const weak = await rawCall(raw, { xid: 4, prog: STRICT_PROG, proc: Proc.NULL });
  t.deepEqual(weak.header, { xid: 4, kind: 'auth-error', stat: AuthStat.AUTH_TOOWEAK });
});

test('the xid is opaque: any value, including 0 and 0xFFFFFFFF, is echoed as sent', async (t) => {
  const { port } = await startTestServer(t);
  const raw = await rawConnection(t, port);
  const xids = [0, 0xffffffff, 0x80000000, 0x7fffffff, 1, 1, 0xfffffffe];
  for (let i = 0; i < 20; i++) xids.push(randomInt(0, 2 ** 32 - 1));
  // One at a time, and all pipelined in a single write.
  for (const xid of xids) {
    const r = await rawCall(raw, { xid, proc: Proc.ADD, args: encodeArgs(addArgs, { a: xid & 0xff, b: 1 }) });
    t.is(r.header.xid, xid);
    t.is(r.reader.int(), (xid & 0xff) + 1);
  }
  raw.send(Buffer.concat(xids.map((xid) => frame(callBody({ xid, proc: Proc.NULL })))));
  const echoed: number[] = [];
  for (let i = 0; i < xids.length; i++) echoed.push((await raw.reply()).header.xid);
  t.deepEqual(echoed, xids);
  // Errors echo it too.
  const e = await rawCall(raw, { xid: 0xffffffff, rpcvers: 9, proc: 0 });
  t.is(e.header.xid, 0xffffffff);
  const a = await rawCall(raw, { xid: 0, proc: 0, cred: { flavor: 5, body: Buffer.alloc(0) } });
  t.deepEqual(a.header, { xid: 0, kind: 'auth-error', stat: AuthStat.AUTH_BADCRED });
});

test('replies leave in call order on a connection even when handlers finish out of order', async (t) => {
  const { port, counters } = await startTestServer(t);
  const raw = await rawConnection(t, port);
  const delays = [120, 5, 60, 0, 90, 1, 30, 0, 75, 10, 45, 0, 100, 20, 0, 15];
  // Interleave synchronous procedures (answered at once) between the slow ones.
  const calls = delays.flatMap((ms, i) => [
    callBody({ xid: 1000 + 2 * i, proc: Proc.DELAY, args: encodeArgs(x.uint, ms) }),
    callBody({ xid: 1001 + 2 * i, proc: Proc.ADD, args: encodeArgs(addArgs, { a: i, b: i }) }),
  ]);
  raw.send(Buffer.concat(calls.map((b) => frame(b))));
  t.true(await raw.waitRecords(calls.length, 5000));
  for (let i = 0; i < delays.length; i++) {
    const slow = await raw.reply();
    t.deepEqual(slow.header, { xid: 1000 + 2 * i, kind: 'success' });
    t.is(slow.reader.uint(), delays[i]);
    const fast = await raw.reply();
    t.deepEqual(fast.header, { xid: 1001 + 2 * i, kind: 'success' });
    t.is(fast.reader.int(), 2 * i);
  }
  t.is(counters.DELAY, delays.length);

  // Through the client: pipelined calls on one connection all resolve with their own results.
  const c = await client(t, port);
  const results = await Promise.all(delays.map((ms) => c.call(TEST_PROG, 1, Proc.DELAY, x.uint, ms, x.uint)));
  t.deepEqual(results, delays);
});

test('a CALL header that cannot be read closes the connection; a REPLY sent to the server too', async (t) => {
  const { port, log } = await startTestServer(t);
  // msg_type REPLY where a CALL belongs.
  const a = await rawConnection(t, port);
  a.send(frame(callBody({ xid: 1, msgType: 1, proc: 0 })));
  t.true(await a.waitClosed(3000));
  t.is(a.records.length, 0);
  // Cut off inside the credential.
  const b = await rawConnection(t, port);
  b.send(frame(callBody({ xid: 2, proc: 0 }).subarray(0, 30)));
  t.true(await b.waitClosed(3000));
  // A credential longer than the 400 bytes RFC 5531 allows.
  const c = await rawConnection(t, port);
  c.send(frame(callBody({ xid: 3, proc: 0, cred: { flavor: 1, body: Buffer.alloc(404) } })));
  t.true(await c.waitClosed(3000));
  t.true(log.lines.some((l) => l.msg.includes('malformed RPC call header') && typeof l.fields.peer === 'string'));
});
