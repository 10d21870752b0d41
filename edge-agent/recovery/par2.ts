/**
 * par2 recovery files for a volume (Debian package par2: par2cmdline 0.8).
 *
 * createRecoveryFiles makes them for a volume's payload before mastering:
 * each set (see par2-layout.ts) gets a scratch tree of symlinks,
 * `<workDir>/par2/tree-<k>/data/<path>` -> the staged file, and par2 reads it
 * recursively (-R), so par2 stores every name as `data/<path>` (the raw bytes:
 * no name ever passes through argv) and the files go on the disc as
 * `recovery/<base>.par2` + `recovery/<base>.vol0+<R>.par2`, beside data/.
 * What par2 wrote is checked against what was asked: its block counts, and
 * the file sizes the PAR 2.0 packet layout gives (so the names it stored are
 * the ones repair will look for, and the packer's reservation holds).
 *
 * repairTree runs `par2 repair -B <root>` with each set's par2 files over an
 * extracted copy of a disc (a mounted disc is read-only: extract it first).
 * par2's exit status alone is not trusted: a set counts as repaired only when
 * par2 said "Repair complete." and re-verified as found every file it had
 * found damaged or missing. par2 keeps a damaged file as `<name>.<n>`; those
 * backups are removed unless asked to keep them. verifyTree only checks.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { RecoveryError } from './errors.js';
import {
  blockSizeFor,
  CREATOR_MAX_BYTES,
  checkLayout,
  checkRedundancy,
  DEFAULT_PAR2_LAYOUT,
  PAR2_NAME_PREFIX,
  type Par2Layout,
  RECOVERY_DIR,
  recoveryBlocks,
  setFileBytes,
  splitSets,
} from './par2-layout.js';

export { RecoveryError } from './errors.js';
export { DEFAULT_PAR2_LAYOUT, type Par2Layout, RECOVERY_DIR } from './par2-layout.js';

export interface RecoverySource {
  /** Absolute path of the staged file (Buffer: raw bytes). */
  source: Buffer | string;
  /** Path inside the volume's data/, raw bytes, '/'-separated. */
  path: Buffer;
  size: bigint;
}

export interface CreateRecoveryRequest {
  vsn: string;
  files: readonly RecoverySource[];
  /** Scratch dir (the caller creates and later removes it); the par2 files are left in `<workDir>/par2/out`. */
  workDir: string;
  redundancyPercent: number;
  layout?: Partial<Par2Layout>;
  signal?: AbortSignal;
  /** The par2 program; `par2` on the PATH by default. */
  program?: string;
}

/** One par2 file, in the shape MasterRequest.rootFiles takes. */
export interface RecoveryFile {
  /** Absolute path of the file in the scratch dir. */
  source: string;
  /** Path in the image root: `recovery/<name>`. */
  path: Buffer;
  size: bigint;
  sha256: Buffer;
}

export interface RecoverySet {
  /** The set's par2 base name: the VSN, or `<VSN>-<k>` when the payload needs several sets. */
  base: string;
  files: number;
  payloadBytes: bigint;
  blockSize: number;
  sourceBlocks: number;
  recoveryBlocks: number;
}

export interface CreatedRecovery {
  files: RecoveryFile[];
  sets: RecoverySet[];
  /** Bytes of all par2 files. */
  bytes: bigint;
  /** Wall time of the par2 runs. */
  seconds: number;
}

const VSN = /^[A-Z0-9_]{1,32}$/;
const SLASH = 0x2f;
/**
 * par2cmdline runs on OpenMP: with libgomp's default wait policy its threads
 * spin while they wait, and beside xorriso or another par2 on a small box a
 * 0.1 s run took 3 s; passive waiting costs nothing when the CPUs are free.
 */
const PAR2_ENV = { LC_ALL: 'C', LANG: 'C', OMP_WAIT_POLICY: 'PASSIVE' };
/** par2 prints little (progress aside); a cap keeps a runaway run from filling memory. */
const MAX_OUTPUT = 64 * 1024 * 1024;

function layoutOf(partial: Partial<Par2Layout> | undefined): Par2Layout {
  const layout = { ...DEFAULT_PAR2_LAYOUT, ...partial };
  try {
    checkLayout(layout);
  } catch (error) {
    throw new RecoveryError('BAD_ARGUMENT', (error as Error).message);
  }
  return layout;
}

function absolute(source: Buffer | string): Buffer {
  const b = typeof source === 'string' ? Buffer.from(source, 'utf8') : source;
  return b[0] === SLASH ? b : Buffer.concat([Buffer.from(`${process.cwd()}/`), b]);
}

