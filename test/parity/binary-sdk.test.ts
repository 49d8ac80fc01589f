/**
 * Issue 10 item 2 in the client SDK, both directions, over real sockets (PROTOCOL.md §4.9,
 * R4.9.6, R5.8.6), from Socket.IO's documented behaviour: Buffers, typed arrays and
 * ArrayBuffers anywhere in the arguments are sent as binary; in Node they arrive as Buffers.
 */
import t from 'tap';
import { WebSocketServer } from 'ws';
import type { WsqError } from '../../lib/client/index.js';
import { startServer } from '../helpers/server.js';
import { client, within } from '../client/util.js';

const bytes = (n: number, seed = 1): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));
type Reply = (...answers: unknown[]) => void;

t.test('R4.9.6 SDK to server and back: Buffers inside the arguments and the answers', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  let got: unknown[] = [];
  server.on('connection', (socket) =>
    socket.on('upload', (meta: { name: string; body: Buffer }, tail: Buffer, reply: Reply) => {
      got = [meta, tail];
      reply({ size: meta.body.length + tail.length }, Buffer.concat([meta.body, tail]));
    }),
  );
  const c = client(t, url);
  await c.ready();
  const answers = await within(
    new Promise<unknown[]>((resolve) => c.emit('upload', { name: 'f', body: bytes(100) }, new Uint8Array([9, 8, 7]), (...a: unknown[]) => resolve(a))),
    3000,
    'upload',
  );
  t.ok(Buffer.isBuffer((got[0] as { body: unknown }).body) && (got[0] as { body: Buffer }).body.equals(bytes(100)), 'a Buffer inside an object arrives as a Buffer');
  t.same([...(got[1] as Buffer)], [9, 8, 7], 'a Uint8Array arrives as its bytes');
  t.same(answers[0], { size: 103 });
  t.ok(Buffer.isBuffer(answers[1]) && (answers[1] as Buffer).equals(Buffer.concat([bytes(100), Buffer.from([9, 8, 7])])), 'a binary answer reaches the callback as a Buffer');
});

t.test('R4.9.6 server to SDK: socket.emit with binary values; the SDK answers emitWithAck with bytes', async (t) => {
  const { server, url } = await startServer(t, { namespaces: 'declared' });
  const c = client(t, url);
  const arrived = new Promise<unknown[]>((resolve) => c.on('file', (...a: unknown[]) => resolve(a)));
  c.on('echo', (b: Buffer) => Buffer.concat([b, b]));
  await c.ready();
  await new Promise<void>((resolve) => (server.sockets.sockets.size > 0 ? resolve() : server.on('connection', () => resolve())));
  const socket = [...server.sockets.sockets.values()][0]!;
  socket.emit('file', 'name.bin', { chunks: [bytes(3), new Uint8Array(new ArrayBuffer(2))] });
  const [name, body] = await within(arrived, 3000, 'file');
  t.equal(name, 'name.bin');
  const chunks = (body as { chunks: Buffer[] }).chunks;
  t.ok(Buffer.isBuffer(chunks[0]) && chunks[0].equals(bytes(3)), 'Buffers at any depth');
  t.same([...chunks[1]!], [0, 0]);
  const doubled = (await within(socket.emitWithAck('echo', bytes(4)), 3000, 'echo')) as Buffer;
  t.ok(Buffer.isBuffer(doubled) && doubled.equals(Buffer.concat([bytes(4), bytes(4)])), 'the handler returned bytes: a binary ack');
});

t.test('R5.8.6 SDK room emits with binary values: live and replayed intact', async (t) => {
  const { url } = await startServer(t);
  const sub = client(t, url);
  const pub = client(t, url);
  const room = sub.join('pics');
  const live = new Promise<unknown[]>((resolve) => room.on('img', (...a: unknown[]) => resolve(a)));
  await room.ready();
  await within(pub.emitWithAck('img', 'caption', { png: bytes(2048, 5) }, { room: 'pics' }), 3000, 'publish');
  const [caption, img] = await within(live, 3000, 'live');
  t.equal(caption, 'caption');
  t.ok((img as { png: Buffer }).png.equals(bytes(2048, 5)), 'live');
  const late = client(t, url);
  const replayed = new Promise<unknown[]>((resolve) => late.join('pics', { since: 0 }).on('img', (...a: unknown[]) => resolve(a)));
  const [c2, img2] = await within(replayed, 3000, 'replay');
  t.equal(c2, 'caption');
  t.ok(Buffer.isBuffer((img2 as { png: Buffer }).png) && (img2 as { png: Buffer }).png.equals(bytes(2048, 5)), 'replayed byte for byte');
});

t.test('R1.10 R6.1.4 a server without the binary and args features: the SDK refuses with unsupported', async (t) => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  t.teardown(() => new Promise<void>((r) => wss.close(() => r())));
  const seen: string[] = [];
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ type: 'welcome', sid: 'old-server-1', protocol: 1, heartbeatMs: 25000, maxPayload: 1 << 20, server: { name: 'old', version: '1' } }));
    ws.on('message', (d) => seen.push(d.toString()));
  });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const { port } = wss.address() as { port: number };
  const c = client(t, `ws://127.0.0.1:${port}/`);
  await c.ready();
  const e1 = (await c.emitWithAck('x', bytes(3), { timeoutMs: 500 }).catch((e: WsqError) => e)) as WsqError;
  t.equal(e1.code, 'unsupported', 'binary values need the binary feature');
  const e2 = (await c.emitWithAck('x', 1, 2, { timeoutMs: 500 }).catch((e: WsqError) => e)) as WsqError;
  t.equal(e2.code, 'unsupported', 'several arguments need the args feature');
  c.emit('none');
  c.emit('one', 1);
  await within(
    new Promise<void>((resolve) => {
      const tick = () => (seen.length >= 2 ? resolve() : setTimeout(tick, 5));
      tick();
    }),
    3000,
    'frames',
  );
  t.same(seen, ['{"type":"emit","event":"none"}', '{"type":"emit","event":"one","data":1}'], 'no arguments go as a frame without data; one as data');
});

t.test('R4.9 a Blob argument is refused with unsupported (its bytes need an await: blob.arrayBuffer())', async (t) => {
  const { url } = await startServer(t);
  const c = client(t, url);
  await c.ready();
  const e = (() => {
    try {
      c.emit('up', new Blob([new Uint8Array(bytes(3))]), { room: 'r' });
    } catch (err) {
      return err as WsqError;
    }
    return undefined;
  })();
  t.equal(e?.code, 'unsupported');
  t.match(e?.message, /arrayBuffer/);
  const ab = await new Blob([new Uint8Array(bytes(3))]).arrayBuffer();
  t.match(await within(c.emitWithAck('up', ab, { room: 'r' }), 3000, 'publish'), { offset: 1 }, 'its ArrayBuffer goes');
});
