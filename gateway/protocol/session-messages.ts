/**
 * The websocket session protocol between an edge agent and the gateway. The
 * gateway owns this schema; the agent imports it, and both ends validate every
 * message they send and receive (see codec.ts).
 *
 * Every message is a strict JSON object (unknown keys are refused) with
 * `v: 1` (the protocol version) and a `type` literal. A request that expects a
 * reply carries an `id`; the reply carries `replyTo` with that id.
 *
 *   agent → gateway                         gateway → agent
 *   hello {id}                        →     session {replyTo}
 *   mirror.begin {id}                 →     plan {replyTo}   (first batch of part URLs)
 *   plan.more {id}                    →     plan {replyTo}   (next batch)
 *   mirror.progress                   (no reply)
 *   mirror.complete {id}              →     ack {replyTo}
 *   presign.get {id}                  →     links {replyTo}  (ranged GETs of the site's own objects)
 *   fixity.report                     (no reply)
 *   command.result {replyTo}          ←     pause | resume | throttle | verify | reburn {id}
 *                                           error {replyTo | null} answers any failed request
 *
 * `presign.get` is how an agent reads the cloud: a retrieval asks for the
 * byte ranges of one file inside a volume's image, a re-burn for the whole
 * image in chunks, a fixity pass for the image to hash it. The gateway signs
 * each range (the Range header is part of the signature) and only under the
 * agent's site. `fixity.report` tells the gateway each check's outcome, so the
 * search page shows it and a failure raises the gateway's alert.
 *
 * Sizes and offsets are JSON numbers constrained to safe integers, not decimal
 * strings: the largest S3 object is 5 TiB (5 497 558 138 880 bytes), far below
 * 2^53, so every legal value is exact in a double and both ends avoid BigInt
 * parsing for no gain. zod's `.int()` already refuses unsafe integers, NaN and
 * infinities.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------- limits

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
/** S3's bounds for multipart uploads. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * GiB;
export const MAX_PARTS = 10_000;
export const MAX_OBJECT_SIZE = 5 * 1024 * GiB;
/** Presigned part URLs per `plan` message (also bounded by the 1 MiB message limit: see codec.ts). */
export const MAX_PARTS_PER_BATCH = 1000;
export const MAX_URL_LENGTH = 4096;
/** S3's key length limit, in bytes; keys are ASCII here so bytes = characters. */
export const MAX_KEY_LENGTH = 1024;

// ---------------------------------------------------------------- scalars

export const Vsn = z.string().regex(/^[A-Z0-9_]{1,32}$/, 'must be 1-32 of A-Z, 0-9, _');
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
export const Md5Hex = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lowercase hex digits');
/** Correlation id chosen by the sender of a request. */
export const MessageId = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1-64 of A-Za-z0-9._:-');
/** An agent's identity and a site name: lowercase DNS-label style. */
export const AgentId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 of a-z, 0-9, - (not leading -)');
export const SiteName = AgentId;
/** Opaque printable ASCII token (upload ids, version ids, ETags, session ids). */
const opaque = (max: number) =>
  z.string().regex(new RegExp(`^[\\x21-\\x7e]{1,${max}}$`), `must be 1-${max} printable ASCII characters`);
export const UploadId = opaque(1024);
export const VersionId = opaque(1024);
export const ETag = opaque(128);
export const SessionId = opaque(128);
export const ResumeToken = z.string().regex(/^[A-Za-z0-9_-]{16,512}$/, 'must be 16-512 base64url characters');
const text = (max: number) => z.string().max(max);

export const ByteCount = z.number().int().min(0).max(MAX_OBJECT_SIZE);
export const PartNumber = z.number().int().min(1).max(MAX_PARTS);
export const PartSize = z.number().int().min(MIN_PART_SIZE).max(MAX_PART_SIZE);
/** Bandwidth in bytes per second; null lifts the limit. */
export const BytesPerSecond = z
  .number()
  .int()
  .min(1)
  .max(100 * GiB)
  .nullable();

