/**
 * `npm run bench`: every figure is a ratio against a baseline measured in the
 * same run, and every figure is the median of several runs (the machines are
 * shared and noisy). Writes BENCHMARKS.md at the repository root.
 *
 *   RPC: the C rpcgen/libtirpc server and optarc's server, both loaded by the
 *        same C rpcgen client (bench_client); WRITE also against raw loopback
 *        TCP doing the same request/response exchange (tcp_sink/tcp_send).
 *   XDR: optarc's codec vs the raw xdr-js-serialize 0.3.0 vs a direct Buffer codec.
 *   Staging: trees staged by the TypeScript CLI and the C client vs `cp -r`.
 *   Burn: mastering vs `cp -r`, 3 copies vs 1, a whole job vs its slowest
 *         stage, the agent's memory in a 4 GiB job (burn-bench.ts).
 *   Mirror: a 1 GiB image to the test RGW by optarc (gateway ObjectStore +
 *           agent uploadParts, then the SHA-256 read-back; and the whole path,
 *           optarc-gateway serve + an agent) vs `aws s3 cp` vs
 *           @aws-sdk/lib-storage, and the agent's memory (mirror-bench.ts).
 *   Search: 10M synthetic manifest entries indexed into SQLite and PostgreSQL
 *           (bulk and incremental) vs a plain unindexed table, the size per
 *           million entries, and substring/glob/SHA-256/path/date queries vs
 *           grep over a flat listing (search-bench.ts).
 *   Retrieve: one 10 MiB file restored through the agent (RETRIEVE offline →
 *             READY → RETRIEVE_CACHED) from the cloud copy of a 4 GiB volume
 *             it burned and mirrored, vs a direct GET of a 10 MiB object from
 *             the same RGW (a bench RGW of its own), with the bytes RGW sent
 *             per restore counted (retrieve-bench.ts).
 *
 * Options: --runs N (default 5), --seconds S per RPC run (default 2),
 * --staging-runs N (default 3: each stages 1 GiB three ways),
 * --burn-runs N (default 3), --burn-speed N (stand-in throttle, default 4),
 * --rss-gib N (default 4), --mirror-runs N (default 3), --mirror-gib N (image
 * size, default 1), --search-entries N (default 10000000), --search-volumes N
 * (1000), --search-sites N (10), --search-queries N (200), --search-unique-entries N
 * (the unique-names SQLite run, 1000000; 0 skips it), --search-keep (keep the
 * search databases, to look at query plans), --retrieve-runs N (default 9),
 * --retrieve-gib N (the volume, default 4), --retrieve-keep (keep the built
 * volume in var/bench-retrieve for the next run), --retrieve-poll-ms N
 * (RETRIEVE_STATUS polling interval, default 5), --only SECTIONS
 * (comma-separated of rpc, xdr, staging, burn, mirror, search, retrieve; default all). With --only, the other sections of
 * BENCHMARKS.md are kept as they are and only the sections run are replaced.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildCClient, buildCPrograms, C_BIN, C_CLIENT, startPortServer, stopProcess } from '../helpers/c-programs.js';
import { ROOT } from '../helpers/processes.js';
import { burnBenchmark, burnMarkdown } from './burn-bench.js';
import { mirrorBenchmark, mirrorMarkdown } from './mirror-bench.js';
import { retrieveBenchmark, retrieveMarkdown } from './retrieve-bench.js';
import { searchBenchmark, searchMarkdown } from './search-bench.js';
import { stagingBenchmark } from './staging-bench.js';
import { bulkOpaqueMBps, keepAlive, smallStructOps } from './xdr-bench.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '2' },
    'staging-runs': { type: 'string', default: '3' },
    'burn-runs': { type: 'string', default: '3' },
    'burn-speed': { type: 'string', default: '4' },
    'rss-gib': { type: 'string', default: '4' },
    'mirror-runs': { type: 'string', default: '3' },
    'mirror-gib': { type: 'string', default: '1' },
    'search-entries': { type: 'string', default: '10000000' },
    'search-volumes': { type: 'string', default: '1000' },
    'search-sites': { type: 'string', default: '10' },
    'search-queries': { type: 'string', default: '200' },
    'search-unique-entries': { type: 'string', default: '1000000' },
    'search-keep': { type: 'boolean', default: false },
    'retrieve-runs': { type: 'string', default: '9' },
    'retrieve-gib': { type: 'string', default: '4' },
    'retrieve-keep': { type: 'boolean', default: false },
    'retrieve-poll-ms': { type: 'string', default: '5' },
    only: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);

type Section = 'rpc' | 'xdr' | 'staging' | 'burn' | 'mirror' | 'search' | 'retrieve';
const SECTIONS: readonly Section[] = ['rpc', 'xdr', 'staging', 'burn', 'mirror', 'search', 'retrieve'];
/** Which section a `## ` heading of BENCHMARKS.md belongs to. */
const HEADINGS: [string, Section][] = [
  ['## RPC', 'rpc'],
  ['## WRITE', 'rpc'],
  ['## XDR', 'xdr'],
  ['## Staging', 'staging'],
  ['## Burning', 'burn'],
  ['## Mirroring', 'mirror'],
  ['## Search', 'search'],
  ['## Retrieval', 'retrieve'],
];
const only = values.only?.split(',').map((x) => x.trim());
for (const x of only ?? []) {
  if (!SECTIONS.includes(x as Section)) {
    process.stderr.write(`--only takes a comma-separated list of ${SECTIONS.join(', ')}; not ${JSON.stringify(x)}\n`);
    process.exit(2);
  }
}
const want = (s: Section) => !only || only.includes(s);

