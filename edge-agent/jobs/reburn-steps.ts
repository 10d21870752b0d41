/**
 * REBURN: re-making a lost or damaged disc from the volume's cloud image. The
 * job is a `burn_copy` job whose params say `source: 'cloud'` (so it resumes
 * after a restart like any job) and runs two journaled steps:
 *
 * - download: the image comes from its newest acknowledged cloud object
 *   (cloudObjectOf) by ranged GETs of `chunkBytes`, `downloadConcurrency` in
 *   flight, presigned by the gateway, written by position into
 *   `<images>/copies/<vsn>.iso.part`. Each chunk, once fsynced, is recorded
 *   in the chunk record beside it (`.part.chunks`, JSON with runs of chunk
 *   numbers, replaced atomically),
 *   which also names the object, size and SHA-256 it belongs to; a later
 *   attempt (the job resumed after a crash, or a new REBURN after a failed
 *   one) fetches only the chunks not recorded. The whole file's SHA-256 must
 *   then equal volumes.image_sha256: on a mismatch both files are deleted and
 *   the job fails CORRUPT; else the part is renamed to the copy area's image.
 *   A local image that is still there and whole (the volume's own, or one in
 *   the copy area) is used instead, after its SHA-256 is checked: nothing is
 *   downloaded.
 *   With no gateway session the step waits for one ("waiting for the
 *   gateway"), for at most `gatewayWaitSeconds` (default an hour) at a time
 *   with no progress, then fails NO_SOURCE (the chunks fetched stay for the
 *   next REBURN). A chunk S3 refuses or cuts short is tried again with a new
 *   link, at most CHUNK_ATTEMPTS times, then the job fails NO_SOURCE.
 * - burn: exactly as BURN_COPY: the volume's required copies grow by
 *   `copies` (one transaction with its journal line, so a replay never adds
 *   them twice) and writeVolume burns and verifies the missing copies against
 *   the catalog's SHA-256. A volume that was mirrored stays mirrored.
 *
 * Refusals before a job exists (checkReburn): copies outside 1..maxCopies or
 * an unknown medium (BAD_ARGUMENT, UNKNOWN_MEDIA), an unknown VSN
 * (NOT_FOUND), a volume with no acknowledged cloud object of its latest
 * session (NO_SOURCE), an agent with no cloud reader (NOT_AVAILABLE) or no
 * drives (NO_DRIVES).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobRow, VolumeRow } from '../catalog/catalog.js';
import {
  CloudError,
  type CloudObject,
  type CloudReader,
  cloudObjectOf,
  type SignedRange,
} from '../cloud/cloud-reader.js';
import { PackingError } from '../packing/errors.js';
import { mediaProfile } from '../packing/media-profiles.js';
import { type BurnContext, sha256Of, writeVolume } from './burn-steps.js';
import { copyImagePath, keepMirrored } from './copy-steps.js';
import { JobError } from './errors.js';
import { JobProgress } from './job-progress.js';

export interface ReburnParams {
  vsn: string;
  copies: number;
  /** The medium burned (the volume's own when the request said ""). */
  media: string;
  /** Where the downloaded image goes: the copy area's `<vsn>.iso`. */
  image: string;
  source: 'cloud';
}

export interface ReburnSettings {
  /** Ranged GETs in flight at once. */
  downloadConcurrency: number;
  /** Bytes per ranged GET. */
  chunkBytes: number;
  /** How long the download waits for a gateway session before failing NO_SOURCE (default 3600). */
  gatewayWaitSeconds?: number;
}

export interface ReburnContext extends BurnContext {
  cloud: CloudReader | undefined;
  reburn: ReburnSettings;
}

/** Tries at one chunk (a refused or short GET) before the download gives up. */
const CHUNK_ATTEMPTS = 3;
/** Links asked of the gateway at once, per download slot (used soon after, well inside their expiry). */
const LINKS_PER_SLOT = 4;
/** A chunk record larger than this is not one (it holds the identity and runs of chunk numbers). */
const MAX_RECORD_BYTES = 4 * 1024 * 1024;
const DEFAULT_GATEWAY_WAIT_SECONDS = 3600;

/** Share of the job's percentage that is the download (the rest is burning and verifying). */
const DOWNLOAD_SHARE = 0.5;

