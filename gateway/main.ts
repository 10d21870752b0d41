#!/usr/bin/env node
/**
 * optarc-gateway: the cloud side. It validates and shows its configuration,
 * manages agent identities (tokens, by site) in the gateway store, and serves
 * the gateway's handlers on the local host (`serve`: agents' websocket sessions
 * and the HTTP routes); the mirror and search services arrive with their issues.
 *
 * `serve` prints one JSON line `{"ready":true,"port":N}` once listening and
 * stops cleanly on SIGTERM or SIGINT (closing every agent's connection).
 *
 * `command` sends an operator's command to an agent through the running
 * gateway's HTTP API (POST /agents/ID/commands at gateway.http.host/port, with
 * gateway.adminToken as the bearer token when set); `--wait` then asks
 * (GET /agents/ID/commands/CMD) until the agent has answered.
 *
 * Exit status: 0 done, 1 failed (e.g. no such agent, cannot listen, a command
 * undelivered or answered failed), 2 usage error.
 */
import { createLogger } from '../clients/oncrpc/logger.js';
import { parseCommandLine } from '../config/command-line.js';
import { gatewayPaths } from '../config/schema.js';
import { MAX_REBURN_COPIES } from './handlers/agent-commands.js';
import { runSweep } from './handlers/sweep.js';
import { startLocalHost } from './host/local-host.js';
import { type AgentInfo, AgentTokens, checkSite, IdentityError } from './identity/agent-tokens.js';
import { type ReaderInfo, ReaderTokens } from './identity/reader-tokens.js';
import { AgentId, Vsn } from './protocol/session-messages.js';
import { ObjectStore } from './s3/object-store.js';
import { describeSearchIndex, openSearchIndex } from './search/open-index.js';
import { reindex } from './search/reindex.js';
import type { SearchIndex } from './search/search-index.js';
import { GatewayStore } from './store/gateway-store.js';

const PROGRAM = 'optarc-gateway';

const FLAGS = {
  'http-host': {
    setting: 'gateway.http.host',
    type: 'string',
    description: 'address the HTTP/websocket host listens on',
  },
  'http-port': { setting: 'gateway.http.port', type: 'string', description: 'HTTP/websocket port' },
} as const;

const COMMANDS = `commands:
  config                       print the effective gateway configuration (JSON)
  serve                        run the handlers on the local host (gateway.http.host/port)
  sweep                        abort multipart uploads abandoned longer than gateway.mirror.abandonAfterSeconds
  reindex                      rebuild the manifest index (gateway.search: SQLite index or postgresUrl)
                               from the manifests in S3 alone
  agents add --site SITE [--expires-days N]
                               issue a token for a new agent of SITE; the token is printed once
  agents list [--site SITE]    list agents (id, site, created, revoked), never their tokens
  agents revoke ID             revoke an agent: its token stops working
  readers add --site SITE [--site SITE2 ...] [--name TEXT] [--expires-days N]
                               issue a search reader token for those sites (GET /api/v1/..., the
                               search page at /search); the token is printed once
  readers list                 list readers (id, name, sites, dates), never their tokens
  readers revoke ID            revoke a reader: its token stops working
  (agents and readers commands take --json; the store is setting gateway.store)
  command AGENT_ID pause [--reason TEXT] | resume | throttle BYTES|none | verify VSN
          | reburn VSN [--copies N] [--wait] [--json]
                               send an operator command to an agent through the running gateway
                               (gateway.http.host/port, gateway.adminToken); BYTES per second, may end
                               in K, M or G (binary); none lifts the limit. reburn re-makes N (1-16,
                               default 1) discs of VSN from its cloud image: the agent answers with
                               the job it queued (follow it with optarc status JOB). --wait waits for the
                               agent's answer (at most --timeout SECONDS, default 600) and prints it;
                               exit 0 ok, 1 failed or undelivered, 2 usage`;

const { config, positionals, values } = parseCommandLine(
  PROGRAM,
  '<command> [options]',
  process.argv.slice(2),
  FLAGS,
  COMMANDS,
  {
    site: { type: 'string', multiple: true },
    name: { type: 'string' },
    json: { type: 'boolean' },
    'expires-days': { type: 'string' },
    wait: { type: 'boolean' },
    reason: { type: 'string' },
    timeout: { type: 'string' },
    copies: { type: 'string' },
  },
);

