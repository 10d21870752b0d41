/**
 * The mirror conversation, gateway side: `mirror.begin` and `plan.more` are
 * answered with a `plan`, `mirror.complete` with an `ack` once the object is
 * proven to be what the agent declared.
 *
 * - begin: a volume already mirrored with the same image SHA-256 and manifest
 *   digest is acknowledged at once (the agent lost the ack: nothing is sent
 *   twice). An open upload of the same image is resumed: ListParts tells which
 *   parts S3 holds and the plan lists only the others. An upload S3 no longer
 *   knows (aborted by the sweeper or a lifecycle rule) is forgotten and a new
 *   one begun. Otherwise a multipart upload is created under the site's prefix.
 * - every request names an upload by S3's id; an upload of another site is
 *   answered UNKNOWN_UPLOAD exactly like one that does not exist, so an agent
 *   can neither use nor learn of another site's uploads.
 * - complete: the agent's list of parts must be every part 1..N, each with the
 *   MD5 it sent and the ETag S3 returned, matching ListParts (sizes included);
 *   then CompleteMultipartUpload, HeadObject (size), the object's SHA-256 read
 *   back by ranged GETs, the manifest read back (digest, schema, and that it
 *   describes this image), and the mirror recorded. A SHA-256 that differs
 *   fails the upload (SHA256_MISMATCH): the agent begins a new one.
 */

import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { type HandlerDeps, settingsOf } from '../handlers/events.js';
import { HandlerError } from '../handlers/handler-error.js';
import type { GatewayMessage, MirrorBegin, MirrorComplete, PlanMore } from '../protocol/session-messages.js';
import { PROTOCOL_VERSION } from '../protocol/session-messages.js';
import { decodeManifest } from '../protocol/volume-manifest.js';
import { type ObjectStore, ObjectStoreError } from '../s3/object-store.js';
import type { SessionRow, UploadRow } from '../store/gateway-store.js';
import { volumeKeys } from './mirror-keys.js';
import { partCount, partLength, partSizeFor, planMessage } from './plan-parts.js';

type Begin = z.infer<typeof MirrorBegin>;
type More = z.infer<typeof PlanMore>;
type Complete = z.infer<typeof MirrorComplete>;

function objectsOf(deps: HandlerDeps): ObjectStore {
  if (!deps.objects)
    throw new HandlerError('S3_NOT_CONFIGURED', 'this gateway has no S3 bucket configured (gateway.s3)');
  return deps.objects;
}

/** The site's upload with this id; UNKNOWN_UPLOAD otherwise (whoever's it is). */
function uploadOf(uploadId: string, session: SessionRow, deps: HandlerDeps): UploadRow {
  const upload = deps.store.upload(uploadId);
  if (!upload || upload.site !== session.site) {
    throw new HandlerError('UNKNOWN_UPLOAD', `uploadId: no upload ${uploadId} for site ${session.site}`);
  }
  return upload;
}

/**
 * The parts S3 holds of an upload the agent goes on with; an upload S3 no
 * longer knows (the sweeper, a lifecycle rule) is recorded aborted and the
 * agent told to begin again (UPLOAD_CLOSED).
 */
async function storedParts(objects: ObjectStore, upload: UploadRow, deps: HandlerDeps) {
  try {
    return await objects.listParts(upload.key, upload.id);
  } catch (e) {
    if (e instanceof ObjectStoreError && e.code === 'NO_SUCH_UPLOAD') {
      deps.store.setUploadState(upload.id, 'aborted', (deps.now ?? Date.now)(), 'S3 no longer knows the upload');
      throw new HandlerError('UPLOAD_CLOSED', `uploadId: upload ${upload.id} was aborted; begin the mirror again`);
    }
    throw e;
  }
}

function ack(replyTo: string, vsn: string, key: string, versionId: string, sha256: string): GatewayMessage {
  return { v: PROTOCOL_VERSION, type: 'ack', replyTo, vsn, key, versionId, sha256 };
}

