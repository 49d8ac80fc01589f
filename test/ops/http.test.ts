/**
 * Issue 11 item 1: the HTTP router on the server's port, `/healthz` and `/readyz`.
 */
import { request } from 'node:http';
import t from 'tap';
import { WsqServer } from '../../lib/index.js';
import { retentionResolver } from '../../lib/retention.js';
import { MemoryStore } from '../../lib/store/memory.js';
import { RawClient } from '../helpers/raw-client.js';
import { rawClient, startServer } from '../helpers/server.js';

async function get(port: number, path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

t.test('a route registered on server.http answers on the server port; unknown paths still answer 426', async (t) => {
  const { server } = await startServer(t);
  server.http.route('GET', '/hello', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hi\n');
  });
  const hello = await get(server.port, '/hello?x=1');
  t.equal(hello.status, 200);
  t.equal(hello.body, 'hi\n');
  const other = await get(server.port, '/nothing-here');
  t.equal(other.status, 426);
  t.match(other.body, /WebSocket/);
  const post = await get(server.port, '/hello', 'POST');
  t.equal(post.status, 405, 'a routed path with another method is 405');
  t.equal(post.headers.allow, 'GET');
});

t.test('a handler that throws or rejects is answered 500 with a sentence and the server keeps serving', async (t) => {
  const logged: string[] = [];
  const { server, url } = await startServer(t, { logger: (_l, msg) => logged.push(msg) });
  server.http.route('GET', '/throws', () => {
    throw new Error('boom');
  });
  server.http.route('GET', '/rejects', async () => {
    await Promise.resolve();
    throw new Error('async boom');
  });
  for (const path of ['/throws', '/rejects']) {
    const r = await get(server.port, path);
    t.equal(r.status, 500, path);
    t.match(r.body, /^Internal Server Error: .+\n$/, `${path}: one sentence`);
  }
  t.equal(logged.filter((m) => /HTTP handler for GET \/(throws|rejects) failed/.test(m)).length, 2, 'both failures logged');
  t.equal((await get(server.port, '/healthz')).status, 200, 'still serving HTTP');
  t.equal((await rawClient(t, url)).welcome.type, 'welcome', 'still serving WebSocket');
});

t.test('/healthz answers 200 {status:"ok"} while the process is up', async (t) => {
  const { server } = await startServer(t);
  const r = await get(server.port, '/healthz');
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /application\/json/);
  t.same(JSON.parse(r.body), { status: 'ok' });
});

t.test('/readyz answers 200 on a fresh server', async (t) => {
  const { server } = await startServer(t);
  const r = await get(server.port, '/readyz');
  t.equal(r.status, 200);
  t.same(JSON.parse(r.body), { status: 'ready' });
});

t.test('/readyz answers 503 "shutting down" while close() drains', async (t) => {
  const server = new WsqServer({ namespaces: 'any' });
  await server.listen({ port: 0 });
  const port = server.port;
  const c = await RawClient.connect(server.url);
  // A client that does not answer the close handshake keeps close() draining (listening) for up to a second.
  c.ws.pause();
  (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const closing = server.close();
  const r = await get(port, '/readyz');
  t.equal(r.status, 503);
  const body = JSON.parse(r.body);
  t.equal(body.status, 'not ready');
  t.match(body.reasons, [/shutting down/]);
  t.equal((await get(port, '/healthz')).status, 200, '/healthz: the process is still up');
  await closing;
  c.ws.resume(); // its close event (the server dropped it) can now be read
  (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  await c.closed;
});

t.test('/readyz answers 503 with the store reason when the store is not writable', async (t) => {
  class FullStore extends MemoryStore {
    override health() {
      return { writable: false, reason: 'Commit failed: MDB_MAP_FULL' };
    }
  }
  const { server } = await startServer(t, { store: new FullStore({ retention: retentionResolver() }) });
  const r = await get(server.port, '/readyz');
  t.equal(r.status, 503);
  t.same(JSON.parse(r.body), { status: 'not ready', reasons: ['the memory store is not writable: Commit failed: MDB_MAP_FULL'] });
});

t.test('/readyz reports a failing, throwing or hanging readiness check by name (the seam for "Redis reachable")', async (t) => {
  const { server } = await startServer(t);
  server.readiness.add('redis', () => 'no answer to PING');
  server.readiness.add('thrower', () => {
    throw new Error('nope');
  });
  server.readiness.add('hang', () => new Promise<undefined>(() => {}));
  server.readiness.add('fine', async () => undefined);
  const r = await get(server.port, '/readyz');
  t.equal(r.status, 503);
  t.same(JSON.parse(r.body).reasons, ['redis: no answer to PING', 'thrower: the check failed: nope', 'hang: no answer within 1000 ms']);
  server.readiness.delete('redis');
  server.readiness.delete('thrower');
  server.readiness.delete('hang');
  t.equal((await get(server.port, '/readyz')).status, 200, 'ready once the checks pass');
});
