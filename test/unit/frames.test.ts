/**
 * The frame schemas through the codec (PROTOCOL.md §3, §4, §6): every client frame type,
 * with and without its optional fields, is accepted as sent; every kind of mistake is
 * answered with the right code and a message that names the field; and a sample of each
 * server frame decodes.
 */
import t from 'tap';
import { decodeClientFrame, decodeServerFrame, readServerFrame } from '../../protocol/codec.js';
import { CLIENT_FRAMES, ServerFrame } from '../../protocol/frames.js';
import { ERROR_CODE_LIST } from '../../protocol/codes.js';

type Json = Record<string, unknown>;

const id64 = 'i'.repeat(64);

/** Valid client frames: each decodes to exactly itself. */
const valid: [string, Json][] = [
  ['connect (required only)', { type: 'connect', ns: '/chat' }],
  ['connect with auth and id', { type: 'connect', ns: '/chat', auth: { token: 'abc', nested: { n: 1 } }, id: 1 }],
  ['connect to "/"', { type: 'connect', ns: '/' }],
  ['disconnect (required only)', { type: 'disconnect', ns: '/chat' }],
  ['disconnect with a string id', { type: 'disconnect', ns: '/chat', id: 'd-1' }],
  ['join (required only)', { type: 'join', room: 'news' }],
  ['join live with since, epoch, presence', { type: 'join', room: 'news', ns: '/chat', since: 42, epoch: 'e-1', presence: true, id: 2 }],
  ['join with since 0', { type: 'join', room: 'news', since: 0 }],
  ['join with since "earliest"', { type: 'join', room: 'news', since: 'earliest' }],
  ['join durable with prefetch', { type: 'join', room: 'orders', durable: true, prefetch: 1, since: 10 }],
  ['join in a group, largest prefetch', { type: 'join', room: 'jobs', group: 'workers', prefetch: 10_000, presence: false }],
  ['join durable false', { type: 'join', room: 'news', durable: false }],
  ['leave (required only)', { type: 'leave', room: 'news' }],
  ['leave with ns and id', { type: 'leave', room: 'news', ns: '/chat', id: 3 }],
  ['emit (required only)', { type: 'emit', event: 'hello' }],
  ['emit with every field', { type: 'emit', event: 'chat', data: { text: 'hi' }, room: 'lobby', ns: '/chat', volatile: false, echo: true, key: 'msg-1', id: id64 }],
  ['emit with null data', { type: 'emit', event: 'tick', data: null, room: 'clock' }],
  ['emit with array data', { type: 'emit', event: 'list', data: [1, 'two', { three: 3 }], room: 'r' }],
  ['emit with scalar data', { type: 'emit', event: 'n', data: 7, id: 0 }],
  ['emit volatile', { type: 'emit', event: 'cursor', data: { x: 1 }, room: 'doc', volatile: true }],
  ['emit with a negative integer id', { type: 'emit', event: 'x', id: -5 }],
  ['ack (required only)', { type: 'ack', id: 7 }],
  ['ack with data', { type: 'ack', id: 'r-1', data: { answer: 42 } }],
  ['nack (required only)', { type: 'nack', id: 7 }],
  ['nack requeue false', { type: 'nack', id: 7, requeue: false }],
  ['nack with delayMs 0', { type: 'nack', id: 7, requeue: true, delayMs: 0 }],
  ['nack with the largest delayMs', { type: 'nack', id: 7, delayMs: 3_600_000 }],
  ['ping (required only)', { type: 'ping' }],
  ['ping with id', { type: 'ping', id: 'p' }],
];

t.test('valid client frames decode to themselves', async (t) => {
  for (const [name, frame] of valid) {
    const r = decodeClientFrame(JSON.stringify(frame));
    t.ok(r.ok, name, r.ok ? {} : { error: r.error });
    if (r.ok) t.strictSame(r.frame, frame, `${name}: decoded frame`);
  }
});

t.test('every client frame type has a valid example here', async (t) => {
  const covered = new Set(valid.map(([, f]) => f.type));
  for (const type of Object.keys(CLIENT_FRAMES)) t.ok(covered.has(type), `${type} is covered`);
});

/** An invalid frame: the text sent, the code expected, and a string the message must contain (the field, quoted). */
interface Bad {
  name: string;
  text: string;
  code: 'bad_json' | 'bad_frame' | 'unknown_type';
  names: string;
  /** The id the error must echo (undefined: none). */
  id?: number | string;
}

const j = (f: unknown): string => JSON.stringify(f);
const long = (n: number): string => 'x'.repeat(n);