export async function beginMirror(m: Begin, session: SessionRow, deps: HandlerDeps): Promise<GatewayMessage> {
  const objects = objectsOf(deps);
  const settings = settingsOf(deps).mirror;
  const now = (deps.now ?? Date.now)();
  const done = deps.store.latestMirror(session.site, m.vsn, m.sha256);
  if (done && done.manifestDigest === m.manifestDigest) {
    return ack(m.id, m.vsn, done.key, done.versionId, done.sha256);
  }
  let upload = deps.store.openUpload(session.site, m.vsn, m.sha256);
  if (upload && upload.size !== m.size) {
    // same image digest, another size: the earlier declaration cannot stand
    await objects.abort(upload.key, upload.id);
    deps.store.setUploadState(upload.id, 'aborted', now, 'superseded by a new mirror.begin');
    upload = undefined;
  }
  if (upload && upload.manifestDigest !== m.manifestDigest) {
    // the image is the same, its manifest changed (e.g. more verified copies): keep the parts
    deps.store.setUploadManifestDigest(upload.id, m.manifestDigest, now);
    upload = deps.store.upload(upload.id)!;
  }
  let stored = new Set<number>();
  if (upload) {
    try {
      stored = new Set((await storedParts(objects, upload, deps)).map((p) => p.partNumber));
      deps.store.touchUpload(upload.id, now);
      deps.log?.info('mirror resumed', {
        site: session.site,
        vsn: m.vsn,
        uploadId: upload.id,
        partsStored: stored.size,
      });
    } catch (e) {
      // S3 forgot it (recorded aborted by storedParts): a new upload is begun below
      if (!(e instanceof HandlerError && e.code === 'UPLOAD_CLOSED')) throw e;
      upload = undefined;
    }
  }
  if (!upload) {
    const keys = volumeKeys(session.site, m.vsn);
    const storageClass = settingsOf(deps).policy.storageClass;
    const uploadId = await objects.createUpload(keys.image, {
      storageClass,
      contentType: 'application/octet-stream',
      metadata: { 'optarc-vsn': m.vsn, 'optarc-sha256': m.sha256, 'optarc-site': session.site },
    });
    deps.store.insertUpload({
      id: uploadId,
      site: session.site,
      agentId: session.agentId,
      vsn: m.vsn,
      key: keys.image,
      manifestKey: keys.manifest,
      size: m.size,
      sha256: m.sha256,
      manifestDigest: m.manifestDigest,
      partSize: partSizeFor(m.size, settings.partSizeBytes),
      createdAt: now,
    });
    upload = deps.store.upload(uploadId)!;
    deps.log?.info('mirror begun', { site: session.site, vsn: m.vsn, uploadId, size: m.size });
  }
  return planMessage(objects, upload, m.id, 1, stored, settings.partsPerPlan);
}

export async function morePlan(m: More, session: SessionRow, deps: HandlerDeps): Promise<GatewayMessage> {
  const objects = objectsOf(deps);
  const upload = uploadOf(m.uploadId, session, deps);
  if (upload.state !== 'open')
    throw new HandlerError('UPLOAD_CLOSED', `uploadId: upload ${upload.id} is ${upload.state}`);
  if (m.fromPart > partCount(upload.size, upload.partSize)) {
    throw new HandlerError('BAD_PART', `fromPart: the upload has ${partCount(upload.size, upload.partSize)} parts`);
  }
  const stored = new Set((await storedParts(objects, upload, deps)).map((p) => p.partNumber));
  deps.store.touchUpload(upload.id, (deps.now ?? Date.now)());
  return planMessage(objects, upload, m.id, m.fromPart, stored, settingsOf(deps).mirror.partsPerPlan);
}

const unquote = (etag: string) => etag.replace(/^"|"$/g, '').toLowerCase();

