/**
 * The test contract of test/interop/c/echo.x served by optarc's RpcServer:
 * NULL, ECHO (returns its bytes) and WRITE (returns the byte count), so real
 * rpcgen C clients can be pointed at optarc and the TypeScript client at the C
 * server.
 */
import { type CallContext, type ProgramVersion, procedure, x } from '../../clients/oncrpc/index.js';

export const ECHO_PROG = 0x2a7c0f01;
export const ECHO_VERS = 1;
export const EchoProc = { NULL: 0, ECHO: 1, WRITE: 2 } as const;

/** typedef opaque blob<>; */
export const blob = x.opaque();

export interface EchoOptions {
  requireAuthSys?: boolean;
  /** Called with every ECHO call's context (to observe credentials). */
  onEcho?: (ctx: CallContext, size: number) => void;
}

export function echoProgram(options: EchoOptions = {}): ProgramVersion {
  return {
    name: 'echo',
    prog: ECHO_PROG,
    vers: ECHO_VERS,
    requireAuthSys: options.requireAuthSys,
    procedures: {
      [EchoProc.NULL]: procedure('NULL', x.xvoid, x.xvoid, () => {}),
      [EchoProc.ECHO]: procedure('ECHO', blob, blob, (data, ctx) => {
        options.onEcho?.(ctx, data.length);
        return data;
      }),
      [EchoProc.WRITE]: procedure('WRITE', blob, x.uint, (data) => data.length, { borrowsArgs: true }),
    },
  };
}
