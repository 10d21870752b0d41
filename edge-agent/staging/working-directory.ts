/**
 * A session's working directory in the staging area: what WRITE, COMMIT_FILE,
 * MKDIR, LIST, STAT and REMOVE act on.
 *
 * Committed files live in `tree/` under the names the client sent (raw bytes,
 * so an ISO-8859-1 client's names reach the disc unchanged); files being
 * written live in `partial/` until COMMIT_FILE checks their size and SHA-256
 * and moves them into the tree, so nothing half-written can ever be burned.
 * SHA-256 is computed while data arrives: writes are sequential, and a
 * retransmitted WRITE (an offset already written) is compared with what is on
 * disk — identical data changes nothing; different data forces one full pass
 * at commit. Every byte accepted is counted against the client's quota and
 * the area's, and checked against free space, before it is written.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import { StagingError } from './errors.js';
import { BadName, type Charset, type CheckedPath, checkPath } from './names.js';

export interface Time {
  seconds: bigint;
  nanoseconds: number;
}

export interface Entry {
  name: Buffer;
  kind: 'file' | 'dir';
  size: bigint;
  mode: number;
  mtime: Time;
  committed: boolean;
  sha256: Buffer | null;
}

/** What the working directory needs from the area it lives in. */
export interface SpaceKeeper {
  /** Throws QUOTA_EXCEEDED or NO_SPACE when `growth` more bytes cannot be accepted. */
  reserve(dir: WorkingDirectory, growth: bigint): Promise<void>;
}

interface PartialFile {
  file: Buffer;
  handle: fs.FileHandle | undefined;
  size: bigint;
  hash: Hash;
  hashed: bigint;
  /** A rewrite changed bytes already hashed: the digest needs a full pass. */
  rehash: boolean;
  digest: Buffer | undefined;
}

interface CommittedFile {
  sha256: Buffer;
  size: bigint;
}

/** Who committed a file, for the audit trail (AUTH_SYS identity when the client sent one). */
export interface Committer {
  host: string;
  client: string;
  uid?: number;
  gid?: number;
}

/** A committed file as a burn takes it. */
export interface StagedFile {
  /** Raw name bytes, components joined by '/'. */
  path: Buffer;
  /** Where the file lies on disk. */
  source: Buffer;
  size: bigint;
  sha256: Buffer;
  mode: number;
  mtime: Time;
  /** The file's inode: a burn links exactly this file, not one committed under the name since. */
  ino: bigint;
}

const MAX_LIST = 512;

export class WorkingDirectory {
  readonly base: string;
  readonly charset: Charset;
  readonly quotaBytes: bigint;
  used = 0n;
  private readonly space: SpaceKeeper;
  /** Time for files whose commit carries none: the client's clock at its latest HELLO. */
  defaultTime: () => Time;
  private readonly partials = new Map<string, PartialFile>();
  private readonly committed = new Map<string, CommittedFile>();
  private nextPartial = 1;
  /** Calls on one path run one after another, in arrival order (clients may pipeline WRITEs). */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(base: string, charset: Charset, quotaBytes: bigint, space: SpaceKeeper, defaultTime: () => Time) {
    this.base = base;
    this.charset = charset;
    this.quotaBytes = quotaBytes;
    this.space = space;
    this.defaultTime = defaultTime;
  }

  /**
   * Run calls on one path one after another, in arrival order. The key is the
   * checked path, so "a" and "a/" share a lock. A WRITE's promise settles only
   * once its data is on disk, which is what lets WRITE borrow its arguments.
   */
  private serial<T>(path: Buffer, action: () => Promise<T>): Promise<T> {
    const key = keyOf(this.check(path));
    const before = this.locks.get(key) ?? Promise.resolve();
    const run = before.then(action, action);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }

  /**
   * Make the directory, or take up one an earlier agent run left: committed
   * files are known again from the audit trail (the latest record of a path
   * whose file is still in the tree with that size), so a client re-running
   * `put` after an agent restart skips what is already there. Partial files
   * of that run are dropped: nothing names them any more, and the client
   * sends them again.
   */
  async init(): Promise<void> {
    await fs.mkdir(`${this.base}/tree`, { recursive: true });
    await fs.rm(`${this.base}/partial`, { recursive: true, force: true });
    await fs.mkdir(`${this.base}/partial`, { recursive: true });
    let audit = '';
    try {
      audit = await fs.readFile(`${this.base}/audit.jsonl`, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const latest = new Map<string, { size: bigint; sha256: Buffer }>();
    for (const line of audit.split('\n')) {
      if (!line) continue;
      try {
        const r = JSON.parse(line) as { path: string; size: string; sha256: string };
        const key = Buffer.from(r.path, this.charset === 'utf-8' ? 'utf8' : 'latin1').toString('latin1');
        latest.set(key, { size: BigInt(r.size), sha256: Buffer.from(r.sha256, 'hex') });
      } catch {
        // a torn last line after a crash: that commit was not acknowledged
      }
    }
    for (const [key, c] of latest) {
      const st = await lstatOrNull(Buffer.concat([Buffer.from(`${this.base}/tree/`), Buffer.from(key, 'latin1')]));
      if (st?.isFile() && BigInt(st.size) === c.size) {
        this.committed.set(key, c);
        this.used += c.size;
      }
    }
  }

  private check(path: Buffer): CheckedPath {
    try {
      return checkPath(path, this.charset);
    } catch (e) {
      if (e instanceof BadName) throw new StagingError('BAD_NAME', e.message);
      throw e;
    }
  }

  /** The tree path for a checked path, refusing to pass through a symbolic link. */
  private async treePath(p: CheckedPath, components = p.components.length): Promise<Buffer> {
    let at = Buffer.from(`${this.base}/tree`);
    for (let i = 0; i < components; i++) {
      at = Buffer.concat([at, Buffer.from('/'), p.components[i]]);
      const st = await lstatOrNull(at);
      if (st?.isSymbolicLink()) {
        throw new StagingError('BAD_NAME', `${p.text} passes through a symbolic link in the staging area`);
      }
    }
    return at;
  }

  /** The parent directory of `p` must exist in the tree. */
  private async parentOf(p: CheckedPath): Promise<void> {
    if (p.components.length < 2) return;
    const parent = await this.treePath(p, p.components.length - 1);
    const st = await lstatOrNull(parent);
    if (!st) throw new StagingError('NOT_FOUND', `directory ${parentText(p)} does not exist: MKDIR it first`);
    if (!st.isDirectory()) throw new StagingError('NOT_DIR', `${parentText(p)} is a file, not a directory`);
  }

  /** A directory with the client's permission bits (owner rwx kept, so staging and burning can use it). */
  async mkdir(path: Buffer, mode = 0o755): Promise<void> {
    return this.serial(path, () => this.unlockedMkdir(path, mode));
  }

  private async unlockedMkdir(path: Buffer, mode: number): Promise<void> {
    const p = this.check(path);
    await this.parentOf(p);
    const target = await this.treePath(p);
    const key = keyOf(p);
    if (this.partials.has(key) || (await lstatOrNull(target))) {
      throw new StagingError('EXISTS', `${p.text} already exists`);
    }
    await io(async () => {
      await fs.mkdir(target);
      await fs.chmod(target, (mode & 0o777) | 0o700); // chmod: the umask must not change what the client asked
    });
  }

  async write(path: Buffer, offset: bigint, data: Buffer): Promise<bigint> {
    return this.serial(path, () => this.unlockedWrite(path, offset, data));
  }

  private async unlockedWrite(path: Buffer, offset: bigint, data: Buffer): Promise<bigint> {
    const p = this.check(path);
    const key = keyOf(p);
    if (this.committed.has(key))
      throw new StagingError('COMMITTED', `${p.text} is committed: REMOVE it to write it again`);
    let f = this.partials.get(key);
    if (!f) {
      await this.parentOf(p);
      const st = await lstatOrNull(await this.treePath(p));
      if (st?.isDirectory()) throw new StagingError('IS_DIR', `${p.text} is a directory`);
      if (st) throw new StagingError('EXISTS', `${p.text} already exists`);
      f = {
        file: Buffer.from(`${this.base}/partial/${this.nextPartial++}`),
        handle: undefined,
        size: 0n,
        hash: createHash('sha256'),
        hashed: 0n,
        rehash: false,
        digest: undefined,
      };
      this.partials.set(key, f);
    }
    if (offset > f.size) {
      throw new StagingError(
        'BAD_ARGUMENT',
        `writes to ${p.text} must be sequential: offset ${offset}, but only ${f.size} bytes are written`,
      );
    }
    const end = offset + BigInt(data.length);
    const growth = end > f.size ? end - f.size : 0n;
    if (growth > 0n) await this.space.reserve(this, growth); // counted in this.used from here on
    try {
      f.handle ??= await openPartial(f.file);
      if (offset < f.hashed) {
        // a retransmission, or a rewrite: compare with what the hash already covers
        const overlap = Number((end < f.hashed ? end : f.hashed) - offset);
        const old = Buffer.alloc(overlap);
        await f.handle.read(old, 0, overlap, Number(offset));
        if (!old.equals(data.subarray(0, overlap))) f.rehash = true;
      }
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await f.handle.write(data, done, data.length - done, Number(offset) + done);
        if (bytesWritten === 0) throw Object.assign(new Error('no progress writing'), { code: 'ENOSPC' });
        done += bytesWritten;
      }
    } catch (e) {
      this.used -= growth; // the reservation is given back: nothing of this write counts
      throw e instanceof StagingError ? e : ioError(e);
    }
    if (!f.rehash && end > f.hashed) {
      f.hash.update(data.subarray(Number(f.hashed - offset)));
      f.hashed = end;
    }
    if (growth > 0n) f.size = end;
    f.digest = undefined;
    return f.size;
  }

  async commit(path: Buffer, size: bigint, mode: number, mtime: Time | null, sha256: Buffer | null, by?: Committer) {
    return this.serial(path, () => this.unlockedCommit(path, size, mode, mtime, sha256, by));
  }

  private async unlockedCommit(
    path: Buffer,
    size: bigint,
    mode: number,
    mtime: Time | null,
    sha256: Buffer | null,
    by?: Committer,
  ) {
    const p = this.check(path);
    const key = keyOf(p);
    const done = this.committed.get(key);
    if (done) {
      // a retransmitted COMMIT_FILE changes nothing
      if (done.size === size && (!sha256 || sha256.equals(done.sha256))) return { sha256: done.sha256, size };
      throw new StagingError('COMMITTED', `${p.text} is already committed with other contents`);
    }
    let f = this.partials.get(key);
    if (!f) {
      if (size !== 0n) throw new StagingError('NOT_FOUND', `${p.text}: no data was written`);
      await this.unlockedWrite(path, 0n, Buffer.alloc(0));
      f = this.partials.get(key)!;
    }
    if (size !== f.size) {
      throw new StagingError('SIZE_MISMATCH', `${p.text}: ${size} bytes declared, ${f.size} written`, {
        kind: 'sizes',
        expected: size,
        actual: f.size,
      });
    }
    f.handle ??= await openPartial(f.file);
    if (!f.digest) {
      if (f.rehash || f.hashed !== f.size) f.digest = await digestOf(f.handle);
      else f.digest = f.hash.copy().digest(); // a copy: the file may still grow after a failed commit
    }
    if (sha256 && !sha256.equals(f.digest)) {
      throw new StagingError(
        'CHECKSUM_MISMATCH',
        `${p.text}: SHA-256 sent ${sha256.toString('hex')}, data has ${f.digest.toString('hex')}`,
        { kind: 'digests', expected: sha256, actual: f.digest },
      );
    }
    await this.parentOf(p);
    const target = await this.treePath(p);
    if (await lstatOrNull(target)) throw new StagingError('EXISTS', `${p.text} already exists`);
    const t = mtime ?? this.defaultTime();
    await io(async () => {
      await f.handle!.sync();
      await f.handle!.chmod(mode & 0o777);
      await f.handle!.close();
      f.handle = undefined;
      const when = Number(t.seconds) + t.nanoseconds / 1e9;
      await fs.utimes(f.file, when, when);
    });
    // The audit trail, one JSON line per committed file, is written before the
    // file enters the tree: after a crash between the two, the replay at init
    // finds no file and the client sends it again; never a file without record.
    const line = {
      time: new Date().toISOString(),
      path: p.text,
      size: String(size),
      sha256: f.digest.toString('hex'),
      ...by,
    };
    await io(() => fs.appendFile(`${this.base}/audit.jsonl`, `${JSON.stringify(line)}\n`));
    await io(() => fs.rename(f.file, target));
    this.partials.delete(key);
    this.committed.set(key, { sha256: f.digest, size });
    return { sha256: f.digest, size };
  }

  async stat(path: Buffer): Promise<Entry> {
    const p = this.check(path);
    const name = p.components[p.components.length - 1];
    const f = this.partials.get(keyOf(p));
    if (f) return this.partialEntry(name, f);
    const target = await this.treePath(p);
    const st = await lstatOrNull(target);
    if (!st) throw new StagingError('NOT_FOUND', `${p.text} does not exist`);
    return this.entryFrom(name, keyOf(p), st);
  }

  /** A file still being written: its size so far, not yet a mode, time or digest of its own. */
  private partialEntry(name: Buffer, f: PartialFile): Entry {
    return { name, kind: 'file', size: f.size, mode: 0o600, mtime: this.defaultTime(), committed: false, sha256: null };
  }

  private entryFrom(
    name: Buffer,
    key: string,
    st: { isDirectory(): boolean; size: number; mode: number; mtimeMs: number },
  ): Entry {
    const c = this.committed.get(key);
    const ms = BigInt(Math.floor(st.mtimeMs));
    return {
      name,
      kind: st.isDirectory() ? 'dir' : 'file',
      size: st.isDirectory() ? 0n : BigInt(st.size),
      mode: st.mode & 0o777,
      mtime: { seconds: ms / 1000n, nanoseconds: Number(ms % 1000n) * 1_000_000 },
      committed: true,
      sha256: c?.sha256 ?? null,
    };
  }

  /**
   * One page of a directory, in byte order of the names. The cookie names the
   * directory and the position, so a cookie from another listing is refused.
   */
  async list(dir: Buffer, cookie: bigint, count: number): Promise<{ entries: Entry[]; cookie: bigint; eof: boolean }> {
    const isRoot = dir.length === 0;
    const p = isRoot ? undefined : this.check(dir);
    const target = p ? await this.treePath(p) : Buffer.from(`${this.base}/tree`);
    const st = await lstatOrNull(target);
    if (!st) throw new StagingError('NOT_FOUND', `${p?.text ?? '.'} does not exist`);
    if (!st.isDirectory()) throw new StagingError('NOT_DIR', `${p?.text} is a file, not a directory`);
    const prefix = p ? `${keyOf(p)}/` : '';
    const names = new Map<string, Entry>();
    const dirents = (await io(() =>
      fs.readdir(target, { withFileTypes: true, encoding: 'buffer' }),
    )) as Dirent<Buffer>[];
    for (const d of dirents) {
      const key = prefix + d.name.toString('latin1');
      const s = await lstatOrNull(Buffer.concat([target, Buffer.from('/'), d.name]));
      if (s) names.set(key, this.entryFrom(d.name, key, s));
    }
    for (const [key, f] of this.partials) {
      if (!key.startsWith(prefix) || key.slice(prefix.length).includes('/')) continue;
      const name = Buffer.from(key.slice(prefix.length), 'latin1');
      names.set(key, this.partialEntry(name, f));
    }
    const all = [...names.values()].sort((a, b) => Buffer.compare(a.name, b.name));
    const tag = dirTag(prefix);
    let start = 0;
    if (cookie !== 0n) {
      if (cookie >> 32n !== tag || (cookie & 0xffffffffn) > BigInt(all.length)) {
        throw new StagingError(
          'BAD_COOKIE',
          'this cookie was not issued by a listing of this directory: start again with cookie 0',
        );
      }
      start = Number(cookie & 0xffffffffn);
    }
    const n = Math.min(count > 0 ? count : MAX_LIST, MAX_LIST);
    const entries = all.slice(start, start + n);
    const next = start + entries.length;
    return { entries, cookie: (tag << 32n) | BigInt(next), eof: next >= all.length };
  }

  async remove(path: Buffer): Promise<void> {
    return this.serial(path, () => this.unlockedRemove(path));
  }

  private async unlockedRemove(path: Buffer): Promise<void> {
    const p = this.check(path);
    const key = keyOf(p);
    const f = this.partials.get(key);
    if (f) {
      await f.handle?.close();
      await io(() => fs.rm(f.file, { force: true }));
      this.used -= f.size;
      this.partials.delete(key);
      return;
    }
    const target = await this.treePath(p);
    const st = await lstatOrNull(target);
    if (!st) throw new StagingError('NOT_FOUND', `${p.text} does not exist`);
    if (st.isDirectory()) {
      const inside = [...this.partials.keys()].some((k) => k.startsWith(`${key}/`));
      if (inside || (await io(() => fs.readdir(target))).length > 0)
        throw new StagingError('NOT_EMPTY', `${p.text} is not empty`);
      await io(() => fs.rmdir(target));
      return;
    }
    await io(() => fs.unlink(target));
    const c = this.committed.get(key);
    if (c) this.used -= c.size;
    this.committed.delete(key);
  }

  /**
   * Every committed file, for a burn to take: its path (raw bytes), where it
   * lies in the tree, and what COMMIT_FILE recorded. Partial files are never
   * offered: nothing half-written can be burned.
   */
  async committedFiles(): Promise<StagedFile[]> {
    const out: StagedFile[] = [];
    for (const [key, c] of [...this.committed].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const source = Buffer.concat([Buffer.from(`${this.base}/tree/`), Buffer.from(key, 'latin1')]);
      const st = await fs.lstat(source, { bigint: true }).catch(() => null);
      if (!st?.isFile() || st.size !== c.size) continue; // gone or changed under us: not offered
      out.push({
        path: Buffer.from(key, 'latin1'),
        source,
        size: c.size,
        sha256: c.sha256,
        mode: Number(st.mode & 0o7777n),
        mtime: { seconds: st.mtimeNs / 1_000_000_000n, nanoseconds: Number(st.mtimeNs % 1_000_000_000n) },
        ino: st.ino,
      });
    }
    return out;
  }

  /**
   * Give back files a burn has put on every required copy: each leaves the tree
   * if it is still the committed file the burn took (same size and SHA-256);
   * a file the client re-committed since stays. Returns how many left.
   */
  async release(files: { path: Buffer; size: bigint; sha256: Buffer }[]): Promise<number> {
    let released = 0;
    for (const f of files) {
      const key = f.path.toString('latin1');
      const c = this.committed.get(key);
      if (!c || c.size !== f.size || !c.sha256.equals(f.sha256)) continue;
      await this.serial(f.path, async () => {
        if (this.committed.get(key) !== c) return;
        await this.unlockedRemove(f.path);
        released++;
      });
    }
    return released;
  }

  /** Close open files (the session ended); uncommitted data stays uncommitted. */
  async close(): Promise<void> {
    for (const f of this.partials.values()) {
      await f.handle?.close();
      f.handle = undefined;
    }
  }
}

function keyOf(p: CheckedPath): string {
  return p.components.map((c) => c.toString('latin1')).join('/');
}

function parentText(p: CheckedPath): string {
  return p.text.split('/').slice(0, -1).join('/');
}

function dirTag(prefix: string): bigint {
  return BigInt(createHash('sha256').update(prefix, 'latin1').digest().readUInt32BE(0));
}

async function lstatOrNull(p: Buffer) {
  try {
    return await fs.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw ioError(e);
  }
}

/** Open a partial file for positional writes, keeping what an earlier session wrote. */
async function openPartial(file: Buffer): Promise<fs.FileHandle> {
  try {
    return await fs.open(file, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(e);
    return io(() => fs.open(file, 'w+'));
  }
}

async function digestOf(handle: fs.FileHandle): Promise<Buffer> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let pos = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return hash.digest();
}

function ioError(e: unknown): StagingError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StagingError('NO_SPACE', 'the staging filesystem is full: free space or wait for a burn to finish');
  }
  return new StagingError('IO_ERROR', `staging I/O failed: ${(e as Error).message}`);
}

async function io<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof StagingError) throw e;
    throw ioError(e);
  }
}