function showName(name: Buffer): string {
  const text = name.toString('utf8').includes('\uFFFD') ? name.toString('latin1') : name.toString('utf8');
  return JSON.stringify(text);
}

function checkPath(p: Buffer): void {
  const bad = (why: string) => new RecoveryError('BAD_ARGUMENT', `payload path ${showName(p)} ${why}`);
  if (p.length === 0) throw bad('is empty');
  if (p[0] === SLASH) throw bad('is absolute');
  if (p.includes(0) || p.includes(0x0a)) throw bad('holds a NUL or a newline');
  for (const c of p.toString('latin1').split('/')) {
    if (c === '' || c === '.' || c === '..') throw bad('has an empty, "." or ".." component');
  }
}

function fsFailure(error: unknown, what: string): RecoveryError {
  if (error instanceof RecoveryError) return error;
  const err = error as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC')
    return new RecoveryError('NO_SPACE', `${what}: no space left on device`, { cause: error });
  return new RecoveryError('TOOL_FAILED', `${what}: ${err?.message ?? String(error)}`, { cause: error });
}

async function sha256Of(file: string): Promise<Buffer> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest();
}

interface Par2Run {
  exitCode: number | undefined;
  /** stdout and stderr, split at '\n' and '\r' (progress), each line as latin1 (one char per byte). */
  lines: string[];
}

async function runPar2(program: string, args: string[], signal: AbortSignal | undefined): Promise<Par2Run> {
  if (signal?.aborted) throw new RecoveryError('ABORTED', `${program} was cancelled`);
  const result = await execa(program, args, {
    reject: false,
    stdin: 'ignore',
    all: true,
    encoding: 'buffer',
    cancelSignal: signal,
    forceKillAfterDelay: 5000,
    maxBuffer: MAX_OUTPUT,
    env: PAR2_ENV,
  });
  if (result.isCanceled || (result.isTerminated && signal?.aborted)) {
    throw new RecoveryError('ABORTED', `${program} was cancelled`);
  }
  const code = (result as { code?: string }).code;
  if (code === 'ENOENT' || /ENOENT/.test(String(result.originalMessage ?? ''))) {
    throw new RecoveryError('TOOL_MISSING', `${program} is not installed: run infra/install.sh (Debian package par2)`);
  }
  if (result.isMaxBuffer) {
    throw new RecoveryError('TOOL_FAILED', `${program} printed more than ${MAX_OUTPUT} bytes`);
  }
  const all = Buffer.from((result.all as Uint8Array | undefined) ?? new Uint8Array());
  const lines = all
    .toString('latin1')
    .split(/[\r\n]/)
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
  return { exitCode: result.exitCode, lines };
}

