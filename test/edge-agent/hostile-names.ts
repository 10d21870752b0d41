/**
 * A corpus of hostile path names, each with the reason it must be refused:
 * shared by the name-check tests and the tests that send them through the RPC.
 */
import { MAX_COMPONENT_BYTES, MAX_PATH_BYTES, type NameProblem } from '../../edge-agent/staging/names.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const raw = (...bytes: number[]) => Buffer.from(bytes);

export const HOSTILE: [Buffer, NameProblem][] = [
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
