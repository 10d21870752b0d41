/**
 * The manifest index (gateway/search) at archive scale: synthetic manifests of
 * 10 million file entries (by default) across 1,000 volumes and 10 sites,
 * indexed into the embedded SQLite index and into PostgreSQL (a fresh database
 * on the shared test cluster, test/helpers/test-postgres.ts) in the same run,
 * then queried. Every figure has a baseline measured in the same run:
 *
 *   ingest:  `index.bulk(() => indexVolume(...) for every volume)`, what
 *            `optarc-gateway reindex` does, timed over the index calls only (the
 *            manifests are generated between them, untimed) including the drop
 *            and rebuild of the secondary indexes; then 20 more volumes, one
 *            `indexVolume` each, into the full index (as live acks add them).
 *            Baseline, the "floor": the same entries in the same engine into a
 *            plain table with no index at all (SQLite: 64-row INSERTs, one
 *            transaction per volume, the index's pragmas; PostgreSQL: INSERT ...
 *            SELECT FROM unnest of arrays, one statement and transaction per
 *            volume).
 *   size:    the SQLite file after a WAL checkpoint (TRUNCATE); PostgreSQL's
 *            pg_database_size; per million entries, against the floor's.
 *   queries: N of each kind, drawn (seeded) from entries known to exist, each
 *            scoped to the file's site with limit 50, after a warm-up; the
 *            kinds and backends interleaved, their order rotated. Every answer
 *            is checked (the expected file on the page, or the page full and the
 *            file after its last hit; every hit matching; in order; "new since"
 *            pages compared whole). Baseline: grep (awk for the date query) over a
 *            flat listing of every entry, what one does without an index.
 *
 * An extra SQLite scenario (1M entries by default) gives every file a unique
 * name, the worst case for the string dictionaries the indexes rely on.
 * Databases and listings live under var/bench-search/run-<pid>/ and in databases of the
 * test cluster, and are removed at the end (unless `keep`).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { VolumeManifest } from '../../gateway/protocol/volume-manifest.js';
import { type FileSearch, searchFiles } from '../../gateway/search/file-search.js';
import { globMatcher } from '../../gateway/search/path-matchers.js';
import { PostgresIndex } from '../../gateway/search/postgres-index.js';
import type { FileHit, FileKey, FileQuery, IndexedVolume, SearchIndex } from '../../gateway/search/search-index.js';
import { SqliteIndex } from '../../gateway/search/sqlite-index.js';
import type { PostgresInfo } from '../../infra/postgres/postgres.js';
import { ROOT } from '../helpers/processes.js';
import { freshDatabase, postgresMissing, sharedPostgres } from '../helpers/test-postgres.js';

const DAY = 86_400_000;
/** How long a site's volumes span (their nights and createdAt): about 3 years. */
const SPAN_DAYS = 3 * 365;
const LIMIT = 50;
/** A glob scan's budget: generous, so every glob query is answered whole (the gateway's default is 1500 ms). */
const GLOB_BUDGET_MS = 60_000;
const GREP_RUNS = 5;
const P95_GOAL_MS = 20;
const INGEST_GOAL = 200_000;

export type Backend = 'sqlite' | 'postgres';
export const KINDS = ['substring', 'span', 'glob', 'sha256', 'path', 'since'] as const;
export type Kind = (typeof KINDS)[number];

export interface SearchBenchOptions {
  entries: number;
  volumes: number;
  sites: number;
  /** Timed queries of each kind per backend. */
  queries: number;
  /** Untimed warm-up queries of each kind per backend. */
  warmup: number;
  /** Volumes indexed one at a time into the full index. */
  incremental: number;
  /** Entries of the unique-names SQLite scenario (0: skip it), with the main scenario's entries per volume. */
  uniqueEntries: number;
  /** Keep the databases and listings (for a look at query plans); else they are removed. */
  keep: boolean;
  log: (s: string) => void;
}

// ---------------------------------------------------------------- the synthetic archive

interface Shape {
  name: string;
  entries: number;
  volumes: number;
  sites: number;
  uniqueNames: boolean;
}

const SITE_NAMES = [
  'la-silla',
  'paranal',
  'mauna-kea',
  'la-palma',
  'kitt-peak',
  'siding-spring',
  'cerro-pachon',
  'calar-alto',
  'sutherland',
  'hanle',
];
/** An instrument and the size of its raw frame (FITS: a multiple of 2880 bytes). */
const INSTRUMENTS: { name: string; frame: number }[] = [
  { name: 'wfc', frame: 33_566_400 },
  { name: 'spectro', frame: 8_398_080 },
  { name: 'nircam', frame: 16_782_400 },
  { name: 'allsky', frame: 2_102_400 },
  { name: 'guider', frame: 527_040 },
  { name: 'echelle', frame: 18_001_440 },
  { name: 'polarimeter', frame: 4_199_040 },
];
/** Kinds of frame, weighted: a run is one kind (a science run, a bias series...). */
const FRAME_KINDS = ['sci', 'sci', 'sci', 'sci', 'sci', 'sci', 'bias', 'flat', 'dark', 'arc'];
const FILTERS = ['g', 'r', 'i', 'z'];

