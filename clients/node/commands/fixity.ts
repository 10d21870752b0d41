/**
 * `optarc fixity [--run] [--vsn V] [--wait]`: the latest fixity check of every
 * cloud image and disc (FIXITY, every page followed), optionally starting a
 * pass now (--run) and following it to its end (--wait: FIXITY is asked again
 * each second while the agent says a pass is running). A table for people,
 * one JSON object with --json. Failing checks are printed with the rest, then
 * thrown as FixityFailures (exit 9) naming each target and its remedy.
 */

import type { OptarcFixityCheck, OptarcFixityOk, OptarcTime } from '../../protocol/generated/optarc.js';
import type { AgentClient } from '../agent-client.js';
import { type CommandContext, FixityFailures, UsageError } from './command-context.js';

const POLL_MS = 1000;

interface Report {
  checks: OptarcFixityCheck[];
  running: boolean;
  failures: number;
  lastPass: OptarcTime;
  nextPass: OptarcTime;
}

export async function runFixity(ctx: CommandContext): Promise<number> {
  if (ctx.args.length > 0) throw new UsageError('fixity takes no arguments: optarc fixity [--run] [--vsn V] [--wait]');
  const vsn = ctx.values.vsn;
  if (vsn !== undefined && (typeof vsn !== 'string' || !/^[A-Z0-9_]{1,32}$/.test(vsn)))
    throw new UsageError(`--vsn is a volume serial (1 to 32 of A-Z, 0-9, _), not ${JSON.stringify(vsn)}`);
  const run = ctx.values.run === true;
  const report = await ctx.session(async (agent) => {
    let r = await readAll(agent, vsn, run);
    if (run && !ctx.json) process.stderr.write(r.running ? 'fixity: a pass is running\n' : 'fixity: pass done\n');
    if (ctx.wait) {
      let shown = false;
      while (r.running) {
        if (ctx.progress && !shown) {
          process.stderr.write('fixity: waiting for the pass to finish…\n');
          shown = true;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        r = await readAll(agent, vsn, false);
      }
    }
    return r;
  });
  ctx.out(reportText(report), reportJson(report));
  const failed = report.checks.filter((c) => !c.ok);
  if (failed.length > 0) {
    throw new FixityFailures(
      `${failed.length} fixity check${failed.length === 1 ? '' : 's'} failed: ${failed
        .map((c) => `${c.vsn} ${c.target}: ${c.detail}`)
        .join(' | ')}`,
    );
  }
  return 0;
}

/** Every page of the latest checks (the first asking for a pass when `run`). */
async function readAll(agent: AgentClient, vsn: string | undefined, run: boolean): Promise<Report> {
  const checks: OptarcFixityCheck[] = [];
  let cookie = 0n;
  let first: OptarcFixityOk | undefined;
  for (let pages = 0; pages < 1_000_000; pages++) {
    const p = await agent.fixity({ run: run && pages === 0, ...(vsn ? { vsn } : {}), cookie });
    first ??= p;
    checks.push(...p.checks);
    if (p.eof || p.checks.length === 0) break;
    cookie = p.cookie;
  }
  const head = first!;
  return { checks, running: head.running, failures: head.failures, lastPass: head.last_pass, nextPass: head.next_pass };
}

function iso(t: OptarcTime): string | null {
  if (t.seconds === 0n) return null;
  return new Date(Number(t.seconds) * 1000 + Math.floor(t.nanoseconds / 1e6)).toISOString();
}

function reportText(r: Report): string {
  const lines: string[] = [];
  if (r.checks.length === 0) lines.push('no fixity check recorded yet');
  else {
    const rows = r.checks.map((c) => [
      c.vsn,
      c.target,
      c.ok ? 'ok' : 'FAILED',
      iso(c.at) ?? '-',
      String(c.bytes),
      c.detail,
    ]);
    const head = ['VSN', 'TARGET', 'RESULT', 'CHECKED', 'BYTES', 'DETAIL'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const fmt = (row: string[]) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd();
    lines.push(fmt(head), ...rows.map(fmt));
  }
  const last = iso(r.lastPass);
  const next = iso(r.nextPass);
  lines.push(
    `${r.running ? 'a pass is running; ' : ''}last pass ${last ? `finished ${last}` : 'never finished'}; next pass ${next ?? 'not scheduled'}; ${r.failures} failing`,
  );
  return lines.join('\n');
}

function reportJson(r: Report) {
  return {
    running: r.running,
    failures: r.failures,
    lastPass: iso(r.lastPass),
    nextPass: iso(r.nextPass),
    checks: r.checks.map((c) => ({
      vsn: c.vsn,
      target: c.target,
      ok: c.ok,
      checkedAt: iso(c.at),
      bytes: Number(c.bytes),
      detail: c.detail,
    })),
  };
}
