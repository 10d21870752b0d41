/**
 * The error a handler raises to answer a request with an `error` message: a
 * code an agent can act on (UPPER_SNAKE, as the protocol requires) and a text
 * for people. message.ts turns it into the reply; anything else thrown is a
 * gateway fault (logged, answered INTERNAL).
 */
export class HandlerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HandlerError';
  }
}
