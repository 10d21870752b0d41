/**
 * The offline scheduler's order as pure functions: 1,000 queued requests
 * (800 of priority 1, 50 each of priorities 2-5) under the default quotas
 * [8, 4, 2, 1, 1], served round after round as the agent does (each round
 * planned from what is still queued). Every request is served exactly once,
 * each priority in earliest-deadline-first order, priority 5 finishes within
 * ceil(50 / 1) rounds however many priority-1 requests there are, and the
 * positions RETRIEVE_STATUS reports agree with the order actually served.
 */
import test from 'ava';
import {
  edfCompare,
  planRound,
  positionOf,
  type QueuedRequest,
  serviceOrder,
} from '../../edge-agent/retrieval/retrieval-scheduler.js';

const QUOTAS = [8, 4, 2, 1, 1];
const T0 = Date.UTC(2026, 0, 1);

/** A seeded generator, so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function flood(): QueuedRequest[] {
  const rnd = prng(7);
  const out: QueuedRequest[] = [];
  const counts = [800, 50, 50, 50, 50];
  let id = 1;
  counts.forEach((n, p) => {
    for (let i = 0; i < n; i++) {
      // a third without a deadline; deadlines spread over a day, some in the past
      const deadline = rnd() < 1 / 3 ? null : T0 + Math.floor((rnd() - 0.1) * 86_400_000);
      out.push({ id: id++, priority: p + 1, deadline, createdAt: T0 - Math.floor(rnd() * 3_600_000) });
    }
  });
  // arrival order shuffled, so nothing depends on insertion order
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Runs the queue to empty the way the service does: plan a round from what is left, serve it, repeat. */
function drain(queued: QueuedRequest[]): { served: { request: QueuedRequest; round: number }[]; rounds: number } {
  let left = [...queued];
  const served: { request: QueuedRequest; round: number }[] = [];
  let rounds = 0;
  while (left.length > 0) {
    const batch = planRound(left, QUOTAS);
    if (batch.length === 0) throw new Error('a round served nothing while requests were queued');
    rounds++;
    for (const request of batch) served.push({ request, round: rounds });
    const taken = new Set(batch.map((r) => r.id));
    left = left.filter((r) => !taken.has(r.id));
  }
  return { served, rounds };
}

test('1,000 requests across priorities 1-5: each served once, EDF within a priority, priority 5 done within ceil(n5/quota5) rounds', (t) => {
  const queued = flood();
  t.is(queued.length, 1000);
  const { served, rounds } = drain(queued);

  const ids = served.map((s) => s.request.id);
  t.is(ids.length, 1000, 'a thousand servings');
  t.is(new Set(ids).size, 1000, 'no request served twice');
  t.deepEqual(
    [...ids].sort((a, b) => a - b),
    queued.map((r) => r.id).sort((a, b) => a - b),
    'every request served',
  );

  for (let p = 1; p <= 5; p++) {
    const lane = served.filter((s) => s.request.priority === p).map((s) => s.request);
    const edf = [...lane].sort(edfCompare);
    t.deepEqual(
      lane.map((r) => r.id),
      edf.map((r) => r.id),
      `priority ${p} is served earliest deadline first (none last, then oldest)`,
    );
    // a round never takes more of a priority than its quota
    const perRound = new Map<number, number>();
    for (const s of served.filter((x) => x.request.priority === p)) {
      perRound.set(s.round, (perRound.get(s.round) ?? 0) + 1);
    }
    t.true(
      [...perRound.values()].every((n) => n <= QUOTAS[p - 1]!),
      `priority ${p}: at most ${QUOTAS[p - 1]} per round`,
    );
  }

  const n5 = queued.filter((r) => r.priority === 5).length;
  const last5 = Math.max(...served.filter((s) => s.request.priority === 5).map((s) => s.round));
  const bound = Math.ceil(n5 / QUOTAS[4]!);
  t.true(last5 <= bound, `priority 5's last request in round ${last5}, bound ${bound}`);
  const last1 = Math.max(...served.filter((s) => s.request.priority === 1).map((s) => s.round));
  t.is(last1, Math.ceil(800 / QUOTAS[0]!), 'priority 1 takes its quota every round until it is done');
  t.is(rounds, Math.max(last1, last5), 'no empty round');
  t.log(
    `rounds: ${rounds} in all; priority 5 (${n5} requests, quota 1) done in round ${last5}; priority 1 (800, quota 8) in round ${last1}`,
  );
});

test('serviceOrder and positionOf agree with the rounds actually served', (t) => {
  const queued = flood();
  const { served } = drain(queued);
  const order = serviceOrder(queued, QUOTAS);
  t.deepEqual(
    order.map((o) => o.request.id),
    served.map((s) => s.request.id),
    'the predicted order is the served order',
  );
  t.deepEqual(
    order.map((o) => o.round + 1),
    served.map((s) => s.round),
    'and the same rounds',
  );
  // positions: spot-check across the queue, including the first and the last
  for (const i of [0, 1, 7, 8, 9, 17, 100, 499, 998, 999]) {
    const id = served[i]!.request.id;
    t.is(positionOf(queued, QUOTAS, id), i, `request served ${i}th has ${i} ahead`);
  }
  t.is(positionOf(queued, QUOTAS, 123_456), undefined, 'a request not queued has no position');
});

test('a late priority-5 request still goes in the next round under a flood of priority 1', (t) => {
  const queued: QueuedRequest[] = Array.from({ length: 500 }, (_, i) => ({
    id: i + 1,
    priority: 1,
    deadline: T0 + i,
    createdAt: T0,
  }));
  queued.push({ id: 9999, priority: 5, deadline: null, createdAt: T0 + 10_000 });
  const round = planRound(queued, QUOTAS);
  t.is(round.length, 9, '8 of priority 1 and the one of priority 5');
  t.true(
    round.some((r) => r.id === 9999),
    'priority 5 is in the first round',
  );
  t.is(positionOf(queued, QUOTAS, 9999), 8, "behind this round's 8 of priority 1 only");
  t.deepEqual(
    round.filter((r) => r.priority === 1).map((r) => r.id),
    [1, 2, 3, 4, 5, 6, 7, 8],
    'the earliest deadlines of priority 1',
  );
});

test('bad quotas are refused', (t) => {
  t.throws(() => planRound([], [1, 2, 3]), { instanceOf: TypeError });
  t.throws(() => planRound([], [1, 2, 3, 0, 1]), { instanceOf: TypeError });
});
