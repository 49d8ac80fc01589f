/** The outbox and acks against a real server: queued emits, limits, lost acks, timeouts. */
import t from 'tap';
import { WsqError, WsqOutcomeUnknownError, WsqTimeoutError } from '../../lib/client/index.js';
import { client, collect, next, pubThroughProxy, startProxied, within } from './util.js';

t.test('emits made while disconnected wait in the outbox and go out in order on reconnect', async (t) => {
  const { proxy, pub, got } = await pubThroughProxy(t);
  const closed = next(pub, 'close');
  proxy.cut();
  await closed;
  t.equal(pub.connected, false);
  pub.emit('m', 1, { room: 'r' });
  const acked = pub.emitWithAck('m', 2, { room: 'r' });
  pub.emit('m', 3, { room: 'r', key: 'three' });
  pub.emit('m', 'volatile', { room: 'r', volatile: true }); // dropped, not queued
  pub.emit('m', 4, { room: 'r' });
  t.equal(pub.outboxSize, 4, 'four queued, the volatile one dropped');
  proxy.restore();
  t.equal((await within(acked, 5000, 'ack')).offset, 2);
  await got.upTo(4);
  t.same(got.seen, [1, 2, 3, 4], 'in the order they were made');
  t.equal(pub.outboxSize, 0);
});

t.test('the outbox is bounded: outbox_full when it holds outboxLimit emits', async (t) => {
  const { url, proxy } = await startProxied(t);
  proxy.cut(); // never connects until restored
  const pub = client(t, proxy.url, { outboxLimit: 3 });
  for (let i = 1; i <= 3; i++) pub.emit('m', i, { room: 'r' });
  const e = t.throws(() => pub.emit('m', 4, { room: 'r' })) as WsqError;
  t.ok(e instanceof WsqError);
  t.equal(e.code, 'outbox_full');
  t.match(e.message, /outboxLimit/);
  const rejected = await pub.emitWithAck('m', 5, { room: 'r' }).catch((e: unknown) => e);
  t.equal((rejected as WsqError).code, 'outbox_full', 'emitWithAck rejects with the same error');
  t.equal(pub.outboxSize, 3);

  const sub = client(t, url);
  const room = sub.join('r', { since: 'earliest' });
  const got = collect(room);
  proxy.restore();
  await got.upTo(3);
  t.same(got.seen, [1, 2, 3]);
});

t.test('a lost ack: emits with a key are resent, and the server stores them once', async (t) => {
  const { proxy, pub, got } = await pubThroughProxy(t);
  proxy.freeze(); // the server's acks will not reach the publisher
  const acks = [1, 2, 3].map((i) => pub.emitWithAck('m', i, { room: 'r', key: `k${i}` }));
  await got.upTo(3); // stored and delivered: only the acks are missing
  const closed = next(pub, 'close');
  proxy.cut();
  await closed;
  proxy.restore();
  const results = await within(Promise.all(acks), 5000, 'acks after the resend');
  t.same(
    results.map((r) => [r.offset, r.duplicate]),
    [
      [1, true],
      [2, true],
      [3, true],
    ],
    'the server recognized the resends',
  );
  await pub.emitWithAck('m', 'marker', { room: 'r' });
  await got.upTo(4);
  t.same(got.seen, [1, 2, 3, 'marker'], 'nothing stored twice');
});

t.test('a lost ack without a key: the outcome is unknown and the emit is not resent', async (t) => {
  const { proxy, pub, got } = await pubThroughProxy(t);
  proxy.freeze();
  const ack = pub.emitWithAck('m', 1, { room: 'r' });
  await got.upTo(1);
  proxy.cut();
  const e = await within(
    ack.catch((e: unknown) => e),
    5000,
    'rejection',
  );
  t.ok(e instanceof WsqOutcomeUnknownError);
  t.equal((e as WsqError).code, 'outcome_unknown');
  t.match((e as Error).message, /give emits a "key"/);
  proxy.restore();
  await within(pub.ready(), 5000, 'back');
  await pub.emitWithAck('m', 'marker', { room: 'r' });
  await got.upTo(2);
  t.same(got.seen, [1, 'marker'], 'not resent');
});

t.test('emitWithAck times out with WsqTimeoutError; a timed-out queued emit is never sent', async (t) => {
  const { url, proxy } = await startProxied(t);
  proxy.cut();
  const pub = client(t, proxy.url, { ackTimeoutMs: 50 });
  const started = Date.now();
  const e = await pub.emitWithAck('m', 'late', { room: 'r' }).catch((e: unknown) => e);
  t.ok(e instanceof WsqTimeoutError);
  t.equal((e as WsqTimeoutError).code, 'timeout');
  t.equal((e as WsqTimeoutError).timeoutMs, 50, 'the client-wide ackTimeoutMs is the default');
  t.ok(Date.now() - started >= 45);
  t.match((e as Error).message, /emit "m" to room "r"/);
  t.equal(pub.outboxSize, 0, 'taken out of the outbox');
  const e2 = await pub.emitWithAck('m', 'later', { room: 'r', timeoutMs: 20 }).catch((e: unknown) => e);
  t.equal((e2 as WsqTimeoutError).timeoutMs, 20, 'timeoutMs per call');

  const sub = client(t, url);
  const room = sub.join('r', { since: 'earliest' });
  const got = collect(room);
  await room.ready();
  proxy.restore();
  await within(pub.ready(), 5000, 'open');
  await pub.emitWithAck('m', 'marker', { room: 'r' });
  await got.upTo(1);
  t.same(got.seen, ['marker'], 'the timed-out emits were dropped, not sent late');
});
