/**
 * How a volume's payload is cut into par2 recovery sets, and an upper bound
 * of the bytes the recovery files take, without running par2 (the packer
 * reserves room for them before anything is mastered).
 *
 * The layout, exactly:
 *  - empty files are left out (par2 skips them: they have nothing to repair);
 *  - the other files, sorted by path bytes, are cut into S = ceil(n / maxFilesPerSet)
 *    sets of near-equal counts (at most ceil(n / S) files each);
 *  - a set's block size s is the largest of minBlockBytes and the smallest
 *    multiple of 4 for which the set has at most blocksPerSet source blocks
 *    (sum of ceil(size / s));
 *  - it gets R = ceil(blocks * redundancyPercent / 100) recovery blocks (at
 *    least 1): R damaged or missing blocks anywhere in the set can be rebuilt.
 *
 * par2cmdline (0.8, one recovery file per set: -n1) writes, PAR 2.0 packets
 * of a 64-byte header each:
 *  - index file <base>.par2 = C + K, where the critical packets
 *    C = main (76 + 16 per file) + per file a description (120 + its name
 *    padded to 4) and a slice checksum packet (80 + 20 per block), and K is
 *    the creator packet (64 + its text padded to 4);
 *  - recovery file <base>.vol<0>+<R>.par2 = copies * C + K + R * (68 + s),
 *    with copies = the bit length of R.
 * The bound below follows from that: see recoveryBytesBound.
 */

export interface Par2Layout {
  /** Source blocks per set at most (par2's own default is 2000; it cannot go past 32768). */
  blocksPerSet: number;
  /** Files per set at most: each file wastes up to a block, so few files per set keep the overhead near the nominal. */
  maxFilesPerSet: number;
  /** Smallest block size: smaller blocks cost more in checksums (20 bytes per block, many copies) than they help. */
  minBlockBytes: number;
}

export const DEFAULT_PAR2_LAYOUT: Readonly<Par2Layout> = Object.freeze({
  blocksPerSet: 2000,
  maxFilesPerSet: 100,
  minBlockBytes: 8192,
});

/** par2cmdline refuses more source blocks than this in one set. */
export const PAR2_MAX_SOURCE_BLOCKS = 32768;
const HEADER = 64;
/** The creator packet: header + "Created by par2cmdline version x.y.z." padded; 128 bytes of text is plenty. */
export const CREATOR_MAX_BYTES = HEADER + 128;
/** Where the recovery files sit in the image root, and the prefix par2 stores for payload names. */
export const RECOVERY_DIR = 'recovery';
export const PAR2_NAME_PREFIX = 'data/';

export const pad4 = (n: number): number => Math.ceil(n / 4) * 4;

/** Bit length of n (n >= 1): how many copies of the critical packets par2cmdline puts in a recovery file of n blocks. */
export function bitLength(n: number): number {
  let bits = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) bits++;
  return bits;
}

/** Throws a RangeError unless the layout is one par2 can make. */
export function checkLayout(layout: Par2Layout): void {
  const { blocksPerSet: b, maxFilesPerSet: f, minBlockBytes: m } = layout;
  if (!Number.isSafeInteger(b) || b < 2 || b > PAR2_MAX_SOURCE_BLOCKS) {
    throw new RangeError(`blocksPerSet must be a whole number from 2 to ${PAR2_MAX_SOURCE_BLOCKS}, not ${b}`);
  }
  if (!Number.isSafeInteger(f) || f < 1 || f >= b) {
    throw new RangeError(`maxFilesPerSet must be a whole number from 1 to blocksPerSet - 1, not ${f}`);
  }
  if (!Number.isSafeInteger(m) || m < 4 || m % 4 !== 0) {
    throw new RangeError(`minBlockBytes must be a positive multiple of 4, not ${m}`);
  }
}

/** Throws a RangeError unless `percent` is a whole number from 1 to 100. */
export function checkRedundancy(percent: number): void {
  if (!Number.isSafeInteger(percent) || percent < 1 || percent > 100) {
    throw new RangeError(`the redundancy must be a whole percentage from 1 to 100, not ${percent}`);
  }
}

/** Cuts the non-empty files (in path-byte order) into sets of near-equal counts; see the header. */
export function splitSets<T extends { path: Buffer; size: bigint }>(files: readonly T[], layout: Par2Layout): T[][] {
  const nonEmpty = files.filter((f) => f.size > 0n).sort((a, b) => Buffer.compare(a.path, b.path));
  if (nonEmpty.length === 0) return [];
  const sets = Math.ceil(nonEmpty.length / layout.maxFilesPerSet);
  const out: T[][] = [];
  let start = 0;
  for (let i = 0; i < sets; i++) {
    const count = Math.ceil((nonEmpty.length - start) / (sets - i));
    out.push(nonEmpty.slice(start, start + count));
    start += count;
  }
  return out;
}

function blocksAt(sizes: readonly bigint[], s: bigint): bigint {
  let n = 0n;
  for (const size of sizes) n += (size + s - 1n) / s;
  return n;
}

