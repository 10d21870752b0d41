/**
 * Reading the cloud copy of a volume. The agent holds no cloud credentials:
 * it asks the gateway (`presign.get` over the mirror's session) for one
 * presigned GET per byte range of an image object, then GETs each range with
 * its signed Range header. Retrieval reads one file's extents, re-burn the
 * whole image in chunks, fixity the image to hash it.
 *
 * Every answer is checked before its bytes are used: status 206, a
 * Content-Range naming exactly the asked range, and exactly that many bytes.
 * Failures are CloudError values with a code a caller can act on:
 * NO_GATEWAY (no session now: try later or another source), NOT_MIRRORED (the
 * volume has no acknowledged cloud copy), HTTP (S3 refused; `status` set),
 * SHORT (fewer or more bytes than asked), ABORTED.
 */

import { MAX_RANGES_PER_PRESIGN } from '../../gateway/protocol/session-messages.js';
import type { Catalog } from '../catalog/catalog.js';
import type { GatewayConnection } from '../mirror/gateway-connection.js';

export type CloudCode = 'NO_GATEWAY' | 'NOT_MIRRORED' | 'HTTP' | 'SHORT' | 'ABORTED' | 'REFUSED';

export class CloudError extends Error {
  readonly code: CloudCode;
  readonly status: number | undefined;
  constructor(code: CloudCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CloudError';
    this.code = code;
    this.status = options.status;
  }
}

export interface CloudObject {
  key: string;
  versionId: string | undefined;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface SignedRange extends ByteRange {
  url: string;
}

export type Purpose = 'retrieve' | 'reburn' | 'fixity';

/** The newest acknowledged cloud object of a volume (its image holds every session), if any. */
export function cloudObjectOf(catalog: Catalog, volumeId: number): CloudObject | undefined {
  const acked = catalog
    .mirrorsOfVolume(volumeId)
    .filter((m) => m.state === 'acked' && m.key)
    .sort((a, b) => b.session - a.session);
  const m = acked[0];
  if (!m?.key) return undefined;
  return { key: m.key, versionId: m.versionId ?? undefined };
}

export class CloudReader {
  /** Bytes received from the cloud, for metrics and the benchmark. */
  bytesRead = 0;

  constructor(private readonly connection: () => GatewayConnection | undefined) {}

  /** True when a gateway session is open now. */
  available(): boolean {
    return this.connection()?.session !== undefined;
  }

  /** Presigned GETs for `ranges` of `object`, in order (asked in batches the protocol allows). */
  async presign(object: CloudObject, ranges: readonly ByteRange[], purpose: Purpose): Promise<SignedRange[]> {
    const c = this.connection();
    if (!c?.session)
      throw new CloudError('NO_GATEWAY', 'no session with the gateway: the cloud copy cannot be read now');
    const out: SignedRange[] = [];
    for (let i = 0; i < ranges.length; i += MAX_RANGES_PER_PRESIGN) {
      const batch = ranges.slice(i, i + MAX_RANGES_PER_PRESIGN).map((r) => ({ offset: r.offset, length: r.length }));
      let answer: Awaited<ReturnType<GatewayConnection['request']>>;
      try {
        answer = await c.request({
          type: 'presign.get',
          key: object.key,
          ...(object.versionId ? { versionId: object.versionId } : {}),
          ranges: batch,
          purpose,
        });
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'GATEWAY_UNAVAILABLE' || code === 'TIMEOUT') {
          throw new CloudError('NO_GATEWAY', `the gateway did not sign the reads: ${(e as Error).message}`, {
            cause: e,
          });
        }
        throw new CloudError('REFUSED', `the gateway refused to sign the reads: ${(e as Error).message}`, { cause: e });
      }
      if (answer.type !== 'links' || answer.ranges.length !== batch.length) {
        throw new CloudError('REFUSED', `the gateway answered ${answer.type} with the wrong ranges`);
      }
      answer.ranges.forEach((r, j) => {
        if (r.offset !== batch[j]!.offset || r.length !== batch[j]!.length) {
          throw new CloudError('REFUSED', 'the gateway signed other ranges than asked');
        }
        out.push(r);
      });
    }
    return out;
  }

  /**
   * GETs one signed range and hands its bytes, in order, to `onData` (which may
   * return a promise: backpressure). Resolves with the byte count, which is the
   * range's length or the call fails.
   */
  async fetch(r: SignedRange, onData: (chunk: Buffer) => void | Promise<void>, signal?: AbortSignal): Promise<number> {
    const end = r.offset + r.length - 1;
    let res: Response;
    try {
      res = await fetch(r.url, { headers: { Range: `bytes=${r.offset}-${end}` }, signal });
    } catch (e) {
      if (signal?.aborted) throw new CloudError('ABORTED', 'the read was stopped', { cause: e });
      throw new CloudError('HTTP', `the cloud copy could not be reached: ${(e as Error).message}`, { cause: e });
    }
    if (res.status !== 206) {
      await res.body?.cancel().catch(() => {});
      throw new CloudError('HTTP', `S3 answered ${res.status} to a ranged GET of ${r.offset}-${end}`, {
        status: res.status,
      });
    }
    const cr = res.headers.get('content-range') ?? '';
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(cr);
    if (!m || Number(m[1]) !== r.offset || Number(m[2]) !== end) {
      await res.body?.cancel().catch(() => {});
      throw new CloudError('SHORT', `S3 answered Content-Range ${JSON.stringify(cr)} to bytes=${r.offset}-${end}`);
    }
    let got = 0;
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        got += b.length;
        if (got > r.length) throw new CloudError('SHORT', `S3 sent more than the ${r.length} bytes asked`);
        this.bytesRead += b.length;
        await onData(b);
      }
    }
    if (got !== r.length) throw new CloudError('SHORT', `S3 sent ${got} of the ${r.length} bytes asked`);
    return got;
  }
}
