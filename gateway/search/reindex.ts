/**
 * Rebuilding the index from S3 alone: every `sites/<site>/volumes/<VSN>/manifest.json`
 * in the bucket is read, checked (schema, and that it names the site and VSN of
 * its key) and indexed with the current version of its image. A manifest that
 * does not check out is skipped and reported, never indexed.
 */

import { volumeKeys } from '../mirror/mirror-keys.js';
import { decodeManifest } from '../protocol/volume-manifest.js';
import type { ObjectStore } from '../s3/object-store.js';
import type { SearchIndex } from './search-index.js';

const MANIFEST_KEY = /^sites\/([a-z0-9][a-z0-9-]{0,62})\/volumes\/([A-Z0-9_]{1,32})\/manifest\.json$/;

export interface ReindexResult {
  volumes: number;
  files: number;
  skipped: { key: string; reason: string }[];
}

export async function reindex(
  objects: ObjectStore,
  index: SearchIndex,
  maxManifestBytes: number,
): Promise<ReindexResult> {
  const result: ReindexResult = { volumes: 0, files: 0, skipped: [] };
  for (const o of await objects.listObjects('sites/')) {
    const m = MANIFEST_KEY.exec(o.key);
    if (!m) continue;
    const [, site, vsn] = m as unknown as [string, string, string];
    const skip = (reason: string) => result.skipped.push({ key: o.key, reason });
    let body: Buffer;
    try {
      body = (await objects.getSmall(o.key, maxManifestBytes)).body;
    } catch (e) {
      skip((e as Error).message);
      continue;
    }
    const decoded = decodeManifest(body);
    if (!decoded.ok) {
      skip(decoded.message);
      continue;
    }
    const manifest = decoded.manifest;
    if (manifest.site !== site || manifest.vsn !== vsn) {
      skip(`describes ${manifest.site}/${manifest.vsn}, not ${site}/${vsn}`);
      continue;
    }
    const key = volumeKeys(site, vsn).image;
    const head = await objects.head(key);
    if (!head || head.size !== manifest.image.bytes) {
      skip(`its image ${key} is ${head ? `${head.size} bytes, not ${manifest.image.bytes}` : 'missing'}`);
      continue;
    }
    await index.indexVolume({
      site,
      vsn,
      key,
      versionId: head.versionId ?? 'null',
      manifestKey: o.key,
      ackedAt: o.lastModified.getTime(),
      manifest,
    });
    result.volumes++;
    result.files += manifest.files.length;
  }
  return result;
}
