/**
 * The rpcgen-language parser and the TypeScript emitter
 * (clients/protocol/generator/), and the committed binding
 * clients/protocol/generated/optarc.ts: it must be exactly what optarc.x
 * generates, and every type in it must round-trip.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import ts from 'typescript';
import { decode, encode, x } from '../../clients/oncrpc/xdr/index.js';
import * as optarc from '../../clients/protocol/generated/optarc.js';
import { type Codecs, createCodecs, createOptarcV1Procedures } from '../../clients/protocol/generated/optarc.js';
import { generate, xdrImportFor } from '../../clients/protocol/generator/generate.js';
import { EmitError, emitTypeScript, pascalCase } from '../../clients/protocol/generator/ts-emitter.js';
import { type Definition, parseX, type Specification, XParseError } from '../../clients/protocol/generator/x-parser.js';
import { ROOT } from '../helpers/processes.js';

const X_FILE = path.join(ROOT, 'clients/protocol/optarc.x');
const GENERATED = path.join(ROOT, 'clients/protocol/generated/optarc.ts');
const MAIN = path.join(ROOT, 'dist/clients/protocol/generator/main.js');

/** The AST without positions, for comparisons. */
function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== 'pos')
        .map(([k, v]) => [k, strip(v)]),
    );
  }
  return value;
}

const defs = (source: string): Definition[] => strip(parseX(source, 't.x').definitions) as Definition[];

// ---------------------------------------------------------------- parser

test('const: decimal, hexadecimal, octal and negative numbers', (t) => {
  const spec = parseX('const A = 10;\nconst B = 0x2A7C0001;\nconst C = 017;\nconst D = -5;\nconst E = 0;\n', 't.x');
  t.deepEqual(
    spec.definitions.map((d) => (d.kind === 'const' ? [d.name, d.value.value, d.value.text, d.pos.line] : null)),
    [
      ['A', 10, '10', 1],
      ['B', 0x2a7c0001, '0x2A7C0001', 2],
      ['C', 15, '017', 3],
      ['D', -5, '-5', 4],
      ['E', 0, '0', 5],
    ],
  );
});

test('comments and % passthrough lines are skipped, and lines still count', (t) => {
  const spec = parseX(
    '/* one\n * two\n */\n%#include <x.h>\n  % more passthrough\nconst A = 1; /* trailing */\n',
    't.x',
  );
  t.is(spec.definitions.length, 1);
  t.is(spec.definitions[0].pos.line, 6);
});

test('enum: values given as numbers and as constant names', (t) => {
  t.deepEqual(defs('const TEN = 10;\nenum e { A = 0, B = TEN, C = -1 };'), [
    { kind: 'const', name: 'TEN', value: { kind: 'number', value: 10, text: '10' } },
    {
      kind: 'enum',
      name: 'e',
      members: [
        { name: 'A', value: { kind: 'number', value: 0, text: '0' } },
        { name: 'B', value: { kind: 'name', name: 'TEN' } },
        { name: 'C', value: { kind: 'number', value: -1, text: '-1' } },
      ],
    },
  ]);
});

test('struct: every declaration form and every base type', (t) => {
  const source = `const N = 4;
struct s {
  int a; unsigned int b; unsigned c; hyper d; unsigned hyper e; bool f; float g; double h;
  t i; int j[N]; int k<7>; int l<>; t *m;
  opaque n[16]; opaque o<N>; opaque p<>; string q<N>; string r<>;
};
typedef int t;`;
  const s = defs(source)[1];
  const base = (b: string) => ({ kind: 'base', base: b });
  const named = { kind: 'named', name: 't' };
  const n = { kind: 'name', name: 'N' };
  t.deepEqual(s, {
    kind: 'struct',
    name: 's',
    fields: [
      { kind: 'plain', type: base('int'), name: 'a' },
      { kind: 'plain', type: base('unsigned int'), name: 'b' },
      { kind: 'plain', type: base('unsigned int'), name: 'c' },
      { kind: 'plain', type: base('hyper'), name: 'd' },
      { kind: 'plain', type: base('unsigned hyper'), name: 'e' },
      { kind: 'plain', type: base('bool'), name: 'f' },
      { kind: 'plain', type: base('float'), name: 'g' },
      { kind: 'plain', type: base('double'), name: 'h' },
      { kind: 'plain', type: named, name: 'i' },
      { kind: 'fixed-array', type: base('int'), name: 'j', size: n },
      { kind: 'var-array', type: base('int'), name: 'k', max: { kind: 'number', value: 7, text: '7' } },
      { kind: 'var-array', type: base('int'), name: 'l', max: null },
      { kind: 'optional', type: named, name: 'm' },
      { kind: 'fixed-opaque', name: 'n', size: { kind: 'number', value: 16, text: '16' } },
      { kind: 'var-opaque', name: 'o', max: n },
      { kind: 'var-opaque', name: 'p', max: null },
      { kind: 'string', name: 'q', max: n },
      { kind: 'string', name: 'r', max: null },
    ],
  } as unknown as Definition);
});

