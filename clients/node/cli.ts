#!/usr/bin/env node
/**
 * optarc: the command-line client of the edge agent.
 *
 * Exit codes scripts can act on: 0 done; 1 the agent could not be reached or
 * the RPC failed; 2 bad usage or configuration; 3 another client controls the
 * agent (BUSY); 4 the agent refused the request (the message says why);
 * 5 a local file could not be read; 6 a job waited for (--wait) failed;
 * 130 interrupted while waiting (the job goes on at the agent).
 */
import fs from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { parseCommandLine } from '../../config/command-line.js';
import { type Credentials, PortmapClient, RpcError } from '../oncrpc/index.js';
import { OptarcBurnMode, OptarcJobState, type OptarcJobStatus, OptarcKind } from '../protocol/generated/optarc.js';
import { AgentClient, AgentError } from './agent-client.js';
import { BadArguments, checkBurnArgs, checkJobArg, followJob, untilInterrupted } from './commands/burn.js';
import { runCatalogCommand } from './commands/catalog.js';
import {
  type CommandContext,
  FixityFailures,
  NothingFound,
  NotReadyYet,
  UsageError,
} from './commands/command-context.js';
import {
  findQuery,
  findTable,
  NoReaderToken,
  SearchApiError,
  SearchClient,
  whereisQuery,
  whereisText,
} from './commands/find.js';
import { runFixity } from './commands/fixity.js';
import { runGet, runPickup } from './commands/get.js';
import { drivesTable, jobStatusJson, summaryText, WaitInterrupted } from './commands/job-progress-view.js';
import { type PutProgress, put } from './commands/put.js';
import { runReburn } from './commands/reburn.js';

const FLAGS = {
  host: { setting: 'client.host', type: 'string', description: 'agent host' },
  port: { setting: 'client.port', type: 'string', description: "agent RPC port (default: ask the host's portmapper)" },
  'portmap-port': { setting: 'client.portmapPort', type: 'string', description: 'portmapper port' },
  timeout: { setting: 'client.timeoutSeconds', type: 'string', description: 'seconds to wait for a reply' },
  gateway: { setting: 'client.gateway.url', type: 'string', description: 'the gateway find and whereis ask' },
  'reader-token-file': {
    setting: 'client.gateway.readerTokenFile',
    type: 'string',
    description: 'file holding the reader token for find and whereis',
  },
} as const;

