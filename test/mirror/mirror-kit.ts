/**
 * The mirror's test stack: the shared test RGW with a fresh bucket, a real
 * `optarc-gateway serve` on it (own store, a fixed port so it can be stopped
 * and started again at the same address), agent tokens issued through the
 * gateway's CLI, and a burning agent (burn-kit) whose mirror points at it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { type RgwInfo, s3ClientConfig } from '../../infra/rgw/rgw.js';
import { type BurnAgent, startBurnAgent } from '../edge-agent/burn-kit.js';
import { BIN, freePort, run, startDaemon, stopDaemon } from '../helpers/processes.js';
import { freshBucket } from '../helpers/test-rgw.js';

export interface TestGateway {
  port: number;
  url: string;
  config: string;
  store: string;
  /** The gateway's manifest index file. */
  index: string;
  bucket: string;
  s3: S3Client;
  /** Issues a token for a new agent of `site` (through the CLI). */
  issue(site: string): Promise<{ id: string; token: string }>;
  start(): Promise<void>;
  stop(): Promise<void>;
  running(): boolean;
}

export async function makeGateway(
  t: ExecutionContext,
  rgw: RgwInfo,
  options: { mirror?: Record<string, unknown>; policy?: Record<string, unknown> } = {},
): Promise<TestGateway> {
  const dir = await fs.mkdtemp(path.join(path.dirname(rgw.dir), 'optarc-gw-'));
  const bucket = await freshBucket(rgw, 'optarc-mirror');
  const port = await freePort();
  const store = path.join(dir, 'gateway.sqlite');
  const config = path.join(dir, 'gateway.json');
  await fs.writeFile(
    config,
    JSON.stringify({
      log: { level: 'warn' },
      gateway: {
        http: { host: '127.0.0.1', port },
        store,
        search: { index: path.join(dir, 'index.sqlite') },
        s3: { endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, bucket },
        mirror: { partSizeBytes: 5 * 1024 * 1024, ...options.mirror },
        ...(options.policy ? { policy: options.policy } : {}),
      },
    }),
  );
  const s3 = new S3Client(s3ClientConfig(rgw));
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  const gw: TestGateway = {
    port,
    url: `ws://127.0.0.1:${port}`,
    config,
    store,
    index: path.join(dir, 'index.sqlite'),
    bucket,
    s3,
    async issue(site) {
      const r = await run(BIN.gateway, ['agents', 'add', '--site', site, '--json', '--config', config]);
      if (r.code !== 0) throw new Error(`agents add failed: ${r.stderr}`);
      const j = JSON.parse(r.stdout);
      return { id: j.id, token: j.token };
    },
    async start() {
      daemon = await startDaemon(BIN.gateway, ['serve', '--config', config]);
    },
    async stop() {
      if (daemon) await stopDaemon(daemon.child);
      daemon = undefined;
    },
    running: () => daemon !== undefined && daemon.child.exitCode === null,
  };
  t.teardown(async () => {
    await gw.stop();
    s3.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });
  return gw;
}

/** A burning agent whose mirror talks to `gw` with `token`. */
export function mirroredAgent(
  t: ExecutionContext,
  gw: TestGateway,
  token: string,
  options: { drives?: number; mirror?: Record<string, unknown>; site?: string } = {},
): Promise<BurnAgent> {
  return startBurnAgent(t, {
    drives: options.drives ?? 2,
    extra: {
      burn: { site: options.site ?? 'lab-1' },
      mirror: { gatewayUrl: gw.url, token, reconnectMinSeconds: 0.2, reconnectMaxSeconds: 2, ...options.mirror },
    },
  });
}

/** Volumes of the agent's catalog: vsn → state (read-only, while the agent runs). */
export function volumeStates(agent: BurnAgent): Map<string, string> {
  const db = new Database(path.join(agent.state, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT vsn, state FROM volumes ORDER BY id').all() as { vsn: string; state: string }[];
    return new Map(rows.map((r) => [r.vsn, r.state]));
  } finally {
    db.close();
  }
}

/** Outbox rows of the agent's catalog. */
export function outbox(
  agent: BurnAgent,
): { volume_id: number; session: number; state: string; attempts: number; last_error: string }[] {
  const db = new Database(path.join(agent.state, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM mirror_outbox ORDER BY id').all() as any[];
  } finally {
    db.close();
  }
}

/** Every file under `root` (the agent's staging area), recursively; none when it is gone. */
export async function stagedFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(p);
    }
  };
  await walk(root);
  return out;
}

export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function listKeys(gw: TestGateway, prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let token: string | undefined;
  do {
    const r = await gw.s3.send(
      new ListObjectsV2Command({ Bucket: gw.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of r.Contents ?? []) out.set(o.Key!, o.Size ?? 0);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export async function getObject(gw: TestGateway, key: string, range?: string): Promise<Buffer> {
  const r = await gw.s3.send(new GetObjectCommand({ Bucket: gw.bucket, Key: key, Range: range }));
  return Buffer.from(await r.Body!.transformToByteArray());
}
