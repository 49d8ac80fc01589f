/**
 * PROTOCOL.md §2 Transport, over real sockets: upgrade and sub-protocol, identity,
 * frames and size limits, heartbeats, close codes and the bad-frame limit.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { WelcomeFrame } from '../../protocol/frames.js';
import { VERSION } from '../../lib/version.js';
import { WsqError } from '../../lib/errors.js';
import { RawClient } from '../helpers/raw-client.js';
import { rawClient, startServer } from '../helpers/server.js';

/** The HTTP status an upgrade was refused with (fails the test if it was accepted). */
async function refusedWith(url: string, opts: Parameters<typeof RawClient.connect>[1] = {}): Promise<number | undefined> {
  try {
    const c = await RawClient.connect(url, opts);
    await c.close();
    return undefined;
  } catch (err) {
    return (err as { status?: number }).status;
  }
}

/** A close event of a plain `ws` socket, bounded by a timeout. */
function closeOf(ws: WebSocket, timeoutMs = 3000): Promise<{ code: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no close within ${timeoutMs} ms`)), timeoutMs);
    ws.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code });
    });
  });
}

/** A close event of a RawClient, bounded by a timeout. */
function closed(c: RawClient, timeoutMs = 3000): Promise<{ code: number; reason: string }> {
  return Promise.race([c.closed, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no close within ${timeoutMs} ms`)), timeoutMs).unref())]);
}

t.test('2.1 welcome is the first frame and carries sid, protocol, heartbeatMs, maxPayload and server', async (t) => {
  const { url } = await startServer(t, { heartbeatMs: 12_345, maxPayload: 4096 });
  const c = await rawClient(t, url);
  t.equal(c.frames[0]!.type, 'welcome', 'first frame is welcome');
  const w = c.frames[0]!;
  t.ok(WelcomeFrame.safeParse(w).success, 'welcome matches its schema');
  t.match(w, { sid: String, protocol: 1, heartbeatMs: 12_345, maxPayload: 4096, server: { name: 'wsq', version: VERSION } });
  t.ok(w.sid.length > 0, 'sid is not empty');
  t.notOk('client' in w, 'an anonymous connection has no client');
  const other = await rawClient(t, url);
  t.not(other.welcome.sid, w.sid, 'every connection gets its own sid');
});

t.test('2.1 the sub-protocol wsq.v1 is chosen when offered', async (t) => {
  const { url } = await startServer(t);
  const only = await rawClient(t, url, { protocols: ['wsq.v1'] });
  t.equal(only.ws.protocol, 'wsq.v1');
  const among = await rawClient(t, url, { protocols: ['chat', 'wsq.v1'] });
  t.equal(among.ws.protocol, 'wsq.v1', 'chosen among unknown tokens');
  t.equal((await among.request({ type: 'ping' })).type, 'pong');
});

t.test('2.1 a connection offering no sub-protocol is served as v1', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  t.equal(c.ws.protocol, '', 'no sub-protocol selected');
  t.equal(c.welcome.protocol, 1);
  t.equal((await c.request({ type: 'ping' })).type, 'pong');
});

t.test('2.1 offering only unknown sub-protocols is refused with HTTP 400 at the upgrade', async (t) => {
  const { url } = await startServer(t);
  t.equal(await refusedWith(url, { protocols: ['chat'] }), 400);
  t.equal(await refusedWith(url, { protocols: ['wsq.v2', 'mqtt'] }), 400);
});

t.test('2.1 an upgrade on another path is refused with HTTP 404', async (t) => {
  const { url } = await startServer(t);
  t.equal(await refusedWith(`${url}nope`), 404);
  const custom = await startServer(t, { path: '/ws' });
  t.equal(await refusedWith(custom.url.replace(/\/ws$/, '/')), 404, 'the default path is not served when path is /ws');
  const c = await rawClient(t, custom.url);
  t.equal(c.welcome.type, 'welcome', 'the configured path is served');
});

t.test('2.1 GET /healthz answers 200 with JSON', async (t) => {
  const { server } = await startServer(t);
  const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /application\/json/);
  t.match(await res.json(), { status: 'ok' });
});

t.test('2.2 ?client= identity appears in welcome', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, `${url}?client=alice.example:42@home_1-x`);
  t.equal(c.welcome.client, 'alice.example:42@home_1-x');
  const max = 'a'.repeat(128);
  t.equal((await rawClient(t, `${url}?client=${max}`)).welcome.client, max, '128 characters are accepted');
});

