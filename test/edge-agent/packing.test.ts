/**
 * The packer and the media profiles: exact capacities; a seeded property test
 * over thousands of random trees checked against an independent oracle (every
 * byte packed once, no volume over capacity, directories kept whole by the
 * rule, first fit, determinism, the 11/9 FFD bound on small instances); hand
 * worked plans for directory keeping and spanning; refusals; 100,000 items.
 */
import { performance } from 'node:perf_hooks';
import test from 'ava';
import { PackingError } from '../../edge-agent/packing/errors.js';
import { listMediaProfiles, mediaProfile, SECTOR } from '../../edge-agent/packing/media-profiles.js';
import {
  type CostModel,
  type PackItem,
  type PlannedVolume,
  packVolumes,
  simpleCostModel,
} from '../../edge-agent/packing/packer.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const KiB = 1024n;
const MiB = 1024n * KiB;
const sectorsBytes = (n: number) => BigInt(n) * BigInt(SECTOR);

/** mulberry32: a small seeded PRNG, so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Instance {
  items: PackItem[];
  capacity: number;
  cost: CostModel;
  spanning: boolean;
}

/** Units and costs computed straight from the rule in packer.ts, independently of its code. */
function oracle(inst: Instance) {
  const usable = inst.capacity - inst.cost.fixedSectors;
  const costs = new Map<number, number>();
  const dirTotals = new Map<string, number>();
  const ancestors = new Map<number, string[]>();
  for (const item of inst.items) {
    const c = inst.cost.fileSectors(item.path, item.size);
    costs.set(item.id, c);
    const names = item.path.toString('latin1').split('/');
    const chain = [''];
    let prefix = '';
    for (const name of names.slice(0, -1)) {
      prefix += `${name}/`;
      chain.push(prefix);
    }
    for (const dir of chain) dirTotals.set(dir, (dirTotals.get(dir) ?? 0) + c);
    ancestors.set(item.id, chain);
  }
  /** The unit of each item: its topmost ancestor directory that fits, else the file itself; null when oversize. */
  const unitOf = new Map<number, string | null>();
  const unitCost = new Map<string, number>();
  for (const item of inst.items) {
    const dir = ancestors.get(item.id)!.find((d) => dirTotals.get(d)! <= usable);
    if (dir !== undefined) {
      unitOf.set(item.id, `dir:${dir}`);
      unitCost.set(`dir:${dir}`, dirTotals.get(dir)!);
    } else if (costs.get(item.id)! <= usable) {
      unitOf.set(item.id, `file:${item.id}`);
      unitCost.set(`file:${item.id}`, costs.get(item.id)!);
    } else {
      unitOf.set(item.id, null);
    }
  }
  return { usable, costs, unitOf, unitCost };
}

