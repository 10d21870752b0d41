/**
 * The search index's contract, the same cases for every backend: the embedded
 * SQLite index, the PostgreSQL index on the shared test cluster, and the
 * PostgreSQL index again with tiny substring caps, so that its other plan (the
 * walk of the stable order) answers the substring queries. Synthetic manifests
 * (checked against the schema) for three sites, with paths that look like SQL
 * or LIKE patterns, quotes, backslashes, Unicode and mixed case, a path listed
 * twice across an APPEND's sessions, and multi-extent and split files.
 *
 * Each backend's hits are checked against a model of the query written out
 * here (filter the manifests, sort, cut), against hand-written expectations
 * for the cases that matter most (literal % and _, ASCII-only case folding,
 * site scoping, paging, reindexing), and the backends against each other:
 * every query over the same data gives deep-equal hits in the same order.
 * PostgreSQL cases are skipped, with the reason, only when its binaries are
 * not installed (infra/install.sh installs them).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { VolumeManifest } from '../../gateway/protocol/volume-manifest.js';
import { PostgresIndex } from '../../gateway/search/postgres-index.js';
import type {
  FileHit,
  FileKey,
  FileQuery,
  IndexedVolume,
  SearchIndex,
  VolumeQuery,
} from '../../gateway/search/search-index.js';
import { SqliteIndex } from '../../gateway/search/sqlite-index.js';
import { freshDatabase, postgresMissing, sharedPostgres } from '../helpers/test-postgres.js';

// ---------------------------------------------------------------- the data

const sha = (label: string) => crypto.createHash('sha256').update(label).digest('hex');
const SHARED_SHA = sha('the same bytes in three volumes');

interface FileSpec {
  path: string;
  size?: number;
  mtime?: number;
  session?: number;
  sha256?: string;
  extents?: number;
  part?: { index: number; count: number; offset: number; length: number };
  mode?: number;
}

function manifest(site: string, vsn: string, createdAt: string, specs: FileSpec[]): VolumeManifest {
  let offset = 32_768;
  const files = specs.map((s, i) => {
    const size = s.size ?? 1000 + i;
    const parts = s.extents ?? 1;
    const extents = Array.from({ length: parts }, (_, k) => {
      const length = k < parts - 1 ? Math.floor(size / parts) : size - Math.floor(size / parts) * (parts - 1);
      const e = { offset, length };
      offset += Math.ceil(length / 2048) * 2048 + 2048; // gaps: the extents are not contiguous
      return e;
    });
    return {
      path: s.path,
      pathBase64: Buffer.from(s.path).toString('base64'),
      imagePath: s.path.toUpperCase(),
      size,
      sha256: s.sha256 ?? sha(`${site}/${vsn}/${i}/${s.path}`),
      mode: s.mode ?? 0o100644,
      mtimeSeconds: s.mtime ?? 1_700_000_000 + i * 60,
      mtimeNanoseconds: 0,
      session: s.session ?? 1,
      ...(s.part ? { part: s.part } : {}),
      extents,
    };
  });
  return VolumeManifest.parse({
    format: 'optarc-volume-manifest',
    version: 1,
    site,
    vsn,
    label: `label of ${vsn}`,
    media: 'bd-25',
    clientId: 'client-1',
    createdAt,
    sessions: Math.max(1, ...files.map((f) => f.session)),
    appendable: false,
    image: { bytes: offset + 2048, sha256: sha(`image ${vsn}`) },
    copies: [
      { copy: 1, drive: 'drive-0', medium: 'shelf A/slot 3', verifiedAt: '2024-06-01T10:00:00Z' },
      { copy: 2, drive: 'drive-1', medium: null, verifiedAt: '2024-06-01T11:30:00.250+02:00' },
    ],
    files,
  });
}

function indexed(m: VolumeManifest, ackedAt: number): IndexedVolume {
  return {
    site: m.site,
    vsn: m.vsn,
    key: `sites/${m.site}/volumes/${m.vsn}/image.iso`,
    versionId: `v-${m.vsn.toLowerCase()}`,
    manifestKey: `sites/${m.site}/volumes/${m.vsn}/manifest.json`,
    ackedAt,
    manifest: m,
  };
}

const SQLISH = "night3/o'brien; DROP TABLE indexed_files; --.txt";
const A1 = manifest('lab-a', 'A00001', '2024-01-10T08:00:00Z', [
  { path: 'night1/M31.fits', size: 3_000_000, mtime: 1_704_000_000, sha256: SHARED_SHA },
  { path: 'night1/notes.txt', size: 100 },
  { path: SQLISH, size: 10 },
  { path: 'pct/100%_done.txt' },
  { path: 'pct/100x_done.txt' },
  { path: 'pct/100%xdone.txt' },
  { path: 'back\\slash\\name.txt' },
  { path: 'quotes/"double" and \'single\'.txt' },
  { path: 'unicode/café-Ünïcødé/日本語ファイル.txt' },
  { path: 'unicode/CAFÉ/x.txt' },
  { path: 'emoji/🎉 party.txt' },
  { path: 'night1/M31.fits', size: 3_100_000, mtime: 1_705_000_000, session: 2 },
  { path: 'big/cube.fits', size: 9_000_000, extents: 3, session: 2 },
  {
    path: 'big/split.tar',
    size: 4_000_000,
    extents: 2,
    session: 2,
    part: { index: 1, count: 2, offset: 0, length: 4_000_000 },
  },
  { path: 'top-level.txt', size: 0, mode: 0o100600 },
  { path: 'UPPER/lower/MiXeD.TXT' },
  { path: 'dir with spaces/two  spaces.txt' },
  { path: 'odd/trailing/' },
  { path: 'a//double//slash' },
]);
const A2 = manifest('lab-a', 'A00002', '2024-03-01T00:00:00Z', [
  { path: 'night2/m42.fits', size: 2_000_000 },
  { path: 'night2/M31-reprocessed.fits', size: 2_500_000, sha256: SHARED_SHA },
  { path: 'night1/M31.fits', size: 3_000_000, sha256: SHARED_SHA },
]);
const A3 = manifest(
  'lab-a',
  'A00003',
  '2024-06-01T12:00:00.500Z',
  Array.from({ length: 240 }, (_, i) => ({
    path: `survey/${i % 3 === 0 ? 'M31' : 'field'}/frame-${String(i).padStart(5, '0')}.fits`,
    size: 10_000 + i * 100,
    mtime: 1_717_000_000 + i,
  })),
);
const B1 = manifest('lab-b', 'B00001', '2024-02-01T00:00:00Z', [
  { path: 'night1/M31.fits', size: 3_000_000, sha256: SHARED_SHA },
  { path: 'secret/lab-b only.txt', size: 42 },
  { path: SQLISH, size: 11 },
]);
const C1 = manifest('lab-c', 'C00001', '2023-12-24T00:00:00-05:00', [
  { path: 'c/pct/100%_done.txt' },
  { path: 'c/x.fits', size: 7 },
]);
const VOLUMES = [A1, A2, A3, B1, C1];
const ACKED = 1_718_000_000_000;

// ---------------------------------------------------------------- the model

interface ModelFile extends FileKey {
  path: string;
  size: number;
  sha256: string;
  mtimeSeconds: number;
  createdAt: number;
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const keyOrder = (a: FileKey, b: FileKey) => byteOrder(a.site, b.site) || byteOrder(a.vsn, b.vsn) || a.entry - b.entry;
const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

function modelFiles(volumes: VolumeManifest[]): ModelFile[] {
  return volumes
    .flatMap((m) =>
      m.files.map((f, entry) => ({
        site: m.site,
        vsn: m.vsn,
        entry,
        path: f.path,
        size: f.size,
        sha256: f.sha256,
        mtimeSeconds: f.mtimeSeconds,
        createdAt: Date.parse(m.createdAt),
      })),
    )
    .sort(keyOrder);
}

/** What findFiles must return, by key: the query's meaning, written out. */
function model(files: ModelFile[], q: FileQuery): FileKey[] {
  return files
    .filter(
      (f) =>
        q.sites.includes(f.site) &&
        (q.path === undefined || f.path === q.path) &&
        (q.pathContains === undefined || asciiLower(f.path).includes(asciiLower(q.pathContains))) &&
        (q.sha256 === undefined || f.sha256 === q.sha256) &&
        (q.vsn === undefined || f.vsn === q.vsn) &&
        (q.sizeMin === undefined || f.size >= q.sizeMin) &&
        (q.sizeMax === undefined || f.size <= q.sizeMax) &&
        (q.mtimeFrom === undefined || f.mtimeSeconds >= q.mtimeFrom) &&
        (q.mtimeBefore === undefined || f.mtimeSeconds < q.mtimeBefore) &&
        (q.volumeCreatedSince === undefined || f.createdAt >= q.volumeCreatedSince) &&
        (q.after === undefined || keyOrder(f, q.after) > 0),
    )
    .slice(0, q.limit)
    .map(keyOf);
}

