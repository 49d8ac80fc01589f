/**
 * What emits can rely on, against a real server: one namespace never holds up another,
 * a namespace the server disconnects fails its emits, oversized frames are refused before
 * sending, the sender never gets its own echo-less emits, and long timeouts are long.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import type { Socket } from '../../lib/index.js';
import type { WsqError } from '../../lib/client/index.js';
import { client, collect, deferred, next, startProxied, within } from './util.js';

t.test('a namespace still connecting does not hold up emits of other namespaces, volatile ones included', async (t) => {
  const { server, url } = await startServer(t);
  const gate = deferred();
  t.teardown(() => gate.resolve());
  server.of('/slow').use((_socket, next) => void gate.promise.then(() => next()));
  const sub = client(t, url);
  const room = sub.join('r');
  const got = collect(room);
  await room.ready();

  const c = client(t, url, { outboxLimit: 1 });
  await c.ready();
  const slow = c.ns('/slow');
  slow.emit('m', 'waits for /slow', { room: 'r' });
  t.equal(c.outboxSize, 1, 'queued until /slow is connected');
  const ack = await within(c.emitWithAck('m', 'root', { room: 'r' }), 5000, 'an emit in "/"');
  t.equal(ack.offset, 1);
  c.emit('m', 'volatile', { room: 'r', volatile: true }); // sent at once, never queued
  await got.upTo(2);
  t.same(got.seen, ['root', 'volatile']);
  gate.resolve();
  await within(slow.ready(), 5000, '/slow connected');
  t.equal(c.outboxSize, 0, 'its emit went out in turn');
});

t.test('a namespace the server disconnects ends its rooms, fails its emits, and stays out until entered again', async (t) => {
  const { server, proxy } = await startProxied(t);
  const sockets: Socket[] = [];
  server.of('/chat').on('connection', (s) => sockets.push(s));
  const c = client(t, proxy.url);
  const chat = c.ns('/chat');
  const room = chat.join('lobby');
  await room.ready();

  const gone = next(chat, 'disconnected');
  sockets[0]!.disconnect();
  await gone;
  t.equal(room.state, 'left', 'its room ended with it');
  t.equal(chat.connected, false);
  const e = (await chat.emitWithAck('m', 1, { room: 'lobby', timeoutMs: 3000 }).catch((e: unknown) => e)) as WsqError;
  t.equal(e.code, 'not_connected', 'refused at once, not left to time out');
  t.throws(() => chat.emit('m', 2, { room: 'lobby' }), { code: 'not_connected' });
  t.throws(() => chat.join('other'), { code: 'not_connected' });
  t.equal((await c.emitWithAck('m', 'root', { room: 'x' })).offset, 1, '"/" is not affected');

  // A reconnect does not bring it back behind the application's back.
  const closed = next(c, 'close');
  proxy.drop();
  await closed;
  await within(next(c, 'reconnected'), 5000, 'reconnected');
  t.equal(sockets.length, 1, 'not re-entered after the reconnect');
  t.equal(c.outboxSize, 0);

  // client.ns(name) enters it again, with its handlers.
  const back = next(chat, 'connected');
  t.equal(c.ns('/chat'), chat);
  await within(back, 5000, 'connected again');
  t.equal(sockets.length, 2);
  const again = chat.join('lobby');
  t.not(again, room);
  await again.ready();
  t.equal((await chat.emitWithAck('m', 3, { room: 'lobby' })).offset, 1);
});

t.test("an emit larger than the server's maxPayload is refused before sending, and the connection stays", async (t) => {
  const { url } = await startServer(t, { maxPayload: 1024 });
  const c = client(t, url);
  let closes = 0;
  c.on('close', () => closes++);
  // Made before the welcome (the limit is not known yet): checked when it is sent.
  const early = c.emitWithAck('m', 'x'.repeat(5000), { room: 'r', key: 'big' }).catch((e: unknown) => e);
  const welcome = await c.ready();
  t.equal(welcome.maxPayload, 1024);
  const e1 = (await within(early, 5000, 'the early emit')) as WsqError;
  t.equal(e1.code, 'payload_too_large');
  t.match(e1.message, /1024/);

  t.throws(() => c.emit('m', 'x'.repeat(2000), { room: 'r' }), { code: 'payload_too_large' });
  // 600 UTF-16 code units, 1200 bytes of UTF-8: the limit counts bytes.
  const e2 = (await c.emitWithAck('m', 'é'.repeat(600), { room: 'r', key: 'k' }).catch((e: unknown) => e)) as WsqError;
  t.equal(e2.code, 'payload_too_large');
  t.equal(c.outboxSize, 0);

  const ok = await c.emitWithAck('m', 'small', { room: 'r' });
  t.equal(ok.offset, 1, 'nothing large was stored');
  t.equal(closes, 0, 'never disconnected');
  t.equal(c.state, 'open');
});

t.test("with echo off, the sender's own stored emits never reach its handler, before or after a reconnect", async (t) => {
  const { url, proxy } = await startProxied(t);
  const a = client(t, proxy.url);
  const b = client(t, url);
  const room = a.join('r');
  const got = collect(room);
  await room.ready();
  await b.emitWithAck('m', 1, { room: 'r' });
  await got.upTo(1);
  await a.emitWithAck('m', 'own-1', { room: 'r' });
  a.emit('m', 'own-2', { room: 'r' }); // a plain emit too
  await a.emitWithAck('m', 'own-3', { room: 'r', key: 'own-3' });

  const closed = next(a, 'close');
  proxy.drop();
  await closed;
  await within(next(a, 'reconnected'), 5000, 'reconnected');
  await b.emitWithAck('m', 5, { room: 'r' });
  await got.upTo(2);
  t.same(got.seen, [1, 5], 'the same view as without the reconnect');
  t.equal(room.position?.since, 5);
});

t.test('emitWithAck with timeoutMs Infinity or beyond 2^31-1 ms waits for the ack', async (t) => {
  const { server, url } = await startServer(t);
  const gate = deferred();
  t.teardown(() => gate.resolve());
  server.on('connection', (socket) => socket.on('slow', (n, reply) => void gate.promise.then(() => reply(n))));
  const c = client(t, url);
  await c.ready();
  const settled: string[] = [];
  const forever = c.emitWithAck('slow', 1, { timeoutMs: Infinity });
  const huge = c.emitWithAck('slow', 2, { timeoutMs: 2 ** 31 });
  for (const [name, p] of [
    ['Infinity', forever],
    ['2^31', huge],
  ] as const)
    p.catch((e: WsqError) => settled.push(`${name}: ${e.code}`));
  // A timer that overflows fires after 1 ms; give it time to do so.
  await new Promise<void>((r) => setTimeout(r, 30));
  t.same(settled, [], 'neither timed out');
  gate.resolve();
  // R4.6.4: an emit to the server's handlers resolves with the answer itself (Socket.IO's emitWithAck).
  t.equal(await within(forever, 5000, 'Infinity'), 1);
  t.equal(await within(huge, 5000, '2^31'), 2);
});

t.test('"/" disconnected by the server fails its emits until client.ns("/") enters it again', async (t) => {
  const { server, url } = await startServer(t);
  const sockets: Socket[] = [];
  server.on('connection', (s) => sockets.push(s));
  const c = client(t, url);
  await c.ready();
  await within(c.emitWithAck('m', 0, { room: 'r' }), 5000, 'first emit'); // the connection listener ran
  const gone = next(c.ns('/'), 'disconnected');
  sockets[0]!.disconnect();
  await gone;
  t.equal(((await c.emitWithAck('m', 1, { room: 'r' }).catch((e: unknown) => e)) as WsqError).code, 'not_connected');
  const back = next(c.ns('/'), 'connected'); // the same connection: a `connect` frame takes it back in
  await within(back, 5000, '"/" entered again');
  t.equal((await c.emitWithAck('m', 2, { room: 'r' })).offset, 2);
  t.equal(sockets.length, 2, 'the server saw it connect again');
});
