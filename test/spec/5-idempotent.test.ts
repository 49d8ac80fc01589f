/**
 * PROTOCOL.md §5.7 Idempotent publish and §5.8 What an ack guarantees, over real sockets,
 * for both embedded stores (the dedup window runs on an injected clock, no sleeps).
 */
import t, { type Test } from 'tap';
import { LmdbStore } from '../../lib/store/lmdb.js';
import { retentionResolver } from '../../lib/retention.js';
import { barrier, eventIn, offsets, openLmdb, publish, publishMany, range, storeOptions, STORES, tempDir, waitFrames, type StoreKind, type StoreSetup } from '../helpers/logs.js';
import { rawClient, startServer } from '../helpers/server.js';

async function setup(t: Test, kind: StoreKind, s: StoreSetup = {}) {
  const { server, url } = await startServer(t, await storeOptions(t, kind, s));
  return { server, url, pub: await rawClient(t, url) };
}

/** Offsets a fresh client gets replayed from the earliest held message of a room. */
async function replayOffsets(t: Test, url: string, room: string): Promise<number[]> {
  const c = await rawClient(t, url);
  const joined = await c.request({ type: 'join', room, since: 'earliest' });
  if (joined.replay) await waitFrames(c, eventIn(room), joined.replay.count);
  await barrier(c);
  return offsets(c.seen(eventIn(room)));
}

for (const kind of STORES) {
  t.test(`5.7 the same key twice is acked with the first offset and stored once (${kind} store)`, async (t) => {
    const { url, pub } = await setup(t, kind);
    const member = await rawClient(t, url);
    await member.request({ type: 'join', room: 'orders' });
    const first = await publish(pub, 'orders', 'order', { n: 1 }, { key: 'order-1' });
    t.equal(first.type, 'ack');
    t.equal(first.offset, 1);
    t.equal(first.duplicate, undefined, 'a first copy is not a duplicate');
    const again = await publish(pub, 'orders', 'order', { n: 1 }, { key: 'order-1' });
    t.equal(again.type, 'ack', 'a resend is acked, not refused');
    t.equal(again.offset, 1, "with the first copy's offset");
    t.equal(again.epoch, first.epoch);
    t.equal(again.duplicate, true, 'and duplicate: true');
    t.equal((await publish(pub, 'orders', 'order', { n: 2 }, { key: 'order-2' })).offset, 2, 'the next key gets the next offset');
    t.equal((await publish(pub, 'orders', 'order', { n: 3 })).offset, 3, 'emits without a key are never deduplicated');

    await waitFrames(member, eventIn('orders'), 3);
    await barrier(member);
    t.same(offsets(member.seen(eventIn('orders'))), [1, 2, 3], 'members get the message once');
    t.same(await replayOffsets(t, url, 'orders'), [1, 2, 3], 'a replay shows one copy');
  });

  t.test(`5.7 resends racing the first copy still store it once (${kind} store)`, async (t) => {
    const { url, pub } = await setup(t, kind);
    const ids = range(1, 5).map((i) => `race-${i}`);
    for (const id of ids) pub.send({ type: 'emit', room: 'r', event: 'e', data: 'same', key: 'k', id });
    const acks = await Promise.all(ids.map((id) => pub.next((f) => f.id === id)));
    t.ok(
      acks.every((a) => a.type === 'ack' && a.offset === 1),
      'all five acked with offset 1',
    );
    t.equal(acks.filter((a) => a.duplicate === true).length, 4, 'four of them as duplicates');
    t.same(await replayOffsets(t, url, 'r'), [1]);
  });

  t.test(`5.7 keys are per room: the same key in another room is another message (${kind} store)`, async (t) => {
    const { url, pub } = await setup(t, kind);
    const a = await publish(pub, 'a', 'e', 1, { key: 'k' });
    const b = await publish(pub, 'b', 'e', 1, { key: 'k' });
    t.equal(a.offset, 1);
    t.equal(b.offset, 1);
    t.equal(b.duplicate, undefined, "not a duplicate of room a's");
    t.equal((await publish(pub, 'a', 'e', 1, { key: 'k' })).duplicate, true, 'room a still knows its key');
    t.same(await replayOffsets(t, url, 'a'), [1]);
    t.same(await replayOffsets(t, url, 'b'), [1]);
    await pub.request({ type: 'connect', ns: '/other' });
    const other = await publish(pub, 'a', 'e', 1, { key: 'k', ns: '/other' });
    t.equal(other.duplicate, undefined, 'and per namespace');
  });

  t.test(`5.7 after the dedup window the key is accepted again (${kind} store)`, async (t) => {
    let now = 1_700_000_000_000;
    const { url, pub } = await setup(t, kind, { now: () => now }); // default window: 2 minutes
    t.equal((await publish(pub, 'r', 'e', 'v1', { key: 'k' })).offset, 1);
    now += 119_000;
    const inside = await publish(pub, 'r', 'e', 'v1', { key: 'k' });
    t.equal(inside.duplicate, true, 'still a duplicate just inside the window');
    t.equal(inside.offset, 1);
    now += 2_000;
    const after = await publish(pub, 'r', 'e', 'v2', { key: 'k' });
    t.equal(after.type, 'ack');
    t.equal(after.offset, 2, 'stored again after the window');
    t.equal(after.duplicate, undefined);
    t.equal((await publish(pub, 'r', 'e', 'v2', { key: 'k' })).offset, 2, 'and the new copy is what resends now match');
    t.same(await replayOffsets(t, url, 'r'), [1, 2]);
  });

  t.test(`5.7 a custom dedup window per room (${kind} store)`, async (t) => {
    let now = 1_700_000_000_000;
    const { pub } = await setup(t, kind, { now: () => now, retentionRules: [{ room: 'fast', dedupWindowMs: 1000 }] });
    await publish(pub, 'fast', 'e', 1, { key: 'k' });
    await publish(pub, 'slow', 'e', 1, { key: 'k' });
    now += 1500;
    t.equal((await publish(pub, 'fast', 'e', 1, { key: 'k' })).offset, 2, 'the short window ended');
    t.equal((await publish(pub, 'slow', 'e', 1, { key: 'k' })).duplicate, true, 'the default window did not');
  });

  t.test(`R5.7.7 dedupWindowMs 0 turns idempotency keys off: every emit is stored (${kind} store)`, async (t) => {
    const { url, pub } = await setup(t, kind, { retentionRules: [{ room: 'nodedup', dedupWindowMs: 0 }] });
    const member = await rawClient(t, url);
    await member.request({ type: 'join', room: 'nodedup' });
    const a = await publish(pub, 'nodedup', 'e', 1, { key: 'same' });
    const b = await publish(pub, 'nodedup', 'e', 2, { key: 'same' });
    t.same([a.offset, b.offset, a.duplicate, b.duplicate], [1, 2, undefined, undefined], 'both stored, neither a duplicate');
    t.same(offsets(await waitFrames(member, eventIn('nodedup'), 2)), [1, 2], 'both delivered');
    t.equal((await publish(pub, 'other', 'e', 1, { key: 'same' })).offset, 1);
    t.equal((await publish(pub, 'other', 'e', 1, { key: 'same' })).duplicate, true, 'rooms with the default window still dedup');
  });
}

