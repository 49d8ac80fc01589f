/**
 * Connection state recovery (issue 10 item 7, PROTOCOL.md §2.7) over real sockets, written from
 * Socket.IO's documented behaviour ("Connection state recovery": after a reconnect within
 * maxDisconnectionDuration the socket keeps its id, rooms and data, `socket.recovered` is true,
 * and missed packets are received) — and past it: plain `socket.emit`s and room messages sent
 * while the client was away arrive too.
 */
import t from 'tap';
import type { Socket, WsqServer } from '../../lib/index.js';
import { MAX_SESSION_FRAMES } from '../../lib/recovery.js';
import { RawClient, type Frame } from '../helpers/raw-client.js';
import { startServer, type Tap } from '../helpers/server.js';
import { once as onceFor } from '../helpers/events.js';

const RECOVERY = { connectionStateRecovery: { maxDisconnectionDuration: 60_000 } };

/** Events wait at most 3000 ms here. */
const once = <T = unknown>(target: Parameters<typeof onceFor>[0], event: string, ms = 3000): Promise<T> => onceFor<T>(target, event, ms);

/** The next socket of "/" whose `connection` fires. */
function nextConnection(server: WsqServer): Promise<Socket> {
  return once<Socket>(server.sockets, 'connection');
}

async function raw(t: Tap, url: string): Promise<RawClient> {
  const c = await RawClient.connect(url);
  t.teardown(() => c.close());
  return c;
}

/** Drop a raw client's TCP connection (no close handshake) and wait until the server's socket saw it. */
async function drop(c: RawClient, socket: Socket): Promise<string> {
  const gone = once<string>(socket, 'disconnect');
  c.ws.terminate();
  return gone;
}

const events = (c: RawClient): Frame[] => c.frames.filter((f) => f.type === 'event');

t.test('R2.7.1: with recovery on, welcome carries a private pid (new on every connection) and recovered: false', async (t) => {
  const { url } = await startServer(t, RECOVERY);
  const a = await raw(t, url);
  const b = await raw(t, url);
  t.match(a.welcome.pid, /^[A-Za-z0-9_-]{21}$/);
  t.equal(a.welcome.recovered, false);
  t.not(a.welcome.pid, b.welcome.pid);
  t.not(a.welcome.pid, a.welcome.sid, 'the pid is not the public sid');
  const off = await startServer(t, {});
  const c = await raw(t, off.url);
  t.equal(c.welcome.pid, undefined, 'option off: no pid');
  t.equal(c.welcome.recovered, undefined);
});

t.test('R2.7.2 R2.7.4 R2.7.5: a reconnect within the window keeps sid, rooms and data, and receives what was sent while away', async (t) => {
  const { server, url } = await startServer(t, RECOVERY);
  const first = nextConnection(server);
  const a = await raw(t, url);
  const socket = await first;
  socket.join('r1');
  socket.data = { user: 'ann', n: 1 };
  socket.emit('before', 1);
  await a.next((f) => f.type === 'event' && f.event === 'before');
  const reason = await drop(a, socket);
  t.equal(reason, 'transport close');

  // While away: every kind of traffic that would have reached the socket.
  socket.emit('direct', 'socket.emit on the old socket');
  server.to('r1').emit('room', 'to(room).emit');
  server.to(a.welcome.sid).emit('sid', 'to(sid).emit');
  server.sockets.emit('all', 'namespace-wide');
  server.sockets.volatile.emit('volatile', 'not kept');
  server.to('other').emit('elsewhere', 'not for it');
  const stored = await server.publish('r1', 'stored', { n: 1 });

  const second = nextConnection(server);
  const b = await raw(t, `${url}?recover=${a.welcome.pid}&seen=${events(a).length}`);
  const again = await second;
  t.equal(b.welcome.sid, a.welcome.sid, 'same sid');
  t.equal(b.welcome.recovered, true);
  t.not(b.welcome.pid, a.welcome.pid, 'a new pid for the new connection');
  t.equal(again.recovered, true, 'socket.recovered');
  t.equal(again.id, socket.id);
  t.same(again.data, { user: 'ann', n: 1 }, 'socket.data kept');
  t.ok(again.rooms.has('r1'), 'rooms kept');
  await b.sync();
  t.same(
    events(b).map((f) => f.event),
    ['direct', 'room', 'sid', 'all', 'stored'],
    'everything sent while away, in order; volatile and other rooms not',
  );
  t.equal(events(b)[4]!.offset, stored.offset, 'a stored room message arrives with its offset');
  // The restored rooms work live again.
  server.to('r1').emit('live', 2);
  t.equal((await b.next((f) => f.type === 'event' && f.event === 'live')).data, 2);
});

