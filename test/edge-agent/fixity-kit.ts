/**
 * What the fixity tests share: a burning agent mirroring to a real gateway
 * (mirror-kit) with its metrics on, a gateway process the test can freeze
 * (SIGSTOP: every request of the agent then waits, which holds a fixity pass
 * in the middle of a cloud check without any timing) and thaw, burning a tree
 * into volumes, loading a shelved disc into a stand-in drive, the catalog's
 * fixity rows, reader tokens and the gateway's search API and metrics.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { parseMetrics } from '../helpers/metrics-text.js';
import { BIN, freePort, run, startDaemon, stopDaemon } from '../helpers/processes.js';
import { type TestGateway, volumeStates, waitFor } from '../mirror/mirror-kit.js';
import { type BurnAgent, makeTree, startBurnAgent } from './burn-kit.js';

export const MiB = 1024 * 1024;

export interface FixityAgent extends BurnAgent {
  metricsPort: number;
  metrics(): Promise<Map<string, number>>;
}

/** A burning agent with its metrics on, mirroring to `gw` when a token is given. */
export async function fixityAgent(
  t: ExecutionContext,
  o: { gw?: TestGateway; token?: string; everyHours?: number; drives?: number } = {},
): Promise<FixityAgent> {
  const metricsPort = await freePort();
  const agent = await startBurnAgent(t, {
    drives: o.drives ?? 2,
    extra: {
      burn: { site: 'lab-1' },
      metrics: { enabled: true, host: '127.0.0.1', port: metricsPort },
      fixity: { everyHours: o.everyHours ?? 0 },
      ...(o.gw && o.token
        ? { mirror: { gatewayUrl: o.gw.url, token: o.token, reconnectMinSeconds: 0.2, reconnectMaxSeconds: 1 } }
        : {}),
    },
  });
  return Object.assign(agent, {
    metricsPort,
    async metrics() {
      const r = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      if (r.status !== 200) throw new Error(`agent /metrics: ${r.status}`);
      return parseMetrics(await r.text());
    },
  });
}

/** `optarc-gateway serve` on gw's config, as a process this test can freeze and thaw. */
export async function gatewayProcess(t: ExecutionContext, gw: TestGateway) {
  const daemon = await startDaemon(BIN.gateway, ['serve', '--config', gw.config]);
  const child = daemon.child;
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGCONT');
    await stopDaemon(child);
  });
  return {
    child,
    freeze: () => child.kill('SIGSTOP'),
    thaw: () => child.kill('SIGCONT'),
    stop: () => stopDaemon(child),
    /** What the gateway logged on stderr so far. */
    log: () => daemon.stderr(),
  };
}

/** Stages `sizes` and burns them into one copy per volume; the new volumes' VSNs, in order. */
export async function burnTree(agent: BurnAgent, sizes: Record<string, number>, label: string): Promise<string[]> {
  const before = new Set(volumeStates(agent).keys());
  const src = path.join(agent.dir, `src-${label}`);
  await makeTree(src, sizes);
  const put = await agent.cli('put', src);
  if (put.code !== 0) throw new Error(`optarc put: ${put.stderr}`);
  const burn = await agent.cli('burn', '--copies', '1', '--media', 'test-8m', '--label', label, '--wait');
  if (burn.code !== 0) throw new Error(`optarc burn: ${burn.stdout}${burn.stderr}`);
  return [...volumeStates(agent).keys()].filter((v) => !before.has(v));
}

export async function waitMirrored(agent: BurnAgent, vsns: string[]): Promise<void> {
  await waitFor(`${vsns.join(', ')} mirrored`, () => vsns.every((v) => volumeStates(agent).get(v) === 'mirrored'));
}

/** Puts copy 1 of `vsn` from the shelf into `drive` (a stand-in bay); its path. */
export async function loadDisc(agent: BurnAgent, vsn: string, drive = 'sr0'): Promise<string> {
  const bay = path.join(agent.dir, 'drives', drive, 'medium');
  await fs.rm(bay, { force: true });
  await fs.copyFile(path.join(agent.shelf, `${vsn}-1.iso`), bay);
  return bay;
}

/** Flips every bit of one byte of `file` at `offset`. */
export async function flipByte(file: string, offset: number): Promise<void> {
  const fh = await fs.open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

export interface CheckRowJson {
  id: number;
  pass_id: number;
  vsn: string;
  target: string;
  ok: number;
  bytes: number;
  detail: string;
  at: number;
  reported: number;
}

/** The catalog's fixity checks (read-only, while the agent runs). */
export function checkRows(agent: BurnAgent): CheckRowJson[] {
  const db = new Database(path.join(agent.state, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(
        `SELECT c.id, c.pass_id, v.vsn, c.target, c.ok, c.bytes, c.detail, c.at, c.reported
         FROM fixity_checks c JOIN volumes v ON v.id = c.volume_id ORDER BY c.id`,
      )
      .all() as CheckRowJson[];
  } finally {
    db.close();
  }
}

export function passRows(
  agent: BurnAgent,
): { id: number; started_at: number; finished_at: number | null; reason: string }[] {
  const db = new Database(path.join(agent.state, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM fixity_passes ORDER BY id').all() as any[];
  } finally {
    db.close();
  }
}

export function imageBytesOf(agent: BurnAgent, vsn: string): number {
  const db = new Database(path.join(agent.state, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT image_bytes AS n FROM volumes WHERE vsn = ?').get(vsn) as { n: number }).n;
  } finally {
    db.close();
  }
}

/** A reader token for `site`, issued through `optarc-gateway readers add`. */
export async function readerToken(gw: TestGateway, site = 'lab-1'): Promise<string> {
  const r = await run(BIN.gateway, ['readers', 'add', '--site', site, '--json', '--config', gw.config]);
  if (r.code !== 0) throw new Error(`readers add: ${r.stderr}`);
  return JSON.parse(r.stdout).token;
}

export interface ApiFixity {
  target: string;
  ok: boolean;
  checkedAt: string;
  bytes: number;
  detail: string;
}

/** GET /api/v1/volumes/{site}/{vsn} with a reader token: the status and the body. */
export async function apiVolume(
  gw: TestGateway,
  token: string,
  vsn: string,
  site = 'lab-1',
): Promise<{ status: number; volume?: { vsn: string; fixity: ApiFixity[] } & Record<string, unknown> }> {
  const r = await fetch(`http://127.0.0.1:${gw.port}/api/v1/volumes/${site}/${vsn}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = (await r.json()) as { volume?: { vsn: string; fixity: ApiFixity[] } };
  return { status: r.status, ...(body.volume ? { volume: body.volume } : {}) };
}

export async function gatewayMetrics(gw: TestGateway): Promise<Map<string, number>> {
  const r = await fetch(`http://127.0.0.1:${gw.port}/metrics`);
  if (r.status !== 200) throw new Error(`gateway /metrics: ${r.status}`);
  return parseMetrics(await r.text());
}

/** The gateway store's fixity rows (read-only). */
export function gatewayFixity(
  gw: TestGateway,
): { site: string; vsn: string; target: string; ok: number; failures: number; checked_at: number }[] {
  const db = new Database(gw.store, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM fixity ORDER BY vsn, target').all() as any[];
  } finally {
    db.close();
  }
}
