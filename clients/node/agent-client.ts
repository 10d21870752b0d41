/**
 * AgentClient: the TypeScript client of the optarc program, as the CLI and the
 * tests use it. It finds the agent the way a legacy client does (portmap
 * GETPORT on port 111) unless given a port.
 */
import { type Credentials, IPPROTO_TCP, PortmapClient, RpcClient, RpcError, x } from '../oncrpc/index.js';
import { OPTARC_NULL, OPTARC_PROG, OPTARC_V1 } from '../protocol/generated/optarc.js';

export interface AgentAddress {
  host: string;
  /** The agent's RPC port; looked up through the portmapper when absent. */
  port?: number;
  portmapPort?: number;
  timeoutMs?: number;
  credentials?: Credentials;
}

export class AgentClient {
  readonly rpc: RpcClient;
  readonly port: number;

  private constructor(rpc: RpcClient, port: number) {
    this.rpc = rpc;
    this.port = port;
  }

  static async connect(address: AgentAddress): Promise<AgentClient> {
    let port = address.port;
    if (port === undefined) {
      const pm = await PortmapClient.connect(address.host, address.portmapPort ?? 111, address.timeoutMs);
      try {
        port = await pm.getPort(OPTARC_PROG, OPTARC_V1, IPPROTO_TCP);
      } finally {
        pm.close();
      }
      if (port === 0) {
        throw new RpcError(
          'PROG_UNAVAIL',
          `the portmapper on ${address.host}:${address.portmapPort ?? 111} knows no optarc agent (program ${OPTARC_PROG} version ${OPTARC_V1})`,
        );
      }
    }
    const rpc = await RpcClient.connect({
      host: address.host,
      port,
      timeoutMs: address.timeoutMs,
      credentials: address.credentials,
    });
    return new AgentClient(rpc, port);
  }

  null(): Promise<void> {
    return this.rpc.call(OPTARC_PROG, OPTARC_V1, OPTARC_NULL, x.xvoid, undefined, x.xvoid);
  }

  close(): void {
    this.rpc.close();
  }
}
