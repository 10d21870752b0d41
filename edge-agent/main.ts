#!/usr/bin/env node
/**
 * optarc-agent: the edge daemon. Starts the RPC service, registers it with the
 * portmapper (or serves one), prints one JSON "ready" line on stdout, and shuts
 * down gracefully on SIGTERM or SIGINT.
 */
import { createLogger } from '../clients/oncrpc/index.js';
import { parseCommandLine } from '../config/command-line.js';
import { startRpcService } from './rpc-service.js';

const FLAGS = {
  'rpc-host': { setting: 'agent.rpc.host', type: 'string', description: 'address the RPC service listens on' },
  'rpc-port': { setting: 'agent.rpc.port', type: 'string', description: 'RPC port (0 = any free port)' },
  'portmap-port': {
    setting: 'agent.portmap.port',
    type: 'string',
    description: 'portmapper port to register with or serve',
  },
  'no-embedded-portmap': {
    setting: 'agent.portmap.embedded',
    type: 'boolean',
    description: 'fail instead of serving a portmapper when none runs',
    negate: true,
  },
} as const;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { config } = parseCommandLine('optarc-agent', '[options]', argv, FLAGS);
  const log = createLogger('agent', config.log.level);
  let service: Awaited<ReturnType<typeof startRpcService>>;
  try {
    service = await startRpcService(config.agent, log);
  } catch (e) {
    process.stderr.write(`optarc-agent: ${(e as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(
    `${JSON.stringify({
      ready: true,
      pid: process.pid,
      rpcPort: service.port,
      portmap: service.advertisement?.mode,
      portmapPort: service.advertisement?.portmapPort,
      metricsPort: service.metricsPort,
    })}\n`,
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    await service.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

void main();
