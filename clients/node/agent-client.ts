/**
 * AgentClient: the TypeScript client of the optarc program, as the CLI and the
 * tests use it. It finds the agent the way a legacy client does (portmap
 * GETPORT on port 111) unless given a port, and turns every failure status
 * into an AgentError carrying the status, its detail and the agent's message.
 */
import { type Credentials, IPPROTO_TCP, PMAP_PORT, PortmapClient, RpcClient, RpcError } from '../oncrpc/index.js';
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
  OPTARC_V1,
  OPTARC_VERSION,
  OPTARC_VOL_LIST,
  OPTARC_VOL_READ,
  OPTARC_WRITE,
  type OptarcBurnMode,
  type OptarcCatFindOk,
  type OptarcCatVolumesOk,
  type OptarcDrive,
  type OptarcEntry,
  type OptarcFail,
  type OptarcFixityOk,
  type OptarcHelloOk,
  type OptarcJobStatus,
  type OptarcMatch,
  type OptarcRetrieval,
  type OptarcRetrieveArgs,
  OptarcStatus,
  type OptarcTime,
  type OptarcWhereisOk,
} from '../protocol/generated/optarc.js';

export interface AgentAddress {
  host: string;
  /** The agent's RPC port; looked up through the portmapper when absent. */
  port?: number;
  portmapPort?: number;
  timeoutMs?: number;
  credentials?: Credentials;
}

const STATUS_NAMES = Object.fromEntries(Object.entries(OptarcStatus).map(([k, v]) => [v, k])) as Record<number, string>;

/** A failure the agent answered: its status (OPTARC_BUSY, ...), detail and message. */
export class AgentError extends Error {
  readonly status: number;
  readonly statusName: string;
  readonly detail: unknown;
  constructor(status: number, fail: OptarcFail) {
    super(fail.message);
    this.name = 'AgentError';
    this.status = status;
    this.statusName = STATUS_NAMES[status] ?? `status ${status}`;
    this.detail = fail.detail.value;
  }
}

type Procs = ReturnType<typeof createOptarcV1Procedures>;

export function timeNow(): OptarcTime {
  const ms = Date.now();
  return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
}

export class AgentClient {
  readonly rpc: RpcClient;
  readonly port: number;
  readonly procs: Procs;
  session: bigint | undefined;

  private constructor(rpc: RpcClient, port: number, codecs: Codecs) {
    this.rpc = rpc;
    this.port = port;
    this.procs = createOptarcV1Procedures(codecs);
  }

  static async connect(address: AgentAddress): Promise<AgentClient> {
    let port = address.port;
    if (port === undefined) {
      const pm = await PortmapClient.connect(address.host, address.portmapPort ?? PMAP_PORT, address.timeoutMs);
      try {
        port = await pm.getPort(OPTARC_PROG, OPTARC_V1, IPPROTO_TCP);
      } finally {
        pm.close();
      }
      if (port === 0) {
        throw new RpcError(
          'PROG_UNAVAIL',
          `the portmapper on ${address.host}:${address.portmapPort ?? PMAP_PORT} knows no optarc agent (program ${OPTARC_PROG} version ${OPTARC_V1}): is optarc-agent running?`,
        );
      }
    }
    const rpc = await RpcClient.connect({
      host: address.host,
      port,
      timeoutMs: address.timeoutMs,
      credentials: address.credentials,
    });
    return new AgentClient(rpc, port, createCodecs('utf-8'));
  }

  /** Call a procedure by number; a failure status becomes an AgentError. */
  async call<N extends keyof Procs>(proc: N, args: Parameters<Procs[N]['args']['encode']>[1]): Promise<any> {
    const p = this.procs[proc];
    const res = (await this.rpc.call(
      OPTARC_PROG,
      OPTARC_V1,
      Number(proc),
      p.args as any,
      args,
      p.result as any,
    )) as any;
    if (Number(proc) === OPTARC_NULL) return undefined;
    if (res.tag !== OptarcStatus.OPTARC_OK) throw new AgentError(res.tag, res.value as OptarcFail);
    return res.value;
  }

  private get s(): bigint {
    if (this.session === undefined) throw new Error('call hello() first');
    return this.session;
  }

  null(): Promise<void> {
    return this.call(OPTARC_NULL, undefined);
  }

  async hello(client: string): Promise<OptarcHelloOk> {
    const ok = (await this.call(OPTARC_HELLO, {
      protocol: OPTARC_VERSION,
      client_time: timeNow(),
      client,
    })) as OptarcHelloOk;
    this.session = ok.session;
    return ok;
  }

