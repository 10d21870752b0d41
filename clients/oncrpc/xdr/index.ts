/**
 * XDR (RFC 4506) for optarc: bounded, charset-aware, zero-copy for bulk data.
 *
 * optarc pins xdr-js-serialize 0.3.0 as the project's reference XDR library and
 * measured it against RFC 4506 (test/oncrpc/xdr-js-serialize-defects.test.ts):
 * it corrupts non-ASCII strings, allocates whatever a length prefix claims,
 * wraps hypers silently, encodes undeclared enums, has no union `default:`,
 * overflows the stack on long messages and lists, and copies bulk data three
 * times. Those defects touch every path a server runs, so this module is the
 * codec on every path; the library remains the differential oracle in the tests
 * (our bytes must equal its bytes wherever it is right) and a baseline in the
 * benchmarks.
 */
export { type Charset, decodeText, encodeText } from './charset.js';
export { XdrError, type XdrErrorCode } from './errors.js';
export { XdrReader } from './reader.js';
export type { Infer, UnionValue, XdrType } from './types.js';
export * as x from './types.js';
export { XdrWriter } from './writer.js';

import { XdrError } from './errors.js';
import { XdrReader } from './reader.js';
import type { XdrType } from './types.js';
import { XdrWriter } from './writer.js';

/** Encode one value to a single buffer. */
export function encode<T>(type: XdrType<T>, value: T): Buffer {
  const w = new XdrWriter();
  type.encode(w, value);
  return w.toBuffer();
}

/** Decode one value; trailing bytes are an error here (use XdrReader to allow them). */
export function decode<T>(type: XdrType<T>, bytes: Buffer): T {
  const r = new XdrReader(bytes);
  const v = type.decode(r);
  if (r.remaining !== 0) throw new XdrError('XDR_TRAILING', `${type.name}: ${r.remaining} trailing bytes`);
  return v;
}
