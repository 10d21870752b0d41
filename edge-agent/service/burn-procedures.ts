/**
 * The burning side of the optarc program: BURN, JOB_STATUS and DRIVES as the
 * contract describes them, over the job runner and the drive pool. Kept apart
 * from optarc-program.ts, which owns sessions and staging; this file turns
 * jobs, progress and drive states into the contract's types and job failures
 * into its statuses.
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
import type { DrivePool } from '../drives/drive-pool.js';
import { JobError } from '../jobs/errors.js';
import type { VolumeProgress } from '../jobs/job-progress.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { WorkingDirectory } from '../staging/working-directory.js';
import type { MountedVolumes } from '../volumes/mounted-volumes.js';
import { failure, type Status } from './failures.js';

export interface BurnService {
  jobs: JobRunner;
  pool: DrivePool;
  volumes: MountedVolumes;
  /** Whether files bigger than the medium are cut into parts across volumes. */
  spanning: boolean;
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
  const volumes = service.jobs.volumesOf(job.id).map((v) => {
    const p = progress?.volumes.get(v.id);
    return {
      vsn: v.vsn,
      state:
        p?.step ??
        (v.state === 'finished' || v.state === 'mirrored' ? 'finished' : v.state === 'failed' ? 'failed' : 'planned'),
      percent: volumePercent(p, v.state),
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
