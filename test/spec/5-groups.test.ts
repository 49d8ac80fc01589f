/**
 * PROTOCOL.md §5.5 Consumer groups and dead letters, over real sockets: each message to
 * exactly one member, attempts and redelivery (ack timeout, nack, nack with delay, a member
 * leaving or dropping), maxDeliver and `$dead:<room>`, and fan-out between groups.
 */
import t from 'tap';
import type { Frame, RawClient } from '../helpers/raw-client.js';
import { autoAck, barrier, closeAndWait, eventIn, offsets, openLmdb, publish, publishMany, range, tempDir, until, waitFrames } from '../helpers/logs.js';
import { rawClient, startServer } from '../helpers/server.js';

const group = (room: string, name: string, extra: Record<string, unknown> = {}) => ({ type: 'join', room, group: name, ...extra });
const sorted = (a: number[]): number[] => [...a].sort((x, y) => x - y);

/** The delivery of `room` on `c` with this offset and attempt (received already, or within `timeoutMs`). */
async function deliveryOf(c: RawClient, room: string, offset: number, attempt: number, timeoutMs = 3000): Promise<Frame> {
  const [f] = await waitFrames(c, (f) => eventIn(room)(f) && f.offset === offset && f.attempt === attempt, 1, timeoutMs);
  return f!;
}

t.test('5.5 with 3 members each message goes to exactly one member', async (t) => {
  const N = 60;
  const { url } = await startServer(t);
  const members = await Promise.all(range(1, 3).map(() => rawClient(t, url)));
  for (const m of members) {
    const joined = await m.request(group('jobs', 'workers'));
    t.equal(joined.group, 'workers', 'joined names the group');
  }
  const got = members.map((m) => autoAck(m, 'jobs'));
  const pub = await rawClient(t, url);
  await publishMany(pub, 'jobs', N);
  await until(members, () => got.reduce((n, g) => n + g.length, 0) >= N, 5000, `${N} deliveries`);
  for (const m of members) await barrier(m);
  const all = got.flatMap((g) => offsets(g));
  t.equal(all.length, N, 'no duplicates');
  t.same(sorted(all), range(1, N), 'the union is every message');
  t.ok(
    got.every((g) => g.length > 0),
    `every member got work (${got.map((g) => g.length).join('/')})`,
  );
  t.ok(
    got.flat().every((e) => e.id !== undefined && e.attempt === 1),
    'id and attempt 1 on each delivery',
  );
  t.ok(
    got.every((g) => offsets(g).every((o, i, a) => i === 0 || a[i - 1]! < o)),
    'each member sees its share in offset order',
  );
});

t.test('5.5 unacked deliveries are redelivered after ackTimeoutMs with attempt + 1', async (t) => {
  const { url } = await startServer(t, { ackTimeoutMs: 150 });
  const w = await rawClient(t, url);
  await w.request(group('jobs', 'workers'));
  const pub = await rawClient(t, url);
  await publish(pub, 'jobs', 'job', 'a');
  const d1 = await deliveryOf(w, 'jobs', 1, 1);
  const started = Date.now();
  const d2 = await deliveryOf(w, 'jobs', 1, 2);
  t.ok(Date.now() - started >= 100, 'not before the ack timeout');
  t.not(d2.id, d1.id, 'under a new id');
  w.send({ type: 'ack', id: d1.id });
  const stale = await w.next('error');
  t.equal(stale.code, 'unknown_id', 'the old id is gone');
  const d3 = await deliveryOf(w, 'jobs', 1, 3);
  w.send({ type: 'ack', id: d3.id });
  t.same(
    w.seen(eventIn('jobs')).map((e) => e.attempt),
    [1, 2, 3],
    'attempts 1, 2, 3 in arrival order',
  );
  await publish(pub, 'jobs', 'job', 'b');
  await deliveryOf(w, 'jobs', 2, 1);
  await barrier(w);
  t.same(offsets(w.seen(eventIn('jobs'))), [1, 1, 1, 2], 'once acked, offset 1 is done and the next message follows');
});

