/**
 * The burning side of the optarc program: BURN, JOB_STATUS and DRIVES as the
 * contract describes them, over the job runner and the drive pool. Kept apart
 * from optarc-program.ts, which owns sessions and staging; this file turns
 * jobs, progress and drive states into the contract's types and job failures
 * into its statuses.
 *
 * Once a volume is finished, and the agent mirrors to a gateway, JOB_STATUS
 * tells the volume's mirror in the contract's per-volume state text (so no
 * client needs a new contract):
 *
 *   `mirrored`                  100%: the gateway acknowledged the image
 *   `mirroring`                 N%: being uploaded now (live bytes)
 *   `queued for mirror`         N%: waiting its turn (N > 0: a resumable upload)
 *   ... ` (NOTE, NOTE)`         where each note is `paused` (an operator paused
 *                               the mirror), `outside the upload schedule`,
 *                               `gateway not connected`, or (while
 *                               waiting) `last error: TEXT`; cut to fit the
 *                               state's 255 bytes
 */
import {
  type OptarcBurnArgs,
  type OptarcBurnCopyArgs,
  OptarcBurnMode,
  type OptarcDrive,
  type OptarcDriveArgs,
  type OptarcJobArgs,
  OptarcJobState,
  type OptarcJobStatus,
  OptarcStatus,
} from '../../clients/protocol/generated/optarc.js';
import type { Catalog, MirrorEntry, VolumeRow } from '../catalog/catalog.js';
import type { DrivePool } from '../drives/drive-pool.js';
import { JobError } from '../jobs/errors.js';
import type { VolumeProgress } from '../jobs/job-progress.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { MirrorStatus } from '../mirror/mirror-service.js';
import type { RunningMirror } from '../mirror/start-mirror.js';
import type { WorkingDirectory } from '../staging/working-directory.js';
import type { MountedVolumes } from '../volumes/mounted-volumes.js';
import { failure, type Status } from './failures.js';

export interface BurnService {
  jobs: JobRunner;
  pool: DrivePool;
  volumes: MountedVolumes;
  /** Whether files bigger than the medium are cut into parts across volumes. */
  spanning: boolean;
  /** The mirror to the gateway, when the agent has one: finished volumes then show their mirror state. */
  mirror?: MirrorView;
}

/** What JOB_STATUS reads of the mirror: the outbox (durable) and the service (live). */
export interface MirrorView {
  outbox(volumeId: number): MirrorEntry[];
  status(): MirrorStatus;
}

export function mirrorView(catalog: Catalog, running: RunningMirror | undefined): MirrorView | undefined {
  if (!running) return undefined;
  return { outbox: (id) => catalog.mirrorsOfVolume(id), status: () => running.service.status() };
}

/** The contract's bound on a volume's state text (OPTARC_MAX_NAME). */
const MAX_STATE_BYTES = 255;

/** `text` cut (on a character boundary, with an ellipsis) to at most `max` UTF-8 bytes. */
function fitBytes(text: string, max: number): string {
  if (Buffer.byteLength(text, 'utf8') <= max) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > max - 3) break;
    out += ch;
    bytes += n;
  }
  return `${out}...`;
}

/**
 * A finished volume's mirror state and percent, or undefined when its latest
 * session has no outbox entry (it was finished before the outbox existed).
 */
export function volumeMirrorState(
  v: VolumeRow,
  mirror: MirrorView,
  status: MirrorStatus,
): { state: string; percent: number } | undefined {
  if (v.state === 'mirrored') return { state: 'mirrored', percent: 100 };
  const entry = mirror.outbox(v.id).find((e) => e.session === v.sessions);
  if (!entry) return undefined;
  if (entry.state === 'acked') return { state: 'mirrored', percent: 100 };
  const size = Number(v.imageBytes ?? 0);
  const live = status.current?.vsn === v.vsn ? status.current : undefined;
  const done = live ? live.bytesDone : entry.bytesDone;
  const total = live ? live.bytes : size;
  const percent = total > 0 ? Math.min(100, Math.floor((done * 100) / total)) : 0;
  const notes: string[] = [];
  if (status.paused) notes.push('paused');
  if (status.outsideSchedule && !live) notes.push('outside the upload schedule');
  if (!status.connected)
    notes.push(
      // notes are comma-separated: the reason keeps none
      status.gatewayError
        ? `gateway not connected: ${status.gatewayError.replace(/,/g, ';')}`
        : 'gateway not connected',
    );
  // the error of an upload going on now is old news; a waiting one says why it waits
  if (!live && entry.lastError)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: one line of text is the point
    notes.push(`last error: ${entry.lastError.replace(/[\u0000-\u001f\u007f]+/g, ' ')}`);
  const head = live ? 'mirroring' : 'queued for mirror';
  return { state: fitBytes(notes.length ? `${head} (${notes.join(', ')})` : head, MAX_STATE_BYTES), percent };
}

const JOB_STATUS: Record<string, Status> = {
  EMPTY: OptarcStatus.OPTARC_NOT_FOUND,
  TOO_LARGE: OptarcStatus.OPTARC_BAD_ARGUMENT,
  UNKNOWN_MEDIA: OptarcStatus.OPTARC_BAD_ARGUMENT,
  BAD_ARGUMENT: OptarcStatus.OPTARC_BAD_ARGUMENT,
  NO_DRIVES: OptarcStatus.OPTARC_NOT_AVAILABLE,
  NO_SPACE: OptarcStatus.OPTARC_NO_SPACE,
  NOT_FOUND: OptarcStatus.OPTARC_NOT_FOUND,
  NO_MEDIUM: OptarcStatus.OPTARC_NO_MEDIUM,
};

