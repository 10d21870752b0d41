/**
 * `optarc get` and `optarc pickup`: retrieving archived files over RPC.
 *
 * get RETRIEVEs a file by path or SHA-256: online (the default) the agent
 * reads it off a loaded disc now and the command follows RETRIEVE_STATUS
 * until it is ready, then collects it; --offline queues it by priority and
 * deadline and prints the token (with --wait: follows and collects it).
 * pickup collects an offline retrieval by its token, or says it is not ready
 * yet (exit 8). Collecting reads RETRIEVE_CACHED chunks into a temporary file
 * next to --output, hashing them, and renames it into place only when size
 * and SHA-256 match what the agent announced; without --output the data goes
 * to stdout and a mismatch fails the command at the end.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { RpcError } from '../../oncrpc/index.js';
import {
  OPTARC_MAX_DATA,
  type OptarcRetrieval,
  OptarcRetrievalState,
  OptarcRetrieveMode,
  OptarcStatus,
} from '../../protocol/generated/optarc.js';
import { type AgentClient, AgentError } from '../agent-client.js';
import { type CommandContext, NothingFound, NotReadyYet, UsageError } from './command-context.js';

/** Between two RETRIEVE_STATUS calls while waiting. */
const POLL_MS = 1000;
/** What an offline retrieval gets without --priority. */
const DEFAULT_PRIORITY = 3;

const STATE_NAMES: Record<number, string> = {
  [OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED]: 'queued',
  [OptarcRetrievalState.OPTARC_RETRIEVAL_FETCHING]: 'fetching',
  [OptarcRetrievalState.OPTARC_RETRIEVAL_READY]: 'ready',
  [OptarcRetrievalState.OPTARC_RETRIEVAL_FAILED]: 'failed',
  [OptarcRetrievalState.OPTARC_RETRIEVAL_COLLECTED]: 'collected',
  [OptarcRetrievalState.OPTARC_RETRIEVAL_EXPIRED]: 'expired',
};

/** A retrieval as --json prints it: names for enums, text for path bytes, hex for the SHA-256. */
export function retrievalJson(r: OptarcRetrieval): Record<string, unknown> {
  return {
    token: r.token,
    state: STATE_NAMES[r.state] ?? `state ${r.state}`,
    mode: r.mode === OptarcRetrieveMode.OPTARC_OFFLINE ? 'offline' : 'online',
    priority: r.priority,
    position: r.position,
    deadline: r.deadline.seconds === 0n ? null : new Date(Number(r.deadline.seconds) * 1000).toISOString(),
    vsn: r.vsn,
    path: r.path.toString(),
    size: r.size,
    sha256: r.sha256.toString('hex'),
    source: r.source,
    percent: r.percent,
    expires: r.expires.seconds === 0n ? null : new Date(Number(r.expires.seconds) * 1000).toISOString(),
    message: r.message,
  };
}

/** "queued at priority 3, position 12", "fetching 40% from cloud", "ready". */
function stateText(r: OptarcRetrieval): string {
  switch (r.state) {
    case OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED:
      return r.mode === OptarcRetrieveMode.OPTARC_OFFLINE
        ? `queued at priority ${r.priority}, position ${r.position}`
        : 'queued';
    case OptarcRetrievalState.OPTARC_RETRIEVAL_FETCHING:
      return `fetching ${r.percent}%${r.source ? ` from ${r.source}` : ''}`;
    default:
      return STATE_NAMES[r.state] ?? `state ${r.state}`;
  }
}

function isSha256(s: string): boolean {
  return /^[0-9a-fA-F]{64}$/.test(s);
}

/** --deadline: an ISO date (or anything Date.parse takes), or seconds since 1970. */
function parseDeadline(text: string | undefined): bigint {
  if (text === undefined) return 0n;
  if (/^[0-9]{1,12}$/.test(text)) return BigInt(text);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new UsageError(`--deadline takes a date such as 2026-12-01T18:00:00Z, not ${text}`);
  if (ms < 0) throw new UsageError(`--deadline ${text} is before 1970`);
  return BigInt(Math.floor(ms / 1000));
}

