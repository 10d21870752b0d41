/**
 * The controller lease, on a clock the test moves: one holder, BUSY for others
 * naming the holder, renewal on every call, release by BYE, lapse after idling
 * or after the holder's connection is gone past the grace period.
 */
import test from 'ava';
import { ControllerLease } from '../../edge-agent/session/lease.js';

function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

test('one controller at a time; others are told who holds it and since when', (t) => {
  const c = clock();
  const lease = new ControllerLease({ now: c.now });
  const a = lease.acquire('sun1.lab', 'scanner-a');
  t.true(a.ok);
  c.advance(5000);
  const b = lease.acquire('sun2.lab', 'scanner-b');
  t.false(b.ok);
  if (!b.ok && a.ok) {
    t.is(b.busy.host, 'sun1.lab');
    t.is(b.busy.client, 'scanner-a');
    t.is(b.busy.since, 1_000_000);
    t.is(b.busy.session, a.holder.session);
  }
});

test('calls renew the lease; an idle lease lapses and a late call is told it expired', (t) => {
  const c = clock();
  const lease = new ControllerLease({ leaseMs: 60_000, now: c.now });
  const a = lease.acquire('h', 'a');
  if (!a.ok) return t.fail('first acquire must succeed');
  const s = a.holder.session;
  for (let i = 0; i < 5; i++) {
    c.advance(50_000);
    t.true(lease.check(s).ok, `renewed at step ${i}`);
  }
  c.advance(60_000);
  t.deepEqual(lease.check(s), { ok: false, reason: 'LEASE_EXPIRED' });
  t.true(lease.acquire('h2', 'b').ok, 'the device is free again');
  t.deepEqual(lease.check(12345n), { ok: false, reason: 'NO_SESSION' });
});

test('BYE releases at once; only the holder can release', (t) => {
  const lease = new ControllerLease();
  const a = lease.acquire('h', 'a');
  if (!a.ok) return t.fail();
  t.false(lease.release(a.holder.session + 1n));
  t.false(lease.acquire('h2', 'b').ok);
  t.true(lease.release(a.holder.session));
  t.true(lease.acquire('h2', 'b').ok);
});

test('a lost connection releases the lease after the grace period, unless the holder comes back', (t) => {
  const c = clock();
  const lease = new ControllerLease({ disconnectGraceMs: 30_000, now: c.now });
  const a = lease.acquire('h', 'a');
  if (!a.ok) return t.fail();
  lease.disconnected(a.holder.session);
  c.advance(20_000);
  t.false(lease.acquire('h2', 'b').ok, 'still held within the grace period');
  t.true(lease.check(a.holder.session).ok, 'the holder reconnects and calls');
  c.advance(40_000);
  t.false(lease.acquire('h2', 'b').ok, 'the reconnection cancelled the pending release');
  lease.disconnected(a.holder.session);
  c.advance(30_000);
  const b = lease.acquire('h2', 'b');
  t.true(b.ok, 'released after the grace period');
  t.deepEqual(lease.check(a.holder.session), { ok: false, reason: 'LEASE_EXPIRED' });
});
