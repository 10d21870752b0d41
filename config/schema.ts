/**
 * Every setting optarc reads, in one validated place: its type, its bounds and
 * its default. The three programs (optarc, optarc-agent, optarc-gateway) each
 * read their own section; `log` is shared.
 */
import path from 'node:path';
import { z } from 'zod';
import { Policy } from '../gateway/protocol/session-messages.js';

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
        /** Prometheus metrics (text format 0.0.4) on http://host:port/metrics, plus /healthz. Port 0 takes a free port. */
        metrics: z
          .object({
            enabled: z.boolean().default(false),
            host: host.default('127.0.0.1'),
            port: port.default(9464),
          })
          .prefault({}),
        /** The catalog of files, volumes, copies and jobs: an SQLite file (default <stateDir>/catalog.sqlite). */
        catalog: z.string().min(1).optional(),
        /** Burning: where images are mastered, how volumes are named and labelled, how hard to try. */
        burn: z
          .object({
            /** Mastered images wait here for their discs (and the mirror); best on its own filesystem (default <stateDir>/images). */
            imagesDir: z.string().min(1).optional(),
            /** This agent's site: on every label and, later, every cloud key. */
            site: z
              .string()
              .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a site is lowercase letters, digits and dashes')
              .default('local'),
            /** The class written on labels (NAStore's volume class). */
            volumeClass: z.string().min(1).max(32).default('archive'),
            /** Volume serials are this prefix and six digits. */
            vsnPrefix: z
              .string()
              .regex(/^[A-Z0-9_]{1,20}$/, 'a VSN prefix is 1-20 of A-Z, 0-9 and _')
              .default('OPT'),
            maxCopies: z.number().int().min(1).max(64).default(8),
            /** Attempts at one copy (each on a fresh blank) before the job gives up on its volume. */
            maxAttemptsPerCopy: z.number().int().min(1).max(20).default(3),
            masterConcurrency: z.number().int().min(1).max(16).default(1),
            /** Cut files bigger than the medium into parts across volumes (otherwise they are refused). */
            spanning: z.boolean().default(false),
          })
          .prefault({}),
        /**
         * The burners. An address is what xorriso opens: /dev/srN for a real
         * drive, stdio:<file> for a stand-in. A stand-in has a shelf where its
         * written discs are put, as an autoloader would, and loads a blank
         * after each. The default is three stand-ins, sr0 to sr2, under
         * <stateDir>/drives with their shelf in <stateDir>/shelf.
         */
        drives: z
          .array(
            z
              .object({
                name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a drive name is letters, digits, _ . -'),
                address: z.string().min(1),
                /** xorriso's write speed (1 = 1x of the medium); absent = fastest. */
                speed: z.number().int().min(1).max(64).optional(),
                standIn: z
                  .object({ shelf: z.string().min(1) })
                  .strict()
                  .optional(),
              })
              .strict(),
          )
          .refine((d) => new Set(d.map((x) => x.name)).size === d.length, 'drive names must be unique')
          .optional(),
        /** The controller lease (one client controls the agent at a time). */
        session: z
          .object({
            leaseSeconds: z.number().int().min(1).default(600),
            disconnectGraceSeconds: z.number().int().min(0).default(30),
            clockSkewWarnSeconds: z.number().int().min(0).default(300),
          })
          .prefault({}),
        /**
         * The mirror: every finished volume (image and manifest) is uploaded
         * to S3 through the gateway, which hands out presigned URLs (the agent
         * holds no cloud credentials). Off unless a gateway URL is set. When on,
         * a volume's staged files are released only once its copies are
         * verified and the gateway has acknowledged its upload.
         */
        mirror: z
          .object({
            /** The gateway's websocket, e.g. ws://127.0.0.1:8780 (absent: no mirror). */
            gatewayUrl: z
              .string()
              .regex(/^wss?:\/\/[^\s]+$/, 'must be a ws:// or wss:// URL')
              .optional(),
            /** The agent's token from `optarc-gateway agents add` (or tokenFile). */
            token: z.string().min(1).optional(),
            /** A file holding the token (read at start; first line). */
            tokenFile: z.string().min(1).optional(),
            /** Parts uploaded at once (each holds one part in memory). */
            concurrency: z.number().int().min(1).max(16).default(4),
            /** Upload bandwidth limit in bytes/s (the gateway's policy and commands can lower it). */
            maxBytesPerSecond: z.number().int().min(1).optional(),
            /** Reconnect backoff: from min to max seconds, doubling, with jitter. */
            reconnectMinSeconds: z.number().min(0.05).max(60).default(1),
            reconnectMaxSeconds: z.number().min(0.05).max(3600).default(60),
            /** Tries for one part before the volume's upload is retried later. */
            maxAttemptsPerPart: z.number().int().min(1).max(100).default(5),
          })
          .strict()
          .refine((m) => !(m.token && m.tokenFile), 'give token or tokenFile, not both')
          .prefault({}),
        /**
         * Retrieval (RETRIEVE, RETRIEVE_CACHED): requests are served from a
         * loaded disc or, offline, the cloud copy, checked against the
         * catalog's SHA-256, and kept in the cache area until collected.
         */
        retrieval: z
          .object({
            /** The cache area, best on its own filesystem (default <stateDir>/retrieved). */
            cacheDir: z.string().min(1).optional(),
            /** Bytes the cache area may hold; a request that does not fit waits (or fails if larger than this). */
            cacheBytes: z
              .number()
              .int()
              .min(1)
              .default(64 * 1024 ** 3),
            /** A ready entry not collected within this many hours expires and is freed. */
            expiryHours: z
              .number()
              .min(0.001)
              .max(24 * 365)
              .default(7 * 24),
            /** Offline requests served per round for priorities 1..5 (ImageNet's per-priority limits). */
            quotas: z.array(z.number().int().min(1).max(10_000)).length(5).default([8, 4, 2, 1, 1]),
            /** Requests fetched at once. */
            concurrency: z.number().int().min(1).max(64).default(4),
            /** How long an ONLINE RETRIEVE waits for its data before answering FETCHING (below a client's RPC timeout). */
            onlineWaitSeconds: z.number().min(0).max(20).default(10),
          })
          .strict()
          .prefault({}),
        /** Re-burning a volume from its cloud image. */
        reburn: z
          .object({
            /** Ranged GETs of the image in flight at once. */
            downloadConcurrency: z.number().int().min(1).max(32).default(4),
            /** Bytes per ranged GET. */
            chunkBytes: z
              .number()
              .int()
              .min(64 * 1024)
              .max(1024 ** 3)
              .default(64 * 1024 ** 2),
            /** How long a re-burn waits for a gateway session, without progress, before it fails NO_SOURCE. */
            gatewayWaitSeconds: z
              .number()
              .min(1)
              .max(7 * 24 * 3600)
              .default(3600),
          })
          .strict()
          .prefault({}),
        /**
         * Fixity: scheduled re-verification of every mirrored image in the
         * cloud (SHA-256 by ranged GETs) and of every disc loaded in a drive,
         * incremental with checkpoints so an interrupted pass resumes.
         */
        fixity: z
          .object({
            /** Hours between the start of one pass and the next; 0 turns the schedule off (FIXITY run=true still runs one). */
            everyHours: z
              .number()
              .min(0)
              .max(24 * 365)
              .default(24 * 7),
            /** Check cloud images. */
            cloud: z.boolean().default(true),
            /** Check discs loaded in drives. */
            discs: z.boolean().default(true),
          })
          .strict()
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
        /** The gateway store (agents, sessions, uploads, manifests): an SQLite file (default var/gateway/gateway.sqlite). */
        store: z.string().min(1).optional(),
        /**
         * The S3 bucket that holds every site's images and manifests. Without
         * endpoint and keys, the local stack's RGW is used (its keys and port
         * from <rgwDir>/rgw.json).
         */
        s3: z
          .object({
            endpoint: z.string().url().optional(),
            region: z.string().min(1).default('us-east-1'),
            bucket: z
              .string()
              .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')
              .default('optarc'),
            accessKeyId: z.string().min(1).optional(),
            secretAccessKey: z.string().min(1).optional(),
            /** Path-style addressing (needed for RGW and most S3-compatible servers). */
            forcePathStyle: z.boolean().default(true),
            /** Where the local RGW keeps its state (keys and port come from there when not given). */
            rgwDir: z.string().min(1).default('var/rgw'),
            /** Create the bucket (with versioning) when missing. */
            createBucket: z.boolean().default(true),
          })
          .strict()
          .refine(
            (s) => !!s.accessKeyId === !!s.secretAccessKey,
            'give both accessKeyId and secretAccessKey, or neither',
          )
          .prefault({}),
        /** How the gateway runs uploads. */
        mirror: z
          .object({
            partSizeBytes: z
              .number()
              .int()
              .min(5 * 1024 * 1024)
              .max(5 * 1024 ** 3)
              .default(16 * 1024 * 1024),
            /** Presigned URLs per plan message. */
            partsPerPlan: z.number().int().min(1).max(1000).default(64),
            /** How long a presigned URL stays good. */
            presignSeconds: z
              .number()
              .int()
              .min(60)
              .max(7 * 24 * 3600)
              .default(3600),
            /** Ranged GETs at once when reading an object back to check its SHA-256. */
            verifyConcurrency: z.number().int().min(1).max(32).default(4),
            verifyRangeBytes: z
              .number()
              .int()
              .min(1024 * 1024)
              .default(16 * 1024 * 1024),
            /** Largest manifest the gateway reads back. */
            maxManifestBytes: z
              .number()
              .int()
              .min(4096)
              .default(64 * 1024 * 1024),
            /** Multipart uploads idle longer than this are aborted by the sweeper. */
            abandonAfterSeconds: z
              .number()
              .int()
              .min(60)
              .default(7 * 24 * 3600),
            /** How often `serve` runs the sweeper (0: never; `optarc-gateway sweep` runs it once). */
            sweepEverySeconds: z.number().int().min(0).default(3600),
          })
          .strict()
          .prefault({}),
        /** The policy sessions get: upload throttle (bytes/s), storage class, required copies. */
        policy: z
          .object({
            // the session policy's own types (gateway/protocol): what is configured is what can be sent
            throttleBytesPerSecond: Policy.shape.throttleBytesPerSecond.default(null),
            storageClass: Policy.shape.storageClass.default('STANDARD'),
            requiredCopies: Policy.shape.requiredCopies.default(1),
            /** When agents may upload: UTC windows (days 0 = Sunday .. 6, HH:MM start and end); empty = always. */
            schedule: Policy.shape.schedule.default([]),
          })
          .strict()
          .prefault({}),
        /** The manifest index (derived from S3; `optarc-gateway reindex` rebuilds it) and the search API. */
        search: z
          .object({
            /** The embedded index: an SQLite file (default var/gateway/index.sqlite). */
            index: z.string().min(1).optional(),
            /** A PostgreSQL database instead (postgres://...), shared by many gateway instances. */
            postgresUrl: z
              .string()
              .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
              .optional(),
            /**
             * The key page cursors are signed with, shared by every instance of a gateway that
             * runs as many (at least 32 characters); absent: a random key in the gateway store.
             */
            cursorKey: z.string().min(32).optional(),
            /** Lifetime of the presigned restore links in search results. */
            linkSeconds: z
              .number()
              .int()
              .min(60)
              .max(7 * 24 * 3600)
              .default(3600),
            /** Most time one glob or regex request may scan, ms (then it answers a partial page and a cursor). */
            scanBudgetMs: z.number().int().min(10).max(60_000).default(1500),
            /** Longest query string the search API reads (longer: 414). */
            maxQueryChars: z.number().int().min(256).max(65_536).default(4096),
          })
          .strict()
          .prefault({}),
        /** The operator's bearer token for the command API (POST /agents/ID/commands); absent: loopback only. */
        adminToken: z.string().min(16).optional(),
        /** Prometheus metrics at GET /metrics. */
        metrics: z
          .object({ enabled: z.boolean().default(true) })
          .strict()
          .prefault({}),
      })
      .prefault({}),
    client: z
      .object({
        /** The agent to talk to; its port is asked of the portmapper unless `port` is set. */
        host: host.default('127.0.0.1'),
        port: port.optional(),
        portmapPort: port.default(111),
        timeoutSeconds: z.number().positive().max(3600).default(30),
        /** The gateway `optarc find` and `optarc whereis` ask, and the reader token they send. */
        gateway: z
          .object({
            url: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8780'),
            /** A reader token (`optarc-gateway readers add`); else read from readerTokenFile. */
            readerToken: z.string().min(1).optional(),
            /** The file holding the reader token (the local stack writes var/stack/reader.token). */
            readerTokenFile: z
              .string()
              .min(1)
              .default(path.join('var', 'stack', 'reader.token')),
          })
          .strict()
          .prefault({}),
      })
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

