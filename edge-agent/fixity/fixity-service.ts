/**
 * Fixity: scheduled, incremental re-verification of every cloud image and
 * every loaded disc, with results in the catalog, reported to the gateway and
 * alerting on failure. (Stub: filled in by the fixity work.)
 */
import type { Logger } from '../../clients/oncrpc/index.js';
import type { Config } from '../../config/index.js';
import type { Catalog } from '../catalog/catalog.js';
import type { CloudReader } from '../cloud/cloud-reader.js';
import type { DrivePool } from '../drives/drive-pool.js';
import type { GatewayConnection } from '../mirror/gateway-connection.js';

export interface FixityOptions {
  config: Config['agent']['fixity'];
  catalog: Catalog;
  pool: DrivePool;
  cloud: CloudReader;
  /** The gateway session, when the agent mirrors: results are reported over it. */
  connection: () => GatewayConnection | undefined;
  log: Logger;
}

export class FixityService {
  constructor(readonly o: FixityOptions) {}

  /** Resumes an interrupted pass and starts the schedule. */
  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
