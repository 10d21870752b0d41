/**
 * Reads a burned copy back and checks it three ways: xorriso's session MD5
 * tags (-check_media), xorriso's per-file MD5s (-check_md5_r), and SHA-256
 * over exactly the image's own length read from the copy (a burned copy is
 * padded at its end, so only the image's bytes are compared). The copy is ok
 * only if all three agree with the image. Every disagreement becomes a
 * specific problem line: truncated, session tag mismatch, file MD5 mismatch
 * (naming the file), directory tree checksum mismatch, read errors.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { runXorriso, XorrisoError } from '../xorriso/run-xorriso.js';
import { DriveError } from './errors.js';

export interface CopyCheck {
  ok: boolean;
  md5: 'match' | 'mismatch' | 'none';
  sha256: Buffer;
  bytesRead: bigint;
  problems: string[];
}

export interface VerifyOptions {
  signal?: AbortSignal;
  onProgress?: (bytes: bigint) => void;
  /** A copy without xorriso MD5 tags fails (default true: optarc masters with -md5 on). */
  requireMd5?: boolean;
  /** Read chunk size (default 1 MiB). */
  highWaterMark?: number;
}

export async function verifyCopy(
  address: string /* 'stdio:/path' or '/dev/srN' */,
  imageBytes: bigint,
  imageSha256: Buffer,
  options: VerifyOptions = {},
): Promise<CopyCheck> {
  if (imageBytes <= 0n) throw new RangeError(`an image has bytes, not ${imageBytes}`);
  const file = address.startsWith('stdio:') ? address.slice('stdio:'.length) : address;
  const problems: string[] = [];

  // 1. SHA-256 over exactly imageBytes bytes of the copy.
  let read: MediumDigest;
  try {
    read = await hashMedium(file, imageBytes, options);
  } catch (e) {
    if (options.signal?.aborted) throw new DriveError('ABORTED', `checking ${address} was cancelled`);
    throw e;
  }
  const { sha256, bytesRead } = read;
  if (read.error !== undefined) problems.push(`read error at byte ${bytesRead} of the copy: ${read.error}`);
  if (bytesRead < imageBytes) {
    problems.push(`copy is truncated: only ${bytesRead} of the image's ${imageBytes} bytes could be read`);
  } else if (!sha256.equals(imageSha256)) {
    problems.push(
      `SHA-256 of the copy's first ${imageBytes} bytes is ${sha256.toString('hex')}, the image's is ${imageSha256.toString('hex')}`,
    );
  }

  // 2. xorriso: session MD5 tags and per-file MD5s. A mismatch is an event of severity SORRY;
  // `-return_with FAILURE 32` keeps the exit status 0 for it, so that runXorriso hands back the
  // result lines (stdout) instead of throwing them away. FAILURE and worse (an unreadable tree)
  // still throw, with xorriso's own lines.
  const lines: string[] = [];
  let failures: string[] = [];
  let ran = false;
  try {
    const r = await runXorriso(
      [
        '-return_with',
        'FAILURE',
        '32',
        '-md5',
        'on',
        '-indev',
        address,
        '-check_media',
        '--',
        '-check_md5_r',
        'sorry',
        '/',
        '--',
      ],
      { signal: options.signal, onLine: (l) => lines.push(l) },
    );
    lines.push(...r.stdout.split('\n'));
    ran = true;
  } catch (e) {
    if (!(e instanceof XorrisoError)) throw e;
    if (e.code === 'ABORTED')
      throw new DriveError('ABORTED', `checking ${address} was cancelled`, undefined, { cause: e });
    failures = e.failures.length > 0 ? e.failures : [e.message];
  }
  const md5 = judgeMd5(lines, failures, ran, problems);
  if (md5 === 'none' && options.requireMd5 !== false && !failures.length) {
    problems.push('the copy carries no xorriso MD5 tags: the image was mastered without -md5 on');
  }
  for (const f of failures) {
    const line = `xorriso: ${f.trim()}`;
    if (!problems.includes(line)) problems.push(line);
  }
  const ok =
    problems.length === 0 &&
    bytesRead === imageBytes &&
    sha256.equals(imageSha256) &&
    (md5 === 'match' || (md5 === 'none' && options.requireMd5 === false));
  return { ok, md5, sha256, bytesRead, problems };
}

function judgeMd5(lines: string[], failures: string[], ran: boolean, problems: string[]): CopyCheck['md5'] {
  let mismatch = false;
  let positive = false;
  const seen = new Set<string>();
  const add = (p: string) => {
    if (!seen.has(p)) {
      seen.add(p);
      problems.push(p);
    }
  };
  for (const raw of [...lines, ...failures]) {
    const line = raw.trim();
    const tag = /^MD5 tag range:\s*(\d+)\s*,\s*(\d+)\s*,\s*(.*)$/.exec(line);
    const file = /^MD5 MISMATCH:\s*'(.*)'$/.exec(line);
    const region = /^Media region\s*:\s*(\d+)\s*,\s*(\d+)\s*,\s*([-+0?]\s*\S.*)$/.exec(line);
    if (tag) {
      if (/md5_match/.test(tag[3]!)) positive = true;
      else {
        mismatch = true;
        add(
          `session MD5 tag mismatch: blocks ${tag[1]}..+${tag[2]} of the copy differ from what was mastered (${tag[3]})`,
        );
      }
    } else if (file) {
      mismatch = true;
      add(`file MD5 mismatch: ${file[1]} differs from its recorded MD5`);
    } else if (/^File contents and their MD5 checksums match/.test(line)) {
      positive = true;
    } else if (/Checksum mismatch in System Area, Volume Descriptors, or directory tree/i.test(line)) {
      mismatch = true;
      add(
        `directory tree MD5 mismatch: the volume descriptors or directory tree differ from what was mastered (${line})`,
      );
    } else if (/MD5 mismatch|Checksum mismatch|NON-MATCHING MD5/i.test(line)) {
      mismatch = true;
    } else if (region?.[3]?.startsWith('-')) {
      add(`read problem: ${region[2]} blocks from block ${region[1]} are ${region[3]}`);
    }
  }
  if (mismatch) return 'mismatch';
  if (positive && ran) return 'match';
  return 'none';
}

export interface MediumDigest {
  sha256: Buffer;
  bytesRead: bigint;
  /** The read error that ended the read early, if one did. */
  error?: string;
}

/**
 * SHA-256 over the first `bytes` bytes of a disc (a device, or a stand-in's
 * file): a burned disc is padded past its image, so only the image's own
 * length counts. A read error ends the digest early (`error`, `bytesRead`); a
 * disc shorter than `bytes` gives fewer bytes read. Rejects only when
 * `signal` aborts it.
 */
export async function hashMedium(
  file: string,
  bytes: bigint,
  options: Pick<VerifyOptions, 'signal' | 'onProgress' | 'highWaterMark'> = {},
): Promise<MediumDigest> {
  const hash = createHash('sha256');
  let bytesRead = 0n;
  if (bytes <= 0n) return { sha256: hash.digest(), bytesRead };
  try {
    const fh = await fs.open(file, 'r');
    const stream = fh.createReadStream({
      start: 0,
      end: Number(bytes) - 1,
      highWaterMark: options.highWaterMark ?? 1024 * 1024,
      signal: options.signal,
    });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytesRead += BigInt(chunk.length);
      options.onProgress?.(bytesRead);
    }
  } catch (e) {
    if (options.signal?.aborted) throw e;
    return { sha256: hash.digest(), bytesRead, error: (e as Error).message };
  }
  return { sha256: hash.digest(), bytesRead };
}
