/**
 * The BagIt 1.0 bag (RFC 8493) every disc carries at its root: bagit.txt,
 * bag-info.txt, manifest-sha256.txt (payload under data/), the label and
 * tagmanifest-sha256.txt over all tag files. The payload hashes are the ones
 * computed at staging: nothing here reads a payload file.
 *
 * Manifest lines are `<hex>  data/<path>` with the path's raw bytes, exactly
 * what `sha256sum -c` reads in an extracted or mounted copy. Tag files are
 * encoded in the volume's name charset (declared in bagit.txt), so an
 * ISO-8859-1 volume's manifest names the files by the same bytes as the disc.
 * One departure from RFC 8493: a '%' in a name is written as is (the RFC would
 * write %25), because sha256sum would not find the file otherwise.
 * Extra tag files (a volume's par2 recovery files under recovery/) are listed
 * in the tag manifest after the bag's own, by the hashes the caller gives.
 */
import { createHash } from 'node:crypto';
import { humanSize } from './label.js';

export interface BagPayloadFile {
  /** Path inside data/, raw bytes, '/'-separated. */
  path: Buffer;
  size: bigint;
  sha256: Buffer;
}

export interface BagInfo {
  vsn: string;
  site: string;
  job: string;
  created: Date;
  charset: 'utf-8' | 'iso-8859-1';
  /** LABEL.TXT's text; it becomes a tag file of the bag. */
  label: { name: string; text: string };
}

export interface BagFile {
  /** Name in the image root (ASCII). */
  name: string;
  data: Buffer;
}

export const BAGIT_NAME = 'bagit.txt';
export const BAG_INFO_NAME = 'bag-info.txt';
export const MANIFEST_NAME = 'manifest-sha256.txt';
export const TAG_MANIFEST_NAME = 'tagmanifest-sha256.txt';
/** Where the payload sits in the image. */
export const PAYLOAD_DIR = 'data';
/** Upper bounds used by the image-size estimate (label fields are limited in length). */
export const BAGIT_MAX_BYTES = 128;
export const BAG_INFO_MAX_BYTES = 2048;
export const TAG_MANIFEST_MAX_BYTES = 1024;
/** Bytes one payload file adds to manifest-sha256.txt besides its path bytes. */
export const MANIFEST_LINE_OVERHEAD = 64 + 2 + PAYLOAD_DIR.length + 1 + 1;

/** A tag file the caller adds to the bag (outside data/): named relative to the root, ASCII. */
export interface ExtraTag {
  name: string;
  sha256: Buffer;
}

/** Bytes one extra tag file adds to tagmanifest-sha256.txt. */
export function tagManifestLineBytes(name: string): number {
  return 64 + 2 + Buffer.byteLength(name, 'utf8') + 1;
}

function encodingOf(charset: BagInfo['charset']): { declared: string; encode: (text: string) => Buffer } {
  if (charset === 'iso-8859-1') {
    return {
      declared: 'ISO-8859-1',
      encode: (text) => Buffer.from([...text].map((c) => (c.charCodeAt(0) > 0xff ? '?' : c)).join(''), 'latin1'),
    };
  }
  return { declared: 'UTF-8', encode: (text) => Buffer.from(text, 'utf8') };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The manifest: one line per payload file, sorted by raw path bytes. */
export function manifestBytes(files: readonly BagPayloadFile[]): Buffer {
  const sorted = [...files].sort((a, b) => Buffer.compare(a.path, b.path));
  const parts: Buffer[] = [];
  for (const f of sorted) {
    if (f.sha256.length !== 32) throw new Error(`sha256 of ${f.path.toString('latin1')} is not 32 bytes`);
    parts.push(Buffer.from(`${f.sha256.toString('hex')}  ${PAYLOAD_DIR}/`, 'latin1'), f.path, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** All tag files of the bag, in the order they are listed in the tag manifest, tag manifest last. */
export function buildBag(
  files: readonly BagPayloadFile[],
  info: BagInfo,
  extraTags: readonly ExtraTag[] = [],
): BagFile[] {
  const { declared, encode } = encodingOf(info.charset);
  const bytes = files.reduce((sum, f) => sum + f.size, 0n);
  const bagit = encode(`BagIt-Version: 1.0\nTag-File-Character-Encoding: ${declared}\n`);
  const bagInfo = encode(
    [
      `Source-Organization: ${info.site}`,
      `Bagging-Date: ${info.created.toISOString().slice(0, 10)}`,
      `External-Identifier: ${info.vsn}`,
      `Bag-Group-Identifier: ${info.job}`,
      `Payload-Oxum: ${bytes}.${files.length}`,
      `Bag-Size: ${humanSize(bytes)}`,
      `Internal-Sender-Description: optarc volume ${info.vsn}; payload names are ${declared} bytes`,
      '',
    ].join('\n'),
  );
  const tags: BagFile[] = [
    { name: BAGIT_NAME, data: bagit },
    { name: BAG_INFO_NAME, data: bagInfo },
    { name: MANIFEST_NAME, data: manifestBytes(files) },
    { name: info.label.name, data: Buffer.from(info.label.text, 'utf8') },
  ];
  let extraBytes = 0;
  const extraLines = extraTags.map((t) => {
    if (t.sha256.length !== 32) throw new Error(`sha256 of tag file ${t.name} is not 32 bytes`);
    extraBytes += tagManifestLineBytes(t.name);
    return `${t.sha256.toString('hex')}  ${t.name}\n`;
  });
  const tagManifest = encode([...tags.map((t) => `${sha256(t.data)}  ${t.name}\n`), ...extraLines].join(''));
  if (bagit.length > BAGIT_MAX_BYTES || bagInfo.length > BAG_INFO_MAX_BYTES) {
    throw new Error('bag tag files exceed their size budget');
  }
  if (tagManifest.length > TAG_MANIFEST_MAX_BYTES + extraBytes) throw new Error('tag manifest exceeds its size budget');
  return [...tags, { name: TAG_MANIFEST_NAME, data: tagManifest }];
}

/** Reads Payload-Oxum (`<bytes>.<count>`) from bag-info.txt text. */
export function parsePayloadOxum(bagInfo: string): { bytes: bigint; count: number } | undefined {
  const m = /^Payload-Oxum: (\d+)\.(\d+)$/m.exec(bagInfo);
  return m ? { bytes: BigInt(m[1]!), count: Number(m[2]) } : undefined;
}
