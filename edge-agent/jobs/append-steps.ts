/**
 * BURN in APPEND mode (NetDVD's "append a session"): the working directory's
 * files become a new session of the client's open volume of that medium,
 * when they fit; otherwise that volume is closed and the files go to new
 * open volumes, as a NEW burn would put them.
 *
 * Volumes an APPEND makes are written open (multi-session, `appendable` in
 * the catalog); a NEW burn closes its discs. The new session is mastered once
 * over the volume's current image (xorriso grows it: older sessions stay
 * readable, the newest is what a reader sees) and each verified copy is
 * brought to the grown image in place (drives/grow-copy.ts), then verified
 * against it. A copy that fails is marked bad and made again in full from
 * the grown image on a fresh blank, like any failed copy.
 *
 * Replays: the target volume is journaled before anything is written (step
 * `append`, detail = VSN) and the session is recorded per job, so a restarted
 * job finds the same volume and session; a copy being grown is marked
 * `written` first, so after a crash it is treated as interrupted and redone.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FileRow, JobRow, VolumeRow } from '../catalog/catalog.js';
import { type GrowRange, growCopy, loadFromShelf } from '../drives/grow-copy.js';
import { verifyCopy } from '../drives/verify-copy.js';
import { estimateImageSectors } from '../mastering/image-size.js';
import { mediaProfile } from '../packing/media-profiles.js';
import { runXorriso } from '../xorriso/run-xorriso.js';
import { type BurnContext, type BurnParams, dataPath, masterInto, writeVolume } from './burn-steps.js';
import { JobError } from './errors.js';
import type { JobProgress } from './job-progress.js';

/** The volume an APPEND job adds its session to, chosen once and journaled; undefined: new volumes. */
export function appendTarget(
  ctx: BurnContext,
  job: JobRow,
  files: FileRow[],
  params: BurnParams,
): VolumeRow | undefined {
  const journal = ctx.catalog.journalOf(job.id);
  const chosen = journal.find((j) => j.step === 'append' && j.event === 'begin');
  if (chosen) return chosen.volumeId === null ? undefined : ctx.catalog.volume(chosen.volumeId);
  if (journal.some((j) => j.step === 'pack' && j.event === 'done')) return undefined;
  const target = ctx.catalog.appendTarget(job.clientId, params.media);
  if (!target) {
    ctx.catalog.journal(job.id, null, 'append', 'begin', 'no open volume: new volumes');
    return undefined;
  }
  const earlier = newestFiles(ctx, target);
  const capacity = mediaProfile(params.media).sectors;
  // the new session rewrites the whole directory tree and the bag, and carries the new files' data
  const session = estimateImageSectors([
    ...earlier.filter((e) => !files.some((f) => f.path.equals(e.path))).map((e) => ({ path: e.path, size: 0n })),
    ...files.map((f) => ({ path: f.path, size: f.size })),
  ]);
  if ((target.sectors ?? capacity) + session > capacity) {
    ctx.catalog.closeVolume(target.id);
    ctx.catalog.journal(job.id, target.id, 'append', 'begin', `${target.vsn} is full: closed; new volumes`);
    ctx.log.info('open volume closed: the session does not fit', { vsn: target.vsn, job: job.id });
    return undefined;
  }
  ctx.catalog.journal(job.id, target.id, 'append', 'begin', target.vsn);
  return target;
}

/** The payload of a volume as its newest session shows it: the latest version of each path. */
function newestFiles(ctx: BurnContext, volume: VolumeRow): FileRow[] {
  const byPath = new Map<string, { session: number; file: FileRow }>();
  for (const p of ctx.catalog.volumeFiles(volume.id)) {
    if (p.part) continue;
    const key = p.imagePath.toString('latin1');
    const had = byPath.get(key);
    if (!had || had.session < p.session)
      byPath.set(key, { session: p.session, file: { ...p.file, path: p.imagePath } });
  }
  return [...byPath.values()].map((x) => x.file);
}

