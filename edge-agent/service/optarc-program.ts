/**
 * The optarc program (clients/protocol/optarc.x) as the agent serves it:
 * sessions under the controller lease, and staging into the session's working
 * directory. Procedures of the burning pipeline answer OPTARC_NOT_AVAILABLE
 * until that pipeline is installed: a clear status, never a made-up job.
 *
 * Every procedure but NULL and HELLO checks the caller's session first; every
 * call from the holder renews its lease. The client's clock at HELLO is kept
 * and used for file times the client does not send; the agent never sets its
 * own clock, and logs a skew beyond the configured threshold.
 * BURN, JOB_STATUS and DRIVES are served by burn-procedures.ts when the agent
 * has its burning pipeline (a catalog, drives, a job runner).
 */
import { createHash } from 'node:crypto';
import type { CallContext, Logger, Procedure, ProgramVersion } from '../../clients/oncrpc/index.js';
import {
  type Codecs,
  createCodecs,
  createOptarcV1Procedures,
  OPTARC_BURN,
  OPTARC_BURN_COPY,
  OPTARC_BYE,
  OPTARC_CAT_FIND,
  OPTARC_CAT_VOLUMES,
  OPTARC_CAT_WHEREIS,
  OPTARC_COMMIT_FILE,
  OPTARC_COPY,
  OPTARC_DRIVES,
  OPTARC_FIXITY,
  OPTARC_HELLO,
  OPTARC_JOB_STATUS,
  OPTARC_LIST,
  OPTARC_MAX_DATA,
  OPTARC_MAX_ENTRIES,
  OPTARC_MKDIR,
  OPTARC_MOUNT,
  OPTARC_NULL,
  OPTARC_PROG,
  OPTARC_REBURN,
  OPTARC_REMOVE,
  OPTARC_RETRIEVE,
  OPTARC_RETRIEVE_CACHED,
  OPTARC_RETRIEVE_STATUS,
  OPTARC_STAT,
  OPTARC_UNMOUNT,
  OPTARC_V1,
  OPTARC_VERSION,
  OPTARC_VOL_LIST,
  OPTARC_VOL_READ,
  OPTARC_WRITE,
  type OptarcBurnArgs,
  type OptarcBurnCopyArgs,
  type OptarcCachedArgs,
  type OptarcCatFindArgs,
  type OptarcCatVolumesArgs,
  type OptarcCommitArgs,
  type OptarcDriveArgs,
  type OptarcEntry,
  type OptarcFixityArgs,
  type OptarcHelloArgs,
  type OptarcJobArgs,
  OptarcKind,
  type OptarcListArgs,
  type OptarcMkdirArgs,
  type OptarcPathArgs,
  type OptarcReburnArgs,
  type OptarcRetrieveArgs,
  type OptarcSessionArgs,
  OptarcStatus,
  type OptarcTime,
  type OptarcTokenArgs,
  type OptarcUnmountArgs,
  type OptarcVolListArgs,
  type OptarcVolReadArgs,
  type OptarcWhereisArgs,
  type OptarcWriteArgs,
} from '../../clients/protocol/generated/optarc.js';
import type { CatalogQueries } from '../catalog/catalog-queries.js';
import type { FixityService } from '../fixity/fixity-service.js';
import type { RetrievalService } from '../retrieval/retrieval-service.js';
import type { ControllerLease } from '../session/lease.js';
import type { Charset } from '../staging/names.js';
import type { StagingArea } from '../staging/staging-area.js';
import type { Entry, WorkingDirectory } from '../staging/working-directory.js';
import type { AccessPolicy } from './access.js';
import { type BurnService, burn, burnCopy, copy, drives, jobStatus } from './burn-procedures.js';
import { catFind, catVolumes, catWhereis } from './catalog-procedures.js';
import { failure, staged } from './failures.js';
import { fixity } from './fixity-procedures.js';
import { reburn } from './reburn-procedures.js';
import { retrievalStatus, retrieve, retrieveCached } from './retrieval-procedures.js';
import { mount, unmount, volList, volRead } from './volume-procedures.js';