const invalid: Bad[] = [
  // not JSON
  { name: 'truncated JSON', text: '{"type":"ping"', code: 'bad_json', names: 'JSON' },
  { name: 'empty text', text: '', code: 'bad_json', names: 'JSON' },
  { name: 'single quotes', text: "{'type':'ping'}", code: 'bad_json', names: 'JSON' },
  { name: 'trailing comma', text: '{"type":"ping",}', code: 'bad_json', names: 'JSON' },
  // JSON but not an object
  { name: 'array', text: '[{"type":"ping"}]', code: 'bad_frame', names: '"type"' },
  { name: 'number', text: '42', code: 'bad_frame', names: '"type"' },
  { name: 'null', text: 'null', code: 'bad_frame', names: '"type"' },
  { name: 'string', text: '"ping"', code: 'bad_frame', names: '"type"' },
  { name: 'boolean', text: 'true', code: 'bad_frame', names: '"type"' },
  // type
  { name: 'no type', text: j({ id: 1 }), code: 'bad_frame', names: '"type"', id: 1 },
  { name: 'type not a string', text: j({ type: 5 }), code: 'bad_frame', names: '"type"' },
  { name: 'unknown type', text: j({ type: 'joinx', id: 'a' }), code: 'unknown_type', names: '"joinx"', id: 'a' },
  { name: 'type in the wrong case', text: j({ type: 'PING' }), code: 'unknown_type', names: '"PING"' },
  { name: 'a server frame type sent by a client', text: j({ type: 'event', event: 'x' }), code: 'unknown_type', names: '"event"' },
  // missing fields
  { name: 'connect without ns', text: j({ type: 'connect', id: 4 }), code: 'bad_frame', names: '"ns"', id: 4 },
  { name: 'disconnect without ns', text: j({ type: 'disconnect' }), code: 'bad_frame', names: '"ns"' },
  { name: 'join without room', text: j({ type: 'join', id: 5 }), code: 'bad_frame', names: '"room"', id: 5 },
  { name: 'leave without room', text: j({ type: 'leave' }), code: 'bad_frame', names: '"room"' },
  { name: 'emit without event', text: j({ type: 'emit', room: 'r', data: 1 }), code: 'bad_frame', names: '"event"' },
  { name: 'ack without id', text: j({ type: 'ack', data: 1 }), code: 'bad_frame', names: '"id"' },
  { name: 'nack without id', text: j({ type: 'nack', requeue: false }), code: 'bad_frame', names: '"id"' },
  // unknown fields
  { name: 'typo "rom" next to room', text: j({ type: 'join', room: 'news', rom: 'news' }), code: 'bad_frame', names: '"rom"' },
  { name: 'typo "rom" on emit', text: j({ type: 'emit', event: 'x', rom: 'news', id: 6 }), code: 'bad_frame', names: '"rom"', id: 6 },
  // The typo replaces the required field: the message names the missing "room" (details list "rom" too).
  { name: 'typo "rom" instead of room', text: j({ type: 'join', rom: 'news' }), code: 'bad_frame', names: '"room"' },
  { name: 'unknown field on ping', text: j({ type: 'ping', extra: true }), code: 'bad_frame', names: '"extra"' },
  { name: 'ack with a server-only field', text: j({ type: 'ack', id: 1, offset: 3 }), code: 'bad_frame', names: '"offset"', id: 1 },
  { name: 'since on leave', text: j({ type: 'leave', room: 'r', since: 0 }), code: 'bad_frame', names: '"since"' },
  // wrong types
  { name: 'room a number', text: j({ type: 'join', room: 5 }), code: 'bad_frame', names: '"room"' },
  { name: 'ns a number', text: j({ type: 'connect', ns: 1 }), code: 'bad_frame', names: '"ns"' },
  { name: 'durable a string', text: j({ type: 'join', room: 'r', durable: 'yes' }), code: 'bad_frame', names: '"durable"' },
  { name: 'presence a number', text: j({ type: 'join', room: 'r', presence: 1 }), code: 'bad_frame', names: '"presence"' },
  { name: 'volatile a string', text: j({ type: 'emit', event: 'e', room: 'r', volatile: 'true' }), code: 'bad_frame', names: '"volatile"' },
  { name: 'echo null', text: j({ type: 'emit', event: 'e', room: 'r', echo: null }), code: 'bad_frame', names: '"echo"' },
  { name: 'event a number', text: j({ type: 'emit', event: 1 }), code: 'bad_frame', names: '"event"' },
  { name: 'auth a string', text: j({ type: 'connect', ns: '/a', auth: 'token' }), code: 'bad_frame', names: '"auth"' },
  { name: 'auth an array', text: j({ type: 'connect', ns: '/a', auth: ['token'] }), code: 'bad_frame', names: '"auth"' },
  { name: 'id a float', text: j({ type: 'ping', id: 1.5 }), code: 'bad_frame', names: '"id"' },
  { name: 'id a boolean', text: j({ type: 'ping', id: true }), code: 'bad_frame', names: '"id"' },
  { name: 'ack id an object', text: j({ type: 'ack', id: { n: 1 } }), code: 'bad_frame', names: '"id"' },
  { name: 'requeue a string', text: j({ type: 'nack', id: 1, requeue: 'no' }), code: 'bad_frame', names: '"requeue"', id: 1 },
  { name: 'epoch a number', text: j({ type: 'join', room: 'r', since: 1, epoch: 7 }), code: 'bad_frame', names: '"epoch"' },
  { name: 'group a boolean', text: j({ type: 'join', room: 'r', group: true }), code: 'bad_frame', names: '"group"' },
  // namespaces
  { name: 'namespace without leading slash (connect)', text: j({ type: 'connect', ns: 'chat' }), code: 'bad_frame', names: '"ns"' },
  { name: 'namespace without leading slash (emit)', text: j({ type: 'emit', event: 'e', ns: 'chat', id: 8 }), code: 'bad_frame', names: '"ns"', id: 8 },
  { name: 'empty namespace', text: j({ type: 'join', room: 'r', ns: '' }), code: 'bad_frame', names: '"ns"' },
  { name: 'namespace over 256 characters', text: j({ type: 'connect', ns: `/${long(256)}` }), code: 'bad_frame', names: '"ns"' },
  // lengths
  { name: 'id over 64 characters (not echoed)', text: j({ type: 'ping', id: long(65) }), code: 'bad_frame', names: '"id"' },
  { name: 'empty room', text: j({ type: 'join', room: '' }), code: 'bad_frame', names: '"room"' },
  { name: 'room over 256 characters', text: j({ type: 'leave', room: long(257) }), code: 'bad_frame', names: '"room"' },
  { name: 'empty event', text: j({ type: 'emit', event: '' }), code: 'bad_frame', names: '"event"' },
  { name: 'event over 256 characters', text: j({ type: 'emit', event: long(257) }), code: 'bad_frame', names: '"event"' },
  { name: 'empty key', text: j({ type: 'emit', event: 'e', room: 'r', key: '' }), code: 'bad_frame', names: '"key"' },
  { name: 'key over 128 characters', text: j({ type: 'emit', event: 'e', room: 'r', key: long(129) }), code: 'bad_frame', names: '"key"' },
  { name: 'empty group', text: j({ type: 'join', room: 'r', group: '' }), code: 'bad_frame', names: '"group"' },
  { name: 'group over 128 characters', text: j({ type: 'join', room: 'r', group: long(129) }), code: 'bad_frame', names: '"group"' },
  { name: 'epoch over 64 characters', text: j({ type: 'join', room: 'r', since: 1, epoch: long(65) }), code: 'bad_frame', names: '"epoch"' },
  // reserved event names
  { name: 'reserved "$x"', text: j({ type: 'emit', event: '$x', room: 'r', id: 9 }), code: 'bad_frame', names: '"event"', id: 9 },
  { name: 'reserved "$"', text: j({ type: 'emit', event: '$' }), code: 'bad_frame', names: '"event"' },
  { name: 'reserved "connect"', text: j({ type: 'emit', event: 'connect' }), code: 'bad_frame', names: '"event"' },
  { name: 'reserved "disconnect"', text: j({ type: 'emit', event: 'disconnect', room: 'r' }), code: 'bad_frame', names: '"event"' },
  { name: 'reserved "connect_error"', text: j({ type: 'emit', event: 'connect_error' }), code: 'bad_frame', names: '"event"' },
  { name: 'reserved "disconnecting"', text: j({ type: 'emit', event: 'disconnecting' }), code: 'bad_frame', names: '"event"' },
  { name: 'reserved "newListener"', text: j({ type: 'emit', event: 'newListener' }), code: 'bad_frame', names: '"event"' },
  { name: 'reserved "removeListener"', text: j({ type: 'emit', event: 'removeListener' }), code: 'bad_frame', names: '"event"' },
  // since
  { name: 'since negative', text: j({ type: 'join', room: 'r', since: -1 }), code: 'bad_frame', names: '"since"' },
  { name: 'since a float', text: j({ type: 'join', room: 'r', since: 1.5 }), code: 'bad_frame', names: '"since"' },
  { name: 'since "latest"', text: j({ type: 'join', room: 'r', since: 'latest' }), code: 'bad_frame', names: '"since"' },
  { name: 'since a numeric string', text: j({ type: 'join', room: 'r', since: '3' }), code: 'bad_frame', names: '"since"' },
  { name: 'since null', text: j({ type: 'join', room: 'r', since: null }), code: 'bad_frame', names: '"since"' },
  // prefetch and delayMs
  { name: 'prefetch 0', text: j({ type: 'join', room: 'r', group: 'g', prefetch: 0 }), code: 'bad_frame', names: '"prefetch"' },
  { name: 'prefetch over 10000', text: j({ type: 'join', room: 'r', durable: true, prefetch: 10_001 }), code: 'bad_frame', names: '"prefetch"' },
  { name: 'prefetch a float', text: j({ type: 'join', room: 'r', group: 'g', prefetch: 2.5 }), code: 'bad_frame', names: '"prefetch"' },
  { name: 'delayMs negative', text: j({ type: 'nack', id: 1, delayMs: -1 }), code: 'bad_frame', names: '"delayMs"', id: 1 },
  { name: 'delayMs over an hour', text: j({ type: 'nack', id: 1, delayMs: 3_600_001 }), code: 'bad_frame', names: '"delayMs"', id: 1 },
  { name: 'delayMs a float', text: j({ type: 'nack', id: 1, delayMs: 0.5 }), code: 'bad_frame', names: '"delayMs"', id: 1 },
];

