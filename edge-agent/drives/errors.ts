/**
 * Drive failures, one code per cause a caller can act on: the drive is gone
 * or taken, the medium is missing, written or too small, the write or the
 * read-back failed, or the work was cancelled.
 */
export type DriveCode =
  /** The drive's address vanished (stand-in directory deleted, device node gone). */
  | 'DRIVE_MISSING'
  /** The drive is held by another job or is already writing. */
  | 'DRIVE_BUSY'
  /** No disc in the drive. */
  | 'NO_MEDIUM'
  /** The disc in the drive is written (write-once media cannot be written again). */
  | 'NOT_BLANK'
  /** The image does not fit on the medium. */
  | 'NO_SPACE'
  /** The burn failed part way (write error, broken pipe, the writer died). */
  | 'WRITE_FAILED'
  /** The copy read back does not match the image. */
  | 'VERIFY_FAILED'
  /** The work was cancelled. */
  | 'ABORTED'
  /** Fewer drives exist (not excluded) than a reservation asks for: it could never be served. */
  | 'NO_DRIVES'
  /** The image to burn cannot be opened or read, or is shorter than the stated size. */
  | 'IMAGE_UNREADABLE'
  /** A shelf slot for this volume and copy is already taken; the shelved disc is never overwritten. */
  | 'SHELF_TAKEN';

export class DriveError extends Error {
  readonly code: DriveCode;
  /** The drive concerned, when there is one. */
  readonly drive: string | undefined;
  constructor(code: DriveCode, message: string, drive?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DriveError';
    this.code = code;
    this.drive = drive;
  }
}

export function isDriveError(e: unknown, code?: DriveCode): e is DriveError {
  return e instanceof DriveError && (code === undefined || e.code === code);
}