/** A presigned URL: http(s) only (the local stack's S3 speaks plain http), no embedded credentials. */
export const PresignedUrl = z
  .string()
  .max(MAX_URL_LENGTH)
  .refine((s) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      return false;
    }
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname !== '' && !u.username && !u.password;
  }, 'must be an absolute http: or https: URL without credentials');

/**
 * An S3 key under a site's prefix: `sites/<site>/...`, from S3's safe character
 * set, no empty, `.` or `..` segments. Which site is checked by keyIsUnderSite().
 */
export const SiteKey = z
  .string()
  .max(MAX_KEY_LENGTH)
  .regex(/^sites\/[a-z0-9][a-z0-9-]{0,62}\/[A-Za-z0-9!_.*'()/-]+$/, "must be sites/<site>/... of A-Za-z0-9!_.*'()/-")
  .refine(
    (s) => s.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..'),
    'must have no empty, "." or ".." segments',
  );

/** True when `key` lies under `site`'s prefix (call with the session's site). */
export function keyIsUnderSite(key: string, site: string): boolean {
  return SiteKey.safeParse(key).success && key.startsWith(`sites/${site}/`);
}

// ---------------------------------------------------------------- helpers

const base = { v: z.literal(PROTOCOL_VERSION) };
const request = { ...base, id: MessageId };
const reply = { ...base, replyTo: MessageId };

/** Part numbers must be strictly ascending (so also unique). */
function ascendingParts(parts: readonly { partNumber: number }[], ctx: z.RefinementCtx, at: string): void {
  for (let i = 1; i < parts.length; i++) {
    if (parts[i].partNumber <= parts[i - 1].partNumber) {
      ctx.addIssue({
        code: 'custom',
        path: [at, i, 'partNumber'],
        message: 'part numbers must be strictly ascending',
      });
      return;
    }
  }
}

// ---------------------------------------------------------------- agent → gateway

export const Drive = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._:/-]{1,64}$/, 'must be 1-64 of A-Za-z0-9._:/-'),
  state: z.enum(['idle', 'burning', 'reading', 'offline']),
  media: z.array(z.enum(['CD', 'DVD', 'DVD_DL', 'BD', 'BD_DL', 'BD_XL'])).max(8),
});

export const PendingVolume = z.strictObject({
  vsn: Vsn,
  size: ByteCount,
  sha256: Sha256Hex,
  /** Set when a mirror was under way: the gateway resumes that upload at its first missing part. */
  uploadId: UploadId.optional(),
});

export const Hello = z.strictObject({
  ...request,
  type: z.literal('hello'),
  agentId: AgentId,
  agentVersion: z.string().regex(/^[0-9A-Za-z.+-]{1,64}$/, 'must be 1-64 of 0-9A-Za-z.+-'),
  /** The token from the previous `session`, when reconnecting. */
  resumeToken: ResumeToken.optional(),
  drives: z.array(Drive).max(64),
  pendingVolumes: z.array(PendingVolume).max(1000),
});

export const MirrorBegin = z.strictObject({
  ...request,
  type: z.literal('mirror.begin'),
  vsn: Vsn,
  size: ByteCount.min(1),
  sha256: Sha256Hex,
  /** SHA-256 of the volume's manifest as it will be PUT. */
  manifestDigest: Sha256Hex,
});

export const MirrorProgress = z.strictObject({
  ...base,
  type: z.literal('mirror.progress'),
  vsn: Vsn,
  uploadId: UploadId,
  partsDone: z.number().int().min(0).max(MAX_PARTS),
  bytesDone: ByteCount,
});

export const CompletedPart = z.strictObject({ partNumber: PartNumber, etag: ETag, md5: Md5Hex });

export const MirrorComplete = z
  .strictObject({
    ...request,
    type: z.literal('mirror.complete'),
    vsn: Vsn,
    uploadId: UploadId,
    parts: z.array(CompletedPart).min(1).max(MAX_PARTS),
  })
  .superRefine((m, ctx) => ascendingParts(m.parts, ctx, 'parts'));

export const PlanMore = z.strictObject({
  ...request,
  type: z.literal('plan.more'),
  uploadId: UploadId,
  fromPart: PartNumber,
});

