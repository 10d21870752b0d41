/**
 * Fixity: scheduled, incremental re-verification of every cloud image and
 * every loaded disc (fixity-targets.ts), SHA-256 over the image's bytes
 * (image-hasher.ts) against the catalog's, with each check a row in the
 * catalog (fixity-records.ts).
 *
 * - A pass checks every target once. Each check is recorded as it ends: that
 *   row is the checkpoint, so a pass cut short by a crash or a stop resumes at
 *   start() with the targets it has not checked (git-annex fsck --incremental).
 * - Schedule: a new pass everyHours after the last one started (0: none;
 *   before any pass, everyHours after the oldest volume was made, so a restart
 *   does not put the first pass off); runNow() starts one at once unless one
 *   is running.
 * - A cloud image that cannot be read now (no gateway session, S3 or the
 *   gateway failing) is skipped this pass and noted: not a failure. A cloud
 *   object that is gone (404), shorter than the image, or hashes otherwise is.
 * - A failure is alerted: a warning in the log naming the VSN and the remedy
 *   (re-burn a damaged disc from the cloud; re-make a damaged cloud image from
 *   a sound disc), counted in the metrics (from the catalog), and reported to
 *   the gateway (`fixity.report`; every check is reported, failures and
 *   successes, and kept `reported = 0` until a session takes it). A
 *   notification has no answer, so each new session is sent the latest check
 *   of every target again (the gateway keeps only what is newer).
 */
import type { Logger } from '../../clients/oncrpc/index.js';
import type { Config } from '../../config/index.js';
import { FixityResult } from '../../gateway/protocol/session-messages.js';
import type { Catalog } from '../catalog/catalog.js';
import { CloudError, type CloudReader } from '../cloud/cloud-reader.js';
import type { DrivePool } from '../drives/drive-pool.js';
import type { GatewayConnection } from '../mirror/gateway-connection.js';
import { type CheckRow, FixityRecords, type PassRow } from './fixity-records.js';
import { type FixityTarget, listTargets, targetKey } from './fixity-targets.js';
import { CLOUD_CHUNK_BYTES, FixityAbort, hashCloud, hashLocal } from './image-hasher.js';

export interface FixityOptions {
  config: Config['agent']['fixity'];
  catalog: Catalog;
  pool: DrivePool;
  cloud: CloudReader;
  /** The gateway session, when the agent mirrors: results are reported over it. */
  connection: () => GatewayConnection | undefined;
  log: Logger;
  /** Bytes per ranged GET of a cloud image (default 64 MiB). */
  chunkBytes?: number;
}

/** The outcome of checking one target. */
type Outcome = { checked: true; ok: boolean; bytes: bigint; detail: string } | { checked: false; why: string };

export interface FixityStatus {
  checks: CheckRow[];
  cookie: bigint;
  eof: boolean;
  running: boolean;
  failures: number;
  /** When the last pass finished (ms), 0 if none has. */
  lastPass: number;
  /** When the next scheduled pass starts (ms), 0 when there is no schedule. */
  nextPass: number;
}

export class FixityError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'BAD_COOKIE' | 'BAD_ARGUMENT',
    message: string,
  ) {
    super(message);
    this.name = 'FixityError';
  }
}

/** Messages per `fixity.report` (the protocol allows 100 results each). */
const REPORT_BATCH = 100;
/** setTimeout's longest delay. */
const MAX_DELAY_MS = 2 ** 31 - 1;
const MAX_DETAIL = 1000;
/** How long a pass waits for a gateway session before it skips the cloud (an agent just started is still connecting). */
const SESSION_WAIT_MS = 15_000;

export class FixityService {
  readonly records: FixityRecords;
  private current: Promise<void> | undefined;
  private abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private stopped = false;
  private reporting = false;
  private listening: GatewayConnection | undefined;
  /** This pass waited for the gateway in vain: the rest of its cloud checks are skipped at once. */
  private cloudGaveUp = false;
  private readonly onSession = () => {
    this.records.resendLatest();
    this.report();
  };

  constructor(readonly o: FixityOptions) {
    this.records = new FixityRecords(o.catalog);
  }

  /** Resumes an interrupted pass and starts the schedule. */
  async start(): Promise<void> {
    this.stopped = false;
    this.abort = new AbortController();
    this.startedAt = this.o.catalog.clock();
    const conn = this.o.connection();
    if (conn) {
      conn.on('session', this.onSession);
      this.listening = conn;
    }
    const open = this.records.openedPass();
    if (open) {
      const closed = this.records.closeStale(open.id, this.o.catalog.clock());
      const done = this.records.checked(open.id).size;
      this.o.log.info('fixity pass resumed', { pass: open.id, checked: done, abandoned: closed });
      this.launch(open);
    } else {
      this.schedule();
    }
    // a notification sent just before a crash may never have arrived: each session gets the latest again
    if (conn?.session) this.onSession();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    this.listening?.off('session', this.onSession);
    this.listening = undefined;
    await this.current;
  }