  async bye(): Promise<void> {
    if (this.session === undefined) return;
    await this.call(OPTARC_BYE, { session: this.session });
    this.session = undefined;
  }

  mkdir(path: Buffer, mode = 0o755): Promise<void> {
    return this.call(OPTARC_MKDIR, { session: this.s, path, mode });
  }

  async write(path: Buffer, offset: bigint, data: Buffer): Promise<bigint> {
    return (await this.call(OPTARC_WRITE, { session: this.s, path, offset, data })).size;
  }

  commit(
    path: Buffer,
    size: bigint,
    mode: number,
    mtime: OptarcTime | null,
    sha256: Buffer | null,
  ): Promise<{ sha256: Buffer; size: bigint }> {
    return this.call(OPTARC_COMMIT_FILE, { session: this.s, path, size, mode, mtime, sha256 });
  }

  list(dir: Buffer, cookie = 0n, count = 512): Promise<{ entries: OptarcEntry[]; cookie: bigint; eof: boolean }> {
    return this.call(OPTARC_LIST, { session: this.s, dir, cookie, count });
  }

  /** Every entry of a directory, following the cookies. */
  async listAll(dir: Buffer): Promise<OptarcEntry[]> {
    const all: OptarcEntry[] = [];
    let cookie = 0n;
    for (;;) {
      const page = await this.list(dir, cookie);
      all.push(...page.entries);
      if (page.eof) return all;
      cookie = page.cookie;
    }
  }

  stat(path: Buffer): Promise<OptarcEntry> {
    return this.call(OPTARC_STAT, { session: this.s, path });
  }

  remove(path: Buffer): Promise<void> {
    return this.call(OPTARC_REMOVE, { session: this.s, path });
  }

  burn(mode: OptarcBurnMode, copies: number, media: string, label: string): Promise<bigint> {
    return this.call(OPTARC_BURN, { session: this.s, mode, copies, media, label });
  }

  /** A job's state, step and progress, with every volume and every copy of it. */
  jobStatus(job: bigint): Promise<OptarcJobStatus> {
    return this.call(OPTARC_JOB_STATUS, { session: this.s, job });
  }

  drives(): Promise<OptarcDrive[]> {
    return this.call(OPTARC_DRIVES, { session: this.s });
  }

  /** COPY: read the disc in `drive` into the agent's copy area (a job). */
  copy(drive: string): Promise<bigint> {
    return this.call(OPTARC_COPY, { session: this.s, drive });
  }

  /** BURN_COPY: burn the latest COPY `copies` more times as copies of the same volume (a job). */
  burnCopy(copies: number, media: string): Promise<bigint> {
    return this.call(OPTARC_BURN_COPY, { session: this.s, copies, media });
  }

  mount(drive: string): Promise<void> {
    return this.call(OPTARC_MOUNT, { session: this.s, drive });
  }

  /** Every entry of a directory of the disc mounted in `drive`, page by page. */
  async volListAll(drive: string, dir: Buffer): Promise<OptarcEntry[]> {
    const all: OptarcEntry[] = [];
    let cookie = 0n;
    for (;;) {
      const page: { entries: OptarcEntry[]; cookie: bigint; eof: boolean } = await this.call(OPTARC_VOL_LIST, {
        session: this.s,
        drive,
        dir,
        cookie,
        count: 512,
      });
      all.push(...page.entries);
      if (page.eof) return all;
      cookie = page.cookie;
    }
  }

  volRead(drive: string, path: Buffer, offset: bigint, count: number): Promise<{ data: Buffer; eof: boolean }> {
    return this.call(OPTARC_VOL_READ, { session: this.s, drive, path, offset, count });
  }

  // --- the catalog, retrieval, re-burn and fixity ----------------------------

  /** One page of the catalog's volumes created at or after `since`. */
  catVolumes(since: OptarcTime, cookie = 0n, count = 128): Promise<OptarcCatVolumesOk> {
    return this.call(OPTARC_CAT_VOLUMES, { session: this.s, since, cookie, count });
  }

  /** One page of archived files matching `pattern` (EXACT, LIKE or GLOB). */
  catFind(
    match: OptarcMatch,
    pattern: Buffer,
    o: { since?: OptarcTime; vsn?: string; cookie?: bigint; count?: number } = {},
  ): Promise<OptarcCatFindOk> {
    return this.call(OPTARC_CAT_FIND, {
      session: this.s,
      match,
      pattern,
      since: o.since ?? { seconds: 0n, nanoseconds: 0 },
      vsn: o.vsn ?? '',
      cookie: o.cookie ?? 0n,
      count: o.count ?? 128,
    });
  }

