/**
 * The server library (design §5, PROTOCOL.md §9): namespaces by name, RegExp and function,
 * middleware, the connection event, socket lifecycle, fetchSockets, socketsJoin/Leave,
 * disconnectSockets and the adapter's room events. Over real sockets.
 */
import t from 'tap';
import type { MemoryAdapter } from '../../lib/adapter/memory.js';
import { WsqError } from '../../lib/errors.js';
import type { Socket } from '../../lib/socket.js';
import { clientSocket, rawClient, startServer } from '../helpers/server.js';

const declared = { namespaces: 'declared' as const };

t.test('of(name): a static namespace is served, names are normalized, others are not', async (t) => {
  const { server, url } = await startServer(t, declared);
  const chat = server.of('/chat');
  t.equal(server.of('chat'), chat, 'of("chat") is of("/chat")');
  const seen: Socket[] = [];
  chat.on('connection', (s: Socket) => seen.push(s));
  const { c, socket } = await clientSocket(t, server, url, '/chat');
  t.equal(seen.length, 1);
  t.equal(seen[0], socket);
  t.equal(socket.nsp, chat);
  t.equal(socket.id, c.welcome.sid, "the sid is the connection's, in every namespace");
  t.match(await c.request({ type: 'connect', ns: '/other' }), { code: 'unknown_namespace' });
});

t.test('of(RegExp): dynamic namespaces, one child per name, parent listeners and middleware apply', async (t) => {
  const { server, url } = await startServer(t, declared);
  const teams = server.of(/^\/team-\w+$/);
  const names: string[] = [];
  teams.use((socket, next) => next(socket.handshake.auth.member ? undefined : new Error('auth.member is required')));
  teams.on('connection', (s: Socket) => names.push(s.nsp.name));
  const a = await clientSocket(t, server, url, '/team-a', { auth: { member: true } });
  const b = await clientSocket(t, server, url, '/team-b', { auth: { member: true } });
  const a2 = await clientSocket(t, server, url, '/team-a', { auth: { member: true } });
  t.same(names, ['/team-a', '/team-b', '/team-a']);
  t.equal(a.socket.nsp, a2.socket.nsp, 'one child per name');
  t.not(a.socket.nsp, b.socket.nsp);
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'connect', ns: '/team-c' }), { code: 'unauthorized' }, 'parent middleware runs for children');
  t.match(await c.request({ type: 'connect', ns: '/teams' }), { code: 'unknown_namespace' }, 'a name the RegExp refuses');
  teams.emit('all-teams', 1);
  for (const x of [a.c, b.c, a2.c]) t.match(await x.next('event'), { event: 'all-teams', data: 1 }, 'the parent emits to every child');
});

t.test('of(function): the function decides by name and auth', async (t) => {
  const { server, url } = await startServer(t, declared);
  server.of((name, auth) => name.startsWith('/fn-') && auth.ok === true);
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'connect', ns: '/fn-x', auth: { ok: true } }), { type: 'connected', ns: '/fn-x' });
  t.match(await c.request({ type: 'connect', ns: '/fn-y' }), { code: 'unknown_namespace' });
  t.match(await c.request({ type: 'connect', ns: '/other', auth: { ok: true } }), { code: 'unknown_namespace' });
});

t.test('use(): middleware runs in order, can set socket.data, and accepts with next()', async (t) => {
  const { server, url } = await startServer(t, declared);
  const order: string[] = [];
  const nsp = server.of('/m');
  nsp.use((socket, next) => {
    order.push('one');
    socket.data.user = socket.handshake.auth.user;
    next();
  });
  nsp.use(async (_s, next) => {
    order.push('two');
    await Promise.resolve();
    next();
  });
  let user: unknown;
  nsp.on('connection', (s: Socket) => (user = s.data.user));
  await clientSocket(t, server, url, '/m', { auth: { user: 'ann' } });
  t.same(order, ['one', 'two']);
  t.equal(user, 'ann');
});

t.test('use(): refusals → unauthorized (next(err), throw, reject) or forbidden (WsqError code)', async (t) => {
  const { server, url } = await startServer(t, declared);
  const refusals: [string, (s: Socket, next: (e?: Error) => void) => unknown][] = [
    ['/next-err', (_s, next) => next(new Error('bad token'))],
    [
      '/throws',
      () => {
        throw new Error('bad token');
      },
    ],
    [
      '/rejects',
      async () => {
        throw new Error('bad token');
      },
    ],
  ];
  let connections = 0;
  for (const [name, mw] of refusals)
    server
      .of(name)
      .use(mw)
      .on('connection', () => connections++);
  server.of('/admin').use((_s, next) => next(new WsqError('forbidden', 'admins only')));
  const c = await rawClient(t, url);
  for (const [name] of refusals) {
    const err = await c.request({ type: 'connect', ns: name, id: name });
    t.match(err, { type: 'error', code: 'unauthorized', id: name, message: /bad token/ }, name);
    t.equal(server.of(name).sockets.size, 0, `${name}: no socket was added`);
  }
  t.match(await c.request({ type: 'connect', ns: '/admin' }), { code: 'forbidden', message: /admins only/ });
  t.equal(connections, 0, 'no connection event for a refused socket');
  t.same(await c.request({ type: 'ping', id: 1 }), { type: 'pong', id: 1 });
});

