/** `$disconnect`: forgets the connection (its sessions stay, to be resumed), and logs whose it was. */
import type { HandlerDeps, HandlerResult, WebSocketEvent } from './events.js';

export async function disconnectHandler(event: WebSocketEvent, deps: HandlerDeps): Promise<HandlerResult> {
  const connectionId = event.requestContext.connectionId;
  const connection = deps.store.connection(connectionId);
  deps.store.deleteConnection(connectionId);
  if (connection) {
    deps.log?.info('agent disconnected', {
      agent: connection.agentId,
      site: connection.site,
      connectionId,
      connectedForMs: (deps.now ?? Date.now)() - connection.connectedAt,
    });
  }
  return { statusCode: 200 };
}
