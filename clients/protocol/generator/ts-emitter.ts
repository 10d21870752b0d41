/**
 * Emits a TypeScript module from a checked rpcgen specification (x-parser.ts).
 *
 * The module holds:
 *  - an exported const per `const`, and per program, version and procedure number;
 *  - per enum, an exported const object of its values (`OptarcStatus.OPTARC_OK`);
 *  - `createCodecs(charset)`, which builds every XDR descriptor under its .x name
 *    (`codecs.optarc_hello_args`), strings in the given charset;
 *  - per type, an exported TypeScript type in PascalCase (`OptarcHelloArgs`),
 *    `x.Infer<Codecs['optarc_hello_args']>`;
 *  - per program version, `create<Version>Procedures(codecs)`: name, argument and
 *    result descriptors keyed by procedure number.
 *
 * Descriptors are built in dependency order (source order where that allows).
 * Types that refer to one another in a cycle (an rpcgen linked list) reach each
 * other through `x.lazy`, and their TypeScript types are written out as
 * interfaces, since inference cannot follow a cycle.
 *
 * The output is deterministic; main.ts runs it through biome's formatter.
 */
import {
  type BaseType,
  type Declaration,
  type ProcType,
  type Resolved,
  resolve,
  type Specification,
  type TypeDef,
  type TypeSpec,
  type UnionDef,
  underlying,
  type Value,
  type VersionDef,
} from './x-parser.js';

export interface EmitOptions {
  /** The .x file as named in the header comment. */
  source: string;
  /** Module specifier of the XDR codec (clients/oncrpc/xdr/index.js) from the output file. */
  xdrImport: string;
  /** The command that regenerates the output, named in the header comment. */
  command?: string;
}

/** PascalCase of an .x name: optarc_hello_args -> OptarcHelloArgs, OPTARC_V1 -> OptarcV1. */
export function pascalCase(name: string): string {
  return name
    .split('_')
    .filter((part) => part !== '')
    .map((part) => {
      const rest = /^[A-Z0-9]+$/.test(part) ? part.slice(1).toLowerCase() : part.slice(1);
      return part[0].toUpperCase() + rest;
    })
    .join('');
}

const BASE_DESCRIPTORS: Record<BaseType, string> = {
  int: 'x.int',
  'unsigned int': 'x.uint',
  hyper: 'x.hyper',
  'unsigned hyper': 'x.uhyper',
  bool: 'x.bool',
  float: 'x.float',
  double: 'x.double',
};

const BASE_TS_TYPES: Record<BaseType, string> = {
  int: 'number',
  'unsigned int': 'number',
  hyper: 'bigint',
  'unsigned hyper': 'bigint',
  bool: 'boolean',
  float: 'number',
  double: 'number',
};

const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for ' +
    'function if import in instanceof new null return super switch this throw true try typeof var void while with ' +
    'yield let static implements interface package private protected public await arguments eval undefined NaN ' +
    'Infinity x charset codecs'
  ).split(' '),
);

export class EmitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmitError';
  }
}

/** Strongly connected components of the type graph (Tarjan), as a map from type to its component. */
function components(types: Map<string, TypeDef>, deps: (def: TypeDef) => string[]): Map<string, Set<string>> {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const result = new Map<string, Set<string>>();
  let next = 0;
  const strong = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of deps(types.get(v)!)) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc = new Set<string>();
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.add(w);
      } while (w !== v);
      for (const m of scc) result.set(m, scc);
    }
  };
  for (const name of types.keys()) if (!index.has(name)) strong(name);
  return result;
}

function declTypeRefs(d: Declaration): string[] {
  return 'type' in d && d.type.kind === 'named' ? [d.type.name] : [];
}

function unionDecls(def: UnionDef): Declaration[] {
  return [...def.arms.map((a) => a.decl), ...(def.defaultArm ? [def.defaultArm] : [])];
}

function dependencies(def: TypeDef): string[] {
  const refs: string[] = [];
  switch (def.kind) {
    case 'enum':
      break;
    case 'typedef':
      refs.push(...declTypeRefs(def.decl));
      break;
    case 'struct':
      for (const f of def.fields) refs.push(...declTypeRefs(f));
      break;
    case 'union':
      if (def.discriminant.type.kind === 'named') refs.push(def.discriminant.type.name);
      for (const d of unionDecls(def)) refs.push(...declTypeRefs(d));
      break;
  }
  return [...new Set(refs)];
}

