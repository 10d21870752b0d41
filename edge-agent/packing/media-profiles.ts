/**
 * Write-once media the agent can burn, by capacity in 2048-byte sectors (the
 * figures a drive reports for a blank disc: READ CAPACITY / READ DISC INFO),
 * plus tiny test profiles so the test suite can fill many volumes quickly.
 * Names are matched case-insensitively; the canonical name is lower case.
 * A profile may ask for par2 recovery files on every disc (`recovery`): the
 * packer then reserves their room (withRecoveryCost) and mastering adds them
 * under recovery/ (edge-agent/recovery/par2.ts).
 */
import { PackingError } from './errors.js';

export const SECTOR = 2048;

export interface MediaProfile {
  name: string;
  sectors: number;
  description: string;
  /** A profile for tests only: no real disc has this capacity. */
  test?: boolean;
  /** Error correction on the disc: par2 files over the payload, repairing up to this share of its blocks. */
  recovery?: MediaRecovery;
}

export interface MediaRecovery {
  kind: 'par2';
  /** Whole percent, 1 to 100. */
  redundancyPercent: number;
}

const PROFILES: readonly MediaProfile[] = [
  { name: 'cd-r', sectors: 360_000, description: 'CD-R, 80 minutes (700 MiB)' },
  { name: 'dvd-r', sectors: 2_298_496, description: 'DVD-R, single layer (4.7 GB)' },
  { name: 'dvd+r', sectors: 2_295_104, description: 'DVD+R, single layer (4.7 GB)' },
  { name: 'dvd-r-dl', sectors: 4_171_712, description: 'DVD-R DL, dual layer (8.5 GB)' },
  { name: 'dvd+r-dl', sectors: 4_173_824, description: 'DVD+R DL, dual layer (8.5 GB)' },
  { name: 'bd-r', sectors: 12_219_392, description: 'BD-R, single layer (25 GB), unformatted' },
  {
    name: 'bd-r-formatted',
    sectors: 11_826_176,
    description: 'BD-R, single layer (25 GB), formatted with the default spare area',
  },
  { name: 'bd-r-dl', sectors: 24_438_784, description: 'BD-R DL, dual layer (50 GB), unformatted' },
  { name: 'test-2m', sectors: 1024, description: 'test medium, 2 MiB', test: true },
  { name: 'test-8m', sectors: 4096, description: 'test medium, 8 MiB', test: true },
  { name: 'test-32m', sectors: 16_384, description: 'test medium, 32 MiB', test: true },
  {
    name: 'test-8m-par2',
    sectors: 4096,
    description: 'test medium, 8 MiB, with par2 recovery files (10 %)',
    test: true,
    recovery: Object.freeze({ kind: 'par2', redundancyPercent: 10 }),
  },
].map((p: MediaProfile) => Object.freeze(p));

/** The profile called `name` (case-insensitive); PackingError('UNKNOWN_MEDIA') listing the known names otherwise. */
export function mediaProfile(name: string): MediaProfile {
  const wanted = name.toLowerCase();
  const found = PROFILES.find((p) => p.name === wanted);
  if (found) return found;
  const known = PROFILES.map((p) => p.name);
  throw new PackingError(
    'UNKNOWN_MEDIA',
    `unknown media type ${JSON.stringify(name)}: known types are ${known.join(', ')}`,
    { kind: 'unknown-media', name, known },
  );
}

/** Every profile, real media first (smallest to largest family), test profiles last. */
export function listMediaProfiles(): MediaProfile[] {
  return [...PROFILES];
}
