/**
 * Which index the gateway's configuration names: PostgreSQL when
 * gateway.search.postgresUrl is set (a database many gateway instances
 * share), else the embedded SQLite file (gateway.search.index).
 */
import { type Config, gatewayPaths } from '../../config/schema.js';
import { PostgresIndex } from './postgres-index.js';
import type { SearchIndex } from './search-index.js';
import { SqliteIndex } from './sqlite-index.js';

export async function openSearchIndex(gateway: Config['gateway']): Promise<SearchIndex> {
  if (gateway.search.postgresUrl) return PostgresIndex.open(gateway.search.postgresUrl);
  return new SqliteIndex(gatewayPaths(gateway).index);
}

/** Where the index is, for people: the SQLite file, or the PostgreSQL URL without its password. */
export function describeSearchIndex(gateway: Config['gateway']): string {
  if (!gateway.search.postgresUrl) return gatewayPaths(gateway).index;
  try {
    const u = new URL(gateway.search.postgresUrl);
    if (u.password) u.password = '(set)';
    return u.toString();
  } catch {
    return 'postgres (unparsable URL)';
  }
}
