/**
 * Consumer groups on the Redis store (issue 9 items 3 and 5, decision 5; PROTOCOL.md §5.5):
 * two WsqServer instances in one process, each with its own Redis connections, on the system
 * Redis under a unique key prefix, members on both. Each message is acked exactly once across
 * the members; ack-timeout redelivery with attempt counts (XAUTOCLAIM); `maxDeliver` → `$dead:<room>`
 * with nothing duplicated; nack; a server closed mid-stream → the other gets its pending after
 * the ack timeout. Every wait is bounded.
 */
import { nanoid } from 'nanoid';
import t from 'tap';
import type { WsqServer, WsqServerOptions } from '../../lib/index.js';
import { retentionResolver } from '../../lib/retention.js';
import { deleteKeysWithPrefix, RedisStore, redisKeys } from '../../lib/store/redis.js';
import type { StoredMessage } from '../../lib/store/types.js';
import { barrier, eventIn, offsets, publish, publishMany, range, until, waitFrames } from '../helpers/logs.js';
import type { Frame, RawClient } from '../helpers/raw-client.js';
import { rawClient, startServer, type Tap } from '../helpers/server.js';

const REDIS = 'redis://127.0.0.1:6379';
const group = (room: string, name: string, extra: Record<string, unknown> = {}) => ({ type: 'join', room, group: name, ...extra });
const sorted = (a: number[]): number[] => [...a].sort((x, y) => x - y);

/** One node: a server on its own RedisStore (own connections) under `prefix`. */
async function node(t: Tap, prefix: string, opts: WsqServerOptions = {}): Promise<{ server: WsqServer; url: string; store: RedisStore }> {
  const store = await RedisStore.open({ url: REDIS, prefix, retention: retentionResolver() });
  const { server, url } = await startServer(t, { ...opts, store });
  return { server, url, store };
}

/** Two nodes on one Redis prefix; the prefix's keys are deleted at the end (after both servers closed). */
async function twoNodes(t: Tap, opts: WsqServerOptions = {}) {
  const prefix = `wsq-test-${nanoid()}:`;
  const a = await node(t, prefix, opts);
  const b = await node(t, prefix, opts);
  // The servers close first (so nothing writes again), then this test's keys go.
  t.teardown(async () => {
    await Promise.all([a.server.close(), b.server.close()]);
    await deleteKeysWithPrefix(REDIS, prefix);
  });
  return { prefix, a, b };
}

/** Ack every delivery of `room` on `c` (after `hold` returns false for it); returns what arrived. */
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

t.test('issue 9 item 5 / R5.5.2: a group with members on two nodes gets each message once, acked once', async (t) => {
  const { a, b } = await twoNodes(t);
  const N = 80;
  const members = [await rawClient(t, a.url), await rawClient(t, a.url), await rawClient(t, b.url), await rawClient(t, b.url)];
  const got = members.map((m) => acker(m, 'jobs'));
  for (const m of members) t.equal((await m.request(group('jobs', 'workers', { prefetch: 3 }))).group, 'workers');
  // Publishers on both nodes (a node is woken by its own commits at once, by the others' within its sweep).
  const pubs = [await rawClient(t, a.url), await rawClient(t, b.url)];
  await Promise.all(pubs.map((p) => publishMany(p, 'jobs', N / 2)));
  await until(members, () => got.reduce((n, g) => n + g.length, 0) >= N, 10_000, `${N} deliveries`);
  for (const m of members) await barrier(m);
  const all = got.flatMap((g) => offsets(g));
  t.equal(all.length, N, 'no message delivered twice');
  t.same(sorted(all), range(1, N), 'every message delivered');
  t.ok(
    got.flat().every((f) => f.attempt === 1),
    'all first attempts',
  );
  t.ok(got.slice(0, 2).some((g) => g.length > 0) && got.slice(2).some((g) => g.length > 0), `both nodes' members got work (${got.map((g) => g.length).join('/')})`);
  await waitPending(a.store, 'jobs', 'group:workers', 0);
  t.pass('every ack reached Redis: nothing pending in the group');
});

/** The room's stream key (the store's key function). */
function streamKeyOf(store: RedisStore, room: string, ns = '/'): string {
  return redisKeys(store.prefix, ns, room).stream;
}

/**
 * The dead letters of room `jobs` once there are at least `n` (bounded wait), read from the log: live
 * delivery to the dead room's members is the RoomLog's (decision 3), not the group's.
 */
