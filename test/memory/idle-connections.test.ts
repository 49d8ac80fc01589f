/**
 * Issue 12 (idle memory per connection), structural side: what an idle connection holds. The
 * heartbeat is one server-wide timer (R2.4.1, R2.4.2), not one per connection; every listener on
 * an idle connection's WebSocket and TCP socket is shared by all connections (no closure of the
 * upgrade — request, head, admission — stays reachable from them); and closing connections returns
 * every per-connection structure of the server to empty (R2.2.14: the slots are given back).
 * Byte counts are the bench's business (bench/idle-floor.ts, bench/peers --only idle), not a test's.
 */
import type { Socket as NetSocket } from 'node:net';
import t from 'tap';
import { WebSocket } from 'ws';
import type { MemoryAdapter, WsqServer } from '../../lib/index.js';
import { once } from '../helpers/events.js';
import { startServer } from '../helpers/server.js';

/** Timers alive in this process now (the clients below, plain `ws`, start none). */
const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** `n` plain WebSocket clients, each resolved once its `welcome` arrived, opened `batch` at a time. */
async function openIdle(url: string, n: number, batch = 100): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(batch, n - i) }, async () => {
          const ws = new WebSocket(url, 'wsq.v1');
          const welcome = JSON.parse(String(await once<Buffer>(ws, 'message')));
          if (welcome.type !== 'welcome') throw new Error(`expected welcome, got ${welcome.type}`);
          return ws;
        }),
      )),
    );
  }
  return out;
}

/** Every listener of `events` on each emitter, by event: true when all emitters have the very same functions. */
function shared(emitters: { listeners(e: string): unknown[] }[], events: string[]): { event: string; same: boolean; count: number }[] {
  return events.map((event) => {
    const first = emitters[0]!.listeners(event);
    const same = emitters.every((e) => {
      const l = e.listeners(event);
      return l.length === first.length && l.every((fn, i) => fn === first[i]);
    });
    return { event, same, count: first.length };
  });
}

/** The server side of every open connection (its main-namespace sockets). */
const serverSockets = (server: WsqServer) => [...server.sockets.sockets.values()];

t.test('R2.4.1 idle connections: one server-wide heartbeat, no timer and no listener closure per connection', async (t) => {
  const { server, url } = await startServer(t, { heartbeatMs: 60_000 });
  const before = timers();
  const clients = await openIdle(url, 200);
  t.teardown(() => {
    for (const c of clients) c.terminate();
  });
  t.equal(serverSockets(server).length, 200, '200 connections open');
  t.equal(timers(), before, 'no timer was started for any of them (the heartbeat sweeps every connection from one timer)');

  const wss = serverSockets(server).map((s) => s.conn.ws);
  for (const r of shared(wss, ['message', 'pong', 'close', 'error'])) {
    t.ok(r.same && r.count === 1, `WebSocket "${r.event}": one listener, the same function for every connection`);
  }
  const tcp = wss.map((ws) => (ws as unknown as { _socket: NetSocket })._socket);
  for (const r of shared(tcp, ['close', 'error', 'end', 'data'])) {
    t.ok(r.same, `TCP socket "${r.event}": the same ${r.count} listener(s) for every connection (nothing of its upgrade is kept)`);
  }
  const s = serverSockets(server)[0]!;
  t.equal(s.subs.size, 0, 'no subscription map until a join');
  t.match(s.handshake, { url: '/', secure: false, xdomain: false, auth: {}, query: {} }, 'the handshake is still there when read');
  t.equal(s.handshake, s.handshake, 'one handshake object per socket');
});

t.test('R2.2.14 closing 1,000 connections returns every per-connection structure of the server to empty', async (t) => {
  const { server, url } = await startServer(t, { heartbeatMs: 60_000 });
  const adapter = server.sockets.adapter as MemoryAdapter;
  const baseTimers = timers();
  const clients = await openIdle(url, 1000);
  t.equal(server.guard.connections, 1000, '1,000 admitted connections counted');
  t.equal(adapter.sids.size, 1000, 'each socket in its own room');
  let left = 1000;
  const gone = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${left} connections still open after 10 s`)), 10_000);
    for (const s of serverSockets(server)) {
      s.on('disconnect', () => {
        if (--left === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  });
  const closed = Promise.all(clients.map((c) => once(c, 'close', 10_000)));
  for (const c of clients) c.close();
  await Promise.all([gone, closed]); // the clients' close timers end with their close
  // The guard's count goes with the connection's close (the disconnect listeners ran inside it): wait for the last one.
  const deadline = Date.now() + 5000;
  while (server.guard.connections > 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  t.equal(server.guard.connections, 0, 'every admitted slot given back');
  t.equal(server.sockets.sockets.size, 0, 'no socket left in the namespace');
  t.equal(adapter.sids.size, 0, 'no sid left in the adapter');
  t.equal(adapter.rooms.size, 0, 'no room left in the adapter');
  t.equal((server as unknown as { connections: Set<unknown> }).connections.size, 0, "the server's connection set is empty");
  t.equal(timers(), baseTimers, 'no timer left behind');
});

t.test("R2.2.14 a closed connection gives its identity's slot back (the slot is returned when the connection ends, not by a listener of its own)", async (t) => {
  const { server, url } = await startServer(t, { limits: { maxConnectionsPerClient: 2 } });
  const as = `${url}?client=svc`;
  /** The status of an upgrade as svc (101 once open, kept open until the test ends). */
  const status = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(as, 'wsq.v1');
      t.teardown(() => ws.terminate());
      const timer = setTimeout(() => reject(new Error('no answer to an upgrade within 5 s')), 5000);
      ws.once('open', () => (clearTimeout(timer), resolve(101)));
      ws.once('unexpected-response', (_req, res) => (clearTimeout(timer), resolve(res.statusCode ?? 0)));
      ws.once('error', () => {});
    });
  const [first] = await openIdle(as, 1);
  const firstSocket = serverSockets(server)[0]!; // the only one so far
  t.equal(await status(), 101, 'the second connection of svc');
  t.equal(await status(), 429, 'a third is refused');
  const left = once(firstSocket, 'disconnect');
  first!.close();
  await left;
  t.equal(await status(), 101, 'once one closed, svc may connect again');
});
