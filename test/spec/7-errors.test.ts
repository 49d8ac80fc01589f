/**
 * PROTOCOL.md §7 Errors: every code the server can produce today, each over a real socket.
 * For each: the `code` (never the message text, but the message is a sentence), the echoed
 * `id`, the connection still usable, and another client in the same room unaffected (it
 * gets no error and still receives a room emit sent after the bad frame).
 */
import t from 'tap';
import { ERROR_CODE_LIST, type ErrorCode } from '../../protocol/codes.js';
import { ErrorFrame } from '../../protocol/frames.js';
import { WsqError } from '../../lib/errors.js';
import type { WsqServer, WsqServerOptions } from '../../lib/server.js';
import { DEFAULT_RETENTION } from '../../lib/retention.js';
import { MemoryStore } from '../../lib/store/memory.js';
import { type AppendResult, StoreUnavailableError } from '../../lib/store/types.js';
import type { RawClient } from '../helpers/raw-client.js';
import { rawClient, startServer } from '../helpers/server.js';

/** Codes no client frame can produce on the wire today (see the report in the test's last subtest). */
const NOT_ON_THE_WIRE: Partial<Record<ErrorCode, string>> = {
  timeout: 'only the server library raises it (emitWithAck); covered in test/library',
};
/** Codes tested by their own subtests below (they need a connection set up differently). */
const OWN_SUBTEST: ErrorCode[] = ['rate_limited'];
/** Codes that count toward the bad-frame limit (PROTOCOL.md §2.6); the others do not. */
const COUNTED: ReadonlySet<ErrorCode> = new Set(['bad_json', 'bad_frame', 'unknown_type', 'unsupported_frame', 'payload_too_large', 'not_connected', 'not_member', 'unknown_id']);

interface Case {
  code: ErrorCode;
  name: string;
  opts?: WsqServerOptions;
  /** Prepare the server (library handlers, middleware). */
  setup?: (server: WsqServer) => void;
  /** Send the bad input from `a` (b is the bystander in the same room). */
  send: (a: RawClient, b: RawClient) => void | Promise<void>;
  /** The id the error must echo (omit when none can be echoed). */
  id?: string | number;
  /** For an error about an ack/nack: the delivery id it names in details.delivery (R6.7.3, D5: never as `id`). */
  delivery?: string | number;
}

const frame = (f: Record<string, unknown>) => (a: RawClient) => a.send(f);
const raw = (text: string) => (a: RawClient) => a.sendRaw(text);

