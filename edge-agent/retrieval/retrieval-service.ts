/**
 * Retrieval: RETRIEVE online and offline, the round-based priority scheduler,
 * the sources (every loaded disc of the volume, then the cloud copy), the
 * SHA-256 check before anything is handed out, the cache area and its
 * budget, collection (RETRIEVE_CACHED frees an entry read to its end), expiry,
 * and recovery after a crash. Requests live in the journal
 * (retrieval-journal.ts) from the moment a token is issued: nothing is lost.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Logger } from '../../clients/oncrpc/index.js';
import { OPTARC_MAX_DATA } from '../../clients/protocol/generated/optarc.js';
import type { Config } from '../../config/index.js';
import type { Catalog } from '../catalog/catalog.js';
import type { CloudReader } from '../cloud/cloud-reader.js';
import type { Drive, DrivePool } from '../drives/drive-pool.js';
import { printablePath } from '../packing/errors.js';
import { type ArchivedFile, ArchivedFiles } from './archived-files.js';
import { boundText } from './bounded-text.js';
import { CacheArea } from './cache-area.js';
import { cloudSource } from './cloud-source.js';
import { discSource, loadedDiscs } from './disc-source.js';
import { RetrievalError } from './errors.js';
import { fetchFile } from './fetch-file.js';
import { ReadCoverage } from './read-coverage.js';
import { RetrievalJournal, type RetrievalMode, type RetrievalRow, type RetrievalState } from './retrieval-journal.js';
import { checkQuotas, planRound, positionOf } from './retrieval-scheduler.js';
import { type Source, SourceFailure } from './source.js';

export interface RetrievalOptions {
  config: Config['agent']['retrieval'];
  /** The cache area (agentPaths().cacheDir). */
  cacheDir: string;
  catalog: Catalog;
  pool: DrivePool;
  cloud: CloudReader;
  log: Logger;
  /** How long a request no source could serve waits before it is tried again (ms; default 5000). */
  retryMs?: number;
  /** How often the expiry sweep runs (ms; default 60000). */
  sweepMs?: number;
}

export interface RetrieveRequest {
  /** The archived path, used when sha256 is null. */
  path: Buffer;
  sha256: Buffer | null;
  /** '' for any volume. */
  vsn: string;
  mode: RetrievalMode;
  /** OFFLINE: 1..5 (ignored for ONLINE). */
  priority: number;
  /** OFFLINE: ms since the epoch, or null for none. */
  deadline: number | null;
  clientId: string;
  client: string;
}

/** A retrieval as RETRIEVE and RETRIEVE_STATUS answer it. */
export interface RetrievalView {
  row: RetrievalRow;
  vsn: string;
  path: Buffer;
  size: number;
  sha256: Buffer;
  /** QUEUED offline: requests the scheduler serves before it; else 0. */
  position: number;
  percent: number;
  /** Faults, then what happens now (or why it failed). */
  message: string;
}

/** The largest RETRIEVE_CACHED read. */
export const MAX_READ = OPTARC_MAX_DATA;

const TOKEN = /^[0-9a-f]{32}$/;

/** Cache files kept open for collection at once. */
const MAX_OPEN_READS = 16;

/** How long an entry whose end was read waits for the rest of its bytes to be read before it is freed. */
const COLLECT_GRACE_MS = 60_000;

