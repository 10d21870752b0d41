/**
 * `optarc volumes`, `optarc files`, `optarc locate`: the agent's catalog over RPC. (Stub.)
 */
import { type CommandContext, UsageError } from './command-context.js';

export async function runCatalogCommand(name: string, _ctx: CommandContext): Promise<number> {
  throw new UsageError(`${name} is not built yet`);
}