/** Byte ranges asked of one object per presign.get (bounded by the 1 MiB message limit of the answer). */
export const MAX_RANGES_PER_PRESIGN = 256;

export const ByteRange = z.strictObject({ offset: ByteCount, length: z.number().int().min(1).max(MAX_OBJECT_SIZE) });

export const PresignGet = z.strictObject({
  ...request,
  type: z.literal('presign.get'),
  key: SiteKey,
  versionId: VersionId.optional(),
  ranges: z.array(ByteRange).min(1).max(MAX_RANGES_PER_PRESIGN),
  /** What the reads are for, for the gateway's log and metrics. */
  purpose: z.enum(['retrieve', 'reburn', 'fixity']),
});

export const FixityResult = z.strictObject({
  vsn: Vsn,
  /** `cloud` (the image object), `copy N` (a disc the catalog can name) or `disc DRIVE` (a disc loaded in DRIVE). */
  target: z
    .string()
    .regex(/^(cloud|copy [1-9][0-9]{0,3}|disc [A-Za-z0-9._:-]{1,64})$/, 'must be "cloud", "copy N" or "disc DRIVE"'),
  ok: z.boolean(),
  /** ISO 8601 time of the check. */
  checkedAt: z.string().datetime(),
  bytes: ByteCount,
  detail: text(1024),
});

export const FixityReport = z.strictObject({
  ...base,
  type: z.literal('fixity.report'),
  results: z.array(FixityResult).min(1).max(100),
});

export const CommandResult = z.strictObject({
  ...reply,
  type: z.literal('command.result'),
  command: z.enum(['pause', 'resume', 'throttle', 'verify', 'reburn']),
  ok: z.boolean(),
  detail: text(1024).optional(),
});

export const AgentMessage = z.discriminatedUnion('type', [
  Hello,
  MirrorBegin,
  MirrorProgress,
  MirrorComplete,
  PlanMore,
  PresignGet,
  FixityReport,
  CommandResult,
]);
export type AgentMessage = z.infer<typeof AgentMessage>;

// ---------------------------------------------------------------- gateway → agent

const HhMm = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'must be HH:MM (UTC)');

/** A window in which uploads may run; end before start wraps past midnight. */
export const ScheduleWindow = z
  .strictObject({
    days: z.array(z.number().int().min(0).max(6)).min(1).max(7),
    start: HhMm,
    end: HhMm,
  })
  .superRefine((w, ctx) => {
    if (new Set(w.days).size !== w.days.length)
      ctx.addIssue({ code: 'custom', path: ['days'], message: 'repeated day' });
    if (w.start === w.end) ctx.addIssue({ code: 'custom', path: ['end'], message: 'must differ from start' });
  });

export const Policy = z.strictObject({
  throttleBytesPerSecond: BytesPerSecond,
  /** Empty: uploads may run at any time. */
  schedule: z.array(ScheduleWindow).max(32),
  storageClass: z.enum([
    'STANDARD',
    'STANDARD_IA',
    'ONEZONE_IA',
    'INTELLIGENT_TIERING',
    'GLACIER_IR',
    'GLACIER',
    'DEEP_ARCHIVE',
  ]),
  requiredCopies: z.number().int().min(1).max(16),
});

export const Session = z.strictObject({
  ...reply,
  type: z.literal('session'),
  sessionId: SessionId,
  resumeToken: ResumeToken,
  /** The site this agent speaks for: every key it is given lies under sites/<site>/. */
  site: SiteName,
  /** True when the hello's resume token was honoured. */
  resumed: z.boolean(),
  policy: Policy,
});

export const PlanPart = z.strictObject({
  partNumber: PartNumber,
  url: PresignedUrl,
  offset: ByteCount,
  length: z.number().int().min(1).max(MAX_PART_SIZE),
});

