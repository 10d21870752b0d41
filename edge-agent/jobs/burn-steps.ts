/**
 * The steps of a BURN job, after ASTO: ingest → pack → master → write N
 * copies → verify → finish → cleanup. Each step is journaled in the catalog
 * before its side effects and is idempotent, so the recovery at start simply
 * runs an unfinished job's steps again:
 *
 * - ingest hard-links every committed file of the working directory into the
 *   job's own area (`<staging>/jobs/<id>/data`), so the client may go on
 *   staging, removing or re-committing while the job runs, and records the
 *   files in the catalog (keyed by job and path: a second run adds nothing);
 * - pack plans volumes and takes their VSNs in one transaction (a job that has
 *   volumes keeps them: a VSN is never issued twice);
 * - master makes `<images>/<vsn>.iso` through a temporary name, so an image
 *   that exists is whole; a volume already mastered is not mastered again;
 * - write reserves drives, journals each copy attempt before the drive is
 *   touched, writes all copies from one read of the image, verifies each,
 *   and retries a failed copy on a fresh blank (another drive when there is
 *   one) until the volume has its verified copies or the attempts run out;
 *   an attempt found `writing` or `written` after a crash is marked bad (a
 *   disc it left in a drive, or a verified disc it shelved but never
 *   recorded, is set aside as `<vsn>-<copy>.interrupted-<n>.iso`); copies go
 *   to the drives present: a drive that vanished is named (DRIVE_MISSING) and
 *   left out, and with none left the volume fails NO_DRIVES;
 * - cleanup gives the burned files back (they leave the client's tree if the
 *   client did not re-commit them) and removes the job's area. It runs only
 *   once every volume of the job is finished.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../../clients/oncrpc/index.js';
import type { Catalog, FileRow, JobRow, VolumeRow } from '../catalog/catalog.js';
import type { Drive, DrivePool, Reservation } from '../drives/drive-pool.js';
import { isDriveError } from '../drives/errors.js';
import { verifyCopy } from '../drives/verify-copy.js';
import { writeCopies } from '../drives/write-copies.js';
import { estimateCostModel, withRecoveryCost } from '../mastering/image-size.js';
import { type ImageFile, type MasterRequest, masterImage, type RootFile } from '../mastering/master-image.js';
import { PackingError, printablePath } from '../packing/errors.js';
import { mediaProfile } from '../packing/media-profiles.js';
import { packVolumes } from '../packing/packer.js';
import { createRecoveryFiles } from '../recovery/par2.js';
import type { Charset } from '../staging/names.js';
import type { StagingArea } from '../staging/staging-area.js';
import { JobError } from './errors.js';
import type { JobProgress, VolumeProgress } from './job-progress.js';

export interface BurnParams {
  /** NEW closes its discs; APPEND adds a session to an open volume, or makes open ones. */
  mode?: 'new' | 'append';
  copies: number;
  media: string;
  label: string;
  spanning: boolean;
}

export interface BurnContext {
  catalog: Catalog;
  pool: DrivePool;
  staging: StagingArea;
  /** `<staging root>/jobs`: on the staging filesystem, so ingest can hard-link. */
  jobsDir: string;
  imagesDir: string;
  charset: Charset;
  site: string;
  volumeClass: string;
  /** Attempts at one copy of a volume before the job gives up on it. */
  maxAttempts: number;
  /**
   * The mirror is on: a volume's files leave staging only once the gateway
   * acknowledged its upload too (the mirror releases them then: releaseMirrored).
   */
  releaseAfterMirror: boolean;
  log: Logger;
}

export function jobArea(ctx: BurnContext, jobId: number): string {
  return path.join(ctx.jobsDir, String(jobId));
}

