/**
 * The portmapper's contract: portmap version 2 (RFC 1833 §3, what SunOS-era
 * clients ask) and rpcbind versions 3 and 4 (RFC 1833 §2, what libtirpc's
 * clnt_create() asks). Program 100000 on port 111.
 */
import { x } from '../xdr/index.js';

export const PMAP_PROG = 100000;
export const PMAP_PORT = 111;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export const PmapProc = { NULL: 0, SET: 1, UNSET: 2, GETPORT: 3, DUMP: 4, CALLIT: 5 } as const;
export const RpcbProc = {
  NULL: 0,
  SET: 1,
  UNSET: 2,
  GETADDR: 3,
  DUMP: 4,
  CALLIT: 5,
  GETTIME: 6,
  UADDR2TADDR: 7,
  TADDR2UADDR: 8,
  GETVERSADDR: 9,
  INDIRECT: 10,
  GETADDRLIST: 11,
  GETSTAT: 12,
} as const;

/** struct mapping { unsigned prog; unsigned vers; unsigned prot; unsigned port; } */
export const mapping = x.struct('mapping', [
  ['prog', x.uint],
  ['vers', x.uint],
  ['prot', x.uint],
  ['port', x.uint],
]);
export type Mapping = x.Infer<typeof mapping>;

/** struct pmaplist { mapping map; pmaplist *next; } as returned by PMAPPROC_DUMP. */
export const pmaplist = x.list(mapping, 100_000);

/** struct rpcb { prog; vers; string r_netid<>; string r_addr<>; string r_owner<>; } */
export const rpcb = x.struct('rpcb', [
  ['prog', x.uint],
  ['vers', x.uint],
  ['netid', x.string(255)],
  ['addr', x.string(255)],
  ['owner', x.string(255)],
]);
export type Rpcb = x.Infer<typeof rpcb>;

/** rp__list, the linked list RPCBPROC_DUMP returns. */
export const rpcblist = x.list(rpcb, 100_000);

/** rpcb_entry for RPCBPROC_GETADDRLIST. */
export const rpcbEntry = x.struct('rpcb_entry', [
  ['maddr', x.string(255)],
  ['netid', x.string(255)],
  ['semantics', x.uint],
  ['protofmly', x.string(255)],
  ['proto', x.string(255)],
]);
export const rpcbEntryList = x.list(rpcbEntry, 100_000);

/** "127.0.0.1.3.233" ⇄ host 127.0.0.1, port 1001 (RFC 1833 universal addresses). */
export function toUniversalAddress(host: string, port: number): string {
  return `${host}.${port >> 8}.${port & 0xff}`;
}

export function fromUniversalAddress(uaddr: string): { host: string; port: number } | undefined {
  const parts = uaddr.split('.');
  if (parts.length < 3) return undefined;
  const hi = Number(parts[parts.length - 2]);
  const lo = Number(parts[parts.length - 1]);
  if (!Number.isInteger(hi) || !Number.isInteger(lo) || hi < 0 || hi > 255 || lo < 0 || lo > 255) return undefined;
  return { host: parts.slice(0, -2).join('.'), port: (hi << 8) | lo };
}
