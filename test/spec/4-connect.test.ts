/**
 * PROTOCOL.md §4.1 connect and §4.2 disconnect (and §3's rule that a frame naming a
 * namespace the connection has not connected is answered with not_connected).
 */
import t from 'tap';
import { WsqError } from '../../lib/errors.js';
import { rawClient, startServer } from '../helpers/server.js';

t.test('4.1 connect answers connected with ns and the request id', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  t.same(await c.request({ type: 'connect', ns: '/chat', id: 1 }), { type: 'connected', ns: '/chat', id: 1 });
  c.send({ type: 'connect', ns: '/other' });
  t.same(await c.next('connected'), { type: 'connected', ns: '/other' }, 'no id when none was sent');
});

t.test('4.1 connect is idempotent: a second connect answers connected again', async (t) => {
  const { server, url } = await startServer(t);
  const c = await rawClient(t, url);
  let connections = 0;
  server.of('/chat').on('connection', () => connections++);
  t.same(await c.request({ type: 'connect', ns: '/chat', id: 'a' }), { type: 'connected', ns: '/chat', id: 'a' });
  t.same(await c.request({ type: 'connect', ns: '/chat', id: 'b' }), { type: 'connected', ns: '/chat', id: 'b' });
  t.equal(connections, 1, 'the namespace saw one connection');
  t.equal(server.of('/chat').sockets.size, 1);
  t.same(await c.request({ type: 'connect', ns: '/', id: 'c' }), { type: 'connected', ns: '/', id: 'c' }, '"/" is connected from the start');
});

t.test('4.1 a second connect while the first is in the middleware: one socket, both answered', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let runs = 0;
  let connections = 0;
  server
    .of('/slow')
    .use(async (_s, next) => {
      runs++;
      await gate;
      next();
    })
    .on('connection', () => connections++);
  const c = await rawClient(t, url);
  c.send({ type: 'connect', ns: '/slow', id: 1 });
  c.send({ type: 'connect', ns: '/slow', id: 2 });
  await c.sync(); // both connects were dispatched; the first waits in the middleware
  release();
  t.same(await c.next((f) => f.id === 1), { type: 'connected', ns: '/slow', id: 1 });
  t.same(await c.next((f) => f.id === 2), { type: 'connected', ns: '/slow', id: 2 });
  t.equal(runs, 1, 'the middleware ran once');
  t.equal(connections, 1, 'one connection event');
  t.equal(server.of('/slow').sockets.size, 1);
});

t.test('R4.1.7 frames waiting for a connect still in its middleware are bounded: past 1,000 each is answered rate_limited; the rest run in order after connected', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared', limits: { maxRoomsPerConnection: 0 } });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  server.of('/slow').use(async (_s, next) => {
    await gate;
    next();
  });
  const c = await rawClient(t, url);
  c.send({ type: 'connect', ns: '/slow', id: 'c' });
  for (let i = 0; i < 1002; i++) c.send({ type: 'join', ns: '/slow', room: `r${i}`, id: i });
  const refused = await c.next((f) => f.type === 'error' && f.code === 'rate_limited');
  t.equal(refused.id, 1000, 'the 1,001st waiting frame is refused, with its id');
  t.match(refused.message, /More than 1000 frames for namespace "\/slow"/);
  release();
  t.same(await c.next((f) => f.id === 'c'), { type: 'connected', ns: '/slow', id: 'c' });
  const last = await c.next((f) => f.id === 999, 10_000);
  t.equal(last.type, 'joined', 'the 1,000 that waited were handled after connected');
  await c.sync();
  t.equal(c.seen((f) => f.type === 'error').length, 2, 'frames 1,000 and 1,001 were refused, no other');
});

t.test('4.1 connect to a namespace the server does not serve → unknown_namespace', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  server.of('/chat');
  const c = await rawClient(t, url);
  const err = await c.request({ type: 'connect', ns: '/nope', id: 9 });
  t.match(err, { type: 'error', code: 'unknown_namespace', id: 9 });
  t.same(await c.request({ type: 'connect', ns: '/chat', id: 10 }), { type: 'connected', ns: '/chat', id: 10 }, 'a declared one is served');
  t.match(await c.request({ type: 'emit', ns: '/nope', event: 'x', room: 'r' }), { code: 'not_connected' }, 'the refused namespace stays unconnected');
});

