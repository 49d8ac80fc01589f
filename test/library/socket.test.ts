/**
 * The server library's Socket (design §5): handlers with reply, emit, emitWithAck with a
 * timeout, to(room) and broadcast excluding the sender, join/leave, onAny, disconnect.
 */
import t from 'tap';
import { WsqError } from '../../lib/errors.js';
import { clientSocket, startServer } from '../helpers/server.js';

const declared = { namespaces: 'declared' as const };

t.test('socket.on(event, (data, reply)): sync and async replies become ack.data', async (t) => {
  const { server, url } = await startServer(t, declared);
  server.on('connection', (socket) => {
    socket.on('echo', (data, reply) => reply(data));
    socket.on('later', async (data, reply) => {
      await new Promise((r) => setImmediate(r));
      reply({ later: data });
    });
    socket.on('twice', (_d, reply) => {
      reply(1);
      reply(2);
    });
    socket.on('silent', () => undefined);
  });
  const { c } = await clientSocket(t, server, url);
  t.same(await c.request({ type: 'emit', event: 'echo', data: [1, 'a'], id: 1 }), { type: 'ack', id: 1, data: [1, 'a'] });
  t.same(await c.request({ type: 'emit', event: 'later', data: 5, id: 2 }), { type: 'ack', id: 2, data: { later: 5 } });
  t.same(await c.request({ type: 'emit', event: 'twice', id: 3 }), { type: 'ack', id: 3, data: 1 }, 'only the first reply counts');
  c.send({ type: 'emit', event: 'silent', id: 4 });
  await c.sync();
  t.same(
    c.seen((f) => f.id === 4),
    [],
    'a handler that never replies sends no ack',
  );
  t.same(c.seen((f) => f.id === 3).length, 1);
});

t.test('socket.emit sends an event frame to that client only', async (t) => {
  const { server, url } = await startServer(t, declared);
  const a = await clientSocket(t, server, url);
  const b = await clientSocket(t, server, url);
  a.socket.emit('hello', { to: 'a' });
  const ev = await a.c.next('event');
  t.match(ev, { type: 'event', ns: '/', event: 'hello', data: { to: 'a' }, ts: Number });
  t.notOk('room' in ev || 'offset' in ev || 'id' in ev);
  a.socket.emit('bare');
  t.match(await a.c.next('event'), { event: 'bare', data: null });
  await b.c.sync();
  t.same(
    b.c.seen((f) => f.type === 'event'),
    [],
  );
});

t.test('R4.5.1 socket.emit of a reserved name throws (as in Socket.IO) and sends nothing', async (t) => {
  const { server, url } = await startServer(t, declared);
  const { c, socket } = await clientSocket(t, server, url);
  let local = 0;
  socket.on('disconnecting', () => local++);
  t.throws(() => socket.emit('disconnecting', 'test'), { name: 'TypeError', message: /"disconnecting" is a reserved event name/ });
  t.throws(() => socket.emit('$internal'), TypeError);
  t.equal(((await socket.emitWithAck('disconnect').catch((e: unknown) => e)) as Error).name, 'TypeError', 'emitWithAck rejects');
  await c.sync();
  t.equal(local, 0, 'no local listener ran either');
  t.same(
    c.seen((f) => f.type === 'event'),
    [],
  );
});

t.test("socket.emitWithAck resolves with the client's answer; times out with WsqError timeout", async (t) => {
  const { server, url } = await startServer(t, declared);
  const { c, socket } = await clientSocket(t, server, url);
  const p = socket.emitWithAck('question', { q: 1 }, { timeoutMs: 3000 });
  const ev = await c.next('event');
  t.match(ev, { event: 'question', data: { q: 1 }, id: Number });
  c.send({ type: 'ack', id: ev.id, data: 'answer' });
  t.equal(await p, 'answer');

  const slow = socket.emitWithAck('unanswered', null, { timeoutMs: 30 });
  await c.next((f) => f.event === 'unanswered');
  const err = await slow.catch((e: unknown) => e);
  t.ok(err instanceof WsqError, 'a WsqError');
  t.equal((err as WsqError).code, 'timeout');

  const viaTimeout = socket.timeout(30).emitWithAck('also-unanswered');
  t.equal(((await viaTimeout.catch((e: unknown) => e)) as WsqError).code, 'timeout', 'socket.timeout(ms).emitWithAck');
});

