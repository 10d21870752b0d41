/**
 * CAT_VOLUMES, CAT_FIND and CAT_WHEREIS over catalog-queries.ts. (Stub.)
 */
import {
  type OptarcCatFindArgs,
  type OptarcCatVolumesArgs,
  OptarcStatus,
  type OptarcWhereisArgs,
} from '../../clients/protocol/generated/optarc.js';
import type { CatalogQueries } from '../catalog/catalog-queries.js';
import { failure } from './failures.js';

const LATER = 'catalog queries are not built yet';

export async function catVolumes(_q: CatalogQueries, _a: OptarcCatVolumesArgs) {
  return failure(OptarcStatus.OPTARC_NOT_AVAILABLE, LATER);
}

export async function catFind(_q: CatalogQueries, _a: OptarcCatFindArgs) {
  return failure(OptarcStatus.OPTARC_NOT_AVAILABLE, LATER);
}

export async function catWhereis(_q: CatalogQueries, _a: OptarcWhereisArgs) {
  return failure(OptarcStatus.OPTARC_NOT_AVAILABLE, LATER);
}
