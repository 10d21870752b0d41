/**
 * `$connect`: an agent opens its websocket with `Authorization: Bearer <token>`.
 * A good, unrevoked token records the connection (with the agent's site) and
 * answers 200; anything else answers 401 with the same body whatever was wrong,
 * so a caller never learns whether an agent exists or was revoked.
 *
 * The log says more than the caller learns: each connection (agent, site,
 * connection id) and each refusal with its reason and the agent the token
 * names (the id part of `oa_<agentId>_<secret>` is not secret). The token
 * itself is never logged.
 */
import { AgentTokens, IdentityError } from '../identity/agent-tokens.js';
import { type HandlerDeps, type HandlerResult, header, type WebSocketEvent } from './events.js';

const UNAUTHORIZED: HandlerResult = { statusCode: 401, body: 'Unauthorized' };

/** The agent id a token claims (its public part), when the token is shaped like one. */
function claimedAgent(token: string): string | undefined {
  return /^oa_([0-9a-f]{16})_/.exec(token)?.[1];
}

export async function connectHandler(event: WebSocketEvent, deps: HandlerDeps): Promise<HandlerResult> {
  const connectionId = event.requestContext.connectionId;
  const m = /^Bearer ([^\s]+)$/.exec(header(event.headers, 'authorization')?.trim() ?? '');
  if (!m) {
    deps.log?.warn('agent connection refused', { connectionId, reason: 'NO_TOKEN' });
    return UNAUTHORIZED;
  }
  let agent: ReturnType<AgentTokens['verify']>;
  try {
    agent = new AgentTokens(deps.store).verify(m[1]!);
  } catch (e) {
    if (e instanceof IdentityError) {
      const claimed = claimedAgent(m[1]!);
      deps.log?.warn('agent connection refused', {
        connectionId,
        reason: e.code,
        ...(claimed ? { agent: claimed, site: deps.store.agent(claimed)?.site } : {}),
      });
      return UNAUTHORIZED;
    }
    throw e;
  }
  deps.store.insertConnection({
    id: connectionId,
    agentId: agent.id,
    site: agent.site,
    connectedAt: (deps.now ?? Date.now)(),
  });
  deps.log?.info('agent connected', { agent: agent.id, site: agent.site, connectionId });
  return { statusCode: 200 };
}
