/**
 * PROTOCOL.md §4.3 join and §4.4 leave (live subscriptions; replay, durable and group
 * joins are covered with §5).
 */
import t from 'tap';
import { JoinedFrame, LeftFrame } from '../../protocol/frames.js';
import { RawClient } from '../helpers/raw-client.js';
import { rawClient, startServer } from '../helpers/server.js';

t.test('4.3 join answers joined with ns, room, id, epoch, offset and recovered', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  const j = await c.request({ type: 'join', room: 'lobby', id: 1 });
  t.ok(JoinedFrame.safeParse(j).success, 'joined matches its schema');
  t.match(j, { type: 'joined', ns: '/', room: 'lobby', id: 1, epoch: String, offset: 0, recovered: true });
  t.notOk('replay' in j, 'no replay without since');
  t.notOk('gap' in j);
  c.send({ type: 'join', room: 'quiet' });
  const j2 = await c.next('joined');
  t.notOk('id' in j2, 'no id when none was sent');
});

t.test("4.3 joined.offset is the room's last offset at the join", async (t) => {
  const { url } = await startServer(t);
  const p = await rawClient(t, url);
  for (let i = 1; i <= 3; i++) t.match(await p.request({ type: 'emit', room: 'news', event: 'n', data: i }), { type: 'ack', offset: i });
  const c = await rawClient(t, url);
  const j = await c.request({ type: 'join', room: 'news' });
  t.match(j, { type: 'joined', offset: 3, recovered: true });
  await c.sync();
  t.same(
    c.seen((f) => f.type === 'event'),
    [],
    'a join without since replays nothing',
  );
  await p.request({ type: 'emit', room: 'news', event: 'n', data: 4 });
  t.match(await c.next('event'), { event: 'n', data: 4, offset: 4 }, 'live events follow');
});

t.test('4.3 join in another namespace', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  await c.request({ type: 'connect', ns: '/chat' });
  t.match(await c.request({ type: 'join', ns: '/chat', room: 'lobby', id: 'j' }), { type: 'joined', ns: '/chat', room: 'lobby', id: 'j' });
});

t.test('4.3 a second join of the same room replaces the first: one delivery, not two', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  await a.request({ type: 'join', room: 'r' });
  t.match(await a.request({ type: 'join', room: 'r' }), { type: 'joined', room: 'r' });
  await b.request({ type: 'emit', room: 'r', event: 'once' });
  await a.next('event');
  await a.sync();
  t.equal(a.seen((f) => f.type === 'event').length, 1);
});

t.test("4.3 join of another connection's sid (a direct room) → forbidden", async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  const err = await a.request({ type: 'join', room: b.welcome.sid, id: 1 });
  t.match(err, { type: 'error', code: 'forbidden', id: 1 });
  await a.request({ type: 'emit', room: b.welcome.sid, event: 'dm' });
  t.match(await b.next('event'), { event: 'dm' }, 'the direct room still works');
  await a.sync();
  t.same(
    a.seen((f) => f.type === 'event'),
    [],
    'the refused joiner gets nothing',
  );
});

t.test('4.3 join with missing, unknown or mistyped fields → bad_frame', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'join', id: 1 }), { code: 'bad_frame', id: 1 }, 'room missing');
  const typo = await c.request({ type: 'join', rom: 'r', id: 2 });
  t.match(typo, { code: 'bad_frame', id: 2 }, 'typo "rom"');
  t.ok(
    typo.details.issues.some((i: { code: string }) => i.code === 'unrecognized_keys'),
    'details name the unknown field',
  );
  t.match(await c.request({ type: 'join', room: 'r', colour: 'red', id: 22 }), { code: 'bad_frame', id: 22 }, 'an extra unknown field');
  t.match(await c.request({ type: 'join', room: 5, id: 3 }), { code: 'bad_frame', id: 3 }, 'room is a number');
  t.match(await c.request({ type: 'join', room: '', id: 4 }), { code: 'bad_frame', id: 4 }, 'empty room');
  t.match(await c.request({ type: 'join', room: 'r', since: -1, id: 5 }), { code: 'bad_frame', id: 5 }, 'negative since');
  t.match(await c.request({ type: 'join', room: 'r', durable: 'yes', id: 6 }), { code: 'bad_frame', id: 6 }, 'durable is not a boolean');
  t.match(await c.request({ type: 'join', room: 'r', id: 7 }), { type: 'joined', id: 7 }, 'still usable');
});

