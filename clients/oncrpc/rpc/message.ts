/**
 * ONC RPC v2 messages (RFC 5531 §9): the call header, authentication flavors
 * AUTH_NONE and AUTH_SYS, and every reply a server can give. The xid is opaque:
 * it is echoed, never interpreted (libtirpc's are not sequential).
 */
import { XdrError } from '../xdr/errors.js';
import { XdrReader } from '../xdr/reader.js';
import { XdrWriter } from '../xdr/writer.js';

export const RPC_VERSION = 2;
export const MsgType = { CALL: 0, REPLY: 1 } as const;
export const ReplyStat = { MSG_ACCEPTED: 0, MSG_DENIED: 1 } as const;
export const AcceptStat = {
  SUCCESS: 0,
  PROG_UNAVAIL: 1,
  PROG_MISMATCH: 2,
  PROC_UNAVAIL: 3,
  GARBAGE_ARGS: 4,
  SYSTEM_ERR: 5,
} as const;
export const RejectStat = { RPC_MISMATCH: 0, AUTH_ERROR: 1 } as const;
export const AuthStat = {
  AUTH_OK: 0,
  AUTH_BADCRED: 1,
  AUTH_REJECTEDCRED: 2,
  AUTH_BADVERF: 3,
  AUTH_REJECTEDVERF: 4,
  AUTH_TOOWEAK: 5,
} as const;
export const AuthFlavor = { AUTH_NONE: 0, AUTH_SYS: 1 } as const;

/** RFC 5531: an opaque_auth body is at most 400 bytes. */
export const MAX_AUTH_BYTES = 400;

export interface AuthSys {
  stamp: number;
  machineName: string;
  uid: number;
  gid: number;
  gids: number[];
}

export type Credentials = { flavor: 'none' } | ({ flavor: 'sys' } & AuthSys);

export interface CallHeader {
  xid: number;
  rpcvers: number;
  prog: number;
  vers: number;
  proc: number;
  credFlavor: number;
  credBody: Buffer;
  verfFlavor: number;
  verfBody: Buffer;
}

/**
 * Read the fixed part of a CALL; the reader is left at the procedure arguments.
 * Throws XdrError when the header itself is malformed.
 */
export function readCallHeader(r: XdrReader): CallHeader {
  const xid = r.uint();
  const mtype = r.int();
  if (mtype !== MsgType.CALL) throw new XdrError('XDR_BAD_ENUM', `expected a CALL message, got type ${mtype}`);
  const rpcvers = r.uint();
  const prog = r.uint();
  const vers = r.uint();
  const proc = r.uint();
  const credFlavor = r.uint();
  const credBody = r.opaque(MAX_AUTH_BYTES, 'credential');
  const verfFlavor = r.uint();
  const verfBody = r.opaque(MAX_AUTH_BYTES, 'verifier');
  return { xid, rpcvers, prog, vers, proc, credFlavor, credBody, verfFlavor, verfBody };
}

/** Peek the xid of a record that may be too malformed to parse further. */
export function peekXid(record: Buffer): number | undefined {
  return record.length >= 4 ? record.readUInt32BE(0) : undefined;
}

/** AUTH_SYS body: stamp, machine name ≤ 255 bytes, uid, gid, ≤ 16 gids. */
export function decodeAuthSys(body: Buffer): AuthSys {
  const r = new XdrReader(body);
  const stamp = r.uint();
  const machineName = r.opaque(255, 'machine name').toString('latin1');
  const uid = r.uint();
  const gid = r.uint();
  const n = r.length(16, 4, 'gids');
  const gids: number[] = [];
  for (let i = 0; i < n; i++) gids.push(r.uint());
  if (r.remaining !== 0) throw new XdrError('XDR_TRAILING', `AUTH_SYS body has ${r.remaining} trailing bytes`);
  return { stamp, machineName, uid, gid, gids };
}

