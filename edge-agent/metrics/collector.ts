/**
 * The agent's metrics, read from its parts at scrape time: nothing counts
 * along the way, so nothing in the pipeline knows metrics exist. The catalog
 * gives rows per state, the job runner the progress of its running jobs, the
 * drive pool each drive's state, the staging area its bytes, the mirror its
 * session, controls, queue and counters (MirrorService.status()), the process
 * its memory and CPU, the fixity records (fixity/fixity-records.ts) the
 * checks by result, the failing targets and the last pass.
 *
 * Each source is read on its own: one that throws or (the drives) takes too
 * long leaves its metrics out of that scrape, logs why, and shows as
 * `optarc_metrics_source_up{source} 0`; the others are still answered.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Logger, silentLogger } from '../../clients/oncrpc/logger.js';
import type { Catalog, CopyState, JobState, VolumeState } from '../catalog/catalog.js';
import type { DriveState } from '../drives/drive.js';
import { type FixityCounts, fixityCounts } from '../fixity/fixity-records.js';
import type { CopyStep, JobProgress } from '../jobs/job-progress.js';
import type { MirrorStatus } from '../mirror/mirror-service.js';
import type { MetricFamily, Sample } from './exposition.js';

/** Rows per state in each catalog table (Catalog.counts()). */
export interface CatalogCounts {
  jobs: Record<string, number>;
  volumes: Record<string, number>;
  copies: Record<string, number>;
  files: Record<string, number>;
}

export interface MetricsSources {
  /** The agent's version, for optarc_build_info (see agentVersion()). */
  version: string;
  catalog?: { counts(): CatalogCounts };
  /** The job runner (JobRunner.active()). */
  jobs?: { active(): { job: number; progress: JobProgress }[] };
  /** The drive pool (DrivePool.list()). */
  pool?: { list(signal?: AbortSignal): Promise<DriveState[]> };
  /** The staging area (StagingArea.used). */
  staging?: { readonly used: bigint };
  /**
   * The mirror to the gateway (RunningMirror.service), when one is configured;
   * status() may answer undefined while it is not started yet (its metrics are
   * then left out of that scrape).
   */
  mirror?: { status(): MirrorStatus | undefined };
  /** The catalog whose fixity records (passes and checks) are reported. */
  fixity?: Catalog;
  log?: Logger;
  /** How long the drives may take to say what they hold before a scrape goes on without them. Default 5000. */
  drivesTimeoutMs?: number;
}

export type Collect = () => Promise<MetricFamily[]>;

// every state a table can hold is reported, 0 when no row has it, so a rate or an alert never sees a series vanish
const JOB_STATES = ['queued', 'running', 'done', 'failed'] as const satisfies readonly JobState[];
const VOLUME_STATES = ['hot', 'mastered', 'finished', 'mirrored', 'failed'] as const satisfies readonly VolumeState[];
const COPY_STATES = ['writing', 'written', 'verified', 'bad'] as const satisfies readonly CopyState[];
const FILE_STATES = ['staged', 'archived'] as const;
/** Copies that are moving bytes now. */
const RUNNING_COPY_STEPS: ReadonlySet<CopyStep> = new Set<CopyStep>(['writing', 'verifying']);

type Source = 'catalog' | 'jobs' | 'drives' | 'staging' | 'mirror' | 'fixity';

