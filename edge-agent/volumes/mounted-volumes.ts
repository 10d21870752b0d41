/**
 * Discs mounted in the agent's drives, for MOUNT, UNMOUNT, VOL_LIST and
 * VOL_READ: NetDVD's "mount a disc and read it".
 *
 * MOUNT asks xorriso where every file of the disc lies (its extents, read
 * from the disc itself, so a disc the catalog never saw can be read too) and
 * keeps that map; the catalog adds what the disc's directory cannot say as
 * exactly (the staged mode, time and SHA-256) when it knows the volume. Reads
 * then go straight to the medium at those byte ranges — the same ranges the
 * cloud restores a file from. Nothing here writes to a disc.
 */
import fs from 'node:fs/promises';
import type { Catalog, FileRow } from '../catalog/catalog.js';
import type { DrivePool } from '../drives/drive-pool.js';
import { type FileExtent, reportExtents } from '../mastering/extents.js';
import { printablePath } from '../packing/errors.js';
import type { Charset } from '../staging/names.js';

export type VolumeCode =
  | 'NO_SUCH_DRIVE'
  | 'NO_MEDIUM'
  | 'NOT_FOUND'
  | 'NOT_DIR'
  | 'IS_DIR'
  | 'BAD_COOKIE'
  | 'BAD_ARGUMENT'
  | 'IO_ERROR';

export class VolumeError extends Error {
  readonly code: VolumeCode;
  constructor(code: VolumeCode, message: string) {
    super(message);
    this.name = 'VolumeError';
    this.code = code;
  }
}

export interface VolumeEntry {
  name: Buffer;
  kind: 'file' | 'dir';
  size: bigint;
  mode: number;
  mtime: { seconds: bigint; nanoseconds: number };
  sha256: Buffer | null;
}

interface Mounted {
  vsn: string;
  medium: string;
  /** Raw path bytes (latin1 key, no leading '/') → extents. */
  files: Map<string, FileExtent[]>;
  /** Catalog rows of the payload, keyed like `files` ('data/<path>'). */
  known: Map<string, FileRow>;
}

const PAYLOAD = 'data/';

export class MountedVolumes {
  private readonly mounted = new Map<string, Mounted>();

  constructor(
    private readonly pool: DrivePool,
    private readonly catalog: Catalog,
    private readonly charset: Charset,
  ) {}

  async mount(driveName: string): Promise<string> {
    const drive = this.pool.get(driveName);
    if (!drive) throw new VolumeError('NO_SUCH_DRIVE', `there is no drive ${driveName}: DRIVES lists them`);
    const m = await drive.medium();
    if (m.missing) throw new VolumeError('NO_SUCH_DRIVE', `drive ${driveName} is missing (${drive.address})`);
    if (!m.loaded || m.blank || !m.vsn) {
      throw new VolumeError('NO_MEDIUM', `drive ${driveName} holds no written disc: load one, then MOUNT`);
    }
    const medium = drive.mediumPath ?? drive.address;
    let files: Map<string, FileExtent[]>;
    try {
      files = await reportExtents(medium, { charset: this.charset });
    } catch (e) {
      throw new VolumeError('IO_ERROR', `the disc in ${driveName} cannot be read: ${(e as Error).message}`);
    }
    const known = new Map<string, FileRow>();
    const volume = this.catalog.volumeByVsn(m.vsn);
    if (volume) {
      for (const p of this.catalog.volumeFiles(volume.id)) {
        if (!p.part) known.set(`${PAYLOAD}${p.imagePath.toString('latin1')}`, p.file);
      }
    }
    this.mounted.set(driveName, { vsn: m.vsn, medium, files, known });
    return m.vsn;
  }

  unmount(driveName: string): void {
    if (!this.pool.get(driveName)) throw new VolumeError('NO_SUCH_DRIVE', `there is no drive ${driveName}`);
    this.mounted.delete(driveName);
  }

  /** The VSN mounted in a drive, if any. */
  vsnIn(driveName: string): string | undefined {
    return this.mounted.get(driveName)?.vsn;
  }

  private get(driveName: string): Mounted {
    if (!this.pool.get(driveName)) throw new VolumeError('NO_SUCH_DRIVE', `there is no drive ${driveName}`);
    const m = this.mounted.get(driveName);
    if (!m) throw new VolumeError('NO_MEDIUM', `nothing is mounted in ${driveName}: MOUNT it first`);
    return m;
  }

