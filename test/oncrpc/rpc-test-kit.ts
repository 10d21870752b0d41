/**
 * Shared pieces for the ONC RPC server tests and the fuzzer: a test program
 * with procedures for every reply path, a capturing logger, hand-built call
 * bytes (for what the TypeScript client refuses to send), and a raw TCP
 * connection that splits the server's byte stream into reply records.
 */
import net from 'node:net';
import type { ExecutionContext } from 'ava';
import {
  type Logger,
  MsgType,
  type ProgramVersion,
  procedure,
  type ReplyHeader,
  RPC_VERSION,
  RpcServer,
  type RpcServerOptions,
  readReplyHeader,
  XdrReader,
  type XdrType,
  XdrWriter,
  x,
} from '../../clients/oncrpc/index.js';

export const TEST_PROG = 0x20000101;
/** A program that refuses AUTH_NONE callers. */
export const STRICT_PROG = 0x20000102;

export const Proc = {
  NULL: 0,
  ECHO: 1,
  ECHO16: 2,
  FLAG: 3,
  WHOAMI: 4,
  DELAY: 5,
  THROW: 6,
  REJECT: 7,
  BIG: 8,
  ADD: 9,
} as const;

export const whoami = x.struct('whoami', [
  ['flavor', x.string(8)],
  ['stamp', x.uint],
  ['machineName', x.string(255, 'iso-8859-1')],
  ['uid', x.uint],
  ['gid', x.uint],
  ['gids', x.array(x.uint, 16)],
]);
export type WhoAmI = x.Infer<typeof whoami>;

export const addArgs = x.struct('add_args', [
  ['a', x.int],
  ['b', x.int],
]);

/** How many times each procedure's handler actually ran. */
export type Counters = Record<keyof typeof Proc, number>;

export function testPrograms(counters: Counters): ProgramVersion[] {
  const count = (name: keyof typeof Proc) => {
    counters[name]++;
  };
  const procedures = {
    [Proc.NULL]: procedure('NULL', x.xvoid, x.xvoid, () => count('NULL')),
    [Proc.ECHO]: procedure('ECHO', x.opaque(), x.opaque(), (data) => {
      count('ECHO');
      return Buffer.from(data);
    }),
    [Proc.ECHO16]: procedure('ECHO16', x.opaque(16), x.opaque(16), (data) => {
      count('ECHO16');
      return Buffer.from(data);
    }),
    [Proc.FLAG]: procedure('FLAG', x.bool, x.bool, (b) => {
      count('FLAG');
      return !b;
    }),
    [Proc.WHOAMI]: procedure('WHOAMI', x.xvoid, whoami, (_args, ctx): WhoAmI => {
      count('WHOAMI');
      const c = ctx.credentials;
      if (c.flavor === 'none') return { flavor: 'none', stamp: 0, machineName: '', uid: 0, gid: 0, gids: [] };
      return { flavor: 'sys', stamp: c.stamp, machineName: c.machineName, uid: c.uid, gid: c.gid, gids: c.gids };
    }),
    [Proc.DELAY]: procedure('DELAY', x.uint, x.uint, async (ms) => {
      count('DELAY');
      // Capped, so that a fuzzed argument cannot hold a connection for long.
      await new Promise((resolve) => setTimeout(resolve, Math.min(ms, 2000)));
      return ms;
    }),
    [Proc.THROW]: procedure('THROW', x.xvoid, x.xvoid, () => {
      count('THROW');
      throw new Error('the THROW procedure always throws');
    }),
    [Proc.REJECT]: procedure('REJECT', x.xvoid, x.xvoid, async () => {
      count('REJECT');
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error('the REJECT procedure always rejects');
    }),
    [Proc.BIG]: procedure('BIG', x.uint, x.opaque(), (n) => {
      count('BIG');
      return Buffer.alloc(Math.min(n, 1 << 20), 0x5a);
    }),
    [Proc.ADD]: procedure('ADD', addArgs, x.int, ({ a, b }) => {
      count('ADD');
      return (a + b) | 0;
    }),
  };
  return [
    { name: 'test', prog: TEST_PROG, vers: 1, procedures },
    { name: 'test', prog: TEST_PROG, vers: 3, procedures: { [Proc.NULL]: procedures[Proc.NULL] } },
    {
      name: 'strict',
      prog: STRICT_PROG,
      vers: 1,
      requireAuthSys: true,
      procedures: { [Proc.NULL]: procedures[Proc.NULL], [Proc.WHOAMI]: procedures[Proc.WHOAMI] },
    },
  ];
}

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

