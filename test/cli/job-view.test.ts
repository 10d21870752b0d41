/**
 * How `optarc burn --wait`, `optarc status` and `optarc drives` show a job,
 * and `optarc-burn -w` (the C client) follows one. No optarc agent runs here:
 * the rendering is driven with made-up statuses and a fake clock; the argument
 * checks fail before anything connects; and the end-to-end runs talk to a
 * scripted stand-in of the optarc program on optarc's own RpcServer, whose
 * JOB_STATUS answers one status of a list per call.
 */
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { BadArguments, checkBurnArgs, checkJobArg } from '../../clients/node/commands/burn.js';
import {
  BAR_WIDTH,
  bar,
  copyText,
  drivesTable,
  jobStatusJson,
  ProgressView,
  progressLines,
  rowsOf,
  summaryText,
  toJsonText,
  WaitInterrupted,
  waitForJob,
} from '../../clients/node/commands/job-progress-view.js';
import { type CallContext, type Procedure, RpcServer } from '../../clients/oncrpc/index.js';
import {
  createCodecs,
  createOptarcV1Procedures,
  OPTARC_BURN,
  OPTARC_BYE,
  OPTARC_DRIVES,
  OPTARC_HELLO,
  OPTARC_JOB_STATUS,
  OPTARC_PROG,
  OPTARC_V1,
  type OptarcCopyStatus,
  type OptarcDrive,
  OptarcJobState,
  type OptarcJobStatus,
  OptarcStatus,
} from '../../clients/protocol/generated/optarc.js';
import { buildCClient, C_CLIENT } from '../helpers/c-programs.js';
import { BIN, freePort, run } from '../helpers/processes.js';

const { OPTARC_JOB_RUNNING: RUNNING, OPTARC_JOB_DONE: DONE, OPTARC_JOB_FAILED: FAILED } = OptarcJobState;

function copy(n: number, drive: string, state: string, percent: number, more: Partial<OptarcCopyStatus> = {}) {
  return { copy: n, attempt: 1, drive, state, percent, error: '', ...more };
}

/** A burn of 2 volumes × 3 copies: the first writing, one copy bad on its second blank; the second mastered. */
function running(over: Partial<OptarcJobStatus> = {}): OptarcJobStatus {
  return {
    job: 42n,
    state: RUNNING,
    step: 'burn',
    percent: 55,
    message: '',
    volumes: [
      {
        vsn: 'OPT000001',
        state: 'writing',
        percent: 45,
        copies: [
          copy(1, 'sr0', 'writing', 45),
          copy(2, 'sr1', 'writing', 44),
          copy(3, 'sr2', 'bad', 0, { attempt: 2, error: 'write error at LBA 1234' }),
        ],
      },
      {
        vsn: 'OPT000002',
        state: 'mastered',
        percent: 100,
        copies: [copy(1, '', 'waiting', 0), copy(2, '', 'waiting', 0), copy(3, '', 'waiting', 0)],
      },
    ],
    ...over,
  };
}

const FINISHED_COPIES = [copy(1, 'sr0', 'verified', 100), copy(2, 'sr1', 'verified', 100)];

function done(): OptarcJobStatus {
  return {
    job: 42n,
    state: DONE,
    step: 'done',
    percent: 100,
    message: '2 volumes finished: OPT000001 copies 1, 2 (copy 3 bad); OPT000002 copies 1, 2, 3',
    volumes: [
      { vsn: 'OPT000001', state: 'finished', percent: 100, copies: FINISHED_COPIES },
      { vsn: 'OPT000002', state: 'finished', percent: 100, copies: FINISHED_COPIES },
    ],
  };
}

function failed(): OptarcJobStatus {
  return {
    ...done(),
    state: FAILED,
    step: 'failed',
    percent: 60,
    message: 'volume OPT000002 failed: no blank left for copy 2; copies that exist: OPT000001 copies 1, 2',
  };
}

/** Collects what a ProgressView writes. */
function sink(columns?: number) {
  const writes: string[] = [];
  return { writes, columns, write: (text: string) => writes.push(text) };
}

test('bar: 20 characters between brackets, filled in proportion, rounded down and clamped', (t) => {
  t.is(BAR_WIDTH, 20);
  t.is(bar(0), `[${'-'.repeat(20)}]`);
  t.is(bar(45), '[#########-----------]');
  t.is(bar(99), `[${'#'.repeat(19)}-]`);
  t.is(bar(100), `[${'#'.repeat(20)}]`);
  t.is(bar(250), bar(100));
  t.is(bar(-3), bar(0));
  t.is(bar(50, 10), '[#####-----]');
  for (const p of [0, 1, 33, 45, 99, 100, 250]) t.is(bar(p).length, 22, `bar(${p})`);
});

