/**
 * FIXITY over the fixity service: optionally start a pass now (answered at
 * once: the client polls while `running`), then one page of the latest check
 * per (volume, target), the failing count and the schedule. A VSN the catalog
 * does not know is NOT_FOUND, a cookie FIXITY did not issue BAD_COOKIE, a
 * count of 0 BAD_ARGUMENT; more than OPTARC_MAX_HITS is cut to it.
 */
import {
  type OptarcFixityArgs,
  type OptarcFixityCheck,
  OptarcStatus,
  type OptarcTime,
} from '../../clients/protocol/generated/optarc.js';
import { FixityError, type FixityService } from '../fixity/fixity-service.js';
import { failure } from './failures.js';

const MAX_HITS = 128;

function time(ms: number): OptarcTime {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
}

export async function fixity(f: FixityService, a: OptarcFixityArgs) {
  try {
    // the page is read first: a bad argument starts nothing
    f.status({ ...(a.vsn ? { vsn: a.vsn } : {}), cookie: a.cookie, count: Math.min(a.count, MAX_HITS) });
    if (a.run) f.runNow();
    const s = f.status({ ...(a.vsn ? { vsn: a.vsn } : {}), cookie: a.cookie, count: Math.min(a.count, MAX_HITS) });
    const checks: OptarcFixityCheck[] = s.checks.map((c) => ({
      vsn: c.vsn,
      target: c.target,
      ok: c.ok,
      at: time(c.at),
      bytes: c.bytes,
      detail: c.detail.slice(0, 1000),
    }));
    return {
      tag: OptarcStatus.OPTARC_OK,
      value: {
        checks,
        cookie: s.cookie,
        eof: s.eof,
        running: s.running,
        failures: s.failures,
        last_pass: time(s.lastPass),
        next_pass: time(s.nextPass),
      },
    };
  } catch (e) {
    if (e instanceof FixityError) return failure(OptarcStatus[`OPTARC_${e.code}`], e.message);
    throw e;
  }
}