export class CapturingLogger implements Logger {
  readonly lines: LogLine[] = [];
  /** Keep at most this many lines (the fuzzer logs a lot). */
  private readonly max: number;
  constructor(max = 10_000) {
    this.max = max;
  }
  private add(level: LogLine['level'], msg: string, fields?: Record<string, unknown>): void {
    if (this.lines.length < this.max) this.lines.push({ level, msg, fields: fields ?? {} });
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.add('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.add('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.add('error', msg, fields);
  }
  find(pred: (l: LogLine) => boolean): LogLine | undefined {
    return this.lines.find(pred);
  }
}

export interface TestServer {
  server: RpcServer;
  port: number;
  counters: Counters;
  log: CapturingLogger;
}

export function newCounters(): Counters {
  return Object.fromEntries(Object.keys(Proc).map((k) => [k, 0])) as Counters;
}

/** An RpcServer with the test programs on 127.0.0.1, port 0; closed at teardown when `t` is given. */
export async function startTestServer(
  t: ExecutionContext | undefined,
  options: RpcServerOptions = {},
): Promise<TestServer> {
  const log = options.log instanceof CapturingLogger ? options.log : new CapturingLogger();
  const counters = newCounters();
  const server = new RpcServer({ closeTimeoutMs: 1000, ...options, log });
  for (const p of testPrograms(counters)) server.addProgram(p);
  const port = await server.listen(0, '127.0.0.1');
  t?.teardown(() => server.close());
  return { server, port, counters, log };
}

export function encodeArgs<T>(type: XdrType<T>, value: T): Buffer {
  const w = new XdrWriter(64);
  type.encode(w, value);
  return w.toBuffer();
}

export interface OpaqueAuth {
  flavor: number;
  body: Buffer;
}

export const AUTH_NONE_CRED: OpaqueAuth = { flavor: 0, body: Buffer.alloc(0) };

export interface RawCall {
  xid: number;
  prog?: number;
  vers?: number;
  proc: number;
  rpcvers?: number;
  msgType?: number;
  cred?: OpaqueAuth;
  verf?: OpaqueAuth;
  /** Argument bytes, appended as they are (already XDR). */
  args?: Buffer;
}

/** The bytes of a CALL message (not record-marked), with every field under the caller's control. */
export function callBody(c: RawCall): Buffer {
  const w = new XdrWriter(128);
  w.uint(c.xid >>> 0);
  w.uint((c.msgType ?? MsgType.CALL) >>> 0);
  w.uint((c.rpcvers ?? RPC_VERSION) >>> 0);
  w.uint((c.prog ?? TEST_PROG) >>> 0);
  w.uint((c.vers ?? 1) >>> 0);
  w.uint(c.proc >>> 0);
  const cred = c.cred ?? AUTH_NONE_CRED;
  w.uint(cred.flavor >>> 0);
  w.opaque(cred.body);
  const verf = c.verf ?? AUTH_NONE_CRED;
  w.uint(verf.flavor >>> 0);
  w.opaque(verf.body);
  const head = w.toBuffer();
  return c.args && c.args.length > 0 ? Buffer.concat([head, c.args]) : head;
}

export interface AuthSysFields {
  stamp: number;
  /** Written as is: may be longer than the 255 bytes AUTH_SYS allows. */
  machineName: Buffer | string;
  uid: number;
  gid: number;
  /** Written as is: may hold more than the 16 gids AUTH_SYS allows. */
  gids: number[];
}

/** An AUTH_SYS credential body built by hand, without the limits encodeAuthSys enforces. */
export function authSysBody(a: AuthSysFields): Buffer {
  const w = new XdrWriter(128);
  w.uint(a.stamp >>> 0);
  w.opaque(typeof a.machineName === 'string' ? Buffer.from(a.machineName, 'latin1') : a.machineName);
  w.uint(a.uid >>> 0);
  w.uint(a.gid >>> 0);
  w.uint(a.gids.length);
  for (const g of a.gids) w.uint(g >>> 0);
  return w.toBuffer();
}

export function authSys(a: AuthSysFields): OpaqueAuth {
  return { flavor: 1, body: authSysBody(a) };
}

/**
 * Record-mark a body. Without `fragments` it is one last fragment; otherwise
 * `fragments` gives the sizes of the leading fragments and the rest of the body
 * is the last one (which may be empty).
 */
export function frame(body: Buffer, fragments: number[] = []): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  for (const size of fragments) {
    if (pos >= body.length) break;
    const n = Math.min(size, body.length - pos);
    out.push(header(n, false), body.subarray(pos, pos + n));
    pos += n;
  }
  out.push(header(body.length - pos, true), body.subarray(pos));
  return Buffer.concat(out);
}

