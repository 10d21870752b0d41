/**
 * Restoring one file from the cloud copy of a big volume, against a direct GET
 * of an object of the same size from the same S3, measured in the same run
 * (issue 7: "restoring one 10 MiB file from a 4 GiB image in S3 moves only that
 * file's bytes and takes under 2× a direct GET of a 10 MiB object").
 *
 * The volume is built through the product: a tree of one 10 MiB random file
 * (the needle) and ~4 GiB of other random files is staged (`optarc put`),
 * burned on one stand-in BD-R (`optarc burn --copies 1 --media bd-r`) and
 * mirrored by the agent through a real `optarc-gateway serve` to a Ceph RGW of
 * the bench's own (var/bench-retrieve/rgw, so that nothing else's requests are
 * counted). After the burn the disc is on the shelf, not in a drive, so an
 * OFFLINE retrieval must come from the cloud copy.
 *
 *   restore:  one AgentClient session (opened before the clock): RETRIEVE the
 *             needle OFFLINE at priority 1, RETRIEVE_STATUS until READY
 *             (polled every `pollMs`), RETRIEVE_CACHED in 1 MiB reads to a
 *             local file. The file's SHA-256 and the retrieval's source are
 *             checked after the clock stops.
 *   direct:   a presigned GET of a 10 MiB object (the same size, random) from
 *             the same bucket, made by the gateway's ObjectStore (Range signed,
 *             as the agent's reads are) and fetched with Node's fetch to a
 *             local file, as the agent's CloudReader does: the baseline.
 *   curl:     the same URL with curl (a second baseline, outside Node).
 *   extent:   the same as direct, of the needle's own bytes in the image
 *             object (its extents, from the agent's catalog): what S3 alone
 *             costs for the restore's reads.
 *   reader:   a diagnostic: the agent's read path alone, in this process: the
 *             agent's CloudReader.fetch of that extent, each chunk hashed and
 *             written as it arrives, then fsync, as retrieval's fetch-file.ts
 *             does (no gateway, scheduler, journal or RPC).
 *
 * Bytes moved are counted at the S3 server, two ways, for every timed run:
 * RGW's perf counters (`get` requests, `get_b` bytes of object data sent,
 * read from its admin socket before and after) and its request log (the beast
 * frontend's access line per request: status, bytes sent, Range), filtered to
 * the image object. A restore must GET exactly the needle's size.
 *
 * Each side runs `runs` times after an untimed warm-up of each, the order of
 * the sides rotated between runs; figures are medians. The build (RGW, gateway,
 * agent, 4 GiB burned and mirrored) takes a few minutes and is untimed; with
 * `keep` it is left in var/bench-retrieve and reused by the next run (the agent
 * and gateway are started again from the freshly built code), else removed.
 */
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync, statfsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export interface RetrieveBenchOptions {
  /** Timed runs of each side (default 9). */
  runs: number;
  /** Total payload of the tree burned (default 4 GiB). */
  imageBytes: number;
  /** The needle's size (default 10 MiB). */
  fileBytes: number;
  /** RETRIEVE_STATUS polling interval, ms (default 5). */
  pollMs: number;
  /** Keep the built volume, RGW, gateway and agent state in var/bench-retrieve for the next run. */
  keep: boolean;
  log: (s: string) => void;
}

type Side = 'restore' | 'direct' | 'curl' | 'extent' | 'reader';
const SIDES: readonly Side[] = ['restore', 'direct', 'curl', 'extent', 'reader'];

/** One GET as RGW's request log recorded it. */
export interface LoggedGet {
  status: number;
  bytesSent: number;
  range: string;
  latencySeconds: number;
}

export interface SideRun {
  seconds: number;
  /** RGW's perf counters over the run: GET requests and bytes of object data sent. */
  gets: number;
  getBytes: number;
  /** Every request RGW logged for the object read. */
  logged: LoggedGet[];
  /** CPU seconds (user + system) of radosgw + ceph-osd during the run. */
  serverCpu: number;
  /** The reader side: chunks the body arrived in. */
  chunks?: number;
}

export interface RestoreRun extends SideRun {
  /** RETRIEVE answered; FETCHING (or READY) first seen; READY seen (seconds from the start). */
  retrieveAt: number;
  fetchingAt: number;
  readyAt: number;
  /** RETRIEVE_STATUS calls made. */
  polls: number;
  /** The retrieval's source, as the agent reported it. */
  source: string;
  /** RETRIEVE_CACHED calls: the median one and the last (which frees the entry), seconds. */
  readMedian: number;
  readLast: number;
  /** CPU seconds of the agent and the gateway during the run. */
  agentCpu: number;
  gatewayCpu: number;
}

export interface RetrieveFigures {
  runs: number;
  imageBytes: number;
  fileBytes: number;
  pollMs: number;
  /** The volume's image in S3: its size and the needle's extents in it. */
  objectBytes: number;
  extents: { offset: number; length: number }[];
  vsn: string;
  needlePath: string;
  /** Untimed build, seconds: tree written, put, burn, mirror to ack (when it was built, if reused). */
  build: { tree: number; put: number; burn: number; mirror: number };
  reused: boolean;
  all: { restore: RestoreRun[]; direct: SideRun[]; curl: SideRun[]; extent: SideRun[]; reader: SideRun[] };
  /** Why a side was not measured. */
  missing: Partial<Record<Side, string>>;
  /** 1-minute load average: when the timed runs began, the highest seen during them, when they ended. */
  load: { start: number; max: number; end: number };
  rgwVersion: string;
  curlVersion: string;
}