test('union: several labels per arm, void arms, default arm', (t) => {
  const u = defs(`enum st { OK = 0, BUSY = 1, GONE = 2, LOST = 3 };
union r switch (st status) {
case OK:
  int value;
case BUSY:
case GONE:
  void;
default:
  string why<>;
};`)[1];
  t.deepEqual(u, {
    kind: 'union',
    name: 'r',
    discriminant: { type: { kind: 'named', name: 'st' }, name: 'status' },
    arms: [
      {
        cases: [{ kind: 'name', name: 'OK' }],
        decl: { kind: 'plain', type: { kind: 'base', base: 'int' }, name: 'value' },
      },
      {
        cases: [
          { kind: 'name', name: 'BUSY' },
          { kind: 'name', name: 'GONE' },
        ],
        decl: { kind: 'void' },
      },
    ],
    defaultArm: { kind: 'string', name: 'why', max: null },
  } as unknown as Definition);
  const noDefault = defs('union b switch (bool on) { case TRUE: int x; case FALSE: void; };')[0];
  t.is(noDefault.kind === 'union' && noDefault.defaultArm, null);
  t.deepEqual(noDefault.kind === 'union' ? noDefault.arms.map((a) => a.cases) : null, [
    [{ kind: 'name', name: 'TRUE' }],
    [{ kind: 'name', name: 'FALSE' }],
  ] as unknown);
});

test('typedef: plain, arrays, optional, opaque and string', (t) => {
  const d = defs(`typedef unsigned hyper id;
typedef id ids<10>;
typedef id *maybe_id;
typedef opaque hash[32];
typedef string text<>;`);
  t.deepEqual(
    d.map((x) => (x.kind === 'typedef' ? [x.name, x.decl.kind] : null)),
    [
      ['id', 'plain'],
      ['ids', 'var-array'],
      ['maybe_id', 'optional'],
      ['hash', 'fixed-opaque'],
      ['text', 'string'],
    ],
  );
});

test('program: versions, procedures, void arguments and results', (t) => {
  const [, p] = defs(`struct a { int x; };
program PROG {
  version V1 { void NULLPROC(void) = 0; a GET(unsigned hyper) = 1; } = 1;
  version V2 { void NULLPROC(void) = 0; int PUT(a) = 2; } = 2;
} = 0x20000001;`);
  t.deepEqual(p, {
    kind: 'program',
    name: 'PROG',
    number: { kind: 'number', value: 0x20000001, text: '0x20000001' },
    versions: [
      {
        name: 'V1',
        number: { kind: 'number', value: 1, text: '1' },
        procedures: [
          {
            name: 'NULLPROC',
            result: { kind: 'void' },
            arg: { kind: 'void' },
            number: { kind: 'number', value: 0, text: '0' },
          },
          {
            name: 'GET',
            result: { kind: 'named', name: 'a' },
            arg: { kind: 'base', base: 'unsigned hyper' },
            number: { kind: 'number', value: 1, text: '1' },
          },
        ],
      },
      {
        name: 'V2',
        number: { kind: 'number', value: 2, text: '2' },
        procedures: [
          {
            name: 'NULLPROC',
            result: { kind: 'void' },
            arg: { kind: 'void' },
            number: { kind: 'number', value: 0, text: '0' },
          },
          {
            name: 'PUT',
            result: { kind: 'base', base: 'int' },
            arg: { kind: 'named', name: 'a' },
            number: { kind: 'number', value: 2, text: '2' },
          },
        ],
      },
    ],
  } as unknown as Definition);
});

test('optarc.x parses into the definitions it declares', (t) => {
  const spec: Specification = parseX(readFileSync(X_FILE, 'utf8'), 'optarc.x');
  const count = (kind: Definition['kind']) => spec.definitions.filter((d) => d.kind === kind).length;
  // Counted by hand in optarc.x: 17 consts; enums optarc_status, _kind, _burn_mode, _job_state, _match,
  // _retrieve_mode, _retrieval_state; 49 structs and 16 unions (every result union plus optarc_detail).
  t.is(count('const'), 17);
  t.is(count('enum'), 7);
  t.is(count('typedef'), 5);
  t.is(count('struct'), 49);
  t.is(count('union'), 16);
  t.is(count('program'), 1);
  t.is(spec.definitions.length, 17 + 7 + 5 + 49 + 16 + 1, 'nothing else');
  const status = spec.definitions.find((d) => d.kind === 'enum' && d.name === 'optarc_status');
  t.is(status?.kind === 'enum' ? status.members.length : 0, 28);
  t.deepEqual(status?.kind === 'enum' ? status.members.slice(24).map((m) => m.name) : [], [
    'OPTARC_NOT_READY',
    'OPTARC_EXPIRED',
    'OPTARC_NO_SOURCE',
    'OPTARC_CORRUPT',
  ]);
  const prog = spec.definitions.find((d) => d.kind === 'program');
  t.is(prog?.kind === 'program' ? prog.versions[0].procedures.length : 0, 26);
});

