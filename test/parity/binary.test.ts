/**
 * Issue 10 item 2: binary payloads (PROTOCOL.md §4.9, R4.9.1–R4.9.6, R5.8.6), written from
 * Socket.IO's documented behaviour ("Buffer, ArrayBuffer and typed arrays anywhere in the
 * arguments are sent as binary and arrive as Buffers in Node") and checked against the documented
 * layout of a binary message with a raw WebSocket (test/parity/binary-wire.ts, written from the
 * spec). Stored binary values are replayed byte for byte from the memory and the disk store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { LmdbStore, WsqServer } from '../../lib/index.js';
import { DEFAULT_RETENTION } from '../../lib/index.js';
import { SYSTEM_REDIS, testPrefix } from '../cluster/nodes.js';
import { startServer } from '../helpers/server.js';
import { binClient, binaryMessage, placed } from './binary-wire.js';

type TT = Test;
const bytes = (n: number, seed = 1): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

t.test('R4.9.1 text-only traffic stays JSON text; R4.9.2 a binary value makes one binary message', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const c = await binClient(t, url);
  await c.request({ type: 'ping', id: 'sync' });
  const socket = server.sockets.sockets.get(c.welcome.sid)!;
  socket.emit('plain', { a: 1 });
  const plain = await c.frame('event');
  t.equal(plain.binary, false, 'no binary value: a text message');
  socket.emit('file', { name: 'a.bin', body: bytes(300) }, new Uint8Array([1, 2, 3]), new Uint8Array(bytes(5)).buffer);
  const got = await c.frame('event');
  t.equal(got.binary, true, 'a binary message');
  t.same(
    got.frame.bin,
    [
      ['args', 0, 'body'],
      ['args', 1],
      ['args', 2],
    ],
    'bin: one path per attachment, into args',
  );
  t.same(got.frame.args, [{ name: 'a.bin', body: null }, null, null], 'null where each attachment goes');
  t.same(got.frame.data, { name: 'a.bin', body: null }, 'data is the first argument, its binary place null');
  const f = placed(got.frame, got.parts);
  t.ok(Buffer.from(f.args[0].body).equals(bytes(300)), 'a Buffer inside an object');
  t.same([...f.args[1]], [1, 2, 3], 'a Uint8Array');
  t.ok(Buffer.from(f.args[2]).equals(bytes(5)), 'an ArrayBuffer');
  socket.emit('one', bytes(4));
  const one = await c.frame('event', (e) => e.event === 'one');
  t.same(one.frame.bin, [['data']], 'a single binary argument goes at data');
  t.same(one.frame.data, null);
});

t.test('R4.9.3 a client binary message: the handler gets Buffers; the ack answers with binary too', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  let got: unknown[] = [];
  server.on('connection', (socket) =>
    socket.on('upload', (meta: { name: string; file: Buffer }, extra: Buffer, reply: (...a: unknown[]) => void) => {
      got = [meta, extra];
      reply('stored', Buffer.concat([meta.file, extra]));
    }),
  );
  const c = await binClient(t, url);
  await c.request({ type: 'ping', id: 'sync' });
  c.sendBinary(
    {
      type: 'emit',
      event: 'upload',
      args: [{ name: 'x', file: null }, null],
      bin: [
        ['args', 0, 'file'],
        ['args', 1],
      ],
      id: 7,
    },
    [bytes(10), bytes(3, 9)],
  );
  const ack = await c.frame('ack', (f) => f.id === 7);
  t.ok(Buffer.isBuffer((got[0] as { file: unknown }).file), 'a Buffer in Node, as in Socket.IO');
  t.ok((got[0] as { file: Buffer }).file.equals(bytes(10)));
  t.ok((got[1] as Buffer).equals(bytes(3, 9)));
  t.equal(ack.binary, true, 'an answer with a binary value is a binary ack');
  t.same(ack.frame.args, ['stored', null]);
  t.ok(placed(ack.frame, ack.parts).args[1].equals(Buffer.concat([bytes(10), bytes(3, 9)])));
});

t.test('R4.9.4 malformed binary messages are unsupported_frame or bad_frame; the connection carries on', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  server.on('connection', (socket) => socket.on('e', (_d: unknown, reply: (...a: unknown[]) => void) => reply('ok')));
  const c = await binClient(t, url);
  await c.request({ type: 'ping', id: 'sync' });
  const cases: [string, Buffer, string][] = [
    ['JSON sent as a binary message', Buffer.from('{"type":"ping"}'), 'unsupported_frame'],
    ['shorter than its count', Buffer.from([0, 0]), 'unsupported_frame'],
    ['a count of 0', Buffer.from([0, 0, 0, 0, ...Buffer.from('{"type":"ping"}')]), 'unsupported_frame'],
    ['an attachment past the end', Buffer.from([0, 0, 0, 1, 0, 0, 0, 9, 1, 2]), 'unsupported_frame'],
    ['not UTF-8 after the attachments', Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 7, 0xff, 0xfe]), 'unsupported_frame'],
    ['not JSON after the attachments', Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 7, 0x7b]), 'bad_json'],
  ];
  for (const [what, buf, code] of cases) {
    c.ws.send(buf, { binary: true });
    t.match((await c.frame('error')).frame, { type: 'error', code }, what);
  }
  const frames: [string, object, Buffer[], RegExp][] = [
    ['no bin', { type: 'emit', event: 'e', data: null, id: 1 }, [bytes(1)], /no "bin"/],
    ['fewer paths than attachments', { type: 'emit', event: 'e', data: null, bin: [['data']], id: 2 }, [bytes(1), bytes(2)], /1 paths .* 2 attachments/],
    ['a path to a non-null', { type: 'emit', event: 'e', data: { a: 1 }, bin: [['data', 'a']], id: 3 }, [bytes(1)], /must lead to a null/],
    ['a path outside data/args', { type: 'emit', event: 'e', bin: [['event']], id: 4 }, [bytes(1)], /starts with "data" or "args"/],
    ['a path that goes nowhere', { type: 'emit', event: 'e', data: {}, bin: [['data', 'x', 'y']], id: 5 }, [bytes(1)], /does not lead/],
    ['a path through __proto__', { type: 'emit', event: 'e', data: {}, bin: [['data', '__proto__', 'x']], id: 6 }, [bytes(1)], /does not lead/],
    ['bin on a join', { type: 'join', room: 'r', bin: [['data']], id: 8 }, [bytes(1)], /unknown field "bin"/],
  ];
  for (const [what, frame, parts, message] of frames) {
    c.ws.send(binaryMessage(frame, parts), { binary: true });
    t.match((await c.frame('error')).frame, { type: 'error', code: 'bad_frame', message }, what);
  }
  t.match(
    (await c.request({ type: 'emit', event: 'e', data: null, bin: [['data']], id: 9 })).frame,
    { code: 'bad_frame', id: 9, message: /"bin" in a text message/ },
    'bin in a text message',
  );
  t.same((await c.request({ type: 'emit', event: 'e', data: 1, id: 10 })).frame, { type: 'ack', id: 10, data: 'ok' }, 'the connection carries on');
  t.equal(({}.constructor.prototype as Record<string, unknown>).x, undefined, 'nothing reached Object.prototype');
});

t.test('R4.9.5 a binary message counts toward maxPayload with all its bytes', async (t) => {
  const { url } = await startServer(t, { maxPayload: 2048 });
  const c = await binClient(t, url);
  c.sendBinary({ type: 'emit', room: 'r', event: 'big', data: null, bin: [['data']], id: 1 }, [bytes(2000)]);
  t.match((await c.frame('error')).frame, { code: 'payload_too_large' }, 'attachments count toward maxPayload');
  c.sendBinary({ type: 'emit', room: 'r', event: 'small', data: null, bin: [['data']], id: 2 }, [bytes(1900)]);
  t.match((await c.frame('ack', (f) => f.id === 2)).frame, { offset: 1 }, 'under the limit it is stored');
});

async function roomRoundTrip(t: TT, url: string, room: string): Promise<void> {
  const a = await binClient(t, url);
  const b = await binClient(t, url);
  await b.request({ type: 'join', room, id: 1 });
  a.sendBinary({ type: 'emit', room, event: 'img', args: ['caption', { png: null }], bin: [['args', 1, 'png']], id: 2 }, [bytes(1000, 3)]);
  const ack = await a.frame('ack', (f) => f.id === 2);
  t.equal(ack.binary, false, 'the ack of a stored emit is JSON');
  const live = await b.frame('event');
  t.equal(live.binary, true, 'live delivery is a binary message');
  t.match(live.frame, { room, event: 'img', args: ['caption', { png: null }], offset: ack.frame.offset, bin: [['args', 1, 'png']] });
  t.ok(placed(live.frame, live.parts).args[1].png.equals(bytes(1000, 3)), 'the same bytes live');
  a.sendBinary({ type: 'emit', room, event: 'raw', data: null, bin: [['data']], id: 3 }, [Buffer.alloc(0)]);
  await a.frame('ack', (f) => f.id === 3);
  a.send({ type: 'emit', room, event: 'text', data: 'plain', id: 4 });
  await a.frame('ack', (f) => f.id === 4);
}

async function replay(t: TT, url: string, room: string, what: string): Promise<void> {
  const c = await binClient(t, url);
  const joined = await c.request({ type: 'join', room, since: 0, id: 1 });
  t.match(joined.frame, { replay: { count: 3 } });
  const first = await c.frame('event', (f) => f.offset === 1);
  t.equal(first.binary, true, `${what}: a replayed binary message`);
  t.ok(placed(first.frame, first.parts).args[1].png.equals(bytes(1000, 3)), `${what}: the same bytes replayed`);
  t.same(first.frame.args[0], 'caption');
  const empty = await c.frame('event', (f) => f.offset === 2);
  t.same(empty.frame.bin, [['data']]);
  t.equal(empty.parts[0]!.length, 0, `${what}: an empty buffer stays an empty buffer`);
  const text = await c.frame('event', (f) => f.offset === 3);
  t.equal(text.binary, false, `${what}: a text message stays text in the log`);
  t.same(text.frame.data, 'plain');
}

t.test('R5.8.6 binary arguments are stored and replayed intact: memory store', async (t) => {
  const { url } = await startServer(t);
  await roomRoundTrip(t, url, 'pics');
  await replay(t, url, 'pics', 'memory');
});

t.test('R5.8.6 binary arguments are stored and replayed intact: disk store, across a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsq-binary-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const open = async () => {
    const store = await LmdbStore.open(dir, { retention: () => DEFAULT_RETENTION });
    const server = new WsqServer({ namespaces: 'any', store, logger: () => {} });
    await server.listen({ port: 0, host: '127.0.0.1' });
    return server;
  };
  const first = await open();
  await roomRoundTrip(t, first.url, 'pics');
  await replay(t, first.url, 'pics', 'disk');
  await first.close();
  const second = await open();
  t.teardown(() => second.close());
  await replay(t, second.url, 'pics', 'disk after a restart');
});

t.test('R5.8.6 a durable delivery of a binary message keeps its bytes (id spliced into the JSON at the end)', async (t) => {
  const { url } = await startServer(t);
  const pub = await binClient(t, url);
  pub.sendBinary({ type: 'emit', room: 'jobs', event: 'job', data: { blob: null }, bin: [['data', 'blob']], id: 1 }, [bytes(64)]);
  await pub.frame('ack', (f) => f.id === 1);
  const w = await binClient(t, url);
  await w.request({ type: 'join', room: 'jobs', group: 'g', id: 1 });
  const d = await w.frame('event');
  t.equal(d.binary, true);
  t.match(d.frame, { event: 'job', id: Number, attempt: 1, data: { blob: null } });
  t.ok(placed(d.frame, d.parts).data.blob.equals(bytes(64)));
  w.send({ type: 'ack', id: d.frame.id });
  await w.request({ type: 'ping', id: 'p' });
  t.notOk(
    w.got.some((g) => g.frame.type === 'error'),
    'the delivery id is acked',
  );
});

t.test('R5.8.6 binary arguments are stored and replayed intact: Redis store (the system Redis, a prefix of its own)', async (t) => {
  const server = new WsqServer({ namespaces: 'any', redis: { url: SYSTEM_REDIS, prefix: testPrefix(t) }, logger: () => {} });
  await server.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => server.close());
  await roomRoundTrip(t, server.url, 'pics');
  await replay(t, server.url, 'pics', 'redis');
});
