/**
 * The agent's RPC service: the optarc program (clients/protocol/optarc.x) on an
 * RpcServer, made findable through port 111. Until the full contract lands the
 * program answers NULL only; every other procedure gets PROC_UNAVAIL.
 */
import { type Advertisement, advertise, type Logger, RpcServer } from '../clients/oncrpc/index.js';
import { OPTARC_PROG, OPTARC_V1, procedureTypes } from '../clients/protocol/program.js';
import type { Config } from '../config/index.js';

export interface RunningService {
  server: RpcServer;
  port: number;
  advertisement: Advertisement | undefined;
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
  const nullProc = procedureTypes[0];
  server.addProgram({
    name: 'optarc',
    prog: OPTARC_PROG,
    vers: OPTARC_V1,
    procedures: { 0: { ...nullProc, handler: () => {} } },
  });
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
      await server.close();
      throw e;
    }
  }
  log.info('optarc RPC service ready', { host: config.rpc.host, port, portmap: advertisement?.mode ?? 'none' });
  return {
    server,
    port,
    advertisement,
    async stop() {
      await advertisement?.withdraw();
      await server.close();
    },
  };
}
