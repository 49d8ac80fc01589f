/**
 * I8 row 5 (memory side): names are forgotten. One client emits into 100,000 distinct rooms; once
 * the messages have aged out and the sweeps ran (the namespace's idle room logs on each heartbeat,
 * the store's idle empty rooms), the server's heap is back near its baseline. The server runs in a
 * child process; heap is measured after a full GC (RSS is reported too: V8 keeps freed pages for a while).
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { MiB, ServerChild } from './helpers.js';

const NAMES = 100_000;

t.test('R5.6.7 100,000 room names from one client leave the heap near its baseline after the sweeps', async (t) => {
  const srv = await ServerChild.start(t, { heartbeatMs: 300, timeoutMs: 5000, retention: { maxAgeMs: 1000 }, memoryStore: { idleRoomTtlMs: 1000, idleSweepMs: 250 } });
  const base = await srv.mem(true);
  const ws = new WebSocket(srv.url);
  const pongs: ((v?: unknown) => void)[] = [];
  ws.on('message', (d: Buffer) => {
    const f = JSON.parse(d.toString());
    if (f.type === 'pong') pongs.shift()?.();
  });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const started = Date.now();
  for (let i = 0; i < NAMES; i += 1000) {
    for (let j = i; j < i + 1000; j++) ws.send(`{"type":"emit","room":"name-${j}-${'x'.repeat(40)}","event":"e","data":${j}}`);
    const p = new Promise((r) => pongs.push(r));
    ws.send('{"type":"ping","id":1}');
    await p;
  }
  const sent = Date.now() - started;
  const full = await srv.mem(true);
  ws.close();
  // Messages age out after 1 s; idle logs go after a heartbeat; the store forgets empty idle rooms after 1 s.
  let now = full;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    now = await srv.mem(true);
    if (now.heapUsed - base.heapUsed < 8 * MiB) break;
  }
  const f = (m: number): string => `${(m / MiB).toFixed(1)} MiB`;
  t.comment(
    `${NAMES} names emitted in ${(sent / 1000).toFixed(1)} s; heap: baseline ${f(base.heapUsed)}, with the names ${f(full.heapUsed)}, after the sweeps ${f(now.heapUsed)}; RSS ${f(base.rss)} → ${f(full.rss)} → ${f(now.rss)}`,
  );
  t.ok(full.heapUsed - base.heapUsed > 20 * MiB, 'the names did take memory while in use');
  t.ok(now.heapUsed - base.heapUsed < 16 * MiB, `after the sweeps the heap is within 16 MiB of its baseline (+${f(now.heapUsed - base.heapUsed)})`);
});

t.test('I8 row 5 room logs in memory are capped: past 10,000, idle ones go at once, not at the next sweep', async (t) => {
  const { startServer } = await import('../helpers/server.js');
  const { server } = await startServer(t, { heartbeatMs: 60_000 }); // no sweep during the test
  for (let i = 0; i < 25_000; i++) await server.publish(`cap-${i}`, 'e', i);
  const loaded = server.sockets.loadedRooms().length;
  t.comment(`${loaded} room logs in memory after 25,000 names`);
  t.ok(loaded <= 10_000, `at most 10,000 room logs held (${loaded})`);
  t.match(await server.publish('cap-0', 'e', 'again'), { offset: 2 }, 'a dropped log comes back from the store where it was');
});
