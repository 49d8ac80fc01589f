/**
 * PROTOCOL.md §5.4 Durable subscriptions, over real sockets: identity, deliveries with id
 * and attempt, acks, the server-kept cursor across reconnects, and prefetch.
 */
import t from 'tap';
import { autoAck, barrier, closeAndWait, eventIn, offsets, openLmdb, publish, publishMany, range, tempDir, until, waitFrames } from '../helpers/logs.js';
import { rawClient, startServer } from '../helpers/server.js';

const durable = (room: string, extra: Record<string, unknown> = {}) => ({ type: 'join', room, durable: true, ...extra });

t.test('5.4 a durable subscription needs a client identity', async (t) => {
  const { url } = await startServer(t);
  const anon = await rawClient(t, url);
  const err = await anon.request(durable('orders'));
  t.equal(err.type, 'error');
  t.equal(err.code, 'unauthorized');
  t.match(err.message, /client=/, 'the message says how to get an identity');
  const named = await rawClient(t, `${url}?client=bob`);
  const ok = await named.request(durable('orders'));
  t.equal(ok.type, 'joined');
  t.equal(ok.durable, true);
});

t.test('5.4 deliveries carry id and attempt; acked ones are done', async (t) => {
  const { url } = await startServer(t);
  const pub = await rawClient(t, url);
  await publishMany(pub, 'orders', 3);
  const bob = await rawClient(t, `${url}?client=bob`);
  const joined = await bob.request(durable('orders'));
  t.equal(joined.recovered, true);
  t.equal(joined.offset, 3);
  const evs = await waitFrames(bob, eventIn('orders'), 3);
  t.same(offsets(evs), [1, 2, 3], 'a new durable subscription starts at the earliest held message, in order');
  t.ok(
    evs.every((e) => e.id !== undefined && e.attempt === 1),
    'each delivery has an id and attempt 1',
  );
  t.equal(new Set(evs.map((e) => e.id)).size, 3, 'ids are distinct');
  t.ok(
    evs.every((e) => e.replay === undefined),
    'deliveries are not replay frames',
  );

  await publish(pub, 'orders', 'e', { i: 4 });
  const [, , , live] = await waitFrames(bob, eventIn('orders'), 4);
  t.equal(live!.offset, 4, 'new messages follow');
  t.ok(live!.id !== undefined);
  for (const e of [...evs, live!]) bob.send({ type: 'ack', id: e.id });
  await barrier(bob);
  t.same(
    bob.seen((f) => f.type === 'error'),
    [],
    'every ack was accepted',
  );
  bob.send({ type: 'ack', id: evs[0]!.id });
  const twice = await bob.next('error');
  t.equal(twice.code, 'unknown_id', 'an id is acked once');
});

t.test('5.4 on return the client gets everything unacked, in order, with no state of its own', async (t) => {
  const { server, url } = await startServer(t);
  const pub = await rawClient(t, url);
  await publishMany(pub, 'orders', 5);
  const bob = await rawClient(t, `${url}?client=bob`);
  await bob.request(durable('orders'));
  const evs = await waitFrames(bob, eventIn('orders'), 5);
  bob.send({ type: 'ack', id: evs[0]!.id });
  bob.send({ type: 'ack', id: evs[1]!.id });
  bob.send({ type: 'ack', id: evs[3]!.id }); // 4 is done, 3 and 5 are not
  await barrier(bob);
  await closeAndWait(server, bob);

  await publishMany(pub, 'orders', 2); // 6, 7 while bob is away
  const back = await rawClient(t, `${url}?client=bob`);
  const joined = await back.request(durable('orders'));
  t.equal(joined.type, 'joined');
  const again = await waitFrames(back, eventIn('orders'), 4);
  await barrier(back);
  t.same(offsets(back.seen(eventIn('orders'))), [3, 5, 6, 7], 'unacked 3 and 5, then 6 and 7; acked 1, 2, 4 are not redelivered');
  t.same(
    again.map((e) => e.attempt),
    [2, 2, 1, 1],
    'redeliveries count attempts',
  );
  for (const e of again) back.send({ type: 'ack', id: e.id });
  await barrier(back);
  await closeAndWait(server, back);

  const third = await rawClient(t, `${url}?client=bob`);
  await third.request(durable('orders'));
  await publish(pub, 'orders', 'e', { i: 8 });
  await waitFrames(third, eventIn('orders'), 1);
  await barrier(third);
  t.same(offsets(third.seen(eventIn('orders'))), [8], 'after acking everything only new messages come');
});

