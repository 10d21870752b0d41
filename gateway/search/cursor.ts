/**
 * Page cursors: opaque to clients, checked by the gateway. A cursor is
 * `base64url(JSON) . base64url(MAC)`, the MAC an HMAC-SHA-256 (first 16 bytes)
 * under a key the gateway store makes once, over the JSON; the JSON holds
 * where the page ended and a digest of the query it belongs to. A cursor
 * whose bytes were changed (BAD_CURSOR: tampered) or that is sent with other
 * filters than its own (BAD_CURSOR: belongs to another query) is refused, so
 * a client can neither forge a position nor carry one into another query.
 * Cursors do not expire; they are only positions in a stable order.
 */
import crypto from 'node:crypto';
import { z } from 'zod';

export class CursorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CursorError';
  }
}

const MAC_BYTES = 16;
export const MAX_CURSOR_CHARS = 2048;

/** A digest of the query's filters (everything but the cursor and the page size). */
export function queryDigest(filters: Record<string, unknown>): string {
  const canonical = JSON.stringify(Object.entries(filters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return crypto.createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}

export function encodeCursor(key: Buffer, digest: string, position: unknown): string {
  const body = Buffer.from(JSON.stringify({ q: digest, p: position })).toString('base64url');
  return `${body}.${mac(key, body)}`;
}

/** The position a cursor holds, checked by `schema`; throws CursorError. */
export function decodeCursor<T>(key: Buffer, digest: string, cursor: string, schema: z.ZodType<T>): T {
  if (cursor.length > MAX_CURSOR_CHARS) throw new CursorError('the cursor is too long: pass `next` unchanged');
  const [body, tag, extra] = cursor.split('.');
  if (body === undefined || tag === undefined || extra !== undefined) {
    throw new CursorError('malformed cursor: pass `next` unchanged');
  }
  const expected = Buffer.from(mac(key, body));
  const given = Buffer.from(tag);
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new CursorError('the cursor was altered or was not made by this gateway');
  }
  const parsed = z
    .object({ q: z.string(), p: schema })
    .safeParse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')));
  if (!parsed.success) throw new CursorError('the cursor is not one this gateway understands');
  if (parsed.data.q !== digest) {
    throw new CursorError(
      'the cursor belongs to another query: send it with the same filters as the page it came from',
    );
  }
  return parsed.data.p;
}

function mac(key: Buffer, body: string): string {
  return crypto.createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES).toString('base64url');
}
