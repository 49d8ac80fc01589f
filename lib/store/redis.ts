/**
 * RedisStore: the Store on Redis (kind "redis", `shared`), so several wsq nodes share room logs,
 * offsets, epochs, cursors and dedup keys (issue 9 item 3, decisions 2, 3 and 7).
 *
 * - A room's log is a Redis Stream whose entry ids are `<offset>-0`: the offset is an integer per
 *   room from the room's meta hash (`HINCRBY last`), in the same Lua script that adds the entry,
 *   so every node agrees on offsets. The epoch is in the meta hash; a log whose meta hash is gone
 *   (a Redis without persistence restarted, or the room swept as idle) comes back with a new epoch.
 * - Retention: count and bytes on append (exact `XTRIM MINID` after walking the oldest entries'
 *   sizes, or refuse with QueueFullError), age on append, read and position (`MINID` past expired
 *   entries, and expired entries skipped on read). Dedup keys are string keys `SET … PX window`
 *   written by the same script, holding `<epoch> <offset> <time>`.
 * - Each append is ONE script (lib/store/redis-scripts.ts): dedup, trim, offset, entry, dead-letter
 *   consumer state (`AppendExtra.consumer`) and the `SPUBLISH` of the committed message on the
 *   room's shard channel, so a crash or another node can never split them, and channel order is
 *   offset order. `watch` follows that channel (decision 3).
 * - Keys are hash-tagged per room (`<prefix>{<tag>}…`, see `redisKeys`): all keys of a room, its
 *   channel, and the keys of its dead-letter room `$dead:<room>` share one tag, hence one cluster
 *   slot, so one script may touch them all. (The store itself talks to one Redis server, not a
 *   Redis Cluster: `listRooms` and the idle sweep SCAN that one server.)
 *
 * What an acked append means (decision 7): the promise resolves after Redis replied to the script.
 * With `appendonly yes` + `appendfsync always` on the Redis server that reply comes after the
 * write is fsynced and survives a Redis crash; set `durable: true` only then. A Redis that keeps
 * nothing on disk loses every log on its restart: the next use of a room creates it again under a
 * new epoch, so clients see the loss (R5.3 epoch rules) instead of silently reused offsets.
 *
 * Failures: while Redis is unreachable, or after a write failed, `health()` says `writable: false`
 * with the reason, and every command rejects at once with StoreUnavailableError (no offline queue,
 * no automatic resend: a write whose reply was lost with the connection, or did not come within
 * the command timeout (10 s), is reported as failed though Redis may have committed it; an
 * idempotency key makes the retry safe). The connection reconnects by itself.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { nanoid } from 'nanoid';
import { DEAD_ROOM_PREFIX } from '../../protocol/frames.js';
import { compositeKey, nsPrefix, roomKey } from './keys.js';
import { messageSize } from './memory.js';
import { GROUP_ACK_GUARD_LUA } from './redis-groups.js';
import { APPEND, POSITION, READ, SWEEP } from './redis-scripts.js';
import {
  QueueFullError,
  StoreUnavailableError,
  type AppendExtra,
  type AppendResult,
  type ConsumerState,
  type LiveMessage,
  type LogPosition,
  type NamedConsumerState,
  type NewMessage,
  type RetentionResolver,
  type RoomSummary,
  type Store,
  type StoreHealth,
  type StoreOptions,
  type StoreWatch,
  type StoredMessage,
} from './types.js';

/** Default of the idle-room TTL and sweep period (same as the memory store's). */
const IDLE_ROOM_TTL_MS = 24 * 60 * 60 * 1000;
const IDLE_SWEEP_MS = 10_000;
/** Rooms looked at per timed sweep. */
const SWEEP_CHUNK = 5000;
/** SCAN/HSCAN COUNT hint, and the most keys held between two sweeps (the sweep queue's cap). */
const SCAN_COUNT = 256;
/** Rooms whose key names the store caches (the cache is cleared when it is full). */
const KEY_CACHE = 10_000;