t.test('5.4 the cursor is per client and per room', async (t) => {
  const { server, url } = await startServer(t);
  const pub = await rawClient(t, url);
  await publishMany(pub, 'a', 2);
  await publishMany(pub, 'b', 2);
  const bob = await rawClient(t, `${url}?client=bob`);
  await bob.request(durable('a'));
  await bob.request(durable('b'));
  const a = await waitFrames(bob, eventIn('a'), 2);
  await waitFrames(bob, eventIn('b'), 2);
  for (const e of a) bob.send({ type: 'ack', id: e.id }); // only room a is acked
  await barrier(bob);
  await closeAndWait(server, bob);

  const carol = await rawClient(t, `${url}?client=carol`);
  await carol.request(durable('a'));
  t.same(offsets(await waitFrames(carol, eventIn('a'), 2)), [1, 2], 'another client has its own cursor');

  const back = await rawClient(t, `${url}?client=bob`);
  await back.request(durable('a'));
  await back.request(durable('b'));
  await waitFrames(back, eventIn('b'), 2);
  await barrier(back);
  t.same(offsets(back.seen(eventIn('a'))), [], 'room a was acked');
  t.same(offsets(back.seen(eventIn('b'))), [1, 2], 'room b was not');
});

t.test('5.4 leaving a durable subscription keeps the cursor; joining again resumes', async (t) => {
  const { url } = await startServer(t);
  const pub = await rawClient(t, url);
  await publishMany(pub, 'orders', 3);
  const bob = await rawClient(t, `${url}?client=bob`);
  await bob.request(durable('orders'));
  const evs = await waitFrames(bob, eventIn('orders'), 3);
  bob.send({ type: 'ack', id: evs[0]!.id });
  t.equal((await bob.request({ type: 'leave', room: 'orders' })).type, 'left');
  await publishMany(pub, 'orders', 1);
  await bob.request(durable('orders'));
  const after = await waitFrames(bob, (f) => eventIn('orders')(f) && f.offset !== undefined, 6);
  await barrier(bob);
  t.same(offsets(after.slice(3)), [2, 3, 4], 'the unacked 2 and 3, then the new 4');
});

t.test('5.4 prefetch bounds unacked deliveries in flight', async (t) => {
  const { url } = await startServer(t);
  const pub = await rawClient(t, url);
  await publishMany(pub, 'jobs', 5);
  const bob = await rawClient(t, `${url}?client=bob`);
  await bob.request(durable('jobs', { prefetch: 2 }));
  const first = await waitFrames(bob, eventIn('jobs'), 2);
  await barrier(bob);
  t.same(offsets(bob.seen(eventIn('jobs'))), [1, 2], 'only 2 arrive while none is acked');

  bob.send({ type: 'ack', id: first[0]!.id });
  await waitFrames(bob, eventIn('jobs'), 3);
  await barrier(bob);
  t.same(offsets(bob.seen(eventIn('jobs'))), [1, 2, 3], 'one ack frees one slot');

  await publishMany(pub, 'jobs', 1);
  await barrier(bob);
  t.equal(bob.seen(eventIn('jobs')).length, 3, 'a new message waits too');

  for (const e of bob.seen(eventIn('jobs')).slice(1)) bob.send({ type: 'ack', id: e.id });
  const all = await waitFrames(bob, eventIn('jobs'), 5);
  t.same(offsets(all), [1, 2, 3, 4, 5], 'in order, as slots free up');
  for (const e of all.slice(3)) bob.send({ type: 'ack', id: e.id });
  t.same(offsets(await waitFrames(bob, eventIn('jobs'), 6)), range(1, 6));
});

t.test('5.4 the server prefetch option is the default', async (t) => {
  const { url } = await startServer(t, { prefetch: 1 });
  const pub = await rawClient(t, url);
  await publishMany(pub, 'jobs', 3);
  const bob = await rawClient(t, `${url}?client=bob`);
  await bob.request(durable('jobs'));
  const [one] = await waitFrames(bob, eventIn('jobs'), 1);
  await barrier(bob);
  t.equal(bob.seen(eventIn('jobs')).length, 1);
  bob.send({ type: 'ack', id: one!.id });
  t.same(offsets(await waitFrames(bob, eventIn('jobs'), 2)), [1, 2]);
});

t.test('5.4 a durable subscription starts after since when given', async (t) => {
  const { url } = await startServer(t);
  const pub = await rawClient(t, url);
  await publishMany(pub, 'orders', 4);
  const bob = await rawClient(t, `${url}?client=bob`);
  await bob.request(durable('orders', { since: 2 }));
  await waitFrames(bob, eventIn('orders'), 2);
  await barrier(bob);
  t.same(offsets(bob.seen(eventIn('orders'))), [3, 4]);
});

