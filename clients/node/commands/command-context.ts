/**
 * What cli.ts hands a command module: the parsed arguments, the output
 * conventions (--json), a session with the agent, and the failures a command
 * throws to get its exit code (classify() in cli.ts turns them into codes).
 */
import type { AgentClient } from '../agent-client.js';

export interface CommandContext {
  /** The positionals after the command's name. */
  args: string[];
  /** The parsed options (see the option list in cli.ts). */
  values: Record<string, string | boolean | undefined>;
  json: boolean;
  wait: boolean;
  /** Show progress on stderr (--progress, or a terminal without --json). */
  progress: boolean;
  /** Prints the human text, or the machine value as one JSON line with --json. */
  out(human: string, machine: unknown): void;
  /** Runs `action` holding the agent's controller lease, letting go afterwards. */
  session<T>(action: (agent: AgentClient) => Promise<T>): Promise<T>;
  /** A job was started: prints its number, or with --wait follows it to its end; the exit code. */
  started(agent: AgentClient, job: bigint): Promise<number>;
}

/** Bad usage: exit 2. */
export class UsageError extends Error {}
/** A query found nothing: exit 7. */
export class NothingFound extends Error {}
/** An offline retrieval is not ready yet: exit 8 (the token is printed; pick it up later). */
export class NotReadyYet extends Error {}
/** A fixity report with failures: exit 9 (the report names each and the re-burn it proposes). */
export class FixityFailures extends Error {}
