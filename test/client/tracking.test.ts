import t from 'tap';
import { DeliveryTracker, OffsetTracker } from '../../lib/client/tracking.js';

t.test('a live join starts after the joined offset', async (t) => {
  const tr = new OffsetTracker();
  t.equal(tr.resumePoint(), undefined, 'no position before the first joined');
  t.equal(tr.joined({ epoch: 'e1', offset: 4, recovered: true }), false);
  t.same(tr.resumePoint(), { since: 4, epoch: 'e1' });
  t.notOk(tr.accept(4, 'e1'), 'an offset at the join point is old');
  t.ok(tr.accept(5, 'e1'));
  t.notOk(tr.accept(5, 'e1'), 'a duplicate');
  t.notOk(tr.accept(3, 'e1'), 'an older one');
  t.ok(tr.accept(7, 'e1'), 'a newer one after a (server-side) gap');
  t.ok(tr.accept(undefined), 'messages without an offset (volatile) always pass');
  t.same(tr.resumePoint(), { since: 7, epoch: 'e1' });
});

t.test('the replay/live seam: an overlapping replay and a racing live message are dropped', async (t) => {
  const tr = new OffsetTracker();
  tr.joined({ epoch: 'e', offset: 0, replay: { from: 1, to: 3, count: 3 }, recovered: true });
  const seen: number[] = [];
  for (const o of [1, 2, 3, 4, 5]) if (tr.accept(o, 'e')) seen.push(o);
  // A rejoin (same epoch) that asks since 5 but whose replay overlaps from 3, with a live 6 racing it.
  tr.joined({ epoch: 'e', offset: 6, replay: { from: 3, to: 6, count: 4 }, recovered: true });
  for (const o of [3, 4, 5, 6, 6, 7]) if (tr.accept(o, 'e')) seen.push(o);
  t.same(seen, [1, 2, 3, 4, 5, 6, 7], 'every offset once, in order');
});

t.test('since: earliest on the first join', async (t) => {
  const tr = new OffsetTracker();
  tr.joined({ epoch: 'e', offset: 10, replay: { from: 5, to: 10, count: 6 }, recovered: true });
  t.equal(tr.last, 4);
  t.ok(tr.accept(5, 'e'));
});

t.test('a new epoch resets the position', async (t) => {
  const tr = new OffsetTracker();
  tr.joined({ epoch: 'old', offset: 100, recovered: true });
  t.ok(tr.accept(101, 'old'));
  t.equal(tr.joined({ epoch: 'new', offset: 3, replay: { from: 1, to: 3, count: 3 }, recovered: false }), true, 'reports the change');
  t.same(tr.resumePoint(), { since: 0, epoch: 'new' });
  t.ok(tr.accept(1, 'new'), 'offset 1 of the new epoch is new');
  t.notOk(tr.accept(102, 'old'), 'a late message of the old epoch is dropped');
  t.equal(tr.joined({ epoch: 'newer', offset: 0, recovered: false }), true, 'an empty new log');
  t.same(tr.resumePoint(), { since: 0, epoch: 'newer' });
});

t.test('ahead of the log (same epoch, recovered: false, no replay): live resumes after its offset', async (t) => {
  const tr = new OffsetTracker();
  tr.joined({ epoch: 'e', offset: 50, recovered: true });
  tr.joined({ epoch: 'e', offset: 20, recovered: false });
  t.equal(tr.last, 20);
  t.ok(tr.accept(21, 'e'));
});

t.test('a trimmed gap: the replay starts after lastOffset + 1 and is accepted', async (t) => {
  const tr = new OffsetTracker();
  tr.joined({ epoch: 'e', offset: 10, recovered: true });
  tr.joined({ epoch: 'e', offset: 40, replay: { from: 30, to: 40, count: 11 }, recovered: false });
  t.ok(tr.accept(30, 'e'));
  t.equal(tr.last, 30);
});

t.test('DeliveryTracker: handle once, ack redeliveries of finished ones, answer the newest id', async (t) => {
  const d = new DeliveryTracker();
  t.same(d.arrive('e:1', 10, 1), { action: 'handle' });
  t.same(d.arrive('e:1', 3, 2), { action: 'wait' }, 'redelivered (new connection) while running');
  t.equal(d.pending, 1);
  t.same(d.finish('e:1', true), { id: 3, conn: 2 }, 'answer the id of the newest delivery');
  t.equal(d.finish('e:1', true), undefined, 'only once');
  t.same(d.arrive('e:1', 9, 3), { action: 'ack' }, 'done: ack again, do not run the handler');

  t.same(d.arrive('e:2', 11, 1), { action: 'handle' });
  t.same(d.finish('e:2', false), { id: 11, conn: 1 }, 'a nack');
  t.same(d.arrive('e:2', 12, 1), { action: 'handle' }, 'a nacked message runs again when redelivered');
});

t.test('DeliveryTracker remembers a bounded number of finished messages', async (t) => {
  const d = new DeliveryTracker(3);
  for (let i = 1; i <= 5; i++) {
    d.arrive(`e:${i}`, i, 1);
    d.finish(`e:${i}`, true);
  }
  t.same(d.arrive('e:5', 50, 1), { action: 'ack' });
  t.same(d.arrive('e:1', 51, 1), { action: 'handle' }, 'the oldest were forgotten');
});

t.test("the sender's own offsets (echo off) are skipped, and the resume point moves over them", async (t) => {
  const tr = new OffsetTracker();
  tr.joined({ epoch: 'e', offset: 2, recovered: true });
  tr.skip(3, 'e'); // right after the last seen: the position moves at once
  t.same(tr.resumePoint(), { since: 3, epoch: 'e' });
  tr.skip(5, 'e'); // 4 (someone else's) has not come yet
  tr.skip(9, 'other'); // another epoch: ignored
  tr.skip(1, 'e'); // already passed: ignored
  t.same(tr.resumePoint(), { since: 3, epoch: 'e' });
  const seen: number[] = [];
  for (const o of [3, 5, 4, 5, 6]) if (tr.accept(o, 'e')) seen.push(o);
  t.same(seen, [4, 6], 'the own ones never handed over, live or replayed');
  t.same(tr.resumePoint(), { since: 6, epoch: 'e' });
  tr.skip(8, 'e');
  tr.joined({ epoch: 'e2', offset: 0, recovered: false });
  t.ok(tr.accept(8, 'e2'), 'a new epoch forgets the skipped offsets');
});
