/**
 * The pathspec list xorriso reads with `-pathspecs as_mkisofs -path_list`:
 * one `iso_rr_path=disk_path` line per file, written as raw bytes, so names
 * that are not valid UTF-8 (ISO-8859-1 clients) never pass through argv.
 *
 * Escaping (man xorriso, -pathspecs): in mode "as_mkisofs" every '\' is
 * written '\\' in both paths and '=' is written '\=' (required in the ISO
 * path, allowed in the disk path). Mode "on" cannot express a name ending in
 * '\' and leaves "a\=b" ambiguous, so it is not used. A line ends at '\n',
 * so a path holding a newline (or a NUL, which no file name can hold)
 * cannot be listed at all: such paths are refused before anything is written.
 */
import { MasteringError, showPath } from './errors.js';

const BACKSLASH = 0x5c;
const EQUALS = 0x3d;
const NEWLINE = 0x0a;
const NUL = 0x00;

/** Throws MasteringError('BAD_NAME') if `bytes` cannot be written into a path list. */
export function checkListable(bytes: Buffer, what: string, path?: Buffer): void {
  const nl = bytes.indexOf(NEWLINE);
  const nul = bytes.indexOf(NUL);
  if (nl >= 0 || nul >= 0) {
    const which = nul >= 0 ? 'a NUL byte' : 'a newline';
    throw new MasteringError('BAD_NAME', `${what} ${showPath(bytes)} contains ${which}: it cannot be mastered`, {
      path: path ?? bytes,
    });
  }
}

/** Escapes one path for a pathspec in mode as_mkisofs. */
export function escapePathspec(bytes: Buffer): Buffer {
  let extra = 0;
  for (const b of bytes) if (b === BACKSLASH || b === EQUALS) extra++;
  if (extra === 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + extra);
  let o = 0;
  for (const b of bytes) {
    if (b === BACKSLASH || b === EQUALS) out[o++] = BACKSLASH;
    out[o++] = b;
  }
  return out;
}

export interface ListEntry {
  /** Absolute path in the image, raw bytes, starting with '/'. */
  isoPath: Buffer;
  /** Absolute path of the file on disk, raw bytes. */
  diskPath: Buffer;
}

/** The bytes of a path list file for `entries`. */
export function pathListBytes(entries: readonly ListEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    checkListable(e.isoPath, 'image path');
    checkListable(e.diskPath, 'source path', e.isoPath);
    if (e.isoPath[0] !== 0x2f) throw new Error('image paths in a path list must be absolute');
    if (e.diskPath[0] !== 0x2f) {
      throw new MasteringError('BAD_NAME', `source ${showPath(e.diskPath)} is not an absolute path`, {
        path: e.isoPath,
      });
    }
    parts.push(escapePathspec(e.isoPath), Buffer.from('='), escapePathspec(e.diskPath), Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}