/**
 * BENCHMARKS.md from the sections run now; a section not run keeps its text from
 * the existing file (a block runs from its `## ` heading to the next one).
 */
function assemble(preamble: string[] | undefined, fresh: Map<Section, string[]>): string {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  const old = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
  const oldPreamble: string[] = [];
  const oldBlocks = new Map<Section | 'other', string[]>();
  let current: Section | 'other' | undefined;
  for (const line of old) {
    if (line.startsWith('## ')) current = HEADINGS.find(([h]) => line.startsWith(h))?.[1] ?? 'other';
    if (current === undefined) oldPreamble.push(line);
    else oldBlocks.set(current, [...(oldBlocks.get(current) ?? []), line]);
  }
  const body = (lines: string[]) => {
    const copy = [...lines];
    while (copy.length > 0 && copy.at(-1) === '') copy.pop();
    return [...copy, ''];
  };
  const out = body(preamble ?? (oldPreamble.length > 0 ? oldPreamble : ['# Benchmarks', '']));
  for (const s of [...SECTIONS, 'other' as const]) {
    const lines = s === 'other' ? oldBlocks.get(s) : (fresh.get(s) ?? oldBlocks.get(s));
    if (lines) out.push(...body(lines));
  }
  return out.join('\n');
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

interface LoadResult {
  calls: number;
  seconds: number;
  callsPerSec: number;
  bytesPerSec: number;
}

function load(bin: string, args: string[]): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: (SECONDS + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${path.basename(bin)} ${args.join(' ')}: ${err.message}\n${stderr}`));
      resolve(JSON.parse(String(stdout).trim().split('\n').pop()!));
    });
  });
}

async function main(): Promise<void> {
  const fresh = new Map<Section, string[]>();
  let preamble: string[] | undefined;
  const log = (s: string) => {
    process.stdout.write(`${s}\n`);
  };
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  if (want('rpc') || want('xdr'))
    await rpcAndXdr(log, fresh, (p) => {
      preamble = p;
    });
  if (want('staging')) await staging(log, fresh);
  if (want('burn')) {
    const figures = await burnBenchmark({
      runs: Number(values['burn-runs']),
      speed: Number(values['burn-speed']),
      rssBytes: Number(values['rss-gib']) * 1024 ** 3,
      log,
    });
    fresh.set('burn', burnMarkdown(figures, command));
  }
  if (want('mirror')) {
    const figures = await mirrorBenchmark({
      runs: Number(values['mirror-runs']),
      imageBytes: Math.round(Number(values['mirror-gib']) * 1024 ** 3),
      log,
    });
    fresh.set('mirror', mirrorMarkdown(figures, command));
  }
  if (want('search')) {
    const figures = await searchBenchmark({
      entries: Number(values['search-entries']),
      volumes: Number(values['search-volumes']),
      sites: Number(values['search-sites']),
      queries: Number(values['search-queries']),
      warmup: 20,
      incremental: 20,
      uniqueEntries: Number(values['search-unique-entries']),
      keep: values['search-keep'] === true,
      // progress to stderr: the run takes many minutes
      log: (s) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`),
    });
    fresh.set('search', searchMarkdown(figures, command));
  }
  if (want('retrieve')) {
    const figures = await retrieveBenchmark({
      runs: Number(values['retrieve-runs']),
      imageBytes: Math.round(Number(values['retrieve-gib']) * 1024 ** 3),
      fileBytes: 10 * 1024 ** 2,
      pollMs: Number(values['retrieve-poll-ms']),
      keep: values['retrieve-keep'] === true,
      log: (s) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`),
    });
    fresh.set('retrieve', retrieveMarkdown(figures, command));
  }
  writeFileSync(path.join(ROOT, 'BENCHMARKS.md'), assemble(preamble, fresh));
  log(`wrote BENCHMARKS.md (${[...fresh.keys()].join(', ')})`);
}

async function rpcAndXdr(
  log: (s: string) => void,
  fresh: Map<Section, string[]>,
  setPreamble: (lines: string[]) => void,
): Promise<void> {
  buildCPrograms();

  // --- XDR, in process ---
  const ms = 400;
  const xdrSmall: Record<string, number> = {};
  for (const [k, f] of Object.entries(smallStructOps)) {
    xdrSmall[k] = median(Array.from({ length: RUNS }, () => f(ms)));
    log(`xdr small struct ${k}: ${Math.round(xdrSmall[k])} ops/s`);
  }
  const xdrBulk: Record<string, number> = {};
  for (const [k, f] of Object.entries(bulkOpaqueMBps)) {
    xdrBulk[k] = median(Array.from({ length: RUNS }, () => f(ms)));
    log(`xdr 1 MiB opaque ${k}: ${Math.round(xdrBulk[k])} MB/s`);
  }
  keepAlive();

  // --- RPC over loopback ---
  const dist = (f: string) => path.join(ROOT, 'dist/test/bench', f);
  const servers = {
    c: await startPortServer(C_BIN.echoServer, ['--port', '0']),
    optarc: await startPortServer(process.execPath, [dist('echo-server.js'), '0']),
    raw: await startPortServer(C_BIN.tcpSink, ['--port', '0']),
    nodeNull: await startPortServer(process.execPath, [dist('node-floor-server.js'), 'rpc-null']),
    nodeSink: await startPortServer(process.execPath, [dist('node-floor-server.js'), 'sink']),
  };
  type Side = 'c' | 'optarc' | 'raw' | 'node';
  const scenarios = [
    { key: 'null-1', proc: 'null', size: 0, clients: 1 },
    { key: 'null-16', proc: 'null', size: 0, clients: 16 },
    { key: 'write-64k', proc: 'write', size: 65536, clients: 1 },
    { key: 'write-1m', proc: 'write', size: 1048576, clients: 1 },
  ];
  const rpc: Record<string, Record<Side, number[]>> = {};
  try {
    for (const s of scenarios) {
      rpc[s.key] = { c: [], optarc: [], raw: [], node: [] };
      // the same load shape for every server
      const shape = [
        '--host',
        '127.0.0.1',
        '--size',
        String(s.size),
        '--seconds',
        String(SECONDS),
        '--clients',
        String(s.clients),
      ];
      const rpcLoad = (port: number) => load(C_BIN.benchClient, ['--port', String(port), '--proc', s.proc, ...shape]);
      const rawLoad = (port: number) => load(C_BIN.tcpSend, ['--port', String(port), ...shape]);
      const sides: [Side, () => Promise<LoadResult>][] = [
        ['c', () => rpcLoad(servers.c.port)],
        ['optarc', () => rpcLoad(servers.optarc.port)],
        ['node', () => (s.proc === 'null' ? rpcLoad(servers.nodeNull.port) : rawLoad(servers.nodeSink.port))],
      ];
      if (s.proc === 'write') sides.push(['raw', () => rawLoad(servers.raw.port)]);
      for (let run = 0; run < RUNS; run++) {
        // rotate the order so drift in machine load hits every side alike
        for (let i = 0; i < sides.length; i++) {
          const [side, measure] = sides[(i + run) % sides.length];
          const r = await measure();
          rpc[s.key][side].push(s.proc === 'null' ? r.callsPerSec : r.bytesPerSec);
        }
      }
      log(`${s.key}: ${sides.map(([side]) => `${side} ${Math.round(median(rpc[s.key][side]))}`).join(', ')}`);
    }
  } finally {
    await Promise.all(Object.values(servers).map((srv) => stopProcess(srv.child)));
  }

  const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
  const gbs = (n: number) => `${(n / 1e9).toFixed(2)} GB/s`;
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const med = (k: string, side: Side) => median(rpc[k][side]);
  const nullRow = (k: string, label: string, goal: string) =>
    `| ${label} | ${f0(med(k, 'c'))} | ${f0(med(k, 'optarc'))} | ${ratio(med(k, 'optarc'), med(k, 'c'))} | ${goal} | ${f0(med(k, 'node'))} | ${ratio(med(k, 'node'), med(k, 'c'))} |`;
  const writeRow = (k: string, label: string) =>
    `| ${label} | ${gbs(med(k, 'raw'))} | ${gbs(med(k, 'c'))} | ${gbs(med(k, 'optarc'))} | ${ratio(med(k, 'optarc'), med(k, 'c'))} | ${ratio(med(k, 'optarc'), med(k, 'raw'))} | ${gbs(med(k, 'node'))} | ${ratio(med(k, 'node'), med(k, 'raw'))} |`;

  setPreamble([
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.versions.node}.`,
    `Every figure is the median of ${RUNS} runs (${SECONDS} s each for RPC); ratios compare against baselines measured in the same run,`,
    'with the order of the servers rotated between runs. The load generator for the RPC servers is the same rpcgen/libtirpc',
    'C client (`test/interop/c/bench_client.c`), one process per client, closed loop, over loopback TCP.',
    '',
    "The *Node floor* columns measure Node's own sockets with no RPC layer at all (`test/bench/node-floor-server.ts`):",
    'a server that answers each NULL call with a fixed reply, and a sink for the raw-TCP exchange. They show how much of',
    "a gap to C is the runtime's and how much is optarc's.",
    '',
  ]);
  fresh.set('rpc', [
    '## RPC: optarc server vs the C rpcgen server',
    '',
    '| scenario | C libtirpc server | optarc | optarc / C | goal | Node floor | floor / C |',
    '|---|---|---|---|---|---|---|',
    nullRow('null-1', 'NULL calls/s, 1 client', '≥ 0.5×'),
    nullRow('null-16', 'NULL calls/s, 16 clients', '≥ 1.0×'),
    '',
    '## WRITE: optarc vs the C server vs raw loopback TCP',
    '',
    'Raw TCP (C `tcp_send`/`tcp_sink`) does the same exchange without RPC: a 4-byte length, the payload, a 4-byte answer.',
    '',
    '| payload | raw TCP | C libtirpc server | optarc | optarc / C (goal ≥ 1.0×) | optarc / raw (goal ≥ 0.7×) | Node floor (raw exchange) | floor / raw |',
    '|---|---|---|---|---|---|---|---|',
    writeRow('write-64k', '64 KiB'),
    writeRow('write-1m', '1 MiB'),
    '',
  ]);
  fresh.set('xdr', [
    '## XDR encode + decode',
    '',
    'Small struct: `{ unsigned id; int delta; string name<255>; opaque tag<64>; bool flag; }`, one encode and one decode per op.',
    '1 MiB opaque: encode into one contiguous buffer and decode it (one copy of the payload, as a direct codec makes).',
    '',
    '| codec | small struct ops/s | vs direct | 1 MiB opaque MB/s | vs direct |',
    '|---|---|---|---|---|',
    `| direct Buffer codec (baseline) | ${f0(xdrSmall.direct)} | 1.00× | ${f0(xdrBulk.direct)} | 1.00× |`,
    `| optarc (clients/oncrpc/xdr) | ${f0(xdrSmall.optarc)} | ${ratio(xdrSmall.optarc, xdrSmall.direct)} | ${f0(xdrBulk.optarcContiguous)} | ${ratio(xdrBulk.optarcContiguous, xdrBulk.direct)} |`,
    `| xdr-js-serialize 0.3.0 | ${f0(xdrSmall.library)} | ${ratio(xdrSmall.library, xdrSmall.direct)} | ${f0(xdrBulk.library)} | ${ratio(xdrBulk.library, xdrBulk.direct)} |`,
    '',
    "On the RPC path optarc does not make even that copy: a call's opaque is decoded as a view of the received record and",
    'a reply references its payload in a scatter/gather list, so encode + decode of 1 MiB there touches no payload byte',
    `(${f0((xdrBulk.optarc * 1e6) / (1024 * 1024))} encode+decode pairs/s of 1 MiB, independent of size).`,
    '',
  ]);
}