/** [source, line, column, message pattern] */
const BAD: [string, number, number, RegExp][] = [
  ['const A = 1\nconst B = 2;', 2, 1, /expected ';' after the value of constant A, found 'const'/],
  ['struct s {\n  int a;\n  foo b;\n};', 3, 3, /struct s: b: unknown type foo/],
  ['struct s {\n  opaque a<MAX>;\n};', 2, 12, /struct s: a: MAX is not a declared constant/],
  ['struct s {\n  string name;\n};', 2, 14, /string name needs a maximum: string name<N> or string name<>/],
  ['struct s { opaque data; };', 1, 23, /opaque data needs a size/],
  ['\n\nstruct s { struct { int a; } b; };', 3, 12, /inline 'struct' definitions are not supported/],
  ['struct s { quadruple q; };', 1, 12, /quadruple .* is not supported/],
  ['struct s { long n; };', 1, 12, /'long' is a C type, not XDR/],
  ['struct s { unsigned long n; };', 1, 21, /'unsigned long' is a C type, not XDR/],
  ['struct s { int a; };\nstruct s { int b; };', 2, 1, /type s is already declared \(line 1\)/],
  ['struct s { int a; int a; };', 1, 19, /struct s: a is declared twice/],
  ['const A = 1;\nenum e { A = 2 };', 2, 10, /enum value A is already declared \(line 1\)/],
  ['enum e {\n  A = 1,\n  B\n};', 4, 1, /enum e: B needs '= value'/],
  ['enum e { A = 1, B = 1 };', 1, 17, /enum e: B and A both have the value 1/],
  [
    'enum e { A = 0, B = 1 };\nunion u switch (e d) {\ncase A: int x;\ncase A: void;\n};',
    4,
    6,
    /union u: case 0 already has an arm \(line 3\)/,
  ],
  [
    'enum e { A = 0 };\nenum f { Z = 5 };\nunion u switch (e d) { case Z: void; };',
    3,
    29,
    /case Z belongs to enum f, not e/,
  ],
  ['enum e { A = 0 };\nunion u switch (e d) { case 7: void; };', 2, 29, /case 7 is not a value of enum e/],
  ['union u switch (hyper d) { case 1: void; };', 1, 17, /the discriminant must be int, unsigned int, bool or an enum/],
  ['union u switch (int d) {\ndefault: void;\ncase 1: int a;\n};', 3, 1, /the default arm must come last/],
  ['union u switch (int d) { case TRUE: void; };', 1, 31, /case TRUE needs a bool discriminant/],
  ['struct s { void; };', 1, 12, /struct s: a field cannot be void/],
  ['struct a { b x; };\nstruct b { a y; };', 2, 12, /a -> b -> a: a type cannot contain itself/],
  ['program P { version V { int F(int, int) = 1; } = 1; } = 1;', 1, 34, /several arguments need rpcgen -N/],
  ['program P { version V { void F(void) = 1; void G(void) = 1; } = 1; } = 1;', 1, 58, /procedures F and G are both 1/],
  ['program P { version V { void F(string) = 1; } = 1; } = 1;', 1, 32, /'string' needs a typedef/],
  ['program P { version V { foo F(void) = 1; } = 1; } = 1;', 1, 25, /F's result: unknown type foo/],
  ['#include "x.h"\n', 1, 1, /preprocessor directives/],
  ['const A = 1; // note\n', 1, 14, /'\/\/' comments are not rpcgen syntax/],
  ['const A = 1;\n/* open\n\n', 2, 1, /unterminated comment/],
  ['const A = 09;', 1, 11, /'09' is not a decimal, hexadecimal or octal integer/],
  ['const A = 1;\n\n  @', 3, 3, /unexpected character '@'/],
  ['typedef int int;', 1, 13, /found the keyword 'int'/],
  ['const A = 1;\nstruct s { int a; }', 2, 20, /expected ';' after struct s, found end of file/],
  ['program P { version V { void F(void) = 0; } = 4294967296; } = 1;', 1, 47, /not an unsigned 32-bit number/],
  ['struct s { int a<-1>; };', 1, 18, /-1 is not a size/],
];

for (const [source, line, column, message] of BAD) {
  test(`rejects with line and column: ${message.source}`, (t) => {
    const err = t.throws(() => parseX(source, 'bad.x'), { instanceOf: XParseError });
    t.regex(err.message, message);
    t.is(`${err.line}:${err.column}`, `${line}:${column}`, err.message);
    t.true(err.message.startsWith(`bad.x:${line}:${column}: `), err.message);
  });
}

// ---------------------------------------------------------------- emitter

test('naming: .x names to PascalCase TypeScript type names', (t) => {
  t.is(pascalCase('optarc_hello_args'), 'OptarcHelloArgs');
  t.is(pascalCase('OPTARC_V1'), 'OptarcV1');
  t.is(pascalCase('nfs_fh3'), 'NfsFh3');
  t.is(pascalCase('readdirArgs'), 'ReaddirArgs');
});

test('the emitter refuses names that would collide in TypeScript', (t) => {
  const spec = parseX('struct foo_bar { int a; };\nstruct fooBar { int b; };', 'c.x');
  const err = t.throws(() => emitTypeScript(spec, { source: 'c.x', xdrImport: 'x.js' }), { instanceOf: EmitError });
  t.regex(err.message, /struct fooBar and struct foo_bar would both be named FooBar/);
});

test('drift: clients/protocol/generated/optarc.ts is exactly what optarc.x generates', (t) => {
  t.is(xdrImportFor(GENERATED), '../../oncrpc/xdr/index.js');
  const regenerated = generate(readFileSync(X_FILE, 'utf8'), {
    source: 'clients/protocol/optarc.x',
    xdrImport: xdrImportFor(GENERATED),
  });
  const committed = readFileSync(GENERATED, 'utf8');
  t.true(
    regenerated === committed,
    'clients/protocol/generated/optarc.ts differs from what optarc.x generates: run npm run generate:protocol',
  );
  t.true(committed.startsWith('/*\n * Generated from clients/protocol/optarc.x by `npm run generate:protocol`.'));
});

test('the CLI reports parse errors with file and line, and --check detects drift', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-gen-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'bad.x'), 'const A = 1;\nstruct s { int a }\n');
  const bad = spawnSync(process.execPath, [MAIN, path.join(dir, 'bad.x'), path.join(dir, 'bad.ts')], {
    cwd: dir,
    encoding: 'utf8',
  });
  t.is(bad.status, 1);
  t.regex(bad.stderr, /^bad\.x:2:18: expected ';' after field a of struct s, found '}'/);

  const ok = spawnSync(process.execPath, [MAIN, 'clients/protocol/optarc.x', GENERATED, '--check'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  t.is(ok.status, 0, ok.stderr);
  const stale = path.join(dir, 'stale.ts');
  writeFileSync(stale, `${readFileSync(GENERATED, 'utf8')}// edited\n`);
  const drift = spawnSync(process.execPath, [MAIN, 'clients/protocol/optarc.x', stale, '--check'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  t.is(drift.status, 1);
  t.regex(drift.stderr, /is out of date/);
});

// ---------------------------------------------------------------- the generated optarc binding

const sha = (seed: number) => Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 7 + seed) & 0xff));
const time = { seconds: 1_700_000_000n, nanoseconds: 123_456_789 };
const fail = {
  detail: { tag: optarc.OptarcStatus.OPTARC_NOT_FOUND, value: undefined },
  message: 'no such file: a/b',
};
const entry = {
  name: Buffer.from('file.bin'),
  kind: optarc.OptarcKind.OPTARC_FILE,
  size: 5n,
  mode: 0o644,
  mtime: time,
  committed: true,
  sha256: sha(1),
};
const S = optarc.OptarcStatus;
const catVolume = {
  vsn: 'OPT000001',
  label: 'RUN 42',
  media: 'dvd+r',
  state: 'mirrored',
  created: time,
  image_bytes: 4_700_000_000n,
  image_sha256: sha(2),
  sessions: 1,
  files: 3,
  copies: [{ copy: 1, state: 'bad', medium: '', drive: '', note: 'lost' }],
  cloud_key: 'sites/local/volumes/OPT000001/OPT000001.iso',
  cloud_version: 'v1',
  fixity: 'cloud ok 2026-11-21',
};
const catFile = {
  path: Buffer.from('run42/a.fits'),
  size: 10n,
  mode: 0o644,
  mtime: time,
  sha256: sha(3),
  vsn: 'OPT000001',
  session: 1,
  part: 0,
  parts: 0,
  part_offset: 0n,
  part_length: 10n,
};
const retrieval = {
  token: 'ab'.repeat(16),
  state: optarc.OptarcRetrievalState.OPTARC_RETRIEVAL_QUEUED,
  mode: optarc.OptarcRetrieveMode.OPTARC_OFFLINE,
  priority: 3,
  position: 7,
  deadline: time,
  vsn: 'OPT000001',
  path: Buffer.from('run42/a.fits'),
  size: 10n,
  sha256: sha(3),
  source: '',
  percent: 0,
  expires: time,
  message: '',
};
const fixityCheck = {
  vsn: 'OPT000001',
  target: 'copy 2',
  ok: false,
  at: time,
  bytes: 4096n,
  detail: 'sha256 mismatch: propose optarc reburn OPT000001',
};