test('progress of 2 volumes × 3 copies: a job line, one aligned line per volume, each copy with drive, state, percent', (t) => {
  t.deepEqual(progressLines(running()), [
    'job 42 running burn [###########---------]  55%',
    '  OPT000001 writing  [#########-----------]  45%  copy 1@sr0 writing 45%  copy 2@sr1 writing 44%  copy 3@sr2 bad (attempt 2) (write error at LBA 1234)',
    '  OPT000002 mastered [####################] 100%  copy 1@- waiting 0%  copy 2@- waiting 0%  copy 3@- waiting 0%',
  ]);
});

test('a copy: state and percent; a bad copy its error instead; a retried copy its attempt', (t) => {
  t.is(copyText(copy(2, 'sr1', 'verifying', 45)), 'copy 2@sr1 verifying 45%');
  t.is(
    copyText(copy(3, 'sr2', 'bad', 70, { error: 'verify mismatch in block 9' })),
    'copy 3@sr2 bad (verify mismatch in block 9)',
  );
  t.is(copyText(copy(1, 'sr0', 'writing', 5, { attempt: 3 })), 'copy 1@sr0 writing 5% (attempt 3)');
});

test('agent text cannot move the cursor or break lines: control characters become ?', (t) => {
  const s = running();
  s.volumes[0].copies[2].error = 'bad\u001b[2J\nmedium';
  s.volumes[0].vsn = 'OPT\r01';
  const lines = progressLines(s);
  t.is(lines.length, 3);
  t.true(lines[1].includes('copy 3@sr2 bad (attempt 2) (bad?[2J?medium)'), lines[1]);
  t.true(lines[1].startsWith('  OPT?01 '), lines[1]);
  for (const l of lines)
    t.false(
      [...l].some((ch) => ch.charCodeAt(0) < 0x20),
      JSON.stringify(l),
    );
});

test('status summary: job, state, step, percent, message, then each volume and each of its copies', (t) => {
  t.is(
    summaryText(running()),
    [
      'job 42: running, step burn, 55%',
      '  OPT000001 writing 45% [#########-----------]',
      '    copy 1@sr0 writing 45%',
      '    copy 2@sr1 writing 44%',
      '    copy 3@sr2 bad (attempt 2) (write error at LBA 1234)',
      '  OPT000002 mastered 100% [####################]',
      '    copy 1@- waiting 0%',
      '    copy 2@- waiting 0%',
      '    copy 3@- waiting 0%',
    ].join('\n'),
  );
  const f = summaryText(failed()).split('\n');
  t.is(f[0], 'job 42: failed, step failed, 60%');
  t.is(f[1], `  ${failed().message}`);
  t.is(summaryText({ ...running(), volumes: [] }).split('\n')[1], '  no volumes yet');
});

test('JSON form: the contract fields with the job number as a string, and the state named', (t) => {
  const text = toJsonText(jobStatusJson(running()));
  const back = JSON.parse(text);
  t.is(back.job, '42');
  t.is(back.state, RUNNING);
  t.is(back.stateName, 'running');
  t.is(back.step, 'burn');
  t.is(back.percent, 55);
  t.is(back.volumes.length, 2);
  t.deepEqual(back.volumes[0].copies[2], {
    copy: 3,
    attempt: 2,
    drive: 'sr2',
    state: 'bad',
    percent: 0,
    error: 'write error at LBA 1234',
  });
  t.is(JSON.parse(toJsonText({ big: 18446744073709551615n })).big, '18446744073709551615', 'no precision lost');
  t.is(JSON.parse(toJsonText(jobStatusJson(failed()))).stateName, 'failed');
});

