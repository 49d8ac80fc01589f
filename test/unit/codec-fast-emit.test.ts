/**
 * R1.6, R4.5: the codec's zod-free path for the common text `emit` (fastEmit in protocol/codec.ts)
 * accepts a subset of what the `EmitFrame` schema accepts and decodes it to the same frame (same
 * fields, same order, same `data`), for random frames near and far from valid (fast-check).
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { decodeClientFrame } from '../../protocol/codec.js';
import { EmitFrame } from '../../protocol/frames.js';

const str = fc.oneof(
  fc.constantFrom('', 'r', 'e', '/', '/chat', '$dead:r', '$x', 'connect', 'disconnect', '__proto__', 'constructor', 'x'.repeat(257), '\u0001', '\ud800', '😀', 'é'.repeat(130)),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
const value = fc.oneof(str, fc.boolean(), fc.constantFrom(0, -0, 1, 1.5, -3, 2 ** 53, 2 ** 60, null), fc.integer(), fc.jsonValue({ maxDepth: 3 }));
const EMIT_FIELDS = ['type', 'event', 'data', 'room', 'ns', 'volatile', 'echo', 'key', 'id'] as const;
const OTHER_FIELDS = ['args', 'bin', 'extra', '__proto__', 'constructor', 'toString'] as const;
/** Mostly a valid value of the field, sometimes anything. */
const likely = (good: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: value });
const FIELD: Record<string, fc.Arbitrary<unknown>> = {
  type: fc.oneof({ weight: 9, arbitrary: fc.constant('emit') }, { weight: 1, arbitrary: value }),
  event: likely(fc.constantFrom('e', 'chat message', 'é😀', '"\\')),
  data: value,
  room: likely(fc.constantFrom('r', 'news/1', '😀', '$x', '$dead:r')),
  ns: likely(fc.constantFrom('/', '/chat')),
  volatile: likely(fc.boolean()),
  echo: likely(fc.boolean()),
  key: likely(fc.constantFrom('k', 'k-1')),
  id: likely(fc.oneof(fc.integer(), fc.constantFrom('a', 'x'.repeat(64)))),
};
for (const k of OTHER_FIELDS) FIELD[k] = k === 'args' ? likely(fc.array(value, { maxLength: 3 })) : value;
/** A JSON text of an object with some of the emit's fields (near valid), or with others too (anything). */
const frameText = fc
  .oneof(fc.shuffledSubarray([...EMIT_FIELDS]), fc.shuffledSubarray([...EMIT_FIELDS, ...OTHER_FIELDS]))
  .chain((keys) => fc.tuple(...keys.map((k) => FIELD[k]!)).map((vs) => `{${keys.map((k, i) => `${JSON.stringify(k)}:${JSON.stringify(vs[i] ?? null)}`).join(',')}}`));

t.test('R4.5: every text emit the codec accepts, the EmitFrame schema accepts, as the same frame', (t) => {
  let fast = 0;
  fc.assert(
    fc.property(frameText, (text) => {
      const r = decodeClientFrame(text);
      const obj = JSON.parse(text) as Record<string, unknown>;
      if (obj.type !== 'emit' || !Object.hasOwn(obj, 'type')) return true;
      const z = EmitFrame.safeParse(obj);
      if (!r.ok) return !z.success || Object.hasOwn(obj, 'bin'); // "bin" in a text message: the codec refuses what the schema lets through
      if (!z.success) return false;
      if (Object.keys(r.frame).join() !== Object.keys(z.data).join() || !isDeepStrictEqual(r.frame, z.data)) return false;
      fast++;
      return true;
    }),
    { numRuns: 20_000 },
  );
  t.ok(fast > 100, `valid emits were among the random frames (${fast})`);
  t.end();
});

t.test('R4.5: common emits decode as before', (t) => {
  for (const text of [
    '{"type":"emit","event":"e","room":"r","data":{"n":1},"id":7}',
    '{"id":"a","type":"emit","room":"r","event":"e","key":"k","echo":true}',
    '{"type":"emit","event":"e","data":null,"ns":"/chat"}',
  ]) {
    const r = decodeClientFrame(text);
    const z = EmitFrame.safeParse(JSON.parse(text));
    t.ok(r.ok && z.success && isDeepStrictEqual(r.frame, z.data) && Object.keys(r.frame).join() === Object.keys(z.data).join(), text);
  }
  for (const text of [
    '{"type":"emit","event":"e","volatile":true}',
    '{"type":"emit","event":"e","room":"r","volatile":true,"key":"k"}',
    '{"type":"emit","event":"$x","room":"r"}',
    '{"type":"emit","event":"e","room":"$dead:r"}',
    '{"type":"emit","event":"e","id":1.5}',
    '{"type":"emit","event":"e","rom":"r"}',
  ]) {
    t.notOk(decodeClientFrame(text).ok, text);
  }
  t.end();
});
