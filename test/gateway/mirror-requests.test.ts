/**
 * The gateway's mirror handlers called the way API Gateway calls them, on a
 * real RGW bucket: a begin that comes again (the agent restarted) resumes the
 * same upload and plans only the parts S3 lacks, even when the volume's
 * manifest changed meanwhile (the image did not, so no part is sent twice),
 * while another size for the same image digest starts a new upload.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import test from 'ava';
import { configSchema } from '../../config/schema.js';
import type { HandlerDeps } from '../../gateway/handlers/events.js';
import { messageHandler } from '../../gateway/handlers/message.js';
import { AgentTokens } from '../../gateway/identity/agent-tokens.js';
import type { GatewayMessage } from '../../gateway/protocol/session-messages.js';
import { ObjectStore } from '../../gateway/s3/object-store.js';
import { GatewayStore } from '../../gateway/store/gateway-store.js';
import { s3ClientConfig } from '../../infra/rgw/s3-config.js';
import { freshBucket, rgwMissing, sharedRgw } from '../helpers/test-rgw.js';

const missing = rgwMissing();
const rgwTest = missing ? test.skip : test;
const MiB = 1024 * 1024;

rgwTest(
  `a repeated mirror.begin resumes the upload; a changed manifest keeps the parts; another size starts anew${missing ? ` [SKIPPED: ${missing}]` : ''}`,
  async (t) => {
    const rgw = await sharedRgw();
    const bucket = await freshBucket(rgw, 'optarc-begin');
    const dir = mkdtempSync(path.join(tmpdir(), 'optarc-begin-'));
    const store = new GatewayStore(path.join(dir, 'gateway.sqlite'));
    const objects = new ObjectStore({
      client: new S3Client(s3ClientConfig(rgw)),
      bucket,
      presignSeconds: 600,
      verifyConcurrency: 2,
      verifyRangeBytes: MiB,
    });
    t.teardown(() => {
      objects.destroy();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const { agent } = new AgentTokens(store).issue('lab-1');
    store.insertConnection({ id: 'c1', agentId: agent.id, site: 'lab-1', connectedAt: Date.now() });
    const posted: GatewayMessage[] = [];
    const defaults = configSchema.parse({}).gateway;
    const deps: HandlerDeps = {
      store,
      objects,
      settings: { ...defaults, mirror: { ...defaults.mirror, partSizeBytes: 5 * MiB } },
      async postToConnection(_id, message) {
        posted.push(message);
      },
    };
    const send = async (body: Record<string, unknown>) => {
      posted.length = 0;
      t.is(
        (
          await messageHandler(
            {
              requestContext: { routeKey: '$default', connectionId: 'c1', eventType: 'MESSAGE' },
              body: JSON.stringify({ v: 1, ...body }),
            },
            deps,
          )
        ).statusCode,
        200,
      );
      return posted[0]!;
    };
    t.like(
      await send({ type: 'hello', id: 'h', agentId: agent.id, agentVersion: '1', drives: [], pendingVolumes: [] }),
      { type: 'session' },
    );

    const image = randomBytes(11 * MiB); // 5 + 5 + 1 MiB parts
    const sha256 = createHash('sha256').update(image).digest('hex');
    const digestA = 'a'.repeat(64);
    const first = await send({
      type: 'mirror.begin',
      id: 'b1',
      vsn: 'OPT000001',
      size: image.length,
      sha256,
      manifestDigest: digestA,
    });
    if (first.type !== 'plan') return t.fail(JSON.stringify(first));
    t.deepEqual(
      first.parts.map((p) => p.partNumber),
      [1, 2, 3],
    );
    // part 1 reaches S3
    const p1 = first.parts[0]!;
    const body = image.subarray(p1.offset, p1.offset + p1.length);
    const put = await fetch(p1.url, {
      method: 'PUT',
      body,
      headers: { 'content-md5': createHash('md5').update(body).digest('base64') },
    });
    t.is(put.status, 200);

    // the agent restarts; its manifest changed (another verified copy): same upload, part 1 not planned again
    const again = await send({
      type: 'mirror.begin',
      id: 'b2',
      vsn: 'OPT000001',
      size: image.length,
      sha256,
      manifestDigest: 'b'.repeat(64),
    });
    if (again.type !== 'plan') return t.fail(JSON.stringify(again));
    t.is(again.uploadId, first.uploadId);
    t.deepEqual(
      again.parts.map((p) => p.partNumber),
      [2, 3],
    );
    t.is(store.upload(first.uploadId)!.manifestDigest, 'b'.repeat(64));

    // the same digest declared with another size: that upload cannot stand; a new one, all parts
    const other = await send({
      type: 'mirror.begin',
      id: 'b3',
      vsn: 'OPT000001',
      size: image.length - 1,
      sha256,
      manifestDigest: digestA,
    });
    if (other.type !== 'plan') return t.fail(JSON.stringify(other));
    t.not(other.uploadId, first.uploadId);
    t.deepEqual(
      other.parts.map((p) => p.partNumber),
      [1, 2, 3],
    );
    t.is(store.upload(first.uploadId)!.state, 'aborted');
  },
);
