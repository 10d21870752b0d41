/**
 * The ceph.conf of the one-node Ceph cluster behind the local S3 (see rgw.ts), and
 * where each of its parts lives under the cluster's directory.
 *
 * The settings that are not obvious, and what goes wrong without them:
 *  - `auth * required = none` keeps the cluster keyless: nothing to bootstrap, nothing to
 *    leak. But with auth none, every `ms_*_mode` must be `crc`: the default modes
 *    (`secure crc` towards the monitor) make radosgw's client fail its auth request over and
 *    over (`send_auth_request ... returned -13` in its log), and radosgw then hangs until
 *    rgw_init_timeout (300 s) instead of serving.
 *  - `public addr`/`cluster addr` = 127.0.0.1: without them the OSD listens on 0.0.0.0
 *    (the monitor's address comes from the monmap). `ms bind msgr1 = false`: msgr2 only,
 *    fewer ports per daemon.
 *  - `osd pool default size/min size = 1`, `mon allow pool size one`: the one OSD holds
 *    every pool's only copy (at the default size 3/min size 2, one OSD leaves every PG
 *    below min size: inactive, and every write blocks). `osd crush chooseleaf type = 0`
 *    spreads replicas over OSDs instead of hosts, should a pool ever ask for two; it is
 *    read when the monitor is created (the initial CRUSH rule).
 *  - `osd pool default pg num = 8` with the autoscaler off: radosgw creates 7 pools; at
 *    the default 32 PGs each they take 224 of the 250 PGs one OSD may hold
 *    (`mon_max_pg_per_osd`), so any further pool (a storage class, a second placement
 *    target) would be refused. At 8 each: 56 PGs, and less for one OSD to peer.
 *  - `mon data avail warn/crit` lowered to 2/1 %: the defaults (30/5 %) make the monitor
 *    warn, then shut itself down, on an ordinary developer disk that is merely full-ish.
 *  - `osd memory target` = 1 GiB (the default is 4 GiB of cache the OSD grows into).
 *  - the OSD's BlueStore sits on a sparse block file (`bluestore block create`, size
 *    fixed at mkfs) that it opens with O_DIRECT. Kernels before 6.6 refuse O_DIRECT on
 *    tmpfs; newer ones accept it, but the "disk" would then live in RAM and vanish at
 *    reboot. So the directory must be on a real filesystem (ext4, xfs...): rgw.ts refuses
 *    tmpfs/ramfs by type and probes O_DIRECT before anything else.
 *  - every daemon writes its pid file, admin socket and log under the directory, so
 *    several clusters (one per test directory) can run side by side; the OSD takes free
 *    ports in ceph's 6800-7300 range, the monitor a free port picked at the cold start
 *    (it is in the monmap, so it never changes), radosgw the port asked for.
 */
import path from 'node:path';

export const MON_ID = 'a';
export const OSD_ID = 0;
export const RGW_NAME = 'client.rgw';

/** Longest admin socket path a sockaddr_un takes (108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

export interface CephPaths {
  dir: string;
  conf: string;
  monmap: string;
  monData: string;
  osdData: string;
  rgwData: string;
  run: string;
  log: string;
  state: string;
  lock: string;
}

export function cephPaths(dir: string): CephPaths {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    conf: path.join(abs, 'ceph.conf'),
    monmap: path.join(abs, 'monmap'),
    monData: path.join(abs, 'mon', MON_ID),
    osdData: path.join(abs, 'osd', String(OSD_ID)),
    rgwData: path.join(abs, 'rgw'),
    run: path.join(abs, 'run'),
    log: path.join(abs, 'log'),
    state: path.join(abs, 'rgw.json'),
    lock: path.join(abs, 'rgw.lock'),
  };
}

export interface CephConfOptions {
  fsid: string;
  monPort: number;
  rgwPort: number;
  /** Size of the OSD's sparse block file; only read by `ceph-osd --mkfs`. */
  blockSizeBytes: number;
}

export function cephConf(p: CephPaths, o: CephConfOptions): string {
  // `$name` is expanded by ceph itself: mon.a, osd.0, client.rgw, client.admin...
  const longest = path.join(p.run, `${RGW_NAME}.asok`);
  const adminSocket = longest.length <= MAX_SOCKET_PATH ? path.join(p.run, '$name.asok') : '';
  return `# Written by infra/rgw/rgw.ts at every start: edits here are lost.
[global]
fsid = ${o.fsid}
mon host = v2:127.0.0.1:${o.monPort}
mon initial members = ${MON_ID}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
ms cluster mode = crc
ms service mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms mon client mode = crc
keyring = /dev/null
run dir = ${p.run}
pid file = ${path.join(p.run, '$name.pid')}
admin socket = ${adminSocket}
log file = ${path.join(p.log, '$name.log')}
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 2
mon data avail crit = 1

[mon]
mon data = ${path.join(path.dirname(p.monData), '$id')}

[osd]
osd data = ${path.join(path.dirname(p.osdData), '$id')}
osd objectstore = bluestore
bluestore block create = true
bluestore block size = ${o.blockSizeBytes}
osd memory target = 1073741824

[${RGW_NAME}]
rgw frontends = beast endpoint=127.0.0.1:${o.rgwPort}
rgw data = ${p.rgwData}
`;
}
