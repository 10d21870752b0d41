/**
 * COPY and BURN_COPY, after NetDVD: COPY reads the disc loaded in a drive into
 * the copy area (`<images>/copies/<vsn>.iso`, through a temporary name) and,
 * when the catalog knows the volume, checks it against the mastered image's
 * SHA-256, so a damaged disc is never multiplied. BURN_COPY then burns that
 * image n more times as further copies of the same VSN: the volume's required
 * copies grow by n and the write step makes the missing ones, verified like
 * every other copy. A volume the gateway had mirrored stays mirrored (its
 * cloud copy is unchanged by more discs). REBURN (reburn-steps.ts) burns the
 * same way from the volume's cloud image.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { JobRow, VolumeRow } from '../catalog/catalog.js';
import { mediaProfile } from '../packing/media-profiles.js';
import { type BurnContext, sha256Of, writeVolume } from './burn-steps.js';
import { JobError } from './errors.js';
import type { JobProgress } from './job-progress.js';

export interface CopyParams {
  drive: string;
  vsn: string;
}

export interface BurnCopyParams {
  vsn: string;
  copies: number;
  media: string;
  image: string;
}

export function copyImagePath(ctx: BurnContext, vsn: string): string {
  return path.join(ctx.imagesDir, 'copies', `${vsn}.iso`);
}

export async function copyDisc(
  ctx: BurnContext,
  job: JobRow,
  params: CopyParams,
  progress: JobProgress,
  signal?: AbortSignal,
): Promise<string> {
  const reservation = await ctx.pool.reserve(`${job.id} copy ${params.vsn}`, 1, {
    exclude: ctx.pool
      .all()
      .map((d) => d.name)
      .filter((n) => n !== params.drive),
    signal,
  });
  try {
    const drive = reservation.drives[0]!;
    const m = await drive.medium();
    if (!m.loaded || m.vsn !== params.vsn) {
      throw new JobError('NOT_FOUND', `drive ${params.drive} no longer holds ${params.vsn}`);
    }
    const medium = drive.mediumPath ?? drive.address;
    const known = ctx.catalog.volumeByVsn(params.vsn);
    const length = known?.imageBytes ?? BigInt((await fs.stat(medium)).size);
    if (length === 0n) {
      throw new JobError(
        'NOT_FOUND',
        `${params.vsn} is not in this catalog and the size of the disc in ${params.drive} cannot be told`,
      );
    }
    const target = copyImagePath(ctx, params.vsn);
    const partial = `${target}.partial`;
    await fs.mkdir(path.dirname(target), { recursive: true });
    ctx.catalog.journal(job.id, known?.id ?? null, 'copy', 'begin', `${params.vsn} from ${params.drive}`);
    const vp = progress.volume(known?.id ?? -1, params.vsn);
    vp.step = 'verifying';
    const hash = createHash('sha256');
    const out = await fs.open(partial, 'w');
    let read = 0n;
    try {
      const stream = createReadStream(medium, { start: 0, end: Number(length) - 1, highWaterMark: 1 << 20, signal });
      for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        await out.write(chunk as Buffer);
        read += BigInt((chunk as Buffer).length);
        vp.fraction = Number(read) / Number(length);
      }
      await out.sync();
      await out.close();
    } catch (e) {
      await out.close().catch(() => {});
      await fs.rm(partial, { force: true }); // nothing half-copied is left behind
      if (signal?.aborted) throw e;
      throw new JobError('IO_ERROR', `reading ${params.vsn} in ${params.drive} failed: ${(e as Error).message}`);
    }
    if (read !== length) {
      await fs.rm(partial, { force: true });
      throw new JobError(
        'IO_ERROR',
        `the disc ${params.vsn} in ${params.drive} ended after ${read} of ${length} bytes`,
      );
    }
    const digest = hash.digest();
    if (known?.imageSha256 && !digest.equals(known.imageSha256)) {
      await fs.rm(partial, { force: true });
      ctx.catalog.journal(job.id, known.id, 'copy', 'failed', 'SHA-256 differs from the mastered image');
      throw new JobError(
        'IO_ERROR',
        `the disc ${params.vsn} in ${params.drive} differs from its mastered image (SHA-256 ${digest.toString('hex')}, expected ${known.imageSha256.toString('hex')}): it is damaged, copy another copy`,
      );
    }
    await fs.rename(partial, target);
    ctx.catalog.journal(job.id, known?.id ?? null, 'copy', 'done', `${read} bytes`);
    vp.step = 'finished';
    return `copied ${params.vsn} (${read} bytes${known ? ', identical to its mastered image' : ', not in this catalog'}) from ${params.drive}: BURN_COPY burns it`;
  } finally {
    reservation.release();
  }
}

/** Checks a BURN_COPY against the volume it copies and returns that volume with its added copies. */
export async function planBurnCopy(ctx: BurnContext, job: JobRow, params: BurnCopyParams): Promise<VolumeRow> {
  const volume = ctx.catalog.volumeByVsn(params.vsn);
  if (!volume || !volume.imageSha256 || volume.imageBytes === null) {
    throw new JobError(
      'NOT_FOUND',
      `volume ${params.vsn} is not in this agent's catalog: only its own volumes get more copies`,
    );
  }
  if ((volume.sectors ?? 0) > mediaProfile(params.media).sectors) {
    throw new JobError('BAD_ARGUMENT', `${params.vsn} (${volume.sectors} sectors) does not fit ${params.media}`);
  }
  const already = ctx.catalog.journalOf(job.id).some((j) => j.step === 'burn_copy' && j.event === 'begin');
  if (already) return volume; // replayed after a restart: the copies were added then, with the journal line
  // The copied disc must be the volume as it is now: a copy taken before an APPEND is an older state.
  const st = await fs.stat(params.image).catch(() => null);
  if (!st || BigInt(st.size) !== volume.imageBytes || !(await sha256Of(params.image)).equals(volume.imageSha256)) {
    throw new JobError(
      'NOT_FOUND',
      `the copy of ${params.vsn} in the copy area is not the volume as it is now (${volume.sessions} session${volume.sessions === 1 ? '' : 's'}): COPY a current disc of it again`,
    );
  }
  // the volume's own image is kept when it is there; the copy stands in for a lost one
  const own = volume.imagePath ? await fs.stat(volume.imagePath).catch(() => null) : null;
  const image = own && BigInt(own.size) === volume.imageBytes ? volume.imagePath! : params.image;
  return ctx.catalog.addRequiredCopies(volume.id, params.copies, image, {
    jobId: job.id,
    step: 'burn_copy',
    detail: `${params.copies} more copies`,
  });
}