  /** One page of where a file is: by path, or by SHA-256 when given. */
  catWhereis(path: Buffer, sha256: Buffer | null, cookie = 0n, count = 128): Promise<OptarcWhereisOk> {
    return this.call(OPTARC_CAT_WHEREIS, { session: this.s, path, sha256, cookie, count });
  }

  retrieve(args: Omit<OptarcRetrieveArgs, 'session'>): Promise<OptarcRetrieval> {
    return this.call(OPTARC_RETRIEVE, { session: this.s, ...args });
  }

  retrieveStatus(token: string): Promise<OptarcRetrieval> {
    return this.call(OPTARC_RETRIEVE_STATUS, { session: this.s, token });
  }

  /** A chunk of a ready retrieval; the read that reaches its end frees the entry. */
  retrieveCached(token: string, offset: bigint, count: number): Promise<{ data: Buffer; eof: boolean }> {
    return this.call(OPTARC_RETRIEVE_CACHED, { session: this.s, token, offset, count });
  }

  /**
   * A ready retrieval of `size` bytes read from start to end, handing each
   * chunk to `onChunk` in order. When the first read comes back whole, the
   * rest is read with up to `window` RETRIEVE_CACHED calls in flight (like NFS
   * read-ahead); an agent that answers short reads is read one call at a time.
   * Data past `size`, or an answer that neither advances nor ends, is an
   * Error; the caller's check of size and SHA-256 decides what the data is worth.
   */
  async retrieveCachedAll(
    token: string,
    size: bigint,
    onChunk: (data: Buffer) => Promise<void> | void,
    o: { chunk?: number; window?: number } = {},
  ): Promise<void> {
    const chunk = BigInt(o.chunk ?? OPTARC_MAX_DATA);
    const window = Math.max(1, o.window ?? 4);
    const wanted = (at: bigint) => (size - at < chunk ? (size - at > 0n ? size - at : 0n) : chunk);
    const take = async (at: bigint, got: { data: Buffer; eof: boolean }) => {
      if (at + BigInt(got.data.length) > size)
        throw new Error(`the agent sent more than the ${size} bytes of ${token}`);
      if (got.data.length === 0 && !got.eof)
        throw new Error(`the agent sent no data of ${token} at ${at} before its end`);
      await onChunk(got.data);
      return at + BigInt(got.data.length);
    };
    let at = 0n;
    const first = await this.retrieveCached(token, 0n, Number(wanted(0n)));
    at = await take(0n, first);
    if (first.eof) return;
    if (BigInt(first.data.length) < chunk) {
      // short reads: one call at a time
      for (;;) {
        const got = await this.retrieveCached(token, at, Number(chunk));
        at = await take(at, got);
        if (got.eof) return;
      }
    }
    const offsets: bigint[] = [];
    for (let next = at; next < size; next += chunk) offsets.push(next);
    const inflight: Promise<{ data: Buffer; eof: boolean }>[] = [];
    let issued = 0;
    for (let i = 0; i < offsets.length; i++) {
      while (inflight.length < window && issued < offsets.length) {
        const p = this.retrieveCached(token, offsets[issued]!, Number(wanted(offsets[issued]!)));
        p.catch(() => {}); // awaited in order below; an early failure must not go unhandled
        inflight.push(p);
        issued++;
      }
      const got = await inflight.shift()!;
      const last = i === offsets.length - 1;
      if (BigInt(got.data.length) !== wanted(offsets[i]!) || got.eof !== last) {
        throw new Error(
          `RETRIEVE_CACHED of ${token} at ${offsets[i]} answered ${got.data.length} bytes${got.eof ? ' and eof' : ''} during read-ahead, not ${wanted(offsets[i]!)}${last ? ' and eof' : ''}`,
        );
      }
      at = await take(offsets[i]!, got);
    }
    if (offsets.length === 0) throw new Error(`the agent did not say where ${token} ends`);
  }

  /** REBURN: burn `copies` new copies of `vsn` from its cloud image (a job). */
  reburn(vsn: string, copies: number, media = ''): Promise<bigint> {
    return this.call(OPTARC_REBURN, { session: this.s, vsn, copies, media });
  }

  /** The latest fixity checks (of `vsn`, or of all volumes), optionally starting a pass now. */
  fixity(o: { run?: boolean; vsn?: string; cookie?: bigint; count?: number } = {}): Promise<OptarcFixityOk> {
    return this.call(OPTARC_FIXITY, {
      session: this.s,
      run: o.run ?? false,
      vsn: o.vsn ?? '',
      cookie: o.cookie ?? 0n,
      count: o.count ?? 128,
    });
  }

  close(): void {
    this.rpc.close();
  }
}
