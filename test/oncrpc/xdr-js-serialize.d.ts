/**
 * Types for xdr-js-serialize 0.3.0, written here because the package ships none
 * (no `types` field, no .d.ts: one of the defects measured in
 * xdr-js-serialize-defects.test.ts). Only what the tests use is declared.
 *
 * The package is CommonJS compiled by Babel: `module.exports = { default: types }`
 * with `__esModule`. Under Node's ESM loader a default import yields the whole
 * `module.exports`, so the types are at `lib.default`, not at `lib`.
 */
declare module 'xdr-js-serialize' {
  type Format = 'raw' | 'hex' | 'base64' | 'ascii';

  interface XdrObject {
    toXDR(): Buffer;
    toXDR(format: 'raw'): Buffer;
    toXDR(format: 'hex' | 'base64' | 'ascii'): string;
    fromXDR(input: Buffer | string, format?: Format): this;
    toJSON(): unknown;
  }

  // A type alias, not an interface with a construct signature: Biome 2.3.9 panics on those.
  type XdrObjectCtor<A extends unknown[], I> = new (...args: A) => I & XdrObject;

  interface Types {
    Str: XdrObjectCtor<[initialValue?: string, maxLength?: number], { value: string; maxLength: number }>;
    VarOpaque: XdrObjectCtor<[maxLength?: number], { value: Buffer; maxLength: number }>;
    FixedOpaque: XdrObjectCtor<[length?: number], { value: Buffer; length: number }>;
    Int: XdrObjectCtor<[initialValue?: number], { value: Buffer }>;
    UInt: XdrObjectCtor<[initialValue?: number], { value: Buffer }>;
    Hyper: XdrObjectCtor<[initialValue?: number | string], { value: Buffer }>;
    UHyper: XdrObjectCtor<[initialValue?: number | string], { value: Buffer }>;
    Float: XdrObjectCtor<[initialValue?: number], { value: Buffer }>;
    Double: XdrObjectCtor<[initialValue?: number], { value: Buffer }>;
    Bool: XdrObjectCtor<[initialValue?: boolean | string], { value: boolean }>;
    Void: XdrObjectCtor<[], object>;
    Enum: XdrObjectCtor<
      [values?: Record<number, string>, initialValue?: number],
      { values: Record<number, string>; value: number }
    >;
    Union: XdrObjectCtor<
      [
        enumT?: XdrObject & { values: Record<number, string>; value: number },
        enumTypes?: Record<string, () => XdrObject>,
      ],
      { type: XdrObject & { value: number }; data: XdrObject }
    >;
    VarArray: XdrObjectCtor<
      [maxLength?: number, typeFunc?: () => XdrObject],
      { values: XdrObject[]; maxLength: number }
    >;
    FixedArray: XdrObjectCtor<[length?: number, typeFunc?: () => XdrObject], { values: XdrObject[] }>;
    Struct: XdrObjectCtor<[keys?: string[], values?: XdrObject[]], { keys: string[]; values: XdrObject[] }>;
    Option: XdrObjectCtor<[type?: XdrObject, value?: XdrObject | null], { type: XdrObject; value: XdrObject | null }>;
  }

  const lib: { default: Types };
  export default lib;
}
