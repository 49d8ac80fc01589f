/**
 * Issue 10 item 3: Socket.IO's emit cheatsheet on the server library, over real sockets —
 * `socket.volatile`, `socket.except`, `socket.local`, `io.local`, the server-level aliases,
 * volatile dropped when the transport is not writable (R2.3.6), reserved event names.
 * Written from Socket.IO's documented behaviour (docs "Emit cheatsheet", "Server API").
 */
import t from 'tap';
import type { RawClient } from '../helpers/raw-client.js';
import { clientSocket, startServer, type Tap } from '../helpers/server.js';
import { connect } from '../../lib/client/index.js';
import type { WsqServer } from '../../lib/index.js';

const declared = { namespaces: 'declared' as const };

/** Three raw clients on "/" and their server sockets. */
async function three(t: Tap, server: WsqServer, url: string) {
  return Promise.all([clientSocket(t, server, url), clientSocket(t, server, url), clientSocket(t, server, url)]);
}

/** Which of the clients got an event named `event` (after a sync round-trip each, so absent means not sent). */
async function receivers(clients: RawClient[], event: string): Promise<number[]> {
  await Promise.all(clients.map((c) => c.sync()));
  return clients.flatMap((c, i) => (c.seen((f) => f.type === 'event' && f.event === event).length > 0 ? [i] : []));
}

/** Answer every event frame that asks for an ack with `answer(frame)`. */
function autoAck(c: RawClient, answer: (f: Record<string, unknown>) => unknown): void {
  c.ws.on('message', (d: Buffer) => {
    const f = JSON.parse(d.toString());
    if (f.type === 'event' && f.id !== undefined) c.send({ type: 'ack', id: f.id, data: answer(f) });
  });
}

t.test('issue 10 item 3, R2.3.6: socket.volatile.emit is dropped while the transport is not writable, sent when it is', async (t) => {
  const { server, url } = await startServer(t, declared);
  const { c, socket } = await clientSocket(t, server, url);
  const dropped = server.stats.volatileDropped;
  // A 256 KiB frame passes the TCP socket's high-water mark: until it drains (a later tick), it is not writable.
  socket.emit('big', 'x'.repeat(256 * 1024));
  socket.volatile.emit('v1', 1);
  socket.emit('after', 2); // not volatile: never dropped
  t.equal(server.stats.volatileDropped, dropped + 1, 'the volatile emit was dropped and counted');
  await c.next((f) => f.event === 'after');
  await c.sync();
  t.same(
    c.seen((f) => f.event === 'v1'),
    [],
    'v1 never arrived',
  );
  socket.volatile.emit('v2', 3); // a fresh tick, nothing queued: writable again
  t.match(await c.next((f) => f.event === 'v2'), { type: 'event', event: 'v2', data: 3 }, 'sent when writable');
  await c.close();
  await new Promise((r) => setImmediate(r));
  t.doesNotThrow(() => socket.volatile.emit('v3', 4), 'a volatile emit to a closed transport is dropped silently');
});

t.test('issue 10 item 3, R2.3.6: io.volatile broadcasts skip the one socket whose transport is not writable', async (t) => {
  const { server, url } = await startServer(t, declared);
  const [a, b] = await Promise.all([clientSocket(t, server, url), clientSocket(t, server, url)]);
  a.socket.emit('big', 'x'.repeat(256 * 1024));
  server.volatile.emit('tick', 1);
  server.sockets.volatile.emit('tick2', 2);
  t.same(await receivers([a.c, b.c], 'tick'), [1], 'only the writable socket got io.volatile.emit');
  t.same(await receivers([a.c, b.c], 'tick2'), [1], 'and nsp.volatile.emit');
});