/** Every problem with a plan, as text; [] for a good plan. */
function checkPlan(inst: Instance, plan: PlannedVolume[]): string[] {
  const problems: string[] = [];
  const { usable, costs, unitOf, unitCost } = oracle(inst);
  const byId = new Map(inst.items.map((i) => [i.id, i]));
  const where = new Map<number, { volume: number; piece: PlannedVolume['pieces'][number] }[]>();
  const loads: number[] = [];

  plan.forEach((volume, v) => {
    if (volume.pieces.length === 0) problems.push(`volume ${v} is empty`);
    let load = 0;
    for (const piece of volume.pieces) {
      const item = byId.get(piece.id);
      if (!item || !item.path.equals(piece.path) || item.size !== piece.size) {
        problems.push(`volume ${v} holds a piece that is no item: ${piece.id}`);
        continue;
      }
      const list = where.get(piece.id) ?? [];
      list.push({ volume: v, piece });
      where.set(piece.id, list);
      load += inst.cost.fileSectors(piece.path, piece.part ? piece.part.length : piece.size);
    }
    loads.push(load);
    const exact = inst.cost.fixedSectors + load;
    if (exact > inst.capacity) problems.push(`volume ${v} over capacity: ${exact} > ${inst.capacity}`);
    if (volume.sectors > inst.capacity) problems.push(`volume ${v} claims ${volume.sectors} > ${inst.capacity}`);
    if (volume.sectors !== Math.ceil(exact)) problems.push(`volume ${v} estimated ${volume.sectors}, is ${exact}`);
  });

  for (const item of inst.items) {
    const found = where.get(item.id) ?? [];
    const unit = unitOf.get(item.id);
    if (unit !== null) {
      if (found.length !== 1 || found[0]!.piece.part) {
        problems.push(`item ${item.id} packed ${found.length} times (or in parts) but it fits`);
      }
      continue;
    }
    // An oversize file: covered by its parts, on consecutive volumes, each part but the last filling its volume.
    if (!inst.spanning) problems.push(`item ${item.id} is too large but was packed without spanning`);
    const parts = found.map((f) => ({ volume: f.volume, part: f.piece.part }));
    if (parts.length < 2 || parts.some((p) => !p.part)) {
      problems.push(`oversize item ${item.id} is not in parts`);
      continue;
    }
    parts.sort((x, y) => x.part!.index - y.part!.index);
    let offset = 0n;
    parts.forEach(({ volume, part }, i) => {
      if (part!.index !== i || part!.count !== parts.length) problems.push(`item ${item.id}: part ${i} misnumbered`);
      if (part!.offset !== offset) problems.push(`item ${item.id}: part ${i} not contiguous`);
      if (part!.length <= 0n) problems.push(`item ${item.id}: part ${i} is empty`);
      if (i > 0 && volume !== parts[i - 1]!.volume + 1)
        problems.push(`item ${item.id}: parts not on consecutive volumes`);
      const last = i === parts.length - 1;
      if (!last && inst.cost.fileSectors(item.path, part!.length + sectorsBytes(1)) <= usable) {
        problems.push(`item ${item.id}: part ${i} does not fill its volume`);
      }
      if (!last && part!.length % sectorsBytes(1) !== 0n)
        problems.push(`item ${item.id}: part ${i} not sector-aligned`);
      offset += part!.length;
    });
    if (offset !== item.size) problems.push(`item ${item.id}: parts cover ${offset} of ${item.size} bytes`);
  }

  // Directory keeping: every unit of the rule sits on exactly one volume.
  const unitVolume = new Map<string, number>();
  for (const item of inst.items) {
    const unit = unitOf.get(item.id);
    const found = where.get(item.id);
    if (unit == null || found?.length !== 1) continue;
    const seen = unitVolume.get(unit);
    if (seen === undefined) unitVolume.set(unit, found[0]!.volume);
    else if (seen !== found[0]!.volume)
      problems.push(`${unit} is split across volumes ${seen} and ${found[0]!.volume}`);
  }

  // First fit: a unit on volume j did not fit in any earlier volume, whose free space only shrank since.
  const smallestUnit: number[] = plan.map(() => Number.POSITIVE_INFINITY);
  for (const [unit, volume] of unitVolume) smallestUnit[volume] = Math.min(smallestUnit[volume]!, unitCost.get(unit)!);
  let roomBefore = Number.NEGATIVE_INFINITY;
  plan.forEach((_, v) => {
    if (smallestUnit[v]! <= roomBefore) problems.push(`volume ${v} holds a unit that fitted an earlier volume`);
    roomBefore = Math.max(roomBefore, usable - loads[v]!);
  });

  // Lower bound: no plan uses fewer volumes than the total cost needs.
  let total = 0;
  for (const c of costs.values()) total += c;
  if (plan.length < Math.ceil(total / usable)) problems.push(`${plan.length} volumes for ${total} sectors`);
  return problems;
}