export async function burnCopies(
  ctx: BurnContext,
  job: JobRow,
  params: BurnCopyParams,
  progress: JobProgress,
  signal?: AbortSignal,
): Promise<string> {
  const volume = await planBurnCopy(ctx, job, params);
  await writeVolume(ctx, job, ctx.catalog.volume(volume.id)!, progress, signal);
  keepMirrored(ctx, volume.id);
  ctx.catalog.journal(job.id, volume.id, 'burn_copy', 'done');
  const verified = ctx.catalog.volumeCopies(volume.id).filter((c) => c.state === 'verified');
  return `${params.vsn} now has ${verified.length} verified copies (${params.copies} burned from the copy of the disc)`;
}

/**
 * After more copies of a volume were burned (writeVolume marks it finished):
 * it is mirrored again when the gateway acknowledged its latest session, as
 * it was before; the outbox entry stays acknowledged, so nothing is uploaded.
 */
export function keepMirrored(ctx: BurnContext, volumeId: number): void {
  const volume = ctx.catalog.volume(volumeId);
  if (volume?.state !== 'finished') return;
  const latest = ctx.catalog.mirrorsOfVolume(volumeId).find((m) => m.session === volume.sessions);
  if (latest?.state === 'acked') ctx.catalog.setVolumeState(volumeId, 'mirrored');
}