const CASES: Case[] = [
  { code: 'bad_json', name: 'invalid JSON', send: raw('{"type":"ping"') },
  { code: 'bad_json', name: 'plain text', send: raw('hello server') },
  { code: 'bad_frame', name: 'a JSON array instead of an object', send: raw('[1,2]') },
  { code: 'bad_frame', name: 'a JSON string instead of an object', send: raw('"ping"') },
  { code: 'bad_frame', name: 'a frame without type', send: frame({ room: 'r', id: 1 }), id: 1 },
  { code: 'bad_frame', name: 'a missing field (join without room)', send: frame({ type: 'join', id: 2 }), id: 2 },
  { code: 'bad_frame', name: 'a missing field (emit without event)', send: frame({ type: 'emit', room: 'r', id: 3 }), id: 3 },
  { code: 'bad_frame', name: 'a missing field (connect without ns)', send: frame({ type: 'connect', id: 4 }), id: 4 },
  { code: 'bad_frame', name: 'an unknown field (the typo "rom")', send: frame({ type: 'emit', event: 'x', rom: 'r', id: 5 }), id: 5 },
  { code: 'bad_frame', name: 'an unknown field next to valid ones', send: frame({ type: 'leave', room: 'r', colour: 'red', id: 6 }), id: 6 },
  { code: 'bad_frame', name: 'a wrong type (room is a number)', send: frame({ type: 'join', room: 42, id: 7 }), id: 7 },
  { code: 'bad_frame', name: 'a wrong type (echo is a string)', send: frame({ type: 'emit', event: 'x', room: 'r', echo: 'yes', id: 8 }), id: 8 },
  { code: 'bad_frame', name: 'a wrong type (fractional id)', send: frame({ type: 'ping', id: 1.5 }) },
  { code: 'bad_frame', name: 'a reserved event name', send: frame({ type: 'emit', event: 'disconnect', room: 'r', id: 9 }), id: 9 },
  { code: 'bad_frame', name: 'a namespace without "/"', send: frame({ type: 'connect', ns: 'chat', id: 10 }), id: 10 },
  { code: 'bad_frame', name: 'volatile without room', send: frame({ type: 'emit', event: 'x', volatile: true, id: 11 }), id: 11 },
  { code: 'unknown_type', name: 'an unknown frame type', send: frame({ type: 'subscribe', room: 'r', id: 12 }), id: 12 },
  { code: 'unsupported_frame', name: 'a binary frame', send: (a) => a.sendRaw(Buffer.from('{"type":"ping"}'), true) },
  { code: 'payload_too_large', name: 'a frame over maxPayload', send: frame({ type: 'emit', event: 'x', room: 'r', data: 'x'.repeat(5000), id: 13 }) },
  {
    code: 'unknown_namespace',
    name: 'connect to a namespace the server does not serve',
    opts: { namespaces: 'declared' },
    send: frame({ type: 'connect', ns: '/nope', id: 14 }),
    id: 14,
  },
  { code: 'not_connected', name: 'join before connect on a namespace', send: frame({ type: 'join', ns: '/chat', room: 'r', id: 15 }), id: 15 },
  { code: 'not_connected', name: 'emit to a namespace not connected', send: frame({ type: 'emit', ns: '/chat', room: 'r', event: 'x', id: 16 }), id: 16 },
  { code: 'not_connected', name: 'disconnect of a namespace not connected', send: frame({ type: 'disconnect', ns: '/chat', id: 17 }), id: 17 },
  { code: 'not_member', name: 'leave of a room not joined', send: frame({ type: 'leave', room: 'elsewhere', id: 18 }), id: 18 },
  { code: 'unauthorized', name: 'a durable join without a client identity', send: frame({ type: 'join', room: 'd', durable: true, id: 19 }), id: 19 },
  {
    code: 'unauthorized',
    name: 'namespace middleware refuses',
    opts: { namespaces: 'declared' },
    setup: (s) => void s.of('/secure').use((_sock, next) => next(new Error('auth.token is missing'))),
    send: frame({ type: 'connect', ns: '/secure', id: 20 }),
    id: 20,
  },
  {
    code: 'forbidden',
    name: 'namespace middleware forbids',
    opts: { namespaces: 'declared' },
    setup: (s) => void s.of('/admin').use((_sock, next) => next(new WsqError('forbidden', 'only admins may connect'))),
    send: frame({ type: 'connect', ns: '/admin', id: 21 }),
    id: 21,
  },
  { code: 'forbidden', name: "join of another connection's sid", send: (a, b) => a.send({ type: 'join', room: b.welcome.sid, id: 22 }), id: 22 },
  { code: 'forbidden', name: "join of another client's personal room", send: frame({ type: 'join', room: '@someone-else', id: 29 }), id: 29 },
  {
    code: 'queue_full',
    name: 'emit into a full room with overflow "reject"',
    opts: { retentionRules: [{ room: 'full', maxMessages: 1, overflow: 'reject' }] },
    send: async (a) => {
      await a.request({ type: 'emit', room: 'full', event: 'x', id: 'first' });
      a.send({ type: 'emit', room: 'full', event: 'x', id: 23 });
    },
    id: 23,
  },
  { code: 'no_handler', name: 'emit without room that no handler takes', send: frame({ type: 'emit', event: 'hello', id: 24 }), id: 24 },
  { code: 'unknown_id', name: 'ack of an unknown id', send: frame({ type: 'ack', id: 25 }), delivery: 25 },
  { code: 'unknown_id', name: 'nack of an unknown id', send: frame({ type: 'nack', id: 'n26' }), delivery: 'n26' },
  {
    code: 'unavailable',
    name: 'a stored emit while the store refuses writes',
    opts: {
      store: new (class extends MemoryStore {
        override append(...a: Parameters<MemoryStore['append']>): Promise<AppendResult> {
          return a[2].event === 'x' ? Promise.reject(new StoreUnavailableError('no space left on device (injected)')) : super.append(...a);
        }
      })({ retention: () => DEFAULT_RETENTION }),
    },
    send: frame({ type: 'emit', room: 'r', event: 'x', id: 29 }),
    id: 29,
  },
  {
    code: 'internal',
    name: 'a server handler that throws',
    opts: { namespaces: 'declared' },
    setup: (s) =>
      void s.on('connection', (sock) =>
        sock.on('boom', () => {
          throw new Error('kaput');
        }),
      ),
    send: frame({ type: 'emit', event: 'boom', id: 27 }),
    id: 27,
  },
  {
    code: 'internal',
    name: 'a server handler that rejects',
    opts: { namespaces: 'declared' },
    setup: (s) =>
      void s.on('connection', (sock) =>
        sock.on('boom', async () => {
          throw new Error('kaput');
        }),
      ),
    send: frame({ type: 'emit', event: 'boom', id: 28 }),
    id: 28,
  },
];

