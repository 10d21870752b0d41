/**
 * The operator's command API: what an operator tells an agent through the
 * gateway, and what the agent answered.
 *
 * `POST /agents/{agentId}/commands` with a JSON body
 *
 *     {"type": "pause" | "resume" | "throttle" | "verify" | "reburn",
 *      "bytesPerSecond": N | null,   (throttle only, required: null lifts the limit)
 *      "vsn": "OPT000001",           (verify and reburn only, required)
 *      "copies": N,                  (reburn only, required: 1 to 16 new copies)
 *      "reason": "..."}              (optional, any type; sent with pause)
 *
 * records the command (a random id, state `sent`), stores the controls it
 * implies on the agent (pause/resume: paused; throttle: its limit) so an agent
 * that connects later gets them with its session (sessions/open-session.ts),
 * and pushes the message to every live connection of the agent. A connection
 * the host says is gone is forgotten; when no connection took the message the
 * command is `undelivered` (a pause, resume or throttle still takes effect at
 * the agent's next session; a verify or reburn must be sent again). A reburn
 * is answered `ok` by the agent once it has queued the re-burn as a job (the
 * detail names the job), or `failed` with its refusal (unknown VSN, no cloud
 * copy, too many copies). Answers 202
 * `{id, delivered, state}`.
 *
 * `GET /agents/{agentId}/commands/{commandId}` answers the command: its
 * state (`sent` until the agent answers, then `ok` or `failed`, or
 * `undelivered`) and the agent's detail.
 *
 * Who may ask (authorizeAdmin, also used by GET /metrics): with
 * gateway.adminToken set, a request must carry `Authorization: Bearer <it>`
 * (compared in constant time) or is answered 401; without one, only a caller
 * on the loopback address is served, anyone else 403. Authorisation comes
 * before anything else, so a stranger cannot learn which agents exist.
 *
 * Errors are JSON `{error: CODE, message}`: 400 BAD_REQUEST naming the field,
 * 401 UNAUTHORIZED, 403 FORBIDDEN, 404 NO_SUCH_AGENT / NO_SUCH_COMMAND,
 * 409 AGENT_REVOKED.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import {
  AgentId,
  BytesPerSecond,
  type GatewayMessage,
  MessageId,
  PROTOCOL_VERSION,
  Vsn,
} from '../protocol/session-messages.js';
import type { CommandRow } from '../store/gateway-store.js';
import { GoneError, type HandlerDeps, type HandlerResult, type HttpEvent, header, settingsOf } from './events.js';

export const COMMAND_TYPES = ['pause', 'resume', 'throttle', 'verify', 'reburn'] as const;

/** New copies a reburn command may ask for (the Reburn message's bound). */
export const MAX_REBURN_COPIES = 16;
export type CommandType = (typeof COMMAND_TYPES)[number];

/** The body of POST /agents/{agentId}/commands. */
export const CommandRequest = z
  .strictObject({
    type: z.enum(COMMAND_TYPES),
    bytesPerSecond: BytesPerSecond.optional(),
    vsn: Vsn.optional(),
    copies: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(MAX_REBURN_COPIES, `must be at most ${MAX_REBURN_COPIES}`)
      .optional(),
    reason: z.string().max(1024, 'must be at most 1024 characters').optional(),
  })
  .superRefine((r, ctx) => {
    if (r.type === 'throttle' && r.bytesPerSecond === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['bytesPerSecond'],
        message: 'throttle needs bytesPerSecond: a limit in bytes per second, or null to lift it',
      });
    if (r.type !== 'throttle' && r.bytesPerSecond !== undefined)
      ctx.addIssue({ code: 'custom', path: ['bytesPerSecond'], message: `goes with throttle, not ${r.type}` });
    if (r.type === 'verify' && r.vsn === undefined)
      ctx.addIssue({ code: 'custom', path: ['vsn'], message: 'verify needs vsn: the volume serial to re-read' });
    if (r.type === 'reburn' && r.vsn === undefined)
      ctx.addIssue({ code: 'custom', path: ['vsn'], message: 'reburn needs vsn: the volume serial to re-burn' });
    if (r.type !== 'verify' && r.type !== 'reburn' && r.vsn !== undefined)
      ctx.addIssue({ code: 'custom', path: ['vsn'], message: `goes with verify, not ${r.type} (or with reburn)` });
    if (r.type === 'reburn' && r.copies === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['copies'],
        message: `reburn needs copies: the number of new copies, 1 to ${MAX_REBURN_COPIES}`,
      });
    if (r.type !== 'reburn' && r.copies !== undefined)
      ctx.addIssue({ code: 'custom', path: ['copies'], message: `goes with reburn, not ${r.type}` });
  });
