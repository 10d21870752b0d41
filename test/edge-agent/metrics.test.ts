/**
 * The metrics endpoint: a real catalog with jobs, volumes, copies and files in
 * every state, stand-in drives (busy, loaded, missing), a job's progress and a
 * staging area given as plain inputs; scraped over HTTP and read back with a
 * small parser of the text exposition format 0.0.4 that also checks the
 * document is valid (TYPE before samples, no duplicate series, escapes).
 */
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { Logger } from '../../clients/oncrpc/logger.js';
import { Catalog } from '../../edge-agent/catalog/catalog.js';
import { DrivePool } from '../../edge-agent/drives/drive-pool.js';
import { JobProgress } from '../../edge-agent/jobs/job-progress.js';
import {
  agentVersion,
  createCollector,
  EXPOSITION_CONTENT_TYPE,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  type MetricFamily,
  type MetricsSources,
  render,
  startMetricsServer,
} from '../../edge-agent/metrics/index.js';
import { ROOT } from '../helpers/processes.js';
import { standIns } from './stand-in-drives.js';

// --- a parser of the exposition format that refuses what Prometheus would ----

interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  raw: string;
}

interface ParsedFamily {
  help?: string;
  type?: string;
}

interface Parsed {
  families: Map<string, ParsedFamily>;
  samples: ParsedSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseExposition(text: string): Parsed {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the document does not end with a line feed');
  const families = new Map<string, ParsedFamily>();
  const samples: ParsedSample[] = [];
  const series = new Set<string>();
  const finished = new Set<string>();
  let current: string | undefined;
  const enter = (name: string, line: number) => {
    if (name === current) return;
    if (finished.has(name)) throw new Error(`line ${line}: ${name} appears again after other metrics`);
    if (current !== undefined) finished.add(current);
    current = name;
  };
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, i) => {
    const n = i + 1;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!NAME.test(name!) || NAME.exec(name)![0] !== name) throw new Error(`line ${n}: bad metric name ${name}`);
      enter(name!, n);
      const f = families.get(name!) ?? {};
      families.set(name!, f);
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`line ${n}: second HELP for ${name}`);
        f.help = unescapeText(rest, false, n);
      } else {
        if (f.type !== undefined) throw new Error(`line ${n}: second TYPE for ${name}`);
        if (samples.some((s) => s.name === name)) throw new Error(`line ${n}: TYPE for ${name} after its samples`);
        if (!TYPES.has(rest)) throw new Error(`line ${n}: unknown type ${rest}`);
        f.type = rest;
      }
      return;
    }
    const name = NAME.exec(line)?.[0];
    if (!name) throw new Error(`line ${n}: no metric name in ${JSON.stringify(line)}`);
    let at = name.length;
    const labels: Record<string, string> = {};
    if (line[at] === '{') {
      at++;
      while (line[at] !== '}') {
        const label = LABEL.exec(line.slice(at))?.[0];
        if (!label) throw new Error(`line ${n}: bad label name at ${at}`);
        if (label in labels) throw new Error(`line ${n}: label ${label} twice`);
        at += label.length;
        if (line.slice(at, at + 2) !== '="') throw new Error(`line ${n}: expected =" after ${label}`);
        at += 2;
        let raw = '';
        while (line[at] !== '"') {
          if (at >= line.length) throw new Error(`line ${n}: unterminated label value`);
          if (line[at] === '\\') {
            raw += line.slice(at, at + 2);
            at += 2;
          } else raw += line[at++];
        }
        at++;
        labels[label] = unescapeText(raw, true, n);
        if (line[at] === ',') at++;
        else if (line[at] !== '}') throw new Error(`line ${n}: expected , or } at ${at}`);
      }
      at++;
    }
    const rest = line.slice(at);
    const m = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
    if (!m) throw new Error(`line ${n}: bad value part ${JSON.stringify(rest)}`);
    const value = parseValue(m[1]!, n);
    const family = families.get(name);
    if (family?.type === undefined) throw new Error(`line ${n}: sample of ${name} without a TYPE line`);
    enter(name, n);
    const key = `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(labels[k])}`)
      .join(',')}}`;
    if (series.has(key)) throw new Error(`line ${n}: duplicate series ${key}`);
    series.add(key);
    samples.push({ name, labels, value, raw: line });
  });
  return { families, samples };
}

function unescapeText(s: string, quotes: boolean, line: number): string {
  return s.replace(/\\(.?)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quotes) return '"';
    throw new Error(`line ${line}: bad escape \\${c}`);
  });
}

function parseValue(s: string, line: number): number {
  if (s === 'NaN') return Number.NaN;
  if (s === '+Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad value ${s}`);
  return Number(s);
}

