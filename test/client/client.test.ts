/** The client against a real server: emits, joins, acks, errors, namespaces, handlers. */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import { connect, WsqError, type WsqClient } from '../../lib/client/index.js';
import type { WelcomeFrame } from '../../protocol/frames.js';
import { next, within } from './util.js';

function client(t: { teardown(fn: () => unknown): void }, url: string, opts: Parameters<typeof connect>[1] = {}): WsqClient {
  const c = connect(url, { heartbeat: false, ...opts });
  t.teardown(() => c.close());
  return c;
}

t.test('connects with an identity, and a room emit reaches the other members with its offset', async (t) => {
  const { url } = await startServer(t);
  const ann = client(t, url, { client: 'ann' });
  const bob = client(t, url, { client: 'bob' });
  const welcome = await next<WelcomeFrame>(ann, 'open');
  t.equal(welcome.client, 'ann', '?client= reached the server');
  t.equal(ann.sid, welcome.sid);
  t.equal(ann.state, 'open');

  const room = bob.join('lobby');
  const joined = await room.ready();
  t.equal(joined.recovered, true);
  t.equal(room.state, 'joined');
  const got = next<unknown>(room, 'message');
  const annRoom = ann.join('lobby');
  await annRoom.ready();
  let annSawOwn = false;
  annRoom.on('message', () => (annSawOwn = true));
  const ack = await ann.emitWithAck('message', { text: 'hi' }, { room: 'lobby' });
  t.equal(ack.offset, 1);
  t.type(ack.epoch, 'string');
  t.equal(ack.duplicate, false);
  t.same(await got, { text: 'hi' });
  // echo: true delivers to the sender as well; by then the first one would have arrived too.
  const own = next<unknown>(annRoom, 'message');
  ann.emit('message', { text: 'me too' }, { room: 'lobby', echo: true });
  t.same(await own, { text: 'me too' });
  t.equal(annSawOwn, true);
});

t.test('the handler gets data and the message (offset, epoch, from, replay)', async (t) => {
  const { url } = await startServer(t);
  const pub = client(t, url);
  const sub = client(t, url);
  for (let i = 1; i <= 3; i++) await pub.emitWithAck('n', i, { room: 'hist' });
  const room = sub.join('hist', { since: 'earliest' });
  const seen: { data: unknown; offset?: number; replay: boolean; from?: string }[] = [];
  const all = new Promise<void>((resolve) =>
    room.on('n', (data, msg) => {
      seen.push({ data, offset: msg.offset, replay: msg.replay, from: msg.from });
      if (seen.length === 4) resolve();
    }),
  );
  const info = await room.ready();
  t.same(info.replay, { from: 1, to: 3, count: 3 });
  await pub.emitWithAck('n', 4, { room: 'hist' });
  await within(all, 5000, 'four messages');
  t.same(
    seen.map((s) => [s.data, s.offset, s.replay]),
    [
      [1, 1, true],
      [2, 2, true],
      [3, 3, true],
      [4, 4, false],
    ],
  );
  t.equal(seen[3]!.from, pub.sid);
  t.same(room.position, { since: 4, epoch: info.epoch });
});

t.test('a repeated key is stored once and acked with the first offset', async (t) => {
  const { url } = await startServer(t);
  const c = client(t, url);
  const a = await c.emitWithAck('order', { n: 1 }, { room: 'orders', key: 'order-1' });
  const b = await c.emitWithAck('order', { n: 1 }, { room: 'orders', key: 'order-1' });
  t.equal(b.offset, a.offset);
  t.equal(b.duplicate, true);
});

t.test('server errors reject with a WsqError carrying the code', async (t) => {
  const { url } = await startServer(t);
  const c = client(t, url);
  const e = await c.emitWithAck('nobody-handles-this', 1).catch((e: unknown) => e);
  t.ok(e instanceof WsqError);
  t.equal((e as WsqError).code, 'no_handler');
  t.match((e as WsqError).message, /nobody-handles-this/);

  // Durable without a client identity: the join is refused.
  const sub = c.join('q', { durable: true });
  const refused = await sub.ready().catch((e: unknown) => e);
  t.equal((refused as WsqError).code, 'unauthorized');
  t.equal(sub.state, 'failed');

  // An error without a request of ours goes to the client's "error" event.
  const err = next<WsqError>(c, 'error');
  c.emit('nobody-handles-this-either', 1);
  t.equal((await err).code, 'no_handler');
});

t.test('reserved event names are refused before anything is sent', async (t) => {
  const { url } = await startServer(t);
  const c = client(t, url);
  for (const name of ['$internal', 'connect', 'disconnect', 'newListener']) {
    const e = t.throws(() => c.emit(name as 'x', 1, { room: 'r' })) as WsqError;
    t.equal(e.code, 'bad_frame', name);
  }
  t.equal(((await c.emitWithAck('$x', 1).catch((e: WsqError) => e)) as WsqError).code, 'bad_frame');
});