t.test("on('connection') on the server is the main namespace's", async (t) => {
  const { server, url } = await startServer(t, declared);
  const seen: string[] = [];
  server.on('connection', (s) => seen.push(`${s.nsp.name} ${s.id}`));
  const { c } = await clientSocket(t, server, url);
  t.same(seen, [`/ ${c.welcome.sid}`]);
});

t.test('lifecycle: disconnecting (rooms still visible), then disconnect with every room left', async (t) => {
  const { server, url } = await startServer(t, declared);
  const { c, socket } = await clientSocket(t, server, url);
  await c.request({ type: 'join', room: 'frame-room' });
  socket.join('app-room');
  const events: [string, string, string[]][] = [];
  socket.on('disconnecting', (reason: string) => events.push(['disconnecting', reason, [...socket.rooms].sort()]));
  const gone = new Promise<void>((resolve) =>
    socket.on('disconnect', (reason: string) => {
      events.push(['disconnect', reason, [...socket.rooms]]);
      resolve();
    }),
  );
  await c.close();
  await gone;
  t.same(events, [
    ['disconnecting', 'transport close', ['app-room', 'frame-room', c.welcome.sid].sort()],
    ['disconnect', 'transport close', []],
  ]);
  t.notOk(server.sockets.sockets.has(c.welcome.sid), 'removed from the namespace');
  t.equal(server.sockets.adapter.roomMembers('app-room'), undefined, 'the empty room is gone');
  t.equal(socket.connected, false);
});

t.test('lifecycle: a client disconnect frame fires disconnecting and disconnect for that namespace only', async (t) => {
  const { server, url } = await startServer(t, declared);
  server.of('/chat');
  const { c, socket } = await clientSocket(t, server, url, '/chat');
  const main = server.sockets.sockets.get(c.welcome.sid)!;
  const reasons: string[] = [];
  socket.on('disconnecting', (r: string) => reasons.push(`disconnecting ${r}`));
  socket.on('disconnect', (r: string) => reasons.push(`disconnect ${r}`));
  main.on('disconnect', () => reasons.push('main disconnected'));
  await c.request({ type: 'disconnect', ns: '/chat' });
  t.same(reasons, ['disconnecting client namespace disconnect', 'disconnect client namespace disconnect']);
  t.equal(main.connected, true);
});

t.test('fetchSockets: the namespace and a room', async (t) => {
  const { server, url } = await startServer(t, declared);
  const a = await clientSocket(t, server, url);
  const b = await clientSocket(t, server, url);
  b.socket.join('vip');
  t.same((await server.sockets.fetchSockets()).map((s) => s.id).sort(), [a.c.welcome.sid, b.c.welcome.sid].sort());
  t.same(
    (await server.sockets.in('vip').fetchSockets()).map((s) => s.id),
    [b.c.welcome.sid],
  );
  t.same(
    (await server.sockets.except('vip').fetchSockets()).map((s) => s.id),
    [a.c.welcome.sid],
  );
});

t.test('socketsJoin / socketsLeave: a broadcast right after sees the new membership', async (t) => {
  const { server, url } = await startServer(t, declared);
  const a = await clientSocket(t, server, url);
  const b = await clientSocket(t, server, url);
  const nsp = server.sockets;
  nsp.socketsJoin('all');
  nsp.to('all').emit('joined-all');
  for (const x of [a, b]) {
    t.match(await x.c.next('event'), { event: 'joined-all' });
    t.ok(x.socket.rooms.has('all'));
  }
  nsp.in(a.socket.id).socketsLeave('all');
  nsp.to('all').emit('after-leave');
  t.match(await b.c.next('event'), { event: 'after-leave' });
  await a.c.sync();
  t.same(
    a.c.seen((f) => f.event === 'after-leave'),
    [],
    'the socket that left gets nothing',
  );
});