const keyOf = (h: FileKey): FileKey => ({ site: h.site, vsn: h.vsn, entry: h.entry });
const paths = (hits: FileHit[]) => hits.map((h) => h.path);
const ALL = ['lab-a', 'lab-b', 'lab-c'];

/** Queries over the fixture: every filter alone, combined, and the awkward strings. */
const QUERIES: FileQuery[] = [
  { sites: ALL, limit: 1000 },
  { sites: ['lab-a'], limit: 5 },
  { sites: ['lab-b', 'lab-c'], limit: 1000 },
  { sites: ['lab-c', 'lab-a'], limit: 1000 },
  { sites: ['lab-a', 'nobody'], limit: 1000 },
  { sites: ALL, path: 'night1/M31.fits', limit: 1000 },
  { sites: ALL, path: 'night1/m31.fits', limit: 1000 },
  { sites: ALL, path: 'top-level.txt', limit: 1000 },
  { sites: ALL, path: 'odd/trailing/', limit: 1000 },
  { sites: ALL, path: SQLISH, limit: 1000 },
  { sites: ALL, path: 'pct/100%_done.txt', limit: 1000 },
  { sites: ALL, path: 'pct/100__done.txt', limit: 1000 },
  { sites: ALL, path: 'unicode/café-Ünïcødé/日本語ファイル.txt', limit: 1000 },
  { sites: ALL, pathContains: 'm31', limit: 1000 },
  { sites: ['lab-b'], pathContains: 'm31', limit: 1000 },
  { sites: ['lab-c', 'lab-b'], pathContains: 'done', limit: 1000 },
  { sites: ['lab-a'], pathContains: 'night1/', limit: 1000 },
  { sites: ALL, pathContains: 'M31.FITS', limit: 1000 },
  { sites: ALL, pathContains: 'fits', limit: 1000 },
  { sites: ALL, pathContains: 'fits', limit: 17 },
  { sites: ALL, pathContains: '%_d', limit: 1000 },
  { sites: ALL, pathContains: '100%', limit: 1000 },
  { sites: ALL, pathContains: '0x_', limit: 1000 },
  { sites: ALL, pathContains: '___', limit: 1000 },
  { sites: ALL, pathContains: '%%%', limit: 1000 },
  { sites: ALL, pathContains: 'h\\n', limit: 1000 },
  { sites: ALL, pathContains: '\\slash\\', limit: 1000 },
  { sites: ALL, pathContains: "o'brien; DROP", limit: 1000 },
  { sites: ALL, pathContains: "'; DROP TABLE indexed_files; --", limit: 1000 },
  { sites: ALL, pathContains: 'brien; DROP TABLE indexed_files; --.', limit: 1000 },
  { sites: ALL, pathContains: '"double"', limit: 1000 },
  { sites: ALL, pathContains: "'single'", limit: 1000 },
  { sites: ALL, pathContains: 'café', limit: 1000 },
  { sites: ALL, pathContains: 'CAF', limit: 1000 },
  { sites: ALL, pathContains: 'CAFÉ', limit: 1000 },
  { sites: ALL, pathContains: 'ünï', limit: 1000 },
  { sites: ALL, pathContains: 'Ünï', limit: 1000 },
  { sites: ALL, pathContains: '日本語', limit: 1000 },
  { sites: ALL, pathContains: '🎉 p', limit: 1000 },
  { sites: ALL, pathContains: 'mixed.txt', limit: 1000 },
  { sites: ALL, pathContains: 'upper/LOWER/m', limit: 1000 },
  { sites: ALL, pathContains: 'ht1/m3', limit: 1000 },
  { sites: ALL, pathContains: 'night1/', limit: 1000 },
  { sites: ALL, pathContains: '/m31', limit: 1000 },
  { sites: ALL, pathContains: '/frame-0001', limit: 1000 },
  { sites: ALL, pathContains: 'vey/m31/fr', limit: 1000 },
  { sites: ALL, pathContains: 'odé/日本', limit: 1000 },
  { sites: ALL, pathContains: 'ling/', limit: 1000 },
  { sites: ALL, pathContains: '//', limit: 1000 },
  { sites: ALL, pathContains: 'e//s', limit: 1000 },
  { sites: ALL, pathContains: 'two  spaces', limit: 1000 },
  { sites: ALL, pathContains: 'top-level', limit: 1000 },
  { sites: ALL, pathContains: 'nothing matches this', limit: 1000 },
  { sites: ALL, pathContains: 'm4', limit: 1000 },
  { sites: ALL, sha256: SHARED_SHA, limit: 1000 },
  { sites: ALL, sha256: SHARED_SHA.toUpperCase(), limit: 1000 },
  { sites: ALL, sha256: 'not a sha', limit: 1000 },
  { sites: ALL, vsn: 'A00002', limit: 1000 },
  { sites: ['lab-b'], vsn: 'A00002', limit: 1000 },
  { sites: ALL, sizeMin: 2_500_000, limit: 1000 },
  { sites: ALL, sizeMax: 100, limit: 1000 },
  { sites: ALL, sizeMin: 1000, sizeMax: 1010, limit: 1000 },
  { sites: ALL, mtimeFrom: 1_704_000_000, mtimeBefore: 1_705_000_000, limit: 1000 },
  { sites: ALL, mtimeFrom: 1_717_000_100, limit: 1000 },
  { sites: ALL, volumeCreatedSince: Date.parse('2024-02-01T00:00:00Z'), limit: 1000 },
  { sites: ALL, volumeCreatedSince: Date.parse('2024-06-01T12:00:00.500Z'), limit: 1000 },
  { sites: ALL, pathContains: 'M31', vsn: 'A00003', sizeMin: 20_000, limit: 1000 },
  { sites: ALL, pathContains: 'm31', sha256: SHARED_SHA, limit: 1000 },
  { sites: ALL, pathContains: 'fits', volumeCreatedSince: Date.parse('2024-02-01T00:00:00Z'), limit: 30 },
  { sites: ALL, pathContains: 'frame', mtimeFrom: 1_717_000_050, mtimeBefore: 1_717_000_060, limit: 1000 },
  { sites: ALL, path: 'night1/M31.fits', sha256: SHARED_SHA, limit: 1000 },
  { sites: ['lab-a'], path: 'night1/M31.fits', vsn: 'A00001', limit: 1000 },
  { sites: ALL, pathContains: 'fits', after: { site: 'lab-a', vsn: 'A00003', entry: 100 }, limit: 50 },
  { sites: ALL, after: { site: 'lab-a', vsn: 'A00003', entry: 239 }, limit: 1000 },
  { sites: ALL, after: { site: 'lab-a', vsn: 'Z', entry: 0 }, limit: 1000 },
  { sites: ALL, after: { site: 'lab-b', vsn: 'B00001', entry: 0 }, limit: 1000 },
  { sites: ['lab-a'], after: { site: 'lab-b', vsn: 'B00001', entry: 0 }, limit: 1000 },
  { sites: ['lab-b', 'lab-c'], after: { site: 'lab-a', vsn: 'A00001', entry: 3 }, limit: 1000 },
  { sites: [], limit: 1000 },
  { sites: [], pathContains: 'm31', limit: 1000 },
];

