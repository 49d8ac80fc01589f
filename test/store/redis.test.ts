/**
 * RedisStore (issue 9 items 3 and 4), what the shared store contract cannot check: what an acked
 * append means across a Redis crash (own redis-server, `appendfsync always`, SIGKILL), what a
 * Redis that keeps nothing loses (a new epoch), a Redis that is away (StoreUnavailableError, the
 * process lives, writes resume), the live feed of decision 3 (SPUBLISH from the append script),
 * exact JSON round trips, key naming, and the group-ack guard of a dead letter.
 * System-Redis tests use their own prefix and delete only its keys.
 */
import { once } from 'node:events';
import fc from 'fast-check';
import { nanoid } from 'nanoid';
import t, { type Test } from 'tap';
import { RedisBus } from '../../lib/redis/bus.js';
import { deleteKeysWithPrefix, decodeLive, decodeStreamEntry, RedisStore, redisKeys } from '../../lib/store/redis.js';
import { type LiveMessage, QueueFullError, StoreUnavailableError, type Store } from '../../lib/store/types.js';
import { FakeClock, options } from '../contract/store-contract.js';
import { startRedis } from '../helpers/redis-server.js';

const SYSTEM = 'redis://127.0.0.1:6379';
const WAIT_MS = 10_000;

/** A store on the system Redis under a fresh prefix; closed and its keys deleted at teardown. */
async function systemStore(tt: Test, limits = {}, prefix = `wsq-test-${nanoid()}:`): Promise<RedisStore> {
  const store = await RedisStore.open({ ...options(new FakeClock(), limits), url: SYSTEM, prefix });
  tt.teardown(async () => {
    await store.close();
    await deleteKeysWithPrefix(SYSTEM, prefix);
  });
  return store;
}