t.test('5.4 two connections of one client share the subscription', async (t) => {
  const { url } = await startServer(t);
  const pub = await rawClient(t, url);
  const c1 = await rawClient(t, `${url}?client=dave`);
  const c2 = await rawClient(t, `${url}?client=dave`);
  await c1.request(durable('feed'));
  await c2.request(durable('feed'));
  const got = [autoAck(c1, 'feed'), autoAck(c2, 'feed')];
  await publishMany(pub, 'feed', 10);
  await until([c1, c2], () => got[0]!.length + got[1]!.length >= 10, 5000, '10 deliveries');
  await barrier(c1);
  await barrier(c2);
  t.same(
    offsets([...got[0]!, ...got[1]!]).sort((a, b) => a - b),
    range(1, 10),
    'each message went to exactly one of the two connections',
  );
});

t.test('5.4 with the disk store the cursor survives a server restart', async (t) => {
  const dir = await tempDir(t, 'wsq-spec-durable-');
  const first = await startServer(t, { store: await openLmdb(t, dir) });
  const pub = await rawClient(t, first.url);
  await publishMany(pub, 'orders', 4);
  const bob = await rawClient(t, `${first.url}?client=bob`);
  await bob.request(durable('orders'));
  const evs = await waitFrames(bob, eventIn('orders'), 4);
  bob.send({ type: 'ack', id: evs[0]!.id });
  bob.send({ type: 'ack', id: evs[2]!.id });
  await barrier(bob);
  await closeAndWait(first.server, bob);
  await first.server.close(); // waits for the store's writes, cursor included

  const second = await startServer(t, { store: await openLmdb(t, dir) });
  const back = await rawClient(t, `${second.url}?client=bob`);
  await back.request(durable('orders'));
  await waitFrames(back, eventIn('orders'), 2);
  await barrier(back);
  t.same(offsets(back.seen(eventIn('orders'))), [2, 4], 'only the unacked 2 and 4 come back, in order');
});

t.test('R5.4.9 a durable delivery nacked maxDeliver times goes to $dead:<room>, not forever', async (t) => {
  const { url } = await startServer(t, { maxDeliver: 2 });
  const watcher = await rawClient(t, url);
  await watcher.request({ type: 'join', room: '$dead:orders' });
  const bob = await rawClient(t, `${url}?client=bob`);
  await bob.request(durable('orders'));
  const pub = await rawClient(t, url);
  await publish(pub, 'orders', 'poison', 'p');
  for (let attempt = 1; attempt <= 2; attempt++) {
    const ev = await bob.next((f) => f.type === 'event' && f.attempt === attempt);
    bob.send({ type: 'nack', id: ev.id });
  }
  t.match(await watcher.next(eventIn('$dead:orders')), { event: 'poison', data: 'p', from: pub.welcome.sid, offset: 1 }, 'moved to the dead-letter room');
  await bob.sync();
  t.equal(bob.seen(eventIn('orders')).length, 2, 'two attempts, no third');
  await publish(pub, 'orders', 'next', 2);
  t.match(await bob.next((f) => f.event === 'next'), { offset: 2, attempt: 1 }, 'the subscription goes on with the next message');
});

t.test('R5.4.9 a personal-room message nobody handles ends in $dead:@X after maxDeliver attempts; only X may join it', async (t) => {
  const { server, url } = await startServer(t, { maxDeliver: 3 });
  const x = await rawClient(t, `${url}?client=x`);
  await x.sync();
  t.match(await x.request({ type: 'join', room: '$dead:@x' }), { type: 'joined', room: '$dead:@x', offset: 0 }, 'x may join its own dead letters');
  await server.publish('@x', 'dm', 'hello');
  for (let attempt = 1; attempt <= 3; attempt++) {
    const ev = await x.next((f) => f.type === 'event' && f.room === '@x' && f.attempt === attempt);
    x.send({ type: 'nack', id: ev.id }); // what an SDK with no handler for "dm" does
  }
  t.match(await x.next(eventIn('$dead:@x')), { event: 'dm', data: 'hello', offset: 1 });
  await x.sync();
  t.equal(x.seen(eventIn('@x')).length, 3, 'three attempts, then no more');
  const other = await rawClient(t, `${url}?client=y`);
  t.match(await other.request({ type: 'join', room: '$dead:@x', id: 1 }), { type: 'error', code: 'forbidden', id: 1 }, "another client may not read x's dead letters");
  const anon = await rawClient(t, url);
  t.match(await anon.request({ type: 'join', room: '$dead:@x', durable: false, id: 2 }), { code: 'forbidden', id: 2 });
});

