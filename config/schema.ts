/**
 * Every setting optarc reads, in one validated place: its type, its bounds and
 * its default. The three programs (optarc, optarc-agent, optarc-gateway) each
 * read their own section; `log` is shared.
 */
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);

export const configSchema = z
  .object({
    log: z.object({ level: z.enum(['error', 'warn', 'info', 'debug']).default('info') }).prefault({}),
    agent: z
      .object({
        /** Where the agent's RPC service listens. Port 0 takes a free port, found through the portmapper. */
        rpc: z
          .object({
            host: host.default('127.0.0.1'),
            port: port.default(0),
            /** Largest call accepted: at least a 1 MiB WRITE (OPTARC_MAX_DATA) with its header. */
            maxRecordSize: z
              .number()
              .int()
              .min(1024 * 1024 + 4096)
              .max(256 * 1024 * 1024)
              .default(8 * 1024 * 1024),
            maxConnections: z.number().int().min(1).max(100_000).default(256),
            idleTimeoutSeconds: z.number().int().min(0).default(300),
            /** A call must arrive whole within this many seconds of its first byte (0 = no limit). */
            recordTimeoutSeconds: z.number().int().min(0).default(60),
          })
          .prefault({}),
        /** The portmapper legacy clients ask: registered with when it answers, embedded otherwise. */
        portmap: z
          .object({
            host: host.default('127.0.0.1'),
            port: port.default(111),
            embedded: z.boolean().default(true),
          })
          .prefault({}),
        /** Where the agent keeps its state (pid file, logs, later catalog and staging). */
        stateDir: z.string().min(1).default('var/agent'),
        /** The staging area clients fill before a burn; may be its own filesystem. */
        staging: z
          .object({
            root: z.string().min(1).default('var/agent/stage'),
            /** How clients' names (bytes) map to text: UTF-8 (strict) or ISO-8859-1. */
            charset: z.enum(['utf-8', 'iso-8859-1']).default('utf-8'),
            sessionQuotaBytes: z
              .number()
              .int()
              .min(0)
              .default(64 * 1024 ** 3),
            totalQuotaBytes: z
              .number()
              .int()
              .min(0)
              .default(256 * 1024 ** 3),
            /** Free space on the staging filesystem that staging never uses. */
            minFreeBytes: z
              .number()
              .int()
              .min(0)
              .default(1024 ** 3),
          })
          .prefault({}),
        /** The controller lease (one client controls the agent at a time). */
        session: z
          .object({
            leaseSeconds: z.number().int().min(1).default(600),
            disconnectGraceSeconds: z.number().int().min(0).default(30),
            clockSkewWarnSeconds: z.number().int().min(0).default(300),
          })
          .prefault({}),
        /** Which clients may call: addresses and networks, and optionally a reserved source port. */
        access: z
          .object({
            allow: z.array(z.string().min(1)).default(['127.0.0.0/8', '::1']),
            requireReservedPort: z.boolean().default(false),
          })
          .prefault({}),
      })
      .prefault({}),
    gateway: z
      .object({
        http: z.object({ host: host.default('127.0.0.1'), port: port.default(8780) }).prefault({}),
      })
      .prefault({}),
    client: z
      .object({
        /** The agent to talk to; its port is asked of the portmapper unless `port` is set. */
        host: host.default('127.0.0.1'),
        port: port.optional(),
        portmapPort: port.default(111),
        timeoutSeconds: z.number().positive().max(3600).default(30),
      })
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
