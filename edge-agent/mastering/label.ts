/**
 * The volume label, LABEL.TXT at the root of every disc: NAStore's idea of a
 * self-describing header label (who wrote the volume, what it is, how many
 * copies exist), as `KEY: value` lines any reader can understand without optarc.
 */
import { MasteringError } from './errors.js';

export interface VolumeLabel {
  vsn: string;
  site: string;
  class: string;
  created: Date;
  media: string;
  copies: number;
  session: number;
  job: string;
  /** The volume's payload size; the sum of the payload files when absent. */
  bytes?: bigint;
  /** The client's own words for the volume (BURN's label), when it gave any. */
  title?: string;
}

/** The label's file name in the image root. */
export const LABEL_NAME = 'LABEL.TXT';
/** Longest label text field, in UTF-8 bytes. */
export const MAX_FIELD_BYTES = 200;
/** An upper bound of LABEL.TXT's size (fields are limited), used by the image-size estimate. */
export const LABEL_MAX_BYTES = 4096;

const VSN = /^[A-Z0-9_]{1,32}$/;

/** Throws MasteringError('BAD_NAME') unless `vsn` is a valid ISO 9660 volume id. */
export function checkVsn(vsn: string): void {
  if (!VSN.test(vsn)) {
    throw new MasteringError(
      'BAD_NAME',
      `volume serial ${JSON.stringify(vsn)} is not a valid volume id: use 1 to 32 characters out of A-Z, 0-9 and _`,
    );
  }
}

function checkText(field: string, value: string): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new MasteringError('BAD_LABEL', `label field ${field} is empty`);
  }
  if ([...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    throw new MasteringError('BAD_LABEL', `label field ${field} contains a control character (one line of text only)`);
  }
  if (value !== value.trim()) {
    throw new MasteringError('BAD_LABEL', `label field ${field} has leading or trailing blanks`);
  }
  if (Buffer.byteLength(value, 'utf8') > MAX_FIELD_BYTES) {
    throw new MasteringError('BAD_LABEL', `label field ${field} is longer than ${MAX_FIELD_BYTES} bytes`);
  }
}

function checkCount(field: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new MasteringError('BAD_LABEL', `label field ${field} must be an integer >= ${min}, not ${value}`);
  }
}

/** Validates every field of a label; throws MasteringError('BAD_LABEL' | 'BAD_NAME'). */
export function checkLabel(label: VolumeLabel): void {
  checkVsn(label.vsn);
  checkText('site', label.site);
  checkText('class', label.class);
  checkText('media', label.media);
  checkText('job', label.job);
  if (label.title) checkText('title', label.title);
  checkCount('copies', label.copies, 1);
  checkCount('session', label.session, 1);
  if (!(label.created instanceof Date) || Number.isNaN(label.created.getTime())) {
    throw new MasteringError('BAD_LABEL', 'label field created is not a valid date');
  }
  if (label.bytes !== undefined && label.bytes < 0n) {
    throw new MasteringError('BAD_LABEL', 'label field bytes is negative');
  }
}

/** Decimal size with a readable unit, e.g. `1.5 GiB`. */
export function humanSize(bytes: bigint): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let unit = 0;
  let scale = 1n;
  while (unit < units.length - 1 && bytes >= scale * 1024n) {
    scale *= 1024n;
    unit++;
  }
  if (unit === 0) return `${bytes} bytes`;
  const tenths = (bytes * 10n + scale / 2n) / scale;
  return `${tenths / 10n}.${tenths % 10n} ${units[unit]}`;
}

export interface LabelFacts {
  payloadBytes: bigint;
  payloadFiles: number;
  charset: 'utf-8' | 'iso-8859-1';
}

/** The LABEL.TXT text: `KEY: value` lines, UTF-8, LF line ends. */
export function labelText(label: VolumeLabel, facts: LabelFacts): string {
  checkLabel(label);
  const bytes = label.bytes ?? facts.payloadBytes;
  const lines: [string, string][] = [
    ['LABEL', 'OPTARC VOLUME LABEL 1'],
    ['VSN', label.vsn],
    ...(label.title ? ([['TITLE', label.title]] as [string, string][]) : []),
    ['CLASS', label.class],
    ['SITE', label.site],
    ['CREATED', label.created.toISOString()],
    ['SIZE', `${bytes} bytes (${humanSize(bytes)})`],
    ['FILES', String(facts.payloadFiles)],
    ['COPY-POLICY', `${label.copies} ${label.copies === 1 ? 'copy' : 'copies'}, identical images`],
    ['COPIES', String(label.copies)],
    ['MEDIA', label.media],
    ['SESSION', String(label.session)],
    ['JOB', label.job],
    ['NAME-CHARSET', facts.charset.toUpperCase()],
    ['LAYOUT', 'ISO 9660 level 3 + Rock Ridge + Joliet; payload under data/; BagIt 1.0 bag at the root'],
  ];
  const text = `${lines.map(([k, v]) => `${k}: ${v}`).join('\n')}\n`;
  if (Buffer.byteLength(text, 'utf8') > LABEL_MAX_BYTES) {
    throw new MasteringError('BAD_LABEL', `the label text is longer than ${LABEL_MAX_BYTES} bytes`);
  }
  return text;
}

/** Reads a LABEL.TXT back into its `KEY: value` pairs (first occurrence of each key). */
export function parseLabel(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf(': ');
    if (at <= 0) continue;
    const key = line.slice(0, at);
    if (!out.has(key)) out.set(key, line.slice(at + 2));
  }
  return out;
}
