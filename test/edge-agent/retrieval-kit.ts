/**
 * What the retrieval tests share: a tree staged with optarc-put and burned
 * with optarc-burn -w (the rpcgen C clients, one client name), the burned
 * disc on the shelf and the operator loading it (or a damaged copy of it)
 * into a stand-in drive, optarc-get runs, and read-only looks at the
 * agent's catalog (retrievals, source_faults).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { C_CLIENT } from '../helpers/c-programs.js';
import { type RunResult, run } from '../helpers/processes.js';
import { type BurnAgent, makeTree } from './burn-kit.js';

export const HOST = '127.0.0.1';
/** Every program gives the same client name: the files are this client's. */
export const CLIENT = 'c-get';
export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** optarc-get with the agent's port and the client name, then `args`. */
export function optarcGet(agent: BurnAgent, args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return run(C_CLIENT.get, ['--port', String(agent.rpcPort), '--client', CLIENT, HOST, ...args], {}, timeoutMs);
}

/**
 * Stage `tree` (path → size of random contents, or the contents) with
 * optarc-put and burn it with optarc-burn -w, one copy on test-8m media; the
 * files and the single VSN.
 */
export async function burnTree(
  t: ExecutionContext,
  agent: BurnAgent,
  tree: Record<string, number | Buffer>,
): Promise<{ files: Map<string, Buffer>; vsn: string }> {
  const src = path.join(agent.dir, 'src');
  const sizes = Object.fromEntries(Object.entries(tree).map(([p, v]) => [p, typeof v === 'number' ? v : 0]));
  const files = await makeTree(src, sizes);
  for (const [p, v] of Object.entries(tree)) {
    if (typeof v === 'number') continue;
    await fs.writeFile(path.join(src, p), v);
    files.set(p, v);
  }
  const put = await run(C_CLIENT.put, ['--port', String(agent.rpcPort), '--client', CLIENT, HOST, src], {}, 120_000);
  if (put.code !== 0) throw new Error(`optarc-put failed: ${put.stderr}`);
  const burn = await run(
    C_CLIENT.burn,
    ['--port', String(agent.rpcPort), '--client', CLIENT, '-w', HOST, '--copies', '1', '--media', 'test-8m'],
    {},
    180_000,
  );
  if (burn.code !== 0) throw new Error(`optarc-burn failed: ${burn.stdout}\n${burn.stderr}`);
  const shelved = await fs.readdir(agent.shelf);
  const vsn = shelved.length === 1 ? /^(.+)-1\.iso$/.exec(shelved[0] ?? '')?.[1] : undefined;
  if (!vsn) throw new Error(`expected one disc <VSN>-1.iso on the shelf, found: ${shelved.join(', ')}`);
  t.log(`burned ${files.size} files as ${vsn}`);
  return { files, vsn };
}

/** The shelved disc (copy 1) of `vsn`. */
export function shelfCopy(agent: BurnAgent, vsn: string): string {
  return path.join(agent.shelf, `${vsn}-1.iso`);
}

/** Where the medium of stand-in drive `drive` lies. */
export function bay(agent: BurnAgent, drive: string): string {
  return path.join(agent.dir, 'drives', drive, 'medium');
}

/** The operator loads a disc image into `drive`. */
export async function loadDisc(agent: BurnAgent, drive: string, image: string): Promise<void> {
  await fs.mkdir(path.dirname(bay(agent, drive)), { recursive: true });
  await fs.copyFile(image, bay(agent, drive));
}

/** The operator takes the disc out of `drive`. */
export async function unloadDisc(agent: BurnAgent, drive: string): Promise<void> {
  await fs.rm(bay(agent, drive), { force: true });
}

/**
 * A copy of the disc `image` with `count` bytes flipped inside `data`'s
 * extent (found by its bytes, which are random and so unique in the image).
 */
export async function damagedCopy(image: string, data: Buffer, out: string, count = 64): Promise<number> {
  const iso = await fs.readFile(image);
  const at = iso.indexOf(data.subarray(0, Math.min(4096, data.length)));
  if (at < 0 || data.length < count * 2) throw new Error('the file is not in the image, or too small to damage');
  if (!iso.subarray(at, at + data.length).equals(data)) throw new Error('the file is not contiguous in the image');
  const from = at + Math.floor(data.length / 2);
  for (let i = from; i < from + count; i++) iso[i] = iso[i]! ^ 0xff;
  await fs.writeFile(out, iso);
  return from;
}

/** Rows of a read-only query on the agent's catalog (integers as numbers). */
export function catalogRows<T>(agent: BurnAgent, sql: string, ...params: unknown[]): T[] {
  const db = new Database(path.join(agent.state, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

export interface RetrievalRow {
  token: string;
  mode: string;
  priority: number;
  state: string;
  source: string;
  message: string;
  round: number | null;
}

export function retrievalRow(agent: BurnAgent, token: string): RetrievalRow | undefined {
  return catalogRows<RetrievalRow>(
    agent,
    'SELECT token, mode, priority, state, source, message, round FROM retrievals WHERE token = ?',
    token,
  )[0];
}