export class RetrievalService {
  private readonly journal: RetrievalJournal;
  private readonly files: ArchivedFiles;
  private readonly cache: CacheArea;
  private readonly log: Logger;
  private readonly retryMs: number;
  private readonly sweepMs: number;
  /** Fetches under way, by request id. */
  private readonly inflight = new Map<number, { abort: AbortController; done: Promise<boolean> }>();
  private readonly progress = new Map<number, number>();
  /** Per request: sources that failed their check (not tried again). */
  private readonly failedSources = new Map<number, Set<string>>();
  /** Per request: not before this time (ms), after the cache area failed to take it. */
  private readonly retryAt = new Map<number, number>();
  /**
   * Per volume: its requests wait until this time (ms), after one found no
   * source. Backing off by volume keeps its requests together: once a source
   * appears they are served in rounds as the scheduler orders them.
   */
  private readonly volumeWait = new Map<number, number>();
  /** Requests that did not fit in the cache: tried again once space is freed. */
  private readonly waitingForSpace = new Set<number>();
  private nextRound = 1;
  private roundsRun = 0;
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly openReads = new Map<string, fs.FileHandle>();
  private readonly coverage = new ReadCoverage();
  private readonly graceTimers = new Set<NodeJS.Timeout>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(readonly o: RetrievalOptions) {
    checkQuotas(o.config.quotas);
    this.journal = new RetrievalJournal(o.catalog);
    this.files = new ArchivedFiles(o.catalog);
    this.cache = new CacheArea(o.cacheDir, o.config.cacheBytes);
    this.log = o.log;
    this.retryMs = o.retryMs ?? 5000;
    this.sweepMs = o.sweepMs ?? 60_000;
  }

  /**
   * Restores the journaled queue (fetches cut short go back to the queue,
   * ready entries whose file vanished are fetched again, files no request
   * explains are deleted), sweeps expired entries and starts the scheduler.
   */
  async start(): Promise<void> {
    if (!this.stopped) return;
    await this.cache.prepare();
    let requeued = 0;
    for (const r of this.journal.inState('fetching')) {
      await this.cache.remove(this.cache.partPath(r.token));
      this.journal.requeue(r.id, 'its fetch was cut short by an agent restart: it is fetched again');
      requeued++;
    }
    const keep = new Set<string>();
    for (const r of this.journal.inState('ready')) {
      if (await this.cache.exists(r.token)) {
        keep.add(r.token);
        this.cache.count(r.bytes); // counted even beyond a budget lowered since
      } else {
        this.journal.requeue(r.id, 'its cache file was gone at restart: it is fetched again');
        requeued++;
      }
    }
    const orphans = await this.cache.sweepOrphans(keep);
    if (orphans.length > 0) this.log.warn('files no retrieval explains deleted from the cache area', { orphans });
    this.nextRound = this.journal.maxRound() + 1;
    this.stopped = false;
    await this.sweep();
    this.sweepTimer = setInterval(() => {
      this.sweep().catch((e) => this.log.error('retrieval expiry sweep failed', { error: (e as Error).message }));
    }, this.sweepMs);
    this.sweepTimer.unref();
    const counts = this.journal.counts();
    if (counts.queued > 0 || requeued > 0) {
      this.log.info('retrieval queue restored', { queued: counts.queued, ready: counts.ready, requeued });
    }
    this.loop = this.run().catch((e) => this.log.error('the retrieval scheduler stopped', { error: String(e) }));
  }

  /** Stops the scheduler; fetches under way are aborted and their requests stay queued. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const t of this.graceTimers) clearTimeout(t);
    for (const f of this.inflight.values()) f.abort.abort();
    this.wake();
    await this.loop;
    await Promise.all([...this.inflight.values()].map((f) => f.done));
    await Promise.all([...this.openReads.keys()].map((t) => this.closeReady(t)));
  }

  /** Rounds the scheduler has run since start, and the next round's number. */
  rounds(): { run: number; next: number } {
    return { run: this.roundsRun, next: this.nextRound };
  }

  counts(): Record<RetrievalState, number> {
    return this.journal.counts();
  }

