/**
 * The manifest the mirror uploads beside a volume's image (schema:
 * gateway/protocol/volume-manifest.ts), built from the catalog: every file of
 * every session with its size, mode, mtime, SHA-256 and byte extents in the
 * image, the verified copies and where they sit. Names are the client's bytes
 * (base64) and their text in the agent's charset, for people and for search.
 *
 * The bytes are deterministic for a given catalog state (the digest the agent
 * declares in mirror.begin must match what it PUTs, even after a restart).
 */
import { createHash } from 'node:crypto';
import { MANIFEST_FORMAT, type VolumeManifest } from '../../gateway/protocol/volume-manifest.js';
import type { Catalog, VolumeRow } from '../catalog/catalog.js';
import type { Charset } from '../staging/names.js';

export interface BuiltManifest {
  bytes: Buffer;
  sha256: string;
  manifest: VolumeManifest;
}

const text = (b: Buffer, charset: Charset) => (charset === 'iso-8859-1' ? b.toString('latin1') : b.toString('utf8'));

export function buildVolumeManifest(
  catalog: Catalog,
  volume: VolumeRow,
  site: string,
  charset: Charset,
): BuiltManifest {
  if (volume.imageBytes === null || volume.imageSha256 === null) {
    throw new Error(`volume ${volume.vsn} has no mastered image to describe`);
  }
  const files = catalog.volumeFiles(volume.id).map((p) => ({
    path: text(p.file.path, charset) || '(empty)',
    pathBase64: p.file.path.toString('base64'),
    imagePath: text(p.imagePath, charset) || '(empty)',
    size: Number(p.part ? p.part.length : p.file.size),
    sha256: p.file.sha256.toString('hex'),
    mode: p.file.mode,
    mtimeSeconds: Number(p.file.mtime.seconds),
    mtimeNanoseconds: p.file.mtime.nanoseconds,
    session: p.session,
    ...(p.part
      ? {
          part: {
            index: p.part.index,
            count: p.part.count,
            offset: Number(p.part.offset),
            length: Number(p.part.length),
          },
        }
      : {}),
    extents: (p.extents ?? []).map((e) => ({ offset: Number(e.offset), length: Number(e.length) })),
  }));
  const copies = catalog
    .volumeCopies(volume.id)
    .filter((c) => c.state === 'verified' && c.verifiedAt !== null)
    .map((c) => ({
      copy: c.copyNo,
      drive: c.drive,
      medium: c.medium,
      verifiedAt: new Date(c.verifiedAt!).toISOString(),
    }));
  const manifest: VolumeManifest = {
    format: MANIFEST_FORMAT,
    version: 1,
    site,
    vsn: volume.vsn,
    label: volume.label,
    media: volume.media,
    clientId: volume.clientId,
    createdAt: new Date(volume.createdAt).toISOString(),
    sessions: volume.sessions,
    appendable: volume.appendable,
    image: { bytes: Number(volume.imageBytes), sha256: volume.imageSha256.toString('hex') },
    copies,
    files,
  };
  const bytes = Buffer.from(`${JSON.stringify(manifest)}\n`, 'utf8');
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), manifest };
}