t.test('5.5 nack redelivers at once; nack with delayMs redelivers later', async (t) => {
  const { url } = await startServer(t);
  const w = await rawClient(t, url);
  await w.request(group('jobs', 'workers'));
  const pub = await rawClient(t, url);
  await publish(pub, 'jobs', 'job', 'a');
  const d1 = await deliveryOf(w, 'jobs', 1, 1);
  w.send({ type: 'nack', id: d1.id });
  const d2 = await deliveryOf(w, 'jobs', 1, 2);
  t.not(d2.id, d1.id, 'nack → redelivery as attempt 2, under a new id');

  const sent = Date.now();
  w.send({ type: 'nack', id: d2.id, delayMs: 300 });
  await barrier(w);
  t.equal(w.seen(eventIn('jobs')).length, 2, 'nothing yet right after the delayed nack');
  const d3 = await deliveryOf(w, 'jobs', 1, 3);
  t.ok(Date.now() - sent >= 280, `redelivered after the delay (${Date.now() - sent} ms)`);
  w.send({ type: 'ack', id: d3.id });
  await barrier(w);
  t.same(
    w.seen((f) => f.type === 'error'),
    [],
  );
});

t.test('5.5 nack with requeue false dead-letters at once to $dead:<room>', async (t) => {
  const { url } = await startServer(t);
  const w = await rawClient(t, url);
  await w.request(group('jobs', 'workers'));
  const watcher = await rawClient(t, url);
  await watcher.request({ type: 'join', room: '$dead:jobs' });
  const pub = await rawClient(t, url);
  await publish(pub, 'jobs', 'job', { n: 1 });
  await publish(pub, 'jobs', 'job', { n: 2 });
  const d1 = await deliveryOf(w, 'jobs', 1, 1);
  w.send({ type: 'nack', id: d1.id, requeue: false });
  const dead = await watcher.next(eventIn('$dead:jobs'));
  t.equal(dead.event, 'job', 'same event');
  t.same(dead.data, { n: 1 }, 'same data');
  t.equal(dead.from, pub.welcome.sid, 'same sender');
  t.equal(dead.offset, 1, 'stored in the dead-letter log');
  const d2 = await deliveryOf(w, 'jobs', 2, 1);
  w.send({ type: 'ack', id: d2.id });
  await barrier(w);
  t.same(offsets(w.seen(eventIn('jobs'))), [1, 2], 'the dead-lettered message is not redelivered');
});

t.test('R5.5.4 the original publisher, a live member of $dead:<room>, gets the dead letter live too', async (t) => {
  const { url } = await startServer(t);
  const w = await rawClient(t, url);
  await w.request(group('jobs', 'workers'));
  const pub = await rawClient(t, url);
  await pub.request({ type: 'join', room: '$dead:jobs' });
  await publish(pub, 'jobs', 'job', { n: 1 });
  const d1 = await deliveryOf(w, 'jobs', 1, 1);
  w.send({ type: 'nack', id: d1.id, requeue: false });
  const dead = await pub.next(eventIn('$dead:jobs'));
  t.equal(dead.from, pub.welcome.sid, 'from still names the original publisher');
  t.notOk(dead.replay, 'delivered live, not only by replay');
});

t.test('5.5 a member leaving or dropping hands its unacked deliveries to another member', async (t) => {
  const { server, url } = await startServer(t);
  const pub = await rawClient(t, url);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  const c = await rawClient(t, url);
  for (const m of [a, b, c]) await m.request(group('jobs', 'workers', { prefetch: 1 }));
  await publishMany(pub, 'jobs', 3);
  await until([a, b, c], () => [a, b, c].every((m) => m.seen(eventIn('jobs')).length === 1), 3000, 'one delivery each');
  const holder = (m: RawClient): number => m.seen(eventIn('jobs'))[0]!.offset;

  // a leaves without acking: its message goes to a member with a free slot
  const aOffset = holder(a);
  const bFirst = b.seen(eventIn('jobs'))[0]!;
  t.equal((await a.request({ type: 'leave', room: 'jobs' })).type, 'left');
  b.send({ type: 'ack', id: bFirst.id }); // frees b's only slot
  const moved = await deliveryOf(b, 'jobs', aOffset, 2);
  t.ok(moved, "the left member's message is redelivered to b as attempt 2");

  // c drops (closes the connection) without acking
  const cOffset = holder(c);
  await closeAndWait(server, c);
  b.send({ type: 'ack', id: moved.id });
  const fromC = await deliveryOf(b, 'jobs', cOffset, 2);
  t.ok(fromC, "the dropped member's message is redelivered to b too");
  b.send({ type: 'ack', id: fromC.id });
  await barrier(b);
  t.same(sorted(offsets(b.seen(eventIn('jobs')))), [1, 2, 3], 'b ended up with all three');
  await barrier(a);
  t.equal(a.seen(eventIn('jobs')).length, 1, 'nothing more goes to the member that left');
});