// ---------------------------------------------------------------- the backends

interface Backend {
  name: string;
  missing: () => string | undefined;
  open: (t: ExecutionContext) => Promise<SearchIndex>;
}

const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    missing: () => undefined,
    open: async (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'optarc-search-'));
      t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
      return new SqliteIndex(path.join(dir, 'index.sqlite'));
    },
  },
  {
    // every substring matching more than 3 files walks the stable order
    name: 'sqlite (walking)',
    missing: () => undefined,
    open: async (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'optarc-search-'));
      t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
      return new SqliteIndex(path.join(dir, 'index.sqlite'), { candidateCap: 3 });
    },
  },
  {
    name: 'postgres',
    missing: postgresMissing,
    open: async () => PostgresIndex.open(await freshDatabase(await sharedPostgres())),
  },
  {
    // every substring with more than 2 matching strings or 3 files walks the stable order
    name: 'postgres (walking)',
    missing: postgresMissing,
    open: async () =>
      PostgresIndex.open(await freshDatabase(await sharedPostgres()), { substringCaps: { strings: 2, files: 3 } }),
  },
];

async function loaded(t: ExecutionContext, b: Backend, volumes = VOLUMES): Promise<SearchIndex> {
  const index = await b.open(t);
  t.teardown(() => index.close());
  for (const [i, m] of volumes.entries()) await index.indexVolume(indexed(m, ACKED + i));
  return index;
}