  get running(): boolean {
    return this.current !== undefined;
  }

  /** Starts a pass now; false when one is already running. */
  runNow(): boolean {
    if (this.current || this.stopped) return false;
    this.launch(this.records.openPass('request', this.o.catalog.clock()));
    return true;
  }

  /** The latest check per (volume, target), a page at a time, and the state of the schedule. */
  status(o: { vsn?: string; cookie: bigint; count: number }): FixityStatus {
    if (!Number.isInteger(o.count) || o.count < 1)
      throw new FixityError('BAD_ARGUMENT', `count is 1 to 128, not ${o.count}`);
    let volumeId: number | undefined;
    if (o.vsn) {
      const v = this.o.catalog.volumeByVsn(o.vsn);
      if (!v) throw new FixityError('NOT_FOUND', `no volume ${o.vsn} in the catalog`);
      volumeId = v.id;
    }
    if (o.cookie !== 0n && (o.cookie >= 2n ** 63n || !this.records.isCookie(o.cookie)))
      throw new FixityError('BAD_COOKIE', 'this cookie was not issued by FIXITY: start again from 0');
    const page = this.records.latest({
      ...(volumeId === undefined ? {} : { volumeId }),
      cookie: o.cookie,
      count: o.count,
    });
    return {
      ...page,
      running: this.running,
      failures: this.records.failing(),
      lastPass: this.records.lastFinishedPass()?.finishedAt ?? 0,
      nextPass: this.nextPassAt() ?? 0,
    };
  }

