/**
 * R5.8.5: the replay's read (`Store.readJson`, the JSON as the store keeps it, spliced into the
 * frame by `replayEncoder`) gives the same `event` frame, byte for byte, as `read` and
 * `encodeStoredEvent` (the values parsed and serialized again): random JSON with own `__proto__`
 * keys and lone surrogates, event names and senders with quotes, backslashes and lone
 * surrogates, idempotency keys (a record field the replay skips), envelopes (R5.8.6), age
 * retention, and a record that is not in the shape the store writes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { open } from 'lmdb';
import t from 'tap';
import { replayEncoder } from '../../protocol/codec.js';
import { offsetKey, roomKey } from '../../lib/store/keys.js';
import { LmdbStore } from '../../lib/store/lmdb.js';
import { FakeClock, options } from '../contract/store-contract.js';
import { appendAll, message, tempLmdb, viaRead } from '../helpers/stored-messages.js';

t.test('R5.8.5 LmdbStore: a frame built from readJson is the frame built from read, byte for byte', async (t) => {
  const store = await tempLmdb(t, 'replay-json', options(new FakeClock(), { dedupWindowMs: 60_000 }));
  let room = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 6 }), async (msgs) => {
      const r = `room-${room++}`;
      await appendAll(store, r, msgs);
      const { epoch } = await store.position('/', r);
      const read = await store.read('/', r, 1, 100);
      const raw = await store.readJson('/', r, 1, 100);
      const encode = replayEncoder('/', 'r', epoch);
      return raw.length === read.length && raw.every((m, i) => m.offset === read[i]!.offset && encode(m) === viaRead(read[i]!, epoch));
    }),
    { numRuns: 200, seed: 5_805 },
  );
  t.pass('200 random batches: the same frames');
});

t.test('R5.8.5 LmdbStore: readJson keeps read’s range, limit and age retention', async (t) => {
  const clock = new FakeClock();
  const store = await tempLmdb(t, 'replay-json', options(clock, { maxAgeMs: 1000 }));
  for (let i = 1; i <= 6; i++) {
    await store.append('/', 'r', { event: 'e', data: { i }, ts: clock.now() });
    clock.t += 300;
  }
  const offsets = async (from: number, limit: number): Promise<[number[], number[]]> => [
    (await store.read('/', 'r', from, limit)).map((m) => m.offset),
    (await store.readJson('/', 'r', from, limit)).map((m) => m.offset),
  ];
  const [a, b] = await offsets(1, 100);
  t.same(b, a, 'the same offsets as read');
  t.ok(a[0]! > 1, 'expired messages are skipped by both');
  const [c, d] = await offsets(a[1]!, 2);
  t.same(d, c, 'from and limit as read');
  t.equal(d.length, 2);
  t.same(await store.readJson('/', 'nope', 1, 10), [], 'a room never written: nothing');
});

t.test('R5.8.5 LmdbStore: a record in another shape is parsed whole and replayed as read replays it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-replay-json-'));
  const clock = new FakeClock();
  let store = await LmdbStore.open(dir, options(clock, {}));
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  await store.append('/', 'r', { event: 'e', data: 1, ts: 5 });
  await store.append('/', 'r', { event: 'e', data: 2, ts: 6 });
  await store.close();
  // Rewrite record 2 as equivalent JSON in another member order and spacing (as another writer might).
  const env = open({ path: dir, noSubdir: false });
  const msgs = env.openDB<string, Buffer>({ name: 'v2-messages', keyEncoding: 'binary', encoding: 'string' });
  await msgs.put(offsetKey(roomKey('/', 'r'), 2), '{ "e": "e\\u0041", "d": { "b": [1, 2.50], "a": "\\u00e9" }, "s": 9, "t": 6, "f": "x" }');
  await env.close();
  store = await LmdbStore.open(dir, options(clock, {}));
  const { epoch } = await store.position('/', 'r');
  const read = await store.read('/', 'r', 1, 10);
  const raw = await store.readJson('/', 'r', 1, 10);
  const encode = replayEncoder('/', 'r', epoch);
  t.same(
    raw.map((m) => encode(m)),
    read.map((m) => viaRead(m, epoch)),
  );
  t.equal(
    encode(raw[1]!),
    `{"type":"event","ns":"/","room":"r","event":"eA","data":{"b":[1,2.5],"a":"é"},"offset":2,"epoch":${JSON.stringify(epoch)},"from":"x","ts":6,"replay":true}`,
  );
});