/** The Redis names of one room: its keys (one hash tag, one cluster slot) and its shard channel. */
export interface RedisRoomKeys {
  /** The hash tag (base64url of keys.ts `roomKey(ns, room)`; a dead room `$dead:<r>` has the tag of `<r>`). */
  tag: string;
  /**
   * Start of every key of this room: `<prefix>{<tag>}L` (or `D` for `$dead:<room>`). Other roles
   * add their own suffixes (role E, consumer groups: `:g…`); the store uses `:m :s :c :p :k:`.
   */
  base: string;
  /** Hash: epoch, first, last, bytes, touched, ns, room. */
  meta: string;
  /** The Stream of the log, entry ids `<offset>-0` (role E's consumer groups live on it). */
  stream: string;
  /** Hash: consumer name (JSON string) → ConsumerState JSON. */
  consumers: string;
  /** Shard channel the append script SPUBLISHes each committed message on (see `decodeLive`). */
  channel: string;
  /** String key remembering idempotency key `key` for the dedup window. */
  dedup(key: string): string;
}

/**
 * contract: (B↔E, B↔C) the one place that names a room's Redis keys and channel. A name is
 * length-prefixed before it becomes part of a key (keys.ts), so no two rooms share a key, and the
 * tag holds no `}` (base64url), so Redis hashes exactly the tag. `prefix` must not hold `{` or `}`.
 */
export function redisKeys(prefix: string, ns: string, room: string): RedisRoomKeys {
  const dead = room.startsWith(DEAD_ROOM_PREFIX);
  const tag = roomKey(ns, dead ? room.slice(DEAD_ROOM_PREFIX.length) : room).toString('base64url');
  const base = `${prefix}{${tag}}${dead ? 'D' : 'L'}`;
  return {
    tag,
    base,
    meta: `${base}:m`,
    stream: `${base}:s`,
    consumers: `${base}:c`,
    channel: `${base}:p`,
    dedup: (key) => `${base}:k:${JSON.stringify(key)}`,
  };
}

/**
 * ioredis options the store's command connection needs (a shared connection from lib/redis/bus.ts
 * should use them too): no offline queue and no resend, so a write while Redis is away fails at
 * once (StoreUnavailableError) instead of waiting or being applied twice; reconnect forever with a
 * backoff capped at 1 s.
 */
export const STORE_CONNECTION_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  retryStrategy: (n: number) => Math.min(50 * n, 1000),
  commandTimeout: 10_000,
};

/**
 * The subscriber side `watch` needs: refcounted shard-channel subscriptions (SSUBSCRIBE).
 * contract: (B↔C) lib/redis/bus.ts owns the process's subscriber connection and implements this;
 * until it is passed in (`RedisStoreOptions.subscriber`) the store opens its own (`OwnShardSubscriber`).
 */
export interface ShardSubscriber {
  /**
   * Subscribe to a shard channel. `onMessage` gets every payload published after `ready` resolved;
   * `onResubscribed` is called when the subscription was lost (connection dropped) and is in place
   * again, so messages may have been missed.
   */
  subscribe(channel: string, onMessage: (payload: string) => void, onResubscribed: () => void): { ready: Promise<void>; unsubscribe(): void };
  /** Release the subscriber (only when the store opened it). */
  close?(): Promise<void>;
}

/** Options of a RedisStore. */
export interface RedisStoreOptions extends StoreOptions {
  /** `redis://…` of the server (default `redis://127.0.0.1:6379`); ignored when `redis` is given. */
  url?: string;
  /** A command connection to use (shared with the adapter): the store does not close it. Create it with `STORE_CONNECTION_OPTIONS`. */
  redis?: Redis;
  /** Prefix of every key and channel (default `wsq:`), without `{` or `}`. */
  prefix?: string;
  /** Say `durable` (acked = on disk): only true when the server runs with `appendfsync always`. Default false. */
  durable?: boolean;
  /** The subscriber `watch` uses (lib/redis/bus.ts); default: the store opens its own connection on the first `watch`. */
  subscriber?: ShardSubscriber;
}

