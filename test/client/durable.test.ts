/** Durable and group subscriptions: acks when handlers resolve, nacks when they throw. */
import t from 'tap';
import { startServer, type Tap } from '../helpers/server.js';
import type { connect, Message, WsqClient, WsqError } from '../../lib/client/index.js';
import { client as testClient, deferred, jobsUntil, next, startProxied, within } from './util.js';

/** A test client that nacks without a delay unless `opts` says otherwise. */
function client(t: Tap, url: string, opts: Parameters<typeof connect>[1] = {}): WsqClient {
  return testClient(t, url, { nackDelayMs: 0, ...opts });
}

t.test('durable: acked when the handler resolves; a new session gets only what was not acked', async (t) => {
  const { url } = await startServer(t);
  const pub = client(t, url);
  for (let i = 1; i <= 3; i++) await pub.emitWithAck('job', i, { room: 'jobs' });

  const w1 = client(t, url, { client: 'worker' });
  const jobs = w1.join('jobs', { durable: true, since: 0 });
  const done = deferred();
  const seen: number[] = [];
  jobs.on('job', async (n: number, msg) => {
    t.type(msg.id, 'number', 'a delivery carries an id');
    await Promise.resolve();
    seen.push(n);
    if (seen.length === 3) done.resolve();
  });
  await within(done.promise, 5000, 'three jobs');
  t.same(seen, [1, 2, 3]);
  await w1.close(); // the acks of finished handlers still go out

  await pub.emitWithAck('job', 5, { room: 'jobs' });
  const w2 = client(t, url, { client: 'worker' });
  const again = w2.join('jobs', { durable: true });
  const next5 = deferred<number>();
  const later: number[] = [];
  again.on('job', (n: number) => {
    later.push(n);
    next5.resolve(n);
  });
  t.equal(await within(next5.promise, 5000, 'the next session'), 5, 'only the unacked job comes back');
  t.same(later, [5]);
});

t.test('a throwing handler nacks: the message is redelivered and handled again', async (t) => {
  const { url } = await startServer(t);
  const pub = client(t, url);
  const w = client(t, url, { client: 'w' });
  const jobs = w.join('jobs', { durable: true });
  await jobs.ready();
  const attempts: [number, number | undefined][] = [];
  const errors: WsqError[] = [];
  jobs.on('error', (e) => errors.push(e));
  const finished = deferred();
  jobs.on('job', async (n: number, msg) => {
    attempts.push([n, msg.attempt]);
    if (n === 1 && msg.attempt === 1) throw new Error('flaky');
    if (n === 2) finished.resolve();
  });
  await pub.emitWithAck('job', 1, { room: 'jobs' });
  await pub.emitWithAck('job', 2, { room: 'jobs' });
  await within(finished.promise, 5000, 'done');
  t.same(
    attempts.filter(([n]) => n === 1),
    [
      [1, 1],
      [1, 2],
    ],
    'job 1 ran twice: attempt 1 threw, attempt 2 succeeded',
  );
  t.equal(errors.length, 1);
  t.equal(errors[0]!.code, 'handler_failed');
  t.match(errors[0]!.message, /flaky/);
});

t.test('manual acks with autoAck: false', async (t) => {
  const { url } = await startServer(t);
  const pub = client(t, url);
  const w = client(t, url, { client: 'm' });
  const jobs = w.join('jobs', { durable: true, autoAck: false });
  await jobs.ready();
  const held: Message<number>[] = [];
  const two = deferred();
  jobs.on('job', (_n: number, msg) => {
    held.push(msg);
    if (held.length === 2) two.resolve();
  });
  await pub.emitWithAck('job', 1, { room: 'jobs' });
  await pub.emitWithAck('job', 2, { room: 'jobs' });
  await within(two.promise, 5000, 'two deliveries');
  held[0]!.ack();
  held[1]!.nack(); // redelivered
  const redelivered = deferred<Message<number>>();
  jobs.off('job');
  jobs.on('job', (_n: number, msg) => redelivered.resolve(msg));
  const again = await within(redelivered.promise, 5000, 'redelivery');
  t.equal(again.data, 2);
  t.equal(again.attempt, 2);
  again.ack();
  again.ack(); // idempotent
});

t.test('a group: each job to one worker', async (t) => {
  const { url } = await startServer(t);
  const pub = client(t, url);
  const N = 60;
  const done = new Map<number, string>();
  const twice: number[] = [];
  const all = deferred();
  const workers = ['a', 'b', 'c'].map((name) => {
    const c = client(t, url);
    const sub = c.join('work', { group: 'workers', prefetch: 5 });
    sub.on('job', async (n: number) => {
      if (done.has(n)) twice.push(n);
      done.set(n, name);
      if (done.size === N) all.resolve();
    });
    return sub;
  });
  await Promise.all(workers.map((w) => w.ready()));
  for (let i = 0; i < N; i++) pub.emit('job', i, { room: 'work' });
  await within(all.promise, 10_000, 'every job');
  t.equal(done.size, N);
  t.same(twice, [], 'no job handled twice');
  t.ok(new Set(done.values()).size >= 2, 'spread over several workers');
});

t.test('a durable handler still running across a reconnect runs once and is acked on the new connection', async (t) => {
  const { url, proxy } = await startProxied(t, { ackTimeoutMs: 60_000 });
  const pub = client(t, url);
  const w = client(t, proxy.url, { client: 'slow' });
  const jobs = w.join('jobs', { durable: true });
  await jobs.ready();
  const release = deferred();
  const runs: [number, number | undefined][] = [];
  const started = deferred();
  jobs.on('job', async (n: number, msg) => {
    runs.push([n, msg.attempt]);
    started.resolve();
    await release.promise;
  });
  await pub.emitWithAck('job', 1, { room: 'jobs' });
  await within(started.promise, 5000, 'handler started');
  const closed = next(w, 'close');
  proxy.cut();
  await closed;
  proxy.restore();
  await within(next(w, 'reconnected'), 5000, 'reconnected');
  release.resolve(); // finishes now, after the reconnect: the ack must use the new delivery id
  await pub.emitWithAck('job', 2, { room: 'jobs' });
  const second = deferred();
  jobs.on('job', (n: number) => void (n === 2 && second.resolve()));
  await within(second.promise, 5000, 'job 2');
  t.same(
    runs.filter(([n]) => n === 1),
    [[1, 1]],
    'job 1 ran once',
  );
  await w.close();

  // A new session: job 1 must not come back (it was acked on the second connection).
  const seen = await jobsUntil(client(t, url, { client: 'slow' }), pub, 3, 'job 3');
  // Had the ack gone with the first connection's id (gone) or not at all, job 1 would be back.
  t.same(seen, [3], 'nothing redelivered');
});

t.test('the personal room @client: deliveries reach namespace handlers and are acked', async (t) => {
  const { url } = await startServer(t);
  const pub = client(t, url);
  await pub.emitWithAck('note', 'while away', { room: '@ann' });
  const ann = client(t, url, { client: 'ann' });
  const got = next<string>(ann, 'note');
  t.equal(await got, 'while away');
  await ann.close();
  const ann2 = client(t, url, { client: 'ann' });
  const marker = next<string>(ann2, 'note');
  await pub.emitWithAck('note', 'second', { room: '@ann' });
  t.equal(await marker, 'second', 'the first note was acked: not delivered again');
});