/** mulberry32, seeded from a text. */
function rng(seed: string): () => number {
  let a = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const between = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pad = (n: number, width: number) => String(n).padStart(width, '0');
const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function siteName(i: number): string {
  return SITE_NAMES[i] ?? `site-${pad(i, 3)}`;
}

function siteInstruments(site: number): { name: string; frame: number }[] {
  const r = rng(`instruments/${site}`);
  const pool = [...INSTRUMENTS];
  const out: { name: string; frame: number }[] = [];
  for (let n = 2 + (site % 3); n > 0 && pool.length > 0; n--)
    out.push(pool.splice(Math.floor(r() * pool.length), 1)[0]!);
  return out;
}

function volumeEntries(shape: Shape, i: number): number {
  const base = Math.floor(shape.entries / shape.volumes);
  return i < shape.volumes && i < shape.entries % shape.volumes ? base + 1 : base;
}

interface RawFile {
  path: string;
  size: number;
  mtimeMs: number;
  session: number;
}

/**
 * Volume i (i >= shape.volumes: the extra ones, later in time) of the archive: site i % sites, the
 * k-th of its site, holding the nights of a window of the site's ~3 years, files listed by session
 * then path, as a manifest lists them. Deterministic: a function of (shape, i) only.
 */
export function makeVolume(shape: Shape, i: number): IndexedVolume {
  const site = i % shape.sites;
  const k = Math.floor(i / shape.sites);
  const perSite = Math.ceil(shape.volumes / shape.sites);
  const window = Math.max(1, SPAN_DAYS / perSite);
  const siteStart = Date.UTC(2022, 0, 3) + site * 2 * DAY;
  const r = rng(`${shape.name}/volume/${i}`);
  const want = volumeEntries(shape, i);
  const instruments = siteInstruments(site);
  const day0 = Math.floor(k * window);
  const day1 = Math.max(day0 + 1, Math.floor((k + 1) * window));
  let nights: number[] = [];
  for (let d = day0; d < day1; d++) if (r() < 0.8) nights.push(d);
  if (nights.length === 0) nights = [day0];
  // a night makes a few hundred files at least (a small archive's volumes span more time, not thinner nights)
  const most = Math.max(1, Math.floor(want / 300));
  if (nights.length > most)
    nights = Array.from({ length: most }, (_, n) => nights[Math.floor((n * nights.length) / most)]!);
  const twoSessions = nights.length >= 2 && r() < 0.1;
  const secondFrom = twoSessions ? nights.length - Math.max(1, Math.floor(nights.length / 3)) : nights.length;
  const multiExtent = r() < 0.05;

  const raw: RawFile[] = [];
  const u = shape.uniqueNames;
  for (let n = 0; n < nights.length && raw.length < want; n++) {
    const night = siteStart + nights[n]! * DAY;
    const date = isoDate(night);
    const session = n >= secondFrom ? 2 : 1;
    const last = n === nights.length - 1;
    const quota = last
      ? want - raw.length
      : Math.min(want - raw.length, Math.ceil((want / nights.length) * (0.7 + 0.6 * r())));
    let made = 0;
    const emit = (p: string, size: number, mtimeMs: number) => {
      if (made >= quota) return;
      raw.push({ path: p, size, mtimeMs, session });
      made++;
    };
    // the evening: each instrument's README, calibration masters; the morning: its night log
    const clocks = instruments.map(() => night + 19 * 3_600_000 + Math.floor(r() * 1_800_000));
    const runs = instruments.map(() => 0);
    instruments.forEach((inst, j) => {
      const base = `${inst.name}/${date}`;
      const I = inst.name.toUpperCase();
      emit(u ? `${base}/README.${I}.${date}.txt` : `${base}/README.txt`, between(r, 800, 4000), night + 15 * 3_600_000);
      emit(
        u ? `${base}/${I}.${date}.night.log` : `${base}/night.log`,
        between(r, 2000, 200_000),
        night + 31 * 3_600_000,
      );
      emit(
        u ? `${base}/calib/${I}.${date}.master-bias.fits` : `${base}/calib/master-bias.fits`,
        inst.frame * 2,
        night + 17 * 3_600_000 + j * 60_000,
      );
      const first = Math.floor(r() * FILTERS.length);
      const second = (first + 1 + Math.floor(r() * (FILTERS.length - 1))) % FILTERS.length;
      for (const f of [FILTERS[first]!, FILTERS[second]!]) {
        emit(
          u ? `${base}/calib/${I}.${date}.master-flat-${f}.fits` : `${base}/calib/master-flat-${f}.fits`,
          inst.frame * 2,
          night + 17 * 3_600_000 + j * 60_000 + 1000,
        );
      }
    });
    // the night's runs, round-robin over the instruments, until the night's share of the volume
    while (made < quota) {
      for (let j = 0; j < instruments.length && made < quota; j++) {
        const inst = instruments[j]!;
        const I = inst.name.toUpperCase();
        const run = `run-${pad(++runs[j]!, 3)}`;
        const dir = `${inst.name}/${date}/${run}`;
        const kind = pick(r, FRAME_KINDS);
        const frames = between(r, 10, 60);
        const exposure = kind === 'sci' ? between(r, 10, 120) * 1000 : between(r, 1, 10) * 1000;
        for (let f = 1; f <= frames; f++) {
          clocks[j]! += exposure + between(r, 3000, 10_000) + Math.floor(r() * 1000);
          const name = u ? `${I}.${new Date(clocks[j]!).toISOString().slice(0, 23)}.fits` : `${kind}-${pad(f, 5)}.fits`;
          emit(`${dir}/${name}`, inst.frame + 2880 * between(r, 0, 3), clocks[j]!);
        }
        emit(u ? `${dir}/${I}.${date}.${run}.log` : `${dir}/run.log`, between(r, 1000, 60_000), clocks[j]! + 5000);
        if (r() < 0.05) {
          emit(
            u ? `${dir}/${I}.${date}.${run}.quicklook.png` : `${dir}/quicklook.png`,
            between(r, 50_000, 450_000),
            clocks[j]! + 9000,
          );
        }
      }
    }
  }
  // a manifest lists a disc's files by session, then by their path in the image
  raw.sort((a, b) => a.session - b.session || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  const vsn = `OPT${pad(site, 2)}${pad(k + 1, 5)}`;
  const sname = siteName(site);
  const createdAt = siteStart + day1 * DAY + DAY + Math.floor(r() * 3 * DAY);
  let offset = 1024 * 1024;
  const align = (n: number) => Math.ceil(n / 2048) * 2048;
  const files = raw.map((f, entry) => {
    const parts = multiExtent && f.size > 1_000_000 && r() < 0.1 ? between(r, 2, 3) : 1;
    const extents: { offset: number; length: number }[] = [];
    for (let p = 0; p < parts; p++) {
      const length = p < parts - 1 ? Math.floor(f.size / parts) : f.size - Math.floor(f.size / parts) * (parts - 1);
      extents.push({ offset, length });
      offset = align(offset + length) + (parts > 1 ? 2048 * between(r, 1, 4) : 0);
    }
    return {
      path: f.path,
      pathBase64: Buffer.from(f.path).toString('base64'),
      imagePath: f.path,
      size: f.size,
      sha256: createHash('sha256').update(`${shape.name}/${sname}/${vsn}/${entry}`).digest('hex'),
      mode: r() < 0.9 ? 0o100644 : 0o100444,
      mtimeSeconds: Math.floor(f.mtimeMs / 1000),
      mtimeNanoseconds: (f.mtimeMs % 1000) * 1_000_000 + Math.floor(r() * 1_000_000),
      session: f.session,
      extents,
    };
  });
  const manifest: VolumeManifest = {
    format: 'optarc-volume-manifest',
    version: 1,
    site: sname,
    vsn,
    label: `${sname} ${instruments.map((x) => x.name).join('+')} ${isoDate(siteStart + nights[0]! * DAY)}..${isoDate(siteStart + nights.at(-1)! * DAY)}`,
    media: 'bd-r-xl-128',
    clientId: `${sname}-archiver`,
    createdAt: new Date(createdAt).toISOString(),
    sessions: twoSessions ? 2 : 1,
    appendable: twoSessions,
    image: { bytes: offset + 2048, sha256: createHash('sha256').update(`${shape.name}/image/${vsn}`).digest('hex') },
    copies: [
      {
        copy: 1,
        drive: 'drive-0',
        medium: `${sname} shelf ${pad(k % 40, 2)}/slot ${k}`,
        verifiedAt: new Date(createdAt + 3_600_000).toISOString(),
      },
      { copy: 2, drive: 'drive-1', medium: null, verifiedAt: new Date(createdAt + 5_400_000).toISOString() },
    ],
    files,
  };
  return {
    site: sname,
    vsn,
    key: `sites/${sname}/volumes/${vsn}/image.iso`,
    versionId: `v-${vsn.toLowerCase()}`,
    manifestKey: `sites/${sname}/volumes/${vsn}/manifest.json`,
    ackedAt: createdAt + 7_200_000,
    manifest,
  };
}

// ---------------------------------------------------------------- queries and their checks

interface Probe {
  kind: Kind;
  site: string;
  /** What is asked, for people. */
  text: string;
  query: FileSearch;
  /** The sampled file that must be found (absent for "new since", whose page is known whole). */
  expected?: FileKey;
  /** The whole first page, when it is known. */
  page?: FileKey[];
  test: (h: FileHit) => boolean;
  /** The baseline command over the listing: argv. */
  baseline: (listing: string) => string[];
}

const cmpKey = (a: FileKey, b: FileKey) =>
  a.site < b.site ? -1 : a.site > b.site ? 1 : a.vsn < b.vsn ? -1 : a.vsn > b.vsn ? 1 : a.entry - b.entry;

/** Why a page is wrong, or undefined when it is right. */
function wrongAnswer(p: Probe, hits: FileHit[]): string | undefined {
  for (let i = 0; i < hits.length; i++) {
    const h = hits[i]!;
    if (h.site !== p.site) return `hit ${h.site}/${h.vsn}#${h.entry} is of another site`;
    if (!p.test(h)) return `hit ${h.site}/${h.vsn}#${h.entry} ${h.path} does not match`;
    if (i > 0 && cmpKey(hits[i - 1]!, h) >= 0) return `hits out of order at ${i}`;
  }
  if (hits.length > LIMIT) return `${hits.length} hits, more than the limit ${LIMIT}`;
  if (p.page) {
    const same = p.page.length === hits.length && p.page.every((k, i) => cmpKey(k, hits[i]!) === 0);
    return same ? undefined : `page of ${hits.length} hits, not the ${p.page.length} expected`;
  }
  const e = p.expected!;
  if (hits.some((h) => cmpKey(h, e) === 0)) return undefined;
  if (hits.length === LIMIT && cmpKey(e, hits[LIMIT - 1]!) > 0) return undefined;
  return `${e.site}/${e.vsn}#${e.entry} not found (${hits.length} hits)`;
}

const lowerAscii = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const reEscape = (s: string) => s.replace(/[.[\]*^$\\]/g, '\\$&');

/** What a probe keeps of its file: plain values only (a closure over the volume would keep all its files alive). */
interface Sampled {
  site: string;
  vsn: string;
  entry: number;
  path: string;
  sha256: string;
  /** The volume's createdAt, ms. */
  createdAt: number;
}

function sampled(v: IndexedVolume, entry: number): Sampled {
  const f = v.manifest.files[entry]!;
  return {
    site: v.site,
    vsn: v.vsn,
    entry,
    path: f.path,
    sha256: f.sha256,
    createdAt: Date.parse(v.manifest.createdAt),
  };
}

function makeProbe(kind: Kind, f: Sampled): Probe {
  const v = { site: f.site };
  const expected = { site: f.site, vsn: f.vsn, entry: f.entry };
  const [, date, run, name] = f.path.split('/') as [string, string, string, string];
  const lower = (s: string) => s.toLowerCase();
  const sites = [f.site];
  const grepF =
    (needle: string, ...flags: string[]) =>
    (listing: string) => ['grep', '-F', ...flags, '-c', '--', needle, listing];
  switch (kind) {
    case 'substring': {
      const q = `${date}/${run}`;
      return {
        kind,
        site: v.site,
        text: `\`${q}\``,
        query: { sites, pathContains: q, limit: LIMIT },
        expected,
        test: (h) => lower(h.path).includes(lower(q)),
        baseline: grepF(q, '-i'),
      };
    }
    case 'span': {
      const q = `${run}/${name.replace(/\.fits$/, '')}`;
      return {
        kind,
        site: v.site,
        text: `\`${q}\``,
        query: { sites, pathContains: q, limit: LIMIT },
        expected,
        test: (h) => lower(h.path).includes(lower(q)),
        baseline: grepF(q, '-i'),
      };
    }
    case 'glob': {
      const glob = `*/${date}/${run}/*.fits`;
      const m = globMatcher(glob);
      return {
        kind,
        site: v.site,
        text: `\`${glob}\``,
        query: { sites, glob, limit: LIMIT },
        expected,
        test: (h) => m.test(h.path),
        baseline: (listing) => ['grep', '-c', '--', `\t[^\t]*/${reEscape(`${date}/${run}/`)}.*\\.fits$`, listing],
      };
    }
    case 'sha256':
      return {
        kind,
        site: v.site,
        text: `\`${f.sha256.slice(0, 12)}…\``,
        query: { sites, sha256: f.sha256, limit: LIMIT },
        expected,
        test: (h) => h.sha256 === f.sha256,
        baseline: grepF(f.sha256),
      };
    case 'path':
      return {
        kind,
        site: v.site,
        text: `\`${f.path}\``,
        query: { sites, path: f.path, limit: LIMIT },
        expected,
        test: (h) => h.path === f.path,
        baseline: grepF(`\t${f.path}`),
      };
    case 'since': {
      const since = f.createdAt;
      const iso = new Date(since).toISOString();
      return {
        kind,
        site: v.site,
        text: `created since ${iso.slice(0, 10)}`,
        query: { sites, volumeCreatedSince: since, limit: LIMIT },
        test: (h) => h.volumeCreatedAt >= since,
        baseline: (listing) => [
          'awk',
          '-F',
          '\t',
          '-v',
          `s=${v.site}`,
          '-v',
          `t=${iso}`,
          '$1 == s && $3 >= t { n++ } END { print n + 0 }',
          listing,
        ],
      };
    }
  }
}

// ---------------------------------------------------------------- the floors: plain tables, no indexes

interface Floor {
  insertVolume(v: IndexedVolume): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

const SQLITE_FLOOR_ROWS = 64;
const SQLITE_FLOOR_COLUMNS = 11;

class SqliteFloor implements Floor {
  private readonly db: Database.Database;
  private readonly volume: Database.Statement;
  private readonly many: Database.Statement;
  private readonly one: Database.Statement;

  constructor(readonly file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('cache_size = -65536');
    this.db.exec(`
      CREATE TABLE floor_volumes (id INTEGER PRIMARY KEY, site TEXT, vsn TEXT, label TEXT, media TEXT, key TEXT,
        version_id TEXT, manifest_key TEXT, image_bytes INTEGER, image_sha256 TEXT, sessions INTEGER, copies TEXT,
        created_at INTEGER, acked_at INTEGER, files INTEGER, bytes INTEGER);
      CREATE TABLE floor_files (volume_id INTEGER, entry INTEGER, path TEXT, size INTEGER, mtime_s INTEGER,
        sha256 BLOB, mode INTEGER, session INTEGER, ext_offset INTEGER, ext_length INTEGER, extra TEXT);`);
    this.volume = this.db.prepare(
      'INSERT INTO floor_volumes VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const row = `(${Array(SQLITE_FLOOR_COLUMNS).fill('?').join(', ')})`;
    this.many = this.db.prepare(`INSERT INTO floor_files VALUES ${Array(SQLITE_FLOOR_ROWS).fill(row).join(', ')}`);
    this.one = this.db.prepare(`INSERT INTO floor_files VALUES ${row}`);
  }

  async insertVolume(v: IndexedVolume): Promise<void> {
    const m = v.manifest;
    this.db.transaction(() => {
      let bytes = 0;
      for (const f of m.files) bytes += f.size;
      const id = this.volume.run(
        v.site,
        v.vsn,
        m.label,
        m.media,
        v.key,
        v.versionId,
        v.manifestKey,
        m.image.bytes,
        m.image.sha256,
        m.sessions,
        JSON.stringify(m.copies),
        Date.parse(m.createdAt),
        v.ackedAt,
        m.files.length,
        bytes,
      ).lastInsertRowid;
      const batch: unknown[] = [];
      m.files.forEach((f, entry) => {
        const single = f.extents.length === 1 && !f.part ? f.extents[0]! : undefined;
        batch.push(
          id,
          entry,
          f.path,
          f.size,
          f.mtimeSeconds,
          Buffer.from(f.sha256, 'hex'),
          f.mode,
          f.session,
          single?.offset ?? null,
          single?.length ?? null,
          single ? null : JSON.stringify(f.part ? { extents: f.extents, part: f.part } : { extents: f.extents }),
        );
        if (batch.length === SQLITE_FLOOR_ROWS * SQLITE_FLOOR_COLUMNS) {
          this.many.run(batch);
          batch.length = 0;
        }
      });
      for (let i = 0; i < batch.length; i += SQLITE_FLOOR_COLUMNS)
        this.one.run(batch.slice(i, i + SQLITE_FLOOR_COLUMNS));
    })();
  }

  async size(): Promise<number> {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return fs.statSync(this.file).size;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/** A text[] literal (as postgres-index.ts sends them): every element quoted, `"` and `\` escaped. */
function textArray(values: readonly string[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = `"${values[i]!.replace(/["\\]/g, '\\$&')}"`;
  return `{${parts.join(',')}}`;
}
const intArray = (values: readonly number[]) => `{${values.join(',')}}`;

class PgFloor implements Floor {
  private constructor(private readonly c: pg.Client) {}

  static async open(url: string): Promise<PgFloor> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`
      CREATE TABLE floor_volumes (site text, vsn text, label text, media text, key text, version_id text,
        manifest_key text, image_bytes bigint, image_sha256 text, sessions integer, copies text, created_at bigint,
        acked_at bigint, files bigint, bytes bigint);
      CREATE TABLE floor_files (site text COLLATE "C", vsn text COLLATE "C", entry integer, path text COLLATE "C",
        size bigint, mtime_s bigint, sha256 text COLLATE "C", detail text);`);
    return new PgFloor(c);
  }

  async insertVolume(v: IndexedVolume): Promise<void> {
    const m = v.manifest;
    const n = m.files.length;
    const entries = new Array<number>(n);
    const paths = new Array<string>(n);
    const sizes = new Array<number>(n);
    const mtimes = new Array<number>(n);
    const shas = new Array<string>(n);
    const details = new Array<string>(n);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const f = m.files[i]!;
      entries[i] = i;
      paths[i] = f.path;
      sizes[i] = f.size;
      mtimes[i] = f.mtimeSeconds;
      shas[i] = f.sha256;
      details[i] = JSON.stringify(
        f.part
          ? { mode: f.mode, session: f.session, extents: f.extents, part: f.part }
          : { mode: f.mode, session: f.session, extents: f.extents },
      );
      bytes += f.size;
    }
    const c = this.c;
    await c.query('BEGIN');
    try {
      await c.query(
        'INSERT INTO floor_volumes VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)',
        [
          v.site,
          v.vsn,
          m.label,
          m.media,
          v.key,
          v.versionId,
          v.manifestKey,
          m.image.bytes,
          m.image.sha256,
          m.sessions,
          JSON.stringify(m.copies),
          Date.parse(m.createdAt),
          v.ackedAt,
          n,
          bytes,
        ],
      );
      await c.query(
        `INSERT INTO floor_files SELECT $1, $2, u.* FROM unnest($3::int[], $4::text[], $5::bigint[], $6::bigint[],
           $7::text[], $8::text[]) AS u`,
        [
          v.site,
          v.vsn,
          intArray(entries),
          textArray(paths),
          intArray(sizes),
          intArray(mtimes),
          `{${shas.join(',')}}`,
          textArray(details),
        ],
      );
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  async size(): Promise<number> {
    const { rows } = await this.c.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n');
    return Number(rows[0]!.n);
  }

  async close(): Promise<void> {
    await this.c.end();
  }
}

// ---------------------------------------------------------------- measuring

const hr = () => process.hrtime.bigint();
const since = (t0: bigint) => Number(hr() - t0) / 1e9;

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** Nearest-rank percentile. */
export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
};

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        // grep -c exits 1 when it counts nothing: still an answer
        if (err && !(cmd === 'grep' && (err as { code?: unknown }).code === 1)) {
          reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
        } else resolve(String(stdout));
      },
    );
  });
}

