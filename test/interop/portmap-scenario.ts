/**
 * Runs inside a private network and mount namespace (see portmapper.test.ts),
 * where 127.0.0.1:111 and /run belong to this scenario alone:
 *
 *   system   — starts the real rpcbind, then optarc registers with it
 *   embedded — nothing on port 111, so optarc serves its embedded portmapper
 *
 * In both, optarc serves the echo test program and the real optarc-agent
 * serves the optarc program; then the real tools are pointed at port 111:
 * the rpcgen C client through clnt_create(), `rpcinfo -p` and `rpcinfo -t`.
 * Prints one JSON object with what each tool printed and returned.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { advertise, PortmapClient, RpcServer } from '../../clients/oncrpc/index.js';
import { C_BIN } from '../helpers/c-programs.js';
import { BIN, startDaemon } from '../helpers/processes.js';
import { ECHO_PROG, echoProgram } from './echo-program.js';

const mode = process.argv[2];
const sizes = process.argv[3] ?? '0,1,8999,9000,65536,1048576,4194311';

/** Run a tool without blocking this process's event loop, which serves RPC meanwhile. */
function runTool(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function startAgent() {
  return startDaemon(BIN.agent, ['--portmap-port', '111']);
}

async function main(): Promise<void> {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  const result: Record<string, unknown> = { mode };
  let rpcbind: ChildProcess | undefined;
  if (mode === 'system') {
    // A private /run for rpcbind's socket and state, invisible outside this namespace.
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', '/run']);
    mkdirSync('/run/rpcbind', { recursive: true });
    rpcbind = spawn('rpcbind', ['-f'], { stdio: 'inherit' });
    result.rpcbindUp = await waitFor(() => PortmapClient.probe('127.0.0.1', 111, 500), 10_000);
  }
  // The agent first: in the embedded scenario it is the one serving port 111,
  // and the echo server below registers with it as with any portmapper.
  const agent = await startAgent();
  result.agent = agent.ready;
  const server = new RpcServer({ maxRecordSize: 16 * 1024 * 1024 });
  server.addProgram(echoProgram());
  await server.listen(0);
  const ad = await advertise(server, { port: 111, embedded: false });
  result.echoPort = server.port;

  result.clntCreate = await runTool(C_BIN.echoClient, ['--host', '127.0.0.1', '--mode', 'portmap', '--sizes', sizes]);
  result.clntCreateAuthSys = await runTool(C_BIN.echoClient, [
    '--host',
    'localhost',
    '--mode',
    'portmap',
    '--auth',
    'sys',
    '--sizes',
    '0,9000',
  ]);
  result.rpcinfoP = await runTool('rpcinfo', ['-p', '127.0.0.1']);
  result.rpcinfoT = await runTool('rpcinfo', ['-t', '127.0.0.1', String(0x2a7c0001), '1']);
  result.rpcinfoTEcho = await runTool('rpcinfo', ['-t', '127.0.0.1', String(ECHO_PROG)]);
  result.rpcinfoS = await runTool('rpcinfo', ['-s', '127.0.0.1']);
  result.rpcinfoU = await runTool('rpcinfo', ['-u', '127.0.0.1', '100000', '2']);
  result.optarcPing = await runTool(process.execPath, [BIN.optarc, 'ping', '--json']);

  await ad.withdraw();
  await server.close();
  agent.child.kill('SIGTERM');
  await new Promise((r) => agent.child.once('exit', r));
  if (mode === 'system') {
    // after withdraw and the agent's exit, rpcbind no longer lists either program
    result.rpcinfoAfter = await runTool('rpcinfo', ['-p', '127.0.0.1']);
    rpcbind?.kill('SIGTERM');
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ error: String(e?.stack ?? e) })}\n`);
  process.exit(1);
});
