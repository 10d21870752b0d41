/**
 * A real rpcgen + libtirpc C client against optarc's RpcServer on a fixed port
 * (clnttcp_create), with the record buffer sizes real clients use — 9000
 * (illumos: Solaris clients send ~8996-byte fragments), 65536 (libtirpc's
 * default) and 262144 — AUTH_NONE and AUTH_SYS, payloads from 0 bytes to
 * 4 MiB + 7: every byte must come back equal.
 */
import { execFile } from 'node:child_process';
import test from 'ava';
import { type CallContext, RpcServer } from '../../clients/oncrpc/index.js';
import { buildCPrograms, C_BIN } from '../helpers/c-programs.js';
import { echoProgram } from './echo-program.js';

const SIZES = [0, 1, 3, 4, 5, 8995, 8996, 8999, 9000, 65532, 65536, 262144, 1048576, 4 * 1024 * 1024 + 7];

test.before(() => buildCPrograms());

/** The C client to a fixed port (clnttcp_create), echoing a payload of each size. */
function echoClient(
  port: number,
  auth: 'none' | 'sys',
  sizes: number[],
  extra: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [
    '--host',
    '127.0.0.1',
    '--mode',
    'port',
    '--port',
    String(port),
    '--auth',
    auth,
    '--sizes',
    sizes.join(','),
    ...extra,
  ];
  return new Promise((resolve) => {
    execFile(C_BIN.echoClient, args, { timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
      });
    });
  });
}

async function startEcho(t: { teardown(fn: () => unknown): void }, requireAuthSys = false) {
  const seen: { ctx: CallContext; size: number }[] = [];
  const server = new RpcServer({ maxRecordSize: 16 * 1024 * 1024 });
  server.addProgram(echoProgram({ requireAuthSys, onEcho: (ctx, size) => seen.push({ ctx, size }) }));
  const port = await server.listen(0);
  t.teardown(() => server.close());
  return { port, seen };
}

for (const bufsize of [9000, 65536, 262144]) {
  for (const auth of ['none', 'sys'] as const) {
    test(`C client, clnttcp_create, buffer ${bufsize}, AUTH_${auth.toUpperCase()}: every payload echoed byte for byte`, async (t) => {
      const { port, seen } = await startEcho(t, auth === 'sys');
      const r = await echoClient(port, auth, SIZES, ['--bufsize', String(bufsize)]);
      t.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
      for (const size of SIZES) t.true(r.stdout.includes(`OK ${size}\n`), `size ${size}: ${r.stdout}`);
      t.deepEqual(
        seen.map((s) => s.size),
        SIZES,
        'the server saw every payload at its full size',
      );
      for (const { ctx } of seen) {
        t.is(ctx.credentials.flavor, auth);
        if (ctx.credentials.flavor === 'sys') {
          t.is(ctx.credentials.uid, process.getuid!());
          t.is(ctx.credentials.gid, process.getgid!());
          t.true(ctx.credentials.machineName.length > 0);
        }
      }
    });
  }
}

test('C client with AUTH_NONE against a program that requires AUTH_SYS is refused with an auth error', async (t) => {
  const { port, seen } = await startEcho(t, true);
  const r = await echoClient(port, 'none', [1]);
  t.not(r.code, 0);
  t.regex(r.stdout + r.stderr, /Authentication error|too weak/i);
  t.is(seen.length, 0);
});