function usage(message: string): never {
  process.stderr.write(`${PROGRAM}: ${message} (see ${PROGRAM} --help)\n`);
  process.exit(2);
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const shown = (a: AgentInfo) => ({
  id: a.id,
  site: a.site,
  createdAt: iso(a.createdAt),
  revokedAt: iso(a.revokedAt),
  expiresAt: iso(a.expiresAt),
});

/** The --site values (repeatable for readers). */
const siteValues = (values.site as string[] | undefined) ?? [];

/** `--expires-days N` as an expiry time, for an add command. */
function expiryOf(command: string, sub: string | undefined): number | undefined {
  const days = values['expires-days'] as string | undefined;
  if (days === undefined) return undefined;
  if (sub !== 'add') usage(`--expires-days goes with ${command} add`);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(days) || Number(days) <= 0) usage('--expires-days takes a positive number of days');
  return Date.now() + Number(days) * 86_400_000;
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}

/** Runs `fn` on the gateway store; an IdentityError is told and exits 2 (a bad site) or 1. */
function withIdentities(fn: (store: GatewayStore) => void): void {
  const store = new GatewayStore(gatewayPaths(config.gateway).store);
  try {
    fn(store);
  } catch (e) {
    if (!(e instanceof IdentityError)) throw e;
    process.stderr.write(`${PROGRAM}: ${e.message}\n`);
    process.exitCode = e.code === 'BAD_SITE' ? 2 : 1;
  } finally {
    store.close();
  }
}

function agents(args: string[]): void {
  const [sub, ...rest] = args;
  if (siteValues.length > 1) usage('agents take one --site');
  const site = siteValues[0];
  const json = values.json === true;
  if (sub !== 'add' && sub !== 'list' && sub !== 'revoke') {
    usage(
      sub ? `unknown agents command '${sub}' (add, list or revoke)` : 'agents needs a command: add, list or revoke',
    );
  }
  if (sub === 'add' && site === undefined) usage('agents add needs --site SITE');
  const expiresAt = expiryOf('agents', sub);
  if (sub === 'revoke' && site !== undefined) usage('agents revoke takes an agent id, not --site');
  if (sub === 'revoke' && rest.length !== 1) usage('agents revoke needs exactly one agent id');
  if (sub !== 'revoke' && rest.length > 0) usage(`unexpected argument '${rest[0]}'`);
  if (site !== undefined) {
    try {
      checkSite(site);
    } catch (e) {
      usage((e as Error).message);
    }
  }

  withIdentities((store) => {
    const tokens = new AgentTokens(store);
    if (sub === 'add') {
      const { agent, token } = tokens.issue(site!, { expiresAt });
      if (json) {
        process.stdout.write(`${JSON.stringify({ ...shown(agent), token })}\n`);
      } else {
        process.stdout.write(
          `agent ${agent.id}\nsite ${agent.site}\n${agent.expiresAt === null ? '' : `expires ${iso(agent.expiresAt)}\n`}token ${token}\n`,
        );
        process.stderr.write(`${PROGRAM}: keep this token now: it is shown once and cannot be recovered\n`);
      }
    } else if (sub === 'list') {
      const list = tokens.list(site).map(shown);
      if (json) {
        process.stdout.write(`${JSON.stringify(list)}\n`);
      } else {
        printTable([
          ['ID', 'SITE', 'CREATED', 'REVOKED'],
          ...list.map((a) => [a.id, a.site, a.createdAt!, a.revokedAt ?? '-']),
        ]);
      }
    } else {
      const agent = tokens.revoke(rest[0]!);
      if (json) process.stdout.write(`${JSON.stringify(shown(agent))}\n`);
      else process.stdout.write(`agent ${agent.id} (site ${agent.site}) revoked at ${iso(agent.revokedAt)}\n`);
    }
  });
}

