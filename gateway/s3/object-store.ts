/**
 * The gateway's one door to S3: the bucket that holds every site's images and
 * manifests (keys under `sites/<site>/`). `ObjectStore` owns the S3 client and
 * everything the gateway does with the bucket: creating it (versioned), starting,
 * listing, completing and aborting multipart uploads, presigning the part and manifest
 * PUTs the edge agents send (they hold no credentials), reading objects back (HEAD, a
 * small whole object, the SHA-256 of a large one by ranged GETs in bounded memory) and
 * listing what is there. Every SDK failure leaves it as an ObjectStoreError with a code
 * (errors.ts); ETags are passed on as S3 gives them, quotes included; a versionId is
 * null when the bucket is not versioned. Which S3 and which keys: client-config.ts.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  type CompleteMultipartUploadCommandOutput,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketCorsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  type StorageClass,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Config } from '../../config/schema.js';
import { s3ClientConfigFor } from './client-config.js';
import { ObjectStoreError, toObjectStoreError } from './errors.js';
import { rangedSha256 } from './ranged-sha256.js';

export { ObjectStoreError, type ObjectStoreErrorCode } from './errors.js';

export interface ObjectStoreOptions {
  client: S3Client;
  bucket: string;
  /** Lifetime of presigned URLs. */
  presignSeconds: number;
  /** Ranged GETs at once when hashing an object. */
  verifyConcurrency: number;
  /** Size of each ranged GET. */
  verifyRangeBytes: number;
}

export interface StoredPart {
  partNumber: number;
  etag: string;
  size: number;
}

export interface ObjectHead {
  size: number;
  etag: string;
  versionId: string | null;
  metadata: Record<string, string>;
}

export interface PendingUpload {
  key: string;
  uploadId: string;
  initiated: Date;
}

export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
}

/** S3 answers "null" for objects written while versioning was off or suspended. */
const versionOf = (v: string | undefined): string | null => (v && v !== 'null' ? v : null);

