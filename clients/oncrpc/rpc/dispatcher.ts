/**
 * The dispatcher turns one received CALL record into its reply, independent of
 * any transport: header checks (RPC version, authentication), program and
 * version lookup, argument decoding, the handler, result encoding. Every way a
 * call can fail maps to the reply RFC 5531 defines for it; a handler that
 * throws becomes SYSTEM_ERR and a log line, never a crash.
 */
import type { Logger } from '../logger.js';
import { XdrError } from '../xdr/errors.js';
import { XdrReader } from '../xdr/reader.js';
import { XdrWriter } from '../xdr/writer.js';
import {
  AcceptStat,
  AuthFlavor,
  AuthStat,
  type CallHeader,
  type Credentials,
  decodeAuthSys,
  RPC_VERSION,
  readCallHeader,
  writeAcceptedHeader,
  writeAuthError,
  writeProgMismatch,
  writeRpcMismatch,
} from './message.js';
import type { CallContext, Peer, ProgramVersion } from './program.js';

/** A reply ready for the wire (record-marked), or `close` when the record cannot be answered. */
export type Reply = Buffer[] | 'close';

export interface ConnectionHandle {
  id: number;
  peer: Peer;
  onClose(callback: () => void): void;
  /** The call's record is no longer referenced (its procedure borrows its arguments). */
  recycle?(record: Buffer): void;
}

export class Dispatcher {
  private readonly programs = new Map<number, Map<number, ProgramVersion>>();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  add(program: ProgramVersion): void {
    let versions = this.programs.get(program.prog);
    if (!versions) {
      versions = new Map();
      this.programs.set(program.prog, versions);
    }
    if (versions.has(program.vers))
      throw new Error(`program ${program.prog} version ${program.vers} is already registered`);
    versions.set(program.vers, program);
  }

  /** Programs and versions served, for portmapper registration. */
  list(): { prog: number; vers: number; name: string }[] {
    const out: { prog: number; vers: number; name: string }[] = [];
    for (const versions of this.programs.values()) {
      for (const p of versions.values()) out.push({ prog: p.prog, vers: p.vers, name: p.name });
    }
    return out;
  }

  dispatch(record: Buffer, conn: ConnectionHandle): Reply | Promise<Reply> {
    const r = new XdrReader(record);
    let h: CallHeader;
    try {
      h = readCallHeader(r);
    } catch (e) {
      // Not even a call header: there is nothing sensible to answer.
      this.log.warn('dropping connection: malformed RPC call header', {
        peer: `${conn.peer.address}:${conn.peer.port}`,
        error: (e as Error).message,
      });
      return 'close';
    }
    const { xid } = h;
    if (h.rpcvers !== RPC_VERSION) return reply((w) => writeRpcMismatch(w, xid));

    let credentials: Credentials;
    if (h.credFlavor === AuthFlavor.AUTH_NONE) {
      credentials = { flavor: 'none' };
    } else if (h.credFlavor === AuthFlavor.AUTH_SYS) {
      try {
        credentials = { flavor: 'sys', ...decodeAuthSys(h.credBody) };
      } catch {
        return reply((w) => writeAuthError(w, xid, AuthStat.AUTH_BADCRED));
      }
    } else {
      return reply((w) => writeAuthError(w, xid, AuthStat.AUTH_BADCRED));
    }

    const versions = this.programs.get(h.prog);
    if (!versions) return reply((w) => writeAcceptedHeader(w, xid, AcceptStat.PROG_UNAVAIL));
    const program = versions.get(h.vers);
    if (!program) {
      const known = [...versions.keys()];
      return reply((w) => writeProgMismatch(w, xid, Math.min(...known), Math.max(...known)));
    }
    if (program.requireAuthSys && credentials.flavor !== 'sys') {
      return reply((w) => writeAuthError(w, xid, AuthStat.AUTH_TOOWEAK));
    }
    const proc = program.procedures[h.proc];
    if (!proc) return reply((w) => writeAcceptedHeader(w, xid, AcceptStat.PROC_UNAVAIL));

    let args: unknown;
    try {
      args = proc.args.decode(r);
    } catch (e) {
      if (!(e instanceof XdrError)) throw e;
      return reply((w) => writeAcceptedHeader(w, xid, AcceptStat.GARBAGE_ARGS));
    }

    const ctx: CallContext = {
      xid,
      prog: h.prog,
      vers: h.vers,
      proc: h.proc,
      credentials,
      peer: conn.peer,
      connectionId: conn.id,
      onConnectionClose: (cb) => conn.onClose(cb),
    };
    const fail = (e: unknown): Reply => {
      this.log.error('procedure failed', {
        program: program.name,
        procedure: proc.name,
        error: String((e as Error)?.stack ?? e),
      });
      return reply((w) => writeAcceptedHeader(w, xid, AcceptStat.SYSTEM_ERR));
    };
    const encode = (result: unknown): Reply => {
      try {
        return reply((w) => {
          writeAcceptedHeader(w, xid, AcceptStat.SUCCESS);
          proc.result.encode(w, result);
        });
      } catch (e) {
        return fail(e);
      }
    };
    const done = (r: Reply): Reply => {
      if (proc.borrowsArgs) conn.recycle?.(record);
      return r;
    };
    let result: unknown;
    try {
      result = proc.handler(args, ctx);
    } catch (e) {
      return done(fail(e));
    }
    if (result instanceof Promise) return result.then(encode, fail).then(done);
    return done(encode(result));
  }
}

function reply(write: (w: XdrWriter) => void): Buffer[] {
  const w = new XdrWriter(256, true);
  write(w);
  return w.finishRecord();
}
