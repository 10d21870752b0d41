/**
 * `optarc volumes`, `optarc files`, `optarc locate`: the agent's catalog over
 * RPC (CAT_VOLUMES, CAT_FIND, CAT_WHEREIS), every page followed to the end.
 * A table for people, or one JSON array with --json. Bad usage (a date that
 * is not ISO 8601, two match kinds, a missing argument) is a UsageError (exit
 * 2); nothing found is NothingFound (exit 7); the agent's refusals (a
 * malformed glob, an unknown VSN) come back as AgentError (exit 4).
 */
import {
  type OptarcCatFile,
  type OptarcCatVolume,
  type OptarcLocation,
  OptarcMatch,
  type OptarcTime,
} from '../../protocol/generated/optarc.js';
import { type CommandContext, NothingFound, UsageError } from './command-context.js';
import { printable } from './job-progress-view.js';

export async function runCatalogCommand(name: string, ctx: CommandContext): Promise<number> {
  switch (name) {
    case 'volumes':
      return volumes(ctx);
    case 'files':
      return files(ctx);
    case 'locate':
      return locate(ctx);
    default:
      throw new UsageError(`unknown catalog command '${name}'`);
  }
}

async function volumes(ctx: CommandContext): Promise<number> {
  if (ctx.args.length > 0) throw new UsageError('volumes takes no arguments: optarc volumes [--since DATE]');
  const since = sinceOption(ctx);
  const found = await ctx.session((agent) =>
    allPages(async (cookie) => {
      const p = await agent.catVolumes(since, cookie);
      return { items: p.volumes, cookie: p.cookie, eof: p.eof };
    }),
  );
  if (found.length === 0) {
    throw new NothingFound(
      ctx.values.since ? `no volume was created at or after ${ctx.values.since}` : 'the catalog holds no volume',
    );
  }
  ctx.out(volumesTable(found), found.map(volumeJson));
  return 0;
}

async function files(ctx: CommandContext): Promise<number> {
  if (ctx.args.length > 1) {
    throw new UsageError('files takes at most one pattern: optarc files [PATTERN] [--like | --glob | --exact]');
  }
  const pattern = ctx.args[0] ?? '';
  const kinds = (['like', 'glob', 'exact'] as const).filter((k) => ctx.values[k] === true);
  if (kinds.length > 1) throw new UsageError(`choose one of --like, --glob and --exact, not ${kinds.join(' and ')}`);
  const kind = kinds[0] ?? 'glob';
  if (kind === 'exact' && pattern === '')
    throw new UsageError('files --exact needs the path: optarc files PATH --exact');
  const match =
    kind === 'exact'
      ? OptarcMatch.OPTARC_MATCH_EXACT
      : kind === 'like'
        ? OptarcMatch.OPTARC_MATCH_LIKE
        : OptarcMatch.OPTARC_MATCH_GLOB;
  const since = sinceOption(ctx);
  const vsn = typeof ctx.values.vsn === 'string' ? ctx.values.vsn : '';
  const found = await ctx.session((agent) =>
    allPages(async (cookie) => {
      const p = await agent.catFind(match, Buffer.from(pattern), { since, vsn, cookie });
      return { items: p.files, cookie: p.cookie, eof: p.eof };
    }),
  );
  if (found.length === 0) {
    const what = pattern === '' ? 'no archived file' : `no archived file matches ${JSON.stringify(pattern)}`;
    throw new NothingFound(`${what}${vsn ? ` on ${vsn}` : ''}${ctx.values.since ? ` since ${ctx.values.since}` : ''}`);
  }
  ctx.out(filesTable(found), found.map(fileJson));
  return 0;
}

async function locate(ctx: CommandContext): Promise<number> {
  const [what, extra] = ctx.args;
  if (!what || extra !== undefined)
    throw new UsageError('locate needs one path or SHA-256: optarc locate <path|sha256>');
  const sha256 = /^[0-9a-fA-F]{64}$/.test(what) ? Buffer.from(what, 'hex') : null;
  const path = sha256 ? Buffer.alloc(0) : Buffer.from(what.replace(/^\/+/, ''));
  if (!sha256 && path.length === 0) throw new UsageError('locate needs a path or a SHA-256, not "/"');
  const found = await ctx.session((agent) =>
    allPages(async (cookie) => {
      const p = await agent.catWhereis(path, sha256, cookie);
      return { items: p.locations, cookie: p.cookie, eof: p.eof };
    }),
  );
  if (found.length === 0) throw new NothingFound(`no volume in the agent's catalog holds ${what}`);
  ctx.out(
    locationsText(found),
    found.map((l) => ({ file: fileJson(l.file), volume: volumeJson(l.volume) })),
  );
  return 0;
}

/** Every page of a listing, following the cookies until eof. */
async function allPages<T>(page: (cookie: bigint) => Promise<{ items: T[]; cookie: bigint; eof: boolean }>) {
  const all: T[] = [];
  let cookie = 0n;
  for (;;) {
    const p = await page(cookie);
    all.push(...p.items);
    if (p.eof) return all;
    if (p.items.length === 0 && p.cookie === cookie) {
      throw new Error('the agent answered an empty page that is not the end, with the same cookie: stopping');
    }
    cookie = p.cookie;
  }
}

