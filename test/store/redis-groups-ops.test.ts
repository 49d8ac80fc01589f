/**
 * lib/store/redis-groups.ts on the system Redis (own key prefix, its keys deleted at the end): the
 * scripts one Streams consumer (node) runs, seen from two consumers of one group. R5.5.3 (attempt =
 * delivery count, claims after the ack timeout), R5.4.6 (an ack of a delivery taken back changes
 * nothing), R5.5.1 (a new group starts after startAfter; an existing one continues).
 */
import { Redis } from 'ioredis';
import { nanoid } from 'nanoid';
import t from 'tap';
import { deleteKeysWithPrefix } from '../../lib/store/redis.js';
import { type GroupStream, RedisGroupOps } from '../../lib/store/redis-groups.js';
import type { StoredMessage } from '../../lib/store/types.js';

const REDIS = 'redis://127.0.0.1:6379';

/** A stream of `n` entries `<offset>-0` (field `d`), two consumers of group `g` on it. */
async function setup(t: Tap, n: number, startAfter = 0) {
  const prefix = `wsq-test-${nanoid()}:`;
  const redis = new Redis(REDIS);
  t.teardown(async () => {
    await deleteKeysWithPrefix(REDIS, prefix);
    await redis.quit();
  });
  const key = `${prefix}{room}:s`;
  for (let o = 1; o <= n; o++) await redis.xadd(key, `${o}-0`, 'd', String(o));
  const decode = (id: string, fields: string[]): StoredMessage | undefined =>
    fields[0] === 'd' ? { offset: Number.parseInt(id, 10), event: 'e', data: fields[1], ts: 0 } : undefined;
  const stream: GroupStream = { redis, key, decode };
  const n1 = new RedisGroupOps(stream, 'group:g', 'node-1');
  const n2 = new RedisGroupOps(stream, 'group:g', 'node-2');
  const p = await n1.ensure(startAfter);
  return { redis, key, n1, n2, fresh: p.fresh };
}

interface Tap {
  teardown(fn: () => unknown): void;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('R5.5.1: ensure creates the group after startAfter once; the second call finds it', async (t) => {
  const { n1, n2, fresh } = await setup(t, 5, 3);
  t.equal(fresh, true, 'created');
  const again = await n2.ensure(0);
  t.equal(again.fresh, false, 'existing: startAfter ignored');
  const r = await n1.take(10, 60_000);
  t.same(
    r.fresh.map((x) => x.msg.offset),
    [4, 5],
    'starts after 3',
  );
  t.same(
    r.fresh.map((x) => x.attempt),
    [1, 1],
  );
  const p = await n1.progress();
  t.equal(p.floor, 3, 'floor below the lowest pending');
  t.equal(p.pending, 2);
  t.equal(await n1.ack([{ offset: 4, attempt: 1 }]), 1);
  t.equal((await n1.progress()).floor, 4, 'floor moves with the ack');
});

t.test("R5.5.3 / R5.4.6: after the ack timeout another node claims with attempt 2; the first node's late ack changes nothing", async (t) => {
  const { n1, n2 } = await setup(t, 1);
  const first = await n1.take(1, 50);
  t.equal(first.fresh[0]!.attempt, 1);
  t.same((await n2.take(1, 50)).due, [], 'not claimable before the timeout');
  await wait(80);
  const second = await n2.take(1, 50);
  t.same(
    second.due.map((x) => [x.msg.offset, x.attempt]),
    [[1, 2]],
    'claimed by node 2 as attempt 2',
  );
  t.equal(await n1.ack([{ offset: 1, attempt: 1 }]), 0, "node 1's late ack: ignored");
  t.equal(await n2.ack([{ offset: 1, attempt: 1 }]), 0, 'an ack with a stale attempt: ignored');
  t.equal(await n2.ack([{ offset: 1, attempt: 2 }]), 1, "node 2's ack of its delivery counts");
  t.equal((await n1.progress()).pending, 0, 'nothing pending');
});

t.test('R5.5.3: release makes an entry claimable at once (attempt counted), uncount gives back a claim never sent, touch keeps it', async (t) => {
  const { n1, n2 } = await setup(t, 3);
  const r = await n1.take(3, 60_000);
  t.equal(r.fresh.length, 3);
  t.equal(
    await n1.release(
      [
        { offset: 1, attempt: 1, afterMs: 0 },
        { offset: 2, attempt: 1, afterMs: 0, uncount: true },
      ],
      60_000,
    ),
    2,
  );
  t.equal(await n2.release([{ offset: 3, attempt: 1, afterMs: 0 }], 60_000), 0, 'another node cannot release what it does not hold');
  const back = await n2.take(3, 60_000);
  t.same(
    back.due.map((x) => [x.msg.offset, x.attempt]),
    [
      [1, 2],
      [2, 1],
    ],
    'released: attempt + 1; uncounted: attempt 1 again',
  );
  await wait(60);
  t.equal(await n1.touch([{ offset: 3, attempt: 1 }]), 1, 'keep-alive');
  n2.rewind();
  const later = await n2.take(3, 50);
  t.notOk(
    later.due.some((x) => x.msg.offset === 3),
    'a touched entry is not idle (the untouched ones are)',
  );
});

t.test('Redis without the group: take and progress say missing (nothing taken, nothing created)', async (t) => {
  const { redis, key, n1 } = await setup(t, 2);
  await redis.del(key);
  const r = await n1.take(5, 60_000);
  t.equal(r.missing, true);
  t.equal((await n1.progress()).missing, true);
  t.equal(await redis.exists(key), 0, 'progress does not create the stream');
});
