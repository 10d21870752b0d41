/**
 * `$connect`: an agent opens its websocket with `Authorization: Bearer <token>`.
 * A good, unrevoked token records the connection (with the agent's site) and
 * answers 200; anything else answers 401 with the same body whatever was wrong,
 * so a caller never learns whether an agent exists or was revoked.
 */
import { AgentTokens, IdentityError } from '../identity/agent-tokens.js';
import { type HandlerDeps, type HandlerResult, header, type WebSocketEvent } from './events.js';

const UNAUTHORIZED: HandlerResult = { statusCode: 401, body: 'Unauthorized' };

export async function connectHandler(event: WebSocketEvent, deps: HandlerDeps): Promise<HandlerResult> {
  const m = /^Bearer ([^\s]+)$/.exec(header(event.headers, 'authorization')?.trim() ?? '');
  if (!m) return UNAUTHORIZED;
  let agent: ReturnType<AgentTokens['verify']>;
  try {
    agent = new AgentTokens(deps.store).verify(m[1]!);
  } catch (e) {
    if (e instanceof IdentityError) return UNAUTHORIZED;
    throw e;
  }
  deps.store.insertConnection({
    id: event.requestContext.connectionId,
    agentId: agent.id,
    site: agent.site,
    connectedAt: (deps.now ?? Date.now)(),
  });
  return { statusCode: 200 };
}
