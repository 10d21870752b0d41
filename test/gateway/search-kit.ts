/**
 * The search tests' gateway: the real handlers on a local host, with its own
 * store, a manifest index (SQLite, or PostgreSQL on the shared test cluster)
 * and a fresh versioned bucket on the shared test RGW. Synthetic volumes are
 * put in the bucket as a mirror would leave them (the image object, its
 * manifest beside it) and indexed by `reindex`, so every hit's restore links
 * serve real bytes. Files sit at 2 KiB-aligned offsets in the image like
 * ISO 9660 extents; one file is cut into three separate extents, as a file
 * over 4 GiB would be.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ExecutionContext } from 'ava';
import { configSchema } from '../../config/schema.js';
import type { GatewaySettings } from '../../gateway/handlers/events.js';
import { startLocalHost } from '../../gateway/host/local-host.js';
import { ReaderTokens } from '../../gateway/identity/reader-tokens.js';
import { volumeKeys } from '../../gateway/mirror/mirror-keys.js';
import { VolumeManifest } from '../../gateway/protocol/volume-manifest.js';
import { ObjectStore } from '../../gateway/s3/object-store.js';
import { reindex } from '../../gateway/search/reindex.js';
import type { SearchIndex } from '../../gateway/search/search-index.js';
import { SqliteIndex } from '../../gateway/search/sqlite-index.js';
import { GatewayStore } from '../../gateway/store/gateway-store.js';
import { s3ClientConfig } from '../../infra/rgw/rgw.js';
import { sharedRgw } from '../helpers/test-rgw.js';

export interface SearchGateway {
  url: string;
  /** Reader token for site lab-1. */
  token: string;
  /** Reader token for site lab-2 only. */
  otherToken: string;
  /** Every indexed file of site lab-1: path -> its exact bytes. */
  files: Map<string, Buffer>;
  /** lab-1's volumes, in order. */
  vsns: string[];
  /** What the kit put in: per volume, its manifest. */
  manifests: VolumeManifest[];
  index: SearchIndex;
  store: GatewayStore;
  /** The store's file, for the gateway's CLI (`--config` with gateway.store). */
  storeFile: string;
  objects: ObjectStore;
  bucket: string;
  /** The gateway settings the host runs with. */
  settings: GatewaySettings;
  close(): Promise<void>;
}

export interface SyntheticFile {
  path: string;
  bytes: Buffer;
  mtimeSeconds?: number;
  /** Cut into this many extents with gaps between them. */
  extents?: number;
  session?: number;
}

export interface SyntheticVolume {
  site: string;
  vsn: string;
  createdAt: string;
  files: SyntheticFile[];
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const SECTOR = 2048;

/** The image bytes and the manifest a mirror would have left for `v`. */
export function buildVolume(v: SyntheticVolume): { image: Buffer; manifest: VolumeManifest } {
  const chunks: Buffer[] = [Buffer.alloc(16 * SECTOR, 0x20)]; // a system area, as ISO 9660 has
  let offset = chunks[0]!.length;
  const pad = () => {
    const gap = (SECTOR - (offset % SECTOR)) % SECTOR;
    chunks.push(Buffer.alloc(gap, 0xee));
    offset += gap;
  };
  const files = v.files.map((f) => {
    const n = f.extents ?? 1;
    const extents: { offset: number; length: number }[] = [];
    const step = Math.ceil(f.bytes.length / n);
    for (let i = 0; i < n && f.bytes.length > 0; i++) {
      const piece = f.bytes.subarray(i * step, Math.min(f.bytes.length, (i + 1) * step));
      if (piece.length === 0) continue;
      pad();
      if (i > 0) {
        // another file's sectors between two extents
        chunks.push(Buffer.alloc(SECTOR, 0xab));
        offset += SECTOR;
      }
      extents.push({ offset, length: piece.length });
      chunks.push(piece);
      offset += piece.length;
    }
    pad();
    return {
      path: f.path,
      pathBase64: Buffer.from(f.path).toString('base64'),
      imagePath: `/${f.path.replace(/[^A-Za-z0-9_./-]/g, '_')}`,
      size: f.bytes.length,
      sha256: sha256(f.bytes),
      mode: 0o644,
      mtimeSeconds: f.mtimeSeconds ?? 1_700_000_000,
      mtimeNanoseconds: 0,
      session: f.session ?? 1,
      extents,
    };
  });
  const image = Buffer.concat(chunks);
  const manifest = VolumeManifest.parse({
    format: 'optarc-volume-manifest',
    version: 1,
    site: v.site,
    vsn: v.vsn,
    label: `${v.vsn} label`,
    media: 'bd-r',
    clientId: 'kit',
    createdAt: v.createdAt,
    sessions: Math.max(1, ...files.map((f) => f.session)),
    appendable: false,
    image: { bytes: image.length, sha256: sha256(image) },
    copies: [
      { copy: 1, drive: 'sr0', medium: 'shelf/A1', verifiedAt: v.createdAt },
      { copy: 2, drive: 'sr1', medium: 'shelf/B7', verifiedAt: v.createdAt },
    ],
    files,
  });
  return { image, manifest };
}

/** Deterministic bytes of `n` length, different per `seed`. */
export function bytesOf(seed: string, n: number): Buffer {
  const out = Buffer.alloc(n);
  let block = crypto.createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += block.length) {
    block.copy(out, i);
    block = crypto.createHash('sha256').update(block).digest();
  }
  return out;
}

export const HOSTILE_PATH = `night3/<script>alert(1)</script> "quoted" 'it''s'.txt`;