/** One value of every type the binding declares: the compiler insists on a key per type. */
const SAMPLES: { [K in keyof Codecs]: x.Infer<Codecs[K]> } = {
  optarc_status: S.OPTARC_IO_ERROR,
  optarc_path: Buffer.from('dir/sub/file'),
  optarc_sha256: sha(3),
  optarc_text: 'écrit — done',
  optarc_session: 0xfedcba9876543210n,
  optarc_job: 42n,
  optarc_time: { seconds: -1n, nanoseconds: 999_999_999 },
  optarc_busy: { holder: '10.0.0.7', client: 'sparc20', since: time },
  optarc_versions: { low: 1, high: 3 },
  optarc_digests: { expected: sha(1), actual: sha(2) },
  optarc_sizes: { expected: 10n, actual: 2n ** 64n - 1n },
  optarc_quota: { limit: 1n << 40n, used: 12_345n },
  optarc_detail: { tag: S.OPTARC_QUOTA_EXCEEDED, value: { limit: 100n, used: 101n } },
  optarc_fail: fail,
  optarc_res: { tag: S.OPTARC_OK, value: undefined },
  optarc_hello_args: { protocol: 1, client_time: time, client: 'sun4m' },
  optarc_hello_ok: {
    protocol: 1,
    session: 7n,
    lease_seconds: 30,
    quota: { limit: 1n, used: 0n },
    agent_time: time,
    charset: 'utf-8',
    max_data: 1_048_576,
  },
  optarc_hello_res: { tag: S.OPTARC_BUSY, value: fail },
  optarc_session_args: { session: 1n },
  optarc_path_args: { session: 1n, path: Buffer.from('a') },
  optarc_mkdir_args: { session: 1n, path: Buffer.from('a'), mode: 0o755 },
  optarc_write_args: { session: 1n, path: Buffer.from('a'), offset: 4096n, data: Buffer.from([0, 1, 2, 254, 255]) },
  optarc_write_ok: { size: 4101n },
  optarc_write_res: { tag: S.OPTARC_OK, value: { size: 9n } },
  optarc_commit_args: { session: 1n, path: Buffer.from('a'), size: 5n, mode: 0o600, mtime: null, sha256: sha(9) },
  optarc_commit_ok: { sha256: sha(4), size: 5n },
  optarc_commit_res: { tag: S.OPTARC_OK, value: { sha256: sha(4), size: 5n } },
  optarc_kind: optarc.OptarcKind.OPTARC_DIR,
  optarc_entry: entry,
  optarc_list_args: { session: 1n, dir: Buffer.alloc(0), cookie: 0n, count: 512 },
  optarc_list_ok: { entries: [entry, { ...entry, sha256: null, committed: false }], cookie: 2n, eof: true },
  optarc_list_res: { tag: S.OPTARC_BAD_COOKIE, value: fail },
  optarc_stat_res: { tag: S.OPTARC_OK, value: entry },
  optarc_burn_mode: optarc.OptarcBurnMode.OPTARC_BURN_APPEND,
  optarc_burn_args: { session: 1n, mode: 1, copies: 2, media: 'BD-R', label: 'ARCHIVE_2024' },
  optarc_burn_copy_args: { session: 1n, copies: 1, media: 'DVD+R' },
  optarc_drive_args: { session: 1n, drive: 'sr0' },
  optarc_unmount_args: { session: 1n, drive: 'sr1', eject: true },
  optarc_job_res: { tag: S.OPTARC_OK, value: 77n },
  optarc_job_state: optarc.OptarcJobState.OPTARC_JOB_FAILED,
  optarc_job_args: { session: 1n, job: 77n },
  optarc_copy_status: { copy: 1, attempt: 2, drive: 'sr0', state: 'bad', percent: 7, error: 'WRITE_FAILED' },
  optarc_volume_status: { vsn: 'OPT000001', state: 'writing', percent: 50, copies: [] },
  optarc_job_status: {
    job: 77n,
    state: 2,
    step: 'burn',
    percent: 50,
    message: '',
    volumes: [{ vsn: 'OPT000001', state: 'finished', percent: 100, copies: [] }],
  },
  optarc_job_status_res: { tag: S.OPTARC_NO_SUCH_JOB, value: fail },
  optarc_drive: { name: 'sr0', address: '/dev/sr0', loaded: true, media: 'BD-R', vsn: 'OPT001', busy: false },
  optarc_drives_res: { tag: S.OPTARC_OK, value: [] },
  optarc_vol_list_args: { session: 1n, drive: 'sr0', dir: Buffer.from('/'), cookie: 3n, count: 10 },
  optarc_vol_read_args: { session: 1n, drive: 'sr0', path: Buffer.from('x'), offset: 0n, count: 1_048_576 },
  optarc_vol_read_ok: { data: Buffer.from('abc'), eof: false },
  optarc_vol_read_res: { tag: S.OPTARC_NO_MEDIUM, value: fail },
  optarc_cat_copy: { copy: 2, state: 'verified', medium: 'shelf/OPT000001-2', drive: 'sr0', note: '' },
  optarc_cat_volume: catVolume,
  optarc_cat_volumes_args: { session: 1n, since: time, cookie: 0n, count: 10 },
  optarc_cat_volumes_ok: { volumes: [catVolume], cookie: 1n, eof: true },
  optarc_cat_volumes_res: { tag: S.OPTARC_OK, value: { volumes: [], cookie: 0n, eof: true } },
  optarc_match: optarc.OptarcMatch.OPTARC_MATCH_LIKE,
  optarc_cat_file: catFile,
  optarc_cat_find_args: {
    session: 1n,
    match: optarc.OptarcMatch.OPTARC_MATCH_GLOB,
    pattern: Buffer.from('run42/*.fits'),
    since: time,
    vsn: '',
    cookie: 0n,
    count: 128,
  },
  optarc_cat_find_ok: { files: [catFile], cookie: 3n, eof: false },
  optarc_cat_find_res: { tag: S.OPTARC_BAD_ARGUMENT, value: fail },
  optarc_whereis_args: { session: 1n, path: Buffer.from(''), sha256: sha(4), cookie: 0n, count: 5 },
  optarc_location: { file: catFile, volume: catVolume },
  optarc_whereis_ok: { locations: [{ file: catFile, volume: catVolume }], cookie: 0n, eof: true },
  optarc_whereis_res: { tag: S.OPTARC_NOT_FOUND, value: fail },
  optarc_retrieve_mode: optarc.OptarcRetrieveMode.OPTARC_OFFLINE,
  optarc_retrieve_args: {
    session: 1n,
    path: Buffer.from('a/b.fits'),
    sha256: null,
    vsn: 'OPT000001',
    mode: optarc.OptarcRetrieveMode.OPTARC_OFFLINE,
    priority: 5,
    deadline: time,
  },
  optarc_retrieval_state: optarc.OptarcRetrievalState.OPTARC_RETRIEVAL_READY,
  optarc_retrieval: retrieval,
  optarc_retrieve_res: { tag: S.OPTARC_OK, value: retrieval },
  optarc_token_args: { session: 1n, token: 'ab'.repeat(16) },
  optarc_cached_args: { session: 1n, token: 'ab'.repeat(16), offset: 0n, count: 65536 },
  optarc_reburn_args: { session: 1n, vsn: 'OPT000001', copies: 2, media: '' },
  optarc_fixity_args: { session: 1n, run: true, vsn: '', cookie: 0n, count: 10 },
  optarc_fixity_check: fixityCheck,
  optarc_fixity_ok: {
    checks: [fixityCheck],
    cookie: 0n,
    eof: true,
    running: false,
    failures: 1,
    last_pass: time,
    next_pass: time,
  },
  optarc_fixity_res: { tag: S.OPTARC_CORRUPT, value: fail },
};