t.test('2.2 an invalid client identity is refused with HTTP 400', async (t) => {
  const { url } = await startServer(t);
  t.equal(await refusedWith(`${url}?client=${encodeURIComponent('bad id')}`), 400, 'a space');
  t.equal(await refusedWith(`${url}?client=${'a'.repeat(129)}`), 400, '129 characters');
  t.equal(await refusedWith(`${url}?client=`), 400, 'empty');
  t.equal(await refusedWith(`${url}?client=${encodeURIComponent('a/b')}`), 400, 'a slash');
});

t.test('2.2 a bearer token or ?token= reaches middleware as handshake.token', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const tokens: (string | undefined)[] = [];
  server.use((socket, next) => {
    tokens.push(socket.handshake.token);
    next();
  });
  const a = await rawClient(t, url, { headers: { authorization: 'Bearer header-token' } });
  await a.sync();
  const b = await rawClient(t, `${url}?token=query-token`);
  await b.sync();
  t.same(tokens, ['header-token', 'query-token']);
});

t.test('2.3 a binary frame is answered with unsupported_frame and the connection stays usable', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  c.sendRaw(Buffer.from('{"type":"ping"}'), true);
  const err = await c.next('error');
  t.equal(err.code, 'unsupported_frame');
  t.match(err.message, /\w.+\./);
  t.same(await c.request({ type: 'ping', id: 7 }), { type: 'pong', id: 7 });
});

t.test('2.3 a frame over maxPayload is answered with payload_too_large and the connection stays usable', async (t) => {
  const { url } = await startServer(t, { maxPayload: 1024 });
  const c = await rawClient(t, url);
  t.equal(c.welcome.maxPayload, 1024);
  c.send({ type: 'emit', event: 'big', room: 'r', data: 'x'.repeat(2000), id: 1 });
  const err = await c.next('error');
  t.equal(err.code, 'payload_too_large');
  t.notOk('id' in err, 'the oversized frame is not read, so its id is not echoed');
  t.match(err.message, /1024/, 'the message names the limit');
  t.same(await c.request({ type: 'ping', id: 'after' }), { type: 'pong', id: 'after' });
  // A frame of exactly maxPayload bytes is accepted.
  const base = JSON.stringify({ type: 'emit', event: 'fits', room: 'r', id: 2, data: '' });
  const exact = JSON.stringify({ type: 'emit', event: 'fits', room: 'r', id: 2, data: 'y'.repeat(1024 - base.length) });
  t.equal(Buffer.byteLength(exact), 1024);
  c.sendRaw(exact);
  t.match(await c.next((f) => f.id === 2), { type: 'ack', id: 2, offset: 1 });
});

t.test('2.5 a frame over 4 x maxPayload closes the connection with 1009', async (t) => {
  const { url } = await startServer(t, { maxPayload: 1024 });
  const c = await rawClient(t, url);
  const other = await rawClient(t, url);
  c.sendRaw('x'.repeat(4 * 1024));
  t.equal((await c.next('error')).code, 'payload_too_large', 'exactly 4 x maxPayload is still read and answered');
  c.sendRaw('x'.repeat(4 * 1024 + 1));
  t.equal((await closed(c)).code, 1009);
  t.same(await other.request({ type: 'ping', id: 1 }), { type: 'pong', id: 1 }, 'another client is unaffected');
});

t.test('2.4 a peer that stops answering pings is dropped; a live peer is not', async (t) => {
  // Pings every 50 ms; a peer silent for 50 + 300 ms is dropped. The 300 ms of slack keeps a
  // live peer (same process as the server) safe from event-loop stalls on a busy machine.
  const { url } = await startServer(t, { heartbeatMs: 50, timeoutMs: 300 });
  const live = await rawClient(t, url);
  const dead = new WebSocket(url, { autoPong: false });
  t.teardown(() => dead.terminate());
  let deadPings = 0;
  dead.on('ping', () => deadPings++);
  const deadClosed = closeOf(dead, 5000);
  await new Promise((r, j) => dead.once('open', r).once('error', j));
  const { code } = await deadClosed;
  t.equal(code, 1006, 'the silent peer is terminated (no close frame)');
  t.ok(deadPings >= 2, 'the server pinged it first');
  // The live peer answers pings: still there after more heartbeats than the drop deadline.
  let livePings = 0;
  const enough = new Promise<void>((resolve) => {
    const on = (): void => {
      if (++livePings < 10) return;
      live.ws.off('ping', on);
      resolve();
    };
    live.ws.on('ping', on);
  });
  const outcome = await Promise.race([
    enough.then(() => 'alive'),
    live.closed.then((c) => `closed ${c.code}`),
    new Promise((r) => setTimeout(r, 5000).unref()).then(() => 'no pings'),
  ]);
  t.equal(outcome, 'alive', 'the live peer got 10 more pings and stayed');
  t.same(await live.request({ type: 'ping', id: 1 }), { type: 'pong', id: 1 });
});

