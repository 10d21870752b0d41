/**
 * optarc's TypeScript client against the real rpcgen + libtirpc C server:
 * payloads from 0 bytes to 4 MiB + 7 echoed byte for byte, pipelined calls on
 * one connection, AUTH_SYS accepted, and libtirpc's own error replies
 * (PROC_UNAVAIL, PROG_MISMATCH with its range, PROG_UNAVAIL) understood.
 */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { RpcClient, type RpcError, x } from '../../clients/oncrpc/index.js';
import { buildCPrograms, C_BIN, startPortServer, stopProcess } from '../helpers/c-programs.js';
import { blob, ECHO_PROG, ECHO_VERS, EchoProc } from './echo-program.js';

let port = 0;

test.before(async (t) => {
  buildCPrograms();
  const server = await startPortServer(C_BIN.echoServer, ['--port', '0']);
  port = server.port;
  (t.context as { stop?: () => Promise<void> }).stop = () => stopProcess(server.child);
});

test.after.always(async (t) => {
  await (t.context as { stop?: () => Promise<void> }).stop?.();
});

test.serial('ECHO of 0 bytes to 4 MiB + 7 returns every byte', async (t) => {
  const client = await RpcClient.connect({ host: '127.0.0.1', port, timeoutMs: 60_000 });
  t.teardown(() => client.destroy());
  await client.call(ECHO_PROG, ECHO_VERS, EchoProc.NULL, x.xvoid, undefined, x.xvoid);
  for (const size of [0, 1, 3, 4, 5, 9000, 65536, 1048576, 4 * 1024 * 1024 + 7]) {
    const payload = randomBytes(size);
    const back = await client.call(ECHO_PROG, ECHO_VERS, EchoProc.ECHO, blob, payload, blob);
    t.true(back.equals(payload), `size ${size}`);
  }
  t.is(await client.call(ECHO_PROG, ECHO_VERS, EchoProc.WRITE, blob, Buffer.alloc(12345), x.uint), 12345);
});

test.serial('pipelined calls on one connection are answered and matched by xid', async (t) => {
  const client = await RpcClient.connect({ host: '127.0.0.1', port });
  t.teardown(() => client.destroy());
  const payloads = Array.from({ length: 200 }, (_, i) => randomBytes(i * 37));
  const answers = await Promise.all(
    payloads.map((p) => client.call(ECHO_PROG, ECHO_VERS, EchoProc.ECHO, blob, p, blob)),
  );
  for (const [i, a] of answers.entries()) t.true(a.equals(payloads[i]), `call ${i}`);
});

test.serial('AUTH_SYS credentials are accepted by libtirpc', async (t) => {
  const client = await RpcClient.connect({
    host: '127.0.0.1',
    port,
    credentials: { flavor: 'sys', stamp: 1, machineName: 'sunbox', uid: 1001, gid: 10, gids: [10, 14, 20] },
  });
  t.teardown(() => client.destroy());
  const back = await client.call(ECHO_PROG, ECHO_VERS, EchoProc.ECHO, blob, Buffer.from('hello'), blob);
  t.is(back.toString(), 'hello');
});

test.serial("libtirpc's error replies become typed errors", async (t) => {
  const client = await RpcClient.connect({ host: '127.0.0.1', port });
  t.teardown(() => client.destroy());
  const procUnavail = await t.throwsAsync(client.call(ECHO_PROG, ECHO_VERS, 9, x.xvoid, undefined, x.xvoid));
  t.is((procUnavail as RpcError).code, 'PROC_UNAVAIL');
  const progMismatch = await t.throwsAsync(client.call(ECHO_PROG, 7, 0, x.xvoid, undefined, x.xvoid));
  t.is((progMismatch as RpcError).code, 'PROG_MISMATCH');
  t.deepEqual([(progMismatch as RpcError).details.low, (progMismatch as RpcError).details.high], [1, 1]);
  const progUnavail = await t.throwsAsync(client.call(0x2a7c0fff, 1, 0, x.xvoid, undefined, x.xvoid));
  t.is((progUnavail as RpcError).code, 'PROG_UNAVAIL');
  const garbage = await t.throwsAsync(client.call(ECHO_PROG, ECHO_VERS, EchoProc.ECHO, x.uint, 0xffffffff, blob));
  t.is((garbage as RpcError).code, 'GARBAGE_ARGS');
  // the connection is still good after all of that
  t.is((await client.call(ECHO_PROG, ECHO_VERS, EchoProc.ECHO, blob, Buffer.from('ok'), blob)).toString(), 'ok');
});