/** JobProgress with the download in front of the burn. */
export class ReburnProgress extends JobProgress {
  vsn = '';
  /** What the download is doing, in words (empty once it is over). */
  downloadNote = '';
  downloadDone = 0;
  downloadTotal = 0;
  downloadOver = false;

  override percent(): number {
    const burn = this.step === 'done' ? 100 : super.percent();
    const dl = this.downloadOver ? 1 : this.downloadTotal > 0 ? this.downloadDone / this.downloadTotal : 0;
    const burnShare = this.downloadOver ? burn / 100 : 0;
    return Math.min(100, Math.floor(100 * (DOWNLOAD_SHARE * dl + (1 - DOWNLOAD_SHARE) * burnShare)));
  }

  override summary(): string {
    if (!this.downloadOver && this.downloadNote) return `${this.vsn}: ${this.downloadNote}`;
    return super.summary();
  }
}

// --- refusals ---------------------------------------------------------------

/**
 * Checks a REBURN before a job is made; returns the job's params.
 * `media` "" is the volume's own medium.
 */
export function checkReburn(
  ctx: ReburnContext,
  request: { vsn: string; copies: number; media: string },
  maxCopies: number,
): ReburnParams {
  const { vsn, copies } = request;
  if (!Number.isInteger(copies) || copies < 1 || copies > maxCopies) {
    throw new JobError('BAD_ARGUMENT', `copies must be 1 to ${maxCopies}, not ${copies}`);
  }
  const volume = ctx.catalog.volumeByVsn(vsn);
  if (!volume) throw new JobError('NOT_FOUND', `there is no volume ${JSON.stringify(vsn)} in this agent's catalog`);
  if (!volume.imageSha256 || volume.imageBytes === null || volume.imageBytes <= 0n) {
    throw new JobError('NO_SOURCE', `${vsn} was never mastered: it has no image to re-burn`);
  }
  const media = request.media === '' ? volume.media : request.media;
  let sectors: number;
  try {
    sectors = mediaProfile(media).sectors;
  } catch (e) {
    if (e instanceof PackingError) throw new JobError('UNKNOWN_MEDIA', e.message);
    throw e;
  }
  if ((volume.sectors ?? 0) > sectors) {
    throw new JobError('BAD_ARGUMENT', `${vsn} (${volume.sectors} sectors) does not fit ${media}`);
  }
  mirroredImage(ctx, volume);
  if (!ctx.cloud) throw new JobError('NOT_AVAILABLE', 'this agent has no gateway to read cloud images through');
  if (ctx.pool.size === 0) throw new JobError('NO_DRIVES', 'the agent has no drives configured');
  return { vsn, copies, media, image: copyImagePath(ctx, vsn), source: 'cloud' };
}

/** The cloud object holding the volume as it is now (every session), or NO_SOURCE. */
function mirroredImage(ctx: BurnContext, volume: VolumeRow): CloudObject {
  const acked = ctx.catalog.mirrorsOfVolume(volume.id).filter((m) => m.state === 'acked' && m.key);
  const object = cloudObjectOf(ctx.catalog, volume.id);
  if (!object) {
    throw new JobError(
      'NO_SOURCE',
      `${volume.vsn} has no cloud copy yet (the gateway has not acknowledged its upload): nothing to re-burn from`,
    );
  }
  if (!acked.some((m) => m.session === volume.sessions)) {
    throw new JobError(
      'NO_SOURCE',
      `the cloud copy of ${volume.vsn} is older than its session ${volume.sessions}: wait until the mirror has uploaded it`,
    );
  }
  return object;
}

// --- the job ----------------------------------------------------------------

/** Where the image comes from and what the download did, for the job's message. */
interface Obtained {
  image: string;
  /** The SHA-256 it was checked against (hex). */
  sha256: string;
  how: string;
}

/** The download step's journal line: the image, the SHA-256 it was checked against, the words for the message. */
function downloadDone(detail: string): Partial<Obtained> {
  const [image, sha256, how] = detail.split('\n');
  return { image, sha256, how };
}

