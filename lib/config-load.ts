/**
 * Where `wsq serve` gets its configuration: the `--config` JSON file, then `WSQ_<KEY>`
 * environment variables, then flags (later wins), merged and validated once by
 * `ConfigSchema` (lib/config.ts). The flag table below is the only list of flags; each
 * flag's environment variable is its name in upper snake case (`--max-payload` → `WSQ_MAX_PAYLOAD`).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError, ConfigSchema, keyName, parseConfig, type Config } from './config.js';

type Kind = 'int' | 'string' | 'bool' | 'list';

/** One flag: its name, the config key it sets (a dotted path), how its text is read, and help. */
export interface Flag {
  flag: string;
  short?: string;
  key: string;
  kind: Kind;
  help: string;
  /** For booleans that set another value (`--memory` → store.kind "memory"). */
  value?: unknown;
}

/** Every flag of `wsq serve`. */
export const FLAGS: Flag[] = [
  { flag: 'port', short: 'p', key: 'port', kind: 'int', help: 'port to listen on (0 picks a free one)' },
  { flag: 'host', short: 'H', key: 'host', kind: 'string', help: 'address to listen on (0.0.0.0 for every interface)' },
  { flag: 'path', key: 'path', kind: 'string', help: 'WebSocket path (starts with "/")' },
  { flag: 'data-dir', key: 'store.dataDir', kind: 'string', help: 'directory of the disk store' },
  { flag: 'memory', key: 'store.kind', kind: 'bool', value: 'memory', help: 'keep logs in memory only (lost on restart) instead of on disk' },
  {
    flag: 'redis',
    key: 'redis.url',
    kind: 'string',
    help: 'scale out: share rooms, logs, cursors and groups with every node on this Redis (redis://host:port); replaces the disk/memory store',
  },
  {
    flag: 'workers',
    key: 'workers',
    kind: 'int',
    help: 'use N cores: N worker processes share the port, each a node on --redis (needs --redis; 1 = one process)',
  },
  { flag: 'redis-prefix', key: 'redis.prefix', kind: 'string', help: 'prefix of every Redis key and channel wsq uses' },
  {
    flag: 'redis-durable',
    key: 'redis.durable',
    kind: 'bool',
    value: true,
    help: 'the Redis server fsyncs every write (appendfsync always): acks mean "on disk"',
  },
  { flag: 'idle-room-ttl-ms', key: 'store.idleRoomTtlMs', kind: 'int', help: 'forget an empty room with no consumer state after this long unwritten' },
  { flag: 'heartbeat-ms', key: 'heartbeatMs', kind: 'int', help: 'WebSocket ping interval' },
  { flag: 'timeout-ms', key: 'timeoutMs', kind: 'int', help: 'drop a peer silent for heartbeat + this' },
  { flag: 'max-payload', key: 'maxPayload', kind: 'int', help: 'largest frame accepted, in bytes (at least 1024)' },
  { flag: 'bad-frame-limit', key: 'badFrameLimit', kind: 'int', help: 'bad frames tolerated per window before closing with 1008' },
  { flag: 'bad-frame-window-ms', key: 'badFrameWindowMs', kind: 'int', help: 'window of the bad-frame limit' },
  { flag: 'max-messages', key: 'retention.maxMessages', kind: 'int', help: 'retention: messages kept per room (0 = no limit)' },
  { flag: 'max-age-ms', key: 'retention.maxAgeMs', kind: 'int', help: 'retention: age of messages kept (0 = no limit)' },
  { flag: 'max-bytes', key: 'retention.maxBytes', kind: 'int', help: 'retention: payload bytes kept per room (0 = no limit)' },
  { flag: 'overflow', key: 'retention.overflow', kind: 'string', help: 'what a full room does: drop-oldest or reject' },
  { flag: 'dedup-window-ms', key: 'retention.dedupWindowMs', kind: 'int', help: 'idempotency-key window' },
  { flag: 'ack-timeout-ms', key: 'ackTimeoutMs', kind: 'int', help: 'redeliver unacked deliveries after' },
  { flag: 'max-deliver', key: 'maxDeliver', kind: 'int', help: 'deliveries before dead-lettering' },
  { flag: 'prefetch', key: 'prefetch', kind: 'int', help: 'default unacked deliveries per durable/group member' },
  { flag: 'max-prefetch', key: 'limits.maxPrefetch', kind: 'int', help: 'largest prefetch a join may ask for' },
  { flag: 'max-connections', key: 'limits.maxConnections', kind: 'int', help: 'connections in total (0 = no limit)' },
  { flag: 'max-connections-per-client', key: 'limits.maxConnectionsPerClient', kind: 'int', help: 'connections per identity (0 = no limit)' },
  { flag: 'origins', key: 'origins', kind: 'list', help: 'browser origins allowed, comma-separated globs ("*" = any; default: the same host)' },
  { flag: 'jwt-secret-file', key: 'auth.jwt.secretFile', kind: 'string', help: 'verify HS256 tokens with the secret in this file (turns auth on)' },
  { flag: 'jwks-file', key: 'auth.jwt.jwksFile', kind: 'string', help: 'verify RS256/ES256 tokens with the public keys of this JWKS file (turns auth on)' },
  { flag: 'jwt-issuer', key: 'auth.jwt.issuer', kind: 'string', help: 'the "iss" tokens must carry' },
  { flag: 'jwt-audience', key: 'auth.jwt.audience', kind: 'string', help: 'the "aud" tokens must carry' },
  { flag: 'anonymous', key: 'auth.anonymous', kind: 'bool', value: true, help: 'with auth configured, also let in connections without credentials' },
  { flag: 'no-metrics', key: 'metrics.enabled', kind: 'bool', value: false, help: 'do not serve GET /metrics (Prometheus text; open by default)' },
  { flag: 'log-level', key: 'log.level', kind: 'string', help: 'log lines written: debug, info, warn, error or silent' },
  { flag: 'log-pretty', key: 'log.pretty', kind: 'bool', value: true, help: 'pretty log lines instead of JSON (default: when stderr is a terminal)' },
  { flag: 'tls-cert', key: 'tls.cert', kind: 'string', help: 'serve wss:// with this PEM certificate file (with --tls-key)' },
  { flag: 'tls-key', key: 'tls.key', kind: 'string', help: 'the PEM private key file of --tls-cert' },
];