function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

function dirBytes(dir: string): number {
  let n = 0;
  try {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      n += e.isDirectory() ? dirBytes(p) : e.isFile() ? fs.statSync(p).size : 0;
    }
  } catch {}
  return n;
}

function removeSqlite(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
}

export interface IngestFigures {
  entries: number;
  /** entries/s of the index calls over each tenth of the volumes, in order (how the rate holds up as the index grows). */
  tenths: number[];
  /** Whole time of the index calls: the bulk's start (indexes dropped), every call, its end (indexes built). */
  seconds: number;
  buildSeconds: number;
}

export interface Plan {
  ms: number;
  /** SQLite: each statement the query ran (on index_files), its time and plan. */
  statements?: { label: string; ms: number; plan: string[] }[];
  /** What is shown: the whole plan (SQLite), the nodes handling many rows (PostgreSQL). */
  lines: string[];
  /** Every node of the plan, for checks. */
  nodes: string[];
}

export interface QueryFigures {
  /** Each timed query's milliseconds. */
  ms: number[];
  /** Answers that failed their check, and the first one's story. */
  wrong: number;
  firstWrong?: string;
  /** Hits on each timed query's page. */
  hits: number[];
}

export interface BackendFigures {
  backend: Backend;
  error?: string;
  bulk?: IngestFigures;
  floorBulk?: IngestFigures;
  /** entries/s of each incremental volume. */
  incremental: number[];
  floorIncremental: number[];
  sizeBytes?: number;
  sizeEntries?: number;
  floorSizeBytes?: number;
  floorSizeEntries?: number;
  /** Largest tables and indexes: name, bytes. */
  parts: [string, number][];
  /**
   * The plan of one query of each kind that missed its goal, run once after the timed rounds: PostgreSQL's from
   * auto_explain (ANALYZE), SQLite's from EXPLAIN QUERY PLAN of the statement the index prepared.
   */
  plans: Partial<Record<Kind, Plan>>;
  /** SQLite: whether the index holds planner statistics (sqlite_stat1, from ANALYZE). */
  analyzed?: boolean;
  /** SQLite: the sqlite_stat1 rows a fresh index holds before the bulk load (none: 0), and one of them. */
  statsBeforeLoad?: { rows: number; example?: string };
  queries: Partial<Record<Kind, QueryFigures>>;
}

export interface ScenarioFigures {
  shape: Shape;
  backends: BackendFigures[];
  /** Per kind: the baseline's seconds (one per query run). */
  grep: Partial<Record<Kind, number[]>>;
  examples: Partial<Record<Kind, string>>;
  /** Facts of the timed queries' data (medians over the queries), to explain their times. */
  evidence: {
    /** Exact path: files (all sites) with the path's name, and in its directory. */
    pathNameFiles: number;
    pathDirFiles: number;
    /** run/frame name: directories (all sites) whose last component is the run, and files in them. */
    spanRunDirs: number;
    spanRunDirFiles: number;
    /** run/frame name: files whose name starts with the frame. */
    spanNameFiles: number;
    /** New since: files of the site's volumes created since (what matches, before the limit). */
    sinceFiles: number;
    /** Entries per site. */
    siteFiles: number;
  };
  listingBytes: number;
  queries: number;
  warmup: number;
  incrementalVolumes: number;
  entriesPerVolume: number;
  stats: {
    dirs: number;
    names: number;
    medianFilesPerDir: number;
    frames: number;
    multiExtentVolumes: number;
    multiExtentFiles: number;
    twoSessionVolumes: number;
    bytes: number;
    minSize: number;
    maxSize: number;
    mtimeRange: [number, number];
    createdRange: [number, number];
    instruments: number;
    /** Seconds to generate every manifest once (and check it against the schema), untimed elsewhere. */
    generateSeconds: number;
  };
}

export interface SearchFigures {
  main: ScenarioFigures;
  unique?: ScenarioFigures;
  postgresMissing?: string;
  postgresVersion?: string;
  sqliteVersion: string;
  load: [number, number];
  seconds: number;
  /** Most disk the run's files took at once (our files: databases, WAL, listings), and statfs's view. */
  peakOwnBytes: number;
  /** Free space on the filesystem at the start and at its lowest (other work on the VM included). */
  freeAtStart: number;
  minFree: number;
}

interface Run {
  o: SearchBenchOptions;
  work: string;
  pgInfo?: PostgresInfo;
  /** Our databases on the cluster: URL -> the oid (its directory under base/). */
  pgDatabases: Map<string, string>;
  walAtStart: number;
  peakOwn: number;
  minFree: number;
}

/** The bytes of the run's own files now: var/bench-search, our databases, the cluster's WAL beyond its size at the start. */
function ownBytes(r: Run): number {
  let n = dirBytes(r.work);
  if (r.pgInfo) {
    const data = path.join(r.pgInfo.dir, 'data');
    n += Math.max(0, dirBytes(path.join(data, 'pg_wal')) - r.walAtStart);
    for (const oid of r.pgDatabases.values()) n += dirBytes(path.join(data, 'base', oid));
  }
  return n;
}

async function addDatabase(r: Run): Promise<string> {
  const url = await freshDatabase(r.pgInfo!);
  const rows = await pgSql<{ oid: string }>(
    url,
    'SELECT oid::text AS oid FROM pg_database WHERE datname = current_database()',
  );
  r.pgDatabases.set(url, rows[0]!.oid);
  return url;
}

const dbName = (url: string) => new URL(url).pathname.slice(1);

