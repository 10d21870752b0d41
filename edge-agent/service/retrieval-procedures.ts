/**
 * RETRIEVE, RETRIEVE_STATUS and RETRIEVE_CACHED over the retrieval service. (Stub.)
 */
import {
  type OptarcCachedArgs,
  type OptarcRetrieveArgs,
  OptarcStatus,
  type OptarcTokenArgs,
} from '../../clients/protocol/generated/optarc.js';
import type { RetrievalService } from '../retrieval/retrieval-service.js';
import { failure } from './failures.js';

const LATER = 'retrieval is not built yet';

export async function retrieve(_r: RetrievalService, _a: OptarcRetrieveArgs, _clientId: string, _client: string) {
  return failure(OptarcStatus.OPTARC_NOT_AVAILABLE, LATER);
}

export async function retrievalStatus(_r: RetrievalService, _a: OptarcTokenArgs) {
  return failure(OptarcStatus.OPTARC_NOT_AVAILABLE, LATER);
}

export async function retrieveCached(_r: RetrievalService, _a: OptarcCachedArgs) {
  return failure(OptarcStatus.OPTARC_NOT_AVAILABLE, LATER);
}
