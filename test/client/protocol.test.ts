/**
 * Client behaviour a real server cannot be made to show on demand, against a scripted
 * wsq/1 peer on a real `ws` server: overlapping replays, lost acks, silent servers,
 * malformed frames, terminal close codes, the exact frames of a rejoin.
 */
import net from 'node:net';
import t from 'tap';
import { connect, WsqTimeoutError, type WsqError, type JoinedInfo } from '../../lib/client/index.js';
import { client, FAST, next, startStub, within } from './util.js';

const ev = (room: string, offset: number, extra: object = {}) => ({ type: 'event', ns: '/', event: 'm', data: offset, room, offset, epoch: 'e1', ts: 0, ...extra });

t.test('the upgrade offers wsq.v1, carries ?client= (keeping other parameters) and the token as a Bearer header', async (t) => {
  const stub = await startStub(t);
  const c = client(t, `${stub.url}?x=1`, { client: 'ann', token: 't k' });
  await c.ready();
  const u = new URL(stub.upgrades[0]!.url, 'ws://h');
  t.equal(u.searchParams.get('x'), '1');
  t.equal(u.searchParams.get('client'), 'ann');
  t.equal(u.searchParams.get('token'), null, 'the token stays out of the URL (PROTOCOL §2.2)');
  t.equal(stub.upgrades[0]!.authorization, 'Bearer t k');
  t.equal(stub.upgrades[0]!.protocols, 'wsq.v1');
});

t.test('dedupe at the replay/live seam, and the rejoin carries since and epoch', async (t) => {
  const stub = await startStub(t);
  const c = client(t, stub.url);
  const room = c.join('r');
  const seen: number[] = [];
  const waiters: [number, () => void][] = [];
  room.on('m', (n: number) => {
    seen.push(n);
    for (const [at, fn] of waiters) if (n === at) fn();
  });
  const reach = (n: number) => within(new Promise<void>((r) => waiters.push([n, r])), 5000, `offset ${n}`);

  const join = await stub.take((f) => f.type === 'join');
  t.same(join, { type: 'join', room: 'r', ns: '/', id: join.id }, 'the first join: no since');
  stub.send({ type: 'joined', ns: '/', room: 'r', id: join.id, epoch: 'e1', offset: 3, replay: { from: 1, to: 3, count: 3 }, recovered: true });
  let got = reach(5);
  for (const o of [1, 2, 3]) stub.send(ev('r', o, { replay: true }));
  for (const o of [3, 4, 2, 4, 5]) stub.send(ev('r', o)); // a live copy of 3 races the replay; 2 and 4 again
  await got;
  t.same(seen, [1, 2, 3, 4, 5], 'each offset once, in order');

  const recovered = next<JoinedInfo>(room, 'recovered');
  stub.kill();
  const rejoin = await stub.take((f) => f.type === 'join');
  t.same(rejoin, { type: 'join', room: 'r', ns: '/', since: 5, epoch: 'e1', id: rejoin.id }, 'the rejoin resumes after the last offset seen');
  stub.send({ type: 'joined', ns: '/', room: 'r', id: rejoin.id, epoch: 'e1', offset: 7, replay: { from: 4, to: 7, count: 4 }, recovered: true });
  got = reach(8);
  for (const o of [4, 5, 6, 7]) stub.send(ev('r', o, { replay: true })); // overlaps what was seen
  stub.send(ev('r', 7));
  stub.send(ev('r', 8));
  await got;
  t.same(seen, [1, 2, 3, 4, 5, 6, 7, 8]);
  t.equal((await recovered).resumed, true);
  t.same(room.position, { since: 8, epoch: 'e1' });
});

