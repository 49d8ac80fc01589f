/**
 * The Store contract: one suite of tap subtests that every Store implementation runs
 * (memory, lmdb, later redis). Each subtest builds its own store with its own retention
 * and clock, so failures are independent. Time is always injected: no sleeps.
 */
import type { Test } from 'tap';
import { QueueFullError, type NewMessage, type Retention, type Store, type StoreOptions } from '../../lib/store/types.js';

/** What a contract run needs from a store under test. */
export interface BuiltStore {
  store: Store;
  /** Close and open the same storage again (durable stores only). */
  reopen?: () => Promise<Store>;
  /** Close the store and remove whatever it left behind. */
  cleanup: () => Promise<void>;
}

/** Builds a fresh, empty store for one subtest. */
export type BuildStore = (opts: StoreOptions) => Promise<BuiltStore>;

/** Retention with nothing limited, a 2-minute dedup window and drop-oldest. */
export const UNLIMITED: Retention = {
  maxMessages: 0,
  maxAgeMs: 0,
  maxBytes: 0,
  overflow: 'drop-oldest',
  dedupWindowMs: 120_000,
};

/** A clock tests move by hand. */
export class FakeClock {
  /** Current time in ms. */
  t = 1_700_000_000_000;
  /** Read the clock (pass as `now`). */
  readonly now = (): number => this.t;
}

/** Store options: `limits` for every room, `perRoom` overriding by room name. */
export function options(clock: FakeClock, limits: Partial<Retention> = {}, perRoom: Record<string, Partial<Retention>> = {}, more: Partial<StoreOptions> = {}): StoreOptions {
  return { now: clock.now, retention: (_ns, room) => ({ ...UNLIMITED, ...limits, ...perRoom[room] }), idleSweepMs: 0, ...more };
}

/** A message stamped with the clock's time. */
export function msg(clock: FakeClock, data: unknown, extra: Partial<NewMessage> = {}): NewMessage {
  return { event: 'e', data, ts: clock.t, ...extra };
}

/**
 * Run the contract suite for one store as subtests of `t`.
 * @param name shown in the subtest names
 * @param build makes a fresh store per subtest
 */
