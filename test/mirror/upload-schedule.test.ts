/**
 * The gateway's upload schedule as the agent applies it: UTC windows by day of
 * the week, including one that runs past midnight into the next day; and a
 * real gateway whose policy has no window now keeps a real agent's volume waiting.
 */
import path from 'node:path';
import test from 'ava';
import { inSchedule } from '../../edge-agent/mirror/upload-schedule.js';
import { makeTree } from '../edge-agent/burn-kit.js';
import { rgwMissing, sharedRgw } from '../helpers/test-rgw.js';
import { makeGateway, mirroredAgent, outbox, volumeStates } from './mirror-kit.js';

// 2026-11-22 is a Sunday (day 0)
const at = (iso: string) => new Date(`${iso}Z`);

test('no window: always; a daytime window: inside from start, outside from end, only on its days', (t) => {
  t.true(inSchedule([], at('2026-11-22T12:00:00')));
  const weekdays = [{ days: [1, 2, 3, 4, 5], start: '09:00', end: '17:30' }];
  t.true(inSchedule(weekdays, at('2026-11-23T09:00:00')), 'Monday 09:00');
  t.true(inSchedule(weekdays, at('2026-11-23T17:29:59')));
  t.false(inSchedule(weekdays, at('2026-11-23T17:30:00')), 'the end is outside');
  t.false(inSchedule(weekdays, at('2026-11-23T08:59:59')));
  t.false(inSchedule(weekdays, at('2026-11-22T12:00:00')), 'Sunday');
});

test('a window past midnight runs into the morning of the next day', (t) => {
  const nights = [{ days: [5], start: '22:00', end: '06:00' }]; // Friday night
  t.true(inSchedule(nights, at('2026-11-27T22:00:00')), 'Friday 22:00');
  t.true(inSchedule(nights, at('2026-11-28T05:59:00')), 'Saturday 05:59');
  t.false(inSchedule(nights, at('2026-11-28T06:00:00')), 'Saturday 06:00');
  t.false(inSchedule(nights, at('2026-11-27T05:00:00')), 'Friday morning belongs to Thursday night');
  t.false(inSchedule(nights, at('2026-11-28T23:00:00')), 'Saturday night is not listed');
  // Saturday night wraps to Sunday morning (day 6 → 0)
  t.true(inSchedule([{ days: [6], start: '23:00', end: '01:00' }], at('2026-11-22T00:30:00')));
});

const missing = rgwMissing();
const rgwTest = missing ? test.skip : test;

rgwTest(
  `outside the gateway's upload windows a finished volume waits, and optarc status says why${missing ? ` [SKIPPED: ${missing}]` : ''}`,
  async (t) => {
    const rgw = await sharedRgw();
    // one window, on the day after today: now is never inside it
    const tomorrow = (new Date().getUTCDay() + 1) % 7;
    const gw = await makeGateway(t, rgw, {
      policy: { schedule: [{ days: [tomorrow], start: '00:00', end: '00:01' }] },
    });
    await gw.start();
    const { token } = await gw.issue('lab-1');
    const agent = await mirroredAgent(t, gw, token, { drives: 1 });
    await makeTree(path.join(agent.dir, 'src'), { 'n/a.bin': 300_000 });
    t.is((await agent.cli('put', path.join(agent.dir, 'src'))).code, 0);
    const burn = await agent.cli('burn', '--copies', '1', '--media', 'test-8m', '--wait', '--json');
    t.is(burn.code, 0, burn.stderr);
    const job = String(JSON.parse(burn.stdout).job);
    await new Promise((r) => setTimeout(r, 3000)); // longer than the mirror's idle poll
    t.deepEqual([...volumeStates(agent).values()], ['finished']);
    t.true(outbox(agent).every((e) => e.state === 'queued'));
    const status = JSON.parse((await agent.cli('status', job, '--json')).stdout);
    t.is(status.volumes[0].state, 'queued for mirror (outside the upload schedule)');
  },
);