t.test('invalid client frames are answered with the right code, a message naming the field, and the id', async (t) => {
  for (const c of invalid) {
    const r = decodeClientFrame(c.text);
    if (r.ok) {
      t.fail(`${c.name}: decoded although invalid`, { frame: r.frame });
      continue;
    }
    const e = r.error;
    t.equal(e.type, 'error', `${c.name}: an error frame`);
    t.equal(e.code, c.code, `${c.name}: code ${c.code}`);
    t.ok(e.message.includes(c.names), `${c.name}: message names ${c.names}`, { message: e.message });
    t.equal(e.id, c.id, `${c.name}: id ${c.id === undefined ? 'absent' : 'echoed'}`);
    t.ok(/[.!]$/.test(e.message) && e.message.length > 15, `${c.name}: message is a sentence`, { message: e.message });
  }
});

t.test('schema errors carry every zod issue with its path in details', async (t) => {
  const r = decodeClientFrame(j({ type: 'join', rom: 'news', since: -1 }));
  t.notOk(r.ok);
  if (r.ok) return;
  const issues = (r.error.details as { issues: { path: string; code: string; message: string }[] }).issues;
  t.ok(Array.isArray(issues), 'details.issues is a list');
  const paths = issues.map((i) => i.path);
  t.ok(paths.includes('room'), 'the missing room is listed');
  t.ok(paths.includes('since'), 'the bad since is listed');
  t.ok(
    issues.some((i) => i.code === 'unrecognized_keys' && i.message.includes('rom')),
    'the typo "rom" is listed',
  );
});

t.test('the unknown-field message lists the allowed fields', async (t) => {
  const r = decodeClientFrame(j({ type: 'leave', room: 'r', rom: 'r' }));
  t.notOk(r.ok);
  if (!r.ok) t.match(r.error.message, /Allowed fields: type, room, ns, id\./);
});

t.test('the reserved-name message says why', async (t) => {
  const r = decodeClientFrame(j({ type: 'emit', event: '$internal' }));
  t.notOk(r.ok);
  if (!r.ok) t.match(r.error.message, /reserved/);
});