test('plain progress prints only the lines that changed, at most once a second, and always the end', (t) => {
  let now = 0;
  const out = sink();
  const view = new ProgressView(out, { tty: false, now: () => now });
  t.true(view.update(running()));
  t.is(out.writes.join(''), `${progressLines(running()).join('\n')}\n`);
  now = 5000;
  t.false(view.update(running()), 'nothing changed: nothing printed, even after a long time');
  t.is(out.writes.length, 1);

  const moved = running({ percent: 56 });
  moved.volumes[0].copies[0].percent = 46;
  now = 5500;
  t.true(view.update(moved), 'changed, a second after the last print');
  t.is(
    out.writes[1],
    `${progressLines(moved)[0]}\n${progressLines(moved)[1]}\n`,
    'the job line and the first volume line; the second volume is unchanged',
  );
  const again = running({ percent: 57 });
  now = 6000;
  t.false(view.update(again), 'changed, but within a second of the last print');
  now = 6500;
  t.true(view.update(again), 'a second later it is printed');
  t.is(out.writes[2], `${progressLines(again)[0]}\n${progressLines(again)[1]}\n`);
  now = 6600;
  t.true(view.update(done()), 'the final status is printed at once');
  t.is(out.writes.length, 4);
  t.false(view.update(done()));
});

test('terminal progress redraws in place: cursor up over the rows drawn, clear, draw; nothing when unchanged', (t) => {
  const out = sink();
  const view = new ProgressView(out, { tty: true });
  t.true(view.update(running()));
  t.is(out.writes[0], `${progressLines(running()).join('\n')}\n`, 'the first draw moves nothing');
  t.false(view.update(running()));
  t.is(out.writes.length, 1);
  t.true(view.update(done()));
  t.is(out.writes[1], `\u001b[3A\r\u001b[J${progressLines(done()).join('\n')}\n`);
  t.true(view.update(running({ volumes: [] })));
  t.true(out.writes[2].startsWith('\u001b[3A\r\u001b[J'), 'up over the three lines of the last draw');
  t.true(view.update(running()));
  t.true(out.writes[3].startsWith('\u001b[1A\r\u001b[J'), 'up over the one line of the last draw');
});

test('terminal progress counts the rows long lines wrap onto', (t) => {
  t.is(rowsOf('x'.repeat(40), 40), 1);
  t.is(rowsOf('x'.repeat(41), 40), 2);
  t.is(rowsOf('', 40), 1);
  t.is(rowsOf('x'.repeat(500), undefined), 1);
  const out = sink(40);
  const view = new ProgressView(out, { tty: true });
  view.update(running());
  view.update(done());
  const rows = progressLines(running()).reduce((n, l) => n + Math.ceil(l.length / 40), 0);
  t.true(rows > 3);
  t.true(out.writes[1].startsWith(`\u001b[${rows}A\r\u001b[J`), JSON.stringify(out.writes[1].slice(0, 12)));
});

test('drives: a table of name, address, loaded, vsn, busy', (t) => {
  const drives: OptarcDrive[] = [
    { name: 'sr0', address: '/dev/sr0', loaded: true, media: 'BD-R', vsn: 'OPT000001', busy: true },
    { name: 'burner-2', address: 'stdio:/var/optarc/pseudo/2', loaded: false, media: '', vsn: '', busy: false },
  ];
  t.is(
    drivesTable(drives),
    [
      'NAME      ADDRESS                     LOADED  VSN        BUSY',
      'sr0       /dev/sr0                    yes     OPT000001  yes',
      'burner-2  stdio:/var/optarc/pseudo/2  no      -          no',
    ].join('\n'),
  );
  t.is(drivesTable([]), 'no drives');
});

test('waitForJob polls until DONE or FAILED, hands every status on, and stops on an abort', async (t) => {
  const script = [running(), running({ percent: 80 }), failed(), done()];
  let polls = 0;
  const seen: number[] = [];
  const last = await waitForJob(42n, async () => script[polls++], {
    intervalMs: 1,
    onStatus: (s) => seen.push(s.percent),
  });
  t.is(polls, 3, 'no poll after the job failed');
  t.deepEqual(seen, [55, 80, 60]);
  t.is(last.state, FAILED);

  const controller = new AbortController();
  let n = 0;
  const started = Date.now();
  const waiting = waitForJob(
    7n,
    async () => {
      n++;
      return running({ job: 7n });
    },
    { intervalMs: 60_000, signal: controller.signal },
  );
  setTimeout(() => controller.abort(), 50);
  const e = await t.throwsAsync(waiting, { instanceOf: WaitInterrupted });
  t.regex(e!.message, /optarc status 7 --wait/);
  t.is(n, 1);
  t.true(Date.now() - started < 10_000, 'an abort cuts the sleep short');
  let none = 0;
  await t.throwsAsync(
    waitForJob(
      7n,
      async () => {
        none++;
        return running({ job: 7n });
      },
      { signal: AbortSignal.abort() },
    ),
    { instanceOf: WaitInterrupted },
  );
  t.is(none, 0, 'no poll once aborted');
});