t.test('4.4 leave answers left and stops deliveries', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  await a.request({ type: 'join', room: 'r' });
  await b.request({ type: 'emit', room: 'r', event: 'before' });
  t.match(await a.next('event'), { event: 'before' });
  const left = await a.request({ type: 'leave', room: 'r', id: 8 });
  t.same(left, { type: 'left', ns: '/', room: 'r', id: 8 });
  t.ok(LeftFrame.safeParse(left).success, 'left matches its schema');
  await b.request({ type: 'emit', room: 'r', event: 'after' });
  await a.sync();
  t.same(
    a.seen((f) => f.type === 'event' && f.event === 'after'),
    [],
    'nothing after leave',
  );
});

t.test('4.4 leave in another namespace', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  await c.request({ type: 'connect', ns: '/chat' });
  await c.request({ type: 'join', ns: '/chat', room: 'r' });
  t.match(await c.request({ type: 'leave', room: 'r', id: 1 }), { type: 'error', code: 'not_member', id: 1 }, 'a room of /chat is not a room of /');
  t.same(await c.request({ type: 'leave', ns: '/chat', room: 'r', id: 2 }), { type: 'left', ns: '/chat', room: 'r', id: 2 });
});

t.test('4.4 leave of a room not joined → not_member', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'leave', room: 'never', id: 1 }), { type: 'error', code: 'not_member', id: 1 });
  await c.request({ type: 'join', room: 'r' });
  await c.request({ type: 'leave', room: 'r' });
  t.match(await c.request({ type: 'leave', room: 'r', id: 2 }), { type: 'error', code: 'not_member', id: 2 }, 'a second leave');
  t.match(await c.request({ type: 'leave', room: c.welcome.sid, id: 3 }), { type: 'error', code: 'not_member', id: 3 }, 'its own sid room cannot be left');
});

t.test('4.4 a room joined by the server application can be left by the client', async (t) => {
  const { server, url } = await startServer(t);
  server.on('connection', (socket) => socket.join('app-room'));
  const c = await rawClient(t, url);
  await c.sync();
  t.same(await c.request({ type: 'leave', room: 'app-room', id: 1 }), { type: 'left', ns: '/', room: 'app-room', id: 1 });
  server.to('app-room').emit('x');
  await c.sync();
  t.same(
    c.seen((f) => f.type === 'event'),
    [],
  );
});

t.test('R6.4.1 a server-side socket.leave of a room the client joined sends left with reason "server" and no id', async (t) => {
  const { server, url } = await startServer(t);
  const c = await rawClient(t, `${url}?client=ann`);
  await c.sync();
  const socket = server.sockets.sockets.get(c.welcome.sid)!;
  await c.request({ type: 'join', room: 'live' });
  await c.request({ type: 'join', room: 'jobs', group: 'g' });
  await c.request({ type: 'join', room: 'orders', durable: true });
  socket.join('app-room');
  for (const room of ['live', 'jobs', 'orders']) {
    socket.leave(room);
    const left = await c.next('left');
    t.same(left, { type: 'left', ns: '/', room, reason: 'server' }, `${room}: told`);
    t.ok(LeftFrame.safeParse(left).success, 'matches the schema');
  }
  socket.leave('app-room');
  socket.leave('@ann');
  socket.leave('never-joined');
  await c.sync();
  t.equal(c.seen((f) => f.type === 'left').length, 3, 'a room only the application joined (or the personal room, or no room) is not announced');
  t.same(await c.request({ type: 'leave', room: 'live', id: 5 }), { type: 'error', code: 'not_member', id: 5, message: c.frames.at(-1)!.message }, 'the subscription is gone');
  await c.request({ type: 'join', room: 'live' });
  t.same(await c.request({ type: 'leave', room: 'live', id: 6 }), { type: 'left', ns: '/', room: 'live', id: 6 }, 'a client leave is answered with its id, no reason');
  server.sockets.in(socket.id).socketsLeave('x');
  await c.request({ type: 'join', room: 'x' });
  server.sockets.in(socket.id).socketsLeave('x');
  t.same(await c.next('left'), { type: 'left', ns: '/', room: 'x', reason: 'server' }, 'socketsLeave tells the client too');
});

