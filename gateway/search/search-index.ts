/**
 * The manifest index: every acknowledged volume's manifest, file by file,
 * so the gateway can answer "which volume holds this, and which byte range
 * of which S3 object restores it?". The index is derived: S3's manifests are
 * the truth and `optarc-gateway reindex` rebuilds it from them alone.
 *
 * This file is the interface the gateway uses, with two backends behind it:
 * sqlite-index.ts (embedded, the default) and postgres-index.ts (a shared
 * database for a gateway that runs as many instances). Both pass the same
 * tests (test/gateway/search-backends.test.ts).
 *
 * A volume is indexed whole and replaces what the index held for it (an
 * APPEND's newer manifest lists every session's files). Backends answer only
 * indexed filters (site, exact path, path substring, SHA-256, VSN, size,
 * mtime, volume date) in one stable order; globs and regexes are matched by
 * path-matchers.ts over a substring-narrowed scan, the same for every backend.
 */
import type { VolumeManifest } from '../protocol/volume-manifest.js';

/** One acknowledged volume, as the index takes it. */
export interface IndexedVolume {
  site: string;
  vsn: string;
  /** The image object and version that hold the files. */
  key: string;
  versionId: string;
  manifestKey: string;
  /** Milliseconds since the epoch. */
  ackedAt: number;
  manifest: VolumeManifest;
}

/**
 * Where a hit sits in the one stable order of results: site, VSN, then the
 * entry's position in its volume's manifest (which lists a disc's files by
 * session, then by their path in the image). The same for every backend and
 * after a reindex.
 */
export interface FileKey {
  site: string;
  vsn: string;
  entry: number;
}

export interface FileQuery {
  /** Sites the reader may see (required: there is no unscoped read; empty finds nothing). */
  sites: readonly string[];
  /** The whole path, exactly. */
  path?: string;
  /**
   * A substring of the path, case-insensitive (ASCII letters at least), 3
   * characters or more (MIN_SUBSTRING): served by a trigram index.
   */
  pathContains?: string;
  /** The file's SHA-256, lowercase hex. */
  sha256?: string;
  vsn?: string;
  /** Size in bytes, inclusive bounds. */
  sizeMin?: number;
  sizeMax?: number;
  /** The file's mtime, seconds since the epoch: from (inclusive), before (exclusive). */
  mtimeFrom?: number;
  mtimeBefore?: number;
  /** Only files of volumes created (manifest createdAt) at or after this, ms since the epoch: "new since". */
  volumeCreatedSince?: number;
  /** At most this many hits (1..MAX_LIMIT). */
  limit: number;
  /** Only hits after this key (the previous page's last). */
  after?: FileKey;
}

export interface FileHit extends FileKey {
  path: string;
  size: number;
  sha256: string;
  mtimeSeconds: number;
  mode: number;
  session: number;
  /** Set when the file was cut into parts across volumes. */
  part: { index: number; count: number; offset: number; length: number } | null;
  key: string;
  versionId: string;
  /** Byte ranges of the file in the image object, in order. */
  extents: { offset: number; length: number }[];
  copies: { copy: number; drive: string; medium: string | null; verifiedAt: string }[];
  /** The volume's manifest createdAt, ms since the epoch. */
  volumeCreatedAt: number;
}

export interface VolumeQuery {
  sites: readonly string[];
  vsn?: string;
  /** Only volumes created at or after this, ms since the epoch. */
  createdSince?: number;
  limit: number;
  /** Only volumes after this (site, vsn). */
  after?: { site: string; vsn: string };
}

export interface VolumeSummary {
  site: string;
  vsn: string;
  label: string;
  media: string;
  key: string;
  versionId: string;
  manifestKey: string;
  imageBytes: number;
  imageSha256: string;
  sessions: number;
  copies: FileHit['copies'];
  /** ms since the epoch */
  createdAt: number;
  ackedAt: number;
  files: number;
  /** Sum of the files' sizes. */
  bytes: number;
}

export const MIN_SUBSTRING = 3;
export const MAX_LIMIT = 1000;

export interface SearchIndex {
  /** Which backend: for logs and reports. */
  readonly backend: 'sqlite' | 'postgres';
  indexVolume(volume: IndexedVolume): Promise<void>;
  /**
   * Runs `load` (which indexes many volumes) in bulk mode: when the index is
   * empty at the start, its secondary indexes are dropped for the load and
   * built once at the end, much faster than keeping them up to date row by
   * row. Queries may be slow meanwhile; what was loaded stays if load throws.
   */
  bulk<T>(load: () => Promise<T>): Promise<T>;
  /** Hits in the stable order (site, vsn, entry), at most q.limit. */
  findFiles(q: FileQuery): Promise<FileHit[]>;
  /** Volumes in the order (site, vsn), at most q.limit. */
  listVolumes(q: VolumeQuery): Promise<VolumeSummary[]>;
  /** Every volume and its file count, in order, unscoped: for checks and the rebuild. */
  volumes(): Promise<{ site: string; vsn: string; versionId: string; files: number }[]>;
  close(): Promise<void>;
}