/** Methods the scripts add to the connection (`defineCommand`). */
interface ScriptCommands {
  wsqStoreAppend(...args: string[]): Promise<[number, string, number, number]>;
  wsqStorePosition(...args: string[]): Promise<[string, number, number]>;
  wsqStoreRead(...args: string[]): Promise<string[]>;
  wsqStoreSweep(...args: string[]): Promise<number>;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** JSON text with every lone surrogate written as a `\uXXXX` escape (UTF-8 on the wire could not carry it; a raw one can only sit in a string literal, where the escape means the same). */
function wellFormed(json: string): string {
  LONE_SURROGATE.lastIndex = 0;
  if (!LONE_SURROGATE.test(json)) return json;
  return json.replace(LONE_SURROGATE, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/** The record of a stream entry: `{"e":event,"f":from,"k":key,"d":<data JSON>}` (lib/store/lmdb.ts's record without `t` and `s`, which are stream fields). */
function encodeRecord(msg: NewMessage, json: string): string {
  return `${encodeHead(msg)}${wellFormed(json)}}`;
}

/** The record up to its data: `{"e":…[,"f":…][,"k":…],"d":`. */
function encodeHead(msg: NewMessage): string {
  const q = JSON.stringify;
  return `{"e":${q(msg.event)}${msg.from === undefined ? '' : `,"f":${q(msg.from)}`}${msg.key === undefined ? '' : `,"k":${q(msg.key)}`},"d":`;
}

function decodeRecord(record: string, offset: number, ts: number): StoredMessage {
  const r = JSON.parse(record) as { e: string; f?: string; k?: string; d: unknown };
  const m: StoredMessage = { event: r.e, data: r.d, ts, offset };
  if (r.f !== undefined) m.from = r.f;
  if (r.k !== undefined) m.key = r.k;
  return m;
}

/**
 * A payload the append script published (`<offset>\n<epoch>\n<ts>\n<record>`) as the message it
 * announces, or undefined when it is not one.
 */
export function decodeLive(payload: string): LiveMessage | undefined {
  const a = payload.indexOf('\n');
  const b = payload.indexOf('\n', a + 1);
  const c = payload.indexOf('\n', b + 1);
  if (a < 0 || b < 0 || c < 0) return undefined;
  try {
    const record = payload.slice(c + 1);
    const m: LiveMessage = decodeRecord(record, Number(payload.slice(0, a)), Number(payload.slice(b + 1, c))) as LiveMessage;
    m.epoch = payload.slice(a + 1, b);
    // The data's text is what follows the head, which re-encodes exactly as encodeRecord wrote it.
    m.json = record.slice(encodeHead(m).length, -1);
    return m;
  } catch {
    return undefined;
  }
}

/**
 * A stream entry of a room's log (`XRANGE`/`XREADGROUP` reply: id `<offset>-0` and the field list
 * `t`, `z`, `r`) as the stored message, or undefined when it is not one of the store's entries.
 * contract: (B↔E) the one reader of the entry format besides the store's own read.
 */
export function decodeStreamEntry(id: string, fields: string[]): StoredMessage | undefined {
  let ts: string | undefined;
  let record: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 't') ts = fields[i + 1];
    else if (fields[i] === 'r') record = fields[i + 1];
  }
  const offset = Number.parseInt(id, 10);
  if (ts === undefined || record === undefined || !Number.isSafeInteger(offset)) return undefined;
  try {
    return decodeRecord(record, offset, Number(ts));
  } catch {
    return undefined;
  }
}

/** Escape Redis glob characters (`SCAN MATCH`). */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Why a command failed, for StoreUnavailableError and `health()`. */
function reasonOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (err instanceof Error && err.name === 'MaxRetriesPerRequestError') return 'redis: the connection was lost before the reply (the write may have been committed)';
  if (msg.includes('enableOfflineQueue options is false')) return 'redis: not connected';
  if (msg === 'Command timed out') return 'redis: no reply within the command timeout (the write may still be committed)';
  return `redis: ${msg}`;
}

