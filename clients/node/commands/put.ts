/**
 * `optarc put <dir>`: stage a local tree into the agent's working directory.
 *
 * Directories are made with MKDIR, files written in 1 MiB WRITEs (several in
 * flight: the agent applies them in order) while their SHA-256 is computed,
 * then committed with size, mode, mtime and that SHA-256, which the agent
 * checks. Resumable: a file the agent already holds committed with the same
 * size and SHA-256 is skipped, so re-running after an interruption sends only
 * what is missing. Symbolic links and special files are skipped with a warning.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { type AgentClient, AgentError } from '../agent-client.js';

export interface PutProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: bigint;
  bytesTotal: bigint;
  current: string;
}

export interface PutFile {
  path: string;
  size: bigint;
  sha256: string;
  skipped: boolean;
}

export interface PutResult {
  files: PutFile[];
  directories: number;
  warnings: string[];
  bytesSent: bigint;
}

interface Item {
  rel: string;
  abs: string;
  kind: 'dir' | 'file';
  size: bigint;
  mode: number;
  mtimeMs: number;
}

const CHUNK = 1024 * 1024;
const IN_FLIGHT = 4;

async function walk(root: string, rel: string, out: Item[], warnings: string[]): Promise<void> {
  const names = (await fs.readdir(path.join(root, rel))).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) {
    const r = rel ? `${rel}/${name}` : name;
    const abs = path.join(root, r);
    const st = await fs.lstat(abs);
    if (st.isDirectory()) {
      out.push({ rel: r, abs, kind: 'dir', size: 0n, mode: st.mode, mtimeMs: st.mtimeMs });
      await walk(root, r, out, warnings);
    } else if (st.isFile()) {
      out.push({ rel: r, abs, kind: 'file', size: BigInt(st.size), mode: st.mode, mtimeMs: st.mtimeMs });
    } else {
      warnings.push(`${r}: skipped (${st.isSymbolicLink() ? 'symbolic link' : 'not a regular file'})`);
    }
  }
}

async function hashFile(abs: string): Promise<Buffer> {
  const h = createHash('sha256');
  for await (const chunk of (await fs.open(abs)).createReadStream({ highWaterMark: CHUNK })) h.update(chunk as Buffer);
  return h.digest();
}

async function remoteEntry(agent: AgentClient, p: Buffer) {
  try {
    return await agent.stat(p);
  } catch (e) {
    if (e instanceof AgentError && e.statusName === 'OPTARC_NOT_FOUND') return undefined;
    throw e;
  }
}

export async function put(agent: AgentClient, root: string, onProgress?: (p: PutProgress) => void): Promise<PutResult> {
  const items: Item[] = [];
  const warnings: string[] = [];
  await walk(root, '', items, warnings);
  const files = items.filter((i) => i.kind === 'file');
  const progress: PutProgress = {
    filesDone: 0,
    filesTotal: files.length,
    bytesDone: 0n,
    bytesTotal: files.reduce((n, f) => n + f.size, 0n),
    current: '',
  };
  const result: PutResult = { files: [], directories: 0, warnings, bytesSent: 0n };
  for (const item of items) {
    const remote = Buffer.from(item.rel);
    progress.current = item.rel;
    if (item.kind === 'dir') {
      try {
        await agent.mkdir(remote, item.mode & 0o777);
      } catch (e) {
        if (!(e instanceof AgentError && e.statusName === 'OPTARC_EXISTS')) throw e;
      }
      result.directories++;
      continue;
    }
    const there = await remoteEntry(agent, remote);
    if (there?.committed && there.sha256 && there.size === item.size) {
      const local = await hashFile(item.abs);
      if (local.equals(there.sha256)) {
        result.files.push({ path: item.rel, size: item.size, sha256: local.toString('hex'), skipped: true });
        progress.filesDone++;
        progress.bytesDone += item.size;
        onProgress?.(progress);
        continue;
      }
    }
    if (there) await agent.remove(remote); // a partial upload, or a changed file: send it again
    const sha = await upload(agent, item, remote, (n) => {
      progress.bytesDone += BigInt(n);
      onProgress?.(progress);
    });
    result.bytesSent += item.size;
    result.files.push({ path: item.rel, size: item.size, sha256: sha.toString('hex'), skipped: false });
    progress.filesDone++;
    onProgress?.(progress);
  }
  return result;
}

async function upload(agent: AgentClient, item: Item, remote: Buffer, sent: (n: number) => void): Promise<Buffer> {
  const hash = createHash('sha256');
  const file = await fs.open(item.abs);
  try {
    const inFlight = new Set<Promise<unknown>>();
    let offset = 0n;
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await file.read(buf, 0, CHUNK, Number(offset));
      if (bytesRead === 0) break;
      const data = buf.subarray(0, bytesRead);
      hash.update(data);
      const w = agent.write(remote, offset, data).then(() => sent(bytesRead));
      inFlight.add(w);
      void w.finally(() => inFlight.delete(w)).catch(() => {});
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
      offset += BigInt(bytesRead);
    }
    await Promise.all(inFlight);
    if (offset !== item.size) throw new Error(`${item.rel} changed size while being read (${item.size} → ${offset})`);
  } finally {
    await file.close();
  }
  const sha256 = hash.digest();
  const ms = Math.floor(item.mtimeMs);
  await agent.commit(
    remote,
    item.size,
    item.mode & 0o777,
    { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1e6 },
    sha256,
  );
  return sha256;
}
