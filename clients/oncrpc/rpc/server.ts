/**
 * RpcServer: ONC RPC over TCP for many concurrent connections.
 *
 * Policy lives here, explicit and bounded: a cap on connections (past it a
 * connection is closed at once, with a log line naming the peer), a maximum
 * record size enforced before buffering, an idle timeout, and backpressure: a
 * connection whose peer stops reading, or that has too many calls in flight,
 * stops being read until it drains, so no client can make the server buffer
 * without bound. Replies leave in call order on each connection and are
 * written scatter/gather (one writev per reply). close() is graceful: it stops
 * accepting, lets calls in flight answer, then closes every connection.
 *
 * Reads bypass Node's stream chunks (see socket-reader.ts): a large call is read
 * by the kernel straight into the buffer its record will occupy, which is what
 * lets a 1 MiB WRITE keep pace with the C libtirpc server.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { type Logger, silentLogger } from '../logger.js';
import { type ConnectionHandle, Dispatcher, type Reply } from './dispatcher.js';
import type { ProgramVersion } from './program.js';
import { RecordBufferPool } from './record-buffer-pool.js';
import { RecordDecoder, type RecordMarkingError, writeRecord } from './record-marking.js';
import { adoptWithDirectReads } from './socket-reader.js';

export interface RpcServerOptions {
  /** Largest call record accepted, in bytes (default 8 MiB). */
  maxRecordSize?: number;
  /** Connections served at once (default 256); more are closed on arrival. */
  maxConnections?: number;
  /** A connection with nothing in flight is closed after this long (default 5 min; 0 = never). */
  idleTimeoutMs?: number;
  /**
   * A call must arrive whole within this long of its first byte (default 60 s;
   * 0 = no limit): a client that trickles a record cannot hold a connection
   * slot and its buffers forever by sending a byte now and then.
   */
  recordTimeoutMs?: number;
  /**
   * Reply bytes queued per connection before it stops being read (default 8 MiB;
   * never less than the socket's own high-water mark, 16 KiB).
   */
  maxQueuedReplyBytes?: number;
  /**
   * Calls per connection not yet answered (being handled, or done and waiting for
   * an earlier call's reply) before it stops being read (default 64).
   */
  maxCallsInFlight?: number;
  /** How long close() waits for calls in flight before cutting connections (default 5 s). */
  closeTimeoutMs?: number;
  /** Read calls into memory the server supplies instead of Node's stream chunks (default true; see socket-reader.ts). */
  directReads?: boolean;
  log?: Logger;
}

export interface RpcServerStats {
  connections: number;
  accepted: number;
  refused: number;
  calls: number;
  protocolErrors: number;
  /** Call bytes the kernel read straight into the buffers their records occupy. */
  directReadBytes: number;
}

const DEFAULTS = {
  maxRecordSize: 8 * 1024 * 1024,
  maxConnections: 256,
  idleTimeoutMs: 5 * 60 * 1000,
  recordTimeoutMs: 60 * 1000,
  maxQueuedReplyBytes: 8 * 1024 * 1024,
  maxCallsInFlight: 64,
  closeTimeoutMs: 5000,
  directReads: true,
};

export class RpcServer extends EventEmitter {
  readonly options: Required<Omit<RpcServerOptions, 'log'>>;
  readonly dispatcher: Dispatcher;
  /** Memory for large calls, shared by the connections. */
  readonly recordBuffers = new RecordBufferPool();
  private readonly log: Logger;
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  private nextConnectionId = 1;
  private closing = false;
  readonly stats: RpcServerStats = {
    connections: 0,
    accepted: 0,
    refused: 0,
    calls: 0,
    protocolErrors: 0,
    directReadBytes: 0,
  };