test('burn and status arguments are checked before anything is sent', (t) => {
  t.deepEqual(checkBurnArgs({ copies: '3', media: 'BD-R', label: 'SCANS', append: true }, []), {
    copies: 3,
    media: 'BD-R',
    label: 'SCANS',
    append: true,
  });
  t.is(checkBurnArgs({ media: 'DVD+R' }, []).copies, 1, '--copies defaults to 1');
  for (const copies of ['0', '65', '-1', '1.5', '2x', '', ' 2']) {
    t.throws(() => checkBurnArgs({ copies, media: 'BD-R' }, []), { instanceOf: BadArguments }, `--copies '${copies}'`);
  }
  t.throws(() => checkBurnArgs({ copies: '2' }, []), { instanceOf: BadArguments, message: /--media PROFILE/ });
  t.throws(() => checkBurnArgs({ media: 'X'.repeat(33) }, []), { instanceOf: BadArguments, message: /--media/ });
  t.notThrows(() => checkBurnArgs({ media: 'BD-R', label: 'L'.repeat(32) }, []));
  t.throws(() => checkBurnArgs({ media: 'BD-R', label: 'é'.repeat(17) }, []), {
    message: /--label is at most 32 bytes/,
  });
  t.throws(() => checkBurnArgs({ media: 'BD-R' }, ['extra']), { message: /no arguments/ });
  t.is(checkJobArg(['18446744073709551615']), 18446744073709551615n);
  for (const args of [[], ['abc'], ['-1'], ['1', '2'], ['18446744073709551616'], ['0x10']])
    t.throws(() => checkJobArg(args), { instanceOf: BadArguments }, JSON.stringify(args));
});

test('optarc burn, status and drives refuse bad arguments with exit 2 and connect to nothing', async (t) => {
  const port = String(await freePort());
  const cases = [
    ['burn', '--copies', '0', '--media', 'DVD+R'],
    ['burn', '--copies', '3'],
    ['burn', '--copies', '65', '--media', 'BD-R', '--wait'],
    ['burn', '--media', 'BD-R', '--label', 'A'.repeat(33)],
    ['burn', 'now', '--media', 'BD-R'],
    ['status'],
    ['status', 'seven', '--wait'],
    ['status', '1', '2'],
    ['drives', 'sr0'],
  ];
  for (const args of cases) {
    const r = await run(BIN.optarc, [...args, '--port', port, '--timeout', '2']);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /^optarc: (burn|status|drives|--label)/, args.join(' '));
  }
  const j = await run(BIN.optarc, ['status', '--json', '--port', port]);
  t.is(j.code, 2);
  t.deepEqual(JSON.parse(j.stderr), {
    error: 'USAGE',
    message: 'status needs one job number: optarc status <job>',
  });
});

test('optarc --help names --wait and the exit code of a failed job', async (t) => {
  const r = await run(BIN.optarc, ['--help']);
  t.is(r.code, 0);
  t.regex(r.stdout, /burn --copies N --media PROFILE \[--label L\] \[--append\] \[--wait\] \[--progress\] \[--json\]/);
  t.regex(r.stdout, /status <job> \[--wait\]/);
  t.regex(r.stdout, /drives \[--json\]/);
  t.regex(r.stdout, /--wait {16}burn, status: follow the job/);
  t.regex(r.stdout, /6 the job waited for failed/);
});

// ---------------------------------------------------------------------------
// End to end against a scripted stand-in of the optarc program.

const SESSION = 0x5eed_0001n;

interface Script {
  statuses: OptarcJobStatus[];
  drives?: OptarcDrive[];
}