async function dropDatabase(r: Run, url: string): Promise<void> {
  const c = new pg.Client({ connectionString: r.pgInfo!.url });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS "${dbName(url)}" WITH (FORCE)`);
    await c.query('CHECKPOINT');
  } finally {
    await c.end();
  }
  r.pgDatabases.delete(url);
}

async function pgSql<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

async function settle(r: Run): Promise<void> {
  // the previous phase's dirty pages and WAL are written now, not during the next timed phase
  if (r.pgInfo) await pgSql(r.pgInfo.url, 'CHECKPOINT').catch(() => {});
  await run('sync', []);
  track(r);
}

function track(r: Run): void {
  r.peakOwn = Math.max(r.peakOwn, ownBytes(r));
  r.minFree = Math.min(r.minFree, freeBytes(ROOT));
}

/** One scenario: the listing and samples, then per backend the floor and the index, then queries, increments, sizes. */
async function scenario(
  r: Run,
  shape: Shape,
  backends: Backend[],
  pgError: string | undefined,
): Promise<ScenarioFigures> {
  const { o } = r;
  const log = (s: string) => o.log(`search ${shape.name}: ${s}`);
  const entriesPerVolume = Math.floor(shape.entries / shape.volumes);
  const listing = path.join(r.work, `${shape.name}-listing.tsv`);

  // ---- pass 0: the listing, the samples, the data's shape (untimed)
  const qr = rng(`${shape.name}/queries`);
  const perKind = o.warmup + o.queries;
  const targets = new Map<number, { kind: Kind; entry: number; slot: number }[]>();
  for (const kind of KINDS) {
    for (let slot = 0; slot < perKind; slot++) {
      const vol = Math.floor(qr() * shape.volumes);
      const list = targets.get(vol) ?? [];
      list.push({ kind, entry: Math.floor(qr() * volumeEntries(shape, vol)), slot });
      targets.set(vol, list);
    }
  }
  const probes = new Map<Kind, Probe[]>(KINDS.map((k) => [k, new Array<Probe>(perKind)]));
  const probesOf = (k: Kind) => probes.get(k) as Probe[];
  const siteVolumes = new Map<string, { vsn: string; createdAt: number; files: number }[]>();
  const dirCounts = new Map<string, number>();
  const nameCounts = new Map<string, number>();
  const st = {
    frames: 0,
    multiExtentVolumes: 0,
    multiExtentFiles: 0,
    twoSessionVolumes: 0,
    bytes: 0,
    minSize: Number.POSITIVE_INFINITY,
    maxSize: 0,
    mtimeRange: [Number.POSITIVE_INFINITY, 0] as [number, number],
    createdRange: [Number.POSITIVE_INFINITY, 0] as [number, number],
  };
  const isFrame = (p: string) => /^[^/]+\/[^/]+\/run-\d+\/[^/]+\.fits$/.test(p);
  const fd = fs.openSync(listing, 'w');
  const tGen = hr();
  log(
    `generating ${shape.volumes} volumes (${shape.entries.toLocaleString('en-US')} entries) for the listing and samples`,
  );
  for (let i = 0; i < shape.volumes; i++) {
    const v = makeVolume(shape, i);
    const checked = VolumeManifest.safeParse(v.manifest);
    if (!checked.success) throw new Error(`volume ${i}: ${JSON.stringify(checked.error.issues[0])}`);
    const m = v.manifest;
    const createdAt = Date.parse(m.createdAt);
    const list = siteVolumes.get(v.site) ?? [];
    list.push({ vsn: v.vsn, createdAt, files: m.files.length });
    siteVolumes.set(v.site, list);
    st.createdRange = [Math.min(st.createdRange[0], createdAt), Math.max(st.createdRange[1], createdAt)];
    if (m.sessions === 2) st.twoSessionVolumes++;
    let multi = 0;
    const lines: string[] = [];
    for (const f of m.files) {
      const slash = f.path.lastIndexOf('/');
      const dir = f.path.slice(0, slash);
      dirCounts.set(dir, (dirCounts.get(dir) ?? 0) + 1);
      const name = f.path.slice(slash + 1);
      nameCounts.set(name, (nameCounts.get(name) ?? 0) + 1);
      if (f.extents.length > 1) multi++;
      if (isFrame(f.path)) st.frames++;
      st.bytes += f.size;
      st.minSize = Math.min(st.minSize, f.size);
      st.maxSize = Math.max(st.maxSize, f.size);
      st.mtimeRange = [Math.min(st.mtimeRange[0], f.mtimeSeconds), Math.max(st.mtimeRange[1], f.mtimeSeconds)];
      lines.push(`${v.site}\t${v.vsn}\t${m.createdAt}\t${f.sha256}\t${f.path}\n`);
    }
    if (multi > 0) {
      st.multiExtentVolumes++;
      st.multiExtentFiles += multi;
    }
    fs.writeSync(fd, lines.join(''));
    for (const t of targets.get(i) ?? []) {
      let entry = t.entry;
      if (t.kind === 'substring' || t.kind === 'span' || t.kind === 'glob') {
        // the next frame of a run from the drawn entry (a volume's runs hold most of its files)
        const n = m.files.length;
        let k = 0;
        while (k < n && !isFrame(m.files[(entry + k) % n]!.path)) k++;
        if (k === n) throw new Error(`volume ${i} holds no frame`);
        entry = (entry + k) % n;
      }
      probes.get(t.kind)![t.slot] = makeProbe(t.kind, sampled(v, entry));
    }
    if ((i + 1) % Math.max(1, Math.floor(shape.volumes / 10)) === 0)
      log(`  generated ${i + 1}/${shape.volumes} volumes`);
  }
  fs.closeSync(fd);
  const generateSeconds = since(tGen);
  // "new since": the first page is known whole: the site's volumes in VSN order, those created since, entry by entry
  for (const p of probes.get('since')!) {
    const sinceMs = p.query.volumeCreatedSince!;
    const page: FileKey[] = [];
    const vols = [...siteVolumes.get(p.site)!].sort((a, b) => (a.vsn < b.vsn ? -1 : a.vsn > b.vsn ? 1 : 0));
    for (const v of vols) {
      if (v.createdAt < sinceMs) continue;
      for (let e = 0; e < v.files && page.length < LIMIT; e++) page.push({ site: p.site, vsn: v.vsn, entry: e });
      if (page.length === LIMIT) break;
    }
    p.page = page;
  }
  const perDir = [...dirCounts.values()];
  const timed = (k: Kind) => probesOf(k).slice(o.warmup);
  const split = (q: string) => [q.slice(0, q.lastIndexOf('/')), q.slice(q.lastIndexOf('/') + 1)] as const;
  const runDirs = new Map<string, { dirs: number; files: number }>();
  for (const [dir, n] of dirCounts) {
    const run = dir.slice(dir.lastIndexOf('/') + 1);
    const x = runDirs.get(run) ?? { dirs: 0, files: 0 };
    x.dirs++;
    x.files += n;
    runDirs.set(run, x);
  }
  const spanRuns = timed('span').map((p) => runDirs.get(String(p.query.pathContains).split('/')[0] ?? '')!);
  const evidence: ScenarioFigures['evidence'] = {
    pathNameFiles: median(timed('path').map((p) => nameCounts.get(split(String(p.query.path))[1])!)),
    pathDirFiles: median(timed('path').map((p) => dirCounts.get(split(String(p.query.path))[0])!)),
    spanRunDirs: median(spanRuns.map((x) => x.dirs)),
    spanRunDirFiles: median(spanRuns.map((x) => x.files)),
    spanNameFiles: median(
      timed('span').map((p) => {
        const frame = lowerAscii(String(p.query.pathContains).split('/')[1] ?? '');
        let n = 0;
        for (const [name, count] of nameCounts) if (lowerAscii(name).startsWith(frame)) n += count;
        return n;
      }),
    ),
    sinceFiles: median(
      timed('since').map((p) =>
        siteVolumes
          .get(p.site)!
          .filter((v) => v.createdAt >= p.query.volumeCreatedSince!)
          .reduce((n, v) => n + v.files, 0),
      ),
    ),
    siteFiles: Math.round(shape.entries / shape.sites),
  };
  runDirs.clear();
  const stats: ScenarioFigures['stats'] = {
    dirs: dirCounts.size,
    names: nameCounts.size,
    medianFilesPerDir: median(perDir),
    instruments: new Set([...dirCounts.keys()].map((d) => d.split('/')[0])).size,
    generateSeconds,
    ...st,
  };
  dirCounts.clear();
  nameCounts.clear();
  const listingBytes = fs.statSync(listing).size;
  log(
    `generated in ${generateSeconds.toFixed(1)} s: ${stats.dirs} directories, ${stats.names} names, listing ${(listingBytes / 1e9).toFixed(2)} GB`,
  );
  track(r);

  const figures: ScenarioFigures = {
    shape,
    backends: [],
    grep: {},
    examples: Object.fromEntries(KINDS.map((k) => [k, probesOf(k)[o.warmup]!.text])),
    evidence,
    listingBytes,
    queries: o.queries,
    warmup: o.warmup,
    incrementalVolumes: o.incremental,
    entriesPerVolume,
    stats,
  };
  const extra = (j: number) => makeVolume(shape, shape.volumes + j);

  // ---- ingest: per backend, the floor (then removed), then the index (kept for the queries)
  const indexes = new Map<Backend, { index: SearchIndex; file?: string; url?: string }>();
  const figuresOf = new Map<Backend, BackendFigures>();
  const qOf = (b: Backend, k: Kind) => figuresOf.get(b)?.queries[k] as QueryFigures;
  for (const backend of backends) {
    const bf: BackendFigures = {
      backend,
      incremental: [],
      floorIncremental: [],
      parts: [],
      plans: {},
      queries: {},
    };
    figures.backends.push(bf);
    figuresOf.set(backend, bf);
    if (backend === 'postgres' && pgError) {
      bf.error = pgError;
      continue;
    }
    let floorUrl: string | undefined;
    let indexUrl: string | undefined;
    const floorFile = path.join(r.work, `${shape.name}-floor.sqlite`);
    const indexFile = path.join(r.work, `${shape.name}-index.sqlite`);
    try {
      // the floor
      await settle(r);
      let floor: Floor;
      if (backend === 'sqlite') {
        floor = new SqliteFloor(floorFile);
      } else {
        floorUrl = await addDatabase(r);
        floor = await PgFloor.open(floorUrl);
      }
      bf.floorBulk = await ingest(
        r,
        `${backend} floor`,
        shape,
        async (load) => load(),
        (v) => floor.insertVolume(v),
      );
      await settle(r);
      for (let j = 0; j < o.incremental; j++) {
        const v = extra(j);
        const t = hr();
        await floor.insertVolume(v);
        bf.floorIncremental.push(v.manifest.files.length / since(t));
      }
      bf.floorSizeBytes = await floor.size();
      bf.floorSizeEntries = shape.entries + o.incremental * entriesPerVolume;
      track(r);
      await floor.close();
      if (backend === 'sqlite') removeSqlite(floorFile);
      else await dropDatabase(r, floorUrl!);
      log(
        `${backend} floor: ${Math.round(bf.floorBulk.entries / bf.floorBulk.seconds)} entries/s bulk, ${Math.round(median(bf.floorIncremental))} incremental, ${(bf.floorSizeBytes / 1e9).toFixed(2)} GB`,
      );

      // the index
      await settle(r);
      let index: SearchIndex;
      if (backend === 'sqlite') {
        index = new SqliteIndex(indexFile);
        const peek = new Database(indexFile, { readonly: true });
        const hasStats =
          peek.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").pluck().get() === 1;
        const rows = hasStats
          ? (peek.prepare('SELECT tbl, stat FROM sqlite_stat1').all() as { tbl: string; stat: string }[])
          : [];
        const trigrams = rows.find((x) => /_data$/.test(x.tbl)) ?? rows[0];
        bf.statsBeforeLoad = {
          rows: rows.length,
          ...(trigrams ? { example: `${trigrams.tbl} "${trigrams.stat}"` } : {}),
        };
        peek.close();
      } else {
        indexUrl = await addDatabase(r);
        index = await PostgresIndex.open(indexUrl);
      }
      indexes.set(backend, { index, file: indexFile, ...(indexUrl ? { url: indexUrl } : {}) });
      bf.bulk = await ingest(
        r,
        backend,
        shape,
        (load) => index.bulk(load),
        (v) => index.indexVolume(v),
      );
      log(
        `${backend}: ${Math.round(bf.bulk.entries / bf.bulk.seconds)} entries/s bulk (${bf.bulk.seconds.toFixed(1)} s, build ${bf.bulk.buildSeconds.toFixed(1)} s)`,
      );
      track(r);
    } catch (err) {
      bf.error = (err as Error).message.split('\n')[0];
      log(`${backend} failed: ${(err as Error).stack ?? err}`);
      const held = indexes.get(backend);
      indexes.delete(backend);
      await held?.index.close().catch(() => {});
      if (backend === 'sqlite') {
        removeSqlite(floorFile);
        if (!o.keep) removeSqlite(indexFile);
      } else {
        for (const url of [floorUrl, indexUrl]) if (url && !o.keep) await dropDatabase(r, url).catch(() => {});
      }
    }
  }
  const live = backends.filter((b) => indexes.has(b));

  // ---- the baseline for queries: grep / awk over the listing (in the page cache)
  await settle(r);
  await run('grep', ['-c', 'no-such-string-anywhere', listing]);
  for (const kind of KINDS) {
    const times: number[] = [];
    for (const p of probes.get(kind)!.slice(o.warmup, o.warmup + GREP_RUNS)) {
      const [cmd, ...args] = p.baseline(listing);
      const t = hr();
      const out = await run(cmd!, args);
      times.push(since(t));
      if (!(Number(out.trim()) >= 1))
        throw new Error(`baseline ${cmd} ${args.join(' ')} found nothing (${out.trim()})`);
    }
    figures.grep[kind] = times;
    log(`baseline ${kind}: ${times.map((t) => t.toFixed(2)).join(', ')} s`);
  }

  // ---- queries: warm-up, then timed rounds, kinds and backends interleaved
  const ask = async (index: SearchIndex, p: Probe): Promise<FileHit[]> => {
    if (p.kind === 'glob') {
      const page = await searchFiles(index, p.query, { budgetMs: GLOB_BUDGET_MS });
      if (!page.complete) throw new Error(`glob ${p.text}: incomplete within ${GLOB_BUDGET_MS} ms`);
      return page.hits;
    }
    return index.findFiles(p.query as FileQuery);
  };
  for (const b of live) {
    for (const kind of KINDS) figuresOf.get(b)!.queries[kind] = { ms: [], wrong: 0, hits: [] };
  }
  const record = (b: Backend, p: Probe, hits: FileHit[], ms: number | undefined) => {
    const q = qOf(b, p.kind);
    const why = wrongAnswer(p, hits);
    if (why) {
      q.wrong++;
      q.firstWrong ??= `${p.text}: ${why}`;
    }
    if (ms !== undefined) {
      q.ms.push(ms);
      q.hits.push(hits.length);
    }
  };
  log(`warming up: ${o.warmup} queries of each kind per backend`);
  for (let i = 0; i < o.warmup; i++) {
    for (const kind of KINDS) {
      for (const b of live)
        record(b, probesOf(kind)[i]!, await ask(indexes.get(b)!.index, probesOf(kind)[i]!), undefined);
    }
  }
  for (const b of live) for (const kind of KINDS) qOf(b, kind).wrong = 0;
  log(`timing ${o.queries} queries of each kind per backend`);
  for (let i = 0; i < o.queries; i++) {
    const kinds = KINDS.map((_, j) => KINDS[(i + j) % KINDS.length]!);
    for (const [j, kind] of kinds.entries()) {
      const p = probesOf(kind)[o.warmup + i]!;
      for (let k = 0; k < live.length; k++) {
        const b = live[(i + j + k) % live.length]!;
        const t = hr();
        const hits = await ask(indexes.get(b)!.index, p);
        record(b, p, hits, since(t) * 1000);
      }
    }
    if ((i + 1) % Math.max(1, Math.floor(o.queries / 4)) === 0) {
      log(
        `  ${i + 1}/${o.queries}: ${live
          .map((b) => KINDS.map((k) => `${b} ${k} p50 ${percentile(qOf(b, k).ms, 50).toFixed(1)} ms`).join(', '))
          .join('; ')}`,
      );
    }
  }

  // ---- the plans of the kinds that missed the goal, one query each (untimed)
  const sqliteHeld = indexes.get('sqlite');
  if (sqliteHeld?.file) {
    const bf = figuresOf.get('sqlite')!;
    const check = new Database(sqliteHeld.file, { readonly: true });
    bf.analyzed = check.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").pluck().get() === 1;
    const slow = KINDS.filter((k) => percentile(qOf('sqlite', k).ms, 95) >= P95_GOAL_MS);
    for (const k of slow) {
      const p = probesOf(k)[o.warmup]!;
      // every statement the index prepares for the query, its plan (on the index's own connection, when it is
      // prepared: temporary tables the index makes exist only there and then) and the time of its calls
      const seen: { sql: string; ms: number; plan: string[] }[] = [];
      const proto = Database.prototype as unknown as { prepare: (sql: string) => Database.Statement };
      const prepare = proto.prepare;
      proto.prepare = function (this: Database.Database, sql: string) {
        const st = prepare.call(this, sql);
        const rec = { sql, ms: 0, plan: [] as string[] };
        seen.push(rec);
        if (/\bindex_files f\b/.test(sql)) {
          try {
            // the plan does not depend on the values (no stat4): NULLs stand for them
            const nulls = Array((sql.match(/\?/g) ?? []).length).fill(null);
            const rows = prepare.call(this, `EXPLAIN QUERY PLAN ${sql}`).all(...nulls) as {
              id: number;
              parent: number;
              detail: string;
            }[];
            const depth = new Map<number, number>();
            rec.plan = rows.map((r) => {
              const d = r.parent === 0 ? 0 : (depth.get(r.parent) ?? 0) + 1;
              depth.set(r.id, d);
              return `${'  '.repeat(d + 1)}${r.detail}`;
            });
          } catch (err) {
            rec.plan = [`  (no plan: ${(err as Error).message})`];
          }
        }
        const proxy: Database.Statement = new Proxy(st, {
          get(target, prop) {
            const v = Reflect.get(target, prop, target);
            if (typeof v !== 'function') return v;
            return (...a: unknown[]) => {
              const t0 = hr();
              const res = v.apply(target, a);
              rec.ms += since(t0) * 1000;
              return res === target ? proxy : res;
            };
          },
        });
        return proxy;
      };
      const t = hr();
      try {
        await ask(sqliteHeld.index, p);
      } catch (err) {
        log(`sqlite plan of ${k} not captured: ${(err as Error).message}`);
        continue;
      } finally {
        proto.prepare = prepare;
      }
      const took = since(t) * 1000;
      const statements = seen
        .filter((x) => x.plan.length > 0 || x.ms >= 0.5)
        .map((x) => ({ label: x.sql.replace(/\s+/g, ' ').trim().slice(0, 72), ms: x.ms, plan: x.plan }));
      const lines = statements.flatMap((st, i) => [
        `statement ${i + 1} of ${statements.length}, ${ms(st.ms)}: ${st.label}…`,
        ...st.plan.slice(0, 24),
        ...(st.plan.length > 24 ? [`  … ${st.plan.length - 24} more lines`] : []),
      ]);
      bf.plans[k] = { ms: took, lines, nodes: statements.flatMap((st) => st.plan), statements };
    }
    check.close();
  }
  const pgHeld = indexes.get('postgres');
  if (pgHeld?.url) {
    const slow = KINDS.filter((k) => percentile(qOf('postgres', k).ms, 95) >= P95_GOAL_MS);
    if (slow.length > 0) {
      log(`capturing PostgreSQL plans for ${slow.join(', ')}`);
      const bf = figuresOf.get('postgres')!;
      try {
        bf.plans = await capturePlans(
          r,
          pgHeld.url,
          slow.map((k) => probesOf(k)[o.warmup]!),
          ask,
        );
      } catch (err) {
        log(`plans not captured: ${(err as Error).message}`);
      }
    }
  }

  // ---- incremental: more volumes, one indexVolume each, the backends alternating
  log(`incremental: ${o.incremental} volumes into each index`);
  for (let j = 0; j < o.incremental; j++) {
    const v = extra(j);
    for (let k = 0; k < live.length; k++) {
      const b = live[(j + k) % live.length]!;
      const t = hr();
      await indexes.get(b)!.index.indexVolume(v);
      figuresOf.get(b)!.incremental.push(v.manifest.files.length / since(t));
    }
  }
  track(r);

  // ---- sizes, then everything removed
  for (const b of live) {
    const bf = figuresOf.get(b)!;
    const held = indexes.get(b)!;
    bf.sizeEntries = shape.entries + o.incremental * entriesPerVolume;
    if (b === 'sqlite') {
      await held.index.close();
      const db = new Database(held.file!);
      db.pragma('wal_checkpoint(TRUNCATE)');
      bf.parts = (
        db.prepare('SELECT name, SUM(pgsize) AS n FROM dbstat GROUP BY name ORDER BY n DESC LIMIT 6').all() as {
          name: string;
          n: number;
        }[]
      ).map((x) => [x.name, x.n]);
      db.close();
      bf.sizeBytes = fs.statSync(held.file!).size;
      track(r);
      if (!o.keep) removeSqlite(held.file!);
    } else {
      await held.index.close();
      bf.sizeBytes = Number(
        (await pgSql<{ n: string }>(held.url as string, 'SELECT pg_database_size(current_database()) AS n'))[0]!.n,
      );
      bf.parts = (
        await pgSql<{ name: string; n: string }>(
          held.url!,
          `SELECT c.relname AS name, pg_total_relation_size(c.oid) - CASE WHEN c.relkind = 'r' THEN pg_indexes_size(c.oid) ELSE 0 END AS n
           FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
           WHERE s.nspname = 'public' AND c.relkind IN ('r', 'i') ORDER BY n DESC LIMIT 6`,
        )
      ).map((x) => [x.name, Number(x.n)]);
      track(r);
      if (!o.keep) await dropDatabase(r, held.url!);
      else log(`kept ${held.url}`);
    }
    log(`${b}: ${(bf.sizeBytes / 1e9).toFixed(2)} GB for ${bf.sizeEntries} entries`);
  }
  if (!o.keep) fs.rmSync(listing, { force: true });
  return figures;
}

/** auto_explain's settings for the index's database while plans are captured. */
const EXPLAIN_SETTINGS: [string, string][] = [
  ['session_preload_libraries', 'auto_explain'],
  ['auto_explain.log_min_duration', '0'],
  ['auto_explain.log_analyze', 'on'],
  ['auto_explain.log_nested_statements', 'on'],
];

/**
 * The plan PostgreSQL ran for each probe (its slowest statement), from auto_explain in the cluster's log: set on
 * the database, a new pool (new sessions load it), one query each, then the settings reset. Untimed.
 */
async function capturePlans(
  r: Run,
  url: string,
  probes: Probe[],
  ask: (index: SearchIndex, p: Probe) => Promise<FileHit[]>,
): Promise<Partial<Record<Kind, Plan>>> {
  const db = dbName(url);
  const logFile = path.join(r.pgInfo!.dir, 'log', 'postgres.log');
  const set = (sql: string) => pgSql(url, sql);
  for (const [k, v] of EXPLAIN_SETTINGS) await set(`ALTER DATABASE "${db}" SET ${k} = '${v}'`);
  const out: Partial<Record<Kind, Plan>> = {};
  try {
    for (const p of probes) {
      const from = fs.statSync(logFile).size;
      const index = await PostgresIndex.open(url, { max: 1 });
      try {
        await ask(index, p);
      } finally {
        await index.close();
      }
      await new Promise((res) => setTimeout(res, 500));
      const fd = fs.openSync(logFile, 'r');
      const buf = Buffer.alloc(fs.statSync(logFile).size - from);
      fs.readSync(fd, buf, 0, buf.length, from);
      fs.closeSync(fd);
      // blocks: "... postgres@<db> LOG:  duration: X ms  plan:" then lines starting with a tab
      let best: { ms: number; lines: string[] } | undefined;
      let current: { ms: number; lines: string[] } | undefined;
      for (const line of buf.toString('utf8').split('\n')) {
        const head = new RegExp(`@${db} LOG:  duration: ([0-9.]+) ms  plan:`).exec(line);
        if (head) {
          current = { ms: Number(head[1]), lines: [] };
          if (!best || current.ms > best.ms) best = current;
        } else if (/^\d{4}-\d{2}-\d{2} /.test(line)) current = undefined;
        else current?.lines.push(line.replace(/^\t/, ''));
      }
      if (best) {
        const nodes = best.lines.filter((l) => /actual time=|never executed|^\s*(CTE \w+|InitPlan|SubPlan)/.test(l));
        out[p.kind] = { ms: best.ms, lines: planHighlights(nodes), nodes };
      }
    }
  } finally {
    await set(`ALTER DATABASE "${db}" RESET ALL`);
  }
  return out;
}

/**
 * The telling lines of a PostgreSQL plan: the top node, the nodes that took 10% of its time or more (inclusive time ×
 * loops) or handled 10,000 rows or more (rows × loops), and the CTE / InitPlan / SubPlan labels; costs left out.
 */
function planHighlights(lines: string[]): string[] {
  const top = Number(/actual time=[0-9.]+\.\.([0-9.]+)/.exec(lines[0] ?? '')?.[1] ?? 0);
  const kept = lines
    .filter((l, i) => {
      if (i === 0 || /^\s*(CTE \w+|InitPlan|SubPlan)/.test(l)) return true;
      const m = /actual time=[0-9.]+\.\.([0-9.]+) rows=(\d+) loops=(\d+)\)/.exec(l);
      if (!m) return false;
      const loops = Number(m[3]);
      return Number(m[1]) * loops >= 0.1 * top || Number(m[2]) * loops >= 10_000;
    })
    .map((l) =>
      l
        .replace(/\s*\(cost=[^)]*\)/, '')
        .replace(/actual time=[0-9.]+\.\./, 'actual time=')
        .trimEnd(),
    )
    .slice(0, 24);
  const indent = Math.min(...kept.slice(1).map((l) => l.length - l.trimStart().length));
  return kept.map((l, i) => (i === 0 ? l.trim() : `  ${l.slice(indent)}`));
}

/** The most rows one node of a plan handled (rows × loops). */
function busiestRows(nodes: string[]): number {
  let most = 0;
  for (const l of nodes) {
    const m = /rows=(\d+) loops=(\d+)\)/.exec(l);
    if (m) most = Math.max(most, Number(m[1]) * Number(m[2]));
  }
  return most;
}

/** Every volume of the shape through `insert`, inside `wrap` (the index's bulk); only the calls are timed. */
async function ingest(
  r: Run,
  what: string,
  shape: Shape,
  wrap: (load: () => Promise<void>) => Promise<void>,
  insert: (v: IndexedVolume) => Promise<void>,
): Promise<IngestFigures> {
  let calls = 0;
  let entries = 0;
  const tenths: number[] = [];
  let tenth = { calls: 0, entries: 0 };
  let tLoadStart = 0n;
  let tLoadEnd = 0n;
  const t0 = hr();
  await wrap(async () => {
    tLoadStart = hr();
    for (let i = 0; i < shape.volumes; i++) {
      const v = makeVolume(shape, i);
      const t = hr();
      await insert(v);
      const took = since(t);
      calls += took;
      entries += v.manifest.files.length;
      tenth.calls += took;
      tenth.entries += v.manifest.files.length;
      if (
        Math.floor(((i + 1) * 10) / shape.volumes) > Math.floor((i * 10) / shape.volumes) ||
        i === shape.volumes - 1
      ) {
        tenths.push(tenth.entries / tenth.calls);
        tenth = { calls: 0, entries: 0 };
      }
      if ((i + 1) % Math.max(1, Math.floor(shape.volumes / 10)) === 0) {
        track(r);
        r.o.log(
          `search ${shape.name}: ${what}: ${i + 1}/${shape.volumes} volumes, ${Math.round(entries / calls)} entries/s so far`,
        );
      }
    }
    tLoadEnd = hr();
  });
  const buildSeconds = since(tLoadEnd);
  return { entries, tenths, seconds: Number(tLoadStart - t0) / 1e9 + calls + buildSeconds, buildSeconds };
}

export async function searchBenchmark(o: SearchBenchOptions): Promise<SearchFigures> {
  const t0 = hr();
  // a directory of this run's own: another run at the same time (or one kept with --search-keep) is left alone
  const work = path.join(ROOT, 'var/bench-search', `run-${process.pid}`);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const loadStart = os.loadavg()[0]!;
  const freeAtStart = freeBytes(ROOT);
  const r: Run = { o, work, pgDatabases: new Map(), walAtStart: 0, peakOwn: 0, minFree: freeAtStart };
  let pgError = postgresMissing();
  let postgresVersion: string | undefined;
  if (!pgError) {
    try {
      r.pgInfo = await sharedPostgres();
      postgresVersion = (await pgSql<{ v: string }>(r.pgInfo.url, "SELECT current_setting('server_version') AS v"))[0]!
        .v;
      r.walAtStart = dirBytes(path.join(r.pgInfo.dir, 'data', 'pg_wal'));
    } catch (err) {
      pgError = `the test cluster did not start: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  const sampler = setInterval(() => track(r), 5000);
  sampler.unref();
  if (pgError) o.log(`search: PostgreSQL not measured: ${pgError}`);
  try {
    const main = await scenario(
      r,
      { name: 'main', entries: o.entries, volumes: o.volumes, sites: o.sites, uniqueNames: false },
      ['sqlite', 'postgres'],
      pgError,
    );
    let unique: ScenarioFigures | undefined;
    if (o.uniqueEntries > 0) {
      const perVolume = Math.max(1, Math.floor(o.entries / o.volumes));
      unique = await scenario(
        r,
        {
          name: 'unique',
          entries: o.uniqueEntries,
          volumes: Math.max(1, Math.round(o.uniqueEntries / perVolume)),
          sites: o.sites,
          uniqueNames: true,
        },
        ['sqlite'],
        undefined,
      );
    }
    return {
      main,
      ...(unique ? { unique } : {}),
      ...(pgError ? { postgresMissing: pgError } : {}),
      ...(postgresVersion ? { postgresVersion } : {}),
      sqliteVersion: String(new Database(':memory:').prepare('SELECT sqlite_version()').pluck().get()),
      load: [loadStart, os.loadavg()[0]!],
      seconds: since(t0),
      peakOwnBytes: r.peakOwn,
      freeAtStart,
      minFree: r.minFree,
    };
  } finally {
    clearInterval(sampler);
    if (!o.keep) {
      for (const url of [...r.pgDatabases.keys()]) await dropDatabase(r, url).catch(() => {});
      fs.rmSync(work, { recursive: true, force: true });
      try {
        fs.rmdirSync(path.dirname(work)); // only when no other run's directory is left in it
      } catch {}
    }
  }
}

