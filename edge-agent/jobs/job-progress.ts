/**
 * What a running job is doing, for JOB_STATUS, the CLI's progress bars and the
 * metrics: the current step, and per volume its step and per copy its drive,
 * state and bytes. Held in memory only: after a restart a job's progress is
 * rebuilt from the catalog as its steps run again.
 */
export type VolumeStep = 'planned' | 'mastering' | 'mastered' | 'writing' | 'verifying' | 'finished' | 'failed';
export type CopyStep = 'waiting' | 'writing' | 'verifying' | 'verified' | 'bad';

export interface CopyProgress {
  copy: number;
  attempt: number;
  drive: string;
  step: CopyStep;
  bytes: bigint;
  total: bigint;
  error?: string;
}

export interface VolumeProgress {
  vsn: string;
  step: VolumeStep;
  /** 0..1 of the current step (mastering, or the slowest copy while writing or verifying). */
  fraction: number;
  copies: CopyProgress[];
}

/** How much of a volume's work each step stands for, in the job's percentage. */
const WEIGHT = { master: 0.3, write: 0.5, verify: 0.2 };

export class JobProgress {
  step = 'queued';
  readonly volumes = new Map<number, VolumeProgress>();

  volume(id: number, vsn: string): VolumeProgress {
    let v = this.volumes.get(id);
    if (!v) {
      v = { vsn, step: 'planned', fraction: 0, copies: [] };
      this.volumes.set(id, v);
    }
    return v;
  }

  /** The copy attempt's entry, replacing an earlier attempt at the same copy number. */
  copy(volumeId: number, vsn: string, c: Omit<CopyProgress, 'bytes' | 'step'>): CopyProgress {
    const v = this.volume(volumeId, vsn);
    const entry: CopyProgress = { ...c, step: 'waiting', bytes: 0n };
    const i = v.copies.findIndex((x) => x.copy === c.copy);
    if (i >= 0) v.copies[i] = entry;
    else v.copies.push(entry);
    v.copies.sort((a, b) => a.copy - b.copy);
    return entry;
  }

  /** The job's completion, 0..100. */
  percent(): number {
    if (this.volumes.size === 0) return this.step === 'done' ? 100 : 0;
    let sum = 0;
    for (const v of this.volumes.values()) sum += volumeDone(v);
    return Math.min(100, Math.floor((100 * sum) / this.volumes.size));
  }

  /** One line: the step and each busy volume with its copies. */
  summary(): string {
    const parts: string[] = [];
    for (const v of this.volumes.values()) {
      if (v.step === 'planned' || v.step === 'finished') continue;
      const copies = v.copies
        .map((c) => `copy ${c.copy}@${c.drive} ${c.step}${c.total > 0n ? ` ${pct(c.bytes, c.total)}%` : ''}`)
        .join(', ');
      parts.push(
        `${v.vsn} ${v.step}${v.step === 'mastering' ? ` ${Math.floor(v.fraction * 100)}%` : ''}${copies ? ` (${copies})` : ''}`,
      );
    }
    return parts.join('; ');
  }
}

function volumeDone(v: VolumeProgress): number {
  switch (v.step) {
    case 'planned':
      return 0;
    case 'mastering':
      return WEIGHT.master * v.fraction;
    case 'mastered':
      return WEIGHT.master;
    case 'writing':
      return WEIGHT.master + WEIGHT.write * slowest(v);
    case 'verifying':
      return WEIGHT.master + WEIGHT.write + WEIGHT.verify * slowest(v);
    case 'finished':
      return 1;
    case 'failed':
      return 0;
  }
}

function slowest(v: VolumeProgress): number {
  const live = v.copies.filter((c) => c.step === 'writing' || c.step === 'verifying');
  if (live.length === 0) return 0;
  return Math.min(...live.map((c) => (c.total > 0n ? Number((c.bytes * 1000n) / c.total) / 1000 : 0)));
}

function pct(a: bigint, b: bigint): number {
  return Number((a * 100n) / b);
}
