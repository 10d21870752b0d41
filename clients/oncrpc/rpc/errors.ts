/**
 * Errors an RPC caller can act on: one code per way a call can fail, with the
 * details the protocol carries (supported version range, authentication status).
 */
export type RpcErrorCode =
  | 'PROG_UNAVAIL'
  | 'PROG_MISMATCH'
  | 'PROC_UNAVAIL'
  | 'GARBAGE_ARGS'
  | 'SYSTEM_ERR'
  | 'RPC_MISMATCH'
  | 'AUTH_ERROR'
  | 'BAD_REPLY'
  | 'TIMEOUT'
  | 'CONNECTION_CLOSED'
  | 'RECORD_TOO_LARGE';

export interface RpcErrorDetails {
  low?: number;
  high?: number;
  authStat?: number;
}

export class RpcError extends Error {
  readonly code: RpcErrorCode;
  readonly details: RpcErrorDetails;
  constructor(code: RpcErrorCode, message: string, details: RpcErrorDetails = {}) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.details = details;
  }
}
