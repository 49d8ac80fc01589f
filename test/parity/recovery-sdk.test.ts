/**
 * Connection state recovery through the client SDK (issue 10 item 7, PROTOCOL.md R2.7.5, R2.7.8,
 * R2.7.9), written from Socket.IO's documented client behaviour: `socket.on("connect", () =>
 * socket.recovered ? … : …)`, the same `socket.id`, and missed events delivered to the handlers.
 */
import t from 'tap';
import { connect, type WsqClient } from '../../lib/client/index.js';
import type { Socket, WsqServer } from '../../lib/index.js';
import { startServer, type Tap } from '../helpers/server.js';
import { once, next } from '../helpers/events.js';

/** A fixed ~200 ms reconnect delay, so the test can send while the client is away. */
const SLOW = { baseMs: 200, capMs: 200, random: () => 0.99 } as const;

function sdk(t: Tap, url: string): WsqClient {
  const c = connect(url, { heartbeat: false, backoff: SLOW });
  t.teardown(() => c.close());
  return c;
}

/** Values of `event` a handler receives, and a wait for the n-th. */
function received(target: { on(e: string, fn: (d: unknown) => unknown): unknown }, event: string) {
  const seen: unknown[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  target.on(event, (d) => {
    seen.push(d);
    for (const w of waiters) if (seen.length >= w.n) w.resolve();
  });
  return {
    seen,
    upTo: (n: number) =>
      Promise.race([
        new Promise<void>((resolve) => (seen.length >= n ? resolve() : waiters.push({ n, resolve }))),
        new Promise<void>((_, reject) => setTimeout(() => reject(new Error(`${n} "${event}" not within 5 s (got ${seen.length})`)), 5000)),
      ]),
  };
}

async function connected(server: WsqServer, c: WsqClient): Promise<Socket> {
  await c.ready();
  return server.sockets.sockets.get(c.id!)!;
}

t.test('R2.7.9 R2.7.5: the SDK recovers after a drop: same id, client.recovered, and the handlers get what was sent meanwhile', async (t) => {
  const { server, url } = await startServer(t, { connectionStateRecovery: {} });
  const c = sdk(t, url);
  const news = received(c, 'news');
  const socket = await connected(server, c);
  socket.join('headlines');
  socket.data = { user: 'ann' };
  const id = c.id;
  t.equal(c.recovered, false, 'a new session');

  const away = next(c, 'disconnect');
  socket.conn.terminate();
  await away;
  t.equal(c.id, undefined, 'no id while disconnected');
  socket.emit('news', 1); // the old socket object, as an application holding it would
  server.to('headlines').emit('news', 2);
  server.to(id!).emit('news', 3);

  const serverSide = once<Socket>(server.sockets, 'connection');
  await next(c, 'connect');
  t.equal(c.recovered, true, 'client.recovered');
  t.equal(c.id, id, 'the same id');
  const s2 = await serverSide;
  t.equal(s2.recovered, true);
  t.same(s2.data, { user: 'ann' });
  await news.upTo(3);
  t.same(news.seen, [1, 2, 3], 'missed events, in order, once');
});

t.test('R2.7.8: a room the client joined itself resumes with since: what was stored while away arrives once', async (t) => {
  const { server, url } = await startServer(t, { connectionStateRecovery: {} });
  const c = sdk(t, url);
  const room = c.join('feed');
  const got = received(room, 'm');
  await room.ready();
  const socket = await connected(server, c);
  await server.publish('feed', 'm', 1);
  await got.upTo(1);
  const away = next(c, 'disconnect');
  socket.conn.terminate();
  await away;
  await server.publish('feed', 'm', 2);
  await server.publish('feed', 'm', 3);
  await next(c, 'reconnected');
  t.equal(c.recovered, true);
  await got.upTo(3);
  await server.publish('feed', 'm', 4);
  await got.upTo(4);
  t.same(got.seen, [1, 2, 3, 4], 'each message once: recovery does not resend what the join replays');
});

t.test('R2.7.5: a namespace of the SDK is recovered at its connect, with its missed events', async (t) => {
  const { server, url } = await startServer(t, { connectionStateRecovery: {} });
  const c = sdk(t, url);
  const chat = c.ns('/chat');
  const said = received(chat, 'said');
  await chat.ready();
  await c.ready();
  const s = server.of('/chat').sockets.get(c.id!)!;
  s.join('lobby');
  const away = next(c, 'disconnect');
  s.conn.terminate();
  await away;
  server.of('/chat').to('lobby').emit('said', 'while away');
  const back = once<Socket>(server.of('/chat'), 'connection');
  await said.upTo(1);
  t.same(said.seen, ['while away']);
  const s2 = await back;
  t.equal(s2.recovered, true);
  t.ok(s2.rooms.has('lobby'));
});

t.test('R2.7.9: after disconnect() on purpose, connect() starts a new session', async (t) => {
  const { server, url } = await startServer(t, { connectionStateRecovery: {} });
  const c = sdk(t, url);
  await connected(server, c);
  const id = c.id;
  c.disconnect();
  const back = next(c, 'connect');
  c.connect();
  await back;
  t.equal(c.recovered, false);
  t.not(c.id, id);
});