const statusOf = (err: unknown): number | undefined =>
  (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;

export class ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly presignSeconds: number;
  private readonly verifyConcurrency: number;
  private readonly verifyRangeBytes: number;

  constructor(o: ObjectStoreOptions) {
    this.client = o.client;
    this.bucket = o.bucket;
    this.presignSeconds = o.presignSeconds;
    this.verifyConcurrency = o.verifyConcurrency;
    this.verifyRangeBytes = o.verifyRangeBytes;
  }

  /** Build from the validated `gateway` config section (gateway.s3 and gateway.mirror). */
  static fromConfig(gateway: Config['gateway']): ObjectStore {
    return new ObjectStore({
      client: new S3Client(s3ClientConfigFor(gateway.s3)),
      bucket: gateway.s3.bucket,
      presignSeconds: gateway.mirror.presignSeconds,
      verifyConcurrency: gateway.mirror.verifyConcurrency,
      verifyRangeBytes: gateway.mirror.verifyRangeBytes,
    });
  }

  /** Run one S3 call; whatever it throws leaves as an ObjectStoreError naming `what`. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toObjectStoreError(err, what);
    }
  }

  /**
   * Like call, for a request naming an upload: RGW 16.2 answers ListParts of an unknown
   * (or aborted, or completed) upload with 404 NoSuchKey, not NoSuchUpload.
   */
  private async uploadCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.call(what, fn);
    } catch (err) {
      const e = err as ObjectStoreError;
      if (e.code !== 'NO_SUCH_KEY') throw e;
      throw new ObjectStoreError('NO_SUCH_UPLOAD', `${what}: no such upload`, {
        s3Code: e.s3Code!,
        httpStatus: e.httpStatus!,
        cause: e.cause,
      });
    }
  }

  private where(key: string): string {
    return `${this.bucket}/${key}`;
  }

  /** Create the bucket if missing (it may already be ours) and turn versioning on. */
  async ensureBucket(): Promise<void> {
    const Bucket = this.bucket;
    try {
      await this.client.send(new CreateBucketCommand({ Bucket }));
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'BucketAlreadyExists') {
        // someone's bucket of that name: fine only if it is usable with our keys
        await this.call(`HeadBucket ${Bucket}`, () => this.client.send(new HeadBucketCommand({ Bucket })));
      } else if (name !== 'BucketAlreadyOwnedByYou') {
        throw toObjectStoreError(err, `CreateBucket ${Bucket}`);
      }
    }
    await this.call(`PutBucketVersioning ${Bucket}`, () =>
      this.client.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } })),
    );
  }

  /** Start a multipart upload; resolves with its uploadId. */
  async createUpload(
    key: string,
    o: { storageClass?: string; metadata?: Record<string, string>; contentType?: string } = {},
  ): Promise<string> {
    const r = await this.call(`CreateMultipartUpload ${this.where(key)}`, () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          ...(o.storageClass ? { StorageClass: o.storageClass as StorageClass } : {}),
          ...(o.metadata ? { Metadata: o.metadata } : {}),
          ...(o.contentType ? { ContentType: o.contentType } : {}),
        }),
      ),
    );
    if (!r.UploadId) throw new ObjectStoreError('S3_ERROR', `CreateMultipartUpload ${this.where(key)}: no UploadId`);
    return r.UploadId;
  }

  /**
   * A presigned PUT for one part. Only the host is signed: the uploader adds Content-MD5
   * (S3 then refuses a corrupted part with 400 BadDigest) and Content-Length.
   */
  async presignPart(key: string, uploadId: string, partNumber: number): Promise<string> {
    if (!(Number.isInteger(partNumber) && partNumber >= 1 && partNumber <= 10_000)) {
      throw new RangeError(`part number ${partNumber} is not in 1..10000`);
    }
    return this.call(`presign UploadPart ${this.where(key)} #${partNumber}`, () =>
      getSignedUrl(
        this.client,
        new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber }),
        { expiresIn: this.presignSeconds },
      ),
    );
  }

  /** A presigned PUT for a small object (the manifest). With contentType, the PUT must send that Content-Type. */
  async presignPut(key: string, o: { contentType?: string } = {}): Promise<string> {
    return this.call(`presign PutObject ${this.where(key)}`, () =>
      getSignedUrl(
        this.client,
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(o.contentType ? { ContentType: o.contentType } : {}),
        }),
        { expiresIn: this.presignSeconds },
      ),
    );
  }

  /**
   * A presigned GET of bytes [start, end] (inclusive) of one version of an
   * object: the Range header is signed, so the URL serves that range and no
   * other (S3 refuses the request without the exact header). With filename,
   * the answer carries `Content-Disposition: attachment` naming it.
   */
  async presignRangeGet(
    key: string,
    o: { versionId?: string; start: number; end: number; seconds: number; filename?: string },
  ): Promise<string> {
    if (!(Number.isSafeInteger(o.start) && Number.isSafeInteger(o.end) && 0 <= o.start && o.start <= o.end)) {
      throw new RangeError(`bad range ${o.start}-${o.end}`);
    }
    const range = `bytes=${o.start}-${o.end}`;
    return this.call(`presign GetObject ${this.where(key)} ${range}`, () =>
      getSignedUrl(
        this.client,
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range,
          ...(o.versionId && o.versionId !== 'null' ? { VersionId: o.versionId } : {}),
          ...(o.filename ? { ResponseContentDisposition: contentDisposition(o.filename) } : {}),
        }),
        { expiresIn: o.seconds, signableHeaders: new Set(['range']) },
      ),
    );
  }

  /**
   * Lets browsers fetch presigned GETs from any origin (the search page's
   * downloads): a bucket CORS rule for GET and HEAD with the Range header. The
   * URLs themselves are the capability; CORS only lets a page read the answer.
   */
  async allowBrowserDownloads(): Promise<void> {
    await this.call(`PutBucketCors ${this.bucket}`, () =>
      this.client.send(
        new PutBucketCorsCommand({
          Bucket: this.bucket,
          CORSConfiguration: {
            CORSRules: [
              {
                AllowedMethods: ['GET', 'HEAD'],
                AllowedOrigins: ['*'],
                AllowedHeaders: ['range'],
                ExposeHeaders: ['content-length', 'content-range', 'etag'],
                MaxAgeSeconds: 3600,
              },
            ],
          },
        }),
      ),
    );
  }

  /** Every part stored so far (all pages of ListParts), by ascending part number. */
  async listParts(key: string, uploadId: string): Promise<StoredPart[]> {
    const parts: StoredPart[] = [];
    let marker: string | undefined;
    for (;;) {
      const r = await this.uploadCall(`ListParts ${this.where(key)}`, () =>
        this.client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            ...(marker ? { PartNumberMarker: marker } : {}),
          }),
        ),
      );
      for (const p of r.Parts ?? []) {
        parts.push({ partNumber: p.PartNumber ?? 0, etag: p.ETag ?? '', size: p.Size ?? 0 });
      }
      const nextMarker = r.NextPartNumberMarker;
      if (!r.IsTruncated || !nextMarker || nextMarker === marker) break;
      marker = nextMarker;
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  /**
   * CompleteMultipartUpload with `parts` (sorted here). Returns the new version and the
   * object's ETag, both from HeadObject when S3 leaves them out: RGW 16.2 answers with an
   * empty ETag, and a repeated Complete of a completed upload succeeds again there with an
   * unquoted ETag and no VersionId (the head then describes the current version).
   * Completing an aborted upload makes RGW 16.2 answer 500 InternalError ("This multipart
   * completion is already in progress"): when ListParts then finds no such upload, that
   * is reported as NO_SUCH_UPLOAD rather than S3_UNAVAILABLE.
   */
  async complete(
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<{ versionId: string | null; etag: string }> {
    const what = `CompleteMultipartUpload ${this.where(key)}`;
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    let r: CompleteMultipartUploadCommandOutput;
    try {
      r = await this.uploadCall(what, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: sorted.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          }),
        ),
      );
    } catch (err) {
      if ((err as ObjectStoreError).httpStatus === 500) await this.listParts(key, uploadId); // NO_SUCH_UPLOAD if gone
      throw err;
    }
    const versionId = versionOf(r.VersionId);
    if (r.ETag?.startsWith('"') && versionId) return { versionId, etag: r.ETag };
    const head = await this.head(key, versionId ?? undefined);
    if (!head) throw new ObjectStoreError('S3_ERROR', `${what}: the object is missing right after`);
    return { versionId: versionId ?? head.versionId, etag: head.etag };
  }

  /** Abort a multipart upload; one already gone is fine. */
  async abort(key: string, uploadId: string): Promise<void> {
    try {
      await this.call(`AbortMultipartUpload ${this.where(key)}`, () =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })),
      );
    } catch (err) {
      if ((err as ObjectStoreError).code !== 'NO_SUCH_UPLOAD') throw err;
    }
  }

  /**
   * The object's size, ETag, version and user metadata; null when it (or that version) does
   * not exist. A HEAD's 404 has no body, so a missing bucket also reads as null here.
   */
  async head(key: string, versionId?: string): Promise<ObjectHead | null> {
    try {
      const r = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
      );
      return {
        size: r.ContentLength ?? 0,
        etag: r.ETag ?? '',
        versionId: versionOf(r.VersionId),
        metadata: r.Metadata ?? {},
      };
    } catch (err) {
      if (statusOf(err) === 404) return null; // a HEAD's 404 has no body: NoSuchKey and NoSuchVersion alike
      throw toObjectStoreError(err, `HeadObject ${this.where(key)}`);
    }
  }

  /**
   * SHA-256 (hex) of the object's bytes, read back by ranged GETs (verifyRangeBytes each,
   * verifyConcurrency at once, hashed in order). The size comes from HEAD unless given; when
   * HEAD was asked and no versionId pins the object, every range is asked If-Match HEAD's
   * ETag, so an object overwritten meanwhile fails (S3_ERROR PreconditionFailed) instead of
   * hashing a mix. Missing: NO_SUCH_KEY. An abort rejects with the signal's reason.
   */
  async sha256(
    key: string,
    o: { versionId?: string; size?: number; signal?: AbortSignal; onProgress?: (bytes: number) => void } = {},
  ): Promise<string> {
    let size = o.size;
    let ifMatch: string | undefined;
    if (size === undefined) {
      const head = await this.head(key, o.versionId);
      if (!head) throw new ObjectStoreError('NO_SUCH_KEY', `HeadObject ${this.where(key)}: no such object`);
      size = head.size;
      if (!o.versionId && head.etag) ifMatch = head.etag;
    }
    return rangedSha256({
      size,
      rangeBytes: this.verifyRangeBytes,
      concurrency: this.verifyConcurrency,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      fetchRange: async (start, end, signal) => {
        try {
          const r = await this.client.send(
            new GetObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Range: `bytes=${start}-${end}`,
              ...(o.versionId ? { VersionId: o.versionId } : {}),
              ...(ifMatch ? { IfMatch: ifMatch } : {}),
            }),
            { abortSignal: signal },
          );
          if (!r.Body) throw new Error('no body');
          // the chunks as they came: hashed in turn, never copied into one array (that copy and
          // its garbage cost more CPU than the SHA-256 itself)
          const chunks: Uint8Array[] = [];
          for await (const chunk of r.Body as AsyncIterable<Uint8Array>) chunks.push(chunk);
          return chunks;
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          throw toObjectStoreError(err, `GetObject ${this.where(key)} bytes=${start}-${end}`);
        }
      },
    });
  }

  /** A small object, whole. Bigger than maxBytes: TOO_LARGE, after reading no more than maxBytes of it. */
  async getSmall(
    key: string,
    maxBytes: number,
    versionId?: string,
  ): Promise<{ body: Buffer; versionId: string | null }> {
    const what = `GetObject ${this.where(key)}`;
    const r = await this.call(what, () =>
      this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
      ),
    );
    const stream = r.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    const tooLarge = (size: string) =>
      new ObjectStoreError('TOO_LARGE', `${what}: ${size} bytes, more than the ${maxBytes} allowed`);
    if (!stream) return { body: Buffer.alloc(0), versionId: versionOf(r.VersionId) };
    if (r.ContentLength !== undefined && r.ContentLength > maxBytes) {
      stream.destroy?.();
      throw tooLarge(String(r.ContentLength));
    }
    const chunks: Buffer[] = [];
    let length = 0;
    try {
      for await (const chunk of stream) {
        length += chunk.length;
        if (length > maxBytes) {
          stream.destroy?.();
          throw tooLarge(`at least ${length}`);
        }
        chunks.push(Buffer.from(chunk));
      }
    } catch (err) {
      throw toObjectStoreError(err, what);
    }
    return { body: Buffer.concat(chunks, length), versionId: versionOf(r.VersionId) };
  }

  /** Multipart uploads in progress under `prefix` (all pages). */
  async listUploads(prefix: string): Promise<PendingUpload[]> {
    const uploads: PendingUpload[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const r = await this.call(`ListMultipartUploads ${this.where(prefix)}`, () =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
          }),
        ),
      );
      for (const u of r.Uploads ?? []) {
        if (u.Key && u.UploadId)
          uploads.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) });
      }
      const nextKey = r.NextKeyMarker;
      const nextId = r.NextUploadIdMarker;
      if (!r.IsTruncated || !nextKey || (nextKey === keyMarker && nextId === uploadIdMarker)) break;
      keyMarker = nextKey;
      uploadIdMarker = nextId;
    }
    return uploads;
  }

  /** Objects (current versions) under `prefix` (all pages). */
  async listObjects(prefix: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    let token: string | undefined;
    for (;;) {
      const r = await this.call(`ListObjectsV2 ${this.where(prefix)}`, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        ),
      );
      for (const c of r.Contents ?? []) {
        if (c.Key) objects.push({ key: c.Key, size: c.Size ?? 0, lastModified: c.LastModified ?? new Date(0) });
      }
      if (!r.IsTruncated || !r.NextContinuationToken || r.NextContinuationToken === token) break;
      token = r.NextContinuationToken;
    }
    return objects;
  }

  /** Close the client's sockets. */
  destroy(): void {
    this.client.destroy();
  }
}

/** An attachment header for `filename`: an ASCII fallback and the exact name (RFC 6266, RFC 8187). */
function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}
