/**
 * Reading discs over the contract: MOUNT, UNMOUNT, VOL_LIST and VOL_READ over
 * the mounted volumes, their failures turned into the contract's statuses.
 */
import {
  OPTARC_MAX_DATA,
  OPTARC_MAX_ENTRIES,
  type OptarcDriveArgs,
  OptarcKind,
  OptarcStatus,
  type OptarcUnmountArgs,
  type OptarcVolListArgs,
  type OptarcVolReadArgs,
} from '../../clients/protocol/generated/optarc.js';
import { type MountedVolumes, VolumeError } from '../volumes/mounted-volumes.js';
import { failure, type Status } from './failures.js';

async function guarded<T>(action: () => Promise<T>) {
  try {
    return await action();
  } catch (e) {
    if (e instanceof VolumeError) {
      const status = OptarcStatus[`OPTARC_${e.code}` as keyof typeof OptarcStatus] as Status;
      return failure(status, e.message);
    }
    throw e;
  }
}

export function mount(volumes: MountedVolumes, a: OptarcDriveArgs) {
  return guarded(async () => {
    await volumes.mount(a.drive);
    return { tag: OptarcStatus.OPTARC_OK, value: undefined };
  });
}

export function unmount(volumes: MountedVolumes, a: OptarcUnmountArgs) {
  return guarded(async () => {
    volumes.unmount(a.drive);
    return { tag: OptarcStatus.OPTARC_OK, value: undefined };
  });
}

export function volList(volumes: MountedVolumes, a: OptarcVolListArgs) {
  return guarded(async () => {
    const page = volumes.list(a.drive, a.dir, a.cookie, Math.min(a.count || OPTARC_MAX_ENTRIES, OPTARC_MAX_ENTRIES));
    return {
      tag: OptarcStatus.OPTARC_OK,
      value: {
        entries: page.entries.map((e) => ({
          name: e.name,
          kind: e.kind === 'dir' ? OptarcKind.OPTARC_DIR : OptarcKind.OPTARC_FILE,
          size: e.size,
          mode: e.mode,
          mtime: e.mtime,
          committed: true,
          sha256: e.sha256,
        })),
        cookie: page.cookie,
        eof: page.eof,
      },
    };
  });
}

export function volRead(volumes: MountedVolumes, a: OptarcVolReadArgs) {
  return guarded(async () => {
    if (a.count > OPTARC_MAX_DATA) {
      return failure(OptarcStatus.OPTARC_BAD_ARGUMENT, `a VOL_READ reads at most ${OPTARC_MAX_DATA} bytes`);
    }
    return { tag: OptarcStatus.OPTARC_OK, value: await volumes.read(a.drive, a.path, a.offset, a.count) };
  });
}
