/**
 * Runs xorriso (libburnia) through execa and turns its outcome into a typed
 * result: mastering, writing, checking and reading discs all go through here.
 *
 * xorriso reports on stderr in lines like `xorriso : FAILURE : ...` and
 * `libburn : SORRY : ...`; the worst of them and the exit status decide
 * success. A failure becomes a XorrisoError whose `code` names the cause a
 * caller can act on (the medium is full, the write failed, no medium, the
 * program is missing), and whose message quotes xorriso's own words.
 */
import { StringDecoder } from 'node:string_decoder';
import { execa } from 'execa';

export type XorrisoCode =
  /** The image does not fit: xorriso's "exceeds free space on media". */
  | 'NO_SPACE'
  /** libburn could not write the medium (a write error, a broken pipe, a vanished device). */
  | 'WRITE_FAILED'
  /** No medium, or a medium xorriso cannot use, in the drive. */
  | 'NO_MEDIUM'
  /** The drive's address does not exist or cannot be opened. */
  | 'NO_DRIVE'
  /** The medium refuses writing (a closed write-once disc, a read-only device). */
  | 'NOT_WRITABLE'
  /** xorriso is not installed. */
  | 'MISSING'
  /** The run was cancelled. */
  | 'ABORTED'
  | 'FAILED';

export class XorrisoError extends Error {
  readonly code: XorrisoCode;
  /** xorriso's exit status, when it ran. */
  readonly exitCode: number | undefined;
  /** The lines of FAILURE severity or worse, as xorriso and libburn printed them. */
  readonly failures: string[];
  /** What xorriso printed, for callers that read result lines of a failed run. */
  stdout = '';
  stderr = '';
  constructor(code: XorrisoCode, message: string, exitCode?: number, failures: string[] = []) {
    super(message);
    this.name = 'XorrisoError';
    this.code = code;
    this.exitCode = exitCode;
    this.failures = failures;
  }
}

export interface XorrisoRun {
  stdout: string;
  stderr: string;
  /** Lines of severity SORRY or worse (SORRY, FAILURE, FATAL, ABORT). */
  problems: string[];
}

export interface XorrisoOptions {
  /** Fed to xorriso's standard input (`-` as a track source). */
  stdin?: NodeJS.ReadableStream;
  signal?: AbortSignal;
  /** Each stderr line as it arrives (progress reports: `xorriso : UPDATE : ...`). */
  onLine?: (line: string) => void;
  /** The program to run; `xorriso` on the PATH by default. */
  program?: string;
  /** Largest stdout kept (64 MiB by default); more fails the run with a clear error. */
  maxBuffer?: number;
}

const PROBLEM = /^(?:xorriso|libburn|libisofs|libisoburn)\s*:\s*(SORRY|FAILURE|FATAL|ABORT)\s*:/;

export async function runXorriso(args: string[], options: XorrisoOptions = {}): Promise<XorrisoRun> {
  const program = options.program ?? 'xorriso';
  const child = execa(program, args, {
    reject: false,
    stdin: options.stdin ? 'pipe' : 'ignore',
    cancelSignal: options.signal,
    forceKillAfterDelay: 5000,
    maxBuffer: options.maxBuffer ?? 64 * 1024 * 1024,
    stripFinalNewline: false,
  });
  if (options.stdin) {
    const input = options.stdin;
    // A writer that dies early (write error) closes its stdin: that is its failure, reported below.
    child.stdin?.on('error', () => {});
    // An input that fails must not leave xorriso waiting for the rest of its track.
    input.on('error', () => child.kill('SIGTERM'));
    input.pipe(child.stdin!);
  }
  const problems: string[] = [];
  let partial = '';
  const decoder = new StringDecoder('utf8'); // a character split across chunks stays whole
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = partial + decoder.write(chunk);
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (PROBLEM.test(line)) problems.push(line);
      options.onLine?.(line);
    }
  });
  const result = await child;
  if (partial && PROBLEM.test(partial)) problems.push(partial);
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');
  if (result.isCanceled || result.isTerminated) {
    if (options.signal?.aborted) throw new XorrisoError('ABORTED', `${program} was cancelled`, result.exitCode);
  }
  if (result.isMaxBuffer) {
    throw new XorrisoError(
      'FAILED',
      `${program} printed more than ${options.maxBuffer ?? 64 * 1024 * 1024} bytes of output: ask for less at a time`,
      result.exitCode,
    );
  }
  if ((result as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(result.originalMessage ?? ''))) {
    throw new XorrisoError('MISSING', `${program} is not installed: run infra/install.sh (Debian package xorriso)`);
  }
  if (result.exitCode !== 0 || problems.some((l) => /:\s*(FAILURE|FATAL|ABORT)\s*:/.test(l))) {
    const error = classify(program, args, result.exitCode, problems, stderr);
    error.stdout = stdout;
    error.stderr = stderr;
    throw error;
  }
  return { stdout, stderr, problems };
}

function classify(
  program: string,
  args: string[],
  exitCode: number | undefined,
  problems: string[],
  stderr: string,
): XorrisoError {
  const all = problems.join('\n');
  const said = problems.length > 0 ? problems.map((l) => l.trim()).join(' | ') : lastLines(stderr);
  const what = `${program} ${args.slice(0, 4).join(' ')}${args.length > 4 ? ' ...' : ''}`;
  let code: XorrisoCode = 'FAILED';
  if (/exceeds free space on media/i.test(all)) code = 'NO_SPACE';
  else if (/Failed to open device.*(Operation not permitted|Permission denied|Read-only)/i.test(all))
    code = 'NOT_WRITABLE';
  else if (/Cannot write|write\(2\) returned|Burn run failed|failure with writing|Write error/i.test(all))
    code = 'WRITE_FAILED';
  else if (/No such file or directory|Cannot open (?!logfile)|Failed to open device|Cannot acquire drive/i.test(all))
    code = 'NO_DRIVE';
  else if (/no media|not blank|Media status : is closed|closed media|unsuitable media/i.test(all)) code = 'NO_MEDIUM';
  return new XorrisoError(code, `${what} failed (exit ${exitCode ?? '?'}): ${said}`, exitCode, problems);
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ');
}