function backendTest(b: Backend, title: string, fn: (t: ExecutionContext, index: SearchIndex) => Promise<void>) {
  const missing = b.missing();
  if (missing) test.skip(`${b.name}: ${title} [SKIPPED: ${missing}]`, () => {});
  else test(`${b.name}: ${title}`, async (t) => fn(t, await loaded(t, b)));
}

// ---------------------------------------------------------------- every backend

for (const b of BACKENDS) {
  backendTest(b, 'every query gives the hits of its model, in the stable order', async (t, index) => {
    const files = modelFiles(VOLUMES);
    for (const q of QUERIES) {
      const hits = await index.findFiles(q);
      t.deepEqual(hits.map(keyOf), model(files, q), JSON.stringify(q));
    }
  });

  backendTest(b, 'a hit carries its file, its volume and where its bytes are', async (t, index) => {
    const [cube] = await index.findFiles({ sites: ['lab-a'], path: 'big/cube.fits', limit: 10 });
    const f = A1.files[12]!;
    t.deepEqual(cube, {
      site: 'lab-a',
      vsn: 'A00001',
      entry: 12,
      path: 'big/cube.fits',
      size: 9_000_000,
      sha256: f.sha256,
      mtimeSeconds: f.mtimeSeconds,
      mode: 0o100644,
      session: 2,
      part: null,
      key: 'sites/lab-a/volumes/A00001/image.iso',
      versionId: 'v-a00001',
      extents: f.extents,
      copies: A1.copies,
      volumeCreatedAt: Date.parse('2024-01-10T08:00:00Z'),
    });
    t.is(cube!.extents.length, 3);
    const [split] = await index.findFiles({ sites: ['lab-a'], pathContains: 'split.tar', limit: 10 });
    t.deepEqual(split!.part, { index: 1, count: 2, offset: 0, length: 4_000_000 });
    t.deepEqual(split!.extents, A1.files[13]!.extents);
    const [top] = await index.findFiles({ sites: ['lab-a'], path: 'top-level.txt', limit: 10 });
    t.like(top, { size: 0, mode: 0o100600, entry: 14 });
  });

  backendTest(b, 'SQL-looking and LIKE-looking text is data', async (t, index) => {
    const find = async (q: Partial<FileQuery>) => paths(await index.findFiles({ sites: ALL, limit: 100, ...q }));
    t.deepEqual(await find({ pathContains: "'brien; DROP TABLE indexed_files; --" }), [SQLISH, SQLISH]);
    t.deepEqual(await find({ pathContains: "'; DROP TABLE indexed_files; --" }), []);
    t.deepEqual(await find({ path: SQLISH, sites: ['lab-b'] }), [SQLISH]);
    // % and _ are themselves, not wildcards
    t.deepEqual(await find({ pathContains: '100%_' }), ['pct/100%_done.txt', 'c/pct/100%_done.txt']);
    t.deepEqual(await find({ pathContains: '0%x' }), ['pct/100%xdone.txt']);
    t.deepEqual(await find({ pathContains: '0x_d' }), ['pct/100x_done.txt']);
    t.deepEqual(await find({ pathContains: '___' }), []);
    t.deepEqual(await find({ path: 'pct/100__done.txt' }), []);
    t.deepEqual(await find({ pathContains: '\\slash\\' }), ['back\\slash\\name.txt']);
    t.deepEqual(await find({ pathContains: '"double" and \'' }), ['quotes/"double" and \'single\'.txt']);
    // the tables are still there
    t.is((await index.findFiles({ sites: ALL, limit: 1000 })).length, modelFiles(VOLUMES).length);
  });

  backendTest(b, 'substrings fold ASCII case only, and may span slashes', async (t, index) => {
    const find = async (pathContains: string) =>
      paths(await index.findFiles({ sites: ['lab-a'], limit: 100, pathContains }));
    t.deepEqual(await find('mixed.TXT'), ['UPPER/lower/MiXeD.TXT']);
    t.deepEqual(await find('M31.FITS'), ['night1/M31.fits', 'night1/M31.fits', 'night1/M31.fits']);
    t.deepEqual(await find('CAF'), ['unicode/café-Ünïcødé/日本語ファイル.txt', 'unicode/CAFÉ/x.txt']);
    t.deepEqual(await find('cafÉ'), ['unicode/CAFÉ/x.txt']);
    t.deepEqual(await find('ünï'), []);
    t.deepEqual(await find('ÜNÏ'), []);
    t.deepEqual(await find('Ünï'), ['unicode/café-Ünïcødé/日本語ファイル.txt']);
    t.deepEqual(await find('é/日本語フ'), ['unicode/café-Ünïcødé/日本語ファイル.txt']);
    t.deepEqual(await find('night1/m'), ['night1/M31.fits', 'night1/M31.fits', 'night1/M31.fits']);
    t.deepEqual(await find('LING/'), ['odd/trailing/']);
    t.deepEqual(await find('ble//s'), ['a//double//slash']);
    t.deepEqual(await find('/frame-00001'), ['survey/field/frame-00001.fits']);
  });

  backendTest(b, 'a reader sees its sites only, and no sites is nothing', async (t, index) => {
    const everything: Partial<FileQuery>[] = [
      {},
      { path: 'night1/M31.fits' },
      { pathContains: 'M31' },
      { sha256: SHARED_SHA },
      { vsn: 'A00001' },
    ];
    for (const q of everything) {
      const b1 = await index.findFiles({ sites: ['lab-b'], limit: 1000, ...q });
      t.true(
        b1.every((h) => h.site === 'lab-b'),
        JSON.stringify(q),
      );
      if (q.vsn === undefined) t.true(b1.length > 0, JSON.stringify(q));
      t.deepEqual(await index.findFiles({ sites: [], limit: 1000, ...q }), []);
    }
    t.deepEqual(paths(await index.findFiles({ sites: ['lab-b'], sha256: SHARED_SHA, limit: 10 })), ['night1/M31.fits']);
    t.deepEqual(
      (await index.findFiles({ sites: ALL, sha256: SHARED_SHA, limit: 10 })).map(
        (h) => `${h.site}/${h.vsn}/${h.entry}`,
      ),
      ['lab-a/A00001/0', 'lab-a/A00002/1', 'lab-a/A00002/2', 'lab-b/B00001/0'],
    );
    t.deepEqual(await index.findFiles({ sites: ['lab-b'], pathContains: 'survey', limit: 10 }), []);
    t.deepEqual(await index.listVolumes({ sites: [], limit: 10 }), []);
    t.deepEqual(
      (await index.listVolumes({ sites: ['lab-b'], limit: 10 })).map((v) => v.vsn),
      ['B00001'],
    );
  });

  backendTest(b, 'paging with `after` gives every hit once, in order, as one page does', async (t, index) => {
    const queries: FileQuery[] = [
      { sites: ALL, limit: 7 },
      { sites: ['lab-c', 'lab-a'], pathContains: 'fits', limit: 9 },
      { sites: ALL, pathContains: 'm31', limit: 4 },
      { sites: ALL, pathContains: '/frame-001', limit: 3 },
      { sites: ALL, sha256: SHARED_SHA, limit: 1 },
      { sites: ALL, sizeMin: 10_500, sizeMax: 20_000, limit: 11 },
    ];
    for (const q of queries) {
      const whole = await index.findFiles({ ...q, limit: 1000 });
      t.true(whole.length > q.limit, `${JSON.stringify(q)} needs several pages`);
      const paged: FileHit[] = [];
      let after: FileKey | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page = await index.findFiles({ ...q, ...(after ? { after } : {}) });
        t.true(page.length <= q.limit);
        paged.push(...page);
        if (page.length < q.limit) break;
        after = keyOf(page[page.length - 1]!);
      }
      t.deepEqual(paged, whole, JSON.stringify(q));
      for (let i = 1; i < paged.length; i++) t.true(keyOrder(paged[i - 1]!, paged[i]!) < 0, 'strictly in order');
    }
  });

  backendTest(b, 'reindexing a volume replaces its files wholly', async (t, index) => {
    const before = await index.findFiles({ sites: ['lab-a'], vsn: 'A00001', limit: 1000 });
    t.is(before.length, A1.files.length);
    const again = manifest('lab-a', 'A00001', '2024-07-01T00:00:00Z', [
      { path: 'night1/M31.fits', size: 5, session: 1 },
      { path: 'appended/new.txt', size: 6, session: 2 },
    ]);
    await index.indexVolume({ ...indexed(again, ACKED + 99), versionId: 'v-newer' });
    const after = await index.findFiles({ sites: ['lab-a'], vsn: 'A00001', limit: 1000 });
    t.deepEqual(
      after.map((h) => [h.entry, h.path, h.size, h.versionId, h.volumeCreatedAt]),
      [
        [0, 'night1/M31.fits', 5, 'v-newer', Date.parse('2024-07-01T00:00:00Z')],
        [1, 'appended/new.txt', 6, 'v-newer', Date.parse('2024-07-01T00:00:00Z')],
      ],
    );
    // nothing of the old list is left, by any way of asking
    t.deepEqual(await index.findFiles({ sites: ['lab-a'], pathContains: 'notes.txt', limit: 10 }), []);
    t.deepEqual(await index.findFiles({ sites: ['lab-a'], path: SQLISH, limit: 10 }), []);
    t.deepEqual(
      await index.findFiles({
        sites: ['lab-a'],
        vsn: 'A00001',
        after: { site: 'lab-a', vsn: 'A00001', entry: 1 },
        limit: 10,
      }),
      [],
    );
    t.deepEqual(
      (await index.findFiles({ sites: ['lab-a'], sha256: SHARED_SHA, limit: 10 })).map((h) => h.vsn),
      ['A00002', 'A00002'],
    );
    // the other volumes are untouched
    t.is((await index.findFiles({ sites: ALL, limit: 1000 })).length, modelFiles([again, A2, A3, B1, C1]).length);
    const [v] = await index.listVolumes({ sites: ['lab-a'], vsn: 'A00001', limit: 10 });
    t.like(v, { files: 2, bytes: 11, versionId: 'v-newer', ackedAt: ACKED + 99 });
    t.deepEqual(
      (await index.volumes()).find((x) => x.vsn === 'A00001'),
      { site: 'lab-a', vsn: 'A00001', versionId: 'v-newer', files: 2 },
    );
    // and a volume reindexed with no files at all keeps its row, with nothing in it
    await index.indexVolume(indexed(manifest('lab-c', 'C00001', '2023-12-24T00:00:00Z', []), ACKED));
    t.deepEqual(await index.findFiles({ sites: ['lab-c'], limit: 10 }), []);
    t.like((await index.listVolumes({ sites: ['lab-c'], limit: 10 }))[0], { files: 0, bytes: 0 });
  });

  backendTest(b, 'listVolumes: scoped, filtered, paged, with counts and bytes', async (t, index) => {
    const all = await index.listVolumes({ sites: ALL, limit: 100 });
    t.deepEqual(
      all.map((v) => `${v.site}/${v.vsn}`),
      ['lab-a/A00001', 'lab-a/A00002', 'lab-a/A00003', 'lab-b/B00001', 'lab-c/C00001'],
    );
    for (const [i, m] of VOLUMES.entries()) {
      const v = all.find((x) => x.vsn === m.vsn)!;
      t.deepEqual(v, {
        site: m.site,
        vsn: m.vsn,
        label: m.label,
        media: 'bd-25',
        key: `sites/${m.site}/volumes/${m.vsn}/image.iso`,
        versionId: `v-${m.vsn.toLowerCase()}`,
        manifestKey: `sites/${m.site}/volumes/${m.vsn}/manifest.json`,
        imageBytes: m.image.bytes,
        imageSha256: m.image.sha256,
        sessions: m.sessions,
        copies: m.copies,
        createdAt: Date.parse(m.createdAt),
        ackedAt: ACKED + i,
        files: m.files.length,
        bytes: m.files.reduce((s, f) => s + f.size, 0),
      });
    }
    t.is(all[0]!.sessions, 2);
    t.is(all[0]!.files, 19);
    const list = async (q: Partial<VolumeQuery>) =>
      (await index.listVolumes({ sites: ALL, limit: 100, ...q })).map((v) => v.vsn);
    t.deepEqual(await list({ createdSince: Date.parse('2024-02-01T00:00:00Z') }), ['A00002', 'A00003', 'B00001']);
    t.deepEqual(await list({ createdSince: Date.parse('2024-06-01T12:00:00.501Z') }), []);
    t.deepEqual(await list({ after: { site: 'lab-a', vsn: 'A00002' } }), ['A00003', 'B00001', 'C00001']);
    t.deepEqual(await list({ after: { site: 'lab-a', vsn: 'A00002' }, limit: 2 }), ['A00003', 'B00001']);
    t.deepEqual(await list({ after: { site: 'lab-b', vsn: '' } }), ['B00001', 'C00001']);
    t.deepEqual(await list({ limit: 1 }), ['A00001']);
    t.deepEqual(await list({ vsn: 'B00001' }), ['B00001']);
    t.deepEqual(await list({ vsn: 'B00001', sites: ['lab-a'] }), []);
    t.deepEqual(await list({ sites: ['lab-c', 'lab-b'] }), ['B00001', 'C00001']);
    // C00001 was made at 05:00Z on Christmas Eve (its createdAt has an offset)
    t.deepEqual(await list({ createdSince: Date.parse('2023-12-24T05:00:00Z') }), [
      'A00001',
      'A00002',
      'A00003',
      'B00001',
      'C00001',
    ]);
    t.deepEqual(
      (await index.listVolumes({ sites: ALL, createdSince: Date.parse('2023-12-24T05:00:00.001Z'), limit: 100 })).map(
        (v) => v.vsn,
      ),
      ['A00001', 'A00002', 'A00003', 'B00001'],
    );
  });

  backendTest(b, 'volumes() lists every volume in order with its file count', async (t, index) => {
    t.deepEqual(await index.volumes(), [
      { site: 'lab-a', vsn: 'A00001', versionId: 'v-a00001', files: 19 },
      { site: 'lab-a', vsn: 'A00002', versionId: 'v-a00002', files: 3 },
      { site: 'lab-a', vsn: 'A00003', versionId: 'v-a00003', files: 240 },
      { site: 'lab-b', vsn: 'B00001', versionId: 'v-b00001', files: 3 },
      { site: 'lab-c', vsn: 'C00001', versionId: 'v-c00001', files: 2 },
    ]);
  });
  backendTest(b, 'a top-level path with a leading slash keeps it', async (t, index) => {
    const m = manifest('lab-c', 'C00009', '2024-01-01T00:00:00Z', [{ path: '/rootfile' }, { path: 'rootfile' }]);
    await index.indexVolume(indexed(m, ACKED));
    const find = async (q: Partial<FileQuery>) =>
      (await index.findFiles({ sites: ['lab-c'], vsn: 'C00009', limit: 10, ...q })).map((h) => h.path);
    t.deepEqual(await find({}), ['/rootfile', 'rootfile']);
    t.deepEqual(await find({ path: '/rootfile' }), ['/rootfile']);
    t.deepEqual(await find({ path: 'rootfile' }), ['rootfile']);
    t.deepEqual(await find({ pathContains: '/root' }), ['/rootfile']);
    t.deepEqual(await find({ pathContains: 'tfile' }), ['/rootfile', 'rootfile']);
  });
}

