/**
 * Talking to a portmapper as a client: probe one, register and unregister a
 * program with it (PMAPPROC_SET/UNSET over TCP, which rpcbind accepts from
 * loopback callers, privileged or not), look a port up, list registrations.
 */
import { RpcClient } from '../rpc/client.js';
import { x } from '../xdr/index.js';
import {
  IPPROTO_TCP,
  type Mapping,
  mapping,
  PMAP_PORT,
  PMAP_PROG,
  PmapProc,
  pmaplist,
  type Rpcb,
  RpcbProc,
  rpcb,
  rpcblist,
} from './protocol.js';

export class PortmapClient {
  private readonly rpc: RpcClient;

  private constructor(rpc: RpcClient) {
    this.rpc = rpc;
  }

  static async connect(host = '127.0.0.1', port = PMAP_PORT, timeoutMs = 5000): Promise<PortmapClient> {
    const rpc = await RpcClient.connect({ host, port, timeoutMs, connectTimeoutMs: timeoutMs });
    return new PortmapClient(rpc);
  }

  /** True when something at host:port answers the portmap v2 NULL procedure. */
  static async probe(host = '127.0.0.1', port = PMAP_PORT, timeoutMs = 2000): Promise<boolean> {
    let pm: PortmapClient | undefined;
    try {
      pm = await PortmapClient.connect(host, port, timeoutMs);
      await pm.null();
      return true;
    } catch {
      return false;
    } finally {
      pm?.close();
    }
  }

  null(): Promise<void> {
    return this.rpc.call(PMAP_PROG, 2, PmapProc.NULL, x.xvoid, undefined, x.xvoid);
  }

  set(prog: number, vers: number, port: number, prot = IPPROTO_TCP): Promise<boolean> {
    return this.rpc.call(PMAP_PROG, 2, PmapProc.SET, mapping, { prog, vers, prot, port }, x.bool);
  }

  unset(prog: number, vers: number): Promise<boolean> {
    return this.rpc.call(PMAP_PROG, 2, PmapProc.UNSET, mapping, { prog, vers, prot: 0, port: 0 }, x.bool);
  }

  getPort(prog: number, vers: number, prot = IPPROTO_TCP): Promise<number> {
    return this.rpc.call(PMAP_PROG, 2, PmapProc.GETPORT, mapping, { prog, vers, prot, port: 0 }, x.uint);
  }

  dump(): Promise<Mapping[]> {
    return this.rpc.call(PMAP_PROG, 2, PmapProc.DUMP, x.xvoid, undefined, pmaplist);
  }

  /** rpcbind v4 GETADDR, as libtirpc's clnt_create() asks it. */
  getAddr(prog: number, vers: number, netid = 'tcp', rpcbVersion = 4): Promise<string> {
    return this.rpc.call(
      PMAP_PROG,
      rpcbVersion,
      RpcbProc.GETADDR,
      rpcb,
      { prog, vers, netid, addr: '', owner: '' },
      x.string(255),
    );
  }

  rpcbDump(rpcbVersion = 4): Promise<Rpcb[]> {
    return this.rpc.call(PMAP_PROG, rpcbVersion, RpcbProc.DUMP, x.xvoid, undefined, rpcblist);
  }

  close(): void {
    this.rpc.close();
  }
}