export function createCollector(sources: MetricsSources): Collect {
  const log = sources.log ?? silentLogger;
  const drivesTimeoutMs = sources.drivesTimeoutMs ?? 5000;

  return async () => {
    const up = new Map<Source, boolean>();
    const families: MetricFamily[] = [];
    const attempt = async (source: Source, read: () => MetricFamily[] | Promise<MetricFamily[]>) => {
      try {
        families.push(...(await read()));
        up.set(source, true);
      } catch (e) {
        up.set(source, false);
        log.warn('metrics source failed', { source, error: (e as Error).message });
      }
    };

    const { catalog, jobs, pool, staging, mirror, fixity } = sources;
    if (catalog) await attempt('catalog', () => catalogFamilies(catalog.counts()));
    if (jobs) await attempt('jobs', () => jobFamilies(jobs.active()));
    if (pool) await attempt('drives', async () => driveFamilies(await listDrives(pool, drivesTimeoutMs)));
    if (staging) {
      await attempt('staging', () => [
        gauge('optarc_staging_used_bytes', 'Bytes staged across every working directory, committed or not.', [
          { value: staging.used },
        ]),
      ]);
    }
    if (mirror) {
      await attempt('mirror', () => {
        const status = mirror.status();
        return status ? mirrorFamilies(status) : [];
      });
    }
    if (fixity) await attempt('fixity', () => fixityFamilies(fixityCounts(fixity)));

    families.push(
      gauge(
        'optarc_metrics_source_up',
        'Whether this scrape could read the source (1) or left its metrics out (0).',
        [...up].map(([source, ok]) => ({ labels: { source }, value: ok ? 1 : 0 })),
      ),
      gauge('optarc_build_info', 'The running agent; always 1.', [{ labels: { version: sources.version }, value: 1 }]),
      ...processFamilies(),
    );
    return families;
  };
}

function gauge(name: string, help: string, samples: Sample[]): MetricFamily {
  return { name, help, type: 'gauge', samples };
}

/** Known states first (0 when absent), then any state the table holds that this code does not know. */
function byState(known: readonly string[], counts: Record<string, number>): Sample[] {
  const states = [...known, ...Object.keys(counts).filter((s) => !known.includes(s))];
  return states.map((state) => ({ labels: { state }, value: counts[state] ?? 0 }));
}

function catalogFamilies(c: CatalogCounts): MetricFamily[] {
  return [
    gauge('optarc_jobs', 'Jobs in the catalog, by state.', byState(JOB_STATES, c.jobs)),
    gauge('optarc_volumes', 'Volumes in the catalog, by state.', byState(VOLUME_STATES, c.volumes)),
    gauge(
      'optarc_copies',
      'Copies (discs, or attempts at one) in the catalog, by state.',
      byState(COPY_STATES, c.copies),
    ),
    gauge('optarc_catalog_files', 'Files in the catalog, by state.', byState(FILE_STATES, c.files)),
  ];
}

function jobFamilies(active: { job: number; progress: JobProgress }[]): MetricFamily[] {
  const percent: Sample[] = [];
  const bytes: Sample[] = [];
  for (const { job, progress } of active) {
    if (!progress) continue;
    percent.push({ labels: { job: String(job) }, value: progress.percent() });
    for (const v of progress.volumes.values()) {
      for (const c of v.copies) {
        if (!RUNNING_COPY_STEPS.has(c.step)) continue;
        bytes.push({
          labels: { job: String(job), vsn: v.vsn, copy: String(c.copy), drive: c.drive, step: c.step },
          value: c.bytes,
        });
      }
    }
  }
  return [
    gauge('optarc_job_percent', 'Completion of each running job, 0 to 100.', percent),
    gauge(
      'optarc_copy_bytes',
      'Bytes written (step writing) or read back (step verifying) so far by each copy being burned.',
      bytes,
    ),
  ];
}

function counter(name: string, help: string, value: number): MetricFamily {
  return { name, help, type: 'counter', samples: [{ value }] };
}

/** The mirror's state now; the counters count since the agent started. */
export function mirrorFamilies(m: MirrorStatus): MetricFamily[] {
  const upload = m.current
    ? [{ labels: { vsn: m.current.vsn }, value: Math.min(m.current.bytesDone, m.current.bytes) }]
    : [];
  return [
    gauge('optarc_mirror_connected', 'Whether the agent holds a session with the gateway (1) or not (0).', [
      { value: m.connected ? 1 : 0 },
    ]),
    gauge('optarc_mirror_paused', 'Whether the gateway paused the mirror (1) or not (0).', [
      { value: m.paused ? 1 : 0 },
    ]),
    gauge(
      'optarc_mirror_rate_limit_bytes_per_second',
      'The upload limit in force (the least of the agent, the gateway policy and commands); +Inf when none.',
      [{ value: m.bytesPerSecond ?? Number.POSITIVE_INFINITY }],
    ),
    gauge('optarc_mirror_queue_volumes', 'Volume sessions in the outbox waiting for the gateway to acknowledge them.', [
      { value: m.queued },
    ]),
    gauge('optarc_mirror_upload_bytes_done', 'Bytes of the volume being uploaded now that S3 holds.', upload),
    gauge(
      'optarc_mirror_upload_bytes',
      'Size of the image of the volume being uploaded now.',
      m.current ? [{ labels: { vsn: m.current.vsn }, value: m.current.bytes }] : [],
    ),
    counter('optarc_mirror_bytes_sent_total', 'Image bytes sent to S3 since the agent started.', m.bytesSent),
    counter(
      'optarc_mirror_volumes_mirrored_total',
      'Volumes the gateway acknowledged since the agent started.',
      m.volumesMirrored,
    ),
    counter('optarc_mirror_failures_total', 'Mirror attempts that failed since the agent started.', m.failures),
    gauge('optarc_mirror_last_error', "Whether the mirror's last attempt or connection failed (1) or not (0).", [
      { value: m.lastError ? 1 : 0 },
    ]),
  ];
}

