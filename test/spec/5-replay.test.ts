/**
 * PROTOCOL.md §5.3 Replay (join with since), over real sockets: every since form, gap
 * reports, the seam between replay and live under concurrent publishers (memory and disk
 * stores), and a long backlog replayed in pages.
 */
import t, { type Test } from 'tap';
import type { Frame, RawClient } from '../helpers/raw-client.js';
import { barrier, eventIn, offsets, publish, publishMany, range, storeOptions, STORES, waitFrames, type StoreKind } from '../helpers/logs.js';
import { rawClient, startServer } from '../helpers/server.js';

/** A server with `n` messages in room "r" (data { i }), and a publisher. */
async function roomWith(t: Test, n: number, opts: Parameters<typeof startServer>[1] = {}) {
  const { server, url } = await startServer(t, opts);
  const pub = await rawClient(t, url);
  if (n > 0) await publishMany(pub, 'r', n);
  return { server, url, pub };
}

/** The replayed events after a joined frame, once `n` of them arrived. */
async function replayed(c: RawClient, n: number): Promise<Frame[]> {
  const evs = await waitFrames(c, (f) => f.type === 'event' && f.room === 'r' && f.replay === true, n);
  return evs;
}

t.test('5.3 join with since replays every stored message after it, then live', async (t) => {
  const { url, pub } = await roomWith(t, 5);
  const c = await rawClient(t, url);
  const joined = await c.request({ type: 'join', room: 'r', since: 2 });
  t.equal(joined.recovered, true);
  t.equal(joined.offset, 5, 'joined.offset is the last committed offset');
  t.same(joined.replay, { from: 3, to: 5, count: 3 });
  t.equal(joined.gap, undefined);
  const rep = await replayed(c, 3);
  t.same(offsets(rep), [3, 4, 5]);
  t.same(
    rep.map((e) => e.data),
    [{ i: 3 }, { i: 4 }, { i: 5 }],
  );
  t.ok(
    rep.every((e) => e.epoch === joined.epoch && e.id === undefined),
    'replayed events carry the epoch and need no ack',
  );

  await publish(pub, 'r', 'e', { i: 6 });
  const all = await waitFrames(c, eventIn('r'), 4);
  t.same(offsets(all), [3, 4, 5, 6], 'then live, no gap');
  t.equal(all[3]!.replay, undefined, 'the live event is not marked replay');

  const same = await c.request({ type: 'join', room: 'r', since: 4, epoch: joined.epoch });
  t.equal(same.recovered, true, 'the current epoch counts as a match');
  t.same(same.replay, { from: 5, to: 6, count: 2 }, 'a second join replaces the first and replays again');
});

t.test('5.3 join without since: no replay, recovered true, live only', async (t) => {
  const { url, pub } = await roomWith(t, 3);
  const c = await rawClient(t, url);
  const joined = await c.request({ type: 'join', room: 'r' });
  t.equal(joined.recovered, true);
  t.equal(joined.offset, 3);
  t.equal(joined.replay, undefined);
  await publish(pub, 'r', 'e', 'live');
  const [ev] = await waitFrames(c, eventIn('r'), 1);
  t.equal(ev!.offset, 4, 'the first event is the live one');
});

t.test('5.3 since "earliest" replays every held message', async (t) => {
  const { url } = await roomWith(t, 4);
  const c = await rawClient(t, url);
  const joined = await c.request({ type: 'join', room: 'r', since: 'earliest' });
  t.equal(joined.recovered, true);
  t.same(joined.replay, { from: 1, to: 4, count: 4 });
  t.same(offsets(await replayed(c, 4)), [1, 2, 3, 4]);
});

t.test('5.3 since beyond the last offset: no replay, recovered false with a gap, then live', async (t) => {
  const { url, pub } = await roomWith(t, 3);
  const c = await rawClient(t, url);
  const joined = await c.request({ type: 'join', room: 'r', since: 10 });
  t.equal(joined.recovered, false);
  t.same(joined.gap, { requested: 10, earliest: 1, latest: 3 });
  t.equal(joined.replay, undefined);
  await publish(pub, 'r', 'e', 'live');
  const [ev] = await waitFrames(c, eventIn('r'), 1);
  await barrier(c);
  t.same(offsets(c.seen(eventIn('r'))), [4], 'only the live event arrives');
  t.equal(ev!.replay, undefined);
});

