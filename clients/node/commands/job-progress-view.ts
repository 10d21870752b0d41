/**
 * How the CLI shows a job: the one-shot summary of `optarc status`, the live
 * progress of `--wait` on stderr, the drives table, and the JSON forms.
 *
 * Everything here is pure or writes to a sink it is given, so the tests drive
 * it with made-up statuses and a fake clock; no agent is needed.
 *
 * Live progress has two modes:
 *  - on a terminal the block (a job line, then one line per volume) is
 *    redrawn in place: the cursor goes up over what was drawn last time
 *    (counting the rows long lines wrap onto) and the screen below is cleared;
 *  - elsewhere (a log file, a pipe) only the lines that changed are printed,
 *    at most once per `minIntervalMs` (1 s), and always the final state.
 * Text from the agent is printed with its control characters replaced, so a
 * message can neither break the layout nor send escape sequences.
 *
 * A finished volume of an agent that mirrors to a gateway carries its mirror
 * state in the volume's state text (edge-agent/service/burn-procedures.ts):
 * `mirrored`, `mirroring`, or `queued for mirror`, with notes in parentheses
 * (`paused`, `gateway not connected`, `last error: TEXT`). mirrorOf() reads
 * it back; the views show the notes after the bar, and the JSON form adds a
 * `mirror` object to such volumes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type OptarcCopyStatus,
  type OptarcDrive,
  OptarcJobState,
  type OptarcJobStatus,
  type OptarcVolumeStatus,
} from '../../protocol/generated/optarc.js';

/** Characters of the bar between its brackets. */
export const BAR_WIDTH = 20;
/** How often `--wait` asks for JOB_STATUS. */
export const POLL_INTERVAL_MS = 250;
/** The shortest time between two prints of plain (not terminal) progress. */
export const PLAIN_INTERVAL_MS = 1000;

const STATE_NAMES: Record<number, string> = {
  [OptarcJobState.OPTARC_JOB_QUEUED]: 'queued',
  [OptarcJobState.OPTARC_JOB_RUNNING]: 'running',
  [OptarcJobState.OPTARC_JOB_DONE]: 'done',
  [OptarcJobState.OPTARC_JOB_FAILED]: 'failed',
};

/** queued, running, done, failed (or `state N` for a value the contract does not name). */
export function jobStateName(state: number): string {
  return STATE_NAMES[state] ?? `state ${state}`;
}

/** The job has ended: DONE or FAILED. */
export function isFinal(s: OptarcJobStatus): boolean {
  return s.state === OptarcJobState.OPTARC_JOB_DONE || s.state === OptarcJobState.OPTARC_JOB_FAILED;
}

export function clampPercent(p: number): number {
  return Number.isFinite(p) ? Math.min(100, Math.max(0, Math.floor(p))) : 0;
}

