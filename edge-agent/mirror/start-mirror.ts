/**
 * Starting the mirror from the agent's settings (agent.mirror): the token,
 * the shared upload limiter, the websocket session with the gateway and the
 * service draining the outbox. Nothing starts when no gateway URL is set.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../../clients/oncrpc/index.js';
import type { Config } from '../../config/index.js';
import type { Catalog } from '../catalog/catalog.js';
import type { DrivePool } from '../drives/drive-pool.js';
import { verifyCopy } from '../drives/verify-copy.js';
import type { JobRunner } from '../jobs/job-runner.js';
import { agentVersion } from '../metrics/index.js';
import { agentIdOfToken, GatewayConnection } from './gateway-connection.js';
import { MirrorService } from './mirror-service.js';
import { RateLimiter } from './rate-limiter.js';

export interface RunningMirror {
  service: MirrorService;
  connection: GatewayConnection;
  stop(): Promise<void>;
}

function tokenOf(config: Config['agent']['mirror']): string {
  if (config.token) return config.token.trim();
  if (config.tokenFile) {
    let text: string;
    try {
      text = readFileSync(config.tokenFile, 'utf8');
    } catch (e) {
      throw new Error(`agent.mirror.tokenFile: cannot read ${config.tokenFile}: ${(e as Error).message}`);
    }
    return text.split('\n')[0]!.trim();
  }
  throw new Error('agent.mirror.gatewayUrl is set but neither agent.mirror.token nor agent.mirror.tokenFile is');
}

/** Re-reads each verified copy of a volume whose disc is at hand (a stand-in's shelf file). */
async function verifyVolume(catalog: Catalog, vsn: string): Promise<{ ok: boolean; detail: string }> {
  const volume = catalog.volumeByVsn(vsn);
  if (!volume || volume.imageBytes === null || volume.imageSha256 === null)
    return { ok: false, detail: `no volume ${vsn}` };
  const copies = catalog.volumeCopies(volume.id).filter((c) => c.state === 'verified');
  if (copies.length === 0) return { ok: false, detail: `${vsn} has no verified copy` };
  const lines: string[] = [];
  let ok = true;
  for (const c of copies) {
    if (!c.medium || !c.medium.startsWith('/')) {
      ok = false;
      lines.push(`copy ${c.copyNo}: not in a drive (load it and ask again)`);
      continue;
    }
    const check = await verifyCopy(`stdio:${c.medium}`, volume.imageBytes, volume.imageSha256).catch(
      (e: unknown) => ({ ok: false, problems: [(e as Error).message] }) as { ok: boolean; problems: string[] },
    );
    ok &&= check.ok;
    lines.push(`copy ${c.copyNo}: ${check.ok ? 'intact' : `DAMAGED: ${check.problems.join('; ')}`}`);
  }
  return { ok, detail: `${vsn}: ${lines.join('; ')}` };
}

export function startMirror(
  config: Config['agent'],
  deps: {
    catalog: Catalog;
    jobs: JobRunner;
    pool: DrivePool;
    log: Logger;
    /** The gateway's `reburn` command. */
    reburn?: (vsn: string, copies: number) => Promise<{ ok: boolean; detail: string }>;
  },
): RunningMirror | undefined {
  const m = config.mirror;
  if (!m.gatewayUrl) return undefined;
  const token = tokenOf(m);
  agentIdOfToken(token); // a malformed token is a configuration error now, not a retry loop later
  const limiter = new RateLimiter(m.maxBytesPerSecond ?? null);
  let service: MirrorService | undefined;
  const connection = new GatewayConnection({
    url: m.gatewayUrl,
    token,
    agentVersion: agentVersion(),
    reconnectMinMs: m.reconnectMinSeconds * 1000,
    reconnectMaxMs: Math.max(m.reconnectMinSeconds, m.reconnectMaxSeconds) * 1000,
    drives: () =>
      deps.pool.all().map((d) => ({
        name: d.name,
        state: d.job === undefined ? ('idle' as const) : ('burning' as const),
        media: [],
      })),
    pendingVolumes: () =>
      deps.catalog
        .pendingMirrors()
        .slice(0, 1000)
        .flatMap((e) => {
          const v = deps.catalog.volume(e.volumeId);
          if (!v?.imageSha256 || !v.imageBytes) return [];
          return [
            {
              vsn: v.vsn,
              size: Number(v.imageBytes),
              sha256: v.imageSha256.toString('hex'),
              ...(e.uploadId ? { uploadId: e.uploadId } : {}),
            },
          ];
        }),
    onCommand: (c) => service!.command(c),
    log: deps.log,
  });
  service = new MirrorService({
    catalog: deps.catalog,
    connection,
    limiter,
    charset: config.staging.charset,
    concurrency: m.concurrency,
    maxAttemptsPerPart: m.maxAttemptsPerPart,
    maxBytesPerSecond: m.maxBytesPerSecond ?? null,
    release: (volumeId) => deps.jobs.releaseMirrored(volumeId),
    verifyVolume: (vsn) => verifyVolume(deps.catalog, vsn),
    ...(deps.reburn ? { reburn: deps.reburn } : {}),
    log: deps.log,
  });
  connection.start();
  service.start();
  const running = service;
  return {
    service: running,
    connection,
    async stop() {
      await running.stop();
      await connection.stop();
    },
  };
}
