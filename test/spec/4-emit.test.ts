/**
 * PROTOCOL.md §4.5 emit: room emits (stored, echo, volatile), direct emits to a sid,
 * emits to the server's handlers, and the ack to an emit with an id.
 */
import t from 'tap';
import { EventFrame, ServerAckFrame } from '../../protocol/frames.js';
import type { RawClient } from '../helpers/raw-client.js';
import { rawClient, startServer, type Tap } from '../helpers/server.js';

/** n clients that all joined `room`. */
async function members(t: Tap, url: string, room: string, n: number): Promise<RawClient[]> {
  const out: RawClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = await rawClient(t, url);
    await c.request({ type: 'join', room });
    out.push(c);
  }
  return out;
}

t.test('4.5 a room emit reaches every member but the sender', async (t) => {
  const { url } = await startServer(t);
  const [a, b, c] = await members(t, url, 'r', 3);
  a!.send({ type: 'emit', room: 'r', event: 'hello', data: { n: 1 } });
  for (const m of [b!, c!]) {
    const ev = await m.next('event');
    t.ok(EventFrame.safeParse(ev).success, 'event matches its schema');
    t.match(ev, { type: 'event', ns: '/', room: 'r', event: 'hello', data: { n: 1 }, offset: 1, epoch: String, from: a!.welcome.sid, ts: Number });
    t.notOk('id' in ev, 'a live event of a plain member carries no delivery id');
  }
  await a!.sync();
  t.same(
    a!.seen((f) => f.type === 'event'),
    [],
    'the sender does not get its own emit',
  );
});

t.test('4.5 echo: true includes the sender', async (t) => {
  const { url } = await startServer(t);
  const [a, b] = await members(t, url, 'r', 2);
  a!.send({ type: 'emit', room: 'r', event: 'mine', echo: true });
  t.match(await a!.next('event'), { event: 'mine', from: a!.welcome.sid, offset: 1 });
  t.match(await b!.next('event'), { event: 'mine', offset: 1 });
});

t.test('4.5 data defaults to null', async (t) => {
  const { url } = await startServer(t);
  const [a, b] = await members(t, url, 'r', 2);
  a!.send({ type: 'emit', room: 'r', event: 'bare' });
  const ev = await b!.next('event');
  t.ok('data' in ev);
  t.equal(ev.data, null);
});

t.test('4.5 an emit with id is acked with offset and epoch after it is stored; offsets count up', async (t) => {
  const { url } = await startServer(t);
  const [a, b] = await members(t, url, 'r', 2);
  const acks = [];
  for (let i = 1; i <= 3; i++) acks.push(await a!.request({ type: 'emit', room: 'r', event: 'n', data: i, id: `e${i}` }));
  for (const [i, ack] of acks.entries()) {
    t.ok(ServerAckFrame.safeParse(ack).success);
    t.match(ack, { type: 'ack', id: `e${i + 1}`, offset: i + 1, epoch: String });
  }
  t.equal(new Set(acks.map((x) => x.epoch)).size, 1, 'one epoch');
  const evs = await b!.collect((f) => f.type === 'event', 3);
  t.same(
    evs.map((e) => [e.offset, e.data]),
    [
      [1, 1],
      [2, 2],
      [3, 3],
    ],
    'delivered in offset order',
  );
  t.equal(evs[0]!.epoch, acks[0]!.epoch);
});

t.test('4.5 an emit without id gets no reply', async (t) => {
  const { url } = await startServer(t);
  const [a] = await members(t, url, 'r', 1);
  a!.send({ type: 'emit', room: 'r', event: 'quiet' });
  await a!.sync();
  t.same(
    a!.seen((f) => f.type !== 'welcome' && f.type !== 'joined' && f.type !== 'pong'),
    [],
  );
});

t.test('4.5 a client need not be a member to emit into a room', async (t) => {
  const { url } = await startServer(t);
  const [m] = await members(t, url, 'jobs', 1);
  const producer = await rawClient(t, url);
  t.match(await producer.request({ type: 'emit', room: 'jobs', event: 'job', data: 'a', id: 1 }), { type: 'ack', id: 1, offset: 1 });
  t.match(await m!.next('event'), { event: 'job', data: 'a', from: producer.welcome.sid });
});

t.test('4.5 volatile room emits are not stored and get no offset', async (t) => {
  const { url } = await startServer(t);
  const [a, b] = await members(t, url, 'r', 2);
  const ack = await a!.request({ type: 'emit', room: 'r', event: 'tick', volatile: true, id: 'v' });
  t.same(ack, { type: 'ack', id: 'v' }, 'ack without offset');
  const ev = await b!.next('event');
  t.match(ev, { event: 'tick', room: 'r', from: a!.welcome.sid });
  t.notOk('offset' in ev, 'no offset');
  t.notOk('epoch' in ev, 'no epoch');
  t.match(await a!.request({ type: 'emit', room: 'r', event: 'stored', id: 's' }), { offset: 1 }, 'the next stored emit still gets offset 1');
  t.match(await a!.request({ type: 'emit', room: 'r', event: 'tick', volatile: true, echo: true, id: 've' }), { type: 'ack', id: 've' });
  // A volatile emit is acked once fanned out, so the echoed event came before the ack.
  t.match(
    a!.seen((f) => f.type === 'event' && f.event === 'tick'),
    [{ from: a!.welcome.sid }],
    'volatile echo reaches the sender',
  );
});

