/**
 * PROTOCOL.md §5.1 Rooms, direct rooms, personal rooms, and §5.2 Offsets and epochs, over
 * real sockets.
 */
import t from 'tap';
import { barrier, closeAndWait, eventIn, offsets, publish, waitFrames } from '../helpers/logs.js';
import { rawClient, startServer } from '../helpers/server.js';

t.test('5.2 stored emits get offsets 1, 2, 3… per room, with a stable epoch', async (t) => {
  const { url } = await startServer(t);
  const pub = await rawClient(t, url);
  const member = await rawClient(t, url);
  const joined = await member.request({ type: 'join', room: 'a' });
  t.equal(joined.type, 'joined');
  t.equal(joined.offset, 0, 'an empty room is at offset 0');

  const a = [await publish(pub, 'a', 'x', 1), await publish(pub, 'a', 'x', 2), await publish(pub, 'a', 'x', 3)];
  const b = [await publish(pub, 'b', 'x', 1), await publish(pub, 'b', 'x', 2)];
  t.same(offsets(a), [1, 2, 3], 'room a counts from 1');
  t.same(offsets(b), [1, 2], 'room b has its own offsets');
  t.ok(
    a.every((f) => f.type === 'ack' && typeof f.epoch === 'string' && f.epoch === joined.epoch),
    'one epoch for room a, the one joined reported',
  );
  t.ok(
    b.every((f) => f.epoch === b[0]!.epoch),
    'one epoch for room b',
  );

  const events = await waitFrames(member, eventIn('a'), 3);
  t.same(offsets(events), [1, 2, 3], 'members get the events in offset order');
  t.same(
    events.map((e) => e.data),
    [1, 2, 3],
  );
  t.ok(
    events.every((e) => e.epoch === joined.epoch && e.from === pub.welcome.sid && e.replay === undefined),
    'live events carry epoch and sender',
  );

  const vol = await publish(pub, 'a', 'x', 'v', { volatile: true });
  t.equal(vol.type, 'ack');
  t.equal(vol.offset, undefined, 'a volatile emit gets no offset');
  t.equal((await publish(pub, 'a', 'x', 4)).offset, 4, 'and takes none: the next stored emit is 4');

  const again = await member.request({ type: 'join', room: 'a', since: 0 });
  t.equal(again.epoch, joined.epoch, 'the epoch is stable across joins');
  t.equal(again.offset, 4);
});

t.test('5.2 offsets are per room per namespace', async (t) => {
  const { url } = await startServer(t);
  const pub = await rawClient(t, url);
  t.equal((await pub.request({ type: 'connect', ns: '/chat' })).type, 'connected');
  t.equal((await publish(pub, 'a', 'x', 1)).offset, 1);
  t.equal((await publish(pub, 'a', 'x', 2)).offset, 2);
  const chat = await publish(pub, 'a', 'x', 1, { ns: '/chat' });
  t.equal(chat.offset, 1, 'room "a" of /chat is another log');
});

t.test('5.2 a sender is skipped unless echo, and need not be a member', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  await a.request({ type: 'join', room: 'r' });
  t.equal((await publish(a, 'r', 'x', 'quiet')).offset, 1);
  t.equal((await publish(a, 'r', 'x', 'loud', { echo: true })).offset, 2);
  const [ev] = await waitFrames(a, eventIn('r'), 1);
  await barrier(a);
  t.same(
    a.seen(eventIn('r')).map((e) => e.offset),
    [2],
    'only the echo emit came back',
  );
  t.equal(ev!.data, 'loud');
});