async function staging(log: (s: string) => void, fresh: Map<Section, string[]>): Promise<void> {
  buildCClient();
  const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const staging = await stagingBenchmark(Number(values['staging-runs']), C_CLIENT.put);
  for (const f of staging)
    log(`staging ${f.tree}: ${JSON.stringify(f.seconds)} s, peak agent RSS ${Math.round(f.peakRssBytes / 1e6)} MB`);
  const rate = (f: (typeof staging)[number], s: number) =>
    `${f.files >= 1000 ? `${f0(f.files / s)} files/s` : `${(f.bytes / s / 1e6).toFixed(0)} MB/s`}`;
  fresh.set('staging', [
    '## Staging: optarc clients vs `cp -r` to the same disk',
    '',
    `Median of ${values['staging-runs']} runs, a fresh agent each run (\`test/bench/staging-bench.ts\`). small: 1,000 files of 4 KiB;`,
    'large: 4 files of 256 MiB. The TypeScript client is `optarc put`; the C client is `clients/c` `optarc-put` (rpcgen + libtirpc).',
    'The agent fsyncs every file before it acknowledges its commit, so `cp -r` followed by `sync` is the like-for-like',
    'baseline; plain `cp -r` (which leaves the data in the page cache) is shown too. Ratios are against `cp -r && sync`.',
    '',
    '| tree | `cp -r` | `cp -r && sync` | `optarc put` (TS) | TS / cp+sync | `optarc-put` (C) | C / cp+sync | agent peak RSS |',
    '|---|---|---|---|---|---|---|---|',
    ...staging.map(
      (f) =>
        `| ${f.tree} | ${rate(f, f.seconds.cp)} | ${rate(f, f.seconds.cpSync)} | ${rate(f, f.seconds.ts)} | ${ratio(f.seconds.cpSync, f.seconds.ts)} | ${f.seconds.c ? rate(f, f.seconds.c) : '—'} | ${f.seconds.c ? ratio(f.seconds.cpSync, f.seconds.c) : '—'} | ${(f.peakRssBytes / 1e6).toFixed(0)} MB |`,
    ),
    '',
  ]);
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