/** The one sample of `name` whose labels are exactly `labels`. */
function value(p: Parsed, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  const found = p.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${want}`);
  return found[0]?.value;
}

function samplesOf(p: Parsed, name: string): ParsedSample[] {
  return p.samples.filter((s) => s.name === name);
}

// --- fixtures ---------------------------------------------------------------

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'optarc-metrics-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

function recordingLog(): Logger & { lines: { level: string; msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  return {
    lines,
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields }),
  };
}

const file = (name: string) => ({
  path: Buffer.from(name),
  size: 10n,
  sha256: Buffer.alloc(32, 1),
  mode: 0o644,
  mtime: { seconds: 0n, nanoseconds: 0 },
});

const volumes = (n: number) =>
  Array.from({ length: n }, () => ({ media: 'dvd', label: 'L', requiredCopies: 2, pieces: [] }));

/** Jobs done 3, running 2, queued 1, failed 0; volumes finished 3, hot 2, mastered 1; copies verified 3, bad 2, written 1, writing 4; files archived 3, staged 2. */
function fillCatalog(catalog: Catalog) {
  const jobs = Array.from({ length: 6 }, (_, i) => catalog.createJob('burn', 'c1', `client${i}`, {}));
  const [j1, j2, j3, j4, j5, j6] = jobs as [
    (typeof jobs)[0],
    (typeof jobs)[0],
    (typeof jobs)[0],
    (typeof jobs)[0],
    (typeof jobs)[0],
    (typeof jobs)[0],
  ];
  for (const j of [j1, j2, j3]) catalog.setJobState(j.id, 'done');
  for (const j of [j4, j5]) catalog.setJobState(j.id, 'running');

  catalog.addFiles(j1.id, 'c1', [file('a'), file('b'), file('c')]);
  catalog.archiveFiles(j1.id);
  catalog.addFiles(j4.id, 'c1', [file('d'), file('e')]);

  const done = catalog.planVolumes(j1.id, 'c1', volumes(3));
  for (const v of done) catalog.setVolumeState(v.id, 'finished');
  const live = catalog.planVolumes(j4.id, 'c1', volumes(3));
  catalog.setVolumeState(live[0]!.id, 'mastered');

  for (const copy of [1, 2, 3]) {
    const c = catalog.beginCopy(done[0]!.id, copy, `d${copy}`);
    catalog.copyVerified(c.id, { sha256: Buffer.alloc(32), md5: '0'.repeat(32) }, null);
  }
  catalog.copyBad(catalog.beginCopy(done[1]!.id, 1, 'd1').id, 'write error');
  catalog.copyWritten(catalog.beginCopy(done[1]!.id, 1, 'd2').id, null);
  catalog.copyBad(catalog.beginCopy(done[1]!.id, 2, 'd3').id, 'verify mismatch');
  for (const copy of [1, 2, 3, 4]) catalog.beginCopy(done[2]!.id, copy, `d${copy}`);
  return { jobs: { j1, j2, j3, j4, j5, j6 } };
}

const WEIRD_COPY_DRIVE = 'we"ird\\drive\nx';
const WEIRD_BAY = 'bay "3" \\ old';

/** Job 4 burning two volumes (68% done by hand: (0.3 + 0.5 * 0.1234) + (0.8 + 0.2 * 0.999) over 2), job 5 just begun. */
function progressOf(j4: number, j5: number) {
  const p4 = new JobProgress();
  p4.step = 'burn';
  const a = p4.volume(100, 'OPT000004');
  a.step = 'writing';
  const a1 = p4.copy(100, 'OPT000004', { copy: 1, attempt: 1, drive: 'd1', total: 10_000n });
  a1.step = 'writing';
  a1.bytes = 1234n;
  const a2 = p4.copy(100, 'OPT000004', { copy: 2, attempt: 2, drive: WEIRD_COPY_DRIVE, total: 10_000n });
  a2.step = 'writing';
  a2.bytes = 5678n;
  p4.copy(100, 'OPT000004', { copy: 3, attempt: 1, drive: 'd3', total: 10_000n }); // waiting
  const b = p4.volume(101, 'OPT000005');
  b.step = 'verifying';
  const b1 = p4.copy(101, 'OPT000005', { copy: 1, attempt: 1, drive: 'd2', total: 10_000n });
  b1.step = 'verifying';
  b1.bytes = 9999n;
  const b2 = p4.copy(101, 'OPT000005', { copy: 2, attempt: 1, drive: 'd1', total: 10_000n });
  b2.step = 'verified';
  b2.bytes = 10_000n;
  const p5 = new JobProgress();
  p5.step = 'ingest';
  return {
    a1,
    active: [
      { job: j4, progress: p4 },
      { job: j5, progress: p5 },
    ],
  };
}

/** Three stand-in drives: d1 reserved and empty, d2 with a blank loaded, the odd-named bay gone. */
async function drives(t: ExecutionContext, dir: string) {
  const configs = await standIns(dir, ['d1', 'd2', WEIRD_BAY]);
  const pool = new DrivePool(configs);
  await fs.writeFile(path.join(dir, 'd2', 'medium'), '');
  await fs.rm(path.join(dir, WEIRD_BAY), { recursive: true });
  const r = await pool.reserve('job-4', 1, { exclude: ['d2', WEIRD_BAY] });
  t.teardown(() => r.release());
  return pool;
}

async function scrape(port: number, urlPath = '/metrics', init: RequestInit = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, init);
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    allow: res.headers.get('allow'),
    body: await res.text(),
  };
}

async function serve(t: ExecutionContext, collect: () => MetricFamily[] | Promise<MetricFamily[]>, log?: Logger) {
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0, collect, ...(log ? { log } : {}) });
  t.teardown(() => server.close().catch(() => {}));
  return server;
}

// --- the tests ----------------------------------------------------------------

test('a scrape reports the catalog, jobs, drives, staging, build and process, read at scrape time', async (t) => {
  const dir = await tempDir(t);
  const catalog = new Catalog(path.join(dir, 'catalog.sqlite'));
  t.teardown(() => catalog.close());
  const { jobs } = fillCatalog(catalog);
  const { active, a1 } = progressOf(jobs.j4.id, jobs.j5.id);
  const pool = await drives(t, dir);
  const log = recordingLog();
  const sources: MetricsSources = {
    version: '9.8.7-test',
    catalog,
    jobs: { active: () => active },
    pool,
    staging: { used: 9007199254740993n },
    log,
  };
  const server = await serve(t, createCollector(sources), log);

  const before = Date.now() / 1000;
  const first = await scrape(server.port);
  t.is(first.status, 200);
  t.is(first.type, EXPOSITION_CONTENT_TYPE);
  const p = parseExposition(first.body);

  t.deepEqual(
    samplesOf(p, 'optarc_jobs').map((s) => [s.labels.state, s.value]),
    [
      ['queued', 1],
      ['running', 2],
      ['done', 3],
      ['failed', 0],
    ],
  );
  t.deepEqual(
    samplesOf(p, 'optarc_volumes').map((s) => [s.labels.state, s.value]),
    [
      ['hot', 2],
      ['mastered', 1],
      ['finished', 3],
      ['mirrored', 0],
      ['failed', 0],
    ],
  );
  t.deepEqual(
    samplesOf(p, 'optarc_copies').map((s) => [s.labels.state, s.value]),
    [
      ['writing', 4],
      ['written', 1],
      ['verified', 3],
      ['bad', 2],
    ],
  );
  t.deepEqual(
    samplesOf(p, 'optarc_catalog_files').map((s) => [s.labels.state, s.value]),
    [
      ['staged', 2],
      ['archived', 3],
    ],
  );

  t.is(value(p, 'optarc_job_percent', { job: String(jobs.j4.id) }), 68);
  t.is(value(p, 'optarc_job_percent', { job: String(jobs.j5.id) }), 0);
  t.is(samplesOf(p, 'optarc_job_percent').length, 2);

  const copy = (vsn: string, c: number, drive: string, step: string) => ({
    job: String(jobs.j4.id),
    vsn,
    copy: String(c),
    drive,
    step,
  });
  t.is(value(p, 'optarc_copy_bytes', copy('OPT000004', 1, 'd1', 'writing')), 1234);
  t.is(value(p, 'optarc_copy_bytes', copy('OPT000004', 2, WEIRD_COPY_DRIVE, 'writing')), 5678);
  t.is(value(p, 'optarc_copy_bytes', copy('OPT000005', 1, 'd2', 'verifying')), 9999);
  t.is(samplesOf(p, 'optarc_copy_bytes').length, 3, 'waiting and verified copies are not running');

  t.is(value(p, 'optarc_drive_busy', { drive: 'd1' }), 1);
  t.is(value(p, 'optarc_drive_busy', { drive: 'd2' }), 0);
  t.is(value(p, 'optarc_drive_busy', { drive: WEIRD_BAY }), 0);
  t.is(value(p, 'optarc_drive_loaded', { drive: 'd1' }), 0);
  t.is(value(p, 'optarc_drive_loaded', { drive: 'd2' }), 1);
  t.is(value(p, 'optarc_drive_loaded', { drive: WEIRD_BAY }), 0);
  t.is(value(p, 'optarc_drive_missing', { drive: 'd1' }), 0);
  t.is(value(p, 'optarc_drive_missing', { drive: 'd2' }), 0);
  t.is(value(p, 'optarc_drive_missing', { drive: WEIRD_BAY }), 1);

  // 2^53 + 1: exact only if the bigint is written as it is
  t.true(first.body.includes('\noptarc_staging_used_bytes 9007199254740993\n'));
  t.is(value(p, 'optarc_build_info', { version: '9.8.7-test' }), 1);
  for (const source of ['catalog', 'jobs', 'drives', 'staging']) {
    t.is(value(p, 'optarc_metrics_source_up', { source }), 1, source);
  }

  t.true(value(p, 'process_resident_memory_bytes')! > 1024 * 1024);
  t.true(value(p, 'process_cpu_seconds_total')! > 0);
  const start = value(p, 'process_start_time_seconds')!;
  t.true(start <= before && start >= before - process.uptime() - 5, `start ${start}, now ${before}`);

  // label values escaped on the wire: quote, backslash and line feed
  t.true(first.body.includes(`drive="we\\"ird\\\\drive\\nx"`), 'the copy drive label is escaped');
  t.true(first.body.includes(`optarc_drive_missing{drive="bay \\"3\\" \\\\ old"} 1\n`));

  // HELP and TYPE for every family, with the right types
  for (const [name, f] of p.families) {
    t.truthy(f.help, `${name} has HELP`);
    t.is(f.type, name === 'process_cpu_seconds_total' ? 'counter' : 'gauge', name);
  }
  t.deepEqual([...p.families.keys()].sort(), [
    'optarc_build_info',
    'optarc_catalog_files',
    'optarc_copies',
    'optarc_copy_bytes',
    'optarc_drive_busy',
    'optarc_drive_loaded',
    'optarc_drive_missing',
    'optarc_job_percent',
    'optarc_jobs',
    'optarc_metrics_source_up',
    'optarc_staging_used_bytes',
    'optarc_volumes',
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'process_start_time_seconds',
  ]);
  t.deepEqual(
    log.lines.filter((l) => l.level !== 'info'),
    [],
  );

  // the next scrape sees what changed meanwhile
  catalog.setJobState(jobs.j6.id, 'running');
  a1.bytes = 4321n;
  const second = parseExposition((await scrape(server.port)).body);
  t.is(value(second, 'optarc_jobs', { state: 'queued' }), 0);
  t.is(value(second, 'optarc_jobs', { state: 'running' }), 3);
  t.is(value(second, 'optarc_copy_bytes', copy('OPT000004', 1, 'd1', 'writing')), 4321);
});

