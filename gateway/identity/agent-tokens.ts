/**
 * Agent identity: each edge agent holds a bearer token the gateway issued for
 * one site. `optarc-gateway agents add --site S` makes one and prints it once;
 * the gateway keeps only a hash of it, so the store leaking does not leak tokens.
 *
 * Token format: `oa_<agentId>_<secret>`, where agentId is 16 lowercase hex digits
 * (8 random bytes; it names the agent, it is not secret) and secret is 32 random
 * bytes in base64url (43 characters, no padding).
 *
 * Hash: salt || HMAC-SHA-256 of the token text (token-hash.ts); the store
 * never holds a token.
 *
 * The answer's order: malformed → BAD_TOKEN, no such agent → UNKNOWN_AGENT,
 * MAC differs → BAD_TOKEN, revoked → REVOKED, past its expiry → EXPIRED; so
 * only the holder of the real token learns that it has been revoked or expired.
 *
 * Sites: `[a-z0-9][a-z0-9-]{0,62}` (as the agent's burn.site). Every S3 key an
 * agent is given access to lies under siteKeyPrefix(site) = `sites/<site>/`.
 */
import crypto from 'node:crypto';
import type { AgentRow, GatewayStore } from '../store/gateway-store.js';
import { hashToken, tokenMatches, tokenSecret } from './token-hash.js';

export type IdentityErrorCode = 'UNKNOWN_AGENT' | 'UNKNOWN_READER' | 'REVOKED' | 'EXPIRED' | 'BAD_TOKEN' | 'BAD_SITE';

export class IdentityError extends Error {
  readonly code: IdentityErrorCode;
  constructor(code: IdentityErrorCode, message: string) {
    super(message);
    this.name = 'IdentityError';
    this.code = code;
  }
}

/** An agent as shown to people and to the rest of the gateway: never its hash. */
export interface AgentInfo {
  id: string;
  site: string;
  createdAt: number;
  revokedAt: number | null;
  /** When the token stops working (null: never). */
  expiresAt: number | null;
}

export const SITE_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const AGENT_ID_PATTERN = /^[0-9a-f]{16}$/;
const TOKEN_PATTERN = /^oa_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function isValidSite(site: string): boolean {
  return SITE_PATTERN.test(site);
}

/** Throws BAD_SITE unless `site` is a valid site name. */
export function checkSite(site: string): string {
  if (!isValidSite(site)) {
    throw new IdentityError(
      'BAD_SITE',
      `bad site ${JSON.stringify(site)}: a site is 1-63 of lowercase letters, digits and dashes, starting with a letter or digit`,
    );
  }
  return site;
}

/** The S3 key prefix every key of `site` lies under: `sites/<site>/`. */
export function siteKeyPrefix(site: string): string {
  return `sites/${checkSite(site)}/`;
}

function info(row: AgentRow): AgentInfo {
  return { id: row.id, site: row.site, createdAt: row.createdAt, revokedAt: row.revokedAt, expiresAt: row.expiresAt };
}

export interface AgentTokensOptions {
  now?: () => number;
}

export class AgentTokens {
  private readonly now: () => number;

  constructor(
    private readonly store: GatewayStore,
    options: AgentTokensOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** A new agent for `site` and its token; the token is returned here and nowhere else, ever. */
  issue(site: string, options: { expiresAt?: number } = {}): { agent: AgentInfo; token: string } {
    checkSite(site);
    const expiresAt = options.expiresAt ?? null;
    const id = crypto.randomBytes(8).toString('hex');
    const token = `oa_${id}_${tokenSecret()}`;
    const createdAt = this.now();
    this.store.insertAgent({ id, site, tokenHash: hashToken(token), createdAt });
    if (expiresAt !== null) this.store.setAgentExpiry(id, expiresAt);
    return { agent: { id, site, createdAt, revokedAt: null, expiresAt }, token };
  }

  /** The agent a token belongs to; throws IdentityError unless the token is good and not revoked. */
  verify(token: string): AgentInfo {
    const m = TOKEN_PATTERN.exec(token);
    if (!m) throw new IdentityError('BAD_TOKEN', 'malformed agent token');
    const row = this.store.agent(m[1]!);
    if (!row) throw new IdentityError('UNKNOWN_AGENT', `unknown agent ${m[1]}`);
    if (!tokenMatches(row.tokenHash, token)) throw new IdentityError('BAD_TOKEN', 'agent token does not match');
    if (row.revokedAt !== null) throw new IdentityError('REVOKED', `agent ${row.id} was revoked`);
    if (row.expiresAt !== null && this.now() >= row.expiresAt) {
      throw new IdentityError('EXPIRED', `agent ${row.id}'s token expired at ${new Date(row.expiresAt).toISOString()}`);
    }
    return info(row);
  }

  /** Revokes an agent (its token stops verifying); revoking twice keeps the first time. */
  revoke(id: string): AgentInfo {
    if (!AGENT_ID_PATTERN.test(id) || !this.store.agent(id)) {
      throw new IdentityError('UNKNOWN_AGENT', `unknown agent ${JSON.stringify(id)}`);
    }
    this.store.revokeAgent(id, this.now());
    return info(this.store.agent(id)!);
  }

  /** Agents, oldest first, of one site when given (a bad site is BAD_SITE). */
  list(site?: string): AgentInfo[] {
    if (site !== undefined) checkSite(site);
    return this.store.agents(site).map(info);
  }
}
