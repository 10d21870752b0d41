/**
 * Retrieval: online and offline RETRIEVE requests, the priority scheduler,
 * sources (a loaded disc, else the cloud copy), the SHA-256 check and the
 * cache area. (Stub: filled in by the retrieval work.)
 */
import type { Logger } from '../../clients/oncrpc/index.js';
import type { Config } from '../../config/index.js';
import type { Catalog } from '../catalog/catalog.js';
import type { CloudReader } from '../cloud/cloud-reader.js';
import type { DrivePool } from '../drives/drive-pool.js';

export interface RetrievalOptions {
  config: Config['agent']['retrieval'];
  /** The cache area (agentPaths().cacheDir). */
  cacheDir: string;
  catalog: Catalog;
  pool: DrivePool;
  cloud: CloudReader;
  log: Logger;
}

export class RetrievalService {
  constructor(readonly o: RetrievalOptions) {}

  /** Restores the journaled queue and starts the scheduler. */
  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