function jobFailure(e: unknown) {
  if (e instanceof JobError) return failure(JOB_STATUS[e.code] ?? OptarcStatus.OPTARC_IO_ERROR, e.message);
  throw e;
}

export async function copy(service: BurnService, a: OptarcDriveArgs, clientId: string, client: string) {
  if (!service.pool.get(a.drive)) return failure(OptarcStatus.OPTARC_NO_SUCH_DRIVE, `there is no drive ${a.drive}`);
  try {
    const job = await service.jobs.submitCopy(clientId, client, a.drive);
    return { tag: OptarcStatus.OPTARC_OK, value: BigInt(job.id) };
  } catch (e) {
    return jobFailure(e);
  }
}

export function burnCopy(service: BurnService, a: OptarcBurnCopyArgs, clientId: string, client: string) {
  try {
    const job = service.jobs.submitBurnCopy(clientId, client, a.copies, a.media);
    return { tag: OptarcStatus.OPTARC_OK, value: BigInt(job.id) };
  } catch (e) {
    return jobFailure(e);
  }
}

export async function burn(
  service: BurnService,
  a: OptarcBurnArgs,
  dir: WorkingDirectory,
  clientId: string,
  client: string,
) {
  if ((await dir.committedFiles()).length === 0) {
    return failure(
      OptarcStatus.OPTARC_NOT_FOUND,
      'nothing is committed in the working directory: stage and commit files, then BURN',
    );
  }
  try {
    const job = service.jobs.submitBurn(clientId, client, {
      mode: a.mode === OptarcBurnMode.OPTARC_BURN_APPEND ? 'append' : 'new',
      copies: a.copies,
      media: a.media,
      label: a.label,
      spanning: service.spanning,
    });
    return { tag: OptarcStatus.OPTARC_OK, value: BigInt(job.id) };
  } catch (e) {
    if (e instanceof JobError) return failure(JOB_STATUS[e.code] ?? OptarcStatus.OPTARC_IO_ERROR, e.message);
    throw e;
  }
}

export function jobStatus(service: BurnService, a: OptarcJobArgs) {
  const id = a.job > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(a.job);
  const s = service.jobs.status(id);
  if (!s) return failure(OptarcStatus.OPTARC_NO_SUCH_JOB, `there is no job ${a.job}`);
  const { job, progress } = s;
  const state = {
    queued: OptarcJobState.OPTARC_JOB_QUEUED,
    running: OptarcJobState.OPTARC_JOB_RUNNING,
    done: OptarcJobState.OPTARC_JOB_DONE,
    failed: OptarcJobState.OPTARC_JOB_FAILED,
  }[job.state];
  let mirrorStatus: MirrorStatus | undefined;
  const volumes = service.jobs.volumesOf(job.id).map((v) => {
    const p = progress?.volumes.get(v.id);
    let state: string =
      p?.step ??
      (v.state === 'finished' || v.state === 'mirrored' ? 'finished' : v.state === 'failed' ? 'failed' : 'planned');
    let percent = volumePercent(p, v.state);
    if (state === 'finished' && service.mirror) {
      mirrorStatus ??= service.mirror.status();
      const m = volumeMirrorState(v, service.mirror, mirrorStatus);
      if (m) ({ state, percent } = m);
    }
    return {
      vsn: v.vsn,
      state,
      percent,
      copies: (p?.copies ?? []).map((c) => ({
        copy: c.copy,
        attempt: c.attempt,
        drive: c.drive,
        state: c.step,
        percent: c.total > 0n ? Number((c.bytes * 100n) / c.total) : 0,
        error: (c.error ?? '').slice(0, 1000),
      })),
    };
  });
  const status: OptarcJobStatus = {
    job: BigInt(job.id),
    state,
    step: job.state === 'done' || job.state === 'failed' ? job.state : (progress?.step ?? job.state),
    percent: job.state === 'done' ? 100 : (progress?.percent() ?? 0),
    message: (job.message || progress?.summary() || '').slice(0, 1000),
    volumes: volumes.slice(0, 256),
  };
  return { tag: OptarcStatus.OPTARC_OK, value: status };
}

export async function drives(service: BurnService) {
  const list: OptarcDrive[] = (await service.pool.list()).map((d) => ({
    name: d.name,
    address: d.address,
    loaded: d.loaded,
    media: d.media ?? '',
    vsn: d.vsn ?? '',
    busy: d.busy,
  }));
  return { tag: OptarcStatus.OPTARC_OK, value: list };
}

/** The volume's progress in its current state: mastering's own, the slowest copy's while writing or verifying. */
function volumePercent(p: VolumeProgress | undefined, state: string): number {
  if (!p) return state === 'finished' || state === 'mirrored' ? 100 : 0;
  switch (p.step) {
    case 'mastering':
      return Math.floor(p.fraction * 100);
    case 'writing':
    case 'verifying': {
      const live = p.copies.filter((c) => c.step === p.step && c.total > 0n);
      return live.length === 0 ? 0 : Math.min(...live.map((c) => Number((c.bytes * 100n) / c.total)));
    }
    case 'mastered':
    case 'finished':
      return 100;
    default:
      return 0;
  }
}
