/**
 * `$default`: every message an agent sends. The message is decoded and checked
 * (codec.ts); a bad one is answered with an `error` message carrying the
 * decoder's code and text (and `replyTo` when the request's id could be read)
 * and the connection stays open. Then by type:
 *
 * - `hello` opens or resumes a session (sessions/open-session.ts);
 * - `mirror.begin`, `plan.more`, `mirror.complete` run the mirror
 *   (mirror/mirror-requests.ts); they need a session on this connection
 *   (NO_SESSION otherwise);
 * - `mirror.progress` marks the upload active (the sweeper spares it);
 * - `presign.get` signs ranged reads of the site's own objects
 *   (retrieval/presign-get.ts);
 * - `fixity.report` records fixity outcomes (fixity/fixity-reports.ts);
 * - `command.result` records an agent's answer to an operator's command.
 *
 * A HandlerError becomes an `error` reply with its code; an S3 failure one
 * with the object store's code (S3_UNAVAILABLE: the agent retries later);
 * anything else is logged and answered INTERNAL.
 */

import { recordFixity } from '../fixity/fixity-reports.js';
import { beginMirror, completeMirror, morePlan } from '../mirror/mirror-requests.js';
import { decodeAgentMessage, MAX_MESSAGE_BYTES } from '../protocol/codec.js';
import { type AgentMessage, type GatewayMessage, MessageId, PROTOCOL_VERSION } from '../protocol/session-messages.js';
import { presignGet } from '../retrieval/presign-get.js';
import { ObjectStoreError } from '../s3/object-store.js';
import { openSession } from '../sessions/open-session.js';
import type { ConnectionRow, SessionRow } from '../store/gateway-store.js';
import { GoneError, type HandlerDeps, type HandlerResult, type WebSocketEvent } from './events.js';
import { HandlerError } from './handler-error.js';

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

function sessionOf(connection: ConnectionRow, deps: HandlerDeps): SessionRow {
  const session = deps.store.sessionOfConnection(connection.id);
  if (!session) throw new HandlerError('NO_SESSION', 'send hello first: this connection has no session');
  return session;
}

/** The replies to one message (none for notifications). */
async function answer(message: AgentMessage, connection: ConnectionRow, deps: HandlerDeps): Promise<GatewayMessage[]> {
  switch (message.type) {
    case 'hello':
      return openSession(message, connection, deps);
    case 'mirror.begin':
      return [await beginMirror(message, sessionOf(connection, deps), deps)];
    case 'plan.more':
      return [await morePlan(message, sessionOf(connection, deps), deps)];
    case 'mirror.complete':
      return [await completeMirror(message, sessionOf(connection, deps), deps)];
    case 'mirror.progress': {
      const session = sessionOf(connection, deps);
      const upload = deps.store.upload(message.uploadId);
      if (upload && upload.site === session.site) deps.store.touchUpload(upload.id, (deps.now ?? Date.now)());
      return [];
    }
    case 'presign.get':
      return [await presignGet(message, sessionOf(connection, deps), deps)];
    case 'fixity.report':
      recordFixity(message, sessionOf(connection, deps), deps);
      return [];
    case 'command.result':
      deps.store.answerCommand(
        message.replyTo,
        connection.agentId,
        message.ok,
        message.detail ?? '',
        (deps.now ?? Date.now)(),
      );
      deps.log?.info('command answered', {
        agent: connection.agentId,
        command: message.replyTo,
        ok: message.ok,
        detail: message.detail,
      });
      return [];
  }
}

async function replies(body: string, connection: ConnectionRow, deps: HandlerDeps): Promise<GatewayMessage[]> {
  const decoded = decodeAgentMessage(body);
  if (!decoded.ok) return [errorMessage(decoded.error.code, decoded.error.message, requestIdOf(body))];
  const message = decoded.message;
  const replyTo = 'id' in message ? message.id : null;
  try {
    return await answer(message, connection, deps);
  } catch (e) {
    if (e instanceof HandlerError) return [errorMessage(e.code, e.message, replyTo)];
    if (e instanceof ObjectStoreError) return [errorMessage(e.code, e.message, replyTo)];
    deps.log?.error('message handler failed', { type: message.type, error: (e as Error)?.stack ?? String(e) });
    return [errorMessage('INTERNAL', 'the gateway failed on this request; try again later', replyTo)];
  }
}

export async function messageHandler(event: WebSocketEvent, deps: HandlerDeps): Promise<HandlerResult> {
  const connectionId = event.requestContext.connectionId;
  // Only a connection $connect recorded may talk; anything else is not an agent.
  const connection = deps.store.connection(connectionId);
  if (!connection) return { statusCode: 403 };

  const out = event.isBase64Encoded
    ? [errorMessage('BAD_JSON', '(message): binary frames are not accepted; send JSON text', null)]
    : await replies(event.body ?? '', connection, deps);
  try {
    for (const reply of out) await deps.postToConnection(connectionId, reply);
  } catch (e) {
    if (e instanceof GoneError) return { statusCode: 410 };
    throw e;
  }
  return { statusCode: 200 };
}
