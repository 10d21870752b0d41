/**
 * ONC RPC over UDP: one call per datagram, one reply per datagram, no record
 * marking. Used where legacy clients ask over UDP — above all the embedded
 * portmapper: SunOS-era pmap_getport() and libtirpc's last-resort portmap v2
 * GETPORT go over UDP. Shares the TCP server's Dispatcher, so both transports
 * give the same answers; a malformed call gets no reply, as on any UDP service.
 */
import dgram from 'node:dgram';
import { type Logger, silentLogger } from '../logger.js';
import type { ConnectionHandle, Dispatcher, Reply } from './dispatcher.js';

export interface RpcUdpServerOptions {
  /** Largest reply sent (default 8,800 bytes, libtirpc's UDP buffer); larger replies are dropped with a log line. */
  maxReplySize?: number;
  log?: Logger;
}

export class RpcUdpServer {
  private readonly socket = dgram.createSocket('udp4');
  private readonly dispatcher: Dispatcher;
  private readonly maxReplySize: number;
  private readonly log: Logger;

  constructor(dispatcher: Dispatcher, options: RpcUdpServerOptions = {}) {
    this.dispatcher = dispatcher;
    this.maxReplySize = options.maxReplySize ?? 8800;
    this.log = options.log ?? silentLogger;
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.socket.on('error', (e) => this.log.warn('UDP RPC socket error', { error: e.message }));
  }

  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(port, host, () => {
        this.socket.off('error', reject);
        resolve(this.socket.address().port);
      });
    });
  }

  private closed = false;

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // never bound
      }
    });
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const peer = { address: rinfo.address, port: rinfo.port };
    const handle: ConnectionHandle = { id: 0, peer, onClose() {} };
    const send = (reply: Reply) => {
      if (reply === 'close') return;
      const datagram = Buffer.concat(reply).subarray(4); // no record marking on UDP
      if (datagram.length > this.maxReplySize) {
        this.log.warn('UDP reply too large: dropped', { peer: `${peer.address}:${peer.port}`, size: datagram.length });
        return;
      }
      this.socket.send(datagram, rinfo.port, rinfo.address);
    };
    let reply: Reply | Promise<Reply>;
    try {
      reply = this.dispatcher.dispatch(msg, handle);
    } catch {
      return;
    }
    if (reply instanceof Promise) reply.then(send, () => {});
    else send(reply);
  }
}
