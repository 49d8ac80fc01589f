/**
 * Scale-out wiring (README "Scaling out"): from the `redis` option, one node's share of a
 * cluster: its `nodeId`, the Redis connections (lib/redis/bus.ts), the Redis store (logs,
 * offsets, cursors, groups shared by every node) and the Redis adapter (membership and live
 * delivery across nodes), the `redis` readiness check and the "Redis down / up" log lines.
 *
 * Rule (decision 1): `redis` turns on BOTH the adapter and the store. A cross-node adapter with a
 * node-local store would give each node its own offsets for the same room, so it is refused at
 * construction with a ConfigError saying what to do.
 */
import { nanoid } from 'nanoid';
import { redisAdapter } from './adapter/redis.js';
import type { Adapter, AdapterFactory } from './adapter/types.js';
import { ConfigError, type RedisConfig } from './config.js';
import type { Log } from './logging.js';
import { RedisBus } from './redis/bus.js';
import { RedisStore } from './store/redis.js';
import type { RetentionResolver, Store } from './store/types.js';

/** Oldest Redis major version served (sharded pub/sub came with 7.0). */
export const MIN_REDIS_MAJOR = 7;
/** How long a node waits for its first Redis connection before logging that Redis is not reachable. */
const FIRST_CONNECT_GRACE_MS = 3000;

/** Length of a generated node id (nanoid alphabet; 10 characters ≈ 60 bits). */
export const NODE_ID_LENGTH = 10;

/** A new node id: one per server process (or per `WsqServer`), logged and shown in `/healthz` and `/readyz`. */
export function newNodeId(): string {
  return nanoid(NODE_ID_LENGTH);
}

/** What the wiring needs from the server. */
export interface ClusterDeps {
  nodeId: string;
  retention: RetentionResolver;
  now: () => number;
  logs: Log;
}

/** One node's Redis side: the store and adapter factory the server uses, readiness, and shutdown. */
export interface Cluster {
  readonly nodeId: string;
  readonly store: Store;
  readonly adapter: AdapterFactory;
  /** Why this node cannot reach Redis now (for `/readyz`, shown as "redis: …"), or undefined when it can. */
  readiness(): string | undefined;
  /** Close the Redis connections (after the store closed). */
  close(): Promise<void>;
}

/**
 * The URL with any password replaced by `***` (for log lines, start lines and `wsq config print`).
 * @example
 * redactUrl('redis://:s3cret@10.0.0.5:6379/0') // 'redis://:***@10.0.0.5:6379/0'
 */
export function redactUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

/**
 * Build a node's Redis side from the `redis` option: one RedisBus (a command and a subscriber
 * connection for the whole process), the RedisStore on the bus's command connection with the
 * bus as its shard subscriber (RoomLog feeds, decision 3), and the Redis adapter on the same bus.
 * Nothing here waits: ioredis connects in the background; until it is up, `/readyz` says
 * "redis: …" and writes fail with `unavailable`. Outages are logged once each (warn), and the
 * recovery (info) with how long Redis was away.
 */
export function openCluster(redis: RedisConfig, deps: ClusterDeps): Cluster {
  const where = redactUrl(redis.url);
  const { logs, nodeId } = deps;
  const bus = new RedisBus({
    url: redis.url,
    prefix: redis.prefix,
    nodeId,
    report: (level, msg, err) => logs.limited(`redis:${msg}`, level, msg, { redis: where }, err),
  });
  // contract: (D↔B↔C) the store shares the bus's connections: bus.cmd for scripts, bus.shardSubscriber() for `watch`.
  const store = new RedisStore({
    redis: bus.cmd,
    subscriber: bus.shardSubscriber(),
    prefix: redis.prefix,
    durable: redis.durable,
    idleRoomTtlMs: redis.idleRoomTtlMs,
    retention: deps.retention,
    now: deps.now,
  });
  bus.on('down', (reason: string) => logs.write('warn', 'redis: unreachable; writes fail with "unavailable" until it is back', { redis: where, reason }));
  /** Set when the server is older than Redis 7 (no sharded pub/sub): said by `/readyz` and logged. */
  let tooOld: string | undefined;
  bus.on('up', (info: { downMs: number; reconnect: boolean }) => {
    if (info.reconnect) return logs.write('info', 'redis: reachable again; room logs re-read their positions', { redis: where, downMs: info.downMs });
    logs.write('info', 'redis: connected', { redis: where, prefix: redis.prefix, durable: redis.durable });
    bus.cmd.info('server').then(
      (text) => {
        const version = /redis_version:(\d+)/.exec(text)?.[1];
        if (version === undefined || Number(version) >= MIN_REDIS_MAJOR) return;
        tooOld = `Redis ${version} at ${where} is too old: wsq needs Redis ${MIN_REDIS_MAJOR} or later (sharded pub/sub, SPUBLISH)`;
        logs.write('error', `redis: ${tooOld}`, { redis: where });
      },
      () => undefined, // Redis went away again: the next `up` checks nothing more, `down` is logged
    );
  });
  // A Redis that never answered gets no `down` (it was never up): say so once, after a grace period.
  const notYet = setTimeout(() => {
    if (!bus.up) logs.write('warn', 'redis: not reachable yet; /readyz answers 503 and writes fail with "unavailable" until it is', { redis: where, reason: bus.status().reason });
  }, FIRST_CONNECT_GRACE_MS).unref();
  return {
    nodeId,
    store,
    adapter: redisAdapter(bus),
    readiness: () => {
      if (tooOld) return `redis: ${tooOld}`;
      const st = bus.status();
      return st.up ? undefined : `redis: ${st.reason ?? 'connecting'} (${where}, since ${new Date(st.since).toISOString()})`;
    },
    close: () => {
      clearTimeout(notYet);
      return bus.close();
    },
  };
}

/**
 * Refuse a cross-node adapter over a node-local store (decision 1): each node would number the
 * same room's messages on its own. `adapter` is the main namespace's adapter, `store` the server's.
 * contract: a cross-node adapter says so with `crossNode === true` (role C, lib/adapter/redis.ts);
 * a store shared by every node says so with `shared === true` (role B, lib/store/types.ts).
 */
export function refuseLocalStore(adapter: Adapter, store: Store): void {
  const crossNode = (adapter as { crossNode?: boolean }).crossNode === true;
  const shared = (store as { shared?: boolean }).shared === true;
  if (crossNode && !shared) {
    throw new ConfigError(
      [
        `adapter: a cross-node adapter needs a store every node shares, but the store is the node-local ${store.kind} store: each node would give the same room its own offsets. Use the "redis" option (--redis, WSQ_REDIS), which sets both the Redis adapter and the Redis store, or pass a RedisStore as "store".`,
      ],
      'WsqServer option',
    );
  }
}
