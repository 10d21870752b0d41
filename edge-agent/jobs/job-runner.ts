/**
 * Runs jobs: takes BURN, COPY, BURN_COPY and REBURN requests, drives their
 * steps (burn-steps.ts, copy-steps.ts, reburn-steps.ts) through
 * two fastq queues with their own concurrency — mastering (disk and CPU
 * bound) and writing (one writer per drive, reserved from the pool) — so
 * mastering volume k+1 overlaps writing volume k, and answers JOB_STATUS.
 *
 * At start it resumes every job the catalog shows unfinished. Volumes already
 * mastered go to the write queue before anything is mastered, so finished
 * images reach their discs first (NAStore's rule). Stopping the agent aborts
 * running tools and leaves jobs as they are in the journal: they resume at
 * the next start, never marked failed for the stop.
 *
 * A REBURN is a `burn_copy` job with `source: 'cloud'`: its download runs at
 * once (several may download together), its burn then waits its turn with
 * the other jobs that change existing volumes.
 */
import fs from 'node:fs/promises';
import * as fastq from 'fastq';
import type { Config } from '../../config/index.js';
import type { JobRow, VolumeRow } from '../catalog/catalog.js';
import type { CloudReader } from '../cloud/cloud-reader.js';
import { PackingError } from '../packing/errors.js';
import { mediaProfile } from '../packing/media-profiles.js';
import { appendSession, appendTarget } from './append-steps.js';
import {
  type BurnContext,
  type BurnParams,
  cleanup,
  ingest,
  master,
  pack,
  releaseMirrored,
  writeVolume,
} from './burn-steps.js';
import { type BurnCopyParams, burnCopies, type CopyParams, copyDisc, copyImagePath } from './copy-steps.js';
import { JobError } from './errors.js';
import { JobProgress } from './job-progress.js';
import {
  burnReburn,
  checkReburn,
  obtainImage,
  type ReburnContext,
  type ReburnParams,
  ReburnProgress,
  type ReburnSettings,
} from './reburn-steps.js';

export interface JobRunnerOptions extends BurnContext {
  /** Images mastered at once. */
  masterConcurrency: number;
  /** Largest number of copies a BURN may ask for. */
  maxCopies: number;
  /** The cloud copy of volumes, for re-burning them (absent: REBURN is refused). */
  cloud?: CloudReader;
  /** How images are downloaded for a re-burn (and how long a download waits for the gateway). */
  reburn?: Config['agent']['reburn'] & Pick<ReburnSettings, 'gatewayWaitSeconds'>;
}

export interface ReburnRequest {
  vsn: string;
  copies: number;
  /** "" for the volume's own medium. */
  media: string;
}

export interface JobStatus {
  job: JobRow;
  progress: JobProgress | undefined;
}

const MAX_KEPT_PROGRESS = 1000;

interface VolumeTask {
  job: JobRow;
  volume: VolumeRow;
  params: BurnParams;
  progress: JobProgress;
}

export class JobRunner {
  private readonly o: JobRunnerOptions;
  private readonly progress = new Map<number, JobProgress>();
  private readonly running = new Map<number, Promise<void>>();
  private readonly abort = new AbortController();
  private readonly masterQueue: fastq.queueAsPromised<VolumeTask, VolumeRow>;
  private readonly writeQueue: fastq.queueAsPromised<VolumeTask, void>;
  private stopping = false;

  constructor(options: JobRunnerOptions) {
    this.o = options;
    this.masterQueue = fastq.promise(
      (t: VolumeTask) => master(this.o, t.job, t.volume, t.params, t.progress, this.abort.signal),
      options.masterConcurrency,
    );
    this.writeQueue = fastq.promise(
      (t: VolumeTask) => writeVolume(this.o, t.job, t.volume, t.progress, this.abort.signal),
      Math.max(1, options.pool.size),
    );
  }

  /** Resume every unfinished job. */
  async start(): Promise<number> {
    await fs.mkdir(this.o.jobsDir, { recursive: true });
    await this.clearInterruptedDiscs();
    const jobs = this.o.catalog.unfinishedJobs();
    for (const job of jobs) {
      this.o.log.info('resuming job', { job: job.id, kind: job.kind });
      this.launch(job);
    }
    return jobs.length;
  }

