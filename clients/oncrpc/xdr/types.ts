/**
 * XDR type descriptors: the vocabulary in which protocol contracts are written.
 *
 * A descriptor knows how to encode a JavaScript value and decode it back, and it
 * enforces everything the `.x` declaration says: maximum lengths on encode *and*
 * decode, declared enum values only, union arms with an optional `default:`,
 * 32/64-bit ranges (hypers are BigInt), charsets for strings. Nothing recurses
 * per element, so a 100,000-entry rpcgen linked list (`entry *next`) is fine.
 */
import { type Charset, decodeText, encodeText } from './charset.js';
import { XdrError } from './errors.js';
import type { XdrReader } from './reader.js';
import type { XdrWriter } from './writer.js';

export interface XdrType<T> {
  readonly name: string;
  encode(w: XdrWriter, value: T): void;
  decode(r: XdrReader): T;
}

export type Infer<X> = X extends XdrType<infer T> ? T : never;

/** The largest length an unbounded `<>` declaration may carry on the wire. */
export const UNBOUNDED = 0xffffffff;

function checkMax(max: number, what: string): void {
  if (!Number.isInteger(max) || max < 0 || max > UNBOUNDED) throw new RangeError(`${what}: bad maximum ${max}`);
}

export const xvoid: XdrType<void> = {
  name: 'void',
  encode() {},
  decode() {},
};

export const int: XdrType<number> = {
  name: 'int',
  encode: (w, v) => w.int(v),
  decode: (r) => r.int(),
};

export const uint: XdrType<number> = {
  name: 'unsigned int',
  encode: (w, v) => w.uint(v),
  decode: (r) => r.uint(),
};

export const hyper: XdrType<bigint> = {
  name: 'hyper',
  encode: (w, v) => w.hyper(v),
  decode: (r) => r.hyper(),
};

export const uhyper: XdrType<bigint> = {
  name: 'unsigned hyper',
  encode: (w, v) => w.uhyper(v),
  decode: (r) => r.uhyper(),
};

export const bool: XdrType<boolean> = {
  name: 'bool',
  encode: (w, v) => {
    if (typeof v !== 'boolean') throw new XdrError('XDR_TYPE', `bool expects true or false, got ${String(v)}`);
    w.bool(v);
  },
  decode: (r) => r.bool(),
};

export const float: XdrType<number> = {
  name: 'float',
  encode: (w, v) => w.float(v),
  decode: (r) => r.float(),
};

export const double: XdrType<number> = {
  name: 'double',
  encode: (w, v) => w.double(v),
  decode: (r) => r.double(),
};

/** An enum: only the declared values encode or decode. */
export function enumeration<const E extends Record<string, number>>(
  name: string,
  values: E,
): XdrType<E[keyof E]> & { values: E } {
  const allowed = new Set<number>(Object.values(values));
  return {
    name,
    values,
    encode(w, v) {
      if (!allowed.has(v)) throw new XdrError('XDR_BAD_ENUM', `${name}: ${String(v)} is not a declared value`);
      w.int(v);
    },
    decode(r) {
      const v = r.int();
      if (!allowed.has(v)) throw new XdrError('XDR_BAD_ENUM', `${name}: ${v} is not a declared value`);
      return v as E[keyof E];
    },
  };
}

/** `string name<max>` as text in the given charset; the maximum counts bytes. */
export function string(max = UNBOUNDED, charset: Charset = 'utf-8'): XdrType<string> {
  checkMax(max, 'string');
  const name = `string<${max === UNBOUNDED ? '' : max}>`;
  return {
    name,
    encode(w, v) {
      const bytes = encodeText(v, charset);
      if (bytes.length > max)
        throw new XdrError('XDR_TOO_LONG', `${name}: ${bytes.length} bytes exceed maximum ${max}`);
      w.opaque(bytes);
    },
    decode(r) {
      return decodeText(r.opaque(max, name), charset);
    },
  };
}

/** `opaque name<max>`: decoded as a view into the received record. */
export function opaque(max = UNBOUNDED): XdrType<Buffer> {
  checkMax(max, 'opaque');
  const name = `opaque<${max === UNBOUNDED ? '' : max}>`;
  return {
    name,
    encode(w, v) {
      if (!(v instanceof Uint8Array)) throw new XdrError('XDR_TYPE', `${name} expects a Buffer`);
      if (v.length > max) throw new XdrError('XDR_TOO_LONG', `${name}: ${v.length} bytes exceed maximum ${max}`);
      w.opaque(v);
    },
    decode: (r) => r.opaque(max, name),
  };
}

/** `opaque name[n]`. */
export function fixedOpaque(n: number): XdrType<Buffer> {
  checkMax(n, 'opaque[]');
  const name = `opaque[${n}]`;
  return {
    name,
    encode(w, v) {
      if (!(v instanceof Uint8Array) || v.length !== n) {
        throw new XdrError('XDR_TYPE', `${name} expects exactly ${n} bytes`);
      }
      w.fixedOpaque(v);
    },
    decode: (r) => r.fixedOpaque(n, name),
  };
}

