/**
 * A parser for the rpcgen language: the XDR language of RFC 4506 section 6 and
 * the program definitions of RFC 5531 section 12, as classic rpcgen accepts it.
 *
 * Supported: comments, `%` passthrough lines (ignored), `const`, `enum`,
 * `struct`, `union switch`, `typedef` and `program`, with the declarations
 * `T name`, `T name[N]`, `T name<N>`, `T name<>`, `T *name`, `opaque name[N]`,
 * `opaque name<N>`, `string name<N>` and `void`. Everything else (inline type
 * definitions, `quadruple`, C types such as `char` or `long`, `#` directives,
 * rpcgen -N multi-argument procedures) is an error naming the line and column.
 *
 * `parseX` tokenizes, parses and then checks the specification as a whole
 * (names declared once, references resolve, sizes fit, case labels belong to the
 * discriminant's enum), so everything later stages need is in the AST.
 */

export interface Pos {
  line: number;
  column: number;
}

export class XParseError extends Error {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  constructor(file: string, pos: Pos, reason: string) {
    super(`${file}:${pos.line}:${pos.column}: ${reason}`);
    this.name = 'XParseError';
    this.file = file;
    this.line = pos.line;
    this.column = pos.column;
  }
}

/** A number as written (`text` keeps its notation), or the name of a constant or enum value. */
export type Value =
  | { kind: 'number'; value: number; text: string; pos: Pos }
  | { kind: 'name'; name: string; pos: Pos };

export type BaseType = 'int' | 'unsigned int' | 'hyper' | 'unsigned hyper' | 'bool' | 'float' | 'double';

export type TypeSpec = { kind: 'base'; base: BaseType; pos: Pos } | { kind: 'named'; name: string; pos: Pos };

export type Declaration =
  | { kind: 'void'; pos: Pos }
  | { kind: 'plain'; type: TypeSpec; name: string; pos: Pos }
  | { kind: 'fixed-array'; type: TypeSpec; name: string; size: Value; pos: Pos }
  | { kind: 'var-array'; type: TypeSpec; name: string; max: Value | null; pos: Pos }
  | { kind: 'optional'; type: TypeSpec; name: string; pos: Pos }
  | { kind: 'fixed-opaque'; name: string; size: Value; pos: Pos }
  | { kind: 'var-opaque'; name: string; max: Value | null; pos: Pos }
  | { kind: 'string'; name: string; max: Value | null; pos: Pos };

export type NamedDeclaration = Exclude<Declaration, { kind: 'void' }>;

export interface ConstDef {
  kind: 'const';
  name: string;
  value: Value & { kind: 'number' };
  pos: Pos;
}

export interface EnumMember {
  name: string;
  value: Value;
  pos: Pos;
}

export interface EnumDef {
  kind: 'enum';
  name: string;
  members: EnumMember[];
  pos: Pos;
}

export interface StructDef {
  kind: 'struct';
  name: string;
  fields: NamedDeclaration[];
  pos: Pos;
}

export interface UnionArm {
  cases: Value[];
  decl: Declaration;
  pos: Pos;
}

export interface UnionDef {
  kind: 'union';
  name: string;
  discriminant: { type: TypeSpec; name: string; pos: Pos };
  arms: UnionArm[];
  defaultArm: Declaration | null;
  pos: Pos;
}

export interface TypedefDef {
  kind: 'typedef';
  name: string;
  decl: NamedDeclaration;
  pos: Pos;
}

/** A procedure's argument or result: `void`, a base type or a declared type's name. */
export type ProcType = { kind: 'void'; pos: Pos } | TypeSpec;

export interface ProcedureDef {
  name: string;
  result: ProcType;
  arg: ProcType;
  number: Value & { kind: 'number' };
  pos: Pos;
}

export interface VersionDef {
  name: string;
  procedures: ProcedureDef[];
  number: Value & { kind: 'number' };
  pos: Pos;
}

export interface ProgramDef {
  kind: 'program';
  name: string;
  versions: VersionDef[];
  number: Value & { kind: 'number' };
  pos: Pos;
}

