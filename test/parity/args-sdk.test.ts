/**
 * Issue 10 item 1 in the client SDK, both directions, over real sockets (PROTOCOL.md R4.5.10,
 * R4.5.11, R4.6.4, R6.5.4, R6.6.2). Written from socket.io-client's documented behaviour
 * ("Emitting events", "Acknowledgements"): `socket.emit(ev, a, b, cb)`, `socket.on(ev, (a, b, cb) =>
 * cb(x))`, `socket.timeout(ms).emit(ev, (err, ...answers) => …)`, `await socket.emitWithAck(ev, …)`.
 */
import t, { type Test } from 'tap';
import type { Message } from '../../lib/client/index.js';
import type { Socket } from '../../lib/index.js';
import { startServer } from '../helpers/server.js';
import { client, within } from '../client/util.js';

type Reply = (...answers: unknown[]) => void;

/** A server with Socket.IO-style handlers, and a connected SDK client. */
async function setup(t: Test) {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const sockets: Socket[] = [];
  server.on('connection', (socket) => {
    sockets.push(socket);
    socket.on('add', (a: number, b: number, reply: Reply) => reply(a + b));
    socket.on('two', (reply: Reply) => reply('first', 'second'));
    socket.on('count', (...all: unknown[]) => (all.at(-1) as Reply)(all.length - 1));
    socket.on('silent', () => {});
  });
  const c = client(t, url);
  await c.ready();
  return { server, url, c, socket: () => sockets[0]! };
}

t.test('R4.5.10 client.emit(ev, a, b, cb): the handler gets a, b and its reply reaches cb', async (t) => {
  const { c } = await setup(t);
  const sum = await within(new Promise<unknown[]>((resolve) => c.emit('add', 2, 3, (...a: unknown[]) => resolve(a))), 3000, 'cb');
  t.same(sum, [5]);
  const answers = await within(new Promise<unknown[]>((resolve) => c.emit('two', (...a: unknown[]) => resolve(a))), 3000, 'cb');
  t.same(answers, ['first', 'second'], 'emit(ev, cb): no data, and several answers reach the callback');
  const counted = await within(new Promise<unknown[]>((resolve) => c.emit('count', 'a', null, undefined, [1], (...a: unknown[]) => resolve(a))), 3000, 'cb');
  t.same(counted, [4], 'every argument arrives, null and undefined (as null) included');
  const zero = await within(new Promise<unknown[]>((resolve) => c.emit('count', (...a: unknown[]) => resolve(a))), 3000, 'cb');
  t.same(zero, [0], 'zero arguments are zero arguments');
});

t.test('R4.6.4 emitWithAck resolves with the answer itself; the first of several', async (t) => {
  const { c } = await setup(t);
  t.equal(await within(c.emitWithAck('add', 20, 22), 3000, 'add'), 42);
  t.equal(await within(c.emitWithAck('two'), 3000, 'two'), 'first', 'several answers: the first, as Socket.IO');
  const trailing = await within(c.emitWithAck('count', 'x', { timeoutMs: 2000 }), 3000, 'count');
  t.equal(trailing, 1, 'a trailing object of option names only is the options');
  const escaped = await within(c.emitWithAck('count', 'x', { timeoutMs: 2000 }, {}), 3000, 'count');
  t.equal(escaped, 2, 'followed by {} it is an argument');
});

t.test('R4.6.4 client.timeout(ms): error-first callback, bounded emitWithAck', async (t) => {
  const { c } = await setup(t);
  const ok = await within(new Promise<unknown[]>((resolve) => c.timeout(3000).emit('add', 1, 2, (...a: unknown[]) => resolve(a))), 4000, 'ok');
  t.same(ok, [null, 3], 'answered: (null, ...answers)');
  const late = await within(new Promise<unknown[]>((resolve) => c.timeout(50).emit('silent', 1, (...a: unknown[]) => resolve(a))), 3000, 'late');
  t.match(late[0], { code: 'timeout' }, 'no answer within ms: the error first');
  t.match(
    await c
      .timeout(50)
      .emitWithAck('silent')
      .catch((e: unknown) => e),
    { code: 'timeout' },
  );
  const refused = await within(new Promise<unknown[]>((resolve) => c.timeout(2000).emit('nobody-handles', (...a: unknown[]) => resolve(a))), 3000, 'refused');
  t.match(refused[0], { code: 'no_handler' }, "the server's refusal comes first too");
});