  /**
   * Before any job resumes: a stand-in drive still holding the disc of a copy
   * attempt a crash cut short (its row `writing` or `written`) has it put aside
   * on the shelf as interrupted, as writeVolume does when it next uses that
   * drive. The copy is redone, perhaps on another drive, and the drive must
   * not keep the ruin. A disc no attempt explains (loaded to be read) stays.
   */
  private async clearInterruptedDiscs(): Promise<void> {
    for (const drive of this.o.pool.all()) {
      if (drive.kind !== 'stand-in' || drive.isMissing()) continue;
      const m = await drive.medium();
      if (!m.loaded || m.blank) continue;
      const last = this.o.catalog.lastCopyOnDrive(drive.name);
      if (!last || (last.state !== 'writing' && last.state !== 'written')) continue;
      const volume = this.o.catalog.volume(last.volumeId);
      if (!volume) continue;
      const aside = await drive.unload(volume.vsn, last.copyNo, 'interrupted');
      this.o.log.warn('a disc a crash left in a drive was put aside', { drive: drive.name, medium: aside });
    }
  }

  /** A number of copies the agent allows, of a medium it knows. */
  private checkCopies(copies: number, media: string): void {
    if (!Number.isInteger(copies) || copies < 1 || copies > this.o.maxCopies) {
      throw new JobError('BAD_ARGUMENT', `copies must be 1 to ${this.o.maxCopies}, not ${copies}`);
    }
    try {
      mediaProfile(media);
    } catch (e) {
      if (e instanceof PackingError) throw new JobError('UNKNOWN_MEDIA', e.message);
      throw e;
    }
  }

  /** Checks a BURN's parameters, records the job, and starts it. */
  submitBurn(clientId: string, client: string, params: BurnParams): JobRow {
    this.checkCopies(params.copies, params.media);
    if (!/^[\x20-\x7e]{0,32}$/.test(params.label)) {
      throw new JobError('BAD_ARGUMENT', 'a label is at most 32 printable ASCII characters');
    }
    if (this.o.pool.size === 0) throw new JobError('NO_DRIVES', 'the agent has no drives configured');
    if (params.mode === 'append' && this.o.pool.all().some((d) => d.kind !== 'stand-in')) {
      throw new JobError(
        'BAD_ARGUMENT',
        'APPEND needs overwriteable media: on real drives (sequential DVD-R, BD-R) it is not supported yet: burn a NEW volume',
      );
    }
    const job = this.o.catalog.createJob('burn', clientId, client, { ...params });
    this.o.log.info('burn job queued', { job: job.id, client, copies: params.copies, media: params.media });
    this.launch(job);
    return job;
  }

  /** COPY: read the disc in `drive` into the copy area. */
  async submitCopy(clientId: string, client: string, driveName: string): Promise<JobRow> {
    const drive = this.o.pool.get(driveName);
    if (!drive) throw new JobError('NOT_FOUND', `there is no drive ${driveName}: DRIVES lists them`);
    const m = await drive.medium();
    if (m.missing) throw new JobError('NOT_FOUND', `drive ${driveName} is missing (${drive.address})`);
    if (!m.loaded || m.blank || !m.vsn) {
      throw new JobError('NO_MEDIUM', `drive ${driveName} holds no written disc: load the disc to copy`);
    }
    const job = this.o.catalog.createJob('copy', clientId, client, { drive: driveName, vsn: m.vsn });
    this.o.log.info('copy job queued', { job: job.id, drive: driveName, vsn: m.vsn });
    this.launch(job);
    return job;
  }

  /** BURN_COPY: burn the client's latest COPY `copies` more times as copies of the same VSN. */
  submitBurnCopy(clientId: string, client: string, copies: number, media: string): JobRow {
    this.checkCopies(copies, media);
    const copied = this.o.catalog.latestJob(clientId, 'copy', 'done');
    if (!copied) throw new JobError('NOT_FOUND', 'no disc was copied in this working directory: COPY one first');
    const vsn = String(copied.params.vsn);
    const params: BurnCopyParams = { vsn, copies, media, image: copyImagePath(this.o, vsn) };
    const job = this.o.catalog.createJob('burn_copy', clientId, client, { ...params });
    this.o.log.info('burn-copy job queued', { job: job.id, vsn, copies });
    this.launch(job);
    return job;
  }

  /** REBURN: download `vsn`'s image from the cloud, check it, burn and verify `copies` new copies of it. */
  async submitReburn(clientId: string, client: string, r: ReburnRequest): Promise<JobRow> {
    const params = checkReburn(this.reburnContext(), r, this.o.maxCopies);
    const job = this.o.catalog.createJob('burn_copy', clientId, client, { ...params });
    this.o.log.info('reburn job queued', { job: job.id, client, vsn: params.vsn, copies: params.copies });
    this.launch(job);
    return job;
  }

  private reburnContext(): ReburnContext {
    return {
      ...this.o,
      cloud: this.o.cloud,
      reburn: this.o.reburn ?? { downloadConcurrency: 4, chunkBytes: 64 * 1024 * 1024 },
    };
  }

  status(id: number): JobStatus | undefined {
    const job = this.o.catalog.job(id);
    if (!job) return undefined;
    return { job, progress: this.progress.get(id) };
  }

