/**
 * Test kit for the drives layer: small ISO images mastered with xorriso (with
 * MD5 tags), stand-in drives in a temp directory, a FIFO "drive" whose reader
 * stops after N bytes, and the xorriso processes this test process has running.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DriveConfig } from '../../edge-agent/drives/drive.js';

const run = promisify(execFile);

export interface TestImage {
  path: string;
  bytes: bigint;
  sha256: Buffer;
  /** The files in it, by name. */
  files: Record<string, Buffer>;
}

/** Master an ISO (Rock Ridge, MD5 tags) holding the given files; sizes become random contents. */
export async function makeImage(
  dir: string,
  name: string,
  files: Record<string, number | Buffer>,
  volid = name.toUpperCase(),
): Promise<TestImage> {
  const tree = path.join(dir, `${name}.tree`);
  await fs.mkdir(tree, { recursive: true });
  const contents: Record<string, Buffer> = {};
  for (const [f, v] of Object.entries(files)) {
    contents[f] = typeof v === 'number' ? randomBytes(v) : v;
    await fs.writeFile(path.join(tree, f), contents[f]!);
  }
  const iso = path.join(dir, `${name}.iso`);
  await run('xorriso', ['-md5', 'on', '-volid', volid, '-outdev', `stdio:${iso}`, '-map', tree, '/', '-commit']);
  const data = await fs.readFile(iso);
  return { path: iso, bytes: BigInt(data.length), sha256: sha256(data), files: contents };
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Stand-in drives `<root>/<name>/medium`, sharing `<root>/shelf`. */
export async function standIns(root: string, names: string[], speed?: number): Promise<DriveConfig[]> {
  const shelf = path.join(root, 'shelf');
  return Promise.all(
    names.map(async (name) => {
      await fs.mkdir(path.join(root, name), { recursive: true });
      const c: DriveConfig = { name, address: `stdio:${path.join(root, name, 'medium')}`, standIn: { shelf } };
      if (speed !== undefined) c.speed = speed;
      return c;
    }),
  );
}

/** The image's own bytes at the start of a file (a burned copy is padded). */
export async function head(file: string, bytes: bigint): Promise<Buffer> {
  const data = await fs.readFile(file);
  return data.subarray(0, Number(bytes));
}

/** A FIFO at `fifo` whose reader takes `stopAfter` bytes and then closes it (a write error at that point). */
export async function brokenPipeDrive(fifo: string, stopAfter: number): Promise<{ received: Promise<number> }> {
  await run('mkfifo', [fifo]);
  const reader = spawn('sh', ['-c', `head -c ${stopAfter} "$0" | wc -c`, fifo], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  reader.stdout.on('data', (d) => {
    out += String(d);
  });
  const received = new Promise<number>((resolve) => reader.on('close', () => resolve(Number(out.trim()))));
  return { received };
}

/** ISO 9660 file data location of a file inside an image (sector), via xorriso. */
export async function fileLba(image: string, isoPath: string): Promise<number> {
  const { stdout } = await run('xorriso', ['-indev', `stdio:${image}`, '-find', isoPath, '-exec', 'report_lba', '--']);
  const m = /File data lba:\s*\d+\s*,\s*(\d+)\s*,/.exec(stdout);
  if (!m) throw new Error(`no data location for ${isoPath} in ${image}: ${stdout}`);
  return Number(m[1]);
}

/** Byte offset of a Rock Ridge name inside the root directory of an image. */
export async function rootDirectoryNameOffset(image: string, name: string): Promise<number> {
  const data = await fs.readFile(image);
  const rootLba = data.readUInt32LE(16 * 2048 + 156 + 2);
  const at = data.subarray(rootLba * 2048, rootLba * 2048 + 2048).indexOf(Buffer.from(name));
  if (at < 0) throw new Error(`${name} not in the root directory of ${image}`);
  return rootLba * 2048 + at;
}

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

/** xorriso processes whose parent is this process and whose command line mentions `mention`. */
export async function xorrisoChildren(mention: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (!m || m[1] !== 'xorriso' || Number(m[2]) !== process.pid) continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(mention)) found.push(Number(entry));
  }
  return found;
}

/**
 * Bytes this process's own threads have read through read(2)-like calls so far: the sum of
 * /proc/self/task/<tid>/io rchar. (/proc/self/io would also count reaped children, i.e. xorriso.)
 */
export async function readChars(): Promise<bigint> {
  let total = 0n;
  for (const tid of await fs.readdir('/proc/self/task')) {
    const io = await fs.readFile(`/proc/self/task/${tid}/io`, 'utf8').catch(() => '');
    const m = /^rchar:\s*(\d+)/m.exec(io);
    if (m) total += BigInt(m[1]!);
  }
  return total;
}
