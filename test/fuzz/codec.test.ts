/**
 * I8 deliver 7: property tests of the codec (fast-check). Whatever the text — random JSON,
 * mutated valid frames, truncated JSON, every Object.prototype name anywhere, deep nesting,
 * numbers JSON cannot carry — `decodeClientFrame` never throws and answers either a frame
 * the schema accepts or an error frame with a documented code and a sentence (R3.14,
 * R1.13, §7). Bounded: fixed seeds and numRuns.
 */
import fc from 'fast-check';
import t from 'tap';
import { decodeClientFrame, decodeServerFrame, encodeFrame } from '../../protocol/codec.js';
import { ERROR_CODE_LIST } from '../../protocol/codes.js';
import { ClientFrame, dataProblem } from '../../protocol/frames.js';
import { anyFrame, deepFrame, hugeNumberFrame, mutatedFrame, protoFrames, randomJson, randomText, truncatedFrame } from './frames.js';

const CODES = new Set<string>(ERROR_CODE_LIST);
const DECODE_CODES = new Set(['bad_json', 'bad_frame', 'unknown_type']);

/** The property every decode must hold; returns a reason when it does not. */
function check(text: string): string | undefined {
  let r: ReturnType<typeof decodeClientFrame>;
  try {
    r = decodeClientFrame(text);
  } catch (e) {
    return `threw ${(e as Error).message}`;
  }
  if (r.ok) {
    // Accepted: the frame really is a client frame, and its values are carriable JSON.
    if (!ClientFrame.safeParse(r.frame).success) return 'accepted a frame ClientFrame refuses';
    for (const v of Object.values(r.frame)) if (dataProblem(v)) return 'accepted data over the nesting or number limit';
    return undefined;
  }
  const e = r.error;
  if (!CODES.has(e.code)) return `undocumented code ${e.code}`;
  if (!DECODE_CODES.has(e.code)) return `decode answered ${e.code}`;
  if (typeof e.message !== 'string' || !/[.!?]$/.test(e.message) || e.message.length < 15) return `not a sentence: ${e.message}`;
  if (e.message.length > 2000) return `a message of ${e.message.length} characters`;
  // The error frame itself is a valid server frame (its id and details included).
  const back = decodeServerFrame(encodeFrame(e));
  if (!back.ok) return `the error frame is not a ServerFrame: ${back.error.message}`;
  return undefined;
}

const prop = (arb: fc.Arbitrary<string>) =>
  fc.property(arb, (text) => {
    const why = check(text);
    if (why) throw new Error(`${why} for ${text.slice(0, 200)}`);
  });

t.test('R3.14 decode never throws and always yields a frame or a documented code', async (t) => {
  const cases: [string, fc.Arbitrary<string>, number][] = [
    ['random JSON values', randomJson, 1500],
    ['mutated valid frames', mutatedFrame, 3000],
    ['truncated JSON', truncatedFrame, 800],
    ['random text', randomText, 800],
    ['numbers JSON cannot carry, in every numeric field', hugeNumberFrame, 300],
    ['deep nesting (60 to 20,000 levels)', deepFrame, 150],
  ];
  for (const [name, arb, numRuns] of cases) {
    t.doesNotThrow(() => fc.assert(prop(arb), { numRuns, seed: 0x5eed, interruptAfterTimeLimit: 8000 }), name);
  }
});

t.test('R3.14 every Object.prototype name in every string position and as a field name', async (t) => {
  const texts = protoFrames();
  const bad = texts.map((x) => [x, check(x)] as const).filter(([, why]) => why !== undefined);
  t.strictSame(bad, [], `${texts.length} frames, each decoded or answered with a documented code`);
});

t.test('R1.13 a frame nested past the limit is bad_frame saying the limit, at any depth, quickly', async (t) => {
  for (const depth of [65, 1_000, 100_000, 1_000_000]) {
    const started = Date.now();
    const r = decodeClientFrame(`{"type":"emit","event":"e","room":"r","data":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    t.equal(!r.ok && r.error.code, 'bad_frame', `${depth} levels: bad_frame`);
    t.match(!r.ok && r.error.message, /at most 64 levels/, `${depth} levels: the message says the limit`);
    t.ok(Date.now() - started < 1500, `${depth} levels: answered in ${Date.now() - started} ms`);
  }
});

t.test('decoding a mix of every kind stays fast', async (t) => {
  const sample = fc.sample(anyFrame, { numRuns: 2000, seed: 42 });
  const started = Date.now();
  for (const text of sample) decodeClientFrame(text);
  const ms = Date.now() - started;
  t.ok(ms < 5000, `2,000 hostile frames decoded in ${ms} ms`);
});

t.test('R5.8.5 (codec side, I8 #8) data passes decode, encodeStoredEvent and decodeServerFrame unchanged: __proto__ keys, lone surrogates, numbers', async (t) => {
  const { encodeStoredEvent } = await import('../../protocol/codec.js');
  const { nastyValue } = await import('./frames.js');
  const value = fc.oneof(nastyValue, fc.jsonValue({ maxDepth: 5, stringUnit: 'binary' }));
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(value, (v) => {
        const sent = JSON.stringify({ type: 'emit', event: 'e', room: 'r', data: v });
        const r = decodeClientFrame(sent);
        if (!r.ok) return r.error.code === 'bad_frame' && /64-bit float/.test(r.error.message); // only non-finite numbers are refused
        const data = (r.frame as { data: unknown }).data;
        const json = JSON.stringify(data);
        // What the client sent, re-read: the codec handed on exactly that value (own "__proto__" keys and lone surrogates included).
        if (json !== JSON.stringify(JSON.parse(sent).data)) throw new Error(`decode changed data: ${json.slice(0, 100)}`);
        const out = decodeServerFrame(encodeStoredEvent({ ns: '/', room: 'r', event: 'e', offset: 1, epoch: 'E', ts: 1 }, json));
        if (!out.ok) throw new Error(`the event frame does not parse: ${out.error.message}`);
        if (JSON.stringify((out.frame as { data: unknown }).data) !== json) throw new Error('the event frame changed data');
        return true;
      }),
      { numRuns: 1500, seed: 88 },
    ),
  );
  const proto = decodeClientFrame('{"type":"emit","event":"e","room":"r","data":{"__proto__":{"x":1},"s":"\\ud800"}}');
  t.ok(proto.ok, 'a __proto__ key and a lone surrogate in data are accepted');
  if (proto.ok) {
    const d = (proto.frame as { data: Record<string, unknown> }).data;
    t.ok(Object.hasOwn(d, '__proto__'), '__proto__ stays an own key');
    t.equal(JSON.stringify(d), '{"__proto__":{"x":1},"s":"\\ud800"}', 'and the JSON is the same, the lone surrogate as its escape');
  }
});