// ---------------------------------------------------------------- BENCHMARKS.md

const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
const rate = (n: number) => `${f0(n)} entries/s`;
const ms = (n: number) => (n < 10 ? `${n.toFixed(2)} ms` : n < 100 ? `${n.toFixed(1)} ms` : `${f0(n)} ms`);
const gb = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(0)} MB`);
const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
const secs = (n: number) => `${n < 10 ? n.toFixed(1) : f0(n)} s`;
const bytes = (n: number) => (n >= 1e9 ? gb(n) : n >= 1e6 ? mb(n) : n >= 1e3 ? `${(n / 1e3).toFixed(0)} kB` : `${n} B`);
const ratio = (a: number, b: number) => {
  const x = a / b;
  return `${x >= 0.1 ? x.toFixed(2) : x >= 0.001 ? x.toFixed(4) : x.toExponential(1)}×`;
};
const met = (ok: boolean) => (ok ? 'yes' : '**no**');
const NAMES: Record<Backend, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };
const KIND_NAMES: Record<Kind, string> = {
  substring: 'substring: date/run',
  span: 'substring: run/frame name',
  glob: 'glob (searchFiles)',
  sha256: 'SHA-256',
  path: 'exact path',
  since: 'new since (volume createdAt) + site',
};
const BASELINE_NAMES: Record<Kind, string> = {
  substring: '`grep -F -i -c`',
  span: '`grep -F -i -c`',
  glob: '`grep -c` (a regex)',
  sha256: '`grep -F -c`',
  path: '`grep -F -c`',
  since: '`awk` (site, date)',
};

function ingestRows(sc: ScenarioFigures, label: (b: BackendFigures) => string): string[] {
  const rows: string[] = [];
  for (const b of sc.backends) {
    if (!b.bulk || !b.floorBulk) continue;
    const bulk = b.bulk.entries / b.bulk.seconds;
    const floor = b.floorBulk.entries / b.floorBulk.seconds;
    rows.push(
      `| ${label(b)} | bulk (\`reindex\`): ${f0(b.bulk.entries)} entries into an empty index | ${rate(bulk)} (${b.bulk.seconds.toFixed(1)} s, of which index build ${b.bulk.buildSeconds.toFixed(1)} s) | ${rate(floor)} (${b.floorBulk.seconds.toFixed(1)} s) | ${ratio(bulk, floor)} | ≥ ${f0(INGEST_GOAL)} entries/s | ${met(bulk >= INGEST_GOAL)} |`,
    );
    const inc = median(b.incremental);
    const finc = median(b.floorIncremental);
    rows.push(
      `| ${label(b)} | incremental: ${sc.incrementalVolumes} more volumes of ${f0(sc.entriesPerVolume)}, one \`indexVolume\` each, into the full index (median) | ${rate(inc)} (${f0(Math.min(...b.incremental))}–${f0(Math.max(...b.incremental))}) | ${rate(finc)} | ${ratio(inc, finc)} | ≥ ${f0(INGEST_GOAL)} entries/s | ${met(inc >= INGEST_GOAL)} |`,
    );
  }
  return rows;
}