t.test('disconnectSockets(): every client gets disconnected; (true) closes with 4000', async (t) => {
  const { server, url } = await startServer(t, declared);
  const chat = server.of('/chat');
  const a = await clientSocket(t, server, url, '/chat');
  const b = await clientSocket(t, server, url, '/chat');
  chat.disconnectSockets();
  for (const x of [a, b]) t.same(await x.c.next('disconnected'), { type: 'disconnected', ns: '/chat' });
  t.equal(chat.sockets.size, 0);
  t.same(await a.c.request({ type: 'ping', id: 1 }), { type: 'pong', id: 1 }, 'the connection stays');
  server.sockets.disconnectSockets(true);
  t.equal((await a.c.closed).code, 4000);
  t.equal((await b.c.closed).code, 4000);
});

t.test('adapter events: create-room, join-room, leave-room, delete-room', async (t) => {
  const { server, url } = await startServer(t, declared);
  const events: string[] = [];
  const names = new Map<string, string>();
  const who = (sid: string): string => names.get(sid) ?? sid;
  const adapter = server.sockets.adapter;
  adapter.on('create-room', (room: string) => events.push(`create ${room}`));
  adapter.on('join-room', (room: string, sid: string) => events.push(`join ${room} ${who(sid)}`));
  adapter.on('leave-room', (room: string, sid: string) => events.push(`leave ${room} ${who(sid)}`));
  adapter.on('delete-room', (room: string) => events.push(`delete ${room}`));
  const a = await rawClient(t, url);
  names.set(a.welcome.sid, 'a');
  const { c: b, socket: bSocket } = await clientSocket(t, server, url);
  names.set(b.welcome.sid, 'b');
  await a.request({ type: 'join', room: 'r' });
  await b.request({ type: 'join', room: 'r' });
  await a.request({ type: 'leave', room: 'r' });
  const gone = new Promise((resolve) => bSocket.once('disconnect', resolve));
  await b.close();
  await gone;
  const mine = events.filter((e) => / r( |$)/.test(e));
  t.same(mine, ['create r', 'join r a', 'join r b', 'leave r a', 'leave r b', 'delete r']);
  t.ok(events.includes(`create ${a.welcome.sid}`), 'a sid room is created for each socket');
});

/** Wait (bounded) until `cond` holds. */
async function until(cond: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return cond();
}

t.test('membership (issue 7 #8): rooms joined in a middleware that then refuses do not stay under the dead sid', async (t) => {
  const { server, url } = await startServer(t, declared);
  const nsp = server.of('/m');
  nsp.use((socket, next) => {
    socket.join(['in-mw', 'other']);
    next(socket.handshake.auth.ok ? undefined : new Error('not ok'));
  });
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'connect', ns: '/m' }), { code: 'unauthorized' });
  t.equal(nsp.adapter.roomMembers('in-mw'), undefined, 'the room is gone');
  t.equal(nsp.adapter.socketRooms(c.welcome.sid), undefined, 'the sid has no rooms');
  t.match(await c.request({ type: 'connect', ns: '/m', auth: { ok: true } }), { type: 'connected' });
  t.same([...nsp.adapter.roomMembers('in-mw')!], [c.welcome.sid], 'an accepted socket keeps the rooms its middleware joined');
  nsp.to('in-mw').emit('hi');
  t.match(await c.next('event'), { ns: '/m', event: 'hi' });
});

t.test("membership (issue 7 #8): the main namespace: a refusal takes the middleware's rooms away too", async (t) => {
  const { server, url } = await startServer(t, declared);
  server.use((socket, next) => {
    socket.join('mw-room');
    next(new WsqError('forbidden', 'no'));
  });
  const c = await rawClient(t, url, { welcome: false });
  t.equal((await c.closed).code, 4001);
  t.equal(server.sockets.adapter.roomMembers('mw-room'), undefined);
  t.equal((server.sockets.adapter as MemoryAdapter).rooms.size, 0, 'no room at all');
});

t.test('membership (issue 7 #8): a connection that closes during the middleware leaves no room behind, even if the middleware joins later', async (t) => {
  const { server, url } = await startServer(t, declared);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inMw = new Promise<void>((r) => (entered = r));
  let accepted = 0;
  const nsp = server.of('/slow');
  nsp
    .use(async (socket, next) => {
      socket.join('early');
      entered();
      await gate;
      socket.join('late');
      next();
    })
    .on('connection', () => accepted++);
  const c = await rawClient(t, url);
  c.send({ type: 'connect', ns: '/slow' });
  await inMw;
  t.ok(nsp.adapter.roomMembers('early')?.has(c.welcome.sid), 'joined while the middleware runs');
  await c.close();
  t.ok(await until(() => nsp.adapter.roomMembers('early') === undefined), 'the room goes when the connection closes');
  release();
  await gate;
  t.ok(await until(() => (nsp.adapter as MemoryAdapter).rooms.size === 0 && nsp.sockets.size === 0), 'a join after the close is ignored; no socket is added');
  t.equal(accepted, 0);
});