/** The agent's paths with their defaults under stateDir filled in, made absolute. */
export function agentPaths(agent: Config['agent']) {
  const state = path.resolve(agent.stateDir);
  const drives = (
    agent.drives ??
    [0, 1, 2].map((n) => ({
      name: `sr${n}`,
      address: `stdio:${path.join(state, 'drives', `sr${n}`, 'medium')}`,
      standIn: { shelf: path.join(state, 'shelf') },
    }))
  ).map((d) => ({
    ...d,
    address: d.address.startsWith('stdio:') ? `stdio:${path.resolve(d.address.slice(6))}` : d.address,
    ...(d.standIn ? { standIn: { shelf: path.resolve(d.standIn.shelf) } } : {}),
  }));
  return {
    catalog: path.resolve(agent.catalog ?? path.join(state, 'catalog.sqlite')),
    imagesDir: path.resolve(agent.burn.imagesDir ?? path.join(state, 'images')),
    cacheDir: path.resolve(agent.retrieval.cacheDir ?? path.join(state, 'retrieved')),
    stagingRoot: path.resolve(agent.staging.root),
    drives,
  };
}

/** The gateway's paths with their defaults filled in, made absolute (relative ones from the working directory). */
export function gatewayPaths(gateway: Config['gateway']) {
  return {
    store: path.resolve(gateway.store ?? path.join('var', 'gateway', 'gateway.sqlite')),
    index: path.resolve(gateway.search.index ?? path.join('var', 'gateway', 'index.sqlite')),
  };
}
