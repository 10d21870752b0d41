/**
 * The optarc RPC program as TypeScript: numbers and procedure types mirroring
 * optarc.x. test/protocol/contract.test.ts parses the .x and fails when the two drift.
 */
import { x } from '../oncrpc/xdr/index.js';

export const OPTARC_PROG = 0x2a7c0001;
export const OPTARC_V1 = 1;

export const Proc = {
  OPTARC_NULL: 0,
} as const;

/** Argument and result types per procedure, keyed by procedure number. */
export const procedureTypes = {
  [Proc.OPTARC_NULL]: { name: 'OPTARC_NULL', args: x.xvoid, result: x.xvoid },
} as const;
