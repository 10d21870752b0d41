/**
 * RpcClient: ONC RPC over TCP, for the CLI and the tests. Calls may be
 * pipelined on one connection; replies are matched by xid. Arguments are
 * written scatter/gather, so bulk data is never concatenated.
 */
import { randomInt } from 'node:crypto';
import net from 'node:net';
import { XdrError } from '../xdr/errors.js';
import { XdrReader } from '../xdr/reader.js';
import type { XdrType } from '../xdr/types.js';
import { XdrWriter } from '../xdr/writer.js';
import { RpcError } from './errors.js';
import { AcceptStat, type Credentials, readReplyHeader, writeCallHeader } from './message.js';
import { RecordDecoder, RecordMarkingError, writeRecord } from './record-marking.js';

export interface RpcClientOptions {
  host: string;
  port: number;
  credentials?: Credentials;
  /** Largest reply accepted (default 64 MiB). */
  maxRecordSize?: number;
  /** Per-call timeout (default 30 s). */
  timeoutMs?: number;
  /** Connect timeout (default 10 s). */
  connectTimeoutMs?: number;
}

interface Pending {
  resultType: XdrType<unknown>;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

const ACCEPT_CODES = {
  [AcceptStat.PROG_UNAVAIL]: 'PROG_UNAVAIL',
  [AcceptStat.PROG_MISMATCH]: 'PROG_MISMATCH',
  [AcceptStat.PROC_UNAVAIL]: 'PROC_UNAVAIL',
  [AcceptStat.GARBAGE_ARGS]: 'GARBAGE_ARGS',
  [AcceptStat.SYSTEM_ERR]: 'SYSTEM_ERR',
} as const;

export class RpcClient {
  private readonly socket: net.Socket;
  private readonly decoder: RecordDecoder;
  private readonly pending = new Map<number, Pending>();
  private readonly credentials: Credentials;
  private readonly timeoutMs: number;
  private xid = randomInt(0, 0x7fffffff);
  private failure: RpcError | undefined;

  private constructor(socket: net.Socket, options: RpcClientOptions) {
    this.socket = socket;
    this.decoder = new RecordDecoder(options.maxRecordSize ?? 64 * 1024 * 1024);
    this.credentials = options.credentials ?? { flavor: 'none' };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(new RpcError('CONNECTION_CLOSED', `connection failed: ${e.message}`)));
    socket.on('close', () => this.fail(new RpcError('CONNECTION_CLOSED', 'connection closed by the server')));
  }

  static connect(options: RpcClientOptions): Promise<RpcClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: options.host, port: options.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RpcError('TIMEOUT', `connecting to ${options.host}:${options.port} timed out`));
      }, options.connectTimeoutMs ?? 10_000);
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(new RpcError('CONNECTION_CLOSED', `cannot connect to ${options.host}:${options.port}: ${e.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RpcClient(socket, options));
      });
    });
  }

  /** Call a procedure; resolves with its decoded result or rejects with an RpcError. */
  call<A, R>(
    prog: number,
    vers: number,
    proc: number,
    argType: XdrType<A>,
    args: A,
    resultType: XdrType<R>,
    timeoutMs = this.timeoutMs,
  ): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    const xid = this.xid;
    this.xid = (this.xid + 1) >>> 0;
    const w = new XdrWriter(256, true);
    let chunks: Buffer[];
    try {
      writeCallHeader(w, xid, prog, vers, proc, this.credentials);
      argType.encode(w, args);
      chunks = w.finishRecord();
    } catch (e) {
      // arguments the contract cannot carry: a rejected call, like any other failure
      return Promise.reject(e);
    }
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(xid);
        reject(new RpcError('TIMEOUT', `call to program ${prog} procedure ${proc} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(xid, { resultType, resolve: resolve as (v: unknown) => void, reject, timer });
      writeRecord(this.socket, chunks);
    });
  }

  private onData(chunk: Buffer): void {
    let records: Buffer[];
    try {
      records = this.decoder.push(chunk);
    } catch (e) {
      if (!(e instanceof RecordMarkingError)) throw e;
      this.fail(new RpcError(e.code === 'RECORD_TOO_LARGE' ? 'RECORD_TOO_LARGE' : 'BAD_REPLY', e.message));
      this.socket.destroy();
      return;
    }
    for (const record of records) this.onReply(record);
  }

  private onReply(record: Buffer): void {
    const r = new XdrReader(record);
    let header: ReturnType<typeof readReplyHeader>;
    try {
      header = readReplyHeader(r);
    } catch (e) {
      this.fail(new RpcError('BAD_REPLY', `malformed reply: ${(e as Error).message}`));
      this.socket.destroy();
      return;
    }
    const p = this.pending.get(header.xid);
    if (!p) return; // a reply to a call that timed out
    this.pending.delete(header.xid);
    clearTimeout(p.timer);
    switch (header.kind) {
      case 'success':
        try {
          p.resolve(p.resultType.decode(r));
        } catch (e) {
          const msg = e instanceof XdrError ? e.message : String(e);
          p.reject(new RpcError('BAD_REPLY', `cannot decode result: ${msg}`));
        }
        return;
      case 'accepted-error': {
        const code = ACCEPT_CODES[header.stat as keyof typeof ACCEPT_CODES] ?? 'BAD_REPLY';
        const range = header.low !== undefined ? ` (supported versions ${header.low}..${header.high})` : '';
        p.reject(new RpcError(code, `server answered ${code}${range}`, { low: header.low, high: header.high }));
        return;
      }
      case 'rpc-mismatch':
        p.reject(
          new RpcError('RPC_MISMATCH', `server speaks RPC versions ${header.low}..${header.high}`, {
            low: header.low,
            high: header.high,
          }),
        );
        return;
      case 'auth-error':
        p.reject(
          new RpcError('AUTH_ERROR', `authentication refused (auth_stat ${header.stat})`, { authStat: header.stat }),
        );
        return;
    }
  }

  private fail(e: RpcError): void {
    if (!this.failure) this.failure = e;
    for (const [xid, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(e);
      this.pending.delete(xid);
    }
  }

  /** Close after the calls in flight have their replies. */
  close(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