t.test('5.3 another epoch: replay from the earliest held, recovered false with a gap', async (t) => {
  const { url } = await roomWith(t, 3);
  const c = await rawClient(t, url);
  const joined = await c.request({ type: 'join', room: 'r', since: 2, epoch: 'not-this-log' });
  t.equal(joined.recovered, false);
  t.same(joined.gap, { requested: 2, earliest: 1, latest: 3 });
  t.same(joined.replay, { from: 1, to: 3, count: 3 });
  t.not(joined.epoch, 'not-this-log');
  t.same(offsets(await replayed(c, 3)), [1, 2, 3]);
});

t.test('5.3 trimmed by retention: replay what is held, recovered false with a gap', async (t) => {
  const { url } = await roomWith(t, 8, { retention: { maxMessages: 3 } });
  const c = await rawClient(t, url);
  const joined = await c.request({ type: 'join', room: 'r', since: 2 });
  t.equal(joined.recovered, false);
  t.same(joined.gap, { requested: 2, earliest: 6, latest: 8 });
  t.same(joined.replay, { from: 6, to: 8, count: 3 });
  t.same(offsets(await replayed(c, 3)), [6, 7, 8]);

  const c2 = await rawClient(t, url);
  const ok = await c2.request({ type: 'join', room: 'r', since: 5 });
  t.equal(ok.recovered, true, 'since just before the earliest held loses nothing');
  t.same(ok.replay, { from: 6, to: 8, count: 3 });

  const c3 = await rawClient(t, url);
  const earliest = await c3.request({ type: 'join', room: 'r', since: 'earliest' });
  t.equal(earliest.recovered, true, '"earliest" asks for what is held, so nothing is missing');
  t.same(earliest.replay, { from: 6, to: 8, count: 3 });
});

t.test("5.3 before the room's first message: since 0 on an empty room goes live from offset 1", async (t) => {
  const { url, pub } = await roomWith(t, 0);
  const c = await rawClient(t, url);
  const joined = await c.request({ type: 'join', room: 'r', since: 0 });
  t.equal(joined.recovered, true);
  t.equal(joined.offset, 0);
  t.equal(joined.replay, undefined);
  t.equal(joined.gap, undefined);
  await publish(pub, 'r', 'e', 'first');
  const [ev] = await waitFrames(c, eventIn('r'), 1);
  t.equal(ev!.offset, 1);
  t.equal(ev!.data, 'first');

  const fresh = await rawClient(t, url);
  const e2 = await fresh.request({ type: 'join', room: 'empty-too', since: 'earliest' });
  t.equal(e2.recovered, true);
  t.equal(e2.offset, 0);
  t.equal(e2.replay, undefined);
});

t.test('5.3 a long idle room replays a 5,000-message backlog in pages, then goes live', async (t) => {
  const N = 5000;
  const { url, pub } = await roomWith(t, N);
  const c = await rawClient(t, url);
  const joined = await c.request({ type: 'join', room: 'r', since: 0 });
  t.same(joined.replay, { from: 1, to: N, count: N });
  const rep = await replayed(c, N);
  t.ok(
    offsets(rep).every((o, i) => o === i + 1),
    `offsets 1..${N} in order, across page boundaries`,
  );
  t.ok(
    rep.every((e) => e.data.i === e.offset),
    'each replayed event has its own data',
  );
  const mid = await rawClient(t, url);
  const j2 = await mid.request({ type: 'join', room: 'r', since: 2500 });
  t.same(j2.replay, { from: 2501, to: N, count: N - 2500 });
  t.same(offsets(await replayed(mid, N - 2500)), range(2501, N));

  await publish(pub, 'r', 'e', { i: N + 1 });
  const all = await waitFrames(c, eventIn('r'), N + 1);
  await barrier(c);
  t.equal(c.seen(eventIn('r')).length, N + 1, 'no duplicate');
  t.equal(all[N]!.offset, N + 1);
  t.equal(all[N]!.replay, undefined);
});

/**
 * THE SEAM TEST: three publishers each send `PER` stored emits (each awaiting its ack) while
 * three clients join with since 0 at different points; each joiner must receive every offset
 * 1..N exactly once, in order: the replayed ones marked, the live ones not.
 */
