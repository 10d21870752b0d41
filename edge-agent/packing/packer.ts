/**
 * The packer: splits the files committed for a burn into volumes that each fit
 * the medium, first-fit-decreasing, keeping directories whole when possible
 * (ASTO: "never split a directory when it can be avoided").
 *
 * The rule, exactly:
 *  1. The items' paths ('/'-separated bytes) form a tree whose root is the
 *     working directory. A file's cost is cost.fileSectors(path, size); a
 *     directory's cost is the sum of the costs of every file beneath it.
 *     usable = capacitySectors - fixedSectors is what one volume holds.
 *  2. Packing units, from the root down: a directory whose cost <= usable is ONE
 *     unit (all its files, at any depth, go on the same volume). A directory
 *     whose cost > usable is dissolved: each subdirectory is judged by the same
 *     rule and each of its own files is a unit by itself. So every unit is the
 *     topmost directory that fits, a directory is split only when no volume
 *     could hold it, and then only along its children.
 *  3. A file whose own cost > usable is refused with TOO_LARGE, unless spanning
 *     is on: then it is cut into parts of the largest whole number of sectors
 *     whose cost fits a volume; every part but the last fills a volume of its
 *     own, the last part (the rest, never empty) opens the next volume, which
 *     later units may share. A file's parts thus sit on consecutive volumes.
 *     Spanning files are placed before anything else, biggest first.
 *  4. Then the units, first-fit-decreasing: by cost, largest first, ties broken
 *     by path bytes (a directory's path ends in '/') then by item id; each goes
 *     into the lowest-numbered volume with room for it, a new volume when none
 *     has room.
 *  5. Volumes are numbered in the order they were opened; pieces within a
 *     volume are sorted by path bytes, then id, then part index.
 * Costs are rounded up to 1/65536 of a sector and summed as integers, so the
 * plan never depends on the order of floating-point sums (the same input, in
 * any order, gives the same plan) and an estimate never under-counts.
 * First fit is found with a max segment tree over the volumes' free space:
 * O(n log n) for n items.
 */
import assert from 'node:assert/strict';
import { type OversizeFile, PackingError, printablePath } from './errors.js';
import { SECTOR } from './media-profiles.js';

export interface PackItem {
  id: number;
  /** Raw bytes, '/'-separated, no leading '/'. */
  path: Buffer;
  size: bigint;
}

export interface PackedPiece {
  id: number;
  path: Buffer;
  size: bigint;
  /** Present when the file spans volumes: this piece is bytes [offset, offset + length) of it. */
  part?: { index: number; count: number; offset: bigint; length: bigint };
}

export interface PlannedVolume {
  pieces: PackedPiece[];
  /** Estimated, including the fixed cost; an integer, never more than capacitySectors. */
  sectors: number;
}

export interface CostModel {
  /** Per volume: filesystem + bag + label + padding. */
  fixedSectors: number;
  /** Data sectors + this entry's share of directory/manifest overhead (may be fractional). */
  fileSectors(path: Buffer, size: bigint): number;
}

export interface PackOptions {
  capacitySectors: number;
  cost: CostModel;
  /** Cut files bigger than one volume into parts on consecutive volumes instead of refusing them. */
  spanning?: boolean;
  /** The medium's name, only for messages ("a dvd-r volume"). */
  mediumName?: string;
}

/** Costs are counted in ticks: 1/65536 of a sector, a power of two so sector counts scale exactly. */
const TICKS = 65536;
const SECTOR_N = BigInt(SECTOR);

interface FileEntry {
  item: PackItem;
  /** The path's bytes as a latin1 string: one char per byte, so string order is byte order. */
  key: string;
  sectors: number;
  ticks: number;
}

interface DirNode {
  /** '' for the root, else the path with a trailing '/'. */
  key: string;
  dirs: Map<string, DirNode>;
  files: FileEntry[];
  ticks: number;
}

interface Unit {
  key: string;
  /** -1 for a directory. */
  id: number;
  ticks: number;
  files: FileEntry[];
}

interface Placed {
  entry: FileEntry;
  part?: { index: number; count: number; offset: bigint; length: bigint };
}

/**
 * A stand-in cost model until mastering provides the real one: each file costs
 * its data sectors, ceil(size / 2048), plus perEntryBytes / 2048 for its
 * directory record and manifest line.
 */
export function simpleCostModel(options: { fixedSectors: number; perEntryBytes: number }): CostModel {
  const entry = options.perEntryBytes / SECTOR;
  return {
    fixedSectors: options.fixedSectors,
    fileSectors: (_path, size) => Number((size + SECTOR_N - 1n) / SECTOR_N) + entry,
  };
}