function sizeRows(sc: ScenarioFigures, label: (b: BackendFigures) => string): string[] {
  return sc.backends
    .filter((b) => b.sizeBytes !== undefined && b.floorSizeBytes !== undefined)
    .map((b) => {
      const per = (b.sizeBytes! / b.sizeEntries!) * 1e6;
      const floorPer = (b.floorSizeBytes! / b.floorSizeEntries!) * 1e6;
      return `| ${label(b)} | ${f0(b.sizeEntries!)} | ${gb(b.sizeBytes!)} | ${mb(per)} | ${mb(floorPer)} | ${ratio(per, floorPer)} | ${b.parts.map(([n, x]) => `${n} ${gb(x)}`).join(', ')} |`;
    });
}

function queryRows(sc: ScenarioFigures, label: (b: BackendFigures) => string): string[] {
  const rows: string[] = [];
  for (const kind of KINDS) {
    for (const b of sc.backends) {
      const q = b.queries[kind];
      if (!q) continue;
      const p50 = percentile(q.ms, 50);
      const p95 = percentile(q.ms, 95);
      const base = median(sc.grep[kind]!) * 1000;
      rows.push(
        `| ${KIND_NAMES[kind]} | ${label(b)} | ${sc.examples[kind]} | ${ms(p50)} | ${ms(p95)} | ${ms(Math.max(...q.ms))} | ${median(q.hits)} | ${q.wrong} | ${BASELINE_NAMES[kind]} ${ms(base)} | ${ratio(p50, base)} | < ${P95_GOAL_MS} ms | ${met(p95 < P95_GOAL_MS && q.wrong === 0)} |`,
      );
    }
  }
  return rows;
}

