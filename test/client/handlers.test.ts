/**
 * What handlers can rely on, against a real server: a delivery is never acked without a
 * handler, the namespace's onAny sees its rooms, a throwing manual-ack handler nacks,
 * late answers do not fail unrelated requests, and leave() does not reject.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import { MemoryAdapter } from '../../lib/index.js';
import type { Message, WsqError } from '../../lib/client/index.js';
import { client, deferred, jobsUntil, next, within } from './util.js';

t.test('direct messages stored while offline are not lost when the handler is added after ready()', async (t) => {
  // Left unacked without a handler (I7 #18): the server's ack timeout brings them back.
  const { url } = await startServer(t, { ackTimeoutMs: 200 });
  const pub = client(t, url);
  for (let i = 1; i <= 3; i++) await pub.emitWithAck('dm', `m${i}`, { room: '@alice' });

  const alice = client(t, url, { client: 'alice', nackDelayMs: 50 });
  const noHandler = next<WsqError>(alice, 'error');
  await alice.ready();
  const e = await noHandler; // the deliveries arrived with nobody to take them
  t.equal(e.code, 'no_handler');
  t.match(e.message, /"dm"/);
  const seen: string[] = [];
  const three = deferred();
  alice.on('dm', (text: string) => {
    if (!seen.includes(text)) seen.push(text);
    if (seen.length === 3) three.resolve();
  });
  await within(three.promise, 5000, 'the three direct messages, redelivered');
  t.same(seen.sort(), ['m1', 'm2', 'm3']);
  await alice.close();

  // Handled now, so acked: a new session gets only what is new.
  const again = client(t, url, { client: 'alice' });
  const got: string[] = [];
  const marker = deferred();
  again.on('dm', (text: string) => {
    got.push(text);
    if (text === 'marker') marker.resolve();
  });
  await pub.emitWithAck('dm', 'marker', { room: '@alice' });
  await within(marker.promise, 5000, 'marker');
  t.same(got, ['marker']);
});

t.test('a durable delivery with no handler yet is left unacked, and reaches the handler added later', async (t) => {
  const { url } = await startServer(t, { ackTimeoutMs: 200 });
  const pub = client(t, url);
  const w = client(t, url, { client: 'w', nackDelayMs: 50 });
  const jobs = w.join('jobs', { durable: true });
  await jobs.ready();
  const noHandler = next<WsqError>(jobs, 'error');
  await pub.emitWithAck('job', 1, { room: 'jobs' });
  t.equal((await noHandler).code, 'no_handler');
  const got = deferred<[number, number | undefined]>();
  jobs.on('job', (n: number, msg) => got.resolve([n, msg.attempt]));
  const [n, attempt] = await within(got.promise, 5000, 'the job, redelivered');
  t.equal(n, 1);
  t.ok(attempt! >= 2, `attempt ${attempt}: it was not acked`);
});

t.test("the server's emitWithAck to an event nobody handles times out on the server instead of resolving", async (t) => {
  const { server, url } = await startServer(t);
  const outcome = new Promise<unknown>((resolve) =>
    server.on('connection', (socket) => {
      socket.emitWithAck('ask', 1, { timeoutMs: 300 }).then(
        (answer) => resolve({ answer }),
        (e: { code?: string }) => resolve({ code: e.code }),
      );
    }),
  );
  const c = client(t, url);
  const errors: WsqError[] = [];
  c.on('error', (e) => errors.push(e));
  t.same(await within(outcome, 5000, 'server outcome'), { code: 'timeout' });
  t.same(
    errors.map((e) => e.code),
    ['no_handler'],
  );
});

t.test("a namespace's onAny sees the events of its rooms", async (t) => {
  const { url } = await startServer(t);
  const c = client(t, url);
  const chat = c.ns('/chat');
  const got = deferred<[string, unknown, string | undefined]>();
  chat.onAny((event, data, msg) => got.resolve([event, data, msg.room]));
  await chat.join('lobby').ready();
  await client(t, url).ns('/chat').emitWithAck('say', 'hi', { room: 'lobby' });
  t.same(await within(got.promise, 5000, 'onAny'), ['say', 'hi', 'lobby']);
});

t.test('with autoAck: false, a handler that throws before answering nacks (the job comes back at once)', async (t) => {
  // The server's ackTimeoutMs stays 30 s: a redelivery within the test comes from the nack.
  const { url } = await startServer(t);
  const pub = client(t, url);
  const w = client(t, url, { client: 'm', nackDelayMs: 0 });
  const jobs = w.join('jobs', { durable: true, autoAck: false });
  await jobs.ready();
  const errors: WsqError[] = [];
  jobs.on('error', (e) => errors.push(e));
  const runs: [string, number | undefined][] = [];
  const done = deferred();
  jobs.on('job', async (name: string, msg: Message<string>) => {
    runs.push([name, msg.attempt]);
    if (name === 'flaky' && msg.attempt === 1) throw new Error('flaky');
    if (name === 'acked-then-threw') {
      msg.ack();
      throw new Error('after the ack');
    }
    msg.ack();
    if (name === 'last') done.resolve();
  });
  await pub.emitWithAck('job', 'flaky', { room: 'jobs' });
  await pub.emitWithAck('job', 'acked-then-threw', { room: 'jobs' });
  await pub.emitWithAck('job', 'last', { room: 'jobs' });
  await within(done.promise, 5000, 'every job');
  t.same(
    runs.filter(([n]) => n === 'flaky'),
    [
      ['flaky', 1],
      ['flaky', 2],
    ],
  );
  t.same(
    errors.map((e) => e.code),
    ['handler_failed', 'handler_failed'],
  );
  await w.close();

  // The job acked before its handler threw was not nacked: a new session does not get it.
  const seen = await jobsUntil(client(t, url, { client: 'm' }), pub, 'marker', 'marker');
  t.same(seen, ['marker']);
});

t.test('a late answer to the server (unknown_id) does not fail an unrelated emitWithAck', async (t) => {
  const { server, url } = await startServer(t);
  const release = deferred();
  const serverGaveUp = deferred();
  server.on('connection', (socket) => {
    socket.on('slow', (_d, reply) => void release.promise.then(() => reply('done')));
    socket.on('ask-me', (_d, reply) => {
      reply(null);
      // Delivery id 1 on this connection; the client answers after the server gave up.
      socket
        .timeout(50)
        .emitWithAck('question', null)
        .catch(() => serverGaveUp.resolve());
    });
  });
  const c = client(t, url);
  await c.ready();
  c.on('question', async () => {
    await serverGaveUp.promise;
    return 42;
  });
  const slow = c.emitWithAck('slow', null); // request id 1
  await c.emitWithAck('ask-me', null);
  const unknown = await next<WsqError>(c, 'error');
  t.equal(unknown.code, 'unknown_id', 'reported on the error event');
  release.resolve();
  t.same(await within(slow, 5000, 'slow'), 'done', "R4.6.4: an emit to the server's handlers resolves with the answer itself");
});

t.test('a durable handler still running when its room is left does not answer afterwards', async (t) => {
  const { url } = await startServer(t);
  const pub = client(t, url);
  const w = client(t, url, { client: 'w' });
  const errors: WsqError[] = [];
  w.on('error', (e) => errors.push(e));
  const jobs = w.join('jobs', { durable: true });
  await jobs.ready();
  const started = deferred();
  const finish = deferred();
  jobs.on('job', async () => {
    started.resolve();
    await finish.promise;
  });
  await pub.emitWithAck('job', 1, { room: 'jobs' });
  await within(started.promise, 5000, 'handler started');
  await jobs.leave();
  finish.resolve();
  await new Promise<void>((r) => setImmediate(r)); // the handler's promise settles
  await w.emitWithAck('m', 'round trip', { room: 'elsewhere' }); // an unknown_id would have come before this ack
  t.same(errors, [], 'no ack of a delivery the server took back');
});

t.test('leave() resolves even when the server answers with an error; the error is reported', async (t) => {
  let thrown = false;
  class FragileAdapter extends MemoryAdapter {
    override del(sid: string, room: string): void {
      if (room === 'fragile' && !thrown) {
        thrown = true;
        throw new Error('adapter down');
      }
      super.del(sid, room);
    }
  }
  const { url } = await startServer(t, { adapter: (nsp) => new FragileAdapter(nsp) });
  const c = client(t, url);
  const room = c.join('fragile');
  await room.ready();
  const reported = next<WsqError>(room, 'error');
  await within(room.leave(), 5000, 'leave');
  t.equal(room.state, 'left');
  t.equal((await reported).code, 'internal');
});
