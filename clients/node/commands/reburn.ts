/**
 * `optarc reburn <vsn>`: re-make a volume's discs from its cloud image. (Stub.)
 */
import { type CommandContext, UsageError } from './command-context.js';

export async function runReburn(_ctx: CommandContext): Promise<number> {
  throw new UsageError('reburn is not built yet');
}