t.test('R4.3.11 R5.5.5 $dead:R may be joined live, durable or as a group; other $ rooms are forbidden; nobody emits into $ rooms', async (t) => {
  const { server, url } = await startServer(t);
  await server.publish('$dead:jobs', 'job', 1);
  const c = await rawClient(t, `${url}?client=ops`);
  t.match(await c.request({ type: 'join', room: '$dead:jobs', since: 0 }), { type: 'joined', recovered: true, replay: { count: 1 } }, 'live, with replay');
  t.match(await c.request({ type: 'join', room: '$dead:jobs', durable: true }), { type: 'joined', durable: true }, 'durable');
  const w = await rawClient(t, url);
  t.match(await w.request({ type: 'join', room: '$dead:jobs', group: 'ops' }), { type: 'joined', group: 'ops' }, 'a group');
  t.match(await w.next(eventIn('$dead:jobs')), { event: 'job', id: Number, attempt: 1 });
  for (const room of ['$other', '$', '$dead:$dead:jobs', '$presence:x']) {
    t.match(await c.request({ type: 'join', room, id: room }), { type: 'error', code: 'forbidden', id: room }, `join ${room}: forbidden`);
  }
  const err = await c.request({ type: 'emit', room: '$dead:jobs', event: 'forged', id: 'e' });
  t.match(err, { type: 'error', code: 'bad_frame', id: 'e' }, 'R4.5.8 an emit into a $ room is refused with bad_frame');
  t.match(await server.publish('$dead:jobs', 'probe'), { offset: 2 }, 'nothing was stored by the refused emit');
});

t.test("R5.4.10 a new durable consumer whose since is past the log's end starts at the end: recovered false, nothing after skipped", async (t) => {
  const { url } = await startServer(t);
  const pub = await rawClient(t, url);
  await publishMany(pub, 'orders', 3);
  const bob = await rawClient(t, `${url}?client=bob`);
  const joined = await bob.request(durable('orders', { since: 10 }));
  t.match(joined, { type: 'joined', durable: true, recovered: false, gap: { requested: 10, earliest: 1, latest: 3 }, offset: 3 });
  await publish(pub, 'orders', 'e', { i: 4 });
  t.match(await bob.next(eventIn('orders')), { offset: 4, attempt: 1 }, 'offset 4 is delivered, not skipped up to 10');
  await bob.sync();
  t.same(offsets(bob.seen(eventIn('orders'))), [4], 'and nothing before it');
});

t.test('R5.4.10 a durable consumer that missed messages to retention answers recovered false with a gap', async (t) => {
  const { server, url } = await startServer(t, { retention: { maxMessages: 3 } });
  const pub = await rawClient(t, url);
  const bob = await rawClient(t, `${url}?client=bob`);
  t.match(await bob.request(durable('orders')), { recovered: true }, 'a new consumer without since: recovered');
  await closeAndWait(server, bob);
  await publishMany(pub, 'orders', 8); // offsets 1..5 are trimmed before bob saw them
  const back = await rawClient(t, `${url}?client=bob`);
  const joined = await back.request(durable('orders'));
  t.match(joined, { recovered: false, gap: { requested: 0, earliest: 6, latest: 8 }, durable: true });
  t.same(offsets(await waitFrames(back, eventIn('orders'), 3)), [6, 7, 8], 'what is held follows');
  autoAck(back, 'orders');
  await barrier(back); // the acks were handled
  await closeAndWait(server, back);
  const again = await rawClient(t, `${url}?client=bob`);
  t.match(await again.request(durable('orders')), { recovered: true }, 'once caught up, a later join is recovered');
  t.notOk('gap' in (again.frames.find((f) => f.type === 'joined') ?? {}), 'no gap');
});

t.test('R5.4.10 a new group whose since is older than what retention holds answers recovered false', async (t) => {
  const { url } = await startServer(t, { retention: { maxMessages: 3 } });
  const pub = await rawClient(t, url);
  await publishMany(pub, 'jobs', 8);
  const w = await rawClient(t, url);
  t.match(await w.request({ type: 'join', room: 'jobs', group: 'g', since: 2 }), { recovered: false, gap: { requested: 2, earliest: 6, latest: 8 }, group: 'g' });
  const v = await rawClient(t, url);
  t.match(await v.request({ type: 'join', room: 'jobs', group: 'h', since: 5 }), { recovered: true, group: 'h' }, 'since just before the earliest held loses nothing');
  const u = await rawClient(t, url);
  t.match(await u.request({ type: 'join', room: 'jobs', group: 'k' }), { recovered: true }, 'no since: what is held, nothing missing');
});
