/**
 * The catalog as ImageNet's data dictionary: volumes (new since a date), files
 * by pattern (EXACT, SQL LIKE with % and _, or glob), and where a file is (by
 * path or SHA-256): its volumes, their copies, which drive holds one now, and
 * the cloud object. (Stub: filled in by the catalog-queries work.)
 */

import type { DrivePool } from '../drives/drive-pool.js';
import type { Catalog } from './catalog.js';

export interface CatalogQueriesOptions {
  catalog: Catalog;
  pool: DrivePool;
}

export class CatalogQueries {
  constructor(readonly o: CatalogQueriesOptions) {}
}