/** The kit's volumes: three at lab-1 (created 2026-01-10, 2026-03-05, 2026-06-20), one at lab-2. */
export function defaultVolumes(): SyntheticVolume[] {
  return [
    {
      site: 'lab-1',
      vsn: 'OPT000001',
      createdAt: '2026-01-10T09:00:00.000Z',
      files: [
        {
          path: 'night1/m31.fits',
          bytes: bytesOf('m31-1', 70_000),
          mtimeSeconds: Date.parse('2025-12-01T00:00:00Z') / 1000,
        },
        {
          path: 'night1/m42.fits',
          bytes: bytesOf('m42', 5_000),
          mtimeSeconds: Date.parse('2025-12-02T00:00:00Z') / 1000,
        },
        {
          path: 'night1/notes.txt',
          bytes: Buffer.from('clear skies\n'),
          mtimeSeconds: Date.parse('2025-12-03T00:00:00Z') / 1000,
        },
        { path: 'night1/empty.dat', bytes: Buffer.alloc(0) },
      ],
    },
    {
      site: 'lab-1',
      vsn: 'OPT000002',
      createdAt: '2026-03-05T12:00:00.000Z',
      files: [
        {
          path: 'night2/big-cube.fits',
          bytes: bytesOf('cube', 300_000),
          extents: 3,
          mtimeSeconds: Date.parse('2026-02-01T00:00:00Z') / 1000,
        },
        { path: HOSTILE_PATH, bytes: Buffer.from('<b>not markup</b>\n') },
        { path: "night2/o'brien; DROP TABLE index_files; --.txt", bytes: Buffer.from('data, not code\n') },
        { path: 'night2/100%_done.log', bytes: Buffer.from('percent and underscore\n') },
      ],
    },
    {
      site: 'lab-1',
      vsn: 'OPT000003',
      createdAt: '2026-06-20T18:30:00.000Z',
      files: [
        {
          path: 'night4/m31.fits',
          bytes: bytesOf('m31-4', 90_000),
          mtimeSeconds: Date.parse('2026-06-01T00:00:00Z') / 1000,
        },
        { path: 'night4/M31-README.TXT', bytes: Buffer.from('Andromeda\n') },
        ...Array.from({ length: 12 }, (_, i) => ({
          path: `night4/frames/frame-${String(i).padStart(3, '0')}.raw`,
          bytes: bytesOf(`frame${i}`, 3000 + i),
        })),
      ],
    },
    {
      site: 'lab-2',
      vsn: 'OPT000001',
      createdAt: '2026-02-01T00:00:00.000Z',
      files: [{ path: 'secret/m31.fits', bytes: bytesOf('lab2', 4000) }],
    },
  ];
}

export async function startSearchGateway(
  t: ExecutionContext,
  options: { backend?: 'sqlite' | 'postgres'; volumes?: SyntheticVolume[]; cursorKey?: string } = {},
): Promise<SearchGateway> {
  const rgw = await sharedRgw();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'optarc-search-'));
  const bucket = `optarc-search-${crypto.randomBytes(4).toString('hex')}`;
  const settings = configSchema.parse({
    gateway: {
      s3: { endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, bucket },
      ...(options.cursorKey ? { search: { cursorKey: options.cursorKey } } : {}),
    },
  }).gateway;
  const objects = ObjectStore.fromConfig(settings);
  await objects.ensureBucket();
  await objects.allowBrowserDownloads();
  const storeFile = path.join(dir, 'gateway.sqlite');
  const store = new GatewayStore(storeFile);
  const index = await openTestIndex(options.backend ?? 'sqlite', dir);

  const volumes = options.volumes ?? defaultVolumes();
  const s3 = new S3Client(s3ClientConfig(rgw));
  const files = new Map<string, Buffer>();
  const manifests: VolumeManifest[] = [];
  try {
    for (const v of volumes) {
      const { image, manifest } = buildVolume(v);
      const keys = volumeKeys(v.site, v.vsn);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keys.image, Body: image }));
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: keys.manifest,
          Body: JSON.stringify(manifest),
          ContentType: 'application/json',
        }),
      );
      manifests.push(manifest);
      if (v.site === 'lab-1') for (const f of v.files) files.set(f.path, f.bytes);
    }
  } finally {
    s3.destroy();
  }
  const r = await reindex(objects, index, settings.mirror.maxManifestBytes);
  t.deepEqual(r.skipped, [], 'every kit volume indexed');

  const readers = new ReaderTokens(store);
  const token = readers.issue(['lab-1']).token;
  const otherToken = readers.issue(['lab-2']).token;
  const host = await startLocalHost({ host: '127.0.0.1', port: 0, store, objects, index, settings });
  let closed = false;
  const gw: SearchGateway = {
    url: `http://127.0.0.1:${host.port}`,
    token,
    otherToken,
    files,
    vsns: [...new Set(volumes.filter((v) => v.site === 'lab-1').map((v) => v.vsn))].sort(),
    manifests,
    index,
    store,
    storeFile,
    objects,
    bucket,
    settings,
    async close() {
      if (closed) return;
      closed = true;
      await host.close();
      await index.close();
      store.close();
      objects.destroy();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  t.teardown(() => gw.close());
  return gw;
}

async function openTestIndex(backend: 'sqlite' | 'postgres', dir: string): Promise<SearchIndex> {
  if (backend === 'sqlite') return new SqliteIndex(path.join(dir, 'index.sqlite'));
  const { sharedPostgres, freshDatabase } = await import('../helpers/test-postgres.js');
  const { PostgresIndex } = await import('../../gateway/search/postgres-index.js');
  return PostgresIndex.open(await freshDatabase(await sharedPostgres()));
}
