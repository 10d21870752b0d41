/**
 * Search readers: a person or program allowed to read the manifest index of
 * some sites, and nothing else. `optarc-gateway readers add --site A [--site B]`
 * issues a token and prints it once; the store keeps its hash (token-hash.ts).
 * A reader of site A never sees site B: every query the search API runs is
 * scoped to the reader's sites, and naming another site is refused.
 *
 * Token format: `or_<readerId>_<secret>` (readerId 16 lowercase hex digits,
 * secret 43 base64url characters). The gateway's admin token, when one is
 * configured, reads every site.
 *
 * Errors (IdentityError): malformed → BAD_TOKEN, no such reader → UNKNOWN_READER,
 * MAC differs → BAD_TOKEN, revoked → REVOKED, past its expiry → EXPIRED. The
 * search API answers all of them 401 alike.
 */
import crypto from 'node:crypto';
import type { GatewayStore, ReaderRow } from '../store/gateway-store.js';
import { checkSite, IdentityError } from './agent-tokens.js';
import { hashToken, tokenMatches, tokenSecret } from './token-hash.js';

/** A reader as shown to people: never its hash. */
export interface ReaderInfo {
  id: string;
  name: string;
  sites: string[];
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

const READER_ID_PATTERN = /^[0-9a-f]{16}$/;
const TOKEN_PATTERN = /^or_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

function info(r: ReaderRow): ReaderInfo {
  return {
    id: r.id,
    name: r.name,
    sites: r.sites,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    revokedAt: r.revokedAt,
  };
}

export class ReaderTokens {
  constructor(
    private readonly store: GatewayStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new reader of `sites` and its token; the token is returned here and nowhere else, ever. */
  issue(sites: string[], options: { name?: string; expiresAt?: number } = {}): { reader: ReaderInfo; token: string } {
    if (sites.length === 0) throw new IdentityError('BAD_SITE', 'a reader needs at least one site');
    const unique = [...new Set(sites.map(checkSite))].sort();
    const id = crypto.randomBytes(8).toString('hex');
    const token = `or_${id}_${tokenSecret()}`;
    const row = {
      id,
      name: (options.name ?? '').slice(0, 200),
      sites: unique,
      tokenHash: hashToken(token),
      createdAt: this.now(),
      expiresAt: options.expiresAt ?? null,
    };
    this.store.insertReader(row);
    return { reader: info({ ...row, revokedAt: null }), token };
  }

  /** The reader a token belongs to; throws IdentityError unless it is good, current and not revoked. */
  verify(token: string): ReaderInfo {
    const m = TOKEN_PATTERN.exec(token);
    if (!m) throw new IdentityError('BAD_TOKEN', 'malformed reader token');
    const row = this.store.reader(m[1]!);
    if (!row) throw new IdentityError('UNKNOWN_READER', `unknown reader ${m[1]}`);
    if (!tokenMatches(row.tokenHash, token)) throw new IdentityError('BAD_TOKEN', 'reader token does not match');
    if (row.revokedAt !== null) throw new IdentityError('REVOKED', `reader ${row.id} was revoked`);
    if (row.expiresAt !== null && this.now() >= row.expiresAt) {
      throw new IdentityError(
        'EXPIRED',
        `reader ${row.id}'s token expired at ${new Date(row.expiresAt).toISOString()}`,
      );
    }
    return info(row);
  }

  revoke(id: string): ReaderInfo {
    if (!READER_ID_PATTERN.test(id) || !this.store.reader(id)) {
      throw new IdentityError('UNKNOWN_READER', `unknown reader ${JSON.stringify(id)}`);
    }
    this.store.revokeReader(id, this.now());
    return info(this.store.reader(id)!);
  }

  list(): ReaderInfo[] {
    return this.store.readers().map(info);
  }
}
