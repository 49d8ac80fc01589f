/**
 * The one validated configuration of a wsq server: every option, its default and what it
 * allows, in one zod schema. `new WsqServer(opts)` validates its options through
 * `ServerOptionsSchema`; `wsq serve` builds a `ConfigSchema` object from the `--config`
 * JSON file, then `WSQ_<KEY>` environment variables, then flags (later wins) and validates it
 * once. A mistake throws a `ConfigError` naming the key and what is allowed.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { editDistance } from '../protocol/codec.js';
import { MemoryAdapter } from './adapter/memory.js';
import type { AdapterFactory } from './adapter/types.js';
import { DEFAULT_RETENTION } from './retention.js';
import { isPinoLike, LOG_LEVELS, type LoggerOption } from './logging.js';
import { IDLE_ROOM_TTL_MS } from './store/memory.js';
import type { Store } from './store/types.js';

/** Smallest `maxPayload`: a frame must at least hold a `ping`, an `ack` or a small `emit`. */
export const MIN_MAX_PAYLOAD = 1024;

/** The actions a permission rule grants (`*` grants all of them). */
export const ACTIONS = ['connect', 'join', 'emit', 'history', 'durable', 'group', 'dead'] as const;
/** One action a permission rule grants. */
export type Action = (typeof ACTIONS)[number];

const whole = (what: string) => z.int({ error: `must be a whole number (${what})` }).min(0, { error: `must be ≥ 0 (${what})` });
const positive = (what: string) => z.int({ error: `must be a whole number (${what})` }).min(1, { error: `must be ≥ 1 (${what})` });
const glob = z.string().min(1, { error: 'must be a non-empty glob ("*" matches any run of characters)' });
const pattern = z.union([glob, z.instanceof(RegExp)], { error: 'must be a glob string (or, in the library, a RegExp)' });

/** One permission rule: the actions granted on the rooms (`room`, a glob) of the namespaces (`ns`, a glob). */
export const PermissionRule = z.strictObject({
  ns: glob.default('*'),
  room: glob.default('*'),
  actions: z.array(z.enum([...ACTIONS, '*'], { error: `must be one of ${[...ACTIONS, '*'].join(', ')}` })).min(1, { error: 'must list at least one action' }),
});
/** A permission rule with its defaults filled in. */
export type PermissionRule = z.output<typeof PermissionRule>;

const Rules = z.array(PermissionRule);
const ALL: PermissionRule[] = [{ ns: '*', room: '*', actions: ['*'] }];
const LIVE_ONLY: PermissionRule[] = [{ ns: '*', room: '*', actions: ['connect', 'join', 'emit'] }];

/** A static API key: who it is, its hash (`sha256:<hex>`, from `wsq hash-key`) and, optionally, its own permissions. */
export const ApiKey = z.strictObject({
  client: z.string().regex(/^[A-Za-z0-9_.:@-]{1,128}$/, { error: 'must be 1-128 characters of A-Z a-z 0-9 _ . : @ -' }),
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, { error: 'must be "sha256:" and 64 hex digits (print it with `wsq hash-key`)' }),
  permissions: Rules.optional(),
});
/** A configured API key entry. */
export type ApiKey = z.output<typeof ApiKey>;