function parsePriority(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PRIORITY;
  if (!/^[1-5]$/.test(text)) throw new UsageError(`--priority takes 1 (first) to 5, not ${text}`);
  return Number(text);
}

/** Stands for the agent's own failure statuses when the check fails here: exit 4, OPTARC_CORRUPT. */
function corrupt(message: string): AgentError {
  return new AgentError(OptarcStatus.OPTARC_CORRUPT, {
    detail: { tag: OptarcStatus.OPTARC_CORRUPT, value: undefined },
    message,
  });
}

/**
 * RETRIEVE_STATUS until the retrieval is READY: progress lines on stderr when
 * asked for; without `wait`, a retrieval not ready yet is NotReadyYet (exit 8).
 * A failed, collected or expired retrieval is the agent's failure status,
 * which RETRIEVE_CACHED gives it (CORRUPT, NO_SOURCE, EXPIRED: exit 4).
 */
async function untilReady(
  ctx: CommandContext,
  agent: AgentClient,
  token: string,
  wait: boolean,
): Promise<OptarcRetrieval> {
  let last = '';
  for (;;) {
    const r = await agent.retrieveStatus(token);
    switch (r.state) {
      case OptarcRetrievalState.OPTARC_RETRIEVAL_READY:
        if (ctx.progress && last) process.stderr.write(`${token} ready${r.source ? ` from ${r.source}` : ''}\n`);
        return r;
      case OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED:
      case OptarcRetrievalState.OPTARC_RETRIEVAL_FETCHING: {
        const text = stateText(r);
        if (!wait)
          throw new NotReadyYet(
            `${token} is not ready yet: ${text}; pick it up later (optarc pickup ${token}), or with --wait`,
          );
        if (ctx.progress && text !== last) process.stderr.write(`${token} ${text}\n`);
        last = text;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        break;
      }
      default: {
        // the agent's status for it: RETRIEVE_CACHED answers CORRUPT, NO_SOURCE or EXPIRED
        await agent.retrieveCached(token, 0n, 1);
        throw new Error(
          `${token} is ${STATE_NAMES[r.state] ?? r.state}${r.message ? `: ${r.message}` : ''}, yet the agent still hands out its data`,
        );
      }
    }
  }
}

/** Write to stdout, minding back-pressure. */
function toStdout(data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(data, (e) => (e ? reject(e) : resolve()));
  });
}

/**
 * RETRIEVE_CACHED from offset 0 to eof, into `output` through a temporary
 * name (or stdout), checking size and SHA-256 against the retrieval.
 */
async function collect(agent: AgentClient, r: OptarcRetrieval, output: string | undefined): Promise<void> {
  const max = OPTARC_MAX_DATA;
  const temp = output ? path.join(path.dirname(output), `.${path.basename(output)}.optarc-get.${process.pid}`) : null;
  const fh = temp ? await fs.open(temp, 'wx', 0o644) : null;
  const hash = createHash('sha256');
  let offset = 0n;
  let done = false;
  try {
    // read-ahead: up to 4 chunks in flight, written in order
    await agent
      .retrieveCachedAll(
        r.token,
        r.size,
        async (data) => {
          hash.update(data);
          if (fh) await fh.write(data);
          else await toStdout(data);
          offset += BigInt(data.length);
        },
        { chunk: max, window: 4 },
      )
      .catch((e: unknown) => {
        if (e instanceof AgentError || e instanceof RpcError) throw e;
        throw corrupt(`${r.token}: ${(e as Error).message}`);
      });
    const got = hash.digest();
    if (offset !== r.size || !got.equals(r.sha256))
      throw corrupt(
        `${r.token}: the data received fails its check: ${offset} bytes with SHA-256 ${got.toString('hex')}, expected ${r.size} bytes with SHA-256 ${r.sha256.toString('hex')}${output ? ' (nothing written)' : ''}; retrieve it again`,
      );
    if (fh) {
      await fh.sync();
      await fh.close();
      await fs.rename(temp as string, output as string);
    }
    done = true;
  } finally {
    if (fh && !done) {
      await fh.close().catch(() => {});
      await fs.rm(temp as string, { force: true });
    }
  }
}

