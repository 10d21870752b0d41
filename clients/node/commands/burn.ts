/**
 * `optarc burn` and `optarc status`: checking their arguments before anything
 * is sent, and following a job with `--wait` (JOB_STATUS every 250 ms through
 * the caller's session, progress drawn on stderr, Ctrl-C stops waiting but not
 * the job).
 */

import {
  OPTARC_MAX_DRIVES,
  OPTARC_MAX_LABEL,
  OPTARC_MAX_MEDIA,
  type OptarcJobStatus,
} from '../../protocol/generated/optarc.js';
import type { AgentClient } from '../agent-client.js';
import { type ProgressSink, ProgressView, waitForJob } from './job-progress-view.js';

export interface BurnOptions {
  copies: number;
  media: string;
  label: string;
  append: boolean;
}

/** What a usage check found wrong, in words for the user. */
export class BadArguments extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadArguments';
  }
}

const UINT64_MAX = (1n << 64n) - 1n;

/** The options of `optarc burn`, checked: --copies 1..64 (default 1), --media required, both within the contract's bounds. */
export function checkBurnArgs(values: Record<string, string | boolean | undefined>, args: string[]): BurnOptions {
  if (args.length > 0) throw new BadArguments(`burn takes no arguments, only options (got '${args[0]}')`);
  const copiesText = values.copies === undefined ? '1' : String(values.copies);
  const copies = /^\d+$/.test(copiesText) ? Number(copiesText) : Number.NaN;
  const media = typeof values.media === 'string' ? values.media : '';
  if (!Number.isInteger(copies) || copies < 1 || copies > OPTARC_MAX_DRIVES || !media)
    throw new BadArguments(`burn needs --copies N (1 to ${OPTARC_MAX_DRIVES}) and --media PROFILE`);
  if (Buffer.byteLength(media) > OPTARC_MAX_MEDIA)
    throw new BadArguments(`--media is at most ${OPTARC_MAX_MEDIA} bytes`);
  const label = typeof values.label === 'string' ? values.label : '';
  if (Buffer.byteLength(label) > OPTARC_MAX_LABEL)
    throw new BadArguments(`--label is at most ${OPTARC_MAX_LABEL} bytes (it becomes the ISO 9660 volume id)`);
  return { copies, media, label, append: values.append === true };
}

/** The job number of `optarc status <job>`: decimal, as `optarc burn` prints it. */
export function checkJobArg(args: string[]): bigint {
  if (args.length !== 1 || !/^\d{1,20}$/.test(args[0]) || BigInt(args[0]) > UINT64_MAX)
    throw new BadArguments('status needs one job number: optarc status <job>');
  return BigInt(args[0]);
}

export interface FollowOptions {
  /** Draw progress on `sink`. */
  progress: boolean;
  /** Redraw in place (a terminal) rather than print changed lines. */
  tty: boolean;
  sink: ProgressSink;
  intervalMs?: number;
  signal?: AbortSignal;
}

/** Poll the job through `agent`'s session until it is DONE or FAILED, drawing progress if asked. */
export function followJob(agent: AgentClient, job: bigint, options: FollowOptions): Promise<OptarcJobStatus> {
  const view = options.progress ? new ProgressView(options.sink, { tty: options.tty }) : undefined;
  return waitForJob(job, () => agent.jobStatus(job), {
    intervalMs: options.intervalMs,
    signal: options.signal,
    onStatus: (s) => view?.update(s),
  });
}

/** Run `action` with a signal that Ctrl-C (SIGINT) aborts; the handler is removed afterwards. */
export async function untilInterrupted<T>(action: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onInt = () => controller.abort();
  process.once('SIGINT', onInt);
  try {
    return await action(controller.signal);
  } finally {
    process.off('SIGINT', onInt);
  }
}
