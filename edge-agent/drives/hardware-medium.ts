/**
 * The medium of a real burner (/dev/srN), seen through xorriso: `-toc`
 * tells whether a disc is in, blank or written, and its volume id; loading
 * is the tray closing when xorriso grabs the drive, unloading is
 * `-eject all` and then the operator. Untested here (no hardware): the
 * parsing follows xorriso 1.5.4's -toc report.
 */
import { existsSync } from 'node:fs';
import { runXorriso, XorrisoError } from '../xorriso/run-xorriso.js';
import { DriveError } from './errors.js';
import type { MediumStatus } from './stand-in-medium.js';

export async function inspectHardware(drive: string, address: string, signal?: AbortSignal): Promise<MediumStatus> {
  const none: MediumStatus = { missing: false, loaded: false, blank: false, bytes: 0n, sink: false };
  if (!existsSync(address)) return { ...none, missing: true };
  let report: string;
  try {
    const r = await runXorriso(['-outdev', address, '-toc'], { signal });
    report = `${r.stdout}\n${r.stderr}`;
  } catch (e) {
    if (e instanceof XorrisoError) {
      if (e.code === 'NO_MEDIUM') return none;
      if (e.code === 'NO_DRIVE') return { ...none, missing: true };
      if (e.code === 'ABORTED') throw new DriveError('ABORTED', `inspecting drive ${drive} was cancelled`, drive);
    }
    throw e;
  }
  return parseToc(report);
}

/** Reads xorriso's -toc report: "Media status : is blank", "ISO session : 1, 32, 175s, VOLID", ... */
export function parseToc(report: string): MediumStatus {
  const none: MediumStatus = { missing: false, loaded: false, blank: false, bytes: 0n, sink: false };
  const status = /Media status\s*:\s*(.*)/.exec(report)?.[1] ?? '';
  if (!status || /is not present|no media/i.test(status) || /Media current:\s*is not present/i.test(report))
    return none;
  const media = /Media current:\s*(.*)/.exec(report)?.[1]?.trim() || undefined;
  if (/is blank/.test(status)) return { ...none, loaded: true, blank: true, media };
  let vsn: string | undefined;
  for (const m of report.matchAll(/ISO session\s*:\s*\d+\s*,\s*\d+\s*,\s*\d+s\s*,\s*(.*)/g)) vsn = m[1]?.trim() || vsn;
  const blocks = /Media summary:\s*\d+ sessions?,\s*(\d+) data blocks/.exec(report)?.[1];
  return { ...none, loaded: true, blank: false, bytes: BigInt(blocks ?? 0) * 2048n, vsn, media };
}

/** Grab the drive (closing its tray) and require a blank disc in it. */
export async function loadHardware(drive: string, address: string, signal?: AbortSignal): Promise<void> {
  const status = await inspectHardware(drive, address, signal);
  if (status.missing)
    throw new DriveError('DRIVE_MISSING', `drive ${drive} is missing: ${address} does not exist`, drive);
  if (!status.loaded) throw new DriveError('NO_MEDIUM', `drive ${drive} is empty: insert a blank disc`, drive);
  if (!status.blank)
    throw new DriveError('NOT_BLANK', `drive ${drive} holds a written disc: insert a blank one`, drive);
}

/** Open the tray: the operator takes the disc to the shelf. */
export async function ejectHardware(drive: string, address: string, signal?: AbortSignal): Promise<void> {
  if (!existsSync(address))
    throw new DriveError('DRIVE_MISSING', `drive ${drive} is missing: ${address} does not exist`, drive);
  try {
    await runXorriso(['-dev', address, '-eject', 'all'], { signal });
  } catch (e) {
    if (e instanceof XorrisoError && e.code === 'NO_MEDIUM') return;
    throw e;
  }
}