/** The last lines par2 printed that say something (progress left out). */
function said(run: Par2Run): string {
  const words = run.lines.filter((l) => !/^\w+: \d+(\.\d+)?%$|^Opening: |^Loading "/.test(l));
  return words.slice(-4).join(' | ') || '(nothing)';
}

/** Makes the par2 files of a volume's payload; see the file header. */
export async function createRecoveryFiles(req: CreateRecoveryRequest): Promise<CreatedRecovery> {
  const program = req.program ?? 'par2';
  if (!VSN.test(req.vsn)) throw new RecoveryError('BAD_ARGUMENT', `${JSON.stringify(req.vsn)} is not a VSN`);
  try {
    checkRedundancy(req.redundancyPercent);
  } catch (error) {
    throw new RecoveryError('BAD_ARGUMENT', (error as Error).message);
  }
  const layout = layoutOf(req.layout);
  for (const f of req.files) checkPath(f.path);
  const sets = splitSets(req.files, layout);
  const root = path.resolve(req.workDir, 'par2');
  const outDir = path.join(root, 'out');
  try {
    await fs.rm(root, { recursive: true, force: true });
    await fs.mkdir(outDir, { recursive: true });
  } catch (error) {
    throw fsFailure(error, `preparing ${root}`);
  }
  const width = String(sets.length).length;
  const made: RecoveryFile[] = [];
  const described: RecoverySet[] = [];
  const started = performance.now();
  for (const [k, set] of sets.entries()) {
    const base = sets.length === 1 ? req.vsn : `${req.vsn}-${String(k + 1).padStart(width, '0')}`;
    const tree = path.join(root, `tree-${k + 1}`);
    try {
      for (const f of set) {
        const link = Buffer.concat([Buffer.from(`${tree}/${PAR2_NAME_PREFIX}`), f.path]);
        await fs.mkdir(link.subarray(0, link.lastIndexOf(SLASH)), { recursive: true });
        await fs.symlink(absolute(f.source), link);
      }
    } catch (error) {
      throw fsFailure(error, `linking the files of ${base} under ${tree}`);
    }
    const { blockSize, blocks } = blockSizeFor(
      set.map((f) => f.size),
      layout,
    );
    const recovery = recoveryBlocks(blocks, req.redundancyPercent);
    const index = path.join(outDir, `${base}.par2`);
    const run = await runPar2(
      program,
      [
        'create',
        `-s${blockSize}`,
        `-c${recovery}`,
        '-n1',
        '-R',
        `-B${tree}`,
        '--',
        index,
        path.join(tree, PAR2_NAME_PREFIX.slice(0, -1)),
      ],
      req.signal,
    );
    if (run.exitCode !== 0 || !run.lines.includes('Done')) {
      const nospace = run.lines.some((l) => /No space left on device/i.test(l));
      throw new RecoveryError(
        nospace ? 'NO_SPACE' : 'TOOL_FAILED',
        `par2 create for ${base} failed (exit ${run.exitCode ?? '?'}): ${said(run)}`,
      );
    }
    const number = (label: string) => {
      const line = run.lines.find((l) => l.startsWith(`${label}: `));
      return line === undefined ? undefined : Number(line.slice(label.length + 2));
    };
    const told = {
      size: number('Block size'),
      source: number('Source block count'),
      rec: number('Recovery block count'),
    };
    if (
      told.size !== blockSize ||
      told.source !== blocks ||
      told.rec !== recovery ||
      number('Source file count') !== set.length
    ) {
      throw new RecoveryError(
        'TOOL_FAILED',
        `par2 made ${base} with ${told.source} blocks of ${told.size} bytes and ${told.rec} recovery blocks over ` +
          `${number('Source file count')} files; ${blocks} of ${blockSize}, ${recovery} and ${set.length} were asked for`,
      );
    }
    let names: string[];
    try {
      names = (await fs.readdir(outDir)).filter((n) => n.startsWith(`${base}.`));
    } catch (error) {
      throw fsFailure(error, `listing ${outDir}`);
    }
    const volName = names.find((n) => new RegExp(`^${base}\\.vol0*\\+0*${recovery}\\.par2$`).test(n));
    if (!names.includes(`${base}.par2`) || volName === undefined || names.length !== 2) {
      throw new RecoveryError('TOOL_FAILED', `par2 create for ${base} wrote ${names.join(', ') || 'nothing'}`);
    }
    const expected = setFileBytes(
      set.map((f) => ({ nameBytes: PAR2_NAME_PREFIX.length + f.path.length, size: f.size })),
      blockSize,
      recovery,
    );
    const volPath = path.join(outDir, volName);
    const [indexSize, volSize] = await Promise.all([fs.stat(index), fs.stat(volPath)]).then(
      (st) => st.map((x) => x.size),
      (error) => {
        throw fsFailure(error, `reading the par2 files of ${base}`);
      },
    );
    const creator = indexSize! - expected.index;
    if (creator < 68 || creator > CREATOR_MAX_BYTES || volSize! !== expected.recovery + creator) {
      throw new RecoveryError(
        'TOOL_FAILED',
        `par2 files of ${base} are ${indexSize} and ${volSize} bytes; their packets should take ` +
          `${expected.index} and ${expected.recovery} bytes plus a creator packet: ` +
          'the names it stored or its packet layout are not the ones expected',
      );
    }
    for (const [file, size] of [
      [index, indexSize!],
      [volPath, volSize!],
    ] as const) {
      const sha256 = await sha256Of(file).catch((error) => {
        throw fsFailure(error, `reading ${file}`);
      });
      made.push({
        source: file,
        path: Buffer.from(`${RECOVERY_DIR}/${path.basename(file)}`),
        size: BigInt(size),
        sha256,
      });
    }
    described.push({
      base,
      files: set.length,
      payloadBytes: set.reduce((s, f) => s + f.size, 0n),
      blockSize,
      sourceBlocks: blocks,
      recoveryBlocks: recovery,
    });
  }
  return {
    files: made,
    sets: described,
    bytes: made.reduce((s, f) => s + f.size, 0n),
    seconds: (performance.now() - started) / 1000,
  };
}

// --- verify and repair ------------------------------------------------------

export type TargetState = 'found' | 'damaged' | 'missing';

export interface SetCheck {
  /** The par2 file par2 was pointed at. */
  par2File: string;
  status: 'intact' | 'repaired' | 'repairable' | 'unrepairable';
  /** Files par2 found damaged or missing, as it stores them (`data/<path>`, raw bytes). */
  damaged: Buffer[];
  missing: Buffer[];
  /** For an unrepairable set: the recovery blocks lacking, when par2 says. */
  blocksNeeded?: number;
  /** par2's own words on the outcome. */
  said: string;
}

export interface TreeCheck {
  status: 'intact' | 'repaired' | 'repairable';
  sets: SetCheck[];
  /** Files rebuilt (repair), relative to the root. */
  repaired: Buffer[];
  /** par2's copies of damaged files that were removed (relative to the root). */
  backupsRemoved: Buffer[];
  seconds: number;
}

export interface RepairOptions {
  /** Where the par2 files are: `<root>/recovery` by default (they may also come from the disc itself). */
  recoveryDir?: string;
  /** Keep par2's `<name>.<n>` copies of the damaged files. */
  keepBackups?: boolean;
  signal?: AbortSignal;
  program?: string;
}

const TARGET = /^Target: "(.*)" - (found|damaged|missing)\b/;
/** A target whose blocks par2 looked for elsewhere: no data, another file's data, or part of it. */
const SCANNED = /^File: "(.*)" - (?:no data found|is a match for|found \d+)/;
const VOLUME = /\.vol\d+\+\d+\.par2$/;

/** One par2 file per set (the index file, or a recovery file when the index is lost), by base name. */
async function par2Files(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => n.endsWith('.par2'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new RecoveryError('NO_RECOVERY_FILES', `${dir} does not exist: this tree has no par2 files`);
    }
    throw fsFailure(error, `listing ${dir}`);
  }
  const bases = new Map<string, string[]>();
  for (const n of names.sort()) {
    const base = n.replace(VOLUME, '').replace(/\.par2$/, '');
    bases.set(base, [...(bases.get(base) ?? []), n]);
  }
  if (bases.size === 0) throw new RecoveryError('NO_RECOVERY_FILES', `${dir} holds no par2 files`);
  return [...bases.entries()].map(([base, files]) =>
    path.join(dir, files.includes(`${base}.par2`) ? `${base}.par2` : files[0]!),
  );
}