t.test('4.5 a direct emit to a sid reaches that connection only and is not stored', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  const c = await rawClient(t, url);
  const ack = await a.request({ type: 'emit', room: b.welcome.sid, event: 'dm', data: 'psst', id: 1 });
  t.same(ack, { type: 'ack', id: 1 }, 'no offset: direct emits are never stored');
  const ev = await b.next('event');
  t.match(ev, { type: 'event', ns: '/', event: 'dm', data: 'psst', room: b.welcome.sid, from: a.welcome.sid });
  t.notOk('offset' in ev);
  for (const x of [a, c]) {
    await x.sync();
    t.same(
      x.seen((f) => f.type === 'event'),
      [],
      'nobody else gets it',
    );
  }
});

t.test('4.5 an emit without room and no handler → no_handler (stand-alone)', async (t) => {
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  t.match(await c.request({ type: 'emit', event: 'hello', id: 1 }), { type: 'error', code: 'no_handler', id: 1 });
  c.send({ type: 'emit', event: 'hello' });
  t.match(await c.next('error'), { code: 'no_handler' }, 'also without id');
});

t.test('4.5 an emit without room goes to the server handler; its reply is ack.data', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const got: unknown[] = [];
  server.on('connection', (socket) => {
    socket.on('add', (data, reply) => {
      got.push(data);
      const { a, b } = data as { a: number; b: number };
      reply({ sum: a + b });
    });
    socket.on('fire', (data) => void got.push(data));
  });
  const c = await rawClient(t, url);
  t.same(await c.request({ type: 'emit', event: 'add', data: { a: 2, b: 3 }, id: 'q' }), { type: 'ack', id: 'q', data: { sum: 5 } });
  c.send({ type: 'emit', event: 'fire', data: 'and forget' });
  await c.sync();
  t.same(got, [{ a: 2, b: 3 }, 'and forget']);
  t.same(c.seen((f) => f.type === 'ack' || f.type === 'error').length, 1, 'an emit without id gets no ack');
});

t.test('4.5 emit to a room in another namespace', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  for (const c of [a, b]) await c.request({ type: 'connect', ns: '/chat' });
  await b.request({ type: 'join', ns: '/chat', room: 'r' });
  t.match(await a.request({ type: 'emit', ns: '/chat', room: 'r', event: 'x', id: 1 }), { type: 'ack', offset: 1 });
  t.match(await b.next('event'), { ns: '/chat', room: 'r', event: 'x', offset: 1 });
});

t.test('4.5 bad emits → bad_frame (reserved names, flags without room, key on unstored emits, wrong types)', async (t) => {
  const { url } = await startServer(t);
  const [a, b] = await members(t, url, 'r', 2);
  const bad: Record<string, unknown>[] = [
    { event: 'disconnect', room: 'r' },
    { event: '$internal', room: 'r' },
    { event: 'connect_error', room: 'r' },
    { event: '', room: 'r' },
    { room: 'r' },
    { event: 'x', volatile: true },
    { event: 'x', echo: true },
    { event: 'x', key: 'k' },
    { event: 'x', room: 'r', volatile: true, key: 'k' },
    { event: 'x', room: a!.welcome.sid, key: 'k' },
    { event: 'x', room: 'r', volatile: 'yes' },
    { event: 'x', room: 7 },
    { event: 42, room: 'r' },
    { event: 'x', room: 'r', rom: 'r' },
  ];
  for (const [i, f] of bad.entries()) {
    t.match(await a!.request({ type: 'emit', ...f, id: i }), { type: 'error', code: 'bad_frame', id: i }, JSON.stringify(f));
  }
  await b!.sync();
  t.same(
    b!.seen((f) => f.type === 'event'),
    [],
    'none of them was delivered',
  );
  t.match(await a!.request({ type: 'emit', room: 'r', event: 'ok', id: 'ok' }), { type: 'ack', offset: 1 }, 'nothing was stored either');
});

t.test('R4.5.3 a volatile echo reaches only a sender that is a live member of the room', async (t) => {
  const { url } = await startServer(t);
  const live = await rawClient(t, url);
  await live.request({ type: 'join', room: 'r' });
  const outsider = await rawClient(t, url);
  const durable = await rawClient(t, `${url}?client=dur`);
  t.match(await durable.request({ type: 'join', room: 'r', durable: true }), { type: 'joined', durable: true });
  const worker = await rawClient(t, url);
  t.match(await worker.request({ type: 'join', room: 'r', group: 'g' }), { type: 'joined', group: 'g' });
  for (const [name, c] of [
    ['non-member', outsider],
    ['durable member', durable],
    ['group member', worker],
  ] as const) {
    t.same(await c.request({ type: 'emit', room: 'r', event: 'v', volatile: true, echo: true, id: name }), { type: 'ack', id: name });
    t.match(await live.next((f) => f.event === 'v'), { from: c.welcome.sid }, `the live member gets the ${name}'s volatile emit`);
    await c.sync();
    t.same(
      c.seen((f) => f.type === 'event'),
      [],
      `no echo to a ${name}`,
    );
  }
  t.same(await live.request({ type: 'emit', room: 'r', event: 'v', volatile: true, echo: true, id: 'live' }), { type: 'ack', id: 'live' });
  t.match(
    live.seen((f) => f.event === 'v' && f.from === live.welcome.sid),
    [{ room: 'r' }],
    'a live member gets its echo',
  );
});

t.test('R4.5.2 a direct emit with echo: the sender gets its copy once', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  t.same(await a.request({ type: 'emit', room: b.welcome.sid, event: 'dm', echo: true, id: 1 }), { type: 'ack', id: 1 });
  t.match(await b.next('event'), { event: 'dm', room: b.welcome.sid, from: a.welcome.sid });
  t.equal(a.seen((f) => f.event === 'dm').length, 1, 'one echo to the sender');
  t.same(await a.request({ type: 'emit', room: a.welcome.sid, event: 'self', echo: true, id: 2 }), { type: 'ack', id: 2 });
  t.equal(a.seen((f) => f.event === 'self').length, 1, 'a direct emit to oneself arrives once');
});