/** Fixity from the catalog's records: the counters count every check ever recorded, across restarts. */
export function fixityFamilies(f: FixityCounts): MetricFamily[] {
  return [
    {
      name: 'optarc_fixity_checks_total',
      help: 'Fixity checks recorded (a cloud image or a disc hashed against its SHA-256), by result.',
      type: 'counter',
      samples: [
        { labels: { result: 'ok' }, value: f.checks.ok },
        { labels: { result: 'failed' }, value: f.checks.failed },
      ],
    },
    counter(
      'optarc_fixity_failures_total',
      'Fixity checks that failed (the image did not hash to its SHA-256).',
      f.checks.failed,
    ),
    gauge('optarc_fixity_failing', 'Targets (cloud image or disc of a volume) whose latest fixity check failed.', [
      { value: f.failing },
    ]),
    gauge(
      'optarc_fixity_last_pass_timestamp_seconds',
      'When the last fixity pass finished, in seconds since the epoch (0: none has).',
      [{ value: f.lastPassFinishedAt === null ? 0 : f.lastPassFinishedAt / 1000 }],
    ),
    gauge('optarc_fixity_pass_open', 'Whether a fixity pass is running or waiting to resume (1) or not (0).', [
      { value: f.passOpen ? 1 : 0 },
    ]),
  ];
}

async function listDrives(pool: NonNullable<MetricsSources['pool']>, ms: number): Promise<DriveState[]> {
  const signal = AbortSignal.timeout(ms);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the drives did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([pool.list(signal), late]);
  } finally {
    clearTimeout(timer);
  }
}

function driveFamilies(drives: DriveState[]): MetricFamily[] {
  const flag = (pick: (d: DriveState) => boolean): Sample[] =>
    drives.map((d) => ({ labels: { drive: d.name }, value: pick(d) ? 1 : 0 }));
  return [
    gauge(
      'optarc_drive_busy',
      'Whether the drive is reserved by a job or writing (1) or free (0).',
      flag((d) => d.busy),
    ),
    gauge(
      'optarc_drive_loaded',
      'Whether a disc is in the drive (1) or not (0).',
      flag((d) => d.loaded),
    ),
    gauge(
      'optarc_drive_missing',
      'Whether the drive has gone missing (1) or is present (0).',
      flag((d) => d.missing),
    ),
  ];
}

/** This process's memory, CPU and start time (the names Prometheus' own clients use). */
export function processFamilies(): MetricFamily[] {
  const cpu = process.cpuUsage();
  return [
    gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', [{ value: process.memoryUsage.rss() }]),
    {
      name: 'process_cpu_seconds_total',
      help: 'Total user and system CPU time spent in seconds.',
      type: 'counter',
      samples: [{ value: (cpu.user + cpu.system) / 1e6 }],
    },
    gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', [
      { value: Math.floor(performance.timeOrigin) / 1000 },
    ]),
  ];
}

let version: string | undefined;

/** The version in optarc's package.json (found upward from this file, in the sources or in dist/). */
export function agentVersion(): string {
  if (version !== undefined) return version;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'optarc' && typeof pkg.version === 'string') {
        version = pkg.version;
        return version;
      }
    } catch {
      // no package.json here (or not ours): look further up
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      version = 'unknown';
      return version;
    }
    dir = parent;
  }
}
