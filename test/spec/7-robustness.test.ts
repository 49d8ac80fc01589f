/**
 * §7 "the server never crashes on input": cases found by review, each of which once crashed
 * the process, lost a subscription or broke a MUST. Every test checks the server still serves.
 */
import { connect as tcp } from 'node:net';
import t from 'tap';
import { barrier, publishMany, range, waitFrames, eventIn, offsets } from '../helpers/logs.js';
import { rawClient, startServer } from '../helpers/server.js';

/** Send raw bytes over TCP and collect the reply until the server closes. */
function rawHttp(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tcp(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('close', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(3000, () => s.destroy(new Error('no answer within 3 s')));
  });
}

t.test('2.1 a request target that is not a URL gets 400, and the server keeps serving', async (t) => {
  const { server, url } = await startServer(t);
  const upgrade = await rawHttp(
    server.port,
    'GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  t.match(upgrade, /^HTTP\/1.1 400/, 'an upgrade with a bad target is refused with 400');
  await rawHttp(server.port, 'GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const c = await rawClient(t, url);
  t.equal((await c.request({ type: 'ping' })).type, 'pong', 'the server is still up');
});

t.test('5.5 dead-lettering into a full "reject" dead room keeps the message and the server up', async (t) => {
  const { url } = await startServer(t, { retentionRules: [{ room: '$dead:*', overflow: 'reject', maxMessages: 1 }] });
  const w = await rawClient(t, url);
  const p = await rawClient(t, url);
  await w.request({ type: 'join', room: 'jobs', group: 'g' });
  await publishMany(p, 'jobs', 2);
  const [a, b] = await waitFrames(w, eventIn('jobs'), 2);
  w.send({ type: 'nack', id: a!.id, requeue: false });
  w.send({ type: 'nack', id: b!.id, requeue: false }); // the dead room is full now: this one cannot move
  const dead = await rawClient(t, url);
  await dead.request({ type: 'join', room: '$dead:jobs', since: 0 });
  t.same(offsets(await waitFrames(dead, eventIn('$dead:jobs'), 1)), [1], 'the first went to the dead room');
  t.equal((await p.request({ type: 'ping' })).type, 'pong', 'the server is still up');
});

t.test('9 a "connection" listener that throws does not break the connection or the server', async (t) => {
  const { server, url } = await startServer(t, { logger: () => {} });
  server.on('connection', () => {
    throw new Error('app bug in /');
  });
  server.of('/app').on('connection', () => {
    throw new Error('app bug in /app');
  });
  const c = await rawClient(t, url);
  t.equal((await c.request({ type: 'ping' })).type, 'pong', '"/" still serves');
  t.equal((await c.request({ type: 'connect', ns: '/app' })).type, 'connected', '/app answers connected, not an error');
  t.equal((await c.request({ type: 'join', ns: '/app', room: 'r' })).type, 'joined');
});

t.test('5.4 a durable join that replaces an earlier one (same room) still gets deliveries', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, `${url}?client=alice`);
  const p = await rawClient(t, url);
  await c.request({ type: 'join', room: 'orders', durable: true });
  await c.request({ type: 'join', room: 'orders', durable: true });
  await publishMany(p, 'orders', 3);
  t.same(offsets(await waitFrames(c, eventIn('orders'), 3)), [1, 2, 3]);
});

t.test('5.3 an application-joined socket that joins with since gets each message once, in order', async (t) => {
  const { server, url } = await startServer(t);
  server.on('connection', (s) => s.join('lobby'));
  const p = await rawClient(t, url);
  await publishMany(p, 'lobby', 20);
  const c = await rawClient(t, url);
  const sending = publishMany(p, 'lobby', 200);
  await c.request({ type: 'join', room: 'lobby', since: 0 });
  await sending;
  await waitFrames(c, (f) => eventIn('lobby')(f) && f.offset === 220, 1);
  await barrier(c);
  // Frames before `joined` came from the application's live membership; from `joined` on, the replay and live must be seamless.
  const after = c.frames.slice(c.frames.findIndex((f) => f.type === 'joined'));
  t.same(offsets(after.filter(eventIn('lobby'))), range(1, 220), 'after joined: every offset once, in order');
});

t.test('3 a join replaced at once by a leave is still answered', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  const p = await rawClient(t, url);
  await publishMany(p, 'r', 5);
  c.send({ type: 'join', room: 'r', since: 0, id: 'j' });
  c.send({ type: 'leave', room: 'r', id: 'l' });
  const replies = await waitFrames(c, (f) => f.id === 'j' || f.id === 'l', 2);
  t.same(replies.map((f) => `${f.id}:${f.type}`).sort(), ['j:joined', 'l:left'], 'both requests answered');
});

t.test('7 a huge unknown field is answered fast with a short message', async (t) => {
  const { url } = await startServer(t, { maxPayload: 4 << 20 });
  const c = await rawClient(t, url);
  const started = Date.now();
  c.sendRaw(JSON.stringify({ type: 'ping', ['k'.repeat(1 << 20)]: 1 }));
  const e = await c.next('error');
  t.equal(e.code, 'bad_frame');
  t.ok(e.message.length < 500, 'the message is short');
  t.ok(JSON.stringify(e).length < 2000, 'the whole error frame is short');
  t.ok(Date.now() - started < 1000, 'answered within a second');
});

t.test('3 an id that is not a safe integer is not echoed', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  c.sendRaw('{"type":"nope","id":1e300}');
  const e = await c.next('error');
  t.equal(e.code, 'unknown_type');
  t.notOk('id' in e);
});

t.test('4.5 a direct emit with echo reaches the sender too', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  a.send({ type: 'emit', room: b.welcome.sid, event: 'dm', data: 1, echo: true });
  t.equal((await b.next('event')).data, 1);
  t.equal((await a.next('event')).data, 1, 'the sender got its echo');
});

t.test('4.1 a join pipelined right after connect waits for the connect', async (t) => {
  const { server, url } = await startServer(t);
  server.of('/slow').use((_s, next) => setTimeout(next, 50));
  const c = await rawClient(t, url);
  c.send({ type: 'connect', ns: '/slow', id: 1 });
  c.send({ type: 'join', ns: '/slow', room: 'r', id: 2 });
  t.equal((await c.next((f) => f.id === 1)).type, 'connected');
  t.equal((await c.next((f) => f.id === 2)).type, 'joined');
});

t.test('7 data nested too deeply is a bad_frame, not internal', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  c.sendRaw(`{"type":"emit","room":"r","event":"e","id":1,"data":${'['.repeat(20000)}${']'.repeat(20000)}}`);
  const e = await c.next((f) => f.id === 1);
  t.equal(e.type, 'error');
  t.equal(e.code, 'bad_frame');
  t.equal((await c.request({ type: 'ping' })).type, 'pong');
});
