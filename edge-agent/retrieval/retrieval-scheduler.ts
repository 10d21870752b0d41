/**
 * The offline queue's order, as pure functions (no I/O, no clock): rounds in
 * which every priority p takes up to quotas[p-1] queued requests, so a flood
 * of priority 1 never starves priority 5 (the ImageNet server's per-priority
 * limits). Within a priority: earliest deadline first, requests without a
 * deadline after those with one, then the oldest first.
 */

export interface QueuedRequest {
  id: number;
  /** 1 (first) .. 5. */
  priority: number;
  /** ms since the epoch; null: none. */
  deadline: number | null;
  /** ms since the epoch. */
  createdAt: number;
}

export const PRIORITIES = 5;

/** Earliest deadline first, no deadline last, then oldest, then by id. */
export function edfCompare(a: QueuedRequest, b: QueuedRequest): number {
  if (a.deadline !== b.deadline) {
    if (a.deadline === null) return 1;
    if (b.deadline === null) return -1;
    return a.deadline - b.deadline;
  }
  return a.createdAt - b.createdAt || a.id - b.id;
}

/** Checks the quotas: five positive whole numbers. */
export function checkQuotas(quotas: readonly number[]): void {
  if (quotas.length !== PRIORITIES || !quotas.every((q) => Number.isSafeInteger(q) && q >= 1)) {
    throw new TypeError(`quotas are ${PRIORITIES} positive whole numbers, not ${JSON.stringify(quotas)}`);
  }
}

/** The queue split by priority, each in EDF order (requests of another priority are ignored). */
function byPriority(queued: readonly QueuedRequest[]): QueuedRequest[][] {
  const lanes: QueuedRequest[][] = Array.from({ length: PRIORITIES }, () => []);
  for (const r of queued) {
    if (Number.isInteger(r.priority) && r.priority >= 1 && r.priority <= PRIORITIES) lanes[r.priority - 1]!.push(r);
  }
  for (const lane of lanes) lane.sort(edfCompare);
  return lanes;
}

/** The next round's batch: up to quotas[p-1] requests of each priority p, priority 1's first. */
export function planRound(queued: readonly QueuedRequest[], quotas: readonly number[]): QueuedRequest[] {
  checkQuotas(quotas);
  return byPriority(queued).flatMap((lane, p) => lane.slice(0, quotas[p]!));
}

/**
 * Every queued request in the order the scheduler would serve them if nothing
 * else arrived: round after round, each round's batch in planRound's order.
 * `round` is 0 for the next round.
 */
export function serviceOrder(
  queued: readonly QueuedRequest[],
  quotas: readonly number[],
): { request: QueuedRequest; round: number }[] {
  checkQuotas(quotas);
  const lanes = byPriority(queued);
  const out: { request: QueuedRequest; round: number }[] = [];
  for (let round = 0; lanes.some((lane, p) => lane.length > round * quotas[p]!); round++) {
    lanes.forEach((lane, p) => {
      for (const request of lane.slice(round * quotas[p]!, (round + 1) * quotas[p]!)) out.push({ request, round });
    });
  }
  return out;
}

/**
 * How many queued requests the scheduler would serve before request `id`
 * (its place in serviceOrder), without building the whole order; undefined
 * when it is not in the queue.
 */
export function positionOf(
  queued: readonly QueuedRequest[],
  quotas: readonly number[],
  id: number,
): number | undefined {
  checkQuotas(quotas);
  const lanes = byPriority(queued);
  for (let p = 0; p < PRIORITIES; p++) {
    const i = lanes[p]!.findIndex((r) => r.id === id);
    if (i < 0) continue;
    const round = Math.floor(i / quotas[p]!);
    let ahead = i - round * quotas[p]!;
    lanes.forEach((lane, q) => {
      ahead += Math.min(lane.length, round * quotas[q]!); // whole earlier rounds
      if (q < p) ahead += Math.min(Math.max(lane.length - round * quotas[q]!, 0), quotas[q]!); // this round, before it
    });
    return ahead;
  }
  return undefined;
}