  /** RETRIEVE: resolves the file, journals the request and answers it (ONLINE: after up to onlineWaitSeconds). */
  async retrieve(req: RetrieveRequest): Promise<RetrievalView> {
    if (this.stopped) throw new RetrievalError('NOT_AVAILABLE', 'the retrieval service is stopping: try again soon');
    if (req.mode === 'offline' && !(Number.isInteger(req.priority) && req.priority >= 1 && req.priority <= 5)) {
      throw new RetrievalError('BAD_ARGUMENT', `an OFFLINE priority is 1 (first) to 5, not ${req.priority}`);
    }
    if (req.sha256 === null && req.path.length === 0) {
      throw new RetrievalError('BAD_ARGUMENT', 'name the file to retrieve: its archived path or its SHA-256');
    }
    if (req.vsn && !this.files.volumeExists(req.vsn)) {
      throw new RetrievalError('NOT_FOUND', `there is no volume ${req.vsn}: CAT_VOLUMES lists them`);
    }
    const what = req.sha256 ? `SHA-256 ${req.sha256.toString('hex')}` : `"${printablePath(req.path)}"`;
    const found = this.files.find(req.sha256 ? { sha256: req.sha256 } : { path: req.path }, req.vsn);
    if (found.length === 0) {
      throw new RetrievalError(
        'NOT_FOUND',
        `no archived file ${what}${req.vsn ? ` on ${req.vsn}` : ''}: CAT_FIND and CAT_WHEREIS show what the catalog holds`,
      );
    }
    const whole = found.filter((f) => f.part === null && f.extents !== null);
    if (whole.length === 0) {
      const parts = found.filter((f) => f.part !== null);
      throw new RetrievalError(
        'NOT_AVAILABLE',
        parts.length > 0
          ? `${what} is cut into ${parts[0].part!.count} parts across volumes ${[...new Set(parts.map((p) => p.vsn))].join(', ')}: retrieving a file cut across volumes is not supported yet; MOUNT each disc and VOL_READ its part`
          : `the catalog has no byte ranges for ${what}: it cannot be read from its image`,
      );
    }
    const loaded = await loadedDiscs(this.o.pool, this.log);
    const rank = (f: ArchivedFile) => (loaded.has(f.vsn) ? 0 : f.volumeState === 'mirrored' ? 1 : 2);
    const file = [...whole].sort((a, b) => rank(a) - rank(b))[0]!; // stable: newest volume first within a rank
    if (file.size > this.cache.limit) {
      throw new RetrievalError(
        'NO_SPACE',
        `${what} is ${file.size} bytes, more than the whole cache area (${this.cache.limit} bytes, agent.retrieval.cacheBytes)`,
      );
    }
    if (req.mode === 'online' && !loaded.has(file.vsn)) {
      throw new RetrievalError('NO_MEDIUM', this.notLoaded(file));
    }
    const offline = req.mode === 'offline';
    const row = this.journal.insert({
      token: randomBytes(16).toString('hex'),
      clientId: req.clientId,
      client: req.client,
      mode: req.mode,
      priority: offline ? req.priority : 0,
      deadline: offline ? req.deadline : null,
      volumeId: file.volumeId,
      fileId: file.fileId,
      session: file.session,
      imagePath: file.imagePath,
      bytes: file.size,
      message: offline ? 'queued' : '',
    });
    this.log.info('retrieval requested', {
      token: row.token,
      mode: row.mode,
      priority: row.priority,
      vsn: file.vsn,
      bytes: file.size,
    });
    if (offline) {
      this.wake();
      return this.view(this.journal.byId(row.id)!);
    }
    // ONLINE: fetched now, ahead of the offline queue; answered when ready or when the wait is over
    const done = this.serve(row.id, null);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise<void>((r) => {
        timer = setTimeout(r, this.o.config.onlineWaitSeconds * 1000);
      }),
    ]);
    clearTimeout(timer);
    const now = this.journal.byId(row.id)!;
    if (now.state === 'failed') this.throwFailed(now);
    return this.view(now);
  }

  /** RETRIEVE_STATUS. */
  async status(token: string): Promise<RetrievalView> {
    return this.view(await this.current(token));
  }

  /** RETRIEVE_CACHED: `count` bytes at `offset` of a ready entry; the read that reaches the end frees it. */
  async read(token: string, offset: bigint, count: number): Promise<{ data: Buffer; eof: boolean }> {
    if (!Number.isInteger(count) || count < 0 || count > MAX_READ) {
      throw new RetrievalError('BAD_ARGUMENT', `a read is 0 to ${MAX_READ} bytes, not ${count}`);
    }
    const row = await this.current(token);
    switch (row.state) {
      case 'queued':
      case 'fetching': {
        const v = this.view(row);
        throw new RetrievalError(
          'NOT_READY',
          `not fetched yet: ${row.state}${row.state === 'fetching' ? `, ${v.percent}%` : ''}${row.mode === 'offline' && row.state === 'queued' ? `, ${v.position} requests ahead` : ''}${v.message ? ` (${v.message})` : ''}: come back later`,
        );
      }
      case 'failed':
        this.throwFailed(row);
        break;
      case 'collected':
        throw new RetrievalError('EXPIRED', `retrieval ${token} was collected already: the entry is freed`);
      case 'expired':
        throw new RetrievalError('EXPIRED', `retrieval ${token} expired before it was collected: RETRIEVE it again`);
      default:
        break;
    }
    if (offset > BigInt(row.bytes)) {
      throw new RetrievalError('BAD_ARGUMENT', `offset ${offset} is past the end of the ${row.bytes}-byte file`);
    }
    const at = Number(offset);
    const want = Math.min(count, row.bytes - at);
    const data = Buffer.allocUnsafe(want); // every byte is read into it, or the read fails
    try {
      const fh = await this.openReady(token);
      let got = 0;
      while (got < want) {
        const n = (await fh.read(data, got, want - got, at + got)).bytesRead;
        if (n === 0) break;
        got += n;
      }
      if (got < want) throw new Error(`the cache file is ${at + got} bytes, not ${row.bytes}`);
    } catch (e) {
      await this.closeReady(token);
      const still = this.journal.byId(row.id)!;
      if (still.state === 'collected' || still.state === 'expired') {
        throw new RetrievalError('EXPIRED', `retrieval ${token} was ${still.state} meanwhile`);
      }
      // the cache file was lost or damaged: the request goes back to the queue, nothing is lost
      this.log.warn('a ready retrieval lost its cache file: fetched again', { token, error: (e as Error).message });
      await this.cache.remove(this.cache.readyPath(token));
      this.cache.release(row.bytes);
      this.journal.requeue(row.id, `its cache file was lost (${(e as Error).message}): it is fetched again`);
      this.wake();
      throw new RetrievalError('NOT_READY', 'its cache file was lost: it is fetched again, come back later');
    }
    const eof = at + want >= row.bytes;
    if (this.coverage.add(token, at, at + want, row.bytes)) await this.free(row.id, 'collected');
    else if (eof) this.freeAfterGrace(row.id);
    return { data, eof };
  }

  // --- internals ---------------------------------------------------------------

  /** The row of a token, expired first if its time is up; EXPIRED when there is none. */
  private async current(token: string): Promise<RetrievalRow> {
    const row = TOKEN.test(token) ? this.journal.byToken(token) : undefined;
    if (!row) throw new RetrievalError('EXPIRED', `no such retrieval token ${JSON.stringify(token.slice(0, 64))}`);
    if (row.state === 'ready' && row.expiresAt !== null && row.expiresAt <= this.o.catalog.clock()) {
      await this.free(row.id, 'expired');
      return this.journal.byId(row.id)!;
    }
    return row;
  }

  private throwFailed(row: RetrievalRow): never {
    const message = this.message(row);
    if (row.failure === 'corrupt') throw new RetrievalError('CORRUPT', message);
    if (row.failure === 'no_space') throw new RetrievalError('NO_SPACE', message);
    throw new RetrievalError('NO_SOURCE', message);
  }

  /** Deletes a ready entry's file and marks it collected or expired (once). */
  /**
   * The open cache file of a ready entry: a client collects it in many reads
   * (1 MiB each at most), so it is opened once and closed when the entry is
   * freed (or a read fails). At most MAX_OPEN_READS are kept; the oldest is closed.
   */
  private async openReady(token: string): Promise<fs.FileHandle> {
    const kept = this.openReads.get(token);
    if (kept) return kept;
    const fh = await fs.open(this.cache.readyPath(token), 'r');
    const raced = this.openReads.get(token);
    if (raced) {
      await fh.close();
      return raced;
    }
    this.openReads.set(token, fh);
    if (this.openReads.size > MAX_OPEN_READS) {
      const [oldest] = this.openReads.keys();
      if (oldest !== undefined && oldest !== token) await this.closeReady(oldest);
    }
    return fh;
  }

  private async closeReady(token: string): Promise<void> {
    const fh = this.openReads.get(token);
    if (!fh) return;
    this.openReads.delete(token);
    await fh.close().catch(() => {});
  }

  /**
   * The end was read but not every byte before it (reads still in flight, or a
   * client that resumed after a restart): the entry is freed once the rest is
   * read, or COLLECT_GRACE_MS after the end was read.
   */
  private freeAfterGrace(id: number): void {
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer);
      this.free(id, 'collected').catch((e: Error) =>
        this.log.warn('freeing a collected retrieval failed', { id, error: e.message }),
      );
    }, COLLECT_GRACE_MS);
    timer.unref();
    this.graceTimers.add(timer);
  }

  private async free(id: number, as: 'collected' | 'expired'): Promise<void> {
    const row = this.journal.byId(id);
    if (!row || row.state !== 'ready') return;
    this.coverage.forget(row.token);
    if (as === 'collected') this.journal.collected(id);
    else this.journal.expired(id);
    await this.closeReady(row.token);
    this.cache.release(row.bytes);
    await this.cache.remove(this.cache.readyPath(row.token));
    this.log.info(as === 'collected' ? 'retrieval collected' : 'retrieval expired', { token: row.token });
    this.spaceFreed();
  }

  private async sweep(): Promise<void> {
    for (const r of this.journal.dueForExpiry(this.o.catalog.clock())) await this.free(r.id, 'expired');
  }

  private spaceFreed(): void {
    this.waitingForSpace.clear();
    this.wake();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** The scheduler: rounds of planRound's batches, each fetched by `concurrency` workers. */
  private async run(): Promise<void> {
    while (!this.stopped) {
      const now = Date.now();
      const ready = (id: number, volumeId: number) =>
        !this.inflight.has(id) &&
        !this.waitingForSpace.has(id) &&
        (this.retryAt.get(id) ?? 0) <= now &&
        (this.volumeWait.get(volumeId) ?? 0) <= now;
      // ONLINE requests left queued (no cache space at first, or a restart) go ahead of the rounds
      for (const r of this.journal.queuedOnline()) if (ready(r.id, r.volumeId)) void this.serve(r.id, null);
      const batch = planRound(
        this.journal.queuedOffline().filter((r) => ready(r.id, r.volumeId)),
        this.o.config.quotas,
      );
      if (batch.length === 0) {
        const waits = [...this.retryAt.values(), ...this.volumeWait.values()].filter((t) => t > now);
        const next = Math.min(...waits, now + this.retryMs);
        await this.sleep(Math.max(50, next - now));
        continue;
      }
      // a round's number is used up only when it served something (a round of waiting requests is not one)
      const round = this.nextRound;
      let served = 0;
      let i = 0;
      const worker = async () => {
        while (!this.stopped && i < batch.length) if (await this.serve(batch[i++]!.id, round)) served++;
      };
      await Promise.all(Array.from({ length: Math.min(this.o.config.concurrency, batch.length) }, worker));
      if (served > 0) {
        this.nextRound = round + 1;
        this.roundsRun++;
      }
    }
  }

  /** Fetches one request from its sources into the cache; true when it is served (ready or failed). Never throws. */
  private serve(id: number, round: number | null): Promise<boolean> {
    const running = this.inflight.get(id);
    if (running) return running.done;
    const abort = new AbortController();
    const entry = { abort, done: Promise.resolve(false) };
    this.inflight.set(id, entry);
    entry.done = this.fetch(id, round, abort.signal)
      .catch((e) => {
        this.log.error('a retrieval failed unexpectedly', { id, error: String(e) });
        return false;
      })
      .finally(() => {
        if (this.inflight.get(id) === entry) this.inflight.delete(id);
        this.progress.delete(id);
      });
    return entry.done;
  }

  private async fetch(id: number, round: number | null, signal: AbortSignal): Promise<boolean> {
    const row = this.journal.byId(id);
    if (!row || row.state !== 'queued' || this.stopped) return false;
    const file = this.files.piece(row.volumeId, row.session, row.fileId, row.imagePath);
    if (!file?.extents) {
      this.journal.failed(id, 'no_source', 'the catalog no longer holds this file on an archived volume');
      return true;
    }
    if (file.size > this.cache.limit) {
      this.journal.failed(
        id,
        'no_space',
        `the file is ${file.size} bytes, more than the whole cache area (${this.cache.limit} bytes)`,
      );
      return true;
    }
    // no source at all: the request stays queued as it is (never shown fetching) and waits
    const { sources, unreachable } = await this.sourcesOf(file);
    if (this.stopped || this.journal.byId(id)?.state !== 'queued') return false;
    if (sources.filter((x) => !this.failedSources.get(id)?.has(x.key)).length === 0 && unreachable.length > 0) {
      return this.noSource(row, file, unreachable.join('; '));
    }
    if (!this.cache.reserve(file.size)) {
      this.waitingForSpace.add(id);
      this.journal.setMessage(
        id,
        `waiting for cache space: ${this.cache.used} of ${this.cache.limit} bytes are held by entries not yet collected`,
      );
      return false;
    }
    this.journal.fetching(id, round);
    this.retryAt.delete(id);
    const partPath = this.cache.partPath(row.token);
    let kept = false;
    let served = false;
    try {
      const failedBefore = this.failedSources.get(id) ?? new Set<string>();
      this.failedSources.set(id, failedBefore);
      const outcome = await fetchFile({
        file,
        sources,
        unreachable,
        failedBefore,
        partPath,
        readyPath: this.cache.readyPath(row.token),
        signal,
        onProgress: (bytes) => this.progress.set(id, bytes),
        onFault: (source, detail, kind) => this.fault(row, file, source, detail, kind),
      });
      served = outcome.kind !== 'unreachable' || row.mode === 'online';
      if (outcome.kind === 'ready') {
        kept = true;
        const at = this.o.catalog.clock();
        const late = row.deadline !== null && at > row.deadline;
        this.journal.ready(id, {
          source: outcome.source.name,
          cacheFile: row.token,
          expiresAt: at + Math.round(this.o.config.expiryHours * 3600_000),
          message: late ? `served after its deadline of ${new Date(row.deadline!).toISOString()}` : '',
        });
        this.failedSources.delete(id);
        this.log.info('retrieval ready', { token: row.token, source: outcome.source.name, bytes: file.size, round });
      } else if (outcome.kind === 'corrupt') {
        this.failedSources.delete(id);
        this.journal.failed(
          id,
          'corrupt',
          `every source of the file failed its SHA-256 check: load another copy of ${file.vsn} and RETRIEVE it again`,
        );
        this.log.error('retrieval failed: every source is damaged', { token: row.token, vsn: file.vsn });
      } else {
        this.noSource(row, file, outcome.why);
      }
    } catch (e) {
      if (e instanceof SourceFailure && e.kind === 'aborted') {
        this.journal.requeue(id, 'its fetch was stopped with the agent: it is fetched again');
      } else {
        // the cache area failed (full filesystem, I/O error): tried again later, nothing lost
        this.log.error('a retrieval could not be written to the cache area', {
          token: row.token,
          error: (e as Error).message,
        });
        this.retryAt.set(id, Date.now() + this.retryMs);
        this.journal.requeue(id, `the cache area could not take it (${(e as Error).message}): it is tried again`);
      }
    } finally {
      if (!kept) {
        await this.cache.remove(partPath);
        this.cache.release(file.size);
        this.spaceFreed();
      }
    }
    return served;
  }

  /** No source reachable: an ONLINE request fails (NO_SOURCE), an OFFLINE one waits in the queue. */
  private noSource(row: RetrievalRow, file: ArchivedFile, why: string): boolean {
    if (row.mode === 'online') {
      this.journal.failed(row.id, 'no_source', `no source of the file can be reached: ${why}`);
      return true;
    }
    const until = this.volumeWait.get(file.volumeId) ?? 0;
    if (until <= Date.now()) this.volumeWait.set(file.volumeId, Date.now() + this.retryMs);
    this.journal.requeue(row.id, `waiting for a source: ${why}`);
    return false;
  }

  /** Loaded discs of the volume first, then its cloud copy; what exists but cannot be reached, in words. */
  private async sourcesOf(file: ArchivedFile): Promise<{ sources: Source[]; unreachable: string[] }> {
    const sources: Source[] = [];
    const unreachable: string[] = [];
    const drives: Drive[] = (await loadedDiscs(this.o.pool, this.log)).get(file.vsn) ?? [];
    for (const d of drives) sources.push(await discSource(d));
    const cloud = cloudSource(this.o.cloud, this.o.catalog, file.volumeId);
    if ('source' in cloud) sources.push(cloud.source);
    if (drives.length === 0) unreachable.push(this.notLoaded(file, true));
    if ('unreachable' in cloud) unreachable.push(cloud.unreachable);
    else if ('none' in cloud && drives.length === 0) unreachable.push(cloud.none);
    // with the cloud readable, an unloaded disc is no reason to wait
    return { sources, unreachable: 'source' in cloud ? [] : unreachable };
  }

  private fault(
    row: RetrievalRow,
    file: ArchivedFile,
    source: Source,
    detail: string,
    kind: 'checksum' | 'read',
  ): void {
    const what = source.kind === 'disc' ? `disc in ${source.drive}` : 'cloud copy';
    const note =
      kind === 'checksum'
        ? `${what} failed its SHA-256 (damage recorded); `
        : `${what} could not be read: ${detail} (damage recorded); `;
    this.journal.sourceFault(
      row.id,
      {
        volumeId: file.volumeId,
        copyId: null,
        source: source.kind,
        fileId: file.fileId,
        detail: source.kind === 'disc' ? `drive ${source.drive}: ${detail}` : detail,
      },
      note,
    );
    this.log.warn('a retrieval source gave bad data: trying the next', {
      token: row.token,
      vsn: file.vsn,
      source: source.name,
      detail,
    });
  }

  /** Where the copies of a volume sit, for a request that needs one loaded. */
  private notLoaded(file: ArchivedFile, short = false): string {
    const copies = this.o.catalog
      .volumeCopies(file.volumeId)
      .filter((c) => c.state === 'verified')
      .map((c) => `copy ${c.copyNo} at ${c.medium ?? 'an unrecorded place'}`);
    const where = copies.length > 0 ? `its copies: ${copies.join(', ')}` : 'no verified copy is recorded';
    if (short) return `no copy of ${file.vsn} is in a drive (${where})`;
    return `no copy of ${file.vsn} is loaded in a drive (${where}): load one and retry, or RETRIEVE it OFFLINE (--offline) to have it fetched from a disc or the cloud copy later`;
  }

  private message(row: RetrievalRow): string {
    return boundText(`${row.faults}${row.message}`);
  }

  private view(row: RetrievalRow): RetrievalView {
    const file = this.files.piece(row.volumeId, row.session, row.fileId, row.imagePath, false);
    const vsn = this.o.catalog.volume(row.volumeId)?.vsn ?? '';
    const position =
      row.state === 'queued' && row.mode === 'offline'
        ? (positionOf(this.journal.queuedOffline(), this.o.config.quotas, row.id) ?? 0)
        : 0;
    const got = this.progress.get(row.id) ?? 0;
    const percent =
      row.state === 'ready' || row.state === 'collected'
        ? 100
        : row.state === 'fetching'
          ? row.bytes === 0
            ? 0
            : Math.min(99, Math.floor((got * 100) / row.bytes))
          : 0;
    return {
      row,
      vsn,
      path: file?.path ?? Buffer.alloc(0),
      size: row.bytes,
      sha256: file?.sha256 ?? Buffer.alloc(32),
      position,
      percent,
      message: this.message(row),
    };
  }
}