export async function appendSession(
  ctx: BurnContext,
  job: JobRow,
  target: VolumeRow,
  files: FileRow[],
  progress: JobProgress,
  signal?: AbortSignal,
): Promise<VolumeRow> {
  const vp = progress.volume(target.id, target.vsn);
  const session = ctx.catalog.addSession(
    target.id,
    job.id,
    files.map((f) => ({ fileId: f.id, imagePath: f.path })),
  );
  let volume = ctx.catalog.volume(target.id)!;
  const grownPath = path.join(ctx.imagesDir, `${volume.vsn}.s${session}.iso`);
  const mastered = volume.imagePath === grownPath && (await fs.stat(grownPath).catch(() => null));
  if (!mastered) {
    vp.step = 'mastering';
    ctx.catalog.journal(job.id, volume.id, 'master', 'begin', `session ${session}`);
    const base = volume.imagePath;
    if (!base || !(await fs.stat(base).catch(() => null))) {
      throw new JobError('NOT_FOUND', `${volume.vsn}: its image ${base} is gone: COPY a disc of it first`);
    }
    const workDir = path.join(ctx.imagesDir, `${volume.vsn}.s${session}.work`);
    await fs.rm(workDir, { recursive: true, force: true });
    await fs.mkdir(workDir, { recursive: true });
    try {
      await masterInto(
        ctx,
        job,
        volume,
        {
          files: files.map((f) => ({
            source: dataPath(ctx, job.id, f.path),
            path: f.path,
            size: f.size,
            sha256: f.sha256,
            mtime: f.mtime,
            mode: f.mode,
          })),
          base: {
            image: base,
            files: newestFiles(ctx, volume)
              .filter((e) => !files.some((f) => f.path.equals(e.path)))
              .map((e) => ({ path: e.path, size: e.size, sha256: e.sha256 })),
          },
          session,
          output: grownPath,
          workDir,
        },
        vp,
        signal,
      );
    } catch (e) {
      ctx.catalog.journal(job.id, volume.id, 'master', 'failed', (e as Error).message);
      // no image or disc holds the session: the catalog forgets it (the files stay staged)
      if (!signal?.aborted) ctx.catalog.dropSession(volume.id, job.id);
      throw e;
    } finally {
      await fs.rm(workDir, { recursive: true, force: true });
    }
    volume = ctx.catalog.volume(target.id)!;
  }
  await growCopies(ctx, job, volume, progress, signal);
  // copies that could not be grown are made again in full from the grown image
  await writeVolume(ctx, job, ctx.catalog.volume(volume.id)!, progress, signal);
  return ctx.catalog.volume(volume.id)!;
}

/** Brings every verified copy of the previous image up to the grown one. */
async function growCopies(
  ctx: BurnContext,
  job: JobRow,
  volume: VolumeRow,
  progress: JobProgress,
  signal?: AbortSignal,
): Promise<void> {
  const bytes = volume.imageBytes!;
  const sha = volume.imageSha256!;
  const start = await sessionStart(volume.imagePath!);
  const ranges: GrowRange[] = [
    { offset: 0n, length: 32n * 2048n },
    { offset: BigInt(start) * 2048n, length: bytes - BigInt(start) * 2048n },
  ];
  const stale = ctx.catalog
    .volumeCopies(volume.id)
    .filter((c) => c.state === 'verified' && c.medium && !c.sha256?.equals(sha));
  for (const c of stale) {
    const reservation = await ctx.pool.reserve(`${job.id} ${volume.vsn} grow`, 1, { signal });
    const drive = reservation.drives[0]!;
    const entry = progress.copy(volume.id, volume.vsn, {
      copy: c.copyNo,
      attempt: c.attempt,
      drive: drive.name,
      total: bytes,
    });
    try {
      ctx.catalog.copyWritten(c.id, null); // not trusted until verified again
      ctx.catalog.journal(job.id, volume.id, `copy ${c.copyNo}`, 'begin', `grow on ${drive.name}`);
      entry.step = 'writing';
      await loadFromShelf(drive, c.medium!);
      await growCopy(drive, volume.imagePath!, ranges);
      entry.step = 'verifying';
      const check = await verifyCopy(drive.address, bytes, sha, {
        signal,
        onProgress: (n) => {
          entry.bytes = n;
        },
      });
      if (!check.ok) throw new Error(`VERIFY_FAILED: ${check.problems.join('; ')}`);
      const medium = await drive.unload(volume.vsn, c.copyNo);
      ctx.catalog.copyVerified(c.id, { sha256: check.sha256, md5: check.md5 }, medium);
      ctx.catalog.journal(job.id, volume.id, `copy ${c.copyNo}`, 'done', `grown and verified on ${drive.name}`);
      entry.step = 'verified';
    } catch (e) {
      const why = (e as Error).message;
      const medium = await drive.unload(volume.vsn, c.copyNo, 'bad').catch(() => null);
      ctx.catalog.copyBad(c.id, why, medium);
      ctx.catalog.journal(job.id, volume.id, `copy ${c.copyNo}`, 'failed', why);
      ctx.log.warn('growing a copy failed: it is made again', { vsn: volume.vsn, copy: c.copyNo, error: why });
      entry.step = 'bad';
      entry.error = why;
    } finally {
      reservation.release();
    }
  }
}

/** The first sector of an image's newest session, from xorriso's table of contents. */
async function sessionStart(image: string): Promise<number> {
  const { stdout, stderr } = await runXorriso(['-no_rc', '-indev', `stdio:${image}`, '-toc']);
  const starts = [...`${stdout}\n${stderr}`.matchAll(/^ISO session\s*:\s*\d+\s*,\s*(\d+)\s*,/gm)].map((m) =>
    Number(m[1]),
  );
  if (starts.length === 0) throw new JobError('MASTERING_FAILED', `${image} shows no ISO session`);
  return starts[starts.length - 1]!;
}
