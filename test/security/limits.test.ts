/** PROTOCOL.md §2.2 Origin and limits (R2.2.13-R2.2.15): each limit hit with its code and a sentence. */
import t from 'tap';
import { WebSocket } from 'ws';
import { hashKey } from '../../lib/auth/keys.js';
import { rawClient, startServer } from '../helpers/server.js';
import { bearer, es, jwtConfig, keyFiles, upgrade } from './setup.js';

const keys = [{ client: 'svc', hash: hashKey('wsq_svc') }];

t.test('R2.2.13 a browser Origin that is not allowed gets 403 before the socket opens; no Origin is not a browser', async (t) => {
  const { url } = await startServer(t);
  const host = new URL(url).host;
  t.equal((await upgrade(url, { origin: 'https://evil.example' })).status, 403, 'default: another site is refused');
  t.match((await upgrade(url, { origin: 'https://evil.example' })).body, /origin https:\/\/evil\.example may not connect/);
  t.equal((await upgrade(url, { origin: `http://${host}` })).status, 101, 'default: the same host is allowed');
  t.equal((await upgrade(url)).status, 101, 'no Origin header: allowed');
  const listed = await startServer(t, { origins: ['https://*.example.com'] });
  t.equal((await upgrade(listed.url, { origin: 'https://app.example.com' })).status, 101, 'a listed origin glob');
  t.equal((await upgrade(listed.url, { origin: 'https://example.com.evil.net' })).status, 403, 'the glob is anchored');
});

t.test('R2.2.14 connections in total (503) and per identity (429)', async (t) => {
  const { url } = await startServer(t, { auth: { keys, anonymous: true }, limits: { maxConnections: 3, maxConnectionsPerClient: 2 } });
  await rawClient(t, url, { headers: bearer('wsq_svc') });
  await rawClient(t, url, { headers: bearer('wsq_svc') });
  const r = await upgrade(url, bearer('wsq_svc'));
  t.equal(r.status, 429, 'a third connection of svc');
  t.match(r.body, /svc already holds 2 connections \(limits\.maxConnectionsPerClient\)/);
  const a = await rawClient(t, url);
  const full = await upgrade(url);
  t.equal(full.status, 503, 'the fourth connection overall');
  t.match(full.body, /maximum of 3 connections/);
  await a.close();
  await a.closed;
  const again = await rawClient(t, url);
  t.ok(again.welcome, 'a closed connection frees its place');
});

t.test('R2.2.14 upgrades that arrive together cannot pass the connection limits together (the slot is reserved when the checks pass)', async (t) => {
  // Tokens: their check awaits the crypto thread, so the upgrades really are in flight together.
  const files = await keyFiles(t);
  const { url } = await startServer(t, { auth: { jwt: jwtConfig(files), anonymous: true }, limits: { maxConnections: 3, maxConnectionsPerClient: 2 } });
  const token = await es(files.es, { sub: 'svc' });
  /** Open a WebSocket and keep it open until the test ends: its status (101, or the refusal's). */
  const hold = (headers: Record<string, string> = {}): Promise<number> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      t.teardown(() => ws.terminate());
      const timer = setTimeout(() => reject(new Error('no answer to an upgrade within 3 s')), 3000);
      ws.once('open', () => (clearTimeout(timer), resolve(101)));
      ws.once('unexpected-response', (_req, res) => (clearTimeout(timer), resolve(res.statusCode ?? 0)));
      ws.once('error', () => {});
    });
  const svc = await Promise.all(Array.from({ length: 10 }, () => hold(bearer(token))));
  t.equal(svc.filter((s) => s === 101).length, 2, 'two of ten simultaneous upgrades of svc are let in');
  t.equal(svc.filter((s) => s === 429).length, 8, 'the other eight get 429');
  const anon = await Promise.all(Array.from({ length: 6 }, () => hold()));
  t.equal(anon.filter((s) => s === 101).length, 1, 'one more connection fills the total of 3');
  t.equal(anon.filter((s) => s === 503).length, 5, 'the rest get 503');
});

