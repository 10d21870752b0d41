/**
 * An embedded portmapper for hosts without rpcbind: program 100000 answering
 * portmap v2 (NULL, SET, UNSET, GETPORT, DUMP) and rpcbind v3/v4 (NULL, SET,
 * UNSET, GETADDR, DUMP, GETTIME, and v4's GETVERSADDR and GETADDRLIST), over
 * TCP and UDP.
 * Only callers on the loopback interface may SET or UNSET, and never program 100000 itself;
 * the table holds at most MAX_REGISTRATIONS entries.
 */
import { type Logger, silentLogger } from '../logger.js';
import { type CallContext, type ProgramVersion, procedure } from '../rpc/program.js';
import { RpcServer } from '../rpc/server.js';
import { RpcUdpServer } from '../rpc/udp-server.js';
import { x } from '../xdr/index.js';
import {
  mapping,
  PMAP_PORT,
  PMAP_PROG,
  PmapProc,
  pmaplist,
  RpcbProc,
  rpcb,
  rpcbEntryList,
  rpcblist,
  toUniversalAddress,
} from './protocol.js';
import { PortmapRegistry } from './registry.js';

export interface EmbeddedPortmapperOptions {
  port?: number;
  host?: string;
  log?: Logger;
}

/** Callers on the loopback interface may register programs, never the portmapper's own entries. */
function mayChange(ctx: CallContext, prog: number): boolean {
  const a = ctx.peer.address;
  return (a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.')) && prog !== PMAP_PROG;
}

export class EmbeddedPortmapper {
  readonly registry: PortmapRegistry;
  readonly server: RpcServer;
  readonly udp: RpcUdpServer;
  private readonly host: string;
  private readonly log: Logger;

  constructor(options: EmbeddedPortmapperOptions = {}) {
    this.host = options.host ?? '127.0.0.1';
    this.log = options.log ?? silentLogger;
    this.registry = new PortmapRegistry(this.host);
    this.server = new RpcServer({ maxRecordSize: 64 * 1024, idleTimeoutMs: 60_000, log: this.log });
    for (const p of this.programs()) this.server.addProgram(p);
    this.udp = new RpcUdpServer(this.server.dispatcher, { log: this.log });
  }

  /** Listen on TCP and UDP, on the same port (port 0: the port TCP gets). */
  async listen(port = PMAP_PORT): Promise<number> {
    const bound = await this.server.listen(port, this.host);
    try {
      await this.udp.listen(bound, this.host);
    } catch (e) {
      await this.server.close();
      throw e;
    }
    for (const netid of ['tcp', 'udp']) {
      for (const vers of [2, 3, 4]) {
        this.registry.set({
          prog: PMAP_PROG,
          vers,
          netid,
          addr: toUniversalAddress(this.host, bound),
          owner: 'superuser',
        });
      }
    }
    return bound;
  }

  async close(): Promise<void> {
    await Promise.all([this.server.close(), this.udp.close()]);
  }

  private programs(): ProgramVersion[] {
    const reg = this.registry;
    const log = this.log;
    const v2: ProgramVersion = {
      name: 'portmap',
      prog: PMAP_PROG,
      vers: 2,
      procedures: {
        [PmapProc.NULL]: procedure('NULL', x.xvoid, x.xvoid, () => {}),
        [PmapProc.SET]: procedure('SET', mapping, x.bool, (m, ctx) => {
          if (!mayChange(ctx, m.prog)) return false;
          const ok = reg.setMapping(m, String(ctx.credentials.flavor === 'sys' ? ctx.credentials.uid : 'unknown'));
          log.info('portmap SET', { prog: m.prog, vers: m.vers, prot: m.prot, port: m.port, ok });
          return ok;
        }),
        [PmapProc.UNSET]: procedure('UNSET', mapping, x.bool, (m, ctx) => {
          if (!mayChange(ctx, m.prog)) return false;
          return reg.unset(m.prog, m.vers, '');
        }),
        [PmapProc.GETPORT]: procedure('GETPORT', mapping, x.uint, (m) => reg.getPort(m.prog, m.vers, m.prot)),
        [PmapProc.DUMP]: procedure('DUMP', x.xvoid, pmaplist, () => reg.mappings()),
      },
    };
    const rpcbind = (vers: number): ProgramVersion => ({
      name: 'rpcbind',
      prog: PMAP_PROG,
      vers,
      procedures: {
        [RpcbProc.NULL]: procedure('NULL', x.xvoid, x.xvoid, () => {}),
        [RpcbProc.SET]: procedure('SET', rpcb, x.bool, (b, ctx) => (mayChange(ctx, b.prog) ? reg.set(b) : false)),
        [RpcbProc.UNSET]: procedure('UNSET', rpcb, x.bool, (b, ctx) =>
          mayChange(ctx, b.prog) ? reg.unset(b.prog, b.vers, b.netid) : false,
        ),
        [RpcbProc.GETADDR]: procedure('GETADDR', rpcb, x.string(255), (b) => reg.getAddr(b.prog, b.vers, b.netid)),
        [RpcbProc.DUMP]: procedure('DUMP', x.xvoid, rpcblist, () => reg.dump()),
        [RpcbProc.GETTIME]: procedure('GETTIME', x.xvoid, x.uint, () => Math.floor(Date.now() / 1000) >>> 0),
      },
    });
    const v4 = rpcbind(4);
    v4.procedures[RpcbProc.GETVERSADDR] = procedure('GETVERSADDR', rpcb, x.string(255), (b) =>
      reg.getAddr(b.prog, b.vers, b.netid),
    );
    v4.procedures[RpcbProc.GETADDRLIST] = procedure('GETADDRLIST', rpcb, rpcbEntryList, (b) =>
      reg
        .dump()
        .filter((e) => e.prog === b.prog && e.vers === b.vers)
        .map((e) => ({
          maddr: e.addr,
          netid: e.netid,
          semantics: e.netid.startsWith('tcp') ? 2 : 1,
          protofmly: e.netid.endsWith('6') ? 'inet6' : 'inet',
          proto: e.netid.startsWith('tcp') ? 'tcp' : 'udp',
        })),
    );
    return [v2, rpcbind(3), v4];
  }
}