export async function completeMirror(m: Complete, session: SessionRow, deps: HandlerDeps): Promise<GatewayMessage> {
  const objects = objectsOf(deps);
  const settings = settingsOf(deps).mirror;
  const upload = uploadOf(m.uploadId, session, deps);
  const now = () => (deps.now ?? Date.now)();
  if (upload.vsn !== m.vsn) throw new HandlerError('UNKNOWN_UPLOAD', `vsn: upload ${upload.id} is of ${upload.vsn}`);
  if (upload.state === 'done') {
    const done = deps.store.latestMirror(session.site, upload.vsn, upload.sha256);
    if (done) return ack(m.id, m.vsn, done.key, done.versionId, done.sha256);
  }
  if (upload.state !== 'open')
    throw new HandlerError('UPLOAD_CLOSED', `uploadId: upload ${upload.id} is ${upload.state}`);

  // 1. the agent's parts are every part, as S3 stored them
  const count = partCount(upload.size, upload.partSize);
  if (m.parts.length !== count || m.parts.some((p, i) => p.partNumber !== i + 1)) {
    throw new HandlerError('PARTS_MISMATCH', `parts: the upload has ${count} parts; list each once, 1 to ${count}`);
  }
  const stored = await storedParts(objects, upload, deps);
  const byNumber = new Map(stored.map((p) => [p.partNumber, p]));
  for (const p of m.parts) {
    const s = byNumber.get(p.partNumber);
    if (!s) throw new HandlerError('PARTS_MISSING', `parts: S3 does not hold part ${p.partNumber}: send it again`);
    if (unquote(s.etag) !== unquote(p.etag) || unquote(p.etag) !== p.md5) {
      throw new HandlerError(
        'PARTS_MISMATCH',
        `parts: part ${p.partNumber} in S3 has ETag ${s.etag}, not ${p.etag} (MD5 ${p.md5})`,
      );
    }
    if (s.size !== partLength(upload.size, upload.partSize, p.partNumber)) {
      throw new HandlerError(
        'PARTS_MISMATCH',
        `parts: part ${p.partNumber} holds ${s.size} bytes, not ${partLength(upload.size, upload.partSize, p.partNumber)}`,
      );
    }
  }

  // 2. complete, and prove the object is the image declared
  const completed = await objects.complete(
    upload.key,
    upload.id,
    m.parts.map((p) => ({ partNumber: p.partNumber, etag: p.etag })),
  );
  const versionId = completed.versionId ?? 'null';
  const head = await objects.head(upload.key, completed.versionId ?? undefined);
  if (!head || head.size !== upload.size) {
    deps.store.setUploadState(
      upload.id,
      'failed',
      now(),
      `object holds ${head?.size ?? 'no'} bytes, not ${upload.size}`,
    );
    throw new HandlerError(
      'SIZE_MISMATCH',
      `the object holds ${head?.size ?? 'no'} bytes, not ${upload.size}: mirror again`,
    );
  }
  const sha256 = await objects.sha256(upload.key, { versionId: completed.versionId ?? undefined, size: upload.size });
  if (sha256 !== upload.sha256) {
    deps.store.setUploadState(upload.id, 'failed', now(), `SHA-256 read back ${sha256}`);
    deps.log?.error('mirror sha256 mismatch', {
      site: session.site,
      vsn: upload.vsn,
      declared: upload.sha256,
      read: sha256,
    });
    throw new HandlerError('SHA256_MISMATCH', `the object's SHA-256 is ${sha256}, not ${upload.sha256}: mirror again`);
  }

  // 3. the manifest: the bytes declared, a valid manifest, of this image
  let manifest: { body: Buffer; versionId: string | null };
  try {
    manifest = await objects.getSmall(upload.manifestKey, settings.maxManifestBytes);
  } catch (e) {
    if (e instanceof ObjectStoreError && e.code === 'NO_SUCH_KEY') {
      throw new HandlerError(
        'MANIFEST_MISSING',
        `the manifest is not at ${upload.manifestKey}: PUT it, then complete again`,
      );
    }
    if (e instanceof ObjectStoreError && e.code === 'TOO_LARGE') {
      throw new HandlerError('MANIFEST_INVALID', `the manifest is over ${settings.maxManifestBytes} bytes`);
    }
    throw e;
  }
  const digest = createHash('sha256').update(manifest.body).digest('hex');
  if (digest !== upload.manifestDigest) {
    throw new HandlerError(
      'MANIFEST_MISMATCH',
      `the manifest's SHA-256 is ${digest}, not ${upload.manifestDigest}: PUT it again`,
    );
  }
  const decoded = decodeManifest(manifest.body);
  if (!decoded.ok) throw new HandlerError('MANIFEST_INVALID', `manifest: ${decoded.message}`);
  const mf = decoded.manifest;
  if (
    mf.vsn !== upload.vsn ||
    mf.site !== session.site ||
    mf.image.sha256 !== upload.sha256 ||
    mf.image.bytes !== upload.size
  ) {
    throw new HandlerError(
      'MANIFEST_INVALID',
      `manifest: describes ${mf.site}/${mf.vsn} (${mf.image.bytes} bytes, ${mf.image.sha256}), not this upload`,
    );
  }

  deps.store.insertMirror({
    site: session.site,
    agentId: session.agentId,
    vsn: upload.vsn,
    uploadId: upload.id,
    key: upload.key,
    versionId,
    size: upload.size,
    sha256,
    manifestKey: upload.manifestKey,
    manifestVersionId: manifest.versionId ?? 'null',
    manifestDigest: digest,
    ackedAt: now(),
  });
  // the index is derived (reindex rebuilds it from S3): failing to index never withholds the ack
  try {
    await deps.index?.indexVolume({
      site: session.site,
      vsn: upload.vsn,
      key: upload.key,
      versionId,
      manifestKey: upload.manifestKey,
      ackedAt: now(),
      manifest: mf,
    });
  } catch (e) {
    deps.log?.error('indexing a mirrored volume failed', { vsn: upload.vsn, error: (e as Error).message });
  }
  deps.log?.info('mirror acknowledged', {
    site: session.site,
    vsn: upload.vsn,
    key: upload.key,
    versionId,
    size: upload.size,
  });
  return ack(m.id, upload.vsn, upload.key, versionId, sha256);
}