/** The environment variable of a flag: `max-payload` → `WSQ_MAX_PAYLOAD`. */
export const envName = (flag: string): string => `WSQ_${flag.toUpperCase().replace(/-/g, '_')}`;

/** "maxPayload (--max-payload, WSQ_MAX_PAYLOAD)": a key with the flag and variable that set it. */
export function labelKey(key: string): string {
  const f = FLAGS.find((x) => x.key === key);
  return f ? `${key} (--${f.flag}, ${envName(f.flag)})` : key;
}

function set(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts.at(-1)!] = value;
}

function read(f: Flag, text: string, from: string): unknown {
  if (f.kind === 'int') {
    if (!/^-?\d+$/.test(text.trim())) throw new ConfigError([`${labelKey(f.key)}: ${from} must be a whole number, not ${JSON.stringify(text)}`], 'configuration');
    return Number(text);
  }
  if (f.kind === 'bool') {
    if (!/^(1|0|true|false|yes|no)$/i.test(text)) throw new ConfigError([`${labelKey(f.key)}: ${from} must be 1/0 or true/false, not ${JSON.stringify(text)}`], 'configuration');
    return /^(1|true|yes)$/i.test(text) ? (f.value ?? true) : undefined;
  }
  if (f.kind === 'list')
    return text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return text;
}

/** Deep merge of plain objects (arrays and values replace). */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Read a JSON config file; its auth and TLS file paths are taken relative to the file's directory. */
export function readConfigFile(file: string): Record<string, unknown> {
  let cfg: unknown;
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError([`cannot read ${resolve(file)}: ${(err as Error).message}`], 'config file');
  }
  if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) throw new ConfigError([`${resolve(file)} must hold one JSON object`], 'config file');
  const jwt = (cfg as { auth?: { jwt?: Record<string, unknown> } }).auth?.jwt;
  if (jwt && typeof jwt === 'object') {
    for (const k of ['secretFile', 'jwksFile']) {
      const v = jwt[k];
      if (typeof v === 'string' && !isAbsolute(v)) jwt[k] = resolve(dirname(file), v);
    }
  }
  const tls = (cfg as { tls?: Record<string, unknown> }).tls;
  if (tls && typeof tls === 'object') {
    for (const k of ['cert', 'key']) {
      const v = tls[k];
      if (typeof v === 'string' && v !== '' && !isAbsolute(v)) tls[k] = resolve(dirname(file), v);
    }
  }
  return cfg as Record<string, unknown>;
}

/**
 * The service configuration from a file, the environment and flags (flags win, then the environment).
 * `flags` maps a flag name (`max-payload`) to its text (or `true` for a boolean flag given).
 * @example
 * const cfg = loadConfig({ file: 'wsq.config.json', env: process.env, flags: { port: '9000' } });
 */
export function loadConfig(src: { file?: string; env?: Record<string, string | undefined>; flags?: Record<string, string | boolean | undefined> }): Config {
  const file = src.file ? readConfigFile(src.file) : {};
  const env: Record<string, unknown> = {};
  const flags: Record<string, unknown> = {};
  for (const f of FLAGS) {
    const e = src.env?.[envName(f.flag)];
    if (e !== undefined && e !== '') {
      const v = read(f, e, envName(f.flag));
      if (v !== undefined) set(env, f.key, v);
    }
    const g = src.flags?.[f.flag];
    if (g !== undefined && g !== false) set(flags, f.key, g === true ? (f.value ?? true) : read(f, g, `--${f.flag}`));
  }
  try {
    return parseConfig(merge(merge(file, env), flags), labelKey);
  } catch (err) {
    if (err instanceof ConfigError && src.file) throw new ConfigError(err.issues, `configuration (${resolve(src.file)}, WSQ_* variables and flags)`);
    throw err;
  }
}

/** The default of a config key, for help texts. */
export function defaultOf(key: string): unknown {
  let v: unknown = ConfigSchema.parse({});
  for (const p of key.split('.')) v = (v as Record<string, unknown> | undefined)?.[p];
  return v;
}

export { keyName };
