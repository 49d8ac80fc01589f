/**
 * fast-check arbitraries of hostile client frames (I8 deliver 7): random JSON, mutated valid
 * frames, truncated JSON, every Object.prototype name in every position, deep nesting and
 * numbers JSON cannot carry. Each arbitrary gives the text of one WebSocket text frame.
 */
import fc from 'fast-check';

/** Every own name of Object.prototype ("constructor", "__proto__", "toString", …). */
export const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype);

/** Valid client frames of every type, the seeds that mutations start from. */
export const VALID: Record<string, unknown>[] = [
  { type: 'connect', ns: '/chat', auth: { token: 'abc' }, id: 1 },
  { type: 'disconnect', ns: '/chat', id: 2 },
  { type: 'join', room: 'news', since: 0, id: 3 },
  { type: 'join', room: 'jobs', group: 'workers', prefetch: 5, id: 4 },
  { type: 'join', room: 'news', since: 'earliest', epoch: 'e1', presence: true, id: 5 },
  { type: 'leave', room: 'news', id: 6 },
  { type: 'emit', event: 'chat', data: { text: 'hi' }, room: 'lobby', id: 7 },
  { type: 'emit', event: 'cursor', data: [1, 2], room: 'doc', volatile: true, echo: true },
  { type: 'emit', event: 'job', data: 1, room: 'jobs', key: 'k-1', id: 'e8' },
  { type: 'emit', event: 'rpc', data: null, id: 9 },
  { type: 'ack', id: 1, data: { ok: true } },
  { type: 'nack', id: 2, requeue: false, delayMs: 10 },
  { type: 'ping', id: 'p' },
];

const FIELDS = ['type', 'ns', 'room', 'event', 'key', 'id', 'group', 'data', 'auth', 'since', 'epoch', 'durable', 'volatile', 'echo', 'prefetch', 'presence', 'requeue', 'delayMs'];
const TYPES = ['connect', 'disconnect', 'join', 'leave', 'emit', 'ack', 'nack', 'ping', 'event', 'welcome', 'error', ''];

/** Strings likely to hit edge cases: prototype names, reserved and dead rooms, control characters, lone surrogates, long and wide text. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...PROTO_NAMES),
  fc.constantFrom(
    '',
    '$',
    '$dead:',
    '$dead:calm',
    '$x',
    '@alice',
    '/',
    '//',
    'connect',
    'disconnect',
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff',
    '😀',
    'é'.repeat(129),
    'x'.repeat(300),
    '\u007f',
    '\n',
  ),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ maxLength: 40 }),
);

/** A JSON-able value with prototype names among its keys and strings. */
export const nastyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    nastyString,
    fc.double(),
    fc.integer(),
    fc.constantFrom(null, true, false, 0, -1, 2 ** 53, Number.MAX_VALUE),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...PROTO_NAMES), fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Text of a JSON value, where non-finite numbers appear as the literals that JSON.parse turns into Infinity. */
function text(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? '__INF__' : x)).replace(/"__INF__"/g, '1e400');
}

/** Set `key` on a copy of `frame` as an own property (even "__proto__"). */
function withField(frame: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = { ...frame };
  Object.defineProperty(out, key, { value, enumerable: true, configurable: true, writable: true });
  return out;
}

/** A valid frame with one to three mutations: a field removed, set to a nasty value, or added. */
export const mutatedFrame: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom(...VALID),
    fc.array(
      fc.oneof(
        fc.record({ op: fc.constant('drop' as const), key: fc.constantFrom(...FIELDS) }),
        fc.record({ op: fc.constant('set' as const), key: fc.oneof(fc.constantFrom(...FIELDS), fc.constantFrom(...PROTO_NAMES)), value: nastyValue }),
        fc.record({ op: fc.constant('type' as const), value: fc.oneof(fc.constantFrom(...TYPES), fc.constantFrom(...PROTO_NAMES)) }),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  )
  .map(([seed, ops]) => {
    let f: Record<string, unknown> = { ...seed };
    for (const m of ops) {
      if (m.op === 'drop') delete f[m.key];
      else if (m.op === 'set') f = withField(f, m.key, m.value);
      else f.type = m.value;
    }
    return text(f);
  });

/** Every Object.prototype name in every string position of every valid frame. */
export function protoFrames(): string[] {
  const out: string[] = [];
  for (const name of PROTO_NAMES) {
    for (const seed of VALID) {
      for (const key of Object.keys(seed)) if (typeof seed[key] === 'string') out.push(text({ ...seed, [key]: key === 'ns' ? `/${name}` : name }));
      out.push(text(withField(seed, name, 1)));
      out.push(text({ ...seed, type: name }));
    }
  }
  return out;
}

/** A valid frame's text cut short. */
export const truncatedFrame: fc.Arbitrary<string> = fc.tuple(fc.constantFrom(...VALID), fc.nat()).map(([f, n]) => {
  const s = text(f);
  return s.slice(0, n % s.length);
});

/** Data nested `depth` levels (arrays, objects, or both) inside an emit. */
export const deepFrame: fc.Arbitrary<string> = fc.tuple(fc.integer({ min: 60, max: 20_000 }), fc.constantFrom('[', '{"a":', 'mix')).map(([depth, open]) => {
  let inner = '1';
  if (open === 'mix') {
    for (let i = 0; i < depth; i++) inner = i % 2 ? `[${inner}]` : `{"__proto__":${inner}}`;
  } else inner = `${open.repeat(depth)}1${(open === '[' ? ']' : '}').repeat(depth)}`;
  return `{"type":"emit","event":"deep","room":"fuzz","data":${inner},"id":1}`;
});

/** Frames with numbers JSON cannot carry (they parse to ±Infinity), and big finite ones. */
export const hugeNumberFrame: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('1e400', '-1e400', '1E+9999', '9'.repeat(400), '1e308', '-0', '5e-324', '1e-400', '123456789012345678901234567890'),
    fc.constantFrom('data', 'id', 'since', 'prefetch', 'delayMs'),
  )
  .map(([n, field]) =>
    field === 'data'
      ? `{"type":"emit","event":"n","room":"fuzz","data":[${n}],"id":1}`
      : field === 'id'
        ? `{"type":"ping","id":${n}}`
        : field === 'delayMs'
          ? `{"type":"nack","id":1,"delayMs":${n}}`
          : `{"type":"join","room":"fuzz","${field}":${n}}`,
  );

/** Any JSON value as a frame. */
export const randomJson: fc.Arbitrary<string> = fc.oneof(fc.json({ maxDepth: 4 }), nastyValue.map(text));

/** Any text at all. */
export const randomText: fc.Arbitrary<string> = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ maxLength: 60 }));

/** One hostile frame of any kind. */
export const anyFrame: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: mutatedFrame, weight: 6 },
  { arbitrary: randomJson, weight: 2 },
  { arbitrary: truncatedFrame, weight: 2 },
  { arbitrary: randomText, weight: 1 },
  { arbitrary: hugeNumberFrame, weight: 1 },
  { arbitrary: deepFrame, weight: 1 },
);
