/**
 * I7 #7: a late ack is not a bad frame (PROTOCOL.md R2.6.3). An ack of an id this connection
 * was sent but that no longer waits (the server's request timed out, the delivery was taken back
 * after ackTimeoutMs) is answered with a non-counting `unknown_id`; only ids never issued on the
 * connection count toward the bad-frame limit. Per D5 neither error carries `id`: `details.delivery` does.
 */
import t from 'tap';
import type { Socket } from '../../lib/socket.js';
import { rawClient, startServer } from '../helpers/server.js';

t.test('R2.6.3 150 late acks of timed-out requests within the bad-frame window do not close the connection', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared', badFrameLimit: 100, badFrameWindowMs: 10_000 });
  const c = await rawClient(t, url);
  await c.sync();
  const socket = server.sockets.sockets.get(c.welcome.sid) as Socket;
  const asks = Array.from({ length: 150 }, (_, i) => socket.emitWithAck('slow', i, { timeoutMs: 30 }).catch((e: Error) => e));
  const events = await c.collect((f) => f.type === 'event' && f.event === 'slow', 150);
  const outcomes = await Promise.all(asks);
  t.ok(
    outcomes.every((e) => e instanceof Error),
    'every request timed out on the server',
  );
  for (const e of events) c.send({ type: 'ack', id: e.id, data: 'late' });
  const errors = await c.collect((f) => f.type === 'error', 150);
  t.ok(
    errors.every((e) => e.code === 'unknown_id' && !('id' in e) && e.details?.delivery !== undefined),
    'each is answered unknown_id with details.delivery and no id (D5)',
  );
  t.match(errors[0], { details: { delivery: events[0]!.id } });
  t.same(await c.request({ type: 'ping', id: 'still' }), { type: 'pong', id: 'still' }, 'the connection is still open');
  t.equal(c.ws.readyState, 1);
});

t.test('R2.6.3 a late ack of a delivery taken back after ackTimeoutMs does not count either', async (t) => {
  const { url } = await startServer(t, { ackTimeoutMs: 50, badFrameLimit: 3 });
  const w = await rawClient(t, url);
  await w.request({ type: 'join', room: 'jobs', group: 'g', prefetch: 10 });
  const pub = await rawClient(t, url);
  for (let i = 0; i < 5; i++) await pub.request({ type: 'emit', room: 'jobs', event: 'job', data: i });
  const first = await w.collect((f) => f.type === 'event' && f.attempt === 1, 5);
  await w.collect((f) => f.type === 'event' && f.attempt === 2, 5); // all five were taken back and sent again
  for (const d of first) w.send({ type: 'ack', id: d.id });
  const errs = await w.collect((f) => f.type === 'error', 5);
  t.ok(
    errs.every((e) => e.code === 'unknown_id' && e.details?.delivery !== undefined && !('id' in e)),
    'answered, without id (D5)',
  );
  t.same(await w.request({ type: 'ping', id: 'p' }), { type: 'pong', id: 'p' }, 'five late acks with badFrameLimit 3: still open');
});

t.test('R2.6.3 acks of ids never issued on the connection count, and close it past the limit', async (t) => {
  const { url } = await startServer(t, { badFrameLimit: 3 });
  const c = await rawClient(t, url);
  c.send({ type: 'ack', id: 9999 });
  t.match(await c.next('error'), { code: 'unknown_id', details: { delivery: 9999 } });
  t.notOk('id' in c.frames.at(-1)!, 'no id on an error about an ack (D5)');
  c.send({ type: 'nack', id: 'never' });
  t.match(await c.next('error'), { code: 'unknown_id', details: { delivery: 'never' } });
  c.send({ type: 'ack', id: 1.5 });
  c.send({ type: 'ack', id: 10_000 });
  const closed = await Promise.race([c.closed, new Promise<{ code: number }>((r) => setTimeout(() => r({ code: -1 }), 3000))]);
  t.equal(closed.code, 1008, 'the fourth never-issued id passes badFrameLimit 3');
});