export type CommandRequest = z.infer<typeof CommandRequest>;

const JSON_HEADERS = { 'content-type': 'application/json' };

function reply(statusCode: number, body: unknown, headers: Record<string, string> = {}): HandlerResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: `${JSON.stringify(body)}\n` };
}

function refuse(statusCode: number, error: string, message: string, headers?: Record<string, string>) {
  return reply(statusCode, { error, message }, headers);
}

/** `field: problem; other: problem` from zod's issues (the first few). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => {
      if (i.code === 'unrecognized_keys') return `${i.keys.join(', ')}: unknown field${i.keys.length > 1 ? 's' : ''}`;
      const at = i.path.length ? i.path.join('.') : '(body)';
      return `${at}: ${i.message}`;
    })
    .join('; ');
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

export function isLoopback(ip: string | undefined): boolean {
  return ip !== undefined && LOOPBACK.test(ip);
}

/** True when the two strings are equal, in time that does not depend on where they differ. */
function sameSecret(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given, 'utf8').digest();
  const b = crypto.createHash('sha256').update(expected, 'utf8').digest();
  return crypto.timingSafeEqual(a, b);
}

/** undefined when the caller may use the operator's API, else the answer to give it (401 or 403). */
export function authorizeAdmin(event: HttpEvent, deps: HandlerDeps): HandlerResult | undefined {
  const adminToken = settingsOf(deps).adminToken;
  const sourceIp = event.requestContext?.http?.sourceIp;
  if (adminToken !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(header(event.headers, 'authorization')?.trim() ?? '');
    if (m && sameSecret(m[1]!, adminToken)) return undefined;
    deps.log?.warn('operator request refused', {
      route: event.routeKey,
      sourceIp,
      reason: m ? 'bad token' : 'no token',
    });
    return refuse(401, 'UNAUTHORIZED', 'send Authorization: Bearer <gateway.adminToken>', {
      'www-authenticate': 'Bearer realm="optarc-gateway"',
    });
  }
  if (isLoopback(sourceIp)) return undefined;
  deps.log?.warn('operator request refused', { route: event.routeKey, sourceIp, reason: 'not loopback' });
  return refuse(
    403,
    'FORBIDDEN',
    'no gateway.adminToken is set: the operator API answers only on the loopback address',
  );
}

