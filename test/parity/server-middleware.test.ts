/**
 * Issue 10 item 4: middleware and listeners as Socket.IO has them, over real sockets —
 * `socket.use` per-packet middleware (`next(err)` → the socket's `error` event), the any-listener
 * families (incoming and outgoing), `new_namespace`, `of(name, fn)`, dynamic namespaces by RegExp
 * and by `(name, auth, next)` whose parent middleware applies to every child, and
 * `cleanupEmptyChildNamespaces`. Written from Socket.IO's documented behaviour.
 */
import t from 'tap';
import type { Namespace } from '../../lib/index.js';
import { clientSocket, rawClient, startServer } from '../helpers/server.js';

const declared = { namespaces: 'declared' as const };

t.test('issue 10 item 4: socket.use runs for every packet in order, may change it, and next() passes it on', async (t) => {
  const { server, url } = await startServer(t, declared);
  const seen: string[] = [];
  server.on('connection', (socket) => {
    socket.use((packet, next) => {
      seen.push(`mw1:${packet[0]}`);
      next();
    });
    socket.use(async (packet, next) => {
      await new Promise((r) => setImmediate(r));
      seen.push(`mw2:${packet[0]}`);
      if (packet[0] === 'double') packet[1] = (packet[1] as number) * 2; // change what the handler gets
      next();
    });
    socket.onAny((event) => seen.push(`any:${event}`));
    socket.on('double', (n, reply) => reply(n));
    socket.use((packet, next) => {
      if (packet[0] === 'pair') packet.push('added');
      next();
    });
    socket.on('pair', (...args: unknown[]) => (args.at(-1) as (...a: unknown[]) => void)(...args.slice(0, -1)));
  });
  const { c } = await clientSocket(t, server, url);
  t.match(await c.request({ type: 'emit', event: 'double', data: 21 }), { type: 'ack', data: 42 }, 'the handler got the changed packet');
  t.same(seen, ['any:double', 'mw1:double', 'mw2:double'], 'onAny first, then each middleware in order (as in Socket.IO)');
  t.match(
    await c.request({ type: 'emit', event: 'pair', args: [1, 2] }),
    { type: 'ack', args: [1, 2, 'added'] },
    'the packet is [event, ...args]; an added argument reaches the handler',
  );
});

t.test('issue 10 item 4: socket.use next(err) drops the packet and fires the socket\'s "error" event', async (t) => {
  const { server, url } = await startServer(t, declared);
  let handled = 0;
  const errors: Error[] = [];
  server.on('connection', (socket) => {
    socket.use(([event], next) => (event === 'admin' ? next(new Error('admins only')) : next()));
    socket.use(([event]) => {
      if (event === 'boom') throw new Error('thrown');
      return undefined;
    });
    socket.on('error', (err: Error) => errors.push(err));
    socket.on('admin', () => handled++);
    socket.on('boom', () => handled++);
  });
  const { c, socket } = await clientSocket(t, server, url);
  const refused = await c.request({ type: 'emit', event: 'admin', data: 1 });
  t.match(refused, { type: 'error', code: 'forbidden', message: /admins only/ }, "the client's ack is an error frame (it would otherwise wait forever)");
  c.send({ type: 'emit', event: 'boom' });
  await c.sync();
  t.equal(handled, 0, 'no handler ran');
  t.same(
    errors.map((e) => e.message),
    ['admins only', 'thrown'],
    'the error event got each error (a throw counts as next(err))',
  );
  t.ok(socket.connected, 'the socket stays connected (the application decides, as in Socket.IO)');
});

t.test('issue 10 item 4: onAny, prependAny, offAny, listenersAny', async (t) => {
  const { server, url } = await startServer(t, declared);
  const { c, socket } = await clientSocket(t, server, url);
  const order: string[] = [];
  const first = (e: string): number => order.push(`first:${e}`);
  const second = (e: string): number => order.push(`second:${e}`);
  socket.onAny(second);
  socket.prependAny(first);
  t.same(socket.listenersAny(), [first, second], 'listenersAny in call order');
  c.send({ type: 'emit', event: 'ping!', data: 1 });
  await c.sync();
  t.same(order, ['first:ping!', 'second:ping!']);
  socket.offAny(first);
  t.same(socket.listenersAny(), [second]);
  socket.offAny();
  t.same(socket.listenersAny(), [], 'offAny() removes every catch-all listener');
});

t.test('issue 10 item 4: onAnyOutgoing, prependAnyOutgoing, offAnyOutgoing, listenersAnyOutgoing see what is sent to the client', async (t) => {
  const { server, url } = await startServer(t, declared);
  const { c, socket } = await clientSocket(t, server, url);
  const out: unknown[][] = [];
  const a = (event: string, ...args: unknown[]): number => out.push(['a', event, ...args]);
  const b = (event: string, ...args: unknown[]): number => out.push(['b', event, ...args]);
  socket.onAnyOutgoing(b);
  socket.prependAnyOutgoing(a);
  t.same(socket.listenersAnyOutgoing(), [a, b]);
  socket.emit('direct', { n: 1 });
  server.emit('everyone', 2); // a broadcast reaching this socket
  socket.join('news');
  await server.of('/').publish('news', 'stored', 3); // a room event
  await c.next((f) => f.event === 'stored');
  t.same(out, [
    ['a', 'direct', { n: 1 }],
    ['b', 'direct', { n: 1 }],
    ['a', 'everyone', 2],
    ['b', 'everyone', 2],
    ['a', 'stored', 3],
    ['b', 'stored', 3],
  ]);
  socket.offAnyOutgoing(a);
  t.same(socket.listenersAnyOutgoing(), [b]);
  socket.offAnyOutgoing();
  t.same(socket.listenersAnyOutgoing(), []);
  socket.emit('quiet');
  t.equal(out.length, 6, 'no listener, nothing reported');
});