export type TypeDef = EnumDef | StructDef | UnionDef | TypedefDef;
export type Definition = ConstDef | TypeDef | ProgramDef;

export interface Specification {
  file: string;
  definitions: Definition[];
}

// ---------------------------------------------------------------------------
// Tokens

type TokenKind = 'ident' | 'number' | 'punct' | 'eof';

interface Token {
  kind: TokenKind;
  text: string;
  pos: Pos;
}

const PUNCTUATION = new Set(['{', '}', '[', ']', '<', '>', '(', ')', '=', ';', ',', ':', '*']);

export function tokenize(source: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (at: number): Pos => ({ line, column: at - lineStart + 1 });
  const fail = (at: number, reason: string): never => {
    throw new XParseError(file, pos(at), reason);
  };
  while (i < source.length) {
    const c = source[i];
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '/' && source[i + 1] === '*') {
      const start = pos(i);
      const end = source.indexOf('*/', i + 2);
      if (end < 0) throw new XParseError(file, start, 'unterminated comment: /* without */');
      for (let j = i; j < end; j++) {
        if (source[j] === '\n') {
          line++;
          lineStart = j + 1;
        }
      }
      i = end + 2;
      continue;
    }
    if (c === '/' && source[i + 1] === '/') fail(i, "'//' comments are not rpcgen syntax: use /* ... */");
    if (c === '%' || c === '#') {
      // rpcgen passes `%` lines through to its C output; they mean nothing to XDR.
      if (source.slice(lineStart, i).trim() !== '') fail(i, `'${c}' may only start a line`);
      if (c === '#') fail(i, "preprocessor directives ('#') are not supported: use const definitions");
      const nl = source.indexOf('\n', i);
      i = nl < 0 ? source.length : nl;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < source.length && /[A-Za-z0-9_]/.test(source[j])) j++;
      tokens.push({ kind: 'ident', text: source.slice(i, j), pos: pos(i) });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(source[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < source.length && /[A-Za-z0-9_]/.test(source[j])) j++;
      tokens.push({ kind: 'number', text: source.slice(i, j), pos: pos(i) });
      i = j;
      continue;
    }
    if (PUNCTUATION.has(c)) {
      tokens.push({ kind: 'punct', text: c, pos: pos(i) });
      i++;
      continue;
    }
    fail(i, `unexpected character '${c}'`);
  }
  tokens.push({ kind: 'eof', text: '', pos: pos(i) });
  return tokens;
}

/** RFC 4506 constants: decimal, hexadecimal (0x) and octal (leading 0), optionally negative. */
function numberValue(text: string): number | null {
  const negative = text.startsWith('-');
  const body = negative ? text.slice(1) : text;
  let value: number;
  if (/^0[xX][0-9A-Fa-f]+$/.test(body)) value = Number.parseInt(body.slice(2), 16);
  else if (/^0[0-7]*$/.test(body)) value = body.length === 1 ? 0 : Number.parseInt(body.slice(1), 8);
  else if (/^[1-9][0-9]*$/.test(body)) value = Number.parseInt(body, 10);
  else return null;
  if (!Number.isSafeInteger(value)) return null;
  return negative ? -value : value;
}

// ---------------------------------------------------------------------------
// Grammar

const KEYWORDS = new Set([
  'bool',
  'case',
  'const',
  'default',
  'double',
  'quadruple',
  'enum',
  'float',
  'hyper',
  'int',
  'opaque',
  'string',
  'struct',
  'switch',
  'typedef',
  'union',
  'unsigned',
  'void',
  'program',
  'version',
  'TRUE',
  'FALSE',
]);

/** C types rpcgen passes through but XDR does not define. */
const C_TYPES = new Set(['char', 'short', 'long', 'u_int', 'u_long', 'u_short', 'u_char', 'int32_t', 'uint32_t']);

const SIMPLE_BASES = new Map<string, BaseType>([
  ['int', 'int'],
  ['hyper', 'hyper'],
  ['bool', 'bool'],
  ['float', 'float'],
  ['double', 'double'],
]);