test('/healthz, unknown paths, other methods, HEAD, and close', async (t) => {
  let scrapes = 0;
  const server = await serve(t, () => {
    scrapes++;
    return [{ name: 'x', help: 'h', type: 'gauge', samples: [{ value: 1 }] }];
  });
  const health = await scrape(server.port, '/healthz');
  t.is(health.status, 200);
  t.is(health.body, 'ok\n');
  t.is(scrapes, 0, 'a health check does not collect');
  const missing = await scrape(server.port, '/metricz');
  t.is(missing.status, 404);
  t.is((await scrape(server.port, '/')).status, 404);
  t.is((await scrape(server.port, '/metrics/extra')).status, 404);
  const post = await scrape(server.port, '/metrics', { method: 'POST', body: 'x' });
  t.is(post.status, 405);
  t.is(post.allow, 'GET, HEAD');
  t.is(scrapes, 0);
  const withQuery = await scrape(server.port, '/metrics?name[]=x');
  t.is(withQuery.status, 200);
  t.is(withQuery.body, '# HELP x h\n# TYPE x gauge\nx 1\n');
  const head = await scrape(server.port, '/metrics', { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(head.body, '');
  t.is(head.type, EXPOSITION_CONTENT_TYPE);
  t.is(scrapes, 2);

  await server.close();
  await t.throwsAsync(fetch(`http://127.0.0.1:${server.port}/healthz`));
});

test('a collector that throws or renders an invalid document is a 500 and a log line', async (t) => {
  const log = recordingLog();
  const throwing = await serve(
    t,
    () => {
      throw new Error('catalog locked');
    },
    log,
  );
  const r = await scrape(throwing.port);
  t.is(r.status, 500);
  t.false(r.body.includes('#'));
  t.deepEqual(
    log.lines.filter((l) => l.level === 'error').map((l) => l.fields?.error),
    ['catalog locked'],
  );

  const duplicate = await serve(
    t,
    () => [
      {
        name: 'dup',
        help: 'h',
        type: 'gauge',
        samples: [
          { labels: { a: '1', b: '2' }, value: 1 },
          { labels: { b: '2', a: '1' }, value: 2 },
        ],
      },
    ],
    log,
  );
  t.is((await scrape(duplicate.port)).status, 500);
  t.regex(String(log.lines.at(-1)?.fields?.error), /two samples for the series/);
});

test('a failing or slow source leaves its metrics out and says so; the rest is answered', async (t) => {
  const log = recordingLog();
  let pending: ((v: never) => void) | undefined;
  const collect = createCollector({
    version: '1',
    catalog: {
      counts() {
        throw new Error('database is locked');
      },
    },
    pool: {
      list: () =>
        new Promise((resolve) => {
          pending = resolve;
        }),
    },
    jobs: { active: () => [] },
    staging: { used: 5n },
    log,
    drivesTimeoutMs: 50,
  });
  const server = await serve(t, collect, log);
  const r = await scrape(server.port);
  t.is(r.status, 200);
  const p = parseExposition(r.body);
  t.is(value(p, 'optarc_metrics_source_up', { source: 'catalog' }), 0);
  t.is(value(p, 'optarc_metrics_source_up', { source: 'drives' }), 0);
  t.is(value(p, 'optarc_metrics_source_up', { source: 'jobs' }), 1);
  t.is(value(p, 'optarc_metrics_source_up', { source: 'staging' }), 1);
  t.false(p.families.has('optarc_jobs'));
  t.false(p.families.has('optarc_drive_busy'));
  t.is(value(p, 'optarc_staging_used_bytes'), 5);
  t.true(p.families.has('optarc_job_percent'), 'declared even with no running job');
  t.is(samplesOf(p, 'optarc_job_percent').length, 0);
  t.deepEqual(
    log.lines.filter((l) => l.level === 'warn').map((l) => [l.fields?.source, String(l.fields?.error)]),
    [
      ['catalog', 'database is locked'],
      ['drives', 'the drives did not answer within 50 ms'],
    ],
  );
  t.truthy(pending);
});

test('states the code does not know are reported too; known states are zero-filled', async (t) => {
  const collect = createCollector({
    version: '1',
    catalog: { counts: () => ({ jobs: { paused: 5 }, volumes: {}, copies: { bad: 7 }, files: {} }) },
  });
  const p = parseExposition(render(await collect()));
  t.deepEqual(
    samplesOf(p, 'optarc_jobs').map((s) => [s.labels.state, s.value]),
    [
      ['queued', 0],
      ['running', 0],
      ['done', 0],
      ['failed', 0],
      ['paused', 5],
    ],
  );
  t.is(value(p, 'optarc_copies', { state: 'bad' }), 7);
  t.is(samplesOf(p, 'optarc_volumes').length, 5);
  t.false(p.families.has('optarc_drive_busy'), 'no pool, no drive metrics');
});

test('exposition: escapes, values, label order, and what it refuses', (t) => {
  t.is(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  t.is(escapeLabelValue('plain é ☃'), 'plain é ☃');
  t.is(escapeHelp('a\\b"c\nd'), 'a\\\\b"c\\nd');
  t.is(formatValue(Number.NaN), 'NaN');
  t.is(formatValue(Number.POSITIVE_INFINITY), '+Inf');
  t.is(formatValue(Number.NEGATIVE_INFINITY), '-Inf');
  t.is(formatValue(0.25), '0.25');
  t.is(formatValue(2n ** 64n), '18446744073709551616');
  t.is(
    render([
      { name: 'm', help: 'two\nlines \\ here', type: 'untyped', samples: [{ labels: { z: '1', a: 'q"' }, value: -1 }] },
    ]),
    '# HELP m two\\nlines \\\\ here\n# TYPE m untyped\nm{a="q\\"",z="1"} -1\n',
  );
  t.is(render([]), '');
  const bad = (f: Partial<MetricFamily>) => () => render([{ name: 'm', help: 'h', type: 'gauge', samples: [], ...f }]);
  t.throws(bad({ name: '1m' }), { message: /bad metric name/ });
  t.throws(bad({ name: 'm-x' }), { message: /bad metric name/ });
  t.throws(bad({ samples: [{ labels: { 'a-b': 'x' }, value: 1 }] }), { message: /bad label name/ });
  t.throws(bad({ samples: [{ labels: { __name__: 'x' }, value: 1 }] }), { message: /bad label name/ });
  t.throws(bad({ samples: [{ value: 1 }, { labels: {}, value: 2 }] }), { message: /two samples/ });
  t.throws(
    () =>
      render([
        { name: 'm', help: 'h', type: 'gauge', samples: [] },
        { name: 'm', help: 'h', type: 'gauge', samples: [] },
      ]),
    { message: /declared twice/ },
  );
});

test('the version comes from package.json', async (t) => {
  const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  t.regex(pkg.version, /^\d+\.\d+\.\d+/);
  t.is(agentVersion(), pkg.version);
});

test("the test's parser refuses invalid documents", (t) => {
  const ok = '# HELP a h\n# TYPE a gauge\na{x="1"} 1\na{x="2"} 2\n';
  t.is(parseExposition(ok).samples.length, 2);
  const refused: [string, RegExp][] = [
    ['# TYPE a gauge\na 1', /line feed/],
    ['a 1\n', /without a TYPE/],
    ['a 1\n# TYPE a gauge\n', /without a TYPE/],
    ['# TYPE a gauge\n# TYPE a gauge\na 1\n', /second TYPE/],
    ['# HELP a x\n# HELP a y\n# TYPE a gauge\n', /second HELP/],
    ['# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n', /duplicate series/],
    ['# TYPE a gauge\na{x="1",y="2"} 1\na{y="2",x="1"} 2\n', /duplicate series/],
    ['# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x="2"} 2\n', /appears again/],
    ['# TYPE a gauge\na{x="a\\tb"} 1\n', /bad escape/],
    ['# TYPE a gauge\na{x="a"b"} 1\n', /expected , or }/],
    ['# TYPE a gauge\na{x="1"} one\n', /bad value/],
    ['# TYPE a gauge\na{x="1"}  1\n', /bad value part/],
    ['# TYPE a gaug\n', /unknown type/],
    ['# TYPE a gauge\na{x="1",x="2"} 1\n', /label x twice/],
  ];
  for (const [doc, why] of refused) t.throws(() => parseExposition(doc), { message: why }, JSON.stringify(doc));
  const p = parseExposition('# TYPE a gauge\na{x="q\\"\\\\\\n"} +Inf\n');
  t.is(p.samples[0]!.labels.x, 'q"\\\n');
  t.is(p.samples[0]!.value, Number.POSITIVE_INFINITY);
});
