/**
 * The PostgreSQL the tests share: one private cluster in var/test-pg, started by
 * the first test that needs it (startPostgres holds a lock, so test files
 * starting it at once get the same cluster) and left running for the next test
 * run (`node dist/infra/postgres/postgres.js stop --dir var/test-pg` stops it).
 * Each test makes its own database, so tests never see each other's rows; the
 * databases of test processes that have exited are dropped when the next test
 * process first uses the cluster.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { postgresMissing as missing, type PostgresInfo, startPostgres } from '../../infra/postgres/postgres.js';
import { ROOT } from './processes.js';

export const TEST_PG_DIR = path.join(ROOT, 'var/test-pg');
const PREFIX = 'optarc_test_';

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresMissing(): string | undefined {
  return missing();
}

let shared: Promise<PostgresInfo> | undefined;

/** The shared test cluster, started on first use (any free port). */
export function sharedPostgres(): Promise<PostgresInfo> {
  shared ??= startPostgres({ dir: TEST_PG_DIR, port: 0 }).then(async (info) => {
    await dropLeftovers(info);
    return info;
  });
  return shared;
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Drop the databases made by test processes that are gone (named optarc_test_<pid>_<random>). */
async function dropLeftovers(info: PostgresInfo): Promise<void> {
  await withClient(info.url, async (c) => {
    const { rows } = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `${PREFIX}%`,
    ]);
    for (const { datname } of rows) {
      const pid = Number(/^optarc_test_(\d+)_/.exec(datname)?.[1]);
      if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
      await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
    }
  });
}

/** A new, empty database on `pgInfo`: its URL. */
export async function freshDatabase(pgInfo: PostgresInfo): Promise<string> {
  const name = `${PREFIX}${process.pid}_${crypto.randomBytes(6).toString('hex')}`;
  await withClient(pgInfo.url, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(pgInfo.url);
  url.pathname = `/${name}`;
  return url.toString();
}
