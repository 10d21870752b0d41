/**
 * The RGW the tests share: one Ceph RGW in var/test-rgw, started by the first
 * test that needs it (startRgw holds a lock, so test files starting it at once
 * get the same cluster) and left running for the next test run (restart ~5 s,
 * cold ~15 s; `node dist/infra/rgw/rgw.js stop --dir var/test-rgw` stops it).
 * Each test makes its own bucket, so tests never see each other's objects.
 *
 * Tests that stop S3 on purpose start their own RGW in a temporary directory.
 */
import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { type RgwInfo, s3ClientConfig, startRgw } from '../../infra/rgw/rgw.js';
import { ROOT } from './processes.js';

export const TEST_RGW_DIR = path.join(ROOT, 'var/test-rgw');

const onPath = (bin: string) => (process.env.PATH ?? '').split(':').some((d) => d && existsSync(path.join(d, bin)));
const CEPH_BINS = ['radosgw', 'radosgw-admin', 'ceph-mon', 'ceph-osd', 'ceph', 'monmaptool'];

/** Why RGW tests cannot run here, or undefined when they can. */
export function rgwMissing(): string | undefined {
  const missing = CEPH_BINS.filter((b) => !onPath(b));
  return missing.length === 0
    ? undefined
    : `${missing.join(', ')} not installed: run infra/install.sh (apt packages radosgw ceph-mon ceph-osd)`;
}

let shared: Promise<RgwInfo> | undefined;

/** The shared test RGW, started on first use (any free port). */
export function sharedRgw(): Promise<RgwInfo> {
  shared ??= startRgw({ dir: TEST_RGW_DIR, port: 0, blockSizeBytes: 40 * 1024 ** 3 });
  return shared;
}

/** A new, empty bucket on `rgw` named `<prefix>-<random>`. */
export async function freshBucket(rgw: RgwInfo, prefix = 'optarc-test'): Promise<string> {
  const bucket = `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
  const s3 = new S3Client(s3ClientConfig(rgw));
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    s3.destroy();
  }
  return bucket;
}
