/**
 * R5.8.5: the replay's read as bytes (`Store.readRecords`, each frame built by `ReplayBytes`
 * from the stored record's bytes, nothing decoded) gives the same WebSocket frames, byte for
 * byte, as `read` and `encodeStoredEvent` framed as `Connection.sendText` frames them, and counts
 * the same UTF-16 length (`bytesOut`): random JSON with own `__proto__` keys and lone surrogates,
 * event names and senders with quotes, backslashes, non-ASCII and lone surrogates, idempotency
 * keys, envelopes (R5.8.6, left to the JSON path), age retention, and a record that is not in the
 * shape the store writes (left to the JSON path).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { open } from 'lmdb';
import t from 'tap';
import { ReplayBytes } from '../../lib/replay.js';
import { offsetKey, roomKey } from '../../lib/store/keys.js';
import { LmdbStore } from '../../lib/store/lmdb.js';
import { FakeClock, options } from '../contract/store-contract.js';
import { appendAll, message, tempLmdb, viaRead } from '../helpers/stored-messages.js';

/** The payloads of the (unmasked, final, text) WebSocket frames in `buf`. */
function payloads(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; ) {
    if (buf[at] !== 0x81) throw new Error(`not a final text frame at ${at}`);
    let n = buf[at + 1]!;
    let h = 2;
    if (n === 126) {
      n = buf.readUInt16BE(at + 2);
      h = 4;
    } else if (n === 127) throw new Error('a frame this test does not make');
    out.push(buf.subarray(at + h, at + h + n));
    at += h + n;
  }
  return out;
}

/** What `readRecords` and `ReplayBytes` build from `from` on: the frames, their UTF-16 length, and the offsets left to the JSON path. */
async function viaBytes(store: LmdbStore, room: string, epoch: string, from: number, limit: number) {
  const enc = new ReplayBytes('/', 'r', epoch);
  enc.start(1 << 20);
  const offsets: number[] = [];
  const other: number[] = [];
  await store.readRecords('/', room, from, limit, (r) => {
    const k = enc.put(r);
    (k > 0 ? offsets : other).push(r.offset);
    return true;
  });
  return { frames: payloads(enc.take()), chars: enc.chars, count: enc.frames, offsets, other };
}

t.test('R5.8.5 LmdbStore: a frame built from the record bytes is the frame built from read, byte for byte', async (t) => {
  const store = await tempLmdb(t, 'replay-bytes', options(new FakeClock(), { dedupWindowMs: 60_000 }));
  let room = 0;
  let built = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 6 }), async (msgs) => {
      const r = `room-${room++}`;
      await appendAll(store, r, msgs);
      const { epoch } = await store.position('/', r);
      const read = await store.read('/', r, 1, 100);
      const got = await viaBytes(store, r, epoch, 1, 100);
      const byOffset = new Map(read.map((m) => [m.offset, m]));
      const expected = got.offsets.map((o) => viaRead(byOffset.get(o)!, epoch));
      built += got.count;
      return (
        got.offsets.length + got.other.length === read.length &&
        [...got.offsets, ...got.other].sort((a, b) => a - b).every((o, i) => o === read[i]!.offset) &&
        got.other.every((o) => JSON.stringify(byOffset.get(o)!.data ?? null).startsWith('{"$wsq":')) &&
        got.frames.length === expected.length &&
        got.frames.every((f, i) => f.equals(Buffer.from(expected[i]!))) &&
        got.chars === expected.reduce((n, f) => n + f.length, 0)
      );
    }),
    { numRuns: 200, seed: 5_806 },
  );
  t.ok(built > 300, `${built} frames built from bytes`);
});

t.test('R5.8.5 LmdbStore: readRecords keeps read’s range, limit and age retention, and stops where the visit says', async (t) => {
  const clock = new FakeClock();
  const store = await tempLmdb(t, 'replay-bytes', options(clock, { maxAgeMs: 1000 }));
  for (let i = 1; i <= 6; i++) {
    await store.append('/', 'r', { event: 'e', data: { i }, ts: clock.now() });
    clock.t += 300;
  }
  const visited = async (from: number, limit: number, stopAt = Infinity): Promise<number[]> => {
    const out: number[] = [];
    await store.readRecords('/', 'r', from, limit, (r) => {
      if (r.offset >= stopAt) return false;
      out.push(r.offset);
      return true;
    });
    return out;
  };
  const read = async (from: number, limit: number) => (await store.read('/', 'r', from, limit)).map((m) => m.offset);
  const a = await read(1, 100);
  t.same(await visited(1, 100), a, 'the same offsets as read');
  t.ok(a[0]! > 1, 'expired messages are skipped');
  t.same(await visited(a[1]!, 2), await read(a[1]!, 2), 'from and limit as read');
  t.same(await visited(1, 100, a[2]!), a.slice(0, 2), 'the visit stops the read');
  t.same(await visited(1, 0), [], 'limit 0: nothing');
  let none = 0;
  await store.readRecords('/', 'nope', 1, 10, () => ++none > 0);
  t.equal(none, 0, 'a room never written: nothing');
});

t.test('R5.8.5 LmdbStore: a record in another shape is left to the JSON path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-replay-bytes-'));
  const clock = new FakeClock();
  let store = await LmdbStore.open(dir, options(clock, {}));
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  for (let i = 1; i <= 4; i++) await store.append('/', 'r', { event: 'e', data: i, ts: 5 + i, from: 'x' });
  await store.close();
  const env = open({ path: dir, noSubdir: false });
  const msgs = env.openDB<string, Buffer>({ name: 'v2-messages', keyEncoding: 'binary', encoding: 'string' });
  // Equivalent JSON in another member order and spacing, a fractional timestamp, an exponent.
  await msgs.put(offsetKey(roomKey('/', 'r'), 2), '{ "e": "e\\u0041", "d": { "a": "\\u00e9" }, "s": 9, "t": 6, "f": "x" }');
  await msgs.put(offsetKey(roomKey('/', 'r'), 3), '{"t":7.5,"s":1,"e":"e","d":3}');
  await msgs.put(offsetKey(roomKey('/', 'r'), 4), '{"t":1e1,"s":1,"e":"e","d":4}');
  await env.close();
  store = await LmdbStore.open(dir, options(clock, {}));
  const { epoch } = await store.position('/', 'r');
  const got = await viaBytes(store, 'r', epoch, 1, 10);
  t.same(got.offsets, [1]);
  t.same(got.other, [2, 3, 4]);
  t.equal(got.frames[0]!.toString(), `{"type":"event","ns":"/","room":"r","event":"e","data":1,"offset":1,"epoch":${JSON.stringify(epoch)},"from":"x","ts":6,"replay":true}`);
});