export function storeContract(t: Test, name: string, build: BuildStore): void {
  /** Build a store for one subtest and clean it up when the subtest ends. */
  async function fresh(tt: Test, limits: Partial<Retention> = {}, perRoom: Record<string, Partial<Retention>> = {}, more: Partial<StoreOptions> = {}) {
    const clock = new FakeClock();
    const built = await build(options(clock, limits, perRoom, more));
    tt.teardown(built.cleanup);
    return { store: built.store, clock, built };
  }
  const datas = async (s: Store, room: string, from = 1, limit = 1000, ns = 'ns') => (await s.read(ns, room, from, limit)).map((m) => m.data);

  t.test(`${name}: declares kind and durability`, async (tt) => {
    const { store } = await fresh(tt);
    tt.type(store.kind, 'string');
    tt.type(store.durable, 'boolean');
  });

  t.test(`${name}: R5.8.1 a resolved append says what it guarantees (durability), never "memory" from a durable store`, async (tt) => {
    const { store, clock } = await fresh(tt, { dedupWindowMs: 10_000 });
    const r = await store.append('ns', 'r', msg(clock, 'a', { key: 'k' }));
    const again = await store.append('ns', 'r', msg(clock, 'a', { key: 'k' }));
    const expected = { disk: 'synced', memory: 'memory', redis: 'redis' }[store.kind];
    tt.equal(r.durability, expected, `a ${store.kind} store's append resolves as "${expected}"`);
    tt.equal(again.durability, r.durability, "a duplicate: the first copy's");
    if (store.durable) tt.not(r.durability, 'memory', 'a durable store never resolves from memory only');
  });

  t.test(`${name}: offsets start at 1 and increase by 1 without gaps`, async (tt) => {
    const { store, clock } = await fresh(tt);
    const offsets: number[] = [];
    for (let i = 0; i < 5; i++) offsets.push((await store.append('ns', 'r', msg(clock, i))).offset);
    tt.same(offsets, [1, 2, 3, 4, 5]);
    tt.same(
      (await store.read('ns', 'r', 1, 10)).map((m) => m.offset),
      [1, 2, 3, 4, 5],
    );
  });

  t.test(`${name}: appends made without awaiting get offsets in call order`, async (tt) => {
    const { store, clock } = await fresh(tt);
    const pending = Array.from({ length: 300 }, (_, i) => store.append('ns', 'r', msg(clock, i)));
    const results = await Promise.all(pending);
    tt.same(
      results.map((r) => r.offset),
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    tt.ok(results.every((r) => !r.duplicate && r.epoch === results[0].epoch));
    tt.same(
      await datas(store, 'r'),
      Array.from({ length: 300 }, (_, i) => i),
    );
  });

  t.test(`${name}: read sees appends made before it, even if not yet awaited`, async (tt) => {
    const { store, clock } = await fresh(tt);
    const a = store.append('ns', 'r', msg(clock, 'a'));
    const b = store.append('ns', 'r', msg(clock, 'b'));
    tt.same(await datas(store, 'r'), ['a', 'b']);
    await Promise.all([a, b]);
  });

  t.test(`${name}: read returns the stored fields`, async (tt) => {
    const { store, clock } = await fresh(tt);
    const data = { n: 1, s: 'x', list: [1, 'two', null], nested: { ok: true } };
    await store.append('ns', 'r', { event: 'ev', data, ts: 123, from: 'sid1', key: 'k1' });
    await store.append('ns', 'r', msg(clock, null));
    const [m1, m2] = await store.read('ns', 'r', 1, 10);
    tt.same(m1, { event: 'ev', data, ts: 123, from: 'sid1', key: 'k1', offset: 1 });
    tt.equal(m2.offset, 2);
    tt.equal(m2.data, null);
    tt.equal(m2.from, undefined);
    tt.equal(m2.key, undefined);
  });

  t.test(`${name}: each log has one stable epoch, distinct from other logs`, async (tt) => {
    const { store, clock } = await fresh(tt);
    const p1 = await store.position('ns', 'r');
    const a = await store.append('ns', 'r', msg(clock, 1));
    const p2 = await store.position('ns', 'r');
    tt.type(p1.epoch, 'string');
    tt.ok(p1.epoch.length > 0);
    tt.equal(a.epoch, p1.epoch);
    tt.equal(p2.epoch, p1.epoch);
    const other = await store.position('ns', 'r2');
    const otherNs = await store.position('ns2', 'r');
    tt.not(other.epoch, p1.epoch);
    tt.not(otherNs.epoch, p1.epoch);
    tt.equal((await store.append('ns', 'r2', msg(clock, 1))).epoch, other.epoch);
  });

  t.test(`${name}: position of a new log is empty (first = last + 1)`, async (tt) => {
    const { store } = await fresh(tt);
    const p = await store.position('ns', 'new');
    tt.equal(p.first, 1);
    tt.equal(p.last, 0);
  });

  t.test(`${name}: position of a non-empty log spans the held messages`, async (tt) => {
    const { store, clock } = await fresh(tt);
    for (let i = 0; i < 3; i++) await store.append('ns', 'r', msg(clock, i));
    const p = await store.position('ns', 'r');
    tt.same([p.first, p.last], [1, 3]);
  });

  t.test(`${name}: read honours from and limit`, async (tt) => {
    const { store, clock } = await fresh(tt);
    for (let i = 1; i <= 10; i++) await store.append('ns', 'r', msg(clock, i));
    tt.same(await datas(store, 'r', 4, 3), [4, 5, 6], 'from 4, limit 3');
    tt.same(await datas(store, 'r', 9, 100), [9, 10], 'limit past the end');
    tt.same(await datas(store, 'r', 0, 2), [1, 2], 'from below first starts at first');
    tt.same(await datas(store, 'r', 11, 5), [], 'from past last');
    tt.same(await datas(store, 'r', 1, 0), [], 'limit 0');
    tt.same(await datas(store, 'unknown', 1, 5), [], 'a log never written');
  });

  t.test(`${name}: maxMessages with drop-oldest trims the oldest`, async (tt) => {
    const { store, clock } = await fresh(tt, { maxMessages: 3 });
    for (let i = 1; i <= 5; i++) tt.equal((await store.append('ns', 'r', msg(clock, i))).offset, i);
    const p = await store.position('ns', 'r');
    tt.same([p.first, p.last], [3, 5]);
    tt.same(await datas(store, 'r'), [3, 4, 5]);
    tt.same(await datas(store, 'r', 1, 1), [3], 'reading from a trimmed offset starts at first');
  });

  t.test(`${name}: maxMessages drop-oldest holds under appends not awaited`, async (tt) => {
    const { store, clock } = await fresh(tt, { maxMessages: 10 });
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.append('ns', 'r', msg(clock, i + 1))));
    const p = await store.position('ns', 'r');
    tt.same([p.first, p.last], [91, 100]);
    tt.same(
      await datas(store, 'r'),
      Array.from({ length: 10 }, (_, i) => 91 + i),
    );
  });

  t.test(`${name}: a long trimmed log keeps its window`, async (tt) => {
    const { store, clock } = await fresh(tt, { maxMessages: 5 });
    for (let i = 1; i <= 5000; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => store.append('ns', 'r', msg(clock, i + j))));
    }
    tt.same(await datas(store, 'r'), [4996, 4997, 4998, 4999, 5000]);
  });

  t.test(`${name}: maxBytes with drop-oldest trims by event name + JSON length of data`, async (tt) => {
    // each message: event "e" (1) + JSON '"xxxxxxxx"' (10) = 11 bytes
    const { store, clock } = await fresh(tt, { maxBytes: 33 });
    for (let i = 1; i <= 3; i++) await store.append('ns', 'r', msg(clock, 'xxxxxxxx', { event: 'e' }));
    tt.same((await store.position('ns', 'r')).first, 1, 'exactly at the limit keeps all');
    await store.append('ns', 'r', msg(clock, 'xxxxxxxx'));
    tt.same(
      (await store.read('ns', 'r', 1, 10)).map((m) => m.offset),
      [2, 3, 4],
    );
    await store.append('ns', 'r', msg(clock, 'x'.repeat(19))); // 1 + 21 = 22: two must go
    tt.same(
      (await store.read('ns', 'r', 1, 10)).map((m) => m.offset),
      [4, 5],
    );
  });

  t.test(`${name}: reject refuses at maxMessages with QueueFullError and stores nothing`, async (tt) => {
    const { store, clock } = await fresh(tt, { maxMessages: 2, overflow: 'reject' });
    await store.append('ns', 'r', msg(clock, 1));
    await store.append('ns', 'r', msg(clock, 2));
    const err = await refusal(() => store.append('ns', 'r', msg(clock, 3)));
    tt.ok(err instanceof QueueFullError, 'a QueueFullError');
    tt.equal((err as QueueFullError).code, 'queue_full');
    const p = await store.position('ns', 'r');
    tt.same([p.first, p.last], [1, 2], 'no offset used');
    tt.same(await datas(store, 'r'), [1, 2]);
    tt.equal((await store.append('ns', 'other', msg(clock, 1))).offset, 1, 'other rooms unaffected');
  });

  t.test(`${name}: reject refuses a message that would pass maxBytes`, async (tt) => {
    const { store, clock } = await fresh(tt, { maxBytes: 25, overflow: 'reject' });
    await store.append('ns', 'r', msg(clock, 'xxxxxxxx')); // 11
    await store.append('ns', 'r', msg(clock, 'xxxxxxxx')); // 22
    const err = await refusal(() => store.append('ns', 'r', msg(clock, 'xx'))); // 1 + 4 = 5 → 27
    tt.equal((err as QueueFullError | undefined)?.code, 'queue_full');
    tt.same(
      (await store.read('ns', 'r', 1, 10)).map((m) => m.offset),
      [1, 2],
    );
    tt.equal((await store.append('ns', 'r', msg(clock, 1))).offset, 3, 'a message that fits is stored at the next offset');
  });

  t.test(`${name}: maxAgeMs skips and trims expired messages on read and position`, async (tt) => {
    const { store, clock } = await fresh(tt, { maxAgeMs: 1000 });
    await store.append('ns', 'r', msg(clock, 'old'));
    clock.t += 600;
    await store.append('ns', 'r', msg(clock, 'newer'));
    clock.t += 500; // 'old' is 1100 ms old, 'newer' 500 ms
    tt.same(await datas(store, 'r'), ['newer']);
    let p = await store.position('ns', 'r');
    tt.same([p.first, p.last], [2, 2]);
    clock.t += 2000;
    p = await store.position('ns', 'r');
    tt.same([p.first, p.last], [3, 2], 'all expired: empty, first = last + 1');
    tt.same(await datas(store, 'r'), []);
    tt.equal((await store.append('ns', 'r', msg(clock, 'next'))).offset, 3, 'offsets continue');
  });

  t.test(`${name}: a key repeated within the dedup window returns the first offset, stored once`, async (tt) => {
    const { store, clock } = await fresh(tt, { dedupWindowMs: 10_000 });
    const first = await store.append('ns', 'r', msg(clock, 'a', { key: 'k' }));
    await store.append('ns', 'r', msg(clock, 'b'));
    clock.t += 5000;
    const again = await store.append('ns', 'r', msg(clock, 'a-resent', { key: 'k' }));
    tt.same(first, { offset: 1, epoch: first.epoch, duplicate: false, durability: first.durability });
    tt.same(again, { offset: 1, epoch: first.epoch, duplicate: true, durability: first.durability });
    tt.same(await datas(store, 'r'), ['a', 'b']);
    tt.equal((await store.append('ns', 'r', msg(clock, 'c'))).offset, 3, 'no offset used by the duplicate');
  });

  t.test(`${name}: a duplicate in flight resolves no earlier than the first copy`, async (tt) => {
    const { store, clock } = await fresh(tt);
    let firstDone = false;
    const first = store.append('ns', 'r', msg(clock, 'a', { key: 'k' }));
    first.then(() => (firstDone = true));
    const dup = await store.append('ns', 'r', msg(clock, 'a', { key: 'k' }));
    tt.ok(firstDone, 'first copy resolved first');
    tt.same([dup.offset, dup.duplicate], [1, true]);
    tt.same(await datas(store, 'r'), ['a']);
  });

  t.test(`${name}: a key is accepted again after the dedup window`, async (tt) => {
    const { store, clock } = await fresh(tt, { dedupWindowMs: 1000 });
    await store.append('ns', 'r', msg(clock, 'a', { key: 'k' }));
    clock.t += 1001;
    const again = await store.append('ns', 'r', msg(clock, 'a2', { key: 'k' }));
    tt.same([again.offset, again.duplicate], [2, false]);
    clock.t += 500;
    const third = await store.append('ns', 'r', msg(clock, 'a3', { key: 'k' }));
    tt.same([third.offset, third.duplicate], [2, true], 'the new copy opens a new window');
    tt.same(await datas(store, 'r'), ['a', 'a2']);
  });

  t.test(`${name}: dedup keys are per room and namespace`, async (tt) => {
    const { store, clock } = await fresh(tt);
    await store.append('ns', 'r', msg(clock, 1, { key: 'k' }));
    const otherRoom = await store.append('ns', 'r2', msg(clock, 1, { key: 'k' }));
    const otherNs = await store.append('ns2', 'r', msg(clock, 1, { key: 'k' }));
    tt.same([otherRoom.duplicate, otherNs.duplicate], [false, false]);
  });

  t.test(`${name}: consumer state round-trips`, async (tt) => {
    const { store } = await fresh(tt);
    tt.equal(await store.getConsumer('ns', 'r', 'g'), undefined, 'none before the first put');
    const state = { floor: 3, done: [5, 7], attempts: { '4': 2, '6': 1 } };
    await store.putConsumer('ns', 'r', 'g', state);
    tt.same(await store.getConsumer('ns', 'r', 'g'), state);
    state.done.push(99);
    tt.same((await store.getConsumer('ns', 'r', 'g'))?.done, [5, 7], 'the store keeps its own copy');
    await store.putConsumer('ns', 'r', 'g', { floor: 7, done: [], attempts: {} });
    tt.same(await store.getConsumer('ns', 'r', 'g'), { floor: 7, done: [], attempts: {} }, 'a put replaces');
    tt.equal(await store.getConsumer('ns', 'r', 'other'), undefined, 'per name');
    tt.equal(await store.getConsumer('ns', 'r2', 'g'), undefined, 'per room');
    tt.equal(await store.getConsumer('ns2', 'r', 'g'), undefined, 'per namespace');
  });

  t.test(`${name}: a reopened durable store keeps logs, consumers and dedup keys`, async (tt) => {
    const clock = new FakeClock();
    const built = await build(options(clock));
    tt.teardown(built.cleanup);
    if (!built.reopen) return tt.pass('not a durable store (no reopen): nothing to check');
    let store = built.store;
    await store.append('ns', 'r', msg(clock, 'a', { key: 'k' }));
    await store.append('ns', 'r', msg(clock, 'b'));
    await store.putConsumer('ns', 'r', 'g', { floor: 1, done: [], attempts: { '2': 1 } });
    const before = await store.position('ns', 'r');
    store = await built.reopen();
    tt.same(await store.position('ns', 'r'), before, 'same epoch, first and last');
    tt.same(await datas(store, 'r'), ['a', 'b']);
    tt.same(await store.getConsumer('ns', 'r', 'g'), { floor: 1, done: [], attempts: { '2': 1 } });
    const again = await store.append('ns', 'r', msg(clock, 'a', { key: 'k' }));
    tt.same(again, { offset: 1, epoch: before.epoch, duplicate: true, durability: again.durability });
    tt.not(again.durability, 'memory', 'a duplicate of a key kept across the reopen is durable');
    tt.equal((await store.append('ns', 'r', msg(clock, 'c'))).offset, 3, 'offsets continue at last + 1');
  });

  t.test(`${name}: rooms and namespaces are independent logs`, async (tt) => {
    const { store, clock } = await fresh(tt, {}, { small: { maxMessages: 1 } });
    const results = await Promise.all([
      store.append('ns', 'a', msg(clock, 'a1')),
      store.append('ns', 'b', msg(clock, 'b1')),
      store.append('ns2', 'a', msg(clock, 'x1')),
      store.append('ns', 'a', msg(clock, 'a2')),
      store.append('ns', 'small', msg(clock, 's1')),
      store.append('ns', 'small', msg(clock, 's2')),
    ]);
    tt.same(
      results.map((r) => r.offset),
      [1, 1, 1, 2, 1, 2],
    );
    tt.same(await datas(store, 'a'), ['a1', 'a2']);
    tt.same(await datas(store, 'b'), ['b1']);
    tt.same(await datas(store, 'a', 1, 10, 'ns2'), ['x1']);
    tt.same(await datas(store, 'small'), ['s2'], 'retention resolved per room');
    tt.same(await datas(store, 'a'), ['a1', 'a2'], 'trimming one room leaves the others');
  });

  t.test(`${name}: D6 keys built from several names cannot collide`, async (tt) => {
    const { store, clock } = await fresh(tt);
    // I8 #7: a NUL (or any separator) inside a name must not move it into another room or consumer.
    await store.putConsumer('ns', 'jobs\u0000group:x', 'group:y', { floor: 1, done: [], attempts: {} });
    await store.putConsumer('ns', 'jobs', 'group:x\u0000group:y', { floor: 2, done: [], attempts: {} });
    tt.same((await store.getConsumer('ns', 'jobs\u0000group:x', 'group:y'))?.floor, 1, 'room jobs\\0group:x + group y');
    tt.same((await store.getConsumer('ns', 'jobs', 'group:x\u0000group:y'))?.floor, 2, 'room jobs + group x\\0group:y is another consumer');
    tt.equal(await store.getConsumer('ns', 'jobs', 'group:x'), undefined);
    await store.append('a\u0000b', 'c', msg(clock, 'ns a\\0b, room c', { key: 'k' }));
    await store.append('a', 'b\u0000c', msg(clock, 'ns a, room b\\0c', { key: 'k' }));
    await store.append('a', 'b', msg(clock, 'ns a, room b', { key: 'c' }));
    tt.same(await datas(store, 'c', 1, 10, 'a\u0000b'), ['ns a\\0b, room c']);
    tt.same(await datas(store, 'b\u0000c', 1, 10, 'a'), ['ns a, room b\\0c']);
    tt.same(await datas(store, 'b', 1, 10, 'a'), ['ns a, room b'], 'a key that looks like the rest of a name is only a key');
    tt.not((await store.position('a\u0000b', 'c')).epoch, (await store.position('a', 'b\u0000c')).epoch, 'two logs, two epochs');
    await store.append('ns', '\ud800', msg(clock, 'lone high', { key: '\udc00' }));
    await store.append('ns', '\ud801', msg(clock, 'another lone high', { key: '\udc01' }));
    tt.same(await datas(store, '\ud800'), ['lone high'], 'names with different lone surrogates are different rooms');
    tt.same(await datas(store, '\ud801'), ['another lone high']);
    tt.equal((await store.append('ns', '\ud800', msg(clock, 'x', { key: '\udc01' }))).duplicate, false, 'and different idempotency keys');
    tt.equal((await store.append('ns', '\ufffd', msg(clock, 'replacement char'))).offset, 1, 'U+FFFD itself is yet another room');
    await store.putConsumer('n:s', 'r', 'g', { floor: 3, done: [], attempts: {} });
    tt.equal(await store.getConsumer('n', 's:r', 'g'), undefined, 'a separator-like character is not a separator either');
  });

  t.test(`${name}: D3 the longest non-ASCII names the schema accepts are stored, and their dead room too`, async (tt) => {
    const { store, clock, built } = await fresh(tt);
    const ns = `/${'\u20ac'.repeat(85)}`; // 1 + 255 = 256 UTF-8 bytes
    const room = '\u{1d11e}'.repeat(64); // 256 UTF-8 bytes (128 UTF-16 units)
    const dead = `$dead:${room}`; // 262 bytes: built by the server, never by a client
    const group = `group:${'\u00e9'.repeat(128)}`;
    tt.equal(Buffer.byteLength(ns), 256);
    tt.equal(Buffer.byteLength(room), 256);
    const key = '\u{1f600}'.repeat(200);
    const a = await store.append(ns, room, msg(clock, 'x', { key }));
    tt.same(await store.append(ns, room, msg(clock, 'x', { key })), { ...a, duplicate: true }, 'a long non-ASCII idempotency key deduplicates');
    await store.append(ns, dead, msg(clock, 'gone'), undefined, { consumer: { room, name: group, state: { floor: 1, done: [], attempts: {} } } });
    let s = store;
    if (built.reopen) s = await built.reopen();
    tt.same(await datas(s, room, 1, 10, ns), ['x']);
    tt.same(await datas(s, dead, 1, 10, ns), ['gone'], 'the dead room of a 256-byte room works');
    tt.same(await s.getConsumer(ns, room, group), { floor: 1, done: [], attempts: {} });
  });

  t.test(`${name}: an append with a consumer state commits both in one step (atomic dead-lettering)`, async (tt) => {
    const { store, clock, built } = await fresh(tt);
    await store.append('ns', 'jobs', msg(clock, 'job 1'));
    await store.putConsumer('ns', 'jobs', 'group:w', { floor: 0, done: [], attempts: { '1': 5 } });
    const p = store.append('ns', '$dead:jobs', msg(clock, 'job 1'), undefined, { consumer: { room: 'jobs', name: 'group:w', state: { floor: 1, done: [], attempts: {} } } });
    tt.same(await store.getConsumer('ns', 'jobs', 'group:w'), { floor: 1, done: [], attempts: {} }, 'a read while the step is in flight sees the new state');
    tt.equal((await p).offset, 1);
    let s = store;
    if (built.reopen) s = await built.reopen();
    tt.same(await datas(s, '$dead:jobs'), ['job 1']);
    tt.same(await s.getConsumer('ns', 'jobs', 'group:w'), { floor: 1, done: [], attempts: {} });
  });

  t.test(`${name}: reports itself writable while healthy`, async (tt) => {
    const { store } = await fresh(tt);
    tt.same(store.health(), { writable: true });
  });

  t.test(`${name}: R5.6.7 empty, idle rooms without consumer state are forgotten after idleRoomTtlMs`, async (tt) => {
    const { store, clock } = await fresh(tt, {}, { aging: { maxAgeMs: 500 } }, { idleRoomTtlMs: 10_000 });
    const joined = await store.position('ns', 'joined-only');
    await store.append('ns', 'aging', msg(clock, 'expires'));
    await store.append('ns', 'kept', msg(clock, 'stays'));
    const withConsumer = await store.position('ns', 'consumed');
    await store.putConsumer('ns', 'consumed', 'group:g', { floor: 0, done: [], attempts: {} });
    clock.t += 5000;
    tt.equal(await store.sweepIdle(), 0, 'nothing is idle for the whole TTL yet');
    const fresh2 = await store.position('ns', 'recent');
    clock.t += 6000;
    await store.append('ns', 'touched', msg(clock, 1));
    tt.equal(await store.sweepIdle(), 2, 'the joined-only and the expired room go');
    tt.equal(await store.sweepIdle(), 0, 'a second sweep finds nothing more');
    tt.not((await store.position('ns', 'joined-only')).epoch, joined.epoch, 'a forgotten room comes back as a new log');
    const aging = await store.position('ns', 'aging');
    tt.same([aging.first, aging.last], [1, 0], 'its offsets start again, under a new epoch');
    tt.same(await datas(store, 'kept'), ['stays'], 'a room holding messages stays');
    tt.equal((await store.position('ns', 'consumed')).epoch, withConsumer.epoch, 'a room with consumer state stays');
    tt.equal((await store.position('ns', 'recent')).epoch, fresh2.epoch, 'a room used within the TTL stays');
  });

  t.test(`${name}: listRooms names every room with its position, per namespace or all`, async (tt) => {
    const { store, clock } = await fresh(tt, { maxMessages: 2 });
    for (const d of ['a', 'b', 'c']) await store.append('ns', 'jobs', msg(clock, d));
    await store.append('other', 'jobs', msg(clock, 'x'));
    await store.position('ns', 'empty');
    const all = await store.listRooms();
    tt.same(all.map((r) => `${r.ns} ${r.room}`).sort(), ['ns empty', 'ns jobs', 'other jobs']);
    const jobs = all.find((r) => r.ns === 'ns' && r.room === 'jobs')!;
    tt.same([jobs.first, jobs.last], [2, 3], 'first and last after retention');
    tt.equal(jobs.epoch, (await store.position('ns', 'jobs')).epoch);
    tt.same(
      (await store.listRooms('other')).map((r) => r.room),
      ['jobs'],
      'only the namespace asked for',
    );
    tt.equal((await store.listRooms(undefined, 1)).length, 1, 'at most limit');
  });

  t.test(`${name}: consumerStates lists every consumer of one room by name`, async (tt) => {
    const { store } = await fresh(tt);
    await store.putConsumer('ns', 'jobs', 'group:workers', { floor: 3, done: [5], attempts: { 4: 2 } });
    await store.putConsumer('ns', 'jobs', 'client:ann', { floor: 1, done: [], attempts: {} });
    await store.putConsumer('ns', 'jobs2', 'group:other', { floor: 9, done: [], attempts: {} });
    await store.putConsumer('ns', 'jobs', `group:${'w'.repeat(600)}`, { floor: 0, done: [], attempts: {} });
    const got = await store.consumerStates('ns', 'jobs');
    const byName = new Map(got.map((c) => [c.name, c.state]));
    tt.equal(got.length, 3, "the room's consumers only");
    tt.same(byName.get('group:workers'), { floor: 3, done: [5], attempts: { 4: 2 } });
    tt.same(byName.get('client:ann'), { floor: 1, done: [], attempts: {} });
    tt.same(await store.consumerStates('ns', 'none'), [], 'a room without consumers has none');
  });

  t.test(`${name}: R5.6.7 the idle sweep works in chunks and leaves busy rooms alone`, async (tt) => {
    const { store, clock } = await fresh(tt, {}, {}, { idleRoomTtlMs: 1000 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.position('ns', `r${i}`)));
    clock.t += 2000;
    let gone = 0;
    for (let i = 0; i < 10 && gone < 50; i++) gone += await store.sweepIdle(7);
    tt.equal(gone, 50, 'every idle room went, 7 looked at per sweep');
    const p = store.append('ns', 'r0', msg(clock, 'new'));
    tt.equal(await store.sweepIdle(), 0, 'a room with an append in flight is not idle');
    tt.equal((await p).offset, 1);
    tt.same(await datas(store, 'r0'), ['new']);
  });
}

/** The error an append is refused with (sync throw or rejected promise), or undefined if it succeeded. */
async function refusal(f: () => Promise<unknown>): Promise<unknown> {
  try {
    await f();
    return undefined;
  } catch (err) {
    return err;
  }
}