async function seam(t: Test, kind: StoreKind): Promise<void> {
  const PUBS = 3;
  const PER = 500;
  const N = PUBS * PER;
  const { url } = await startServer(t, await storeOptions(t, kind));
  const pubs = await Promise.all(range(1, PUBS).map(() => rawClient(t, url)));
  const joiners = await Promise.all(range(1, 3).map(() => rawClient(t, url)));
  const joinAt = [150, 600, 1100];
  const joins: Promise<Frame>[] = [];
  let acked = 0;
  const run = async (p: RawClient, k: number): Promise<void> => {
    for (let i = 0; i < PER; i++) {
      const ack = await publish(p, 'seam', 'tick', { k, i });
      if (ack.type !== 'ack') throw new Error(`publisher ${k}: ${JSON.stringify(ack)}`);
      acked++;
      while (joins.length < joinAt.length && acked >= joinAt[joins.length]!) {
        joins.push(joiners[joins.length]!.request({ type: 'join', room: 'seam', since: 0 }, 10_000));
      }
    }
  };
  await Promise.all(pubs.map((p, k) => run(p, k)));
  t.equal(joins.length, 3, 'all three joined while publishers were sending');

  for (const [j, c] of joiners.entries()) {
    const joined = await joins[j]!;
    t.equal(joined.type, 'joined');
    t.equal(joined.recovered, true);
    await waitFrames(c, eventIn('seam'), N, 20_000);
    await barrier(c);
    const evs = c.seen(eventIn('seam'));
    const offs = offsets(evs);
    const bad = offs.findIndex((o, i) => o !== i + 1);
    t.equal(evs.length, N, `joiner ${j + 1} (joined at ${joined.offset}): exactly ${N} events`);
    t.equal(
      bad,
      -1,
      `joiner ${j + 1}: offsets 1..${N} in order, no gap, no duplicate${bad >= 0 ? ` (first wrong at index ${bad}: ${offs.slice(Math.max(0, bad - 2), bad + 3)})` : ''}`,
    );
    t.ok(joined.offset >= joinAt[j]!, `joiner ${j + 1} joined partway (at ${joined.offset})`);
    t.ok(joined.offset < N, `joiner ${j + 1} joined before the end`);
    t.ok(
      evs.every((e) => (e.offset <= joined.offset ? e.replay === true : e.replay === undefined)),
      'replayed up to joined.offset, live after it',
    );
    const perPub = range(0, PUBS - 1).map((k) => evs.filter((e) => e.data.k === k).map((e) => e.data.i as number));
    t.ok(
      perPub.every((is) => is.length === PER && is.every((v, i) => v === i)),
      "each publisher's messages in its send order",
    );
  }
}

for (const kind of STORES) {
  t.test(`5.3 the seam: no gap and no duplicate between replay and live while publishers send (${kind} store)`, (t) => seam(t, kind));
}

t.test('R5.4.10 planConsumerJoin / consumerStart: the consumer replay rule as a pure function', async (t) => {
  const { planConsumerJoin, consumerStart } = await import('../../lib/replay.js');
  const log = { epoch: 'e', first: 6, last: 9 };
  const fresh = { fresh: true, floor: 0, done: [] };
  t.same(consumerStart(50, log), 9, 'a since past the end is clamped to the end');
  t.same(consumerStart(7, log), 7);
  t.same(consumerStart('earliest', log), 0);
  t.same(consumerStart(undefined, log), 0);
  t.same(planConsumerJoin(undefined, fresh, log), { recovered: true }, 'new, no since');
  t.same(planConsumerJoin('earliest', fresh, log), { recovered: true }, 'new, earliest');
  t.same(planConsumerJoin(5, fresh, log), { recovered: true }, 'new, since just before first');
  t.same(planConsumerJoin(9, fresh, log), { recovered: true }, 'new, since at the end');
  t.same(planConsumerJoin(10, fresh, log), { recovered: false, gap: { requested: 10, earliest: 6, latest: 9 } }, 'new, since past the end');
  t.same(planConsumerJoin(2, fresh, log), { recovered: false, gap: { requested: 2, earliest: 6, latest: 9 } }, 'new, since trimmed');
  t.same(planConsumerJoin(99, { fresh: false, floor: 5, done: [] }, log), { recovered: true }, 'existing: since ignored, nothing trimmed before it');
  t.same(planConsumerJoin(undefined, { fresh: false, floor: 3, done: [4, 5] }, log), { recovered: true }, 'existing: what was trimmed was done');
  t.same(
    planConsumerJoin(undefined, { fresh: false, floor: 3, done: [5] }, log),
    { recovered: false, gap: { requested: 3, earliest: 6, latest: 9 } },
    'existing: offset 4 was trimmed unfinished',
  );
  t.same(
    planConsumerJoin(undefined, { fresh: false, floor: 12, done: [] }, log),
    { recovered: false, gap: { requested: 12, earliest: 6, latest: 9 } },
    'existing: the log is behind the consumer',
  );
  t.same(planConsumerJoin(undefined, { fresh: false, floor: 0, done: [] }, { epoch: 'e', first: 1, last: 0 }), { recovered: true }, 'an empty log');
});