class Parser {
  private i = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly file: string,
  ) {}

  private get tok(): Token {
    return this.tokens[this.i];
  }

  private fail(tok: Token, reason: string): never {
    throw new XParseError(this.file, tok.pos, reason);
  }

  private describe(tok: Token): string {
    return tok.kind === 'eof' ? 'end of file' : `'${tok.text}'`;
  }

  private is(text: string): boolean {
    return (this.tok.kind === 'punct' || this.tok.kind === 'ident') && this.tok.text === text;
  }

  private accept(text: string): boolean {
    if (!this.is(text)) return false;
    this.i++;
    return true;
  }

  private expect(text: string, context: string): Token {
    const tok = this.tok;
    if (!this.is(text)) this.fail(tok, `expected '${text}' ${context}, found ${this.describe(tok)}`);
    this.i++;
    return tok;
  }

  private identifier(context: string): Token {
    const tok = this.tok;
    if (tok.kind !== 'ident') this.fail(tok, `expected ${context}, found ${this.describe(tok)}`);
    if (KEYWORDS.has(tok.text)) this.fail(tok, `expected ${context}, found the keyword '${tok.text}'`);
    this.i++;
    return tok;
  }

  private number(context: string): Value & { kind: 'number' } {
    const tok = this.tok;
    if (tok.kind !== 'number') this.fail(tok, `expected ${context} (a number), found ${this.describe(tok)}`);
    const value = numberValue(tok.text);
    if (value === null) this.fail(tok, `'${tok.text}' is not a decimal, hexadecimal or octal integer`);
    this.i++;
    return { kind: 'number', value, text: tok.text, pos: tok.pos };
  }

  /** A number or the name of a constant. */
  private value(context: string): Value {
    const tok = this.tok;
    if (tok.kind === 'number') return this.number(context);
    // TRUE and FALSE are keywords but label a bool discriminant's cases.
    if (tok.kind === 'ident' && (!KEYWORDS.has(tok.text) || tok.text === 'TRUE' || tok.text === 'FALSE')) {
      this.i++;
      return { kind: 'name', name: tok.text, pos: tok.pos };
    }
    this.fail(tok, `expected ${context} (a number or a constant's name), found ${this.describe(tok)}`);
  }

  parse(): Specification {
    const definitions: Definition[] = [];
    while (this.tok.kind !== 'eof') definitions.push(this.definition());
    return { file: this.file, definitions };
  }

  private definition(): Definition {
    const tok = this.tok;
    switch (tok.kind === 'ident' ? tok.text : '') {
      case 'const':
        return this.constDef();
      case 'enum':
        return this.enumDef();
      case 'struct':
        return this.structDef();
      case 'union':
        return this.unionDef();
      case 'typedef':
        return this.typedefDef();
      case 'program':
        return this.programDef();
      default:
        this.fail(
          tok,
          `expected a definition (const, enum, struct, union, typedef or program), found ${this.describe(tok)}`,
        );
    }
  }

  private constDef(): ConstDef {
    const pos = this.expect('const', '').pos;
    const name = this.identifier("a constant's name").text;
    this.expect('=', `after 'const ${name}'`);
    const value = this.number(`the value of constant ${name}`);
    this.expect(';', `after the value of constant ${name}`);
    return { kind: 'const', name, value, pos };
  }

  private enumDef(): EnumDef {
    const pos = this.expect('enum', '').pos;
    const name = this.identifier("an enum's name").text;
    this.expect('{', `after 'enum ${name}'`);
    const members: EnumMember[] = [];
    for (;;) {
      const member = this.identifier(`a value name in enum ${name}`);
      if (!this.is('=')) {
        this.fail(this.tok, `enum ${name}: ${member.text} needs '= value' (XDR enums give every value explicitly)`);
      }
      this.i++;
      const value = this.value(`the value of ${member.text}`);
      members.push({ name: member.text, value, pos: member.pos });
      if (this.accept(',')) continue;
      if (this.is('}')) break;
      this.fail(this.tok, `expected ',' or '}' in enum ${name}, found ${this.describe(this.tok)}`);
    }
    this.expect('}', `to close enum ${name}`);
    this.expect(';', `after enum ${name}`);
    return { kind: 'enum', name, members, pos };
  }

  private structDef(): StructDef {
    const pos = this.expect('struct', '').pos;
    const name = this.identifier("a struct's name").text;
    this.expect('{', `after 'struct ${name}'`);
    const fields: NamedDeclaration[] = [];
    do {
      const decl = this.declaration(`struct ${name}`);
      if (decl.kind === 'void') this.fail(this.tokens[this.i - 1], `struct ${name}: a field cannot be void`);
      fields.push(decl);
      this.expect(';', `after field ${decl.name} of struct ${name}`);
    } while (!this.is('}'));
    this.expect('}', `to close struct ${name}`);
    this.expect(';', `after struct ${name}`);
    return { kind: 'struct', name, fields, pos };
  }

  private unionDef(): UnionDef {
    const pos = this.expect('union', '').pos;
    const name = this.identifier("a union's name").text;
    this.expect('switch', `after 'union ${name}'`);
    this.expect('(', `after 'switch' in union ${name}`);
    const discPos = this.tok.pos;
    const type = this.typeSpecifier(`union ${name}'s discriminant`);
    const discName = this.identifier(`the name of union ${name}'s discriminant`).text;
    this.expect(')', `after union ${name}'s discriminant`);
    this.expect('{', `to open union ${name}`);
    const arms: UnionArm[] = [];
    let defaultArm: Declaration | null = null;
    while (!this.is('}')) {
      const armTok = this.tok;
      if (this.accept('default')) {
        if (defaultArm) this.fail(armTok, `union ${name} has two default arms`);
        this.expect(':', "after 'default'");
        defaultArm = this.declaration(`union ${name}`);
        this.expect(';', `after union ${name}'s default arm`);
        if (!this.is('}')) this.fail(this.tok, `union ${name}: the default arm must come last`);
        break;
      }
      if (!this.is('case')) {
        this.fail(armTok, `expected 'case', 'default' or '}' in union ${name}, found ${this.describe(armTok)}`);
      }
      const cases: Value[] = [];
      while (this.accept('case')) {
        cases.push(this.value(`a case label in union ${name}`));
        this.expect(':', `after a case label in union ${name}`);
      }
      const decl = this.declaration(`union ${name}`);
      this.expect(';', `after an arm of union ${name}`);
      arms.push({ cases, decl, pos: armTok.pos });
    }
    if (arms.length === 0 && !defaultArm) this.fail(this.tok, `union ${name} has no arms`);
    this.expect('}', `to close union ${name}`);
    this.expect(';', `after union ${name}`);
    return { kind: 'union', name, discriminant: { type, name: discName, pos: discPos }, arms, defaultArm, pos };
  }

  private typedefDef(): TypedefDef {
    const pos = this.expect('typedef', '').pos;
    const decl = this.declaration('typedef');
    if (decl.kind === 'void') this.fail(this.tokens[this.i - 1], 'typedef of void');
    this.expect(';', `after typedef ${decl.name}`);
    return { kind: 'typedef', name: decl.name, decl, pos };
  }

  private programDef(): ProgramDef {
    const pos = this.expect('program', '').pos;
    const name = this.identifier("a program's name").text;
    this.expect('{', `after 'program ${name}'`);
    const versions: VersionDef[] = [];
    do {
      versions.push(this.versionDef(name));
    } while (!this.is('}'));
    this.expect('}', `to close program ${name}`);
    this.expect('=', `after program ${name}'s body`);
    const number = this.number(`program ${name}'s number`);
    this.expect(';', `after program ${name}'s number`);
    return { kind: 'program', name, versions, number, pos };
  }

  private versionDef(program: string): VersionDef {
    const pos = this.expect('version', `in program ${program}`).pos;
    const name = this.identifier("a version's name").text;
    this.expect('{', `after 'version ${name}'`);
    const procedures: ProcedureDef[] = [];
    do {
      procedures.push(this.procedureDef(name));
    } while (!this.is('}'));
    this.expect('}', `to close version ${name}`);
    this.expect('=', `after version ${name}'s body`);
    const number = this.number(`version ${name}'s number`);
    this.expect(';', `after version ${name}'s number`);
    return { name, procedures, number, pos };
  }

  private procedureDef(version: string): ProcedureDef {
    const pos = this.tok.pos;
    const result = this.procType(`a procedure's result type in version ${version}`);
    const name = this.identifier("a procedure's name").text;
    this.expect('(', `after procedure ${name}`);
    const arg = this.procType(`procedure ${name}'s argument type`);
    if (this.is(',')) {
      this.fail(this.tok, `procedure ${name}: several arguments need rpcgen -N; declare one struct argument instead`);
    }
    this.expect(')', `after procedure ${name}'s argument`);
    this.expect('=', `after procedure ${name}(...)`);
    const number = this.number(`procedure ${name}'s number`);
    this.expect(';', `after procedure ${name}'s number`);
    return { name, result, arg, number, pos };
  }

  private procType(context: string): ProcType {
    const tok = this.tok;
    if (this.accept('void')) return { kind: 'void', pos: tok.pos };
    if (this.is('string') || this.is('opaque')) {
      this.fail(tok, `${context}: '${tok.text}' needs a typedef (e.g. typedef ${tok.text} name<N>;)`);
    }
    return this.typeSpecifier(context);
  }

  /** int, unsigned int, unsigned, hyper, unsigned hyper, bool, float, double, or a name. */
  private typeSpecifier(context: string): TypeSpec {
    const tok = this.tok;
    if (tok.kind !== 'ident') this.fail(tok, `expected a type for ${context}, found ${this.describe(tok)}`);
    const pos = tok.pos;
    if (tok.text === 'unsigned') {
      this.i++;
      if (this.accept('int')) return { kind: 'base', base: 'unsigned int', pos };
      if (this.accept('hyper')) return { kind: 'base', base: 'unsigned hyper', pos };
      if (C_TYPES.has(this.tok.text)) this.fail(this.tok, `'unsigned ${this.tok.text}' is a C type, not XDR`);
      return { kind: 'base', base: 'unsigned int', pos };
    }
    const base = SIMPLE_BASES.get(tok.text);
    if (base) {
      this.i++;
      return { kind: 'base', base, pos };
    }
    if (tok.text === 'quadruple') this.fail(tok, 'quadruple (128-bit floating point) is not supported');
    if (tok.text === 'struct' || tok.text === 'union' || tok.text === 'enum') {
      this.fail(tok, `${context}: inline '${tok.text}' definitions are not supported; declare a named type`);
    }
    if (tok.text === 'void' || tok.text === 'string' || tok.text === 'opaque') {
      this.fail(tok, `${context}: '${tok.text}' is not allowed here`);
    }
    if (C_TYPES.has(tok.text)) this.fail(tok, `'${tok.text}' is a C type, not XDR: use int, unsigned int or hyper`);
    const name = this.identifier(`a type for ${context}`);
    return { kind: 'named', name: name.text, pos };
  }

  /** One declaration (without its ';'). */
  private declaration(context: string): Declaration {
    const tok = this.tok;
    const pos = tok.pos;
    if (this.accept('void')) return { kind: 'void', pos };
    if (this.accept('opaque')) {
      const name = this.identifier(`a name after 'opaque' in ${context}`).text;
      if (this.accept('[')) {
        const size = this.value(`the size of opaque ${name}`);
        this.expect(']', `after the size of opaque ${name}`);
        return { kind: 'fixed-opaque', name, size, pos };
      }
      if (this.is('<')) return { kind: 'var-opaque', name, max: this.bound(`opaque ${name}`), pos };
      this.fail(this.tok, `opaque ${name} needs a size: opaque ${name}[N] or opaque ${name}<N>`);
    }
    if (this.accept('string')) {
      const name = this.identifier(`a name after 'string' in ${context}`).text;
      if (this.is('<')) return { kind: 'string', name, max: this.bound(`string ${name}`), pos };
      this.fail(this.tok, `string ${name} needs a maximum: string ${name}<N> or string ${name}<>`);
    }
    const type = this.typeSpecifier(context);
    if (this.accept('*')) {
      const name = this.identifier(`a name after '*' in ${context}`).text;
      return { kind: 'optional', type, name, pos };
    }
    const name = this.identifier(`a name in ${context}`).text;
    if (this.accept('[')) {
      const size = this.value(`the size of ${name}`);
      this.expect(']', `after the size of ${name}`);
      return { kind: 'fixed-array', type, name, size, pos };
    }
    if (this.is('<')) return { kind: 'var-array', type, name, max: this.bound(name), pos };
    return { kind: 'plain', type, name, pos };
  }

  /** `<N>` or `<>`. */
  private bound(what: string): Value | null {
    this.expect('<', `after ${what}`);
    if (this.accept('>')) return null;
    const max = this.value(`the maximum of ${what}`);
    this.expect('>', `after the maximum of ${what}`);
    return max;
  }
}