t.test("R6.5.4 the server's socket.emit(ev, a, b) reaches client handlers as (a, b, msg); one value as (data, msg)", async (t) => {
  const { c, socket } = await setup(t);
  await c.emitWithAck('add', 0, 0); // the socket exists
  const pair = new Promise<unknown[]>((resolve) => c.on('pair', (...a: unknown[]) => resolve(a)));
  socket().emit('pair', 'a', { b: 2 });
  const got = await within(pair, 3000, 'pair');
  t.same(got.slice(0, 2), ['a', { b: 2 }]);
  const m = got[2] as Message;
  t.same([m.event, m.args, typeof m], ['pair', ['a', { b: 2 }], 'function'], 'the message comes last (callable: the ack callback), every argument in args');
  const any = new Promise<unknown[]>((resolve) => c.onAny((...a: unknown[]) => resolve(a)));
  const one = new Promise<unknown[]>((resolve) => c.on('one', (...a: unknown[]) => resolve(a)));
  socket().emit('one', { x: 1 });
  const [data, msg] = await within(one, 3000, 'one');
  t.same(data, { x: 1 });
  t.equal((msg as Message).data, data, 'one value: (data, msg) as before');
  const anyArgs = await within(any, 3000, 'onAny');
  t.same(anyArgs.slice(0, 2), ['one', { x: 1 }], 'onAny: (event, ...args, msg)');
});

t.test('R4.6.4 the server asks, the client answers: callback (msg is the ack callback) and return value', async (t) => {
  const { c, socket } = await setup(t);
  await c.emitWithAck('add', 0, 0);
  c.on('question', (n: number, ...rest: unknown[]) => {
    const cb = rest.at(-1) as (...a: unknown[]) => void;
    cb(n + 1, 'plus one');
  });
  c.on('returned', (n: number) => n * 2);
  const answers = await within(new Promise<unknown[]>((resolve) => socket().emit('question', 1, (...a: unknown[]) => resolve(a))), 3000, 'question');
  t.same(answers, [2, 'plus one'], "socket.emit(ev, a, cb): cb gets every answer of the client's callback");
  t.equal(await within(socket().emitWithAck('returned', 21), 3000, 'returned'), 42, "a handler's return value answers emitWithAck");
  const timed = await within(
    new Promise<unknown[]>((resolve) =>
      socket()
        .timeout(2000)
        .emit('question', 10, (...a: unknown[]) => resolve(a)),
    ),
    3000,
    'timed',
  );
  t.same(timed, [null, 11, 'plus one'], 'timeout(ms).emit: (null, ...answers)');
});

t.test('R4.5.11 room emits with several arguments through the SDK: live and replayed', async (t) => {
  const { server, url } = await startServer(t);
  void server;
  const sub = client(t, url);
  const pub = client(t, url);
  const room = sub.join('r');
  const live = new Promise<unknown[]>((resolve) => room.on('m', (...a: unknown[]) => resolve(a)));
  await room.ready();
  const ack = await within(pub.emitWithAck('m', 'a', 2, { room: 'r' }), 3000, 'publish');
  t.match(ack, { offset: 1 }, 'a room emitWithAck still resolves with the ack (offset, epoch)');
  const got = await within(live, 3000, 'live');
  t.same(got.slice(0, 2), ['a', 2]);
  t.same([(got[2] as Message).offset, (got[2] as Message).room], [1, 'r']);
  pub.emit('m', { room: 'not options' }, { room: 'r' });
  const late = client(t, url);
  const replayed: unknown[][] = [];
  const done = new Promise<void>((resolve) =>
    late.join('r', { since: 0 }).on('m', (...a: unknown[]) => {
      replayed.push(a.slice(0, -1));
      if (replayed.length === 2) resolve();
    }),
  );
  await within(done, 3000, 'replay');
  t.same(replayed, [['a', 2], [{ room: 'not options' }]], 'the replay gives the same arguments; a lone object before the options is data');
});