/** The block size and block count of a set of files of these (non-zero) sizes; see the header. */
export function blockSizeFor(sizes: readonly bigint[], layout: Par2Layout): { blockSize: number; blocks: number } {
  const max = BigInt(layout.blocksPerSet);
  let lo = 1n; // in units of 4 bytes
  let hi = sizes.reduce((m, s) => (s > m ? s : m), 1n) / 4n + 1n; // one block per file: at most `count` < max blocks
  if (BigInt(sizes.length) > max) throw new RangeError(`${sizes.length} files cannot fit in ${max} blocks`);
  while (lo < hi) {
    const mid = (lo + hi) / 2n;
    if (blocksAt(sizes, mid * 4n) <= max) hi = mid;
    else lo = mid + 1n;
  }
  const s = lo * 4n > BigInt(layout.minBlockBytes) ? lo * 4n : BigInt(layout.minBlockBytes);
  return { blockSize: Number(s), blocks: Number(blocksAt(sizes, s)) };
}

/** Recovery blocks for `blocks` source blocks at `percent` redundancy. */
export function recoveryBlocks(blocks: number, percent: number): number {
  return Math.max(1, Math.ceil((blocks * percent) / 100));
}

export interface SetFile {
  /** The name par2 stores: "data/" + the payload path, raw bytes. */
  nameBytes: number;
  size: bigint;
}

/** The critical packets of a set (C in the header) for files stored under these names with this block size. */
export function criticalBytes(files: readonly SetFile[], blockSize: number): number {
  const s = BigInt(blockSize);
  let c = HEADER + 12 + 16 * files.length;
  for (const f of files) {
    c += HEADER + 56 + pad4(f.nameBytes);
    c += HEADER + 16 + 20 * Number((f.size + s - 1n) / s);
  }
  return c;
}

/** The exact sizes of a set's two files but for the creator packet K (see the header): index - K, recovery - K. */
export function setFileBytes(
  files: readonly SetFile[],
  blockSize: number,
  recovery: number,
): { index: number; recovery: number } {
  const c = criticalBytes(files, blockSize);
  return { index: c, recovery: bitLength(recovery) * c + recovery * (HEADER + 4 + blockSize) };
}

export interface PayloadSummary {
  /** Bytes of the payload (all files, empty ones included). */
  bytes: bigint;
  /** Files of the payload (empty ones may be counted: the bound only grows). */
  files: number;
  /** Sum of the payload paths' byte lengths (without "data/"). */
  pathBytes: number;
}

/** The coefficients of recoveryBytesBound: bytes per set, per file, per path byte, per payload byte, per block. */
export interface BoundTerms {
  perSet: number;
  perFile: number;
  perPathByte: number;
  perByte: number;
  perBlock: number;
}

/**
 * An upper bound of the bytes of all recovery files of a payload is
 *   S * perSet + n * perFile + pathBytes * perPathByte + P * perByte + blocks * perBlock
 * for n non-empty files of P bytes in S sets of at most F (`largestSet`)
 * files, and blocks <= min(S * B, P / m + n). With B = blocksPerSet,
 * m = minBlockBytes, r = percent / 100 and set i's block size s_i >= m:
 *  - blocks_i <= sum ceil(size / s_i) <= P_i / m + f_i, and R_i <= r * blocks_i + 1;
 *  - blocks_i * s_i <= P_i + f_i * s_i (each file wastes less than a block),
 *    so R_i * s_i <= r * P_i + s_i * (r * f_i + 1);
 *  - s_i <= m + P_i / (B - f_i) + 4 (the smallest multiple of 4 giving at most
 *    B blocks is at most P_i / (B - f_i) rounded up to 4);
 *  - a name takes at most 3 bytes of padding, copies <= bitLength(ceil(r * B)),
 *    and the creator packet is at most CREATOR_MAX_BYTES.
 * Every term only grows with S, n, F, P and the path bytes, so over-estimates
 * of them keep it a bound.
 */
export function boundTerms(percent: number, largestSet: number, layout: Par2Layout = DEFAULT_PAR2_LAYOUT): BoundTerms {
  const B = layout.blocksPerSet;
  const m = layout.minBlockBytes;
  const F = Math.min(largestSet, layout.maxFilesPerSet);
  const r = percent / 100;
  const copies = 1 + bitLength(recoveryBlocks(B, percent)); // the index file's copy + the recovery file's
  return {
    perSet: copies * (HEADER + 12) + 2 * CREATOR_MAX_BYTES + (HEADER + 4) + (m + 4),
    perFile: copies * (16 + (HEADER + 56 + 3 + PAR2_NAME_PREFIX.length) + (HEADER + 16)) + (m + 4) * r,
    perPathByte: copies,
    perByte: r + (r * F + 1) / (B - F),
    perBlock: copies * 20 + (HEADER + 4) * r,
  };
}

/** The bound of the header and boundTerms, for a payload split into `sets` sets of at most `largestSet` files. */
export function recoveryBytesBound(
  payload: PayloadSummary,
  percent: number,
  shape: { sets: number; largestSet: number },
  layout: Par2Layout = DEFAULT_PAR2_LAYOUT,
): number {
  const n = payload.files;
  const S = shape.sets;
  if (n === 0 || S === 0 || payload.bytes === 0n) return 0;
  const P = Number(payload.bytes);
  const t = boundTerms(percent, shape.largestSet, layout);
  const blocks = Math.min(P / layout.minBlockBytes + n, S * layout.blocksPerSet);
  return S * t.perSet + n * t.perFile + payload.pathBytes * t.perPathByte + P * t.perByte + blocks * t.perBlock;
}