export function packVolumes(items: PackItem[], options: PackOptions): PlannedVolume[] {
  const { capacitySectors, cost } = options;
  if (!Number.isSafeInteger(capacitySectors) || capacitySectors <= 0) {
    throw new PackingError(
      'BAD_ARGUMENT',
      `capacity must be a positive whole number of sectors, not ${capacitySectors}`,
    );
  }
  if (!Number.isFinite(cost.fixedSectors) || cost.fixedSectors < 0) {
    throw new PackingError('BAD_ARGUMENT', `the fixed cost per volume must be >= 0 sectors, not ${cost.fixedSectors}`);
  }
  const capacityTicks = capacitySectors * TICKS;
  const fixedTicks = Math.ceil(cost.fixedSectors * TICKS);
  const usableTicks = capacityTicks - fixedTicks;
  if (!Number.isSafeInteger(capacityTicks) || usableTicks <= 0) {
    throw new PackingError(
      'BAD_ARGUMENT',
      `a volume of ${capacitySectors} sectors leaves no room for files after ${cost.fixedSectors} sectors of fixed overhead`,
    );
  }
  if (items.length === 0) {
    throw new PackingError('EMPTY', 'nothing committed to burn: the working directory holds no files');
  }

  const costOf = (path: Buffer, size: bigint): { sectors: number; ticks: number } => {
    const sectors = cost.fileSectors(path, size);
    const ticks = Math.ceil(sectors * TICKS);
    if (!Number.isFinite(sectors) || sectors < 0 || !Number.isSafeInteger(ticks)) {
      throw new PackingError(
        'BAD_ARGUMENT',
        `the cost model gives ${sectors} sectors for "${printablePath(path)}" (${size} bytes)`,
      );
    }
    return { sectors, ticks };
  };

  // 1. The tree of directories, with each directory's total cost.
  const root = newDir('');
  for (const item of items) {
    if (item.size < 0n) {
      throw new PackingError('BAD_ARGUMENT', `"${printablePath(item.path)}" has a negative size (${item.size})`);
    }
    const key = item.path.toString('latin1');
    const names = key.split('/');
    let dir = root;
    for (let i = 0; i < names.length - 1; i++) {
      let next = dir.dirs.get(names[i]!);
      if (!next) {
        next = newDir(`${dir.key}${names[i]}/`);
        dir.dirs.set(names[i]!, next);
      }
      dir = next;
    }
    dir.files.push({ item, key, ...costOf(item.path, item.size) });
  }
  sumTicks(root);

  // 2 and 3. Units, and the files no volume can hold.
  const units: Unit[] = [];
  const oversize: FileEntry[] = [];
  const decompose = (dir: DirNode): void => {
    if (dir.ticks <= usableTicks) {
      const files: FileEntry[] = [];
      gather(dir, files);
      units.push({ key: dir.key, id: -1, ticks: dir.ticks, files });
      return;
    }
    for (const sub of dir.dirs.values()) decompose(sub);
    for (const f of dir.files) {
      if (f.ticks <= usableTicks) units.push({ key: f.key, id: f.item.id, ticks: f.ticks, files: [f] });
      else oversize.push(f);
    }
  };
  decompose(root);
  const byCostThenPath = (a: { ticks: number; key: string; id: number }, b: typeof a): number =>
    b.ticks - a.ticks || (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id - b.id);
  const oversizeOrdered = oversize.map((f) => ({ f, ticks: f.ticks, key: f.key, id: f.item.id })).sort(byCostThenPath);
  const usableSectors = usableTicks / TICKS;

  if (oversize.length > 0 && !options.spanning) throw tooLarge(oversize, options, usableSectors);

  // Cut the spanning files; a part is the largest whole number of sectors whose cost fits.
  const spans = oversizeOrdered.map(({ f }) => {
    const { path, size } = f.item;
    let lo = 0n; // fits (or is nothing)
    let hi = (size + SECTOR_N - 1n) / SECTOR_N; // covers the whole file, which does not fit
    while (hi - lo > 1n) {
      const mid = (lo + hi) / 2n;
      if (costOf(path, mid * SECTOR_N).ticks <= usableTicks) lo = mid;
      else hi = mid;
    }
    const partLength = lo * SECTOR_N;
    if (partLength === 0n) {
      throw new PackingError(
        'TOO_LARGE',
        `"${printablePath(path)}" cannot be split across volumes: even one sector of it costs more than the ${formatSectors(usableSectors)} usable sectors of a volume`,
        tooLargeDetail([f], options, usableSectors),
      );
    }
    const count = Number((size + partLength - 1n) / partLength);
    return { f, partLength, count };
  });

  // 4. Place: a max segment tree over the free ticks of volumes 0..slots-1; the
  // volumes not yet opened are empty, so the leftmost with room is first fit.
  const bound = units.length + spans.reduce((n, s) => n + s.count, 0);
  let slots = 1;
  while (slots < bound) slots *= 2;
  const free = new Float64Array(2 * slots).fill(usableTicks);
  const setFree = (volume: number, ticks: number): void => {
    let node = volume + slots;
    free[node] = ticks;
    for (node >>= 1; node >= 1; node >>= 1) free[node] = Math.max(free[2 * node]!, free[2 * node + 1]!);
  };
  const firstFit = (ticks: number): number => {
    assert.ok(free[1]! >= ticks, 'packer: no volume has room, the bound on volumes is wrong');
    let node = 1;
    while (node < slots) node = free[2 * node]! >= ticks ? 2 * node : 2 * node + 1;
    return node - slots;
  };
  const loads: number[] = [];
  const contents: Placed[][] = [];
  const put = (volume: number, ticks: number, placed: Placed[]): void => {
    while (loads.length <= volume) {
      loads.push(0);
      contents.push([]);
    }
    loads[volume]! += ticks;
    assert.ok(loads[volume]! <= usableTicks, 'packer: a volume was overfilled');
    contents[volume]!.push(...placed);
    setFree(volume, usableTicks - loads[volume]!);
  };

  for (const { f, partLength, count } of spans) {
    const { path, size } = f.item;
    for (let index = 0; index < count; index++) {
      const offset = BigInt(index) * partLength;
      const length = index === count - 1 ? size - offset : partLength;
      put(loads.length, costOf(path, length).ticks, [{ entry: f, part: { index, count, offset, length } }]);
    }
  }
  units.sort(byCostThenPath);
  for (const unit of units) {
    put(
      firstFit(unit.ticks),
      unit.ticks,
      unit.files.map((entry) => ({ entry })),
    );
  }

  // 5. The plan.
  return contents.map((placed, volume) => {
    placed.sort(
      (a, b) =>
        (a.entry.key < b.entry.key ? -1 : a.entry.key > b.entry.key ? 1 : 0) ||
        a.entry.item.id - b.entry.item.id ||
        (a.part?.index ?? 0) - (b.part?.index ?? 0),
    );
    const sectors = Math.ceil((fixedTicks + loads[volume]!) / TICKS);
    assert.ok(sectors <= capacitySectors, `packer: volume ${volume} estimated at ${sectors} > ${capacitySectors}`);
    return {
      sectors,
      pieces: placed.map(({ entry, part }): PackedPiece => {
        const piece: PackedPiece = { id: entry.item.id, path: entry.item.path, size: entry.item.size };
        if (part) piece.part = part;
        return piece;
      }),
    };
  });
}