/** How tokens and keys are checked at the upgrade (see docs/security.md). */
export const AuthSchema = z.strictObject({
  /** Connections without a credential are let in (with `anonymousPermissions`). */
  anonymous: z.boolean().default(false),
  /** Anonymous connections may claim a durable identity with `?client=` (off: only credentials give one). */
  anonymousClients: z.boolean().default(false),
  /** What anonymous connections may do. Default: connect, live join and emit everywhere; no history, durable, group or dead. */
  anonymousPermissions: Rules.default(LIVE_ONLY),
  /** What a credential without its own rules (a key without `permissions`, a token without the claim) may do. Default: everything. */
  defaultPermissions: Rules.default(ALL),
  jwt: z
    .strictObject({
      /** File holding the HS256 shared secret (at least 32 bytes). */
      secretFile: z.string().min(1).optional(),
      /** File holding a JWKS (`{"keys": [...]}`) of RS256/ES256 public keys. */
      jwksFile: z.string().min(1).optional(),
      issuer: z.string().min(1).optional(),
      audience: z.string().min(1).optional(),
      algorithms: z
        .array(z.enum(['HS256', 'RS256', 'ES256']))
        .min(1)
        .optional(),
      /** Allowed clock skew for exp/nbf, in seconds. */
      clockToleranceSec: whole('seconds').default(5),
      /** The claim holding wsq permissions: `{ "allow": [rules] }`. */
      claim: z.string().min(1).default('wsq'),
    })
    .refine((j) => j.secretFile !== undefined || j.jwksFile !== undefined, { error: 'needs "secretFile" (HS256) or "jwksFile" (RS256/ES256)' })
    .optional(),
  keys: z.array(ApiKey).default([]),
});
/** The `auth` section with its defaults filled in. */
export type AuthConfig = z.output<typeof AuthSchema>;
/** The `auth` section as written. */
export type AuthConfigInput = z.input<typeof AuthSchema>;

const Rate = z.strictObject({ perSecond: whole('per second; 0 = no limit'), burst: whole('tokens; 0 = perSecond') });

/** Limits; 0 means no limit. The rate limits are off by default (they depend on the application: see docs/security.md and examples/wsq.config.json). */
export const LimitsSchema = z.strictObject({
  maxConnections: whole('connections; 0 = no limit').default(10_000),
  maxConnectionsPerClient: whole('connections per identity; 0 = no limit').default(100),
  maxRoomsPerConnection: whole('rooms; 0 = no limit').default(1_000),
  maxNamespacesPerConnection: whole('namespaces; 0 = no limit').default(100),
  maxNewNamesPerMinute: whole('room names per identity per minute; 0 = no limit').default(0),
  maxPrefetch: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be ≥ 1' }).max(10_000, { error: "must be ≤ 10000 (the protocol's own cap)" }).default(1_000),
  frameRate: Rate.default({ perSecond: 0, burst: 0 }),
  publishRatePerRoom: Rate.default({ perSecond: 0, burst: 0 }),
});
/** The `limits` section with its defaults filled in. */
export type LimitsConfig = z.output<typeof LimitsSchema>;
/** The `limits` section as written. */
export type LimitsConfigInput = z.input<typeof LimitsSchema>;

const RetentionSchema = z.strictObject({
  maxMessages: whole('messages per room; 0 = no limit').default(DEFAULT_RETENTION.maxMessages),
  maxAgeMs: whole('ms; 0 = no limit').default(DEFAULT_RETENTION.maxAgeMs),
  maxBytes: whole('bytes per room; 0 = no limit').default(DEFAULT_RETENTION.maxBytes),
  overflow: z.enum(['drop-oldest', 'reject'], { error: 'must be "drop-oldest" or "reject"' }).default(DEFAULT_RETENTION.overflow),
  dedupWindowMs: whole('ms').default(DEFAULT_RETENTION.dedupWindowMs),
});
const RetentionRuleSchema = z.strictObject({ ns: pattern.optional(), room: pattern.optional(), ...RetentionSchema.partial().shape });

/** The `log` section: which lines are written, and how. */
export const LogSchema = z.strictObject({
  level: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  /** Pretty lines (pino-pretty) instead of JSON; default: when stderr is a terminal. */
  pretty: z.boolean({ error: 'must be true or false' }).optional(),
});

/**
 * The `redis` section: scale out (README "Scaling out"). Several nodes on one Redis share room
 * membership, live delivery, logs, offsets, cursors and consumer groups: it turns on BOTH the Redis
 * adapter and the Redis store (a cross-node adapter with a node-local store is refused).
 */