t.test('issue 10 item 4: new_namespace fires for declared and dynamic namespaces; of(name, fn) adds a connection listener', async (t) => {
  const { server, url } = await startServer(t, declared);
  const made: string[] = [];
  server.on('new_namespace', (nsp: Namespace) => made.push(nsp.name));
  let connected = 0;
  server.of('/orders', (socket) => {
    connected++;
    socket.emit('hi', socket.nsp.name);
  });
  server.of(/^\/team-\d+$/);
  t.same(made, ['/orders'], 'of(name) made one; a parent is not a namespace');
  const { c } = await clientSocket(t, server, url, '/orders');
  t.match(await c.next((f) => f.event === 'hi'), { data: '/orders' });
  t.equal(connected, 1, 'of(name, fn): fn is a connection listener');
  await clientSocket(t, server, url, '/team-7');
  t.same(made, ['/orders', '/team-7'], 'a dynamic child made on connect fires new_namespace');
  server.of('/orders');
  t.same(made.length, 2, 'looking a namespace up again does not fire it');
});

t.test('issue 10 item 4: dynamic namespaces by RegExp and by (name, auth, next); parent middleware and listeners apply to every child', async (t) => {
  const { server, url } = await startServer(t, declared);
  const byFn = server.of((name, auth, next) => next(null, name.startsWith('/room-') && auth.pass === 'ok'));
  const byRe = server.of(/^\/re-\w+$/);
  const ran: string[] = [];
  for (const parent of [byFn, byRe]) {
    parent.use((socket, next) => {
      ran.push(socket.nsp.name);
      next();
    });
    parent.on('connection', (socket) => socket.emit('child', socket.nsp.name));
  }
  const a = await clientSocket(t, server, url, '/room-1', { auth: { pass: 'ok' } });
  const b = await clientSocket(t, server, url, '/room-2', { auth: { pass: 'ok' } });
  const r = await clientSocket(t, server, url, '/re-x');
  t.match(await a.c.next((f) => f.event === 'child'), { ns: '/room-1', data: '/room-1' });
  t.match(await b.c.next((f) => f.event === 'child'), { ns: '/room-2', data: '/room-2' });
  t.match(await r.c.next((f) => f.event === 'child'), { ns: '/re-x', data: '/re-x' });
  t.same(ran, ['/room-1', '/room-2', '/re-x'], 'the parent middleware ran for each child');
  const refused = await (await rawClient(t, url)).request({ type: 'connect', ns: '/room-3', auth: { pass: 'no' } });
  t.match(refused, { type: 'error', code: 'unknown_namespace' }, 'next(null, false): not served');
  byFn.emit('all', 1); // a parent's emit reaches every child
  t.match(await a.c.next((f) => f.event === 'all'), { ns: '/room-1' });
  t.match(await b.c.next((f) => f.event === 'all'), { ns: '/room-2' });
});

t.test('issue 10 item 4: cleanupEmptyChildNamespaces removes a child namespace when its last socket leaves', async (t) => {
  for (const cleanup of [true, false]) {
    const { server, url } = await startServer(t, { ...declared, cleanupEmptyChildNamespaces: cleanup });
    server.of(/^\/dyn-\d+$/);
    // Raw connects (server.of('/dyn-1') would declare the name, and a declared namespace is kept).
    const join = async () => {
      const c = await rawClient(t, url);
      t.match(await c.request({ type: 'connect', ns: '/dyn-1' }), { type: 'connected' });
      return c;
    };
    const a = await join();
    const b = await join();
    t.ok(server.namespaceNames().includes('/dyn-1'));
    t.match(await a.request({ type: 'disconnect', ns: '/dyn-1' }), { type: 'disconnected' });
    t.ok(server.namespaceNames().includes('/dyn-1'), 'one socket left: the child stays');
    const child = server.namespace('/dyn-1')!;
    await b.close();
    for (let i = 0; i < 100 && child.sockets.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    t.equal(child.sockets.size, 0);
    t.equal(
      server.namespaceNames().includes('/dyn-1'),
      !cleanup,
      cleanup ? 'with the option the empty child is gone at once' : 'without it the child stays until the heartbeat sweep',
    );
    await join();
    t.ok(server.namespaceNames().includes('/dyn-1'), 'the name is served again on the next connect');
  }
});

t.test('issue 10 item 4 (SDK side): client onAny, prependAny, listenersAny, offAny()', async (t) => {
  const { connect } = await import('../../lib/client/index.js');
  const { server, url } = await startServer(t, declared);
  server.on('connection', (socket) => socket.emit('hello', 1));
  const client = connect(url, { reconnect: false, autoConnect: false });
  t.teardown(() => client.close());
  const order: string[] = [];
  const later = (event: string): number => order.push(`later:${event}`);
  const first = (event: string): number => order.push(`first:${event}`);
  client.onAny(later);
  client.prependAny(first);
  t.same(client.listenersAny(), [first, later], 'listenersAny in call order');
  const got = new Promise<void>((resolve) => client.on('hello', () => resolve()));
  client.connect();
  await got;
  t.same(order, ['first:hello', 'later:hello'], 'prependAny runs first');
  client.offAny();
  t.same(client.listenersAny(), [], 'offAny() removes them all');
});
