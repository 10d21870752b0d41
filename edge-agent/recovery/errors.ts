/**
 * Recovery-file failures: one code per cause a caller can act on, with
 * messages that quote par2's own words and name the files concerned.
 */

export type RecoveryCode =
  /** A request par2 cannot serve as given (redundancy, layout, names, VSN). */
  | 'BAD_ARGUMENT'
  /** par2 (par2cmdline) is not installed. */
  | 'TOOL_MISSING'
  /** par2 failed, or wrote something other than what was asked (sizes, block counts). */
  | 'TOOL_FAILED'
  /** The tree has no par2 files to repair it with. */
  | 'NO_RECOVERY_FILES'
  /** par2 cannot rebuild the damage: more blocks are lost than the set has recovery blocks for, or its par2 files are lost. */
  | 'UNREPAIRABLE'
  /** The disk holding the scratch files or the tree ran out of room. */
  | 'NO_SPACE'
  /** The run was cancelled through its AbortSignal. */
  | 'ABORTED';

export class RecoveryError extends Error {
  readonly code: RecoveryCode;
  /** What the failed run had done so far, for a repair of several sets. */
  readonly details: unknown;
  constructor(code: RecoveryCode, message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RecoveryError';
    this.code = code;
    this.details = options.details;
  }
}