  /** One page of a directory of the mounted disc, sorted by name bytes; the cookie is the next index. */
  list(
    driveName: string,
    dir: Buffer,
    cookie: bigint,
    count: number,
  ): { entries: VolumeEntry[]; cookie: bigint; eof: boolean } {
    const m = this.get(driveName);
    const prefix = normalise(dir);
    if (m.files.has(prefix.replace(/\/$/, ''))) throw new VolumeError('NOT_DIR', `${show(dir)} is a file`);
    const children = new Map<string, VolumeEntry>();
    for (const [key, extents] of m.files) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      const slash = rest.indexOf('/');
      const name = slash < 0 ? rest : rest.slice(0, slash);
      if (slash >= 0) {
        if (!children.has(name)) children.set(name, dirEntry(name));
        continue;
      }
      const row = m.known.get(key);
      children.set(name, {
        name: Buffer.from(name, 'latin1'),
        kind: 'file',
        size: extents.reduce((s, e) => s + e.length, 0n),
        mode: row?.mode ?? 0o444,
        mtime: row?.mtime ?? { seconds: 0n, nanoseconds: 0 },
        sha256: row?.sha256 ?? null,
      });
    }
    if (children.size === 0 && prefix !== '') throw new VolumeError('NOT_FOUND', `${show(dir)} is not on ${m.vsn}`);
    const all = [...children.values()].sort((a, b) => Buffer.compare(a.name, b.name));
    if (cookie > BigInt(all.length)) throw new VolumeError('BAD_COOKIE', 'a cookie this listing did not issue');
    const start = Number(cookie);
    const entries = all.slice(start, start + Math.max(1, count));
    const next = start + entries.length;
    return { entries, cookie: BigInt(next), eof: next >= all.length };
  }

  /** Up to `count` bytes of a file of the mounted disc, from `offset`, read at its extents on the medium. */
  async read(driveName: string, file: Buffer, offset: bigint, count: number): Promise<{ data: Buffer; eof: boolean }> {
    const m = this.get(driveName);
    const key = normalise(file).replace(/\/$/, '');
    const extents = m.files.get(key);
    if (!extents) {
      const isDir = [...m.files.keys()].some((k) => k.startsWith(`${key}/`));
      if (isDir) throw new VolumeError('IS_DIR', `${show(file)} is a directory`);
      throw new VolumeError('NOT_FOUND', `${show(file)} is not on ${m.vsn}`);
    }
    // the disc may have been swapped (or a burn loaded a blank) since MOUNT: never read another disc's bytes
    const now = await this.pool.get(driveName)!.medium();
    if (now.vsn !== m.vsn) {
      this.mounted.delete(driveName);
      throw new VolumeError('NO_MEDIUM', `the disc in ${driveName} is no longer ${m.vsn}: MOUNT it again`);
    }
    const size = extents.reduce((s, e) => s + e.length, 0n);
    if (offset >= size) return { data: Buffer.alloc(0), eof: true };
    const want = Number(size - offset < BigInt(count) ? size - offset : BigInt(count));
    const data = Buffer.alloc(want);
    const fh = await fs.open(m.medium, 'r');
    try {
      let done = 0;
      let base = 0n; // file offset where the current extent starts
      for (const e of extents) {
        const from = offset + BigInt(done);
        if (done < want && from < base + e.length) {
          const inExtent = from - base;
          const n = Math.min(want - done, Number(e.length - inExtent));
          const { bytesRead } = await fh.read(data, done, n, Number(e.offset + inExtent));
          if (bytesRead !== n) throw new VolumeError('IO_ERROR', `the disc in ${driveName} ended inside ${show(file)}`);
          done += n;
        }
        base += e.length;
      }
    } finally {
      await fh.close();
    }
    return { data, eof: offset + BigInt(want) >= size };
  }
}

function dirEntry(name: string): VolumeEntry {
  return {
    name: Buffer.from(name, 'latin1'),
    kind: 'dir',
    size: 0n,
    mode: 0o555,
    mtime: { seconds: 0n, nanoseconds: 0 },
    sha256: null,
  };
}

/** A client's path on the disc as a key prefix: no leading or doubled '/', '' for the root, else ending in '/'. */
function normalise(p: Buffer): string {
  const parts = p
    .toString('latin1')
    .split('/')
    .filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new VolumeError('BAD_ARGUMENT', 'a path on a disc has no ".."');
  return parts.length === 0 ? '' : `${parts.join('/')}/`;
}

function show(p: Buffer): string {
  return `"${printablePath(p)}"`;
}