async function walk(root: string): Promise<Set<string>> {
  const out = new Set<string>();
  const visit = async (dir: Buffer, rel: string) => {
    const entries = await fs.readdir(dir, { withFileTypes: true, encoding: 'buffer' });
    for (const e of entries) {
      const name = (e.name as unknown as Buffer).toString('latin1');
      const relPath = rel ? `${rel}/${name}` : name;
      if (e.isDirectory()) await visit(Buffer.concat([dir, Buffer.from('/'), e.name as unknown as Buffer]), relPath);
      else out.add(relPath);
    }
  };
  await visit(Buffer.from(root), '');
  return out;
}

async function checkSet(
  mode: 'verify' | 'repair',
  par2File: string,
  root: string,
  options: RepairOptions,
): Promise<SetCheck & { after: Map<string, TargetState> }> {
  const run = await runPar2(options.program ?? 'par2', [mode, `-B${root}`, '--', par2File], options.signal);
  const before = new Map<string, TargetState>();
  const after = new Map<string, TargetState>();
  let verifyingRepaired = false;
  for (const line of run.lines) {
    if (line.startsWith('Verifying repaired files')) verifyingRepaired = true;
    const m = TARGET.exec(line);
    if (m) (verifyingRepaired ? after : before).set(m[1]!, m[2] as TargetState);
    const scanned = SCANNED.exec(line);
    if (scanned && !verifyingRepaired && before.get(scanned[1]!) !== 'found') before.set(scanned[1]!, 'damaged');
  }
  const pick = (s: TargetState) => [...before].filter(([, v]) => v === s).map(([k]) => Buffer.from(k, 'latin1'));
  const damaged = pick('damaged');
  const missing = pick('missing');
  const has = (text: string) => run.lines.some((l) => l.startsWith(text));
  const needed = run.lines.map((l) => /You need (\d+) more recovery blocks/.exec(l)).find((m) => m);
  const base: SetCheck & { after: Map<string, TargetState> } = {
    par2File,
    status: 'intact',
    damaged,
    missing,
    said: said(run),
    after,
  };
  if (needed) base.blocksNeeded = Number(needed[1]);
  const bad = damaged.length + missing.length;
  if (run.exitCode === 0 && has('All files are correct') && bad === 0 && before.size > 0) return base;
  if (has('Repair is not possible') || run.exitCode === 2 || run.exitCode === 4) {
    return { ...base, status: 'unrepairable' };
  }
  if (mode === 'verify' && run.exitCode === 1 && has('Repair is possible') && bad > 0) {
    return { ...base, status: 'repairable' };
  }
  if (mode === 'repair' && run.exitCode === 0 && has('Repair complete') && bad > 0) {
    const unconfirmed = [...damaged, ...missing].filter((n) => after.get(n.toString('latin1')) !== 'found');
    const notFound = [...after].filter(([, v]) => v !== 'found');
    if (unconfirmed.length === 0 && notFound.length === 0) return { ...base, status: 'repaired' };
    throw new RecoveryError(
      'TOOL_FAILED',
      `par2 said it repaired with ${path.basename(par2File)} but did not verify as found ` +
        [...unconfirmed, ...notFound.map(([k]) => Buffer.from(k, 'latin1'))].map(showName).join(', '),
    );
  }
  throw new RecoveryError(
    'TOOL_FAILED',
    `par2 ${mode} with ${path.basename(par2File)} ended unclearly (exit ${run.exitCode ?? '?'}): ${said(run)}`,
  );
}

