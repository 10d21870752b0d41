/**
 * Names from clients: a corpus of hostile names, each refused with the right
 * reason, and ordinary names (including non-ASCII ones) accepted with their
 * raw bytes kept.
 */
import test from 'ava';
import {
  BadName,
  checkPath,
  MAX_COMPONENT_BYTES,
  MAX_PATH_BYTES,
  type NameProblem,
} from '../../edge-agent/staging/names.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const raw = (...bytes: number[]) => Buffer.from(bytes);

const HOSTILE: [Buffer, NameProblem][] = [
  [b(''), 'EMPTY'],
  [b('/'), 'ABSOLUTE'],
  [b('/etc/passwd'), 'ABSOLUTE'],
  [b('//server/share'), 'ABSOLUTE'],
  [b('/./a'), 'ABSOLUTE'],
  [b('..'), 'DOT_COMPONENT'],
  [b('.'), 'DOT_COMPONENT'],
  [b('../a'), 'DOT_COMPONENT'],
  [b('a/..'), 'DOT_COMPONENT'],
  [b('a/../../etc'), 'DOT_COMPONENT'],
  [b('a/./b'), 'DOT_COMPONENT'],
  [b('./a'), 'DOT_COMPONENT'],
  [b('a/../b'), 'DOT_COMPONENT'],
  [b('a/b/../../..'), 'DOT_COMPONENT'],
  [b('a//b'), 'EMPTY_COMPONENT'],
  [b('a///'), 'EMPTY_COMPONENT'],
  [b('a\0b'), 'NUL'],
  [b('\0'), 'NUL'],
  [b('a/\0/b'), 'NUL'],
  [b('ok.txt\0.jpg'), 'NUL'],
  [b('a\nb'), 'CONTROL_CHARACTER'],
  [b('a\rb'), 'CONTROL_CHARACTER'],
  [b('\tindent'), 'CONTROL_CHARACTER'],
  [b('bell\x07'), 'CONTROL_CHARACTER'],
  [b('esc\x1b[31mred'), 'CONTROL_CHARACTER'],
  [b('del\x7f'), 'CONTROL_CHARACTER'],
  [b('x\x01'), 'CONTROL_CHARACTER'],
  [b('x\x1f'), 'CONTROL_CHARACTER'],
  [raw(0xff), 'CHARSET'],
  [raw(0xc3), 'CHARSET'],
  [raw(0xc3, 0x28), 'CHARSET'],
  [raw(0xe2, 0x82), 'CHARSET'],
  [raw(0xf0, 0x9f, 0x98), 'CHARSET'],
  [raw(0xed, 0xa0, 0x80), 'CHARSET'], // UTF-8-encoded surrogate
  [raw(0xc0, 0xaf), 'CHARSET'], // overlong '/'
  [raw(0xe0, 0x80, 0xaf), 'CHARSET'], // overlong '/'
  [raw(0xc0, 0xae, 0xc0, 0xae), 'CHARSET'], // overlong ".."
  [raw(0xf8, 0x88, 0x80, 0x80, 0x80), 'CHARSET'],
  [raw(0xfe), 'CHARSET'],
  [raw(0x61, 0x80, 0x62), 'CHARSET'],
  [b('a'.repeat(MAX_COMPONENT_BYTES + 1)), 'COMPONENT_TOO_LONG'],
  [b(`dir/${'b'.repeat(300)}`), 'COMPONENT_TOO_LONG'],
  [b(`${'é'.repeat(128)}`), 'COMPONENT_TOO_LONG'], // 256 bytes
  [b('a/'.repeat(512)), 'TOO_LONG'],
  [b('x'.repeat(MAX_PATH_BYTES + 1)), 'TOO_LONG'],
  [b(`${'d/'.repeat(511)}xy`), 'TOO_LONG'],
  [b('/..'), 'ABSOLUTE'],
  [b('../../../../../../../../etc/shadow'), 'DOT_COMPONENT'],
  [raw(0x2f, 0x00), 'ABSOLUTE'],
  [b('a/./'), 'DOT_COMPONENT'],
  [b('a/b\0/../c'), 'NUL'],
  [b('a/\x1b'), 'CONTROL_CHARACTER'],
];

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
