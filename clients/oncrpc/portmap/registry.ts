/**
 * The embedded portmapper's table of registrations, kept in rpcbind's form
 * (program, version, netid, universal address, owner) and shown to portmap v2
 * callers as (program, version, protocol, port).
 */
import {
  fromUniversalAddress,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type Mapping,
  type Rpcb,
  toUniversalAddress,
} from './protocol.js';

const NETID_PROTO: Record<string, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP };
const PROTO_NETID: Record<number, string> = { [IPPROTO_TCP]: 'tcp', [IPPROTO_UDP]: 'udp' };

/** Registrations kept at most: past this, SET answers false (DUMP must stay answerable). */
export const MAX_REGISTRATIONS = 1024;

export class PortmapRegistry {
  private readonly entries: Rpcb[] = [];
  /** The address portmap v2 registrations (which carry only a port) are reachable at. */
  private readonly host: string;

  constructor(host = '127.0.0.1') {
    this.host = host;
  }

  set(entry: Rpcb): boolean {
    if (this.entries.length >= MAX_REGISTRATIONS) return false;
    if (this.entries.some((e) => e.prog === entry.prog && e.vers === entry.vers && e.netid === entry.netid))
      return false;
    this.entries.push({ ...entry });
    return true;
  }

  /** Remove (prog, vers) for one netid, or for every netid when netid is empty. */
  unset(prog: number, vers: number, netid: string): boolean {
    let removed = false;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      if (e.prog === prog && e.vers === vers && (netid === '' || e.netid === netid)) {
        this.entries.splice(i, 1);
        removed = true;
      }
    }
    return removed;
  }

  /**
   * RPCBPROC_GETADDR: the address of (prog, vers) on netid, or "" when none.
   * As rpcbind does, a version that is not registered falls back to another
   * version of the same program, so the caller's next call learns the supported
   * range from PROG_MISMATCH (`rpcinfo -t host prog` asks for version 0).
   */
  getAddr(prog: number, vers: number, netid: string): string {
    const candidates = this.entries.filter((e) => e.prog === prog && (netid === '' || e.netid === netid));
    return (candidates.find((e) => e.vers === vers) ?? candidates[0])?.addr ?? '';
  }

  /** PMAPPROC_GETPORT: the port of (prog, vers, prot), with GETADDR's version fallback; 0 when unknown. */
  getPort(prog: number, vers: number, prot: number): number {
    const netid = PROTO_NETID[prot];
    if (!netid) return 0;
    const addr = this.getAddr(prog, vers, netid);
    return addr ? (fromUniversalAddress(addr)?.port ?? 0) : 0;
  }

  setMapping(m: Mapping, owner: string): boolean {
    const netid = PROTO_NETID[m.prot];
    if (!netid) return false;
    return this.set({ prog: m.prog, vers: m.vers, netid, addr: toUniversalAddress(this.host, m.port), owner });
  }

  dump(): Rpcb[] {
    return this.entries.map((e) => ({ ...e }));
  }

  /** The portmap v2 view: only TCP and UDP entries have a protocol number. */
  mappings(): Mapping[] {
    const out: Mapping[] = [];
    for (const e of this.entries) {
      const prot = NETID_PROTO[e.netid];
      const a = fromUniversalAddress(e.addr);
      if (prot && a) out.push({ prog: e.prog, vers: e.vers, prot, port: a.port });
    }
    return out;
  }
}
