/**
 * Encoding and decoding of session messages (session-messages.ts). Decoding
 * never throws: any input yields either the validated message or an error with
 * a code and a readable text naming the first bad field. Encoding validates
 * too, and throws ProtocolError: sending a bad message is the sender's bug.
 *
 * Every encoded message is at most 1 MiB of UTF-8. A `plan` batch is bounded by
 * both MAX_PARTS_PER_BATCH and this limit: with realistic presigned URLs
 * (1-2 KiB) 1000 parts fit; the gateway sizes its batches with
 * encodedSize() when its URLs are longer.
 */
import type { z } from 'zod';
import {
  AGENT_SCHEMAS,
  type AgentMessage,
  GATEWAY_SCHEMAS,
  type GatewayMessage,
  PROTOCOL_VERSION,
} from './session-messages.js';

export const MAX_MESSAGE_BYTES = 1024 * 1024;

export type DecodeErrorCode = 'BAD_JSON' | 'TOO_LARGE' | 'BAD_MESSAGE' | 'VERSION';
export interface DecodeError {
  code: DecodeErrorCode;
  message: string;
}
export type DecodeResult<M> = { ok: true; message: M } | { ok: false; error: DecodeError };

export class ProtocolError extends Error {
  constructor(
    readonly code: DecodeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** `parts[3].url` style; `(message)` for the root. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_$][\w$]*$/.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out === '' ? '(message)' : out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const [key] = issue.keys;
    return `${formatPath([...issue.path, key])}: unknown field`;
  }
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) {
    return `${formatPath(issue.path)}: required (${issue.expected})`;
  }
  return `${formatPath(issue.path)}: ${issue.message}`;
}

function fail<M>(code: DecodeErrorCode, message: string): DecodeResult<M> {
  return { ok: false, error: { code, message } };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** UTF-8 length, cheaply refusing strings that are certainly too long (a UTF-16 unit is ≥ 1 UTF-8 byte). */
function tooLarge(text: string): boolean {
  return text.length > MAX_MESSAGE_BYTES || Buffer.byteLength(text, 'utf8') > MAX_MESSAGE_BYTES;
}

function shortText(value: unknown): string {
  const s = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** Validates an already-parsed value against one direction's schemas. */
function validate<M>(
  value: unknown,
  schemas: Readonly<Record<string, z.ZodType<M>>>,
  direction: string,
): DecodeResult<M> {
  if (!isPlainObject(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    return fail('BAD_MESSAGE', `(message): must be a JSON object, got ${kind}`);
  }
  if (!Object.hasOwn(value, 'v')) return fail('BAD_MESSAGE', 'v: required (protocol version)');
  if (value.v !== PROTOCOL_VERSION) {
    return fail(
      'VERSION',
      `v: protocol version ${shortText(value.v)} is not supported (this end speaks ${PROTOCOL_VERSION})`,
    );
  }
  const type = value.type;
  if (typeof type !== 'string') return fail('BAD_MESSAGE', 'type: required string');
  if (!Object.hasOwn(schemas, type)) {
    return fail('BAD_MESSAGE', `type: unknown ${direction} message type ${shortText(type)}`);
  }
  let parsed: ReturnType<z.ZodType<M>['safeParse']>;
  try {
    parsed = schemas[type].safeParse(value);
  } catch (err) {
    return fail('BAD_MESSAGE', `(message): ${err instanceof Error ? err.message : 'cannot be validated'}`);
  }
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    return fail('BAD_MESSAGE', issue ? describeIssue(issue) : '(message): invalid');
  }
  return { ok: true, message: parsed.data };
}

function decode<M>(text: unknown, schemas: Readonly<Record<string, z.ZodType<M>>>, direction: string): DecodeResult<M> {
  try {
    if (typeof text !== 'string') return fail('BAD_JSON', `(message): expected JSON text, got ${typeof text}`);
    if (tooLarge(text)) return fail('TOO_LARGE', `(message): larger than ${MAX_MESSAGE_BYTES} bytes`);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return fail('BAD_JSON', `(message): not JSON: ${err instanceof Error ? err.message : 'parse error'}`);
    }
    return validate(value, schemas, direction);
  } catch {
    // Nothing above should throw (a deep-nesting stack overflow is the only conceivable case).
    return fail('BAD_MESSAGE', '(message): cannot be decoded');
  }
}

/** Decodes what an agent sent (the gateway's side). Never throws. */
export function decodeAgentMessage(text: string): DecodeResult<AgentMessage> {
  return decode(text, AGENT_SCHEMAS, 'agent');
}

/** Decodes what the gateway sent (the agent's side). Never throws. */
export function decodeGatewayMessage(text: string): DecodeResult<GatewayMessage> {
  return decode(text, GATEWAY_SCHEMAS, 'gateway');
}

/** UTF-8 size of a message's encoding, without validating it. */
export function encodedSize(message: AgentMessage | GatewayMessage): number {
  return Buffer.byteLength(JSON.stringify(message), 'utf8');
}

/**
 * Validates and serialises a message of either direction. Throws ProtocolError
 * (BAD_MESSAGE, VERSION or TOO_LARGE) when it could not be decoded at the other end.
 */
export function encodeMessage(message: AgentMessage | GatewayMessage): string {
  const type = (message as { type?: unknown } | null)?.type;
  const schemas: Readonly<Record<string, z.ZodType<AgentMessage | GatewayMessage>>> =
    typeof type === 'string' && Object.hasOwn(AGENT_SCHEMAS, type) ? AGENT_SCHEMAS : GATEWAY_SCHEMAS;
  const checked = validate(message, schemas, 'known');
  if (!checked.ok) throw new ProtocolError(checked.error.code, checked.error.message);
  const text = JSON.stringify(checked.message);
  if (tooLarge(text)) {
    throw new ProtocolError('TOO_LARGE', `(message): ${type} encodes to more than ${MAX_MESSAGE_BYTES} bytes`);
  }
  return text;
}
