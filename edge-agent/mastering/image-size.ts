/**
 * An upper bound of the size of the image masterImage makes for a payload,
 * in 2048-byte sectors, without running xorriso: what the packer needs to
 * fill a disc without ever mastering an image that does not fit.
 *
 * The model follows libisofs 1.5 as xorriso drives it here (ISO 9660 level 3,
 * Rock Ridge 1.10, Joliet, -md5 on, default padding), checked against real
 * images by the tests:
 *  - the image file = 32 sectors of emulated TOC + the session, and the
 *    session is rounded up to 32 sectors after 300 KiB (150 sectors) of
 *    padding: 32 + ceil32(produced + 150);
 *  - produced = 16 (system area) + volume descriptors (PVD, Joliet SVD,
 *    terminator) + MD5 tags (superblock, tree, session) + the ISO directory
 *    tree and its Rock Ridge continuation areas + 2 ISO path tables + the
 *    Joliet tree + 2 Joliet path tables + one block shared by empty files +
 *    file data + the MD5 checksum array;
 *  - a directory record never crosses a sector: a directory of records of at
 *    most M bytes totalling T bytes needs at most floor((T-1)/(2049-M))+1
 *    sectors;
 *  - names: ISO 9660 level 3 names are at most 31 characters (+ ";1" for files,
 *    a dot forced into names without one), and name collisions get up to as
 *    many digits as the directory's child count has; Rock Ridge NM carries
 *    the raw name bytes (PX 36 + TF 26 + NM 5+n + AL 16 for a file's MD5
 *    index, overflow to a continuation area through a 28-byte CE); Joliet
 *    names are at most 64 UCS-2 characters (never more than the name's bytes);
 *  - a file larger than 4 GiB - 2 KiB has one directory record per section.
 *
 * Use ImageSizeEstimator to fill a volume incrementally (first-fit-decreasing:
 * `sectorsWith(entry)` is the bound if the entry were added), or
 * estimateImageSectors for a whole payload.
 *
 * par2 recovery files on the disc (a media profile's `recovery`) come on top:
 * recoverySectors bounds them for a payload, withRecoveryCost adds them to the
 * packer's additive cost model.
 */

import {
  boundTerms,
  checkLayout,
  checkRedundancy,
  DEFAULT_PAR2_LAYOUT,
  type Par2Layout,
  recoveryBytesBound,
} from '../recovery/par2-layout.js';
import {
  BAG_INFO_MAX_BYTES,
  BAG_INFO_NAME,
  BAGIT_MAX_BYTES,
  BAGIT_NAME,
  MANIFEST_LINE_OVERHEAD,
  MANIFEST_NAME,
  PAYLOAD_DIR,
  TAG_MANIFEST_MAX_BYTES,
  TAG_MANIFEST_NAME,
} from './bag.js';
import { LABEL_MAX_BYTES, LABEL_NAME } from './label.js';

export const SECTOR = 2048;
/** The largest ISO 9660 extent libisofs writes: a bigger file gets several sections. */
export const SECTION_BYTES = 0xfffff800n;
/** Emulated TOC in front of the first session (xorriso on overwritable media and stdio files). */
export const EMULATED_TOC_SECTORS = 32;
/** xorriso's default -padding 300k. */
export const PADDING_SECTORS = 150;
/** Sessions are rounded up to this many sectors on stdio / overwritable media. */
export const SESSION_ALIGN_SECTORS = 32;
/** Sectors added to every estimate for what the model does not see. */
export const SAFETY_SECTORS = 2;

/** Sectors outside the trees and the file data (see the header). */
const FIXED_SESSION_SECTORS =
  16 + // system area
  3 + // PVD, Joliet SVD, terminator
  3 + // MD5 tags: superblock, tree, session
  1; // the block empty files point at
/** Root "." continuation area: ER of RRIP 1.10 (237) + ER of AAIP (160), with room to spare. */
const ROOT_CE_BYTES = 512;
const PX_TF = 36 + 26;
const CE_FIELD = 28;
const MD5_AL = 16;
const MAX_DIR_RECORD = 255;

export interface SizeEntry {
  /** Path inside the payload (under data/), raw bytes, '/'-separated. */
  path: Buffer;
  size: bigint;
}

/** Data sectors of a file of `size` bytes. */
export function fileSectors(size: bigint): number {
  return Number((size + BigInt(SECTOR) - 1n) / BigInt(SECTOR));
}