export interface OptarcProgramOptions {
  charset: Charset;
  staging: StagingArea;
  access: AccessPolicy;
  lease: ControllerLease;
  /** Log when a client's clock differs from the agent's by more than this. */
  clockSkewWarnSeconds: number;
  log: Logger;
  now?: () => number;
  /** The burning pipeline; without it, its procedures answer NOT_AVAILABLE. */
  burn?: BurnService;
  /** Getting data back (catalog queries, retrieval, fixity); needs `burn` too. Without it: NOT_AVAILABLE. */
  archive?: ArchiveServices;
}

/** What serves the catalog queries, RETRIEVE*, REBURN and FIXITY. */
export interface ArchiveServices {
  queries: CatalogQueries;
  retrieval: RetrievalService;
  fixity: FixityService;
}

interface Session {
  dir: WorkingDirectory;
  /** The working directory's name: the client's id in the catalog. */
  clientId: string;
  client: string;
  /** Connections this session has called on: losing any of them starts the lease's grace period. */
  connections: Set<number>;
}

const NOT_AVAILABLE =
  'the burning pipeline (drives, jobs, discs) is not installed on this agent yet: stage files now, burn once it is';

export class OptarcProgram {
  private readonly o: OptarcProgramOptions;
  private readonly codecs: Codecs;
  private readonly sessions = new Map<bigint, Session>();
  private readonly now: () => number;

  constructor(options: OptarcProgramOptions) {
    this.o = options;
    this.codecs = createCodecs(options.charset);
    this.now = options.now ?? Date.now;
  }

