/**
 * I8 row 4 / deliver 4: bounded outgoing buffers (PROTOCOL.md R2.5.6, R2.5.7, R2.4.5). The server runs
 * in a child process and its RSS (`process.memoryUsage().rss`) is sampled while a bad client
 * (a paused socket: `ws._socket.pause()`) keeps going; another client's ping latency is measured.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { startServer } from '../helpers/server.js';
import { MiB, percentile, pinger, sampler, ServerChild } from './helpers.js';

// One server child for the RSS tests (starting one costs seconds on a shared machine).
// Latency: the ping round trip is measured from this process and the server's own event-loop
// delay in the child. Both bounds are generous (a shared 2-core box under load shows 100-300 ms
// scheduling stalls on its own); what they catch is a server stalled for seconds.
const PING_P99_MS = 1000;
const LOOP_P99_MS = 500;
let shared: ServerChild | undefined;
// NOCAP=1 runs the server without the outgoing-buffer cap, to see the first test fail as it did before it.
const server = async (): Promise<ServerChild> =>
  (shared ??= await ServerChild.start(t, {
    heartbeatMs: 10_000,
    timeoutMs: 10_000,
    ackTimeoutMs: 200,
    maxDeliver: 1000,
    ...(process.env.NOCAP ? { maxBufferedBytes: 1e12 } : {}),
  }));

type Frame = Record<string, any>;

/** A ws client that records frames; `pause()` stops reading from the TCP socket. */
async function client(
  url: string,
): Promise<{ ws: WebSocket; frames: Frame[]; next: (pred: (f: Frame) => boolean, ms?: number) => Promise<Frame>; closed: Promise<number>; pause: () => void; resume: () => void }> {
  const ws = new WebSocket(url);
  const frames: Frame[] = [];
  const waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  ws.on('message', (d: Buffer) => {
    // Big event frames are counted, not parsed (keeps this process, where the pinger runs, light).
    const f = (d.length > 4096 ? { type: 'event', big: true } : JSON.parse(d.toString())) as Frame;
    frames.push(f);
    const i = waiters.findIndex((w) => w.pred(f));
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(f);
  });
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  ws.on('error', () => {});
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const raw = (): import('node:net').Socket => (ws as unknown as { _socket: import('node:net').Socket })._socket;
  return {
    ws,
    frames,
    closed,
    next: (pred, ms = 5000) => {
      const seen = frames.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no matching frame')), ms);
        waiters.push({ pred, resolve: (f) => (clearTimeout(timer), resolve(f)) });
      });
    },
    pause: () => raw().pause(),
    resume: () => raw().resume(),
  };
}

/** Emit `bytes`-sized messages into `room` for `ms`, at most `window` unacked at a time. */
async function _flood(url: string, room: string, bytes: number, ms: number, window = 16): Promise<number> {
  const c = await client(url);
  const data = 'y'.repeat(bytes);
  const end = Date.now() + ms;
  let id = 0;
  let acked = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (id - acked < window && Date.now() < end) c.ws.send(JSON.stringify({ type: 'emit', room, event: 'big', data, id: ++id }));
      if (id === acked && Date.now() >= end) resolve();
    };
    c.ws.on('message', (d: Buffer) => {
      if (JSON.parse(d.toString()).type === 'ack') {
        acked++;
        pump();
      }
    });
    pump();
    setTimeout(() => resolve(), ms + 5000).unref();
  });
  c.ws.terminate();
  return acked;
}

t.test('R2.5.6 a subscriber that stops reading is closed with 4002 slow_consumer; server RSS stays bounded; others keep a low ping latency', async (t) => {
  const srv = await server();
  const bad = await client(srv.url);
  bad.ws.send(JSON.stringify({ type: 'join', room: 'flood', id: 'j' }));
  await bad.next((f) => f.type === 'joined');
  bad.pause();
  const reader = await client(srv.url); // a healthy member of the same room
  reader.ws.send(JSON.stringify({ type: 'join', room: 'flood', id: 'j' }));
  await reader.next((f) => f.type === 'joined');
  const ping = pinger(srv.url);
  await ping.ready;
  const base = await srv.mem(true);
  await srv.loopDelay();
  let heap = 0;
  let ext = base.external;
  const rss = sampler(async () => {
    const m = await srv.mem();
    heap = Math.max(heap, m.heapUsed);
    ext = Math.max(ext, m.external);
    return m.rss;
  }, 100);
  // 100 MiB into the room, from the server side (a client-driven flood is limited here by this
  // process parsing its own acks; the server's fan-out is the same either way).
  const sent = srv.publish('flood', 400, 256 * 1024, 10); // at most ~100 MB/s
  await srv.waitLog(/slow_consumer/, 8000).catch(() => undefined);
  bad.resume(); // read what was queued: the close frame comes after it
  const code = await Promise.race([bad.closed, new Promise<number>((r) => setTimeout(() => r(-1), 8000))]);
  await sent;
  const acked = 400;
  let readerCode = 0;
  void reader.closed.then((c) => (readerCode = c));
  await Promise.race([reader.next(() => reader.frames.filter((f) => f.type === 'event').length >= 400, 15_000).catch(() => undefined), reader.closed]);
  const got = reader.frames.filter((f) => f.type === 'event').length;
  await rss.stop();
  const lat = ping.stop();
  const loop = await srv.loopDelay();
  reader.ws.terminate();
  const growth = rss.max() - base.rss;
  const extGrowth = ext - base.external;
  t.comment(
    `server RSS: before ${(base.rss / MiB).toFixed(0)} MiB, peak ${(rss.max() / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(0)}), peak heap ${(heap / MiB).toFixed(0)} MiB, external (Buffers, where queued bytes live) +${(extGrowth / MiB).toFixed(0)} MiB; ${acked} messages of 256 KiB (${((acked * 256) / 1024).toFixed(0)} MiB) fanned out; ping p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms over ${lat.length} pings; server event-loop delay p99 ${loop.p99.toFixed(1)} ms, max ${loop.max.toFixed(1)} ms`,
  );
  t.equal(code, 4002, 'the paused subscriber is closed with 4002 slow_consumer');
  t.ok(extGrowth < 48 * MiB, `queued bytes (external memory) grew by less than 48 MiB (${(extGrowth / MiB).toFixed(0)} MiB)`);
  t.ok(growth < 400 * MiB, `server RSS grew by less than 400 MiB (${(growth / MiB).toFixed(0)} MiB; GC headroom under a 256 KiB flood)`);
  t.ok(loop.p99 < LOOP_P99_MS, `the server's event-loop delay p99 < ${LOOP_P99_MS} ms`);
  t.ok(percentile(lat, 99) < PING_P99_MS, `another client's ping p99 < ${PING_P99_MS} ms`);
  t.comment(`the healthy member got ${got} of 400${readerCode ? ` and was closed with ${readerCode}` : ''}`);
  t.ok(got >= 200 && readerCode !== 4002, 'the healthy member kept receiving and was not closed (this process reads it while loaded: most, not necessarily all 400, in time)');
});