/** The download step: the image is made present and checked (journaled; a replay resumes). */
export async function obtainImage(
  ctx: ReburnContext,
  job: JobRow,
  params: ReburnParams,
  progress: ReburnProgress,
  signal: AbortSignal,
): Promise<void> {
  progress.vsn = params.vsn;
  const volume = ctx.catalog.volumeByVsn(params.vsn);
  if (!volume?.imageSha256 || volume.imageBytes === null) {
    throw new JobError('NOT_FOUND', `volume ${params.vsn} is no longer in the catalog`);
  }
  const journal = ctx.catalog.journalOf(job.id);
  if (journal.some((j) => j.step === 'reburn' && j.event === 'begin')) {
    progress.downloadOver = true; // replayed after the copies were added: the burn goes on
    return;
  }
  const done = journal.findLast((j) => j.step === 'download' && j.event === 'done');
  if (done) {
    const image = downloadDone(done.detail).image ?? '';
    const st = await fs.stat(image).catch(() => null);
    if (st && BigInt(st.size) === volume.imageBytes) {
      progress.downloadOver = true;
      return;
    }
    ctx.catalog.journal(job.id, volume.id, 'download', 'undone', `${image} is gone`);
  }
  const obtained =
    (await localImage(ctx, volume, params, progress)) ?? (await download(ctx, job, volume, params, progress, signal));
  ctx.catalog.journal(job.id, volume.id, 'download', 'done', `${obtained.image}\n${obtained.sha256}\n${obtained.how}`);
  progress.downloadOver = true;
  progress.downloadNote = '';
}

/** The burn step: `copies` more verified copies of the volume from the image the download step left. */
export async function burnReburn(
  ctx: ReburnContext,
  job: JobRow,
  params: ReburnParams,
  progress: ReburnProgress,
  signal: AbortSignal,
): Promise<string> {
  const journal = ctx.catalog.journalOf(job.id);
  const downloaded = journal.findLast((j) => j.step === 'download' && j.event === 'done');
  let volume = ctx.catalog.volumeByVsn(params.vsn);
  if (!volume?.imageSha256 || volume.imageBytes === null) {
    throw new JobError('NOT_FOUND', `volume ${params.vsn} is no longer in the catalog`);
  }
  const { image, sha256: verifiedSha, how } = downloadDone(downloaded?.detail ?? '');
  if (!journal.some((j) => j.step === 'reburn' && j.event === 'begin')) {
    if (!image) throw new JobError('NOT_FOUND', `the image of ${params.vsn} was not downloaded`);
    // an APPEND may have changed the volume while its image was downloaded (it waited for the volume lock)
    const st = await fs.stat(image).catch(() => null);
    if (!st || BigInt(st.size) !== volume.imageBytes || verifiedSha !== volume.imageSha256.toString('hex')) {
      throw new JobError(
        'NOT_FOUND',
        `${params.vsn} changed while its image was downloaded (${volume.sessions} sessions now): REBURN again`,
      );
    }
    volume = ctx.catalog.addRequiredCopies(volume.id, params.copies, image, {
      jobId: job.id,
      step: 'reburn',
      detail: `${params.copies} more ${params.copies === 1 ? 'copy' : 'copies'} from ${image}`,
    });
  }
  progress.step = 'burn';
  await writeVolume(ctx, job, volume, progress, signal);
  keepMirrored(ctx, volume.id);
  ctx.catalog.journal(job.id, volume.id, 'reburn', 'done');
  const verified = ctx.catalog.volumeCopies(volume.id).filter((c) => c.state === 'verified');
  return `${params.vsn}: ${params.copies} new ${params.copies === 1 ? 'copy' : 'copies'} burned and verified from ${how ?? 'its image'}; ${params.vsn} now has ${verified.length} verified copies`;
}

// --- a local image ----------------------------------------------------------