t.test('socket.emitWithAck rejects when the client goes away first', async (t) => {
  const { server, url } = await startServer(t, declared);
  const { c, socket } = await clientSocket(t, server, url);
  const p = socket.emitWithAck('q', null, { timeoutMs: 5000 }).catch((e: unknown) => e);
  await c.next('event');
  await c.close();
  const err = await p;
  t.ok(err instanceof Error, 'rejected');
});

t.test('socket.to(room).emit reaches the room but not the sender; socket.broadcast reaches everyone else', async (t) => {
  const { server, url } = await startServer(t, declared);
  const a = await clientSocket(t, server, url);
  const b = await clientSocket(t, server, url);
  const c = await clientSocket(t, server, url);
  for (const x of [a, b]) x.socket.join('r');
  a.socket.to('r').emit('room-news', 1);
  t.match(await b.c.next('event'), { event: 'room-news', data: 1 });
  a.socket.broadcast.emit('everyone', 2);
  t.match(await b.c.next('event'), { event: 'everyone', data: 2 });
  t.match(await c.c.next('event'), { event: 'everyone', data: 2 });
  await a.c.sync();
  await c.c.sync();
  t.same(
    a.c.seen((f) => f.type === 'event'),
    [],
    'the sender gets neither',
  );
  t.same(
    c.c.seen((f) => f.event === 'room-news'),
    [],
    'a non-member does not get the room emit',
  );
});

t.test('socket.join / socket.leave change live membership for room emits from clients', async (t) => {
  const { server, url } = await startServer(t, declared);
  const a = await clientSocket(t, server, url);
  const b = await clientSocket(t, server, url);
  a.socket.join(['x', 'y']);
  t.same([...a.socket.rooms].sort(), [a.socket.id, 'x', 'y'].sort());
  await b.c.request({ type: 'emit', room: 'x', event: 'to-x' });
  t.match(await a.c.next('event'), { event: 'to-x', room: 'x', offset: 1 });
  a.socket.leave('x');
  await b.c.request({ type: 'emit', room: 'x', event: 'after-leave' });
  await a.c.sync();
  t.same(
    a.c.seen((f) => f.event === 'after-leave'),
    [],
  );
});

t.test('onAny sees every incoming emit as (event, ...args) as in Socket.IO (R4.5.10), room emits with { room } last', async (t) => {
  const { server, url } = await startServer(t, declared);
  const seen: unknown[][] = [];
  server.on('connection', (socket) => {
    socket.onAny((event, ...args) => seen.push([event, ...args]));
    socket.on('handled', (_d, reply) => reply('ok'));
  });
  const { c } = await clientSocket(t, server, url);
  t.match(await c.request({ type: 'emit', event: 'handled', data: 1, id: 1 }), { type: 'ack', data: 'ok' });
  c.send({ type: 'emit', event: 'unhandled', data: 2 });
  c.send({ type: 'emit', event: 'several', args: [4, 'five'] });
  await c.request({ type: 'emit', event: 'in-room', data: 3, room: 'r' });
  await c.sync();
  t.same(seen, [
    ['handled', 1],
    ['unhandled', 2],
    ['several', 4, 'five'],
    ['in-room', 3, { room: 'r' }],
  ]);
  t.same(
    c.seen((f) => f.type === 'error'),
    [],
    'an emit without id taken by onAny is not a no_handler',
  );
  t.match(await c.request({ type: 'emit', event: 'unhandled', id: 2 }), { code: 'no_handler' }, 'with an id it still needs a handler to answer');
});

t.test('socket.disconnect(): the client gets disconnected and stays connected; (true) closes 4000', async (t) => {
  const { server, url } = await startServer(t, declared);
  server.of('/chat');
  const { c, socket } = await clientSocket(t, server, url, '/chat');
  socket.disconnect();
  t.same(await c.next('disconnected'), { type: 'disconnected', ns: '/chat' });
  t.match(await c.request({ type: 'join', ns: '/chat', room: 'r' }), { code: 'not_connected' });
  const main = server.sockets.sockets.get(c.welcome.sid)!;
  main.disconnect(true);
  t.equal((await c.closed).code, 4000);
});
