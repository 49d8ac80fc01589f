/**
 * The server library's broadcasts (design §5): to/except targeting with one delivery per
 * socket, nsp.emit, volatile, local, timeout(ms).emitWithAck over a room, and nsp.publish
 * appending to a room's log.
 */
import t from 'tap';
import { WsqError } from '../../lib/errors.js';
import { clientSocket, rawClient, startServer } from '../helpers/server.js';

const declared = { namespaces: 'declared' as const };

t.test('nsp.to(a).to(b).except(c).emit: once to a socket in both rooms, none to c', async (t) => {
  const { server, url } = await startServer(t, declared);
  const both = await clientSocket(t, server, url);
  const onlyA = await clientSocket(t, server, url);
  const excluded = await clientSocket(t, server, url);
  const outside = await clientSocket(t, server, url);
  both.socket.join(['a', 'b']);
  onlyA.socket.join('a');
  excluded.socket.join(['a', 'c']);
  server.sockets.to('a').to('b').except('c').emit('multi', { n: 1 });
  t.match(await both.c.next('event'), { type: 'event', ns: '/', event: 'multi', data: { n: 1 } });
  t.match(await onlyA.c.next('event'), { event: 'multi' });
  for (const x of [both, excluded, outside]) await x.c.sync();
  t.equal(both.c.seen((f) => f.event === 'multi').length, 1, 'a socket in two targeted rooms gets it once');
  t.same(
    excluded.c.seen((f) => f.type === 'event'),
    [],
    'the except room is skipped',
  );
  t.same(
    outside.c.seen((f) => f.type === 'event'),
    [],
    'a socket in no targeted room gets nothing',
  );
  server.sockets.to(['a', 'b']).except(onlyA.socket.id).emit('array-form');
  t.match(await both.c.next('event'), { event: 'array-form' });
  t.match(await excluded.c.next('event'), { event: 'array-form' });
  await onlyA.c.sync();
  t.same(
    onlyA.c.seen((f) => f.event === 'array-form'),
    [],
    'a sid works as an except room',
  );
});

t.test('nsp.emit reaches every socket of that namespace only; server.emit is the main namespace', async (t) => {
  const { server, url } = await startServer(t, declared);
  const chat = server.of('/chat');
  const inChat = await clientSocket(t, server, url, '/chat');
  const onlyMain = await clientSocket(t, server, url);
  chat.emit('chat-wide', 1);
  t.match(await inChat.c.next('event'), { ns: '/chat', event: 'chat-wide', data: 1 });
  server.emit('main-wide', 2);
  t.match(await onlyMain.c.next('event'), { ns: '/', event: 'main-wide' });
  t.match(await inChat.c.next('event'), { ns: '/', event: 'main-wide' }, 'the chat client is in "/" too');
  await onlyMain.c.sync();
  t.same(
    onlyMain.c.seen((f) => f.event === 'chat-wide'),
    [],
  );
});

t.test('volatile and local broadcasts are delivered (live, never stored)', async (t) => {
  const { server, url } = await startServer(t, declared);
  const a = await clientSocket(t, server, url);
  a.socket.join('r');
  server.sockets.volatile.to('r').emit('v', 1);
  const ev = await a.c.next('event');
  t.match(ev, { event: 'v', data: 1 });
  t.notOk('offset' in ev);
  server.sockets.local.to('r').emit('l', 2);
  t.match(await a.c.next('event'), { event: 'l', data: 2 });
  server.sockets.to('r').volatile.local.emit('vl', 3);
  t.match(await a.c.next('event'), { event: 'vl', data: 3 });
  const j = await a.c.request({ type: 'join', room: 'r', since: 'earliest' });
  t.match(j, { offset: 0 }, 'nothing was stored');
});