t.test('R2.2.15 namespaces and rooms per connection, and the prefetch cap, answer forbidden with details.limit', async (t) => {
  const { url } = await startServer(t, { limits: { maxNamespacesPerConnection: 2, maxRoomsPerConnection: 2, maxPrefetch: 50 } });
  const c = await rawClient(t, url);
  t.equal(c.welcome.limits?.maxRooms, 2, 'the room cap is announced in welcome (R11.5)');
  t.equal((await c.request({ type: 'connect', ns: '/a', id: 1 })).type, 'connected');
  const ns = await c.request({ type: 'connect', ns: '/b', id: 2 });
  t.equal(ns.code, 'forbidden');
  t.equal(ns.details.limit, 'maxNamespacesPerConnection');
  t.equal((await c.request({ type: 'join', room: 'r1', id: 3 })).type, 'joined');
  t.equal((await c.request({ type: 'join', room: 'r2', id: 4 })).type, 'joined');
  const rooms = await c.request({ type: 'join', room: 'r3', id: 5 });
  t.equal(rooms.code, 'forbidden');
  t.match(rooms.message, /in 2 rooms, the most allowed \(limits\.maxRoomsPerConnection\)/);
  t.equal((await c.request({ type: 'join', room: 'r1', since: 0, id: 6 })).type, 'joined', 'rejoining a room it is in is not a new room');
  const p = await c.request({ type: 'join', ns: '/a', room: 'jobs', group: 'g', prefetch: 51, id: 7 });
  t.equal(p.code, 'forbidden');
  t.equal(p.details.limit, 'maxPrefetch');
});

t.test('R2.2.15 connects still in their middleware count toward the namespaces per connection', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared', limits: { maxNamespacesPerConnection: 2 } });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  for (const ns of ['/a', '/b', '/c']) server.of(ns).use(async (_s, next) => (await gate, next()));
  const c = await rawClient(t, url);
  for (const [i, ns] of ['/a', '/b', '/c'].entries()) c.send({ type: 'connect', ns, id: i });
  // "/" is one namespace; /a, still in its middleware, is the second: /b and /c are refused at once, without waiting.
  for (const id of [1, 2]) {
    const refused = await c.next((f) => f.id === id);
    t.match(refused, { type: 'error', code: 'forbidden', details: { limit: 'maxNamespacesPerConnection' } }, `connect ${id} is refused while /a is still entering`);
  }
  release();
  t.equal((await c.next((f) => f.id === 0)).type, 'connected', '/a gets in');
  t.equal(c.seen((f) => f.type === 'connected').length, 1, 'and only /a');
});

t.test('R2.2.15 the frame rate per connection answers rate_limited with details.retryAfterMs', async (t) => {
  const { url } = await startServer(t, { badFrameLimit: 1, limits: { frameRate: { perSecond: 10, burst: 5 } } });
  const c = await rawClient(t, url);
  for (let i = 0; i < 8; i++) c.send({ type: 'ping', id: i });
  const frames = await c.collect((f) => f.id !== undefined, 8);
  const limited = frames.filter((f) => f.type === 'error');
  t.ok(limited.length >= 2, `some pings were refused (${limited.length})`);
  t.equal(limited[0]?.code, 'rate_limited');
  t.ok(limited[0]?.details.retryAfterMs > 0, 'with a retry hint');
  const other = await rawClient(t, url);
  t.equal((await other.request({ type: 'ping', id: 1 })).type, 'pong', 'another connection has its own bucket');
  t.ok(c.ws.readyState === 1, 'rate_limited is not a bad frame (R2.6.2): past badFrameLimit 1, still open');
});

t.test('R2.2.15 room names per identity per minute and the publish rate per room', async (t) => {
  const { url } = await startServer(t, { limits: { maxNewNamesPerMinute: 3, publishRatePerRoom: { perSecond: 1, burst: 2 } } });
  const c = await rawClient(t, `${url}?client=flooder`);
  for (const [i, room] of ['n1', 'n2', 'n3'].entries()) t.equal((await c.request({ type: 'join', room, id: i })).type, 'joined');
  const fourth = await c.request({ type: 'join', room: 'n4', id: 9 });
  t.equal(fourth.code, 'rate_limited', 'a fourth new name in the minute');
  t.ok(fourth.details.retryAfterMs > 0 && fourth.details.retryAfterMs <= 60_000);
  t.equal((await c.request({ type: 'join', room: 'n1', since: 0, id: 10 })).type, 'joined', 'a name already used this minute is fine');
  const ns = await c.request({ type: 'connect', ns: '/made-up', id: 14 });
  t.equal(ns.code, 'rate_limited', 'a new namespace name counts too');
  t.match(ns.message, /namespace "\/made-up" was refused/);
  t.equal((await c.request({ type: 'emit', room: 'n1', event: 'e', id: 11 })).type, 'ack');
  t.equal((await c.request({ type: 'emit', room: 'n1', event: 'e', id: 12 })).type, 'ack');
  const third = await c.request({ type: 'emit', room: 'n1', event: 'e', id: 13 });
  t.equal(third.code, 'rate_limited', 'the room takes 2 at once, then 1 a second');
  t.equal(third.details.limit, 'publishRatePerRoom');
});