async function deadLetters(store: RedisStore, n: number, timeoutMs = 5000): Promise<StoredMessage[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await store.read('/', '$dead:jobs', 1, 100);
    if (got.length >= n) return got;
    if (Date.now() > deadline) throw new Error(`${got.length} dead letters, not ${n}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Wait (bounded) until the group's pending count in Redis is `n`. */
async function waitPending(store: RedisStore, room: string, g: string, n: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = (await store.redis.xpending(streamKeyOf(store, room), g)) as [number];
    if (Number(p[0]) === n) return;
    if (Date.now() > deadline) throw new Error(`group ${g} has ${p[0]} pending, not ${n}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('R5.5.3: an unacked delivery is redelivered after ackTimeoutMs with attempt + 1, possibly on the other node', async (t) => {
  const { a, b } = await twoNodes(t, { ackTimeoutMs: 300 });
  const wa = await rawClient(t, a.url);
  const wb = await rawClient(t, b.url);
  // Nobody acks attempt 1 and 2; attempt 3 is acked.
  const ga = acker(wa, 'jobs', (f) => f.attempt < 3);
  const gb = acker(wb, 'jobs', (f) => f.attempt < 3);
  await wa.request(group('jobs', 'w', { prefetch: 1 }));
  await wb.request(group('jobs', 'w', { prefetch: 1 }));
  const pub = await rawClient(t, a.url);
  await publish(pub, 'jobs', 'job', 'x');
  const started = Date.now();
  await until([wa, wb], () => [...ga, ...gb].some((f) => f.attempt === 3), 8000, 'attempt 3');
  t.ok(Date.now() - started >= 500, 'two ack timeouts passed before attempt 3');
  await barrier(wa);
  await barrier(wb);
  const deliveries = [...ga, ...gb].sort((x, y) => x.attempt - y.attempt);
  t.same(
    deliveries.map((f) => [f.offset, f.attempt]),
    [
      [1, 1],
      [1, 2],
      [1, 3],
    ],
    'offset 1 delivered with attempts 1, 2, 3 across the two nodes',
  );
  await waitPending(a.store, 'jobs', 'group:w', 0);
  t.pass('acked: nothing pending');
});

t.test('R5.5.4 / R5.5.9: after maxDeliver attempts the message goes to $dead:<room> once, and counts as done', async (t) => {
  const { a, b } = await twoNodes(t, { ackTimeoutMs: 200, maxDeliver: 2 });
  // A live member of the dead room on the other node (decision 3: it gets what the append published).
  const watcher = await rawClient(t, b.url);
  await watcher.request({ type: 'join', room: '$dead:jobs' });
  const wa = await rawClient(t, a.url);
  const wb = await rawClient(t, b.url);
  const ga = acker(wa, 'jobs', (f) => f.offset === 1); // offset 1 is never acked
  const gb = acker(wb, 'jobs', (f) => f.offset === 1);
  await wa.request(group('jobs', 'w'));
  await wb.request(group('jobs', 'w'));
  const pub = await rawClient(t, a.url);
  await publish(pub, 'jobs', 'job', 'poison');
  await publish(pub, 'jobs', 'job', 'fine');
  const [d] = await deadLetters(b.store, 1, 8000);
  t.equal(d!.event, 'job');
  t.equal(d!.data, 'poison', 'the dead letter carries the data');
  t.equal(d!.offset, 1, 'first offset of the dead room');
  t.equal(d!.from, pub.welcome.sid, 'from names the original publisher');
  await waitPending(a.store, 'jobs', 'group:w', 0);
  // Longer than another two ack timeouts: no further delivery, no second dead letter.
  await new Promise((r) => setTimeout(r, 600)); // bounded observation window for "nothing more happens"
  for (const c of [wa, wb]) await barrier(c);
  t.equal((await deadLetters(a.store, 1)).length, 1, 'dead-lettered once');
  const live = await waitFrames(watcher, eventIn('$dead:jobs'), 1, 5000);
  await barrier(watcher);
  t.same(
    watcher.seen(eventIn('$dead:jobs')).map((f) => [f.offset, f.data]),
    [[1, 'poison']],
    "the dead room's live member on the other node got it once",
  );
  t.equal(live[0]!.from, pub.welcome.sid, 'with the original publisher as from');
  const ones = [...ga, ...gb].filter((f) => f.offset === 1);
  t.same(ones.map((f) => f.attempt).sort(), [1, 2], 'offset 1 delivered maxDeliver (2) times, then not again');
  t.same(
    [...ga, ...gb].filter((f) => f.offset === 2).map((f) => f.attempt),
    [1],
    'offset 2 delivered once',
  );
  const len = await a.store.redis.xlen(redisKeys(a.store.prefix, '/', '$dead:jobs').stream);
  t.equal(len, 1, 'one entry in the dead room log');
});

t.test('R4.7 / R5.5.3: nack redelivers at once with attempt + 1; nack requeue:false dead-letters at once', async (t) => {
  const { a, b } = await twoNodes(t, { ackTimeoutMs: 30_000 });
  const wa = await rawClient(t, a.url);
  await wa.request(group('jobs', 'w', { prefetch: 1 }));
  const pub = await rawClient(t, b.url);
  await publish(pub, 'jobs', 'job', 1);
  const [d1] = await waitFrames(wa, (f) => eventIn('jobs')(f) && f.attempt === 1, 1, 5000);
  const t0 = Date.now();
  wa.send({ type: 'nack', id: d1!.id });
  const [d2] = await waitFrames(wa, (f) => eventIn('jobs')(f) && f.attempt === 2, 1, 5000);
  t.ok(Date.now() - t0 < 5000, 'redelivered well before the ack timeout');
  t.equal(d2!.offset, 1);
  wa.send({ type: 'nack', id: d2!.id, delayMs: 300 });
  const t1 = Date.now();
  const [d3] = await waitFrames(wa, (f) => eventIn('jobs')(f) && f.attempt === 3, 1, 5000);
  t.ok(Date.now() - t1 >= 250, `nack delayMs 300 waited (${Date.now() - t1} ms)`);
  wa.send({ type: 'nack', id: d3!.id, requeue: false });
  const [dl] = await deadLetters(a.store, 1);
  t.equal(dl!.data, 1, 'requeue:false dead-letters it');
  await waitPending(a.store, 'jobs', 'group:w', 0);
  await publish(pub, 'jobs', 'job', 2);
  const [n2] = await waitFrames(wa, (f) => eventIn('jobs')(f) && f.offset === 2, 1, 5000);
  t.equal(n2!.attempt, 1, 'the next message follows');
});

t.test('issue 9 item 5 / R5.5.3: a node closed mid-stream: the other node gets its pending entries after the ack timeout', async (t) => {
  const ackTimeoutMs = 400;
  const { a, b } = await twoNodes(t, { ackTimeoutMs });
  const wa = await rawClient(t, a.url);
  const ga = acker(wa, 'jobs', () => true); // node A's member never acks
  await wa.request(group('jobs', 'w', { prefetch: 5 }));
  const pub = await rawClient(t, b.url);
  await publishMany(pub, 'jobs', 5);
  await until([wa], () => ga.length >= 5, 5000, 'node A holds 5');
  // Node A dies without releasing anything: its Redis connection goes, as in a crash (no graceful close).
  a.store.redis.disconnect();
  const wb = await rawClient(t, b.url);
  const closedAt = Date.now();
  const gb = acker(wb, 'jobs');
  await wb.request(group('jobs', 'w', { prefetch: 10 }));
  await until([wb], () => gb.length >= 5, 8000, 'node B got the 5');
  t.ok(Date.now() - closedAt >= ackTimeoutMs - 50, 'not before the ack timeout');
  t.same(sorted(offsets(gb)), range(1, 5), 'all five');
  t.ok(
    gb.every((f) => f.attempt === 2),
    'as second attempts',
  );
  await waitPending(b.store, 'jobs', 'group:w', 0);
});

t.test('R5.5.7 / R5.5.1: the group keeps its position in Redis across a server restart; a new group starts after since', async (t) => {
  const prefix = `wsq-test-${nanoid()}:`;
  const first = await node(t, prefix);
  const w = await rawClient(t, first.url);
  const got = acker(w, 'jobs');
  await w.request(group('jobs', 'w'));
  await publishMany(w, 'jobs', 3);
  await until([w], () => got.length >= 3, 5000, '3 deliveries');
  await barrier(w);
  await waitPending(first.store, 'jobs', 'group:w', 0);
  await first.server.close();
  const second = await node(t, prefix);
  t.teardown(async () => {
    await second.server.close();
    await deleteKeysWithPrefix(REDIS, prefix);
  });
  const pub = await rawClient(t, second.url);
  await publishMany(pub, 'jobs', 2);
  const w2 = await rawClient(t, second.url);
  const got2 = acker(w2, 'jobs');
  const j = await w2.request(group('jobs', 'w'));
  t.equal(j.recovered, true, 'an existing group: recovered');
  await until([w2], () => got2.length >= 2, 5000, '2 deliveries');
  await barrier(w2);
  t.same(offsets(got2), [4, 5], 'continues after what was acked');
  const late = await rawClient(t, second.url);
  const got3 = acker(late, 'jobs');
  await late.request(group('jobs', 'late', { since: 4 }));
  await until([late], () => got3.length >= 1, 5000, '1 delivery');
  await barrier(late);
  t.same(offsets(got3), [5], 'a new group starts after since');
});

t.test('R5.5.3 / R5.4.5: a member that leaves hands its deliveries to a member on the other node long before the ack timeout; prefetch holds', async (t) => {
  const { a, b } = await twoNodes(t, { ackTimeoutMs: 30_000 });
  const wa = await rawClient(t, a.url);
  const ga = acker(wa, 'jobs', () => true); // holds everything
  await wa.request(group('jobs', 'w', { prefetch: 4 }));
  const pub = await rawClient(t, a.url);
  await publishMany(pub, 'jobs', 6);
  await until([wa], () => ga.length >= 4, 5000, 'member A holds its prefetch');
  await barrier(wa);
  t.equal(ga.length, 4, 'no more than prefetch (4) unacked at once');
  const wb = await rawClient(t, b.url);
  const gb = acker(wb, 'jobs');
  await wb.request(group('jobs', 'w', { prefetch: 10 }));
  await until([wb], () => gb.length >= 2, 5000, 'member B gets the two A could not take');
  const left = Date.now();
  await wa.close(); // leaves: its four go back at once
  await until([wb], () => gb.length >= 6, 5000, 'member B gets the four A held');
  t.ok(Date.now() - left < 5000, `well before the 30 s ack timeout (${Date.now() - left} ms)`);
  t.same(sorted(offsets(gb)), range(1, 6), 'every message, once on B');
  t.same(
    gb
      .filter((f) => f.attempt === 2)
      .map((f) => f.offset)
      .sort(),
    sorted(offsets(ga)),
    "A's four come again with attempt 2",
  );
  await waitPending(b.store, 'jobs', 'group:w', 0);
});

t.test("issue 9 item 5 / R5.5.3: a node shut down gracefully hands its members' unacked deliveries to the other node at once", async (t) => {
  const { a, b } = await twoNodes(t, { ackTimeoutMs: 30_000 });
  const wa = await rawClient(t, a.url);
  const ga = acker(wa, 'jobs', () => true); // never acks
  await wa.request(group('jobs', 'w', { prefetch: 3 }));
  const pub = await rawClient(t, b.url);
  await publishMany(pub, 'jobs', 3);
  await until([wa], () => ga.length >= 3, 5000, 'node A holds three');
  const wb = await rawClient(t, b.url);
  const gb = acker(wb, 'jobs');
  await wb.request(group('jobs', 'w', { prefetch: 10 }));
  const closing = Date.now();
  await a.server.close();
  await until([wb], () => gb.length >= 3, 5000, "A's deliveries on B");
  t.ok(Date.now() - closing < 5000, `long before the 30 s ack timeout (${Date.now() - closing} ms)`);
  t.same(sorted(offsets(gb)), [1, 2, 3], "exactly A's");
  t.ok(
    gb.every((f) => f.attempt === 2),
    'as second attempts',
  );
  await waitPending(b.store, 'jobs', 'group:w', 0);
});

t.test('decision 1 / issue 9 item 1: servers started with the `redis` option share their groups (RedisBus + RedisStore + RedisAdapter)', async (t) => {
  const prefix = `wsq-test-${nanoid()}:`;
  const a = await startServer(t, { redis: { url: REDIS, prefix } });
  const b = await startServer(t, { redis: { url: REDIS, prefix } });
  t.teardown(async () => {
    await Promise.all([a.server.close(), b.server.close()]);
    await deleteKeysWithPrefix(REDIS, prefix);
  });
  const members = [await rawClient(t, a.url), await rawClient(t, b.url)];
  const got = members.map((m) => acker(m, 'jobs'));
  for (const m of members) await m.request(group('jobs', 'w', { prefetch: 2 }));
  await Promise.all([publishMany(await rawClient(t, a.url), 'jobs', 10), publishMany(await rawClient(t, b.url), 'jobs', 10)]);
  await until(members, () => got[0]!.length + got[1]!.length >= 20, 10_000, '20 deliveries');
  for (const m of members) await barrier(m);
  t.same(sorted(got.flatMap((g) => offsets(g))), range(1, 20), `each message once across the two nodes (${got.map((g) => g.length).join('/')})`);
});
