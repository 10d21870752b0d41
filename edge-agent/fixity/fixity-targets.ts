/**
 * What a fixity pass checks, in order: every disc loaded in an idle drive
 * whose ISO volume id is a volume of the catalog (target `disc DRIVE`), then
 * every volume's cloud image with an acknowledged mirror (target `cloud`).
 * What cannot be checked now (a busy drive, a drive that does not answer, a
 * cloud image older than the volume's newest session) is a note, not a target.
 */
import type { Catalog, VolumeRow } from '../catalog/catalog.js';
import { type CloudObject, cloudObjectOf } from '../cloud/cloud-reader.js';
import type { Drive } from '../drives/drive.js';
import type { DrivePool } from '../drives/drive-pool.js';

export interface CheckedVolume extends VolumeRow {
  imageBytes: bigint;
  imageSha256: Buffer;
}

export type FixityTarget =
  | { kind: 'disc'; target: string; volume: CheckedVolume; drive: Drive; file: string }
  | { kind: 'cloud'; target: 'cloud'; volume: CheckedVolume; object: CloudObject };

export interface TargetList {
  targets: FixityTarget[];
  /** What was left out this pass and why. */
  notes: string[];
}

/** Volumes whose image is known and final enough to check. */
function checkable(v: VolumeRow): v is CheckedVolume {
  return (v.state === 'finished' || v.state === 'mirrored') && v.imageBytes !== null && v.imageSha256 !== null;
}

export function targetKey(volumeId: number, target: string): string {
  return `${volumeId} ${target}`;
}

export async function listTargets(
  o: { catalog: Catalog; pool: DrivePool; cloud: boolean; discs: boolean },
  signal: AbortSignal,
): Promise<TargetList> {
  const targets: FixityTarget[] = [];
  const notes: string[] = [];
  if (o.discs) {
    for (const drive of o.pool.all()) {
      if (drive.job !== undefined || drive.writing) {
        notes.push(`drive ${drive.name} is busy (job ${drive.job ?? 'writing'}): its disc is not checked this pass`);
        continue;
      }
      let medium: Awaited<ReturnType<Drive['medium']>>;
      try {
        medium = await drive.medium(signal);
      } catch (e) {
        if (signal.aborted) break;
        notes.push(`drive ${drive.name} did not say what it holds: ${(e as Error).message}`);
        continue;
      }
      if (!medium.loaded || medium.blank || medium.sink || !medium.vsn) continue;
      const volume = o.catalog.volumeByVsn(medium.vsn);
      if (!volume) continue; // a disc this catalog did not make
      if (!checkable(volume)) {
        notes.push(`the disc in ${drive.name} is ${volume.vsn}, which is ${volume.state}: not checked`);
        continue;
      }
      targets.push({
        kind: 'disc',
        target: `disc ${drive.name}`,
        volume,
        drive,
        file: drive.mediumPath ?? drive.address,
      });
    }
  }
  if (o.cloud) {
    for (const volume of o.catalog.volumes()) {
      if (!checkable(volume)) continue;
      const object = cloudObjectOf(o.catalog, volume.id);
      if (!object) continue;
      const newest = Math.max(
        ...o.catalog
          .mirrorsOfVolume(volume.id)
          .filter((m) => m.state === 'acked')
          .map((m) => m.session),
      );
      if (newest < volume.sessions) {
        notes.push(
          `the cloud image of ${volume.vsn} holds session ${newest} of ${volume.sessions}: checked once the newest is mirrored`,
        );
        continue;
      }
      targets.push({ kind: 'cloud', target: 'cloud', volume, object });
    }
  }
  return { targets, notes };
}
