/**
 * Rebuilding the index from S3 alone: every `sites/<site>/volumes/<VSN>/manifest.json`
 * in the bucket is read, checked (schema, and that it names the site and VSN of
 * its key) and indexed with the current version of its image. A manifest that
 * does not check out is skipped and reported, never indexed.
 */

import { volumeKeys } from '../mirror/mirror-keys.js';
import { decodeManifest } from '../protocol/volume-manifest.js';
import type { ObjectStore } from '../s3/object-store.js';
import type { IndexedVolume, SearchIndex } from './search-index.js';

const MANIFEST_KEY = /^sites\/([a-z0-9][a-z0-9-]{0,62})\/volumes\/([A-Z0-9_]{1,32})\/manifest\.json$/;

export interface ReindexResult {
  volumes: number;
  files: number;
  skipped: { key: string; reason: string }[];
}

/** Manifests fetched and checked ahead of the one being indexed. */
const PREFETCH = 4;

type Fetched = { ok: true; volume: IndexedVolume } | { ok: false; key: string; reason: string };

/** One manifest from S3, checked: against its schema, its key, and its image's size. */
async function fetchVolume(
  objects: ObjectStore,
  o: { key: string; lastModified: Date },
  site: string,
  vsn: string,
  maxManifestBytes: number,
): Promise<Fetched> {
  const skip = (reason: string): Fetched => ({ ok: false, key: o.key, reason });
  let body: Buffer;
  try {
    body = (await objects.getSmall(o.key, maxManifestBytes)).body;
  } catch (e) {
    return skip((e as Error).message);
  }
  const decoded = decodeManifest(body);
  if (!decoded.ok) return skip(decoded.message);
  const manifest = decoded.manifest;
  if (manifest.site !== site || manifest.vsn !== vsn) {
    return skip(`describes ${manifest.site}/${manifest.vsn}, not ${site}/${vsn}`);
  }
  const key = volumeKeys(site, vsn).image;
  const head = await objects.head(key);
  if (!head || head.size !== manifest.image.bytes) {
    return skip(`its image ${key} is ${head ? `${head.size} bytes, not ${manifest.image.bytes}` : 'missing'}`);
  }
  return {
    ok: true,
    volume: {
      site,
      vsn,
      key,
      versionId: head.versionId ?? 'null',
      manifestKey: o.key,
      ackedAt: o.lastModified.getTime(),
      manifest,
    },
  };
}

export async function reindex(
  objects: ObjectStore,
  index: SearchIndex,
  maxManifestBytes: number,
): Promise<ReindexResult> {
  const result: ReindexResult = { volumes: 0, files: 0, skipped: [] };
  const manifests = (await objects.listObjects('sites/')).flatMap((o) => {
    const m = MANIFEST_KEY.exec(o.key);
    return m ? [{ o, site: m[1]!, vsn: m[2]! }] : [];
  });
  await index.bulk(async () => {
    // fetch a few ahead, index in listing order
    const pending: Promise<Fetched>[] = [];
    let next = 0;
    const fill = () => {
      while (pending.length < PREFETCH && next < manifests.length) {
        const { o, site, vsn } = manifests[next++]!;
        pending.push(fetchVolume(objects, o, site, vsn, maxManifestBytes));
      }
    };
    fill();
    while (pending.length > 0) {
      const got = await pending.shift()!;
      fill();
      if (!got.ok) {
        result.skipped.push({ key: got.key, reason: got.reason });
        continue;
      }
      await index.indexVolume(got.volume);
      result.volumes++;
      result.files += got.volume.manifest.files.length;
    }
  });
  return result;
}