/** Collects a ready retrieval and reports it: on stdout with --output (or --json), else on stderr. */
async function collectAndReport(ctx: CommandContext, agent: AgentClient, r: OptarcRetrieval): Promise<number> {
  const output = ctx.values.output as string | undefined;
  await collect(agent, r, output);
  const text = `${r.token}: ${r.size} bytes of ${r.path.toString()} from ${r.source || '-'}, SHA-256 ${r.sha256.toString('hex')} checked${output ? ` -> ${output}` : ''}`;
  if (output) ctx.out(text, { ...retrievalJson(r), state: 'collected', output });
  else if (!ctx.json) process.stderr.write(`${text}\n`);
  return 0;
}

function checkOutput(ctx: CommandContext): void {
  const output = ctx.values.output as string | undefined;
  if (output === '') throw new UsageError('--output needs a file name');
  if (ctx.json && output === undefined)
    throw new UsageError('--json needs --output FILE: the data would otherwise go to stdout with the JSON');
}

export async function runGet(ctx: CommandContext): Promise<number> {
  const [what, extra] = ctx.args;
  if (!what || extra !== undefined)
    throw new UsageError('get needs one archived path or SHA-256: optarc get <path|sha256> [--offline]');
  const offline = ctx.values.offline === true;
  const v = ctx.values;
  if (!offline && (v.priority !== undefined || v.deadline !== undefined))
    throw new UsageError('--priority and --deadline go with --offline');
  const priority = offline ? parsePriority(v.priority as string | undefined) : 0;
  const deadline = offline ? parseDeadline(v.deadline as string | undefined) : 0n;
  const vsn = (v.vsn as string | undefined) ?? '';
  if (vsn.length > 32) throw new UsageError('--vsn takes a volume serial of at most 32 characters');
  if (Buffer.byteLength(what) > 1023) throw new UsageError('the path is longer than 1023 bytes');
  const collecting = !offline || ctx.wait;
  if (collecting) checkOutput(ctx);
  else if (v.output !== undefined) throw new UsageError('--output goes with an online get, --wait, or pickup');
  return ctx.session(async (agent) => {
    let r: OptarcRetrieval;
    try {
      r = await agent.retrieve({
        path: isSha256(what) ? Buffer.alloc(0) : Buffer.from(what),
        sha256: isSha256(what) ? Buffer.from(what, 'hex') : null,
        vsn,
        mode: offline ? OptarcRetrieveMode.OPTARC_OFFLINE : OptarcRetrieveMode.OPTARC_ONLINE,
        priority,
        deadline: { seconds: deadline, nanoseconds: 0 },
      });
    } catch (e) {
      if (e instanceof AgentError && e.statusName === 'OPTARC_NOT_FOUND')
        throw new NothingFound(`${e.message || `no archived file ${what}`}`);
      if (e instanceof AgentError && e.statusName === 'OPTARC_NO_MEDIUM' && !offline)
        e.message = `${e.message} (retrieve it with --offline to fetch it from the cloud copy or a disc loaded later)`;
      throw e;
    }
    if (!collecting) {
      ctx.out(r.token, retrievalJson(r));
      if (!ctx.json)
        process.stderr.write(
          `${r.path.toString()} (${r.size} bytes on ${r.vsn}) ${stateText(r)}; collect it with: optarc pickup ${r.token}\n`,
        );
      return 0;
    }
    if (ctx.progress) process.stderr.write(`${r.token} ${stateText(r)}\n`);
    const ready = await untilReady(ctx, agent, r.token, true);
    return collectAndReport(ctx, agent, ready);
  });
}

export async function runPickup(ctx: CommandContext): Promise<number> {
  const [token, extra] = ctx.args;
  if (!token || extra !== undefined) throw new UsageError('pickup needs one token: optarc pickup <token>');
  if (token.length > 64) throw new UsageError('a retrieval token is at most 64 characters');
  checkOutput(ctx);
  return ctx.session(async (agent) => {
    const ready = await untilReady(ctx, agent, token, ctx.wait);
    return collectAndReport(ctx, agent, ready);
  });
}