t.test('timeout(ms).emitWithAck over a room collects every answer', async (t) => {
  const { server, url } = await startServer(t, declared);
  const voters = await Promise.all([0, 1, 2].map(() => clientSocket(t, server, url)));
  const outsider = await clientSocket(t, server, url);
  for (const v of voters) v.socket.join('voters');
  const p = server.sockets.timeout(3000).to('voters').emitWithAck('vote?', { q: 'lunch' });
  for (const [i, v] of voters.entries()) {
    const ev = await v.c.next('event');
    t.match(ev, { event: 'vote?', data: { q: 'lunch' }, id: Number });
    v.c.send({ type: 'ack', id: ev.id, data: `answer-${i}` });
  }
  t.same((await p).sort(), ['answer-0', 'answer-1', 'answer-2']);
  await outsider.c.sync();
  t.same(
    outsider.c.seen((f) => f.type === 'event'),
    [],
  );
  t.same(await server.sockets.to('empty').emitWithAck('anyone?'), [], 'an empty room answers at once');
});

t.test('timeout(ms).emitWithAck rejects with WsqError timeout carrying the answers so far', async (t) => {
  const { server, url } = await startServer(t, declared);
  const fast = await clientSocket(t, server, url);
  const mute = await clientSocket(t, server, url);
  for (const v of [fast, mute]) v.socket.join('r');
  const p = server.sockets
    .to('r')
    .timeout(1000)
    .emitWithAck('ping?')
    .catch((e: unknown) => e);
  const ev = await fast.c.next('event');
  fast.c.send({ type: 'ack', id: ev.id, data: 'here' });
  await fast.c.sync(); // the ack was handled before this pong
  const unanswered = await mute.c.next('event');
  const err = (await p) as WsqError;
  t.ok(err instanceof WsqError);
  t.equal(err.code, 'timeout');
  t.same(err.details, ['here']);
  mute.c.send({ type: 'ack', id: unanswered.id, data: 'too late' });
  t.match(await mute.c.next('error'), { code: 'unknown_id', details: { delivery: unanswered.id } }, 'after the timeout the request no longer waits (as socket.emitWithAck)');
});

t.test('timeout(ms).emitWithAck: a client that nacks is left out of the answers', async (t) => {
  const { server, url } = await startServer(t, declared);
  const yes = await clientSocket(t, server, url);
  const no = await clientSocket(t, server, url);
  for (const v of [yes, no]) v.socket.join('r');
  const p = server.sockets.to('r').timeout(3000).emitWithAck('agree?');
  const e1 = await yes.c.next('event');
  const e2 = await no.c.next('event');
  yes.c.send({ type: 'ack', id: e1.id, data: 'yes' });
  no.c.send({ type: 'nack', id: e2.id });
  t.same(await p, ['yes']);
});

t.test('compress(false) broadcasts and socket emits are delivered (permessage-deflate on)', async (t) => {
  const { server, url } = await startServer(t, { ...declared, perMessageDeflate: { threshold: 0 } });
  const a = await clientSocket(t, server, url);
  a.socket.join('r');
  server.sockets.compress(false).to('r').emit('plain', 'x'.repeat(2000));
  t.match(await a.c.next('event'), { event: 'plain', data: 'x'.repeat(2000) });
  server.sockets.to('r').emit('deflated', 'y'.repeat(2000));
  t.match(await a.c.next('event'), { event: 'deflated' });
  a.socket.compress(false).emit('one', 1);
  a.socket.emit('two', 2);
  t.match(await a.c.collect((f) => f.type === 'event', 2), [{ event: 'one' }, { event: 'two' }]);
});

t.test('socket.timeout / nsp.except with emitWithAck exclude the sender', async (t) => {
  const { server, url } = await startServer(t, declared);
  const a = await clientSocket(t, server, url);
  const b = await clientSocket(t, server, url);
  for (const v of [a, b]) v.socket.join('r');
  const p = a.socket.to('r').timeout(3000).emitWithAck('others?');
  const ev = await b.c.next('event');
  b.c.send({ type: 'ack', id: ev.id, data: 'b' });
  t.same(await p, ['b']);
  await a.c.sync();
  t.same(
    a.c.seen((f) => f.type === 'event'),
    [],
  );
});

