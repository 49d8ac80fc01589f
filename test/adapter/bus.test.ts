/**
 * lib/redis/bus.ts (issue 9 item 2): refcounted sharded subscriptions, dispatch by channel,
 * down/up events with a reason, resubscribe after a Redis restart before `up`, no buffering while down.
 */
import { once } from 'node:events';
import { nanoid } from 'nanoid';
import t from 'tap';
import { RedisBus } from '../../lib/redis/bus.js';
import { startRedis } from '../helpers/redis-server.js';

/** Resolve with the next `n` messages on a channel of the bus (bounded wait). */
function collect(bus: RedisBus, channel: string, n: number, ms = 5000): { done: Promise<string[]>; sub: ReturnType<RedisBus['subscribe']> } {
  const got: string[] = [];
  let resolve!: (v: string[]) => void;
  let reject!: (e: Error) => void;
  const done = new Promise<string[]>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} messages on ${channel} within ${ms} ms`)), ms);
  const sub = bus.subscribe(channel, (m) => {
    got.push(m.toString());
    if (got.length === n) {
      clearTimeout(timer);
      resolve(got);
    }
  });
  return { done, sub };
}

t.test('issue 9 item 2: refcounted sharded subscriptions — SSUBSCRIBE once per channel, SUNSUBSCRIBE with the last handler', async (t) => {
  const prefix = `wsq-test-${nanoid()}:`;
  const bus = new RedisBus({ prefix });
  t.teardown(() => bus.close());
  await bus.ready();
  const ch = `${prefix}room`;
  const a: string[] = [];
  const b: string[] = [];
  const sa = bus.subscribe(ch, (m) => a.push(m.toString()));
  const sb = bus.subscribe(ch, (m) => b.push(m.toString()));
  await Promise.all([sa.ready, sb.ready]);
  t.equal(await bus.numsub(ch), 1, 'one connection subscribes the channel for both handlers');
  const probe = collect(bus, `${ch}:probe`, 1);
  await probe.sub.ready;
  t.equal(await bus.publish(ch, 'one'), 1);
  await bus.publish(`${ch}:probe`, 'x');
  await probe.done; // published after, same connection: "one" was dispatched before it
  t.same(a, ['one']);
  t.same(b, ['one']);
  sa.close();
  sa.close(); // idempotent
  t.equal(await bus.numsub(ch), 1, 'still subscribed for the other handler');
  sb.close();
  const deadline = Date.now() + 5000;
  while ((await bus.numsub(ch)) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(await bus.numsub(ch), 0, 'unsubscribed with the last handler');
  t.equal(bus.channelCount(), 1, 'only the probe channel is wanted');
});

t.test('issue 9 item 2: maxChannels caps the subscriptions of one node', async (t) => {
  const prefix = `wsq-test-${nanoid()}:`;
  const bus = new RedisBus({ prefix, maxChannels: 2 });
  t.teardown(() => bus.close());
  await bus.ready();
  bus.subscribe(`${prefix}1`, () => {});
  bus.subscribe(`${prefix}2`, () => {});
  t.throws(() => bus.subscribe(`${prefix}3`, () => {}), /maxChannels/);
  bus.subscribe(`${prefix}2`, () => {}); // a second handler of a held channel is no new channel
});

t.test('issue 9 item 2: Redis restart — down with a reason, nothing buffered while down, resubscribed before up', async (t) => {
  const redis = await startRedis(t);
  const prefix = `wsq-test-${nanoid()}:`;
  const bus = new RedisBus({ url: redis.url, prefix, redis: { retryStrategy: () => 50 } });
  t.teardown(() => bus.close());
  await bus.ready();
  t.equal(bus.readinessCheck(), undefined);
  const ch = `${prefix}room`;
  const first = collect(bus, ch, 1);
  await first.sub.ready;
  const down = once(bus, 'down');
  await redis.kill();
  const [reason] = await down;
  t.type(reason, 'string');
  t.notOk(bus.status().up);
  t.match(bus.readinessCheck(), /^redis: /, '/readyz reason names redis');
  await t.rejects(bus.publish(ch, 'lost'), /unreachable/, 'a publish while down rejects at once');
  const up = once(bus, 'up');
  await redis.restart();
  const [info] = await up;
  t.equal(info.reconnect, true);
  t.ok(info.downMs > 0);
  // `up` came after the resubscribe: a publish from another connection reaches the handler.
  const other = new RedisBus({ url: redis.url, prefix });
  t.teardown(() => other.close());
  await other.ready();
  t.equal(await other.numsub(ch), 1, 'the channel is subscribed again on the new Redis');
  await other.publish(ch, 'after');
  t.same(await first.done, ['after']);
});