// ---------------------------------------------------------------------------
// Checks on the whole specification

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;

export interface Resolved {
  spec: Specification;
  consts: Map<string, number>;
  /** Every enum value by name, with its enum. */
  enumValues: Map<string, { enumName: string; value: number }>;
  types: Map<string, TypeDef>;
}

/** Parse and check rpcgen source. Throws XParseError naming the file, line and column. */
export function parseX(source: string, file = 'input.x'): Specification {
  const spec = new Parser(tokenize(source, file), file).parse();
  check(spec);
  return spec;
}

/** Resolution tables for a checked specification. */
export function resolve(spec: Specification): Resolved {
  const consts = new Map<string, number>();
  const enumValues = new Map<string, { enumName: string; value: number }>();
  const types = new Map<string, TypeDef>();
  function fail(pos: Pos, reason: string): never {
    throw new XParseError(spec.file, pos, reason);
  }
  const declared = new Map<string, Pos>();
  const procedures = new Map<string, number>();
  const declare = (name: string, pos: Pos, what: string) => {
    const earlier = declared.get(name);
    if (earlier) fail(pos, `${what} ${name} is already declared (line ${earlier.line})`);
    declared.set(name, pos);
  };
  for (const def of spec.definitions) {
    switch (def.kind) {
      case 'const':
        declare(def.name, def.pos, 'constant');
        consts.set(def.name, def.value.value);
        break;
      case 'enum':
        declare(def.name, def.pos, 'type');
        types.set(def.name, def);
        for (const m of def.members) declare(m.name, m.pos, 'enum value');
        break;
      case 'program':
        declare(def.name, def.pos, 'program');
        for (const v of def.versions) {
          declare(v.name, v.pos, 'version');
          for (const p of v.procedures) {
            // rpcgen #defines procedure names: another version may repeat one with the same number.
            const same = procedures.get(p.name);
            if (same !== undefined && same === p.number.value) continue;
            declare(p.name, p.pos, 'procedure');
            procedures.set(p.name, p.number.value);
          }
        }
        break;
      default:
        declare(def.name, def.pos, 'type');
        types.set(def.name, def);
    }
  }
  // Enum values may name constants or earlier values of any enum.
  for (const def of spec.definitions) {
    if (def.kind !== 'enum') continue;
    const seen = new Map<number, string>();
    for (const m of def.members) {
      let value: number;
      if (m.value.kind === 'number') value = m.value.value;
      else {
        const ref = m.value;
        const v = consts.get(ref.name) ?? enumValues.get(ref.name)?.value;
        if (v === undefined) fail(ref.pos, `enum ${def.name}: ${ref.name} is not a constant or an earlier enum value`);
        value = v;
      }
      if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
        fail(m.value.pos, `enum ${def.name}: ${m.name} = ${value} does not fit a 32-bit int`);
      }
      const dup = seen.get(value);
      if (dup) fail(m.pos, `enum ${def.name}: ${m.name} and ${dup} both have the value ${value}`);
      seen.set(value, m.name);
      enumValues.set(m.name, { enumName: def.name, value });
    }
  }
  return { spec, consts, enumValues, types };
}