t.test('5.5 after maxDeliver attempts a message moves to $dead:<room>, readable with since 0', async (t) => {
  const { url } = await startServer(t, { ackTimeoutMs: 100, maxDeliver: 3 });
  const w = await rawClient(t, url);
  await w.request(group('jobs', 'workers'));
  const watcher = await rawClient(t, url);
  await watcher.request({ type: 'join', room: '$dead:jobs' });
  const pub = await rawClient(t, url);
  await publish(pub, 'jobs', 'resize', { img: 7 });
  await publish(pub, 'jobs', 'resize', { img: 8 });

  // offset 1: never acked, times out 3 times; offset 2: nacked 3 times
  for (let i = 1; i <= 3; i++) {
    const d = await deliveryOf(w, 'jobs', 2, i, 2000);
    w.send({ type: 'nack', id: d.id });
    await deliveryOf(w, 'jobs', 1, i, 2000);
  }
  await waitFrames(watcher, eventIn('$dead:jobs'), 2); // both ran out of attempts
  await barrier(w);
  const attempts = (o: number): number[] => w.seen((f) => eventIn('jobs')(f) && f.offset === o).map((e) => e.attempt);
  t.same(attempts(1), [1, 2, 3], 'offset 1: attempts 1..3 on ack timeouts, then no more');
  t.same(attempts(2), [1, 2, 3], 'offset 2: attempts 1..3 on nacks, then no more');
  const reader = await rawClient(t, url);
  const joined = await reader.request({ type: 'join', room: '$dead:jobs', since: 0 });
  t.same(joined.replay, { from: 1, to: 2, count: 2 }, 'the dead-letter room is a log like any other');
  const dead = await waitFrames(reader, eventIn('$dead:jobs'), 2);
  t.ok(dead.every((e) => e.replay === true));
  t.same(sorted(dead.map((e) => e.data.img)), [7, 8], 'both messages are in the dead-letter room');
  t.same(offsets(dead), [1, 2], 'with offsets of their own');
  t.ok(
    dead.every((e) => e.event === 'resize' && e.from === pub.welcome.sid),
    'same event and sender',
  );

  await barrier(w);
  const count = w.seen(eventIn('jobs')).length;
  await publish(pub, 'jobs', 'resize', { img: 9 });
  const d3 = await w.next((f) => eventIn('jobs')(f) && f.offset === 3);
  t.equal(d3.attempt, 1, 'the group moves on');
  t.equal(w.seen(eventIn('jobs')).length, count + 1, 'no more attempts of the dead messages');
  w.send({ type: 'ack', id: d3.id });
});

t.test('5.5 two groups on one room each get every message', async (t) => {
  const N = 20;
  const { url } = await startServer(t);
  const a1 = await rawClient(t, url);
  const a2 = await rawClient(t, url);
  const b1 = await rawClient(t, url);
  await a1.request(group('orders', 'billing'));
  await a2.request(group('orders', 'billing'));
  await b1.request(group('orders', 'shipping'));
  const live = await rawClient(t, url);
  await live.request({ type: 'join', room: 'orders' });
  const billing = [autoAck(a1, 'orders'), autoAck(a2, 'orders')];
  const shipping = autoAck(b1, 'orders');
  const pub = await rawClient(t, url);
  await publishMany(pub, 'orders', N);
  await until([a1, a2, b1], () => billing[0]!.length + billing[1]!.length >= N && shipping.length >= N, 5000, 'both groups done');
  for (const c of [a1, a2, b1]) await barrier(c);
  t.same(sorted(offsets(billing.flat())), range(1, N), 'billing got each message once');
  t.same(offsets(shipping), range(1, N), 'shipping got each message once, in order');
  const plain = await waitFrames(live, eventIn('orders'), N);
  t.same(offsets(plain), range(1, N), 'a plain member still gets the live fan-out');
  t.ok(
    plain.every((e) => e.id === undefined),
    'without ids',
  );
});

