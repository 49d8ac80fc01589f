/**
 * Disconnects and lifecycle (issue 10 item 6) over real sockets, written from Socket.IO's
 * documented behaviour: the server's `disconnecting`/`disconnect` reasons ("Troubleshooting
 * connection issues" lists them), and socket.io-client's `connect`/`disconnect` events with their
 * reasons, manual `connect()`/`disconnect()`, `connected`, `id`, `active`, and the manager's
 * `reconnect_attempt`, `reconnect`, `reconnect_error`, `reconnect_failed` (client API).
 */
import type { Socket as NetSocket } from 'node:net';
import t from 'tap';
import { connect, type WsqClient } from '../../lib/client/index.js';
import type { Socket, WsqServer } from '../../lib/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type Tap } from '../helpers/server.js';
import { once, next } from '../helpers/events.js';

const FAST = { baseMs: 5, capMs: 20 } as const;

/** A raw client and its socket of "/", with the socket's `disconnecting` and `disconnect` reasons. */
async function rawSocket(t: Tap, server: WsqServer, url: string) {
  const accepted = once<Socket>(server.sockets, 'connection');
  const c = await RawClient.connect(url);
  t.teardown(() => c.close());
  const socket = await accepted;
  const disconnecting = once<string>(socket, 'disconnecting');
  const disconnect = once<string>(socket, 'disconnect');
  return { c, socket, disconnecting, disconnect };
}

function sdk(t: Tap, url: string, opts: Parameters<typeof connect>[1] = {}): WsqClient {
  const c = connect(url, { heartbeat: false, backoff: FAST, ...opts });
  t.teardown(() => c.close());
  return c;
}

t.test("R2.5.8: the server's disconnect reasons are Socket.IO's strings", async (t) => {
  const { server, url } = await startServer(t, { badFrameLimit: 1 });

  const a = await rawSocket(t, server, url);
  a.socket.join('kept-while-disconnecting');
  let roomsWhileDisconnecting: string[] = [];
  a.socket.once('disconnecting', () => (roomsWhileDisconnecting = [...a.socket.rooms]));
  a.socket.disconnect();
  t.equal(await a.disconnect, 'server namespace disconnect', 'socket.disconnect()');
  t.equal(await a.disconnecting, 'server namespace disconnect');
  t.ok(roomsWhileDisconnecting.includes('kept-while-disconnecting'), 'disconnecting still sees the rooms');

  const b = await rawSocket(t, server, url);
  b.c.send({ type: 'disconnect', ns: '/' });
  t.equal(await b.disconnect, 'client namespace disconnect', "the client's disconnect frame");

  const c = await rawSocket(t, server, url);
  await c.c.close();
  t.equal(await c.disconnect, 'transport close', 'the client closed the WebSocket');

  const d = await rawSocket(t, server, url);
  d.c.ws.terminate();
  t.equal(await d.disconnect, 'transport close', 'the TCP connection ended');

  const e = await rawSocket(t, server, url);
  e.socket.disconnect(true);
  t.equal(await e.disconnect, 'forced close', 'socket.disconnect(true)');
  t.equal((await e.c.closed).code, 4000);

  const f = await rawSocket(t, server, url);
  f.c.sendRaw('not json');
  f.c.sendRaw('not json either');
  t.equal(await f.disconnect, 'parse error', 'too many bad frames (1008)');
  t.equal((await f.c.closed).code, 1008);

  const g = await rawSocket(t, server, url);
  // An invalid WebSocket frame (reserved opcode 0x3): the ws layer fails the socket.
  (g.c.ws as unknown as { _socket: NetSocket })._socket.write(Buffer.from([0x83, 0x80, 0, 0, 0, 0]));
  t.equal(await g.disconnect, 'transport error', 'the socket failed');
});

t.test('R2.5.8: ping timeout, and server shutting down reach every namespace socket of the connection', async (t) => {
  const { server, url } = await startServer(t, { heartbeatMs: 50, timeoutMs: 50 });
  const a = await rawSocket(t, server, url);
  (a.c.ws as unknown as { _socket: NetSocket })._socket.pause(); // reads nothing: no pong ever comes back
  t.equal(await a.disconnect, 'ping timeout');
  a.c.ws.terminate(); // a paused socket would not read the server's close

  const b = await rawSocket(t, server, url);
  const chat = once<Socket>(server.of('/chat'), 'connection');
  await b.c.request({ type: 'connect', ns: '/chat' });
  const inChat = once<string>(await chat, 'disconnect');
  void server.close();
  t.equal(await b.disconnect, 'server shutting down');
  t.equal(await inChat, 'server shutting down', 'every namespace socket gets the reason');
  t.equal((await b.c.closed).code, 1001);
});

