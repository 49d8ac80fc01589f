/**
 * PROTOCOL.md §4.6 ack, §4.7 nack and §4.8 ping: the client's answers to the server's
 * ids (emitWithAck requests and durable/group deliveries), and pong.
 */
import t from 'tap';
import { WsqError } from '../../lib/errors.js';
import type { Socket } from '../../lib/socket.js';
import { rawClient, startServer } from '../helpers/server.js';

t.test("4.6 ack answers the server's emitWithAck with data", async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const c = await rawClient(t, url);
  await c.sync();
  const socket = server.sockets.sockets.get(c.welcome.sid) as Socket;
  const answer = socket.emitWithAck('confirm?', { order: 42 }, { timeoutMs: 3000 });
  const ev = await c.next('event');
  t.match(ev, { type: 'event', ns: '/', event: 'confirm?', data: { order: 42 }, id: Number });
  c.send({ type: 'ack', id: ev.id, data: { ok: true } });
  t.same(await answer, { ok: true });
  c.send({ type: 'ack', id: ev.id, data: 1 });
  t.match(await c.next('error'), { type: 'error', code: 'unknown_id', details: { delivery: ev.id } }, 'a second ack of the same id → unknown_id (D5: no id, details.delivery)');
  const bare = socket.emitWithAck('again');
  const ev2 = await c.next('event');
  t.notSame(ev2.id, ev.id, 'every request gets its own id');
  c.send({ type: 'ack', id: ev2.id });
  t.equal(await bare, undefined, 'an ack without data resolves with undefined');
});

t.test('4.6 ack of an unknown id → unknown_id', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  c.send({ type: 'ack', id: 999 });
  t.match(await c.next('error'), { type: 'error', code: 'unknown_id', details: { delivery: 999 } });
  c.send({ type: 'ack', id: 'nope' });
  t.match(await c.next('error'), { code: 'unknown_id', details: { delivery: 'nope' } });
  t.same(await c.request({ type: 'ping', id: 1 }), { type: 'pong', id: 1 });
});

t.test('4.6 an ack that comes after emitWithAck timed out → unknown_id', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const c = await rawClient(t, url);
  await c.sync();
  const socket = server.sockets.sockets.get(c.welcome.sid) as Socket;
  const p = socket.emitWithAck('slow', null, { timeoutMs: 50 });
  const ev = await c.next('event');
  const err = await p.catch((e: unknown) => e);
  t.ok(err instanceof WsqError);
  t.equal((err as WsqError).code, 'timeout');
  c.send({ type: 'ack', id: ev.id });
  t.match(await c.next('error'), { code: 'unknown_id', details: { delivery: ev.id } });
});

t.test('4.6 ack requires an id → bad_frame', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  c.send({ type: 'ack' });
  t.match(await c.next('error'), { code: 'bad_frame' });
  t.match(await c.request({ type: 'ack', id: 5, extra: 1 }), { code: 'bad_frame', id: 5 });
});

t.test('4.6 ack completes a group delivery; 4.7 nack redelivers it with the next attempt', async (t) => {
  const { url } = await startServer(t);
  const worker = await rawClient(t, url);
  const producer = await rawClient(t, url);
  t.match(await worker.request({ type: 'join', room: 'jobs', group: 'w' }), { type: 'joined', group: 'w' });
  await producer.request({ type: 'emit', room: 'jobs', event: 'job', data: 1 });
  const first = await worker.next('event');
  t.match(first, { event: 'job', data: 1, offset: 1, id: Number, attempt: 1 });
  worker.send({ type: 'nack', id: first.id });
  const again = await worker.next('event');
  t.match(again, { event: 'job', data: 1, offset: 1, attempt: 2 }, 'redelivered after nack');
  t.not(again.id, first.id, 'with a new delivery id');
  worker.send({ type: 'ack', id: again.id });
  await worker.sync();
  t.same(
    worker.seen((f) => f.type === 'error'),
    [],
    'the ack is accepted silently',
  );
  worker.send({ type: 'ack', id: again.id });
  t.match(await worker.next('error'), { code: 'unknown_id', details: { delivery: again.id } }, 'an acked delivery is done');
});

t.test('4.7 nack with requeue: false dead-letters at once', async (t) => {
  const { url } = await startServer(t);
  const worker = await rawClient(t, url);
  const watcher = await rawClient(t, url);
  await watcher.request({ type: 'join', room: '$dead:jobs' });
  await worker.request({ type: 'join', room: 'jobs', group: 'w' });
  await worker.request({ type: 'emit', room: 'jobs', event: 'job', data: 'poison' });
  const d = await worker.next('event');
  worker.send({ type: 'nack', id: d.id, requeue: false });
  t.match(await watcher.next('event'), { room: '$dead:jobs', event: 'job', data: 'poison', from: worker.welcome.sid });
  await worker.sync();
  t.same(
    worker.seen((f) => f.type === 'event' && f.attempt === 2),
    [],
    'not redelivered',
  );
});

t.test('4.7 nack of a request refuses it: emitWithAck rejects with WsqError forbidden', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const c = await rawClient(t, url);
  await c.sync();
  const socket = server.sockets.sockets.get(c.welcome.sid) as Socket;
  const p = socket.emitWithAck('may-i?', null, { timeoutMs: 3000 }).catch((e: unknown) => e);
  const ev = await c.next('event');
  c.send({ type: 'nack', id: ev.id });
  const err = await p;
  t.ok(err instanceof WsqError);
  t.equal((err as WsqError).code, 'forbidden');
  c.send({ type: 'ack', id: ev.id });
  t.match(await c.next('error'), { code: 'unknown_id', details: { delivery: ev.id } }, 'the refused request is no longer waiting');
});

t.test('4.7 nack of an unknown id → unknown_id; bad fields → bad_frame', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  c.send({ type: 'nack', id: 12 });
  t.match(await c.next('error'), { type: 'error', code: 'unknown_id', details: { delivery: 12 } });
  c.send({ type: 'nack', id: 13, delayMs: -1 });
  t.match(await c.next('error'), { code: 'bad_frame', id: 13 });
  c.send({ type: 'nack', id: 14, requeue: 'no' });
  t.match(await c.next('error'), { code: 'bad_frame', id: 14 });
});

t.test('4.8 ping is answered with pong, echoing an integer or string id', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  c.send({ type: 'ping' });
  t.same(await c.next('pong'), { type: 'pong' });
  t.same(await c.request({ type: 'ping', id: 0 }), { type: 'pong', id: 0 });
  t.same(await c.request({ type: 'ping', id: -5 }), { type: 'pong', id: -5 });
  const long = 'i'.repeat(64);
  t.same(await c.request({ type: 'ping', id: long }), { type: 'pong', id: long }, 'a 64-character id');
});

t.test('4.8 a ping with a bad id or an unknown field → bad_frame', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  c.send({ type: 'ping', id: 'i'.repeat(65) });
  t.match(await c.next('error'), { code: 'bad_frame' }, 'a 65-character id');
  c.send({ type: 'ping', id: 1.5 });
  t.match(await c.next('error'), { code: 'bad_frame' }, 'a fractional id');
  c.send({ type: 'ping', id: { x: 1 } });
  t.match(await c.next('error'), { code: 'bad_frame' }, 'an object id');
  t.match(await c.request({ type: 'ping', id: 3, data: 1 }), { type: 'error', code: 'bad_frame', id: 3 }, 'an unknown field');
});
