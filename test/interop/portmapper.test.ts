/**
 * Legacy clients find optarc through port 111. Each scenario runs in a private
 * network and mount namespace (unshare; needs root), so it owns 127.0.0.1:111
 * and /run whatever the host runs: once with the real rpcbind, with which optarc
 * registers, and once with nothing there, so the agent serves its embedded
 * portmapper. In both, the rpcgen C client reaches optarc through clnt_create()
 * (rpcbind v4 GETADDR over TCP), and `rpcinfo -p`, `-t` and `-s` see it.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { buildCPrograms } from '../helpers/c-programs.js';
import { ROOT } from '../helpers/processes.js';

const OPTARC_PROG = 0x2a7c0001;
const ECHO_PROG = 0x2a7c0f01;
const SIZES = [0, 1, 8999, 9000, 65536, 1048576, 4194311];
const asRoot = process.getuid?.() === 0 ? test.serial : test.serial.skip;

test.before(() => buildCPrograms());

type Tool = { code: number; stdout: string; stderr: string };

function scenario(mode: 'system' | 'embedded'): Promise<Record<string, any>> {
  const script = path.join(ROOT, 'dist/test/interop/portmap-scenario.js');
  return new Promise((resolve, reject) => {
    execFile(
      'unshare',
      ['--net', '--mount', '--fork', '--', process.execPath, script, mode, SIZES.join(',')],
      { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const line = String(stdout).trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(line));
        } catch {
          reject(new Error(`scenario ${mode} failed: ${err?.message}\n${stdout}\n${stderr}`));
        }
      },
    );
  });
}

function assertReachable(t: any, r: Record<string, any>, agentPort: number, echoPort: number) {
  const clnt: Tool = r.clntCreate;
  t.is(clnt.code, 0, `clnt_create: ${clnt.stdout}${clnt.stderr}`);
  for (const size of SIZES) t.true(clnt.stdout.includes(`OK ${size}\n`), `clnt_create echo of ${size} bytes`);
  t.is(r.clntCreateAuthSys.code, 0, `clnt_create with AUTH_SYS via localhost: ${r.clntCreateAuthSys.stdout}`);

  const dump: Tool = r.rpcinfoP;
  t.is(dump.code, 0, dump.stderr);
  t.regex(
    dump.stdout,
    new RegExp(`^\\s*${OPTARC_PROG}\\s+1\\s+tcp\\s+${agentPort}\\s*$`, 'm'),
    'rpcinfo -p lists the agent',
  );
  t.regex(
    dump.stdout,
    new RegExp(`^\\s*${ECHO_PROG}\\s+1\\s+tcp\\s+${echoPort}\\s*$`, 'm'),
    'rpcinfo -p lists the echo program',
  );
  t.regex(dump.stdout, /^\s*100000\s+2\s+tcp\s+111/m);

  t.is(r.rpcinfoT.code, 0, r.rpcinfoT.stderr);
  t.is(r.rpcinfoT.stdout.trim(), `program ${OPTARC_PROG} version 1 ready and waiting`);
  t.is(r.rpcinfoTEcho.code, 0, `rpcinfo -t without a version: ${r.rpcinfoTEcho.stderr}`);
  t.is(r.rpcinfoTEcho.stdout.trim(), `program ${ECHO_PROG} version 1 ready and waiting`);
  t.is(r.rpcinfoS.code, 0, r.rpcinfoS.stderr);
  t.regex(r.rpcinfoS.stdout, new RegExp(`^\\s*${OPTARC_PROG}\\s+1\\s+tcp`, 'm'), 'rpcinfo -s (rpcbind v3 DUMP)');

  t.is(r.rpcinfoU.code, 0, `rpcinfo -u (over UDP): ${r.rpcinfoU.stderr}`);
  t.is(r.rpcinfoU.stdout.trim(), 'program 100000 version 2 ready and waiting');

  t.is(r.optarcPing.code, 0, r.optarcPing.stderr);
  t.is(JSON.parse(r.optarcPing.stdout).port, agentPort);
}

asRoot('with the system rpcbind on port 111, optarc registers and real clients find it', async (t) => {
  const r = await scenario('system');
  t.falsy(r.error, r.error);
  t.true(r.rpcbindUp, 'rpcbind started in the namespace');
  t.is(r.agent.portmap, 'system');
  assertReachable(t, r, r.agent.rpcPort, r.echoPort);
  t.notRegex(r.rpcinfoAfter.stdout, new RegExp(`${OPTARC_PROG}|${ECHO_PROG}`), 'unregistered on exit');
});

asRoot('with no portmapper, the agent serves one on port 111 that real clients use', async (t) => {
  const r = await scenario('embedded');
  t.falsy(r.error, r.error);
  t.is(r.agent.portmap, 'embedded');
  t.is(r.agent.portmapPort, 111);
  assertReachable(t, r, r.agent.rpcPort, r.echoPort);
});