  version(): ProgramVersion {
    const table = createOptarcV1Procedures(this.codecs);
    const procedures: Record<number, Procedure> = {};
    // Procedures of the burning pipeline are absent here: they answer NOT_AVAILABLE below.
    const handlers: Record<number, (args: any, ctx: CallContext) => unknown> = {
      [OPTARC_NULL]: () => undefined,
      [OPTARC_HELLO]: (a: OptarcHelloArgs, ctx) => this.hello(a, ctx),
      [OPTARC_BYE]: (a: OptarcSessionArgs, ctx) =>
        this.withSession(a.session, ctx, async (s) => this.bye(a.session, s)),
      [OPTARC_MKDIR]: (a: OptarcMkdirArgs, ctx) =>
        this.withSession(a.session, ctx, (s) => staged(async () => okVoid(await s.dir.mkdir(a.path, a.mode)))),
      [OPTARC_WRITE]: (a: OptarcWriteArgs, ctx) =>
        this.withSession(a.session, ctx, (s) =>
          staged(async () => ({
            tag: OptarcStatus.OPTARC_OK,
            value: { size: await s.dir.write(a.path, a.offset, a.data) },
          })),
        ),
      [OPTARC_COMMIT_FILE]: (a: OptarcCommitArgs, ctx) =>
        this.withSession(a.session, ctx, (s) =>
          staged(async () => ({
            tag: OptarcStatus.OPTARC_OK,
            value: await s.dir.commit(a.path, a.size, a.mode, a.mtime, a.sha256, {
              host: ctx.peer.address,
              client: s.client,
              ...(ctx.credentials.flavor === 'sys' ? { uid: ctx.credentials.uid, gid: ctx.credentials.gid } : {}),
            }),
          })),
        ),
      [OPTARC_LIST]: (a: OptarcListArgs, ctx) =>
        this.withSession(a.session, ctx, (s) =>
          staged(async () => {
            const page = await s.dir.list(a.dir, a.cookie, Math.min(a.count, OPTARC_MAX_ENTRIES));
            return {
              tag: OptarcStatus.OPTARC_OK,
              value: { entries: page.entries.map(toEntry), cookie: page.cookie, eof: page.eof },
            };
          }),
        ),
      [OPTARC_STAT]: (a: OptarcPathArgs, ctx) =>
        this.withSession(a.session, ctx, (s) =>
          staged(async () => ({ tag: OptarcStatus.OPTARC_OK, value: toEntry(await s.dir.stat(a.path)) })),
        ),
      [OPTARC_REMOVE]: (a: OptarcPathArgs, ctx) =>
        this.withSession(a.session, ctx, (s) => staged(async () => okVoid(await s.dir.remove(a.path)))),
    };
    const service = this.o.burn;
    if (service) {
      handlers[OPTARC_BURN] = (a: OptarcBurnArgs, ctx) =>
        this.withSession(a.session, ctx, (s) => burn(service, a, s.dir, s.clientId, s.client));
      handlers[OPTARC_JOB_STATUS] = (a: OptarcJobArgs, ctx) =>
        this.withSession(a.session, ctx, async () => jobStatus(service, a));
      handlers[OPTARC_DRIVES] = (a: OptarcSessionArgs, ctx) => this.withSession(a.session, ctx, () => drives(service));
      handlers[OPTARC_COPY] = (a: OptarcDriveArgs, ctx) =>
        this.withSession(a.session, ctx, (s) => copy(service, a, s.clientId, s.client));
      handlers[OPTARC_BURN_COPY] = (a: OptarcBurnCopyArgs, ctx) =>
        this.withSession(a.session, ctx, async (s) => burnCopy(service, a, s.clientId, s.client));
      const v = service.volumes;
      handlers[OPTARC_MOUNT] = (a: OptarcDriveArgs, ctx) => this.withSession(a.session, ctx, () => mount(v, a));
      handlers[OPTARC_UNMOUNT] = (a: OptarcUnmountArgs, ctx) => this.withSession(a.session, ctx, () => unmount(v, a));
      handlers[OPTARC_VOL_LIST] = (a: OptarcVolListArgs, ctx) => this.withSession(a.session, ctx, () => volList(v, a));
      handlers[OPTARC_VOL_READ] = (a: OptarcVolReadArgs, ctx) => this.withSession(a.session, ctx, () => volRead(v, a));
      const archive = this.o.archive;
      if (archive) {
        const { queries, retrieval } = archive;
        handlers[OPTARC_CAT_VOLUMES] = (a: OptarcCatVolumesArgs, ctx) =>
          this.withSession(a.session, ctx, () => catVolumes(queries, a));
        handlers[OPTARC_CAT_FIND] = (a: OptarcCatFindArgs, ctx) =>
          this.withSession(a.session, ctx, () => catFind(queries, a));
        handlers[OPTARC_CAT_WHEREIS] = (a: OptarcWhereisArgs, ctx) =>
          this.withSession(a.session, ctx, () => catWhereis(queries, a));
        handlers[OPTARC_RETRIEVE] = (a: OptarcRetrieveArgs, ctx) =>
          this.withSession(a.session, ctx, (s) => retrieve(retrieval, a, s.clientId, s.client));
        handlers[OPTARC_RETRIEVE_STATUS] = (a: OptarcTokenArgs, ctx) =>
          this.withSession(a.session, ctx, () => retrievalStatus(retrieval, a));
        handlers[OPTARC_RETRIEVE_CACHED] = (a: OptarcCachedArgs, ctx) =>
          this.withSession(a.session, ctx, () => retrieveCached(retrieval, a));
        handlers[OPTARC_REBURN] = (a: OptarcReburnArgs, ctx) =>
          this.withSession(a.session, ctx, (s) => reburn(service.jobs, a, s.clientId, s.client));
        handlers[OPTARC_FIXITY] = (a: OptarcFixityArgs, ctx) =>
          this.withSession(a.session, ctx, () => fixity(archive.fixity, a));
      }
    }
    for (const [num, p] of Object.entries(table)) {
      const n = Number(num);
      const handler =
        handlers[n] ??
        ((a: { session: bigint }, ctx: CallContext) =>
          this.withSession(a.session, ctx, async () => failure(OptarcStatus.OPTARC_NOT_AVAILABLE, NOT_AVAILABLE)));
      procedures[n] = {
        name: p.name,
        args: p.args as Procedure['args'],
        result: p.result as Procedure['result'],
        handler,
        // WRITE's handler has written its data to disk before it settles
        borrowsArgs: n === OPTARC_WRITE,
      };
    }
    return { name: 'optarc', prog: OPTARC_PROG, vers: OPTARC_V1, procedures };
  }

