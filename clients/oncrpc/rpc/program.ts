/**
 * How a server-side RPC program is declared: a program number, a version, and
 * its procedures, each with argument and result XDR types and a handler.
 */
import type { XdrType } from '../xdr/types.js';
import type { Credentials } from './message.js';

export interface Peer {
  address: string;
  port: number;
}

/** What a handler knows about the call besides its arguments. */
export interface CallContext {
  xid: number;
  prog: number;
  vers: number;
  proc: number;
  credentials: Credentials;
  peer: Peer;
  /** Stable for the life of one TCP connection. */
  connectionId: number;
  /** Register a callback for when this call's connection closes (session leases use it). */
  onConnectionClose(callback: () => void): void;
}

export interface Procedure<A = any, R = any> {
  name: string;
  args: XdrType<A>;
  result: XdrType<R>;
  handler(args: A, ctx: CallContext): R | Promise<R>;
  /**
   * The handler keeps nothing of its arguments (no views of opaque data) once it
   * returns or its promise settles, and its result does not reference them: the
   * server may then reuse the call's memory for the next large call.
   */
  borrowsArgs?: boolean;
}

export interface ProgramVersion {
  name: string;
  prog: number;
  vers: number;
  procedures: Record<number, Procedure>;
  /** Refuse AUTH_NONE callers with AUTH_TOOWEAK. */
  requireAuthSys?: boolean;
}

/** Declare a procedure with its types inferred from the descriptors. */
export function procedure<A, R>(
  name: string,
  args: XdrType<A>,
  result: XdrType<R>,
  handler: (args: A, ctx: CallContext) => R | Promise<R>,
  options: { borrowsArgs?: boolean } = {},
): Procedure<A, R> {
  return { name, args, result, handler, borrowsArgs: options.borrowsArgs };
}
