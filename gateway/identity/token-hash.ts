/**
 * How the gateway keeps bearer tokens it issued (agents' and readers'):
 * never the token, only salt || HMAC-SHA-256(salt, token text), 48 bytes.
 *
 * Why not scrypt: a slow hash protects low-entropy secrets (passwords)
 * against guessing, but these secrets are 256 uniformly random bits, which no
 * hashing speed makes guessable, while scrypt would cost CPU and memory on
 * every request (a cheap way to load the gateway). The salt keeps equal
 * inputs from giving equal rows and rules out precomputed tables. The MAC
 * covers the token *text*, so a token differing in any character (even the
 * last base64url character's unused bits) does not verify. Comparison is in
 * constant time (crypto.timingSafeEqual on equal lengths).
 */
import crypto from 'node:crypto';

const SALT_BYTES = 16;
const MAC_BYTES = 32;

/** A fresh secret part of a token: 32 random bytes in base64url (43 characters). */
export function tokenSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** What to store for `token`. */
export function hashToken(token: string): Buffer {
  const salt = crypto.randomBytes(SALT_BYTES);
  return Buffer.concat([salt, mac(salt, token)]);
}

/** Whether `token` is the one `stored` was made from. */
export function tokenMatches(stored: Buffer, token: string): boolean {
  if (stored.length !== SALT_BYTES + MAC_BYTES) return false;
  return crypto.timingSafeEqual(mac(stored.subarray(0, SALT_BYTES), token), stored.subarray(SALT_BYTES));
}

function mac(salt: Buffer, token: string): Buffer {
  return crypto.createHmac('sha256', salt).update(token, 'utf8').digest();
}