/** Follow typedefs of plain declarations to the underlying type. */
export function underlying(r: Resolved, type: TypeSpec): TypeSpec | TypeDef {
  let t: TypeSpec | TypeDef = type;
  const seen = new Set<string>();
  while (t.kind === 'named' || (t.kind === 'typedef' && t.decl.kind === 'plain')) {
    if (t.kind === 'named') {
      if (seen.has(t.name)) return t;
      seen.add(t.name);
      const def = r.types.get(t.name);
      if (!def) return t;
      t = def;
    } else {
      t = (t.decl as { type: TypeSpec }).type;
    }
  }
  return t;
}

function check(spec: Specification): void {
  const r = resolve(spec);
  function fail(pos: Pos, reason: string): never {
    throw new XParseError(spec.file, pos, reason);
  }

  const size = (v: Value, what: string): number => {
    let n: number;
    if (v.kind === 'number') n = v.value;
    else {
      const c = r.consts.get(v.name) ?? r.enumValues.get(v.name)?.value;
      if (c === undefined) fail(v.pos, `${what}: ${v.name} is not a declared constant`);
      n = c;
    }
    if (!Number.isInteger(n) || n < 0 || n > UINT32_MAX) fail(v.pos, `${what}: ${n} is not a size (0 to 2^32-1)`);
    return n;
  };

  const typeRef = (t: TypeSpec | ProcType, what: string) => {
    if (t.kind !== 'named') return;
    const def = r.types.get(t.name);
    if (!def) {
      if (r.consts.has(t.name) || r.enumValues.has(t.name)) fail(t.pos, `${what}: ${t.name} is a constant, not a type`);
      fail(t.pos, `${what}: unknown type ${t.name}`);
    }
  };

  const declaration = (d: Declaration, where: string) => {
    if (d.kind === 'void') return;
    const what = `${where}: ${d.name}`;
    switch (d.kind) {
      case 'plain':
      case 'optional':
        typeRef(d.type, what);
        break;
      case 'fixed-array':
        typeRef(d.type, what);
        size(d.size, what);
        break;
      case 'var-array':
        typeRef(d.type, what);
        if (d.max) size(d.max, what);
        break;
      case 'fixed-opaque':
        size(d.size, what);
        break;
      case 'var-opaque':
      case 'string':
        if (d.max) size(d.max, what);
        break;
    }
  };

  const uniqueNames = (decls: Declaration[], where: string) => {
    const seen = new Set<string>();
    for (const d of decls) {
      if (d.kind === 'void') continue;
      if (seen.has(d.name)) fail(d.pos, `${where}: ${d.name} is declared twice`);
      seen.add(d.name);
    }
  };

  const uint32 = (v: Value & { kind: 'number' }, what: string) => {
    if (v.value < 0 || v.value > UINT32_MAX) fail(v.pos, `${what} ${v.text} is not an unsigned 32-bit number`);
  };

  for (const def of spec.definitions) {
    switch (def.kind) {
      case 'const':
      case 'enum':
        break;
      case 'typedef':
        declaration(def.decl, `typedef ${def.name}`);
        break;
      case 'struct':
        uniqueNames(def.fields, `struct ${def.name}`);
        for (const f of def.fields) declaration(f, `struct ${def.name}`);
        break;
      case 'union': {
        const where = `union ${def.name}`;
        const disc = def.discriminant;
        typeRef(disc.type, `${where}'s discriminant`);
        const base = underlying(r, disc.type);
        let enumName: string | null = null;
        if (base.kind === 'enum') enumName = base.name;
        else if (base.kind !== 'base' || !['int', 'unsigned int', 'bool'].includes(base.base)) {
          fail(disc.pos, `${where}: the discriminant must be int, unsigned int, bool or an enum`);
        }
        const isBool = base.kind === 'base' && base.base === 'bool';
        const seen = new Map<number, Pos>();
        for (const arm of def.arms) {
          for (const label of arm.cases) {
            let value: number;
            if (label.kind === 'number') {
              if (enumName) fail(label.pos, `${where}: case ${label.text} is not a value of enum ${enumName}`);
              value = label.value;
            } else if (label.name === 'TRUE' || label.name === 'FALSE') {
              if (!isBool) fail(label.pos, `${where}: case ${label.name} needs a bool discriminant`);
              value = label.name === 'TRUE' ? 1 : 0;
            } else {
              const ev = r.enumValues.get(label.name);
              const c = r.consts.get(label.name);
              if (enumName) {
                if (!ev) fail(label.pos, `${where}: case ${label.name} is not a value of enum ${enumName}`);
                if (ev.enumName !== enumName) {
                  fail(label.pos, `${where}: case ${label.name} belongs to enum ${ev.enumName}, not ${enumName}`);
                }
                value = ev.value;
              } else {
                const v = c ?? ev?.value;
                if (v === undefined) fail(label.pos, `${where}: case ${label.name} is not a declared constant`);
                value = v;
              }
            }
            if (isBool && value !== 0 && value !== 1) fail(label.pos, `${where}: a bool is only TRUE or FALSE`);
            const unsigned = base.kind === 'base' && base.base === 'unsigned int';
            if (unsigned ? value < 0 || value > UINT32_MAX : value < INT32_MIN || value > INT32_MAX) {
              fail(label.pos, `${where}: case ${value} does not fit the discriminant`);
            }
            const earlier = seen.get(value);
            if (earlier) fail(label.pos, `${where}: case ${value} already has an arm (line ${earlier.line})`);
            seen.set(value, label.pos);
          }
          declaration(arm.decl, where);
        }
        if (def.defaultArm) declaration(def.defaultArm, where);
        uniqueNames([...def.arms.map((a) => a.decl), ...(def.defaultArm ? [def.defaultArm] : [])], where);
        break;
      }
      case 'program': {
        uint32(def.number, `program ${def.name}'s number`);
        const versions = new Map<number, string>();
        for (const v of def.versions) {
          uint32(v.number, `version ${v.name}'s number`);
          const dup = versions.get(v.number.value);
          if (dup) fail(v.number.pos, `program ${def.name}: versions ${dup} and ${v.name} are both ${v.number.text}`);
          versions.set(v.number.value, v.name);
          const procs = new Map<number, string>();
          for (const p of v.procedures) {
            uint32(p.number, `procedure ${p.name}'s number`);
            const dupProc = procs.get(p.number.value);
            if (dupProc) {
              fail(p.number.pos, `version ${v.name}: procedures ${dupProc} and ${p.name} are both ${p.number.text}`);
            }
            procs.set(p.number.value, p.name);
            typeRef(p.result, `procedure ${p.name}'s result`);
            typeRef(p.arg, `procedure ${p.name}'s argument`);
          }
        }
        break;
      }
    }
  }
  containmentCycles(r);
}