export function header(length: number, last: boolean): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(((last ? 0x80000000 : 0) | length) >>> 0, 0);
  return h;
}

export interface ParsedReply {
  header: ReplyHeader;
  /** Positioned at the results when header.kind is 'success'. */
  reader: XdrReader;
  record: Buffer;
}

/** Parse a reply record; throws when it is not a well-formed REPLY. */
export function parseReply(record: Buffer): ParsedReply {
  const reader = new XdrReader(record);
  const h = readReplyHeader(reader);
  // Nothing may follow a reply that carries no results.
  if (h.kind !== 'success' && reader.remaining !== 0) {
    throw new Error(`reply of kind ${h.kind} has ${reader.remaining} trailing bytes`);
  }
  return { header: h, reader, record };
}

/**
 * Splits a byte stream into records (any fragmentation). `partial` is true when
 * bytes of an unfinished record are held.
 */
export class RecordSplitter {
  private pending: Buffer = Buffer.alloc(0);
  private parts: Buffer[] = [];
  private readonly maxRecord: number;
  constructor(maxRecord = 64 * 1024 * 1024) {
    this.maxRecord = maxRecord;
  }
  get partial(): boolean {
    return this.pending.length > 0 || this.parts.length > 0;
  }
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      if (this.pending.length < 4) break;
      const h = this.pending.readUInt32BE(0);
      const len = h & 0x7fffffff;
      if (len > this.maxRecord) throw new Error(`record fragment of ${len} bytes from the server`);
      if (this.pending.length < 4 + len) break;
      this.parts.push(this.pending.subarray(4, 4 + len));
      this.pending = this.pending.subarray(4 + len);
      if (h & 0x80000000) {
        out.push(this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts));
        this.parts = [];
      }
    }
    return out;
  }
}

/** A plain TCP connection to an RPC server that collects whole reply records. */
export class RawConnection {
  readonly socket: net.Socket;
  readonly records: Buffer[] = [];
  readonly splitter = new RecordSplitter();
  closed = false;
  /** Set when the server sent bytes that are not record-marked sensibly. */
  streamError: Error | undefined;
  bytesReceived = 0;
  /** This end's port, as the server's log lines name the peer. */
  readonly localPort: number;
  private waiters: (() => void)[] = [];
  readonly closedPromise: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.localPort = socket.localPort ?? 0;
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      try {
        for (const r of this.splitter.push(chunk)) this.records.push(r);
      } catch (e) {
        this.streamError = e as Error;
        socket.destroy();
      }
      this.notify();
    });
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.notify();
        resolve();
      }),
    );
  }

  static open(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RawConnection(socket));
      });
    });
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves on the next data or close event, or after `ms`. */
  private changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Wait until `n` records have arrived in total; false on close or timeout. */
  async waitRecords(n: number, timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.records.length < n) {
      const left = deadline - Date.now();
      if (this.closed || left <= 0) return false;
      await this.changed(left);
    }
    return true;
  }

  /** The next unread reply record, parsed. */
  private readIndex = 0;
  async reply(timeoutMs = 5000): Promise<ParsedReply> {
    if (!(await this.waitRecords(this.readIndex + 1, timeoutMs))) {
      throw new Error(this.closed ? 'connection closed before the reply' : 'timed out waiting for a reply');
    }
    return parseReply(this.records[this.readIndex++]);
  }

  /** True once the connection is closed (by either side), false after `timeoutMs`. */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await this.changed(left);
    }
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Open a raw connection closed at teardown. */
export async function rawConnection(t: ExecutionContext, port: number): Promise<RawConnection> {
  const c = await RawConnection.open(port);
  t.teardown(() => c.destroy());
  return c;
}

/** Send one call and return its parsed reply. */
export async function rawCall(conn: RawConnection, call: RawCall): Promise<ParsedReply> {
  conn.send(frame(callBody(call)));
  return conn.reply();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `cond` every few ms until it holds or `timeoutMs` passes. */
export async function until(cond: () => boolean, timeoutMs = 5000, stepMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
  return true;
}
