/**
 * Which names from clients may enter the staging area, and so a disc.
 *
 * A client sends a path as bytes in the agent's charset, relative to its
 * working directory, components separated by '/'. The rules, each with its own
 * reason code so a client can tell the user what to fix:
 *  - not empty, not absolute, at most OPTARC_MAX_PATH bytes;
 *  - no empty component ("a//b"), no "." or ".." (nothing may climb out);
 *  - no NUL, no control characters (they survive on Rock Ridge but break every
 *    tool that later lists the disc), and valid text in the agent's charset;
 *  - each component at most 255 bytes (Rock Ridge's limit; xorriso maps names
 *    Joliet cannot hold, so Joliet's stricter rules are not the client's).
 * The raw bytes are kept: the charset only decides whether they are text.
 */
import { isUtf8 } from 'node:buffer';

export type Charset = 'utf-8' | 'iso-8859-1';

export const MAX_PATH_BYTES = 1023;
export const MAX_COMPONENT_BYTES = 255;

export type NameProblem =
  | 'EMPTY'
  | 'ABSOLUTE'
  | 'TOO_LONG'
  | 'EMPTY_COMPONENT'
  | 'DOT_COMPONENT'
  | 'NUL'
  | 'CONTROL_CHARACTER'
  | 'COMPONENT_TOO_LONG'
  | 'CHARSET';

export class BadName extends Error {
  readonly problem: NameProblem;
  readonly path: Buffer;
  constructor(problem: NameProblem, path: Buffer, message: string) {
    super(message);
    this.name = 'BadName';
    this.problem = problem;
    this.path = path;
  }
}

export interface CheckedPath {
  /** The raw bytes, as the client sent them. */
  bytes: Buffer;
  /** The components as raw bytes. */
  components: Buffer[];
  /** The path as text in the agent's charset (what the filesystem and the manifest use). */
  text: string;
}

const SLASH = 0x2f;
const DOT = 0x2e;

function show(path: Buffer): string {
  return JSON.stringify(path.toString('latin1')).slice(0, 80);
}

/** Checks a client path; throws BadName naming the problem and its fix. */
export function checkPath(path: Buffer, charset: Charset): CheckedPath {
  if (path.length === 0) throw new BadName('EMPTY', path, 'the path is empty: name a file or directory');
  if (path[0] === SLASH) {
    throw new BadName('ABSOLUTE', path, `${show(path)} is absolute: send it relative to the working directory`);
  }
  if (path.length > MAX_PATH_BYTES) {
    throw new BadName('TOO_LONG', path, `the path is ${path.length} bytes; at most ${MAX_PATH_BYTES} are allowed`);
  }
  for (const byte of path) {
    if (byte === 0) throw new BadName('NUL', path, `${show(path)} contains a NUL byte`);
    if (byte < 0x20 || byte === 0x7f) {
      throw new BadName(
        'CONTROL_CHARACTER',
        path,
        `${show(path)} contains control character 0x${byte.toString(16).padStart(2, '0')}: rename the file`,
      );
    }
  }
  if (charset === 'utf-8' && !isUtf8(path)) {
    throw new BadName(
      'CHARSET',
      path,
      `${show(path)} is not valid UTF-8: rename the file, or run the agent with charset iso-8859-1`,
    );
  }
  const components: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length && path[i] !== SLASH) continue;
    const c = path.subarray(start, i);
    start = i + 1;
    if (c.length === 0) {
      // a trailing slash names the same directory; an inner empty component is an error
      if (i === path.length && components.length > 0) break;
      throw new BadName('EMPTY_COMPONENT', path, `${show(path)} has an empty component ("//")`);
    }
    if ((c.length === 1 && c[0] === DOT) || (c.length === 2 && c[0] === DOT && c[1] === DOT)) {
      throw new BadName('DOT_COMPONENT', path, `${show(path)} contains "." or "..": send a plain relative path`);
    }
    if (c.length > MAX_COMPONENT_BYTES) {
      throw new BadName(
        'COMPONENT_TOO_LONG',
        path,
        `a component of ${show(path)} is ${c.length} bytes; a disc holds at most ${MAX_COMPONENT_BYTES}`,
      );
    }
    components.push(c);
  }
  const text = components.map((c) => c.toString(charset === 'utf-8' ? 'utf8' : 'latin1')).join('/');
  return { bytes: path, components, text };
}