for (const c of CASES) {
  t.test(`7 ${c.code}: ${c.name}`, async (t) => {
    const { server, url } = await startServer(t, { maxPayload: 4096, ...c.opts });
    c.setup?.(server);
    const a = await rawClient(t, url);
    const b = await rawClient(t, url);
    for (const x of [a, b]) t.match(await x.request({ type: 'join', room: 'r' }), { type: 'joined' });

    await c.send(a, b);
    const err = await a.next('error');
    t.equal(err.code, c.code, 'the code');
    t.ok(ErrorFrame.safeParse(err).success, 'the error frame matches its schema');
    t.type(err.message, 'string');
    t.match(err.message, /\S+ \S+.*\.$/s, 'the message is a sentence');
    if (c.id !== undefined) t.equal(err.id, c.id, 'the request id is echoed');
    if (c.delivery !== undefined) {
      t.notOk('id' in err, 'an error about an ack/nack carries no id (it would collide with request ids)');
      t.match(err.details, { delivery: c.delivery }, 'it names the delivery in details.delivery');
    }

    t.same(await a.request({ type: 'ping', id: 'still' }), { type: 'pong', id: 'still' }, 'the connection is still usable');
    t.match(await a.request({ type: 'emit', room: 'r', event: 'after', data: c.code, id: 'after' }), { type: 'ack', id: 'after' });
    t.match(await b.next((f) => f.type === 'event' && f.event === 'after'), { room: 'r', data: c.code, from: a.welcome.sid }, 'the other member still receives room emits');
    await b.sync();
    t.same(
      b.seen((f) => f.type === 'error'),
      [],
      'the other member got no error',
    );
    t.equal(a.seen((f) => f.type === 'error').length, 1, 'exactly one error for one bad frame');
  });
}

t.test('7 every error code is tested here or listed as not producible on the wire', async (t) => {
  const tested = new Set([...CASES.map((c) => c.code), ...OWN_SUBTEST]);
  for (const code of ERROR_CODE_LIST) {
    t.ok(tested.has(code) || code in NOT_ON_THE_WIRE, code);
  }
  for (const code of Object.keys(NOT_ON_THE_WIRE)) t.notOk(tested.has(code as ErrorCode), `${code} is listed as not producible but is tested`);
});