t.test('a namespace reconnects before its rooms are rejoined, with its auth', async (t) => {
  const stub = await startStub(t);
  const c = client(t, stub.url);
  const chat = c.ns('/chat', { auth: { user: 'ann' } });
  chat.join('lobby', { presence: true });
  for (let round = 0; round < 2; round++) {
    const connectFrame = await stub.take((f) => f.type === 'connect');
    t.same(connectFrame, { type: 'connect', ns: '/chat', auth: { user: 'ann' }, id: connectFrame.id });
    t.equal(stub.frames.filter((f) => f.type === 'join').length, round, 'no join before connected');
    stub.send({ type: 'connected', ns: '/chat', id: connectFrame.id });
    const join = await stub.take((f) => f.type === 'join');
    const resume = round === 0 ? {} : { since: 0, epoch: 'e' };
    t.same(join, { type: 'join', room: 'lobby', ns: '/chat', ...resume, presence: true, id: join.id });
    stub.send({ type: 'joined', ns: '/chat', room: 'lobby', id: join.id, epoch: 'e', offset: 0, recovered: true });
    if (round === 0) {
      await chat.subscription('lobby')!.ready();
      stub.kill();
    }
  }
  const presence = next(chat.subscription('lobby')!, 'presence');
  stub.send({ type: 'presence', ns: '/chat', room: 'lobby', action: 'join', sid: 'x' });
  t.match(await presence, { action: 'join', sid: 'x' });
});

t.test('durable joins: since goes with the first join only, never an epoch', async (t) => {
  const stub = await startStub(t);
  const c = client(t, stub.url, { client: 'w' });
  c.join('q', { durable: true, since: 5, prefetch: 10 });
  const first = await stub.take((f) => f.type === 'join');
  t.same(first, { type: 'join', room: 'q', ns: '/', since: 5, durable: true, prefetch: 10, id: first.id });
  stub.send({ type: 'joined', ns: '/', room: 'q', id: first.id, epoch: 'e', offset: 9, recovered: true, durable: true });
  await c.join('q', { durable: true }).ready();
  stub.kill();
  const again = await stub.take((f) => f.type === 'join');
  t.same(again, { type: 'join', room: 'q', ns: '/', durable: true, prefetch: 10, id: again.id }, 'the server keeps the cursor');
});

t.test('a delivery whose ack was lost is acked again without running the handler twice', async (t) => {
  const stub = await startStub(t);
  const c = client(t, stub.url, { client: 'w' });
  const q = c.join('q', { durable: true });
  let runs = 0;
  q.on('m', () => void runs++);
  const join = await stub.take((f) => f.type === 'join');
  stub.send({ type: 'joined', ns: '/', room: 'q', id: join.id, epoch: 'e1', offset: 1, recovered: true, durable: true });
  stub.send(ev('q', 1, { id: 10, attempt: 1 }));
  t.same(await stub.take((f) => f.type === 'ack'), { type: 'ack', id: 10 });
  stub.send(ev('q', 1, { id: 11, attempt: 2 })); // as if the ack had been lost
  t.same(await stub.take((f) => f.type === 'ack'), { type: 'ack', id: 11 });
  t.equal(runs, 1);
});

t.test("the server's emitWithAck: the handler's result is the ack; a throw nacks", async (t) => {
  const stub = await startStub(t);
  const c = client(t, stub.url, { nackDelayMs: 0 });
  c.on('triple', async (n: number) => {
    if (n < 0) throw new Error('negative');
    return n * 3;
  });
  const errors: WsqError[] = [];
  c.on('error', (e) => errors.push(e));
  await c.ready();
  stub.send({ type: 'event', ns: '/', event: 'triple', data: 2, ts: 0, id: 77 });
  t.same(await stub.take((f) => f.id === 77), { type: 'ack', id: 77, data: 6 });
  stub.send({ type: 'event', ns: '/', event: 'triple', data: -1, ts: 0, id: 78 });
  t.same(await stub.take((f) => f.id === 78), { type: 'nack', id: 78 });
  t.equal(errors[0]?.code, 'handler_failed');
});