export const RedisSchema = z.strictObject({
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://…` (TLS). */
  url: z.string().regex(/^rediss?:\/\/\S+$/, { error: 'must be a redis:// or rediss:// URL, e.g. "redis://127.0.0.1:6379"' }),
  /** Prefix of every key and channel wsq uses, so several deployments can share one Redis. */
  prefix: z
    .string()
    .regex(/^[^\s{}]{1,64}$/, { error: 'must be 1-64 characters without spaces or braces (e.g. "wsq:")' })
    .default('wsq:'),
  /** Set true only when the Redis server fsyncs every write (`appendonly yes`, `appendfsync always`): then an ack means "on disk" (the store reports `durable`). */
  durable: z.boolean({ error: 'must be true or false' }).default(false),
  /** R5.6.7 on the Redis store: an empty room with no consumer state, unwritten this long, is forgotten (default 24 h; `wsq serve` takes `store.idleRoomTtlMs`). */
  idleRoomTtlMs: positive('ms').optional(),
});
/** The `redis` section with its defaults filled in. */
export type RedisConfig = z.output<typeof RedisSchema>;

/** The options shared by the library and the stand-alone service. */
const shared = {
  path: z
    .string()
    .regex(/^\/[^?#\s]*$/, { error: 'must start with "/" (e.g. "/" or "/ws") and hold no "?", "#" or spaces' })
    .default('/'),
  namespaces: z.enum(['any', 'declared'], { error: 'must be "any" or "declared"' }).default('declared'),
  heartbeatMs: positive('ms').default(25_000),
  timeoutMs: whole('ms').default(20_000),
  maxPayload: z
    .int({ error: 'must be a whole number of bytes' })
    .min(MIN_MAX_PAYLOAD, { error: `must be at least ${MIN_MAX_PAYLOAD} bytes, so that a ping, an ack and small emits fit` })
    .default(1024 * 1024),
  badFrameLimit: whole('bad frames per window').default(100),
  badFrameWindowMs: positive('ms').default(10_000),
  volatileHighWater: whole('bytes').default(1024 * 1024),
  /** A socket with more than this many bytes queued is closed with 4002 slow_consumer (R2.5.6). */
  maxBufferedBytes: whole('bytes').default(8 * 1024 * 1024),
  retention: RetentionSchema.default(DEFAULT_RETENTION),
  retentionRules: z.array(RetentionRuleSchema).default([]),
  ackTimeoutMs: positive('ms').default(30_000),
  maxDeliver: positive('deliveries').default(5),
  prefetch: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be ≥ 1' }).max(10_000, { error: 'must be ≤ 10000' }).default(100),
  perMessageDeflate: z.union([z.boolean(), z.strictObject({ threshold: whole('bytes') })]).default(false),
  /** Authentication and permissions. Absent: every connection is let in, as anonymous with every permission (the CLI warns). */
  auth: AuthSchema.optional(),
  limits: LimitsSchema.default(LimitsSchema.parse({})),
  /** Browser origins allowed to connect (`*` globs, e.g. "https://*.example.com"); ["*"] allows every origin. Default: the same host only. Requests without `Origin` (not browsers) are always allowed. */
  origins: z.array(z.string().min(1)).optional(),
  /** The admin HTTP API (`/admin/api/…`) and `/dashboard`: off unless configured. Admin keys are not client credentials (a separate list; `wsq hash-key` makes them). */
  admin: z
    .strictObject({
      keys: z
        .array(
          z.strictObject({
            /** Who holds it (shown nowhere but the config). */
            name: z.string().min(1).optional(),
            hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, { error: 'must be "sha256:" and 64 hex digits (print it with `wsq hash-key`)' }),
          }),
        )
        .min(1, { error: 'must list at least one admin key ({ "hash": "sha256:…" }, from `wsq hash-key`)' }),
    })
    .optional(),
  /** Scale out on Redis (RedisSchema): shared logs, offsets, cursors, groups and cross-node delivery. Absent: this node alone. */
  redis: RedisSchema.optional(),
  /**
   * Connection state recovery (PROTOCOL.md §2.7, lib/recovery.ts), as Socket.IO's option: a client that reconnects within
   * `maxDisconnectionDuration` ms (default 2 min, at most 24 h) keeps its sid, rooms and `socket.data` and gets what was sent to
   * it meanwhile; `skipMiddlewares` (default true) lets a recovered connection skip the namespaces' middleware. Absent: off.
   */
  connectionStateRecovery: z
    .strictObject({
      maxDisconnectionDuration: positive('ms')
        .max(24 * 60 * 60 * 1000, { error: 'must be ≤ 86400000 (24 h): recovery is for short drops' })
        .default(2 * 60 * 1000),
      skipMiddlewares: z.boolean({ error: 'must be true or false' }).default(true),
    })
    .optional(),
  /** Log lines (lib/logging.ts): the level (default "warn" in the library, "info" in `wsq serve`) and pretty output (default: when stderr is a terminal). */
  log: LogSchema.default({ level: 'warn' }),
  /** `GET /metrics` (Prometheus text, lib/http/metrics.ts): on by default, not behind admin auth (docs/security.md). `roomPatterns` (`*` globs) opt rooms into per-group lag labels. */
  metrics: z
    .strictObject({
      enabled: z.boolean({ error: 'must be true or false' }).default(true),
      roomPatterns: z
        .array(z.string().min(1, { error: 'must be a room name or a * glob' }))
        .max(100, { error: 'must list at most 100 patterns' })
        .default([]),
    })
    .default({ enabled: true, roomPatterns: [] }),
};

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', { error: `must be a function (${what})` });

/** Every option of `new WsqServer(options)`; unknown keys are errors. */
export const ServerOptionsSchema = z.strictObject({
  ...shared,
  store: z
    .custom<Store>((v) => typeof v === 'object' && v !== null && typeof (v as Store).append === 'function', { error: 'must be a Store (MemoryStore, LmdbStore or your own)' })
    .optional(),
  adapter: fn<AdapterFactory>('nsp => Adapter').default(() => (nsp: ConstructorParameters<typeof MemoryAdapter>[0]) => new MemoryAdapter(nsp)),
  now: fn<() => number>('() => ms').default(() => Date.now),
  /** Where log lines go: a pino logger, or a function `(level, msg, err, fields) => void`. Default: a pino logger on stderr at `log.level` (lib/logging.ts). */
  logger: z.custom<LoggerOption>((v) => typeof v === 'function' || isPinoLike(v), { error: 'must be a pino logger or a function (level, msg, err, fields) => void' }).optional(),
  /** Socket.IO's `allowRequest(req, callback)`: decides on each upgrade first; refused → HTTP 403 (lib/server.ts). */
  allowRequest: fn<(req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) => void>('(req, callback) => void').optional(),
  /** Socket.IO's `cleanupEmptyChildNamespaces`: a dynamic child namespace goes as soon as its last socket leaves. */
  cleanupEmptyChildNamespaces: z.boolean({ error: 'must be true or false' }).default(false),
});
/** `new WsqServer(options)` as written. */
export type ServerOptionsInput = z.input<typeof ServerOptionsSchema>;
/** The library's options with every default filled in. */
export type ServerOptions = z.output<typeof ServerOptionsSchema>;

/** The stand-alone service's configuration (`wsq serve`, `--config FILE`): the shared options plus where to listen and which store. */
export const ConfigSchema = z.strictObject({
  ...shared,
  namespaces: shared.namespaces.unwrap().default('any'),
  log: LogSchema.default({ level: 'info' }),
  /** Serve wss:// (https) with this certificate and key (PEM files; relative paths are taken from the config file's directory). */
  tls: z
    .strictObject({ cert: z.string().min(1, { error: 'must be the path of a PEM certificate file' }), key: z.string().min(1, { error: 'must be the path of a PEM key file' }) })
    .optional(),
  host: z.string().min(1).default('127.0.0.1'),
  /** `wsq serve --workers N` (lib/workers.ts): N processes of this machine on one port, each a node on Redis (needs `redis`); 1 = one process. */
  workers: z.int({ error: 'must be a whole number of processes' }).min(1, { error: 'must be ≥ 1 (1 = one process)' }).max(64, { error: 'must be ≤ 64' }).default(1),
  port: z.int({ error: 'must be a whole number' }).min(0, { error: 'must be 0-65535 (0 picks a free port)' }).max(65_535, { error: 'must be 0-65535' }).default(8080),
  store: z
    .strictObject({
      kind: z.enum(['disk', 'memory'], { error: 'must be "disk" or "memory"' }).default('disk'),
      dataDir: z.string().min(1).default('./data'),
      /** R5.6.7: a room with no messages and no consumer state, unwritten this long, is forgotten by the store. */
      idleRoomTtlMs: positive('ms').default(IDLE_ROOM_TTL_MS),
    })
    .default({ kind: 'disk', dataDir: './data', idleRoomTtlMs: IDLE_ROOM_TTL_MS }),
});
/** A service configuration as written (file, variables, flags). */
export type ConfigInput = z.input<typeof ConfigSchema>;
/** A service configuration with every default filled in. */
export type Config = z.output<typeof ConfigSchema>;

/** A configuration mistake: `issues` lists each as "key: what is allowed". */
export class ConfigError extends TypeError {
  constructor(
    readonly issues: string[],
    where = 'option',
  ) {
    super(issues.length === 1 ? `invalid ${where}: ${issues[0]}` : `invalid ${where} (${issues.length} problems):\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

type Def = { type: string; innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType; options?: z.ZodType[] };
const defOf = (s: z.ZodType): Def => (s as unknown as { def: Def }).def;

/** The keys the schema allows at `path` (for did-you-mean), if it is an object there. */
function keysAt(schema: z.ZodType, path: PropertyKey[]): string[] {
  let s: z.ZodType | undefined = schema;
  for (const p of [...path, undefined]) {
    for (let i = 0; i < 8 && s; i++) {
      const d: Def = defOf(s);
      if (d.type === 'optional' || d.type === 'default' || d.type === 'nullable' || d.type === 'pipe') s = d.innerType ?? d.in;
      else if (d.type === 'union') s = d.options?.find((o: z.ZodType) => defOf(o).type === 'object');
      else break;
    }
    if (p === undefined || !s) break;
    const d: Def = defOf(s);
    s = d.type === 'array' ? d.element : d.type === 'object' ? (s as z.ZodObject).shape[p as string] : undefined;
  }
  return s && defOf(s).type === 'object' ? Object.keys((s as z.ZodObject).shape) : [];
}

/** Path as the user wrote it: `limits.frameRate.perSecond`, `retentionRules[0].room`. */
export function keyName(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('') || '(top level)';
}

/** One sentence per zod issue, naming the key; unknown keys get a did-you-mean. `label` renames a key (e.g. to add its flag). */
export function describeIssues(schema: z.ZodType, error: z.ZodError, label: (key: string) => string = (k) => k): string[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const known = keysAt(schema, issue.path);
      return issue.keys
        .map((k) => {
          const full = keyName([...issue.path, k]);
          const near = known.map((c) => [c, editDistance(k.toLowerCase(), c.toLowerCase())] as const).sort((a, b) => a[1] - b[1])[0];
          const hint = near && near[1] <= Math.max(2, Math.floor(k.length / 3)) ? ` (did you mean "${keyName([...issue.path, near[0]])}"?)` : '';
          return `unknown key "${full}"${hint}; allowed here: ${known.join(', ')}`;
        })
        .join('; ');
    }
    const key = label(keyName(issue.path));
    const msg = issue.code === 'invalid_type' && /received undefined/.test(issue.message) ? 'is required' : issue.message;
    return `${key}: ${msg}`;
  });
}

/** Validate and fill in a library options object; throws ConfigError naming each bad key. */
export function parseServerOptions(options: unknown): ServerOptions {
  const r = ServerOptionsSchema.safeParse(options ?? {});
  if (!r.success) throw new ConfigError(describeIssues(ServerOptionsSchema, r.error), 'WsqServer option');
  return r.data;
}

/** Validate and fill in a service configuration (file + env + flags merged); throws ConfigError naming each bad key. */
export function parseConfig(input: unknown, label?: (key: string) => string): Config {
  const r = ConfigSchema.safeParse(input ?? {});
  if (!r.success) throw new ConfigError(describeIssues(ConfigSchema, r.error, label), 'configuration');
  return r.data;
}