  /** Progress of the jobs running now (for metrics). */
  active(): { job: number; progress: JobProgress }[] {
    return [...this.running.keys()].map((job) => ({ job, progress: this.progress.get(job)! }));
  }

  /** The mirror acknowledged a volume: release the staged files it was holding back (burn-steps releaseMirrored). */
  releaseMirrored(volumeId: number): Promise<number> {
    return releaseMirrored(this.o, volumeId);
  }

  /** The volumes a job made or grew; for BURN_COPY and REBURN, the volume it adds copies to. */
  volumesOf(jobId: number): VolumeRow[] {
    const own = this.o.catalog.volumesOfJob(jobId);
    const job = this.o.catalog.job(jobId);
    if (own.length === 0 && job?.kind === 'burn_copy') {
      const volume = this.o.catalog.volumeByVsn(String(job.params.vsn));
      if (volume) return [volume];
    }
    return own;
  }

  /** Resolves when the job has ended (done or failed), or at once if it is not running. */
  async settled(id: number): Promise<void> {
    await this.running.get(id);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    // abort() rejects what is queued (kill() would leave those promises pending forever)
    this.masterQueue.abort();
    this.writeQueue.abort();
    await Promise.allSettled([...this.running.values()]);
  }

  private launch(job: JobRow): void {
    const reburn = isReburn(job);
    const progress = reburn ? new ReburnProgress() : new JobProgress();
    this.progress.set(job.id, progress);
    // progress of ended jobs is kept for a while (their copies' details), the oldest dropped first
    while (this.progress.size > MAX_KEPT_PROGRESS) this.progress.delete(this.progress.keys().next().value!);
    const modifiesVolumes = job.kind === 'burn_copy' || (job.kind === 'burn' && job.params.mode === 'append');
    const start = () => this.run(job, progress);
    // Jobs that change existing volumes (APPEND, BURN_COPY) run one at a time, so two of them can never
    // pick the same volume; NEW burns and COPY only make new things and run at once. A REBURN downloads
    // first and takes its turn only to burn.
    const run = (
      reburn ? this.runReburn(job, progress as ReburnProgress) : modifiesVolumes ? this.serialise(start) : start()
    ).finally(() => this.running.delete(job.id));
    this.running.set(job.id, run);
  }

  private volumeLock: Promise<unknown> = Promise.resolve();
  private readonly downloads = new Map<string, Promise<unknown>>();

  /** Runs `action` after every earlier one for the same VSN has ended. */
  private async onePerVolume<T>(vsn: string, action: () => Promise<T>): Promise<T> {
    const run = (this.downloads.get(vsn) ?? Promise.resolve()).then(action, action);
    const settled = run.catch(() => {});
    this.downloads.set(vsn, settled);
    try {
      return await run;
    } finally {
      if (this.downloads.get(vsn) === settled) this.downloads.delete(vsn);
    }
  }

  private serialise<T>(action: () => Promise<T>): Promise<T> {
    const run = this.volumeLock.then(action, action);
    this.volumeLock = run.catch(() => {});
    return run;
  }