t.test('an emit that was sent and never acked times out; a late ack is ignored', async (t) => {
  const stub = await startStub(t);
  const c = client(t, stub.url);
  const errors: WsqError[] = [];
  c.on('error', (e) => errors.push(e));
  const p = c.emitWithAck('m', 1, { room: 'r', timeoutMs: 50 }).catch((e: unknown) => e);
  const emit = await stub.take((f) => f.type === 'emit');
  t.same(emit, { type: 'emit', event: 'm', data: 1, room: 'r', id: emit.id });
  const e = await p;
  t.ok(e instanceof WsqTimeoutError);
  const marker = next(c, 'marker');
  stub.send({ type: 'ack', id: emit.id, offset: 1, epoch: 'e' });
  stub.send({ type: 'event', ns: '/', event: 'marker', data: null, ts: 0 }); // arrives after the late ack
  await marker;
  t.same(errors, [], 'no error from the late ack');
});

t.test('a keyed emit in flight across a drop is resent with the same key', async (t) => {
  const stub = await startStub(t);
  const c = client(t, stub.url);
  const p = c.emitWithAck('m', 1, { room: 'r', key: 'k1' });
  const first = await stub.take((f) => f.type === 'emit');
  stub.kill();
  const second = await stub.take((f) => f.type === 'emit');
  t.equal(second.key, 'k1');
  t.same({ ...second, id: 0 }, { ...first, id: 0 }, 'the same frame');
  stub.send({ type: 'ack', id: second.id, offset: 4, epoch: 'e', duplicate: true });
  t.same(await p, { offset: 4, epoch: 'e', duplicate: true });
  t.equal(stub.connections, 2);
});

t.test('after a close with 1009 (message too big), emits in flight fail instead of being resent forever', async (t) => {
  // A real server never gets such a frame from this client (it checks maxPayload first);
  // a peer whose limit is below what it advertised can still close with 1009.
  const stub = await startStub(t, {
    auto: (f, s) => {
      if (f.type !== 'emit' || f.data !== 'big') return false;
      s.socket().close(1009, 'too big');
      return true;
    },
  });
  const c = client(t, stub.url);
  await c.ready();
  const e = (await within(
    c.emitWithAck('m', 'big', { room: 'r', key: 'k' }).catch((e: unknown) => e),
    5000,
    'rejection',
  )) as WsqError;
  t.equal(e.code, 'payload_too_large');
  t.match(e.message, /1009/);
  await within(next(c, 'open'), 5000, 'reconnected');
  c.emit('m', 'marker', { room: 'r' });
  await stub.take((f) => f.type === 'emit' && f.data === 'marker');
  t.equal(stub.frames.filter((f) => f.type === 'emit' && f.data === 'big').length, 1, 'sent once, not resent');
  t.equal(stub.connections, 2);
});

t.test('heartbeat: a silent server is dropped and the client reconnects', async (t) => {
  const stub = await startStub(t, { heartbeatMs: 40, auto: (f) => f.type === 'ping' }); // pings go unanswered
  const c = connect(stub.url, { backoff: FAST, heartbeatTimeoutMs: 40 });
  t.teardown(() => c.close());
  await c.ready();
  const closed = await next<{ code: number; reason: string; willReconnect: boolean }>(c, 'close', 5000);
  t.equal(closed.code, 1006);
  t.match(closed.reason, /nothing heard from the server/);
  t.equal(closed.willReconnect, true);
  await within(next(c, 'open'), 5000, 'reopened');
  t.ok(
    stub.frames.some((f) => f.type === 'ping'),
    'it pinged before giving up',
  );
});

t.test('heartbeat: a server that answers pings keeps the connection', async (t) => {
  let pings = 0;
  let third!: () => void;
  const thirdPing = new Promise<void>((r) => (third = r));
  const stub = await startStub(t, {
    heartbeatMs: 20,
    auto: (f, s) => {
      if (f.type !== 'ping') return false;
      s.send({ type: 'pong' });
      if (++pings === 3) third();
      return true;
    },
  });
  const c = connect(stub.url, { backoff: FAST, heartbeatTimeoutMs: 30 });
  t.teardown(() => c.close());
  let closes = 0;
  c.on('close', () => closes++);
  await within(thirdPing, 5000, 'three pings');
  t.equal(closes, 0);
  t.equal(stub.connections, 1);
});

