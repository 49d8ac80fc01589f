/**
 * I8 #8 / Deliver 6: a replayed copy is the same JSON as the live copy, on every store, and
 * after a restart of the disk store. A fast-check property over random JSON values, with
 * `__proto__` (and other Object.prototype names) as own keys and lone surrogates in keys and
 * strings. "Live" is `JSON.stringify(data)` as the server serializes it once (RoomLog passes
 * that text to the store); "replay" is `JSON.stringify` of what `read` returns.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { LmdbStore } from '../../lib/store/lmdb.js';
import { MemoryStore } from '../../lib/store/memory.js';
import type { Store } from '../../lib/store/types.js';
import { FakeClock, options } from '../contract/store-contract.js';

const loneSurrogates = fc.constantFrom('\ud800', '\udfff', 'a\ud83d', '\ude00b', '\udc00\ud800');
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), loneSurrogates, fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '\u0000', ''));
const key = fc.oneof(text, fc.constant('__proto__'));

/** JSON values whose objects may have own `__proto__` keys (built with JSON.parse, as a decoded frame has them). */
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
    text,
    fc.array(tie('value'), { maxLength: 5 }),
    tie('object'),
  ),
  object: fc.array(fc.tuple(key, tie('value')), { maxLength: 5 }).map((entries) => {
    const src = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
    return JSON.parse(src) as unknown;
  }),
})).value;

/** Own-key structure of a value, keys in order: catches a `__proto__` turned into a prototype. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (v && typeof v === 'object') return Object.keys(v).map((k) => [k, shape((v as Record<string, unknown>)[k])]);
  return v;
}

function check(name: string, make: () => Promise<{ store: Store; reopen?: () => Promise<Store>; cleanup: () => Promise<void> }>): void {
  t.test(`R5.8.5 ${name}: a replayed message is the same JSON as the live one (__proto__ keys, lone surrogates)`, async (tt: Test) => {
    const built = await make();
    tt.teardown(built.cleanup);
    let store = built.store;
    const live: string[] = [];
    let room = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(json, { minLength: 1, maxLength: 8 }), text, async (datas, event) => {
        const r = `room-${room++}`;
        for (const data of datas) {
          const j = JSON.stringify(data);
          live.push(j);
          await store.append('ns', r, { event: event || 'e', data, ts: 1 }, j.length + (event || 'e').length, { json: j });
        }
        const back = await store.read('ns', r, 1, 100);
        const ok = back.length === datas.length && back.every((m, i) => JSON.stringify(m.data) === JSON.stringify(datas[i]) && m.event === (event || 'e'));
        const same = back.every((m, i) => JSON.stringify(shape(m.data)) === JSON.stringify(shape(datas[i])));
        return ok && same;
      }),
      { numRuns: 150, seed: 8_008 },
    );
    tt.pass('live and replay agree on 150 random batches');
    if (!built.reopen) return;
    store = await built.reopen();
    const after: string[] = [];
    for (let i = 0; i < room; i++) for (const m of await store.read('ns', `room-${i}`, 1, 100)) after.push(JSON.stringify(m.data));
    tt.same(after, live, 'after a restart every message is still the same JSON');
  });
}

const clock = new FakeClock();
const opts = options(clock, { dedupWindowMs: 0 });

check('MemoryStore', async () => {
  const store = new MemoryStore(opts);
  return { store, cleanup: () => store.close() };
});

check('LmdbStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-integrity-'));
  let store = await LmdbStore.open(dir, opts);
  return {
    store,
    reopen: async () => {
      await store.close();
      return (store = await LmdbStore.open(dir, opts));
    },
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

t.test('R5.8.5 LmdbStore: a message appended without its JSON text is stored the same way', async (tt) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-integrity-'));
  const store = await LmdbStore.open(dir, opts);
  tt.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const data = JSON.parse('{"__proto__":{"x":"\\ud800"},"a":["\\udfff"]}');
  await store.append('ns', 'r', { event: 'e', data, ts: 1 });
  const [m] = await store.read('ns', 'r', 1, 1);
  tt.equal(JSON.stringify(m!.data), JSON.stringify(data));
  tt.ok(Object.hasOwn(m!.data as object, '__proto__'), '__proto__ is an own key, not the prototype');
});