// --- dates ----------------------------------------------------------------------

const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** --since as a time (0: no bound). A date alone is midnight UTC; a time without a zone is local. */
function sinceOption(ctx: CommandContext): OptarcTime {
  const text = ctx.values.since;
  if (text === undefined) return { seconds: 0n, nanoseconds: 0 };
  return parseSince(String(text));
}

export function parseSince(text: string): OptarcTime {
  const ms = ISO.test(text) ? Date.parse(text.replace(' ', 'T')) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new UsageError(
      `--since takes an ISO 8601 date or time (2026-11-22, 2026-11-22T06:00Z), not ${JSON.stringify(text)}`,
    );
  }
  const seconds = Math.floor(ms / 1000);
  // the epoch itself is 0 seconds, "no bound" on the wire: the same answer
  return { seconds: BigInt(seconds), nanoseconds: (ms - seconds * 1000) * 1_000_000 };
}

// --- output ---------------------------------------------------------------------

function iso(t: OptarcTime): string {
  return new Date(Number(t.seconds) * 1000 + Math.floor(t.nanoseconds / 1e6)).toISOString();
}

function size(n: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** `1 verified@sr0, 2 bad` */
function copiesText(v: OptarcCatVolume): string {
  if (v.copies.length === 0) return '-';
  return v.copies.map((c) => `${c.copy} ${printable(c.state)}${c.drive ? `@${printable(c.drive)}` : ''}`).join(', ');
}

function volumesTable(vs: OptarcCatVolume[]): string {
  return table([
    ['VSN', 'LABEL', 'MEDIA', 'STATE', 'CREATED', 'SIZE', 'FILES', 'COPIES', 'CLOUD'],
    ...vs.map((v) => [
      printable(v.vsn),
      printable(v.label) || '-',
      printable(v.media),
      printable(v.state),
      iso(v.created).slice(0, 19).replace('T', ' '),
      size(v.image_bytes),
      String(v.files),
      copiesText(v),
      v.cloud_key ? printable(v.cloud_key) : '-',
    ]),
  ]);
}

function partText(f: OptarcCatFile): string {
  return f.parts > 0 ? `${f.part}/${f.parts}` : '-';
}

function filesTable(fs: OptarcCatFile[]): string {
  return table([
    ['VSN', 'SESSION', 'PART', 'SIZE', 'MODIFIED', 'SHA256', 'PATH'],
    ...fs.map((f) => [
      printable(f.vsn),
      String(f.session),
      partText(f),
      size(f.size),
      iso(f.mtime).slice(0, 19).replace('T', ' '),
      f.sha256.toString('hex').slice(0, 12),
      printable(f.path.toString()),
    ]),
  ]);
}

/** Per location: the file, its volume, each copy with where it is kept and the drive holding it, the cloud object. */
function locationsText(ls: OptarcLocation[]): string {
  return ls
    .map(({ file: f, volume: v }) => {
      const part = f.parts > 0 ? `, part ${f.part} of ${f.parts} (bytes ${f.part_offset}+${f.part_length})` : '';
      return [
        `${printable(f.path.toString())}  (${size(f.size)}, sha256 ${f.sha256.toString('hex')})`,
        `  volume ${printable(v.vsn)}${v.label ? ` "${printable(v.label)}"` : ''} (${printable(v.media)}, ${printable(v.state)}), session ${f.session}${part}`,
        ...(v.copies.length === 0 ? ['  no copies'] : []),
        ...v.copies.map(
          (c) =>
            `  copy ${c.copy} ${printable(c.state)}: ${c.medium ? `kept at ${printable(c.medium)}` : 'where it is kept is unknown'}` +
            `${c.drive ? `, loaded in ${printable(c.drive)}` : ''}${c.note ? ` (${printable(c.note)})` : ''}`,
        ),
        v.cloud_key
          ? `  cloud: ${printable(v.cloud_key)}${v.cloud_version ? ` (version ${printable(v.cloud_version)})` : ''}`
          : '  cloud: not mirrored',
        ...(v.fixity ? [`  fixity: ${printable(v.fixity)}`] : []),
      ].join('\n');
    })
    .join('\n\n');
}

function volumeJson(v: OptarcCatVolume) {
  const zero = v.image_sha256.every((b) => b === 0);
  return {
    vsn: v.vsn,
    label: v.label,
    media: v.media,
    state: v.state,
    created: iso(v.created),
    imageBytes: Number(v.image_bytes),
    imageSha256: zero ? null : v.image_sha256.toString('hex'),
    sessions: v.sessions,
    files: v.files,
    copies: v.copies.map((c) => ({ copy: c.copy, state: c.state, medium: c.medium, drive: c.drive, note: c.note })),
    cloudKey: v.cloud_key,
    cloudVersion: v.cloud_version,
    fixity: v.fixity,
  };
}

function fileJson(f: OptarcCatFile) {
  return {
    path: f.path.toString(),
    size: Number(f.size),
    mode: f.mode,
    mtime: iso(f.mtime),
    sha256: f.sha256.toString('hex'),
    vsn: f.vsn,
    session: f.session,
    part: f.part,
    parts: f.parts,
    partOffset: Number(f.part_offset),
    partLength: Number(f.part_length),
  };
}
