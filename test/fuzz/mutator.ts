/**
 * The RPC server fuzzer, shared by the bounded in-suite test
 * (rpc-fuzz.test.ts) and the long run (long-run.ts, `npm run fuzz`).
 *
 * Real calls are recorded as bytes (an RpcClient talks to the test server
 * through a recording TCP proxy, so the seeds and their replies are exactly
 * what goes on the wire), then mutated: truncations, 0xFFFFFFFF lengths, bad
 * credential flavors and AUTH_SYS bodies, bool 2, odd fragmentation, garbage
 * after a valid record, random byte flips, oversized and zero-length
 * fragments. Every case is derived from (seed, case number) by a seeded PRNG,
 * so a failure reproduces from the two numbers printed with it.
 *
 * Properties checked: the process sees no uncaught exception; every faulty
 * connection gets well-formed replies (the exact bytes, where the right answer
 * is known) or is closed; memory stays bounded; and a well-behaved client on
 * its own connection gets correct answers throughout.
 */
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  AcceptStat,
  AuthStat,
  type Credentials,
  type Logger,
  RpcClient,
  RpcServer,
  writeAcceptedHeader,
  writeAuthError,
  writeProgMismatch,
  writeRpcMismatch,
  XdrWriter,
  x,
} from '../../clients/oncrpc/index.js';
import {
  addArgs,
  authSysBody,
  frame,
  header,
  newCounters,
  Proc,
  parseReply,
  RawConnection,
  RecordSplitter,
  STRICT_PROG,
  TEST_PROG,
  testPrograms,
  whoami,
} from '../oncrpc/rpc-test-kit.js';

// ---------------------------------------------------------------- PRNG

/** sfc32: small, fast, and good enough; every case gets its own stream. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = 0x9e3779b9;
    this.b = seed >>> 0;
    this.c = stream >>> 0;
    this.d = (seed ^ 0x5bd1e995 ^ Math.imul(stream, 0x27d4eb2f)) >>> 0;
    for (let i = 0; i < 16; i++) this.next();
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 2 ** 32) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }

  /** A uint32 that is often an edge value. */
  edgy(): number {
    return this.chance(0.5) ? this.pick([0, 1, 2, 3, 4, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]) : this.next();
  }
}

export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

// ---------------------------------------------------------------- seeds

export interface Seed {
  name: string;
  /** The CALL record as the client sent it (without record marking). */
  body: Buffer;
  /** The reply record the server gave it. */
  reply: Buffer;
  layout: Layout;
}