t.test('membership (issue 7 #8): a socket that left its namespace joins no room (socket.join after disconnect, or in a disconnect listener)', async (t) => {
  const { server, url } = await startServer(t, declared);
  server.of('/chat');
  const { c, socket } = await clientSocket(t, server, url, '/chat');
  socket.on('disconnect', () => socket.join('in-listener'));
  socket.join('before');
  socket.disconnect();
  await c.next('disconnected');
  socket.join(['after-1', 'after-2']);
  const adapter = server.of('/chat').adapter as MemoryAdapter;
  t.equal(adapter.socketRooms(socket.id), undefined, 'the sid has no rooms');
  t.equal(adapter.rooms.size, 0, 'no room holds the dead sid');
  t.equal(socket.connected, false);
  t.same([...socket.rooms], []);
});

t.test('dynamic namespaces: of(RegExp): the parent forwards connect as well as connection', async (t) => {
  const { server, url } = await startServer(t, declared);
  const parent = server.of(/^\/dyn-\d+$/);
  const seen: string[] = [];
  parent.on('connect', (s: Socket) => seen.push(`connect ${s.nsp.name}`));
  parent.on('connection', (s: Socket) => seen.push(`connection ${s.nsp.name}`));
  await clientSocket(t, server, url, '/dyn-1');
  t.same(seen.sort(), ['connect /dyn-1', 'connection /dyn-1']);
});

t.test('dynamic namespaces: of(function): a Socket.IO-style matcher (name, auth, next) => next(err, ok) works', async (t) => {
  const { server, url } = await startServer(t, declared);
  server.of((name, auth, next) => {
    if (name === '/boom') return next(new Error('matcher failed'));
    setImmediate(() => next(null, name.startsWith('/cb-') && auth.ok === true));
  });
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'connect', ns: '/cb-1', auth: { ok: true } }), { type: 'connected', ns: '/cb-1' });
  t.match(await c.request({ type: 'connect', ns: '/cb-2' }), { code: 'unknown_namespace' }, 'next(null, false)');
  t.match(await c.request({ type: 'connect', ns: '/boom' }), { code: 'unknown_namespace' }, 'next(err): not served, no internal');
  server.of(async (name) => {
    if (name === '/throws') throw new Error('nope');
    return name === '/async-ok';
  });
  t.match(await c.request({ type: 'connect', ns: '/async-ok' }), { type: 'connected' }, 'a promise-returning matcher');
  t.match(await c.request({ type: 'connect', ns: '/throws' }), { code: 'unknown_namespace' }, 'a rejecting matcher: not served');
  t.same(await c.request({ type: 'ping', id: 1 }), { type: 'pong', id: 1 });
});

t.test('dynamic namespaces: of(name) declared after a matching RegExp parent is its child: the parent auth middleware refuses', async (t) => {
  const { server, url } = await startServer(t, declared);
  const parent = server.of(/^\/dynamic-\d+$/);
  parent.use((socket, next) => next(socket.handshake.auth.token === 'good' ? undefined : new WsqError('unauthorized', 'a token is needed')));
  const order: string[] = [];
  parent.on('connection', () => order.push('parent'));
  const child = server.of('/dynamic-101');
  child.use((_s, next) => {
    order.push('child middleware');
    next();
  });
  child.on('connection', () => order.push('child'));
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'connect', ns: '/dynamic-101' }), { code: 'unauthorized', message: /a token is needed/ }, 'refused by the parent');
  t.equal(child.sockets.size, 0);
  t.same(order, [], 'the child middleware did not run after the refusal');
  t.match(await c.request({ type: 'connect', ns: '/dynamic-101', auth: { token: 'good' } }), { type: 'connected' });
  t.same(order, ['child middleware', 'parent', 'child'], "parent middleware, then the child's; parent listeners, then the child's");
  parent.emit('to-all', 1);
  t.match(await c.next('event'), { ns: '/dynamic-101', event: 'to-all' }, 'the parent broadcasts to the declared child');
});

t.test('dynamic namespaces: of(name) declared before a matching RegExp parent is attached to it too', async (t) => {
  const { server, url } = await startServer(t, declared);
  const child = server.of('/dynamic-7');
  const parent = server.of(/^\/dynamic-\d+$/);
  parent.use((_s, next) => next(new WsqError('forbidden', 'closed for maintenance')));
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'connect', ns: '/dynamic-7' }), { code: 'forbidden', message: /maintenance/ });
  t.equal(child.parent, parent);
  t.equal(server.sockets.parent, undefined, 'the main namespace is never attached');
});