t.test('issue 10 item 3: socket.except, socket.local, socket.broadcast, io.local, io.in, io.to, io.except', async (t) => {
  const { server, url } = await startServer(t, declared);
  const [a, b, c] = await three(t, server, url);
  a.socket.join('r1');
  b.socket.join('r1');
  const clients = [a.c, b.c, c.c];
  a.socket.except('r1').emit('e1');
  t.same(await receivers(clients, 'e1'), [2], 'socket.except(room): everyone but the room and the sender');
  a.socket.local.emit('e2');
  t.same(await receivers(clients, 'e2'), [1, 2], 'socket.local: everyone but the sender, this node');
  a.socket.broadcast.emit('e3');
  t.same(await receivers(clients, 'e3'), [1, 2], 'socket.broadcast: everyone but the sender');
  server.local.emit('e4');
  t.same(await receivers(clients, 'e4'), [0, 1, 2], 'io.local: everyone on this node');
  server.in('r1').emit('e5');
  t.same(await receivers(clients, 'e5'), [0, 1], 'io.in(room)');
  server.to('r1').except(b.socket.id).emit('e6');
  t.same(await receivers(clients, 'e6'), [0], 'io.to(room).except(sid)');
  server.except('r1').emit('e7');
  t.same(await receivers(clients, 'e7'), [2], 'io.except(room)');
  a.socket.to(c.socket.id).emit('e8');
  t.same(await receivers(clients, 'e8'), [2], 'socket.to(sid): a private message');
  server.compress(false).emit('e9');
  t.same(await receivers(clients, 'e9'), [0, 1, 2], 'io.compress(false)');
  a.socket.volatile.emit('e10');
  t.same(await receivers(clients, 'e10'), [0], 'socket.volatile.emit goes to that client only');
});

t.test('issue 10 item 3: io.fetchSockets, io.socketsJoin, io.socketsLeave, io.disconnectSockets', async (t) => {
  const { server, url } = await startServer(t, declared);
  const [a, b, c] = await three(t, server, url);
  const clients = [a.c, b.c, c.c];
  t.same((await server.fetchSockets()).map((s) => s.id).sort(), [a.socket.id, b.socket.id, c.socket.id].sort(), 'io.fetchSockets: every socket');
  await server.socketsJoin('all');
  server.to('all').emit('j1');
  t.same(await receivers(clients, 'j1'), [0, 1, 2], 'io.socketsJoin: every socket joined, at once');
  await server.in(a.socket.id).socketsLeave('all');
  server.to('all').emit('j2');
  t.same(await receivers(clients, 'j2'), [1, 2], 'io.in(sid).socketsLeave');
  t.same((await server.in('all').fetchSockets()).length, 2, 'io.in(room).fetchSockets');
  await server.in(c.socket.id).disconnectSockets();
  t.match(await c.c.next((f) => f.type === 'disconnected'), { type: 'disconnected', ns: '/' }, 'io.in(sid).disconnectSockets: that socket left "/"');
  t.equal(c.socket.connected, false);
  await server.disconnectSockets(true);
  t.equal((await a.c.closed).code, 4000, 'io.disconnectSockets(true) closes the connections');
  t.equal((await b.c.closed).code, 4000);
});

t.test('issue 10 item 3: io.emitWithAck and io.timeout(ms).emitWithAck collect every answer', async (t) => {
  const { server, url } = await startServer(t, declared);
  const [a, b] = await Promise.all([clientSocket(t, server, url), clientSocket(t, server, url)]);
  autoAck(a.c, () => 'A');
  autoAck(b.c, () => 'B');
  t.same(((await server.emitWithAck('q?', 1)) as string[]).sort(), ['A', 'B'], 'io.emitWithAck');
  t.same(((await server.timeout(2000).emitWithAck('q?', 2)) as string[]).sort(), ['A', 'B'], 'io.timeout(ms).emitWithAck');
  const silent = await clientSocket(t, server, url);
  const err = await server
    .timeout(200)
    .emitWithAck('q?', 3)
    .then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
  t.match(err, { code: 'timeout' }, 'a socket that never answers: the timeout error');
  t.ok(silent.socket.connected);
});

t.test('issue 10 item 3: reserved event names throw when the application emits them (as in Socket.IO)', async (t) => {
  const { server, url } = await startServer(t, declared);
  const { c, socket } = await clientSocket(t, server, url);
  for (const name of ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']) {
    t.throws(() => socket.emit(name, 1), { name: 'TypeError', message: /reserved event name/ }, `socket.emit("${name}") throws`);
    t.throws(() => socket.to('r').emit(name, 1), /reserved event name/, `socket.to(room).emit("${name}") throws`);
    t.throws(() => server.emit(name, 1), /reserved event name/, `io.emit("${name}") throws`);
  }
  for (const name of ['connection', 'connect', 'new_namespace']) {
    t.throws(() => server.of('/').emit(name), /reserved event name/, `nsp.emit("${name}") throws`);
    t.throws(() => server.serverSideEmit(name), /reserved event name/, `io.serverSideEmit("${name}") throws`);
  }
  await t.rejects(socket.emitWithAck('disconnect'), /reserved event name/, 'socket.emitWithAck of a reserved name rejects');
  // EventEmitter's own newListener/removeListener bookkeeping still works.
  const added: string[] = [];
  socket.on('newListener', (name: string) => added.push(name));
  const fn = (): void => undefined;
  socket.on('hello', fn);
  socket.off('hello', fn);
  t.same(added, ['hello'], 'newListener still fires for the application');
  await c.sync();
  t.same(
    c.seen((f) => f.type === 'event'),
    [],
    'nothing reserved reached the client',
  );
});