/** The least number of volumes for these unit costs, by exhaustive search (small inputs only). */
function optimum(costs: number[], usable: number): number {
  const sorted = [...costs].sort((x, y) => y - x);
  let best = sorted.length;
  const loads: number[] = [];
  const place = (i: number): void => {
    if (loads.length >= best) return;
    if (i === sorted.length) {
      best = loads.length;
      return;
    }
    for (let v = 0; v < loads.length; v++) {
      if (loads[v]! + sorted[i]! <= usable) {
        loads[v]! += sorted[i]!;
        place(i + 1);
        loads[v]! -= sorted[i]!;
      }
    }
    loads.push(sorted[i]!);
    place(i + 1);
    loads.pop();
  };
  place(0);
  return best;
}

const canonical = (plan: PlannedVolume[]) =>
  JSON.stringify(plan, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v?.type === 'Buffer' ? v.data.join(',') : v));

function shuffled<T>(list: T[], rand: () => number): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const NAMES = [b('a'), b('b'), b('src'), b('data'), b('é'), Buffer.from([0xff, 0x01]), b('x y'), b('a.txt')];

function randomInstance(rand: () => number): Instance {
  const capacity = 16 + Math.floor(rand() * 2000);
  const fixedSectors = Math.floor(rand() * Math.min(capacity / 4, 64));
  const perEntryBytes = [0, 256, 512, 1000, 2048][Math.floor(rand() * 5)]!;
  const usableBytes = (capacity - fixedSectors) * SECTOR;
  const spanning = rand() < 0.5;
  const count = 1 + Math.floor(rand() ** 2 * 80);
  const dirs = [Buffer.alloc(0)];
  for (let i = 0; i < 1 + count / 4; i++) {
    const parent = dirs[Math.floor(rand() * dirs.length)]!;
    const name = NAMES[Math.floor(rand() * NAMES.length)]!;
    dirs.push(parent.length ? Buffer.concat([parent, b('/'), name]) : name);
  }
  const paths = new Set<string>();
  const items: PackItem[] = [];
  const hugeOdds = spanning ? 0.08 : 0.01;
  for (let i = 0; items.length < count && i < count * 4; i++) {
    const dir = dirs[Math.floor(rand() * dirs.length)]!;
    const name = rand() < 0.3 ? NAMES[Math.floor(rand() * NAMES.length)]! : b(`f${i}`);
    const path = dir.length ? Buffer.concat([dir, b('/'), name]) : name;
    if (paths.has(path.toString('latin1'))) continue;
    paths.add(path.toString('latin1'));
    const r = rand();
    const size =
      r < 0.4
        ? rand() * 10_000
        : r < 0.7
          ? (rand() * usableBytes) / 4
          : r < 1 - hugeOdds
            ? rand() * usableBytes
            : usableBytes * (1 + rand() * 3);
    items.push({ id: 1000 + items.length, path, size: BigInt(Math.floor(size)) });
  }
  return { items, capacity, cost: simpleCostModel({ fixedSectors, perEntryBytes }), spanning };
}

function pack(inst: Instance, items = inst.items): PlannedVolume[] {
  return packVolumes(items, { capacitySectors: inst.capacity, cost: inst.cost, spanning: inst.spanning });
}

const shape = (plan: PlannedVolume[]) =>
  plan.map((v) => ({ sectors: v.sectors, paths: v.pieces.map((p) => p.path.toString('latin1')) }));

// ---------------------------------------------------------------- profiles

test('media profiles have the exact capacities in 2048-byte sectors', (t) => {
  t.is(SECTOR, 2048);
  const expected: [string, number, boolean][] = [
    ['cd-r', 360_000, false],
    ['dvd-r', 2_298_496, false],
    ['dvd+r', 2_295_104, false],
    ['dvd-r-dl', 4_171_712, false],
    ['dvd+r-dl', 4_173_824, false],
    ['bd-r', 12_219_392, false],
    ['bd-r-formatted', 11_826_176, false],
    ['bd-r-dl', 24_438_784, false],
    ['test-2m', 1024, true],
    ['test-8m', 4096, true],
    ['test-32m', 16_384, true],
    ['test-8m-par2', 4096, true],
  ];
  t.deepEqual(
    listMediaProfiles().map((p) => [p.name, p.sectors, p.test === true]),
    expected,
  );
  for (const [name, sectors, isTest] of expected) {
    const p = mediaProfile(name);
    t.is(p.sectors, sectors, name);
    t.is(p.test === true, isTest, name);
    t.true(p.description.length > 5, name);
  }
  t.is(mediaProfile('DVD+R').name, 'dvd+r', 'names are matched case-insensitively');
  listMediaProfiles().pop();
  t.is(listMediaProfiles().length, expected.length, 'the list handed out is a copy');
});

