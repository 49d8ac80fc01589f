/**
 * Simulated nodes in one process for the Redis adapter tests: each node has its own RedisBus
 * (its own command and subscriber connections, its own nodeId) on the system Redis, with a
 * RedisStore on that bus (the cross-node adapter needs a shared store), all under one fresh
 * key/channel prefix per test. Cleanup closes the buses and deletes only that prefix's keys.
 */
import { nanoid } from 'nanoid';
import { redisAdapter, type RedisAdapterOptions } from '../../lib/adapter/redis.js';
import type { AdapterFactory } from '../../lib/adapter/types.js';
import type { WsqServerOptions } from '../../lib/index.js';
import { RedisBus } from '../../lib/redis/bus.js';
import { RedisStore } from '../../lib/store/redis.js';
import type { RetentionResolver } from '../../lib/store/types.js';

/** The system Redis. */
export const REDIS_URL = process.env.WSQ_TEST_REDIS ?? 'redis://127.0.0.1:6379';

const retention: RetentionResolver = () => ({ maxMessages: 0, maxAgeMs: 0, maxBytes: 0, overflow: 'drop-oldest', dedupWindowMs: 0 });

/** One simulated node: its bus, its store, and the server options that use them. */
export interface SimNode {
  bus: RedisBus;
  store: RedisStore;
  adapter: AdapterFactory;
  /** `{ adapter, store }` for `new WsqServer(...)`. */
  options: Partial<WsqServerOptions>;
}

/** Delete every key under `prefix` (SCAN MATCH prefix*, never FLUSH). */
export async function deletePrefix(bus: RedisBus, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await bus.cmd.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await bus.cmd.del(...keys);
  } while (cursor !== '0');
}

/** `n` nodes on one fresh prefix; `cleanup` closes them and deletes the prefix's keys. */
export async function simNodes(
  n: number,
  opts: { url?: string; adapter?: RedisAdapterOptions; prefix?: string } = {},
): Promise<{ prefix: string; nodes: SimNode[]; cleanup: () => Promise<void> }> {
  const prefix = opts.prefix ?? `wsq-test-${nanoid()}:`;
  const url = opts.url ?? REDIS_URL;
  const nodes: SimNode[] = [];
  for (let i = 0; i < n; i++) {
    const bus = new RedisBus({ url, prefix });
    await bus.ready();
    const store = new RedisStore({ redis: bus.cmd, prefix, subscriber: bus.shardSubscriber(), retention, idleSweepMs: 0 });
    const adapter = redisAdapter(bus, opts.adapter);
    nodes.push({ bus, store, adapter, options: { adapter, store } });
  }
  return {
    prefix,
    nodes,
    cleanup: async () => {
      const first = nodes[0];
      if (first?.bus.up) await deletePrefix(first.bus, prefix).catch(() => {});
      for (const node of nodes) await node.bus.close();
    },
  };
}