/** Store on Redis (kind "redis", shared by every node on the same Redis and prefix). */
export class RedisStore implements Store {
  /** Always "redis". */
  readonly kind = 'redis';
  /** True only when told the server fsyncs every write (`RedisStoreOptions.durable`). */
  readonly durable: boolean;
  /** Always true: every node on this Redis and prefix shares the logs (decision 1). */
  readonly shared = true;
  /** The command connection. */
  readonly redis: Redis;
  /** Key and channel prefix. */
  readonly prefix: string;
  private readonly cmd: ScriptCommands;
  private readonly ownConnection: boolean;
  private readonly retention: RetentionResolver;
  private readonly now: () => number;
  private readonly idleTtl: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private subscriber: ShardSubscriber | undefined;
  private ownSubscriber = false;
  private readonly url: string;
  /** Why the connection is not usable, while it is not. */
  private down: string | undefined;
  /** The last failed write's cause, until a write succeeds (or the connection is ready again). */
  private failed: string | undefined;
  private sweepCursor = '0';
  private sweepStarted = false;
  /** Meta keys found by SCAN and not looked at yet (at most one SCAN batch, ~SCAN_COUNT). */
  private sweepQueue: string[] = [];
  private closed = false;
  /** Key names of recently used rooms (see `keys`). */
  private readonly keyCache = new Map<string, RedisRoomKeys>();
  /** The sweep running now (sweeps are serialized). */
  private sweeping: Promise<number> = Promise.resolve(0);
  private readonly onReady = (): void => {
    this.down = undefined;
    this.failed = undefined;
  };
  private readonly onClose = (): void => {
    this.down ??= 'redis: connection closed';
  };
  private readonly onError = (err: Error): void => {
    if (this.redis.status !== 'ready') this.down = reasonOf(err);
  };

  /** A store on `opts.redis` or a new connection to `opts.url` (connecting in the background; `RedisStore.open` waits for it). */
  constructor(opts: RedisStoreOptions) {
    this.prefix = opts.prefix ?? 'wsq:';
    if (/[{}]/.test(this.prefix))
      throw new Error(`Redis key prefix "${this.prefix}" holds "{" or "}": it would break the per-room hash tags. Choose a prefix without braces, e.g. "wsq:".`);
    this.durable = opts.durable === true;
    this.retention = opts.retention;
    this.now = opts.now ?? Date.now;
    this.idleTtl = opts.idleRoomTtlMs ?? IDLE_ROOM_TTL_MS;
    this.url = opts.url ?? 'redis://127.0.0.1:6379';
    this.ownConnection = opts.redis === undefined;
    this.redis = opts.redis ?? new Redis(this.url, { ...STORE_CONNECTION_OPTIONS, lazyConnect: true, connectionName: 'wsq-store' });
    this.subscriber = opts.subscriber;
    // contract: (B↔E) E's ack guard is part of the append script (AppendExtra.groupAck).
    this.redis.defineCommand('wsqStoreAppend', { numberOfKeys: 5, lua: GROUP_ACK_GUARD_LUA + APPEND });
    this.redis.defineCommand('wsqStorePosition', { numberOfKeys: 2, lua: POSITION });
    this.redis.defineCommand('wsqStoreRead', { numberOfKeys: 2, lua: READ });
    this.redis.defineCommand('wsqStoreSweep', { numberOfKeys: 3, lua: SWEEP });
    this.cmd = this.redis as unknown as ScriptCommands;
    if (this.redis.status !== 'ready') this.down = 'redis: not connected yet';
    this.redis.on('ready', this.onReady);
    this.redis.on('close', this.onClose);
    this.redis.on('end', this.onClose);
    this.redis.on('error', this.onError);
    const every = opts.idleSweepMs ?? IDLE_SWEEP_MS;
    if (this.idleTtl > 0 && every > 0) this.timer = setInterval(() => void this.sweepIdle(SWEEP_CHUNK).catch(() => {}), every).unref();
  }