t.test('4.1 the stand-alone service (namespaces: any) serves any namespace', async (t) => {
  const { url } = await startServer(t, { namespaces: 'any' });
  const c = await rawClient(t, url);
  for (const ns of ['/a', '/b/c', '/x-y_z']) t.same(await c.request({ type: 'connect', ns, id: ns }), { type: 'connected', ns, id: ns });
});

t.test('4.1 a namespace name must start with "/" → bad_frame', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'connect', ns: 'chat', id: 1 }), { type: 'error', code: 'bad_frame', id: 1 });
  t.match(await c.request({ type: 'connect', id: 2 }), { type: 'error', code: 'bad_frame', id: 2 }, 'ns is required');
});

t.test('4.1 auth is passed to the namespace middleware', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const seen: unknown[] = [];
  server.of('/secure').use((socket, next) => {
    seen.push(socket.handshake.auth);
    next(socket.handshake.auth.key === 'k1' ? undefined : new Error('auth.key is wrong'));
  });
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'connect', ns: '/secure', auth: { key: 'nope' }, id: 1 }), { type: 'error', code: 'unauthorized', id: 1 });
  t.same(await c.request({ type: 'connect', ns: '/secure', auth: { key: 'k1' }, id: 2 }), { type: 'connected', ns: '/secure', id: 2 });
  t.same(seen, [{ key: 'nope' }, { key: 'k1' }]);
  t.match(await c.request({ type: 'connect', ns: '/secure', auth: 'k1', id: 3 }), { code: 'bad_frame', id: 3 }, 'auth must be an object');
});

t.test('4.1 a middleware error with code forbidden is answered with forbidden', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  server.of('/admin').use((_s, next) => next(new WsqError('forbidden', 'only admins may connect')));
  const c = await rawClient(t, url);
  const err = await c.request({ type: 'connect', ns: '/admin', id: 1 });
  t.match(err, { type: 'error', code: 'forbidden', id: 1, message: /only admins may connect/ });
});

t.test('4.2 disconnect answers disconnected and leaves every room of that namespace', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  for (const c of [a, b]) {
    await c.request({ type: 'connect', ns: '/chat' });
    t.match(await c.request({ type: 'join', ns: '/chat', room: 'r' }), { type: 'joined', ns: '/chat', room: 'r' });
  }
  await a.request({ type: 'join', room: 'r' });
  t.same(await a.request({ type: 'disconnect', ns: '/chat', id: 5 }), { type: 'disconnected', ns: '/chat', id: 5 });
  t.match(await b.request({ type: 'emit', ns: '/chat', room: 'r', event: 'after' }), { type: 'ack' });
  await b.request({ type: 'emit', room: 'r', event: 'main' });
  t.match(await a.next((f) => f.type === 'event'), { ns: '/', event: 'main' }, 'rooms of other namespaces are kept');
  await a.sync();
  t.same(
    a.seen((f) => f.type === 'event' && f.ns === '/chat'),
    [],
    'no event of the left namespace arrives',
  );
  t.match(await a.request({ type: 'join', ns: '/chat', room: 'r' }), { type: 'error', code: 'not_connected' }, 'the namespace must be connected again');
  t.same(await a.request({ type: 'connect', ns: '/chat', id: 6 }), { type: 'connected', ns: '/chat', id: 6 });
  t.match(await a.request({ type: 'join', ns: '/chat', room: 'r' }), { type: 'joined' });
});

t.test('4.2 disconnect of "/" leaves its rooms; connect brings it back', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  await a.request({ type: 'join', room: 'r' });
  t.same(await a.request({ type: 'disconnect', ns: '/', id: 1 }), { type: 'disconnected', ns: '/', id: 1 });
  t.match(await a.request({ type: 'emit', room: 'r', event: 'x' }), { code: 'not_connected' }, 'a frame without ns means "/"');
  await b.request({ type: 'emit', room: 'r', event: 'gone' });
  await a.sync();
  t.same(
    a.seen((f) => f.type === 'event'),
    [],
    'no longer in the room',
  );
  t.same(await a.request({ type: 'ping', id: 'p' }), { type: 'pong', id: 'p' }, 'ping names no namespace and keeps working');
  a.send({ type: 'ack', id: 77 });
  t.match(await a.next('error'), { code: 'unknown_id' }, 'so do ack and nack');
  t.same(await a.request({ type: 'connect', ns: '/', id: 2 }), { type: 'connected', ns: '/', id: 2 });
  t.match(await a.request({ type: 'join', room: 'r' }), { type: 'joined', ns: '/', room: 'r' });
  await b.request({ type: 'emit', room: 'r', event: 'back' });
  t.match(await a.next('event'), { event: 'back' });
});

