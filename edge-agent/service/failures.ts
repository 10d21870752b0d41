/**
 * Building the contract's failure results: the status twice (as the result's
 * discriminant and as the detail's, which optarc.x keeps equal), the detail the
 * status carries, and a message naming the cause and the fix.
 */
import {
  type OptarcBusy,
  type OptarcDigests,
  type OptarcFail,
  type OptarcQuota,
  type OptarcSizes,
  OptarcStatus,
  type OptarcVersions,
} from '../../clients/protocol/generated/optarc.js';
import { StagingError } from '../staging/errors.js';

export type Status = (typeof OptarcStatus)[keyof typeof OptarcStatus];

export type Detail = OptarcBusy | OptarcVersions | OptarcDigests | OptarcSizes | OptarcQuota | undefined;

/** A failure as a union value of any of the contract's result types. */
export function failure(status: Status, message: string, detail?: Detail): { tag: number; value: OptarcFail } {
  return { tag: status, value: { detail: { tag: status, value: detail }, message: message.slice(0, 1000) } };
}

/** A staging error as the contract's failure: the codes are the statuses without their prefix. */
export function stagingFailure(e: StagingError): { tag: number; value: OptarcFail } {
  const status = OptarcStatus[`OPTARC_${e.code}` as keyof typeof OptarcStatus];
  const d = e.detail;
  const detail: Detail =
    d?.kind === 'quota'
      ? { limit: d.limit, used: d.used }
      : d?.kind === 'sizes'
        ? { expected: d.expected, actual: d.actual }
        : d?.kind === 'digests'
          ? { expected: d.expected, actual: d.actual }
          : undefined;
  return failure(status, e.message, detail);
}

/** Run a staging action; a StagingError becomes its failure result. */
export async function staged<T>(action: () => Promise<T>): Promise<T | { tag: number; value: OptarcFail }> {
  try {
    return await action();
  } catch (e) {
    if (e instanceof StagingError) return stagingFailure(e);
    throw e;
  }
}