export function searchMarkdown(f: SearchFigures, command: string): string[] {
  const sc = f.main;
  const s = sc.stats;
  const label = (b: BackendFigures) => NAMES[b.backend];
  const year = (sec: number) => new Date(sec * 1000).toISOString().slice(0, 7);
  const pgNote = f.postgresMissing
    ? `PostgreSQL was not measured: ${f.postgresMissing}.`
    : `PostgreSQL ${f.postgresVersion} is the shared test cluster (\`var/test-pg\`: shared_buffers 512MB, maintenance_work_mem 256MB, max_wal_size 4GB, fsync on), a fresh database for each side.`;
  const failed = sc.backends.filter((b) => b.error).map((b) => `${NAMES[b.backend]} failed: ${b.error}.`);
  const out: string[] = [
    `## Search: ${f0(sc.shape.entries)} manifest entries in SQLite and PostgreSQL`,
    '',
    `Written by \`${command}\` on ${new Date().toISOString().slice(0, 10)}: \`nproc\` ${os.cpus().length} (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Node ${process.versions.node},`,
    `SQLite ${f.sqliteVersion} (better-sqlite3, the index's pragmas: WAL, synchronous NORMAL, 64 MiB cache) in \`var/bench-search/\` on the root filesystem.`,
    `${pgNote} Both in one process, one after the other (\`test/bench/search-bench.ts\`); the run took ${(f.seconds / 60).toFixed(0)} min.`,
    `The VM was shared with other work: load average ${f.load[0].toFixed(1)} when the run began, ${f.load[1].toFixed(1)} when it ended.`,
    ...failed,
    '',
    `**The data**: synthetic manifests, deterministic (seeded), ${f0(sc.shape.volumes)} volumes of ${f0(sc.entriesPerVolume)} entries across ${sc.shape.sites} sites`,
    `(observatories with 2–4 of ${s.instruments} instruments each). Paths are \`<instrument>/<YYYY-MM-DD>/run-NNN/<kind>-NNNNN.fits\``,
    `(${((100 * s.frames) / sc.shape.entries).toFixed(0)}% of entries; kinds sci, bias, flat, dark, arc, one kind per run of 10–60 frames, frame numbers restarting in every run)`,
    "with each instrument-night's `README.txt`, `night.log` and `calib/master-*.fits`, each run's `run.log` and some `quicklook.png`.",
    `A volume holds consecutive nights of its site, its files listed by session then path (${f0(s.twoSessionVolumes)} volumes have two sessions).`,
    `Names recur across nights, instruments and sites: ${f0(s.names)} distinct file names and ${f0(s.dirs)} distinct directories`,
    `(median ${f0(s.medianFilesPerDir)} files per directory) for ${f0(sc.shape.entries)} entries. Both backends exploit it: a path is stored as a directory`,
    'id and a name id, each distinct string once, with a trigram index over the distinct strings only. The last table below',
    'gives every file a unique name (the worst case for that design).',
    `Sizes ${bytes(s.minSize)} to ${bytes(s.maxSize)} (${s.bytes >= 1e15 ? `${(s.bytes / 1e15).toFixed(2)} PB` : `${(s.bytes / 1e12).toFixed(0)} TB`} in all), mtimes from ${year(s.mtimeRange[0])} to ${year(s.mtimeRange[1])},`,
    `volumes created from ${new Date(s.createdRange[0]).toISOString().slice(0, 10)} to ${new Date(s.createdRange[1]).toISOString().slice(0, 10)}; ${f0(s.multiExtentVolumes)} volumes hold multi-extent files (${f0(s.multiExtentFiles)} files);`,
    `a SHA-256 per entry, unique. Generating the manifests (${s.generateSeconds.toFixed(0)} s for one pass, schema-checked) is not timed: only the index calls are.`,
    '',
    '### Ingest',
    '',
    'Bulk: `index.bulk(async () => { for each volume: await index.indexVolume(volume) })`, what `optarc-gateway reindex`',
    'does, into a fresh index: the time of the bulk call (its indexes dropped at the start and built at the end) less the time',
    'spent generating manifests between the calls. Incremental: the live path of an acknowledged mirror. The *floor* is the same',
    'entries in the same engine into a plain table with no index: SQLite, 64-row INSERTs of the same columns (the path whole),',
    'one transaction per volume, the same pragmas; PostgreSQL, `INSERT ... SELECT FROM unnest(...)` of typed arrays, one',
    'statement and transaction per volume. One bulk run per side (each takes minutes); the incremental rate is the median',
    'of its volumes. Before each timed phase, an untimed `CHECKPOINT` and `sync`.',
    '',
    '| backend | load | optarc | floor (no indexes) | optarc / floor | goal | met? |',
    '|---|---|---|---|---|---|---|',
    ...ingestRows(sc, label),
    '',
    '### Size',
    '',
    'At the end (after the incremental volumes): the SQLite file after `PRAGMA wal_checkpoint(TRUNCATE)`;',
    "PostgreSQL's `pg_database_size` (WAL is the cluster's, not counted). The floor's size is its plain table's.",
    '',
    '| backend | entries | size | per million entries | floor, per million | optarc / floor | largest parts |',
    '|---|---|---|---|---|---|---|',
    ...sizeRows(sc, label),
    '',
    '### Queries',
    '',
    `${sc.queries} queries of each kind per backend, drawn (seeded) from entries that exist, each scoped to the file's site (as`,
    `a reader's token is) with limit ${LIMIT}, after ${sc.warmup} warm-up queries of each kind; the kinds and the backends interleaved,`,
    'their order rotated between rounds. *date/run* is a fragment of a directory; *run/frame name* spans the last slash',
    '(the directory ends with the run, the name starts with the frame), and matches that frame of that run on every night;',
    `the glob goes through \`searchFiles\` (the index narrows by its literal, the gateway matches; budget ${f0(GLOB_BUDGET_MS / 1000)} s so every`,
    "answer is whole); *new since* asks for the files of volumes created at or after a volume's createdAt. Every answer is",
    'checked: every hit of the site and matching, in order, and the sampled file on the page (or the page full and the file',
    'after its last hit); a *new since* page is compared whole with the page computed from the generated data. *wrong*',
    'counts answers that fail (none should). Baseline: what one does without an index, over a flat listing of every entry',
    `(\`site vsn createdAt sha256 path\`, ${gb(sc.listingBytes)}, in the page cache), \`LC_ALL=C\`, the median of ${GREP_RUNS} of the queries.`,
    '',
    '| query | backend | example | p50 | p95 | max | hits (median) | wrong | baseline | p50 / baseline | goal (p95) | met? |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...queryRows(sc, label),
    '',
  ];
  const u = f.unique;
  if (u) {
    const ub = u.backends[0]!;
    out.push(
      `### Worst case: every file name unique (SQLite, ${f0(u.shape.entries)} entries)`,
      '',
      `The same archive shape at ${f0(u.shape.entries)} entries (${f0(u.shape.volumes)} volumes), but every name unique, as pipelines that name`,
      'frames by instrument and UT time do (`WFC.2024-03-17T01:23:45.678.fits`, `WFC.2024-03-17.run-012.log`, ...):',
      `${f0(u.stats.names)} distinct names for ${f0(u.shape.entries)} entries, so the name dictionary and its trigram index hold one string`,
      'per file. The same measures, baselines and checks as above, at this size.',
      '',
      '| backend | load | optarc | floor (no indexes) | optarc / floor | goal | met? |',
      '|---|---|---|---|---|---|---|',
      ...ingestRows(u, () => 'SQLite, unique names'),
      '',
      '| backend | entries | size | per million entries | floor, per million | optarc / floor | largest parts |',
      '|---|---|---|---|---|---|---|',
      ...sizeRows(u, () => 'SQLite, unique names'),
      '',
      '| query | backend | example | p50 | p95 | max | hits (median) | wrong | baseline | p50 / baseline | goal (p95) | met? |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...queryRows(u, () => 'SQLite, unique names'),
      '',
    );
    if (ub.error) out.push(`SQLite failed: ${ub.error}.`, '');
  }
  out.push(...notes(f), '');
  out.push(
    `Disk: at most ${gb(f.peakOwnBytes)} of the run's own files at once (databases, listing, the cluster's WAL growth); free space on the`,
    `root filesystem was ${gb(f.freeAtStart)} at the start and ${gb(f.minFree)} at its lowest (other work on the VM included). All removed at the end.`,
    'Options: `--search-entries N` (default 10,000,000), `--search-volumes N` (1000), `--search-sites N` (10),',
    '`--search-queries N` (200), `--search-unique-entries N` (1,000,000; 0 skips it).',
  );
  return out;
}

