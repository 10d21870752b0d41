/**
 * Job failures, one code per cause a client can act on, named like the
 * contract's statuses where one fits.
 */
export type JobCode =
  /** Nothing committed in the working directory. */
  | 'EMPTY'
  /** A file bigger than the medium, and spanning is off. */
  | 'TOO_LARGE'
  | 'UNKNOWN_MEDIA'
  | 'BAD_ARGUMENT'
  /** More copies asked than the agent has drives, or no drive at all. */
  | 'NO_DRIVES'
  /** A volume could not get its required verified copies. */
  | 'COPIES_FAILED'
  /** Mastering an image failed (the image filesystem is full, xorriso failed). */
  | 'MASTERING_FAILED'
  | 'NO_SPACE'
  | 'NOT_FOUND'
  /** No written disc in the drive a COPY names. */
  | 'NO_MEDIUM'
  /** The volume has no cloud copy, or the gateway cannot be reached now (REBURN). */
  | 'NO_SOURCE'
  /** The downloaded image does not match the catalog's SHA-256 (REBURN). */
  | 'CORRUPT'
  | 'NOT_AVAILABLE'
  | 'IO_ERROR';

export class JobError extends Error {
  readonly code: JobCode;
  constructor(code: JobCode, message: string) {
    super(message);
    this.name = 'JobError';
    this.code = code;
  }
}
