/**
 * Issue 10 item 1: arguments and acks as Socket.IO has them (PROTOCOL.md R4.5.10, R4.5.11, R4.6.4,
 * R6.5.4, R6.6.2), written from Socket.IO's documented behaviour ("Emitting events": any number of
 * arguments; acknowledgements as a callback last; `timeout(ms)` with the error first;
 * `emitWithAck` resolving to the answer) and checked on the wire with raw frames, as a wscat user
 * or another client library sees them. The SDK's side is in args-sdk.test.ts.
 */
import t from 'tap';
import type { Socket } from '../../lib/index.js';
import { clientSocket, rawClient, startServer } from '../helpers/server.js';

t.test('R4.5.10 a client emit with args reaches the handler as separate arguments, then reply', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const got: unknown[][] = [];
  server.on('connection', (socket) => {
    socket.on('add', (a: number, b: number, reply: (...x: unknown[]) => void) => {
      got.push([a, b]);
      reply(a + b);
    });
    socket.on('none', (reply: (...x: unknown[]) => void) => reply('called with no arguments'));
    socket.on('one', (data: unknown, reply: (...x: unknown[]) => void) => reply(data));
  });
  const c = await rawClient(t, url);
  await c.sync();
  t.same(await c.request({ type: 'emit', event: 'add', args: [1, 2], id: 1 }), { type: 'ack', id: 1, data: 3 });
  t.same(got, [[1, 2]]);
  t.same(await c.request({ type: 'emit', event: 'none', args: [], id: 2 }), { type: 'ack', id: 2, data: 'called with no arguments' }, 'args: [] is zero arguments');
  t.same(await c.request({ type: 'emit', event: 'one', data: { a: 1 }, id: 3 }), { type: 'ack', id: 3, data: { a: 1 } }, 'data is one argument, as before');
  t.same(await c.request({ type: 'emit', event: 'one', id: 4 }), { type: 'ack', id: 4, data: null }, 'no data and no args is one argument, null, as before');
  t.same(await c.request({ type: 'emit', event: 'one', args: ['x'], id: 5 }), { type: 'ack', id: 5, data: 'x' }, 'args of one value is that value');
  const both = await c.request({ type: 'emit', event: 'one', data: 1, args: [1, 2], id: 6 });
  t.match(both, { type: 'error', code: 'bad_frame', id: 6, message: /either "data".*or "args"/ }, 'data and args together is bad_frame');
  const notArray = await c.request({ type: 'emit', event: 'one', args: { a: 1 }, id: 7 });
  t.match(notArray, { type: 'error', code: 'bad_frame', id: 7, message: /"args"/ });
});

t.test('R6.6.2 reply(...answers): none, one (data), several (args)', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  server.on('connection', (socket) => {
    socket.on('zero', (reply: (...x: unknown[]) => void) => reply());
    socket.on('two', (reply: (...x: unknown[]) => void) => reply('a', { b: 2 }));
    socket.on('undef', (reply: (...x: unknown[]) => void) => reply(undefined, 1));
  });
  const c = await rawClient(t, url);
  await c.sync();
  t.same(await c.request({ type: 'emit', event: 'zero', args: [], id: 1 }), { type: 'ack', id: 1 }, 'no answer: an ack without data, as before');
  t.same(await c.request({ type: 'emit', event: 'two', args: [], id: 2 }), { type: 'ack', id: 2, args: ['a', { b: 2 }] });
  t.same(await c.request({ type: 'emit', event: 'undef', args: [], id: 3 }), { type: 'ack', id: 3, args: [null, 1] }, 'undefined answers become null (JSON)');
});

t.test('R6.5.4 socket.emit(ev, a, b): args on the wire, data the first; one value stays data', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const { c, socket } = await clientSocket(t, server, url);
  socket.emit('pair', 'x', { y: 1 });
  t.match(await c.next('event'), { type: 'event', ns: '/', event: 'pair', data: 'x', args: ['x', { y: 1 }] });
  socket.emit('single', { z: 2 });
  const single = await c.next('event');
  t.same(Object.keys(single), ['type', 'ns', 'event', 'data', 'ts'], 'one value: the frame of today, no args field');
  t.same(single.data, { z: 2 });
  socket.emit('nothing');
  t.match(await c.next('event'), { event: 'nothing', data: null, args: [] }, 'zero arguments: args: [] (data null for clients without args)');
});

t.test('R4.6.4 socket.emit(ev, ...args, cb): cb gets every answer of the ack', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const { c, socket } = await clientSocket(t, server, url);
  const answers = new Promise<unknown[]>((resolve) => socket.emit('q', 1, 2, (...a: unknown[]) => resolve(a)));
  const ev = await c.next('event');
  t.match(ev, { event: 'q', args: [1, 2], id: Number });
  c.send({ type: 'ack', id: ev.id, args: ['yes', 42] });
  t.same(await answers, ['yes', 42]);
  const noData = new Promise<unknown[]>((resolve) => socket.emit('cb-only', (...a: unknown[]) => resolve(a)));
  const ev2 = await c.next('event');
  t.match(ev2, { event: 'cb-only', args: [], id: Number }, 'emit(ev, cb): no data, the callback is not sent');
  c.send({ type: 'ack', id: ev2.id, data: 'ok' });
  t.same(await noData, ['ok']);
});

