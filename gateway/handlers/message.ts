/**
 * `$default`: every message an agent sends. The message is decoded and checked
 * (codec.ts); a bad one is answered with an `error` message carrying the
 * decoder's code and text (and `replyTo` when the request's id could be read)
 * and the connection stays open. A `hello` opens a session: a row in the store
 * (id and resume token random, the token stored only as a hash) and a `session`
 * reply with the agent's site and the default policy. Other message types are
 * answered NOT_IMPLEMENTED until their issues land.
 *
 * Resuming a session from `hello.resumeToken` is not implemented yet: such a
 * hello gets a new session with `resumed: false`.
 */
import crypto from 'node:crypto';
import type { z } from 'zod';
import { decodeAgentMessage, MAX_MESSAGE_BYTES } from '../protocol/codec.js';
import {
  type AgentMessage,
  type GatewayMessage,
  type Hello,
  MessageId,
  type Policy,
  PROTOCOL_VERSION,
} from '../protocol/session-messages.js';
import type { ConnectionRow } from '../store/gateway-store.js';
import { GoneError, type HandlerDeps, type HandlerResult, type WebSocketEvent } from './events.js';

type PolicyT = z.infer<typeof Policy>;
type HelloT = z.infer<typeof Hello>;

/** The policy every session gets until policies are configurable. */
export const DEFAULT_POLICY: Readonly<PolicyT> = {
  throttleBytesPerSecond: null,
  schedule: [],
  storageClass: 'STANDARD',
  requiredCopies: 1,
};

const MAX_ERROR_TEXT = 1024;

function errorMessage(code: string, message: string, replyTo: string | null): GatewayMessage {
  const text = message.length > MAX_ERROR_TEXT ? `${message.slice(0, MAX_ERROR_TEXT - 1)}…` : message;
  return { v: PROTOCOL_VERSION, type: 'error', code, message: text, replyTo };
}

/** The `id` of a message that failed to decode, when it is there and well formed. */
function requestIdOf(body: string): string | null {
  if (body.length > MAX_MESSAGE_BYTES) return null;
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
    const id = (value as Record<string, unknown>).id;
    return MessageId.safeParse(id).success ? (id as string) : null;
  } catch {
    return null;
  }
}

function openSession(hello: HelloT, connection: ConnectionRow, deps: HandlerDeps): GatewayMessage {
  if (hello.agentId !== connection.agentId) {
    return errorMessage(
      'AGENT_MISMATCH',
      `agentId: ${hello.agentId} is not the agent this connection authenticated as`,
      hello.id,
    );
  }
  const sessionId = `s_${crypto.randomBytes(16).toString('hex')}`;
  const resumeToken = crypto.randomBytes(32).toString('base64url');
  deps.store.insertSession({
    id: sessionId,
    agentId: connection.agentId,
    site: connection.site,
    connectionId: connection.id,
    resumeTokenHash: crypto.createHash('sha256').update(resumeToken, 'utf8').digest(),
    createdAt: (deps.now ?? Date.now)(),
  });
  const policy: PolicyT = { ...DEFAULT_POLICY, schedule: [...DEFAULT_POLICY.schedule] };
  return {
    v: PROTOCOL_VERSION,
    type: 'session',
    replyTo: hello.id,
    sessionId,
    resumeToken,
    site: connection.site,
    resumed: false,
    policy,
  };
}

function answer(message: AgentMessage, connection: ConnectionRow, deps: HandlerDeps): GatewayMessage {
  if (message.type === 'hello') return openSession(message, connection, deps);
  const replyTo = 'id' in message ? message.id : null;
  return errorMessage('NOT_IMPLEMENTED', `${message.type} is not implemented yet`, replyTo);
}

export async function messageHandler(event: WebSocketEvent, deps: HandlerDeps): Promise<HandlerResult> {
  const connectionId = event.requestContext.connectionId;
  // Only a connection $connect recorded may talk; anything else is not an agent.
  const connection = deps.store.connection(connectionId);
  if (!connection) return { statusCode: 403 };

  let reply: GatewayMessage;
  if (event.isBase64Encoded) {
    reply = errorMessage('BAD_JSON', '(message): binary frames are not accepted; send JSON text', null);
  } else {
    const body = event.body ?? '';
    const decoded = decodeAgentMessage(body);
    reply = decoded.ok
      ? answer(decoded.message, connection, deps)
      : errorMessage(decoded.error.code, decoded.error.message, requestIdOf(body));
  }
  try {
    await deps.postToConnection(connectionId, reply);
  } catch (e) {
    if (e instanceof GoneError) return { statusCode: 410 };
    throw e;
  }
  return { statusCode: 200 };
}
