/**
 * Where each file's bytes sit in an image: runs xorriso's `-find ... -exec
 * report_sections` on the finished image and parses its lines into byte
 * extents (offset = LBA x 2048 in the image file, which is written at LBA 0
 * of every disc, so the same offsets hold for a disc and for its cloud copy).
 *
 * A file larger than 4 GiB - 2 KiB has several extents ("sections", the `xt`
 * column). `report_sections` prints each section's own byte size;
 * `report_lba` prints the whole file's size on every line: both layouts are
 * understood (the header line says which). Paths are printed shell-quoted
 * ('it'"'"'s') in xorriso's local charset; the caller picks a local charset
 * that round-trips its names (see masterImage).
 */

import { runXorriso } from '../xorriso/run-xorriso.js';
import { MasteringError, mapToolFailure } from './errors.js';

export const SECTOR = 2048;

export interface FileExtent {
  /** Byte offset in the image = LBA * 2048. */
  offset: bigint;
  length: bigint;
}

export interface ReportedSection {
  xt: number;
  lba: number;
  blocks: number;
  /** Byte size of this section (report_sections) or of the whole file (report_lba). */
  size: bigint;
}

export interface ReportedFile {
  /** The ISO path as xorriso printed it, unquoted. */
  path: string;
  sections: ReportedSection[];
  /** Layout of the report the lines came from. */
  layout: 'sections' | 'lba';
}

const LINE = /^File data lba:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(.+)$/;
const HEADER = /^Report layout:.*,\s*(Sectsize|Filesize)\s*,/;

/**
 * Undoes xorriso's shell-style quoting of a path: 'single quoted' parts,
 * "double quoted" parts and backslash-escaped characters, concatenated.
 */
