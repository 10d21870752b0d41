/** `GET /healthz`: 200 while the store answers. */
import type { HandlerDeps, HandlerResult, HttpEvent } from './events.js';

export async function healthHandler(_event: HttpEvent, deps: HandlerDeps): Promise<HandlerResult> {
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ok: true, storeVersion: deps.store.version() }),
  };
}
