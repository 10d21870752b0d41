/**
 * The agent's end of the websocket session with the gateway: connect with
 * the agent's bearer token, say `hello`, keep the `session`, and reconnect
 * after any drop with exponential backoff (min → max, doubling, ±25 %
 * jitter), presenting the last resume token so the gateway resumes the same
 * session.
 *
 * - request(): sends a request with a fresh id and resolves with the reply
 *   carrying that id; an `error` reply rejects with GATEWAY_ERROR (its code in
 *   `gatewayCode`), a dropped connection or a timeout with GATEWAY_UNAVAILABLE.
 * - notify(): sends a message that has no reply, when connected (dropped otherwise).
 * - Commands from the gateway (pause, resume, throttle, verify) go to
 *   onCommand, whose answer is sent back as `command.result`.
 *
 * Every message is validated both ways with the gateway's own schema
 * (codec.ts); a message that does not decode is logged and ignored, and the
 * socket refuses frames over the protocol's 1 MiB.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { z } from 'zod';
import type { Logger } from '../../clients/oncrpc/index.js';
import { decodeGatewayMessage, encodeMessage, MAX_MESSAGE_BYTES } from '../../gateway/protocol/codec.js';
import type {
  AgentMessage,
  Drive,
  GatewayMessage,
  PendingVolume,
  Session,
} from '../../gateway/protocol/session-messages.js';
import { MirrorError } from './errors.js';

export type SessionT = z.infer<typeof Session>;
type Command = Extract<GatewayMessage, { type: 'pause' | 'resume' | 'throttle' | 'verify' | 'reburn' }>;
/** A request as the caller writes it: the connection adds `v` and `id`. */
type RequestBody =
  Exclude<AgentMessage, { type: 'mirror.progress' | 'fixity.report' | 'command.result' | 'hello' }> extends infer M
    ? M extends AgentMessage
      ? Omit<M, 'v' | 'id'>
      : never
    : never;

export class GatewayRequestError extends MirrorError {
  constructor(
    readonly gatewayCode: string,
    message: string,
  ) {
    super('GATEWAY_ERROR', `${gatewayCode}: ${message}`, {
      retryable: gatewayCode === 'S3_UNAVAILABLE' || gatewayCode === 'INTERNAL',
    });
  }
}

export interface GatewayConnectionOptions {
  url: string;
  token: string;
  agentVersion: string;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** How long a request waits for its reply (mirror.complete reads the whole object back). */
  requestTimeoutMs?: number;
  drives: () => z.infer<typeof Drive>[];
  pendingVolumes: () => z.infer<typeof PendingVolume>[];
  onCommand: (command: Command) => Promise<{ ok: boolean; detail?: string }>;
  log: Logger;
}

/** The agent id inside a token `oa_<id>_<secret>`. */
export function agentIdOfToken(token: string): string {
  const m = /^oa_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/.exec(token);
  if (!m)
    throw new Error(
      'the agent token is malformed: expected oa_<16 hex>_<43 base64url> from `optarc-gateway agents add`',
    );
  return m[1]!;
}

/** Emits 'session' (SessionT) each time a session opens, 'down' (reason) when it is lost. */
export class GatewayConnection extends EventEmitter {
  private ws: WebSocket | undefined;
  private current: SessionT | undefined;
  private resumeToken: string | undefined;
  private stopped = false;
  private nextId = 0;
  private readonly pending = new Map<
    string,
    { resolve: (m: GatewayMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private readonly agentId: string;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Why the last connection attempt failed or the last one ended ('' while connected). */
  lastError = '';
  connects = 0;

  constructor(private readonly o: GatewayConnectionOptions) {
    super();
    this.agentId = agentIdOfToken(o.token);
  }

  get session(): SessionT | undefined {
    return this.current;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.ws?.close(1001, 'agent stopping');
    this.ws?.terminate();
    await this.loop;
  }

  /** Drop the connection now (it reconnects after the backoff): for tests and operators. */
  drop(): void {
    this.ws?.terminate();
  }

  /** Resolves once a session is open (rejects ABORTED on signal). */
  async waitForSession(signal?: AbortSignal): Promise<SessionT> {
    while (!this.current) {
      if (signal?.aborted || this.stopped) throw new MirrorError('ABORTED', 'stopped waiting for the gateway');
      await new Promise<void>((resolve) => {
        const done = () => {
          this.off('session', done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.once('session', done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    return this.current;
  }

  request(body: RequestBody): Promise<GatewayMessage> {
    const ws = this.ws;
    if (!ws || !this.current || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(
        new MirrorError(
          'GATEWAY_UNAVAILABLE',
          `no session with the gateway${this.lastError ? ` (${this.lastError})` : ''}`,
        ),
      );
    }
    return this.send({ ...body, v: 1, id: this.id() } as AgentMessage, ws);
  }

  /** Sends a message that has no reply (dropped when there is no session: the caller keeps what it must resend). */
  notify(message: Extract<AgentMessage, { type: 'mirror.progress' | 'fixity.report' }>): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN || !this.current) return false;
    this.ws.send(encodeMessage(message));
    return true;
  }

  private id(): string {
    this.nextId = (this.nextId + 1) % 1e12;
    return `a${this.nextId}`;
  }

  private send(message: AgentMessage, ws: WebSocket): Promise<GatewayMessage> {
    const id = (message as { id: string }).id;
    return new Promise<GatewayMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new MirrorError(
            'GATEWAY_UNAVAILABLE',
            `the gateway did not answer ${message.type} within ${(this.o.requestTimeoutMs ?? 600_000) / 1000} s`,
          ),
        );
      }, this.o.requestTimeoutMs ?? 600_000);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(encodeMessage(message), (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new MirrorError('GATEWAY_UNAVAILABLE', `sending ${message.type} failed: ${err.message}`));
      });
    });
  }