/** The volume's own image, or one in the copy area, when it is there and whole (SHA-256 checked). */
async function localImage(
  ctx: ReburnContext,
  volume: VolumeRow,
  params: ReburnParams,
  progress: ReburnProgress,
): Promise<Obtained | undefined> {
  const candidates = [...new Set([volume.imagePath, params.image].filter((p): p is string => !!p))];
  for (const image of candidates) {
    const st = await fs.stat(image).catch(() => null);
    if (!st?.isFile() || BigInt(st.size) !== volume.imageBytes) continue;
    progress.downloadNote = `checking the SHA-256 of the local image ${image}`;
    if (!(await sha256Of(image)).equals(volume.imageSha256!)) {
      ctx.log.warn('a local image differs from its SHA-256: not used', { vsn: volume.vsn, image });
      continue;
    }
    return {
      image,
      sha256: volume.imageSha256!.toString('hex'),
      how: `the local image ${image} (still on the agent: nothing downloaded; SHA-256 ${volume.imageSha256!.toString('hex')} checked)`,
    };
  }
  return undefined;
}

// --- the download -----------------------------------------------------------

/** What the chunk record beside a `.part` file says. */
export interface ChunkRecord {
  key: string;
  versionId: string | null;
  bytes: number;
  sha256: string;
  chunkBytes: number;
  /** Chunk numbers (offset / chunkBytes) whose bytes are in the part file, fsynced; ascending. */
  done: number[];
}

/**
 * The record on disk: the identity and the chunks done as inclusive runs
 * `[first, last]` (a download goes mostly in order, so the record stays a few
 * runs long however many chunks the image has).
 */
interface RecordFile extends Omit<ChunkRecord, 'done'> {
  runs: [number, number][];
}

export function partPath(image: string): string {
  return `${image}.part`;
}

export function chunkRecordPath(image: string): string {
  return `${image}.part.chunks`;
}

/** Replaces the chunk record atomically (a temporary name, fsync, rename). */
export async function writeChunkRecord(file: string, record: ChunkRecord): Promise<void> {
  const { done, ...identity } = record;
  const runs: [number, number][] = [];
  for (const n of [...done].sort((a, b) => a - b)) {
    const last = runs.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else if (!last || n > last[1]) runs.push([n, n]);
  }
  const onDisk: RecordFile = { ...identity, runs };
  const tmp = `${file}.tmp`;
  const h = await fs.open(tmp, 'w');
  try {
    await h.writeFile(JSON.stringify(onDisk));
    await h.sync();
  } finally {
    await h.close();
  }
  await fs.rename(tmp, file);
}