const COMMANDS = `commands:
  ping                  call the agent's NULL procedure and report the round trip
  portmap               list what the host's portmapper has registered
  hello                 ask for control of the agent (shows the session, or who holds it), then let go
  put <dir>             stage a local tree; re-running skips files already committed with the same SHA-256
  ls [path]             list the working directory (or a directory in it)
  stat <path>           one entry of the working directory
  rm <path>             remove a file or an empty directory from the working directory
  burn --copies N --media PROFILE [--label L] [--append] [--wait] [--progress] [--json]
                        turn the working directory into a burn job and print its number;
                        --copies 1 to 64 discs of each volume (default 1), --media e.g. DVD+R or BD-R,
                        --label the volume label (at most 32 bytes), --append a session instead of a new disc
  copy <drive> [--wait]  read the disc in <drive> into the agent's copy area (checked against its image)
  burn-copy --copies N --media PROFILE [--wait]
                        burn the latest copied disc N more times as further copies of the same volume
  status <job> [--wait] [--progress] [--json]
                        a job's state, step and percent, its message, each volume and each copy
  drives [--json]       the agent's drives: name, address, loaded, vsn, busy
  vol-ls <vsn> [dir]     list a directory of the disc <vsn> loaded in one of the agent's drives
  read <vsn> <path> [--output FILE]
                        copy a file from the disc <vsn> loaded in one of the agent's drives (stdout by default)
  find <pattern> [--glob | --regex] [--site S] [--vsn V] [--new-since DATE] [--limit N]
                        search the gateway's manifest index: a substring of the path (3+ characters,
                        ASCII case-insensitive), or a glob of the whole path (--glob, or when the
                        pattern has * ? [), or a regex (--regex); up to --limit hits (default 100)
  volumes [--since DATE]  the agent's catalog of volumes (created at or after DATE): copies, where
                        they sit, the drive one is loaded in, the cloud object, the last fixity checks
  files [PATTERN] [--like | --glob | --exact] [--since DATE] [--vsn V]
                        archived files in the agent's catalog: a glob by default (* ? [...]), or an SQL
                        LIKE pattern (% and _), or an exact path
  locate <path|sha256>  where the agent's catalog says a file is: volumes, copies, loaded drives, cloud
  get <path|sha256> [--vsn V] [--output FILE] [--offline [--priority 1-5] [--deadline DATE]]
                        retrieve an archived file: online from a disc loaded in a drive, or offline
                        (queued by priority; from a loaded disc or the cloud copy); the data is checked
                        against its SHA-256 before it is handed out. Offline without --wait prints a
                        token to collect it with later
  pickup <token> [--output FILE] [--wait]
                        collect an offline retrieval with its token (exit 8 while it is not ready)
  reburn <vsn> [--copies N] [--media PROFILE] [--wait]
                        burn N new copies of a lost or damaged volume from its cloud image
  fixity [--run] [--vsn V] [--wait]
                        the latest fixity checks of every cloud image and disc; --run starts a pass now
  whereis <path|sha256>  which volumes hold the file, where their copies sit, and a curl command
                        that restores it from the cloud (by its byte ranges in the volume's image)
                        (find and whereis ask the gateway, client.gateway.url, with a reader token:
                        client.gateway.readerToken or the file client.gateway.readerTokenFile)

options for every command:
  --json                machine-readable output
  --client NAME         the name this client gives in HELLO (default: user@host)
  --auth-sys            send AUTH_SYS credentials (uid, gid, host name) instead of AUTH_NONE
  --progress            show progress on stderr even when it is not a terminal
  --wait                burn, status: follow the job until it is done or failed (progress on stderr on a
                        terminal or with --progress: redrawn in place on a terminal, else changed lines
                        at most once a second); with --json the final status is printed

exit codes: 0 done, 1 agent or gateway unreachable or RPC failure, 2 usage, 3 agent busy, 4 request
            refused, 5 a local file could not be read, 6 the job waited for failed (its message says
            which copies exist), 7 nothing found, 8 an offline retrieval is not ready yet (pick it up
            later), 9 fixity found failures, 130 interrupted while waiting (the job goes on at the agent)
with --json, a failure is one JSON object on stderr: {"error": CODE, "message": ...}`;

const EXIT = {
  OK: 0,
  RPC: 1,
  USAGE: 2,
  BUSY: 3,
  REFUSED: 4,
  LOCAL: 5,
  JOB_FAILED: 6,
  NOT_FOUND: 7,
  NOT_READY: 8,
  FIXITY_FAILURES: 9,
  INTERRUPTED: 130,
} as const;

/** The asked-for disc is in none of the agent's drives. */
class NotLoaded extends Error {}
/** A job followed with --wait ended FAILED; the message is the job's. */
class JobFailed extends Error {}

function mib(n: bigint): string {
  return (Number(n) / 1024 / 1024).toFixed(1);
}

