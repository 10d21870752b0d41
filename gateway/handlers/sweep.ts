/**
 * The sweeper: aborts multipart uploads an agent abandoned, keeps the rest.
 *
 * PLACEHOLDER: the real sweeper is wired by the mirror work, which replaces
 * this file. It exists so the Lambda entry point (gateway/lambda.ts `sweep`)
 * and the scheduled rule in infra/aws/ have something to call.
 */
import type { HandlerDeps } from './events.js';

export async function runSweep(_deps: HandlerDeps): Promise<{ aborted: number; kept: number }> {
  return { aborted: 0, kept: 0 };
}