/** `T name<max>`. */
export function array<T>(elem: XdrType<T>, max = UNBOUNDED): XdrType<T[]> {
  checkMax(max, 'array');
  const name = `${elem.name}<${max === UNBOUNDED ? '' : max}>`;
  return {
    name,
    encode(w, v) {
      if (!Array.isArray(v)) throw new XdrError('XDR_TYPE', `${name} expects an array`);
      if (v.length > max) throw new XdrError('XDR_TOO_LONG', `${name}: ${v.length} elements exceed maximum ${max}`);
      w.uint(v.length);
      for (let i = 0; i < v.length; i++) elem.encode(w, v[i]);
    },
    decode(r) {
      // Every XDR item takes at least 4 bytes, except void: bound the count by that.
      const n = r.length(max, elem === (xvoid as XdrType<unknown>) ? 0 : 4, name);
      const out = new Array<T>(n);
      for (let i = 0; i < n; i++) out[i] = elem.decode(r);
      return out;
    },
  };
}

/** `T name[n]`. */
export function fixedArray<T>(elem: XdrType<T>, n: number): XdrType<T[]> {
  const name = `${elem.name}[${n}]`;
  return {
    name,
    encode(w, v) {
      if (!Array.isArray(v) || v.length !== n) throw new XdrError('XDR_TYPE', `${name} expects exactly ${n} elements`);
      for (let i = 0; i < n; i++) elem.encode(w, v[i]);
    },
    decode(r) {
      if (n * 4 > r.remaining)
        throw new XdrError('XDR_SHORT', `${name}: ${r.remaining} bytes cannot hold ${n} elements`);
      const out = new Array<T>(n);
      for (let i = 0; i < n; i++) out[i] = elem.decode(r);
      return out;
    },
  };
}

/** `T *name`: optional data, null when absent. */
export function optional<T>(elem: XdrType<T>): XdrType<T | null> {
  return {
    name: `${elem.name} *`,
    encode(w, v) {
      if (v === null || v === undefined) {
        w.bool(false);
      } else {
        w.bool(true);
        elem.encode(w, v);
      }
    },
    decode: (r) => (r.bool() ? elem.decode(r) : null),
  };
}

/**
 * An rpcgen linked list: `struct entry { T item; entry *next; }; entry *head;`
 * On the wire: for each element a 1 then the element, and a final 0. Encoded and
 * decoded iteratively, with a maximum element count.
 */
export function list<T>(elem: XdrType<T>, max = UNBOUNDED): XdrType<T[]> {
  const name = `list of ${elem.name}`;
  return {
    name,
    encode(w, v) {
      if (!Array.isArray(v)) throw new XdrError('XDR_TYPE', `${name} expects an array`);
      if (v.length > max) throw new XdrError('XDR_TOO_LONG', `${name}: ${v.length} entries exceed maximum ${max}`);
      for (let i = 0; i < v.length; i++) {
        w.bool(true);
        elem.encode(w, v[i]);
      }
      w.bool(false);
    },
    decode(r) {
      const out: T[] = [];
      while (r.bool()) {
        if (out.length >= max) throw new XdrError('XDR_TOO_LONG', `${name}: more than ${max} entries`);
        out.push(elem.decode(r));
      }
      return out;
    },
  };
}

type Fields = readonly (readonly [string, XdrType<any>])[];
type StructOf<F extends Fields> = { [K in F[number] as K[0]]: Infer<K[1]> };

/** `struct name { ... }` as a plain object with the declared keys, in order. */
export function struct<const F extends Fields>(name: string, fields: F): XdrType<StructOf<F>> {
  return {
    name,
    encode(w, v) {
      if (v === null || typeof v !== 'object') throw new XdrError('XDR_TYPE', `${name} expects an object`);
      const o = v as Record<string, unknown>;
      for (const [key, type] of fields) {
        try {
          type.encode(w, o[key]);
        } catch (e) {
          throw prefixed(e, `${name}.${key}`);
        }
      }
    },
    decode(r) {
      const out: Record<string, unknown> = {};
      for (const [key, type] of fields) out[key] = type.decode(r);
      return out as StructOf<F>;
    },
  };
}

export interface UnionValue<V = unknown> {
  tag: number;
  value: V;
}

/**
 * `union name switch (disc) { case ...: ...; default: ...; }`. Values are
 * `{ tag, value }`; an arm declared `void` has value undefined. A discriminant
 * without an arm uses `default` when declared, and is an error otherwise.
 */
export function union<V = unknown>(
  name: string,
  discriminant: XdrType<number>,
  arms: Record<number, XdrType<any>>,
  defaultArm?: XdrType<any>,
): XdrType<UnionValue<V>> {
  const table = new Map<number, XdrType<any>>(Object.entries(arms).map(([k, t]) => [Number(k), t]));
  const armFor = (tag: number): XdrType<any> => {
    const arm = table.get(tag) ?? defaultArm;
    if (!arm) throw new XdrError('XDR_BAD_UNION', `${name}: no arm for discriminant ${tag}`);
    return arm;
  };
  return {
    name,
    encode(w, v) {
      if (v === null || typeof v !== 'object') throw new XdrError('XDR_TYPE', `${name} expects { tag, value }`);
      const arm = armFor(v.tag);
      discriminant.encode(w, v.tag);
      arm.encode(w, v.value);
    },
    decode(r) {
      const tag = discriminant.decode(r);
      return { tag, value: armFor(tag).decode(r) as V };
    },
  };
}

/** A descriptor defined later (for recursive declarations). */
export function lazy<T>(name: string, get: () => XdrType<T>): XdrType<T> {
  return {
    name,
    encode: (w, v) => get().encode(w, v),
    decode: (r) => get().decode(r),
  };
}

function prefixed(e: unknown, where: string): unknown {
  if (e instanceof XdrError && !e.message.startsWith(where)) {
    return new XdrError(e.code, `${where}: ${e.message}`);
  }
  return e;
}