  /**
   * A store whose connection is up and whose server is Redis 7 or later (sharded pub/sub).
   * Throws (and leaves nothing running) when Redis does not answer or is older.
   */
  static async open(opts: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(opts);
    try {
      if (store.redis.status === 'wait') await store.redis.connect();
      const info = await store.redis.info('server');
      const version = /redis_version:(\d+)/.exec(info)?.[1];
      if (version !== undefined && Number(version) < 7) throw new Error(`Redis ${version} at ${store.url} is too old: wsq needs Redis 7 or later (sharded pub/sub, SPUBLISH)`);
      return store;
    } catch (err) {
      await store.close();
      throw err instanceof Error && err.message.includes('too old')
        ? err
        : new Error(`Redis at ${store.url} did not answer (${err instanceof Error ? err.message : String(err)}). Start Redis there or fix the --redis URL.`);
    }
  }

  /** Writable while the connection is ready and the last write did not fail. */
  health(): StoreHealth {
    const reason = this.down ?? this.failed;
    return reason === undefined ? { writable: true } : { writable: false, reason };
  }

  /** The log's position, creating the log (and its epoch) if needed, after age expiry. */
  position(ns: string, room: string): Promise<LogPosition> {
    const k = this.keys(ns, room);
    const p = this.cmd.wsqStorePosition(k.meta, k.stream, nanoid(10), String(this.now()), this.cutoff(ns, room), JSON.stringify(ns), JSON.stringify(room));
    return this.write(p).then(([epoch, first, last]) => ({ epoch, first, last }));
  }

  /**
   * Store a message at the room's next offset in one script (dedup, retention, entry, `extra.consumer`,
   * SPUBLISH). The command is sent before this returns, so appends keep their call order.
   */
  append(ns: string, room: string, msg: NewMessage, size?: number, extra?: AppendExtra): Promise<AppendResult> {
    const r = this.retention(ns, room);
    const k = this.keys(ns, room);
    const dedup = msg.key !== undefined && r.dedupWindowMs > 0;
    const c = extra?.consumer;
    const g = extra?.groupAck;
    const json = extra?.json ?? JSON.stringify(msg.data ?? null);
    const p = this.cmd.wsqStoreAppend(
      k.meta,
      k.stream,
      dedup ? k.dedup(msg.key!) : k.meta,
      c ? this.keys(ns, c.room).consumers : k.meta,
      g ? this.keys(ns, g.room).stream : k.meta,
      nanoid(10),
      String(this.now()),
      String(msg.ts),
      String(size ?? (extra?.json !== undefined && msg.data !== undefined ? extra.json.length + msg.event.length : messageSize(msg))),
      encodeRecord(msg, json),
      String(r.maxMessages),
      String(r.maxBytes),
      this.cutoff(ns, room, r),
      r.overflow === 'reject' ? '1' : '0',
      dedup ? String(r.dedupWindowMs) : '0',
      c ? JSON.stringify(c.name) : '',
      c ? JSON.stringify(c.state) : '',
      k.channel,
      JSON.stringify(ns),
      JSON.stringify(room),
      g ? g.group : '',
      g ? g.consumer : '',
      g ? `${g.offset}-0` : '',
      g ? String(g.attempt) : '',
    );
    return this.write(p, (err) => {
      const m = /WSQFULL (.+)$/.exec(err instanceof Error ? err.message : '');
      return m ? new QueueFullError(ns, room, m[1]!) : undefined;
    }).then(([offset, epoch, duplicate, stale]) =>
      stale === 1 ? { offset: 0, epoch, duplicate: false, stale: true, durability: 'redis' as const } : { offset, epoch, duplicate: duplicate === 1, durability: 'redis' as const },
    );
  }

  /** Held, unexpired messages with offset >= from, ascending, at most `limit`. */
  async read(ns: string, room: string, from: number, limit: number): Promise<StoredMessage[]> {
    if (limit <= 0) return [];
    const k = this.keys(ns, room);
    const start = Math.max(1, Math.ceil(from));
    const flat = await this.command(this.cmd.wsqStoreRead(k.meta, k.stream, String(start), String(Math.min(limit, 1_000_000)), this.cutoff(ns, room)));
    const out: StoredMessage[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) out.push(decodeRecord(flat[i + 2]!, Number(flat[i]), Number(flat[i + 1])));
    return out;
  }

