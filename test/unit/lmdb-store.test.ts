/** What only the durable LmdbStore does: survive close and reopen, and keep its directory tidy. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import t, { type Test } from 'tap';
import { LmdbStore } from '../../lib/store/lmdb.js';
import type { Retention, StoreOptions } from '../../lib/store/types.js';
import { FakeClock, msg, options } from '../contract/store-contract.js';

/** A temp directory removed when the test ends (after `stores` are closed). */
async function tempDir(tt: Test): Promise<{ dir: string; stores: LmdbStore[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-lmdb-unit-'));
  const stores: LmdbStore[] = [];
  tt.teardown(async () => {
    for (const s of stores) await s.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, stores };
}

/** Open a store in `dir`, remembered for teardown. */
async function openIn(ctx: { dir: string; stores: LmdbStore[] }, opts: StoreOptions): Promise<LmdbStore> {
  const s = await LmdbStore.open(ctx.dir, opts);
  ctx.stores.push(s);
  return s;
}

/** Entries in one sub-database of a closed store's directory. */
async function countEntries(dir: string, name: string): Promise<number> {
  const env = open({ path: dir });
  const n = env.openDB({ name, keyEncoding: 'binary' }).getKeysCount();
  await env.close();
  return n;
}

t.test('close and reopen keeps epochs, offsets, messages, consumer state and dedup keys', async (tt) => {
  const ctx = await tempDir(tt);
  const clock = new FakeClock();
  const opts = options(clock, { maxMessages: 3 });
  const s1 = await openIn(ctx, opts);
  for (let i = 1; i <= 4; i++) await s1.append('ns', 'r', msg(clock, i, { from: 'sid', key: `k${i}` }));
  await s1.append('ns2', 'r', msg(clock, 'other'));
  const state = { floor: 2, done: [4], attempts: { '3': 2 } };
  await s1.putConsumer('ns', 'r', 'workers', state);
  const pos = await s1.position('ns', 'r');
  const pos2 = await s1.position('ns2', 'r');
  const msgs = await s1.read('ns', 'r', 1, 10);
  await s1.close();

  const s2 = await openIn(ctx, opts);
  tt.same(await s2.position('ns', 'r'), pos, 'epoch, first and last survive');
  tt.same(await s2.position('ns2', 'r'), pos2, 'every log keeps its own epoch');
  tt.same(await s2.read('ns', 'r', 1, 10), msgs, 'messages survive');
  tt.same(await s2.getConsumer('ns', 'r', 'workers'), state, 'consumer state survives');
  tt.same(await s2.append('ns', 'r', msg(clock, 4, { key: 'k4' })), { offset: 4, epoch: pos.epoch, duplicate: true, durability: 'synced' }, 'dedup keys survive');
  const next = await s2.append('ns', 'r', msg(clock, 5));
  tt.same([next.offset, next.epoch], [5, pos.epoch], 'the next append continues at last + 1');
  tt.same(
    (await s2.read('ns', 'r', 1, 10)).map((m) => m.data),
    [3, 4, 5],
    'retention continues from the saved first',
  );
});

t.test('close waits for appends that were not awaited', async (tt) => {
  const ctx = await tempDir(tt);
  const clock = new FakeClock();
  const s1 = await openIn(ctx, options(clock));
  const pending = Array.from({ length: 50 }, (_, i) => s1.append('ns', 'r', msg(clock, i)));
  await s1.close();
  tt.equal((await Promise.all(pending)).length, 50, 'every append resolved');
  const s2 = await openIn(ctx, options(clock));
  tt.same((await s2.position('ns', 'r')).last, 50);
  tt.same(
    (await s2.read('ns', 'r', 1, 100)).map((m) => m.data),
    Array.from({ length: 50 }, (_, i) => i),
  );
});

t.test('append after close is refused', async (tt) => {
  const ctx = await tempDir(tt);
  const clock = new FakeClock();
  const s = await openIn(ctx, options(clock));
  await s.close();
  await tt.rejects(s.append('ns', 'r', msg(clock, 1)), /closed/);
});

t.test('trimmed and expired messages are removed from disk', async (tt) => {
  const ctx = await tempDir(tt);
  const clock = new FakeClock();
  const limits: Record<string, Partial<Retention>> = { count: { maxMessages: 2 }, age: { maxAgeMs: 1000 } };
  const s = await openIn(ctx, options(clock, {}, limits));
  for (let i = 0; i < 5; i++) await s.append('ns', 'count', msg(clock, i));
  for (let i = 0; i < 5; i++) await s.append('ns', 'age', msg(clock, i));
  clock.t += 2000;
  tt.same(await s.read('ns', 'age', 1, 10), []);
  await s.close();
  tt.equal(await countEntries(ctx.dir, 'v2-messages'), 2, 'only the two held messages remain');
});

t.test('expired dedup keys are swept from disk', async (tt) => {
  const ctx = await tempDir(tt);
  const clock = new FakeClock();
  const s = await openIn(ctx, options(clock, { dedupWindowMs: 1000 }));
  for (let i = 0; i < 5; i++) await s.append('ns', 'r', msg(clock, i, { key: `k${i}` }));
  clock.t += 2000;
  await s.append('ns', 'r', msg(clock, 'late', { key: 'late' }));
  await s.close();
  tt.equal(await countEntries(ctx.dir, 'v2-dedup'), 1, 'only the fresh key is left');
  tt.equal(await countEntries(ctx.dir, 'v2-dedup-expiry'), 1);
});

t.test('long names and keys are stored (hashed past the key limit); an unencodable message is refused and leaves the log unchanged', async (tt) => {
  const ctx = await tempDir(tt);
  const clock = new FakeClock();
  const s = await openIn(ctx, options(clock));
  await s.append('ns', 'r', msg(clock, 'a'));
  tt.equal((await s.append('ns', 'r', msg(clock, 'b', { key: 'k'.repeat(2000) }))).offset, 2, 'a 2,000-byte idempotency key is accepted');
  tt.same((await s.append('ns', 'r', msg(clock, 'b', { key: 'k'.repeat(2000) }))).duplicate, true, 'and deduplicated');
  await tt.rejects(s.append('ns', 'r', msg(clock, 1n << 70n)), TypeError);
  tt.equal((await s.append('ns', 'r', msg(clock, 'c'))).offset, 3, 'no offset was used');
  tt.same(
    (await s.read('ns', 'r', 1, 10)).map((m) => m.data),
    ['a', 'b', 'c'],
  );
  const long = 'r'.repeat(2000);
  tt.equal((await s.append('n'.repeat(2000), long, msg(clock, 'x'))).offset, 1, 'a 4,000-byte namespace + room is accepted');
  await s.putConsumer('n'.repeat(2000), long, 'g'.repeat(2000), { floor: 1, done: [], attempts: {} });
  await s.close();
  const s2 = await openIn(ctx, options(clock));
  tt.same(
    (await s2.read('n'.repeat(2000), long, 1, 10)).map((m) => m.data),
    ['x'],
    'and read back after a restart',
  );
  tt.same(await s2.getConsumer('n'.repeat(2000), long, 'g'.repeat(2000)), { floor: 1, done: [], attempts: {} });
  tt.equal(await s2.getConsumer('n'.repeat(2000), long, 'g'.repeat(1999)), undefined);
});

t.test('a directory written by the format-1 store is refused with a sentence', async (tt) => {
  const ctx = await tempDir(tt);
  const env = open({ path: ctx.dir });
  await env.openDB({ name: 'logs' }).put(['ns', 'r'], { epoch: 'e', first: 1, last: 0, bytes: 0 });
  await env.openDB({ name: 'messages' }).put(['ns', 'r', 1], { event: 'e', data: 1, ts: 1, size: 2 });
  await env.close();
  const clock = new FakeClock();
  await tt.rejects(LmdbStore.open(ctx.dir, options(clock)), { message: /written by an earlier wsq \(storage format 1\).*another --data-dir/ });
  const s = await openIn(ctx, options(clock)).catch(() => undefined);
  tt.equal(s, undefined, 'still refused (the refusal released its lock)');
});
