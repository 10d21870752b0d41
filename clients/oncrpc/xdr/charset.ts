/**
 * Text on the legacy wire is bytes. A deployment chooses how those bytes map to
 * characters: UTF-8 (strict: malformed input is an error, never U+FFFD) or
 * ISO-8859-1 (every byte is a character; characters above U+00FF cannot be sent).
 */
import { isUtf8 } from 'node:buffer';
import { XdrError } from './errors.js';

export type Charset = 'utf-8' | 'iso-8859-1';

export function encodeText(text: string, charset: Charset): Buffer {
  if (typeof text !== 'string') throw new XdrError('XDR_TYPE', `expected a string, got ${typeof text}`);
  if (charset === 'utf-8') {
    if (!text.isWellFormed()) throw new XdrError('XDR_CHARSET', 'string holds a lone UTF-16 surrogate');
    return Buffer.from(text, 'utf8');
  }
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0xff) {
      throw new XdrError(
        'XDR_CHARSET',
        `character U+${text.charCodeAt(i).toString(16).padStart(4, '0')} is not in ISO-8859-1`,
      );
    }
  }
  return Buffer.from(text, 'latin1');
}

export function decodeText(bytes: Buffer, charset: Charset): string {
  if (charset === 'iso-8859-1') return bytes.toString('latin1');
  // Validate first: toString() alone would turn malformed bytes into U+FFFD.
  if (!isUtf8(bytes)) throw new XdrError('XDR_CHARSET', 'string is not valid UTF-8');
  return bytes.toString('utf8');
}