/** Where ingest linked a job's file. */
export function dataPath(ctx: BurnContext, jobId: number, file: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${jobArea(ctx, jobId)}/data/`), file]);
}

// --- ingest -----------------------------------------------------------------

export async function ingest(ctx: BurnContext, job: JobRow): Promise<FileRow[]> {
  const known = ctx.catalog.jobFiles(job.id);
  if (known.length > 0 && ctx.catalog.journalOf(job.id).some((j) => j.step === 'ingest' && j.event === 'done')) {
    return known;
  }
  ctx.catalog.journal(job.id, null, 'ingest', 'begin');
  const dir = await ctx.staging.forJob(job.clientId);
  const staged = await dir.committedFiles();
  if (staged.length === 0) {
    throw new JobError('EMPTY', 'nothing is committed in the working directory: stage and commit files, then BURN');
  }
  const taken: typeof staged = [];
  for (const f of staged) {
    const target = dataPath(ctx, job.id, f.path);
    await fs.mkdir(parentOf(target), { recursive: true });
    try {
      await fs.link(f.source, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        ctx.log.warn('a staged file was removed while the burn took it: left out', {
          job: job.id,
          path: printablePath(f.path),
        });
        continue;
      }
      if (code === 'EEXIST') {
        // a replayed ingest: the link is kept if it is still the committed file, else taken again
        const had = await fs.lstat(target, { bigint: true });
        if (had.ino !== f.ino) {
          await fs.unlink(target);
          await fs.link(f.source, target);
        }
      } else if (code === 'EXDEV' || code === 'EPERM') {
        await fs.copyFile(f.source, target);
        taken.push(f);
        continue;
      } else throw e;
    }
    // The name may have been committed anew between listing and linking: then the link holds other bytes
    // than the size and SHA-256 recorded. Such a file is left out (its new version stays staged).
    const linked = await fs.lstat(target, { bigint: true });
    if (linked.ino !== f.ino || linked.size !== f.size) {
      await fs.unlink(target);
      ctx.log.warn('a staged file was committed anew while the burn took it: left out', {
        job: job.id,
        path: printablePath(f.path),
      });
      continue;
    }
    taken.push(f);
  }
  if (taken.length === 0) {
    throw new JobError('EMPTY', 'every committed file changed while the burn took it: BURN again');
  }
  ctx.catalog.addFiles(job.id, job.clientId, taken);
  ctx.catalog.journal(job.id, null, 'ingest', 'done', `${taken.length} files`);
  return ctx.catalog.jobFiles(job.id);
}

function parentOf(p: Buffer): Buffer {
  const i = p.lastIndexOf(0x2f);
  return p.subarray(0, i);
}

// --- pack -------------------------------------------------------------------

export function pack(ctx: BurnContext, job: JobRow, files: FileRow[], params: BurnParams): VolumeRow[] {
  const existing = ctx.catalog.jobVolumes(job.id);
  if (existing.length > 0) {
    // a stop after the volumes were planned, before the journal said so: the step is done
    if (!ctx.catalog.journalOf(job.id).some((j) => j.step === 'pack' && j.event === 'done')) {
      ctx.catalog.journal(job.id, null, 'pack', 'done', `${existing.map((v) => v.vsn).join(' ')} (replayed)`);
    }
    return existing;
  }
  ctx.catalog.journal(job.id, null, 'pack', 'begin');
  let plan: ReturnType<typeof packVolumes>;
  try {
    const profile = mediaProfile(params.media);
    const estimate = estimateCostModel({
      items: files.map((f) => ({ path: f.path, size: f.size })),
      capacitySectors: profile.sectors,
    });
    const base = params.spanning
      ? { ...estimate, fixedSectors: estimate.fixedSectors + SPANNING_RESERVE_SECTORS }
      : estimate;
    plan = packVolumes(
      files.map((f) => ({ id: f.id, path: f.path, size: f.size })),
      {
        capacitySectors: profile.sectors,
        // par2 recovery files go on every disc of such a medium: their room is reserved per file
        cost: profile.recovery ? withRecoveryCost(base, profile.recovery.redundancyPercent) : base,
        spanning: params.spanning,
        mediumName: profile.name,
      },
    );
  } catch (e) {
    if (e instanceof PackingError) throw new JobError(e.code, e.message);
    throw e;
  }
  const volumes = ctx.catalog.planVolumes(
    job.id,
    job.clientId,
    plan.map((v) => ({
      media: params.media,
      label: params.label,
      requiredCopies: params.copies,
      appendable: params.mode === 'append',
      pieces: v.pieces.map((p) => ({
        fileId: p.id,
        imagePath: p.part ? partName(p.path, p.part.index, p.part.count) : p.path,
        ...(p.part ? { part: p.part } : {}),
      })),
    })),
  );
  ctx.catalog.journal(job.id, null, 'pack', 'done', volumes.map((v) => v.vsn).join(' '));
  return volumes;
}

function partName(p: Buffer, index: number, count: number): Buffer {
  const w = String(count).length;
  return Buffer.concat([p, Buffer.from(`.part${String(index + 1).padStart(w, '0')}of${count}`)]);
}

// --- master -----------------------------------------------------------------

export async function master(
  ctx: BurnContext,
  job: JobRow,
  volume: VolumeRow,
  _params: BurnParams,
  progress: JobProgress,
  signal?: AbortSignal,
): Promise<VolumeRow> {
  const vp = progress.volume(volume.id, volume.vsn);
  const output = path.join(ctx.imagesDir, `${volume.vsn}.iso`);
  const partial = `${output}.partial`; // a leftover is removed below; masterInto writes through it
  const workDir = path.join(ctx.imagesDir, `${volume.vsn}.work`);
  // What a stop during mastering left: a stop after the image was recorded, before the work
  // directory was removed, leaves it beside a good image, so it goes before anything else.
  // (A leftover partial image would also make xorriso append a session to it.)
  await fs.rm(workDir, { recursive: true, force: true });
  await fs.rm(partial, { force: true });
  if (volume.state !== 'hot') {
    const st = volume.imagePath ? await fs.stat(volume.imagePath).catch(() => null) : null;
    if (volume.state !== 'mastered' || (st && BigInt(st.size) === volume.imageBytes)) {
      // a stop after the image was recorded, before the journal said so: the step is done
      const journal = ctx.catalog.journalOf(job.id);
      if (!journal.some((j) => j.volumeId === volume.id && j.step === 'master' && j.event === 'done')) {
        ctx.catalog.journal(job.id, volume.id, 'master', 'done', `${volume.imageBytes} bytes (replayed)`);
      }
      vp.step = 'mastered';
      return volume;
    }
    // The catalog says mastered but the image is gone or cut short. Once a disc holds it, the image
    // is taken back from a verified copy: mastering again would give other bytes under the same VSN.
    if (await restoreFromCopy(ctx, job, volume, output)) {
      vp.step = 'mastered';
      return ctx.catalog.volume(volume.id)!;
    }
    ctx.catalog.journal(job.id, volume.id, 'master', 'undone', 'image missing or truncated');
  }
  ctx.catalog.journal(job.id, volume.id, 'master', 'begin');
  vp.step = 'mastering';
  await fs.mkdir(ctx.imagesDir, { recursive: true });
  await fs.mkdir(workDir, { recursive: true });
  try {
    const pieces = ctx.catalog.volumeFiles(volume.id);
    const files: ImageFile[] = [];
    for (const p of pieces) {
      let source: Buffer | string = dataPath(ctx, job.id, p.file.path);
      let size = p.file.size;
      let sha256 = p.file.sha256;
      if (p.part) {
        source = await cutPart(source, p.part.offset, p.part.length, workDir, files.length);
        size = p.part.length;
        sha256 = await sha256Of(source);
      }
      files.push({ source, path: p.imagePath, size, sha256, mtime: p.file.mtime, mode: p.file.mode });
    }
    const profile = mediaProfile(volume.media);
    const rootFiles: RootFile[] = [];
    if (profile.recovery) {
      const made = await createRecoveryFiles({
        vsn: volume.vsn,
        files,
        workDir,
        redundancyPercent: profile.recovery.redundancyPercent,
      });
      rootFiles.push(...made.files);
      ctx.log.info('par2 recovery files made', {
        vsn: volume.vsn,
        sets: made.sets.length,
        bytes: String(made.bytes),
        seconds: Number(made.seconds.toFixed(2)),
      });
    }
    const spanned = pieces.filter((p) => p.part);
    if (spanned.length > 0) rootFiles.push(await spanningManifest(volume.vsn, spanned, workDir));
    await masterInto(ctx, job, volume, { files, rootFiles, session: 1, output, workDir }, vp, signal);
    vp.step = 'mastered';
    return ctx.catalog.volume(volume.id)!;
  } catch (e) {
    ctx.catalog.journal(job.id, volume.id, 'master', 'failed', (e as Error).message);
    throw await masteringFailure(ctx, volume.vsn, e);
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Masters a volume's image (session 1) or its next session over `base`
 * (APPEND) into `output` through a temporary name, checks it fits the medium,
 * and records it in the catalog with its SHA-256 and every file's extents.
 * A failure leaves no partial image and is a JobError naming the cause
 * (NO_SPACE names the images directory).
 */
export async function masterInto(
  ctx: BurnContext,
  job: JobRow,
  volume: VolumeRow,
  o: {
    files: ImageFile[];
    rootFiles?: RootFile[];
    base?: MasterRequest['base'];
    session: number;
    output: string;
    workDir: string;
  },
  vp: VolumeProgress,
  signal?: AbortSignal,
): Promise<void> {
  const partial = `${o.output}.partial`;
  const what = o.session > 1 ? `session ${o.session} of ${volume.vsn}` : volume.vsn;
  try {
    const image = await masterImage({
      vsn: volume.vsn,
      files: o.files,
      rootFiles: o.rootFiles ?? [],
      ...(o.base ? { base: o.base } : {}),
      output: partial,
      workDir: o.workDir,
      label: {
        vsn: volume.vsn,
        site: ctx.site,
        class: ctx.volumeClass,
        created: new Date(volume.createdAt),
        media: volume.media,
        copies: volume.requiredCopies,
        session: o.session,
        job: String(job.id),
        ...(volume.label ? { title: volume.label } : {}),
      },
      charset: ctx.charset,
      signal,
      onProgress: (f) => {
        vp.fraction = f;
      },
    });
    const capacity = mediaProfile(volume.media).sectors;
    if (image.sectors > capacity) {
      throw new JobError(
        'MASTERING_FAILED',
        `${what}: the image has ${image.sectors} sectors, more than the ${capacity} of ${volume.media}: the packing estimate was short`,
      );
    }
    const sha256 = await sha256Of(partial);
    const fd = await fs.open(partial, 'r');
    await fd.sync();
    await fd.close();
    await fs.rename(partial, o.output);
    ctx.catalog.setMastered(
      volume.id,
      { path: o.output, bytes: image.bytes, sha256, sectors: image.sectors },
      image.files.map((f) => ({ imagePath: f.path, extents: f.extents })),
      o.session,
    );
    ctx.catalog.journal(job.id, volume.id, 'master', 'done', `${what}: ${image.bytes} bytes`);
  } catch (e) {
    await fs.rm(partial, { force: true });
    throw await masteringFailure(ctx, what, e);
  }
}

/** A failure while making an image as the job tells it: NO_SPACE names the images directory. */
async function masteringFailure(ctx: BurnContext, what: string, e: unknown): Promise<JobError> {
  if (e instanceof JobError) return e;
  if ((e as { code?: string }).code === 'NO_SPACE') {
    const free = await fs
      .statfs(ctx.imagesDir, { bigint: true })
      .then((s) => `${s.bavail * s.bsize} bytes free`)
      .catch(() => 'free space unknown');
    return new JobError(
      'NO_SPACE',
      `NO_SPACE: mastering ${what} failed: the images directory ${ctx.imagesDir} is full (${free}): free space there and BURN again; the staged files are kept (${(e as Error).message})`,
    );
  }
  return new JobError('MASTERING_FAILED', `mastering ${what} failed: ${(e as Error).message}`);
}

/** Room kept on every volume for SPANNING.TXT when spanning is on (a few parts' lines and its entry). */
const SPANNING_RESERVE_SECTORS = 6;

/**
 * SPANNING.TXT at the root of a disc that holds parts of files bigger than
 * one disc: for each part, which part it is, where it lies in the whole
 * file, and the whole file's size and SHA-256, so anyone can put the file
 * back together from the discs (cat the parts in order) and check it.
 */
async function spanningManifest(
  vsn: string,
  parts: ReturnType<Catalog['volumeFiles']>,
  workDir: string,
): Promise<RootFile> {
  const lines = [
    `# optarc spanning manifest of ${vsn}: files too big for one disc, cut into parts across volumes.`,
    '# Reassemble: cat the parts in order (from every disc) into the file, then check its SHA-256:',
    "#   cat data/PATH.part1ofN data/PATH.part2ofN ... > PATH && echo 'SHA256  PATH' | sha256sum -c",
    '# part<TAB>of<TAB>offset<TAB>length<TAB>file size<TAB>file SHA-256<TAB>part path<TAB>file path (under data/)',
  ].map((l) => Buffer.from(`${l}\n`));
  for (const p of parts) {
    const part = p.part!;
    lines.push(
      Buffer.concat([
        Buffer.from(
          `${part.index + 1}\t${part.count}\t${part.offset}\t${part.length}\t${p.file.size}\t${p.file.sha256.toString('hex')}\t`,
        ),
        p.imagePath,
        Buffer.from('\t'),
        p.file.path,
        Buffer.from('\n'),
      ]),
    );
  }
  const data = Buffer.concat(lines);
  const source = path.join(workDir, 'SPANNING.TXT');
  await fs.writeFile(source, data);
  return {
    source,
    path: Buffer.from('SPANNING.TXT'),
    size: BigInt(data.length),
    sha256: createHash('sha256').update(data).digest(),
  };
}