t.test('5.8 disk store: an acked emit is readable from a fresh store on the same directory after close', async (t) => {
  const dir = await tempDir(t, 'wsq-spec-ack-');
  const store = await openLmdb(t, dir);
  const { server, url } = await startServer(t, { store });
  const pub = await rawClient(t, url);
  const acks = await publishMany(pub, 'ledger', 200);
  const keyed = await publish(pub, 'ledger', 'pay', { amount: 5 }, { key: 'pay-1' });
  t.equal(keyed.offset, 201);
  const epoch = acks[0]!.epoch as string;
  await server.close();

  const reopened = await LmdbStore.open(dir, { retention: retentionResolver() });
  t.teardown(() => reopened.close());
  const pos = await reopened.position('/', 'ledger');
  t.equal(pos.epoch, epoch, 'the epoch is unchanged');
  t.equal(pos.last, 201, 'every acked offset is there');
  const msgs = await reopened.read('/', 'ledger', 1, 1000);
  t.same(offsets(msgs), range(1, 201), 'once each, in offset order');
  t.ok(
    msgs.slice(0, 200).every((m, i) => m.event === 'e' && (m.data as { i: number }).i === i + 1),
    'with their data',
  );
  t.same(msgs[200]!.data, { amount: 5 });
  t.equal(msgs[200]!.from, pub.welcome.sid, 'and sender');

  const dup = await reopened.append('/', 'ledger', { event: 'pay', data: { amount: 5 }, ts: Date.now(), key: 'pay-1' });
  t.equal(dup.duplicate, true, 'the idempotency key survived too');
  t.equal(dup.offset, 201);
});

t.test('5.8 disk store: a new server on the same directory serves the same log and epoch', async (t) => {
  const dir = await tempDir(t, 'wsq-spec-ack-');
  const first = await startServer(t, { store: await openLmdb(t, dir) });
  const pub = await rawClient(t, first.url);
  const acks = await publishMany(pub, 'r', 5);
  await first.server.close();

  const second = await startServer(t, { store: await openLmdb(t, dir) });
  const c = await rawClient(t, second.url);
  const joined = await c.request({ type: 'join', room: 'r', since: 2, epoch: acks[0]!.epoch });
  t.equal(joined.recovered, true, 'a client resuming with its epoch and offset loses nothing');
  t.equal(joined.epoch, acks[0]!.epoch);
  t.same(offsets(await waitFrames(c, eventIn('r'), 3)), [3, 4, 5]);
  const pub2 = await rawClient(t, second.url);
  t.equal((await publish(pub2, 'r', 'e', 'next')).offset, 6, 'offsets continue');
});

t.test('5.8 memory store: a new store is a new epoch, so resuming clients see recovered false', async (t) => {
  const first = await startServer(t);
  const pub = await rawClient(t, first.url);
  const acks = await publishMany(pub, 'r', 3);
  await first.server.close();
  const second = await startServer(t);
  const c = await rawClient(t, second.url);
  const joined = await c.request({ type: 'join', room: 'r', since: 3, epoch: acks[0]!.epoch });
  t.not(joined.epoch, acks[0]!.epoch);
  t.equal(joined.recovered, false);
});