  constructor(options: RpcServerOptions = {}) {
    super();
    const { log, ...rest } = options;
    this.options = { ...DEFAULTS, ...stripUndefined(rest) };
    this.log = log ?? silentLogger;
    this.dispatcher = new Dispatcher(this.log);
    this.server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket));
  }

  addProgram(program: ProgramVersion): this {
    this.dispatcher.add(program);
    return this;
  }

  /** Listen on host:port (port 0 picks a free one); resolves with the bound port. */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket): void {
    const peer = { address: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 };
    if (this.closing || this.connections.size >= this.options.maxConnections) {
      this.stats.refused++;
      this.log.warn('refusing connection: connection cap reached', {
        peer: `${peer.address}:${peer.port}`,
        open: this.connections.size,
        cap: this.options.maxConnections,
      });
      socket.destroy();
      return;
    }
    this.stats.accepted++;
    const conn = new Connection(this, socket, this.nextConnectionId++, peer);
    this.connections.add(conn);
    this.stats.connections = this.connections.size;
    conn.socket.once('close', () => {
      this.connections.delete(conn);
      this.stats.connections = this.connections.size;
      conn.closed();
      if (this.closing && this.connections.size === 0) this.emit('drained');
    });
  }

  /** @internal */
  protocolError(conn: Connection, e: Error): void {
    this.stats.protocolErrors++;
    this.log.warn('closing connection: RPC record marking violated', {
      peer: `${conn.peer.address}:${conn.peer.port}`,
      error: e.message,
    });
  }

  /** @internal */
  connectionFailed(conn: Connection, e: unknown): void {
    this.log.error('closing connection: internal error while reading', {
      peer: `${conn.peer.address}:${conn.peer.port}`,
      error: String((e as Error)?.stack ?? e),
    });
  }

  /** @internal */
  logRecordTimeout(conn: Connection): void {
    this.log.warn('closing connection: a call did not arrive whole in time', {
      peer: `${conn.peer.address}:${conn.peer.port}`,
      recordTimeoutMs: this.options.recordTimeoutMs,
    });
  }

  /** @internal */
  logIdle(conn: Connection): void {
    this.log.info('closing idle connection', {
      peer: `${conn.peer.address}:${conn.peer.port}`,
      idleMs: this.options.idleTimeoutMs,
    });
  }

  /** Stop accepting; answer calls in flight; close every connection. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const listening = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of this.connections) conn.shutdown();
    if (this.connections.size > 0) {
      const drained = new Promise<void>((resolve) => this.once('drained', resolve));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.closeTimeoutMs);
      });
      await Promise.race([drained, timeout]);
      clearTimeout(timer);
      for (const conn of this.connections) conn.socket.destroy();
    }
    await listening;
  }
}

class Connection implements ConnectionHandle {
  readonly socket: net.Socket;
  readonly id: number;
  readonly peer: { address: string; port: number };
  private readonly server: RpcServer;
  private readonly decoder: RecordDecoder;
  private readonly closeCallbacks: (() => void)[] = [];
  /** Replies finished out of order, waiting for earlier ones. */
  private readonly ready = new Map<number, Reply>();
  private nextSeq = 0;
  private nextToSend = 0;
  private inFlight = 0;
  private paused = false;
  /** Records decoded from a read but not yet handled because the connection paused. */
  private backlog: Buffer[] = [];
  private backlogPos = 0;
  private draining = false;
  private shuttingDown = false;
  /** A call could not be answered (or the framing broke): no more calls are taken on this connection. */
  private closing = false;
  /** The idle timer fired while calls were in flight: restart it when they are done. */
  private idleDeferred = false;

  constructor(server: RpcServer, socket: net.Socket, id: number, peer: { address: string; port: number }) {
    this.server = server;
    this.id = id;
    this.peer = peer;
    this.decoder = new RecordDecoder(server.options.maxRecordSize, server.recordBuffers);
    this.socket = adoptWithDirectReads(socket, this.decoder, server.options.directReads, {
      onRecords: (records) => this.onRecords(records),
      afterRead: () => this.watchRecordDeadline(),
      onError: (e) => this.onFramingError(e),
      onFailure: (e) => server.connectionFailed(this, e),
      onDirectBytes: (n) => {
        server.stats.directReadBytes += n;
      },
    });
    socket = this.socket;
    socket.on('drain', () => this.maybeResume());
    socket.on('error', () => {}); // 'close' follows; resets from peers are routine
    if (server.options.idleTimeoutMs > 0) {
      // `on`, not setTimeout's callback (a `once`): the timer fires again after later reads.
      socket.setTimeout(server.options.idleTimeoutMs);
      socket.on('timeout', () => {
        if (this.inFlight === 0) {
          server.logIdle(this);
          socket.destroy();
        } else {
          this.idleDeferred = true;
        }
      });
    }
  }

  onClose(callback: () => void): void {
    this.closeCallbacks.push(callback);
  }

  recycle(record: Buffer): void {
    this.server.recordBuffers.release(record);
  }

  closed(): void {
    clearTimeout(this.recordTimer);
    for (const cb of this.closeCallbacks.splice(0)) {
      try {
        cb();
      } catch {
        // a close callback must not take the server down
      }
    }
  }

  /** Send FIN, and read on (calls that arrive are ignored) until the peer's FIN closes the socket. */
  private finishShutdown(): void {
    this.socket.end();
    this.socket.resume();
  }

  shutdown(): void {
    this.shuttingDown = true;
    this.socket.pause();
    if (this.inFlight === 0) this.finishShutdown();
  }

  private onFramingError(e: RecordMarkingError): void {
    if (this.closing) return;
    this.server.protocolError(this, e);
    this.closeAfterReplies();
  }

  /**
   * Close a connection that sent what cannot be answered: replies already owed
   * for earlier calls still go out whole (end() flushes them before the FIN),
   * later calls are dropped, and what the peer still sends is read and thrown
   * away, so the close never resets the peer before it has read its replies.
   * A peer that does not close in turn is cut off after CLOSE_LINGER_MS.
   */
  private closeAfterReplies(): void {
    if (this.closing) return;
    this.closing = true;
    for (let i = this.backlogPos; i < this.backlog.length; i++) this.recycle(this.backlog[i]!);
    this.backlog = [];
    this.backlogPos = 0;
    this.socket.end();
    this.socket.resume();
    const linger = setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS);
    linger.unref();
    this.socket.once('close', () => clearTimeout(linger)); // the connection is not kept alive by its timer
  }

  private recordTimer: NodeJS.Timeout | undefined;

  /** Arm the deadline when a record is under way, disarm it when none is. */
  private watchRecordDeadline(): void {
    const limit = this.server.options.recordTimeoutMs;
    if (limit <= 0) return;
    if (this.decoder.midRecord) {
      this.recordTimer ??= setTimeout(() => {
        this.server.logRecordTimeout(this);
        this.socket.destroy();
      }, limit);
    } else if (this.recordTimer) {
      clearTimeout(this.recordTimer);
      this.recordTimer = undefined;
    }
  }

  private onRecords(records: Buffer[]): void {
    if (records.length === 0) return;
    if (this.closing) {
      for (const r of records) this.recycle(r);
      return;
    }
    // One read can hold thousands of small calls: handle them only while the
    // connection is not overloaded, and keep the rest until it drains.
    if (this.backlogPos === this.backlog.length) {
      this.backlog = records;
      this.backlogPos = 0;
    } else {
      for (const record of records) this.backlog.push(record);
    }
    this.drainBacklog();
  }

  private drainBacklog(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.backlogPos < this.backlog.length && !this.paused) {
        if (this.socket.destroyed || this.shuttingDown || this.closing) break;
        const record = this.backlog[this.backlogPos];
        this.backlog[this.backlogPos++] = EMPTY;
        this.handle(record);
      }
      if (this.socket.destroyed || this.shuttingDown || this.backlogPos === this.backlog.length) {
        this.backlog = [];
        this.backlogPos = 0;
      }
    } finally {
      this.draining = false;
    }
  }

  private handle(record: Buffer): void {
    const seq = this.nextSeq++;
    this.server.stats.calls++;
    this.inFlight++;
    let reply: Reply | Promise<Reply>;
    try {
      reply = this.server.dispatcher.dispatch(record, this);
    } catch {
      reply = 'close';
    }
    if (reply instanceof Promise) {
      reply.then(
        (r) => this.complete(seq, r),
        () => this.complete(seq, 'close'),
      );
    } else {
      this.complete(seq, reply);
    }
    this.maybePause();
  }

  private complete(seq: number, reply: Reply): void {
    this.inFlight--;
    if (this.idleDeferred && this.inFlight === 0) {
      // Writing the reply does not restart the socket's timer; this does.
      this.idleDeferred = false;
      this.socket.setTimeout(this.server.options.idleTimeoutMs);
    }
    if (seq !== this.nextToSend) {
      this.ready.set(seq, reply);
      return;
    }
    this.send(reply);
    this.nextToSend++;
    let next = this.ready.get(this.nextToSend);
    while (next !== undefined) {
      this.ready.delete(this.nextToSend);
      this.send(next);
      this.nextToSend++;
      next = this.ready.get(this.nextToSend);
    }
    if (this.shuttingDown && this.inFlight === 0) this.finishShutdown();
    else this.maybePause();
    this.maybeResume();
  }

  private send(reply: Reply): void {
    if (this.socket.destroyed || this.closing) return;
    if (reply === 'close') {
      this.closeAfterReplies();
      return;
    }
    writeRecord(this.socket, reply);
  }

  private overloaded(): boolean {
    // Queued bytes count only while the socket owes a 'drain' event (which resumes
    // reading); replies not yet sent (in flight, or done but waiting for an
    // earlier one) count against maxCallsInFlight.
    return (
      (this.socket.writableLength > this.server.options.maxQueuedReplyBytes && this.socket.writableNeedDrain) ||
      this.nextSeq - this.nextToSend >= this.server.options.maxCallsInFlight
    );
  }

  private maybePause(): void {
    if (this.closing) return;
    if (!this.paused && this.overloaded()) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private maybeResume(): void {
    if (this.closing) return;
    if (this.paused && !this.shuttingDown && !this.overloaded()) {
      this.paused = false;
      this.socket.resume();
      this.drainBacklog();
    }
  }
}

const EMPTY = Buffer.alloc(0);
/** How long a connection being closed waits for its peer's FIN before it is cut off. */
const CLOSE_LINGER_MS = 5000;

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