/** Normalizes an .x number to a TypeScript literal (octal 017 becomes 0o17). */
function numberLiteral(v: Value & { kind: 'number' }): string {
  const negative = v.text.startsWith('-');
  const body = negative ? v.text.slice(1) : v.text;
  let out: string;
  if (/^0[xX]/.test(body)) out = `0x${body.slice(2).toLowerCase()}`;
  else if (/^0[0-7]+$/.test(body)) out = `0o${body.slice(1)}`;
  else out = body;
  return negative ? `-${out}` : out;
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function emitTypeScript(spec: Specification, options: EmitOptions): string {
  const r: Resolved = resolve(spec);
  const command = options.command ?? 'npm run generate:protocol';
  const typeDefs = [...r.types.values()];
  const programs = spec.definitions.filter((d) => d.kind === 'program');
  const consts = spec.definitions.filter((d) => d.kind === 'const');
  const enums = typeDefs.filter((d) => d.kind === 'enum');

  // Names at module level must not collide.
  const moduleValues = new Map<string, string>();
  const moduleTypes = new Map<string, string>();
  const claim = (table: Map<string, string>, name: string, what: string) => {
    const other = table.get(name);
    if (other) throw new EmitError(`${spec.file}: ${what} and ${other} would both be named ${name} in TypeScript`);
    table.set(name, what);
  };
  for (const n of ['x', 'createCodecs']) claim(moduleValues, n, 'the generated module');
  for (const n of ['Charset', 'Codecs']) claim(moduleTypes, n, 'the generated module');
  for (const c of consts) claim(moduleValues, c.name, `const ${c.name}`);
  for (const e of enums) claim(moduleValues, pascalCase(e.name), `enum ${e.name}`);
  for (const t of typeDefs) claim(moduleTypes, pascalCase(t.name), `${t.kind} ${t.name}`);
  const procConsts = new Map<string, string>();
  for (const p of programs) {
    claim(moduleValues, p.name, `program ${p.name}`);
    for (const v of p.versions) {
      claim(moduleValues, v.name, `version ${v.name}`);
      claim(moduleValues, `create${pascalCase(v.name)}Procedures`, `version ${v.name}'s procedures`);
      for (const proc of v.procedures) {
        if (procConsts.has(proc.name)) continue;
        procConsts.set(proc.name, numberLiteral(proc.number));
        claim(moduleValues, proc.name, `procedure ${proc.name}`);
      }
    }
  }

  // Local names of descriptors inside createCodecs.
  const locals = new Map<string, string>();
  const usedLocals = new Set<string>();
  for (const t of typeDefs) {
    let local = t.name;
    while (RESERVED.has(local) || moduleValues.has(local) || usedLocals.has(local)) local = `${local}_`;
    locals.set(t.name, local);
    usedLocals.add(local);
  }
  const local = (name: string) => locals.get(name)!;

  const scc = components(r.types, dependencies);
  const recursive = (name: string) => {
    const c = scc.get(name)!;
    return c.size > 1 || dependencies(r.types.get(name)!).includes(name);
  };

  const valueExpr = (v: Value): string => {
    if (v.kind === 'number') return numberLiteral(v);
    if (r.consts.has(v.name)) return v.name;
    const ev = r.enumValues.get(v.name);
    if (ev) return `${pascalCase(ev.enumName)}.${v.name}`;
    throw new EmitError(`${spec.file}: unresolved constant ${v.name}`);
  };

  /** The descriptor expression of a type specifier, from within type `owner`. */
  const typeExpr = (t: TypeSpec, owner: string): string => {
    if (t.kind === 'base') return BASE_DESCRIPTORS[t.base];
    if (scc.get(owner)?.has(t.name)) return `x.lazy(${quote(t.name)}, () => ${local(t.name)})`;
    return local(t.name);
  };

  const declExpr = (d: Declaration, owner: string): string => {
    switch (d.kind) {
      case 'void':
        return 'x.xvoid';
      case 'plain':
        return typeExpr(d.type, owner);
      case 'optional':
        return `x.optional(${typeExpr(d.type, owner)})`;
      case 'fixed-array':
        return `x.fixedArray(${typeExpr(d.type, owner)}, ${valueExpr(d.size)})`;
      case 'var-array':
        return d.max
          ? `x.array(${typeExpr(d.type, owner)}, ${valueExpr(d.max)})`
          : `x.array(${typeExpr(d.type, owner)})`;
      case 'fixed-opaque':
        return `x.fixedOpaque(${valueExpr(d.size)})`;
      case 'var-opaque':
        return d.max ? `x.opaque(${valueExpr(d.max)})` : 'x.opaque()';
      case 'string':
        return `x.string(${d.max ? valueExpr(d.max) : 'x.UNBOUNDED'}, charset)`;
    }
  };

  /** The TypeScript type of a declaration; `ref` names a declared type. */
  const declType = (d: Declaration, ref: (name: string) => string): string => {
    const spec = (t: TypeSpec) => (t.kind === 'base' ? BASE_TS_TYPES[t.base] : ref(t.name));
    switch (d.kind) {
      case 'void':
        return 'undefined';
      case 'plain':
        return spec(d.type);
      case 'optional':
        return `${spec(d.type)} | null`;
      case 'fixed-array':
      case 'var-array':
        return `${spec(d.type)}[]`;
      case 'fixed-opaque':
      case 'var-opaque':
        return 'Buffer';
      case 'string':
        return 'string';
    }
  };
  const localTypeRef = (name: string) => `x.Infer<typeof ${local(name)}>`;
  const moduleTypeRef = (name: string) => pascalCase(name);

  const descriptor = (def: TypeDef): string => {
    const name = def.name;
    switch (def.kind) {
      case 'enum':
        return `x.enumeration(${quote(name)}, ${pascalCase(name)})`;
      case 'typedef':
        return declExpr(def.decl, name);
      case 'struct': {
        const fields = def.fields.map((f) => `    [${quote(f.name)}, ${declExpr(f, name)}],`);
        return `x.struct(${quote(name)}, [\n${fields.join('\n')}\n  ])`;
      }
      case 'union': {
        const base = underlying(r, def.discriminant.type);
        const disc =
          base.kind === 'base' && base.base === 'bool'
            ? "x.enumeration('bool', { FALSE: 0, TRUE: 1 })"
            : typeExpr(def.discriminant.type, name);
        const arms: string[] = [];
        for (const arm of def.arms) {
          const expr = declExpr(arm.decl, name);
          for (const label of arm.cases) {
            let key: string;
            if (label.kind === 'name' && (label.name === 'TRUE' || label.name === 'FALSE')) {
              key = label.name === 'TRUE' ? '1' : '0';
            } else if (label.kind === 'number') {
              key = label.value < 0 ? `[${label.value}]` : String(label.value);
            } else {
              key = `[${valueExpr(label)}]`;
            }
            arms.push(`    ${key}: ${expr},`);
          }
        }
        const ref = recursive(name) ? moduleTypeRef : localTypeRef;
        const armDecls = unionDecls(def);
        const valueType = [...new Set(armDecls.map((d) => declType(d, ref)))].join(' | ');
        const defaultArm = def.defaultArm ? `, ${declExpr(def.defaultArm, name)}` : '';
        return `x.union<${valueType}>(\n    ${quote(name)},\n    ${disc},\n    {\n${arms.map((a) => `  ${a}`).join('\n')}\n    }${defaultArm},\n  )`;
      }
    }
  };

  // Dependency order, source order where possible; cycles are closed by x.lazy.
  const order: TypeDef[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const place = (name: string) => {
    if (placed.has(name) || visiting.has(name)) return;
    visiting.add(name);
    const def = r.types.get(name)!;
    for (const dep of dependencies(def)) place(dep);
    visiting.delete(name);
    placed.add(name);
    order.push(def);
  };
  for (const t of typeDefs) place(t.name);

  const out: string[] = [];
  out.push(
    '/*',
    ` * Generated from ${options.source} by \`${command}\`.`,
    ' * Do not edit: change the .x file and regenerate.',
    ' */',
    `import { type Charset, x } from ${quote(options.xdrImport)};`,
    '',
  );

  if (consts.length > 0) {
    for (const c of consts) out.push(`export const ${c.name} = ${numberLiteral(c.value)};`);
    out.push('');
  }

  for (const e of enums) {
    out.push(`/** The values of enum ${e.name}. */`, `export const ${pascalCase(e.name)} = {`);
    for (const m of e.members) out.push(`  ${m.name}: ${r.enumValues.get(m.name)!.value},`);
    out.push('} as const;', '');
  }

  const usesCharset = typeDefs.some((t) => {
    const decls =
      t.kind === 'struct' ? t.fields : t.kind === 'typedef' ? [t.decl] : t.kind === 'union' ? unionDecls(t) : [];
    return decls.some((d) => d.kind === 'string');
  });
  out.push(
    `/** Every type declared in ${options.source}, by its .x name; strings are text in \`charset\`. */`,
    `export function createCodecs(${usesCharset ? 'charset' : '_charset'}: Charset = 'utf-8') {`,
  );
  for (const def of order) {
    const annotation = recursive(def.name) ? `: x.XdrType<${pascalCase(def.name)}>` : '';
    out.push(`  const ${local(def.name)}${annotation} = ${descriptor(def)};`);
  }
  const entries = typeDefs.map((t) => (local(t.name) === t.name ? t.name : `${t.name}: ${local(t.name)}`));
  out.push(`  return { ${entries.join(', ')} };`, '}', '');
  out.push('export type Codecs = ReturnType<typeof createCodecs>;', '');

  for (const t of typeDefs) {
    const tsName = pascalCase(t.name);
    if (!recursive(t.name)) {
      out.push(`export type ${tsName} = x.Infer<Codecs[${quote(t.name)}]>;`);
      continue;
    }
    // Inference cannot follow a cycle: write the type out.
    switch (t.kind) {
      case 'struct':
        out.push(`export interface ${tsName} {`);
        for (const f of t.fields) out.push(`  ${f.name}: ${declType(f, moduleTypeRef)};`);
        out.push('}');
        break;
      case 'typedef':
        out.push(`export type ${tsName} = ${declType(t.decl, moduleTypeRef)};`);
        break;
      case 'union': {
        const armDecls = unionDecls(t);
        const valueType = [...new Set(armDecls.map((d) => declType(d, moduleTypeRef)))].join(' | ');
        out.push(`export type ${tsName} = x.UnionValue<${valueType}>;`);
        break;
      }
      case 'enum':
        throw new EmitError(`${spec.file}: enum ${t.name} cannot be recursive`);
    }
  }
  if (typeDefs.length > 0) out.push('');

  const procType = (t: ProcType) => {
    if (t.kind === 'void') return 'x.xvoid';
    if (t.kind === 'base') return BASE_DESCRIPTORS[t.base];
    return `codecs.${t.name}`;
  };
  const usesCodecs = (v: VersionDef) => v.procedures.some((p) => p.arg.kind === 'named' || p.result.kind === 'named');
  for (const p of programs) {
    out.push(`export const ${p.name} = ${numberLiteral(p.number)};`);
    for (const v of p.versions) out.push(`export const ${v.name} = ${numberLiteral(v.number)};`);
    const emitted = new Set<string>();
    for (const v of p.versions) {
      for (const proc of v.procedures) {
        if (emitted.has(proc.name) || !procConsts.has(proc.name)) continue;
        emitted.add(proc.name);
        out.push(`export const ${proc.name} = ${procConsts.get(proc.name)};`);
        procConsts.delete(proc.name);
      }
    }
    out.push('');
    for (const v of p.versions) {
      out.push(
        `/** Program ${p.name} version ${v.name}: each procedure's name, argument and result, by number. */`,
        `export function create${pascalCase(v.name)}Procedures(${usesCodecs(v) ? 'codecs' : '_codecs'}: Codecs = createCodecs()) {`,
        '  return {',
      );
      for (const proc of v.procedures) {
        out.push(
          `    [${proc.name}]: { name: ${quote(proc.name)}, args: ${procType(proc.arg)}, result: ${procType(proc.result)} },`,
        );
      }
      out.push('  } as const;', '}', '');
    }
  }
  while (out[out.length - 1] === '') out.pop();
  return `${out.join('\n')}\n`;
}