/** Takes a lost image back from a verified copy on the shelf; false when no copy holds it. */
async function restoreFromCopy(ctx: BurnContext, job: JobRow, volume: VolumeRow, output: string): Promise<boolean> {
  const copies = ctx.catalog.volumeCopies(volume.id).filter((c) => c.state === 'verified' && c.medium);
  if (copies.length === 0) return false;
  for (const c of copies) {
    const partial = `${output}.partial`;
    try {
      await pipeline(
        createReadStream(c.medium!, { start: 0, end: Number(volume.imageBytes!) - 1 }),
        createWriteStream(partial),
      );
      if ((await sha256Of(partial)).equals(volume.imageSha256!)) {
        await fs.rename(partial, output);
        ctx.catalog.setMastered(
          volume.id,
          { path: output, bytes: volume.imageBytes!, sha256: volume.imageSha256!, sectors: volume.sectors! },
          [],
        );
        ctx.catalog.journal(job.id, volume.id, 'master', 'done', `image restored from copy ${c.copyNo}`);
        return true;
      }
    } catch {
      // this copy cannot give it back: try the next
    }
    await fs.rm(partial, { force: true });
  }
  throw new JobError(
    'MASTERING_FAILED',
    `${volume.vsn}: its image is gone and no verified copy gives it back: mastering again would put other bytes under the same VSN`,
  );
}

