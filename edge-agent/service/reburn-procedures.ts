/**
 * REBURN over the job runner: checks the request (JobRunner.submitReburn ->
 * reburn-steps checkReburn) and answers the job's number, which JOB_STATUS
 * follows (step `download`, then `burn`), or the refusal as the contract's
 * status: NOT_FOUND (no such VSN), NO_SOURCE (no acknowledged cloud copy of
 * the volume as it is now), BAD_ARGUMENT (copies outside 1..maxCopies, an
 * unknown medium or one too small), NOT_AVAILABLE (no gateway configured, no
 * drives).
 */
import { type OptarcReburnArgs, OptarcStatus } from '../../clients/protocol/generated/optarc.js';
import { type JobCode, JobError } from '../jobs/errors.js';
import type { JobRunner } from '../jobs/job-runner.js';
import { failure, type Status } from './failures.js';

const REBURN_STATUS: Partial<Record<JobCode, Status>> = {
  NOT_FOUND: OptarcStatus.OPTARC_NOT_FOUND,
  NO_SOURCE: OptarcStatus.OPTARC_NO_SOURCE,
  BAD_ARGUMENT: OptarcStatus.OPTARC_BAD_ARGUMENT,
  UNKNOWN_MEDIA: OptarcStatus.OPTARC_BAD_ARGUMENT,
  CORRUPT: OptarcStatus.OPTARC_CORRUPT,
  NO_DRIVES: OptarcStatus.OPTARC_NOT_AVAILABLE,
  NOT_AVAILABLE: OptarcStatus.OPTARC_NOT_AVAILABLE,
  NO_SPACE: OptarcStatus.OPTARC_NO_SPACE,
};

export async function reburn(jobs: JobRunner, a: OptarcReburnArgs, clientId: string, client: string) {
  try {
    const job = await jobs.submitReburn(clientId, client, { vsn: a.vsn, copies: a.copies, media: a.media });
    return { tag: OptarcStatus.OPTARC_OK, value: BigInt(job.id) };
  } catch (e) {
    if (e instanceof JobError) return failure(REBURN_STATUS[e.code] ?? OptarcStatus.OPTARC_IO_ERROR, e.message);
    throw e;
  }
}
