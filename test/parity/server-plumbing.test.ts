/**
 * Issue 10 item 5: server plumbing as Socket.IO has it, over real sockets — `socket.request`,
 * the handshake's fields, `allowRequest`, `attach(httpServer)` / `new WsqServer(httpServer)` /
 * `listen(port)`, `close(cb)` and listening again, local `serverSideEmit`/`serverSideEmitWithAck`
 * through the adapter. Written from Socket.IO's documented behaviour ("Server API", "Server instance").
 */
import { createServer, IncomingMessage } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import t from 'tap';
import { MemoryAdapter, type AdapterNamespace, WsqServer } from '../../lib/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { clientSocket, rawClient, startServer } from '../helpers/server.js';

const quiet = { namespaces: 'declared' as const, logger: () => {} };

t.test('issue 10 item 5: socket.request is the upgrade IncomingMessage; the handshake has headers, address, time, issued, url, secure, xdomain, query, auth', async (t) => {
  const { server, url } = await startServer(t, { ...quiet, origins: ['*'] });
  let inMiddleware: unknown;
  server.use((socket, next) => {
    inMiddleware = socket.request?.headers['x-app'];
    next();
  });
  server.of('/chat');
  const before = Date.now();
  const { socket } = await clientSocket(t, server, `${url}?room=lobby`, '/', { headers: { 'x-app': 'demo', origin: 'http://example.test' } });
  t.ok(socket.request instanceof IncomingMessage, 'socket.request is an IncomingMessage');
  t.equal(socket.request.headers['x-app'], 'demo');
  t.equal(inMiddleware, 'demo', 'readable already in the main namespace middleware');
  const h = socket.handshake;
  t.equal(h.headers['x-app'], 'demo', 'handshake.headers');
  t.equal(h.address, '127.0.0.1', 'handshake.address');
  t.ok(h.issued >= before - 1000 && h.issued <= Date.now(), 'handshake.issued: ms since the epoch');
  t.equal(h.time, new Date(h.issued).toString(), 'handshake.time: the date as a string');
  t.equal(h.url, '/?room=lobby', 'handshake.url');
  t.equal(h.secure, false, 'handshake.secure (ws://)');
  t.equal(h.xdomain, true, 'handshake.xdomain: the request carried an Origin');
  t.same(h.query, { room: 'lobby' }, 'handshake.query');
  t.same(h.auth, {}, 'handshake.auth of "/"');
  const chat = await clientSocket(t, server, url, '/chat', { auth: { name: 'ann' } });
  t.same(chat.socket.handshake.auth, { name: 'ann' }, 'handshake.auth of a namespace');
  t.equal(chat.socket.request, chat.socket.request, 'the same request in every namespace of the connection');
  t.equal(chat.socket.handshake.xdomain, false, 'no Origin: not cross-domain');
});

t.test('issue 10 item 5: allowRequest(req, callback) decides on each upgrade first (refused: HTTP 403)', async (t) => {
  const asked: string[] = [];
  const { url } = await startServer(t, {
    ...quiet,
    allowRequest: (req, callback) => {
      asked.push(String(req.headers['x-pass']));
      if (req.headers['x-pass'] === 'later') return void setTimeout(() => callback(null, true), 20);
      callback(req.headers['x-pass'] === 'yes' ? null : 'no pass', req.headers['x-pass'] === 'yes');
    },
  });
  const ok = await rawClient(t, url, { headers: { 'x-pass': 'yes' } });
  t.match(ok.welcome, { type: 'welcome' }, 'allowed: welcome');
  const late = await rawClient(t, url, { headers: { 'x-pass': 'later' } });
  t.match(late.welcome, { type: 'welcome' }, 'an asynchronous callback works');
  const err = await RawClient.connect(url, { headers: { 'x-pass': 'no' } }).then(
    () => undefined,
    (e: Error & { status?: number }) => e,
  );
  t.match(err, { status: 403 }, 'refused: 403');
  t.same(asked, ['yes', 'later', 'no']);
});

t.test("issue 10 item 5: attach(httpServer) and new WsqServer(httpServer, opts) serve upgrades on the application's HTTP server", async (t) => {
  for (const how of ['attach', 'constructor'] as const) {
    const http = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`app ${req.url}`));
    const io = how === 'attach' ? new WsqServer(quiet) : new WsqServer(http, quiet);
    if (how === 'attach') t.equal(io.attach(http), io, 'attach returns the server');
    t.equal(io.httpServer, http);
    io.on('connection', (socket) => socket.emit('hi', how));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    t.teardown(() => io.close());
    const port = (http.address() as AddressInfo).port;
    const c = await rawClient(t, `ws://127.0.0.1:${port}/`);
    t.match(await c.next((f) => f.event === 'hi'), { data: how }, `${how}: a client connects through the app's server`);
    const res = await fetch(`http://127.0.0.1:${port}/page`);
    t.equal(await res.text(), 'app /page', "plain HTTP stays the application's");
  }
});