  private async run(job: JobRow, progress: JobProgress): Promise<void> {
    if (job.kind === 'copy' || job.kind === 'burn_copy') return this.runCopy(job, progress);
    const { catalog, log } = this.o;
    const params = job.params as unknown as BurnParams;
    catalog.setJobState(job.id, 'running');
    try {
      progress.step = 'ingest';
      const files = await ingest(this.o, job);
      if (params.mode === 'append') {
        const target = appendTarget(this.o, job, files, params);
        if (target) {
          progress.step = 'burn';
          const volume = await appendSession(this.o, job, target, files, progress, this.abort.signal);
          if (this.stopping) return;
          progress.step = 'cleanup';
          const released = await cleanup(this.o, job, true);
          catalog.setJobState(
            job.id,
            'done',
            `session ${volume.sessions} appended to ${volume.vsn}, ${volume.requiredCopies} verified ${volume.requiredCopies === 1 ? 'copy' : 'copies'}; ${released} files released from staging`,
          );
          progress.step = 'done';
          log.info('append job done', { job: job.id, vsn: volume.vsn, session: volume.sessions });
          return;
        }
      }
      progress.step = 'pack';
      const volumes = pack(this.o, job, files, params);
      for (const v of volumes)
        progress.volume(v.id, v.vsn).step = v.state === 'finished' || v.state === 'mirrored' ? 'finished' : 'planned';
      progress.step = 'burn';
      // mastered volumes are queued for writing first; the rest go through mastering
      const outcomes = await Promise.allSettled(
        volumes.map(async (v) => {
          if (v.state === 'finished' || v.state === 'mirrored') return;
          // a volume mastered before a restart skips the queue (its image is only checked)
          const ready =
            v.state === 'hot'
              ? await this.masterQueue.push({ job, volume: v, params, progress })
              : await master(this.o, job, v, params, progress, this.abort.signal);
          await this.writeQueue.push({ job, volume: ready, params, progress });
        }),
      );
      if (this.stopping) return;
      const failures = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [{ v: volumes[i]!, e: o.reason }] : []));
      if (failures.length > 0) {
        for (const f of failures) {
          catalog.setVolumeState(f.v.id, 'failed');
          progress.volume(f.v.id, f.v.vsn).step = 'failed';
        }
        progress.step = 'cleanup';
        await cleanup(this.o, job, false);
        const message = this.describe(job.id, failures);
        catalog.setJobState(job.id, 'failed', message);
        progress.step = 'failed';
        log.error('burn job failed', { job: job.id, message });
        return;
      }
      progress.step = 'cleanup';
      const released = await cleanup(this.o, job, true);
      const vsns = catalog.jobVolumes(job.id).map((v) => v.vsn);
      catalog.setJobState(
        job.id,
        'done',
        `${vsns.length} volume${vsns.length === 1 ? '' : 's'} (${vsns.join(', ')}), ${params.copies} verified ${params.copies === 1 ? 'copy' : 'copies'} each; ${released} files released from staging`,
      );
      progress.step = 'done';
      log.info('burn job done', { job: job.id, volumes: vsns });
    } catch (e) {
      if (this.stopping) return;
      const message = e instanceof JobError ? e.message : `unexpected failure: ${(e as Error).message}`;
      catalog.setJobState(job.id, 'failed', message);
      progress.step = 'failed';
      log.error('burn job failed', { job: job.id, message });
      await fs.rm(`${this.o.jobsDir}/${job.id}`, { recursive: true, force: true }).catch(() => {});
    }
  }

  private async runCopy(job: JobRow, progress: JobProgress): Promise<void> {
    const { catalog, log } = this.o;
    catalog.setJobState(job.id, 'running');
    progress.step = job.kind === 'copy' ? 'copy' : 'burn';
    try {
      const message =
        job.kind === 'copy'
          ? await copyDisc(this.o, job, job.params as unknown as CopyParams, progress, this.abort.signal)
          : await burnCopies(this.o, job, job.params as unknown as BurnCopyParams, progress, this.abort.signal);
      if (this.stopping) return;
      catalog.setJobState(job.id, 'done', message);
      progress.step = 'done';
      log.info(`${job.kind} job done`, { job: job.id, message });
    } catch (e) {
      if (this.stopping) return;
      const message = e instanceof JobError ? e.message : `unexpected failure: ${(e as Error).message}`;
      catalog.setJobState(job.id, 'failed', message);
      progress.step = 'failed';
      log.error(`${job.kind} job failed`, { job: job.id, message });
    }
  }

  private async runReburn(job: JobRow, progress: ReburnProgress): Promise<void> {
    const { catalog, log } = this.o;
    const ctx = this.reburnContext();
    const params = job.params as unknown as ReburnParams;
    catalog.setJobState(job.id, 'running');
    try {
      progress.step = 'download';
      // one download of a volume at a time: a second REBURN of it then finds the image here
      await this.onePerVolume(params.vsn, () => obtainImage(ctx, job, params, progress, this.abort.signal));
      if (this.stopping) return;
      progress.step = 'queued to burn';
      const message = await this.serialise(async () => {
        if (this.stopping) return '';
        return burnReburn(ctx, job, params, progress, this.abort.signal);
      });
      if (this.stopping) return;
      catalog.setJobState(job.id, 'done', message);
      progress.step = 'done';
      log.info('reburn job done', { job: job.id, message });
    } catch (e) {
      if (this.stopping) return;
      const message = e instanceof JobError ? `${e.code}: ${e.message}` : `unexpected failure: ${(e as Error).message}`;
      catalog.setJobState(job.id, 'failed', message);
      progress.step = 'failed';
      log.error('reburn job failed', { job: job.id, message });
    }
  }

  /** Which volumes failed and why, and which copies exist. */
  private describe(jobId: number, failures: { v: VolumeRow; e: unknown }[]): string {
    const failed = new Set(failures.map((f) => f.v.id));
    const lines = failures.map((f) => (f.e instanceof Error ? f.e.message : String(f.e)));
    const done = this.o.catalog
      .jobVolumes(jobId)
      .filter((v) => !failed.has(v.id) && (v.state === 'finished' || v.state === 'mirrored'))
      .map((v) => v.vsn);
    if (done.length > 0) lines.push(`finished with every copy: ${done.join(', ')}`);
    return lines.join('; ');
  }
}

/** A REBURN: a BURN_COPY whose image comes from the cloud. */
function isReburn(job: JobRow): boolean {
  return job.kind === 'burn_copy' && job.params.source === 'cloud';
}
