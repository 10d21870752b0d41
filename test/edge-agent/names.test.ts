/**
 * Names from clients: a corpus of hostile names, each refused with the right
 * reason, and ordinary names (including non-ASCII ones) accepted with their
 * raw bytes kept.
 */
import test from 'ava';
import { BadName, checkPath, MAX_COMPONENT_BYTES } from '../../edge-agent/staging/names.js';
import { HOSTILE } from './hostile-names.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const raw = (...bytes: number[]) => Buffer.from(bytes);

test(`a corpus of ${HOSTILE.length} hostile names is refused, each for its reason`, (t) => {
  t.true(HOSTILE.length >= 50);
  for (const [path, problem] of HOSTILE) {
    const e = t.throws(() => checkPath(path, 'utf-8'), { instanceOf: BadName }, path.toString('hex'));
    t.is(e?.problem, problem, `${JSON.stringify(path.toString('latin1'))}: ${e?.message}`);
    t.true((e?.message.length ?? 0) > 10, 'the message says what is wrong');
  }
});

test('ordinary names are accepted with their raw bytes and components', (t) => {
  for (const name of [
    'a',
    'scan-0001.fits',
    'dir/sub/file.txt',
    'dir/',
    '...',
    '..hidden',
    'a..b',
    '.profile',
    'name with spaces',
    'colon:and;semicolon?*',
    'back\\slash',
    '..\\..\\windows',
    '\u0085next-line',
    'é✓😀/日本語.txt',
    'x'.repeat(MAX_COMPONENT_BYTES),
  ]) {
    const r = checkPath(b(name), 'utf-8');
    t.true(r.bytes.equals(b(name)));
    t.is(r.text, name.replace(/\/$/, ''));
    t.deepEqual(
      r.components.map((c) => c.toString('utf8')),
      name.split('/').filter((c) => c !== ''),
    );
  }
});

test('ISO-8859-1 agents accept every byte that is not a separator or control, and keep it', (t) => {
  const latin = raw(0x63, 0x61, 0x66, 0xe9, 0x2f, 0xff); // "café/ÿ" in ISO-8859-1
  const r = checkPath(latin, 'iso-8859-1');
  t.is(r.text, 'café/ÿ');
  t.true(r.bytes.equals(latin));
  t.throws(() => checkPath(latin, 'utf-8'), { instanceOf: BadName, message: /not valid UTF-8/ });
  t.throws(() => checkPath(raw(0x61, 0x0a), 'iso-8859-1'), { instanceOf: BadName });
});
