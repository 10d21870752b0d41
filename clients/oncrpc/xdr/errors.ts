/**
 * Typed XDR failures. Every decoder error carries a code a caller can act on:
 * a server turns any of them into GARBAGE_ARGS, a client into a clear message.
 */
export type XdrErrorCode =
  | 'XDR_SHORT' // fewer bytes remain than the field needs
  | 'XDR_TOO_LONG' // a length exceeds the declared maximum
  | 'XDR_RANGE' // a number does not fit the declared type
  | 'XDR_BAD_ENUM' // a value that the enum does not declare
  | 'XDR_BAD_BOOL' // a boolean (or optional-data flag) that is neither 0 nor 1
  | 'XDR_BAD_UNION' // a discriminant with no arm and no default
  | 'XDR_CHARSET' // text that cannot be represented in the declared charset
  | 'XDR_TRAILING' // bytes left over after a complete value
  | 'XDR_TYPE'; // a JavaScript value of the wrong kind handed to an encoder

export class XdrError extends Error {
  readonly code: XdrErrorCode;
  constructor(code: XdrErrorCode, message: string) {
    super(message);
    this.name = 'XdrError';
    this.code = code;
  }
}
