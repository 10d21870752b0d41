/**
 * REBURN over the job runner. (Stub.)
 */
import { type OptarcReburnArgs, OptarcStatus } from '../../clients/protocol/generated/optarc.js';
import type { JobRunner } from '../jobs/job-runner.js';
import { failure } from './failures.js';

export async function reburn(_jobs: JobRunner, _a: OptarcReburnArgs, _clientId: string, _client: string) {
  return failure(OptarcStatus.OPTARC_NOT_AVAILABLE, 're-burning is not built yet');
}