t.test('decoding never throws, whatever the text', async (t) => {
  const texts = ['', ' ', '\u0000', '{', '}', '[]', '{}', '{"type":null}', '{"type":{}}', '{"__proto__":{"type":"ping"}}', '1e999', '"\\ud800"'];
  for (const text of texts) t.doesNotThrow(() => decodeClientFrame(text), JSON.stringify(text));
});

// ------------------------------------------------------------------ server frames

/** A sample of every server frame, as the server sends them (sids, epochs and ts as in a real run). */
const serverSamples: [string, Json][] = [
  ['welcome', { type: 'welcome', sid: 'G1g9n5uvHIJx', protocol: 1, heartbeatMs: 25000, maxPayload: 1048576, server: { name: 'wsq', version: '0.1.0' }, client: 'alice' }],
  ['welcome (anonymous)', { type: 'welcome', sid: 'Qge7rHSR9C-k', protocol: 1, heartbeatMs: 25000, maxPayload: 1048576, server: { name: 'wsq', version: '0.1.0' } }],
  ['connected', { type: 'connected', ns: '/chat', id: 11 }],
  ['disconnected', { type: 'disconnected', ns: '/chat' }],
  ['joined (live, no replay)', { type: 'joined', ns: '/', room: 'news', epoch: 'GmgXTlRPga', offset: 0, recovered: true, id: 2 }],
  ['joined (replay)', { type: 'joined', ns: '/', room: 'news', epoch: 'GmgXTlRPga', offset: 2, recovered: true, id: 3, replay: { from: 1, to: 2, count: 2 } }],
  [
    'joined (gap)',
    {
      type: 'joined',
      ns: '/',
      room: 'small',
      epoch: 'KImfEs4YFx',
      offset: 5,
      recovered: false,
      replay: { from: 3, to: 5, count: 3 },
      gap: { requested: 0, earliest: 3, latest: 5 },
    },
  ],
  ['joined (group)', { type: 'joined', ns: '/', room: 'jobs', epoch: 'XiegfC63o5', offset: 0, recovered: true, group: 'workers', id: 1 }],
  ['joined (durable)', { type: 'joined', ns: '/', room: 'orders', epoch: 'XiegfC63o5', offset: 9, recovered: true, durable: true }],
  ['left', { type: 'left', ns: '/', room: 'news', id: 13 }],
  ['event (live)', { type: 'event', ns: '/', room: 'news', event: 'headline', data: { t: 'hi' }, offset: 1, epoch: 'GmgXTlRPga', from: 'Qge7rHSR9C-k', ts: 1795401447405 }],
  [
    'event (replayed)',
    { type: 'event', ns: '/', room: 'news', event: 'headline', data: { t: 'hi' }, offset: 1, epoch: 'GmgXTlRPga', from: 'Qge7rHSR9C-k', ts: 1795401447405, replay: true },
  ],
  [
    'event (group delivery)',
    { type: 'event', ns: '/', room: 'jobs', event: 'job', data: 3, offset: 3, epoch: 'XiegfC63o5', from: 'qJY_pZWUjHHw', ts: 1795401460223, id: 2, attempt: 2 },
  ],
  ['event (volatile)', { type: 'event', ns: '/', event: 'v', data: null, room: 'news', from: 'Qge7rHSR9C-k', ts: 1795401448571 }],
  ['event (socket.emit, no room)', { type: 'event', ns: '/', event: 'hello', data: 'hi', ts: 1795401448571 }],
  ['ack (stored emit)', { type: 'ack', id: 'e1', offset: 1, epoch: 'GmgXTlRPga' }],
  ['ack (duplicate key)', { type: 'ack', id: 'e3', offset: 2, epoch: 'GmgXTlRPga', duplicate: true }],
  ['ack (volatile emit)', { type: 'ack', id: 14 }],
  ['ack (handler answer)', { type: 'ack', id: 1, data: 3 }],
  ['error', { type: 'error', code: 'bad_json', message: 'The frame is not valid JSON.' }],
  [
    'error with id and details',
    { type: 'error', code: 'bad_frame', message: 'join: "room" is required (string).', id: 5, details: { issues: [{ path: 'room', code: 'invalid_type', message: 'x' }] } },
  ],
  ['presence', { type: 'presence', ns: '/', room: 'jobs', action: 'join', sid: 'cJPLUnaCR5IN' }],
  ['presence (leave, with client)', { type: 'presence', ns: '/', room: 'jobs', action: 'leave', sid: 'cJPLUnaCR5IN', client: 'alice' }],
  ['pong', { type: 'pong' }],
  ['pong with id', { type: 'pong', id: 1 }],
];

t.test('decodeServerFrame accepts a sample of each server frame', async (t) => {
  for (const [name, frame] of serverSamples) {
    const r = decodeServerFrame(JSON.stringify(frame));
    t.ok(r.ok, name, r.ok ? {} : { error: r.error });
    if (r.ok) t.strictSame(r.frame, frame, `${name}: decoded frame`);
  }
  const types = new Set(serverSamples.map(([, f]) => f.type));
  for (const option of ServerFrame.options) {
    const type = option.shape.type.value;
    t.ok(types.has(type), `server frame ${type} is sampled`);
  }
});

t.test('every error code is a valid error frame code', async (t) => {
  for (const code of ERROR_CODE_LIST) {
    t.ok(decodeServerFrame(j({ type: 'error', code, message: 'm' })).ok, code);
  }
});