t.test('4.2 disconnect of a namespace not connected → not_connected', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'disconnect', ns: '/never', id: 3 }), { type: 'error', code: 'not_connected', id: 3 });
  t.same(await c.request({ type: 'ping', id: 4 }), { type: 'pong', id: 4 });
});

t.test('4.1 a frame naming a namespace not connected → not_connected (join, leave, emit)', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'join', ns: '/chat', room: 'r', id: 1 }), { type: 'error', code: 'not_connected', id: 1 }, 'join before connect');
  t.match(await c.request({ type: 'leave', ns: '/chat', room: 'r', id: 2 }), { type: 'error', code: 'not_connected', id: 2 });
  t.match(await c.request({ type: 'emit', ns: '/chat', room: 'r', event: 'e', id: 3 }), { type: 'error', code: 'not_connected', id: 3 });
  t.match(await c.request({ type: 'emit', ns: '/chat', event: 'e', id: 4 }), { type: 'error', code: 'not_connected', id: 4 });
  await c.request({ type: 'connect', ns: '/chat' });
  t.match(await c.request({ type: 'join', ns: '/chat', room: 'r', id: 5 }), { type: 'joined', ns: '/chat', id: 5 }, 'after connect it works');
});

t.test('4.1 rooms of different namespaces are separate', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  await a.request({ type: 'connect', ns: '/chat' });
  await a.request({ type: 'join', ns: '/chat', room: 'r' });
  await b.request({ type: 'emit', room: 'r', event: 'in-main' });
  await a.sync();
  t.same(
    a.seen((f) => f.type === 'event'),
    [],
    'an emit to "r" of "/" does not reach "r" of "/chat"',
  );
});

t.test('4.1 a namespace made on demand is dropped once unused, and comes back with its rooms', async (t) => {
  const { server, url } = await startServer(t, { heartbeatMs: 20, timeoutMs: 10_000 });
  const c = await rawClient(t, url);
  t.equal((await c.request({ type: 'connect', ns: '/tmp-room' })).type, 'connected');
  t.equal((await c.request({ type: 'emit', ns: '/tmp-room', room: 'r', event: 'e', data: 1 })).offset, 1);
  t.equal((await c.request({ type: 'disconnect', ns: '/tmp-room' })).type, 'disconnected');
  const deadline = Date.now() + 5000;
  while (server.namespaceNames().includes('/tmp-room') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.notOk(server.namespaceNames().includes('/tmp-room'), 'dropped from memory');
  t.ok(server.namespaceNames().includes('/'), 'the main namespace stays');
  t.equal((await c.request({ type: 'connect', ns: '/tmp-room' })).type, 'connected', 'it can be entered again');
  t.equal((await c.request({ type: 'join', ns: '/tmp-room', room: 'r', since: 0 })).replay?.count, 1, 'its room log is still in the store');
  t.equal((await c.request({ type: 'emit', ns: '/tmp-room', room: 'r', event: 'e' })).offset, 2, 'offsets continue');
});

t.test("R4.1.1 an emit a namespace middleware makes arrives after connected; a refused socket's never arrives", async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  for (const ns of ['/ok', '/no']) {
    server.of(ns).use((socket, next) => {
      socket.emit('early', ns);
      next(ns === '/no' ? new Error('refused') : undefined);
    });
  }
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'connect', ns: '/no', id: 1 }), { type: 'error', code: 'unauthorized', id: 1 });
  t.same(await c.request({ type: 'connect', ns: '/ok', id: 2 }), { type: 'connected', ns: '/ok', id: 2 });
  t.match(await c.next('event'), { ns: '/ok', event: 'early', data: '/ok' });
  await c.sync();
  const events = c.seen((f) => f.type === 'event');
  t.same(
    events.map((f) => f.ns),
    ['/ok'],
    "only the accepted namespace's emit, after its connected",
  );
  t.ok(c.frames.findIndex((f) => f.id === 2) < c.frames.indexOf(events[0]!), 'connected came first');
});
