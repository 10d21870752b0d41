/**
 * Runs inside a private network and mount namespace (see c-put.test.ts), where
 * 127.0.0.1:111 belongs to this scenario alone: the real optarc-agent starts
 * with its default portmapper port, 111, finds nothing there and serves its
 * embedded portmapper; then the C client reaches it the way a Solaris client
 * does, through clnt_create() (no --port): optarc-put stages a tree with
 * AUTH_SYS credentials, and optarc-burn (the same client) asks for a burn.
 *
 *   node c-put-scenario.js <config.json> <tree> <client name>
 *
 * The staging root named in the config is on the host's filesystem, so the
 * test checks what was staged after this exits. Prints one JSON object.
 */
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { BIN, ROOT, startDaemon } from '../helpers/processes.js';

/** Built by c-put.test.ts (make -C clients/c OUT=build/clients-c) before this runs. */
const C_OUT = path.join(ROOT, 'build/clients-c');

const [configFile, tree, clientName] = process.argv.slice(2);

function runTool(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function startAgent() {
  return startDaemon(BIN.agent, ['--config', configFile]);
}

async function main(): Promise<void> {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  const result: Record<string, unknown> = {};
  const agent = await startAgent();
  result.agent = agent.ready;
  result.put = await runTool(path.join(C_OUT, 'optarc-put'), ['--auth-sys', '--client', clientName, '127.0.0.1', tree]);
  result.burn = await runTool(path.join(C_OUT, 'optarc-burn'), [
    '127.0.0.1',
    '--copies',
    '1',
    '--media',
    'BD-R',
    '--label',
    'PORTMAP',
    '--client',
    clientName,
  ]);
  agent.child.removeAllListeners('exit');
  agent.child.kill('SIGTERM');
  await new Promise((r) => agent.child.once('exit', r));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ error: String(e?.stack ?? e) })}\n`);
  process.exit(1);
});