test('every type in the generated binding round-trips a sample value', (t) => {
  const codecs = createCodecs();
  t.deepEqual(Object.keys(SAMPLES).sort(), Object.keys(codecs).sort(), 'a sample for every generated type');
  for (const [name, value] of Object.entries(SAMPLES)) {
    const type = codecs[name as keyof Codecs] as x.XdrType<unknown>;
    const bytes = encode(type, value);
    t.is(bytes.length % 4, 0, `${name}: whole XDR units`);
    t.deepEqual(decode(type, bytes), value, `${name} round-trips`);
  }
});

test('the generated descriptors enforce the .x bounds, enums and arms', (t) => {
  const c = createCodecs();
  t.throws(() => encode(c.optarc_path, Buffer.alloc(optarc.OPTARC_MAX_PATH + 1)), { message: /exceed maximum 1023/ });
  t.notThrows(() => encode(c.optarc_path, Buffer.alloc(optarc.OPTARC_MAX_PATH)));
  t.throws(() => encode(c.optarc_sha256, Buffer.alloc(31)), { message: /exactly 32 bytes/ });
  t.throws(() => encode(c.optarc_kind, 3 as never), { message: /optarc_kind: 3 is not a declared value/ });
  t.throws(() => encode(c.optarc_drive_args, { session: 1n, drive: 'd'.repeat(65) }), { message: /exceed maximum 64/ });
  // optarc_detail's default arm is void: a status without details carries nothing more.
  t.is(encode(c.optarc_detail, { tag: S.OPTARC_NOT_FOUND, value: undefined }).toString('hex'), '00000007');
});

