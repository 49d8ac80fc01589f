import t from 'tap';
import { Outbox } from '../../lib/client/outbox.js';
import { WsqError } from '../../lib/client/errors.js';

type E = { seq: number; ns: string };

t.test('bounded, in order, with a clear error when full', async (t) => {
  const box = new Outbox<E>(3);
  for (let i = 1; i <= 3; i++) box.push({ seq: i, ns: '/' });
  t.equal(box.size, 3);
  const err = t.throws(() => box.push({ seq: 4, ns: '/' })) as WsqError;
  t.ok(err instanceof WsqError);
  t.equal(err.code, 'outbox_full');
  t.match(err.message, /3 emits are already waiting/);
  t.match(err.message, /outboxLimit/);
  t.same(
    box.takeWhere(() => true).map((e) => e.seq),
    [1, 2, 3],
  );
  t.equal(box.size, 0);
});

t.test('requeue puts sent-but-unacked emits back in their original order', async (t) => {
  const box = new Outbox<E>(10);
  box.push({ seq: 5, ns: '/' });
  box.push({ seq: 6, ns: '/' });
  box.requeue([
    { seq: 2, ns: '/' },
    { seq: 4, ns: '/' },
    { seq: 3, ns: '/' },
  ]);
  t.same(
    box.drain().map((e) => e.seq),
    [2, 3, 4, 5, 6],
  );
});

t.test('requeue is not bounded by the limit (those emits were accepted already)', async (t) => {
  const box = new Outbox<E>(1);
  box.push({ seq: 3, ns: '/' });
  box.requeue([
    { seq: 1, ns: '/' },
    { seq: 2, ns: '/' },
  ]);
  t.equal(box.size, 3);
});

t.test('takeWhere keeps the order of what it leaves', async (t) => {
  const box = new Outbox<E>(10);
  for (const [i, ns] of ['/', '/a', '/', '/a', '/'].entries()) box.push({ seq: i, ns });
  t.same(
    box.takeWhere((e) => e.ns === '/').map((e) => e.seq),
    [0, 2, 4],
  );
  t.same(
    box.drain().map((e) => e.seq),
    [1, 3],
  );
});

t.test('remove', async (t) => {
  const box = new Outbox<E>(10);
  const a = { seq: 1, ns: '/' };
  box.push(a);
  t.equal(box.remove(a), true);
  t.equal(box.remove(a), false);
  t.throws(() => new Outbox<E>(-1), RangeError);
});
