/**
 * .x source in, formatted TypeScript module out: what main.ts writes and what
 * the drift test compares with the committed clients/protocol/generated/.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatWithBiome } from './format.js';
import { emitTypeScript } from './ts-emitter.js';
import { parseX } from './x-parser.js';

/** The project root, from this module's place in dist/clients/protocol/generator/. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** The XDR codec's module specifier as seen from a module written to `outFile`. */
export function xdrImportFor(outFile: string, root = PROJECT_ROOT): string {
  const target = path.join(root, 'clients/oncrpc/xdr/index.js');
  const rel = path
    .relative(path.dirname(path.resolve(outFile)), target)
    .split(path.sep)
    .join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

export interface GenerateOptions {
  /** The .x file's name as the generated header states it (project-relative). */
  source: string;
  xdrImport: string;
  /** Run biome's formatter on the output (default true). */
  format?: boolean;
}

export function generate(xSource: string, options: GenerateOptions): string {
  const spec = parseX(xSource, options.source);
  const code = emitTypeScript(spec, { source: options.source, xdrImport: options.xdrImport });
  return options.format === false ? code : formatWithBiome(code);
}
