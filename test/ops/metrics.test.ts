/**
 * Issue 11 item 1, "done when": a scripted session, then a scrape of `/metrics` whose counters
 * equal what was sent (the Prometheus text format parsed here, by a tiny parser).
 */
import { request } from 'node:http';
import t from 'tap';
import { RawClient, type Frame } from '../helpers/raw-client.js';
import { startServer, type Tap } from '../helpers/server.js';

async function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Prometheus text → { 'name{a="x",b="y"}': value } (labels sorted), and the names with a # TYPE line. */
function parse(text: string): { values: Map<string, number>; types: Map<string, string> } {
  const values = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = m[2] ? [...m[2].matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}="${l[2]}"`).sort() : [];
    values.set(labels.length ? `${m[1]}{${labels.join(',')}}` : m[1]!, Number(m[3]));
  }
  return { values, types };
}

/** The payload bytes the test's clients sent, and the clients (whose received frames are re-encoded to count theirs). */
const wire = { sent: 0, clients: [] as RawClient[] };
/** Bytes the clients received: the server's JSON re-encoded is the same text (plain keys, whole numbers). */
const received = () => wire.clients.reduce((n, c) => n + c.frames.reduce((m, f) => m + Buffer.byteLength(JSON.stringify(f)), 0), 0);
async function client(t: Tap, url: string): Promise<RawClient> {
  const c = await RawClient.connect(url, { welcome: false });
  wire.clients.push(c);
  const send = c.ws.send.bind(c.ws);
  c.ws.send = ((data: string, ...rest: unknown[]) => {
    wire.sent += Buffer.byteLength(data);
    return (send as (...a: unknown[]) => void)(data, ...rest);
  }) as typeof c.ws.send;
  c.welcome = await c.next('welcome');
  t.teardown(() => c.close());
  return c;
}

t.test('a scrape of /metrics after a scripted session counts what was sent (issue 11 "done when")', async (t) => {
  const { server, url } = await startServer(t, { metrics: { enabled: true, roomPatterns: ['jobs'] } });
  const N = 5;
  const M = 3;
  const members = [];
  for (let i = 0; i < M; i++) {
    const m = await client(t, url);
    t.match(await m.request({ type: 'join', room: 'chat' }), { type: 'joined' });
    members.push(m);
  }
  const pub = await client(t, url);
  for (let i = 0; i < N; i++) t.match(await pub.request({ type: 'emit', room: 'chat', event: 'msg', data: { i } }), { type: 'ack' });
  for (const m of members) await m.collect((f) => f.type === 'event', N);

  // A bad frame: not JSON.
  pub.ws.send('this is not json');
  const bad = await pub.next('error');

  // A late joiner replays the N stored messages.
  const late = await client(t, url);
  t.match(await late.request({ type: 'join', room: 'chat', since: 0 }), { type: 'joined' });
  await late.collect((f) => f.type === 'event' && f.replay === true, N);

  // A volatile emit reaches the M + 1 live members.
  t.match(await pub.request({ type: 'emit', room: 'chat', event: 'typing', volatile: true }), { type: 'ack' });
  for (const m of [...members, late]) await m.next((f) => f.type === 'event' && f.event === 'typing');

  // A group: offset 1 is nacked (redelivered as attempt 2), then nacked without requeue (dead-lettered); offset 2 stays unacked.
  const worker = await client(t, url);
  t.match(await worker.request({ type: 'join', room: 'jobs', group: 'workers' }), { type: 'joined' });
  for (const i of [1, 2]) t.match(await pub.request({ type: 'emit', room: 'jobs', event: 'job', data: { i } }), { type: 'ack' });
  const first = await worker.next((f: Frame) => f.type === 'event' && f.offset === 1 && f.attempt === 1);
  await worker.next((f: Frame) => f.type === 'event' && f.offset === 2 && f.attempt === 1);
  worker.send({ type: 'nack', id: first.id });
  const again = await worker.next((f: Frame) => f.type === 'event' && f.offset === 1 && f.attempt === 2);
  worker.send({ type: 'nack', id: again.id, requeue: false });

  // Counters of the dead letter and the lag settle once its commit is done: scrape until then (bounded).
  let scrape = parse('');
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = await get(server.port, '/metrics');
    t.equal(r.status, 200);
    scrape = parse(r.body);
    if (scrape.values.get('wsq_dead_lettered_total') === 1 && scrape.values.get('wsq_consumer_lag_messages{consumer="group:workers",ns="/",room="jobs"}') === 1) break;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  const v = (k: string) => scrape.values.get(k);
  const clients = M + 3; // members, publisher, late joiner, worker

  t.equal(v('wsq_connections'), clients, 'connections');
  t.equal(v('wsq_namespaces'), 1, 'namespaces');
  t.equal(v('wsq_rooms'), 1, 'rooms with live members (the group member is not a live member)');
  t.equal(v('wsq_room_members'), M + 1, 'members');
  t.equal(v('wsq_frames_in_total{type="join"}'), M + 2, 'join frames in');
  t.equal(v('wsq_frames_in_total{type="emit"}'), N + 1 + 2, 'emit frames in');
  t.equal(v('wsq_frames_in_total{type="nack"}'), 2, 'nack frames in');
  t.equal(v('wsq_frames_in_total{type="invalid"}'), 1, 'invalid frames in');
  t.equal(v('wsq_frames_out_total{type="welcome"}'), clients, 'welcome frames out');
  t.equal(v('wsq_frames_out_total{type="joined"}'), M + 2, 'joined frames out');
  t.equal(v('wsq_frames_out_total{type="ack"}'), N + 1 + 2, 'ack frames out');
  t.equal(v('wsq_frames_out_total{type="error"}'), 1, 'error frames out');
  t.equal(v('wsq_frames_out_total{type="event"}'), N * M + N + (M + 1) + 3, 'event frames out: fan-out, replay, volatile, group deliveries');
  t.equal(v(`wsq_errors_sent_total{code="${bad.code}"}`), 1, `errors by code (${bad.code})`);
  t.equal(v('wsq_replayed_messages_total'), N, 'replayed');
  t.equal(v('wsq_redeliveries_total'), 1, 'redeliveries');
  t.equal(v('wsq_dead_lettered_total'), 1, 'dead-lettered');
  t.equal(v('wsq_acks_pending'), 1, 'acks pending (offset 2)');
  t.equal(v('wsq_volatile_dropped_total'), 0, 'no volatile frame dropped (every reader keeps up)');
  t.equal(v('wsq_slow_consumer_disconnects_total'), 0, 'no slow-consumer disconnect');
  t.equal(v('wsq_consumer_lag_messages{consumer="group:workers",ns="/",room="jobs"}'), 1, 'lag of the opted-in group: committed 2 - floor 1');
  t.equal(v('wsq_consumer_lag_messages_other'), 0, 'no other consumers');
  t.equal(v('wsq_bytes_in_total'), wire.sent, 'bytes in = payload bytes the clients sent');
  t.equal(v('wsq_bytes_out_total'), received(), 'bytes out = payload bytes the clients received');
  t.ok((v('wsq_store_commit_seconds_count') ?? 0) >= N + 2, 'a commit latency sample per append');
  t.equal(scrape.types.get('wsq_store_commit_seconds'), 'histogram');
  t.ok(v('wsq_event_loop_delay_seconds{quantile="0.99"}') !== undefined, 'event-loop delay p99');
});

t.test('two servers in one process keep their own metrics', async (t) => {
  const a = await startServer(t);
  const b = await startServer(t);
  await client(t, a.url);
  const pa = parse((await get(a.server.port, '/metrics')).body);
  const pb = parse((await get(b.server.port, '/metrics')).body);
  t.equal(pa.values.get('wsq_connections'), 1);
  t.equal(pb.values.get('wsq_connections'), 0);
});

t.test('metrics.enabled: false leaves /metrics unrouted (426 like any other path)', async (t) => {
  const { server } = await startServer(t, { metrics: { enabled: false } });
  t.equal((await get(server.port, '/metrics')).status, 426);
  t.equal(server.metrics, undefined);
});

t.test('a bad metrics option names the key', async (t) => {
  const { WsqServer } = await import('../../lib/index.js');
  t.throws(() => new WsqServer({ metrics: { roomPatterns: [''] } }), /metrics\.roomPatterns/);
});

t.test('a backed-up reader: volatile frames dropped, then a 4002 slow-consumer close, both counted', async (t) => {
  const { server, url } = await startServer(t, { volatileHighWater: 0, maxBufferedBytes: 4 * 1024 * 1024 });
  const scrape = async () => parse((await get(server.port, '/metrics')).body).values;
  const reader = await client(t, url);
  t.match(await reader.request({ type: 'join', room: 'flood' }), { type: 'joined' });
  const raw = (reader.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  raw.pause(); // reads nothing: the kernel buffers fill, then the server's queue grows
  const pub = await client(t, url);
  const big = 'x'.repeat(32 * 1024);
  let volatiles = 0;
  let m = await scrape();
  for (let i = 0; i < 2000 && !m.get('wsq_volatile_dropped_total'); i++) {
    await pub.request({ type: 'emit', room: 'flood', event: 'big', data: big });
    await pub.request({ type: 'emit', room: 'flood', event: 'tick', volatile: true });
    volatiles++;
    if (i % 8 === 7) m = await scrape();
  }
  m = await scrape();
  const dropped = m.get('wsq_volatile_dropped_total') ?? 0;
  t.ok(dropped >= 1, `volatile frames dropped for the backed-up reader (${dropped} of ${volatiles})`);
  t.equal(m.get('wsq_slow_consumer_disconnects_total'), 0, 'not closed yet');
  for (let i = 0; i < 2000 && !m.get('wsq_slow_consumer_disconnects_total'); i++) {
    await pub.request({ type: 'emit', room: 'flood', event: 'big', data: big });
    if (i % 8 === 7) m = await scrape();
  }
  m = await scrape();
  t.equal(m.get('wsq_slow_consumer_disconnects_total'), 1, 'one 4002 slow-consumer close');
  raw.resume();
  t.equal((await reader.closed).code, 4002, 'the reader, reading again, finds the 4002 close');
  const ticks = reader.seen((f) => f.type === 'event' && f.event === 'tick').length;
  t.equal(ticks + dropped, volatiles, 'every volatile emit was either delivered or counted as dropped');
});
