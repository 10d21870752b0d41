/**
 * How a client talks to the local RGW: the `S3Client` settings, and the probe
 * rgw.ts uses to decide that the S3 service is ready.
 *
 *  - path-style addressing (`http://127.0.0.1:P/bucket/key`): there is no wildcard DNS
 *    for virtual-host buckets on 127.0.0.1;
 *  - region us-east-1: RGW's default zonegroup answers to it for SigV4;
 *  - `requestChecksumCalculation`/`responseChecksumValidation` = WHEN_REQUIRED: by
 *    default recent SDKs add `x-amz-checksum-crc32` to every upload, and send a stream
 *    body as aws-chunked with a trailing checksum, which RGW 16.2 refuses
 *    (MissingContentLength). RGW 16.2 also ignores `x-amz-checksum-*` (a wrong
 *    x-amz-checksum-sha256 is accepted), so those checksums protect nothing there:
 *    integrity comes from Content-MD5 on each PUT and each part (RGW refuses a mismatch
 *    with BadDigest) and from the manifest's SHA-256 of the image, verified after upload.
 *  - RGW 16.2 answers CompleteMultipartUpload with an empty <ETag></ETag>: take the
 *    object's ETag (MD5 of the parts' MD5s, "-N") from HeadObject.
 */
import { ListBucketsCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

// optarc runs on Node 20 (DESIGN.md): the SDK's notice that later releases need Node 22 is known, not news
// on every start of the stack.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const RGW_REGION = 'us-east-1';

export interface RgwEndpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export function s3ClientConfig(e: RgwEndpoint): S3ClientConfig {
  return {
    endpoint: e.endpoint,
    region: RGW_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

/** One signed ListBuckets: true when RGW answers it for this user. */
export async function s3Answers(e: RgwEndpoint, timeoutMs = 3000): Promise<boolean> {
  const client = new S3Client({ ...s3ClientConfig(e), maxAttempts: 1 });
  try {
    await client.send(new ListBucketsCommand({}), { abortSignal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}
