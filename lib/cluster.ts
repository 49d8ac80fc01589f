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
import type { Adapter, AdapterFactory } from './adapter/types.js';
import { ConfigError, type RedisConfig } from './config.js';
import type { Log } from './logging.js';
import type { RetentionResolver, Store } from './store/types.js';

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
 * Build a node's Redis side from the `redis` option.
 * @throws Error while this build has no Redis store yet (lib/store/redis.ts); replaced as it lands.
 */
export function openCluster(redis: RedisConfig, deps: ClusterDeps): Cluster {
  void redis;
  void deps;
  throw new Error('the "redis" option (--redis, WSQ_REDIS) is not available yet in this build: the Redis store is still being written');
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