function newDir(key: string): DirNode {
  return { key, dirs: new Map(), files: [], ticks: 0 };
}

function sumTicks(dir: DirNode): number {
  let ticks = 0;
  for (const sub of dir.dirs.values()) ticks += sumTicks(sub);
  for (const f of dir.files) ticks += f.ticks;
  dir.ticks = ticks;
  return ticks;
}

function gather(dir: DirNode, into: FileEntry[]): void {
  for (const sub of dir.dirs.values()) gather(sub, into);
  into.push(...dir.files);
}

function formatSectors(sectors: number): string {
  return Number.isInteger(sectors) ? String(sectors) : sectors.toFixed(2);
}

function tooLargeDetail(files: FileEntry[], options: PackOptions, usableSectors: number) {
  return {
    kind: 'too-large' as const,
    files: files.map(
      (f): OversizeFile => ({ id: f.item.id, path: f.item.path, size: f.item.size, sectors: f.sectors }),
    ),
    capacitySectors: options.capacitySectors,
    usableSectors,
  };
}

function tooLarge(oversize: FileEntry[], options: PackOptions, usableSectors: number): PackingError {
  const ordered = [...oversize].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.item.id - b.item.id));
  const first = ordered[0]!;
  const medium = options.mediumName ? `a ${options.mediumName} volume` : 'a volume';
  const others =
    ordered.length > 1 ? ` (and ${ordered.length - 1} other file${ordered.length > 2 ? 's' : ''} too large)` : '';
  return new PackingError(
    'TOO_LARGE',
    `"${printablePath(first.item.path)}" is ${first.item.size} bytes (${formatSectors(first.sectors)} sectors on disc), ` +
      `more than fits on ${medium}: ${options.capacitySectors} sectors (${BigInt(options.capacitySectors) * SECTOR_N} bytes), ` +
      `${formatSectors(usableSectors)} of them usable after the fixed overhead${others}; ` +
      'burn with spanning to split such files across volumes',
    tooLargeDetail(ordered, options, usableSectors),
  );
}