t.test('R2.7.3: frames sent just before the drop that the client did not read are sent again (seen = how many it read)', async (t) => {
  const { server, url } = await startServer(t, RECOVERY);
  const first = nextConnection(server);
  const a = await raw(t, url);
  const socket = await first;
  for (let i = 1; i <= 5; i++) socket.emit('n', i);
  await a.collect((f) => f.type === 'event', 5);
  await drop(a, socket);
  const second = nextConnection(server);
  // The client says it read 2 of the 5 events: 3, 4 and 5 come again.
  const b = await raw(t, `${url}?recover=${a.welcome.pid}&seen=2`);
  await second;
  await b.sync();
  t.same(
    events(b).map((f) => f.data),
    [3, 4, 5],
  );
});

t.test('R2.7.5: an unknown, reused or expired session, or another identity, gives a fresh connection (never a refusal)', async (t) => {
  let now = Date.now();
  const { server, url } = await startServer(t, { connectionStateRecovery: { maxDisconnectionDuration: 1000 }, now: () => now });
  const first = nextConnection(server);
  const a = await raw(t, url);
  await drop(a, await first);
  const unknown = await raw(t, `${url}?recover=${'x'.repeat(21)}&seen=0`);
  t.equal(unknown.welcome.recovered, false);
  t.not(unknown.welcome.sid, a.welcome.sid);
  const bad = await raw(t, `${url}?recover=${a.welcome.pid}&seen=nope`);
  t.equal(bad.welcome.recovered, false, 'a bad seen: not recovered');
  const good = await raw(t, `${url}?recover=${a.welcome.pid}&seen=0`);
  t.equal(good.welcome.recovered, true);
  const reused = await raw(t, `${url}?recover=${a.welcome.pid}&seen=0`);
  t.equal(reused.welcome.recovered, false, 'a session is claimed at most once');
  t.not(reused.welcome.sid, a.welcome.sid);

  const second = nextConnection(server);
  const c = await raw(t, `${url}?client=carol`);
  await drop(c, await second);
  const other = await raw(t, `${url}?client=dave&recover=${c.welcome.pid}&seen=0`);
  t.equal(other.welcome.recovered, false, 'another identity cannot take the session');

  const third = nextConnection(server);
  const d = await raw(t, url);
  await drop(d, await third);
  now += 1001;
  const late = await raw(t, `${url}?recover=${d.welcome.pid}&seen=0`);
  t.equal(late.welcome.recovered, false, 'past maxDisconnectionDuration');
});

t.test('R2.7.2: no session after the application kicked the socket or the client left the namespace', async (t) => {
  const { server, url } = await startServer(t, RECOVERY);
  const first = nextConnection(server);
  const a = await raw(t, url);
  const sa = await first;
  const kicked = once<string>(sa, 'disconnect');
  sa.disconnect(true);
  t.equal(await kicked, 'forced close');
  t.equal((await a.closed).code, 4000);
  const b = await raw(t, `${url}?recover=${a.welcome.pid}&seen=0`);
  t.equal(b.welcome.recovered, false);

  const second = nextConnection(server);
  const c = await raw(t, url);
  const sc = await second;
  const left = once<string>(sc, 'disconnect');
  await c.request({ type: 'disconnect', ns: '/' });
  t.equal(await left, 'client namespace disconnect');
  await c.close();
  const d = await raw(t, `${url}?recover=${c.welcome.pid}&seen=0`);
  t.equal(d.welcome.recovered, false);
});