function unrepairable(sets: SetCheck[], report: TreeCheck): RecoveryError {
  const parts = sets.map((s) => {
    const names = [...s.damaged, ...s.missing].slice(0, 5).map(showName).join(', ');
    const need = s.blocksNeeded === undefined ? '' : `: ${s.blocksNeeded} more recovery blocks would be needed`;
    return (
      `${path.basename(s.par2File)}: ${s.damaged.length} damaged and ${s.missing.length} missing file(s) ` +
      `(${names || 'its par2 files are unreadable'})${need} (par2: ${s.said})`
    );
  });
  return new RecoveryError(
    'UNREPAIRABLE',
    `the damage is beyond what the recovery files can repair: ${parts.join('; ')}`,
    {
      details: report,
    },
  );
}

async function checkTree(mode: 'verify' | 'repair', root: string, options: RepairOptions): Promise<TreeCheck> {
  const absRoot = path.resolve(root);
  const files = await par2Files(path.resolve(options.recoveryDir ?? path.join(absRoot, RECOVERY_DIR)));
  const started = performance.now();
  let before: Set<string> | undefined;
  if (mode === 'repair') {
    try {
      before = await walk(absRoot);
    } catch (error) {
      throw fsFailure(error, `listing ${absRoot}`);
    }
  }
  const sets: (SetCheck & { after: Map<string, TargetState> })[] = [];
  for (const f of files) sets.push(await checkSet(mode, f, absRoot, options));
  const repaired = sets
    .filter((s) => s.status === 'repaired')
    .flatMap((s) => [...s.after.keys()].map((k) => Buffer.from(k, 'latin1')));
  const backupsRemoved: Buffer[] = [];
  if (before && repaired.length > 0) {
    const now = await walk(absRoot).catch((error) => {
      throw fsFailure(error, `listing ${absRoot}`);
    });
    const damaged = new Set(sets.flatMap((s) => s.damaged.map((d) => d.toString('latin1'))));
    for (const p of now) {
      if (before.has(p)) continue;
      const m = /^(.*)\.\d+$/s.exec(p);
      if (!m || !damaged.has(m[1]!)) continue;
      const rel = Buffer.from(p, 'latin1');
      if (!options.keepBackups) {
        await fs.rm(Buffer.concat([Buffer.from(`${absRoot}/`), rel])).catch((error) => {
          throw fsFailure(error, `removing par2's backup ${showName(rel)}`);
        });
        backupsRemoved.push(rel);
      }
    }
  }
  const plain: SetCheck[] = sets.map(({ after: _after, ...s }) => s);
  const report: TreeCheck = {
    status: plain.some((s) => s.status === 'repairable')
      ? 'repairable'
      : plain.some((s) => s.status === 'repaired')
        ? 'repaired'
        : 'intact',
    sets: plain,
    repaired,
    backupsRemoved,
    seconds: (performance.now() - started) / 1000,
  };
  const lost = plain.filter((s) => s.status === 'unrepairable');
  if (lost.length > 0) throw unrepairable(lost, report);
  return report;
}

/**
 * Repairs an extracted copy of a disc in place with its par2 files; see the
 * file header. Every set is tried; if any cannot be repaired, RecoveryError
 * ('UNREPAIRABLE') names its files and how many recovery blocks it lacks,
 * with the report of the whole run in `details`.
 */
export function repairTree(root: string, options: RepairOptions = {}): Promise<TreeCheck> {
  return checkTree('repair', root, options);
}

/** Checks a tree against its par2 files without writing anything: intact, or repairable (UNREPAIRABLE otherwise). */
export function verifyTree(root: string, options: Omit<RepairOptions, 'keepBackups'> = {}): Promise<TreeCheck> {
  return checkTree('verify', root, options);
}
