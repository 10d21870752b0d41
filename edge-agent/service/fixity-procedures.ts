/**
 * FIXITY over the fixity service. (Stub.)
 */
import { type OptarcFixityArgs, OptarcStatus } from '../../clients/protocol/generated/optarc.js';
import type { FixityService } from '../fixity/fixity-service.js';
import { failure } from './failures.js';

export async function fixity(_f: FixityService, _a: OptarcFixityArgs) {
  return failure(OptarcStatus.OPTARC_NOT_AVAILABLE, 'fixity is not built yet');
}