t.test('R6.3.2 a join with presence answers members: the other subscribers, then presence frames for the changes', async (t) => {
  const { server, url } = await startServer(t);
  const alice = await rawClient(t, `${url}?client=alice`);
  await alice.request({ type: 'join', room: 'r' });
  const anon = await rawClient(t, url);
  await anon.request({ type: 'join', room: 'r', group: 'g' });
  const carol = await rawClient(t, `${url}?client=carol`);
  await carol.request({ type: 'join', room: 'r', durable: true });
  const appOnly = await rawClient(t, url);
  await appOnly.sync();
  server.sockets.sockets.get(appOnly.welcome.sid)!.join('r'); // an application membership is not a subscription (R6.8.2)
  const w = await rawClient(t, `${url}?client=watcher`);
  const joined = await w.request({ type: 'join', room: 'r', presence: true });
  t.ok(JoinedFrame.safeParse(joined).success, 'joined with members matches its schema');
  t.same(
    [...joined.members].sort((x: { sid: string }, y: { sid: string }) => x.sid.localeCompare(y.sid)),
    [{ sid: alice.welcome.sid, client: 'alice' }, { sid: anon.welcome.sid }, { sid: carol.welcome.sid, client: 'carol' }].sort((x, y) => x.sid.localeCompare(y.sid)),
    'live, group and durable subscribers; not the joiner, not socket.join',
  );
  t.notOk('membersTruncated' in joined);
  const d = await rawClient(t, url);
  await d.request({ type: 'join', room: 'r' });
  t.same(await w.next('presence'), { type: 'presence', ns: '/', room: 'r', action: 'join', sid: d.welcome.sid });
  await alice.request({ type: 'leave', room: 'r' });
  t.same(await w.next('presence'), { type: 'presence', ns: '/', room: 'r', action: 'leave', sid: alice.welcome.sid, client: 'alice' });
  const plain = await rawClient(t, url);
  t.notOk('members' in (await plain.request({ type: 'join', room: 'r' })), 'no members without presence');
  const x2 = await rawClient(t, `${url}?client=carol`);
  const personal = await x2.request({ type: 'join', room: '@carol', presence: true });
  t.same(personal.members, [{ sid: carol.welcome.sid, client: 'carol' }], 'a personal-room subscription counts');
});

t.test('R6.3.2 the snapshot is capped: at most 1,000 members, then membersTruncated', async (t) => {
  const { url } = await startServer(t);
  const clients: RawClient[] = [];
  t.teardown(() => Promise.all(clients.map((c) => c.close()))); // all at once, not one by one
  for (let batch = 0; batch < 11; batch++) {
    const more = await Promise.all(Array.from({ length: batch < 10 ? 100 : 1 }, () => RawClient.connect(url)));
    clients.push(...more);
    await Promise.all(more.map((c) => c.request({ type: 'join', room: 'big' })));
  }
  const w = await rawClient(t, url);
  const joined = await w.request({ type: 'join', room: 'big', presence: true }, 10_000);
  t.equal(joined.members.length, 1000);
  t.equal(joined.membersTruncated, true);
});