t.test('nsp.publish stores to the room log: offsets, live delivery, replay', async (t) => {
  const { server, url } = await startServer(t, declared);
  const live = await rawClient(t, url);
  await live.request({ type: 'join', room: 'news' });
  const r1 = await server.sockets.publish('news', 'headline', { title: 'one' });
  const r2 = await server.publish('news', 'headline', { title: 'two' });
  t.match(r1, { offset: 1, epoch: String, duplicate: false });
  t.match(r2, { offset: 2, epoch: r1.epoch });
  const evs = await live.collect((f) => f.type === 'event', 2);
  t.match(evs, [
    { event: 'headline', room: 'news', data: { title: 'one' }, offset: 1, epoch: r1.epoch },
    { event: 'headline', room: 'news', data: { title: 'two' }, offset: 2 },
  ]);
  t.notOk('from' in evs[0]!, 'a server publish has no sender');
  const late = await rawClient(t, url);
  const j = await late.request({ type: 'join', room: 'news', since: 0, epoch: r1.epoch });
  t.match(j, { type: 'joined', offset: 2, recovered: true, replay: { from: 1, to: 2, count: 2 } });
  t.match(await late.collect((f) => f.type === 'event', 2), [
    { offset: 1, replay: true },
    { offset: 2, replay: true },
  ]);
  const k1 = await server.sockets.publish('news', 'once', null, { key: 'k' });
  const k2 = await server.sockets.publish('news', 'once', null, { key: 'k' });
  t.match(k2, { offset: k1.offset, duplicate: true }, 'a repeated key is stored once');
});

t.test('nsp.publish in a namespace other than "/"', async (t) => {
  const { server, url } = await startServer(t, declared);
  const chat = server.of('/chat');
  const { c } = await clientSocket(t, server, url, '/chat');
  await c.request({ type: 'join', ns: '/chat', room: 'r' });
  const r = await chat.publish('r', 'e', 7);
  t.match(await c.next('event'), { ns: '/chat', room: 'r', event: 'e', data: 7, offset: r.offset });
});

t.test('R4.5.1 library broadcasts and publish refuse reserved names on every path', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const { c, socket } = await clientSocket(t, server, url);
  socket.join('r');
  const nsp = server.sockets;
  for (const name of ['disconnect', 'connect', 'connect_error', 'disconnecting', '$x']) {
    t.throws(() => nsp.emit(name, 1), TypeError, `nsp.emit("${name}")`);
    t.throws(() => server.emit(name), TypeError, `server.emit("${name}")`);
    t.throws(() => nsp.to('r').emit(name), TypeError, `to().emit("${name}")`);
    t.throws(() => socket.broadcast.emit(name), TypeError, `socket.broadcast.emit("${name}")`);
    t.throws(() => socket.emit(name), TypeError, `socket.emit("${name}")`);
    t.equal(
      (
        (await nsp
          .timeout(50)
          .emitWithAck(name)
          .catch((e: unknown) => e)) as Error
      ).name,
      'TypeError',
      `emitWithAck("${name}") rejects`,
    );
    t.equal(((await nsp.publish('r', name).catch((e: unknown) => e)) as Error).name, 'TypeError', `publish("${name}") rejects`);
  }
  t.throws(() => nsp.emit('connection', {}), TypeError, 'a namespace\'s "connection" is reserved too');
  t.match(await c.request({ type: 'emit', room: 'r', event: 'disconnect', id: 1 }), { code: 'bad_frame', id: 1 }, 'a client emit of a reserved name: bad_frame');
  await c.sync();
  t.same(
    c.seen((f) => f.type === 'event'),
    [],
    'nothing reached the client',
  );
  t.match(await nsp.publish('r', 'fine'), { offset: 1 }, 'nothing was stored');
  const listeners: string[] = [];
  nsp.on('newListener', (e: string) => listeners.push(e));
  nsp.on('connection', () => undefined);
  t.same(listeners, ['connection'], "EventEmitter's own newListener still works");
});
