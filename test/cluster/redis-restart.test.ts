/**
 * Issue 9 items 4 and 5: Redis restarted under running nodes (each a separate `wsq serve --redis …`
 * process). An own redis-server (test/helpers/redis-server.ts), never the system one:
 * - with `--appendonly yes --appendfsync always`, SIGKILLed and restarted on the same port and
 *   directory: the nodes log the outage and the recovery, `/readyz` answers 503 "redis: …"
 *   meanwhile, writes are refused with `unavailable` (nothing half-stored), and then they carry on:
 *   same epoch, the next offsets, live members get everything in order, nothing acked is lost;
 * - without persistence: after the restart the room's log is gone and the epoch changes, so a
 *   client resuming with the old epoch is told (`recovered: false`, R5.3.1 row 3).
 */
import t from 'tap';
import type { RawClient } from '../helpers/raw-client.js';
import { startRedis } from '../helpers/redis-server.js';
import { client, events, getJson, join, logLine, publish, startNodes, testPrefix, until } from './nodes.js';

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const offsets = (c: RawClient, room: string): number[] => events(c, room).map((f) => f.offset as number);

t.test('issue 9 item 5: Redis (appendfsync always) killed and restarted: nodes say so in logs and /readyz, then carry on; nothing acked is lost', async (tt) => {
  const redis = await startRedis(tt, { persistent: true });
  const prefix = testPrefix(tt, redis.url);
  const nodes = await startNodes(tt, 2, redis.url, prefix, ['--redis-durable']);
  for (const n of nodes) await logLine(n, /"msg":"redis: connected"/);
  const [m1, m2] = await Promise.all(nodes.map((n) => client(tt, n.url)));
  const j = await join(m1!, 'r');
  await join(m2!, 'r');
  let pub = await client(tt, nodes[0]!.url);
  for (let i = 1; i <= 10; i++) await publish(pub, 'r', i);

  await redis.kill();
  for (const n of nodes) {
    await logLine(n, /"msg":"redis: unreachable/);
    const r = await until(`/readyz 503 on ${n.nodeId}`, async () => {
      const g = await getJson(n.port, '/readyz');
      return g.status === 503 ? g : undefined;
    });
    tt.equal(r.body.nodeId, n.nodeId, '/readyz names the node');
    tt.ok(
      (r.body.reasons as string[]).some((x) => /^redis: .*\(redis:\/\/127\.0\.0\.1:\d+, since /.test(x)),
      `node ${n.nodeId}: /readyz says "redis: <reason> (<url>, since …)" while Redis is down: ${JSON.stringify(r.body.reasons)}`,
    );
  }
  const refused = await pub.request({ type: 'emit', room: 'r', event: 'm', data: 'down', id: 'down' }, 10_000);
  tt.equal(refused.code, 'unavailable', 'a write while Redis is down is refused (unavailable), not acked');

  await redis.restart();
  for (const n of nodes) {
    await logLine(n, /"msg":"redis: reachable again/, 15_000);
    await until(`/readyz 200 on ${n.nodeId}`, async () => ((await getJson(n.port, '/readyz')).status === 200 ? true : undefined), 15_000);
  }
  tt.pass('both nodes logged the recovery and are ready again');
  if (pub.ws.readyState !== pub.ws.OPEN) pub = await client(tt, nodes[0]!.url);
  const acks = [];
  for (let i = 11; i <= 20; i++) acks.push(await publish(pub, 'r', i));
  tt.same(
    acks.map((a) => a.offset),
    range(11, 20),
    'offsets go on where they were',
  );
  tt.ok(
    acks.every((a) => a.epoch === j.epoch),
    'same epoch: the log survived the Redis crash',
  );
  for (const [i, m] of [m1!, m2!].entries()) {
    await until(`member ${i} got offset 20`, () => (offsets(m, 'r').at(-1) === 20 ? true : undefined), 15_000);
    tt.same(offsets(m, 'r'), range(1, 20), `live member on node ${i}: every offset once, in order, across the outage`);
  }
  const late = await client(tt, nodes[1]!.url);
  const r = await join(late, 'r', { since: 0, epoch: j.epoch });
  tt.same([r.recovered, r.replay], [true, { from: 1, to: 20, count: 20 }], 'a replay from 0 holds all 20 acked messages');
});

t.test('issue 9 item 4: a Redis without persistence restarted: the room log is gone and the epoch changes, so clients are told', async (tt) => {
  const redis = await startRedis(tt, { persistent: false });
  const prefix = testPrefix(tt, redis.url);
  const nodes = await startNodes(tt, 2, redis.url, prefix);
  for (const n of nodes) await logLine(n, /"msg":"redis: connected"/);
  const member = await client(tt, nodes[1]!.url);
  const j = await join(member, 'news');
  let pub = await client(tt, nodes[0]!.url);
  for (let i = 1; i <= 5; i++) await publish(pub, 'news', i);
  await until('member got 5', () => (offsets(member, 'news').length === 5 ? true : undefined));

  await redis.kill();
  await redis.restart();
  for (const n of nodes) await logLine(n, /"msg":"redis: reachable again/, 15_000);
  if (pub.ws.readyState !== pub.ws.OPEN) pub = await client(tt, nodes[0]!.url);
  const ack = await until(
    'a write is accepted again',
    async () => {
      const a = await pub.request({ type: 'emit', room: 'news', event: 'm', data: 'after', id: `after-${Date.now()}` }, 5000);
      return a.type === 'ack' ? a : undefined;
    },
    15_000,
  );
  tt.not(ack.epoch, j.epoch, 'a new epoch: the old log is gone');
  tt.equal(ack.offset, 1, 'offsets count from 1 again in the new epoch');
  const back = await client(tt, nodes[1]!.url);
  const r = await join(back, 'news', { since: 5, epoch: j.epoch });
  tt.equal(r.recovered, false, 'resuming with the old epoch: recovered false');
  tt.equal(r.epoch, ack.epoch, 'joined names the new epoch');
  tt.ok(r.gap, 'with a gap report');
  await until('the live member got the new-epoch message', () => (events(member, 'news').some((f) => f.epoch === ack.epoch) ? true : undefined), 15_000);
  tt.pass('the live member on the other node gets the new epoch live');
});