t.test('malformed frames are reported and ignored; the connection stays', async (t) => {
  const stub = await startStub(t);
  const c = client(t, stub.url);
  await c.ready();
  const errors: WsqError[] = [];
  const three = new Promise<void>((r) => c.on('error', (e) => errors.push(e) === 3 && r()));
  stub.socket().send('not json');
  stub.send({ type: 'event', ns: '/' }); // fields missing
  stub.socket().send(Buffer.from([1, 2, 3]), { binary: true });
  await within(three, 5000, 'three errors');
  t.same(
    errors.map((e) => e.code),
    ['bad_json', 'bad_frame', 'unsupported_frame'],
  );
  t.equal(c.state, 'open');
});

t.test('close code 4000 (kicked) is terminal: no reconnect, waiting emits rejected', async (t) => {
  const stub = await startStub(t);
  const c = client(t, stub.url);
  await c.ready();
  const closed = next<{ code: number; willReconnect: boolean }>(c, 'close');
  stub.socket().close(4000, 'disconnected by the server');
  t.match(await closed, { code: 4000, willReconnect: false });
  t.equal(c.state, 'closed');
  t.equal(((await c.emitWithAck('m', 1, { room: 'r' }).catch((e: unknown) => e)) as WsqError).code, 'closed');
  t.equal(stub.connections, 1);
});

t.test('reconnect delays follow the backoff (injected random and timers); maxAttempts ends it', async (t) => {
  const free = net.createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', () => r()));
  const port = (free.address() as net.AddressInfo).port;
  await new Promise<void>((r) => free.close(() => r())); // nothing listens there now
  const scheduled: number[] = [];
  const c = connect(`ws://127.0.0.1:${port}/`, {
    heartbeat: false,
    backoff: { baseMs: 100, capMs: 400, random: () => 0.5, maxAttempts: 4 },
    // Reconnect delays run at once (recorded); the 10 s ack timeout stays a real timer.
    timers: {
      setTimeout: (fn, ms) => (ms < 1000 ? (scheduled.push(ms), { now: setImmediate(fn) }) : { later: setTimeout(fn, ms) }),
      clearTimeout: (h: { now?: NodeJS.Immediate; later?: NodeJS.Timeout }) => (h.now ? clearImmediate(h.now) : clearTimeout(h.later)),
    },
  });
  const delays: number[] = [];
  c.on('reconnecting', ({ delayMs }) => delays.push(delayMs));
  const final = new Promise<void>((r) => c.on('close', (i) => !i.willReconnect && r()));
  const pending = c.emitWithAck('m', 1, { room: 'r' }).catch((e: unknown) => e);
  await within(final, 10_000, 'gave up');
  t.same(delays, [50, 100, 200, 200], 'full jitter at 0.5: half of min(cap, base × 2^n)');
  t.same(scheduled, [50, 100, 200, 200], 'through the injected timers');
  t.equal(c.state, 'closed');
  t.equal(((await pending) as WsqError).code, 'closed');
});

t.test('an attempt that is never welcomed is given up after connectTimeoutMs and retried', async (t) => {
  const held: net.Socket[] = [];
  const silent = net.createServer((s) => held.push(s)); // accepts TCP, never answers the upgrade
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const s of held) s.destroy();
        silent.close(() => r());
      }),
  );
  const port = (silent.address() as net.AddressInfo).port;
  const c = client(t, `ws://127.0.0.1:${port}/`, { connectTimeoutMs: 50 });
  const closed = await next<{ code: number; reason: string; willReconnect: boolean }>(c, 'close', 5000);
  t.match(closed, { code: 1006, willReconnect: true });
  t.match(closed.reason, /no welcome from the server within 50 ms/);
  await within(next(c, 'close', 5000), 5000, 'a second attempt');
  t.ok(held.length >= 2, `${held.length} attempts reached the server`);
});
