/**
 * Globs and regular expressions over paths, matched in the gateway (the same
 * for every index backend) by V8's linear-time regexp engine: a pattern the
 * engine cannot run in time linear in the path (back-references, lookaround,
 * huge counted repetitions) is refused when compiled, so no pattern can
 * backtrack catastrophically. Paths are at most 4096 characters, so one test
 * is bounded; file-search.ts bounds how many it runs.
 *
 * Each matcher also names the longest literal every matching path must
 * contain, so the index's trigram search can narrow the scan first.
 */
import v8 from 'node:v8';

v8.setFlagsFromString('--enable-experimental-regexp-engine');

export class PatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatternError';
  }
}

export interface PathMatcher {
  test(path: string): boolean;
  /** A substring every matching path contains ('' when there is none to narrow by). */
  literal: string;
}

function linear(source: string, what: string): RegExp {
  try {
    return new RegExp(source, 'l');
  } catch (e) {
    const why = (e as Error).message.replace(/^Invalid regular expression: /, '');
    throw new PatternError(`${what} cannot be used: ${why}`);
  }
}

/**
 * A glob the whole path must match: `*` any run of characters (slashes too),
 * `?` one character, `[abc]`, `[a-z]`, `[!abc]` or `[^abc]`; `\` quotes the next
 * character. Case-sensitive.
 */
export function globMatcher(glob: string): PathMatcher {
  let source = '';
  const literals: string[] = [''];
  const literal = (c: string) => {
    source += escapeChar(c);
    literals[literals.length - 1] += c;
  };
  const cut = () => literals.push('');
  const chars = [...glob];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') {
      if (i + 1 >= chars.length) throw new PatternError('glob ends with a lone \\');
      literal(chars[++i]!);
    } else if (c === '*') {
      source += '[\\s\\S]*';
      cut();
    } else if (c === '?') {
      source += '[\\s\\S]';
      cut();
    } else if (c === '[') {
      let j = i + 1;
      let negate = false;
      if (chars[j] === '!' || chars[j] === '^') {
        negate = true;
        j++;
      }
      let body = '';
      let first = true;
      while (j < chars.length && (chars[j] !== ']' || first)) {
        const d = chars[j]!;
        if (d === '\\' && j + 1 < chars.length) body += escapeChar(chars[++j]!);
        else if (d === '-' && !first && chars[j + 1] !== ']') body += '-';
        else body += escapeChar(d);
        first = false;
        j++;
      }
      if (j >= chars.length) throw new PatternError(`glob has an unclosed [ at character ${i + 1}`);
      source += `[${negate ? '^' : ''}${body}]`;
      cut();
      i = j;
    } else literal(c);
  }
  const re = linear(`^${source}$`, 'glob');
  return { test: (p) => re.test(p), literal: longest(literals) };
}

/** A JavaScript regular expression searched anywhere in the path (anchor it with ^ and $). Case-sensitive. */
export function regexMatcher(source: string): PathMatcher {
  const re = linear(source, 'regex');
  return { test: (p) => re.test(p), literal: requiredLiteral(source) };
}

function escapeChar(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}

/** The literal with the most characters (the first of equals). */
export function longest(literals: string[]): string {
  let best = '';
  for (const l of literals) if ([...l].length > [...best].length) best = l;
  return best;
}

/**
 * The longest run of plain characters at the top level of a regex that
 * every match must contain: '' when the pattern has a top-level alternation.
 * Conservative: groups, classes and escapes like \d end a run, and a
 * quantified character is dropped from its run.
 */
export function requiredLiteral(source: string): string {
  const chars = [...source];
  const runs: string[] = [''];
  const cut = () => runs.push('');
  let i = 0;
  const skipTo = (close: string, open?: string) => {
    let depth = 1;
    i++;
    while (i < chars.length && depth > 0) {
      const c = chars[i]!;
      if (c === '\\') i++;
      else if (c === '[' && close === ')') {
        // a class inside a group: skip it whole
        i++;
        while (i < chars.length && chars[i] !== ']') i += chars[i] === '\\' ? 2 : 1;
      } else if (open && c === open) depth++;
      else if (c === close) depth--;
      i++;
    }
  };
  while (i < chars.length) {
    const c = chars[i]!;
    if (c === '|') return '';
    if (c === '*' || c === '?' || c === '+' || c === '{') {
      // the quantified atom is optional or repeated: drop it from the run
      const run = runs[runs.length - 1]!;
      runs[runs.length - 1] = [...run].slice(0, -1).join('');
      cut();
      if (c === '{') {
        while (i < chars.length && chars[i] !== '}') i++;
      }
      i++;
      if (chars[i] === '?') i++;
      continue;
    }
    if (c === '(') {
      skipTo(')', '(');
      cut();
      continue;
    }
    if (c === '[') {
      i++;
      if (chars[i] === ']') i++;
      while (i < chars.length && chars[i] !== ']') i += chars[i] === '\\' ? 2 : 1;
      i++;
      cut();
      continue;
    }
    if (c === '.' || c === '^' || c === '$') {
      cut();
      i++;
      continue;
    }
    if (c === '\\') {
      const d = chars[i + 1];
      i += 2;
      if (d !== undefined && /[^A-Za-z0-9]/.test(d)) {
        runs[runs.length - 1] += d;
        continue;
      }
      // \d, \x41, \u{1F600}, \cJ, \p{L}...: not plain text; skip what belongs to the escape
      cut();
      if (chars[i] === '{') {
        while (i < chars.length && chars[i] !== '}') i++;
        i++;
      } else if (d === 'x' || d === 'u' || d === 'c') {
        while (i < chars.length && /[0-9A-Za-z]/.test(chars[i]!)) i++;
      }
      continue;
    }
    runs[runs.length - 1] += c;
    i++;
  }
  return longest(runs);
}