t.test('decodeServerFrame refuses frames that do not match wsq/1', async (t) => {
  const bad: [string, string][] = [
    ['not JSON', '{"type":'],
    ['unknown type', j({ type: 'hello' })],
    ['unknown field', j({ type: 'pong', extra: 1 })],
    ['unknown error code', j({ type: 'error', code: 'oops', message: 'm' })],
    ['welcome of another protocol version', j({ type: 'welcome', sid: 's', protocol: 2, heartbeatMs: 1, maxPayload: 1, server: { name: 'x', version: '1' } })],
    ['event without data', j({ type: 'event', ns: '/', event: 'x', ts: 1 })],
    ['event without ts', j({ type: 'event', ns: '/', event: 'x', data: null })],
    ['event with replay false', j({ type: 'event', ns: '/', event: 'x', data: null, ts: 1, replay: false })],
    ['event with attempt 0', j({ type: 'event', ns: '/', event: 'x', data: null, ts: 1, id: 1, attempt: 0 })],
    ['joined without recovered', j({ type: 'joined', ns: '/', room: 'r', epoch: 'e', offset: 0 })],
    ['presence with another action', j({ type: 'presence', ns: '/', room: 'r', action: 'kick', sid: 's' })],
  ];
  for (const [name, text] of bad) {
    const r = decodeServerFrame(text);
    t.notOk(r.ok, name);
    if (!r.ok) t.equal(r.error.code, name === 'not JSON' ? 'bad_json' : 'bad_frame', `${name}: code`);
  }
});

t.test('6.5 encodeStoredEvent writes the same text as encodeFrame of the same event frame', async (t) => {
  const { encodeStoredEvent, encodeFrame: enc } = await import('../../protocol/codec.js');
  const cases = [
    { ns: '/', room: 'r', event: 'e', offset: 1, epoch: 'E', ts: 5, data: null },
    { ns: '/chat', room: 'a "quoted" \\ room', event: 'ü€', offset: 9, epoch: 'x', from: 'sid1', ts: 1795401420003, data: { a: [1, 'two', { three: true }] } },
    { ns: '/', room: 'r', event: 'e', offset: 2, epoch: 'E', from: 's', ts: 6, data: 'text\n', replay: true as const },
  ];
  for (const c of cases) {
    const { data, replay, ...rest } = c as typeof c & { replay?: true };
    const viaFrame = enc({
      type: 'event',
      ns: rest.ns,
      room: rest.room,
      event: rest.event,
      data,
      offset: rest.offset,
      epoch: rest.epoch,
      from: (rest as { from?: string }).from,
      ts: rest.ts,
      ...(replay ? { replay } : {}),
    });
    t.equal(encodeStoredEvent({ ...rest, replay }, JSON.stringify(data)), viaFrame, `same text for ${JSON.stringify(c).slice(0, 60)}`);
  }
});

// ------------------------------------------------------------------ R7.4 precise errors (I7 #20)

/** Each mistake and the exact sentence it gets: what was expected and what came. */
const precise: [string, unknown, string][] = [
  ['ack without id', { type: 'ack' }, 'ack: "id" is required: an integer, or a string of at most 64 UTF-8 bytes.'],
  ['ack with a fractional id', { type: 'ack', id: 1.5 }, 'ack: "id" must be an integer, or a string of at most 64 UTF-8 bytes; got the number 1.5.'],
  [
    'ping id beyond the exact integers',
    { type: 'ping', id: 2 ** 60 },
    'ping: "id" must be an integer, or a string of at most 64 UTF-8 bytes; got the number 1152921504606847000, beyond ±(2^53 − 1), the exact integers.',
  ],
  ['since "latest"', { type: 'join', room: 'r', since: 'latest' }, 'join: "since" must be a whole number ≥ 0 or "earliest"; got the string "latest".'],
  ['since -1', { type: 'join', room: 'r', since: -1 }, 'join: "since" must be a whole number ≥ 0 or "earliest"; got the number -1.'],
  ['since null', { type: 'join', room: 'r', since: null }, 'join: "since" must be a whole number ≥ 0 or "earliest"; got null.'],
  ['room a number on emit', { type: 'emit', event: 'e', room: 123 }, 'emit: "room" must be a string; got the number 123.'],
  ['room a number on join', { type: 'join', room: 123 }, 'join: "room" must be a string; got the number 123.'],
  ['room missing', { type: 'join' }, 'join: "room" is required: a string.'],
  ['room an array', { type: 'leave', room: ['r'] }, 'leave: "room" must be a string; got an array.'],
  ['durable a string', { type: 'join', room: 'r', durable: 'yes' }, 'join: "durable" must be true or false; got the string "yes".'],
  ['prefetch 0', { type: 'join', room: 'r', group: 'g', prefetch: 0 }, 'join: "prefetch" must be a whole number from 1 to 10000; got the number 0.'],
  ['delayMs a fraction', { type: 'nack', id: 1, delayMs: 0.5 }, 'nack: "delayMs" must be a whole number of milliseconds from 0 to 3600000; got the number 0.5.'],
  ['auth a string', { type: 'connect', ns: '/a', auth: 'token' }, 'connect: "auth" must be an object; got the string "token".'],
  ['ns without "/"', { type: 'connect', ns: 'chat' }, 'connect: "ns" must start with "/", e.g. "/chat"; got the string "chat".'],
  ['epoch a number', { type: 'join', room: 'r', since: 1, epoch: 7 }, 'join: "epoch" must be a string; got the number 7.'],
  [
    'a long string is cut',
    { type: 'join', room: 'r', since: 'y'.repeat(1000) },
    `join: "since" must be a whole number ≥ 0 or "earliest"; got a string of 1000 characters starting "${'y'.repeat(32)}".`,
  ],
];

t.test('R7.4 every field error says what was expected and what came', async (t) => {
  for (const [name, frame, message] of precise) {
    const r = decodeClientFrame(JSON.stringify(frame));
    t.notOk(r.ok, `${name}: refused`);
    if (!r.ok) {
      t.equal(r.error.code, 'bad_frame', `${name}: bad_frame`);
      t.equal(r.error.message, message, `${name}: the message`);
    }
  }
});

// ------------------------------------------------------------------ R1.7 names (D3)

