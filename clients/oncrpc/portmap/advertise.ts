/**
 * Making an RPC server findable through port 111, the way legacy clients look.
 *
 * When a portmapper (the system's rpcbind) already answers there, every program
 * the server offers is registered with it, replacing any stale entry, and
 * unregistered by withdraw(). When none answers, an embedded portmapper is
 * started on that port (111 needs root or CAP_NET_BIND_SERVICE) and the programs
 * are registered in it.
 */
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import type { RpcServer } from '../rpc/server.js';
import { EmbeddedPortmapper } from './embedded-portmapper.js';
import { PortmapClient } from './portmap-client.js';
import { IPPROTO_TCP, PMAP_PORT } from './protocol.js';

export interface AdvertiseOptions {
  /** Where the portmapper is, or is to be started (default 127.0.0.1:111). */
  host?: string;
  port?: number;
  /** Start an embedded portmapper when none answers (default true). */
  embedded?: boolean;
  log?: Logger;
}

export interface Advertisement {
  mode: 'system' | 'embedded';
  portmapPort: number;
  embedded?: EmbeddedPortmapper;
  withdraw(): Promise<void>;
}

export async function advertise(server: RpcServer, options: AdvertiseOptions = {}): Promise<Advertisement> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? PMAP_PORT;
  const log = options.log ?? silentLogger;
  const programs = server.dispatcher.list();

  if (await PortmapClient.probe(host, port)) {
    const pm = await PortmapClient.connect(host, port);
    try {
      for (const p of programs) {
        await pm.unset(p.prog, p.vers);
        if (!(await pm.set(p.prog, p.vers, server.port, IPPROTO_TCP))) {
          throw new Error(`the portmapper at ${host}:${port} refused to register program ${p.prog} version ${p.vers}`);
        }
      }
    } finally {
      pm.close();
    }
    log.info('registered with the system portmapper', { portmapper: `${host}:${port}`, programs, port: server.port });
    return {
      mode: 'system',
      portmapPort: port,
      async withdraw() {
        try {
          const c = await PortmapClient.connect(host, port);
          try {
            for (const p of programs) await c.unset(p.prog, p.vers);
          } finally {
            c.close();
          }
        } catch (e) {
          log.warn('could not unregister from the portmapper', { error: (e as Error).message });
        }
      },
    };
  }

  if (options.embedded === false) throw new Error(`no portmapper answers at ${host}:${port}`);
  const embedded = new EmbeddedPortmapper({ host, log });
  let bound: number;
  try {
    bound = await embedded.listen(port);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EACCES') {
      throw new Error(
        `no portmapper answers at ${host}:${port}, and starting one there needs root (or CAP_NET_BIND_SERVICE): ` +
          'start rpcbind, run as root, or choose another portmapper port',
      );
    }
    throw e;
  }
  for (const p of programs) {
    embedded.registry.setMapping({ prog: p.prog, vers: p.vers, prot: IPPROTO_TCP, port: server.port }, 'optarc');
  }
  log.info('serving an embedded portmapper', { portmapper: `${host}:${bound}`, programs, port: server.port });
  return { mode: 'embedded', portmapPort: bound, embedded, withdraw: () => embedded.close() };
}