async function scriptedAgent(t: { teardown(fn: () => unknown): void }, script: Script) {
  const calls: string[] = [];
  const sessions = new Set<bigint>();
  let polls = 0;
  const ok = (value?: unknown) => ({ tag: OptarcStatus.OPTARC_OK, value });
  const handlers: Record<number, (a: any) => unknown> = {
    [OPTARC_HELLO]: () =>
      ok({
        protocol: 1,
        session: SESSION,
        lease_seconds: 60,
        quota: { limit: 1n << 30n, used: 0n },
        agent_time: { seconds: BigInt(Math.floor(Date.now() / 1000)), nanoseconds: 0 },
        charset: 'utf-8',
        max_data: 1 << 20,
      }),
    [OPTARC_BYE]: () => ok(),
    [OPTARC_BURN]: (a) => {
      calls.push(`BURN ${a.mode} ${a.copies} ${a.media} ${a.label}`);
      return ok(42n);
    },
    [OPTARC_JOB_STATUS]: (a) => {
      sessions.add(a.session);
      if (a.job !== 42n)
        return { tag: OptarcStatus.OPTARC_NO_SUCH_JOB, value: { detail: { tag: 20 }, message: 'no job' } };
      return ok(script.statuses[Math.min(polls++, script.statuses.length - 1)]);
    },
    [OPTARC_DRIVES]: () => ok(script.drives ?? []),
  };
  const procedures: Record<number, Procedure> = {};
  for (const [num, p] of Object.entries(createOptarcV1Procedures(createCodecs()))) {
    const h = handlers[Number(num)];
    if (!h) continue;
    procedures[Number(num)] = {
      name: p.name,
      args: p.args as Procedure['args'],
      result: p.result as Procedure['result'],
      handler: (a: any, _ctx: CallContext) => {
        calls.push(p.name);
        return h(a);
      },
    };
  }
  const server = new RpcServer({ closeTimeoutMs: 500 });
  server.addProgram({ name: 'optarc-scripted', prog: OPTARC_PROG, vers: OPTARC_V1, procedures });
  const port = await server.listen(0);
  t.teardown(() => server.close());
  return { port, calls, sessions, polls: () => polls };
}

test('optarc burn --wait --json: polls in its session until DONE, prints the final status, exits 0', async (t) => {
  const agent = await scriptedAgent(t, { statuses: [running(), running({ percent: 70 }), done()] });
  const r = await run(BIN.optarc, [
    'burn',
    '--copies',
    '3',
    '--media',
    'BD-R',
    '--label',
    'SCANS',
    '--wait',
    '--json',
    '--port',
    String(agent.port),
  ]);
  t.is(r.code, 0, r.stderr);
  const final = JSON.parse(r.stdout);
  t.is(final.job, '42');
  t.is(final.stateName, 'done');
  t.is(final.volumes[1].copies.length, 2);
  t.is(r.stderr, '', 'no progress with --json unless asked for');
  t.is(agent.polls(), 3);
  t.deepEqual([...agent.sessions], [SESSION], 'JOB_STATUS in the session BURN ran in');
  t.is(agent.calls.filter((c) => c.startsWith('BURN ')).join(), 'BURN 1 3 BD-R SCANS');
  t.is(agent.calls.at(-1), 'OPTARC_BYE');
});

test('optarc burn --wait --progress (not a terminal): changed lines only, then FAILED exits 6 with the message', async (t) => {
  const agent = await scriptedAgent(t, { statuses: [running(), running(), running(), failed()] });
  const r = await run(BIN.optarc, ['burn', '--media', 'BD-R', '--wait', '--progress', '--port', String(agent.port)]);
  t.is(r.code, 6, r.stderr);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.filter((l) => l === progressLines(running())[0]).length, 1, 'an unchanged status is not printed again');
  t.deepEqual(lines.slice(0, 3), progressLines(running()));
  t.true(lines.includes('job 42 failed failed [############--------]  60%'), r.stderr);
  t.is(lines.at(-1), `optarc: job 42 failed: ${failed().message}`);
  t.true(r.stdout.startsWith('job 42\njob 42: failed, step failed, 60%\n'), r.stdout);
  t.true(r.stdout.includes(failed().message));
  t.is(agent.calls.at(-1), 'OPTARC_BYE');

  const again = await scriptedAgent(t, { statuses: [failed()] });
  const j = await run(BIN.optarc, ['status', '42', '--wait', '--json', '--port', String(again.port)]);
  t.is(j.code, 6);
  t.is(JSON.parse(j.stdout).stateName, 'failed');
  t.deepEqual(JSON.parse(j.stderr), { error: 'JOB_FAILED', message: `job 42 failed: ${failed().message}` });
});

