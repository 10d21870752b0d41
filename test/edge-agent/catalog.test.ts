/**
 * The catalog as processes open it: several agents (or an agent and a tool)
 * opening one new catalog file at the same moment must all see one schema,
 * applied once.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../edge-agent/catalog/schema.js';
import { ROOT } from '../helpers/processes.js';

function openInChild(file: string): Promise<{ code: number | null; stderr: string }> {
  const script = `
    const { Catalog } = await import(${JSON.stringify(path.join(ROOT, 'dist/edge-agent/catalog/catalog.js'))});
    new Catalog(${JSON.stringify(file)}).close();
  `;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

test('eight processes opening one new catalog at once apply each migration exactly once', async (t) => {
  for (let round = 0; round < 3; round++) {
    const dir = mkdtempSync(path.join(tmpdir(), 'optarc-catalog-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'catalog.sqlite');
    const results = await Promise.all(Array.from({ length: 8 }, () => openInChild(file)));
    for (const r of results) t.is(r.code, 0, r.stderr);
    const db = new Database(file, { readonly: true });
    t.is(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    t.deepEqual(db.prepare(`SELECT value FROM meta WHERE key = 'next_vsn'`).all(), [{ value: '1' }]);
    db.close();
  }
});
