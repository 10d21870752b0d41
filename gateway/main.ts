#!/usr/bin/env node
/**
 * optarc-gateway: the cloud side. At this stage it validates and shows its
 * configuration; the session, mirror and search services arrive with their issues.
 */
import { parseCommandLine } from '../config/command-line.js';

const FLAGS = {
  'http-host': {
    setting: 'gateway.http.host',
    type: 'string',
    description: 'address the HTTP/websocket host listens on',
  },
  'http-port': { setting: 'gateway.http.port', type: 'string', description: 'HTTP/websocket port' },
} as const;

const COMMANDS = `commands:
  config                print the effective gateway configuration (JSON)`;

const { config, positionals } = parseCommandLine(
  'optarc-gateway',
  '<command> [options]',
  process.argv.slice(2),
  FLAGS,
  COMMANDS,
);
const [command] = positionals;
if (command === 'config') {
  process.stdout.write(`${JSON.stringify({ log: config.log, gateway: config.gateway }, null, 2)}\n`);
} else {
  process.stderr.write(
    `optarc-gateway: ${command ? `unknown command '${command}'` : 'no command given'} (see optarc-gateway --help)\n`,
  );
  process.exit(2);
}
