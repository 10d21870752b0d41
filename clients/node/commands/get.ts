/**
 * `optarc get` and `optarc pickup`: retrieving archived files. (Stub.)
 */
import { type CommandContext, UsageError } from './command-context.js';

export async function runGet(_ctx: CommandContext): Promise<number> {
  throw new UsageError('get is not built yet');
}

export async function runPickup(_ctx: CommandContext): Promise<number> {
  throw new UsageError('pickup is not built yet');
}