t.test('R2.4.5 only a pong counts as heard from: a peer that sends frames but never answers pings is dropped (I8 row 4)', async (t) => {
  const { url } = await startServer(t, { heartbeatMs: 50, timeoutMs: 300 });
  const ws = new WebSocket(url, { autoPong: false });
  t.teardown(() => ws.terminate());
  let pings = 0;
  ws.on('ping', () => {
    pings++;
    ws.send('{"type":"ping"}'); // answer each WebSocket ping with an application frame instead of a pong
  });
  const { code } = await closeOf(ws, 5000);
  t.equal(code, 1006, 'dropped without a closing handshake, though it kept writing');
  t.ok(pings >= 2, 'after several unanswered pings');
});

t.test('2.1 a plain HTTP request is answered with 426 Upgrade Required', async (t) => {
  const { server } = await startServer(t);
  const res = await fetch(`http://127.0.0.1:${server.port}/`);
  t.equal(res.status, 426);
  t.match(await res.text(), /WebSocket/);
});

t.test('2.4 an application ping is answered with pong, echoing the id', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  c.send({ type: 'ping' });
  t.same(await c.next('pong'), { type: 'pong' });
  t.same(await c.request({ type: 'ping', id: 'abc' }), { type: 'pong', id: 'abc' });
});

t.test('2.5 server.close() closes every client with 1001', async (t) => {
  const { server, url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  await server.close();
  t.equal((await closed(a)).code, 1001);
  t.equal((await closed(b)).code, 1001);
});

t.test('2.5 refusal by the main namespace middleware: error unauthorized, then close 4001', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  server.use((_socket, next) => next(new WsqError('unauthorized', 'no token')));
  const c = await rawClient(t, url, { welcome: false }); // D1: a refused connection gets no welcome
  const err = await c.next('error');
  t.equal(err.code, 'unauthorized');
  t.match(err.message, /no token/);
  t.equal((await closed(c)).code, 4001);
});

t.test('2.5 a refusal carrying the code forbidden: error forbidden, then close 4001', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  server.use((_socket, next) => next(new WsqError('forbidden', 'banned', { until: 'tomorrow' })));
  const c = await rawClient(t, url, { welcome: false }); // D1: a refused connection gets no welcome
  const err = await c.next('error');
  t.equal(err.code, 'forbidden');
  t.same(err.details, { until: 'tomorrow' }, 'the refusal details are passed on');
  t.equal((await closed(c)).code, 4001);
});

t.test('2.6 more than badFrameLimit bad frames in the window closes with 1008', async (t) => {
  const { url } = await startServer(t, { badFrameLimit: 5 });
  const c = await rawClient(t, url);
  const other = await rawClient(t, url);
  for (let i = 0; i < 5; i++) c.sendRaw('not json');
  await c.sync();
  t.equal(c.seen((f) => f.type === 'error' && f.code === 'bad_json').length, 5, 'five bad frames: five errors');
  t.equal(c.ws.readyState, WebSocket.OPEN, 'five bad frames are tolerated');
  c.sendRaw('not json');
  t.equal((await closed(c)).code, 1008, 'the sixth closes the connection');
  t.same(await other.request({ type: 'ping', id: 1 }), { type: 'pong', id: 1 }, 'another client is unaffected');
});

t.test('2.6 the window is fixed: a counted error after the window ended starts a new count', async (t) => {
  let clock = 1_000_000;
  const { url } = await startServer(t, { badFrameLimit: 2, badFrameWindowMs: 10_000, now: () => clock });
  const c = await rawClient(t, url);
  c.sendRaw('{');
  c.sendRaw('{');
  await c.sync();
  clock += 10_001; // the first window has ended
  c.sendRaw('{');
  c.sendRaw('{');
  await c.sync();
  t.equal(c.ws.readyState, WebSocket.OPEN, 'two errors in each of two windows: still open');
  c.sendRaw('{');
  t.equal((await closed(c)).code, 1008, 'the third in the second window closes');
});

t.test('2.6 good frames do not count toward the bad-frame limit', async (t) => {
  const { url } = await startServer(t, { badFrameLimit: 2 });
  const c = await rawClient(t, url);
  for (let i = 0; i < 20; i++) c.send({ type: 'ping' });
  c.sendRaw('{');
  c.sendRaw('{');
  await c.sync();
  t.equal(c.ws.readyState, WebSocket.OPEN);
  t.equal(c.seen((f) => f.type === 'pong').length, 21);
});