  /** The consumer's saved state, or undefined. */
  async getConsumer(ns: string, room: string, name: string): Promise<ConsumerState | undefined> {
    const v = await this.command(this.redis.hget(this.keys(ns, room).consumers, JSON.stringify(name)));
    return v === null ? undefined : (JSON.parse(v) as ConsumerState);
  }

  /** Save the consumer's state; resolves once Redis replied. */
  putConsumer(ns: string, room: string, name: string, state: ConsumerState): Promise<void> {
    const p = this.redis.hset(this.keys(ns, room).consumers, JSON.stringify(name), JSON.stringify(state));
    return this.write(p).then(() => undefined);
  }

  /**
   * Shared store feed (decision 3): the room's committed messages as the append script published
   * them, in offset order, with their epoch. See `Store.watch`.
   */
  watch(ns: string, room: string, onMessage: (m: LiveMessage) => void, onReset: () => void): StoreWatch {
    if (!this.subscriber) {
      this.subscriber = new OwnShardSubscriber(this.url);
      this.ownSubscriber = true;
    }
    const h = this.subscriber.subscribe(
      this.keys(ns, room).channel,
      (payload) => {
        const m = decodeLive(payload);
        if (m) onMessage(m);
      },
      onReset,
    );
    let stopped = false;
    return {
      ready: h.ready,
      stop: () => {
        if (stopped) return;
        stopped = true;
        h.unsubscribe();
      },
    };
  }

  /**
   * R5.6.7: forget idle rooms (no message held after age expiry, no consumer state, no Streams
   * consumer group, not written for `idleRoomTtlMs`), looking at up to `limit` rooms per call,
   * continuing a SCAN where the last call stopped. Each room is judged and deleted in one script.
   */
  sweepIdle(limit = Infinity): Promise<number> {
    // one sweep at a time (the timer's and a caller's share the SCAN cursor)
    const run = this.sweeping.then(() => this.sweepNow(limit));
    this.sweeping = run.catch(() => 0);
    return run;
  }

  private async sweepNow(limit: number): Promise<number> {
    if (this.idleTtl <= 0 || this.closed) return 0;
    const now = String(this.now());
    const pattern = `${globEscape(this.prefix)}{*`;
    let looked = 0;
    let removed = 0;
    let passes = 0;
    while (looked < limit) {
      if (this.sweepQueue.length === 0) {
        if (this.sweepStarted && this.sweepCursor === '0') {
          this.sweepStarted = false;
          if (++passes > 1) break;
        }
        this.sweepStarted = true;
        const [next, keys] = await this.command(this.redis.scan(this.sweepCursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT, 'TYPE', 'hash'));
        this.sweepCursor = next;
        for (const key of keys) if (key.endsWith(':m')) this.sweepQueue.push(key);
        continue;
      }
      const batch = this.sweepQueue.splice(0, Math.min(limit - looked, SCAN_COUNT));
      looked += batch.length;
      const metas = await this.command(Promise.all(batch.map((m) => this.redis.hmget(m, 'ns', 'room'))));
      const gone = await this.write(
        Promise.all(
          batch.map((meta, i) => {
            const [nsj, roomj] = metas[i]!;
            if (nsj === null || roomj === null) return Promise.resolve(0);
            const ns = JSON.parse(nsj) as string;
            const room = JSON.parse(roomj) as string;
            const base = meta.slice(0, -2);
            return this.cmd.wsqStoreSweep(meta, `${base}:s`, `${base}:c`, now, String(this.idleTtl), this.cutoff(ns, room));
          }),
        ),
      );
      for (const g of gone) removed += g;
    }
    return removed;
  }