t.test("namespaces: connect with auth, refused with the middleware's reason, rooms per namespace", async (t) => {
  const { server, url } = await startServer(t);
  server.of('/secure').use((socket, next) => (socket.handshake.auth.pass === 'open sesame' ? next() : next(new Error('wrong pass'))));
  const c = client(t, url);
  const good = c.ns('/secure', { auth: { pass: 'open sesame' } });
  await within(good.ready(), 5000, 'connected');
  t.equal(good.connected, true);
  t.equal(c.ns('/secure'), good, 'the same object for the same name');

  const other = client(t, url);
  const bad = other.ns('/secure', { auth: { pass: 'nope' } });
  const errEvent = next<WsqError>(bad, 'error');
  const e = (await bad.ready().catch((e: unknown) => e)) as WsqError;
  t.equal(e.code, 'unauthorized');
  t.match(e.message, /wrong pass/);
  t.equal((await errEvent).code, 'unauthorized');

  const chat = c.ns('/chat');
  const room = chat.join('lobby');
  await room.ready();
  const rootRoom = c.join('lobby');
  await rootRoom.ready();
  let leaked = false;
  rootRoom.on('m', () => (leaked = true));
  const got = next(room, 'm');
  const pub = client(t, url).ns('/chat');
  await pub.emitWithAck('m', 'in chat', { room: 'lobby' });
  t.equal(await got, 'in chat');
  t.equal(leaked, false, 'the same room name in "/" is another room');
});

t.test("handlers answer the server's emitWithAck; direct events and onAny", async (t) => {
  const { server, url } = await startServer(t);
  const answers: unknown[] = [];
  const ready = new Promise<void>((resolve) =>
    server.on('connection', (socket) => {
      socket.emit('hello', { sid: socket.id });
      void socket.emitWithAck('double', 21, { timeoutMs: 3000 }).then((a) => {
        answers.push(a);
        resolve();
      });
    }),
  );
  const c = connect(url, { heartbeat: false });
  t.teardown(() => c.close());
  const any: string[] = [];
  c.onAny((event) => any.push(event));
  const hello = next<{ sid: string }>(c, 'hello');
  c.on('double', async (n: number) => n * 2);
  t.type((await hello).sid, 'string');
  await within(ready, 5000, 'server got its answer');
  t.same(answers, [42]);
  t.same(any.sort(), ['double', 'hello']);
});

t.test('leave: no more messages from the room', async (t) => {
  const { url } = await startServer(t);
  const c = client(t, url);
  const pub = client(t, url);
  const room = c.join('r');
  await room.ready();
  let afterLeave = 0;
  room.on('m', () => afterLeave++);
  await room.leave();
  t.equal(room.state, 'left');
  const again = c.join('r');
  t.not(again, room, 'joining again makes a new subscription');
  await again.ready();
  const got = next(again, 'm');
  await pub.emitWithAck('m', 1, { room: 'r' });
  t.equal(await got, 1);
  t.equal(afterLeave, 0, 'the old subscription saw nothing (same connection, so it would have come first)');
});

t.test('close rejects what waits and stops for good', async (t) => {
  const { url } = await startServer(t);
  const c = connect(url, { heartbeat: false });
  const closed = next(c, 'close');
  const pending = c.emitWithAck('m', 1, { room: 'r' }).catch((e: unknown) => e); // queued: not open yet
  await c.close();
  t.same(await closed, { code: 1000, reason: 'client closed', willReconnect: false });
  t.equal(((await pending) as WsqError).code, 'closed');
  t.equal(c.state, 'closed');
  t.throws(() => c.emit('m', 1, { room: 'r' }), { code: 'closed' });
  t.equal(((await c.ready().catch((e: unknown) => e)) as WsqError).code, 'closed');
});

t.test("a handler that throws refuses the server's emitWithAck (the client nacks it)", async (t) => {
  const { server, url } = await startServer(t);
  const outcome = new Promise<unknown>((resolve) =>
    server.on('connection', (socket) => {
      socket.emitWithAck('risky', 1, { timeoutMs: 3000 }).then(
        () => resolve('resolved'),
        (e: { code?: string }) => resolve(e.code),
      );
    }),
  );
  const c = connect(url, { heartbeat: false });
  t.teardown(() => c.close());
  const failed = next<WsqError>(c, 'error');
  c.on('risky', () => {
    throw new Error('no can do');
  });
  t.equal(await within(outcome, 5000, 'server outcome'), 'forbidden', 'rejected at once, not after its timeout');
  t.equal((await failed).code, 'handler_failed');
});

t.test('the Node client sends its token as an Authorization header, never in the URL', async (t) => {
  const { server, url } = await startServer(t);
  const seen: { token?: string; query: Record<string, string> }[] = [];
  server.use((socket, next) => {
    seen.push({ token: socket.handshake.token, query: { ...socket.handshake.query } });
    next();
  });
  const c = client(t, url, { client: 'ann', token: 's3cret' });
  await c.ready();
  t.equal(seen[0]?.token, 's3cret', 'the server got the token');
  t.equal(seen[0]?.query.token, undefined, 'not in the query string (which ends up in logs)');
  t.equal(seen[0]?.query.client, 'ann');
});

t.test('a listener added with once() can be removed with off() before it runs', async (t) => {
  const { url } = await startServer(t);
  const c = client(t, url);
  let calls = 0;
  const onOpen = () => void calls++;
  c.once('open', onOpen);
  c.off('open', onOpen);
  await c.ready();
  t.equal(calls, 0);
});