// --- small helpers -------------------------------------------------------------------

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const hr = () => process.hrtime.bigint();
const since = (t0: bigint) => Number(hr() - t0) / 1e9;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** utime + stime of a process, seconds (0 once it is gone). */
function cpuOf(pid: number | undefined, ticks: number): number {
  if (!pid) return 0;
  let stat = '';
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // after the command name "(...)": field 3 is the state; utime is field 14, stime 15
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[14 - 3]) + Number(f[15 - 3])) / ticks;
}

function execOut(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 * MiB }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(`${stdout}${stderr}`),
    );
  });
}

/**
 * One command to a Ceph daemon's admin socket (what `ceph --admin-daemon` does,
 * without its Python start-up): the JSON command and a NUL; the answer is a
 * 4-byte big-endian length and that much JSON.
 */
export function adminSocket(socketPath: string, prefix: string, timeoutMs = 10_000): Promise<any> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    const chunks: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${socketPath}: no answer to ${prefix} in ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => sock.write(Buffer.concat([Buffer.from(JSON.stringify({ prefix })), Buffer.of(0)])));
    sock.on('data', (d) => {
      chunks.push(d);
      got += d.length;
      const all = Buffer.concat(chunks);
      if (got >= 4) {
        const n = all.readUInt32BE(0);
        if (n > 64 * MiB) {
          clearTimeout(timer);
          sock.destroy();
          reject(new Error(`${socketPath}: an answer of ${n} bytes`));
        } else if (got >= 4 + n) {
          clearTimeout(timer);
          sock.destroy();
          try {
            resolve(JSON.parse(all.subarray(4, 4 + n).toString('utf8')));
          } catch (e) {
            reject(new Error(`${socketPath}: ${prefix} answered no JSON: ${(e as Error).message}`));
          }
        }
      }
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** A beast access line of RGW's log: `"GET /b/k?... HTTP/1.1" 206 10485760 - "ua" bytes=0-9 latency=0.01s`. */
const ACCESS =
  /beast: \S+ \S+ - \S+ \[[^\]]*\] "(\w+) (\S+) HTTP\/[\d.]+" (\d+) (\d+) \S+ "[^"]*" (\S+) latency=([\d.]+)s/;

export function parseAccessLines(text: string, keyPart: string): LoggedGet[] {
  const out: LoggedGet[] = [];
  for (const line of text.split('\n')) {
    const m = ACCESS.exec(line);
    if (!m || m[1] !== 'GET') continue;
    const pathOnly = m[2].split('?')[0]!;
    if (!decodeURIComponent(pathOnly).endsWith(keyPart)) continue;
    out.push({ status: Number(m[3]), bytesSent: Number(m[4]), range: m[5]!, latencySeconds: Number(m[6]) });
  }
  return out;
}

/** Random-looking data fast: an AES-128-CTR keystream (randomBytes would cost more CPU than the disk). */
async function writeRandomFile(file: string, size: number): Promise<string> {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(8 * MiB);
  const hash = createHash('sha256');
  const fh = await fs.open(file, 'w', 0o644);
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(zeros.length, size - done);
      const chunk = cipher.update(zeros.subarray(0, n));
      hash.update(chunk);
      await fh.write(chunk);
      done += n;
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const c of createReadStream(file)) hash.update(c as Buffer);
  return hash.digest('hex');
}

// --- the built volume, kept between runs with `keep` -------------------------------------

interface Setup {
  version: 1;
  bucket: string;
  token: string;
  vsn: string;
  /** The needle's archived path (utf-8) and SHA-256 (hex). */
  needlePath: string;
  needleSha256: string;
  fileBytes: number;
  imageBytes: number;
  objectKey: string;
  objectVersion: string | null;
  objectBytes: number;
  extents: { offset: number; length: number }[];
  build: { tree: number; put: number; burn: number; mirror: number };
}

