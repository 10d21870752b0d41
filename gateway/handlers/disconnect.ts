/** `$disconnect`: forgets the connection (its sessions stay, to be resumed). */
import type { HandlerDeps, HandlerResult, WebSocketEvent } from './events.js';

export async function disconnectHandler(event: WebSocketEvent, deps: HandlerDeps): Promise<HandlerResult> {
  deps.store.deleteConnection(event.requestContext.connectionId);
  return { statusCode: 200 };
}