const emoji = '😀'; // 2 UTF-16 units, 4 UTF-8 bytes
t.test('R1.7 R1.12 names are measured in UTF-8 bytes, without control characters or lone surrogates', async (t) => {
  const { LIMITS, utf8Bytes, nameProblem } = await import('../../protocol/frames.js');
  t.equal(utf8Bytes('abc'), 3);
  t.equal(utf8Bytes('é'), 2);
  t.equal(utf8Bytes('€'), 3);
  t.equal(utf8Bytes(emoji), 4);
  t.equal(utf8Bytes('\ud800'), Buffer.byteLength('\ud800'), 'a lone surrogate counts as Buffer counts it (U+FFFD, 3 bytes)');
  for (const s of ['', 'a', 'ü€😀', emoji.repeat(64), '\ud800x', 'x\udc00'])
    t.equal(utf8Bytes(s), Buffer.byteLength(s), `utf8Bytes(${JSON.stringify(s).slice(0, 20)}) = Buffer.byteLength`);
  t.equal(LIMITS.roomBytes, 256);
  t.equal(LIMITS.namespaceBytes, 256);
  t.equal(LIMITS.eventBytes, 256);
  const ok = (f: unknown): boolean => decodeClientFrame(JSON.stringify(f)).ok;
  // The longest names: 256 bytes of 4-byte characters are 64 characters (128 UTF-16 units).
  t.ok(ok({ type: 'join', room: emoji.repeat(64) }), 'a room of 64 emoji (256 bytes) is accepted');
  t.notOk(ok({ type: 'join', room: `${emoji.repeat(64)}a` }), '257 bytes are refused');
  t.ok(ok({ type: 'join', room: 'é'.repeat(128) }), 'a room of 128 "é" (256 bytes) is accepted');
  t.notOk(ok({ type: 'join', room: 'é'.repeat(129) }), '129 "é" (258 bytes, 129 characters) are refused');
  t.ok(ok({ type: 'connect', ns: `/${'é'.repeat(127)}a` }), 'a namespace of 256 bytes is accepted');
  t.notOk(ok({ type: 'connect', ns: `/${'é'.repeat(128)}` }), 'a namespace of 257 bytes is refused');
  t.ok(ok({ type: 'emit', event: '€'.repeat(85), room: 'r' }), 'an event of 255 bytes is accepted');
  t.notOk(ok({ type: 'emit', event: '€'.repeat(86), room: 'r' }), 'an event of 258 bytes is refused');
  t.ok(ok({ type: 'join', room: 'r', group: emoji.repeat(32) }), 'a group of 128 bytes is accepted');
  t.notOk(ok({ type: 'join', room: 'r', group: `${emoji.repeat(32)}a` }), 'a group of 129 bytes is refused');
  t.ok(ok({ type: 'emit', event: 'e', room: 'r', key: emoji.repeat(32) }), 'a key of 128 bytes is accepted');
  t.notOk(ok({ type: 'emit', event: 'e', room: 'r', key: `${emoji.repeat(32)}a` }), 'a key of 129 bytes is refused');
  for (const c of ['\u0000', '\u0001', '\n', '\u001f', '\u007f']) {
    const shown = JSON.stringify(c);
    t.notOk(ok({ type: 'join', room: `a${c}b` }), `a room with ${shown} is refused`);
    t.notOk(ok({ type: 'connect', ns: `/a${c}` }), `a namespace with ${shown} is refused`);
    t.notOk(ok({ type: 'emit', event: `e${c}` }), `an event with ${shown} is refused`);
    t.notOk(ok({ type: 'join', room: 'r', group: `g${c}` }), `a group with ${shown} is refused`);
    t.notOk(ok({ type: 'emit', event: 'e', room: 'r', key: `k${c}` }), `a key with ${shown} is refused`);
  }
  t.ok(ok({ type: 'join', room: 'a\u0080b\u00a0c' }), 'U+0080 and U+00A0 are not control characters here');
  t.notOk(ok({ type: 'join', room: '\ud800' }), 'a lone high surrogate is refused (a store would write it as U+FFFD)');
  t.notOk(ok({ type: 'join', room: 'a\udc00' }), 'a lone low surrogate is refused');
  t.equal(nameProblem('room', 'x'.repeat(300)), 'must be at most 256 UTF-8 bytes; got 300 bytes');
  const long = decodeClientFrame(JSON.stringify({ type: 'join', room: 'é'.repeat(129) }));
  if (!long.ok) t.equal(long.error.message, 'join: "room" must be at most 256 UTF-8 bytes; got 258 bytes.', 'the message says the limit in bytes and what came');
  const ctl = decodeClientFrame(JSON.stringify({ type: 'join', room: 'a\u0000b' }));
  if (!ctl.ok) t.equal(ctl.error.message, 'join: "room" must not contain control characters (U+0000–U+001F, U+007F); got U+0000 at index 1.');
});

t.test('R1.12 a string request id is at most 64 UTF-8 bytes, and the codec echoes ids by the same measure', async (t) => {
  const ok = (f: unknown): boolean => decodeClientFrame(JSON.stringify(f)).ok;
  t.ok(ok({ type: 'ping', id: 'é'.repeat(32) }), '32 "é" (64 bytes) is a valid id');
  t.notOk(ok({ type: 'ping', id: 'é'.repeat(33) }), '33 "é" (66 bytes, 33 characters) is refused');
  // An invalid frame with a valid id echoes it; with an id the schema refuses, it does not.
  const echoed = decodeClientFrame(JSON.stringify({ type: 'join', id: 'é'.repeat(32) }));
  t.equal(!echoed.ok && echoed.error.id, 'é'.repeat(32), 'a 64-byte id is echoed on an error');
  const notEchoed = decodeClientFrame(JSON.stringify({ type: 'join', id: 'é'.repeat(33) }));
  t.equal(!notEchoed.ok && notEchoed.error.id, undefined, 'a 66-byte id of 33 characters is not echoed (the schema refuses it too)');
});