export async function retrieveBenchmark(o: RetrieveBenchOptions): Promise<RetrieveFigures> {
  const { ROOT, BIN, freePort, run, startDaemon, stopDaemon } = await import('../helpers/processes.js');
  const { rgwMissing } = await import('../helpers/test-rgw.js');
  const { startRgw, stopRgw, s3ClientConfig } = await import('../../infra/rgw/rgw.js');
  const { cephPaths, RGW_NAME } = await import('../../infra/rgw/ceph-conf.js');
  const { configSchema } = await import('../../config/schema.js');
  const { ObjectStore } = await import('../../gateway/s3/object-store.js');
  const { AgentClient, AgentError } = await import('../../clients/node/agent-client.js');
  const { OptarcRetrieveMode, OptarcRetrievalState, OptarcStatus } = await import(
    '../../clients/protocol/generated/optarc.js'
  );
  const { releaseWriteOnce } = await import('../../edge-agent/drives/stand-in-medium.js');
  const { CloudReader } = await import('../../edge-agent/cloud/cloud-reader.js');
  const { default: Database } = await import('better-sqlite3');
  const { PutObjectCommand, S3Client } = await import('@aws-sdk/client-s3');

  const missingRgw = rgwMissing();
  if (missingRgw) throw new Error(`retrieve bench: ${missingRgw}`);

  const work = path.join(ROOT, 'var', 'bench-retrieve');
  const rgwDir = path.join(work, 'rgw');
  const gwDir = path.join(work, 'gateway');
  const agentDir = path.join(work, 'agent');
  const setupFile = path.join(work, 'setup.json');
  const outDir = path.join(work, 'out');
  await fs.mkdir(work, { recursive: true });

  let setup: Setup | undefined;
  if (existsSync(setupFile)) {
    const s = JSON.parse(readFileSync(setupFile, 'utf8')) as Setup;
    if (s.version === 1 && s.imageBytes === o.imageBytes && s.fileBytes === o.fileBytes) setup = s;
    else o.log(`retrieve: ${setupFile} was built for other sizes: building again`);
  }
  if (!setup) {
    // nothing half-built survives: a fresh cluster, gateway and agent
    await stopRgw(rgwDir).catch(() => undefined);
    await releaseWriteOnce(agentDir).catch(() => undefined);
    for (const d of [rgwDir, gwDir, agentDir, outDir]) await fs.rm(d, { recursive: true, force: true });
    // source tree (deleted once staged) + staging + image + the disc + the RGW's copy, with room to spare
    const st = statfsSync(work);
    const free = st.bavail * st.bsize;
    const need = 4 * o.imageBytes + 2 * GiB;
    if (free < need) {
      throw new Error(
        `retrieve bench: ${(free / GiB).toFixed(1)} GiB free under ${work}, and building a ${(o.imageBytes / GiB).toFixed(1)} GiB volume needs ${(need / GiB).toFixed(1)} GiB`,
      );
    }
  }

  o.log(`retrieve: starting the bench's own RGW in ${path.relative(ROOT, rgwDir)}`);
  const rgw = await startRgw({
    dir: rgwDir,
    port: 0,
    blockSizeBytes: Math.ceil((2 * o.imageBytes + 4 * GiB) / GiB) * GiB,
  });
  const rgwSocket = path.join(cephPaths(rgwDir).run, `${RGW_NAME}.asok`);
  const rgwLog = path.join(cephPaths(rgwDir).log, `${RGW_NAME}.log`);
  const perf = async () => {
    const d = await adminSocket(rgwSocket, 'perf dump');
    return { gets: Number(d.rgw.get), getBytes: Number(d.rgw.get_b) };
  };

  let builtNow = false;
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const f of stops.reverse()) await f().catch((e: Error) => o.log(`retrieve: cleaning up: ${e.message}`));
    stops.length = 0;
  };
  const bucket = setup?.bucket ?? `optarc-bench-retrieve-${randomBytes(4).toString('hex')}`;
  const s3 = new S3Client(s3ClientConfig(rgw));
  stops.push(async () => s3.destroy());

  try {
    // --- the gateway: its defaults, its own store and (versioned) bucket --------------------
    await fs.mkdir(gwDir, { recursive: true });
    const gwPort = await freePort();
    const gwConfig = path.join(gwDir, 'gateway.json');
    const gatewaySection = {
      http: { host: '127.0.0.1', port: gwPort },
      store: path.join(gwDir, 'gateway.sqlite'),
      search: { index: path.join(gwDir, 'index.sqlite') },
      s3: { endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, bucket },
    };
    await fs.writeFile(gwConfig, JSON.stringify({ log: { level: 'warn' }, gateway: gatewaySection }));
    const gateway = await startDaemon(BIN.gateway, ['serve', '--config', gwConfig]);
    stops.push(() => stopDaemon(gateway.child));
    let token = setup?.token;
    if (!token) {
      const issued = await run(BIN.gateway, ['agents', 'add', '--site', 'bench', '--json', '--config', gwConfig]);
      if (issued.code !== 0) throw new Error(`optarc-gateway agents add: ${issued.stderr}`);
      token = JSON.parse(issued.stdout).token as string;
    }

    // --- the agent: one stand-in drive, the mirror to that gateway, retrieval defaults --------
    await fs.mkdir(agentDir, { recursive: true });
    const pm = await freePort();
    const state = path.join(agentDir, 'state');
    const agentConfig = path.join(agentDir, 'agent.json');
    await fs.writeFile(
      agentConfig,
      JSON.stringify({
        log: { level: 'warn' },
        agent: {
          portmap: { port: pm },
          stateDir: state,
          staging: { root: path.join(agentDir, 'stage'), minFreeBytes: 0 },
          drives: [
            {
              name: 'sr0',
              address: `stdio:${path.join(agentDir, 'drives', 'sr0', 'medium')}`,
              standIn: { shelf: path.join(agentDir, 'shelf') },
            },
          ],
          burn: { site: 'bench' },
          mirror: { gatewayUrl: `ws://127.0.0.1:${gwPort}`, token, reconnectMinSeconds: 0.2, reconnectMaxSeconds: 2 },
        },
      }),
    );
    const agent = await startDaemon(BIN.agent, ['--config', agentConfig], {}, 60_000);
    stops.push(() => stopDaemon(agent.child));
    const cli = async (...args: string[]) => {
      const r = await run(BIN.optarc, [...args, '--portmap-port', String(pm)], {}, 30 * 60_000);
      if (r.code !== 0) throw new Error(`optarc ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
      return r;
    };
    const catalog = () => new Database(path.join(state, 'catalog.sqlite'), { readonly: true, fileMustExist: true });

    if (!setup) setup = await build();
    const s = setup;
    const store = ObjectStore.fromConfig(configSchema.parse({ gateway: gatewaySection }).gateway);
    stops.push(async () => store.destroy());
    const head = await store.head(s.objectKey, s.objectVersion ?? undefined).catch(() => null);
    if (head?.size !== s.objectBytes) {
      throw new Error(
        `the kept build in ${work} is broken (${s.objectKey} is ${head ? `${head.size} bytes` : 'gone'} in S3): remove that directory and run again`,
      );
    }

    // --- the baseline object: 10 MiB of random data in the same bucket ----------------------
    await fs.mkdir(outDir, { recursive: true });
    const directKey = 'bench/direct-object';
    const directFile = path.join(outDir, 'direct-source.bin');
    const directSha = await writeRandomFile(directFile, o.fileBytes);
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: directKey,
        Body: readFileSync(directFile),
        ContentLength: o.fileBytes,
      }),
    );
    await fs.rm(directFile);
    const link = async (key: string, versionId: string | null, offset: number, length: number) =>
      store.presignRangeGet(key, {
        ...(versionId ? { versionId } : {}),
        start: offset,
        end: offset + length - 1,
        seconds: 3600,
      });

    // --- the sides ---------------------------------------------------------------------------
    const missing: RetrieveFigures['missing'] = {};
    let curlVersion = '';
    try {
      curlVersion = (await execOut('curl', ['--version'])).split('\n')[0]!;
    } catch (e) {
      missing.curl = `curl is not installed (${(e as Error).message.split('\n')[0]})`;
    }
    const singleExtent = s.extents.length === 1 ? s.extents[0]! : undefined;
    if (!singleExtent) {
      missing.extent = `the needle has ${s.extents.length} extents: the reference GET reads one`;
      missing.reader = missing.extent;
    }

    /** A presigned ranged GET with Node's fetch, into `file`, as the agent's CloudReader reads. */
    const nodeGet = async (url: string, offset: number, length: number, file: string) => {
      const res = await fetch(url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
      if (res.status !== 206 || !res.body) throw new Error(`GET answered ${res.status}`);
      await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream), createWriteStream(file));
    };
    const reader = new CloudReader(() => undefined); // fetch() only: the URL is signed here
    const readerGet = async (url: string, offset: number, length: number, file: string) => {
      const hash = createHash('sha256');
      let chunks = 0;
      const fh = await fs.open(file, 'w', 0o600);
      try {
        await reader.fetch({ offset, length, url }, async (chunk) => {
          chunks++;
          hash.update(chunk);
          let off = 0;
          while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
        });
        await fh.sync();
      } finally {
        await fh.close();
      }
      return chunks;
    };
    const curlGet = async (url: string, offset: number, length: number, file: string) => {
      await execOut('curl', ['-sS', '--fail', '-H', `Range: bytes=${offset}-${offset + length - 1}`, '-o', file, url]);
    };

    const client = await AgentClient.connect({ host: '127.0.0.1', portmapPort: pm, timeoutMs: 60_000 });
    stops.push(async () => {
      await client.bye().catch(() => undefined);
      client.rpc.close();
    });
    await client.hello('retrieve-bench');
    // OFFLINE with no disc in a drive: the cloud copy is the only source
    const loaded = (await client.drives()).filter((d) => d.loaded && d.vsn === s.vsn);
    if (loaded.length > 0)
      throw new Error(`${s.vsn} is loaded in ${loaded.map((d) => d.name).join(', ')}: not a cloud restore`);

    const ticks = Number((await execOut('getconf', ['CLK_TCK'])).trim()) || 100;
    const serverCpu = () => cpuOf(rgw.pids.rgw, ticks) + cpuOf(rgw.pids.osd, ticks);
    const agentCpu = () => cpuOf(agent.child.pid, ticks);
    const gatewayCpu = () => cpuOf(gateway.child.pid, ticks);

    const restoreOnce = async (
      file: string,
    ): Promise<
      Pick<
        RestoreRun,
        'seconds' | 'retrieveAt' | 'fetchingAt' | 'readyAt' | 'polls' | 'source' | 'readMedian' | 'readLast'
      >
    > => {
      const c = client;
      const t0 = hr();
      const r = await c.retrieve({
        path: Buffer.from(s.needlePath),
        sha256: null,
        vsn: '',
        mode: OptarcRetrieveMode.OPTARC_OFFLINE,
        priority: 1,
        deadline: { seconds: 0n, nanoseconds: 0 },
      });
      const retrieveAt = since(t0);
      let st = r;
      let polls = 0;
      let fetchingAt: number | undefined;
      for (;;) {
        if (fetchingAt === undefined && st.state !== OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED)
          fetchingAt = since(t0);
        if (st.state === OptarcRetrievalState.OPTARC_RETRIEVAL_READY) break;
        if (st.state === OptarcRetrievalState.OPTARC_RETRIEVAL_FAILED || st.state >= 5)
          throw new Error(`retrieval ${r.token} ended in state ${st.state}: ${st.message}`);
        if (since(t0) > 600) throw new Error(`retrieval ${r.token} not ready after 600 s: state ${st.state}`);
        if (o.pollMs > 0) await sleep(o.pollMs);
        st = await c.retrieveStatus(r.token);
        polls++;
      }
      const readyAt = since(t0);
      const fh = await fs.open(file, 'w', 0o644);
      const reads: number[] = [];
      try {
        // as `optarc get` collects: 1 MiB reads, 4 in flight, written in order
        let tr = hr();
        await c.retrieveCachedAll(
          r.token,
          st.size,
          async (data) => {
            reads.push(since(tr));
            await fh.write(data);
            tr = hr();
          },
          { chunk: MiB, window: 4 },
        );
      } finally {
        await fh.close();
      }
      return {
        seconds: since(t0),
        retrieveAt,
        fetchingAt: fetchingAt!,
        readyAt,
        polls,
        source: st.source,
        readMedian: median(reads),
        readLast: reads.at(-1)!,
      };
    };

    // the first restore, untimed: an agent without retrieval answers NOT_AVAILABLE (the baselines still run)
    try {
      await restoreOnce(path.join(outDir, 'probe.bin'));
    } catch (e) {
      if (!(e instanceof AgentError) || e.status !== OptarcStatus.OPTARC_NOT_AVAILABLE) throw e;
      missing.restore = `the agent answers RETRIEVE with ${e.statusName}: ${e.message}`;
    }

    const all: RetrieveFigures['all'] = { restore: [], direct: [], curl: [], extent: [], reader: [] };
    const order = SIDES.filter((x) => !missing[x]);
    const measure = async (side: Side, timed: boolean) => {
      const file = path.join(outDir, `${side}.bin`);
      await fs.rm(file, { force: true });
      const ofImage = side === 'restore' || side === 'extent' || side === 'reader';
      const objectKey = ofImage ? s.objectKey : directKey;
      const url =
        side === 'restore'
          ? ''
          : ofImage
            ? await link(s.objectKey, s.objectVersion, singleExtent!.offset, singleExtent!.length)
            : await link(directKey, null, 0, o.fileBytes);
      const logStart = (await fs.stat(rgwLog)).size;
      const p0 = await perf();
      const cpu0 = { server: serverCpu(), agent: agentCpu(), gateway: gatewayCpu() };
      let extra: Omit<RestoreRun, keyof SideRun> | undefined;
      let seconds: number;
      let chunks: number | undefined;
      if (side === 'restore') {
        const r = await restoreOnce(file);
        if (!r.source.includes('cloud'))
          throw new Error(`the restore came from ${JSON.stringify(r.source)}, not the cloud`);
        seconds = r.seconds;
        extra = {
          retrieveAt: r.retrieveAt,
          fetchingAt: r.fetchingAt,
          readyAt: r.readyAt,
          polls: r.polls,
          source: r.source,
          readMedian: r.readMedian,
          readLast: r.readLast,
          agentCpu: agentCpu() - cpu0.agent,
          gatewayCpu: gatewayCpu() - cpu0.gateway,
        };
      } else {
        const [offset, length] = ofImage ? [singleExtent!.offset, singleExtent!.length] : [0, o.fileBytes];
        const t0 = hr();
        if (side === 'reader') chunks = await readerGet(url, offset, length, file);
        else await (side === 'curl' ? curlGet : nodeGet)(url, offset, length, file);
        seconds = since(t0);
      }
      const server = serverCpu() - cpu0.server;
      const p1 = await perf();
      // the log is written asynchronously: wait (briefly) for the request's line
      let logged: LoggedGet[] = [];
      for (let i = 0; i < 40; i++) {
        const fh = await fs.open(rgwLog, 'r');
        try {
          const size = (await fh.stat()).size;
          const buf = Buffer.alloc(Math.max(0, size - logStart));
          await fh.read(buf, 0, buf.length, logStart);
          logged = parseAccessLines(buf.toString('utf8'), objectKey);
        } finally {
          await fh.close();
        }
        if (logged.length >= p1.gets - p0.gets) break;
        await sleep(50);
      }
      const want = ofImage ? s.needleSha256 : directSha;
      const got = await sha256File(file);
      if (got !== want) throw new Error(`${side}: the file read has SHA-256 ${got}, not ${want}`);
      await fs.rm(file, { force: true });
      const base: SideRun = {
        seconds,
        gets: p1.gets - p0.gets,
        getBytes: p1.getBytes - p0.getBytes,
        logged,
        serverCpu: server,
        ...(chunks !== undefined ? { chunks } : {}),
      };
      if (!timed) return;
      if (side === 'restore') all.restore.push({ ...base, ...extra! });
      else all[side].push(base);
    };

    // the build leaves gigabytes of dirty pages behind (image, disc, RGW): let writeback finish
    // before anything is timed, or the first runs measure the kernel's flushing
    await settle(o.log);
    // warm-up, untimed: each side once (the probe above was the restore's first)
    for (const side of order) await measure(side, false);
    const load = { start: os.loadavg()[0]!, max: os.loadavg()[0]!, end: 0 };
    for (let runNo = 0; runNo < o.runs; runNo++) {
      for (let i = 0; i < order.length; i++) {
        const side = order[(i + runNo) % order.length]!;
        await measure(side, true);
        load.max = Math.max(load.max, os.loadavg()[0]!);
        const last = side === 'restore' ? all.restore.at(-1)! : all[side].at(-1)!;
        const r = side === 'restore' ? all.restore.at(-1)! : undefined;
        o.log(
          `retrieve run ${runNo + 1}/${o.runs} ${side}: ${(last.seconds * 1000).toFixed(1)} ms; RGW sent ${last.getBytes} bytes in ${last.gets} GET(s) [${last.logged.map((g) => `${g.status} ${g.bytesSent} ${g.range}`).join(', ')}]` +
            (r
              ? `; RETRIEVE ${(r.retrieveAt * 1000).toFixed(1)} ms, FETCHING seen ${(r.fetchingAt * 1000).toFixed(1)} ms, READY ${(r.readyAt * 1000).toFixed(1)} ms after ${r.polls} polls, source ${JSON.stringify(r.source)}; reads ${(r.readMedian * 1000).toFixed(1)} ms (last ${(r.readLast * 1000).toFixed(1)} ms); CPU agent ${r.agentCpu.toFixed(2)} s, gateway ${r.gatewayCpu.toFixed(2)} s, RGW ${r.serverCpu.toFixed(2)} s`
              : ''),
        );
      }
    }
    load.end = os.loadavg()[0]!;
    const rgwVersion = (await execOut('radosgw', ['--version']).catch(() => '?')).trim().split('\n')[0]!;
    return {
      runs: o.runs,
      imageBytes: o.imageBytes,
      fileBytes: o.fileBytes,
      pollMs: o.pollMs,
      objectBytes: s.objectBytes,
      extents: s.extents,
      vsn: s.vsn,
      needlePath: s.needlePath,
      reused: !builtNow,
      build: s.build,
      all,
      missing,
      load,
      rgwVersion,
      curlVersion,
    };

    // --- the build: tree, put, burn, mirror, all untimed ---------------------------------------
    async function build(): Promise<Setup> {
      builtNow = true;
      const src = path.join(work, 'src');
      await fs.rm(src, { recursive: true, force: true });
      let t = hr();
      o.log(
        `retrieve: writing a ${(o.imageBytes / GiB).toFixed(2)} GiB tree: a ${o.fileBytes / MiB} MiB needle among random files`,
      );
      // the needle in the middle of the tree, so that its bytes sit inside the image, not at an end
      const fillBytes = o.imageBytes - o.fileBytes;
      const fillFile = 256 * MiB;
      const fills = Math.max(1, Math.ceil(fillBytes / fillFile));
      const needleRel = 'archive/m/needle-10m.bin';
      await fs.mkdir(path.join(src, 'archive', 'm'), { recursive: true });
      await fs.mkdir(path.join(src, 'archive', 'a'), { recursive: true });
      await fs.mkdir(path.join(src, 'archive', 'z'), { recursive: true });
      let left = fillBytes;
      for (let i = 0; i < fills; i++) {
        const size = Math.min(fillFile, left);
        left -= size;
        const dir = i < fills / 2 ? 'a' : 'z';
        await writeRandomFile(path.join(src, 'archive', dir, `fill-${String(i).padStart(3, '0')}.bin`), size);
      }
      const needleSha256 = await writeRandomFile(path.join(src, needleRel), o.fileBytes);
      const tree = since(t);

      t = hr();
      o.log('retrieve: optarc put');
      await cli('put', src, '--json');
      const put = since(t);
      await fs.rm(src, { recursive: true, force: true });

      const db = catalog();
      try {
        t = hr();
        o.log('retrieve: optarc burn --copies 1 --media bd-r');
        await cli('burn', '--copies', '1', '--media', 'bd-r', '--label', 'RETRIEVE BENCH', '--wait', '--json');
        const burn = since(t);
        t = hr();
        o.log('retrieve: waiting for the mirror to be acknowledged');
        type Row = { vsn: string; state: string; s3_key: string | null; version_id: string | null; size: number };
        let row: Row | undefined;
        const deadline = Date.now() + 30 * 60_000;
        for (;;) {
          row = db
            .prepare(
              `SELECT v.vsn, o.state, o.s3_key, o.version_id, v.image_bytes AS size
               FROM mirror_outbox o JOIN volumes v ON v.id = o.volume_id ORDER BY o.id DESC LIMIT 1`,
            )
            .get() as Row | undefined;
          if (row?.state === 'acked' && row.s3_key) break;
          if (Date.now() > deadline)
            throw new Error(`the mirror was not acknowledged in 30 min: ${JSON.stringify(row)}`);
          await sleep(500);
        }
        const mirror = since(t);
        // the needle: its archived path (as `put` staged it) and its extents in the image
        const files = db
          .prepare(
            `SELECT f.path, f.sha256, vf.extents FROM volume_files vf JOIN files f ON f.id = vf.file_id
             JOIN volumes v ON v.id = vf.volume_id WHERE v.vsn = ?`,
          )
          .all(row.vsn) as { path: Buffer; sha256: Buffer; extents: string | null }[];
        const needle = files.filter((f) => f.sha256.toString('hex') === needleSha256);
        if (needle.length !== 1)
          throw new Error(`the catalog holds ${needle.length} files with the needle's SHA-256 on ${row.vsn}`);
        const extents = (JSON.parse(needle[0]!.extents ?? '[]') as [string, string][]).map(([a, b]) => ({
          offset: Number(a),
          length: Number(b),
        }));
        const made: Setup = {
          version: 1,
          bucket,
          token: token!,
          vsn: row.vsn,
          needlePath: needle[0]!.path.toString('utf8'),
          needleSha256,
          fileBytes: o.fileBytes,
          imageBytes: o.imageBytes,
          objectKey: row.s3_key,
          objectVersion: row.version_id,
          objectBytes: Number(row.size),
          extents,
          build: { tree, put, burn, mirror },
        };
        // the staged tree is gone with the burn; the image file may stay (disc-space permitting, the agent keeps it)
        await fs.writeFile(setupFile, JSON.stringify(made, null, 2));
        o.log(
          `retrieve: built ${row.vsn} (${(made.objectBytes / GiB).toFixed(2)} GiB) in ${(tree + put + burn + mirror).toFixed(0)} s: tree ${tree.toFixed(0)} s, put ${put.toFixed(0)} s, burn ${burn.toFixed(0)} s, mirror ${mirror.toFixed(0)} s; the needle ${made.needlePath} at ${JSON.stringify(extents)}`,
        );
        return made;
      } finally {
        db.close();
      }
    }
  } finally {
    await stopAll();
    await stopRgw(rgwDir).catch((e: Error) => o.log(`retrieve: stopping the RGW: ${e.message}`));
    if (!o.keep) {
      o.log(`retrieve: removing ${path.relative(ROOT, work)} (--retrieve-keep keeps it for the next run)`);
      await releaseWriteOnce(agentDir).catch(() => undefined);
      await fs.rm(work, { recursive: true, force: true });
    }
  }
}

