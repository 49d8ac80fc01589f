/**
 * I7 #6: `namespace.disconnect()` tells the server (a `disconnect` frame) and waits,
 * bounded, for its `disconnected`.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import { client, deferred, startStub, within } from './util.js';

t.test('namespace.disconnect() sends disconnect; the server removes the socket and says why', async (t) => {
  const { server, url } = await startServer(t);
  const reason = deferred<string>();
  server.of('/chat').on('connection', (s) => s.on('disconnect', (r: string) => reason.resolve(r)));
  const c = client(t, url);
  const chat = c.ns('/chat');
  const room = chat.join('lobby');
  await room.ready();
  t.equal(server.of('/chat').sockets.size, 1, 'connected on the server');

  await within(chat.disconnect(), 3000, 'disconnect()');
  t.equal(await within(reason.promise, 3000, 'server-side disconnect event'), 'client namespace disconnect', 'the server heard it from the client');
  t.equal(server.of('/chat').sockets.size, 0, 'the server removed the socket');
  t.equal(room.state, 'left', 'its rooms ended');
  t.equal(chat.connected, false);
  t.ok(c.connected, 'the connection itself stays open');
  t.throws(() => chat.join('again'), { code: 'closed' });
});

t.test('namespace.disconnect() is bounded when the server never answers', async (t) => {
  const stub = await startStub(t, {
    auto: (f, s) => {
      if (f.type === 'connect') s.send({ type: 'connected', ns: f.ns, id: f.id });
      return f.type === 'connect';
    },
  });
  const c = client(t, stub.url);
  const chat = c.ns('/chat');
  await chat.ready();
  const t0 = Date.now();
  await within(chat.disconnect({ timeoutMs: 200 }), 3000, 'disconnect() with a silent server');
  const frame = await stub.take((f) => f.type === 'disconnect');
  t.equal(frame.ns, '/chat', 'the disconnect frame went out');
  t.ok(Date.now() - t0 < 2000, 'resolved after its timeout, not hanging');
});
