/**
 * Which clients may talk to the agent: an allowlist of addresses and networks
 * (NAStore's VVCONF named the hosts it accepted), and optionally a reserved
 * source port, as NFS's `secure` option asks of root-run clients.
 */
import net from 'node:net';
import type { Peer } from '../../clients/oncrpc/index.js';

export interface AccessOptions {
  /** Addresses ("192.0.2.7", "::1") and networks ("10.1.0.0/16"); empty allows nobody. */
  allow: string[];
  requireReservedPort: boolean;
}

export class AccessPolicy {
  private readonly list = new net.BlockList();
  private readonly requireReservedPort: boolean;

  constructor(options: AccessOptions) {
    for (const entry of options.allow) {
      const [address, prefix] = entry.split('/');
      const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
      if (!net.isIP(address)) throw new RangeError(`access.allow: ${entry} is not an address or a network`);
      if (prefix === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, Number(prefix), family);
    }
    this.requireReservedPort = options.requireReservedPort;
  }

  /** Undefined when the peer may connect, else the reason (for the message and the log). */
  refuse(peer: Peer): string | undefined {
    let address = peer.address;
    if (address.startsWith('::ffff:')) address = address.slice(7);
    const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
    if (!this.list.check(address, family)) {
      return `host ${address} is not in the agent's allowlist (setting agent.access.allow)`;
    }
    if (this.requireReservedPort && peer.port >= 1024) {
      return `the agent requires a reserved source port (below 1024; run the client as root), got ${peer.port}`;
    }
    return undefined;
  }
}