/** The chunk record in `file`, if there is one and it is well formed (bounded: a record is small). */
export async function readChunkRecord(file: string): Promise<ChunkRecord | undefined> {
  const h = await fs.open(file, 'r').catch(() => null);
  if (!h) return undefined;
  let text: string;
  try {
    const st = await h.stat();
    if (st.size > MAX_RECORD_BYTES) return undefined;
    text = await h.readFile('utf8');
  } finally {
    await h.close();
  }
  let r: Partial<RecordFile>;
  try {
    r = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (
    typeof r?.key !== 'string' ||
    !(r.versionId === null || typeof r.versionId === 'string') ||
    !Number.isSafeInteger(r.bytes) ||
    typeof r.sha256 !== 'string' ||
    !Number.isSafeInteger(r.chunkBytes) ||
    r.chunkBytes! <= 0 ||
    !Array.isArray(r.runs)
  ) {
    return undefined;
  }
  const chunks = Math.ceil(r.bytes! / r.chunkBytes!);
  const done: number[] = [];
  let previous = -1;
  for (const run of r.runs) {
    if (!Array.isArray(run) || run.length !== 2) return undefined;
    const [first, last] = run;
    if (!Number.isInteger(first) || !Number.isInteger(last) || first <= previous || last < first || last >= chunks) {
      return undefined;
    }
    for (let n = first; n <= last; n++) done.push(n);
    previous = last;
  }
  return {
    key: r.key,
    versionId: r.versionId ?? null,
    bytes: r.bytes!,
    sha256: r.sha256,
    chunkBytes: r.chunkBytes!,
    done,
  };
}

/** The chunks an earlier attempt at this very object left, or undefined. */
async function chunksLeft(file: string, want: Omit<ChunkRecord, 'done'>): Promise<Set<number> | undefined> {
  const r = await readChunkRecord(file);
  if (
    !r ||
    r.key !== want.key ||
    r.versionId !== want.versionId ||
    r.bytes !== want.bytes ||
    r.sha256 !== want.sha256 ||
    r.chunkBytes !== want.chunkBytes
  ) {
    return undefined;
  }
  return new Set(r.done);
}

async function download(
  ctx: ReburnContext,
  job: JobRow,
  volume: VolumeRow,
  params: ReburnParams,
  progress: ReburnProgress,
  signal: AbortSignal,
): Promise<Obtained> {
  const cloud = ctx.cloud;
  if (!cloud) throw new JobError('NOT_AVAILABLE', 'this agent has no gateway to read cloud images through');
  const object = mirroredImage(ctx, volume);
  const total = Number(volume.imageBytes!);
  const sha = volume.imageSha256!.toString('hex');
  const { chunkBytes } = ctx.reburn;
  const concurrency = Math.max(1, ctx.reburn.downloadConcurrency);
  const chunks = Math.ceil(total / chunkBytes);
  const part = partPath(params.image);
  const recordFile = chunkRecordPath(params.image);
  const identity = { key: object.key, versionId: object.versionId ?? null, bytes: total, sha256: sha, chunkBytes };
  await fs.mkdir(path.dirname(part), { recursive: true });

  // what an earlier attempt left: kept only when its record is for this object and the part is there
  let done = await chunksLeft(recordFile, identity);
  const partStat = await fs.stat(part).catch(() => null);
  if (!done || !partStat?.isFile()) {
    if (done || partStat) ctx.log.warn('an unusable partial download was discarded', { vsn: volume.vsn, part });
    done = new Set();
    await fs.rm(part, { force: true });
  }
  const kept = [...done].reduce((sum, n) => sum + chunkLength(n, total, chunkBytes), 0);
  ctx.catalog.journal(
    job.id,
    volume.id,
    'download',
    'begin',
    `${object.key}${object.versionId ? ` version ${object.versionId}` : ''}: ${chunks} chunks of ${chunkBytes} bytes${
      done.size > 0 ? `, resuming with ${done.size} (${kept} bytes) already here` : ''
    }`,
  );
  const fh = await fs.open(part, done.size > 0 ? 'r+' : 'w+');
  let fetched = 0;
  try {
    await fh.truncate(total);
    progress.downloadTotal = total;
    progress.downloadDone = kept;
    const noteProgress = () => {
      progress.downloadNote = `downloading its cloud image: ${Math.floor((100 * progress.downloadDone) / total)}% (${done.size} of ${chunks} chunks${
        kept > 0 ? `; resumed, ${kept} bytes kept from an earlier attempt` : ''
      })`;
    };
    noteProgress();
    // the record is rewritten after each chunk, one write at a time
    let recording: Promise<void> = Promise.resolve();
    const record = () => {
      recording = recording.then(() => writeChunkRecord(recordFile, { ...identity, done: [...done] }));
      return recording;
    };
    await record();

    const failures = new Map<number, number>();
    let waitingSince: number | undefined;
    /** No gateway to sign reads now: wait a little, failing NO_SOURCE once the wait passes its bound. */
    const waitForGateway = async () => {
      waitingSince ??= Date.now();
      const limit = (ctx.reburn.gatewayWaitSeconds ?? DEFAULT_GATEWAY_WAIT_SECONDS) * 1000;
      if (Date.now() - waitingSince > limit) {
        throw new JobError(
          'NO_SOURCE',
          `no gateway session for ${Math.round(limit / 1000)} s: the cloud image of ${volume.vsn} cannot be read (${done.size} of ${chunks} chunks kept for the next REBURN)`,
        );
      }
      progress.downloadNote = `waiting for the gateway (the cloud image is read through it; ${done.size} of ${chunks} chunks here)`;
      await sleep(500, undefined, { signal });
    };
    /** Fetches a batch's links, `concurrency` at a time, recording each chunk once it is on disk. */
    const fetchBatch = async (links: SignedRange[]) => {
      noteProgress();
      let next = 0;
      const worker = async () => {
        while (next < links.length) {
          const link = links[next++]!;
          const n = link.offset / chunkBytes;
          let pos = link.offset;
          try {
            const got = await cloud.fetch(
              link,
              async (b) => {
                await fh.write(b, 0, b.length, pos);
                pos += b.length;
                progress.downloadDone += b.length;
              },
              signal,
            );
            await fh.datasync();
            fetched += got;
            done.add(n);
            await record();
            noteProgress();
          } catch (e) {
            progress.downloadDone -= pos - link.offset; // the chunk is fetched again
            if (signal.aborted) throw e;
            if (!(e instanceof CloudError)) throw localFailure(e, part);
            const tries = (failures.get(n) ?? 0) + 1;
            failures.set(n, tries);
            ctx.log.warn('a chunk of a cloud image failed', {
              vsn: volume.vsn,
              chunk: n,
              tries,
              error: (e as Error).message,
            });
            if (tries >= CHUNK_ATTEMPTS) {
              throw new JobError(
                'NO_SOURCE',
                `the cloud image of ${volume.vsn} could not be read: chunk ${n} failed ${tries} times (last: ${(e as Error).message}); ${done.size} of ${chunks} chunks kept for the next REBURN`,
              );
            }
          }
        }
      };
      const outcomes = await Promise.allSettled(Array.from({ length: Math.min(concurrency, links.length) }, worker));
      await recording;
      const failed = outcomes.find((o) => o.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    };
    /** Links for the chunks `batch`, once a gateway session signs them. */
    const sign = async (batch: number[]): Promise<SignedRange[]> => {
      for (;;) {
        if (!cloud.available()) {
          await waitForGateway();
          continue;
        }
        try {
          const links = await cloud.presign(
            object,
            batch.map((n) => ({ offset: n * chunkBytes, length: chunkLength(n, total, chunkBytes) })),
            'reburn',
          );
          waitingSince = undefined;
          return links;
        } catch (e) {
          if (signal.aborted) throw e;
          // the session dropped (or is going): wait for the next one
          if (e instanceof CloudError && (e.code === 'NO_GATEWAY' || !cloud.available())) {
            await waitForGateway();
            continue;
          }
          throw new JobError('NO_SOURCE', `the gateway would not sign reads of ${object.key}: ${(e as Error).message}`);
        }
      }
    };
    // rounds over the missing chunks (a chunk that failed is in the next round), in batches of links
    for (;;) {
      const missing: number[] = [];
      for (let n = 0; n < chunks; n++) if (!done.has(n)) missing.push(n);
      if (missing.length === 0) break;
      for (let b = 0; b < missing.length; b += concurrency * LINKS_PER_SLOT) {
        await fetchBatch(await sign(missing.slice(b, b + concurrency * LINKS_PER_SLOT)));
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }

  progress.downloadNote = 'checking the SHA-256 of the downloaded image';
  const digest = await sha256Of(part);
  if (digest.toString('hex') !== sha) {
    await fs.rm(part, { force: true });
    await fs.rm(recordFile, { force: true });
    ctx.catalog.journal(job.id, volume.id, 'download', 'failed', `SHA-256 ${digest.toString('hex')}, expected ${sha}`);
    throw new JobError(
      'CORRUPT',
      `the image of ${volume.vsn} downloaded from ${object.key} has SHA-256 ${digest.toString('hex')}, not the ${sha} the catalog recorded: it was deleted; REBURN again, and if it recurs run a fixity check of the cloud copy`,
    );
  }
  await fs.rename(part, params.image);
  await fs.rm(recordFile, { force: true });
  ctx.log.info('cloud image downloaded', { vsn: volume.vsn, bytes: total, fetched, kept });
  const how =
    kept > 0
      ? `its cloud image (download resumed: ${kept} bytes kept from an earlier attempt, ${fetched} bytes downloaded now; SHA-256 ${sha} checked)`
      : `its cloud image (${fetched} bytes downloaded in ${chunks} ${chunks === 1 ? 'chunk' : 'chunks'}; SHA-256 ${sha} checked)`;
  return { image: params.image, sha256: sha, how };
}

/** Writing the part file failed: the images filesystem, not the cloud. */
function localFailure(e: unknown, part: string): JobError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new JobError(
      'NO_SPACE',
      `the images filesystem is full: ${part} cannot hold the download (the chunks fetched are kept: free space and REBURN again)`,
    );
  }
  return new JobError('IO_ERROR', `writing ${part} failed: ${(e as Error).message}`);
}

function chunkLength(n: number, total: number, chunkBytes: number): number {
  return Math.min(chunkBytes, total - n * chunkBytes);
}
