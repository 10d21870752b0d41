/**
 * `optarc fixity`: the latest fixity checks, and starting a pass. (Stub.)
 */
import { type CommandContext, UsageError } from './command-context.js';

export async function runFixity(_ctx: CommandContext): Promise<number> {
  throw new UsageError('fixity is not built yet');
}