async function cutPart(source: Buffer, offset: bigint, length: bigint, dir: string, n: number): Promise<string> {
  const out = path.join(dir, `part-${n}`);
  const h = await fs.open(out, 'w');
  const stream = createReadStream(source, { start: Number(offset), end: Number(offset + length) - 1 });
  for await (const chunk of stream) await h.write(chunk as Buffer);
  await h.close();
  return out;
}

export async function sha256Of(file: string | Buffer): Promise<Buffer> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest();
}

// --- write and verify -------------------------------------------------------

const INTERRUPTED = 'INTERRUPTED';

export async function writeVolume(
  ctx: BurnContext,
  job: JobRow,
  volume: VolumeRow,
  progress: JobProgress,
  signal?: AbortSignal,
): Promise<void> {
  const vp = progress.volume(volume.id, volume.vsn);
  const image = volume.imagePath!;
  const bytes = volume.imageBytes!;
  const sha = volume.imageSha256!;
  // attempts a crash left unfinished: their discs cannot be trusted
  const before = ctx.catalog.volumeCopies(volume.id);
  for (const c of before) {
    if (c.state === 'writing' || c.state === 'written') {
      // A stop between shelving a verified disc and recording it leaves that disc in the copy's
      // slot: it is set aside (never trusted unrecorded), so the slot is free for the copy redone.
      let aside: string | null = null;
      if (c.state === 'written' && !before.some((o) => o.copyNo === c.copyNo && o.state === 'verified')) {
        aside = (await ctx.pool.get(c.drive)?.setAsideShelved(volume.vsn, c.copyNo, 'interrupted')) ?? null;
        if (aside) ctx.log.warn('an unrecorded disc in a copy slot was set aside', { vsn: volume.vsn, medium: aside });
      }
      ctx.catalog.copyBad(c.id, `${INTERRUPTED}: the agent stopped before this copy was verified`, aside);
      ctx.catalog.journal(job.id, volume.id, `copy ${c.copyNo}`, 'undone', 'interrupted');
    }
  }
  const failedDrives = new Set<string>();
  for (;;) {
    const copies = ctx.catalog.volumeCopies(volume.id);
    const verified = new Set(copies.filter((c) => c.state === 'verified').map((c) => c.copyNo));
    const missing: number[] = [];
    for (let n = 1; n <= volume.requiredCopies; n++) if (!verified.has(n)) missing.push(n);
    if (missing.length === 0) break;
    for (const n of missing) {
      // attempts a stop interrupted do not count against the medium or the drive
      const attempts = copies.filter((c) => c.copyNo === n && !c.error.startsWith(INTERRUPTED)).length;
      if (attempts >= ctx.maxAttempts) {
        const lastError = copies.filter((c) => c.copyNo === n).at(-1)?.error ?? '';
        throw new JobError(
          'COPIES_FAILED',
          `${volume.vsn}: copy ${n} failed ${attempts} times (last: ${lastError}); verified copies: ${describeCopies(verified)}`,
        );
      }
    }
    if (ctx.pool.size === 0) throw new JobError('NO_DRIVES', 'the agent has no drives');
    // copies go to the drives that are present; a drive that vanished is named and left out
    const gone = ctx.pool.all().filter((d) => d.isMissing());
    const present = ctx.pool.all().filter((d) => !gone.includes(d));
    if (present.length === 0) {
      throw new JobError(
        'NO_DRIVES',
        `${volume.vsn}: every drive is missing (${gone.map((d) => d.name).join(', ')}); verified copies: ${describeCopies(verified)}`,
      );
    }
    for (const d of gone) {
      if (!failedDrives.has(d.name)) ctx.log.warn('a drive is missing: copies go to the others', { drive: d.name });
      failedDrives.add(d.name);
    }
    // a drive that failed this volume is avoided while others exist
    const fresh = present.filter((d) => !failedDrives.has(d.name));
    const exclude = fresh.length > 0 ? [...failedDrives] : gone.map((d) => d.name);
    const count = Math.min(missing.length, fresh.length > 0 ? fresh.length : present.length);
    let reservation: Reservation;
    try {
      reservation = await ctx.pool.reserve(`${job.id} ${volume.vsn}`, count, { exclude, signal });
    } catch (e) {
      // a drive vanished between the count and the reservation: count again
      if (isDriveError(e, 'DRIVE_MISSING')) continue;
      throw e;
    }
    try {
      vp.step = 'writing';
      const targets: { drive: Drive; copy: number; id: number }[] = [];
      for (const drive of reservation.drives) {
        const copyNo = missing[targets.length]!;
        try {
          // a disc a stop left in the drive (half written, or written and not shelved) is put aside
          const m = await drive.medium();
          if (m.loaded && !m.blank && drive.kind === 'stand-in') {
            const aside = await drive.unload(m.vsn ?? volume.vsn, copyNo, 'interrupted');
            ctx.log.warn('a disc left in a drive was put aside', { drive: drive.name, medium: aside });
          }
          await drive.loadBlank();
        } catch (e) {
          if (!drive.isMissing()) throw e;
          ctx.log.warn('a drive went missing before its copy began', { drive: drive.name, vsn: volume.vsn });
          failedDrives.add(drive.name);
          continue;
        }
        const row = ctx.catalog.beginCopy(volume.id, copyNo, drive.name);
        ctx.catalog.journal(job.id, volume.id, `copy ${copyNo}`, 'begin', `drive ${drive.name} attempt ${row.attempt}`);
        progress.copy(volume.id, volume.vsn, { copy: copyNo, attempt: row.attempt, drive: drive.name, total: bytes });
        targets.push({ drive, copy: copyNo, id: row.id });
      }
      if (targets.length === 0) continue;
      const entries = new Map(targets.map((t) => [t.drive.name, vp.copies.find((c) => c.copy === t.copy)!]));
      for (const e of entries.values()) e.step = 'writing';
      const outcomes = await writeCopies(image, bytes, targets, {
        signal,
        multi: volume.appendable,
        onProgress: (drive, n) => {
          const e = entries.get(drive);
          if (e) e.bytes = n;
        },
      });
      // A stop (the agent shutting down) is not a failure of the disc or the drive: the attempts stay
      // `writing` and the restart marks them interrupted, without counting them against the medium.
      if (signal?.aborted) throw signal.reason ?? new Error('stopped');
      const written: typeof targets = [];
      for (const t of targets) {
        const o = outcomes.find((x) => x.drive === t.drive.name)!;
        const e = entries.get(t.drive.name)!;
        if (o.ok) {
          ctx.catalog.copyWritten(t.id, null);
          written.push(t);
        } else {
          const why = t.drive.isMissing()
            ? `DRIVE_MISSING: drive ${t.drive.name} disappeared while copy ${t.copy} was written (${t.drive.address}): ${o.error?.message ?? 'write failed'}`
            : `${o.error?.code ?? 'WRITE_FAILED'}: ${o.error?.message ?? 'write failed'}`;
          const medium = await t.drive.unload(volume.vsn, t.copy, 'bad').catch(() => null);
          ctx.catalog.copyBad(t.id, why, medium);
          ctx.catalog.journal(job.id, volume.id, `copy ${t.copy}`, 'failed', why);
          ctx.log.warn('copy failed', { job: job.id, vsn: volume.vsn, copy: t.copy, drive: t.drive.name, error: why });
          failedDrives.add(t.drive.name);
          e.step = 'bad';
          e.error = why;
        }
      }
      vp.step = 'verifying';
      const checks = await Promise.allSettled(
        written.map(async (t) => {
          const e = entries.get(t.drive.name)!;
          e.step = 'verifying';
          e.bytes = 0n;
          const check = await verifyCopy(t.drive.address, bytes, sha, {
            signal,
            onProgress: (n) => {
              e.bytes = n;
            },
          }).catch((err: Error) => ({
            ok: false,
            md5: 'none' as const,
            sha256: Buffer.alloc(0),
            bytesRead: 0n,
            problems: [err.message],
          }));
          if (signal?.aborted) return; // stopped mid-check: the restart checks this copy's slot again
          if (check.ok) {
            const medium = await t.drive.unload(volume.vsn, t.copy);
            ctx.catalog.copyVerified(t.id, { sha256: check.sha256, md5: check.md5 }, medium);
            ctx.catalog.journal(job.id, volume.id, `copy ${t.copy}`, 'done', `verified on ${t.drive.name}`);
            e.step = 'verified';
          } else {
            const why = t.drive.isMissing()
              ? `DRIVE_MISSING: drive ${t.drive.name} disappeared before copy ${t.copy} could be read back (${t.drive.address}): ${check.problems.join('; ')}`
              : `VERIFY_FAILED: ${check.problems.join('; ') || 'the copy differs from the image'}`;
            const medium = await t.drive.unload(volume.vsn, t.copy, 'bad').catch(() => null);
            ctx.catalog.copyBad(t.id, why, medium);
            ctx.catalog.journal(job.id, volume.id, `copy ${t.copy}`, 'failed', why);
            ctx.log.warn('copy failed verification', { job: job.id, vsn: volume.vsn, copy: t.copy, error: why });
            failedDrives.add(t.drive.name);
            e.step = 'bad';
            e.error = why;
          }
        }),
      );
      // every check has settled (none still reads a drive) before the drives go back to the pool
      const broken = checks.find((c) => c.status === 'rejected');
      if (broken) throw (broken as PromiseRejectedResult).reason;
      if (signal?.aborted) throw signal.reason ?? new Error('stopped');
    } finally {
      reservation.release();
    }
  }
  ctx.catalog.finishVolume(job.id, volume.id);
  vp.step = 'finished';
}

