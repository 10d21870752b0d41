/**
 * Retrieval failures, one code per cause a client can act on. The codes are
 * the contract's statuses without their OPTARC_ prefix, so the RPC layer maps
 * them one to one.
 */
export type RetrievalCode =
  /** No archived file by that path or SHA-256 (on that volume). */
  | 'NOT_FOUND'
  /** The file exists but cannot be retrieved this way yet (cut into parts across volumes). */
  | 'NOT_AVAILABLE'
  /** An argument out of its range: priority, count, offset, an empty path. */
  | 'BAD_ARGUMENT'
  /** ONLINE asked, but no drive holds a copy of the volume: load one, or ask OFFLINE. */
  | 'NO_MEDIUM'
  /** The file is larger than the whole cache area. */
  | 'NO_SPACE'
  /** The token was collected, expired or never issued. */
  | 'EXPIRED'
  /** Queued or fetching: ask RETRIEVE_STATUS, come back later. */
  | 'NOT_READY'
  /** Every source of the data failed its SHA-256 check. */
  | 'CORRUPT'
  /** No copy of the data can be reached now. */
  | 'NO_SOURCE';

export class RetrievalError extends Error {
  readonly code: RetrievalCode;
  constructor(code: RetrievalCode, message: string) {
    super(message);
    this.name = 'RetrievalError';
    this.code = code;
  }
}
