/**
 * The part arithmetic of an upload and the `plan` messages that hand an agent
 * presigned URLs for the parts still missing.
 *
 * The part size is the configured one, raised (to a whole MiB) when the image
 * would otherwise need more than S3's 10 000 parts. A plan lists only parts
 * not yet stored (from ListParts), so a resumed upload never re-sends a part,
 * in batches of settings.partsPerPlan; `morePartsFrom` tells the agent where
 * to ask for the next batch. Every plan also carries a fresh presigned PUT for
 * the manifest.
 */
import { encodedSize, MAX_MESSAGE_BYTES } from '../protocol/codec.js';
import {
  type GatewayMessage,
  MAX_PART_SIZE,
  MAX_PARTS,
  MIN_PART_SIZE,
  MiB,
  PROTOCOL_VERSION,
} from '../protocol/session-messages.js';
import type { ObjectStore } from '../s3/object-store.js';
import type { UploadRow } from '../store/gateway-store.js';

export function partSizeFor(size: number, configured: number): number {
  let partSize = Math.max(configured, MIN_PART_SIZE);
  if (Math.ceil(size / partSize) > MAX_PARTS) partSize = Math.ceil(size / MAX_PARTS / MiB) * MiB;
  return Math.min(partSize, MAX_PART_SIZE);
}

export function partCount(size: number, partSize: number): number {
  return Math.max(1, Math.ceil(size / partSize));
}

export function partLength(size: number, partSize: number, partNumber: number): number {
  return Math.min(partSize, size - (partNumber - 1) * partSize);
}

/** A plan of the missing parts numbered fromPart or later, at most `limit` of them. */
export async function planMessage(
  objects: ObjectStore,
  upload: UploadRow,
  replyTo: string,
  fromPart: number,
  stored: ReadonlySet<number>,
  limit: number,
): Promise<GatewayMessage> {
  const count = partCount(upload.size, upload.partSize);
  const missing: number[] = [];
  for (let n = fromPart; n <= count; n++) if (!stored.has(n)) missing.push(n);
  const batch = missing.slice(0, limit);
  const parts: { partNumber: number; url: string; offset: number; length: number }[] = [];
  for (const partNumber of batch) {
    parts.push({
      partNumber,
      url: await objects.presignPart(upload.key, upload.id, partNumber),
      offset: (partNumber - 1) * upload.partSize,
      length: partLength(upload.size, upload.partSize, partNumber),
    });
  }
  const manifest = {
    url: await objects.presignPut(upload.manifestKey, { contentType: 'application/json' }),
    key: upload.manifestKey,
  };
  const plan = (n: number): GatewayMessage => ({
    v: PROTOCOL_VERSION,
    type: 'plan',
    replyTo,
    vsn: upload.vsn,
    uploadId: upload.id,
    key: upload.key,
    partSize: upload.partSize,
    parts: parts.slice(0, n),
    manifest,
    ...(missing.length > n ? { morePartsFrom: missing[n] } : {}),
  });
  // very long URLs: shrink the batch until the message fits
  let n = parts.length;
  while (n > 1 && encodedSize(plan(n)) > MAX_MESSAGE_BYTES) n = Math.floor(n / 2);
  return plan(n);
}
