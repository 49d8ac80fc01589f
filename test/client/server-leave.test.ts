/**
 * R6.4.1 (I7 #10, SDK side): when the application takes a connection out of a room
 * (`socket.leave`), the server sends `left` without an id; the subscription ends (state
 * `left`, a `left` event) and is not joined again after a reconnect.
 * Also D1 against the real server: a main-namespace middleware's refusal.
 */
import t from 'tap';
import type { Socket } from '../../lib/index.js';
import { startServer } from '../helpers/server.js';
import type { CloseInfo, WsqError } from '../../lib/client/index.js';
import { client, deferred, next, startProxied, within } from './util.js';

t.test('R6.4.1 a server-side socket.leave ends the subscription with a left event; it is not rejoined on reconnect', async (t) => {
  const { server, proxy } = await startProxied(t);
  const sockets: Socket[] = [];
  server.on('connection', (s: Socket) => sockets.push(s));
  const c = client(t, proxy.url);
  const room = c.join('r');
  const other = c.join('keep');
  await Promise.all([room.ready(), other.ready()]);
  t.ok(sockets[0]!.rooms.has('r'));

  const left = next<{ by: string }>(room, 'left');
  sockets[0]!.leave('r');
  t.same(await left, { by: 'server' }, 'the subscription heard it');
  t.equal(room.state, 'left');
  t.equal(other.state, 'joined', 'other rooms are untouched');

  // Reconnect: "keep" is rejoined, "r" is not.
  const reconnected = next(c, 'reconnected', 5000);
  proxy.drop();
  await reconnected;
  await within(new Promise<void>((r) => (sockets.length >= 2 ? r() : server.on('connection', () => r()))), 5000, 'second connection');
  await other.ready();
  const s2 = sockets[sockets.length - 1]!;
  await within(
    new Promise<void>((r) => {
      const check = () => (s2.rooms.has('keep') ? r() : setTimeout(check, 10));
      check();
    }),
    5000,
    'rejoined keep',
  );
  t.notOk(s2.rooms.has('r'), 'r was not joined again');
  const joinAgain = c.join('r');
  t.not(joinAgain, room, 'a new join makes a new subscription');
  await joinAgain.ready();
  t.ok(s2.rooms.has('r'), 'and the application may join it again');
});

t.test('D1 against the server: a refusing main-namespace middleware gives error then close 4001, never open; ready() rejects with its sentence', async (t) => {
  const { server, url } = await startServer(t);
  server.use((_socket, next) => next(new Error('no valid key')));
  const c = client(t, url);
  const events: string[] = [];
  for (const e of ['open', 'error', 'close']) c.on(e as 'open', () => events.push(e));
  const closed = deferred<CloseInfo>();
  c.on('close', (i) => closed.resolve(i));
  const err = (await within(
    c.ready().catch((e: unknown) => e),
    5000,
    'ready()',
  )) as WsqError;
  t.equal(err.code, 'unauthorized');
  t.match(err.message, /no valid key/);
  const info = await closed.promise;
  t.equal(info.code, 4001);
  t.equal(info.willReconnect, false);
  t.same(events, ['error', 'close'], 'never open');
});
