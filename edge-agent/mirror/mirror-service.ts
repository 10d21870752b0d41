/**
 * The mirror: drains the catalog's outbox (a row per finished volume session,
 * written in the transaction that finished the volume) to S3 through the
 * gateway, one volume at a time, oldest first, for as long as it takes: an
 * entry stays in the outbox across restarts and outages until the gateway
 * acknowledges it.
 *
 * For one entry: build the manifest; `mirror.begin` (image size and SHA-256,
 * manifest digest) → a `plan` (or an `ack` when the gateway already holds
 * it); send the plan's parts (part-uploader.ts), recording each sent part in
 * the catalog; ask `plan.more` for the next batch, or for fresh URLs when S3
 * says a URL expired; PUT the manifest; `mirror.complete` with every part's
 * ETag and MD5 → `ack`. A part S3 holds but the catalog missed (a crash right
 * after its PUT) is in no plan: its MD5 is computed again from the image.
 * Then the entry is acknowledged (the volume becomes `mirrored`) and the
 * volume's staged files are released.
 *
 * A failed attempt is recorded on the entry (attempts, last error) and the
 * entry waits (5 s doubling to 10 min) while the next ones go; losing the
 * gateway only pauses the loop until the session is back, and the gateway
 * resumes the upload where S3 has it (ListParts).
 *
 * Controls: uploads start only inside the policy's schedule windows
 * (upload-schedule.ts); the gateway's policy throttle and `throttle` commands set the
 * shared RateLimiter (never above agent.mirror.maxBytesPerSecond); `pause`
 * holds the bytes mid-part and starts nothing new until `resume`; `verify`
 * re-reads a volume's verified copies and answers whether each still holds
 * the image.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../../clients/oncrpc/index.js';
import type { GatewayMessage } from '../../gateway/protocol/session-messages.js';
import type { Catalog, MirrorEntry, VolumeRow } from '../catalog/catalog.js';
import type { Charset } from '../staging/names.js';
import { MirrorError } from './errors.js';
import type { GatewayConnection, SessionT } from './gateway-connection.js';
import { PartBufferPool, putObject, uploadParts } from './part-uploader.js';
import type { RateLimiter } from './rate-limiter.js';
import { inSchedule, type ScheduleWindow } from './upload-schedule.js';
import { buildVolumeManifest } from './volume-manifest.js';

type Plan = Extract<GatewayMessage, { type: 'plan' }>;
type Ack = Extract<GatewayMessage, { type: 'ack' }>;

export interface MirrorServiceOptions {
  catalog: Catalog;
  connection: GatewayConnection;
  limiter: RateLimiter;
  charset: Charset;
  concurrency: number;
  maxAttemptsPerPart: number;
  /** The agent's own upload limit (null: none); the gateway's can only lower it. */
  maxBytesPerSecond: number | null;
  /** Gives back a mirrored volume's staged files; resolves with how many. */
  release: (volumeId: number) => Promise<number>;
  /** Re-reads a volume's copies; for the gateway's `verify` command. */
  verifyVolume: (vsn: string) => Promise<{ ok: boolean; detail: string }>;
  /** Queues a re-burn of a volume from its cloud image; for the gateway's `reburn` command. */
  reburn?: (vsn: string, copies: number) => Promise<{ ok: boolean; detail: string }>;
  log: Logger;
  /** Wait before retrying an entry after `attempts` failures. Default 5 s doubling to 10 min. */
  retryDelayMs?: (attempts: number) => number;
  /** How often the outbox is looked at when idle. Default 2 s. */
  pollMs?: number;
  /** The clock for the upload schedule; Date.now when absent. */
  now?: () => number;
}

export interface MirrorStatus {
  connected: boolean;
  /** Why the gateway connection is down ('' while connected). */
  gatewayError: string;
  paused: boolean;
  /** Outside the gateway's upload windows now. */
  outsideSchedule: boolean;
  bytesPerSecond: number | null;
  queued: number;
  current: { vsn: string; bytesDone: number; bytes: number } | null;
  lastError: string;
  bytesSent: number;
  volumesMirrored: number;
  failures: number;
}

const defaultRetryDelay = (attempts: number) => Math.min(600_000, 5000 * 2 ** Math.max(0, attempts - 1));