t.test('R4.5.8 rooms starting with "$" are the server\'s: emit refuses them, join of "$dead:<room>" passes the schema', async (t) => {
  const e = decodeClientFrame(JSON.stringify({ type: 'emit', event: 'x', room: '$dead:jobs', id: 1 }));
  t.notOk(e.ok, 'emit into $dead:jobs is refused');
  if (!e.ok) {
    t.equal(e.error.code, 'bad_frame');
    t.match(e.error.message, /^emit: "room" must not start with "\$"/);
    t.equal(e.error.id, 1);
  }
  t.notOk(decodeClientFrame(JSON.stringify({ type: 'emit', event: 'x', room: '$other' })).ok, 'emit into any $ room is refused');
  t.ok(decodeClientFrame(JSON.stringify({ type: 'join', room: '$dead:jobs', group: 'g' })).ok, 'join of $dead:jobs passes (the server decides access)');
  t.ok(decodeClientFrame(JSON.stringify({ type: 'join', room: `$dead:${emoji.repeat(64)}` })).ok, 'the dead-letter room of the longest room (262 bytes) may be joined');
  t.notOk(decodeClientFrame(JSON.stringify({ type: 'join', room: `$dead:${emoji.repeat(64)}a` })).ok, 'but not one whose room is over 256 bytes');
  t.ok(decodeClientFrame(JSON.stringify({ type: 'leave', room: '$dead:jobs' })).ok, 'leave of $dead:jobs passes');
});

// ------------------------------------------------------------------ cross-field rules (Deliver 3)

/** A tiny evaluator for the JSON Schema keywords the cross-field rules use. */
function matches(schema: Record<string, any>, v: Record<string, unknown>): boolean {
  if (schema.not && matches(schema.not, v)) return false;
  if (schema.required && !schema.required.every((k: string) => Object.hasOwn(v, k))) return false;
  if (schema.properties) {
    for (const [k, s] of Object.entries(schema.properties as Record<string, any>)) if (Object.hasOwn(v, k) && 'const' in s && v[k] !== s.const) return false;
  }
  if (schema.anyOf && !schema.anyOf.some((s: Record<string, any>) => matches(s, v))) return false;
  if (schema.allOf && !schema.allOf.every((s: Record<string, any>) => matches(s, v))) return false;
  if (schema.if && matches(schema.if, v) && schema.then && !matches(schema.then, v)) return false;
  return true;
}

