/**
 * Packing failures, one code per cause, with messages meant for the person who
 * asked for the burn: the file that does not fit is named (its bytes escaped so
 * a hostile name cannot garble a terminal or a log line), with its size and the
 * medium's capacity.
 */
import { isUtf8 } from 'node:buffer';

export type PackingCode =
  /** The media type names no known profile. */
  | 'UNKNOWN_MEDIA'
  /** A file is bigger than one volume and spanning was not asked for. */
  | 'TOO_LARGE'
  /** Nothing to pack. */
  | 'EMPTY'
  /** The options make packing impossible (no usable space per volume, a cost model returning nonsense, a negative size). */
  | 'BAD_ARGUMENT';

export interface OversizeFile {
  id: number;
  path: Buffer;
  size: bigint;
  /** What the cost model says the file needs on a volume. */
  sectors: number;
}

export type PackingDetail =
  | { kind: 'unknown-media'; name: string; known: string[] }
  | { kind: 'too-large'; files: OversizeFile[]; capacitySectors: number; usableSectors: number };

export class PackingError extends Error {
  readonly code: PackingCode;
  readonly detail: PackingDetail | undefined;
  constructor(code: PackingCode, message: string, detail?: PackingDetail) {
    super(message);
    this.name = 'PackingError';
    this.code = code;
    this.detail = detail;
  }
}

/** Control, format, separator (other than space) and unassigned code points: escaped when shown. */
const UNSAFE = /[\p{C}\p{Z}]/u;

/**
 * A path's bytes as one printable line. Valid UTF-8 is shown as text with every
 * control, format (bidi overrides...), separator or unassigned code point as
 * \u{...}; anything else is shown byte by byte, printable ASCII as is and every
 * other byte as \xNN. Backslash and double quote are escaped in both cases, so
 * the result can be quoted unambiguously.
 */
export function printablePath(path: Buffer): string {
  let out = '';
  if (isUtf8(path)) {
    for (const ch of path.toString('utf8')) {
      if (ch === '\\' || ch === '"') out += `\\${ch}`;
      else if (ch !== ' ' && UNSAFE.test(ch)) out += `\\u{${ch.codePointAt(0)!.toString(16)}}`;
      else out += ch;
    }
    return out;
  }
  for (const byte of path) {
    if (byte === 0x5c || byte === 0x22) out += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte <= 0x7e) out += String.fromCharCode(byte);
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}
