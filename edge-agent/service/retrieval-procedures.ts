/**
 * RETRIEVE, RETRIEVE_STATUS and RETRIEVE_CACHED over the retrieval service:
 * the contract's arguments in, its results out; a RetrievalError becomes the
 * status of the same name with its message.
 */
import {
  type OptarcCachedArgs,
  type OptarcRetrieval,
  OptarcRetrievalState,
  type OptarcRetrieveArgs,
  OptarcRetrieveMode,
  OptarcStatus,
  type OptarcTime,
  type OptarcTokenArgs,
} from '../../clients/protocol/generated/optarc.js';
import { boundText } from '../retrieval/bounded-text.js';
import { RetrievalError } from '../retrieval/errors.js';
import type { RetrievalService, RetrievalView } from '../retrieval/retrieval-service.js';
import { failure } from './failures.js';

const STATES = {
  queued: OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED,
  fetching: OptarcRetrievalState.OPTARC_RETRIEVAL_FETCHING,
  ready: OptarcRetrievalState.OPTARC_RETRIEVAL_READY,
  failed: OptarcRetrievalState.OPTARC_RETRIEVAL_FAILED,
  collected: OptarcRetrievalState.OPTARC_RETRIEVAL_COLLECTED,
  expired: OptarcRetrievalState.OPTARC_RETRIEVAL_EXPIRED,
} as const;

export async function retrieve(r: RetrievalService, a: OptarcRetrieveArgs, clientId: string, client: string) {
  if (a.mode !== OptarcRetrieveMode.OPTARC_ONLINE && a.mode !== OptarcRetrieveMode.OPTARC_OFFLINE) {
    return failure(OptarcStatus.OPTARC_BAD_ARGUMENT, `mode is ONLINE (1) or OFFLINE (2), not ${a.mode}`);
  }
  if (a.deadline.nanoseconds > 999_999_999 || a.deadline.seconds < 0n || a.deadline.seconds > 253402300799n) {
    return failure(OptarcStatus.OPTARC_BAD_ARGUMENT, 'the deadline is not a time between 1970 and 9999');
  }
  return answer(async () =>
    ok(
      await r.retrieve({
        path: a.path,
        sha256: a.sha256 ?? null,
        vsn: a.vsn,
        mode: a.mode === OptarcRetrieveMode.OPTARC_ONLINE ? 'online' : 'offline',
        priority: a.priority,
        deadline:
          a.deadline.seconds === 0n
            ? null
            : Number(a.deadline.seconds) * 1000 + Math.floor(a.deadline.nanoseconds / 1_000_000),
        clientId,
        client,
      }),
    ),
  );
}

export async function retrievalStatus(r: RetrievalService, a: OptarcTokenArgs) {
  return answer(async () => ok(await r.status(a.token)));
}

export async function retrieveCached(r: RetrievalService, a: OptarcCachedArgs) {
  return answer(async () => ({ tag: OptarcStatus.OPTARC_OK, value: await r.read(a.token, a.offset, a.count) }));
}

async function answer<T>(action: () => Promise<T>) {
  try {
    return await action();
  } catch (e) {
    if (e instanceof RetrievalError) return failure(OptarcStatus[`OPTARC_${e.code}`], boundText(e.message));
    throw e;
  }
}

function ok(v: RetrievalView): { tag: number; value: OptarcRetrieval } {
  const row = v.row;
  return {
    tag: OptarcStatus.OPTARC_OK,
    value: {
      token: row.token,
      state: STATES[row.state],
      mode: row.mode === 'online' ? OptarcRetrieveMode.OPTARC_ONLINE : OptarcRetrieveMode.OPTARC_OFFLINE,
      priority: row.priority,
      position: v.position,
      deadline: msToTime(row.deadline),
      vsn: v.vsn,
      path: v.path,
      size: BigInt(v.size),
      sha256: v.sha256,
      source: row.source,
      percent: v.percent,
      expires: msToTime(row.state === 'ready' ? row.expiresAt : null),
      message: v.message,
    },
  };
}

function msToTime(ms: number | null): OptarcTime {
  if (ms === null) return { seconds: 0n, nanoseconds: 0 };
  return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
}