t.test('7 an error for a frame with an id echoes it; a frame whose id is invalid gets no id', async (t) => {
  const { url } = await startServer(t);
  const a = await rawClient(t, url);
  a.send({ type: 'nope', id: 'x'.repeat(65) });
  const err = await a.next('error');
  t.equal(err.code, 'unknown_type');
  t.notOk('id' in err, 'an id longer than 64 characters is not echoed');
  a.send({ type: 'nope', id: 'str' });
  t.match(await a.next('error'), { code: 'unknown_type', id: 'str' });
});

t.test('7 a burst of bad frames from one client never reaches another', async (t) => {
  const { url } = await startServer(t, { badFrameLimit: 100 });
  const a = await rawClient(t, url);
  const b = await rawClient(t, url);
  await b.request({ type: 'join', room: 'r' });
  for (let i = 0; i < 50; i++) a.sendRaw(i % 2 ? 'junk' : '{"type":"emit","room":"r"}');
  await a.sync();
  t.equal(a.seen((f) => f.type === 'error').length, 50, 'one error per bad frame');
  await a.request({ type: 'emit', room: 'r', event: 'fine' });
  t.match(await b.next('event'), { event: 'fine' });
  await b.sync();
  t.same(
    b.seen((f) => f.type === 'error' || (f.type === 'event' && f.event !== 'fine')),
    [],
  );
});

t.test('7 rate_limited: frames past the 1,000 held while the main middleware runs', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  server.use(async (socket, next) => {
    if (socket.handshake.query.hold) await gate;
    next();
  });
  const b = await rawClient(t, url);
  await b.request({ type: 'join', room: 'r' });
  const a = await rawClient(t, `${url}?hold=1`, { welcome: false }); // D1: no welcome until the middleware accepts
  a.send({ type: 'join', room: 'r', id: 'j' }); // held: 1
  for (let i = 0; i < 999; i++) a.send({ type: 'ping', id: i }); // held: 1000
  a.send({ type: 'ping', id: 'dropped' });
  const err = await a.next('error');
  t.equal(err.code, 'rate_limited');
  t.ok(ErrorFrame.safeParse(err).success);
  t.match(err.message, /\S+ \S+.*\.$/s, 'the message is a sentence');
  release();
  t.match(await a.next((f) => f.id === 'j'), { type: 'joined', room: 'r' }, 'the held frames are handled in order');
  await a.next((f) => f.type === 'pong' && f.id === 998);
  t.equal(a.seen((f) => f.type === 'pong').length, 999, 'every held ping was answered');
  t.same(
    a.seen((f) => f.id === 'dropped'),
    [],
    'the frame past the limit was dropped',
  );
  t.match(await a.request({ type: 'emit', room: 'r', event: 'after', id: 'after' }), { type: 'ack' }, 'the connection is usable');
  t.match(await b.next((f) => f.event === 'after'), { from: a.seen((f) => f.type === 'welcome')[0]!.sid }, 'the other member still receives room emits');
  await b.sync();
  t.same(
    b.seen((f) => f.type === 'error'),
    [],
  );
});

for (const c of CASES) {
  const counted = COUNTED.has(c.code);
  t.test(`2.6/7 ${c.code} ${counted ? 'counts' : 'does not count'} toward the bad-frame limit: ${c.name}`, async (t) => {
    const { server, url } = await startServer(t, { maxPayload: 4096, ...c.opts, badFrameLimit: 0 });
    c.setup?.(server);
    const a = await rawClient(t, url);
    const b = await rawClient(t, url);
    await c.send(a, b);
    t.equal((await a.next('error')).code, c.code);
    const outcome = await Promise.race([a.sync().then(() => 'open'), a.closed.then((x) => `closed ${x.code}`)]);
    t.equal(outcome, counted ? 'closed 1008' : 'open', 'with badFrameLimit 0, one counted error closes with 1008');
  });
}
