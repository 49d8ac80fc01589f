/**
 * Issue 9 item 1 in the server library (`new WsqServer({ redis: { url, prefix } })`) and decision 6:
 * two servers in this process on the system Redis (a prefix of their own) share a room; each has a
 * node id, shown in `/healthz` and `/readyz` and on every log line; `close()` releases the Redis
 * connections. Decision 1 with the real Redis adapter: over a node-local store it is refused.
 */
import t from 'tap';
import { redisAdapter } from '../../lib/adapter/redis.js';
import { RedisBus } from '../../lib/redis/bus.js';
import { retentionResolver } from '../../lib/retention.js';
import { WsqServer } from '../../lib/server.js';
import { MemoryStore } from '../../lib/store/memory.js';
import { freePort } from '../helpers/redis-server.js';
import { client, eventsOf, getJson, join, publish, SYSTEM_REDIS, testPrefix, until } from './nodes.js';

t.test('issue 9 item 1: the redis option of the library: two servers share a room; node ids in /healthz, /readyz and log lines', async (tt) => {
  const prefix = testPrefix(tt);
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const servers = [0, 1].map(
    () =>
      new WsqServer({
        namespaces: 'any',
        redis: { url: SYSTEM_REDIS, prefix },
        log: { level: 'info' },
        logger: (level, msg, _err, fields) => lines.push({ level, msg, ...(fields ? { fields } : {}) }),
      }),
  );
  for (const s of servers) {
    await s.listen({ port: 0, host: '127.0.0.1' });
    tt.teardown(() => s.close());
  }
  tt.not(servers[0]!.nodeId, servers[1]!.nodeId, 'each server has its own node id');
  for (const s of servers) {
    const ready = await until(`/readyz 200 on ${s.nodeId}`, async () => {
      const r = await getJson(s.port, '/readyz');
      return r.status === 200 ? r : undefined;
    });
    tt.same(ready.body, { status: 'ready', nodeId: s.nodeId }, '/readyz names the node');
    tt.same((await getJson(s.port, '/healthz')).body, { status: 'ok', nodeId: s.nodeId }, '/healthz names the node');
  }
  tt.equal(servers[0]!.store.kind, 'redis', 'the Redis store');
  tt.ok((servers[0]!.store as { shared?: boolean }).shared, 'shared by every node');
  const connected = lines.filter((l) => l.msg === 'redis: connected');
  tt.same(new Set(connected.map((l) => l.fields?.node)), new Set(servers.map((s) => s.nodeId)), 'each node logged "redis: connected" with its node id');
  tt.ok(
    lines.every((l) => typeof l.fields?.node === 'string'),
    'every log line carries the node id',
  );

  const member = await client(tt, servers[1]!.url);
  await join(member, 'lib');
  const pub = await client(tt, servers[0]!.url);
  const ack = await publish(pub, 'lib', 'hello');
  const [ev] = await eventsOf(member, 'lib', 1);
  tt.same([ev!.offset, ev!.epoch, ev!.data], [ack.offset, ack.epoch, 'hello'], 'a stored emit on one server reaches a member on the other');
});

t.test('decision 1: the Redis adapter over a node-local store is refused at construction', async (tt) => {
  const bus = new RedisBus({ url: SYSTEM_REDIS, prefix: testPrefix(tt) });
  tt.teardown(() => bus.close());
  const store = new MemoryStore({ retention: retentionResolver() });
  tt.teardown(() => store.close());
  tt.throws(() => new WsqServer({ adapter: redisAdapter(bus), store, logger: () => {} }), {
    name: 'ConfigError',
    message: /a cross-node adapter needs a store every node shares, but the store is the node-local memory store/,
  });
});

t.test('decision 6: a node whose Redis never answers starts, says so once in its log, and /readyz answers 503 "redis: …"', async (tt) => {
  const port = await freePort(); // nothing listens there
  const lines: string[] = [];
  const server = new WsqServer({ redis: { url: `redis://127.0.0.1:${port}`, prefix: 'wsq-test-none:' }, log: { level: 'info' }, logger: (_l, msg) => lines.push(msg) });
  await server.listen({ port: 0, host: '127.0.0.1' });
  tt.teardown(() => server.close());
  const r = await getJson(server.port, '/readyz');
  tt.equal(r.status, 503);
  tt.ok(
    (r.body.reasons as string[]).some((x) => x.startsWith('redis: ') && x.includes(`redis://127.0.0.1:${port}`)),
    `/readyz: ${JSON.stringify(r.body.reasons)}`,
  );
  await until('the "not reachable yet" line', () => (lines.some((m) => /^redis: not reachable yet/.test(m)) ? true : undefined), 10_000);
  tt.equal(lines.filter((m) => /^redis: not reachable yet/.test(m)).length, 1, 'said once');
  // R5.8.4: meanwhile a client is welcomed at once and a stored emit is answered `unavailable`,
  // not held until a subscribe times out and then answered `internal`.
  const t0 = Date.now();
  const c = await client(tt, `ws://127.0.0.1:${server.port}/`);
  const reply = await c.request({ type: 'emit', room: 'r', event: 'm', data: 1 }, 4000);
  tt.match(reply, { type: 'error', code: 'unavailable' }, 'the emit is refused as unavailable');
  tt.ok(Date.now() - t0 < 4000, `welcome and the answer came in ${Date.now() - t0} ms`);
});