/** Where the fields of a recorded CALL are. */
export interface Layout {
  prog: number;
  vers: number;
  proc: number;
  credFlavor: number;
  credLen: number;
  /** Offset of the credential body. */
  credBody: number;
  verfFlavorOff: number;
  verfLenOff: number;
  argsOff: number;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

export function layoutOf(body: Buffer): Layout {
  const credLen = body.readUInt32BE(28);
  const verfFlavorOff = 32 + pad4(credLen);
  const verfLen = body.readUInt32BE(verfFlavorOff + 4);
  return {
    prog: body.readUInt32BE(12),
    vers: body.readUInt32BE(16),
    proc: body.readUInt32BE(20),
    credFlavor: body.readUInt32BE(24),
    credLen,
    credBody: 32,
    verfFlavorOff,
    verfLenOff: verfFlavorOff + 4,
    argsOff: verfFlavorOff + 8 + pad4(verfLen),
  };
}

const SYS: Credentials = {
  flavor: 'sys',
  stamp: 0x5eed,
  machineName: 'fuzz-host',
  uid: 1000,
  gid: 100,
  gids: [100, 4, 24],
};
const SYS_MAX: Credentials = {
  flavor: 'sys',
  stamp: 0xffffffff,
  machineName: 'm'.repeat(255),
  uid: 0xfffffffe,
  gid: 0,
  gids: Array.from({ length: 16 }, (_, i) => 1000 + i),
};

/**
 * Record real calls: RpcClients (AUTH_NONE and AUTH_SYS) talk to `port` through
 * a proxy that keeps every record each way.
 */
export async function recordSeeds(port: number): Promise<Seed[]> {
  const requests: Buffer[] = [];
  const replies: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((inbound) => {
    const outbound = net.connect({ port, host: '127.0.0.1' });
    sockets.add(inbound);
    sockets.add(outbound);
    const up = new RecordSplitter();
    const down = new RecordSplitter();
    inbound.on('data', (c: Buffer) => {
      for (const r of up.push(c)) requests.push(Buffer.from(r));
      outbound.write(c);
    });
    outbound.on('data', (c: Buffer) => {
      for (const r of down.push(c)) replies.push(Buffer.from(r));
      inbound.write(c);
    });
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyPort = (proxy.address() as net.AddressInfo).port;
  const connect = (credentials: Credentials) =>
    RpcClient.connect({ host: '127.0.0.1', port: proxyPort, credentials, timeoutMs: 5000 });
  const none = await connect({ flavor: 'none' });
  const sys = await connect(SYS);
  const sysMax = await connect(SYS_MAX);
  const names: string[] = [];
  const plan: [string, () => Promise<unknown>][] = [
    ['NULL', () => none.call(TEST_PROG, 1, Proc.NULL, x.xvoid, undefined, x.xvoid)],
    ['ECHO small', () => none.call(TEST_PROG, 1, Proc.ECHO, x.opaque(), Buffer.from('hello, archive'), x.opaque())],
    ['ECHO empty', () => none.call(TEST_PROG, 1, Proc.ECHO, x.opaque(), Buffer.alloc(0), x.opaque())],
    ['ECHO 3 KiB', () => none.call(TEST_PROG, 1, Proc.ECHO, x.opaque(), Buffer.alloc(3000, 0xa5), x.opaque())],
    ['ECHO16', () => none.call(TEST_PROG, 1, Proc.ECHO16, x.opaque(16), Buffer.from('sixteen bytes!!!'), x.opaque(16))],
    ['FLAG', () => none.call(TEST_PROG, 1, Proc.FLAG, x.bool, true, x.bool)],
    ['ADD', () => none.call(TEST_PROG, 1, Proc.ADD, addArgs, { a: 123456, b: -7 }, x.int)],
    ['BIG', () => none.call(TEST_PROG, 1, Proc.BIG, x.uint, 5000, x.opaque())],
    ['DELAY', () => none.call(TEST_PROG, 1, Proc.DELAY, x.uint, 2, x.uint)],
    ['THROW', () => none.call(TEST_PROG, 1, Proc.THROW, x.xvoid, undefined, x.xvoid).catch(() => {})],
    ['REJECT', () => none.call(TEST_PROG, 1, Proc.REJECT, x.xvoid, undefined, x.xvoid).catch(() => {})],
    ['NULL v3', () => none.call(TEST_PROG, 3, Proc.NULL, x.xvoid, undefined, x.xvoid)],
    ['sys NULL', () => sys.call(TEST_PROG, 1, Proc.NULL, x.xvoid, undefined, x.xvoid)],
    ['sys WHOAMI', () => sys.call(TEST_PROG, 1, Proc.WHOAMI, x.xvoid, undefined, whoami)],
    ['sys ECHO', () => sys.call(TEST_PROG, 1, Proc.ECHO, x.opaque(), Buffer.from('with credentials'), x.opaque())],
    ['sys FLAG', () => sys.call(TEST_PROG, 1, Proc.FLAG, x.bool, false, x.bool)],
    ['sys strict WHOAMI', () => sys.call(STRICT_PROG, 1, Proc.WHOAMI, x.xvoid, undefined, whoami)],
    ['sys-max WHOAMI', () => sysMax.call(TEST_PROG, 1, Proc.WHOAMI, x.xvoid, undefined, whoami)],
    ['sys-max ECHO', () => sysMax.call(TEST_PROG, 1, Proc.ECHO, x.opaque(), Buffer.alloc(77, 0x42), x.opaque())],
    ['sys-max strict NULL', () => sysMax.call(STRICT_PROG, 1, Proc.NULL, x.xvoid, undefined, x.xvoid)],
  ];
  try {
    for (const [name, call] of plan) {
      names.push(name);
      await call();
    }
    // Replies travel back through the proxy's own reads: wait for the last one.
    const deadline = Date.now() + 5000;
    while (replies.length < plan.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  } finally {
    for (const c of [none, sys, sysMax]) c.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
  if (requests.length !== plan.length || replies.length !== plan.length) {
    throw new Error(`recorded ${requests.length} calls and ${replies.length} replies for ${plan.length} calls`);
  }
  return names.map((name, i) => ({ name, body: requests[i], reply: replies[i], layout: layoutOf(requests[i]) }));
}

// ---------------------------------------------------------------- cases

/** What a case must produce. */
export interface Expectation {
  /** These reply records, byte for byte and in order, first. */
  replies: Buffer[];
  /**
   * Then: 'open' — nothing else and the connection stays open; 'close' — the
   * server closes the connection itself (not by idling out), with nothing else;
   * 'any' — more well-formed replies may come, and the server closes or idles out.
   *
   * With 'close' and 'any', a protocol violation in the same read as an earlier
   * valid record may close the connection before that record is answered: then
   * the replies received must be a prefix of `replies`.
   */
  after: 'open' | 'close' | 'any';
}

export interface FuzzCase {
  index: number;
  kind: string;
  seed: string;
  /** Written in order; each is one socket write. */
  writes: Buffer[];
  expect: Expectation;
}

function withXid(record: Buffer, xid: number): Buffer {
  const out = Buffer.from(record);
  out.writeUInt32BE(xid >>> 0, 0);
  return out;
}

function replyBytes(write: (w: XdrWriter) => void): Buffer {
  const w = new XdrWriter(64);
  write(w);
  return w.toBuffer();
}

const garbageArgs = (xid: number) => replyBytes((w) => writeAcceptedHeader(w, xid, AcceptStat.GARBAGE_ARGS));
const badCred = (xid: number) => replyBytes((w) => writeAuthError(w, xid, AuthStat.AUTH_BADCRED));
const tooWeak = (xid: number) => replyBytes((w) => writeAuthError(w, xid, AuthStat.AUTH_TOOWEAK));
const rpcMismatch = (xid: number) => replyBytes((w) => writeRpcMismatch(w, xid));
const progUnavail = (xid: number) => replyBytes((w) => writeAcceptedHeader(w, xid, AcceptStat.PROG_UNAVAIL));
const procUnavail = (xid: number) => replyBytes((w) => writeAcceptedHeader(w, xid, AcceptStat.PROC_UNAVAIL));
const progMismatch = (xid: number, lo: number, hi: number) => replyBytes((w) => writeProgMismatch(w, xid, lo, hi));

function setU32(body: Buffer, off: number, v: number): Buffer {
  const out = Buffer.from(body);
  out.writeUInt32BE(v >>> 0, off);
  return out;
}

/** The call with its credential body replaced (the length and padding follow). */
function replaceCred(body: Buffer, l: Layout, flavor: number, cred: Buffer): Buffer {
  const w = new XdrWriter(64);
  w.uint(flavor >>> 0);
  w.opaque(cred);
  return Buffer.concat([body.subarray(0, 24), w.toBuffer(), body.subarray(l.verfFlavorOff)]);
}

/** Random fragment sizes that cover `n` bytes (the last fragment gets the rest, maybe nothing). */
function randomFragments(rng: Prng, n: number): number[] {
  const sizes: number[] = [];
  let left = n;
  for (let i = 0; i < 200 && left > 0; i++) {
    const s = rng.range(1, Math.max(1, Math.min(left, rng.chance(0.5) ? 8 : 512)));
    if (s >= left && rng.chance(0.5)) break; // let the last fragment carry the rest
    sizes.push(s);
    left -= s;
  }
  return sizes;
}

/** Split bytes into 1..k socket writes at random points. */
function randomWrites(rng: Prng, bytes: Buffer, maxWrites = 12): Buffer[] {
  const n = rng.range(1, maxWrites);
  if (n === 1 || bytes.length < 2) return [bytes];
  const cuts = new Set<number>();
  for (let i = 0; i < n - 1; i++) cuts.add(rng.range(1, bytes.length - 1));
  const sorted = [...cuts].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of sorted) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}

const SERVED: Record<number, number[]> = { [TEST_PROG]: [1, 3], [STRICT_PROG]: [1] };
const PROCS: Record<string, number[]> = {
  [`${TEST_PROG}/1`]: Object.values(Proc),
  [`${TEST_PROG}/3`]: [Proc.NULL],
  [`${STRICT_PROG}/1`]: [Proc.NULL, Proc.WHOAMI],
};

export const MAX_RECORD = 1024 * 1024;

type Generator = (rng: Prng, seeds: Seed[]) => { kind: string; seed: string; writes: Buffer[]; expect: Expectation };

const pickWhere = (rng: Prng, seeds: Seed[], pred: (s: Seed) => boolean) => rng.pick(seeds.filter(pred));
const hasArgs = (s: Seed) => s.layout.argsOff < s.body.length;
/** Answered synchronously: its reply is written before the server reads further. */
const isSync = (s: Seed) => s.name !== 'DELAY' && s.name !== 'REJECT';
const isSys = (s: Seed) => s.layout.credFlavor === 1;

const GENERATORS: [weight: number, gen: Generator][] = [
  // Odd fragmentation of a valid call: the exact recorded reply.
  [
    10,
    (rng, seeds) => {
      const s = rng.pick(seeds);
      const xid = rng.edgy();
      const body = setU32(s.body, 0, xid);
      const oneByte = rng.chance(0.3);
      const sizes = oneByte ? Array(body.length).fill(1) : randomFragments(rng, body.length);
      const bytes = frame(body, sizes);
      return {
        kind: oneByte ? 'one-byte-fragments' : 'random-fragments',
        seed: s.name,
        writes: randomWrites(rng, bytes),
        expect: { replies: [withXid(s.reply, xid)], after: 'open' },
      };
    },
  ],
  // Several valid calls in one stream.
  [
    6,
    (rng, seeds) => {
      const n = rng.range(2, 12);
      const parts: Buffer[] = [];
      const replies: Buffer[] = [];
      const names: string[] = [];
      for (let i = 0; i < n; i++) {
        const s = rng.pick(seeds);
        const xid = rng.edgy();
        const body = setU32(s.body, 0, xid);
        parts.push(rng.chance(0.3) ? frame(body, randomFragments(rng, body.length)) : frame(body));
        replies.push(withXid(s.reply, xid));
        names.push(s.name);
      }
      return {
        kind: 'pipelined',
        seed: names.join(' + '),
        writes: randomWrites(rng, Buffer.concat(parts)),
        expect: { replies, after: 'open' },
      };
    },
  ],
  // Truncated records, framed as they are: a cut header closes, cut arguments are GARBAGE_ARGS.
  [
    8,
    (rng, seeds) => {
      const s = rng.pick(seeds);
      const cut = rng.int(s.body.length);
      const body = s.body.subarray(0, cut);
      const xid = s.body.readUInt32BE(0);
      if (cut < s.layout.argsOff) {
        return {
          kind: 'truncated-header',
          seed: s.name,
          writes: [frame(body)],
          expect: { replies: [], after: 'close' },
        };
      }
      return {
        kind: 'truncated-args',
        seed: s.name,
        writes: [frame(body)],
        expect: { replies: [garbageArgs(xid)], after: 'open' },
      };
    },
  ],
  // A record whose bytes stop arriving: no answer; the idle timeout ends it.
  [
    3,
    (rng, seeds) => {
      const s = rng.pick(seeds);
      const framed = frame(s.body);
      return {
        kind: 'truncated-stream',
        seed: s.name,
        writes: [framed.subarray(0, rng.range(1, framed.length - 1))],
        expect: { replies: [], after: 'any' },
      };
    },
  ],
  // 0xFFFFFFFF (or another impossible value) in a length field.
  [
    8,
    (rng, seeds) => {
      const v = rng.chance(0.6) ? 0xffffffff : rng.range(0x10000, 0xffffffff);
      const where = rng.pick(['cred', 'verf', 'args', 'authsys-name', 'authsys-gids'] as const);
      if (where === 'cred' || where === 'verf') {
        const s = rng.pick(seeds);
        const off = where === 'cred' ? 28 : s.layout.verfLenOff;
        return {
          kind: `huge-length-${where}`,
          seed: s.name,
          writes: [frame(setU32(s.body, off, v))],
          expect: { replies: [], after: 'close' },
        };
      }
      if (where === 'args') {
        const s = pickWhere(rng, seeds, (s) => s.layout.proc === Proc.ECHO || s.layout.proc === Proc.ECHO16);
        return {
          kind: 'huge-length-opaque',
          seed: s.name,
          writes: [frame(setU32(s.body, s.layout.argsOff, v))],
          expect: { replies: [garbageArgs(s.body.readUInt32BE(0))], after: 'open' },
        };
      }
      const s = pickWhere(rng, seeds, isSys);
      const nameLen = s.body.readUInt32BE(s.layout.credBody + 4);
      const off = where === 'authsys-name' ? s.layout.credBody + 4 : s.layout.credBody + 8 + pad4(nameLen) + 8;
      return {
        kind: `huge-length-${where}`,
        seed: s.name,
        writes: [frame(setU32(s.body, off, v))],
        expect: { replies: [badCred(s.body.readUInt32BE(0))], after: 'open' },
      };
    },
  ],
  // Credential flavors other than AUTH_NONE and AUTH_SYS.
  [
    5,
    (rng, seeds) => {
      const s = rng.pick(seeds);
      let flavor = rng.edgy();
      if (flavor <= 1) flavor = rng.pick([2, 3, 6, 390003]);
      const body = rng.chance(0.5)
        ? setU32(s.body, 24, flavor)
        : replaceCred(s.body, s.layout, flavor, rng.bytes(rng.int(401)));
      return {
        kind: 'bad-flavor',
        seed: s.name,
        writes: [frame(body)],
        expect: { replies: [badCred(s.body.readUInt32BE(0))], after: 'open' },
      };
    },
  ],
  // Malformed AUTH_SYS bodies.
  [
    8,
    (rng, seeds) => {
      const s = rng.pick(seeds);
      const xid = s.body.readUInt32BE(0);
      const base = { stamp: rng.next(), machineName: 'h', uid: rng.next(), gid: rng.next(), gids: [1, 2] };
      const variant = rng.pick(['17-gids', 'long-name', 'truncated', 'trailing', 'random'] as const);
      let cred: Buffer;
      switch (variant) {
        case '17-gids':
          cred = authSysBody({ ...base, gids: Array.from({ length: rng.range(17, 60) }, () => rng.next()) });
          break;
        case 'long-name':
          cred = authSysBody({ ...base, machineName: rng.bytes(rng.range(256, 380)) });
          break;
        case 'truncated': {
          const full = authSysBody({ ...base, gids: Array.from({ length: rng.int(17) }, () => rng.next()) });
          cred = full.subarray(0, rng.int(full.length));
          break;
        }
        case 'trailing':
          cred = Buffer.concat([authSysBody(base), rng.bytes(rng.range(1, 40))]);
          break;
        default:
          cred = rng.bytes(rng.int(401));
      }
      if (cred.length > 400) cred = cred.subarray(0, 400);
      const body = replaceCred(s.body, s.layout, 1, cred);
      // Random bytes could, however unlikely, be a valid AUTH_SYS body.
      const expect: Expectation =
        variant === 'random' ? { replies: [], after: 'any' } : { replies: [badCred(xid)], after: 'open' };
      return { kind: `bad-authsys-${variant}`, seed: s.name, writes: [frame(body)], expect };
    },
  ],
  // A bool that is neither 0 nor 1.
  [
    3,
    (rng, seeds) => {
      const s = pickWhere(rng, seeds, (s) => s.layout.proc === Proc.FLAG);
      let v = rng.edgy();
      if (v <= 1) v = 2;
      return {
        kind: 'bool-2',
        seed: s.name,
        writes: [frame(setU32(s.body, s.layout.argsOff, v))],
        expect: { replies: [garbageArgs(s.body.readUInt32BE(0))], after: 'open' },
      };
    },
  ],
  // Header fields: rpcvers, message type, program, version, procedure.
  [
    6,
    (rng, seeds) => {
      const s = rng.pick(seeds);
      const xid = s.body.readUInt32BE(0);
      const l = s.layout;
      const field = rng.pick(['rpcvers', 'mtype', 'prog', 'vers', 'proc'] as const);
      const v = rng.edgy();
      let expect: Expectation;
      const ok = (r: Buffer): Expectation => ({ replies: [r], after: 'open' });
      const authFails = l.prog === STRICT_PROG && l.credFlavor !== 1;
      switch (field) {
        case 'rpcvers':
          expect = v === 2 ? ok(s.reply) : ok(rpcMismatch(xid));
          return { kind: 'rpcvers', seed: s.name, writes: [frame(setU32(s.body, 8, v))], expect };
        case 'mtype':
          expect = v === 0 ? ok(s.reply) : { replies: [], after: 'close' };
          return { kind: 'msg-type', seed: s.name, writes: [frame(setU32(s.body, 4, v))], expect };
        case 'prog': {
          const versions = SERVED[v];
          if (!versions) expect = ok(progUnavail(xid));
          else expect = { replies: [], after: 'any' };
          return { kind: 'prog', seed: s.name, writes: [frame(setU32(s.body, 12, v))], expect };
        }
        case 'vers': {
          const versions = SERVED[l.prog];
          if (versions.includes(v)) expect = { replies: [], after: 'any' };
          else expect = ok(progMismatch(xid, Math.min(...versions), Math.max(...versions)));
          return { kind: 'vers', seed: s.name, writes: [frame(setU32(s.body, 16, v))], expect };
        }
        default: {
          const procs = PROCS[`${l.prog}/${l.vers}`];
          if (authFails) expect = ok(tooWeak(xid));
          else if (procs.includes(v)) expect = { replies: [], after: 'any' };
          else expect = ok(procUnavail(xid));
          return { kind: 'proc', seed: s.name, writes: [frame(setU32(s.body, 20, v))], expect };
        }
      }
    },
  ],
  // A valid record, then garbage: the first reply is exact, the rest is anything well-formed, or a close.
  [
    8,
    (rng, seeds) => {
      const s = pickWhere(rng, seeds, isSync);
      const tail = rng.chance(0.3) ? frame(rng.bytes(rng.range(1, 200))) : rng.bytes(rng.range(1, 300));
      return {
        kind: 'garbage-after',
        seed: s.name,
        writes: randomWrites(rng, Buffer.concat([frame(s.body), tail]), 4),
        expect: { replies: [s.reply], after: 'any' },
      };
    },
  ],
  // Random byte flips anywhere in one or more records, record marks included.
  [
    14,
    (rng, seeds) => {
      const n = rng.range(1, 3);
      const records = Array.from({ length: n }, () => rng.pick(seeds));
      const bytes = Buffer.concat(records.map((s) => frame(s.body)));
      const flips = rng.range(1, 8);
      for (let i = 0; i < flips; i++) {
        const at = rng.int(bytes.length);
        bytes[at] = rng.chance(0.5) ? bytes[at] ^ (1 << rng.int(8)) : rng.next() & 0xff;
      }
      return {
        kind: 'byte-flips',
        seed: records.map((s) => s.name).join(' + '),
        writes: randomWrites(rng, bytes, 4),
        expect: { replies: [], after: 'any' },
      };
    },
  ],
  // Pure noise.
  [
    3,
    (rng) => ({
      kind: 'noise',
      seed: '-',
      writes: [rng.bytes(rng.range(1, 600))],
      expect: { replies: [], after: 'any' },
    }),
  ],
  // A record mark claiming more than the maximum record size.
  [
    3,
    (rng, seeds) => {
      const s = pickWhere(rng, seeds, isSync);
      const before = rng.chance(0.5);
      const claim = rng.range(MAX_RECORD + 1, 0x7fffffff);
      const bad = Buffer.concat([header(claim, rng.chance(0.5)), rng.bytes(rng.int(64))]);
      return {
        kind: 'oversized-record',
        seed: s.name,
        writes: before ? [frame(s.body), bad] : [bad],
        expect: { replies: before ? [s.reply] : [], after: 'close' },
      };
    },
  ],
  // A zero-length fragment that is not the last.
  [
    3,
    (rng, seeds) => {
      const s = pickWhere(rng, seeds, isSync);
      const sizes = randomFragments(rng, s.body.length);
      const framed = frame(s.body, sizes);
      // Insert the empty fragment at a fragment boundary of the second copy.
      const boundaries = [0];
      let pos = 0;
      for (const size of sizes) {
        pos += 4 + size;
        boundaries.push(pos);
      }
      const at = rng.pick(boundaries.filter((b) => b < framed.length));
      const bytes = Buffer.concat([frame(s.body), framed.subarray(0, at), header(0, false), framed.subarray(at)]);
      return {
        kind: 'zero-length-fragment',
        seed: s.name,
        writes: randomWrites(rng, bytes, 3),
        expect: { replies: [s.reply], after: 'close' },
      };
    },
  ],
  // Large, valid echoes up to the record limit, in random fragments.
  [
    1,
    (rng, seeds) => {
      const s = pickWhere(rng, seeds, (s) => s.name === 'ECHO small');
      const data = rng.bytes(rng.range(1, MAX_RECORD - 200));
      const w = new XdrWriter(64);
      w.opaque(data);
      const body = Buffer.concat([s.body.subarray(0, s.layout.argsOff), w.toBuffer()]);
      const reply = Buffer.concat([s.reply.subarray(0, 24), w.toBuffer()]);
      return {
        kind: 'large-echo',
        seed: s.name,
        writes: randomWrites(rng, frame(body, rng.chance(0.5) ? randomFragments(rng, body.length) : [])),
        expect: { replies: [reply], after: 'open' },
      };
    },
  ],
  // Verifier of another flavor or length: not checked for AUTH_NONE/AUTH_SYS calls, but must be well-formed.
  [
    2,
    (rng, seeds) => {
      const s = pickWhere(rng, seeds, hasArgs);
      const body = setU32(s.body, s.layout.verfFlavorOff, rng.edgy());
      return { kind: 'verifier', seed: s.name, writes: [frame(body)], expect: { replies: [], after: 'any' } };
    },
  ],
];

const TOTAL_WEIGHT = GENERATORS.reduce((n, [w]) => n + w, 0);

/** Case `index` of run `seed`: the same two numbers always give the same bytes. */
export function makeCase(seed: number, index: number, seeds: Seed[]): FuzzCase {
  const rng = new Prng(seed, index + 1);
  let r = rng.int(TOTAL_WEIGHT);
  let gen = GENERATORS[0][1];
  for (const [w, g] of GENERATORS) {
    if (r < w) {
      gen = g;
      break;
    }
    r -= w;
  }
  return { index, ...gen(rng, seeds) };
}

// ---------------------------------------------------------------- running

/** Counts log lines; remembers peers closed for idleness (to tell them from protocol closes). */
class FuzzLogger implements Logger {
  readonly counts = new Map<string, number>();
  /** peer → when the server closed it for idleness. */
  readonly idlePeers = new Map<string, number>();
  private bump(msg: string): void {
    this.counts.set(msg, (this.counts.get(msg) ?? 0) + 1);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.bump(msg);
    if (msg === 'closing idle connection' && typeof fields?.peer === 'string') {
      this.idlePeers.set(fields.peer, Date.now());
    }
  }
  warn(msg: string): void {
    this.bump(msg);
  }
  error(msg: string): void {
    this.bump(msg);
  }
}

export interface FuzzFailure {
  seed: number;
  case: number;
  kind: string;
  from: string;
  message: string;
  /** The bytes sent, in hex (cut at 512 bytes). */
  bytes: string;
}

export interface FuzzOptions {
  seed: number;
  maxCases: number;
  maxMs: number;
  /** Cases run at once (default 32). */
  concurrency?: number;
  /** Run only these case numbers (to reproduce a failure). */
  only?: number[];
  /** Called about every second. */
  progress?: (r: FuzzReport) => void;
}

export interface MemorySample {
  heapUsed: number;
  arrayBuffers: number;
  rss: number;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  elapsedMs: number;
  kinds: Record<string, number>;
  /**
   * `inconclusive`: the server closed the connection for idleness before the case's
   * bytes were all in (the test process stalled for longer than the idle timeout).
   */
  outcomes: { replied: number; closed: number; idled: number; inconclusive: number };
  failures: FuzzFailure[];
  failureCount: number;
  goodClient: { calls: number; reconnects: number; errors: string[] };
  uncaught: string[];
  memory: { baseline: MemorySample; end: MemorySample; peak: MemorySample };
  server: RpcServer['stats'];
  log: Record<string, number>;
}

const CASE_TIMEOUT_MS = 4000;
export const IDLE_MS = 400;

function memory(): MemorySample {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, rss: m.rss };
}

let gcFn: (() => void) | undefined;
/** A full collection, so that memory samples compare live data. */
export function collectGarbage(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

/** Run one case against the server on `port`; resolves with a failure message or the outcome. */
export async function runCase(
  port: number,
  c: FuzzCase,
  idlePeers: Map<string, number>,
): Promise<{ ok: true; outcome: keyof FuzzReport['outcomes'] } | { ok: false; message: string }> {
  const caseStart = Date.now();
  let conn: RawConnection;
  try {
    conn = await RawConnection.open(port);
  } catch (e) {
    return { ok: false, message: `cannot connect: ${(e as Error).message}` };
  }
  const peer = `127.0.0.1:${conn.localPort}`;
  try {
    for (const w of c.writes) {
      if (conn.closed) break;
      conn.send(w);
      if (c.writes.length > 1) await new Promise((r) => setImmediate(r));
    }
    const { replies, after } = c.expect;
    const idledOut = () => (idlePeers.get(peer) ?? 0) >= caseStart;
    if (after === 'open') {
      if (!(await conn.waitRecords(replies.length, CASE_TIMEOUT_MS))) {
        if (conn.closed && idledOut()) return { ok: true, outcome: 'inconclusive' };
        return {
          ok: false,
          message: conn.closed
            ? `closed after ${conn.records.length} of ${replies.length} replies`
            : `neither all ${replies.length} replies nor a close within ${CASE_TIMEOUT_MS} ms (got ${conn.records.length})`,
        };
      }
    } else if (!(await conn.waitClosed(CASE_TIMEOUT_MS + IDLE_MS))) {
      return {
        ok: false,
        message: `not closed within ${CASE_TIMEOUT_MS + IDLE_MS} ms (${conn.records.length} replies)`,
      };
    }
    if (conn.streamError) return { ok: false, message: `bad reply stream: ${conn.streamError.message}` };
    // Every record must be a well-formed REPLY.
    for (const [i, r] of conn.records.entries()) {
      try {
        parseReply(r);
      } catch (e) {
        return { ok: false, message: `reply ${i} is malformed: ${(e as Error).message} (${r.toString('hex')})` };
      }
    }
    const idled = idledOut();
    for (let i = 0; i < replies.length; i++) {
      const got = conn.records[i];
      if (!got) {
        // Only a close for a protocol violation may cut the expected replies short.
        if (after !== 'open' && !idled) break;
        if (idled) return { ok: true, outcome: 'inconclusive' };
        return { ok: false, message: `reply ${i} missing (${conn.records.length} received)` };
      }
      if (!got.equals(replies[i])) {
        return {
          ok: false,
          message: `reply ${i} differs: expected ${replies[i].toString('hex').slice(0, 200)}, got ${got.toString('hex').slice(0, 200)}`,
        };
      }
    }
    if (after === 'open') {
      if (conn.records.length > replies.length)
        return { ok: false, message: `${conn.records.length} replies, expected ${replies.length}` };
      return { ok: true, outcome: 'replied' };
    }
    if (conn.splitter.partial) return { ok: false, message: 'the connection closed in the middle of a reply' };
    if (after === 'close') {
      // It idles out only when the bytes that should make it close have not all arrived.
      if (idled) return { ok: true, outcome: 'inconclusive' };
      if (conn.records.length > replies.length) {
        return { ok: false, message: `${conn.records.length} replies before the close, expected ${replies.length}` };
      }
    }
    return { ok: true, outcome: idled ? 'idled' : conn.records.length > 0 ? 'replied' : 'closed' };
  } finally {
    conn.destroy();
    idlePeers.delete(peer);
  }
}

/** A client that does everything right, on its own connection, checking every answer. */
async function goodClient(
  port: number,
  rng: Prng,
  stop: () => boolean,
  errors: string[],
  idlePeers: Map<string, number>,
): Promise<{ calls: number; reconnects: number }> {
  const connect = () => RpcClient.connect({ host: '127.0.0.1', port, timeoutMs: 10_000, credentials: SYS });
  /** The client's end of its connection, as the server's log names it. */
  const peerOf = (client: RpcClient) =>
    `127.0.0.1:${(client as unknown as { socket: net.Socket }).socket.localPort ?? 0}`;
  let c = await connect();
  let peer = peerOf(c);
  let calls = 0;
  let reconnects = 0;
  try {
    while (!stop() && errors.length < 10) {
      const kind = rng.int(3);
      try {
        if (kind === 0) {
          const data = rng.bytes(rng.int(9000));
          const got = await c.call(TEST_PROG, 1, Proc.ECHO, x.opaque(), data, x.opaque());
          if (!got.equals(data)) errors.push(`ECHO of ${data.length} bytes came back different`);
        } else if (kind === 1) {
          const a = rng.next() | 0;
          const b = rng.next() | 0;
          const got = await c.call(TEST_PROG, 1, Proc.ADD, addArgs, { a, b }, x.int);
          if (got !== ((a + b) | 0)) errors.push(`ADD ${a} ${b} gave ${got}`);
        } else {
          const who = await c.call(STRICT_PROG, 1, Proc.WHOAMI, x.xvoid, undefined, whoami);
          if (who.uid !== 1000 || who.machineName !== 'fuzz-host') errors.push(`WHOAMI gave ${JSON.stringify(who)}`);
        }
        calls++;
      } catch (e) {
        // A test process stalled past the idle timeout between two calls makes the
        // server close an idle connection: legitimate, and logged. Anything else is an error.
        if ((e as { code?: string }).code === 'CONNECTION_CLOSED' && idlePeers.has(peer) && reconnects < 100) {
          reconnects++;
          c.destroy();
          c = await connect();
          peer = peerOf(c);
        } else {
          errors.push(`call failed: ${(e as Error).message}`);
        }
      }
    }
  } finally {
    c.destroy();
  }
  return { calls, reconnects };
}

/** Start the server under test, record seeds, run cases; never throws for a case failure. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const uncaught: string[] = [];
  const onUncaught = (e: unknown) => uncaught.push(`uncaught: ${String((e as Error)?.stack ?? e)}`);
  const onUnhandled = (e: unknown) => uncaught.push(`unhandled rejection: ${String((e as Error)?.stack ?? e)}`);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);
  try {
    return await fuzzWith(options, started, uncaught);
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUnhandled);
  }
}

async function fuzzWith(options: FuzzOptions, started: number, uncaught: string[]): Promise<FuzzReport> {
  // Seeds are recorded from a server of their own, which never idles a connection out.
  const recorder = new RpcServer({});
  for (const p of testPrograms(newCounters())) recorder.addProgram(p);
  let seeds: Seed[];
  try {
    seeds = await recordSeeds(await recorder.listen(0, '127.0.0.1'));
  } finally {
    await recorder.close();
  }

  const log = new FuzzLogger();
  const server = new RpcServer({
    maxRecordSize: MAX_RECORD,
    idleTimeoutMs: IDLE_MS,
    maxConnections: 256,
    closeTimeoutMs: 1000,
    log,
  });
  for (const p of testPrograms(newCounters())) server.addProgram(p);
  let port: number;
  try {
    port = await server.listen(0, '127.0.0.1');
  } catch (e) {
    await server.close();
    throw e;
  }

  const report: FuzzReport = {
    seed: options.seed,
    cases: 0,
    elapsedMs: 0,
    kinds: {},
    outcomes: { replied: 0, closed: 0, idled: 0, inconclusive: 0 },
    failures: [],
    failureCount: 0,
    goodClient: { calls: 0, reconnects: 0, errors: [] },
    uncaught,
    memory: { baseline: memory(), end: memory(), peak: memory() },
    server: server.stats,
    log: {},
  };

  let stopping = false;
  const good = goodClient(port, new Prng(options.seed, 0), () => stopping, report.goodClient.errors, log.idlePeers);
  const sampler = setInterval(() => {
    const m = memory();
    const p = report.memory.peak;
    report.memory.peak = {
      heapUsed: Math.max(p.heapUsed, m.heapUsed),
      arrayBuffers: Math.max(p.arrayBuffers, m.arrayBuffers),
      rss: Math.max(p.rss, m.rss),
    };
    report.elapsedMs = Date.now() - started;
    for (const [peer, at] of log.idlePeers) if (at < Date.now() - 30_000) log.idlePeers.delete(peer);
    options.progress?.(report);
  }, 1000);

  const total = options.only ? options.only.length : options.maxCases;
  const warmup = Math.min(200, Math.floor(total / 10));
  let next = 0;
  let baselineTaken = false;
  const deadline = started + options.maxMs;
  const worker = async () => {
    while (next < total && Date.now() < deadline) {
      const index = options.only ? options.only[next] : next;
      next++;
      if (!baselineTaken && report.cases >= warmup) {
        baselineTaken = true;
        collectGarbage();
        report.memory.baseline = memory();
      }
      const c = makeCase(options.seed, index, seeds);
      report.kinds[c.kind] = (report.kinds[c.kind] ?? 0) + 1;
      const r = await runCase(port, c, log.idlePeers);
      report.cases++;
      if (r.ok) {
        report.outcomes[r.outcome]++;
      } else {
        report.failureCount++;
        if (report.failures.length < 20) {
          const bytes = Buffer.concat(c.writes);
          report.failures.push({
            seed: options.seed,
            case: index,
            kind: c.kind,
            from: c.seed,
            message: r.message,
            bytes: bytes.subarray(0, 512).toString('hex') + (bytes.length > 512 ? `… (${bytes.length} bytes)` : ''),
          });
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency ?? 32 }, worker));
  } finally {
    stopping = true;
    const g = await good.catch((e) => {
      report.goodClient.errors.push(`good client: ${(e as Error).message}`);
      return { calls: 0, reconnects: 0 };
    });
    report.goodClient.calls = g.calls;
    report.goodClient.reconnects = g.reconnects;
    clearInterval(sampler);
    await server.close();
    // Let the last close events and timers run before measuring.
    await new Promise((r) => setTimeout(r, 50));
    collectGarbage();
    report.memory.end = memory();
    report.elapsedMs = Date.now() - started;
    report.log = Object.fromEntries(log.counts);
  }
  return report;
}

const MiB = 2 ** 20;

/** A one-paragraph summary for humans. */
export function describe(r: FuzzReport): string {
  const m = r.memory;
  const lines = [
    `seed ${r.seed}: ${r.cases} cases in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.failureCount} failures`,
    `outcomes: ${r.outcomes.replied} answered, ${r.outcomes.closed} closed by the server, ${r.outcomes.idled} idled out` +
      `, ${r.outcomes.inconclusive} inconclusive (idled out before all bytes were sent)`,
    `good client: ${r.goodClient.calls} correct calls, ${r.goodClient.errors.length} errors, ` +
      `${r.goodClient.reconnects} reconnects after an idle close`,
    `memory: heap ${(m.baseline.heapUsed / MiB).toFixed(1)} → ${(m.end.heapUsed / MiB).toFixed(1)} MiB (peak ${(m.peak.heapUsed / MiB).toFixed(1)}), ` +
      `arrayBuffers ${(m.baseline.arrayBuffers / MiB).toFixed(1)} → ${(m.end.arrayBuffers / MiB).toFixed(1)} MiB (peak ${(m.peak.arrayBuffers / MiB).toFixed(1)}), ` +
      `rss peak ${(m.peak.rss / MiB).toFixed(0)} MiB`,
    `server: ${JSON.stringify(r.server)}`,
    `kinds: ${Object.entries(r.kinds)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
  ];
  for (const u of r.uncaught) lines.push(u);
  for (const e of r.goodClient.errors) lines.push(`good client error: ${e}`);
  for (const f of r.failures) {
    lines.push(`FAIL seed ${f.seed} case ${f.case} [${f.kind} from ${f.from}]: ${f.message}\n  bytes ${f.bytes}`);
  }
  return lines.join('\n');
}

/** The bounds the fuzz run must stay within; returns the violations. */
export function violations(r: FuzzReport, limits = { heapGrowth: 64 * MiB, arrayBufferGrowth: 64 * MiB }): string[] {
  const out: string[] = [];
  if (r.uncaught.length > 0) out.push(`${r.uncaught.length} uncaught exceptions or unhandled rejections`);
  if (r.failureCount > 0) out.push(`${r.failureCount} failing cases`);
  if (r.goodClient.errors.length > 0) out.push(`the well-behaved client saw ${r.goodClient.errors.length} errors`);
  if (r.goodClient.calls === 0) out.push('the well-behaved client completed no calls');
  // Idle closes before a case's bytes are in only happen when the process stalls: a few, not many.
  if (r.outcomes.inconclusive > Math.max(5, r.cases * 0.02)) {
    out.push(`${r.outcomes.inconclusive} of ${r.cases} cases idled out before their bytes were all sent`);
  }
  const heap = r.memory.end.heapUsed - r.memory.baseline.heapUsed;
  if (heap > limits.heapGrowth) out.push(`heap grew by ${(heap / MiB).toFixed(1)} MiB`);
  const ab = r.memory.end.arrayBuffers - r.memory.baseline.arrayBuffers;
  if (ab > limits.arrayBufferGrowth) out.push(`arrayBuffers grew by ${(ab / MiB).toFixed(1)} MiB`);
  if (r.server.connections !== 0) out.push(`${r.server.connections} connections left open after close()`);
  return out;
}