test('optarc status without --wait reports once and exits 0 whatever the state; drives prints the table', async (t) => {
  const drives: OptarcDrive[] = [
    { name: 'sr0', address: '/dev/sr0', loaded: true, media: 'BD-R', vsn: 'OPT1', busy: false },
  ];
  const agent = await scriptedAgent(t, { statuses: [failed()], drives });
  const r = await run(BIN.optarc, ['status', '42', '--port', String(agent.port)]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${summaryText(failed())}\n`);
  const missing = await run(BIN.optarc, ['status', '43', '--port', String(agent.port)]);
  t.is(missing.code, 4);
  t.regex(missing.stderr, /OPTARC_NO_SUCH_JOB/);
  const d = await run(BIN.optarc, ['drives', '--port', String(agent.port)]);
  t.is(d.code, 0, d.stderr);
  t.is(d.stdout, `${drivesTable(drives)}\n`);
  const dj = await run(BIN.optarc, ['drives', '--json', '--port', String(agent.port)]);
  t.deepEqual(JSON.parse(dj.stdout), drives);
});

// ---------------------------------------------------------------------------
// The C client.

test.before(() => buildCClient());

function runC(args: string[]) {
  return run(C_CLIENT.burn, args, {}, 60_000);
}

test('optarc-burn with bad arguments prints its usage, -w included, and exits 2', async (t) => {
  for (const args of [
    [],
    ['-x', '127.0.0.1'],
    ['-w'],
    ['-w', '127.0.0.1', '--copies', '0', '--media', 'BD-R'],
    ['127.0.0.1', '--media', 'BD-R'],
  ]) {
    const r = await runC(args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, /^usage: optarc-burn .*\[-w\] <host>/);
    t.regex(r.stderr, /^ {2}-w, --wait {5}follow the job until it is done or failed/m);
    t.is(r.stdout, '');
  }
});

const C_BURN = ['--copies', '3', '--media', 'BD-R', '-w', '127.0.0.1'];

test('optarc-burn -w: a line per change on stderr, the final message on stdout, exit 0 on DONE', async (t) => {
  const agent = await scriptedAgent(t, { statuses: [running(), running(), done()] });
  const r = await runC(['--port', String(agent.port), ...C_BURN]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `job 42\njob 42 done: ${done().message}\n`);
  t.deepEqual(r.stderr.split('\n'), [
    'job 42 running burn 55%',
    'OPT000001 writing 45% copy1@sr0 writing 45% copy2@sr1 writing 44% copy3@sr2 bad (attempt 2) (write error at LBA 1234)',
    'OPT000002 mastered 100% copy1@- waiting 0% copy2@- waiting 0% copy3@- waiting 0%',
    'job 42 done done 100%',
    'OPT000001 finished 100% copy1@sr0 verified 100% copy2@sr1 verified 100%',
    'OPT000002 finished 100% copy1@sr0 verified 100% copy2@sr1 verified 100%',
    '',
  ]);
  t.is(agent.polls(), 3);
  t.deepEqual([...agent.sessions], [SESSION]);
  t.is(agent.calls.at(-1), 'OPTARC_BYE');
});

test('optarc-burn -w: exit 1 and the message on stdout when the job FAILED; without -w no polling', async (t) => {
  const agent = await scriptedAgent(t, { statuses: [failed()] });
  const r = await runC(['--port', String(agent.port), ...C_BURN]);
  t.is(r.code, 1, r.stderr);
  t.is(r.stdout, `job 42\njob 42 failed: ${failed().message}\n`);
  t.regex(r.stderr, /^job 42 failed failed 60%$/m);
  t.is(agent.calls.at(-1), 'OPTARC_BYE');

  const quiet = await scriptedAgent(t, { statuses: [failed()] });
  const q = await runC(['--port', String(quiet.port), '--copies', '1', '--media', 'BD-R', '127.0.0.1']);
  t.is(q.code, 0, q.stderr);
  t.is(q.stdout, 'job 42\n');
  t.is(quiet.polls(), 0);
});

const valgrind = spawnSync('valgrind', ['--version']).status === 0;
(valgrind ? test : test.skip)('optarc-burn -w frees every XDR result (valgrind: no leak, no error)', async (t) => {
  const agent = await scriptedAgent(t, { statuses: [running(), running({ percent: 60 }), done()] });
  const r = await run(
    'valgrind',
    [
      '--leak-check=full',
      '--errors-for-leak-kinds=definite,indirect',
      '--error-exitcode=99',
      C_CLIENT.burn,
      '--port',
      String(agent.port),
      ...C_BURN,
    ],
    {},
    90_000,
  );
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /ERROR SUMMARY: 0 errors/);
  t.regex(r.stderr, /definitely lost: 0 bytes|no leaks are possible/);
});