test('createCodecs(charset) decides how strings are bytes', (t) => {
  const utf8 = encode(createCodecs().optarc_text, 'é');
  const latin1 = encode(createCodecs('iso-8859-1').optarc_text, 'é');
  t.is(utf8.toString('hex'), '00000002c3a90000');
  t.is(latin1.toString('hex'), '00000001e9000000');
});

test('the procedures table mirrors optarc.x program OPTARC_PROG version OPTARC_V1', (t) => {
  const spec = parseX(readFileSync(X_FILE, 'utf8'), 'optarc.x');
  const prog = spec.definitions.find((d) => d.kind === 'program');
  if (prog?.kind !== 'program') return t.fail('no program');
  t.is(optarc.OPTARC_PROG, prog.number.value);
  t.is(optarc.OPTARC_V1, prog.versions[0].number.value);
  const codecs = createCodecs();
  const table: Record<number, { name: string; args: unknown; result: unknown }> = createOptarcV1Procedures(codecs);
  t.deepEqual(
    Object.entries(table).map(([n, p]) => [Number(n), p.name]),
    prog.versions[0].procedures.map((p) => [p.number.value, p.name]),
  );
  for (const p of prog.versions[0].procedures) {
    t.is((optarc as unknown as Record<string, number>)[p.name], p.number.value, `${p.name} exported`);
    const entryFor = table[p.number.value];
    const expected = (pt: typeof p.arg) =>
      pt.kind === 'void' ? x.xvoid : pt.kind === 'named' ? codecs[pt.name as keyof Codecs] : undefined;
    t.is(entryFor.args, expected(p.arg), `${p.name} args`);
    t.is(entryFor.result, expected(p.result), `${p.name} result`);
  }
});

