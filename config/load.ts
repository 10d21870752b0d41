/**
 * Loading configuration: defaults, then one JSON file, then OPTARC_* environment
 * variables, then command-line flags, each overriding the one before; the result
 * is validated as a whole and every problem is reported with its source.
 *
 * The file is `--config PATH`, else $OPTARC_CONFIG, else ./optarc.json if it
 * exists. A setting's environment variable is its path in upper snake case:
 * agent.rpc.maxRecordSize is OPTARC_AGENT_RPC_MAX_RECORD_SIZE.
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { type Config, configSchema } from './schema.js';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Tree = { [key: string]: unknown };

/** Every leaf setting's dotted path, from the defaults and the schema's optional leaves. */
function settingPaths(): string[] {
  const paths: string[] = [];
  const walk = (shape: Record<string, z.ZodType>, prefix: string) => {
    for (const [key, schema] of Object.entries(shape)) {
      const inner = unwrap(schema);
      if (inner instanceof z.ZodObject) walk(inner.shape as Record<string, z.ZodType>, `${prefix}${key}.`);
      else paths.push(`${prefix}${key}`);
    }
  };
  walk(configSchema.shape as Record<string, z.ZodType>, '');
  return paths;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    const def = (s as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
    if (def.innerType && ['default', 'prefault', 'optional', 'nullable'].includes(def.type)) s = def.innerType;
    else return s;
  }
}

export function envName(path: string): string {
  return `OPTARC_${path
    .replace(/\./g, '_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase()}`;
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const k of keys.slice(0, -1)) {
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
    node = node[k] as Tree;
  }
  node[keys[keys.length - 1]] = value;
}

/** Strings from the environment or the command line, typed by what the schema expects at that path. */
function coerce(path: string, raw: string): unknown {
  const leaf = unwrap(
    path.split('.').reduce<z.ZodType>((s, k) => (unwrap(s) as z.ZodObject).shape[k] as z.ZodType, configSchema),
  );
  if (leaf instanceof z.ZodNumber) return raw.trim() === '' ? Number.NaN : Number(raw);
  if (leaf instanceof z.ZodBoolean) {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    return raw;
  }
  return raw;
}

export interface LoadOptions {
  /** Explicit config file (from --config). */
  file?: string;
  /** Settings from command-line flags, by dotted path. */
  overrides?: Record<string, string | number | boolean>;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const merged: Tree = {};
  const file = options.file ?? env.OPTARC_CONFIG ?? (existsSync('optarc.json') ? 'optarc.json' : undefined);
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${file} must hold a JSON object`);
    }
    Object.assign(merged, parsed);
  }
  for (const path of settingPaths()) {
    const raw = env[envName(path)];
    if (raw !== undefined) setPath(merged, path, coerce(path, raw));
  }
  for (const [path, value] of Object.entries(options.overrides ?? {})) {
    setPath(merged, path, typeof value === 'string' ? coerce(path, value) : value);
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((i) => {
      const path = i.path.join('.');
      const where = path && env[envName(path)] !== undefined ? ` (from ${envName(path)})` : '';
      return `  ${path || '(top level)'}: ${i.message}${where}`;
    });
    throw new ConfigError(`invalid configuration${file ? ` (file ${file})` : ''}:\n${problems.join('\n')}`);
  }
  return result.data;
}

export { settingPaths };