export class MirrorService {
  private readonly controller = new AbortController();
  private readonly retryAt = new Map<number, number>();
  private readonly pool: PartBufferPool;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private policyRate: number | null = null;
  private schedule: ScheduleWindow[] = [];
  private commandRate: number | null | undefined;
  private current: MirrorStatus['current'] = null;
  private lastError = '';
  private bytesSent = 0;
  private volumesMirrored = 0;
  private failures = 0;

  constructor(private readonly o: MirrorServiceOptions) {
    this.pool = new PartBufferPool(o.concurrency);
    this.applyRate();
    o.connection.on('session', (s: SessionT) => {
      // pausing is the gateway's: a new session starts unpaused, and the gateway says pause when it means it
      if (!s.resumed) o.limiter.resume();
      this.policyRate = s.policy.throttleBytesPerSecond;
      this.schedule = s.policy.schedule;
      this.applyRate();
      this.kick();
    });
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.controller.abort(new MirrorError('ABORTED', 'the agent is stopping'));
    this.kick();
    await this.loop;
  }

  /** New work may be in the outbox (a volume finished). */
  kick(): void {
    this.wake?.();
  }

  status(): MirrorStatus {
    return {
      connected: this.o.connection.session !== undefined,
      gatewayError: this.o.connection.session ? '' : this.o.connection.lastError,
      paused: this.o.limiter.paused,
      outsideSchedule: !inSchedule(this.schedule, new Date(this.o.now?.() ?? Date.now())),
      bytesPerSecond: this.o.limiter.rate,
      queued: this.o.catalog.pendingMirrors().length,
      current: this.current,
      lastError: this.lastError || this.o.connection.lastError,
      bytesSent: this.bytesSent,
      volumesMirrored: this.volumesMirrored,
      failures: this.failures,
    };
  }

  /** A command from the gateway. */
  async command(c: Extract<GatewayMessage, { type: 'pause' | 'resume' | 'throttle' | 'verify' | 'reburn' }>) {
    switch (c.type) {
      case 'pause':
        this.o.limiter.pause();
        this.o.log.info('mirror paused by the gateway', { reason: c.reason });
        return { ok: true, detail: 'paused' };
      case 'resume':
        this.o.limiter.resume();
        this.kick();
        this.o.log.info('mirror resumed by the gateway');
        return { ok: true, detail: 'resumed' };
      case 'throttle':
        this.commandRate = c.bytesPerSecond;
        this.applyRate();
        return {
          ok: true,
          detail: `upload limit ${this.o.limiter.rate === null ? 'none' : `${this.o.limiter.rate} bytes/s`}`,
        };
      case 'verify':
        return this.o.verifyVolume(c.vsn);
      case 'reburn':
        if (!this.o.reburn) return { ok: false, detail: 'this agent cannot re-burn' };
        return this.o.reburn(c.vsn, c.copies);
    }
  }

  private applyRate(): void {
    const limits = [
      this.o.maxBytesPerSecond,
      this.commandRate === undefined ? this.policyRate : this.commandRate,
    ].filter((x): x is number => x !== null && x !== undefined);
    this.o.limiter.setRate(limits.length ? Math.min(...limits) : null);
  }

  private get signal(): AbortSignal {
    return this.controller.signal;
  }

