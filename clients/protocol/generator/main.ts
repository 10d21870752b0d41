/**
 * node dist/clients/protocol/generator/main.js <file.x> <out.ts> [--check]
 *
 * Generates the TypeScript binding of an rpcgen contract (see ts-emitter.ts).
 * With --check, writes nothing and exits 1 when <out.ts> is not what <file.x>
 * generates.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generate, xdrImportFor } from './generate.js';
import { EmitError } from './ts-emitter.js';
import { XParseError } from './x-parser.js';

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const files = argv.filter((a) => a !== '--check');
  if (files.length !== 2 || files.some((f) => f.startsWith('-'))) {
    process.stderr.write('usage: main.js <file.x> <out.ts> [--check]\n');
    return 2;
  }
  const [xFile, outFile] = files;
  const source = path.relative(process.cwd(), path.resolve(xFile)).split(path.sep).join('/');
  let code: string;
  try {
    code = generate(readFileSync(xFile, 'utf8'), { source, xdrImport: xdrImportFor(outFile) });
  } catch (e) {
    if (e instanceof XParseError || e instanceof EmitError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (check) {
    let current = '';
    try {
      current = readFileSync(outFile, 'utf8');
    } catch {}
    if (current !== code) {
      process.stderr.write(`${outFile} is out of date: run npm run generate:protocol\n`);
      return 1;
    }
    return 0;
  }
  writeFileSync(outFile, code);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
