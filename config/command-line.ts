/**
 * The command-line conventions the three programs share: --help, --config FILE,
 * --print-config, and per-program flags that override one setting each.
 * Flags override OPTARC_* environment variables, which override the file.
 */
import { parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfig } from './index.js';

export interface FlagSpec {
  /** Dotted path of the setting the flag sets. */
  setting: string;
  type: 'string' | 'boolean';
  description: string;
  /** A boolean flag that sets its setting to false (--no-...). */
  negate?: boolean;
}

export interface CommandLine {
  config: Config;
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

export function usageText(program: string, synopsis: string, flags: Record<string, FlagSpec>, extra = ''): string {
  const lines = [
    `usage: ${program} ${synopsis}`,
    '',
    'options:',
    '  -h, --help            show this help',
    '  --config FILE         configuration file (JSON; default $OPTARC_CONFIG or ./optarc.json)',
    '  --print-config        print the effective configuration and exit',
  ];
  for (const [name, spec] of Object.entries(flags)) {
    const left = `  --${name}${spec.type === 'string' ? ' VALUE' : ''}`;
    lines.push(`${left.padEnd(24)}${spec.description} (setting ${spec.setting})`);
  }
  lines.push('', 'Every setting can also be given as an environment variable, e.g. OPTARC_AGENT_RPC_PORT.');
  return `${lines.join('\n')}${extra ? `\n\n${extra}` : ''}\n`;
}

/**
 * Parse argv; prints help or the effective config and exits when asked to;
 * exits with status 2 and a clear message on a bad flag or a bad setting.
 */
export function parseCommandLine(
  program: string,
  synopsis: string,
  argv: string[],
  flags: Record<string, FlagSpec>,
  extraHelp = '',
  extraOptions: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {},
): CommandLine {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    config: { type: 'string' },
    'print-config': { type: 'boolean' },
    ...extraOptions,
  };
  for (const [name, spec] of Object.entries(flags)) options[name] = { type: spec.type };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`${program}: ${(e as Error).message}\n${usageText(program, synopsis, flags, extraHelp)}`);
    process.exit(2);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    process.stdout.write(usageText(program, synopsis, flags, extraHelp));
    process.exit(0);
  }
  const overrides: Record<string, string | boolean> = {};
  for (const [name, spec] of Object.entries(flags)) {
    const v = values[name];
    if (v !== undefined) overrides[spec.setting] = spec.negate ? !v : v;
  }
  let config: Config;
  try {
    config = loadConfig({ file: values.config as string | undefined, overrides });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${program}: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (values['print-config']) {
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    process.exit(0);
  }
  return { config, positionals: parsed.positionals, values };
}
