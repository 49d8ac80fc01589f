/**
 * Deliver 3 (I7): outgoing frames are typed (`Connection.send(frame: ServerFrame)`), and the
 * frames built as text on the fast paths — `encodeStoredEvent`, `withDelivery`,
 * `Namespace.encodeEvent`, `errorFrame` — parse as `ServerFrame` from protocol/frames.ts, for
 * random names and data (fast-check).
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { WsqServer } from '../../lib/index.js';
import { decodeServerFrame, encodeFrame, encodeStoredEvent, errorFrame, withDelivery } from '../../protocol/codec.js';
import { ERROR_CODE_LIST } from '../../protocol/codes.js';
import { deadLetterRoom, nameProblem, ServerFrame, type NameKind } from '../../protocol/frames.js';

/** A valid name of a kind: any string the name rule accepts (unicode, quotes, backslashes). */
const name = (kind: NameKind, prefix = ''): fc.Arbitrary<string> =>
  fc
    .string({
      unit: fc.oneof(fc.constantFrom('"', '\\', '/', '$', 'é', '€', '😀', '__proto__', 'constructor'), fc.string({ unit: 'grapheme', maxLength: 1 })),
      minLength: 1,
      maxLength: 40,
    })
    .map((s) => prefix + s)
    .filter((s) => nameProblem(kind, s) === undefined);
/** JSON data as a client may send it (any code point, lone surrogates too): what JSON.parse gives back (-0 as 0). */
const data = fc.oneof(fc.jsonValue({ maxDepth: 6 }), fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' })).map((v) => JSON.parse(JSON.stringify(v)) as unknown);

function parses(t: Test, text: string, what: string): Record<string, unknown> | undefined {
  const r = decodeServerFrame(text);
  if (!r.ok) {
    t.fail(`${what} is not a valid ServerFrame: ${r.error.message}`, { text: text.slice(0, 300) });
    return undefined;
  }
  // The schema check is exact: what it returns is what was sent (no field dropped or added).
  if (!isDeepStrictEqual(JSON.parse(text), ServerFrame.parse(JSON.parse(text)))) t.fail(`${what}: the schema changed the frame`);
  return r.frame as Record<string, unknown>;
}

t.test('encodeStoredEvent output parses as a ServerFrame event, with and without from, replay, delivery id and attempt', async (t) => {
  let runs = 0;
  fc.assert(
    fc.property(
      name('namespace', '/'),
      fc.oneof(name('room'), name('room').map(deadLetterRoom)),
      name('event'),
      data,
      fc.record({ offset: fc.nat(), ts: fc.nat(), from: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }), replay: fc.option(fc.boolean(), { nil: undefined }) }),
      fc.option(fc.oneof(fc.integer({ min: 1 }), fc.string({ maxLength: 20 })), { nil: undefined }),
      fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
      (ns, room, event, value, f, id, attempt) => {
        runs++;
        const text = encodeStoredEvent(
          { ns, room, event, offset: f.offset, epoch: 'E1', ts: f.ts, ...(f.from === undefined ? {} : { from: f.from }), ...(f.replay === undefined ? {} : { replay: f.replay }) },
          JSON.stringify(value),
        );
        const ev = parses(t, text, 'encodeStoredEvent');
        if (!ev) return false;
        if (ev.ns !== ns || ev.room !== room || ev.event !== event || JSON.stringify(ev.data) !== JSON.stringify(value)) return false;
        if (id === undefined) return true;
        const delivered = parses(t, withDelivery(text, id, attempt), 'withDelivery');
        return delivered !== undefined && delivered.id === id && delivered.attempt === attempt && JSON.stringify(delivered.data) === JSON.stringify(value);
      },
    ),
    { numRuns: 300, seed: 7 },
  );
  t.ok(runs >= 300, `${runs} random stored events and deliveries parsed`);
});

t.test('Namespace.encodeEvent (library emits and broadcasts) parses as a ServerFrame event', async (t) => {
  const server = new WsqServer({ namespaces: 'any', logger: () => {} });
  t.teardown(() => server.close());
  for (const ns of ['/', '/chat', '/é€😀']) {
    const nsp = server.of(ns);
    fc.assert(
      fc.property(name('event'), fc.option(data, { nil: undefined }), fc.oneof(fc.integer({ min: 1 }), fc.string({ maxLength: 64 })), (event, value, id) => {
        const text = nsp.encodeEvent(event, value);
        const ev = parses(t, text, `Namespace("${ns}").encodeEvent`);
        if (!ev || ev.ns !== ns || ev.event !== event) return false;
        if (JSON.stringify(ev.data) !== JSON.stringify(value ?? null)) return false;
        return parses(t, withDelivery(text, id), 'withDelivery of a library request') !== undefined;
      }),
      { numRuns: 100, seed: 11 },
    );
  }
  t.pass('library events parse');
});

t.test('errorFrame output parses for every code, with and without id and details', async (t) => {
  for (const code of ERROR_CODE_LIST) {
    t.ok(parses(t, encodeFrame(errorFrame(code)), code), `${code}: default sentence`);
    t.ok(parses(t, encodeFrame(errorFrame(code, 'A sentence.', 'r1', { delivery: 3 })), code), `${code}: with id and details`);
  }
});