test('an unknown media type is refused with the list of known types', (t) => {
  const e = t.throws(() => mediaProfile('hd-dvd'), { instanceOf: PackingError });
  t.is(e?.code, 'UNKNOWN_MEDIA');
  t.true(e?.message.includes('"hd-dvd"'), e?.message);
  for (const p of listMediaProfiles()) t.true(e?.message.includes(p.name), `${p.name} in: ${e?.message}`);
});

// ---------------------------------------------------------------- the checker itself

test('the plan checker catches each kind of broken plan', (t) => {
  const inst: Instance = {
    capacity: 100,
    cost: simpleCostModel({ fixedSectors: 0, perEntryBytes: 0 }),
    spanning: true,
    items: [
      { id: 1, path: b('A/a1'), size: sectorsBytes(40) },
      { id: 2, path: b('A/a2'), size: sectorsBytes(20) },
      { id: 3, path: b('B/b1'), size: sectorsBytes(50) },
      { id: 4, path: b('B/b2'), size: sectorsBytes(30) },
      { id: 5, path: b('big'), size: sectorsBytes(250) },
      { id: 6, path: b('c'), size: sectorsBytes(5) },
    ],
  };
  const good = pack(inst);
  t.deepEqual(checkPlan(inst, good), []);
  const clone = () =>
    good.map((v) => ({
      sectors: v.sectors,
      pieces: v.pieces.map((p) => ({ ...p, ...(p.part ? { part: { ...p.part } } : {}) })),
    }));
  const breaks = (what: string, mutate: (plan: PlannedVolume[]) => PlannedVolume[], expected: RegExp) => {
    const problems = checkPlan(inst, mutate(clone()));
    t.true(
      problems.some((p) => expected.test(p)),
      `${what}: ${problems.join('; ')}`,
    );
  };
  const volumeOf = (plan: PlannedVolume[], path: string) =>
    plan.findIndex((v) => v.pieces.some((p) => p.path.equals(b(path))));
  breaks(
    'a dropped file',
    (p) => {
      const v = volumeOf(p, 'c');
      p[v]!.pieces = p[v]!.pieces.filter((x) => x.id !== 6);
      return p;
    },
    /packed 0 times/,
  );
  breaks(
    'a file packed twice',
    (p) => {
      p[0]!.pieces.push({ id: 6, path: b('c'), size: sectorsBytes(5) });
      return p;
    },
    /packed 2 times/,
  );
  breaks(
    'two volumes merged',
    (p) => {
      const v = volumeOf(p, 'A/a1');
      const w = volumeOf(p, 'B/b1');
      p[v]!.pieces.push(...p[w]!.pieces);
      p.splice(w, 1);
      return p;
    },
    /over capacity/,
  );
  breaks(
    'a directory split',
    (p) => {
      const v = volumeOf(p, 'A/a2');
      const piece = p[v].pieces.find((x) => x.id === 2)!;
      p[v]!.pieces = p[v]!.pieces.filter((x) => x !== piece);
      p.push({ sectors: 20, pieces: [piece] });
      return p;
    },
    /dir:A\/ is split/,
  );
  breaks(
    'a gap between parts',
    (p) => {
      const part = p[volumeOf(p, 'big')]?.pieces.find((x) => x.part)?.part;
      if (part) part.offset += 1n;
      return p;
    },
    /not contiguous/,
  );
  breaks(
    'parts not consecutive',
    (p) => {
      const [first] = p.splice(volumeOf(p, 'big'), 1);
      p.push(first!);
      return p;
    },
    /consecutive/,
  );
  breaks(
    'volumes reordered so a unit could have gone earlier',
    (p) => {
      const [first] = p.splice(volumeOf(p, 'c'), 1);
      p.push(first!);
      return p;
    },
    /fitted an earlier volume/,
  );
  breaks(
    'a wrong estimate',
    (p) => {
      p[0]!.sectors -= 1;
      return p;
    },
    /estimated/,
  );
  breaks('too few volumes', (p) => p.slice(0, 1), /volumes for/);
});

