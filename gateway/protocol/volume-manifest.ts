/**
 * A volume's manifest as it is mirrored to S3 beside the image: what the disc
 * holds, file by file, and where each file's bytes sit in the image, so one
 * ranged GET of the image object restores one file. The agent writes it
 * (edge-agent/mirror/volume-manifest.ts), the gateway checks it against what
 * the agent declared before acknowledging the mirror, and the search index
 * reads it. The gateway owns the schema, like the session messages.
 *
 * Names: a client's names are bytes (ISO-8859-1 or UTF-8, per agent); each
 * file carries them exactly (`pathBase64`) and as text for people (`path`,
 * invalid sequences replaced). `imagePath` is the name inside the image.
 * Sizes, offsets and times are safe integers (see session-messages.ts).
 */
import { z } from 'zod';
import { ByteCount, Sha256Hex, SiteName, Vsn } from './session-messages.js';

export const MANIFEST_FORMAT = 'optarc-volume-manifest';
export const MAX_MANIFEST_FILES = 2_000_000;

const Extent = z.strictObject({ offset: ByteCount, length: ByteCount });
const IsoTime = z.string().datetime({ offset: true });

/** A path as text: no NUL (no POSIX name holds one, and PostgreSQL text cannot). */
const PathText = z
  .string()
  .min(1)
  .max(4096)
  .refine((s) => !s.includes('\u0000'), 'must not contain a NUL character');

export const ManifestFile = z.strictObject({
  path: PathText,
  pathBase64: z.string().max(8192),
  imagePath: PathText,
  size: ByteCount,
  sha256: Sha256Hex,
  mode: z.number().int().min(0).max(0o7777777),
  mtimeSeconds: z.number().int(),
  mtimeNanoseconds: z.number().int().min(0).max(999_999_999),
  /** The disc session that added the file (APPEND adds sessions). */
  session: z.number().int().min(1).max(1000),
  /** Set when a file too big for one disc was cut into parts across volumes. */
  part: z
    .strictObject({
      index: z.number().int().min(1),
      count: z.number().int().min(2),
      offset: ByteCount,
      length: ByteCount,
    })
    .optional(),
  /** Byte ranges of the file (or part) in the image, in order. */
  extents: z.array(Extent).max(4096),
});

export const ManifestCopy = z.strictObject({
  copy: z.number().int().min(1).max(64),
  drive: z.string().max(64),
  /** Where the disc is: a shelf slot or the stand-in's file. */
  medium: z.string().max(4096).nullable(),
  verifiedAt: IsoTime,
});

export const VolumeManifest = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(1),
  site: SiteName,
  vsn: Vsn,
  label: z.string().max(1024),
  media: z.string().max(64),
  clientId: z.string().max(1024),
  createdAt: IsoTime,
  sessions: z.number().int().min(1).max(1000),
  appendable: z.boolean(),
  image: z.strictObject({ bytes: ByteCount.min(1), sha256: Sha256Hex }),
  copies: z.array(ManifestCopy).max(64),
  files: z.array(ManifestFile).max(MAX_MANIFEST_FILES),
});
export type VolumeManifest = z.infer<typeof VolumeManifest>;

export type ManifestResult = { ok: true; manifest: VolumeManifest } | { ok: false; message: string };

/** Parses and checks a manifest's bytes; never throws. */
export function decodeManifest(bytes: Buffer): ManifestResult {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    return { ok: false, message: `not JSON: ${(e as Error).message}` };
  }
  const r = VolumeManifest.safeParse(value);
  if (r.success) return { ok: true, manifest: r.data };
  const issue = r.error.issues[0]!;
  return { ok: false, message: `${issue.path.join('.') || '(manifest)'}: ${issue.message}` };
}
