/**
 * The manifest index: every acknowledged volume's manifest, file by file,
 * so the gateway can answer "which volume holds this, and which byte range
 * of which S3 object restores it?". The index is derived: S3's manifests are
 * the truth and `optarc-gateway reindex` rebuilds it from them alone.
 *
 * This file is the interface the gateway uses; sqlite-index.ts is the
 * embedded backend. A volume is indexed whole and replaces what the index
 * held for it (an APPEND's newer manifest lists every session's files).
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

export interface FileQuery {
  /** Sites the reader may see (required: there is no unscoped read). */
  sites: readonly string[];
  /** A substring of the path (3 characters or more use the trigram index). */
  pathContains?: string;
  /** The file's SHA-256, hex. */
  sha256?: string;
  vsn?: string;
  limit: number;
  /** Resume after this hit (from the previous page). */
  after?: { site: string; vsn: string; path: string };
}

export interface FileHit {
  site: string;
  vsn: string;
  path: string;
  size: number;
  sha256: string;
  mtimeSeconds: number;
  session: number;
  key: string;
  versionId: string;
  extents: { offset: number; length: number }[];
  copies: { copy: number; drive: string; medium: string | null; verifiedAt: string }[];
}

export interface SearchIndex {
  indexVolume(volume: IndexedVolume): void;
  findFiles(query: FileQuery): FileHit[];
  /** Every (site, vsn) indexed, with its file count, in order: for checks and the rebuild. */
  volumes(): { site: string; vsn: string; versionId: string; files: number }[];
  close(): void;
}