function describeCopies(verified: Set<number>): string {
  return verified.size === 0 ? 'none' : [...verified].sort((a, b) => a - b).join(', ');
}

// --- cleanup ----------------------------------------------------------------

/**
 * The job's files every volume holding them is done with: finished (every
 * copy verified) or, when the mirror is on, mirrored. A file cut into parts
 * needs all its volumes.
 */
function releasableFiles(ctx: BurnContext, jobId: number): FileRow[] {
  const done = new Set<number>();
  const pending = new Set<number>();
  for (const v of ctx.catalog.volumesOfJob(jobId)) {
    const released = ctx.releaseAfterMirror ? v.state === 'mirrored' : v.state === 'finished' || v.state === 'mirrored';
    for (const p of ctx.catalog.volumeFiles(v.id)) {
      if (p.file.jobId !== jobId) continue; // an earlier session's file
      if (released) done.add(p.file.id);
      else pending.add(p.file.id);
    }
  }
  return ctx.catalog.jobFiles(jobId).filter((f) => done.has(f.id) && !pending.has(f.id));
}

/** Gives back the files on finished volumes and removes the job's area (all of it once the job is done). */
export async function cleanup(ctx: BurnContext, job: JobRow, complete: boolean): Promise<number> {
  ctx.catalog.journal(job.id, null, 'cleanup', 'begin');
  const dir = await ctx.staging.forJob(job.clientId);
  const released = await dir.release(releasableFiles(ctx, job.id));
  if (complete) {
    ctx.catalog.archiveFiles(job.id);
  }
  await fs.rm(jobArea(ctx, job.id), { recursive: true, force: true });
  ctx.catalog.journal(job.id, null, 'cleanup', 'done', `${released} files released`);
  return released;
}

/**
 * The mirror acknowledged a volume: give back the files of the finished jobs
 * it holds whose every volume is now done (a running job's own cleanup does
 * it for that job). Returns how many files left staging.
 */
export async function releaseMirrored(ctx: BurnContext, volumeId: number): Promise<number> {
  const jobIds = new Set(ctx.catalog.volumeFiles(volumeId).map((p) => p.file.jobId));
  let released = 0;
  for (const jobId of jobIds) {
    const job = ctx.catalog.job(jobId);
    if (!job || (job.state !== 'done' && job.state !== 'failed')) continue;
    const dir = await ctx.staging.forJob(job.clientId);
    const n = await dir.release(releasableFiles(ctx, jobId));
    if (n > 0) ctx.catalog.journal(jobId, volumeId, 'release', 'done', `${n} files released after the mirror`);
    released += n;
  }
  return released;
}
