/**
 * What the re-burn tests share: a burning agent mirroring to a test gateway
 * with its own download settings (agent.reburn), one volume burned from a
 * tree through the CLI, and read-only looks into the agent's catalog (the
 * volume, its copies, its acknowledged cloud object).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import type { TestGateway } from '../mirror/mirror-kit.js';
import { type BurnAgent, makeTree, startBurnAgent } from './burn-kit.js';

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** An agent with two stand-in drives mirroring to `gw`, downloading re-burns as `reburn` says. */
export function reburnAgent(
  t: ExecutionContext,
  gw: TestGateway,
  token: string,
  reburn: { downloadConcurrency?: number; chunkBytes?: number } = {},
): Promise<BurnAgent> {
  return startBurnAgent(t, {
    drives: 2,
    extra: {
      burn: { site: 'lab-1' },
      mirror: { gatewayUrl: gw.url, token, reconnectMinSeconds: 0.2, reconnectMaxSeconds: 1 },
      reburn,
    },
  });
}

/** Stages a tree with `optarc put` (a small one by default) and burns it on one volume with `copies` copies. */
export async function burnOneVolume(
  t: ExecutionContext,
  agent: BurnAgent,
  copies: number,
  options: { media?: string; sizes?: Record<string, number> } = {},
): Promise<{ vsn: string; files: Map<string, Buffer> }> {
  const src = path.join(agent.dir, 'src');
  const files = await makeTree(
    src,
    options.sizes ?? {
      'night/a.fits': 3 * 1024 * 1024 + 7,
      'night/b.txt': 5,
      'flat/c.dat': 700_001,
      'top.txt': 1,
    },
  );
  const put = await agent.cli('put', src);
  t.is(put.code, 0, put.stderr);
  const media = options.media ?? 'test-8m';
  const burn = await agent.cli('burn', '--copies', String(copies), '--media', media, '--wait', '--json');
  t.is(burn.code, 0, burn.stderr);
  const volumes = JSON.parse(burn.stdout).volumes as { vsn: string }[];
  t.is(volumes.length, 1, 'the tree fits one volume');
  return { vsn: volumes[0]!.vsn, files };
}

export interface VolumeLook {
  state: string;
  requiredCopies: number;
  imageBytes: number;
  imageSha256: string;
  /** Verified copies: copy number → the shelved disc. */
  verified: Map<number, string>;
  /** The acknowledged cloud object of the latest session. */
  cloud: { key: string; versionId: string | null } | undefined;
}

/** The volume as the agent's catalog has it (read-only, while the agent runs). */
export function lookAtVolume(agent: BurnAgent, vsn: string): VolumeLook {
  const db = new Database(path.join(agent.state, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const v = db.prepare('SELECT * FROM volumes WHERE vsn = ?').get(vsn) as any;
    const copies = db
      .prepare(`SELECT copy_no, medium FROM copies WHERE volume_id = ? AND state = 'verified' ORDER BY copy_no`)
      .all(v.id) as { copy_no: number; medium: string }[];
    const m = db
      .prepare(`SELECT s3_key, version_id FROM mirror_outbox WHERE volume_id = ? AND session = ? AND state = 'acked'`)
      .get(v.id, v.sessions) as { s3_key: string; version_id: string | null } | undefined;
    return {
      state: v.state,
      requiredCopies: Number(v.required_copies),
      imageBytes: Number(v.image_bytes),
      imageSha256: Buffer.from(v.image_sha256).toString('hex'),
      verified: new Map(copies.map((c) => [Number(c.copy_no), c.medium])),
      cloud: m ? { key: m.s3_key, versionId: m.version_id } : undefined,
    };
  } finally {
    db.close();
  }
}

/** The SHA-256 of the first `bytes` bytes of a shelved disc (a stand-in medium may be longer than the image). */
export async function discSha256(medium: string, bytes: number): Promise<string> {
  const data = await fs.readFile(medium);
  return sha256(data.subarray(0, bytes));
}

/** `optarc status JOB --json`, parsed. */
export async function jobStatus(
  agent: BurnAgent,
  job: string,
  wait = false,
): Promise<{ code: number; status: any; stderr: string }> {
  const r = await agent.cli('status', job, '--json', ...(wait ? ['--wait'] : []));
  return { code: r.code, status: r.stdout.trim() ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
}