t.test('R4.3.5 R4.3.7 R4.5.2 R5.7.5 cross-field rules: the zod refinement and the published JSON Schema agree', async (t) => {
  const { JOIN_RULES, EMIT_RULES } = await import('../../protocol/frames.js');
  const { buildJsonSchema } = await import('../../protocol/schema.js');
  const defs = (buildJsonSchema() as { $defs: Record<string, { allOf?: unknown[] }> }).$defs;
  t.strictSame(
    defs.JoinFrame!.allOf,
    JOIN_RULES.map((r) => r.json),
    'JoinFrame carries every join rule',
  );
  t.strictSame(
    defs.EmitFrame!.allOf,
    EMIT_RULES.map((r) => r.json),
    'EmitFrame carries every emit rule',
  );
  // Every combination of the fields the rules look at.
  const joins: Record<string, unknown>[] = [];
  for (const durable of [undefined, true, false])
    for (const group of [undefined, 'g'])
      for (const epoch of [undefined, 'e']) {
        const f: Record<string, unknown> = { type: 'join', room: 'r', since: 1 };
        if (durable !== undefined) f.durable = durable;
        if (group !== undefined) f.group = group;
        if (epoch !== undefined) f.epoch = epoch;
        joins.push(f);
      }
  const emits: Record<string, unknown>[] = [];
  for (const room of [undefined, 'r'])
    for (const volatile of [undefined, true, false])
      for (const echo of [undefined, true, false])
        for (const key of [undefined, 'k']) {
          const f: Record<string, unknown> = { type: 'emit', event: 'e' };
          if (room !== undefined) f.room = room;
          if (volatile !== undefined) f.volatile = volatile;
          if (echo !== undefined) f.echo = echo;
          if (key !== undefined) f.key = key;
          emits.push(f);
        }
  for (const [frames, def] of [
    [joins, defs.JoinFrame!],
    [emits, defs.EmitFrame!],
  ] as const) {
    for (const f of frames) {
      const zodOk = decodeClientFrame(JSON.stringify(f)).ok;
      t.equal(matches(def as Record<string, any>, f), zodOk, `${JSON.stringify(f)}: JSON Schema ${zodOk ? 'accepts' : 'refuses'} it as zod does`);
    }
  }
  // The handlers' old rules, now in the schema, with their sentences.
  const msg = (f: unknown): string => {
    const r = decodeClientFrame(JSON.stringify(f));
    return r.ok ? 'accepted' : `${r.error.code}: ${r.error.message}`;
  };
  t.equal(
    msg({ type: 'join', room: 'r', durable: true, group: 'g' }),
    'bad_frame: join: use either "durable" or "group", not both (a group already keeps its progress on the server).',
  );
  t.match(msg({ type: 'join', room: 'r', durable: true, since: 1, epoch: 'e' }), /^bad_frame: join: "epoch" goes with a live join's "since"/);
  t.match(msg({ type: 'join', room: 'r', group: 'g', epoch: 'e' }), /^bad_frame: join: "epoch"/);
  t.equal(msg({ type: 'emit', event: 'e', echo: true }), 'bad_frame: emit: "volatile", "echo" and "key" apply to room emits; add "room", or drop them.');
  t.match(msg({ type: 'emit', event: 'e', key: 'k' }), /apply to room emits/);
  t.equal(
    msg({ type: 'emit', event: 'e', room: 'r', volatile: true, key: 'k' }),
    'bad_frame: emit: "key" makes sense only for stored emits; a volatile emit is never stored, so drop "key" or "volatile".',
  );
  t.equal(msg({ type: 'emit', event: 'e', volatile: false, echo: false }), 'accepted', 'volatile and echo false without a room are allowed');
  t.equal(msg({ type: 'join', room: 'r', durable: false, group: 'g' }), 'accepted', 'durable false with a group is allowed');
});

// ------------------------------------------------------------------ R1.13 nesting and numbers (I8 #10)

const nested = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
t.test('R1.13 data and auth nest at most 64 levels, checked without recursion', async (t) => {
  const emitWith = (data: string): ReturnType<typeof decodeClientFrame> => decodeClientFrame(`{"type":"emit","event":"e","room":"r","id":3,"data":${data}}`);
  t.ok(emitWith(nested(64)).ok, '64 levels are accepted');
  const deep = emitWith(nested(65));
  t.notOk(deep.ok, '65 levels are refused');
  if (!deep.ok) {
    t.equal(deep.error.code, 'bad_frame');
    t.equal(deep.error.message, 'emit: "data" nests more than 64 levels of arrays and objects; flatten it (at most 64 levels).', 'the message says the limit');
    t.equal(deep.error.id, 3, 'the id is echoed');
  }
  const objects = `${'{"a":'.repeat(65)}1${'}'.repeat(65)}`;
  t.notOk(emitWith(objects).ok, '65 levels of objects are refused');
  t.notOk(decodeClientFrame(`{"type":"connect","ns":"/a","auth":${objects}}`).ok, 'auth is measured too');
  // A million levels: refused, in bounded time, without a stack overflow.
  const start = Date.now();
  const huge = emitWith(nested(1_000_000));
  t.notOk(huge.ok, 'a million levels are refused');
  t.ok(Date.now() - start < 2000, 'quickly');
  t.ok(emitWith(JSON.stringify(Array.from({ length: 10_000 }, () => ({ a: [1, { b: 2 }] })))).ok, 'wide data is fine');
});

t.test('R1.13 numbers JSON cannot carry are refused; -0 is accepted (sent on as 0)', async (t) => {
  for (const n of ['1e400', '-1e400', '1E+999', `${'9'.repeat(400)}`]) {
    const r = decodeClientFrame(`{"type":"emit","event":"e","room":"r","data":{"x":[${n}]}}`);
    t.notOk(r.ok, `${n.slice(0, 12)} in data is refused`);
    if (!r.ok) t.match(r.error.message, /^emit: "data" holds a number too large for a 64-bit float/);
  }
  t.notOk(decodeClientFrame('{"type":"join","room":"r","since":1e400}').ok, 'since 1e400 is refused');
  t.ok(decodeClientFrame('{"type":"emit","event":"e","room":"r","data":[1e308,-0,5e-324,1e-400]}').ok, 'large finite numbers, -0 and underflow are accepted');
  const neg = decodeClientFrame('{"type":"emit","event":"e","room":"r","data":-0}');
  t.ok(neg.ok && JSON.stringify((neg.frame as { data: unknown }).data) === '0', '-0 is sent on as 0 (what JSON.stringify writes)');
});

t.test('R3.14 every Object.prototype name as a type is unknown_type', async (t) => {
  for (const name of Object.getOwnPropertyNames(Object.prototype)) {
    const r = decodeClientFrame(JSON.stringify({ type: name, id: 1 }));
    t.equal(!r.ok && r.error.code, 'unknown_type', `type ${JSON.stringify(name)}`);
  }
  const proto = decodeClientFrame('{"type":"connect","ns":"/a","auth":{"__proto__":{"admin":true}}}');
  t.ok(proto.ok && Object.hasOwn((proto.frame as { auth: object }).auth, '__proto__'), 'an auth key "__proto__" stays an own key, as sent');
});

t.test('R1.4 a client reads a newer server: unknown fields are dropped at any depth, unknown frame types ignored, the rest still checked', async (t) => {
  const welcome = {
    type: 'welcome',
    sid: 's',
    protocol: 1,
    heartbeatMs: 1,
    maxPayload: 1024,
    server: { name: 'x', version: '1', build: 'b' },
    limits: { timeoutMs: 1, future: 2 },
    shiny: true,
  };
  const r = readServerFrame(j(welcome));
  t.ok(r.ok && r.frame, 'a welcome with new fields is read');
  t.same(
    r.ok && r.frame,
    { type: 'welcome', sid: 's', protocol: 1, heartbeatMs: 1, maxPayload: 1024, server: { name: 'x', version: '1' }, limits: { timeoutMs: 1 } },
    'without them',
  );
  t.same(readServerFrame(j({ type: 'pong', extra: 1 })), { ok: true, frame: { type: 'pong' } }, 'a pong with a new field');
  t.same(readServerFrame(j({ type: 'hello', x: 1 })), { ok: true, frame: undefined, unknownType: 'hello' }, 'an unknown frame type is to be ignored');
  const bad = readServerFrame(j({ type: 'event', ns: '/', event: 'x', ts: 1, extra: 1 }));
  t.notOk(bad.ok, 'a frame that breaks its table is still an error (event without data)');
  t.notOk(readServerFrame('{"type":').ok, 'not JSON');
});

t.test('R1.10 R6.1.4 a welcome may list its optional features (the published schema allows them)', async (t) => {
  const w = { type: 'welcome', sid: 's', protocol: 1, heartbeatMs: 1, maxPayload: 1024, server: { name: 'x', version: '1' }, features: [] };
  t.ok(decodeServerFrame(j(w)).ok, 'features: [] is a valid welcome');
  t.ok(decodeServerFrame(j({ ...w, features: ['binary'] })).ok, 'and so is a named feature');
  t.notOk(decodeServerFrame(j({ ...w, features: 'binary' })).ok, 'but not a string');
});
