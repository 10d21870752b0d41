/**
 * Which S3 the gateway talks to, and how: the `S3ClientConfig` for the validated
 * `gateway.s3` settings.
 *
 *  - endpoint and keys given: that endpoint with those keys (any S3-compatible server);
 *  - keys without endpoint: AWS S3 in `region`;
 *  - endpoint without keys: the SDK's default credential chain (environment, profile,
 *    instance or function role), for a cloud deployment;
 *  - neither: the local stack's RGW, with the port and keys from `<rgwDir>/rgw.json`
 *    (a relative rgwDir is taken from the working directory), and exactly the client
 *    settings infra/rgw/s3-config.ts gives for it. No such file: S3_NOT_CONFIGURED.
 *
 * In every case checksums are computed and validated only WHEN_REQUIRED. Besides what
 * RGW 16.2 needs (see s3-config.ts), this keeps presigned part URLs free of
 * `x-amz-checksum-*` / `x-amz-sdk-checksum-algorithm` parameters that a plain PUT from
 * the agent could not satisfy; integrity is Content-MD5 per part plus the SHA-256 the
 * gateway reads back. Connections time out after 10 s, idle sockets after 60 s, so a
 * dead S3 turns into S3_UNAVAILABLE rather than a hang.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { Config } from '../../config/schema.js';
import { cephPaths } from '../../infra/rgw/ceph-conf.js';
import { type RgwEndpoint, s3ClientConfig } from '../../infra/rgw/s3-config.js';
import { ObjectStoreError } from './errors.js';

type S3Settings = Config['gateway']['s3'];

const TIMEOUTS = { requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 } } as const;

/** The local RGW's endpoint and keys, from `<rgwDir>/rgw.json` (written by infra/rgw/rgw.ts). */
export function localRgwEndpoint(rgwDir: string): RgwEndpoint {
  const file = cephPaths(rgwDir).state;
  const howToFix =
    'start the local S3 (`npm start`, or `node dist/infra/rgw/rgw.js start`), point gateway.s3.rgwDir at its ' +
    'directory, or set gateway.s3.endpoint, gateway.s3.accessKeyId and gateway.s3.secretAccessKey';
  if (!existsSync(file)) {
    throw new ObjectStoreError('S3_NOT_CONFIGURED', `no S3 configured: ${file} does not exist; ${howToFix}`);
  }
  let state: { port?: unknown; accessKeyId?: unknown; secretAccessKey?: unknown };
  try {
    state = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ObjectStoreError('S3_NOT_CONFIGURED', `cannot read ${file}: ${(err as Error).message}; ${howToFix}`, {
      cause: err,
    });
  }
  const { port, accessKeyId, secretAccessKey } = state ?? {};
  if (
    !(Number.isInteger(port) && (port as number) > 0 && (port as number) < 65536) ||
    typeof accessKeyId !== 'string' ||
    typeof secretAccessKey !== 'string'
  ) {
    throw new ObjectStoreError('S3_NOT_CONFIGURED', `${file} lacks port, accessKeyId or secretAccessKey; ${howToFix}`);
  }
  return { endpoint: `http://127.0.0.1:${port}`, accessKeyId, secretAccessKey };
}

/** The S3 client settings for `gateway.s3` (reads rgw.json when no endpoint and keys are set). */
export function s3ClientConfigFor(s3: S3Settings): S3ClientConfig {
  if (!s3.endpoint && !s3.accessKeyId) return { ...s3ClientConfig(localRgwEndpoint(s3.rgwDir)), ...TIMEOUTS };
  return {
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.accessKeyId && s3.secretAccessKey
      ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }
      : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...TIMEOUTS,
  };
}
