/**
 * Masters one volume: staged files in, an ISO image file out (ISO 9660 level 3
 * + Rock Ridge + Joliet, MD5 tags for the session and every file), with the
 * BagIt bag and the label at the root and the payload under data/, plus where
 * every file's bytes sit in the image. Extra root files (the par2 recovery
 * files under recovery/) may sit beside them: they become tag files of the bag.
 *
 * Names are raw bytes end to end: they reach xorriso through a path list file
 * (never argv, which Node cannot fill with non-UTF-8 bytes), xorriso's local,
 * input and output charsets are the volume's charset so Rock Ridge keeps the
 * bytes unchanged and Joliet gets proper UCS-2, and the extents are matched
 * back by re-encoding xorriso's report in the same charset.
 *
 * The image is written through a stdio pseudo-drive, so it starts with the
 * 32-sector emulated TOC and the session sits at LBA 32; it is meant to be
 * written byte for byte at LBA 0 of each disc, where the same LBAs hold.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { runXorriso } from '../xorriso/run-xorriso.js';
import {
  BAG_INFO_NAME,
  BAGIT_NAME,
  type BagPayloadFile,
  buildBag,
  MANIFEST_NAME,
  PAYLOAD_DIR,
  TAG_MANIFEST_NAME,
} from './bag.js';
import { MasteringError, mapToolFailure, showPath } from './errors.js';
import { extentBytes, type FileExtent, reportBytesFor, reportExtents, SECTOR } from './extents.js';
import { checkLabel, checkVsn, LABEL_NAME, labelText, type VolumeLabel } from './label.js';
import { checkListable, type ListEntry, pathListBytes } from './path-list.js';

export type { FileExtent } from './extents.js';
export type { VolumeLabel } from './label.js';

export interface Time {
  seconds: bigint;
  nanoseconds: number;
}

export interface ImageFile {
  /** Absolute path of the staged file on disk (Buffer: raw bytes, names may be ISO-8859-1). */
  source: Buffer | string;
  /** Path inside the volume: raw bytes, '/'-separated, no leading '/'. */
  path: Buffer;
  size: bigint;
  /** Computed at staging: never recomputed here. */
  sha256: Buffer;
  mtime: Time;
  mode: number;
}

/** A file at the image root outside data/ (e.g. `recovery/<vsn>.par2`), listed in the tag manifest. */
export interface RootFile {
  /** Absolute path of the file on disk. */
  source: Buffer | string;
  /** Path from the image root: components of ASCII letters, digits and `._+-`, '/'-separated; not under data/. */
  path: Buffer;
  size: bigint;
  /** Given by the caller (it goes into tagmanifest-sha256.txt as is). */
  sha256: Buffer;
}

export interface MasterRequest {
  /** ISO volume id; [A-Z0-9_], at most 32 chars. */
  vsn: string;
  files: ImageFile[];
  /** Files placed at the image root beside the bag; returned with their extents in `bagFiles`. */
  rootFiles?: RootFile[];
  /**
   * APPEND: grow this image by a session instead of mastering a new one. The
   * output starts as a copy of `image`; `files` are the payload the earlier
   * sessions keep (not replaced by this request's files), so the new bag and
   * label describe the whole disc. Older sessions stay readable.
   */
  base?: { image: string; files: BagPayloadFile[] };
  /** Image file to create (overwritten if it exists). */
  output: string;
  /** Scratch dir for bag files / path lists (caller creates and later removes it). */
  workDir: string;
  label: VolumeLabel;
  /** How path bytes are encoded. */
  charset: 'utf-8' | 'iso-8859-1';
  signal?: AbortSignal;
  /** Fraction of the image written, from xorriso's UPDATE lines; 1 when done. */
  onProgress?: (fraction: number) => void;
  /**
   * Largest extent report one xorriso run may print (bytes); bigger reports
   * are taken over several LBA ranges. Only tests need to lower it.
   */
  maxReportBytes?: number;
}

export interface MasteredFile {
  path: Buffer;
  size: bigint;
  sha256: Buffer;
  extents: FileExtent[];
}

export interface MasteredImage {
  path: string;
  bytes: bigint;
  sectors: number;
  /** The payload files, in request order; `path` as in the request (inside data/). */
  files: MasteredFile[];
  /** Bag and label files at the image root, then the request's rootFiles, with their extents. */
  bagFiles: MasteredFile[];
}