// ---------------------------------------------------------------- the backends agree

const pgMissing = postgresMissing();
(pgMissing ? test.skip : test)(
  `sqlite and postgres give deep-equal answers to the same queries over the same data${pgMissing ? ` [SKIPPED: ${pgMissing}]` : ''}`,
  async (t) => {
    const [sqlite, sqliteWalking, postgres, walking] = await Promise.all(BACKENDS.map((b) => loaded(t, b)));
    const pages: FileQuery[] = [];
    for (const q of QUERIES) {
      pages.push(q);
      // and the page after each hit of the query's first page
      for (const h of (await sqlite!.findFiles(q)).slice(0, 3)) pages.push({ ...q, after: keyOf(h) });
    }
    let hits = 0;
    for (const q of pages) {
      const expected = await sqlite!.findFiles(q);
      hits += expected.length;
      t.deepEqual(await postgres!.findFiles(q), expected, JSON.stringify(q));
      t.deepEqual(await walking!.findFiles(q), expected, `walking: ${JSON.stringify(q)}`);
      t.deepEqual(await sqliteWalking!.findFiles(q), expected, `sqlite walking: ${JSON.stringify(q)}`);
    }
    t.true(hits > 2000, `the queries found something (${hits} hits)`);
    const volumeQueries: VolumeQuery[] = [
      { sites: ALL, limit: 100 },
      { sites: ['lab-b', 'lab-a'], limit: 2 },
      { sites: ALL, createdSince: Date.parse('2024-02-01T00:00:00Z'), limit: 100 },
      { sites: ALL, after: { site: 'lab-a', vsn: 'A00003' }, limit: 100 },
      { sites: ALL, vsn: 'A00002', limit: 100 },
    ];
    for (const q of volumeQueries) {
      t.deepEqual(await postgres!.listVolumes(q), await sqlite!.listVolumes(q), JSON.stringify(q));
    }
    t.deepEqual(await postgres!.volumes(), await sqlite!.volumes());
    // and after a reindex of one volume
    const again = manifest('lab-a', 'A00002', '2024-08-01T00:00:00Z', [{ path: 'night2/only.fits', size: 1 }]);
    for (const index of [sqlite!, postgres!]) await index.indexVolume(indexed(again, ACKED + 7));
    t.deepEqual(
      await postgres!.findFiles({ sites: ALL, limit: 1000 }),
      await sqlite!.findFiles({ sites: ALL, limit: 1000 }),
    );
    t.deepEqual(
      await postgres!.listVolumes({ sites: ALL, limit: 100 }),
      await sqlite!.listVolumes({ sites: ALL, limit: 100 }),
    );
  },
);