// ---------------------------------------------------------------- properties

test('property: 4000 random trees pack completely, within capacity, directories whole, first fit, deterministically', (t) => {
  const failures: string[] = [];
  let refused = 0;
  let spanned = 0;
  let volumes = 0;
  let exactChecked = 0;
  for (let seed = 1; seed <= 4000; seed++) {
    const rand = prng(seed);
    const inst = randomInstance(rand);
    const { unitOf, unitCost, usable } = oracle(inst);
    const oversize = inst.items.filter((i) => unitOf.get(i.id) === null);
    if (oversize.length > 0 && !inst.spanning) {
      try {
        pack(inst);
        failures.push(`seed ${seed}: an oversize file was not refused`);
      } catch (e) {
        const first = [...oversize].sort((x, y) => Buffer.compare(x.path, y.path) || x.id - y.id)[0]!;
        if (!(e instanceof PackingError) || e.code !== 'TOO_LARGE') failures.push(`seed ${seed}: ${e}`);
        else if (e.detail?.kind !== 'too-large' || e.detail.files[0]?.id !== first.id) {
          failures.push(`seed ${seed}: the refusal does not name ${first.id} first`);
        } else if (!e.message.includes(`${first.size} bytes`)) failures.push(`seed ${seed}: ${e.message}`);
        refused++;
      }
      continue;
    }
    if (oversize.length > 0) spanned++;
    const plan = pack(inst);
    volumes += plan.length;
    for (const problem of checkPlan(inst, plan)) failures.push(`seed ${seed}: ${problem}`);
    if (canonical(pack(inst, shuffled(inst.items, rand))) !== canonical(plan)) {
      failures.push(`seed ${seed}: a shuffled input gave another plan`);
    }
    // FFD's tight bound (Dósa 2007): FFD <= 11/9 OPT + 6/9, against the exact optimum on small instances.
    if (oversize.length === 0 && unitCost.size <= 9) {
      const opt = optimum([...unitCost.values()], usable);
      if (plan.length > (11 / 9) * opt + 6 / 9) failures.push(`seed ${seed}: ${plan.length} volumes, optimum ${opt}`);
      exactChecked++;
    }
  }
  t.log(
    `${volumes} volumes planned, ${spanned} plans with spanning files, ${refused} refusals, ${exactChecked} vs OPT`,
  );
  t.deepEqual(failures.slice(0, 10), [], `${failures.length} failures`);
  t.true(refused > 20 && spanned > 100 && exactChecked > 500, 'the generator reaches every case');
});

// ---------------------------------------------------------------- directories

const flat = simpleCostModel({ fixedSectors: 0, perEntryBytes: 0 });
const files = (...list: [string, number][]): PackItem[] =>
  list.map(([path, sectors], id) => ({ id, path: b(path), size: sectorsBytes(sectors) }));

test('a directory that fits is kept whole where plain FFD would split it', (t) => {
  const plan = packVolumes(files(['A/a1', 40], ['A/a2', 20], ['B/b1', 50], ['B/b2', 30]), {
    capacitySectors: 100,
    cost: flat,
  });
  t.deepEqual(shape(plan), [
    { sectors: 80, paths: ['B/b1', 'B/b2'] },
    { sectors: 60, paths: ['A/a1', 'A/a2'] },
  ]);
  // The same sizes with no directories: plain FFD by file, which is what splits A and B above.
  const loose = packVolumes(files(['a1', 40], ['a2', 20], ['b1', 50], ['b2', 30]), {
    capacitySectors: 100,
    cost: flat,
  });
  t.deepEqual(shape(loose), [
    { sectors: 90, paths: ['a1', 'b1'] },
    { sectors: 50, paths: ['a2', 'b2'] },
  ]);
});