const SLASH = 0x2f;
const STAT_BATCH = 64;

/** Rock Ridge (and Linux) limit for one name component. */
export const MAX_COMPONENT_BYTES = 255;

function splitComponents(p: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= p.length; i++) {
    if (i === p.length || p[i] === SLASH) {
      parts.push(p.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

/** Checks every payload path; throws MasteringError('BAD_NAME') naming the first bad one. */
export function checkPayloadPaths(files: readonly ImageFile[], charset: MasterRequest['charset']): void {
  const filesSeen = new Set<string>();
  const dirsSeen = new Set<string>();
  const bad = (p: Buffer, why: string) =>
    new MasteringError('BAD_NAME', `payload path ${showPath(p)} ${why}`, { path: p });
  for (const f of files) {
    const p = f.path;
    if (!Buffer.isBuffer(p) || p.length === 0) throw bad(Buffer.alloc(0), 'is empty');
    checkListable(p, 'payload path');
    if (p[0] === SLASH) throw bad(p, 'is absolute: give it relative to the volume root');
    if (charset === 'utf-8' && !isUtf8(p)) throw bad(p, 'is not valid UTF-8 (the volume charset is utf-8)');
    const parts = splitComponents(p);
    for (const c of parts) {
      if (c.length === 0) throw bad(p, 'has an empty component');
      if (c.equals(Buffer.from('.')) || c.equals(Buffer.from('..'))) throw bad(p, 'has a "." or ".." component');
      if (c.length > MAX_COMPONENT_BYTES) throw bad(p, `has a component longer than ${MAX_COMPONENT_BYTES} bytes`);
    }
    const key = p.toString('latin1');
    if (filesSeen.has(key)) throw bad(p, 'is listed twice');
    if (dirsSeen.has(key)) throw bad(p, 'is both a file and a directory');
    filesSeen.add(key);
    let prefix = '';
    for (let i = 0; i < parts.length - 1; i++) {
      prefix += (i ? '/' : '') + parts[i]!.toString('latin1');
      if (filesSeen.has(prefix)) throw bad(p, `lies under ${showPath(Buffer.from(prefix, 'latin1'))}, which is a file`);
      dirsSeen.add(prefix);
    }
    if (!Buffer.isBuffer(f.sha256) || f.sha256.length !== 32) throw bad(p, 'has no 32-byte SHA-256');
    if (typeof f.size !== 'bigint' || f.size < 0n) throw bad(p, 'has a negative or missing size');
  }
}

const ROOT_COMPONENT = /^[A-Za-z0-9._+-]+$/;

/** Checks the extra root files' paths; throws MasteringError('BAD_NAME') naming the first bad one. */
export function checkRootPaths(files: readonly RootFile[]): void {
  const reserved = new Set([BAGIT_NAME, BAG_INFO_NAME, MANIFEST_NAME, TAG_MANIFEST_NAME, LABEL_NAME, PAYLOAD_DIR]);
  const filesSeen = new Set<string>();
  const dirsSeen = new Set<string>();
  for (const f of files) {
    const p = Buffer.isBuffer(f.path) ? f.path : Buffer.alloc(0);
    const bad = (why: string) => new MasteringError('BAD_NAME', `root file ${showPath(p)} ${why}`, { path: p });
    const text = p.toString('latin1');
    const parts = text.split('/');
    if (p.length === 0) throw bad('has an empty path');
    for (const c of parts) {
      if (!ROOT_COMPONENT.test(c) || c === '.' || c === '..') {
        throw bad('must be relative, with components of ASCII letters, digits and "._+-" only');
      }
      if (c.length > MAX_COMPONENT_BYTES) throw bad(`has a component longer than ${MAX_COMPONENT_BYTES} bytes`);
    }
    if (reserved.has(parts[0]!)) throw bad(`collides with the bag's ${parts[0]}`);
    if (filesSeen.has(text)) throw bad('is listed twice');
    if (dirsSeen.has(text)) throw bad('is both a file and a directory');
    filesSeen.add(text);
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (filesSeen.has(prefix)) throw bad(`lies under ${prefix}, which is a file`);
      dirsSeen.add(prefix);
    }
    if (!Buffer.isBuffer(f.sha256) || f.sha256.length !== 32) throw bad('has no 32-byte SHA-256');
    if (typeof f.size !== 'bigint' || f.size < 0n) throw bad('has a negative or missing size');
  }
}

function sourceBytes(source: Buffer | string): Buffer {
  return typeof source === 'string' ? Buffer.from(source, 'utf8') : source;
}

/** lstat of every source, checked against the request: regular file of the requested size. */
async function statSources(
  files: readonly Pick<ImageFile, 'source' | 'path' | 'size'>[],
  signal?: AbortSignal,
): Promise<Stats[]> {
  const out: Stats[] = new Array(files.length);
  for (let start = 0; start < files.length; start += STAT_BATCH) {
    if (signal?.aborted) throw new MasteringError('ABORTED', 'mastering was cancelled');
    const batch = files.slice(start, start + STAT_BATCH);
    await Promise.all(
      batch.map(async (f, i) => {
        const src = sourceBytes(f.source);
        let st: Stats;
        try {
          st = await fs.lstat(src);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          throw new MasteringError(
            'SOURCE_CHANGED',
            `staged file ${showPath(src)} for ${showPath(f.path)} cannot be read (${code ?? String(error)})`,
            { path: f.path, cause: error },
          );
        }
        if (!st.isFile()) {
          throw new MasteringError(
            'SOURCE_CHANGED',
            `staged file ${showPath(src)} for ${showPath(f.path)} is not a regular file`,
            { path: f.path },
          );
        }
        if (BigInt(st.size) !== f.size) {
          throw new MasteringError(
            'SOURCE_CHANGED',
            `staged file ${showPath(src)} for ${showPath(f.path)} has ${st.size} bytes, the request says ${f.size}`,
            { path: f.path },
          );
        }
        out[start + i] = st;
      }),
    );
  }
  return out;
}

const PROGRESS = /UPDATE\s*:\s*(?:Writing:\s+\d+s\s+(\d+(?:\.\d+)?)%|.*?(\d+(?:\.\d+)?)%\s+done)/;

/** The fraction an xorriso progress line reports, if it is one. */
export function progressOf(line: string): number | undefined {
  const m = PROGRESS.exec(line);
  if (!m) return undefined;
  const pct = Number(m[1] ?? m[2]);
  return Number.isFinite(pct) ? Math.min(1, Math.max(0, pct / 100)) : undefined;
}

/** The xorriso arguments for mastering a path list into a new image. */
export function masteringArgs(opts: {
  vsn: string;
  output: string;
  listFile: string;
  charset: string;
  /** Add a session to the image in `output` (xorriso -dev) instead of writing a new one (-outdev). */
  grow?: boolean;
}): string[] {
  return [
    '-no_rc',
    '-local_charset',
    opts.charset,
    '-in_charset',
    opts.charset,
    '-out_charset',
    opts.charset,
    // Before -outdev: session and per-file MD5s are recorded in the new image.
    '-md5',
    'on',
    opts.grow ? '-dev' : '-outdev',
    `stdio:${opts.output}`,
    '-compliance',
    'iso_9660_level=3',
    '-rockridge',
    'on',
    '-joliet',
    'on',
    '-volid',
    opts.vsn,
    '-padding',
    '300k',
    '-pathspecs',
    'as_mkisofs',
    '-path_list',
    opts.listFile,
    '-commit',
  ];
}

const MISSING_SOURCE = /Cannot determine attributes of source file '([^']*)'/;
/**
 * libisofs 1.5.4 reserves too much room for Rock Ridge continuation areas
 * when they cross a block boundary (a directory with more than about 2 KiB
 * of name overflow: roughly 15+ names longer than ~105 bytes), so every LBA
 * after the tree is off and the image is damaged. It says so with this
 * WARNING before any file data is written: the run is stopped right there.
 * Fixed in libisofs 1.5.6 ("Size of further CE area was calculated wrong").
 */
