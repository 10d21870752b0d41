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
}

/**
 * Runs xorriso on an image file and returns every data file's extents keyed
 * by its raw Rock Ridge path bytes without the leading '/'. xorriso is told
 * to print in UTF-8 (-local_charset utf-8) whatever the image's charset, so
 * that its output survives decoding as UTF-8 and can be re-encoded into the
 * image's bytes (ISO-8859-1 maps one character to one byte).
 */
export async function reportExtents(image: string, options: ReportOptions): Promise<Map<string, FileExtent[]>> {
  const args = [
    '-no_rc',
    '-in_charset',
    options.charset,
    '-local_charset',
    'utf-8',
    '-indev',
    `stdio:${image}`,
    '-find',
    '/',
    '-type',
    'f',
    '-exec',
    'report_sections',
    '--',
  ];
  let stdout: string;
  try {
    ({ stdout } = await runXorriso(args, { signal: options.signal }));
  } catch (error) {
    throw mapToolFailure(error, `reading the extents of ${image}`);
  }
  const out = new Map<string, FileExtent[]>();
  for (const file of parseExtentReport(stdout)) {
    if (!file.path.startsWith('/')) {
      throw new MasteringError('TOOL_FAILED', `xorriso reported a relative path ${JSON.stringify(file.path)}`);
    }
    const bytes = Buffer.from(file.path.slice(1), options.charset === 'utf-8' ? 'utf8' : 'latin1');
    out.set(bytes.toString('latin1'), extentsOf(file));
  }
  return out;
}