function readers(args: string[]): void {
  const [sub, ...rest] = args;
  const json = values.json === true;
  if (sub !== 'add' && sub !== 'list' && sub !== 'revoke') {
    usage(
      sub ? `unknown readers command '${sub}' (add, list or revoke)` : 'readers needs a command: add, list or revoke',
    );
  }
  if (sub === 'add' && siteValues.length === 0) usage('readers add needs --site SITE (repeat it for more sites)');
  if (sub !== 'add' && siteValues.length > 0) usage(`--site goes with readers add`);
  if (sub !== 'add' && values.name !== undefined) usage(`--name goes with readers add`);
  const expiresAt = expiryOf('readers', sub);
  if (sub === 'revoke' && rest.length !== 1) usage('readers revoke needs exactly one reader id');
  if (sub !== 'revoke' && rest.length > 0) usage(`unexpected argument '${rest[0]}'`);
  for (const site of siteValues) {
    try {
      checkSite(site);
    } catch (e) {
      usage((e as Error).message);
    }
  }
  const shownReader = (r: ReaderInfo) => ({
    ...r,
    createdAt: iso(r.createdAt),
    expiresAt: iso(r.expiresAt),
    revokedAt: iso(r.revokedAt),
  });
  withIdentities((store) => {
    const tokens = new ReaderTokens(store);
    if (sub === 'add') {
      const { reader, token } = tokens.issue(siteValues, {
        ...(values.name !== undefined ? { name: values.name as string } : {}),
        ...(expiresAt !== undefined ? { expiresAt } : {}),
      });
      if (json) process.stdout.write(`${JSON.stringify({ ...shownReader(reader), token })}\n`);
      else {
        process.stdout.write(
          `reader ${reader.id}\nsites ${reader.sites.join(' ')}\n${reader.expiresAt === null ? '' : `expires ${iso(reader.expiresAt)}\n`}token ${token}\n`,
        );
        process.stderr.write(`${PROGRAM}: keep this token now: it is shown once and cannot be recovered\n`);
      }
    } else if (sub === 'list') {
      const list = tokens.list().map(shownReader);
      if (json) process.stdout.write(`${JSON.stringify(list)}\n`);
      else
        printTable([
          ['ID', 'NAME', 'SITES', 'CREATED', 'EXPIRES', 'REVOKED'],
          ...list.map((r) => [
            r.id,
            r.name || '-',
            r.sites.join(','),
            r.createdAt!,
            r.expiresAt ?? '-',
            r.revokedAt ?? '-',
          ]),
        ]);
    } else {
      const reader = tokens.revoke(rest[0]!);
      if (json) process.stdout.write(`${JSON.stringify(shownReader(reader))}\n`);
      else process.stdout.write(`reader ${reader.id} revoked at ${iso(reader.revokedAt)}\n`);
    }
  });
}

/** The bucket from gateway.s3, created if asked; undefined (mirror refused, logged) when S3 is not configured. */
async function openBucket(log: ReturnType<typeof createLogger>): Promise<ObjectStore | undefined> {
  let objects: ObjectStore;
  try {
    objects = ObjectStore.fromConfig(config.gateway);
  } catch (e) {
    log.warn('no S3 bucket: mirror requests will be refused', { error: (e as Error).message });
    return undefined;
  }
  if (config.gateway.s3.createBucket) {
    try {
      await objects.ensureBucket();
    } catch (e) {
      // S3 may come up later: requests then succeed or answer S3_UNAVAILABLE
      log.warn('cannot make sure the bucket exists yet', { bucket: objects.bucket, error: (e as Error).message });
    }
  }
  return objects;
}

async function sweep(args: string[]): Promise<void> {
  if (args.length > 0) usage(`unexpected argument '${args[0]}'`);
  const log = createLogger('gateway', config.log.level);
  const store = new GatewayStore(gatewayPaths(config.gateway).store);
  const objects = await openBucket(log);
  try {
    if (!objects) {
      process.stderr.write(`${PROGRAM}: no S3 bucket configured (gateway.s3)\n`);
      process.exitCode = 1;
      return;
    }
    const r = await runSweep({ store, objects, settings: config.gateway, log, postToConnection: async () => {} });
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } finally {
    objects?.destroy();
    store.close();
  }
}

/** Rebuilds the manifest index from the bucket's manifests alone (into gateway.search.index). */
async function reindexCommand(args: string[]): Promise<void> {
  if (args.length > 0) usage(`unexpected argument '${args[0]}'`);
  const log = createLogger('gateway', config.log.level);
  const objects = await openBucket(log);
  if (!objects) {
    process.stderr.write(`${PROGRAM}: no S3 bucket configured (gateway.s3)\n`);
    process.exitCode = 1;
    return;
  }
  const index = await openSearchIndex(config.gateway);
  try {
    const r = await reindex(objects, index, config.gateway.mirror.maxManifestBytes);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    if (r.skipped.length > 0) process.exitCode = 1;
  } finally {
    await index.close();
    objects.destroy();
  }
}