// ---------------------------------------------------------------- every construct, type-checked and run

const EVERYTHING = `/* every construct the generator supports */
%#include <stdint.h>
const NEG = -5;
const SIXTEEN = 0x10;
const FIFTEEN = 017;
enum color { RED = 0, GREEN = SIXTEEN, BLUE = -1 };
typedef color color_alias;
typedef int ints<>;
typedef unsigned counts[3];
typedef opaque blob<>;
typedef string name<>;
typedef string short_name<FIFTEEN>;
struct node { int value; node *next; };
typedef node *node_ptr;
struct pair { node_ptr head; class tail; };
struct class { float f; double d; hyper h; unsigned hyper uh; bool b; opaque fixed[4]; color c; color many<2>; };
union tree switch (int kind) {
case 1: case 2:
    tree kids<>;
case 3:
    string label<8>;
case NEG:
    void;
default:
    int leaf;
};
union maybe switch (bool present) { case TRUE: name n; case FALSE: void; };
union by_color switch (color_alias c) { case RED: int r; case GREEN: case BLUE: void; };
union no_default switch (unsigned int d) { case 0: int a; case 4294967295: hyper b; };
struct x { int charset; };
program P {
  version V1 { void NULLPROC(void) = 0; int ECHO(int) = 1; } = 1;
  version V2 { void NULLPROC(void) = 0; tree GROW(node) = 2; x GET_X(unsigned hyper) = 3; } = 2;
} = 0x20000099;
`;

const USE = `import { createCodecs, createV2Procedures, type Node, type Pair, type Tree, type Maybe, Color } from './every.mjs';
const c = createCodecs();
export const n: Node = { value: 1, next: { value: 2, next: null } };
export const tr: Tree = { tag: 1, value: [{ tag: 3, value: 'leaf' }, { tag: 9, value: 4 }] };
export const p: Pair = {
  head: n,
  tail: { f: 1.5, d: 2.25, h: -1n, uh: 2n, b: true, fixed: Buffer.alloc(4), c: Color.GREEN, many: [Color.BLUE] },
};
export const m: Maybe = { tag: 1, value: 'hi' };
export const grown: Tree = createV2Procedures(c)[2].result.decode(null as never);
// @ts-expect-error 5 is not a color
export const bad: Pair = { head: null, tail: { f: 1, d: 2, h: 1n, uh: 2n, b: true, fixed: Buffer.alloc(4), c: 5, many: [] } };
`;