  /**
   * Rooms with a log (meta hash) under this prefix, of `ns` when given (rooms with names too long
   * to key plainly included), at most `limit`; positions as stored. A SCAN: for admin listings.
   */
  async listRooms(ns?: string, limit = 1000): Promise<RoomSummary[]> {
    const p = globEscape(this.prefix);
    // A namespace's plain room keys share the base64url of its length-prefixed name (whole 3-byte
    // groups of it); hashed ones (names too long to key plainly: 0xFF + SHA-256) all start with "_".
    const patterns = [`${p}{*`];
    if (ns !== undefined) {
      const np = nsPrefix(ns);
      patterns[0] = `${p}{${np.subarray(0, np.length - (np.length % 3)).toString('base64url')}*`;
      patterns.push(`${p}{_*`);
    }
    const out: RoomSummary[] = [];
    const seen = new Set<string>(); // SCAN may return a key twice
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await this.command(this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT, 'TYPE', 'hash'));
        cursor = next;
        const metas = keys.filter((key) => key.endsWith(':m') && !seen.has(key));
        for (const m of metas) seen.add(m);
        const rows = await this.command(Promise.all(metas.map((m) => this.redis.hmget(m, 'ns', 'room', 'epoch', 'first', 'last'))));
        for (const [nsj, roomj, epoch, first, last] of rows) {
          if (out.length >= limit) break;
          if (nsj === null || roomj === null || epoch === null) continue;
          const rns = JSON.parse(nsj) as string;
          if (ns !== undefined && rns !== ns) continue;
          out.push({ ns: rns, room: JSON.parse(roomj) as string, epoch, first: Number(first), last: Number(last) });
        }
      } while (cursor !== '0' && out.length < limit);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Every consumer with saved state over one room's log, at most `limit`. */
  async consumerStates(ns: string, room: string, limit = 1000): Promise<NamedConsumerState[]> {
    const key = this.keys(ns, room).consumers;
    const seen = new Map<string, ConsumerState>();
    let cursor = '0';
    do {
      const [next, flat] = await this.command(this.redis.hscan(key, cursor, 'COUNT', SCAN_COUNT));
      cursor = next;
      for (let i = 0; i + 1 < flat.length && seen.size < limit; i += 2) seen.set(JSON.parse(flat[i]!) as string, JSON.parse(flat[i + 1]!) as ConsumerState);
    } while (cursor !== '0' && seen.size < limit);
    return [...seen].map(([name, state]) => ({ name, state }));
  }

  /** Stop the sweep timer and the watches; close the connections the store opened (a shared `redis` stays open). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.redis.off('ready', this.onReady);
    this.redis.off('close', this.onClose);
    this.redis.off('end', this.onClose);
    this.redis.off('error', this.onError);
    if (this.ownSubscriber) await this.subscriber?.close?.();
    if (!this.ownConnection) return;
    this.redis.on('error', () => {}); // a late connection error after close must not be unhandled
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }

  /** A room's key names, from a small cache (at most KEY_CACHE rooms; cleared when full). */
  private keys(ns: string, room: string): RedisRoomKeys {
    const ck = compositeKey(ns, room);
    let k = this.keyCache.get(ck);
    if (!k) {
      if (this.keyCache.size >= KEY_CACHE) this.keyCache.clear();
      k = redisKeys(this.prefix, ns, room);
      this.keyCache.set(ck, k);
    }
    return k;
  }

  /** The age cutoff of a room now, as a script argument ('' = no age limit). */
  private cutoff(ns: string, room: string, r = this.retention(ns, room)): string {
    return r.maxAgeMs > 0 ? String(this.now() - r.maxAgeMs) : '';
  }

  /** A read: a failure rejects with StoreUnavailableError. */
  private command<T>(p: Promise<T>): Promise<T> {
    return p.catch((err: unknown) => {
      throw new StoreUnavailableError(reasonOf(err));
    });
  }

  /**
   * A write: success clears a failed write's mark; a failure marks the store not writable and
   * rejects with StoreUnavailableError, unless `own` maps the error to another one (QueueFullError).
   */
  private write<T>(p: Promise<T>, own?: (err: unknown) => Error | undefined): Promise<T> {
    return p.then(
      (v) => {
        this.failed = undefined;
        return v;
      },
      (err: unknown) => {
        const mine = own?.(err);
        if (mine) throw mine;
        this.failed = reasonOf(err);
        throw new StoreUnavailableError(this.failed);
      },
    );
  }
}