t.test('5.1 every socket has a direct room named by its sid: delivered, never stored', async (t) => {
  const { server, url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  const c = await rawClient(t, url);
  const bsid = b.welcome.sid as string;
  t.ok(server.of('/').sockets.get(bsid)?.rooms.has(bsid), 'the socket is in the room named by its sid');

  const ack = await publish(a, bsid, 'dm', { hi: 'b' });
  t.equal(ack.type, 'ack');
  t.equal(ack.offset, undefined, 'a direct emit gets no offset');
  t.equal(ack.epoch, undefined);
  const ev = await b.next(eventIn(bsid));
  t.same(ev.data, { hi: 'b' });
  t.equal(ev.from, a.welcome.sid);
  t.equal(ev.offset, undefined, 'the delivered event has no offset');
  await barrier(c);
  t.same(c.seen(eventIn(bsid)), [], 'nobody else gets it');
  t.same(await server.store.read('/', bsid, 1, 10), [], 'nothing was stored');

  const refused = await c.request({ type: 'join', room: bsid });
  t.equal(refused.type, 'error');
  t.equal(refused.code, 'forbidden', 'another socket cannot join a direct room');
});

t.test('5.1 personal room @X: messages wait for X, are delivered with an id, and acked ones are not redelivered', async (t) => {
  const { server, url } = await startServer(t);
  const pub = await rawClient(t, url);
  const sent = [await publish(pub, '@alice', 'note', 'm1'), await publish(pub, '@alice', 'note', 'm2'), await publish(pub, '@alice', 'note', 'm3')];
  t.same(offsets(sent), [1, 2, 3], 'messages to an absent client are stored');

  const alice = await rawClient(t, `${url}?client=alice`);
  const first = await waitFrames(alice, eventIn('@alice'), 3);
  t.same(offsets(first), [1, 2, 3], 'all waiting messages arrive in order on connect, without a join');
  t.same(
    first.map((e) => e.data),
    ['m1', 'm2', 'm3'],
  );
  t.ok(
    first.every((e) => e.id !== undefined && e.attempt === 1),
    'each carries an id to ack and attempt 1',
  );
  alice.send({ type: 'ack', id: first[0]!.id });
  alice.send({ type: 'ack', id: first[1]!.id });
  await barrier(alice); // acks are handled before the ping is answered
  await closeAndWait(server, alice);

  t.equal((await publish(pub, '@alice', 'note', 'm4')).offset, 4);
  const back = await rawClient(t, `${url}?client=alice`);
  const second = await waitFrames(back, eventIn('@alice'), 2);
  await barrier(back);
  t.same(offsets(back.seen(eventIn('@alice'))), [3, 4], 'the unacked m3 and the new m4 arrive, in order; m1 and m2 do not');
  t.equal(second[0]!.attempt, 2, 'm3 is a second attempt');
  t.equal(second[1]!.attempt, 1);
  for (const e of second) back.send({ type: 'ack', id: e.id });
  await barrier(back);
  await closeAndWait(server, back);

  const third = await rawClient(t, `${url}?client=alice`);
  t.equal((await publish(pub, '@alice', 'note', 'm5')).offset, 5);
  const [m5] = await waitFrames(third, eventIn('@alice'), 1);
  await barrier(third);
  t.equal(m5!.data, 'm5', 'the first delivery on the third connection is the new message');
  t.same(offsets(third.seen(eventIn('@alice'))), [5], 'nothing acked came back');

  const bob = await rawClient(t, `${url}?client=bob`);
  await barrier(bob);
  t.same(
    bob.seen((f) => f.type === 'event'),
    [],
    "another client does not get alice's messages",
  );
});

t.test('5.1 personal rooms exist in every namespace a client connects', async (t) => {
  const { url } = await startServer(t);
  const pub = await rawClient(t, url);
  await pub.request({ type: 'connect', ns: '/chat' });
  await publish(pub, '@carol', 'ping', 'chat-1', { ns: '/chat' });
  const carol = await rawClient(t, `${url}?client=carol`);
  t.equal((await carol.request({ type: 'connect', ns: '/chat' })).type, 'connected');
  const ev = await carol.next((f) => f.type === 'event' && f.ns === '/chat' && f.room === '@carol');
  t.equal(ev.data, 'chat-1');
  t.ok(ev.id !== undefined);
});

t.test('5.1 an anonymous connection has no personal room', async (t) => {
  const { url } = await startServer(t);
  const pub = await rawClient(t, url);
  await publish(pub, '@nobody', 'x', 1);
  const anon = await rawClient(t, url);
  await barrier(anon);
  t.same(
    anon.seen((f) => f.type === 'event'),
    [],
  );
});

t.test('5.2 an idle room log is dropped from memory and comes back from the store with the same epoch and offsets', async (t) => {
  const { server, url } = await startServer(t, { heartbeatMs: 20, timeoutMs: 10_000 });
  const p = await rawClient(t, url);
  const acks: Record<string, any>[] = [];
  for (let i = 0; i < 3; i++) acks.push(await p.request({ type: 'emit', room: 'idle', event: 'e', data: i }));
  const nsp = server.of('/');
  t.ok(nsp.loadedRooms().includes('idle'), 'the log is loaded while used');
  const deadline = Date.now() + 5000;
  while (nsp.loadedRooms().includes('idle') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.notOk(nsp.loadedRooms().includes('idle'), 'dropped after being idle for a heartbeat');
  const c = await rawClient(t, url);
  const joined = await c.request({ type: 'join', room: 'idle', since: 0 });
  t.equal(joined.epoch, acks[0]!.epoch, 'same epoch');
  t.same(
    (await c.collect((f) => f.type === 'event', 3)).map((f) => f.offset),
    [1, 2, 3],
    'replay from the store',
  );
  t.equal((await p.request({ type: 'emit', room: 'idle', event: 'e' })).offset, 4, 'offsets continue');
});
