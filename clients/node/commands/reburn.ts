/**
 * `optarc reburn <vsn> [--copies N] [--media PROFILE] [--wait]`: re-make a
 * lost or damaged volume's discs from its cloud image. The agent downloads
 * the image (resumably), checks its SHA-256, and burns and verifies N new
 * copies of the same VSN as a job: the job's number is printed, or with
 * --wait the job is followed to its end (exit 6 if it fails, e.g. CORRUPT or
 * NO_SOURCE in its message). Refusals come back as the agent's status (exit
 * 4): OPTARC_NOT_FOUND (no such VSN), OPTARC_NO_SOURCE (not mirrored yet),
 * OPTARC_BAD_ARGUMENT (copies beyond the agent's maximum, a medium too small).
 */
import { OPTARC_MAX_DRIVES, OPTARC_MAX_LABEL, OPTARC_MAX_MEDIA } from '../../protocol/generated/optarc.js';
import { type CommandContext, UsageError } from './command-context.js';

const SYNTAX = 'reburn <vsn> [--copies N] [--media PROFILE] [--wait]';

export interface ReburnArgs {
  vsn: string;
  copies: number;
  media: string;
}

/** The arguments of `optarc reburn`, checked against the contract's bounds before anything is sent. */
export function checkReburnArgs(ctx: Pick<CommandContext, 'args' | 'values'>): ReburnArgs {
  const vsnValue = typeof ctx.values.vsn === 'string' ? ctx.values.vsn : undefined;
  const positional = ctx.args;
  if (positional.length > 1 || (vsnValue !== undefined && positional.length > 0))
    throw new UsageError(`reburn takes one volume serial: ${SYNTAX}`);
  const vsn = vsnValue ?? positional[0];
  if (!vsn) throw new UsageError(`reburn needs the volume serial: ${SYNTAX}`);
  if (Buffer.byteLength(vsn) > OPTARC_MAX_LABEL)
    throw new UsageError(`a volume serial is at most ${OPTARC_MAX_LABEL} bytes, not '${vsn}'`);
  const copiesText = ctx.values.copies === undefined ? '1' : String(ctx.values.copies);
  const copies = /^\d{1,3}$/.test(copiesText) ? Number(copiesText) : Number.NaN;
  if (!Number.isInteger(copies) || copies < 1 || copies > OPTARC_MAX_DRIVES)
    throw new UsageError(`--copies is a number of new copies, 1 to ${OPTARC_MAX_DRIVES}, not '${copiesText}'`);
  const media = typeof ctx.values.media === 'string' ? ctx.values.media : '';
  if (Buffer.byteLength(media) > OPTARC_MAX_MEDIA) throw new UsageError(`--media is at most ${OPTARC_MAX_MEDIA} bytes`);
  return { vsn, copies, media };
}

export async function runReburn(ctx: CommandContext): Promise<number> {
  const r = checkReburnArgs(ctx);
  return ctx.session(async (agent) => {
    const job = await agent.reburn(r.vsn, r.copies, r.media);
    return ctx.started(agent, job);
  });
}
