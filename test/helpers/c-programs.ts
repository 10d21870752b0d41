/**
 * The rpcgen + libtirpc C peers of test/interop/c, built once into build/c by
 * their Makefile (incremental, so repeated calls are cheap), and started as
 * servers that print `PORT <n>` when listening.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './processes.js';

export const C_OUT = path.join(ROOT, 'build/c');

export const C_BIN = {
  echoServer: path.join(C_OUT, 'echo_server'),
  echoClient: path.join(C_OUT, 'echo_client'),
  benchClient: path.join(C_OUT, 'bench_client'),
  tcpSink: path.join(C_OUT, 'tcp_sink'),
  tcpSend: path.join(C_OUT, 'tcp_send'),
};

/** The reference C client of clients/c, built by its own Makefile. */
export const C_CLIENT_OUT = path.join(ROOT, 'build/clients-c');
export const C_CLIENT = {
  put: path.join(C_CLIENT_OUT, 'optarc-put'),
  burn: path.join(C_CLIENT_OUT, 'optarc-burn'),
  copy: path.join(C_CLIENT_OUT, 'optarc-copy'),
  get: path.join(C_CLIENT_OUT, 'optarc-get'),
  sha256Test: path.join(C_CLIENT_OUT, 'sha256-test'),
};

export function buildCClient(): void {
  execFileSync('make', ['-s', '-C', path.join(ROOT, 'clients/c'), `OUT=${C_CLIENT_OUT}`], { stdio: 'pipe' });
}

export function buildCPrograms(): void {
  execFileSync('make', ['-s', '-C', path.join(ROOT, 'test/interop/c'), `OUT=${C_OUT}`], { stdio: 'pipe' });
}

/** Start a program that prints `PORT <n>` once listening; resolves with the port. */
export function startPortServer(
  command: string,
  args: string[],
  timeoutMs = 10_000,
): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(command)} did not report a port; stderr: ${err}`));
    }, timeoutMs);
    child.stderr!.on('data', (d) => {
      err += d;
    });
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(command)} exited with ${code}; stderr: ${err}`));
    });
  });
}

export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