export const Plan = z
  .strictObject({
    ...reply,
    type: z.literal('plan'),
    vsn: Vsn,
    uploadId: UploadId,
    key: SiteKey,
    partSize: PartSize,
    /** Only the parts still missing: a resumed upload skips those already stored. */
    parts: z.array(PlanPart).max(MAX_PARTS_PER_BATCH),
    manifest: z.strictObject({ url: PresignedUrl, key: SiteKey }),
    /** Present when more parts remain: ask with plan.more {fromPart: morePartsFrom}. */
    morePartsFrom: PartNumber.optional(),
  })
  .superRefine((p, ctx) => {
    ascendingParts(p.parts, ctx, 'parts');
    p.parts.forEach((part, i) => {
      if (part.offset !== (part.partNumber - 1) * p.partSize) {
        ctx.addIssue({ code: 'custom', path: ['parts', i, 'offset'], message: 'must be (partNumber - 1) * partSize' });
      }
      if (part.length > p.partSize) {
        ctx.addIssue({ code: 'custom', path: ['parts', i, 'length'], message: 'must not exceed partSize' });
      }
    });
    const last = p.parts.at(-1);
    if (p.morePartsFrom !== undefined && last && p.morePartsFrom <= last.partNumber) {
      ctx.addIssue({ code: 'custom', path: ['morePartsFrom'], message: 'must follow the last part in this batch' });
    }
  });

export const Ack = z.strictObject({
  ...reply,
  type: z.literal('ack'),
  vsn: Vsn,
  key: SiteKey,
  versionId: VersionId,
  sha256: Sha256Hex,
});

export const Pause = z.strictObject({ ...request, type: z.literal('pause'), reason: text(1024).optional() });
export const Resume = z.strictObject({ ...request, type: z.literal('resume') });
export const Throttle = z.strictObject({ ...request, type: z.literal('throttle'), bytesPerSecond: BytesPerSecond });
export const Verify = z.strictObject({ ...request, type: z.literal('verify'), vsn: Vsn });
/** Burn `copies` new copies of a volume from its cloud image (a lost or damaged disc). */
export const Reburn = z.strictObject({
  ...request,
  type: z.literal('reburn'),
  vsn: Vsn,
  copies: z.number().int().min(1).max(16),
});

export const Links = z.strictObject({
  ...reply,
  type: z.literal('links'),
  key: SiteKey,
  /** One presigned GET per asked range, in order; send each with its Range header. */
  ranges: z
    .array(z.strictObject({ offset: ByteCount, length: ByteCount.min(1), url: PresignedUrl }))
    .min(1)
    .max(MAX_RANGES_PER_PRESIGN),
  expiresAt: z.string().datetime(),
});

export const ErrorMessage = z.strictObject({
  ...base,
  type: z.literal('error'),
  code: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'must be an UPPER_SNAKE code'),
  message: text(1024),
  /** The request this answers, or null when none could be identified. */
  replyTo: MessageId.nullable(),
});

export const GatewayMessage = z.discriminatedUnion('type', [
  Session,
  Plan,
  Ack,
  Pause,
  Resume,
  Throttle,
  Verify,
  Reburn,
  Links,
  ErrorMessage,
]);
export type GatewayMessage = z.infer<typeof GatewayMessage>;

export type AgentMessageType = AgentMessage['type'];
export type GatewayMessageType = GatewayMessage['type'];

/** Each direction's schemas by type, for precise error paths when decoding. */
export const AGENT_SCHEMAS: Readonly<Record<AgentMessageType, z.ZodType<AgentMessage>>> = {
  hello: Hello,
  'mirror.begin': MirrorBegin,
  'mirror.progress': MirrorProgress,
  'mirror.complete': MirrorComplete,
  'plan.more': PlanMore,
  'presign.get': PresignGet,
  'fixity.report': FixityReport,
  'command.result': CommandResult,
};
export const GATEWAY_SCHEMAS: Readonly<Record<GatewayMessageType, z.ZodType<GatewayMessage>>> = {
  session: Session,
  plan: Plan,
  ack: Ack,
  pause: Pause,
  resume: Resume,
  throttle: Throttle,
  verify: Verify,
  reburn: Reburn,
  links: Links,
  error: ErrorMessage,
};