/** One subscribed channel of OwnShardSubscriber. */
interface Channel {
  listeners: Set<Listener>;
  /** Resolves when SSUBSCRIBE was confirmed for the first time. */
  ready: Promise<void>;
  resolve: () => void;
  /** Confirmed once, so a later re-subscription means "messages may have been missed". */
  confirmed: boolean;
}

interface Listener {
  onMessage: (payload: string) => void;
  onResubscribed: () => void;
}

/**
 * A minimal ShardSubscriber on its own ioredis connection, until lib/redis/bus.ts provides the
 * process's shared one. Refcounted: one SSUBSCRIBE per channel however many watchers; re-subscribes
 * every channel itself after a reconnect and then tells each watcher (`onResubscribed`). Holds one
 * entry per watched channel (bounded by the rooms the process follows).
 */
export class OwnShardSubscriber implements ShardSubscriber {
  private readonly conn: Redis;
  private readonly channels = new Map<string, Channel>();

  /** Opens the connection (in the background) to `url`. */
  constructor(url: string) {
    this.conn = new Redis(url, { ...STORE_CONNECTION_OPTIONS, commandTimeout: undefined, autoResubscribe: false, connectionName: 'wsq-store-sub' });
    this.conn.on('error', () => {}); // reconnects by itself; readiness is reported by the command connection
    this.conn.on('smessage', (channel: string, payload: string) => {
      const ch = this.channels.get(channel);
      if (!ch) return;
      for (const l of ch.listeners) {
        try {
          l.onMessage(payload);
        } catch {
          // one watcher's failure must not starve the others
        }
      }
    });
    this.conn.on('ready', () => {
      for (const [name, ch] of this.channels) this.ssubscribe(name, ch);
    });
  }

  /** Subscribe (refcounted). See ShardSubscriber. */
  subscribe(channel: string, onMessage: (payload: string) => void, onResubscribed: () => void): { ready: Promise<void>; unsubscribe(): void } {
    let ch = this.channels.get(channel);
    if (!ch) {
      let resolve!: () => void;
      const ready = new Promise<void>((r) => (resolve = r));
      ch = { listeners: new Set(), ready, resolve, confirmed: false };
      this.channels.set(channel, ch);
      if (this.conn.status === 'ready') this.ssubscribe(channel, ch);
    }
    const l: Listener = { onMessage, onResubscribed };
    ch.listeners.add(l);
    const own = ch;
    return {
      ready: ch.ready,
      unsubscribe: () => {
        own.listeners.delete(l);
        if (own.listeners.size > 0 || this.channels.get(channel) !== own) return;
        this.channels.delete(channel);
        if (this.conn.status === 'ready') this.conn.sunsubscribe(channel).catch(() => {});
      },
    };
  }

  /** Close the connection. */
  async close(): Promise<void> {
    this.channels.clear();
    if (this.conn.status === 'ready') await this.conn.quit().catch(() => this.conn.disconnect());
    else this.conn.disconnect();
  }

  private ssubscribe(name: string, ch: Channel): void {
    this.conn.ssubscribe(name).then(
      () => {
        if (this.channels.get(name) !== ch) return;
        if (!ch.confirmed) {
          ch.confirmed = true;
          ch.resolve();
          return;
        }
        for (const l of ch.listeners) {
          try {
            l.onResubscribed();
          } catch {
            // as above
          }
        }
      },
      () => {}, // the connection dropped again: the next 'ready' retries
    );
  }
}

/**
 * Delete every key whose name starts with `prefix` (SCAN MATCH prefix*, then DEL in batches),
 * on a connection of its own to `url`; returns how many went. For tests (each uses its own prefix)
 * and for removing one deployment's data from a shared Redis. Never FLUSHDB.
 */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<number> {
  if (prefix.length === 0) throw new Error('deleteKeysWithPrefix needs a non-empty prefix: it would delete every key');
  const conn = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  conn.on('error', () => {});
  try {
    await conn.connect();
    let cursor = '0';
    let n = 0;
    do {
      const [next, keys] = await conn.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) n += await conn.unlink(...keys);
    } while (cursor !== '0');
    return n;
  } finally {
    conn.disconnect();
  }
}