  private hello(a: OptarcHelloArgs, ctx: CallContext) {
    const refused = this.o.access.refuse(ctx.peer);
    if (refused) {
      this.o.log.warn('HELLO refused', { peer: ctx.peer.address, reason: refused });
      return failure(OptarcStatus.OPTARC_ACCESS_DENIED, refused);
    }
    if (a.protocol < 1) {
      return failure(
        OptarcStatus.OPTARC_VERSION_MISMATCH,
        `protocol version ${a.protocol} is not supported: this agent speaks 1 to ${OPTARC_VERSION}`,
        { low: 1, high: OPTARC_VERSION },
      );
    }
    const got = this.o.lease.acquire(ctx.peer.address, a.client);
    if (!got.ok) {
      const b = got.busy;
      return failure(
        OptarcStatus.OPTARC_BUSY,
        `the agent is controlled by ${b.client} on ${b.host} since ${new Date(b.since).toISOString()}: wait for its BYE or for its lease to lapse`,
        { holder: b.host, client: b.client, since: msToTime(b.since) },
      );
    }
    const session = got.holder.session;
    const skew = Number(a.client_time.seconds) - this.now() / 1000;
    if (Math.abs(skew) > this.o.clockSkewWarnSeconds) {
      this.o.log.warn('client clock differs from the agent clock', {
        client: a.client,
        host: ctx.peer.address,
        skewSeconds: Math.round(skew),
      });
    }
    // One working directory per client (host and name), kept across its sessions.
    const host = ctx.peer.address.replace(/^::ffff:/, '');
    const dirName = createHash('sha256').update(`${host}\0${a.client}`).digest('hex').slice(0, 32);
    return this.o.staging
      .open(dirName, () => a.client_time)
      .catch((e) => {
        this.o.lease.release(session); // no session without its working directory
        throw e;
      })
      .then((dir) => {
        const s: Session = { dir, clientId: dirName, client: a.client, connections: new Set() };
        this.sessions.set(session, s);
        this.watchConnection(session, s, ctx);
        this.o.log.info('HELLO', { client: a.client, host: ctx.peer.address, session: session.toString(16) });
        return {
          tag: OptarcStatus.OPTARC_OK,
          value: {
            protocol: Math.min(a.protocol, OPTARC_VERSION),
            session,
            lease_seconds: Math.floor(this.o.lease.leaseMs / 1000),
            quota: { limit: dir.quotaBytes, used: dir.used },
            agent_time: msToTime(this.now()),
            charset: this.o.charset,
            max_data: OPTARC_MAX_DATA,
          },
        };
      });
  }

  private async bye(id: bigint, s: Session) {
    this.o.lease.release(id);
    await this.forget(id, s);
    return okVoid(undefined);
  }

  /** When a connection the holder used closes, the lease waits out its grace period (a later call cancels it). */
  private watchConnection(id: bigint, s: Session, ctx: CallContext): void {
    if (s.connections.has(ctx.connectionId)) return;
    s.connections.add(ctx.connectionId);
    ctx.onConnectionClose(() => {
      s.connections.delete(ctx.connectionId);
      this.o.lease.disconnected(id);
    });
  }

  /** Drop a session; its working directory's files are closed unless a newer session of the client uses it. */
  private async forget(id: bigint, s: Session): Promise<void> {
    this.sessions.delete(id);
    for (const other of this.sessions.values()) if (other.dir === s.dir) return;
    await s.dir.close();
  }

  private async withSession<T>(id: bigint, ctx: CallContext, action: (s: Session) => Promise<T>) {
    const refused = this.o.access.refuse(ctx.peer);
    if (refused) return failure(OptarcStatus.OPTARC_ACCESS_DENIED, refused);
    const check = this.o.lease.check(id);
    const s = this.sessions.get(id);
    if (check.ok && s) {
      this.watchConnection(id, s, ctx);
      return action(s);
    }
    if (s) await this.forget(id, s); // the lease lapsed under it
    if (!check.ok && check.reason === 'LEASE_EXPIRED') {
      return failure(
        OptarcStatus.OPTARC_LEASE_EXPIRED,
        'this session lapsed: call HELLO again (committed files are kept)',
      );
    }
    return failure(OptarcStatus.OPTARC_NO_SESSION, 'no such session: call HELLO first');
  }
}

function okVoid(_: void) {
  return { tag: OptarcStatus.OPTARC_OK, value: undefined };
}

function msToTime(ms: number): OptarcTime {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
}

function toEntry(e: Entry): OptarcEntry {
  return {
    name: e.name,
    kind: e.kind === 'dir' ? OptarcKind.OPTARC_DIR : OptarcKind.OPTARC_FILE,
    size: e.size,
    mode: e.mode,
    mtime: e.mtime,
    committed: e.committed,
    sha256: e.sha256,
  };
}