test('a directory too big for a volume is split only along its children, recursively', (t) => {
  const plan = packVolumes(
    files(['big/sub1/x', 30], ['big/sub1/y', 40], ['big/sub2/z', 60], ['big/f', 20], ['other/g', 10]),
    { capacitySectors: 100, cost: flat },
  );
  t.deepEqual(shape(plan), [
    { sectors: 100, paths: ['big/f', 'big/sub1/x', 'big/sub1/y', 'other/g'] },
    { sectors: 60, paths: ['big/sub2/z'] },
  ]);

  // big/sub1 is itself too big (120): it splits into deep/ (90, kept whole) and r (30).
  const deeper = packVolumes(
    files(['big/sub1/deep/p', 50], ['big/sub1/deep/q', 40], ['big/sub1/r', 30], ['big/sub2/z', 60], ['big/s', 15]),
    { capacitySectors: 100, cost: flat },
  );
  t.deepEqual(shape(deeper), [
    { sectors: 90, paths: ['big/sub1/deep/p', 'big/sub1/deep/q'] },
    { sectors: 90, paths: ['big/sub1/r', 'big/sub2/z'] },
    { sectors: 15, paths: ['big/s'] },
  ]);
});

test('when everything fits, one volume holds it all, sorted by path bytes, with the fixed cost counted', (t) => {
  const items: PackItem[] = [
    { id: 7, path: b('z/last'), size: 1n },
    { id: 3, path: Buffer.from([0xc3, 0xa9]), size: 4096n },
    { id: 5, path: b('a/b/c'), size: 0n },
  ];
  const plan = packVolumes(items, {
    capacitySectors: 100,
    cost: simpleCostModel({ fixedSectors: 10, perEntryBytes: 1024 }),
  });
  t.is(plan.length, 1);
  t.deepEqual(
    plan[0]!.pieces.map((p) => p.id),
    [5, 7, 3],
  );
  // 10 fixed + (0 + 0.5) + (1 + 0.5) + (2 + 0.5) = 14.5, rounded up.
  t.is(plan[0]!.sectors, 15);
  t.false(
    plan[0]!.pieces.some((p) => 'part' in p),
    'whole files carry no part',
  );
});

// ---------------------------------------------------------------- too large, spanning

const test2m = (spanning: boolean) => ({
  capacitySectors: mediaProfile('test-2m').sectors,
  cost: simpleCostModel({ fixedSectors: 24, perEntryBytes: 512 }),
  spanning,
  mediumName: 'test-2m',
});

test('a file bigger than a volume is refused by name, size and capacity', (t) => {
  const bad = Buffer.concat([b('dir/bad'), Buffer.from([0x01]), b('name'), Buffer.from([0xff]), b('.bin')]);
  const items: PackItem[] = [
    { id: 1, path: b('dir/ok'), size: 10n },
    { id: 2, path: bad, size: 3n * MiB },
  ];
  const e = t.throws(() => packVolumes(items, test2m(false)), { instanceOf: PackingError });
  t.is(e?.code, 'TOO_LARGE');
  const message = e?.message ?? '';
  t.true(message.includes('"dir/bad\\x01name\\xff.bin"'), message);
  t.true(message.includes('3145728 bytes'), message);
  t.true(message.includes('1024 sectors (2097152 bytes)'), message);
  t.true(message.includes('1000 of them usable'), message);
  t.true(message.includes('test-2m'), message);
  t.true(message.includes('spanning'), message);
  t.false(message.includes('other file'), message);
  t.deepEqual(e?.detail?.kind === 'too-large' && e.detail.files.map((f) => f.id), [2]);

  // Text names stay readable; control and bidi characters are escaped; more files are counted.
  const e2 = t.throws(
    () =>
      packVolumes(
        [
          { id: 1, path: b('évil\u202etxt.exe'), size: 3n * MiB },
          { id: 2, path: b('ü-second'), size: 4n * MiB },
        ],
        test2m(false),
      ),
    { instanceOf: PackingError },
  );
  t.true(e2?.message.startsWith('"évil\\u{202e}txt.exe" is 3145728 bytes'), e2?.message);
  t.true(e2?.message.includes('(and 1 other file too large)'), e2?.message);
});

