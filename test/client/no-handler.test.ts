/**
 * I7 #18 (SDK side): a personal-room (`@me`) or durable delivery with no handler is left
 * unacked, not nacked in a loop: the server redelivers it after its ack timeout, and after
 * maxDeliver attempts moves it to `$dead:<room>` (R5.4.9, D7). The redeliveries are bounded.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import type { WsqError } from '../../lib/client/index.js';
import { client, deferred, within } from './util.js';

t.test('I7 #18 a message to @me with no handler is redelivered at most maxDeliver times, never nacked, then dead-lettered', async (t) => {
  const ackTimeoutMs = 150;
  const maxDeliver = 3;
  const { url } = await startServer(t, { ackTimeoutMs, maxDeliver });
  const pub = client(t, url);
  // nackDelayMs 0 would make a nack loop as tight as it gets: nothing may be nacked.
  const ann = client(t, url, { client: 'ann', nackDelayMs: 0 });
  const errors: WsqError[] = [];
  ann.on('error', (e) => errors.push(e));
  await ann.ready();
  // Only ann may read her dead letters; a room handler there is not a handler of @ann's deliveries.
  const dead = ann.join('$dead:@ann', { since: 'earliest' });
  const deadLetter = deferred<unknown>();
  dead.on('note', (data: unknown) => deadLetter.resolve(data));
  await dead.ready();

  const t0 = Date.now();
  await pub.emitWithAck('note', 'hello', { room: '@ann' });
  t.equal(await within(deadLetter.promise, 5000, 'the dead letter'), 'hello', 'after maxDeliver attempts it is in $dead:@ann');
  const elapsed = Date.now() - t0;
  const seen = errors.filter((e) => e.code === 'no_handler');
  t.equal(seen.length, maxDeliver, `delivered exactly maxDeliver (${maxDeliver}) times, each reported as no_handler`);
  t.match(seen[0]!.message, /left unacked/);
  t.ok(elapsed >= (maxDeliver - 1) * ackTimeoutMs, `spaced by the server's ack timeout, not a loop (${elapsed} ms)`);

  // Nothing more comes: the message is gone from @ann.
  const more = errors.length;
  await new Promise((r) => setTimeout(r, ackTimeoutMs * 3));
  t.equal(errors.length, more, 'no further redelivery');
});

t.test('I7 #18 a durable subscription without a handler for an event leaves it unacked; bounded by maxDeliver', async (t) => {
  const ackTimeoutMs = 150;
  const { url } = await startServer(t, { ackTimeoutMs, maxDeliver: 2 });
  const pub = client(t, url);
  const w = client(t, url, { client: 'w', nackDelayMs: 0 });
  const jobs = w.join('jobs', { durable: true });
  const errors: WsqError[] = [];
  jobs.on('error', (e) => errors.push(e));
  await jobs.ready();
  // Not pub: a live dead letter keeps the publisher's sid in `from`, and the server does not echo it to pub.
  const watcher = client(t, url);
  const dead = watcher.join('$dead:jobs', { since: 'earliest' });
  const deadLetter = deferred<unknown>();
  dead.on('odd', (data: unknown) => deadLetter.resolve(data));
  await dead.ready();
  await pub.emitWithAck('odd', 1, { room: 'jobs' });
  t.equal(await within(deadLetter.promise, 5000, 'dead letter'), 1);
  t.equal(errors.filter((e) => e.code === 'no_handler').length, 2, 'two attempts, no more');
});