t.test("issue 10 item 3: a client's volatile emit reaches the server's handlers; while disconnected it is dropped, not queued", async (t) => {
  const { server, url } = await startServer(t, declared);
  const got: unknown[] = [];
  let wake = (): void => undefined;
  server.on('connection', (socket) =>
    socket.on('typing', (data) => {
      got.push(data);
      wake();
    }),
  );
  const client = connect(url, { reconnect: false, autoConnect: false });
  t.teardown(() => client.close());
  client.emit('typing', 'early', { volatile: true });
  t.equal(client.outboxSize, 0, 'not connected: the volatile emit was dropped, not queued');
  client.emit('typing', 'queued'); // a plain emit waits in the outbox
  t.equal(client.outboxSize, 1);
  client.connect();
  await client.ready();
  client.emit('typing', 'live', { volatile: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} of 2 emits within 3 s`)), 3000);
    wake = () => {
      if (got.length < 2) return;
      clearTimeout(timer);
      resolve();
    };
    wake();
  });
  t.same(got, ['queued', 'live'], 'the queued plain emit, then the volatile one; never the dropped one');
});

t.test('issue 10 item 3: send/write ("message"), socket.disconnected, allSockets', async (t) => {
  const { server, url } = await startServer(t, declared);
  const [a, b] = await Promise.all([clientSocket(t, server, url), clientSocket(t, server, url)]);
  a.socket.send('one');
  a.socket.write('two');
  server.send('three');
  server.write('four');
  const got = await a.c.collect((f) => f.type === 'event' && f.event === 'message', 4);
  t.same(
    got.map((f) => f.data),
    ['one', 'two', 'three', 'four'],
    'send and write emit "message"',
  );
  t.same([...(await server.sockets.allSockets())].sort(), [a.socket.id, b.socket.id].sort(), 'allSockets: the sids');
  t.same([...(await server.allSockets())].sort(), [a.socket.id, b.socket.id].sort(), 'io.allSockets');
  t.equal(b.socket.disconnected, false);
  b.socket.disconnect();
  t.equal(b.socket.disconnected, true, 'disconnected is !connected');
});

t.test('issue 10 item 3: broadcasts carry every argument; io.timeout(ms).emit(ev, cb) collects the answers, error first', async (t) => {
  const { server, url } = await startServer(t, declared);
  const [a, b] = await Promise.all([clientSocket(t, server, url), clientSocket(t, server, url)]);
  server.emit('multi', 1, 'two', { three: 3 });
  t.match(await a.c.next((f) => f.event === 'multi'), { args: [1, 'two', { three: 3 }] }, 'io.emit(ev, a, b, c): every argument');
  server.to(b.socket.id).emit('one', { x: 1 });
  const one = await b.c.next((f) => f.event === 'one');
  t.same([one.data, 'args' in one], [{ x: 1 }, false], 'one argument is still plain `data`');
  autoAck(a.c, () => 'A');
  autoAck(b.c, () => 'B');
  const [err, answers] = await new Promise<[Error | null, unknown[]]>((resolve) => server.timeout(2000).emit('q?', 1, (e: Error | null, r: unknown[]) => resolve([e, r])));
  t.equal(err, null);
  t.same((answers as string[]).sort(), ['A', 'B'], 'io.timeout(ms).emit(ev, …, cb): (null, answers)');
  await clientSocket(t, server, url); // never answers
  const [late] = await new Promise<[Error | null, unknown[]]>((resolve) => server.timeout(200).emit('q?', (e: Error | null, r: unknown[]) => resolve([e, r])));
  t.match(late, { code: 'timeout' }, 'a socket that does not answer in time: the error first');
});