test('with spanning, a big file is cut into volume-filling parts on consecutive volumes', (t) => {
  const items: PackItem[] = [
    { id: 1, path: b('small'), size: 100n * KiB },
    { id: 2, path: b('big1'), size: 5n * MiB },
    { id: 3, path: b('big2'), size: 4n * MiB },
  ];
  const plan = packVolumes(items, test2m(true));
  // usable = 1024 - 24 = 1000 sectors; a part costs its sectors + 0.25, so it holds 999 sectors.
  const L = 999n * 2048n;
  const parts = plan.map((v) =>
    v.pieces.map((p) => [p.id, p.part?.index, p.part?.count, p.part?.offset, p.part?.length]),
  );
  t.deepEqual(parts, [
    [[2, 0, 3, 0n, L]],
    [[2, 1, 3, L, L]],
    [
      [2, 2, 3, 2n * L, 5n * MiB - 2n * L],
      [1, undefined, undefined, undefined, undefined],
    ],
    [[3, 0, 3, 0n, L]],
    [[3, 1, 3, L, L]],
    [[3, 2, 3, 2n * L, 4n * MiB - 2n * L]],
  ]);
  // 24 + 999.25; 24 + 562.25 + 50.25; 24 + 50.25.
  t.deepEqual(
    plan.map((v) => v.sectors),
    [1024, 1024, 637, 1024, 1024, 75],
  );
  t.true(
    plan.every((v) => v.pieces.every((p) => p.size === items.find((i) => i.id === p.id)!.size)),
    'pieces carry the whole file size',
  );
});

test('nothing to pack, or no room on a volume, is refused clearly', (t) => {
  const e = t.throws(() => packVolumes([], test2m(false)), { instanceOf: PackingError });
  t.is(e?.code, 'EMPTY');
  t.true(e?.message.startsWith('nothing committed to burn: '), e?.message);

  const e2 = t.throws(
    () =>
      packVolumes(files(['a', 1]), {
        capacitySectors: 100,
        cost: simpleCostModel({ fixedSectors: 100, perEntryBytes: 0 }),
      }),
    { instanceOf: PackingError },
  );
  t.is(e2?.code, 'BAD_ARGUMENT');
  const e3 = t.throws(() => packVolumes([{ id: 1, path: b('a'), size: -1n }], test2m(false)), {
    instanceOf: PackingError,
  });
  t.is(e3?.code, 'BAD_ARGUMENT');
});

// ---------------------------------------------------------------- scale

test('100,000 items pack quickly', (t) => {
  const rand = prng(42);
  const items: PackItem[] = [];
  for (let i = 0; i < 50_000; i++) {
    const dir = `proj${i % 500}/run${i % 7}`;
    items.push({ id: i, path: b(`${dir}/frame-${i}.fits`), size: BigInt(Math.floor(rand() * 200_000)) });
  }
  for (let i = 50_000; i < 100_000; i++) {
    items.push({ id: i, path: b(`flat/file-${i}`), size: BigInt(Math.floor(rand() * 200_000)) });
  }
  const inst: Instance = {
    items,
    capacity: mediaProfile('test-32m').sectors,
    cost: simpleCostModel({ fixedSectors: 300, perEntryBytes: 600 }),
    spanning: false,
  };
  const start = performance.now();
  const plan = pack(inst);
  const ms = performance.now() - start;
  t.log(`100,000 items into ${plan.length} volumes of test-32m in ${ms.toFixed(0)} ms`);
  t.deepEqual(checkPlan(inst, plan).slice(0, 5), []);
});