async function serve(args: string[]): Promise<void> {
  if (args.length > 0) usage(`unexpected argument '${args[0]}'`);
  const log = createLogger('gateway', config.log.level);
  const store = new GatewayStore(gatewayPaths(config.gateway).store);
  let index: SearchIndex;
  try {
    index = await openSearchIndex(config.gateway);
  } catch (e) {
    store.close();
    process.stderr.write(
      `${PROGRAM}: cannot open the search index ${describeSearchIndex(config.gateway)}: ${(e as Error).message}\n`,
    );
    process.exit(1);
  }
  const objects = await openBucket(log);
  // the search page downloads restore ranges straight from the bucket
  await objects?.allowBrowserDownloads().catch((e) =>
    log.warn('cannot allow browser downloads (bucket CORS): the search page cannot download', {
      error: (e as Error).message,
    }),
  );
  let host: Awaited<ReturnType<typeof startLocalHost>>;
  try {
    host = await startLocalHost({
      host: config.gateway.http.host,
      port: config.gateway.http.port,
      store,
      objects,
      index,
      settings: config.gateway,
      log,
    });
  } catch (e) {
    await index.close();
    store.close();
    process.stderr.write(`${PROGRAM}: cannot listen: ${(e as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(
    `${JSON.stringify({ ready: true, port: host.port, bucket: objects?.bucket ?? null, index: index.backend })}\n`,
  );
  const sweepMs = config.gateway.mirror.sweepEverySeconds * 1000;
  const sweeper =
    objects && sweepMs > 0
      ? setInterval(() => {
          runSweep({ store, objects, settings: config.gateway, log, postToConnection: async () => {} }).catch((e) =>
            log.warn('sweep failed', { error: (e as Error).message }),
          );
        }, sweepMs)
      : undefined;
  sweeper?.unref();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    if (sweeper) clearInterval(sweeper);
    await host.close();
    objects?.destroy();
    await index.close();
    store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** `BYTES[K|M|G]` (binary multiples) as bytes per second, or null for `none`; undefined when malformed. */
function parseRate(text: string): number | null | undefined {
  if (text === 'none') return null;
  const m = /^([0-9]+)([KMG]?)$/i.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase());
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

/** The running gateway's base URL (a wildcard listen address is reached on loopback). */
function gatewayBaseUrl(): string {
  let host = config.gateway.http.host;
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.gateway.http.port}`;
}

async function command(args: string[]): Promise<void> {
  const [agentId, type, arg, ...extra] = args;
  const SYNTAX = 'command AGENT_ID pause | resume | throttle BYTES|none | verify VSN | reburn VSN [--copies N]';
  if (!agentId || !type) usage(`command needs an agent and a command: ${SYNTAX}`);
  if (!AgentId.safeParse(agentId).success) usage(`'${agentId}' is not an agent id`);
  const body: Record<string, unknown> = { type };
  switch (type) {
    case 'pause':
    case 'resume':
      if (arg !== undefined) usage(`unexpected argument '${arg}'`);
      break;
    case 'throttle': {
      if (arg === undefined) usage('throttle needs BYTES per second (e.g. 1048576 or 1M) or none');
      const rate = parseRate(arg);
      if (rate === undefined)
        usage(`throttle: '${arg}' is not a number of bytes per second (e.g. 1048576, 1M) or none`);
      body.bytesPerSecond = rate;
      break;
    }
    case 'verify':
      if (arg === undefined) usage('verify needs the volume serial: verify VSN');
      if (!Vsn.safeParse(arg).success) usage(`verify: '${arg}' is not a volume serial (1-32 of A-Z, 0-9, _)`);
      body.vsn = arg;
      break;
    case 'reburn': {
      if (arg === undefined) usage('reburn needs the volume serial: reburn VSN [--copies N]');
      if (!Vsn.safeParse(arg).success) usage(`reburn: '${arg}' is not a volume serial (1-32 of A-Z, 0-9, _)`);
      body.vsn = arg;
      const copiesText = (values.copies as string | undefined) ?? '1';
      if (!/^[0-9]{1,2}$/.test(copiesText) || Number(copiesText) < 1 || Number(copiesText) > MAX_REBURN_COPIES)
        usage(`reburn: --copies is 1 to ${MAX_REBURN_COPIES} new copies, not '${copiesText}'`);
      body.copies = Number(copiesText);
      break;
    }
    default:
      usage(`unknown command '${type}': ${SYNTAX}`);
  }
  if (extra.length > 0) usage(`unexpected argument '${extra[0]}'`);
  if (values.copies !== undefined && type !== 'reburn') usage('--copies goes with reburn');
  const reason = values.reason as string | undefined;
  if (reason !== undefined) {
    if (type !== 'pause') usage('--reason goes with pause');
    body.reason = reason;
  }
  const timeoutText = values.timeout as string | undefined;
  if (timeoutText !== undefined && (!values.wait || !/^[0-9]+(\.[0-9]+)?$/.test(timeoutText)))
    usage(values.wait ? '--timeout takes a number of seconds' : '--timeout goes with --wait');
  const timeoutMs = (timeoutText === undefined ? 600 : Number(timeoutText)) * 1000;
  const json = values.json === true;

  const base = gatewayBaseUrl();
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (config.gateway.adminToken) headers.authorization = `Bearer ${config.gateway.adminToken}`;
  const call = async (method: 'GET' | 'POST', path: string, payload?: unknown) => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: payload === undefined ? undefined : JSON.stringify(payload),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      const cause = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
      process.stderr.write(
        `${PROGRAM}: cannot reach the gateway at ${base}: ${cause} (is optarc-gateway serve running?)\n`,
      );
      process.exit(1);
    }
    const text = await res.text();
    let value: any;
    try {
      value = JSON.parse(text);
    } catch {
      value = { message: text.trim() };
    }
    if (!res.ok) {
      process.stderr.write(`${PROGRAM}: the gateway answered ${res.status}: ${value?.message ?? text.trim()}\n`);
      process.exit(res.status === 400 ? 2 : 1);
    }
    return value;
  };

  const path = `/agents/${encodeURIComponent(agentId)}/commands`;
  const sent = (await call('POST', path, body)) as { id: string; delivered: boolean; state: string };
  if (!sent.delivered) {
    const later =
      type === 'verify' || type === 'reburn'
        ? 'send it again once the agent is connected'
        : 'it applies when the agent next connects';
    if (json) process.stdout.write(`${JSON.stringify(await call('GET', `${path}/${sent.id}`))}\n`);
    else
      process.stdout.write(`command ${sent.id} ${type}: undelivered: agent ${agentId} is not connected (${later})\n`);
    process.exitCode = 1;
    return;
  }
  if (!values.wait) {
    if (json) process.stdout.write(`${JSON.stringify(sent)}\n`);
    else process.stdout.write(`command ${sent.id} ${type}: sent to agent ${agentId}\n`);
    return;
  }
  const deadline = Date.now() + timeoutMs;
  let row: { id: string; state: string; detail: string };
  for (;;) {
    row = await call('GET', `${path}/${sent.id}`);
    if (row.state !== 'sent' || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (json) process.stdout.write(`${JSON.stringify(row)}\n`);
  if (row.state === 'sent') {
    if (!json)
      process.stdout.write(`command ${row.id} ${type}: no answer from agent ${agentId} within ${timeoutMs / 1000} s\n`);
    process.exitCode = 1;
    return;
  }
  if (!json) process.stdout.write(`command ${row.id} ${type}: ${row.state}${row.detail ? `: ${row.detail}` : ''}\n`);
  process.exitCode = row.state === 'ok' ? 0 : 1;
}

const [commandName, ...args] = positionals;
if (commandName === 'config') {
  // secrets are shown as set, never printed
  const shownGateway = {
    ...config.gateway,
    ...(config.gateway.adminToken ? { adminToken: '(set)' } : {}),
    s3: { ...config.gateway.s3, ...(config.gateway.s3.secretAccessKey ? { secretAccessKey: '(set)' } : {}) },
    search: {
      ...config.gateway.search,
      ...(config.gateway.search.postgresUrl ? { postgresUrl: describeSearchIndex(config.gateway) } : {}),
      ...(config.gateway.search.cursorKey ? { cursorKey: '(set)' } : {}),
    },
  };
  process.stdout.write(`${JSON.stringify({ log: config.log, gateway: shownGateway }, null, 2)}\n`);
} else if (commandName === 'agents') {
  agents(args);
} else if (commandName === 'readers') {
  readers(args);
} else if (commandName === 'serve') {
  await serve(args);
} else if (commandName === 'sweep') {
  await sweep(args);
} else if (commandName === 'reindex') {
  await reindexCommand(args);
} else if (commandName === 'command') {
  await command(args);
} else {
  usage(commandName ? `unknown command '${commandName}'` : 'no command given');
}