t.test('R2.7.5: another namespace is restored at its connect: connected has recovered, then its missed frames', async (t) => {
  const { server, url } = await startServer(t, RECOVERY);
  const chat = server.of('/chat');
  const a = await raw(t, url);
  const joined = once<Socket>(chat, 'connection');
  await a.request({ type: 'connect', ns: '/chat' });
  const s = await joined;
  s.join('lobby');
  s.data = { nick: 'ann' };
  await drop(a, s);
  chat.to('lobby').emit('said', 'hi');
  const b = await raw(t, `${url}?recover=${a.welcome.pid}&seen=0`);
  t.equal(b.welcome.recovered, true);
  const back = once<Socket>(chat, 'connection');
  b.send({ type: 'connect', ns: '/chat', id: 1 });
  const reply = await b.next((f) => f.type === 'connected');
  t.equal(reply.recovered, true);
  const said = await b.next((f) => f.type === 'event');
  t.same([said.ns, said.event, said.data], ['/chat', 'said', 'hi']);
  const s2 = await back;
  t.equal(s2.recovered, true);
  t.same(s2.data, { nick: 'ann' });
  t.ok(s2.rooms.has('lobby'));
});

t.test('R2.7.5: skipMiddlewares false runs the middleware again on a recovery; true (default) skips it', async (t) => {
  for (const skip of [true, false]) {
    const { server, url } = await startServer(t, { connectionStateRecovery: { skipMiddlewares: skip } });
    let runs = 0;
    server.use((_s, next) => {
      runs++;
      next();
    });
    const first = nextConnection(server);
    const a = await raw(t, url);
    await drop(a, await first);
    const b = await raw(t, `${url}?recover=${a.welcome.pid}&seen=0`);
    t.equal(b.welcome.recovered, true);
    t.equal(runs, skip ? 1 : 2, `skipMiddlewares ${skip}`);
  }
});

t.test('R2.7.8: deliveries with an id and volatile events are not replayed by recovery', async (t) => {
  const { server, url } = await startServer(t, RECOVERY);
  const first = nextConnection(server);
  const a = await raw(t, url);
  const socket = await first;
  const asked = socket.emitWithAck('question', 1, { timeoutMs: 5000 }).catch((e: Error) => e);
  await a.next((f) => f.type === 'event' && f.event === 'question');
  await drop(a, socket);
  t.match(await asked, /closed/, 'the pending emitWithAck fails when the connection drops');
  const b = await raw(t, `${url}?recover=${a.welcome.pid}&seen=0`);
  await b.sync();
  t.equal(b.welcome.recovered, true);
  t.same(events(b), [], 'the request was not sent again');
});

t.test('R2.7.7: a session that lost a frame to its cap is not recovered (all or nothing)', async (t) => {
  const { server, url } = await startServer(t, RECOVERY);
  for (const [n, recovered] of [
    [MAX_SESSION_FRAMES, true],
    [MAX_SESSION_FRAMES + 1, false],
  ] as const) {
    const first = nextConnection(server);
    const a = await raw(t, url);
    await drop(a, await first);
    for (let i = 0; i < n; i++) server.to(a.welcome.sid).emit('n', i);
    const b = await raw(t, `${url}?recover=${a.welcome.pid}&seen=0`);
    t.equal(b.welcome.recovered, recovered, `${n} frames kept while away`);
    if (recovered) t.equal((await b.collect((f) => f.type === 'event', n)).length, n);
  }
});

t.test('R2.7.5: a connection still open under the pid (its drop not noticed yet) is closed first, then recovered', async (t) => {
  const { server, url } = await startServer(t, RECOVERY);
  const first = nextConnection(server);
  const a = await raw(t, url);
  const socket = await first;
  socket.join('r');
  socket.emit('before', 1);
  await a.next((f) => f.type === 'event');
  const gone = once<string>(socket, 'disconnect');
  // The old connection is still open on the server: the new one takes its session over.
  const b = await raw(t, `${url}?recover=${a.welcome.pid}&seen=1`);
  t.equal(await gone, 'forced close', 'the old connection was closed by the server');
  t.equal(b.welcome.recovered, true);
  t.equal(b.welcome.sid, a.welcome.sid);
  t.ok(server.sockets.sockets.get(b.welcome.sid)?.rooms.has('r'));
});