/** `[#########-----------]`: `width` characters inside, filled in proportion (rounded down). */
export function bar(percent: number, width = BAR_WIDTH): string {
  const filled = Math.floor((clampPercent(percent) * width) / 100);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/** Agent text made safe for one line of a terminal: control characters become '?'. */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function pct(p: number): string {
  return `${String(clampPercent(p)).padStart(3)}%`;
}

/** `copy 2@sr1 writing 45%`; a bad copy shows its error; a retried copy its attempt. */
export function copyText(c: OptarcCopyStatus): string {
  const where = `copy ${c.copy}@${c.drive ? printable(c.drive) : '-'}`;
  const attempt = c.attempt > 1 ? ` (attempt ${c.attempt})` : '';
  if (c.state === 'bad') return `${where} bad${attempt}${c.error ? ` (${printable(c.error)})` : ''}`;
  return `${where} ${printable(c.state)} ${clampPercent(c.percent)}%${attempt}`;
}

export type MirrorPhase = 'queued' | 'mirroring' | 'mirrored';

/** A volume's mirror, as the agent tells it in the volume's state text. */
export interface VolumeMirror {
  state: MirrorPhase;
  percent: number;
  /** An operator paused the agent's mirror. */
  paused: boolean;
  /** The agent has no session with the gateway now. */
  disconnected: boolean;
  /** Why the last attempt failed ('' when it did not). */
  lastError: string;
  /** The notes in parentheses, as the agent wrote them ('' when none). */
  notes: string;
}

const MIRROR_HEADS: Record<string, MirrorPhase> = {
  'queued for mirror': 'queued',
  mirroring: 'mirroring',
  mirrored: 'mirrored',
};

/** The volume's mirror state, when its state text is one (see the header); undefined otherwise. */
export function mirrorOf(v: OptarcVolumeStatus): VolumeMirror | undefined {
  const m = /^(queued for mirror|mirroring|mirrored)(?: \((.*)\))?$/s.exec(v.state);
  if (!m) return undefined;
  const notes = m[2] ?? '';
  const at = notes.indexOf('last error: ');
  const flags = (at >= 0 ? notes.slice(0, at) : notes).split(',').map((f) => f.trim());
  return {
    state: MIRROR_HEADS[m[1]]!,
    percent: clampPercent(v.percent),
    paused: flags.includes('paused'),
    disconnected: flags.some((f) => f.startsWith('gateway not connected')),
    lastError: at >= 0 ? notes.slice(at + 'last error: '.length) : '',
    notes,
  };
}

/** The state column of a volume: its state, or for a mirror state only the head (the notes go after the bar). */
function stateHead(v: OptarcVolumeStatus): { head: string; notes: string } {
  const m = mirrorOf(v);
  if (!m || !m.notes) return { head: v.state, notes: '' };
  return { head: v.state.slice(0, v.state.length - m.notes.length - 3), notes: m.notes };
}

/** One volume's progress line: VSN, state, bar, percent, then every copy (a mirror's notes first). */
export function volumeLine(v: OptarcVolumeStatus, vsnWidth = 0, stateWidth = 0): string {
  const { head: state, notes } = stateHead(v);
  const head = `${printable(v.vsn || '-').padEnd(vsnWidth)} ${printable(state).padEnd(stateWidth)} ${bar(v.percent)} ${pct(v.percent)}${notes ? `  (${printable(notes)})` : ''}`;
  return v.copies.length ? `${head}  ${v.copies.map(copyText).join('  ')}` : head;
}

/** The job line of the progress block. */
export function jobLine(s: OptarcJobStatus): string {
  return `job ${s.job} ${jobStateName(s.state)} ${printable(s.step)} ${bar(s.percent)} ${pct(s.percent)}`;
}

/** The progress block: the job line, then one line per volume (columns aligned). */
export function progressLines(s: OptarcJobStatus): string[] {
  const vsnWidth = Math.max(0, ...s.volumes.map((v) => printable(v.vsn || '-').length));
  const stateWidth = Math.max(0, ...s.volumes.map((v) => printable(stateHead(v).head).length));
  return [jobLine(s), ...s.volumes.map((v) => `  ${volumeLine(v, vsnWidth, stateWidth)}`)];
}

/** What `optarc status` prints: the job, its message, each volume and each copy on its own line. */
export function summaryText(s: OptarcJobStatus): string {
  const lines = [`job ${s.job}: ${jobStateName(s.state)}, step ${printable(s.step)}, ${clampPercent(s.percent)}%`];
  if (s.message) lines.push(`  ${printable(s.message)}`);
  if (s.volumes.length === 0) lines.push('  no volumes yet');
  for (const v of s.volumes) {
    const { head, notes } = stateHead(v);
    lines.push(`  ${printable(v.vsn || '-')} ${printable(head)} ${clampPercent(v.percent)}% ${bar(v.percent)}`);
    if (notes) lines.push(`    ${printable(notes)}`);
    for (const c of v.copies) lines.push(`    ${copyText(c)}`);
  }
  return lines.join('\n');
}

/**
 * The JSON form of a status: the contract's fields (bigints as strings), the
 * state's name, and for each volume whose state is a mirror state, `mirror`
 * ({state: queued | mirroring | mirrored, percent, paused, disconnected, lastError}).
 */
export function jobStatusJson(s: OptarcJobStatus): Record<string, unknown> {
  const volumes = s.volumes.map((v) => {
    const m = mirrorOf(v);
    if (!m) return v;
    const { notes: _notes, ...mirror } = m;
    return { ...v, mirror };
  });
  return { ...s, job: s.job.toString(), stateName: jobStateName(s.state), volumes };
}

/** JSON text with bigints as decimal strings. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** `optarc drives`: name, address, loaded, vsn, busy, as aligned columns. */
export function drivesTable(drives: OptarcDrive[]): string {
  if (drives.length === 0) return 'no drives';
  const rows = [
    ['NAME', 'ADDRESS', 'LOADED', 'VSN', 'BUSY'],
    ...drives.map((d) => [
      printable(d.name),
      printable(d.address),
      d.loaded ? 'yes' : 'no',
      d.vsn ? printable(d.vsn) : '-',
      d.busy ? 'yes' : 'no',
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '))
    .join('\n');
}

/** Where live progress goes: process.stderr, or a fake in the tests. */
export interface ProgressSink {
  write(text: string): unknown;
  /** Terminal width, for counting the rows a long line wraps onto. */
  columns?: number;
}

export interface ProgressViewOptions {
  /** Redraw in place with ANSI cursor movement (a terminal) or print changed lines (anything else). */
  tty: boolean;
  minIntervalMs?: number;
  now?: () => number;
}

const ESC = '\u001b[';

/** Rows a line takes on a terminal `columns` wide. */
export function rowsOf(line: string, columns: number | undefined): number {
  if (!columns || columns < 1) return 1;
  return Math.max(1, Math.ceil([...line].length / columns));
}

export class ProgressView {
  private readonly sink: ProgressSink;
  private readonly tty: boolean;
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  /** Terminal: the text of the block on screen and how many rows it takes. */
  private drawn = '';
  private rows = 0;
  /** Plain: the lines printed last, and when. */
  private printed = new Set<string>();
  private lastPrint = Number.NEGATIVE_INFINITY;

  constructor(sink: ProgressSink, options: ProgressViewOptions) {
    this.sink = sink;
    this.tty = options.tty;
    this.minIntervalMs = options.minIntervalMs ?? PLAIN_INTERVAL_MS;
    this.now = options.now ?? Date.now;
  }

  /**
   * Show `s`. Returns whether anything was written: nothing when nothing
   * changed, nor (plain mode) within `minIntervalMs` of the last print
   * unless the job has ended or `force` is set.
   */
  update(s: OptarcJobStatus, force = false): boolean {
    const lines = progressLines(s);
    if (this.tty) {
      const text = lines.join('\n');
      if (text === this.drawn) return false;
      const up = this.rows > 0 ? `${ESC}${this.rows}A\r${ESC}J` : '';
      this.sink.write(`${up}${text}\n`);
      this.drawn = text;
      this.rows = lines.reduce((n, l) => n + rowsOf(l, this.sink.columns), 0);
      return true;
    }
    const changed = lines.filter((l) => !this.printed.has(l));
    if (changed.length === 0) return false;
    const t = this.now();
    if (!force && !isFinal(s) && t - this.lastPrint < this.minIntervalMs) return false;
    this.sink.write(`${changed.join('\n')}\n`);
    this.printed = new Set(lines);
    this.lastPrint = t;
    return true;
  }
}

/** Waiting stopped before the job ended (Ctrl-C); the job goes on at the agent. */
export class WaitInterrupted extends Error {
  readonly job: bigint;
  constructor(job: bigint) {
    super(`stopped waiting for job ${job}; it goes on at the agent (see: optarc status ${job} --wait)`);
    this.name = 'WaitInterrupted';
    this.job = job;
  }
}

export interface WaitOptions {
  intervalMs?: number;
  /** Called with every status polled, the final one included. */
  onStatus?: (s: OptarcJobStatus) => void;
  signal?: AbortSignal;
}

/** Poll until the job is DONE or FAILED; resolves with that final status. */
export async function waitForJob(
  job: bigint,
  poll: () => Promise<OptarcJobStatus>,
  options: WaitOptions = {},
): Promise<OptarcJobStatus> {
  const { intervalMs = POLL_INTERVAL_MS, onStatus, signal } = options;
  for (;;) {
    if (signal?.aborted) throw new WaitInterrupted(job);
    const s = await poll();
    onStatus?.(s);
    if (isFinal(s)) return s;
    try {
      await sleep(intervalMs, undefined, { signal });
    } catch (e) {
      if (signal?.aborted) throw new WaitInterrupted(job);
      throw e;
    }
  }
}