/** How many directory records (ISO 9660 sections) a file of `size` bytes gets. */
export function sectionCount(size: bigint): number {
  return size <= SECTION_BYTES ? 1 : Number((size + SECTION_BYTES - 1n) / SECTION_BYTES);
}

/** Sectors for directory records totalling `total` bytes, none larger than `max`, none crossing a sector. */
export function recordSectors(total: number, max: number): number {
  if (total <= 0) return 0;
  return Math.floor((total - 1) / (SECTOR + 1 - max)) + 1;
}

/** The image file's sectors for a session that produced `produced` sectors. */
export function imageSectorsForSession(produced: number): number {
  const padded = produced + PADDING_SECTORS;
  return EMULATED_TOC_SECTORS + Math.ceil(padded / SESSION_ALIGN_SECTORS) * SESSION_ALIGN_SECTORS;
}

interface Child {
  /** Bytes of the name component. */
  n: number;
  dir: boolean;
  sections: number;
}

interface Records {
  iso: number;
  isoMax: number;
  ce: number;
  ceMax: number;
  joliet: number;
  jolietMax: number;
  /** Path table bytes of the child directories' entries (ISO, Joliet). */
  isoPath: number;
  jolietPath: number;
}

function digits(count: number): number {
  return String(Math.max(count, 1)).length;
}

function isoNameLength(n: number, dir: boolean, d: number): number {
  return dir ? Math.min(n + d, 31) : Math.min(n + 1 + d, 31) + 2;
}

/** One child's records in its parent, with `d` possible mangling digits. */
function childRecords(c: Child, d: number): Records {
  const isoLen = isoNameLength(c.n, c.dir, d);
  const base = 33 + isoLen + (isoLen % 2 === 0 ? 1 : 0);
  const space = MAX_DIR_RECORD - 1 - base;
  const al = c.dir ? 0 : MD5_AL;
  const su = PX_TF + 5 + c.n + al;
  let iso: number;
  let ce = 0;
  if (su <= space) {
    iso = base + su + (su % 2);
  } else {
    iso = MAX_DIR_RECORD;
    const inSua = Math.max(0, space - PX_TF - CE_FIELD - 5);
    ce = 5 + Math.max(0, c.n - inSua) + al + 8;
  }
  const units = Math.min(c.n + d, 64);
  const joliet = 34 + 2 * units;
  const s = c.sections;
  return {
    iso: iso * s,
    isoMax: iso,
    ce: ce * s,
    ceMax: ce,
    joliet: joliet * s,
    jolietMax: joliet,
    isoPath: c.dir ? 8 + isoLen + (isoLen % 2) : 0,
    jolietPath: c.dir ? 8 + 2 * units : 0,
  };
}

class Dir {
  readonly children: Child[] = [];
  d = 1;
  r: Records;
  /** Sectors this directory takes in both trees, as last computed. */
  sectors = 0;
  constructor(readonly root: boolean) {
    this.r = this.empty();
    this.sectors = this.computeSectors();
  }
  private empty(): Records {
    return {
      iso: (this.root ? 132 : 96) + 96,
      isoMax: this.root ? 132 : 96,
      ce: this.root ? ROOT_CE_BYTES : 0,
      ceMax: this.root ? ROOT_CE_BYTES : 0,
      joliet: 68,
      jolietMax: 34,
      isoPath: 0,
      jolietPath: 0,
    };
  }
  private accumulate(r: Records, c: Child, d: number): void {
    const x = childRecords(c, d);
    r.iso += x.iso;
    r.isoMax = Math.max(r.isoMax, x.isoMax);
    r.ce += x.ce;
    r.ceMax = Math.max(r.ceMax, x.ceMax);
    r.joliet += x.joliet;
    r.jolietMax = Math.max(r.jolietMax, x.jolietMax);
    r.isoPath += x.isoPath;
    r.jolietPath += x.jolietPath;
  }
  add(c: Child): void {
    this.children.push(c);
    const d = digits(this.children.length);
    if (d !== this.d) {
      this.d = d;
      this.r = this.empty();
      for (const child of this.children) this.accumulate(this.r, child, d);
    } else {
      this.accumulate(this.r, c, d);
    }
  }
  computeSectors(): number {
    return (
      recordSectors(this.r.iso, this.r.isoMax) +
      // A continuation-area block may end in a 28-byte CE pointing on, plus padding.
      recordSectors(this.r.ce, this.r.ceMax + CE_FIELD) +
      recordSectors(this.r.joliet, this.r.jolietMax)
    );
  }
}