  /** When the schedule starts the next pass (ms), or undefined without a schedule. */
  nextPassAt(): number | undefined {
    const every = this.o.config.everyHours;
    if (!(every > 0)) return undefined;
    // before the first pass: from the oldest volume (none goes unchecked longer than everyHours), else from now
    const from = this.records.lastPass()?.startedAt ?? this.records.firstVolumeAt() ?? this.startedAt;
    return from + every * 3600 * 1000;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped || this.current) return;
    const at = this.nextPassAt();
    if (at === undefined) return;
    const delay = Math.min(Math.max(0, at - this.o.catalog.clock()), MAX_DELAY_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped || this.current) return;
      const due = this.nextPassAt();
      if (due !== undefined && due <= this.o.catalog.clock())
        this.launch(this.records.openPass('schedule', this.o.catalog.clock()));
      else this.schedule();
    }, delay);
    this.timer.unref();
  }

  private launch(pass: PassRow): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.runPass(pass)
      .catch((e: unknown) => {
        this.o.log.error('fixity pass failed', { pass: pass.id, error: (e as Error)?.message ?? String(e) });
      })
      .finally(() => {
        this.current = undefined;
        this.schedule();
      });
    this.current = run;
  }

  private async runPass(pass: PassRow): Promise<void> {
    const signal = this.abort.signal;
    const { catalog, pool, config, log } = this.o;
    const { targets, notes } = await listTargets({ catalog, pool, cloud: config.cloud, discs: config.discs }, signal);
    const done = this.records.checked(pass.id);
    this.cloudGaveUp = false;
    let checked = 0;
    let failed = 0;
    let skipped = 0;
    for (const t of targets) {
      if (signal.aborted) break;
      if (done.has(targetKey(t.volume.id, t.target))) continue;
      let outcome: Outcome;
      try {
        outcome = await this.check(t, signal);
      } catch (e) {
        if (e instanceof FixityAbort || signal.aborted) break;
        outcome = { checked: false, why: `could not be checked: ${(e as Error)?.message ?? String(e)}` };
      }
      if (!outcome.checked) {
        skipped++;
        notes.push(`${t.volume.vsn} ${t.target}: ${outcome.why}`);
        log.info('fixity check skipped this pass', { vsn: t.volume.vsn, target: t.target, why: outcome.why });
        continue;
      }
      const at = catalog.clock();
      this.records.record({
        passId: pass.id,
        volumeId: t.volume.id,
        target: t.target,
        ok: outcome.ok,
        bytes: outcome.bytes,
        detail: outcome.detail.slice(0, MAX_DETAIL),
        at,
      });
      checked++;
      if (!outcome.ok) {
        failed++;
        log.warn('fixity check FAILED', { vsn: t.volume.vsn, target: t.target, detail: outcome.detail });
      }
      this.report();
    }
    if (signal.aborted) {
      log.info('fixity pass stopped: it resumes where it was at the next start', { pass: pass.id, checked });
      return;
    }
    this.records.finishPass(pass.id, catalog.clock());
    const summary = { pass: pass.id, reason: pass.reason, checked, failed, skipped, notes: notes.join('; ') };
    if (failed > 0) log.warn('fixity pass finished with failures', summary);
    else log.info('fixity pass finished', summary);
  }

  private async check(t: FixityTarget, signal: AbortSignal): Promise<Outcome> {
    const v = t.volume;
    const want = v.imageSha256.toString('hex');
    if (t.kind === 'disc') {
      const d = await hashLocal(t.file, v.imageBytes, signal);
      if (d.bytes === v.imageBytes && d.sha256.equals(v.imageSha256)) {
        return { checked: true, ok: true, bytes: d.bytes, detail: '' };
      }
      const what = d.problem ?? `SHA-256 of its ${d.bytes} image bytes is ${d.sha256.toString('hex')}, not ${want}`;
      return {
        checked: true,
        ok: false,
        bytes: d.bytes,
        detail: `the disc of ${v.vsn} in ${t.drive.name} is damaged: ${what}; re-burn it from the cloud: optarc reburn ${v.vsn} (or optarc-gateway command AGENT reburn ${v.vsn})`,
      };
    }
    if (!(await this.cloudReachable(signal)))
      return { checked: false, why: 'no session with the gateway: the cloud is not reachable now' };
    const remedy = `the cloud image of ${v.vsn} is damaged: do not re-burn from it; check its discs (optarc-gateway command AGENT verify ${v.vsn}) and re-make it from a sound one (optarc copy DRIVE, then optarc burn-copy), or re-burn a lost disc (optarc reburn ${v.vsn}) only once the cloud image checks out`;
    const bytes = Number(v.imageBytes);
    try {
      const d = await hashCloud(this.o.cloud, t.object, bytes, signal, this.o.chunkBytes ?? CLOUD_CHUNK_BYTES);
      if (d.sha256.equals(v.imageSha256)) return { checked: true, ok: true, bytes: d.bytes, detail: '' };
      return {
        checked: true,
        ok: false,
        bytes: d.bytes,
        detail: `SHA-256 of ${t.object.key} (version ${t.object.versionId ?? 'null'}) is ${d.sha256.toString('hex')}, not ${want}; ${remedy}`,
      };
    } catch (e) {
      if (!(e instanceof CloudError)) throw e;
      const gone = e.code === 'HTTP' && (e.status === 404 || e.status === 410);
      const short = e.code === 'SHORT' || (e.code === 'HTTP' && e.status === 416);
      if (gone || short) {
        return {
          checked: true,
          ok: false,
          bytes: 0n,
          detail: `${gone ? `${t.object.key} (version ${t.object.versionId ?? 'null'}) is gone from the bucket` : `${t.object.key} is not the image's ${bytes} bytes`}: ${e.message}; ${remedy}`,
        };
      }
      if (e.code === 'ABORTED') throw new FixityAbort();
      return { checked: false, why: `the cloud image could not be read now (${e.code}): ${e.message}` };
    }
  }

  /** Whether a gateway session is open, waiting a little for one (once per pass) when the agent mirrors. */
  private async cloudReachable(signal: AbortSignal): Promise<boolean> {
    if (this.o.cloud.available()) return true;
    const conn = this.o.connection();
    if (!conn || this.cloudGaveUp) return false;
    // a plain timer and controller (held here until the wait ends), not AbortSignal.timeout/any
    const wait = new AbortController();
    const stop = () => wait.abort();
    const timer = setTimeout(stop, SESSION_WAIT_MS);
    signal.addEventListener('abort', stop, { once: true });
    try {
      await conn.waitForSession(wait.signal);
      return true;
    } catch {
      if (signal.aborted) throw new FixityAbort();
      this.cloudGaveUp = true;
      return false;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
    }
  }

  /** Sends the checks the gateway has not had, while a session takes them. */
  private report(): void {
    if (this.reporting) return;
    const conn = this.o.connection();
    if (!conn?.session) return;
    this.reporting = true;
    try {
      for (;;) {
        const rows = this.records.unreported(REPORT_BATCH);
        if (rows.length === 0) return;
        const results = [];
        const ids: number[] = [];
        for (const r of rows) {
          const result = {
            vsn: r.vsn,
            target: r.target,
            ok: r.ok,
            checkedAt: new Date(r.at).toISOString(),
            bytes: Number(r.bytes),
            detail: r.detail.slice(0, 1024),
          };
          ids.push(r.id);
          // a check the protocol cannot carry (a drive name it refuses) is kept here only
          if (FixityResult.safeParse(result).success) results.push(result);
          else this.o.log.warn('fixity check not reportable to the gateway', { vsn: r.vsn, target: r.target });
        }
        if (results.length > 0 && !conn.notify({ v: 1, type: 'fixity.report', results })) return;
        this.records.markReported(ids);
      }
    } finally {
      this.reporting = false;
    }
  }
}