t.test('issue 10 item 5: listen(port), close(cb), then the port is free and the same server listens again', async (t) => {
  const io = new WsqServer(quiet);
  io.of('/news').on('connection', (socket) => socket.emit('hi', 'news'));
  // A free port: let the OS pick one, then give it back.
  const port = await new Promise<number>((resolve) => {
    const probe = createNetServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
  t.equal((await io.listen(port)).port, port, 'listen(port): a number is the port');
  const c = await RawClient.connect(`ws://127.0.0.1:${port}/`);
  const closedWith = await new Promise<Error | undefined | 'none'>((resolve) => void io.close((err) => resolve(err ?? 'none')));
  t.equal(closedWith, 'none', 'close(cb): cb called without an error');
  t.equal((await c.closed).code, 1001, 'clients were closed with 1001');
  const other = createNetServer();
  await new Promise<void>((r) => other.listen(port, '127.0.0.1', r));
  await new Promise<void>((r) => other.close(() => r()));
  t.pass('the port was free after close(cb)');
  await io.listen({ port, host: '127.0.0.1' });
  t.teardown(() => io.close());
  const again = await RawClient.connect(`ws://127.0.0.1:${port}/`);
  t.teardown(() => again.close());
  t.match(await again.request({ type: 'connect', ns: '/news' }), { type: 'connected' }, 'listening again: declared namespaces kept');
  t.match(await again.next((f) => f.event === 'hi'), { data: 'news' }, 'with their listeners');
  t.match(await again.request({ type: 'emit', room: 'r', event: 'e', data: 1 }), { type: 'ack', offset: 1 }, 'the memory store serves again');
});

t.test('issue 10 item 5: listen() after close() with a store you passed in rejects with a sentence', async (t) => {
  const { MemoryStore, retentionResolver } = await import('../../lib/index.js');
  const io = new WsqServer({ ...quiet, store: new MemoryStore({ retention: retentionResolver({}) }) });
  await io.listen(0);
  await io.close();
  await t.rejects(io.listen(0), /close\(\) closed the store/);
});

/** A test adapter that links the namespaces of several servers in this process (serverSideEmit only). */
function linkedAdapters() {
  const peers = new Map<string, Set<LinkedAdapter>>();
  class LinkedAdapter extends MemoryAdapter {
    constructor(nsp: AdapterNamespace) {
      super(nsp);
      let set = peers.get(nsp.name);
      if (!set) peers.set(nsp.name, (set = new Set()));
      set.add(this);
    }
    private others(): LinkedAdapter[] {
      return [...(peers.get(this.nsp.name) ?? [])].filter((p) => p !== this);
    }
    override serverSideEmit(event: string, args: unknown[]): Promise<void> {
      for (const p of this.others()) p.nsp.serverSideReceive(event, structuredClone(args));
      return Promise.resolve();
    }
    override serverSideEmitWithAck(event: string, args: unknown[]): Promise<unknown[]> {
      return Promise.all(this.others().map((p) => new Promise<unknown>((resolve) => p.nsp.serverSideReceive(event, structuredClone(args), resolve))));
    }
    override close(): void {
      peers.get(this.nsp.name)?.delete(this);
      super.close();
    }
  }
  return (nsp: AdapterNamespace) => new LinkedAdapter(nsp);
}

t.test('issue 10 item 5: serverSideEmit and serverSideEmitWithAck reach the other servers through the adapter, never this one', async (t) => {
  const single = await startServer(t, quiet);
  let own = 0;
  single.server.on('hello', () => own++);
  t.equal(single.server.serverSideEmit('hello', 1), true);
  t.same(await single.server.serverSideEmitWithAck('hello'), [], 'one node: no other server, so no answer');
  const viaCallback = await new Promise<[Error | null, unknown[]]>((resolve) =>
    single.server.serverSideEmit('hello', (err: Error | null, answers: unknown[]) => resolve([err, answers])),
  );
  t.same(viaCallback, [null, []], 'a last function argument gets (err, answers)');
  t.equal(own, 0, "the emitting server's own listeners are not called (as in Socket.IO)");

  const adapter = linkedAdapters();
  const a = await startServer(t, { ...quiet, adapter });
  const b = await startServer(t, { ...quiet, adapter });
  const c = await startServer(t, { ...quiet, adapter });
  const got: unknown[][] = [];
  for (const [name, s] of [
    ['b', b],
    ['c', c],
  ] as const) {
    s.server.on('hello', (...args: unknown[]) => got.push([name, ...args]));
    s.server.on('count', (reply: (n: unknown) => void) => reply(name));
    s.server.of('/admin').on('ping', (x: number, reply: (n: unknown) => void) => reply(x + 1));
  }
  a.server.on('hello', () => own++);
  a.server.serverSideEmit('hello', 'world', { n: 1 });
  t.same(got.sort(), [
    ['b', 'world', { n: 1 }],
    ['c', 'world', { n: 1 }],
  ]);
  t.equal(own, 0);
  t.same(((await a.server.serverSideEmitWithAck('count')) as string[]).sort(), ['b', 'c'], 'one answer per other server');
  t.same(await a.server.of('/admin').serverSideEmitWithAck('ping', 41), [42, 42], 'per namespace');
});
