/**
 * The cloud copy as a source: the volume's newest acknowledged image object,
 * read with one presigned ranged GET per extent of the file (only the file's
 * bytes cross the network). The gateway signs; the agent holds no cloud
 * credentials.
 */
import type { Catalog } from '../catalog/catalog.js';
import { CloudError, type CloudReader, cloudObjectOf } from '../cloud/cloud-reader.js';
import { byteRanges, type Source, SourceFailure } from './source.js';

/** The cloud source of a volume; `unreachable` with the reason when it has one but it cannot be read now. */
export function cloudSource(
  cloud: CloudReader,
  catalog: Catalog,
  volumeId: number,
): { source: Source } | { unreachable: string } | { none: string } {
  const object = cloudObjectOf(catalog, volumeId);
  if (!object) return { none: 'it has no cloud copy yet' };
  if (!cloud.available()) return { unreachable: 'the gateway is not connected, so its cloud copy cannot be read' };
  return {
    source: {
      kind: 'cloud',
      name: 'cloud',
      key: `cloud:${object.key}:${object.versionId ?? ''}`,
      async read(extents, onData, signal) {
        try {
          const ranges = byteRanges(extents);
          if (ranges.length === 0) return;
          const signed = await cloud.presign(object, ranges, 'retrieve');
          for (const r of signed) {
            if (signal.aborted) throw new SourceFailure('aborted', 'the read was stopped');
            await cloud.fetch(r, onData, signal);
          }
        } catch (e) {
          throw asFailure(e, signal);
        }
      },
    },
  };
}

function asFailure(e: unknown, signal: AbortSignal): Error {
  if (e instanceof SourceFailure) return e;
  if (signal.aborted) return new SourceFailure('aborted', 'the read was stopped', { cause: e });
  if (!(e instanceof CloudError)) return e as Error;
  const message = `the cloud copy: ${e.message}`;
  switch (e.code) {
    case 'SHORT':
      return new SourceFailure('damaged', message, { cause: e });
    case 'HTTP':
      // the object (version) is gone or shorter than the image: damage; anything else may pass
      return new SourceFailure(e.status === 404 || e.status === 416 ? 'damaged' : 'unreachable', message, {
        cause: e,
      });
    case 'ABORTED':
      return new SourceFailure('aborted', message, { cause: e });
    default:
      return new SourceFailure('unreachable', message, { cause: e });
  }
}
