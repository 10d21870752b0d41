/**
 * Formats generated TypeScript with the project's biome (same binary, same
 * biome.json), so generated files pass `npm run lint` exactly as written.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The project root: the directory holding node_modules/@biomejs/biome. */
function projectRoot(biomeBin: string): string {
  return path.resolve(path.dirname(biomeBin), '../../../..');
}

/**
 * Format `code` as biome would format a file at `virtualPath` (relative to the
 * project root; it only selects the language and the configuration).
 */
export function formatWithBiome(code: string, virtualPath = 'clients/protocol/generated/generated.ts'): string {
  const bin = require.resolve('@biomejs/biome/bin/biome');
  const res = spawnSync(process.execPath, [bin, 'format', `--stdin-file-path=${virtualPath}`], {
    cwd: projectRoot(bin),
    input: code,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.error) throw res.error;
  if (res.status !== 0) throw new Error(`biome format failed (${res.status}): ${res.stderr || res.stdout}`);
  return res.stdout;
}