export function unquoteShellWord(word: string): string {
  let out = '';
  let i = 0;
  while (i < word.length) {
    const c = word[i]!;
    if (c === "'") {
      const end = word.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated single quote in ${JSON.stringify(word)}`);
      out += word.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      const end = word.indexOf('"', i + 1);
      if (end < 0) throw new Error(`unterminated double quote in ${JSON.stringify(word)}`);
      out += word.slice(i + 1, end);
      i = end + 1;
    } else if (c === '\\' && i + 1 < word.length) {
      out += word[i + 1];
      i += 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Parses report_lba / report_sections output into files with their sections, in report order. */
export function parseExtentReport(text: string): ReportedFile[] {
  let layout: 'sections' | 'lba' | undefined;
  const files: ReportedFile[] = [];
  const byPath = new Map<string, ReportedFile>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const header = HEADER.exec(line);
    if (header) {
      layout = header[1] === 'Sectsize' ? 'sections' : 'lba';
      continue;
    }
    const m = LINE.exec(line);
    if (!m) continue;
    if (!layout) throw new Error('extent report has data lines before its "Report layout" header');
    const path = unquoteShellWord(m[5]!.trim());
    const section: ReportedSection = {
      xt: Number(m[1]),
      lba: Number(m[2]),
      blocks: Number(m[3]),
      size: BigInt(m[4]!),
    };
    let file = byPath.get(path);
    if (!file || file.layout !== layout) {
      file = { path, sections: [], layout };
      byPath.set(path, file);
      files.push(file);
    }
    file.sections.push(section);
  }
  for (const f of files) f.sections.sort((a, b) => a.xt - b.xt);
  return files;
}

/** A reported file's byte extents; zero-length sections (empty files) are dropped. */
export function extentsOf(file: ReportedFile): FileExtent[] {
  const out: FileExtent[] = [];
  const n = file.sections.length;
  let before = 0n;
  file.sections.forEach((s, i) => {
    let length: bigint;
    if (file.layout === 'sections') length = s.size;
    else if (i < n - 1) length = BigInt(s.blocks) * BigInt(SECTOR);
    else length = s.size - before;
    before += length;
    if (length < 0n || length > BigInt(s.blocks) * BigInt(SECTOR)) {
      throw new Error(`section ${s.xt} of ${file.path} claims ${length} bytes in ${s.blocks} blocks`);
    }
    if (length > 0n) out.push({ offset: BigInt(s.lba) * BigInt(SECTOR), length });
  });
  return out;
}

/** Sum of the extents' lengths. */
export function extentBytes(extents: readonly FileExtent[]): bigint {
  return extents.reduce((sum, e) => sum + e.length, 0n);
}

export interface ReportOptions {
  /** Charset the image's Rock Ridge names are in (xorriso -in_charset). */
  charset: 'utf-8' | 'iso-8859-1';
  signal?: AbortSignal;
  /** Roughly how many bytes the whole report will be (see reportBytesFor); one run when unknown. */
  expectedBytes?: number;
  /** The image's size in sectors: the LBA space split when the report is too big for one run. */
  imageSectors?: number;
  /** Largest report one xorriso run should print; 24 MiB by default (runXorriso buffers 64 MiB of stdout). */
  maxReportBytes?: number;
}

/** A generous guess of the report's size for files with these paths (bytes, inside the image) and sizes. */
export function reportBytesFor(files: readonly { path: Buffer; size: bigint }[]): number {
  const SECTION = 0xfffff800n;
  return files.reduce((sum, f) => {
    const sections = f.size <= SECTION ? 1 : Number((f.size + SECTION - 1n) / SECTION);
    // The fixed columns, quotes, and the path re-encoded as UTF-8 (at most 2 bytes per ISO-8859-1 byte).
    return sum + sections * (80 + 2 * f.path.length);
  }, 0);
}

const DEFAULT_MAX_REPORT = 24 * 1024 * 1024;
const MAX_SPLIT_DEPTH = 8;

/**
 * Runs xorriso on an image file and returns every data file's extents keyed
 * by its raw Rock Ridge path bytes (as a latin1 string) without the leading
 * '/'. xorriso is told to print in UTF-8 (-local_charset utf-8) whatever the
 * image's charset, so its output survives decoding as UTF-8 and can be
 * re-encoded into the image's bytes (ISO-8859-1 maps one character to one
 * byte).
 *
 * A report bigger than runXorriso can buffer is taken in several runs over
 * LBA ranges (-lba_range: a file is reported by every range its data
 * touches, so sections are merged by path and extent number); a range whose
 * run fails is halved and tried again. Empty files have no data blocks and
 * are then not reported at all.
 */
export async function reportExtents(image: string, options: ReportOptions): Promise<Map<string, FileExtent[]>> {
  const max = options.maxReportBytes ?? DEFAULT_MAX_REPORT;
  const expected = options.expectedBytes ?? 0;
  const merged = new Map<string, ReportedFile>();
  const add = (text: string) => {
    for (const file of parseExtentReport(text)) {
      const known = merged.get(file.path);
      if (!known) {
        merged.set(file.path, file);
        continue;
      }
      for (const s of file.sections) if (!known.sections.some((k) => k.xt === s.xt)) known.sections.push(s);
      known.sections.sort((a, b) => a.xt - b.xt);
    }
  };
  const base = ['-no_rc', '-in_charset', options.charset, '-local_charset', 'utf-8', '-indev', `stdio:${image}`];
  const run = async (range?: [number, number]) => {
    const find = ['-find', '/', '-type', 'f', ...(range ? ['-lba_range', String(range[0]), String(range[1])] : [])];
    const { stdout } = await runXorriso([...base, ...find, '-exec', 'report_sections', '--'], {
      signal: options.signal,
    });
    add(stdout);
  };
  try {
    if (expected <= max || !options.imageSectors) {
      await run();
    } else {
      const sectors = options.imageSectors;
      const parts = Math.ceil(expected / max) * 2;
      const step = Math.ceil(sectors / parts);
      // A range may hold far more files than the average (small files among big ones): its run then
      // fails (stdout over runXorriso's buffer) and it is halved, within a budget of runs so that a
      // truly broken image fails in bounded time.
      let budget = 4 * parts + 32;
      const ranged = async (start: number, count: number, depth: number): Promise<void> => {
        try {
          budget--;
          await run([start, count]);
        } catch (error) {
          if (options.signal?.aborted || depth >= MAX_SPLIT_DEPTH || count < 2 || budget <= 0) throw error;
          const half = Math.floor(count / 2);
          await ranged(start, half, depth + 1);
          await ranged(start + half, count - half, depth + 1);
        }
      };
      // xorriso ignores an -lba_range that starts at 0; no file data can be there (system area).
      for (let start = 1; start < sectors; start += step) await ranged(start, Math.min(step, sectors - start), 0);
    }
  } catch (error) {
    throw mapToolFailure(error, `reading the extents of ${image}`);
  }
  const out = new Map<string, FileExtent[]>();
  for (const file of merged.values()) {
    if (!file.path.startsWith('/')) {
      throw new MasteringError('TOOL_FAILED', `xorriso reported a relative path ${JSON.stringify(file.path)}`);
    }
    const bytes = Buffer.from(file.path.slice(1), options.charset === 'utf-8' ? 'utf8' : 'latin1');
    out.set(bytes.toString('latin1'), extentsOf(file));
  }
  return out;
}