t.test('5.5 group members do not get live fan-out or volatile emits', async (t) => {
  const { url } = await startServer(t);
  const w = await rawClient(t, url);
  await w.request(group('jobs', 'workers'));
  const pub = await rawClient(t, url);
  await publish(pub, 'jobs', 'tick', 'v', { volatile: true });
  await publish(pub, 'jobs', 'job', 's');
  const d = await deliveryOf(w, 'jobs', 1, 1);
  w.send({ type: 'ack', id: d.id });
  await barrier(w);
  t.same(
    w.seen(eventIn('jobs')).map((e) => e.data),
    ['s'],
    'one delivery, of the stored message only',
  );
});

t.test('5.5 a group keeps its progress when every member is gone', async (t) => {
  const { server, url } = await startServer(t);
  const pub = await rawClient(t, url);
  const w = await rawClient(t, url);
  await w.request(group('jobs', 'workers'));
  await publishMany(pub, 'jobs', 3);
  const evs = await waitFrames(w, eventIn('jobs'), 3);
  w.send({ type: 'ack', id: evs[0]!.id });
  await barrier(w);
  await closeAndWait(server, w);
  await publishMany(pub, 'jobs', 1);
  const w2 = await rawClient(t, url);
  await w2.request(group('jobs', 'workers'));
  await waitFrames(w2, eventIn('jobs'), 3);
  await barrier(w2);
  t.same(offsets(w2.seen(eventIn('jobs'))), [2, 3, 4], 'a new member takes over the unacked and the new');
});

t.test('5.5 with the disk store a group resumes after a server restart: acked done, unacked redelivered', async (t) => {
  const dir = await tempDir(t, 'wsq-spec-group-');
  const first = await startServer(t, { store: await openLmdb(t, dir) });
  const pub = await rawClient(t, first.url);
  const a = await rawClient(t, first.url);
  const b = await rawClient(t, first.url);
  for (const m of [a, b]) await m.request(group('jobs', 'workers'));
  await publishMany(pub, 'jobs', 6);
  await until([a, b], () => a.seen(eventIn('jobs')).length + b.seen(eventIn('jobs')).length >= 6, 3000, '6 deliveries');
  const acked: number[] = [];
  for (const m of [a, b]) {
    const first = m.seen(eventIn('jobs'))[0]!; // each member acks its first delivery only
    m.send({ type: 'ack', id: first.id });
    acked.push(first.offset);
    await barrier(m);
  }
  await first.server.close(); // members are still connected and hold unacked deliveries

  const second = await startServer(t, { store: await openLmdb(t, dir) });
  const w = await rawClient(t, second.url);
  await w.request(group('jobs', 'workers'));
  const rest = range(1, 6).filter((o) => !acked.includes(o));
  const evs = await waitFrames(w, eventIn('jobs'), 4);
  await barrier(w);
  t.same(offsets(w.seen(eventIn('jobs'))), rest, 'exactly the unacked ones, in order');
  t.ok(
    evs.every((e) => e.attempt === 2),
    'as second attempts',
  );
});

t.test('R5.4.5 prefetch counts per subscription, not per connection', async (t) => {
  const { url } = await startServer(t);
  const pub = await rawClient(t, url);
  const w = await rawClient(t, `${url}?client=w`);
  await w.request({ type: 'join', room: 'a', group: 'g', prefetch: 1 });
  await w.request({ type: 'join', room: 'b', group: 'g', prefetch: 1 });
  await w.request({ type: 'join', room: 'c', durable: true, prefetch: 2 });
  for (const room of ['a', 'b', 'c']) await publishMany(pub, room, 3);
  const [a] = await waitFrames(w, eventIn('a'), 1);
  await waitFrames(w, eventIn('b'), 1);
  await waitFrames(w, eventIn('c'), 2);
  await barrier(w);
  t.same(
    ['a', 'b', 'c'].map((r) => w.seen(eventIn(r)).length),
    [1, 1, 2],
    'each subscription has its own prefetch in flight at once',
  );
  w.send({ type: 'ack', id: a!.id });
  t.match(await w.next((f) => f.room === 'a' && f.offset === 2), { attempt: 1 }, 'an ack frees room in that subscription only');
  await barrier(w);
  t.same(
    ['a', 'b', 'c'].map((r) => w.seen(eventIn(r)).length),
    [2, 1, 2],
  );
});
