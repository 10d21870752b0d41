/**
 * The agent's RPC service: the optarc program (clients/protocol/optarc.x) on an
 * RpcServer, with its staging area, access policy, controller lease and
 * burning pipeline (catalog, drives, job runner), made findable through port
 * 111. Unfinished jobs resume before the service answers.
 */

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Advertisement, advertise, type Logger, RpcServer } from '../clients/oncrpc/index.js';
import { agentPaths, type Config } from '../config/index.js';
import { Catalog } from './catalog/catalog.js';
import { CatalogQueries } from './catalog/catalog-queries.js';
import { CloudReader } from './cloud/cloud-reader.js';
import { DrivePool } from './drives/drive-pool.js';
import { FixityService } from './fixity/fixity-service.js';
import { JobRunner } from './jobs/job-runner.js';
import { agentVersion, createCollector, type MetricsServer, startMetricsServer } from './metrics/index.js';
import { type RunningMirror, startMirror } from './mirror/start-mirror.js';
import { RetrievalService } from './retrieval/retrieval-service.js';
import { AccessPolicy } from './service/access.js';
import { mirrorView } from './service/burn-procedures.js';
import { OptarcProgram } from './service/optarc-program.js';
import { ControllerLease } from './session/lease.js';
import { StagingArea } from './staging/staging-area.js';
import { MountedVolumes } from './volumes/mounted-volumes.js';

export interface RunningService {
  server: RpcServer;
  port: number;
  advertisement: Advertisement | undefined;
  catalog: Catalog;
  jobs: JobRunner;
  /** The mirror to the gateway, when agent.mirror.gatewayUrl is set. */
  mirror: RunningMirror | undefined;
  metricsPort: number | undefined;
  stop(): Promise<void>;
}

export async function startRpcService(
  config: Config['agent'],
  log: Logger,
  withPortmap = true,
): Promise<RunningService> {
  const server = new RpcServer({
    maxRecordSize: config.rpc.maxRecordSize,
    maxConnections: config.rpc.maxConnections,
    idleTimeoutMs: config.rpc.idleTimeoutSeconds * 1000,
    recordTimeoutMs: config.rpc.recordTimeoutSeconds * 1000,
    log,
  });
  await mkdir(config.staging.root, { recursive: true });
  const staging = new StagingArea({
    root: config.staging.root,
    charset: config.staging.charset,
    sessionQuotaBytes: BigInt(config.staging.sessionQuotaBytes),
    totalQuotaBytes: BigInt(config.staging.totalQuotaBytes),
    minFreeBytes: BigInt(config.staging.minFreeBytes),
  });
  const recovered = await staging.recover(() => ({ seconds: BigInt(Math.floor(Date.now() / 1000)), nanoseconds: 0 }));
  if (recovered > 0) log.info('staging area taken up', { workingDirectories: recovered, bytes: String(staging.used) });
  const paths = agentPaths(config);
  const catalog = new Catalog(paths.catalog, { vsnPrefix: config.burn.vsnPrefix });
  // a stand-in drive's bay exists from the start; one that vanishes later is a drive gone missing
  for (const d of paths.drives) {
    if (d.standIn && d.address.startsWith('stdio:')) await mkdir(path.dirname(d.address.slice(6)), { recursive: true });
  }
  const pool = new DrivePool(paths.drives, { log });
  // the cloud copy, read through the gateway's presigned ranges (the mirror's session, once it runs)
  let mirror: RunningMirror | undefined;
  const cloud = new CloudReader(() => mirror?.connection);
  const jobs = new JobRunner({
    cloud,
    reburn: config.reburn,
    catalog,
    pool,
    staging,
    jobsDir: path.join(paths.stagingRoot, 'jobs'),
    imagesDir: paths.imagesDir,
    charset: config.staging.charset,
    site: config.burn.site,
    volumeClass: config.burn.volumeClass,
    maxAttempts: config.burn.maxAttemptsPerCopy,
    releaseAfterMirror: config.mirror.gatewayUrl !== undefined,
    masterConcurrency: config.burn.masterConcurrency,
    maxCopies: config.burn.maxCopies,
    log,
  });
  let metrics: MetricsServer | undefined;
  if (config.metrics.enabled) {
    try {
      metrics = await startMetricsServer({
        host: config.metrics.host,
        port: config.metrics.port,
        collect: createCollector({
          version: agentVersion(),
          catalog,
          jobs,
          pool,
          staging,
          // the mirror starts after the endpoint: until then its metrics are left out
          mirror: config.mirror.gatewayUrl ? { status: () => mirror?.service.status() } : undefined,
          fixity: catalog,
          log,
        }),
        log,
      });
    } catch (e) {
      catalog.close();
      throw e;
    }
  }
  const resumed = await jobs.start();
  if (resumed > 0) log.info('jobs resumed from the journal', { jobs: resumed });
  try {
    mirror = startMirror(config, {
      catalog,
      jobs,
      pool,
      log,
      reburn: async (vsn, copies) => {
        const job = await jobs.submitReburn('gateway', 'gateway', { vsn, copies, media: '' });
        return { ok: true, detail: `re-burn of ${vsn} queued as job ${job.id}` };
      },
    });
  } catch (e) {
    await metrics?.close();
    await jobs.stop();
    catalog.close();
    throw e;
  }
  const retrieval = new RetrievalService({
    config: config.retrieval,
    cacheDir: paths.cacheDir,
    catalog,
    pool,
    cloud,
    log,
  });
  const fixity = new FixityService({
    config: config.fixity,
    catalog,
    pool,
    cloud,
    connection: () => mirror?.connection,
    log,
  });
  await retrieval.start();
  await fixity.start();
  const program = new OptarcProgram({
    charset: config.staging.charset,
    staging,
    access: new AccessPolicy(config.access),
    lease: new ControllerLease({
      leaseMs: config.session.leaseSeconds * 1000,
      disconnectGraceMs: config.session.disconnectGraceSeconds * 1000,
    }),
    clockSkewWarnSeconds: config.session.clockSkewWarnSeconds,
    log,
    burn: {
      jobs,
      pool,
      volumes: new MountedVolumes(pool, catalog, config.staging.charset),
      spanning: config.burn.spanning,
      mirror: mirrorView(catalog, mirror),
    },
    archive: { queries: new CatalogQueries({ catalog, pool, charset: config.staging.charset }), retrieval, fixity },
  });
  server.addProgram(program.version());
  const port = await server.listen(config.rpc.port, config.rpc.host);
  let advertisement: Advertisement | undefined;
  if (withPortmap) {
    try {
      advertisement = await advertise(server, {
        host: config.portmap.host,
        port: config.portmap.port,
        embedded: config.portmap.embedded,
        log,
      });
    } catch (e) {
      await metrics?.close();
      await server.close();
      await fixity.stop();
      await retrieval.stop();
      await mirror?.stop();
      await jobs.stop();
      catalog.close();
      throw e;
    }
  }
  log.info('optarc RPC service ready', { host: config.rpc.host, port, portmap: advertisement?.mode ?? 'none' });
  return {
    server,
    port,
    advertisement,
    catalog,
    jobs,
    mirror,
    metricsPort: metrics?.port,
    async stop() {
      await advertisement?.withdraw();
      await server.close();
      await metrics?.close();
      await fixity.stop();
      await retrieval.stop();
      await mirror?.stop();
      await jobs.stop();
      catalog.close();
    },
  };
}