  private failPending(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new MirrorError('GATEWAY_UNAVAILABLE', `the gateway connection dropped (${reason})`));
      this.pending.delete(id);
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const opened = await this.connectOnce();
      if (this.stopped) break;
      failures = opened ? 0 : failures + 1;
      const base = Math.min(this.o.reconnectMaxMs, this.o.reconnectMinMs * 2 ** Math.max(0, failures - 1));
      const wait = Math.round(base * (0.75 + Math.random() * 0.5));
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        void delay(wait).then(resolve);
      });
      this.wake = undefined;
    }
  }

  /** One connection, until it closes; true when a session was opened on it. */
  private connectOnce(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let sessionOpened = false;
      const ws = new WebSocket(this.o.url, {
        headers: { authorization: `Bearer ${this.o.token}` },
        maxPayload: MAX_MESSAGE_BYTES,
        handshakeTimeout: 15_000,
      });
      this.ws = ws;
      ws.on('unexpected-response', (_req, res) => {
        this.lastError = `the gateway refused the connection: HTTP ${res.statusCode}${res.statusCode === 401 ? ' (check that the agent token is right and neither revoked nor expired)' : ''}`;
        this.o.log.warn('gateway refused the agent', { status: res.statusCode });
        ws.terminate();
      });
      ws.on('error', (e) => {
        if (!this.lastError || sessionOpened) this.lastError = e.message;
      });
      ws.on('open', () => {
        this.connects++;
        const hello: AgentMessage = {
          v: 1,
          type: 'hello',
          id: this.id(),
          agentId: this.agentId,
          agentVersion: this.o.agentVersion,
          ...(this.resumeToken ? { resumeToken: this.resumeToken } : {}),
          drives: this.o.drives(),
          pendingVolumes: this.o.pendingVolumes(),
        };
        this.send(hello, ws).then(
          (reply) => {
            if (reply.type !== 'session') {
              this.lastError =
                reply.type === 'error'
                  ? `hello refused: ${reply.code}: ${reply.message}`
                  : `hello answered with ${reply.type}`;
              this.o.log.error('gateway refused hello', { reply: this.lastError });
              ws.close();
              return;
            }
            sessionOpened = true;
            this.lastError = '';
            this.resumeToken = reply.resumeToken;
            this.current = reply;
            this.o.log.info('gateway session', { session: reply.sessionId, resumed: reply.resumed, site: reply.site });
            this.emit('session', reply);
          },
          () => ws.terminate(),
        );
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const decoded = decodeGatewayMessage(data.toString('utf8'));
        if (!decoded.ok) {
          this.o.log.warn('bad message from the gateway', { code: decoded.error.code, message: decoded.error.message });
          return;
        }
        this.dispatch(decoded.message, ws);
      });
      ws.on('close', (code) => {
        const was = this.current !== undefined;
        this.current = undefined;
        if (this.ws === ws) this.ws = undefined;
        if (!this.lastError && !this.stopped) this.lastError = `connection closed (${code})`;
        this.failPending(this.lastError || `closed ${code}`);
        if (was) this.emit('down', this.lastError);
        resolve(sessionOpened);
      });
    });
  }

  private dispatch(message: GatewayMessage, ws: WebSocket): void {
    if ('replyTo' in message && message.replyTo !== null) {
      const p = this.pending.get(message.replyTo);
      if (!p) return;
      this.pending.delete(message.replyTo);
      clearTimeout(p.timer);
      if (message.type === 'error') p.reject(new GatewayRequestError(message.code, message.message));
      else p.resolve(message);
      return;
    }
    if (message.type === 'error') {
      this.o.log.warn('gateway error', { code: message.code, message: message.message });
      return;
    }
    if (
      message.type === 'pause' ||
      message.type === 'resume' ||
      message.type === 'throttle' ||
      message.type === 'verify' ||
      message.type === 'reburn'
    ) {
      const command = message;
      this.o.onCommand(command).then(
        (r) => this.answer(ws, command, r.ok, r.detail),
        (e: unknown) => this.answer(ws, command, false, (e as Error)?.message ?? String(e)),
      );
    }
  }

  private answer(ws: WebSocket, command: Command, ok: boolean, detail?: string): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    const result: AgentMessage = {
      v: 1,
      type: 'command.result',
      replyTo: command.id,
      command: command.type,
      ok,
      ...(detail ? { detail: detail.slice(0, 1024) } : {}),
    };
    ws.send(encodeMessage(result));
  }
}