/**
 * Running upper bound of the image size for a growing payload. The bag, the
 * label and the data/ directory are counted from the start.
 */
export class ImageSizeEstimator {
  private dirs = new Map<string, Dir>();
  private dirSectors = 0;
  private isoPath = 10;
  private jolietPath = 10;
  private dataSectors = 0;
  private dataFiles = 0;
  private manifestBytes = 0;
  private readonly paths = new Set<string>();
  /** While sectorsWith runs: how to take back what add() changed. */
  private undo: (() => void)[] | undefined;

  constructor() {
    const root = new Dir(true);
    this.dirs.set('', root);
    this.dirSectors = root.sectors;
    this.addChild('', { n: PAYLOAD_DIR.length, dir: true, sections: 1 });
    this.dirs.set(PAYLOAD_DIR, new Dir(false));
    this.dirSectors += this.dirs.get(PAYLOAD_DIR)!.sectors;
    const tags: [string, number][] = [
      [BAGIT_NAME, BAGIT_MAX_BYTES],
      [BAG_INFO_NAME, BAG_INFO_MAX_BYTES],
      [TAG_MANIFEST_NAME, TAG_MANIFEST_MAX_BYTES],
      [LABEL_NAME, LABEL_MAX_BYTES],
      [MANIFEST_NAME, 0],
    ];
    for (const [name, bytes] of tags) {
      this.addChild('', { n: name.length, dir: false, sections: 1 });
      this.dataSectors += fileSectors(BigInt(bytes));
      this.dataFiles++;
    }
  }

  /** The parts of an empty volume the additive cost model takes as they are. */
  baseParts(): { rootSectors: number; isoPath: number; jolietPath: number; tagDataSectors: number } {
    return {
      rootSectors: this.dirs.get('')!.sectors,
      isoPath: this.isoPath,
      jolietPath: this.jolietPath,
      tagDataSectors: this.dataSectors,
    };
  }

  /** Payload files counted so far. */
  get files(): number {
    return this.dataFiles - 5;
  }

  /** The bound, in sectors, of the image for the payload added so far. */
  get sectors(): number {
    return imageSectorsForSession(this.sessionSectors);
  }

  /** The bound of the session alone (what xorriso reports as "ISO image produced"), before padding and TOC. */
  get sessionSectors(): number {
    return (
      FIXED_SESSION_SECTORS +
      this.dirSectors +
      2 * Math.ceil(this.isoPath / SECTOR) +
      2 * Math.ceil(this.jolietPath / SECTOR) +
      this.dataSectors +
      fileSectors(BigInt(this.manifestBytes)) +
      Math.ceil(((this.dataFiles + 2) * 16) / SECTOR) +
      SAFETY_SECTORS
    );
  }

  /** The bound in bytes. */
  get bytes(): bigint {
    return BigInt(this.sectors) * BigInt(SECTOR);
  }

  /** The bound if `entry` were added; the estimator is left unchanged. */
  sectorsWith(entry: SizeEntry): number {
    const scalars = [
      this.dirSectors,
      this.isoPath,
      this.jolietPath,
      this.dataSectors,
      this.dataFiles,
      this.manifestBytes,
    ];
    const undo: (() => void)[] = [];
    this.undo = undo;
    try {
      this.add(entry);
      return this.sectors;
    } finally {
      this.undo = undefined;
      for (const step of undo.reverse()) step();
      [this.dirSectors, this.isoPath, this.jolietPath, this.dataSectors, this.dataFiles, this.manifestBytes] =
        scalars as [number, number, number, number, number, number];
    }
  }

  /** Counts one payload file. Throws on an empty path or a path given twice. */
  add(entry: SizeEntry): void {
    const parts = splitPath(entry.path);
    const key = entry.path.toString('latin1');
    if (this.paths.has(key)) throw new Error(`path ${JSON.stringify(key)} counted twice`);
    let parent = PAYLOAD_DIR;
    for (let i = 0; i < parts.length - 1; i++) {
      const dirKey = `${parent}/${parts[i]!.toString('latin1')}`;
      if (!this.dirs.has(dirKey)) {
        this.addChild(parent, { n: parts[i]!.length, dir: true, sections: 1 });
        const dir = new Dir(false);
        this.dirs.set(dirKey, dir);
        this.undo?.push(() => this.dirs.delete(dirKey));
        this.dirSectors += dir.sectors;
      }
      parent = dirKey;
    }
    this.addChild(parent, { n: parts[parts.length - 1]!.length, dir: false, sections: sectionCount(entry.size) });
    this.paths.add(key);
    this.undo?.push(() => this.paths.delete(key));
    this.dataSectors += fileSectors(entry.size);
    this.dataFiles++;
    this.manifestBytes += MANIFEST_LINE_OVERHEAD + entry.path.length;
  }

