/**
 * An optarc program served on a real RpcServer over a staging area in a temp
 * dir, for the tests that talk to the agent through the RPC. Log lines are
 * captured so tests can assert what the agent said.
 */
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { RpcServer } from '../../clients/oncrpc/index.js';
import { AccessPolicy } from '../../edge-agent/service/access.js';
import { OptarcProgram } from '../../edge-agent/service/optarc-program.js';
import { ControllerLease } from '../../edge-agent/session/lease.js';
import { StagingArea } from '../../edge-agent/staging/staging-area.js';

export interface AgentOptions {
  leaseMs?: number;
  graceMs?: number;
  allow?: string[];
  reservedPort?: boolean;
  quota?: bigint;
  totalQuota?: bigint;
  maxRecordSize?: number;
}

export async function startAgent(t: ExecutionContext, opts: AgentOptions = {}) {
  const warnings: string[] = [];
  const errors: string[] = [];
  const root = await fs.mkdtemp(path.join(tmpdir(), 'optarc-agent-'));
  t.teardown(() => fs.rm(root, { recursive: true, force: true }));
  const log = {
    info() {},
    warn: (m: string, f?: Record<string, unknown>) => warnings.push(`${m} ${JSON.stringify(f)}`),
    error: (m: string, f?: Record<string, unknown>) => errors.push(`${m} ${JSON.stringify(f)}`),
  };
  const program = new OptarcProgram({
    charset: 'utf-8',
    staging: new StagingArea({
      root,
      charset: 'utf-8',
      sessionQuotaBytes: opts.quota ?? 1n << 30n,
      totalQuotaBytes: opts.totalQuota ?? 1n << 30n,
      minFreeBytes: 0n,
    }),
    access: new AccessPolicy({ allow: opts.allow ?? ['127.0.0.0/8'], requireReservedPort: opts.reservedPort ?? false }),
    lease: new ControllerLease({ leaseMs: opts.leaseMs, disconnectGraceMs: opts.graceMs }),
    clockSkewWarnSeconds: 300,
    log,
  });
  const server = new RpcServer({ maxRecordSize: opts.maxRecordSize, log });
  server.addProgram(program.version());
  const port = await server.listen(0);
  t.teardown(() => server.close());
  return { port, root, warnings, errors };
}