async function main(): Promise<number> {
  const { config, positionals, values } = parseCommandLine(
    'optarc',
    '<command> [options]',
    process.argv.slice(2),
    FLAGS,
    COMMANDS,
    {
      json: { type: 'boolean' },
      'auth-sys': { type: 'boolean' },
      client: { type: 'string' },
      progress: { type: 'boolean' },
      copies: { type: 'string' },
      media: { type: 'string' },
      label: { type: 'string' },
      append: { type: 'boolean' },
      wait: { type: 'boolean' },
      output: { type: 'string' },
      glob: { type: 'boolean' },
      regex: { type: 'boolean' },
      site: { type: 'string' },
      vsn: { type: 'string' },
      'new-since': { type: 'string' },
      limit: { type: 'string' },
      like: { type: 'boolean' },
      exact: { type: 'boolean' },
      since: { type: 'string' },
      offline: { type: 'boolean' },
      priority: { type: 'string' },
      deadline: { type: 'string' },
      run: { type: 'boolean' },
    },
  );
  const json = values.json === true;
  const out = (human: string, machine: unknown) =>
    process.stdout.write(
      json ? `${JSON.stringify(machine, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}\n` : `${human}\n`,
    );
  const [command, ...args] = positionals;
  const c = config.client;
  const timeoutMs = c.timeoutSeconds * 1000;
  const u = userInfo();
  const credentials: Credentials | undefined = values['auth-sys']
    ? {
        flavor: 'sys',
        stamp: Math.floor(Date.now() / 1000),
        machineName: hostname().slice(0, 255),
        uid: u.uid,
        gid: u.gid,
        gids: [],
      }
    : undefined;
  const clientName = (values.client as string | undefined) ?? `${u.username}@${hostname()}`;
  const wait = values.wait === true;
  /** Follow a job until it ends, progress on stderr when asked for or on a terminal. */
  const follow = (agent: AgentClient, job: bigint) =>
    untilInterrupted((signal) =>
      followJob(agent, job, {
        progress: values.progress === true || (process.stderr.isTTY === true && !json),
        tty: process.stderr.isTTY === true,
        sink: process.stderr,
        signal,
      }),
    );
  /** Print a status; a job that ended FAILED (when waited for) is an error with the job's message. */
  const finish = (s: OptarcJobStatus): number => {
    out(summaryText(s), jobStatusJson(s));
    if (wait && s.state === OptarcJobState.OPTARC_JOB_FAILED)
      throw new JobFailed(`job ${s.job} failed: ${s.message || 'the agent gave no reason'}`);
    return EXIT.OK;
  };
  /** Mounts the disc `vsn` in whichever of the agent's drives holds it. */
  const mountVolume = async (agent: AgentClient, vsn: string) => {
    const drive = (await agent.drives()).find((d) => d.loaded && d.vsn === vsn);
    if (!drive)
      throw new NotLoaded(`no drive of the agent holds volume ${vsn}: load the disc, or retrieve it from the cloud`);
    await agent.mount(drive.name);
    return drive;
  };
  /** A job was started: its number, or with --wait the job followed to its end. */
  const started = async (agent: AgentClient, job: bigint): Promise<number> => {
    if (!wait) {
      out(`job ${job}`, { job });
      return EXIT.OK;
    }
    if (!json) process.stdout.write(`job ${job}\n`);
    return finish(await follow(agent, job));
  };
  const connect = () =>
    AgentClient.connect({ host: c.host, port: c.port, portmapPort: c.portmapPort, timeoutMs, credentials });

  /** Run `action` holding the agent's controller lease, letting go afterwards whatever happens. */
  const session = async <T>(action: (agent: AgentClient) => Promise<T>): Promise<T> => {
    const agent = await connect();
    try {
      await agent.hello(clientName);
      try {
        return await action(agent);
      } finally {
        await agent.bye().catch(() => {});
      }
    } finally {
      agent.close();
    }
  };

  const context = (): CommandContext => ({
    args,
    values: values as CommandContext['values'],
    json,
    wait,
    progress: values.progress === true || (process.stderr.isTTY === true && !json),
    out,
    session,
    started,
  });

  switch (command) {
    case 'volumes':
    case 'files':
    case 'locate':
      return runCatalogCommand(command, context());
    case 'get':
      return runGet(context());
    case 'pickup':
      return runPickup(context());
    case 'reburn':
      return runReburn(context());
    case 'fixity':
      return runFixity(context());
    case 'ping': {
      const agent = await connect();
      try {
        const t0 = process.hrtime.bigint();
        await agent.null();
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        out(`agent at ${c.host}:${agent.port} answered NULL in ${ms.toFixed(2)} ms`, {
          host: c.host,
          port: agent.port,
          ok: true,
          roundTripMs: ms,
        });
      } finally {
        agent.close();
      }
      return EXIT.OK;
    }
    case 'portmap': {
      const pm = await PortmapClient.connect(c.host, c.portmapPort, timeoutMs);
      try {
        const maps = await pm.dump();
        const lines = ['   program vers proto   port'];
        for (const m of maps) {
          const proto = m.prot === 6 ? 'tcp' : m.prot === 17 ? 'udp' : String(m.prot);
          lines.push(
            `${String(m.prog).padStart(10)} ${String(m.vers).padStart(4)} ${proto.padStart(5)} ${String(m.port).padStart(6)}`,
          );
        }
        out(lines.join('\n'), maps);
      } finally {
        pm.close();
      }
      return EXIT.OK;
    }
    case 'hello':
      return session(async (agent) => {
        out(`controller of ${c.host}:${agent.port} as ${clientName}: session ${agent.session?.toString(16)}`, {
          host: c.host,
          port: agent.port,
          client: clientName,
          session: agent.session,
        });
        return EXIT.OK;
      });
    case 'put': {
      const dir = args[0];
      if (!dir) throw new UsageError('put needs a directory: optarc put <dir>');
      const showProgress = values.progress === true || (process.stderr.isTTY && !json);
      const started = Date.now();
      let last = 0;
      const onProgress = (p: PutProgress) => {
        const t = Date.now();
        if (!showProgress || (t - last < 200 && p.filesDone < p.filesTotal)) return;
        last = t;
        const rate = Number(p.bytesDone) / 1e6 / Math.max((t - started) / 1000, 0.001);
        process.stderr.write(
          `\rput: ${p.filesDone}/${p.filesTotal} files, ${mib(p.bytesDone)}/${mib(p.bytesTotal)} MiB, ${rate.toFixed(1)} MB/s  `,
        );
      };
      const result = await session((agent) => put(agent, dir, onProgress));
      if (showProgress) process.stderr.write('\n');
      for (const w of result.warnings) process.stderr.write(`optarc: ${w}\n`);
      const seconds = (Date.now() - started) / 1000;
      const sent = result.files.filter((f) => !f.skipped).length;
      out(
        [
          ...result.files.map((f) => `${f.sha256}  ${f.path}${f.skipped ? '  (already staged)' : ''}`),
          `${sent} files sent, ${result.files.length - sent} already staged, ${result.directories} directories, ${mib(result.bytesSent)} MiB in ${seconds.toFixed(1)} s`,
        ].join('\n'),
        { ...result, seconds },
      );
      return EXIT.OK;
    }
    case 'ls':
      return session(async (agent) => {
        const entries = await agent.listAll(Buffer.from(args[0] ?? ''));
        out(
          entries
            .map((e) => {
              const kind = e.kind === OptarcKind.OPTARC_DIR ? 'd' : '-';
              const state = e.committed ? 'committed' : 'partial  ';
              return `${kind}${e.mode.toString(8).padStart(4, '0')} ${String(e.size).padStart(12)} ${state} ${e.sha256 ? e.sha256.toString('hex').slice(0, 16) : '-'.padEnd(16)} ${e.name.toString()}`;
            })
            .join('\n'),
          entries.map((e) => ({ ...e, name: e.name.toString(), sha256: e.sha256?.toString('hex') ?? null })),
        );
        return EXIT.OK;
      });
    case 'stat':
      if (!args[0]) throw new UsageError('stat needs a path');
      return session(async (agent) => {
        const e = await agent.stat(Buffer.from(args[0]));
        out(
          `${e.name.toString()}: ${e.size} bytes, ${e.committed ? 'committed' : 'not committed'}${e.sha256 ? `, sha256 ${e.sha256.toString('hex')}` : ''}`,
          {
            ...e,
            name: e.name.toString(),
            sha256: e.sha256?.toString('hex') ?? null,
          },
        );
        return EXIT.OK;
      });
    case 'rm':
      if (!args[0]) throw new UsageError('rm needs a path');
      return session(async (agent) => {
        await agent.remove(Buffer.from(args[0]));
        out(`removed ${args[0]}`, { removed: args[0] });
        return EXIT.OK;
      });
    case 'burn': {
      const burn = checkBurnArgs(values, args);
      return session(async (agent) => {
        const job = await agent.burn(
          burn.append ? OptarcBurnMode.OPTARC_BURN_APPEND : OptarcBurnMode.OPTARC_BURN_NEW,
          burn.copies,
          burn.media,
          burn.label,
        );
        return started(agent, job);
      });
    }
    case 'copy': {
      if (args.length !== 1) throw new UsageError('copy needs one drive: optarc copy <drive>');
      return session(async (agent) => {
        const job = await agent.copy(args[0]);
        return started(agent, job);
      });
    }
    case 'burn-copy': {
      const copies = Number(values.copies ?? 1);
      const media = values.media as string | undefined;
      if (!Number.isInteger(copies) || copies < 1 || copies > 64 || !media)
        throw new UsageError('burn-copy needs --copies N (1 to 64) and --media PROFILE');
      return session(async (agent) => {
        const job = await agent.burnCopy(copies, media);
        return started(agent, job);
      });
    }
    case 'status': {
      const job = checkJobArg(args);
      return session(async (agent) => finish(wait ? await follow(agent, job) : await agent.jobStatus(job)));
    }
    case 'drives':
      if (args.length > 0) throw new UsageError('drives takes no arguments');
      return session(async (agent) => {
        const d = await agent.drives();
        out(drivesTable(d), d);
        return EXIT.OK;
      });
    case 'vol-ls': {
      const [vsn, dir] = args;
      if (!vsn) throw new UsageError('vol-ls needs a volume serial: optarc vol-ls <vsn> [dir]');
      return session(async (agent) => {
        const drive = await mountVolume(agent, vsn);
        const entries = await agent.volListAll(drive.name, Buffer.from(dir ?? ''));
        out(
          entries
            .map((e) => {
              const kind = e.kind === OptarcKind.OPTARC_DIR ? 'd' : '-';
              return `${kind}${e.mode.toString(8).padStart(4, '0')} ${String(e.size).padStart(12)} ${e.sha256 ? e.sha256.toString('hex').slice(0, 16) : '-'.padEnd(16)} ${e.name.toString()}`;
            })
            .join('\n'),
          entries.map((e) => ({
            ...e,
            kind: e.kind === OptarcKind.OPTARC_DIR ? 'dir' : 'file',
            name: e.name.toString(),
            sha256: e.sha256?.toString('hex') ?? null,
          })),
        );
        return EXIT.OK;
      });
    }
    case 'read': {
      const [vsn, file] = args;
      if (!vsn || !file) throw new UsageError('read needs a volume serial and a path: optarc read <vsn> <path>');
      return session(async (agent) => {
        const drive = await mountVolume(agent, vsn);
        const output = values.output ? await fs.open(values.output as string, 'w') : undefined;
        let offset = 0n;
        try {
          for (;;) {
            const chunk = await agent.volRead(drive.name, Buffer.from(file), offset, 1024 * 1024);
            if (output) await output.write(chunk.data);
            else
              await new Promise<void>((r) =>
                process.stdout.write(chunk.data) ? r() : process.stdout.once('drain', () => r()),
              );
            offset += BigInt(chunk.data.length);
            if (chunk.eof) break;
          }
        } finally {
          await output?.close();
        }
        if (output) process.stderr.write(`read ${offset} bytes of ${file} from ${vsn} in ${drive.name}\n`);
        return EXIT.OK;
      });
    }
    case 'find': {
      const [pattern, extra] = args;
      if (!pattern || extra !== undefined) throw new UsageError('find needs one pattern: optarc find <pattern>');
      const limitText = (values.limit as string | undefined) ?? '100';
      if (!/^[1-9][0-9]{0,5}$/.test(limitText)) throw new UsageError('--limit takes a number from 1 to 999999');
      let query: Record<string, string>;
      try {
        query = findQuery(pattern, {
          glob: values.glob === true,
          regex: values.regex === true,
          site: values.site as string | undefined,
          vsn: values.vsn as string | undefined,
          newSince: values['new-since'] as string | undefined,
        });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const found = await SearchClient.fromConfig(c).files(query, Number(limitText));
      if (json) out('', found.files);
      else if (found.files.length > 0) {
        out(findTable(found.files), null);
        if (found.more)
          process.stderr.write(`optarc: more than ${found.files.length} hits; raise --limit to see more\n`);
      }
      if (found.files.length === 0) throw new NothingFound(`nothing in the index matches ${JSON.stringify(pattern)}`);
      return EXIT.OK;
    }
    case 'whereis': {
      const [what, extra] = args;
      if (!what || extra !== undefined)
        throw new UsageError('whereis needs one path or SHA-256: optarc whereis <path|sha256>');
      const found = await SearchClient.fromConfig(c).files(whereisQuery(what), 1000);
      if (found.files.length === 0) throw new NothingFound(`no volume in the index holds ${what}`);
      out(whereisText(found.files), found.files);
      return EXIT.OK;
    }
    case undefined:
      throw new UsageError('no command given (see optarc --help)');
    default:
      throw new UsageError(`unknown command '${command}' (see optarc --help)`);
  }
}

/** How a failure is told: its code, its words, and the exit status scripts act on. */
function classify(e: unknown): { code: string; message: string; exit: number } {
  const message = (e as Error)?.message ?? String(e);
  if (e instanceof UsageError || e instanceof BadArguments) return { code: 'USAGE', message, exit: EXIT.USAGE };
  if (e instanceof JobFailed) return { code: 'JOB_FAILED', message, exit: EXIT.JOB_FAILED };
  if (e instanceof WaitInterrupted) return { code: 'INTERRUPTED', message, exit: EXIT.INTERRUPTED };
  if (e instanceof NotLoaded) return { code: 'NOT_LOADED', message, exit: EXIT.REFUSED };
  if (e instanceof NothingFound) return { code: 'NOT_FOUND', message, exit: EXIT.NOT_FOUND };
  if (e instanceof NotReadyYet) return { code: 'NOT_READY', message, exit: EXIT.NOT_READY };
  if (e instanceof FixityFailures) return { code: 'FIXITY_FAILURES', message, exit: EXIT.FIXITY_FAILURES };
  if (e instanceof NoReaderToken) return { code: 'NO_READER_TOKEN', message, exit: EXIT.USAGE };
  if (e instanceof SearchApiError) {
    const exit =
      e.code === 'GATEWAY_UNREACHABLE'
        ? EXIT.RPC
        : e.code === 'BAD_QUERY' || e.code === 'QUERY_TOO_LONG'
          ? EXIT.USAGE
          : EXIT.REFUSED;
    return { code: e.code, message, exit };
  }
  if (e instanceof AgentError) {
    const exit =
      e.statusName === 'OPTARC_BUSY' ? EXIT.BUSY : e.statusName === 'OPTARC_NOT_READY' ? EXIT.NOT_READY : EXIT.REFUSED;
    return { code: e.statusName, message, exit };
  }
  if (e instanceof RpcError) return { code: e.code, message, exit: EXIT.RPC };
  const errno = (e as NodeJS.ErrnoException)?.code;
  if (errno && /^E[A-Z]+$/.test(errno)) return { code: errno, message, exit: EXIT.LOCAL };
  return { code: 'ERROR', message, exit: EXIT.RPC };
}

main().then(
  (code) => process.exit(code),
  (e) => {
    const f = classify(e);
    if (process.argv.includes('--json'))
      process.stderr.write(`${JSON.stringify({ error: f.code, message: f.message })}\n`);
    else
      process.stderr.write(
        `optarc: ${['USAGE', 'NOT_LOADED', 'JOB_FAILED', 'INTERRUPTED', 'NOT_FOUND', 'NOT_READY', 'FIXITY_FAILURES', 'NO_READER_TOKEN'].includes(f.code) ? '' : `${f.code}: `}${f.message}\n`,
      );
    process.exit(f.exit);
  },
);