  private addChild(parentKey: string, child: Child): void {
    const parent = this.dirs.get(parentKey)!;
    const before = { ...parent.r };
    if (this.undo) {
      const saved = { d: parent.d, r: before, sectors: parent.sectors };
      this.undo.push(() => {
        parent.children.pop();
        parent.d = saved.d;
        parent.r = { ...saved.r };
        parent.sectors = saved.sectors;
      });
    }
    parent.add(child);
    this.isoPath += parent.r.isoPath - before.isoPath;
    this.jolietPath += parent.r.jolietPath - before.jolietPath;
    const sectors = parent.computeSectors();
    this.dirSectors += sectors - parent.sectors;
    parent.sectors = sectors;
  }
}

function splitPath(path: Buffer): Buffer[] {
  if (path.length === 0) throw new Error('empty path');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === 0x2f) {
      if (i === start) throw new Error(`path ${JSON.stringify(path.toString('latin1'))} has an empty component`);
      parts.push(path.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

/** Upper bound of the image size in sectors for a whole payload. */
export function estimateImageSectors(entries: readonly SizeEntry[]): number {
  const estimator = new ImageSizeEstimator();
  for (const e of entries) estimator.add(e);
  return estimator.sectors;
}

/** The image size of a volume with an empty payload (bag, label, trees, tags, TOC, padding). */
export function fixedImageSectors(): number {
  return new ImageSizeEstimator().sectors;
}

// --- additive cost model for the packer -------------------------------------

/** What the packer sums: a fixed cost per volume plus a cost per file. */
export interface CostModel {
  /** Per volume: filesystem + bag + label + padding (+ directories charged once per volume). */
  fixedSectors: number;
  /** Data sectors + this entry's share of directory/manifest overhead (fractional). */
  fileSectors(path: Buffer, size: bigint): number;
}

export interface CostModelOptions {
  /**
   * The whole set the packer will split. With it, name-collision digits come
   * from the real directory sizes, and (with capacitySectors) directories
   * holding many files are charged once per volume in fixedSectors instead
   * of once per file.
   */
  items?: readonly SizeEntry[];
  capacitySectors?: number;
  /** Share of the capacity fixedSectors may grow to with directories charged once per volume; 0.05 by default. */
  maxSharedFraction?: number;
}

/**
 * Bytes a name may grow by after packing (".part001of999" for a file split
 * across volumes), charged to every file so such renames stay inside the cost.
 */
export const NAME_SLACK_BYTES = 16;
/** Collision digits assumed when the directory sizes are not known (up to 9,999,999 entries per directory). */
const UNKNOWN_DIGITS = 7;
/** Largest continuation-area piece of one record (a 255-byte name). */
const MAX_CE_PIECE = 5 + 255 + MD5_AL + 8;
const ISO_PER_BYTE = 1 / (SECTOR + 1 - MAX_DIR_RECORD);
const JOLIET_PER_BYTE = 1 / (SECTOR + 1 - (34 + 2 * 64));
const CE_PER_BYTE = 1 / (SECTOR + 1 - MAX_CE_PIECE - CE_FIELD);

/** Cost in sectors of one child's records, with the "+1 sector" of a continuation area charged to it. */
function childCost(c: Child, d: number): number {
  const r = childRecords(c, d);
  return r.iso * ISO_PER_BYTE + r.joliet * JOLIET_PER_BYTE + (r.ce > 0 ? 1 + r.ce * CE_PER_BYTE : 0);
}

/** Cost of a directory that exists on a volume: its own blocks, its "." and "..", its record and path table entries. */
function directoryCost(nameBytes: number, parentDigits: number): number {
  const child: Child = { n: nameBytes, dir: true, sections: 1 };
  const r = childRecords(child, parentDigits);
  return (
    2 + // the partial last sector of its ISO and Joliet directory extents
    192 * ISO_PER_BYTE +
    68 * JOLIET_PER_BYTE +
    childCost(child, parentDigits) +
    (2 * r.isoPath + 2 * r.jolietPath) / SECTOR
  );
}

/**
 * An additive upper bound of the image size: for any subset S of files,
 * fixedSectors + sum over S of fileSectors(path, size) >= the size of the
 * image masterImage makes for S (and >= estimateImageSectors(S)). Every
 * ceiling of the exact model becomes "+1" in the fixed part and a fraction
 * per byte, and each directory is charged in full to every file beneath it,
 * except the directories moved to fixedSectors (see CostModelOptions).
 */
export function estimateCostModel(options: CostModelOptions = {}): CostModel {
  const items = options.items;
  const children = new Map<string, Set<string>>();
  const beneath = new Map<string, number>();
  if (items) {
    for (const it of items) {
      const parts = splitPath(it.path).map((p) => p.toString('latin1'));
      let parent = PAYLOAD_DIR;
      for (let i = 0; i < parts.length; i++) {
        let set = children.get(parent);
        if (!set) {
          set = new Set();
          children.set(parent, set);
        }
        set.add(parts[i]!);
        if (i < parts.length - 1) {
          parent = `${parent}/${parts[i]}`;
          beneath.set(parent, (beneath.get(parent) ?? 0) + 1);
        }
      }
    }
  }
  const digitsOf = (dirKey: string): number => {
    if (!items) return UNKNOWN_DIGITS;
    const set = children.get(dirKey);
    // A directory not in `items`: assume the worst.
    return set ? digits(set.size) : UNKNOWN_DIGITS;
  };

  // The exact cost of an empty volume (root, bag, label), the data/ directory charged like any
  // other, and "+1" for each ceiling the additive part relies on.
  const base = new ImageSizeEstimator().baseParts();
  let fixed =
    EMULATED_TOC_SECTORS +
    PADDING_SECTORS +
    (SESSION_ALIGN_SECTORS - 1) +
    FIXED_SESSION_SECTORS +
    SAFETY_SECTORS +
    base.rootSectors +
    directoryCost(PAYLOAD_DIR.length, digits(6)) +
    2 * (Math.ceil(base.isoPath / SECTOR) + 1) +
    2 * (Math.ceil(base.jolietPath / SECTOR) + 1) +
    base.tagDataSectors +
    1 + // manifest: ceil(total / 2048) <= 1 + total / 2048
    Math.ceil(((5 + 2) * 16) / SECTOR) +
    1; // checksum array: likewise

  const shared = new Set<string>();
  if (items && options.capacitySectors && options.capacitySectors > 0) {
    const dataSectors = items.reduce((n, it) => n + fileSectors(it.size), 0);
    const volumes = Math.max(1, Math.ceil(dataSectors / options.capacitySectors));
    const budget = (options.maxSharedFraction ?? 0.05) * options.capacitySectors;
    const candidates = [...beneath.entries()].filter(([, n]) => n > volumes).sort((a, b) => b[1] - a[1]);
    let extra = 0;
    for (const [key] of candidates) {
      const cut = key.lastIndexOf('/');
      const cost = directoryCost(key.length - cut - 1, digitsOf(key.slice(0, cut)));
      if (extra + cost > budget) continue;
      extra += cost;
      shared.add(key);
    }
    fixed += extra;
  }

  const dirCache = new Map<string, number>();
  const dirChain = (parts: Buffer[]): number => {
    let sum = 0;
    let parent = PAYLOAD_DIR;
    for (let i = 0; i < parts.length - 1; i++) {
      const key = `${parent}/${parts[i]!.toString('latin1')}`;
      if (!shared.has(key)) {
        let cost = dirCache.get(key);
        if (cost === undefined) {
          cost = directoryCost(parts[i]!.length, digitsOf(parent));
          dirCache.set(key, cost);
        }
        sum += cost;
      }
      parent = key;
    }
    return sum;
  };

  return {
    fixedSectors: fixed,
    fileSectors(path: Buffer, size: bigint): number {
      const parts = splitPath(path);
      const leaf = parts[parts.length - 1]!;
      const parentKey = [PAYLOAD_DIR, ...parts.slice(0, -1).map((p) => p.toString('latin1'))].join('/');
      const n = leaf.length + NAME_SLACK_BYTES;
      return (
        fileSectors(size) +
        childCost({ n, dir: false, sections: sectionCount(size) }, digitsOf(parentKey)) +
        (MANIFEST_LINE_OVERHEAD + path.length + NAME_SLACK_BYTES) / SECTOR +
        16 / SECTOR +
        dirChain(parts)
      );
    },
  };
}

// --- par2 recovery files ------------------------------------------------------

/**
 * Image sectors one par2 file costs besides its data, at most: its last
 * partial sector, its ISO record (<= 255 bytes, no continuation: names are
 * short), its Joliet record (<= 162), its MD5 array entry (16) and its
 * tag manifest line (<= 134), records charged as if each crossed a sector.
 */
const RECOVERY_FILE_EXTRA_SECTORS = 1.5;
/**
 * The recovery/ directory: its ISO and Joliet extents (with their partial last
 * sectors), its records in the root (which may cross into a new sector), its
 * entries in the four path tables, and the partial sectors of the grown tag
 * manifest and MD5 array.
 */
const RECOVERY_DIR_SECTORS = 16;

function recoveryLayout(layout: Partial<Par2Layout> | undefined): Par2Layout {
  const full = { ...DEFAULT_PAR2_LAYOUT, ...layout };
  checkLayout(full);
  return full;
}

export interface RecoverySectorOptions {
  /** Sum of the payload paths' byte lengths; PATH_MAX (4096) per file when not given. */
  pathBytes?: number;
  layout?: Partial<Par2Layout>;
}

/**
 * An upper bound of the image sectors the par2 recovery files of a payload
 * (made by createRecoveryFiles with this redundancy) add to the image: the
 * image is at most estimateImageSectors(payload) + recoverySectors(...).
 * A multiple of 32 (the session alignment); 0 for a payload of no bytes.
 */
export function recoverySectors(
  payloadBytes: bigint,
  files: number,
  redundancyPercent: number,
  options: RecoverySectorOptions = {},
): number {
  checkRedundancy(redundancyPercent);
  const layout = recoveryLayout(options.layout);
  if (files <= 0 || payloadBytes <= 0n) return 0;
  const sets = Math.ceil(files / layout.maxFilesPerSet);
  const bytes = recoveryBytesBound(
    { bytes: payloadBytes, files, pathBytes: options.pathBytes ?? files * 4096 },
    redundancyPercent,
    { sets, largestSet: Math.min(files, layout.maxFilesPerSet) },
    layout,
  );
  const sectors = Math.ceil(bytes / SECTOR + 2 * sets * RECOVERY_FILE_EXTRA_SECTORS + RECOVERY_DIR_SECTORS);
  return Math.ceil(sectors / SESSION_ALIGN_SECTORS) * SESSION_ALIGN_SECTORS;
}

/**
 * The packer's cost model with the recovery files added, still additive: for
 * any subset of files, fixedSectors + the sum of fileSectors bounds the image
 * with its recovery files. Sets are at most n / maxFilesPerSet + 1, so one
 * set's cost is fixed and 1/maxFilesPerSet of it is charged to every file;
 * every set is taken as full (the largest block-rounding waste); a file's
 * blocks are charged as size / minBlockBytes + 1; names get NAME_SLACK_BYTES
 * as in the base model. The base model's slack for the session alignment
 * covers the recovery sectors too (they are summed before the rounding).
 */
export function withRecoveryCost(
  base: CostModel,
  redundancyPercent: number,
  layoutOptions?: Partial<Par2Layout>,
): CostModel {
  checkRedundancy(redundancyPercent);
  const layout = recoveryLayout(layoutOptions);
  const t = boundTerms(redundancyPercent, layout.maxFilesPerSet, layout);
  const perSetSectors = t.perSet / SECTOR + 2 * RECOVERY_FILE_EXTRA_SECTORS;
  const perByte = (t.perByte + t.perBlock / layout.minBlockBytes) / SECTOR;
  const perFile = (t.perFile + t.perBlock) / SECTOR + perSetSectors / layout.maxFilesPerSet;
  return {
    // + 1: the par2 bytes are rounded up to sectors once
    fixedSectors: base.fixedSectors + perSetSectors + RECOVERY_DIR_SECTORS + 1,
    fileSectors(path: Buffer, size: bigint): number {
      return (
        base.fileSectors(path, size) +
        Number(size) * perByte +
        perFile +
        ((path.length + NAME_SLACK_BYTES) * t.perPathByte) / SECTOR
      );
    },
  };
}