t.test("R2.5.9: the SDK's disconnect reasons are socket.io-client's; namespaces get disconnect when the connection drops", async (t) => {
  const { server, url } = await startServer(t);
  const c = sdk(t, url);
  const chat = c.ns('/chat');
  await chat.ready();
  const socket = server.sockets.sockets.get(c.id!)!;

  // A drop: the client and each connected namespace get `disconnect` with "transport close", then reconnect.
  const dropped = next<[string]>(c, 'disconnect');
  const chatDropped = next<[string]>(chat, 'disconnect');
  const chatBack = next(chat, 'connect');
  socket.conn.terminate();
  t.equal((await dropped)[0], 'transport close');
  t.equal((await chatDropped)[0], 'transport close', 'namespace-level disconnect on the drop');
  await chatBack;
  t.ok(c.connected);

  // The server disconnects one namespace: "io server disconnect" there only.
  const nsGone = next<[string]>(chat, 'disconnect');
  server.of('/chat').sockets.get(c.id!)!.disconnect();
  t.equal((await nsGone)[0], 'io server disconnect');
  t.ok(c.connected, 'the connection stays');

  // The server kicks the connection: "io server disconnect", and no reconnect (as socket.io-client).
  const kicked = next<[string, { code: number }]>(c, 'disconnect');
  server.sockets.sockets.get(c.id!)!.disconnect(true);
  const [why, details] = await kicked;
  t.equal(why, 'io server disconnect');
  t.equal(details.code, 4000);
  t.equal(c.active, false);
});

t.test('R2.5.9: ping timeout on the client, and parse error after 1008', async (t) => {
  const { server, url } = await startServer(t, { heartbeatMs: 100, badFrameLimit: 0 });
  const c = sdk(t, url, { heartbeat: true, heartbeatTimeoutMs: 100 });
  await c.ready();
  const socket = server.sockets.sockets.get(c.id!)!;
  const why = next<[string]>(c, 'disconnect', 5000);
  (socket.conn.ws as unknown as { _socket: NetSocket })._socket.pause(); // the server reads nothing: no pong to the client's pings
  t.equal((await why)[0], 'ping timeout');

  const d = sdk(t, url, { reconnect: false });
  await d.ready();
  const bad = next<[string]>(d, 'disconnect');
  const ws = (d as unknown as { transport: { socket: { send(s: string): void } } }).transport.socket;
  ws.send('not json'); // one bad frame past badFrameLimit 0: error, then 1008
  t.equal((await bad)[0], 'parse error');
});

t.test('item 6: manual disconnect() and connect(), connected, id, active, autoConnect', async (t) => {
  const { server, url } = await startServer(t);
  const c = sdk(t, url, { autoConnect: false });
  t.equal(c.state, 'disconnected');
  t.equal(c.active, false);
  t.equal(c.id, undefined);
  const connected = next(c, 'connect');
  c.connect();
  t.equal(c.active, true, 'active as soon as connect() was called');
  await connected;
  t.equal(c.connected, true);
  t.match(c.id, /^.{12}$/);
  const first = c.id!;
  const socket = server.sockets.sockets.get(first)!;
  const serverReason = once<string>(socket, 'disconnect');

  const gone = next<[string]>(c, 'disconnect');
  c.disconnect();
  t.equal((await gone)[0], 'io client disconnect');
  t.equal(await serverReason, 'client namespace disconnect', 'the server hears a namespace disconnect, as in Socket.IO');
  t.equal(c.connected, false);
  t.equal(c.disconnected, true);
  t.equal(c.active, false, 'not active after disconnect()');
  t.equal(c.id, undefined);

  // Emits made while disconnected wait and go out after connect() (as socket.io-client buffers them).
  const got = once<unknown>(server.sockets, 'connection').then((s) => once<unknown>(s as Socket, 'hello'));
  c.emit('hello', 'queued while disconnected');
  const back = next(c, 'connect');
  c.connect();
  await back;
  t.equal(await got, 'queued while disconnected');
  t.not(c.id, first, 'a new connection, a new id');
  t.equal(c.recovered, false, 'recovery is off on this server');
});

t.test('item 6: the manager events reconnect_attempt, reconnect, reconnect_error, reconnect_failed', async (t) => {
  const { server, url } = await startServer(t);
  const c = sdk(t, url);
  await c.ready();
  const attempts: number[] = [];
  c.io.on('reconnect_attempt', (n) => attempts.push(n));
  const reconnected = next<[number]>(c.io, 'reconnect');
  server.sockets.sockets.get(c.id!)!.conn.terminate();
  const [n] = await reconnected;
  t.equal(n, 1, 'reconnected after one attempt');
  t.same(attempts, [1]);

  // A server that is gone: every attempt fails (reconnect_error), and with maxAttempts the client gives up (reconnect_failed).
  const d = sdk(t, url, { backoff: { ...FAST, maxAttempts: 2 } });
  await d.ready();
  const errors: unknown[] = [];
  d.io.on('reconnect_error', (e) => errors.push(e));
  const connectErrors: unknown[] = [];
  d.on('connect_error', (e) => connectErrors.push(e));
  const failed = next(d.io, 'reconnect_failed', 10_000);
  await server.close();
  await failed;
  t.equal(errors.length, 2, 'one reconnect_error per failed attempt');
  t.equal(connectErrors.length, 2, 'and connect_error on the client');
  t.equal(d.active, false);
  t.equal(d.state, 'closed');
});
