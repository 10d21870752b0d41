#!/usr/bin/env node
/**
 * optarc: the command-line client of the edge agent.
 */
import { hostname, userInfo } from 'node:os';
import { parseCommandLine } from '../../config/command-line.js';
import { PortmapClient, RpcError } from '../oncrpc/index.js';
import { AgentClient } from './agent-client.js';

const FLAGS = {
  host: { setting: 'client.host', type: 'string', description: 'agent host' },
  port: { setting: 'client.port', type: 'string', description: "agent RPC port (default: ask the host's portmapper)" },
  'portmap-port': { setting: 'client.portmapPort', type: 'string', description: 'portmapper port' },
  timeout: { setting: 'client.timeoutSeconds', type: 'string', description: 'seconds to wait for a reply' },
} as const;

const COMMANDS = `commands:
  ping                  call the agent's NULL procedure and report the round trip
  portmap               list what the host's portmapper has registered

options for every command:
  --json                machine-readable output
  --auth-sys            send AUTH_SYS credentials (uid, gid, host name) instead of AUTH_NONE`;

async function main(): Promise<number> {
  const { config, positionals, values } = parseCommandLine(
    'optarc',
    '<command> [options]',
    process.argv.slice(2),
    FLAGS,
    COMMANDS,
    {
      json: { type: 'boolean' },
      'auth-sys': { type: 'boolean' },
    },
  );
  const json = values.json === true;
  const [command] = positionals;
  const c = config.client;
  const timeoutMs = c.timeoutSeconds * 1000;
  switch (command) {
    case 'ping': {
      const u = userInfo();
      const agent = await AgentClient.connect({
        host: c.host,
        port: c.port,
        portmapPort: c.portmapPort,
        timeoutMs,
        credentials: values['auth-sys']
          ? {
              flavor: 'sys',
              stamp: Math.floor(Date.now() / 1000),
              machineName: hostname().slice(0, 255),
              uid: u.uid,
              gid: u.gid,
              gids: [],
            }
          : undefined,
      });
      try {
        const t0 = process.hrtime.bigint();
        await agent.null();
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (json)
          process.stdout.write(`${JSON.stringify({ host: c.host, port: agent.port, ok: true, roundTripMs: ms })}\n`);
        else process.stdout.write(`agent at ${c.host}:${agent.port} answered NULL in ${ms.toFixed(2)} ms\n`);
      } finally {
        agent.close();
      }
      return 0;
    }
    case 'portmap': {
      const pm = await PortmapClient.connect(c.host, c.portmapPort, timeoutMs);
      try {
        const maps = await pm.dump();
        if (json) process.stdout.write(`${JSON.stringify(maps)}\n`);
        else {
          process.stdout.write('   program vers proto   port\n');
          for (const m of maps) {
            const proto = m.prot === 6 ? 'tcp' : m.prot === 17 ? 'udp' : String(m.prot);
            process.stdout.write(
              `${String(m.prog).padStart(10)} ${String(m.vers).padStart(4)} ${proto.padStart(5)} ${String(m.port).padStart(6)}\n`,
            );
          }
        }
      } finally {
        pm.close();
      }
      return 0;
    }
    case undefined:
      process.stderr.write('optarc: no command given (see optarc --help)\n');
      return 2;
    default:
      process.stderr.write(`optarc: unknown command '${command}' (see optarc --help)\n`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    const code = e instanceof RpcError ? e.code : 'ERROR';
    process.stderr.write(`optarc: ${code}: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