/**
 * A struct or typedef that contains itself with no optional (*), variable-length
 * array (<>) or union arm in between describes no finite value: reject it.
 */
function containmentCycles(r: Resolved): void {
  const edges = (def: TypeDef): { to: string; pos: Pos }[] => {
    const decls = def.kind === 'struct' ? def.fields : def.kind === 'typedef' ? [def.decl] : [];
    return decls.flatMap((d) =>
      (d.kind === 'plain' || d.kind === 'fixed-array') && d.type.kind === 'named'
        ? [{ to: d.type.name, pos: d.pos }]
        : [],
    );
  };
  const state = new Map<string, 'active' | 'done'>();
  const path: string[] = [];
  const visit = (name: string) => {
    const def = r.types.get(name);
    if (!def || state.get(name) === 'done') return;
    state.set(name, 'active');
    path.push(name);
    for (const e of edges(def)) {
      if (state.get(e.to) === 'active') {
        const cycle = [...path.slice(path.indexOf(e.to)), e.to].join(' -> ');
        throw new XParseError(
          r.spec.file,
          e.pos,
          `${cycle}: a type cannot contain itself except through an optional (*), a variable-length array (<>) or a union`,
        );
      }
      visit(e.to);
    }
    path.pop();
    state.set(name, 'done');
  };
  for (const name of r.types.keys()) visit(name);
}
