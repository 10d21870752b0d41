/**
 * The optarc RPC program as TypeScript: numbers and procedure types mirroring
 * optarc.x. test/protocol/contract.test.ts parses the .x and fails when the two
 * drift. The agent serves NULL; the other procedures arrive with the contract
 * issue (until then a call to one gets PROC_UNAVAIL).
 */
import { x } from '../oncrpc/xdr/index.js';

export const OPTARC_PROG = 0x2a7c0001;
export const OPTARC_V1 = 1;

export const Proc = {
  OPTARC_NULL: 0,
  OPTARC_HELLO: 1,
  OPTARC_BYE: 2,
  OPTARC_MKDIR: 3,
  OPTARC_WRITE: 4,
  OPTARC_COMMIT_FILE: 5,
  OPTARC_LIST: 6,
  OPTARC_STAT: 7,
  OPTARC_REMOVE: 8,
  OPTARC_BURN: 9,
  OPTARC_JOB_STATUS: 10,
  OPTARC_DRIVES: 11,
  OPTARC_MOUNT: 12,
  OPTARC_UNMOUNT: 13,
  OPTARC_VOL_LIST: 14,
  OPTARC_VOL_READ: 15,
  OPTARC_COPY: 16,
  OPTARC_BURN_COPY: 17,
} as const;

/** Argument and result types per procedure, keyed by procedure number. */
export const procedureTypes = {
  [Proc.OPTARC_NULL]: { name: 'OPTARC_NULL', args: x.xvoid, result: x.xvoid },
} as const;