/** Why a goal is missed, from the figures and the data (written for whatever they turn out to be). */
function notes(f: SearchFigures): string[] {
  const out: string[] = [];
  const sc = f.main;
  const e = sc.evidence;
  for (const b of sc.backends) {
    if (!b.bulk || !b.floorBulk) continue;
    const name = NAMES[b.backend];
    const bulk = b.bulk.entries / b.bulk.seconds;
    const floor = b.floorBulk.entries / b.floorBulk.seconds;
    if (bulk < INGEST_GOAL) {
      const load = b.bulk.seconds - b.bulk.buildSeconds;
      out.push(
        `- ${name} bulk ingest misses ${f0(INGEST_GOAL)} entries/s: ${secs(b.bulk.seconds)} for ${f0(b.bulk.entries)} entries, ` +
          `${secs(load)} of \`indexVolume\` calls (${rate(b.bulk.entries / load)}) and ${secs(b.bulk.buildSeconds)} building the indexes at the end. ` +
          `The floor, the same rows into a table with no index and no dictionary, runs at ${rate(floor)}` +
          (floor < INGEST_GOAL
            ? `: on this VM the goal is out of reach of ${name} itself, before any index.`
            : `; the rest is the dictionaries (a lookup per directory and name, trigrams for new strings) and the indexes.`),
      );
    }
    const inc = median(b.incremental);
    if (inc < INGEST_GOAL) {
      out.push(
        `- ${name} incremental ingest: ${rate(inc)} against ${rate(median(b.floorIncremental))} for the floor. A live volume is ` +
          `inserted with every index in place: each of its ${f0(sc.entriesPerVolume)} rows adds an entry at a random place in the SHA-256 ` +
          `index (and in the directory and name indexes), across a ${f0(b.sizeEntries ?? 0)}-row table, so nearly every volume touches ` +
          `pages all over those B-trees and writes them out (WAL). One volume still takes ${(sc.entriesPerVolume / inc).toFixed(2)} s.`,
      );
    }
  }
  const p95 = (b: BackendFigures, k: Kind) => (b.queries[k] ? percentile(b.queries[k]!.ms, 95) : 0);
  const slow = (b: BackendFigures, k: Kind) => p95(b, k) >= P95_GOAL_MS;
  const sqlite = sc.backends.find((b) => b.backend === 'sqlite');
  const postgres = sc.backends.find((b) => b.backend === 'postgres');
  const planHas = (b: BackendFigures | undefined, k: Kind, text: string) =>
    b?.plans[k]?.nodes.some((l) => l.includes(text)) ?? false;
  if (sqlite && slow(sqlite, 'path')) {
    const byName = planHas(sqlite, 'path', 'USING INDEX index_files_name');
    out.push(
      `- SQLite *exact path* (p95 ${ms(p95(sqlite, 'path'))}): a sampled file's name is shared by ${f0(e.pathNameFiles)} files ` +
        `(median, all sites), its directory by ${f0(e.pathDirFiles)}. ` +
        (byName
          ? 'The query gives SQLite both the directory id and the name id, each with an index, and SQLite looks the file up by ' +
            `its name (plan below: \`index_files_name\`), then reads each of those files to compare its directory` +
            (sqlite.analyzed === false
              ? ': the index has no statistics (never `ANALYZE`d, no `sqlite_stat1`), so the planner cannot tell that the directory is the selective one.'
              : '.')
          : 'See the plan below.'),
    );
  }
  for (const k of ['substring', 'span', 'glob'] as const) {
    if (!sqlite || !slow(sqlite, k)) continue;
    const sts = sqlite.plans[k]?.statements ?? [];
    const final = sts.at(-1);
    const walked = final !== undefined && /^(SCAN|SEARCH) v\b/.test(final.plan[0]?.trim() ?? '');
    const slowest = sts.reduce<(typeof sts)[number] | undefined>((a, b) => (a && a.ms >= b.ms ? a : b), undefined);
    const which = (st: (typeof sts)[number]) =>
      /^SELECT COUNT/.test(st.label)
        ? 'the count of candidate files'
        : /^INSERT INTO temp\./.test(st.label)
          ? 'collecting the matching strings (trigram search) into a temporary table'
          : /^SELECT v\.site/.test(st.label)
            ? 'the statement that fetches the page'
            : `the statement \`${st.label.slice(0, 40)}…\``;
    out.push(
      `- SQLite *${KIND_NAMES[k]}* (p95 ${ms(p95(sqlite, k))}): the index first counts the files of the matching strings ` +
        '(up to 5,001, CANDIDATE_CAP + 1), then either fetches them and sorts them or, when there are more, walks the ' +
        "site's files in the stable order testing each one's directory and name ids. " +
        (final
          ? `In the query below it ${walked ? 'walked' : 'fetched the candidates'}, and ${which(slowest!)} took ` +
            `${ms(slowest!.ms)} of the query's ${ms(sqlite.plans[k]!.ms)}.`
          : '') +
        (k === 'span'
          ? ` A *run/frame name* fragment matches the directories that end with the run (${f0(e.spanRunDirs)} holding ` +
            `${f0(e.spanRunDirFiles)} files, median, all sites) and the names that start with the frame (${f0(e.spanNameFiles)} files); ` +
            'the plan of each statement shows which of the two sets it reads through its index.'
          : ''),
    );
  }
  if (postgres) {
    const pgSlow = KINDS.filter((k) => slow(postgres, k));
    const cand = pgSlow.filter((k) => k === 'substring' || k === 'span' || k === 'glob');
    if (cand.length > 0) {
      const siteBitmap = cand.some((k) => planHas(postgres, k, 'Bitmap Index Scan on indexed_files_pkey'));
      out.push(
        `- PostgreSQL *${cand.map((k) => KIND_NAMES[k]).join('*, *')}* (p95 ${cand.map((k) => ms(p95(postgres, k))).join(', ')}): ` +
          (siteBitmap
            ? 'the matching strings are found through the trigram indexes; in the plans below their files are combined ' +
              "(BitmapAnd) with a bitmap of every file of the reader's site, read from the primary key " +
              `(about ${f0(e.siteFiles)} rows), built in full for each query.`
            : 'see the plans below.'),
      );
    }
    if (slow(postgres, 'since')) {
      const plan = postgres.plans.since;
      out.push(
        `- PostgreSQL *new since* (p95 ${ms(p95(postgres, 'since'))}): the site's volumes created since hold ${f0(e.sinceFiles)} ` +
          'files (median); ' +
          (plan
            ? `in the plan below, its busiest node handles ${f0(busiestRows(plan.nodes))} rows (rows × loops) for a page of ${LIMIT}` +
              (planHas(postgres, 'since', 'Sort') ? ', which is then sorted' : '') +
              `; SQLite walks the site's volumes in order and stops after ${LIMIT} files.`
            : `SQLite walks the site's volumes in order and stops after ${LIMIT} files.`),
      );
    }
  }
  for (const scn of [f.main, f.unique]) {
    for (const b of scn?.backends ?? []) {
      const t = b.bulk?.tenths ?? [];
      if (!scn || !b.bulk || t.length < 2) continue;
      const inc = median(b.incremental);
      const first = t[0]!;
      const last = t.at(-1)!;
      if (last >= 0.5 * first) continue;
      const what = `${NAMES[b.backend]}${scn === f.unique ? ' (unique names)' : ''}`;
      out.push(
        `- ${what}: the bulk load slowed down as it went, ${t.map((x) => f0(x)).join(', ')} entries/s over each tenth ` +
          'of the volumes' +
          (inc > last
            ? `, ending below the incremental rate into the full, bigger index (${rate(inc)}): the slowdown comes from ` +
              'bulk mode, not from the size of the index.'
            : '.') +
          (b.statsBeforeLoad && b.statsBeforeLoad.rows > 0
            ? ` The fresh index already held planner statistics before the load (${b.statsBeforeLoad.rows} rows of ` +
              `\`sqlite_stat1\`, taken on its empty tables${b.statsBeforeLoad.example ? `, e.g. ${b.statsBeforeLoad.example}` : ''}); ` +
              'they stay in force until the `ANALYZE` at the end of the bulk load, while the tables they describe grow from empty.'
            : ''),
      );
    }
  }
  const u = f.unique?.backends[0];
  if (u?.bulk && sqlite?.bulk) {
    const ur = u.bulk.entries / u.bulk.seconds;
    const mr = sqlite.bulk.entries / sqlite.bulk.seconds;
    const up = u.sizeBytes! / u.sizeEntries!;
    const mp = sqlite.sizeBytes! / sqlite.sizeEntries!;
    out.push(
      `- Unique names (last table): SQLite's bulk ingest runs at ${rate(ur)}, ${ratio(ur, mr)} its rate with recurring names, ` +
        `and takes ${ratio(up, mp)} the space per entry: every file adds a string to the name dictionary and its trigrams to ` +
        'the FTS5 index, which recurring names pay once per name.',
    );
  }
  for (const b of [sqlite, postgres]) {
    if (!b) continue;
    for (const k of KINDS) {
      const plan = b.plans[k];
      if (!plan) continue;
      const how =
        b.backend === 'postgres'
          ? 'auto_explain with ANALYZE, its slowest statement; the nodes that took 10% of its time or more or handled 10,000 rows or more, costs left out'
          : 'each statement the index ran that took 0.5 ms or more, with the time of its calls, and EXPLAIN QUERY PLAN of those on index_files';
      out.push(
        '',
        `${NAMES[b.backend]}'s plan for one *${KIND_NAMES[k]}* query (${sc.examples[k]}, ${ms(plan.ms)}, run once after the ` +
          `timed rounds; ${how}):`,
        '',
        '```',
        ...plan.lines,
        '```',
      );
    }
  }
  return out.length > 0 ? ['### Notes', '', ...out] : [];
}
