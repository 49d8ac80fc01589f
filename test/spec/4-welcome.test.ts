/**
 * D1 "welcome means accepted" and issue 7 row 4: `welcome` only after the main namespace's
 * middleware accepted; frames held meanwhile are handled after the `connection` listeners ran;
 * `welcome.limits`. R2.1.8–R2.1.10, R6.1.1, R6.1.3.
 */
import t from 'tap';
import { WelcomeFrame } from '../../protocol/frames.js';
import { WsqError } from '../../lib/errors.js';
import { rawClient, startServer } from '../helpers/server.js';

t.test('R2.1.8 R6.1.1 welcome is sent only after the main namespace middleware accepted, and before any other frame', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  let entered!: () => void;
  const inMiddleware = new Promise<void>((r) => (entered = r));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  server.use(async (socket, next) => {
    socket.emit('from-middleware', 1); // held: it must not overtake welcome
    // A WebSocket ping round trip: once its pong is back, the client has read everything sent before it.
    await new Promise((r) => {
      socket.conn.ws.once('pong', r);
      socket.conn.ws.ping();
    });
    entered();
    await gate;
    next();
  });
  const c = await rawClient(t, url, { welcome: false });
  await inMiddleware;
  t.same(c.frames, [], 'nothing, not even welcome, while the middleware runs');
  release();
  const w = await c.next('welcome');
  t.equal(c.frames[0], w, 'welcome is the first frame');
  t.match(await c.next('event'), { event: 'from-middleware', data: 1 }, 'an emit made in the middleware follows welcome');
});

t.test('R2.1.9 a refused connection gets error and close 4001, and never a welcome', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  server.use((_s, next) => next(new WsqError('unauthorized', 'no token')));
  const c = await rawClient(t, url, { welcome: false });
  const closed = await c.closed;
  t.equal(closed.code, 4001);
  t.match(c.frames, [{ type: 'error', code: 'unauthorized', message: /no token/ }], 'exactly one frame: the error');
  t.same(
    c.seen((f) => f.type === 'welcome'),
    [],
    'no welcome',
  );
});

t.test('R2.1.10 frames held during the middleware are handled after the connection listeners ran, ping included', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  server.use(async (socket, next) => {
    // Accept only once the three frames below reached the server, so they are really held.
    let seen = 0;
    await new Promise<void>((r) => socket.conn.ws.on('message', () => ++seen === 3 && r()));
    next();
  });
  server.on('connection', (socket) => socket.on('hello', (data, reply) => reply({ hi: data })));
  const c = await rawClient(t, url, { welcome: false });
  c.send({ type: 'emit', event: 'hello', data: 1, id: 1 });
  c.send({ type: 'ping', id: 2 });
  c.send({ type: 'emit', event: 'hello', data: 3, id: 3 });
  await c.next('welcome');
  t.same(await c.next((f) => f.id === 1), { type: 'ack', id: 1, data: { hi: 1 } }, 'the handler added in connection answers, no no_handler');
  t.same(await c.next((f) => f.id === 2), { type: 'pong', id: 2 }, 'the held ping is answered');
  t.same(await c.next((f) => f.id === 3), { type: 'ack', id: 3, data: { hi: 3 } });
  t.same(
    c.frames.map((f) => f.type),
    ['welcome', 'ack', 'pong', 'ack'],
    'in order, after welcome',
  );
});

t.test('R6.1.3 welcome.limits announces the limits a client needs', async (t) => {
  const { url } = await startServer(t, {
    timeoutMs: 7000,
    ackTimeoutMs: 9000,
    maxDeliver: 3,
    prefetch: 7,
    badFrameLimit: 11,
    badFrameWindowMs: 5000,
    retention: { dedupWindowMs: 60_000 },
  });
  const c = await rawClient(t, url);
  t.match(c.welcome.limits, { timeoutMs: 7000, ackTimeoutMs: 9000, maxDeliver: 3, prefetch: 7, badFrameLimit: 11, badFrameWindowMs: 5000, dedupWindowMs: 60_000 });
  t.ok(WelcomeFrame.safeParse(c.welcome).success, 'welcome with limits matches its schema');
  const d = await rawClient(t, (await startServer(t)).url);
  t.match(
    d.welcome.limits,
    { timeoutMs: 20_000, ackTimeoutMs: 30_000, maxDeliver: 5, prefetch: 100, badFrameLimit: 100, badFrameWindowMs: 10_000, dedupWindowMs: 120_000 },
    'the defaults',
  );
});
