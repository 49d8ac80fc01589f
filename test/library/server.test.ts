/**
 * WsqServer lifecycle (issue 7 #21): during `close()` the listener stays open for a bounded
 * drain, so a new upgrade is answered with HTTP 503 "shutting down" (R2.1.5), not refused.
 */
import { connect, type Socket as TcpSocket } from 'node:net';
import t from 'tap';
import { rawClient, startServer, type Tap } from '../helpers/server.js';

/** A raw TCP upgrade request; resolves with the socket and the first bytes the server answered. */
function upgrade(t: Tap, port: number): Promise<{ sock: TcpSocket; head: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    t.teardown(() => sock.destroy());
    const timer = setTimeout(() => reject(new Error('no answer to the upgrade within 3 s')), 3000);
    sock.once('error', reject);
    sock.once('data', (d) => {
      clearTimeout(timer);
      resolve({ sock, head: d.toString('latin1') });
    });
    sock.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}

t.test('R2.1.5 during shutdown a new upgrade gets HTTP 503 "shutting down" before the listener closes', async (t) => {
  const { server } = await startServer(t);
  // A peer that completed the upgrade but never answers the close handshake keeps the drain open.
  const stuck = await upgrade(t, server.port);
  t.match(stuck.head, /^HTTP\/1\.1 101/);
  const started = Date.now();
  const closing = server.close();
  const late = await upgrade(t, server.port);
  t.match(late.head, /^HTTP\/1\.1 503 /, 'the upgrade is answered 503');
  t.match(late.head, /shutting down/, 'with a sentence saying why');
  await closing;
  const took = Date.now() - started;
  t.ok(took < 3000, `close() is bounded (${took} ms)`);
  const refused = await new Promise<string>((resolve) => {
    const s = connect(server.port || 1, '127.0.0.1');
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
  }).catch(() => 'error');
  t.not(refused, 'connected', 'after the drain the listener is closed');
});

t.test('R2.1.5 close() does not wait out the drain when every client closes at once', async (t) => {
  const { server, url } = await startServer(t);
  const a = await rawClient(t, url);
  await rawClient(t, url);
  const started = Date.now();
  await server.close();
  t.ok(Date.now() - started < 900, 'done before the 1 s drain bound');
  t.equal((await a.closed).code, 1001);
});
