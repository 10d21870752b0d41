/**
 * clients/protocol/optarc.x is the single source of truth: the real rpcgen must
 * accept it and a C client stub built from it must compile against libtirpc,
 * and the TypeScript binding must declare the same program, version and
 * procedures.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { createOptarcV1Procedures, OPTARC_PROG, OPTARC_V1 } from '../../clients/protocol/generated/optarc.js';
import { ROOT } from '../helpers/processes.js';

const X_FILE = path.join(ROOT, 'clients/protocol/optarc.x');

interface Declared {
  program: { name: string; number: number };
  versions: { name: string; number: number; procedures: { name: string; number: number }[] }[];
}

/** Reads program/version/procedure declarations from rpcgen source. */
function parseProgram(source: string): Declared {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/%.*$/gm, '');
  const prog = /program\s+(\w+)\s*\{([\s\S]*)\}\s*=\s*(0x[0-9a-fA-F]+|\d+)\s*;/.exec(text);
  if (!prog) throw new Error('no program declaration');
  const versions: Declared['versions'] = [];
  for (const v of prog[2].matchAll(/version\s+(\w+)\s*\{([\s\S]*?)\}\s*=\s*(\d+)\s*;/g)) {
    const procedures = [...v[2].matchAll(/[\w\s*]+?\s(\w+)\s*\([^)]*\)\s*=\s*(\d+)\s*;/g)].map((p) => ({
      name: p[1],
      number: Number(p[2]),
    }));
    versions.push({ name: v[1], number: Number(v[3]), procedures });
  }
  return { program: { name: prog[1], number: Number(prog[3]) }, versions };
}

test('optarc.x declares the program the generated TypeScript binding serves', (t) => {
  const declared = parseProgram(readFileSync(X_FILE, 'utf8'));
  t.is(declared.program.number, OPTARC_PROG);
  t.true(OPTARC_PROG >= 0x20000000 && OPTARC_PROG <= 0x3fffffff, 'program number in the user-defined range');
  const v1 = declared.versions.find((v) => v.number === OPTARC_V1);
  t.truthy(v1, 'version 1 is declared');
  t.deepEqual(
    Object.fromEntries(v1!.procedures.map((p) => [p.name, p.number])),
    Object.fromEntries(Object.entries(createOptarcV1Procedures()).map(([n, p]) => [p.name, Number(n)])),
    'procedure names and numbers match the generated binding',
  );
});

test('the real rpcgen accepts optarc.x and its client stub compiles against libtirpc', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'optarc-x-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const x = path.join(dir, 'optarc.x');
  writeFileSync(x, readFileSync(X_FILE));
  execFileSync('rpcgen', ['optarc.x'], { cwd: dir });
  const header = readFileSync(path.join(dir, 'optarc.h'), 'utf8');
  t.regex(header, /#define OPTARC_PROG 0x2A7C0001/);
  writeFileSync(
    path.join(dir, 'main.c'),
    '#include "optarc.h"\nint main(void) { CLIENT *c = clnt_create("127.0.0.1", OPTARC_PROG, OPTARC_V1, "tcp"); return c ? 0 : 1; }\n',
  );
  execFileSync(
    'gcc',
    [
      '-Wall',
      '-Werror=implicit-function-declaration',
      '-Wno-unused-variable',
      '-I/usr/include/tirpc',
      '-o',
      'probe',
      'main.c',
      'optarc_clnt.c',
      'optarc_xdr.c',
      '-ltirpc',
    ],
    {
      cwd: dir,
    },
  );
  t.true(statSync(path.join(dir, 'probe')).size > 0, 'the client stub compiled and linked');
});
