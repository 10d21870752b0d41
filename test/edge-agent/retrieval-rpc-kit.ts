/**
 * What the retrieval tests share: a burned volume on a real agent (staged and
 * burned with the CLI), an AgentClient session, loading a shelved disc into a
 * stand-in drive, damaging a copy at one file's bytes, reading a retrieval to
 * its end, and read-only looks at the agent's catalog and cache area.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { AgentClient } from '../../clients/node/agent-client.js';
import { type OptarcRetrieval, OptarcRetrievalState } from '../../clients/protocol/generated/optarc.js';
import type { BurnAgent } from './burn-kit.js';
import { makeTree } from './burn-kit.js';

export const MiB = 1024 * 1024;

/** Stages `sizes` with the CLI and burns them onto one volume (copies verified, shelved); its VSN and the files. */
export async function burnVolume(
  t: ExecutionContext,
  agent: BurnAgent,
  sizes: Record<string, number>,
  copies = 1,
): Promise<{ vsn: string; files: Map<string, Buffer> }> {
  const src = path.join(agent.dir, `src-${Date.now()}`);
  const files = await makeTree(src, sizes);
  const put = await agent.cli('put', src);
  if (put.code !== 0) throw new Error(`put failed: ${put.stderr}`);
  const burn = await agent.cli('burn', '--copies', String(copies), '--media', 'test-8m', '--wait', '--json');
  if (burn.code !== 0) throw new Error(`burn failed: ${burn.stdout}\n${burn.stderr}`);
  const status = JSON.parse(burn.stdout);
  t.is(status.volumes.length, 1, 'one volume burned');
  return { vsn: status.volumes[0].vsn as string, files };
}

export async function connect(t: ExecutionContext, agent: BurnAgent, name = 'retriever'): Promise<AgentClient> {
  const c = await AgentClient.connect({ host: '127.0.0.1', port: agent.rpcPort, timeoutMs: 60_000 });
  t.teardown(() => c.close());
  await c.hello(name);
  return c;
}

/** The stand-in bay of a drive: a file there is the disc loaded in it. */
export function bay(agent: BurnAgent, drive: string): string {
  return path.join(agent.dir, 'drives', drive, 'medium');
}

/** The operator puts copy `copy` of `vsn` from the shelf into `drive`. */
export async function loadDisc(agent: BurnAgent, vsn: string, drive: string, copy = 1): Promise<void> {
  await fs.copyFile(path.join(agent.shelf, `${vsn}-${copy}.iso`), bay(agent, drive));
}

export async function unloadDisc(agent: BurnAgent, drive: string): Promise<void> {
  await fs.rm(bay(agent, drive), { force: true });
}

function catalog<T>(agent: BurnAgent, read: (db: Database.Database) => T): T {
  const db = new Database(path.join(agent.state, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** The archived path bytes and first extent (image byte offset) of the file whose staged path ends with `suffix`. */
export function fileOnVolume(agent: BurnAgent, vsn: string, suffix: string): { path: Buffer; offset: number } {
  const rows = catalog(agent, (db) =>
    db
      .prepare(
        `SELECT f.path, vf.extents FROM volume_files vf JOIN files f ON f.id = vf.file_id
         JOIN volumes v ON v.id = vf.volume_id WHERE v.vsn = ?`,
      )
      .all(vsn),
  ) as { path: Buffer; extents: string }[];
  const r = rows.find((x) => x.path.toString('utf8').endsWith(suffix));
  if (!r) throw new Error(`no file ending ${suffix} on ${vsn}: ${rows.map((x) => x.path.toString()).join(', ')}`);
  const extents = JSON.parse(r.extents) as [string, string][];
  return { path: r.path, offset: Number(extents[0]![0]) };
}

export function sourceFaults(agent: BurnAgent): { source: string; detail: string }[] {
  return catalog(agent, (db) => db.prepare('SELECT source, detail FROM source_faults ORDER BY id').all()) as any[];
}

export function retrievalRows(agent: BurnAgent): { token: string; state: string; round: number | null }[] {
  return catalog(agent, (db) => db.prepare('SELECT token, state, round FROM retrievals ORDER BY id').all()) as any[];
}

/** A copy of the shelved disc with `bytes` overwritten at `offset` (a damaged disc). */
export async function damagedCopy(agent: BurnAgent, vsn: string, offset: number, name: string): Promise<string> {
  const out = path.join(agent.dir, name);
  await fs.copyFile(path.join(agent.shelf, `${vsn}-1.iso`), out);
  await fs.chmod(out, 0o644);
  const fh = await fs.open(out, 'r+');
  try {
    await fh.write(Buffer.from('DAMAGED!'), 0, 8, offset + 5);
  } finally {
    await fh.close();
  }
  return out;
}

export function cacheDir(agent: BurnAgent): string {
  return path.join(agent.state, 'retrieved');
}

export async function cacheFiles(agent: BurnAgent): Promise<string[]> {
  return (await fs.readdir(cacheDir(agent)).catch(() => [] as string[])).sort();
}

/** Reads a ready retrieval to its end in `chunk`-byte reads; the eof flags seen. */
export async function collect(c: AgentClient, token: string, chunk = MiB): Promise<{ data: Buffer; eofs: boolean[] }> {
  const parts: Buffer[] = [];
  const eofs: boolean[] = [];
  let offset = 0n;
  for (;;) {
    const r = await c.retrieveCached(token, offset, chunk);
    parts.push(r.data);
    eofs.push(r.eof);
    offset += BigInt(r.data.length);
    if (r.eof) return { data: Buffer.concat(parts), eofs };
    if (r.data.length === 0) throw new Error('an empty read before the end');
  }
}

/** Polls RETRIEVE_STATUS until the retrieval leaves `states`. */
export async function settle(
  c: AgentClient,
  token: string,
  states: number[] = [OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED, OptarcRetrievalState.OPTARC_RETRIEVAL_FETCHING],
  timeoutMs = 120_000,
): Promise<OptarcRetrieval> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await c.retrieveStatus(token);
    if (!states.includes(s.state)) return s;
    if (Date.now() > until) throw new Error(`retrieval ${token} still in state ${s.state}: ${s.message}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Polls until `check` holds. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
