/**
 * CAT_VOLUMES, CAT_FIND and CAT_WHEREIS over catalog-queries.ts: the
 * contract's arguments in, its union values out, a CatalogQueryError as the
 * status it names (BAD_ARGUMENT, BAD_COOKIE, NOT_FOUND) with its words.
 */
import {
  type OptarcCatFindArgs,
  type OptarcCatVolumesArgs,
  OptarcMatch,
  OptarcStatus,
  type OptarcWhereisArgs,
} from '../../clients/protocol/generated/optarc.js';
import { type CatalogQueries, CatalogQueryError, type MatchKind } from '../catalog/catalog-queries.js';
import { failure, type Status } from './failures.js';

const MATCHES: Record<number, MatchKind> = {
  [OptarcMatch.OPTARC_MATCH_EXACT]: 'exact',
  [OptarcMatch.OPTARC_MATCH_LIKE]: 'like',
  [OptarcMatch.OPTARC_MATCH_GLOB]: 'glob',
};

async function answered<T>(action: () => T | Promise<T>) {
  try {
    return { tag: OptarcStatus.OPTARC_OK, value: await action() };
  } catch (e) {
    if (e instanceof CatalogQueryError) {
      return failure(OptarcStatus[`OPTARC_${e.code}` as keyof typeof OptarcStatus] as Status, e.message);
    }
    throw e;
  }
}

export function catVolumes(q: CatalogQueries, a: OptarcCatVolumesArgs) {
  return answered(async () => {
    const page = await q.volumes(a.since, { cookie: a.cookie, count: a.count });
    return { volumes: page.items, cookie: page.cookie, eof: page.eof };
  });
}

export function catFind(q: CatalogQueries, a: OptarcCatFindArgs) {
  return answered(() => {
    const match = MATCHES[a.match];
    if (!match) throw new CatalogQueryError('BAD_ARGUMENT', `match ${a.match} is not EXACT (1), LIKE (2) or GLOB (3)`);
    const page = q.find({ match, pattern: a.pattern, since: a.since, vsn: a.vsn, cookie: a.cookie, count: a.count });
    return { files: page.items, cookie: page.cookie, eof: page.eof };
  });
}

export function catWhereis(q: CatalogQueries, a: OptarcWhereisArgs) {
  return answered(async () => {
    const page = await q.whereis({ path: a.path, sha256: a.sha256, cookie: a.cookie, count: a.count });
    return { locations: page.items, cookie: page.cookie, eof: page.eof };
  });
}