test('a .x using every construct emits a module that type-checks and round-trips', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-gen-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  // Type-check the emitted module (and a user of it) under the project's strict settings.
  const source = generate(EVERYTHING, { source: 'every.x', xdrImport: path.join(ROOT, 'clients/oncrpc/xdr/index.js') });
  writeFileSync(path.join(dir, 'every.mts'), source);
  writeFileSync(path.join(dir, 'use.mts'), USE);
  const program = ts.createProgram([path.join(dir, 'use.mts')], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2024.d.ts'],
    types: ['node'],
    typeRoots: [path.join(ROOT, 'node_modules/@types')],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
  const diagnostics = ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  t.deepEqual(diagnostics, []);
  t.regex(source, /const node: x\.XdrType<Node> = x\.struct\('node'/, 'recursion goes through an annotation');
  t.regex(source, /x\.lazy\('node', \(\) => node\)/);
  t.regex(source, /const x_ = x\.struct\('x'/, 'a type named x does not shadow the codec');
  t.regex(source, /class: class_,/);

  // Run it: transpile, import, round-trip recursive and otherwise.
  const runnable = generate(EVERYTHING, {
    source: 'every.x',
    xdrImport: pathToFileURL(path.join(ROOT, 'dist/clients/oncrpc/xdr/index.js')).href,
    format: false,
  });
  const js = ts.transpileModule(runnable, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText;
  writeFileSync(path.join(dir, 'every.mjs'), js);
  const mod = await import(pathToFileURL(path.join(dir, 'every.mjs')).href);
  const c = mod.createCodecs();
  t.deepEqual(mod.Color, { RED: 0, GREEN: 16, BLUE: -1 });
  t.is(mod.NEG, -5);
  t.is(mod.FIFTEEN, 15);
  t.is(mod.P, 0x20000099);
  t.is(mod.GET_X, 3);
  const roundTrips: [string, unknown, string?][] = [
    ['node', { value: 1, next: { value: 2, next: null } }, '00000001 00000001 00000002 00000000'],
    [
      'tree',
      {
        tag: 1,
        value: [
          { tag: 3, value: 'ab' },
          { tag: -5, value: undefined },
          { tag: 9, value: 4 },
        ],
      },
    ],
    ['tree', { tag: 2, value: [] }, '00000002 00000000'],
    ['maybe', { tag: 1, value: 'hi' }, '00000001 00000002 68690000'],
    ['maybe', { tag: 0, value: undefined }, '00000000'],
    ['by_color', { tag: -1, value: undefined }, 'ffffffff'],
    ['no_default', { tag: 0xffffffff, value: -2n }, 'ffffffff fffffffffffffffe'],
    ['counts', [1, 2, 3], '00000001 00000002 00000003'],
    ['short_name', 'fifteen bytes..', '0000000f 66696674 65656e20 62797465 732e2e00'],
    [
      'pair',
      {
        head: null,
        tail: { f: 1.5, d: 2.25, h: -1n, uh: 2n, b: true, fixed: Buffer.from('wxyz'), c: 16, many: [-1, 0] },
      },
    ],
    ['x', { charset: 7 }, '00000007'],
  ];
  for (const [type, value, hex] of roundTrips) {
    const bytes = encode(c[type], value);
    if (hex) t.is(bytes.toString('hex'), hex.replace(/ /g, ''), `${type} bytes`);
    t.deepEqual(decode(c[type], bytes), value, `${type} round-trips`);
  }
  t.throws(() => encode(c.short_name, 'sixteen bytes...'), { message: /exceed maximum 15/ });
  t.throws(() => encode(c.no_default, { tag: 1, value: 0 }), { message: /no arm for discriminant 1/ });
  t.throws(() => encode(c.maybe, { tag: 2, value: 'x' }), { message: /maybe: no arm for discriminant 2/ });
  t.throws(() => decode(c.maybe, Buffer.from('00000002', 'hex')), { message: /bool: 2 is not a declared value/ });
  // A linked list goes through x.lazy, one level per element.
  let list: unknown = null;
  for (let i = 0; i < 1000; i++) list = { value: i, next: list };
  t.deepEqual(decode(c.node_ptr, encode(c.node_ptr, list)), list);
});

test('the generated module is already formatted as biome formats it', (t) => {
  const committed = readFileSync(GENERATED, 'utf8');
  const formatted = execFileSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules/@biomejs/biome/bin/biome'),
      'format',
      '--stdin-file-path=clients/protocol/generated/optarc.ts',
    ],
    { cwd: ROOT, input: committed, encoding: 'utf8' },
  );
  t.is(formatted, committed);
});