// --- BENCHMARKS.md -------------------------------------------------------------------------

export function retrieveMarkdown(f: RetrieveFigures, command: string): string[] {
  const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
  const mbps = (s: number) => `${(f.fileBytes / 1e6 / s).toFixed(0)} MB/s`;
  const med = (side: Side) => median((side === 'restore' ? f.all.restore : f.all[side]).map((r) => r.seconds));
  const runsOf = (side: Side) =>
    (side === 'restore' ? f.all.restore : f.all[side]).map((r) => (r.seconds * 1000).toFixed(0)).join(', ');
  const head = [
    `## Retrieval: one ${f.fileBytes / MiB} MiB file from a ${(f.imageBytes / GiB).toFixed(0)} GiB image in S3`,
    '',
    `Written by \`${command}\` on ${new Date().toISOString().slice(0, 10)}: \`nproc\` ${os.cpus().length} (${os.cpus()[0]?.model ?? '?'}),`,
    `${(os.totalmem() / GiB).toFixed(0)} GiB RAM, Node ${process.versions.node}; an RGW of the bench's own (${f.rgwVersion.replace(/ \(.*$/, '')},`,
    'one OSD on a file in `var/bench-retrieve`) on the same VM, over loopback (`test/bench/retrieve-bench.ts`).',
    `The volume ${f.vsn}: a tree of one ${f.fileBytes / MiB} MiB random file and ${((f.imageBytes - f.fileBytes) / GiB).toFixed(2)} GiB of other random files, staged`,
    '(`optarc put`), burned on one stand-in BD-R (`optarc burn --copies 1 --media bd-r`, the disc then on the shelf,',
    `not in a drive) and mirrored by the agent through \`optarc-gateway serve\`: an image object of ${n0(f.objectBytes)} bytes, the file`,
    `at ${f.extents.map((e) => `${n0(e.offset)}+${n0(e.length)}`).join(', ')} in it. Every time is the median of ${f.runs} runs after an untimed warm-up`,
    'of each side, the order of the sides rotated between runs. MB = 10⁶ bytes. 1-minute load average: ' +
      `${f.load.start.toFixed(1)} when the runs began, at most ${f.load.max.toFixed(1)} during them, ${f.load.end.toFixed(1)} at the end.`,
    '',
  ];
  if (f.missing.restore) {
    return [
      ...head,
      `**The restore was not measured**: ${f.missing.restore}. The baselines were:`,
      '',
      '| side | median | MB/s | runs (ms) |',
      '|---|---|---|---|',
      ...SIDES.filter((s) => !f.missing[s] && s !== 'restore').map(
        (s) => `| ${s} | ${ms(med(s))} | ${mbps(med(s))} | ${runsOf(s)} |`,
      ),
      '',
    ];
  }
  const restore = med('restore');
  const direct = med('direct');
  const rs = f.all.restore;
  // RGW 16.2 adds `end - ofs` of each GET's inclusive range to get_b (rgw_op.cc, RGWGetObj::execute): one byte short per GET
  const counted = (r: SideRun) => r.getBytes + r.gets;
  const logBytes = rs.map((r) => r.logged.reduce((a, g) => a + g.bytesSent, 0));
  const exact = rs.every((r, i) => counted(r) === f.fileBytes && logBytes[i] === f.fileBytes);
  const ranges = [...new Set(rs.flatMap((r) => r.logged.map((g) => `${g.status} ${g.range}`)))];
  const met = (b: boolean) => (b ? 'yes' : '**no**');
  const rows: string[] = [
    `| restore (RETRIEVE offline, priority 1 → READY → RETRIEVE_CACHED to a local file) vs a direct GET of a ${f.fileBytes / MiB} MiB object (Node \`fetch\`, presigned) | ${ms(restore)} | ${ms(direct)} | ${x(restore, direct)} | < 2× | ${met(restore < 2 * direct)} |`,
  ];
  if (!f.missing.curl) {
    const curl = med('curl');
    rows.push(
      `| restore vs the same direct GET with curl | ${ms(restore)} | ${ms(curl)} | ${x(restore, curl)} | < 2× | ${met(restore < 2 * curl)} |`,
    );
  }
  rows.push(
    `| bytes RGW sent per restore (its request log, and perf counter \`get_b\` + 1 per GET; every run) vs the file's size | ${[...new Set([...logBytes, ...rs.map(counted)].map(n0))].join(' / ')} | ${n0(f.fileBytes)} | ${x(median(logBytes), f.fileBytes)} | equal | ${met(exact)} |`,
  );
  const sideRow = (side: Side, label: string) => {
    if (f.missing[side]) return `| ${label} | ${f.missing[side]} | | | | | | | |`;
    const rr = side === 'restore' ? f.all.restore : f.all[side];
    const latency = median(rr.flatMap((r) => r.logged.map((g) => g.latencySeconds)));
    return `| ${label} | ${ms(med(side))} | ${mbps(med(side))} | ${x(med(side), direct)} | ${runsOf(side)} | ${n0(median(rr.map((r) => r.logged.reduce((a, g) => a + g.bytesSent, 0))))} | ${n0(median(rr.map((r) => r.getBytes)))} | ${median(rr.map((r) => r.gets))} | ${ms(latency)} |`;
  };
  return [
    ...head,
    '| benchmark | measured | baseline | ratio | goal | met? |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    '| side | median | MB/s | vs direct | runs (ms) | bytes sent (RGW log) | `get_b` | GETs | RGW latency |',
    '|---|---|---|---|---|---|---|---|---|',
    sideRow('restore', 'restore through the agent'),
    sideRow('direct', `direct GET of a ${f.fileBytes / MiB} MiB object, Node \`fetch\` to a file (baseline)`),
    sideRow('curl', 'the same with curl'),
    sideRow(
      'extent',
      "ranged GET of the file's bytes in the image object, Node `fetch` (what S3 alone costs the restore)",
    ),
    sideRow(
      'reader',
      "diagnostic: the agent's read path alone (its `CloudReader.fetch` of that range, each chunk hashed and written as it arrives, then fsync, as `fetch-file.ts` does)",
    ),
    '',
    "Bytes are counted at the S3 server, for every timed run, two ways: RGW's request log (the beast frontend's access",
    'line per request: status, bytes sent, Range; filtered to the object read) and its perf counters (`get` requests,',
    '`get_b`, read from its admin socket before and after the run; this RGW serves nothing but the bench). RGW 16.2 adds',
    "`end - ofs` of each GET's inclusive range to `get_b` (rgw_op.cc, `RGWGetObj::execute`), one byte short per GET: the",
    `direct GET of the ${n0(f.fileBytes)}-byte object counts ${[...new Set(f.all.direct.map((r) => n0(r.getBytes)))].join(' / ')} too, so the check adds one per GET. Per restore:`,
    `${[...new Set(rs.map((r) => r.gets))].join('/')} GET(s) of the image object, logged as ${ranges.map((r) => `\`${r}\``).join(', ')}, ${[...new Set(logBytes.map(n0))].join(' / ')} bytes sent by the log;`,
    `\`get_b\` ${[...new Set(rs.map((r) => n0(r.getBytes)))].join(' / ')}; the file is ${n0(f.fileBytes)} bytes, the image ${n0(f.objectBytes)} (the restore read ${((100 * median(logBytes)) / f.objectBytes).toFixed(2)}% of it).`,
    '',
    `Where a restore's time goes (medians; one AgentClient session, opened before the clock): RETRIEVE answered after`,
    `${ms(median(rs.map((r) => r.retrieveAt)))}; FETCHING first seen after ${ms(median(rs.map((r) => r.fetchingAt)))}; READY seen after ${ms(median(rs.map((r) => r.readyAt)))} (RETRIEVE_STATUS polled every ${f.pollMs} ms`,
    `between answers, ${median(rs.map((r) => r.polls))} polls; meanwhile the agent has the gateway presign the read, GETs it, hashes it, writes`,
    "and fsyncs its cache file; *RGW latency* above is RGW's own time for the GET, from its log, which includes waiting",
    'for the client to take the body); collecting it with RETRIEVE_CACHED',
    `(1 MiB reads, 4 in flight, written in order, as optarc get does) to a local file: ${ms(median(rs.map((r) => r.seconds - r.readyAt)))} (a chunk every ${ms(median(rs.map((r) => r.readMedian)))}, the last one, which frees the entry,`,
    `${ms(median(rs.map((r) => r.readLast)))}). The source the agent reported: ${[...new Set(rs.map((r) => JSON.stringify(r.source)))].join(', ')}. CPU per restore (user + system, medians): agent`,
    `${ms(median(rs.map((r) => r.agentCpu)))}, gateway ${ms(median(rs.map((r) => r.gatewayCpu)))}, RGW (radosgw + ceph-osd) ${ms(median(rs.map((r) => r.serverCpu)))}; for the direct GET the RGW spent`,
    `${ms(median(f.all.direct.map((r) => r.serverCpu)))}. Client and servers share the VM's ${os.cpus().length} cores with whatever else runs on it (see the load average).`,
    ...(f.all.reader.length
      ? [
          `In the diagnostic row the body of the range arrived in ${median(f.all.reader.map((r) => r.chunks ?? 0))} chunks (${(f.fileBytes / KiB / median(f.all.reader.map((r) => r.chunks ?? 1))).toFixed(0)} KiB on average), each hashed`,
          'and written with its own awaited write before the next one is taken.',
        ]
      : []),
    '',
    `Build (untimed${f.reused ? '; reused from an earlier run with `--retrieve-keep`, these are its times' : ''}): tree written ${f.build.tree.toFixed(0)} s,`,
    `\`optarc put\` ${f.build.put.toFixed(0)} s, burn ${f.build.burn.toFixed(0)} s, mirror to ack ${f.build.mirror.toFixed(0)} s.`,
    'Options: `--retrieve-runs N` (default 9), `--retrieve-gib N` (default 4), `--retrieve-poll-ms N` (default 5),',
    '`--retrieve-keep` (keep the built volume, RGW and agent in `var/bench-retrieve` for the next run, which then',
    'skips the build).',
    '',
  ];
}

/** Flushes dirty pages (`sync`) and waits, up to 3 minutes, for the 1-minute load average to drop under 2. */
async function settle(log: (line: string) => void): Promise<void> {
  await new Promise<void>((resolve) => execFile('sync', () => resolve()));
  const until = Date.now() + 180_000;
  while (os.loadavg()[0]! >= 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 5000));
  log(`retrieve: settled (sync done, 1-minute load average ${os.loadavg()[0]!.toFixed(1)})`);
}
