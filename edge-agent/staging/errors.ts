/**
 * Staging failures, one code per cause, named like the contract's statuses
 * (optarc_status) so the RPC layer maps them one to one.
 */
export type StagingCode =
  | 'BAD_NAME'
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'NOT_DIR'
  | 'IS_DIR'
  | 'NOT_EMPTY'
  | 'QUOTA_EXCEEDED'
  | 'NO_SPACE'
  | 'SIZE_MISMATCH'
  | 'CHECKSUM_MISMATCH'
  | 'COMMITTED'
  | 'BAD_COOKIE'
  | 'BAD_ARGUMENT'
  | 'IO_ERROR';

export type StagingDetail =
  | { kind: 'quota'; limit: bigint; used: bigint }
  | { kind: 'sizes'; expected: bigint; actual: bigint }
  | { kind: 'digests'; expected: Buffer; actual: Buffer };

export class StagingError extends Error {
  readonly code: StagingCode;
  readonly detail: StagingDetail | undefined;
  constructor(code: StagingCode, message: string, detail?: StagingDetail) {
    super(message);
    this.name = 'StagingError';
    this.code = code;
    this.detail = detail;
  }
}