  private async idle(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      void delay(ms).then(resolve);
    });
    this.wake = undefined;
  }

  private async run(): Promise<void> {
    while (!this.signal.aborted) {
      try {
        await this.o.connection.waitForSession(this.signal);
      } catch {
        break;
      }
      if (this.o.limiter.paused || !inSchedule(this.schedule, new Date(this.o.now?.() ?? Date.now()))) {
        await this.idle(this.o.pollMs ?? 2000);
        continue;
      }
      const now = Date.now();
      const entry = this.o.catalog.pendingMirrors().find((e) => (this.retryAt.get(e.id) ?? 0) <= now);
      if (!entry) {
        this.pool.trim(); // nothing to send: the part buffers go back to the heap
        await this.idle(this.o.pollMs ?? 2000);
        continue;
      }
      try {
        await this.mirror(entry);
        this.retryAt.delete(entry.id);
      } catch (e) {
        if (this.signal.aborted) break;
        if (e instanceof MirrorError && e.code === 'GATEWAY_UNAVAILABLE' && !this.o.connection.session) {
          // the session was lost: not the volume's fault; the loop waits for the session, and the
          // gateway resumes the upload from the parts S3 holds
          this.o.log.info('mirror interrupted: the gateway session was lost', { entry: entry.id });
          continue;
        }
        const message = e instanceof Error ? e.message : String(e);
        this.o.catalog.mirrorFailed(entry.id, message);
        const attempts = this.o.catalog.mirrorEntry(entry.id)?.attempts ?? 1;
        this.retryAt.set(entry.id, Date.now() + (this.o.retryDelayMs ?? defaultRetryDelay)(attempts));
        this.lastError = message;
        this.failures++;
        this.o.log.warn('mirror attempt failed', { entry: entry.id, attempts, error: message });
      } finally {
        this.current = null;
      }
    }
  }

  private async mirror(entry: MirrorEntry): Promise<void> {
    const { catalog } = this.o;
    const volume = catalog.volume(entry.volumeId);
    if (!volume) throw new MirrorError('FILE_CHANGED', `outbox entry ${entry.id}: no volume ${entry.volumeId}`);
    if (volume.sessions !== entry.session) {
      // an APPEND grew the volume since: the newer session's entry uploads the image that holds this one
      catalog.mirrorAcked(entry.id, { key: '', versionId: `superseded by session ${volume.sessions}` });
      return;
    }
    if (volume.state !== 'finished' && volume.state !== 'mirrored') {
      throw new MirrorError('FILE_CHANGED', `volume ${volume.vsn} is ${volume.state}, not finished`);
    }
    const image = volume.imagePath;
    const size = Number(volume.imageBytes ?? 0);
    if (!image || size <= 0 || !volume.imageSha256)
      throw new MirrorError('FILE_CHANGED', `volume ${volume.vsn} has no image`);
    const st = await fs.stat(image).catch(() => undefined);
    if (!st || st.size < size)
      throw new MirrorError('FILE_CHANGED', `the image of ${volume.vsn} is missing or short: ${image}`);
    const session = await this.o.connection.waitForSession(this.signal);
    const manifest = buildVolumeManifest(catalog, volume, session.site, this.o.charset);
    const sha256 = volume.imageSha256.toString('hex');
    this.current = { vsn: volume.vsn, bytesDone: 0, bytes: size };

    let reply = await this.o.connection.request({
      type: 'mirror.begin',
      vsn: volume.vsn,
      size,
      sha256,
      manifestDigest: manifest.sha256,
    });
    if (reply.type === 'ack') return this.acked(entry, volume, reply, sha256);
    if (reply.type !== 'plan') throw new MirrorError('GATEWAY_ERROR', `mirror.begin answered with ${reply.type}`);
    let plan: Plan = reply;
    this.checkPlan(plan, volume, size);
    const uploadId = plan.uploadId;
    catalog.mirrorUploading(entry.id, uploadId);
    const count = Math.ceil(size / plan.partSize);
    const sent = new Map(catalog.mirrorParts(entry.id, uploadId).map((p) => [p.partNumber, p]));
    const planned = new Set<number>();
    let bytesDone = [...sent.keys()].reduce((n, p) => n + Math.min(plan.partSize, size - (p - 1) * plan.partSize), 0);
    let lastProgress = 0;
    const progress = (force = false) => {
      this.current = { vsn: volume.vsn, bytesDone, bytes: size };
      const now = Date.now();
      if (!force && now - lastProgress < 2000) return;
      lastProgress = now;
      catalog.mirrorProgress(entry.id, bytesDone);
      this.o.connection.notify({
        v: 1,
        type: 'mirror.progress',
        vsn: volume.vsn,
        uploadId,
        partsDone: sent.size,
        bytesDone: Math.min(bytesDone, size),
      });
    };

    for (;;) {
      const todo = plan.parts.filter((p) => !sent.has(p.partNumber));
      for (const p of plan.parts) planned.add(p.partNumber);
      try {
        await uploadParts({
          file: image,
          parts: todo,
          concurrency: this.o.concurrency,
          limiter: this.o.limiter,
          maxAttemptsPerPart: this.o.maxAttemptsPerPart,
          signal: this.signal,
          bufferPool: this.pool,
          onPart: (p) => {
            catalog.mirrorPartSent(entry.id, uploadId, p);
            sent.set(p.partNumber, p);
            progress();
          },
          onBytes: (n) => {
            this.bytesSent += n;
            bytesDone += n;
            progress();
          },
        });
      } catch (e) {
        if (!(e instanceof MirrorError && e.code === 'URL_EXPIRED')) throw e;
        const first = todo.find((p) => !sent.has(p.partNumber))?.partNumber ?? 1;
        this.o.log.info('presigned URLs expired: asking for fresh ones', { vsn: volume.vsn, fromPart: first });
        plan = await this.more(uploadId, first, volume, size);
        continue;
      }
      if (plan.morePartsFrom === undefined) break;
      plan = await this.more(uploadId, plan.morePartsFrom, volume, size);
    }
    progress(true);

    await putObject(plan.manifest.url, manifest.bytes, {
      limiter: this.o.limiter,
      signal: this.signal,
      contentType: 'application/json',
      maxAttempts: this.o.maxAttemptsPerPart,
    });

    // parts S3 holds that neither a plan nor the catalog had: their MD5 again, from the image
    const parts = [];
    for (let n = 1; n <= count; n++) {
      let p = sent.get(n);
      if (!p) {
        const md5 = await partMd5(
          image,
          (n - 1) * plan.partSize,
          Math.min(plan.partSize, size - (n - 1) * plan.partSize),
        );
        p = { partNumber: n, etag: `"${md5}"`, md5 };
      }
      parts.push({ partNumber: n, etag: p.etag, md5: p.md5 });
    }
    reply = await this.o.connection.request({ type: 'mirror.complete', vsn: volume.vsn, uploadId, parts });
    if (reply.type !== 'ack') throw new MirrorError('GATEWAY_ERROR', `mirror.complete answered with ${reply.type}`);
    await this.acked(entry, volume, reply, sha256);
  }

  private async more(uploadId: string, fromPart: number, volume: VolumeRow, size: number): Promise<Plan> {
    const reply = await this.o.connection.request({ type: 'plan.more', uploadId, fromPart });
    if (reply.type !== 'plan') throw new MirrorError('GATEWAY_ERROR', `plan.more answered with ${reply.type}`);
    this.checkPlan(reply, volume, size);
    return reply;
  }

  /** A plan must be for this volume and lie inside the image. */
  private checkPlan(plan: Plan, volume: VolumeRow, size: number): void {
    if (plan.vsn !== volume.vsn)
      throw new MirrorError('GATEWAY_ERROR', `a plan for ${plan.vsn} came for ${volume.vsn}`);
    for (const p of plan.parts) {
      if (p.offset + p.length > size) {
        throw new MirrorError(
          'GATEWAY_ERROR',
          `plan part ${p.partNumber} lies beyond the image (${p.offset}+${p.length} > ${size})`,
        );
      }
    }
  }

  private async acked(entry: MirrorEntry, volume: VolumeRow, ack: Ack, sha256: string): Promise<void> {
    if (ack.sha256 !== sha256 || ack.vsn !== volume.vsn) {
      throw new MirrorError(
        'VERIFY_FAILED',
        `the gateway acknowledged ${ack.vsn} with SHA-256 ${ack.sha256}, not ${sha256}`,
      );
    }
    this.o.catalog.mirrorAcked(entry.id, { key: ack.key, versionId: ack.versionId });
    this.volumesMirrored++;
    this.lastError = '';
    const released = await this.o.release(volume.id);
    this.o.log.info('volume mirrored', {
      vsn: volume.vsn,
      key: ack.key,
      versionId: ack.versionId,
      filesReleased: released,
    });
  }
}

async function partMd5(file: string, offset: number, length: number): Promise<string> {
  const fh = await fs.open(file, 'r');
  try {
    const hash = createHash('md5');
    for await (const chunk of fh.createReadStream({ start: offset, end: offset + length - 1, autoClose: false })) {
      hash.update(chunk as Buffer);
    }
    return hash.digest('hex');
  } finally {
    await fh.close();
  }
}