t.test('R2.4.5 a peer that stops reading but keeps writing (pings) is dropped', async (t) => {
  const { url } = await startServer(t, { heartbeatMs: 200, timeoutMs: 400 });
  const c = await client(url);
  c.pause();
  const timer = setInterval(() => c.ws.send(JSON.stringify({ type: 'ping' })), 100);
  t.teardown(() => clearInterval(timer));
  // Dropped within heartbeat + timeout + one check interval (~800 ms); give it 2 s, then read.
  await new Promise((r) => setTimeout(r, 2000));
  clearInterval(timer);
  c.resume();
  const code = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(-1), 3000))]);
  t.equal(code, 1006, 'dropped without a closing handshake though it kept sending pings');
});

t.test('R2.5.7 40 paused readers replaying a full room hold about 1 MiB each, not the room', async (t) => {
  const srv = await server();
  srv.logs.length = 0;
  await srv.publish('full', 240, 64 * 1024); // ~15 MiB: the default retention keeps all of it
  const base = await srv.mem(true);
  await srv.loopDelay();
  const rss = sampler(async () => (await srv.mem()).rss, 100);
  const readers = await Promise.all(Array.from({ length: 40 }, () => client(srv.url)));
  for (const r of readers) {
    r.ws.send(JSON.stringify({ type: 'join', room: 'full', since: 0, id: 'j' }));
    r.pause();
  }
  const ping = pinger(srv.url);
  await ping.ready;
  await new Promise((r) => setTimeout(r, 3000));
  await rss.stop();
  const lat = ping.stop();
  const loop = await srv.loopDelay();
  const growth = rss.max() - base.rss;
  t.comment(
    `server RSS: before ${(base.rss / MiB).toFixed(0)} MiB, peak ${(rss.max() / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(0)}); ping p99 ${percentile(lat, 99).toFixed(1)} ms; server event-loop delay p99 ${loop.p99.toFixed(1)} ms`,
  );
  t.ok(growth < 150 * MiB, `40 replays of a 15 MiB room grew RSS by less than 150 MiB (${(growth / MiB).toFixed(0)} MiB)`);
  t.notOk(
    srv.logs.some((l) => /slow_consumer/.test(l.msg)),
    'no reader passed the cap: replay waited for them',
  );
  t.ok(loop.p99 < LOOP_P99_MS, `the server's event-loop delay p99 < ${LOOP_P99_MS} ms`);
  t.ok(percentile(lat, 99) < PING_P99_MS, `ping p99 < ${PING_P99_MS} ms`);
  for (const r of readers) r.ws.terminate();
});

t.test('R2.5.7 a paused group member that never acks gets redeliveries only when it can take them', async (t) => {
  const srv = await server();
  srv.logs.length = 0;
  const m = await client(srv.url);
  m.ws.send(JSON.stringify({ type: 'join', room: 'jobs', group: 'g', prefetch: 1000, id: 'j' }));
  await m.next((f) => f.type === 'joined');
  m.pause();
  await srv.publish('jobs', 600, 16 * 1024); // ~10 MiB: more than the cap if all were sent at once, and again every 200 ms
  const base = await srv.mem(true);
  const rss = sampler(async () => (await srv.mem()).rss, 100);
  await new Promise((r) => setTimeout(r, 3000)); // 15 ack timeouts
  await rss.stop();
  const growth = rss.max() - base.rss;
  t.comment(`server RSS: before ${(base.rss / MiB).toFixed(0)} MiB, peak ${(rss.max() / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(0)})`);
  t.notOk(
    srv.logs.some((l) => /slow_consumer/.test(l.msg)),
    'never over the cap: deliveries waited for the socket to drain',
  );
  t.ok(growth < 100 * MiB, `RSS grew by less than 100 MiB (${(growth / MiB).toFixed(0)} MiB)`);
  m.resume();
  const ev = await m.next((f) => f.type === 'event', 5000);
  t.ok(ev, 'once it reads, deliveries are there');
  m.ws.terminate();
});
