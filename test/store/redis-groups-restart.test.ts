/**
 * Consumer groups on Redis across a Redis restart (issue 9 items 3–5, decisions 5 and 7): on an
 * own `redis-server` (never the shared system Redis), two WsqServer nodes in one process.
 * - With `appendfsync always`, SIGKILL and restart: the group's progress (what was acked, what is
 *   pending on which node) survives; pending entries come back after the ack timeout, acked ones never.
 * - Without persistence: Redis comes back empty; the group is made again and new messages flow.
 * Every wait is bounded.
 */
import t from 'tap';
import type { WsqServer, WsqServerOptions } from '../../lib/index.js';
import { retentionResolver } from '../../lib/retention.js';
import { RedisStore, redisKeys } from '../../lib/store/redis.js';
import { eventIn, offsets, publish, until } from '../helpers/logs.js';
import type { Frame, RawClient } from '../helpers/raw-client.js';
import { startRedis } from '../helpers/redis-server.js';
import { rawClient, startServer, type Tap } from '../helpers/server.js';

const group = (room: string, name: string, extra: Record<string, unknown> = {}) => ({ type: 'join', room, group: name, ...extra });

async function node(t: Tap, url: string, opts: WsqServerOptions): Promise<{ server: WsqServer; url: string; store: RedisStore }> {
  const store = await RedisStore.open({ url, prefix: 'wsq-test-e:', retention: retentionResolver() });
  const s = await startServer(t, { ...opts, store });
  return { ...s, store };
}

/** Ack every delivery of `room` on `c` unless `hold` says keep it; returns what arrived. */
function acker(c: RawClient, room: string, hold: (f: Frame) => boolean = () => false): Frame[] {
  const got: Frame[] = [];
  c.ws.on('message', (data: Buffer) => {
    const f = JSON.parse(data.toString()) as Frame;
    if (!eventIn(room)(f) || f.id === undefined) return;
    got.push(f);
    if (!hold(f)) c.send({ type: 'ack', id: f.id });
  });
  return got;
}

/** Wait (bounded) until every store is writable again after Redis came back. */
async function writable(stores: RedisStore[], timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!stores.every((s) => s.health().writable && s.redis.status === 'ready')) {
    if (Date.now() > deadline) throw new Error(`stores not writable within ${timeoutMs} ms: ${stores.map((s) => s.health().reason).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Publish, retrying (bounded) while the node's store is still reconnecting. */
async function publishRetry(c: RawClient, room: string, data: unknown, timeoutMs = 10_000): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await publish(c, room, 'job', data);
    if (r.type === 'ack' && r.offset !== undefined) return r;
    if (Date.now() > deadline) throw new Error(`publish failed for ${timeoutMs} ms: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

t.test('decision 7 / R5.5.9: with appendfsync always a Redis SIGKILL loses no group progress: acked stays done, pending comes back once', async (t) => {
  const redis = await startRedis(t, { persistent: true });
  const ackTimeoutMs = 500;
  const a = await node(t, redis.url, { ackTimeoutMs });
  const b = await node(t, redis.url, { ackTimeoutMs });
  const wa = await rawClient(t, a.url);
  const ga = acker(wa, 'jobs', (f) => f.offset > 2); // acks 1 and 2, holds 3 and 4
  await wa.request(group('jobs', 'w', { prefetch: 4 }));
  const pub = await rawClient(t, a.url);
  for (const d of [1, 2, 3, 4]) await publishRetry(pub, 'jobs', d);
  await until([wa], () => ga.length >= 4, 5000, 'member A got 4');
  // The acks of 1 and 2 are in Redis before the crash.
  const key = redisKeys(a.store.prefix, '/', 'jobs').stream;
  const deadline = Date.now() + 5000;
  while (Number(((await a.store.redis.xpending(key, 'group:w')) as [number])[0]) !== 2) {
    if (Date.now() > deadline) throw new Error('acks did not reach Redis');
    await new Promise((r) => setTimeout(r, 20));
  }
  await redis.kill();
  await wa.close(); // member A goes while Redis is down: its release cannot be written; the ack timeout covers it
  await redis.restart();
  await writable([a.store, b.store]);
  const wb = await rawClient(t, b.url);
  const gb = acker(wb, 'jobs');
  await wb.request(group('jobs', 'w', { prefetch: 10 }));
  await until([wb], () => gb.length >= 2, 10_000, 'member B got the two pending');
  t.same(
    offsets(gb).sort((x, y) => x - y),
    [3, 4],
    'exactly the unacked ones come back',
  );
  t.ok(
    gb.every((f) => f.attempt === 2),
    'as second attempts (the delivery counts survived)',
  );
  await publishRetry(pub, 'jobs', 5);
  await until([wb], () => gb.length >= 3, 5000, 'the next message');
  t.same(offsets(gb).slice(2), [5], 'new messages follow, offsets continue (same epoch)');
});

t.test('decision 7: a Redis without persistence comes back empty: the group is made again and new messages reach the members', async (t) => {
  const redis = await startRedis(t, { persistent: false });
  const a = await node(t, redis.url, { ackTimeoutMs: 2000 });
  const b = await node(t, redis.url, { ackTimeoutMs: 2000 });
  const wa = await rawClient(t, a.url);
  const wb = await rawClient(t, b.url);
  const ga = acker(wa, 'jobs');
  const gb = acker(wb, 'jobs');
  await wa.request(group('jobs', 'w', { prefetch: 2 }));
  await wb.request(group('jobs', 'w', { prefetch: 2 }));
  const pub = await rawClient(t, a.url);
  const first = await publishRetry(pub, 'jobs', 'before');
  await until([wa, wb], () => ga.length + gb.length >= 1, 5000, 'one delivery');
  await redis.stop();
  await redis.restart();
  await writable([a.store, b.store]);
  const again = await publishRetry(pub, 'jobs', 'after');
  t.not(again.epoch, first.epoch, 'a new epoch: clients can tell the log was lost');
  await until([wa, wb], () => [...ga, ...gb].some((f) => f.data === 'after'), 10_000, 'the message after the restart');
  const after = [...ga, ...gb].filter((f) => f.data === 'after');
  t.equal(after.length, 1, 'delivered once');
  t.equal(after[0]!.attempt, 1, 'first attempt');
});