/** The message an agent is sent for a command. */
export function commandMessage(id: string, r: CommandRequest): GatewayMessage {
  const base = { v: PROTOCOL_VERSION, id } as const;
  switch (r.type) {
    case 'pause':
      return { ...base, type: 'pause', ...(r.reason !== undefined ? { reason: r.reason } : {}) };
    case 'resume':
      return { ...base, type: 'resume' };
    case 'throttle':
      return { ...base, type: 'throttle', bytesPerSecond: r.bytesPerSecond ?? null };
    case 'verify':
      return { ...base, type: 'verify', vsn: r.vsn! };
    case 'reburn':
      return { ...base, type: 'reburn', vsn: r.vsn!, copies: r.copies! };
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A command as the API shows it. */
export function shownCommand(c: CommandRow) {
  return {
    id: c.id,
    agentId: c.agentId,
    type: c.type,
    args: c.args,
    state: c.state,
    detail: c.detail,
    createdAt: iso(c.createdAt),
    answeredAt: iso(c.answeredAt),
  };
}

function parseBody(body: string | undefined): { ok: true; value: unknown } | { ok: false; message: string } {
  if (body === undefined || body.trim() === '') return { ok: false, message: '(body): send a JSON object' };
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch (e) {
    return { ok: false, message: `(body): not JSON: ${(e as Error).message}` };
  }
}

/** `POST /agents/{agentId}/commands`. */
export async function postAgentCommandHandler(event: HttpEvent, deps: HandlerDeps): Promise<HandlerResult> {
  const refused = authorizeAdmin(event, deps);
  if (refused) return refused;
  const agentId = event.pathParameters?.agentId ?? '';
  if (!AgentId.safeParse(agentId).success) return refuse(404, 'NO_SUCH_AGENT', `there is no agent ${agentId}`);
  const body = parseBody(event.body);
  if (!body.ok) return refuse(400, 'BAD_REQUEST', body.message);
  const parsed = CommandRequest.safeParse(body.value);
  if (!parsed.success) return refuse(400, 'BAD_REQUEST', describeIssues(parsed.error));
  const request = parsed.data;

  const { store } = deps;
  const agent = store.agent(agentId);
  if (!agent) return refuse(404, 'NO_SUCH_AGENT', `there is no agent ${agentId}`);
  if (agent.revokedAt !== null) return refuse(409, 'AGENT_REVOKED', `agent ${agentId} is revoked`);

  const now = (deps.now ?? Date.now)();
  const id = `cmd_${crypto.randomBytes(12).toString('hex')}`;
  const args: Record<string, unknown> = {};
  if (request.bytesPerSecond !== undefined) args.bytesPerSecond = request.bytesPerSecond;
  if (request.vsn !== undefined) args.vsn = request.vsn;
  if (request.copies !== undefined) args.copies = request.copies;
  if (request.reason !== undefined) args.reason = request.reason;
  store.insertCommand({ id, agentId, type: request.type, args, state: 'sent', createdAt: now });
  // the durable part: an agent that connects later is told in its session (policy, pause)
  if (request.type === 'pause') store.setAgentControls(agentId, { paused: true });
  if (request.type === 'resume') store.setAgentControls(agentId, { paused: false });
  if (request.type === 'throttle') store.setAgentControls(agentId, { throttleBytesPerSecond: request.bytesPerSecond });

  const message = commandMessage(id, request);
  let delivered = 0;
  const connections = store.connections(agentId);
  for (const c of connections) {
    try {
      await deps.postToConnection(c.id, message);
      delivered++;
    } catch (e) {
      if (e instanceof GoneError) {
        store.deleteConnection(c.id);
        deps.log?.info('connection gone', { agent: agentId, site: agent.site, connectionId: c.id });
      } else {
        deps.log?.warn('cannot send a command', {
          agent: agentId,
          connectionId: c.id,
          error: (e as Error)?.message ?? String(e),
        });
      }
    }
  }
  if (delivered === 0) store.setCommandState(id, 'undelivered');
  deps.log?.info('command sent', {
    agent: agentId,
    site: agent.site,
    command: id,
    type: request.type,
    connections: connections.length,
    delivered,
    sourceIp: event.requestContext?.http?.sourceIp,
  });
  return reply(202, { id, delivered: delivered > 0, state: delivered > 0 ? 'sent' : 'undelivered' });
}

/** `GET /agents/{agentId}/commands/{commandId}`. */
export async function getAgentCommandHandler(event: HttpEvent, deps: HandlerDeps): Promise<HandlerResult> {
  const refused = authorizeAdmin(event, deps);
  if (refused) return refused;
  const agentId = event.pathParameters?.agentId ?? '';
  const commandId = event.pathParameters?.commandId ?? '';
  const command = MessageId.safeParse(commandId).success ? deps.store.command(commandId) : undefined;
  if (!command || command.agentId !== agentId)
    return refuse(404, 'NO_SUCH_COMMAND', `agent ${agentId} has no command ${commandId}`);
  return reply(200, shownCommand(command));
}