t.test('R4.6.4 socket.timeout(ms).emit(ev, a, cb): error first; (null, ...answers) when answered', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const { c, socket } = await clientSocket(t, server, url);
  const answered = new Promise<unknown[]>((resolve) => socket.timeout(3000).emit('ask', 'x', (...a: unknown[]) => resolve(a)));
  const ev = await c.next('event');
  c.send({ type: 'ack', id: ev.id, args: [1, 2] });
  t.same(await answered, [null, 1, 2]);
  const late = new Promise<unknown[]>((resolve) => socket.timeout(50).emit('ask', 'y', (...a: unknown[]) => resolve(a)));
  const ev2 = await c.next('event');
  const [err] = await late;
  t.match(err, { code: 'timeout' }, 'no answer within ms: the callback gets a timeout error first');
  c.send({ type: 'ack', id: ev2.id, data: 'too late' });
  t.match(await c.next('error'), { code: 'unknown_id', details: { delivery: ev2.id } }, 'a late ack is unknown_id');
});

t.test('R4.6.4 emitWithAck resolves with the answer itself (the first of several); timeout(ms).emitWithAck', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const { c, socket } = await clientSocket(t, server, url);
  const p = socket.emitWithAck('sum', 1, 2, 3);
  const ev = await c.next('event');
  t.match(ev, { event: 'sum', args: [1, 2, 3], id: Number });
  c.send({ type: 'ack', id: ev.id, args: [6, 'extra'] });
  t.equal(await p, 6, 'several answers: the first, as Socket.IO');
  const q = socket.timeout(3000).emitWithAck('one', { a: 1 });
  const ev2 = await c.next('event');
  t.same(Object.keys(ev2), ['type', 'ns', 'event', 'data', 'ts', 'id'], 'one argument: data, as before');
  c.send({ type: 'ack', id: ev2.id, data: 'fine' });
  t.equal(await q, 'fine');
  const r = socket.emitWithAck('opts', 'v', { timeoutMs: 40 }).catch((e: unknown) => e);
  t.match(await c.next('event'), { event: 'opts', data: 'v' }, 'a trailing { timeoutMs } is the options, not an argument');
  t.match(await r, { code: 'timeout' });
});

t.test('R4.5.11 room emits keep their arguments: live, volatile, direct, stored and replayed', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  t.equal((await b.request({ type: 'join', room: 'r', id: 1 })).type, 'joined');
  t.match(await a.request({ type: 'emit', room: 'r', event: 'm', args: ['one', 2, { three: 3 }], id: 1 }), { type: 'ack', offset: 1 });
  const live = await b.next('event');
  t.match(live, { room: 'r', event: 'm', data: 'one', args: ['one', 2, { three: 3 }], offset: 1 });
  await a.request({ type: 'emit', room: 'r', event: 'v', args: [1, 2], volatile: true, id: 2 });
  t.match(await b.next('event'), { event: 'v', data: 1, args: [1, 2] }, 'volatile');
  await a.request({ type: 'emit', room: b.welcome.sid, event: 'd', args: [], id: 3 });
  t.match(await b.next('event'), { event: 'd', data: null, args: [] }, 'direct');
  await a.request({ type: 'emit', room: 'r', event: 'm', data: { $wsq: { args: [9] } }, id: 4 });
  t.same((await b.next('event')).data, { $wsq: { args: [9] } }, 'one value that looks like the stored envelope is delivered as sent');
  await a.request({ type: 'emit', room: 'r', event: 'plain', data: 'p', id: 5 });
  const plain = await b.next('event');
  t.notOk('args' in plain, 'a one-value emit has no args');
  const c = await rawClient(t, url);
  const joined = await c.request({ type: 'join', room: 'r', since: 0, id: 1 });
  t.match(joined, { replay: { from: 1, to: 3 } });
  const replay = await c.collect((f) => f.type === 'event', 3);
  t.match(replay[0], { offset: 1, data: 'one', args: ['one', 2, { three: 3 }], replay: true }, 'the replay gives the same arguments');
  t.same(replay[1]!.data, { $wsq: { args: [9] } });
  t.notOk('args' in replay[1]!);
  t.same(replay[2]!.data, 'p');
});

t.test('R4.5.11 server library: publish and socket.on args in a namespace', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const seen: unknown[][] = [];
  server.of('/n').on('connection', (socket: Socket) => socket.on('e', (...all: unknown[]) => seen.push(all.slice(0, -1))));
  const { c } = await clientSocket(t, server, url, '/n');
  await c.request({ type: 'emit', ns: '/n', event: 'e', args: [[1], [2]], id: 9 }).catch(() => undefined);
  await c.sync();
  t.same(seen, [[[1], [2]]], 'arrays as arguments stay separate arguments');
});
