/**
 * `hello` → `session`: opens a session for the agent on this connection, or
 * resumes the one its resume token names.
 *
 * A new session gets a random id and resume token (the store keeps only the
 * token's SHA-256: it is 256 random bits, so a plain hash suffices). A hello
 * carrying a token that names one of this agent's sessions resumes it: the
 * session moves to this connection, `resumed: true`, and the token is
 * replaced (each token works once, so a token seen on the wire is worth
 * nothing after the agent reconnected). An unknown token opens a new session,
 * which the agent learns from `resumed: false`.
 *
 * The policy is the gateway's (settings.policy) with the operator's controls
 * for this agent applied; a paused agent is told so right after the session,
 * and a resumed session of an agent not paused (any more) is told to resume.
 */
import crypto from 'node:crypto';
import type { z } from 'zod';
import { type HandlerDeps, settingsOf } from '../handlers/events.js';
import { HandlerError } from '../handlers/handler-error.js';
import { type GatewayMessage, type Hello, type Policy, PROTOCOL_VERSION } from '../protocol/session-messages.js';
import type { ConnectionRow } from '../store/gateway-store.js';

type HelloT = z.infer<typeof Hello>;
type PolicyT = z.infer<typeof Policy>;

const tokenHash = (token: string) => crypto.createHash('sha256').update(token, 'utf8').digest();

export function policyFor(agentId: string, deps: HandlerDeps): PolicyT {
  const p = settingsOf(deps).policy;
  const agent = deps.store.agent(agentId);
  const limits = [p.throttleBytesPerSecond, agent?.throttleBytesPerSecond ?? null].filter(
    (x): x is number => x !== null,
  );
  return {
    throttleBytesPerSecond: limits.length ? Math.min(...limits) : null,
    schedule: p.schedule.map((w) => ({ ...w, days: [...w.days] })),
    storageClass: p.storageClass,
    requiredCopies: p.requiredCopies,
  };
}

/** The session reply, and the messages to send after it (a pause when the agent is paused). */
export function openSession(hello: HelloT, connection: ConnectionRow, deps: HandlerDeps): GatewayMessage[] {
  if (hello.agentId !== connection.agentId) {
    throw new HandlerError(
      'AGENT_MISMATCH',
      `agentId: ${hello.agentId} is not the agent this connection authenticated as`,
    );
  }
  const now = (deps.now ?? Date.now)();
  const resumeToken = crypto.randomBytes(32).toString('base64url');
  const previous = hello.resumeToken
    ? deps.store.sessionByResumeToken(connection.agentId, tokenHash(hello.resumeToken))
    : undefined;
  let sessionId: string;
  if (previous) {
    sessionId = previous.id;
    deps.store.resumeSession(previous.id, connection.id, tokenHash(resumeToken));
  } else {
    sessionId = `s_${crypto.randomBytes(16).toString('hex')}`;
    deps.store.insertSession({
      id: sessionId,
      agentId: connection.agentId,
      site: connection.site,
      connectionId: connection.id,
      resumeTokenHash: tokenHash(resumeToken),
      createdAt: now,
    });
  }
  deps.log?.info('session', {
    agent: connection.agentId,
    site: connection.site,
    session: sessionId,
    resumed: !!previous,
  });
  const out: GatewayMessage[] = [
    {
      v: PROTOCOL_VERSION,
      type: 'session',
      replyTo: hello.id,
      sessionId,
      resumeToken,
      site: connection.site,
      resumed: !!previous,
      policy: policyFor(connection.agentId, deps),
    },
  ];
  // the operator's pause state, either way: an agent paused while it was away must learn of a resume too
  if (deps.store.agent(connection.agentId)?.paused) {
    out.push({ v: PROTOCOL_VERSION, type: 'pause', id: `pause-${sessionId}`, reason: 'paused by an operator' });
  } else if (previous) {
    out.push({ v: PROTOCOL_VERSION, type: 'resume', id: `resume-${sessionId}` });
  }
  return out;
}