export function encodeAuthSys(w: XdrWriter, a: AuthSys): void {
  const body = new XdrWriter(64);
  body.uint(a.stamp >>> 0);
  const name = Buffer.from(a.machineName, 'latin1');
  if (name.length > 255) throw new XdrError('XDR_TOO_LONG', 'AUTH_SYS machine name exceeds 255 bytes');
  body.opaque(name);
  body.uint(a.uid);
  body.uint(a.gid);
  if (a.gids.length > 16) throw new XdrError('XDR_TOO_LONG', 'AUTH_SYS carries at most 16 gids');
  body.uint(a.gids.length);
  for (const g of a.gids) body.uint(g);
  w.uint(AuthFlavor.AUTH_SYS);
  w.opaque(body.toBuffer());
}

const EMPTY = Buffer.alloc(0);

/** Write a CALL header; the caller appends the arguments. */
export function writeCallHeader(
  w: XdrWriter,
  xid: number,
  prog: number,
  vers: number,
  proc: number,
  cred: Credentials,
): void {
  w.uint(xid);
  w.int(MsgType.CALL);
  w.uint(RPC_VERSION);
  w.uint(prog);
  w.uint(vers);
  w.uint(proc);
  if (cred.flavor === 'sys') encodeAuthSys(w, cred);
  else {
    w.uint(AuthFlavor.AUTH_NONE);
    w.opaque(EMPTY);
  }
  w.uint(AuthFlavor.AUTH_NONE);
  w.opaque(EMPTY);
}

/** Start an accepted reply (null verifier) with the given accept_stat. */
export function writeAcceptedHeader(w: XdrWriter, xid: number, stat: number): void {
  w.uint(xid);
  w.int(MsgType.REPLY);
  w.int(ReplyStat.MSG_ACCEPTED);
  w.uint(AuthFlavor.AUTH_NONE);
  w.uint(0);
  w.int(stat);
}

export function writeProgMismatch(w: XdrWriter, xid: number, low: number, high: number): void {
  writeAcceptedHeader(w, xid, AcceptStat.PROG_MISMATCH);
  w.uint(low);
  w.uint(high);
}

export function writeRpcMismatch(w: XdrWriter, xid: number): void {
  w.uint(xid);
  w.int(MsgType.REPLY);
  w.int(ReplyStat.MSG_DENIED);
  w.int(RejectStat.RPC_MISMATCH);
  w.uint(RPC_VERSION);
  w.uint(RPC_VERSION);
}

export function writeAuthError(w: XdrWriter, xid: number, stat: number): void {
  w.uint(xid);
  w.int(MsgType.REPLY);
  w.int(ReplyStat.MSG_DENIED);
  w.int(RejectStat.AUTH_ERROR);
  w.int(stat);
}

/** A decoded reply header; the reader is left at the results when accepted with SUCCESS. */
export type ReplyHeader =
  | { xid: number; kind: 'success' }
  | { xid: number; kind: 'accepted-error'; stat: number; low?: number; high?: number }
  | { xid: number; kind: 'rpc-mismatch'; low: number; high: number }
  | { xid: number; kind: 'auth-error'; stat: number };

export function readReplyHeader(r: XdrReader): ReplyHeader {
  const xid = r.uint();
  const mtype = r.int();
  if (mtype !== MsgType.REPLY) throw new XdrError('XDR_BAD_ENUM', `expected a REPLY message, got type ${mtype}`);
  const replyStat = r.int();
  if (replyStat === ReplyStat.MSG_ACCEPTED) {
    r.uint(); // verifier flavor
    r.opaque(MAX_AUTH_BYTES, 'verifier');
    const stat = r.int();
    if (stat === AcceptStat.SUCCESS) return { xid, kind: 'success' };
    if (stat === AcceptStat.PROG_MISMATCH) return { xid, kind: 'accepted-error', stat, low: r.uint(), high: r.uint() };
    return { xid, kind: 'accepted-error', stat };
  }
  if (replyStat === ReplyStat.MSG_DENIED) {
    const reject = r.int();
    if (reject === RejectStat.RPC_MISMATCH) return { xid, kind: 'rpc-mismatch', low: r.uint(), high: r.uint() };
    if (reject === RejectStat.AUTH_ERROR) return { xid, kind: 'auth-error', stat: r.int() };
    throw new XdrError('XDR_BAD_ENUM', `unknown reject_stat ${reject}`);
  }
  throw new XdrError('XDR_BAD_ENUM', `unknown reply_stat ${replyStat}`);
}