const TREE_MISMATCH = /Calculated and written ECMA-119 tree end differ|tree end address mismatch/;

let libisofsVersion: Promise<string | undefined> | undefined;

/** The libisofs version xorriso runs with ("1.5.4"), or undefined when it cannot be told. */
export function xorrisoLibisofsVersion(): Promise<string | undefined> {
  libisofsVersion ??= runXorriso(['-no_rc', '-version'])
    .then((r) => /libisofs\s+in use\s*:\s*([\d.]+)/.exec(`${r.stdout}\n${r.stderr}`)?.[1])
    .catch(() => undefined);
  return libisofsVersion;
}

async function treeMismatchError(vsn: string, cause?: unknown): Promise<MasteringError> {
  const version = (await xorrisoLibisofsVersion()) ?? 'unknown';
  return new MasteringError(
    'TOOL_FAILED',
    `mastering ${vsn}: libisofs ${version} miscalculated the Rock Ridge continuation areas ` +
      '("Calculated and written ECMA-119 tree end differ"), which happens with libisofs before 1.5.6 when a ' +
      'directory holds many names longer than about 105 bytes; the image would be damaged, so it was not made. ' +
      'Install libisofs 1.5.6 or later, or shorten those names',
    { cause },
  );
}

/** Masters `req.files` and the bag into `req.output`; see the file header. */
export async function masterImage(req: MasterRequest): Promise<MasteredImage> {
  const { signal } = req;
  checkVsn(req.vsn);
  checkLabel(req.label);
  if (req.label.vsn !== req.vsn) {
    throw new MasteringError('BAD_LABEL', `the label names volume ${req.label.vsn}, the request ${req.vsn}`);
  }
  if (req.charset !== 'utf-8' && req.charset !== 'iso-8859-1') {
    throw new MasteringError('BAD_NAME', `unknown charset ${JSON.stringify(req.charset)}`);
  }
  checkPayloadPaths(req.files, req.charset);
  const rootFiles = req.rootFiles ?? [];
  checkRootPaths(rootFiles);
  // Payload and root files alike must stay as they are while xorriso reads them.
  const sources = [...req.files, ...rootFiles];
  for (const f of sources) checkListable(sourceBytes(f.source), 'staged file', f.path);

  const before = await statSources(sources, signal);
  const kept = req.base?.files ?? [];
  const payloadBytes = [...kept, ...req.files].reduce((sum, f) => sum + f.size, 0n);
  const label = labelText(req.label, {
    payloadBytes,
    payloadFiles: kept.length + req.files.length,
    charset: req.charset,
  });
  const bag = buildBag(
    [...kept, ...req.files],
    {
      vsn: req.vsn,
      site: req.label.site,
      job: req.label.job,
      created: req.label.created,
      charset: req.charset,
      label: { name: LABEL_NAME, text: label },
    },
    rootFiles.map((f) => ({ name: f.path.toString('latin1'), sha256: f.sha256 })),
  );

  const bagDir = path.join(req.workDir, 'bag');
  const listFile = path.join(req.workDir, 'path-list');
  const entries: ListEntry[] = [];
  try {
    await fs.mkdir(bagDir, { recursive: true });
    for (const file of bag) {
      const disk = path.join(bagDir, file.name);
      await fs.writeFile(disk, file.data);
      entries.push({ isoPath: Buffer.from(`/${file.name}`), diskPath: Buffer.from(path.resolve(disk)) });
    }
    for (const f of rootFiles) {
      entries.push({ isoPath: Buffer.concat([Buffer.from('/'), f.path]), diskPath: sourceBytes(f.source) });
    }
    for (const f of req.files) {
      entries.push({
        isoPath: Buffer.concat([Buffer.from(`/${PAYLOAD_DIR}/`), f.path]),
        diskPath: sourceBytes(f.source),
      });
    }
    await fs.writeFile(listFile, pathListBytes(entries));
    // A stdio: pseudo-drive holding an image would get a second session appended: start from nothing,
    // or, for APPEND, from a copy of the image the session grows.
    if (req.base) await fs.copyFile(req.base.image, req.output);
    else await fs.rm(req.output, { force: true });
  } catch (error) {
    throw mapToolFailure(error, `preparing ${req.workDir}`);
  }

  let reported = -1;
  let damagedTree = false;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) stop.abort();
  const onLine = (line: string) => {
    if (TREE_MISMATCH.test(line) && !damagedTree) {
      damagedTree = true;
      stop.abort();
      return;
    }
    const fraction = progressOf(line);
    if (req.onProgress && fraction !== undefined && fraction > reported) {
      reported = fraction;
      req.onProgress(fraction);
    }
  };
  try {
    await runXorriso(
      masteringArgs({
        vsn: req.vsn,
        output: req.output,
        listFile: path.resolve(listFile),
        charset: req.charset,
        grow: req.base !== undefined,
      }),
      { signal: stop.signal, onLine },
    );
    if (damagedTree) throw await treeMismatchError(req.vsn);
  } catch (error) {
    await fs.rm(req.output, { force: true }).catch(() => {});
    if (error instanceof MasteringError) throw error;
    const failures = (error as { failures?: string[] }).failures ?? [];
    if (damagedTree || failures.some((l) => TREE_MISMATCH.test(l))) throw await treeMismatchError(req.vsn, error);
    if (signal?.aborted) throw new MasteringError('ABORTED', `mastering ${req.vsn} was cancelled`, { cause: error });
    const missing = failures.map((l) => MISSING_SOURCE.exec(l)).find((m) => m);
    if (missing) {
      throw new MasteringError('SOURCE_CHANGED', `a staged file vanished while mastering: ${missing[1]}`, {
        cause: error,
      });
    }
    throw mapToolFailure(error, `mastering ${req.vsn}`);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }

  try {
    // A staged file written to while xorriso read it would put other bytes on the disc than its SHA-256
    // says. (ctime is not compared: unlinking another hard link of the file, which staging may do while a
    // job runs, changes it without touching the content.)
    const after = await statSources(sources, signal);
    after.forEach((st, i) => {
      const old = before[i]!;
      if (st.mtimeMs !== old.mtimeMs || st.ino !== old.ino || st.dev !== old.dev) {
        const f = sources[i]!;
        throw new MasteringError('SOURCE_CHANGED', `staged file for ${showPath(f.path)} changed while mastering`, {
          path: f.path,
        });
      }
    });

    const imageSectors = Math.ceil((await fs.stat(req.output)).size / SECTOR);
    const expectedBytes = reportBytesFor([
      ...kept.map((f) => ({ path: f.path, size: f.size })),
      ...req.files.map((f) => ({ path: f.path, size: f.size })),
      ...bag.map((x) => ({ path: Buffer.from(x.name), size: BigInt(x.data.length) })),
      ...rootFiles.map((f) => ({ path: f.path, size: f.size })),
    ]);
    const extents = await reportExtents(req.output, {
      charset: req.charset,
      signal,
      imageSectors,
      expectedBytes,
      maxReportBytes: req.maxReportBytes,
    });
    const take = (key: Buffer, size: bigint, sha256: Buffer, shown: Buffer): MasteredFile => {
      const found = extents.get(key.toString('latin1'));
      if (found === undefined && size > 0n) {
        throw new MasteringError('TOOL_FAILED', `${showPath(shown)} is missing from the mastered image`, {
          path: shown,
        });
      }
      const list = found ?? [];
      const total = extentBytes(list);
      if (total !== size) {
        throw new MasteringError(
          'SOURCE_CHANGED',
          `${showPath(shown)} occupies ${total} bytes in the image, the request says ${size}`,
          { path: shown },
        );
      }
      extents.delete(key.toString('latin1'));
      return { path: shown, size, sha256, extents: list };
    };
    const files = req.files.map((f) =>
      take(Buffer.concat([Buffer.from(`${PAYLOAD_DIR}/`), f.path]), f.size, f.sha256, f.path),
    );
    const bagFiles = bag.map((b) => {
      const name = Buffer.from(b.name);
      return take(name, BigInt(b.data.length), createHash('sha256').update(b.data).digest(), name);
    });
    for (const f of rootFiles) bagFiles.push(take(f.path, f.size, f.sha256, f.path));
    for (const f of kept) take(Buffer.concat([Buffer.from(`${PAYLOAD_DIR}/`), f.path]), f.size, f.sha256, f.path);
    if (req.base) {
      // root files of earlier sessions (recovery data) stay in the tree; only the payload must match
      for (const k of [...extents.keys()]) if (!k.startsWith(`${PAYLOAD_DIR}/`)) extents.delete(k);
    }
    if (extents.size > 0) {
      const extra = [...extents.keys()].slice(0, 3).map((k) => showPath(Buffer.from(k, 'latin1')));
      throw new MasteringError('TOOL_FAILED', `the image holds files that were not asked for: ${extra.join(', ')}`);
    }
    const st = await fs.stat(req.output);
    if (st.size % SECTOR !== 0) {
      throw new MasteringError('TOOL_FAILED', `${req.output} is ${st.size} bytes, not a whole number of sectors`);
    }
    req.onProgress?.(1);
    return { path: req.output, bytes: BigInt(st.size), sectors: st.size / SECTOR, files, bagFiles };
  } catch (error) {
    await fs.rm(req.output, { force: true }).catch(() => {});
    throw mapToolFailure(error, `checking ${req.output}`);
  }
}
