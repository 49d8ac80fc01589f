/**
 * Random stored messages for the replay-read property tests (test/store/replay-*.test.ts): JSON
 * with own `__proto__` keys and lone surrogates, event names and senders with quotes,
 * backslashes, non-ASCII and lone surrogates, idempotency keys, and envelopes of arguments and
 * bytes (R5.8.6); and the frame a replay sends through `read` (the parsed message encoded again).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { StoredArgs } from '../../protocol/binary.js';
import { encodeStoredEvent } from '../../protocol/codec.js';
import { LmdbStore } from '../../lib/store/lmdb.js';
import type { StoreOptions, StoredMessage } from '../../lib/store/types.js';
import { storedData } from '../../protocol/binary.js';
import type { Tap } from './server.js';

const loneSurrogates = fc.constantFrom('\ud800', '\udfff', 'a\ud83d', '\ude00b', '\udc00\ud800');
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), loneSurrogates, fc.constantFrom('__proto__', '"', '\\', '\\"', '","d":', '\u0000', ''));
const key = fc.oneof(text, fc.constant('__proto__'));
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    text,
    fc.array(tie('value'), { maxLength: 4 }),
    tie('object'),
  ),
  object: fc
    .array(fc.tuple(key, tie('value')), { maxLength: 4 })
    .map((entries) => JSON.parse(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`) as unknown),
})).value;
/** A message's data as the server stores it: plain JSON, or an envelope of arguments and bytes (R5.8.6). */
const data = fc.oneof(
  { weight: 4, arbitrary: json },
  {
    weight: 1,
    arbitrary: fc
      .array(
        fc.oneof(
          json,
          fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
        ),
        { maxLength: 3 },
      )
      .map((a) => new StoredArgs(a)),
  },
  { weight: 1, arbitrary: json.map((v) => ({ $wsq: v })) },
);
export const message = fc.record({
  event: text.map((e) => e || 'e'),
  data,
  from: fc.option(text, { nil: undefined }),
  key: fc.option(text, { nil: undefined }),
  ts: fc.integer({ min: 0, max: 2 ** 42 }),
});

/** The frame the replay sends through `read`: the parsed message encoded again. */
export function viaRead(m: StoredMessage, epoch: string): string {
  return encodeStoredEvent({ ns: '/', room: 'r', event: m.event, offset: m.offset, epoch, from: m.from, ts: m.ts, replay: true }, JSON.stringify(m.data ?? null));
}

/** An LmdbStore in a fresh temporary directory, closed and removed when the test ends. */
export async function tempLmdb(t: Tap, name: string, opts: StoreOptions): Promise<LmdbStore> {
  const dir = await mkdtemp(join(tmpdir(), `wsq-${name}-`));
  const store = await LmdbStore.open(dir, opts);
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return store;
}

/** Append random messages to `room` of "/" as the server stores them (data as stored, its JSON once). */
export async function appendAll(store: LmdbStore, room: string, msgs: readonly { event: string; data: unknown; from?: string; key?: string; ts: number }[]): Promise<void> {
  for (const m of msgs) {
    const stored = storedData(m.data);
    const j = JSON.stringify(stored ?? null);
    const msg = { event: m.event, data: stored, ts: m.ts, ...(m.from !== undefined ? { from: m.from } : {}), ...(m.key !== undefined ? { key: m.key } : {}) };
    await store.append('/', room, msg, j.length + m.event.length, { json: j });
  }
}
