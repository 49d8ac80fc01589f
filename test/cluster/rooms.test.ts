/**
 * Issue 9 item 5 over real Redis, each node a separate `wsq serve --redis …` process (the system
 * Redis, a key prefix per test): a room's members spread over three nodes get every message once
 * and in order; a client that reconnects to another node resumes with `since` and misses nothing;
 * a consumer group whose members sit on different nodes gets each message once. One set of three
 * nodes serves every test of this file (each test uses its own rooms), to keep the suite short.
 */
import { Redis } from 'ioredis';
import t from 'tap';
import type { RawClient } from '../helpers/raw-client.js';
import { client, events, eventsOf, join, publish, startNodes, SYSTEM_REDIS, testPrefix, until } from './nodes.js';

/** The offsets of a client's stored events of a room, in arrival order. */
const offsets = (c: RawClient, room: string): number[] => events(c, room).map((f) => f.offset as number);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const prefix = testPrefix(t);
const nodes = await startNodes(t, 3, SYSTEM_REDIS, prefix);

t.test('issue 9 item 5: three nodes, members of one room spread across them: every message delivered once and in order (publishers on two nodes)', async (tt) => {
  tt.equal(new Set(nodes.map((n) => n.nodeId)).size, 3, 'three node ids');
  const members: RawClient[] = [];
  for (const n of nodes) for (let i = 0; i < 2; i++) members.push(await client(tt, n.url));
  const joined = await Promise.all(members.map((c) => join(c, 'chat')));
  tt.equal(new Set(joined.map((j) => j.epoch)).size, 1, 'every node names the same epoch for the room');
  const pubA = await client(tt, nodes[0]!.url);
  const pubB = await client(tt, nodes[1]!.url);
  const N = 30;
  const acks = await Promise.all([...range(1, N).map((i) => publish(pubA, 'chat', { p: 'A', i })), ...range(1, N).map((i) => publish(pubB, 'chat', { p: 'B', i }))]);
  tt.same(
    acks.map((a) => a.offset).sort((x, y) => x - y),
    range(1, 2 * N),
    'the two publishers on two nodes got offsets 1..60 from one counter',
  );
  for (const [i, c] of members.entries()) {
    await eventsOf(c, 'chat', 2 * N);
    await c.sync();
    tt.same(offsets(c, 'chat'), range(1, 2 * N), `member ${i} (node ${Math.floor(i / 2)}): each offset once, in order`);
    const byPub = (p: string) =>
      events(c, 'chat')
        .filter((f) => f.data.p === p)
        .map((f) => f.data.i);
    tt.same(byPub('A'), range(1, N), `member ${i}: A's messages in A's order`);
    tt.same(byPub('B'), range(1, N), `member ${i}: B's messages in B's order`);
  }
});

t.test('issue 9 item 5: a client that reconnects to a different node resumes with since and misses nothing', async (tt) => {
  const [a, b, c] = nodes;
  const pub = await client(tt, c!.url);
  const first = await client(tt, a!.url);
  const j = await join(first, 'feed');
  for (let i = 1; i <= 10; i++) await publish(pub, 'feed', i);
  const seen = await eventsOf(first, 'feed', 10);
  const last = seen.at(-1)!;
  await first.close();
  for (let i = 11; i <= 20; i++) await publish(pub, 'feed', i); // while the client is away
  const again = await client(tt, b!.url);
  const r = await join(again, 'feed', { since: last.offset, epoch: j.epoch });
  tt.equal(r.recovered, true, 'recovered on the other node');
  tt.same(r.replay, { from: 11, to: 20, count: 10 }, 'the replay is exactly what it missed');
  for (let i = 21; i <= 25; i++) await publish(pub, 'feed', i); // live after the replay
  await eventsOf(again, 'feed', 15);
  await again.sync();
  tt.same(offsets(again, 'feed'), range(11, 25), 'replay then live, no gap, no duplicate');
  tt.same(
    events(again, 'feed').map((f) => f.replay === true),
    [...range(11, 20).map(() => true), ...range(21, 25).map(() => false)],
    'exactly the replayed events carry replay: true',
  );
});

t.test('issue 9 item 5: a group whose members sit on different nodes gets each message once', async (tt) => {
  const members = await Promise.all(nodes.map((n) => client(tt, n.url)));
  await Promise.all(members.map((m) => join(m, 'jobs', { group: 'workers', prefetch: 5 })));
  // Every member acks each delivery as it comes.
  for (const m of members) {
    m.ws.on('message', (d: Buffer) => {
      const f = JSON.parse(d.toString());
      if (f.type === 'event' && f.room === 'jobs' && f.id !== undefined) m.send({ type: 'ack', id: f.id });
    });
  }
  const pub = await client(tt, nodes[0]!.url);
  const N = 60;
  await Promise.all(range(1, N).map((i) => publish(pub, 'jobs', i)));
  const delivered = (): number[] => members.flatMap((m) => offsets(m, 'jobs'));
  await until(`${N} group deliveries`, () => (delivered().length >= N ? true : undefined), 15_000);
  for (const m of members) await m.sync();
  tt.same(
    delivered().sort((x, y) => x - y),
    range(1, N),
    'each message went to exactly one member of the group',
  );
  tt.ok(
    members.flatMap((m) => events(m, 'jobs')).every((f) => f.attempt === 1),
    'no redelivery: every delivery is attempt 1',
  );
  tt.comment(`deliveries per node: ${members.map((m) => offsets(m, 'jobs').length).join(', ')}`);
});

t.test('issue 9 item 5: SIGTERM on a node on Redis: it exits 0 and leaves no Redis connection behind; the others carry on', async (tt) => {
  const [a, b, c] = nodes;
  const redis = new Redis(SYSTEM_REDIS, { maxRetriesPerRequest: 1 });
  tt.teardown(() => redis.disconnect());
  const named = async (): Promise<string[]> =>
    ((await redis.client('LIST')) as string)
      .split('\n')
      .map((l) => /name=(\S*)/.exec(l)?.[1] ?? '')
      .filter((n) => n.includes(c!.nodeId));
  tt.ok((await named()).length >= 2, `node C holds its connections: ${(await named()).join(', ')}`);
  process.kill(c!.proc.pid!, 'SIGTERM');
  const exit = await Promise.race([c!.exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 15_000))]);
  tt.same(exit, { code: 0, signal: null }, 'exit 0 after SIGTERM');
  await until('node C connections gone', async () => ((await named()).length === 0 ? true : undefined), 5000);
  tt.pass('no Redis connection of node C is left');
  const member = await client(tt, b!.url);
  await join(member, 'after-c');
  const pub = await client(tt, a!.url);
  const ack = await publish(pub, 'after-c', 'still here');
  const [ev] = await eventsOf(member, 'after-c', 1);
  tt.equal(ev!.offset, ack.offset, 'A and B carry on');
});
