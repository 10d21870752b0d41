/**
 * Mastering failures: one code per cause a caller can act on, with messages
 * that name the file or the tool's own words.
 */
import { XorrisoError } from '../xorriso/run-xorriso.js';

export type MasteringCode =
  /** A payload path (or the VSN) cannot be put on the disc as given. */
  | 'BAD_NAME'
  /** A label field is not a single line of text of reasonable length. */
  | 'BAD_LABEL'
  /** The filesystem holding the image ran out of room (ENOSPC) while the image was written. */
  | 'NO_SPACE'
  /** A staged file is missing, not a regular file, or its size differs from the request. */
  | 'SOURCE_CHANGED'
  /** xorriso (or the scratch files around it) failed for another reason. */
  | 'TOOL_FAILED'
  /** The run was cancelled through the request's AbortSignal. */
  | 'ABORTED';

export class MasteringError extends Error {
  readonly code: MasteringCode;
  /** The payload path concerned, as raw bytes, when one file is to blame. */
  readonly path: Buffer | undefined;
  constructor(code: MasteringCode, message: string, options: { path?: Buffer; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MasteringError';
    this.code = code;
    this.path = options.path;
  }
}

/** A path's bytes shown readably in a message (ISO-8859-1 bytes stay visible). */
export function showPath(path: Buffer): string {
  const text = path.toString('utf8').includes('\uFFFD') ? path.toString('latin1') : path.toString('utf8');
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}...` : text);
}

const ENOSPC = /No space left on device|ENOSPC|exceeds free space on media/i;

/** Turns a failure of a xorriso run (or of writing next to it) into a MasteringError. */
export function mapToolFailure(error: unknown, what: string): MasteringError {
  if (error instanceof MasteringError) return error;
  if (error instanceof XorrisoError) {
    const said = [error.message, ...error.failures].join('\n');
    if (error.code === 'ABORTED') return new MasteringError('ABORTED', `${what} was cancelled`, { cause: error });
    if (error.code === 'NO_SPACE' || ENOSPC.test(said)) {
      return new MasteringError('NO_SPACE', `${what}: the image does not fit on its filesystem: ${error.message}`, {
        cause: error,
      });
    }
    if (error.code === 'MISSING') return new MasteringError('TOOL_FAILED', error.message, { cause: error });
    return new MasteringError('TOOL_FAILED', `${what}: ${error.message}`, { cause: error });
  }
  const err = error as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC') {
    return new MasteringError('NO_SPACE', `${what}: no space left on device (${err.message})`, { cause: error });
  }
  if (err?.name === 'AbortError') return new MasteringError('ABORTED', `${what} was cancelled`, { cause: error });
  return new MasteringError('TOOL_FAILED', `${what}: ${err?.message ?? String(error)}`, { cause: error });
}
