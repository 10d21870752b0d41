/**
 * The cache area: a directory (best on its own filesystem) holding one file
 * per retrieval, `<token>.part` while it is fetched and `<token>` once its
 * SHA-256 checked out. Its budget counts the bytes of ready entries and of
 * fetches under way; a fetch that does not fit waits for space, one larger
 * than the whole budget can never be served.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

const TOKEN = /^[0-9a-f]{32}$/;

export class CacheArea {
  private usedBytes = 0;

  constructor(
    readonly dir: string,
    readonly limit: number,
  ) {}

  async prepare(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
  }

  get used(): number {
    return this.usedBytes;
  }

  /** Takes `bytes` of the budget if they fit. */
  reserve(bytes: number): boolean {
    if (this.usedBytes + bytes > this.limit) return false;
    this.usedBytes += bytes;
    return true;
  }

  /** Counts an entry already in the area (at start-up), whether or not it fits. */
  count(bytes: number): void {
    this.usedBytes += bytes;
  }

  release(bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
  }

  partPath(token: string): string {
    return path.join(this.dir, `${checked(token)}.part`);
  }

  readyPath(token: string): string {
    return path.join(this.dir, checked(token));
  }

  async exists(token: string): Promise<boolean> {
    return fs.stat(this.readyPath(token)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async remove(file: string): Promise<void> {
    await fs.rm(file, { force: true });
  }

  /**
   * Deletes every file of the area but the ready entries named in `keep`
   * (tokens); returns what it deleted. Directories (lost+found on a
   * filesystem of its own) are left alone.
   */
  async sweepOrphans(keep: ReadonlySet<string>): Promise<string[]> {
    const gone: string[] = [];
    for (const e of await fs.readdir(this.dir, { withFileTypes: true })) {
      if (e.isDirectory() || keep.has(e.name)) continue;
      await fs.rm(path.join(this.dir, e.name), { force: true });
      gone.push(e.name);
    }
    return gone;
  }
}

function checked(token: string): string {
  if (!TOKEN.test(token)) throw new TypeError(`a retrieval token is 32 lowercase hex digits, not ${token}`);
  return token;
}