/** Resolves once the store's connection is ready again and it says writable (bounded). */
async function writableAgain(store: RedisStore): Promise<void> {
  if (store.redis.status !== 'ready') {
    const timer = setTimeout(() => store.redis.emit('error', new Error('test: Redis did not come back in time')), WAIT_MS);
    try {
      await Promise.race([
        once(store.redis, 'ready'),
        once(store.redis, 'error').then(([e]) => {
          if ((e as Error).message.startsWith('test:')) throw e;
          return once(store.redis, 'ready');
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
  if (!store.health().writable) throw new Error(`not writable after ready: ${store.health().reason}`);
}

/** Collects watched messages; `next(n)` resolves once n arrived (bounded). */
function collector() {
  const got: LiveMessage[] = [];
  let want = 0;
  let wake: (() => void) | undefined;
  return {
    got,
    onMessage: (m: LiveMessage) => {
      got.push(m);
      if (got.length >= want) wake?.();
    },
    next(n: number): Promise<LiveMessage[]> {
      want = n;
      if (got.length >= n) return Promise.resolve(got);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} watched messages within ${WAIT_MS} ms`)), WAIT_MS);
        wake = () => {
          clearTimeout(timer);
          resolve(got);
        };
      });
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err;
  }
}

t.test('issue 9 item 4: with appendfsync always, Redis killed by SIGKILL and restarted loses nothing acked', async (tt) => {
  const redis = await startRedis(tt, { persistent: true });
  const opts = { ...options(new FakeClock()), url: redis.url, prefix: 'wsq:', durable: true };
  let store: Store = await RedisStore.open(opts);
  tt.teardown(() => store.close());
  tt.equal(store.durable, true, 'durable only because we said the server fsyncs');
  const acked = await Promise.all(Array.from({ length: 300 }, (_, i) => store.append('ns', 'jobs', { event: 'e', data: { i }, ts: 1, key: `k${i}` })));
  await store.putConsumer('ns', 'jobs', 'client:ann', { floor: 120, done: [122], attempts: { '121': 2 } });
  const before = await store.position('ns', 'jobs');
  tt.same([before.first, before.last], [1, 300]);
  await redis.kill();
  await redis.restart();
  await writableAgain(store as RedisStore);
  await store.close();
  store = await RedisStore.open(opts); // a new node, as after a node restart too
  tt.same(await store.position('ns', 'jobs'), before, 'same epoch, first and last');
  const back = await store.read('ns', 'jobs', 1, 1000);
  tt.same(
    back.map((m) => m.offset),
    acked.map((a) => a.offset),
    'every acked offset is there',
  );
  tt.ok(
    back.every((m, i) => (m.data as { i: number }).i === i),
    'with its data',
  );
  tt.same(await store.getConsumer('ns', 'jobs', 'client:ann'), { floor: 120, done: [122], attempts: { '121': 2 } }, 'the durable cursor');
  tt.same(
    await store.append('ns', 'jobs', { event: 'e', data: 'again', ts: 1, key: 'k7' }),
    { offset: 8, epoch: before.epoch, duplicate: true, durability: 'redis' },
    'dedup keys survived',
  );
  tt.equal((await store.append('ns', 'jobs', { event: 'e', data: 'next', ts: 1 })).offset, 301, 'offsets continue');
});

t.test('issue 9 item 4: Redis SIGKILLed mid-stream (appendfsync always): every append acked before the kill is there after the restart', async (tt) => {
  const redis = await startRedis(tt, { persistent: true });
  const opts = { ...options(new FakeClock()), url: redis.url, durable: true };
  const store = await RedisStore.open(opts);
  tt.teardown(() => store.close());
  const acked = new Map<number, string>();
  let refused = 0;
  let killed: Promise<void> | undefined;
  let n = 0;
  // 20 appends in flight at a time, until Redis is gone; the kill comes once 300 were acked
  while (refused === 0) {
    const batch = Array.from({ length: 20 }, () => {
      const data = `m${n++}`;
      return store.append('ns', 'r', { event: 'e', data, ts: 1 }).then(
        (a) => void acked.set(a.offset, data),
        () => void refused++,
      );
    });
    if (!killed && acked.size >= 300) killed = redis.kill();
    await Promise.all(batch);
  }
  await killed;
  tt.ok(acked.size >= 300, `${acked.size} acked, ${refused} refused`);
  await redis.restart();
  await writableAgain(store);
  const back = new Map((await store.read('ns', 'r', 1, 100_000)).map((m) => [m.offset, m.data]));
  const lost = [...acked].filter(([o, d]) => back.get(o) !== d);
  tt.same(lost, [], 'no acked append lost or changed');
  tt.ok(back.size >= acked.size, `${back.size - acked.size} committed whose reply the kill took (reported refused, still stored)`);
});

t.test('issue 9 item 4: a Redis that keeps nothing on disk, restarted, gives every log a new epoch', async (tt) => {
  const redis = await startRedis(tt, { persistent: false });
  const store = await RedisStore.open({ ...options(new FakeClock()), url: redis.url });
  tt.teardown(() => store.close());
  tt.equal(store.durable, false, 'not durable by default');
  for (let i = 0; i < 3; i++) await store.append('ns', 'r', { event: 'e', data: i, ts: 1 });
  const before = await store.position('ns', 'r');
  await redis.kill();
  await redis.restart();
  await writableAgain(store);
  const after = await store.position('ns', 'r');
  tt.not(after.epoch, before.epoch, 'the epoch changed, so clients know their offsets are gone (R5.3)');
  tt.same([after.first, after.last], [1, 0], 'an empty log');
  const a = await store.append('ns', 'r', { event: 'e', data: 'first of the new life', ts: 1 });
  tt.same([a.offset, a.epoch], [1, after.epoch]);
});

t.test('R5.8.4 Redis unreachable: writes reject with StoreUnavailableError, health says why, the process lives, writes resume', async (tt) => {
  const redis = await startRedis(tt, { persistent: true });
  const store = await RedisStore.open({ ...options(new FakeClock()), url: redis.url });
  tt.teardown(() => store.close());
  await store.append('ns', 'r', { event: 'e', data: 1, ts: 1 });
  const closed = once(store.redis, 'close');
  await redis.kill();
  await closed;
  const err = await rejection(store.append('ns', 'r', { event: 'e', data: 2, ts: 1 }));
  tt.ok(err instanceof StoreUnavailableError, 'append: StoreUnavailableError');
  tt.equal((err as StoreUnavailableError).code, 'unavailable');
  tt.ok((await rejection(store.putConsumer('ns', 'r', 'client:a', { floor: 1, done: [], attempts: {} }))) instanceof StoreUnavailableError, 'putConsumer too');
  tt.ok((await rejection(store.read('ns', 'r', 1, 10))) instanceof StoreUnavailableError, 'a read rejects the same way');
  tt.ok((await rejection(store.position('ns', 'r'))) instanceof StoreUnavailableError, 'and position');
  const h = store.health();
  tt.equal(h.writable, false, 'not writable while Redis is away');
  tt.match(h.reason, /^redis: /, `the reason names Redis (${h.reason})`);
  await redis.restart();
  await writableAgain(store);
  tt.same(store.health(), { writable: true });
  const a = await store.append('ns', 'r', { event: 'e', data: 3, ts: 1 });
  tt.equal(a.offset, 2, 'the refused write took no offset');
  tt.same(
    (await store.read('ns', 'r', 1, 10)).map((m) => m.data),
    [1, 3],
  );
});

t.test('R5.8.4 a write Redis refuses (OOM) marks the store not writable until a write succeeds again', async (tt) => {
  const redis = await startRedis(tt, { persistent: false });
  const store = await RedisStore.open({ ...options(new FakeClock()), url: redis.url });
  tt.teardown(() => store.close());
  await store.append('ns', 'r', { event: 'e', data: 1, ts: 1 });
  await store.redis.call('CONFIG', 'SET', 'maxmemory', '1'); // our own server: every write is now out of memory
  const err = await rejection(store.append('ns', 'r', { event: 'e', data: 'x'.repeat(1000), ts: 1 }));
  tt.ok(err instanceof StoreUnavailableError, 'StoreUnavailableError');
  tt.match(store.health(), { writable: false, reason: /OOM/ }, `health says why (${store.health().reason})`);
  tt.same(
    (await store.read('ns', 'r', 1, 10)).map((m) => m.data),
    [1],
    'reads go on',
  );
  await store.redis.call('CONFIG', 'SET', 'maxmemory', '0');
  tt.equal((await store.append('ns', 'r', { event: 'e', data: 2, ts: 1 })).offset, 2, 'the refused write took no offset');
  tt.same(store.health(), { writable: true }, 'writable again after a write succeeded');
});

t.test('decision 3: the append script publishes each committed message on the room channel, in offset order, to every node', async (tt) => {
  const prefix = `wsq-test-${nanoid()}:`;
  const nodeA = await systemStore(tt, { maxMessages: 5, overflow: 'reject' }, prefix);
  const nodeB = await systemStore(tt, {}, prefix);
  const c = collector();
  let resets = 0;
  const w = nodeB.watch('ns', 'room', c.onMessage, () => resets++);
  await w.ready;
  const results = await Promise.all(Array.from({ length: 4 }, (_, i) => nodeA.append('ns', 'room', { event: 'ev', data: { i }, ts: 100 + i, from: 'sid', key: `k${i}` })));
  tt.equal((await nodeA.append('ns', 'room', { event: 'ev', data: 'dup', ts: 1, key: 'k0' })).duplicate, true);
  await nodeA.append('ns', 'room', { event: 'ev', data: { i: 4 }, ts: 104 });
  tt.ok((await rejection(nodeA.append('ns', 'room', { event: 'ev', data: 'full', ts: 1 }))) instanceof QueueFullError, 'a refused append');
  await nodeA.append('ns', 'other', { event: 'ev', data: 'elsewhere', ts: 1 });
  const got = await c.next(5);
  tt.same(
    got.map((m) => m.offset),
    [1, 2, 3, 4, 5],
    'offsets in order; the duplicate and the refused append are not announced',
  );
  tt.same(
    got[0],
    { event: 'ev', data: { i: 0 }, ts: 100, from: 'sid', key: 'k0', offset: 1, epoch: results[0]!.epoch, json: '{"i":0}' },
    'the stored message with its epoch and JSON text',
  );
  tt.same(got[4]!.data, { i: 4 });
  const other = await nodeB.read('ns', 'room', 1, 10);
  tt.same(
    other.map((m) => m.offset),
    [1, 2, 3, 4, 5],
    'node B reads what node A wrote',
  );
  w.stop();
  w.stop();
  tt.equal(resets, 0);
  tt.equal(decodeLive('not a payload'), undefined, 'decodeLive refuses other traffic');
});

t.test('issue 9 item 3: two nodes appending to one room at once share one sequence of offsets, each node in its call order', async (tt) => {
  const prefix = `wsq-test-${nanoid()}:`;
  const a = await systemStore(tt, {}, prefix);
  const b = await systemStore(tt, {}, prefix);
  const [ra, rb] = await Promise.all([
    Promise.all(Array.from({ length: 200 }, (_, i) => a.append('ns', 'r', { event: 'e', data: `a${i}`, ts: 1 }))),
    Promise.all(Array.from({ length: 200 }, (_, i) => b.append('ns', 'r', { event: 'e', data: `b${i}`, ts: 1 }))),
  ]);
  const all = [...ra, ...rb].map((r) => r.offset).sort((x, y) => x - y);
  tt.same(
    all,
    Array.from({ length: 400 }, (_, i) => i + 1),
    'offsets 1..400, none twice, no gap',
  );
  const increasing = (rs: { offset: number }[]) => rs.every((r, i) => i === 0 || r.offset > rs[i - 1]!.offset);
  tt.ok(increasing(ra) && increasing(rb), "each node's appends in its call order");
  tt.equal(new Set([...ra, ...rb].map((r) => r.epoch)).size, 1, 'one epoch');
  const back = await b.read('ns', 'r', 1, 1000);
  tt.same(
    back.map((m) => m.offset),
    all,
  );
  tt.ok(
    ra.every((r, i) => back[r.offset - 1]!.data === `a${i}`),
    'each offset holds what its append sent',
  );
});

t.test("decision 3: watch through lib/redis/bus.ts's shared subscriber (RedisBus.shardSubscriber)", async (tt) => {
  const prefix = `wsq-test-${nanoid()}:`;
  const bus = new RedisBus({ prefix });
  tt.teardown(() => bus.close());
  await bus.ready();
  const store = await RedisStore.open({ ...options(new FakeClock()), redis: bus.cmd, subscriber: bus.shardSubscriber(), prefix });
  tt.teardown(async () => {
    await store.close();
    await deleteKeysWithPrefix(SYSTEM, prefix);
  });
  const c = collector();
  const w = store.watch('ns', 'r', c.onMessage, () => {});
  await w.ready;
  tt.ok(bus.subscribed(redisKeys(prefix, 'ns', 'r').channel), 'the bus holds the room channel');
  for (let i = 1; i <= 3; i++) await store.append('ns', 'r', { event: 'e', data: i, ts: 1 });
  tt.same(
    (await c.next(3)).map((m) => m.data),
    [1, 2, 3],
  );
  w.stop();
  tt.notOk(bus.subscribed(redisKeys(prefix, 'ns', 'r').channel), 'released with the last watcher');
  await store.close();
  tt.equal(bus.cmd.status, 'ready', 'closing the store leaves the shared connection open');
});

t.test('decision 3: after Redis comes back the watcher is told (onReset) and the feed goes on', async (tt) => {
  const redis = await startRedis(tt, { persistent: true });
  const store = await RedisStore.open({ ...options(new FakeClock()), url: redis.url });
  tt.teardown(() => store.close());
  const c = collector();
  let reset!: () => void;
  const resetDone = new Promise<void>((r) => (reset = r));
  const w = store.watch('ns', 'r', c.onMessage, () => reset());
  tt.teardown(() => w.stop());
  await w.ready;
  await store.append('ns', 'r', { event: 'e', data: 'before', ts: 1 });
  await c.next(1);
  await redis.kill();
  await redis.restart();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([resetDone, new Promise((_, rej) => (timer = setTimeout(() => rej(new Error('no onReset within the bound')), WAIT_MS)))]);
  clearTimeout(timer);
  tt.pass('onReset after the subscription is back');
  await writableAgain(store);
  await store.append('ns', 'r', { event: 'e', data: 'after', ts: 1 });
  tt.same(
    (await c.next(2)).map((m) => [m.offset, m.data]),
    [
      [1, 'before'],
      [2, 'after'],
    ],
  );
});

const loneSurrogates = fc.constantFrom('\ud800', '\udfff', 'a\ud83d', '\ude00b', '\udc00\ud800');
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), loneSurrogates, fc.constantFrom('__proto__', 'constructor', '\u0000', ''));
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
    text,
    fc.array(tie('value'), { maxLength: 4 }),
    tie('object'),
  ),
  object: fc
    .array(fc.tuple(fc.oneof(text, fc.constant('__proto__')), tie('value')), { maxLength: 4 })
    .map((entries) => JSON.parse(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`) as unknown),
})).value;

t.test('R5.8.5 RedisStore: a replayed and a watched message are the same JSON as the live one (__proto__ keys, lone surrogates)', async (tt) => {
  const store = await systemStore(tt, { dedupWindowMs: 0 });
  const c = collector();
  const w = store.watch('ns', 'r', c.onMessage, () => {});
  tt.teardown(() => w.stop());
  await w.ready;
  const live: string[] = [];
  const events: string[] = [];
  await fc.assert(
    fc.asyncProperty(json, text, async (data, event) => {
      const j = JSON.stringify(data);
      const ev = event || 'e';
      live.push(j);
      events.push(ev);
      await store.append('ns', 'r', { event: ev, data, ts: 1, from: ev, key: ev }, j.length + ev.length, { json: j });
      const [m] = await store.read('ns', 'r', live.length, 1);
      return JSON.stringify(m!.data) === j && m!.event === ev && m!.from === ev && m!.key === ev;
    }),
    { numRuns: 120, seed: 9_009 },
  );
  const watched = await c.next(live.length);
  tt.same(
    watched.map((m) => JSON.stringify(m.data)),
    live,
    'the watched copies too',
  );
  tt.same(
    watched.map((m) => m.json),
    live,
    "each watched copy carries its data's JSON text as stored",
  );
  tt.same(
    watched.map((m) => m.event),
    events,
  );
  const data = JSON.parse('{"__proto__":{"x":"\\ud800"},"a":["\\udfff"]}');
  await store.append('ns', 'plain', { event: 'e', data, ts: 1 });
  const [m] = await store.read('ns', 'plain', 1, 1);
  tt.equal(JSON.stringify(m!.data), JSON.stringify(data), 'without the JSON text given');
  tt.ok(Object.hasOwn(m!.data as object, '__proto__'), '__proto__ is an own key, not the prototype');
});

t.test('issue 9 item 3: key names — one hash tag per room shared by its dead room, no collisions, no braces in a tag', async (tt) => {
  const a = redisKeys('wsq:', 'ns', 'jobs');
  const dead = redisKeys('wsq:', 'ns', '$dead:jobs');
  tt.equal(dead.tag, a.tag, 'the dead room hashes to the same slot, so one script may write both');
  tt.not(dead.base, a.base);
  tt.not(redisKeys('wsq:', 'a\u0000b', 'c').tag, redisKeys('wsq:', 'a', 'b\u0000c').tag);
  tt.not(redisKeys('wsq:', 'ns', '$dead:$dead:x').tag, redisKeys('wsq:', 'ns', '$dead:x').tag);
  const braces = redisKeys('wsq:', '}{', '{room}');
  tt.notMatch(braces.tag, /[{}]/, 'a tag never holds a brace');
  for (const k of [a.meta, a.stream, a.consumers, a.channel, a.dedup('}')])
    tt.equal(k.slice(k.indexOf('{') + 1, k.indexOf('}')), a.tag, `${k.slice(0, 40)}… hashes exactly the tag`);
  tt.throws(() => new RedisStore({ ...options(new FakeClock()), prefix: 'a{b}' }), /braces/, 'a prefix with braces is refused');
});

t.test('issue 9 item 3: listRooms of a namespace includes rooms whose names are too long to key plainly', async (tt) => {
  const store = await systemStore(tt);
  const long = 'r'.repeat(1100); // roomKey > 1,024 bytes: hashed
  await store.position('ns', long);
  await store.position('ns', 'short');
  await store.position('other', long);
  tt.same(
    (await store.listRooms('ns')).map((r) => r.room.length).sort((a, b) => a - b),
    [5, 1100],
  );
  tt.same(
    (await store.listRooms('other')).map((r) => r.ns),
    ['other'],
  );
  tt.equal((await store.listRooms()).length, 3);
});

t.test('issue 9 item 3: a dead letter with groupAck appends and XACKs in one step, or stores nothing when stale', async (tt) => {
  const store = await systemStore(tt);
  const k = redisKeys(store.prefix, 'ns', 'jobs');
  await store.append('ns', 'jobs', { event: 'e', data: 'job', ts: 1 });
  await store.redis.xgroup('CREATE', k.stream, 'group:w', '0-0');
  await store.redis.xreadgroup('GROUP', 'group:w', 'node1', 'COUNT', 1, 'STREAMS', k.stream, '>');
  const ack = { room: 'jobs', group: 'group:w', consumer: 'node1', offset: 1, attempt: 1 };
  const stale = await store.append('ns', '$dead:jobs', { event: 'e', data: 'job', ts: 1 }, undefined, { groupAck: { ...ack, consumer: 'node2' } });
  tt.same([stale.stale, stale.offset], [true, 0], 'held by another consumer: stale');
  tt.same(await store.read('ns', '$dead:jobs', 1, 10), [], 'nothing stored');
  const dead = await store.append('ns', '$dead:jobs', { event: 'e', data: 'job', ts: 1 }, undefined, { groupAck: ack });
  tt.same([dead.offset, dead.stale], [1, undefined]);
  tt.same((await store.redis.xpending(k.stream, 'group:w'))[0], 0, 'the entry is acked');
  const [[id, fields]] = (await store.redis.xrange(k.stream, '-', '+')) as [string, string[]][];
  tt.same(decodeStreamEntry(id!, fields!), { event: 'e', data: 'job', ts: 1, offset: 1 }, 'decodeStreamEntry reads a raw stream entry (role E)');
  tt.equal((await store.append('ns', '$dead:jobs', { event: 'e', data: 'job', ts: 1 }, undefined, { groupAck: ack })).stale, true, 'a second dead letter of it is stale');
  tt.same(
    (await store.read('ns', '$dead:jobs', 1, 10)).map((m) => m.data),
    ['job'],
    'one copy',
  );
});

t.test('R5.6.7 RedisStore: the idle sweep keeps a room whose stream has a Streams consumer group (role E)', async (tt) => {
  const clock = new FakeClock();
  const prefix = `wsq-test-${nanoid()}:`;
  const store = await RedisStore.open({ ...options(clock, {}, {}, { idleRoomTtlMs: 1000 }), url: SYSTEM, prefix });
  tt.teardown(async () => {
    await store.close();
    await deleteKeysWithPrefix(SYSTEM, prefix);
  });
  const grouped = await store.position('ns', 'grouped');
  await store.position('ns', 'plain');
  await store.redis.xgroup('CREATE', redisKeys(prefix, 'ns', 'grouped').stream, 'group:g', '0-0', 'MKSTREAM');
  const early = redisKeys(prefix, 'ns', 'group-first').stream;
  await store.redis.xgroup('CREATE', early, 'group:g', '0-0', 'MKSTREAM');
  await store.position('ns', 'group-first');
  tt.equal(((await store.redis.xinfo('GROUPS', early)) as unknown[]).length, 1, 'a group made before the log (MKSTREAM) survives its creation');
  clock.t += 2000;
  tt.equal(await store.sweepIdle(), 1, 'only the room without a group goes');
  tt.equal((await store.position('ns', 'grouped')).epoch, grouped.epoch, 'the grouped room keeps its log');
});
