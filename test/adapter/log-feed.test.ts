/**
 * Decision 3 of issue 9 (item 2): on a shared (Redis) store every node's RoomLog delivers what the
 * room's feed announces, to its own members only — a publish on any node reaches members on every
 * node once, in offset order; a node with no member gets no traffic for the room; a gap in the
 * feed is read from the store; a new epoch resets the log and is reported. Three simulated nodes
 * (own bus, own store each) on the system Redis, one fresh prefix per test.
 */
import t, { type Test } from 'tap';
import { roomChannel } from '../../lib/adapter/redis.js';
import type { WsqServer } from '../../lib/index.js';
import { redisKeys } from '../../lib/store/redis.js';
import { eventIn, offsets, range, waitFrames } from '../helpers/logs.js';
import type { RawClient } from '../helpers/raw-client.js';
import { rawClient, startServer } from '../helpers/server.js';
import { startRedis } from '../helpers/redis-server.js';
import { deletePrefix, simNodes } from './nodes.js';

/** Wait (bounded) until `cond` holds. */
async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Line {
  level: string;
  msg: string;
}

/** Three nodes: servers on port 0, each on its own bus and store; log lines kept per node. */
async function cluster(t: Test, n = 3): Promise<{ prefix: string; servers: WsqServer[]; urls: string[]; lines: Line[][]; sim: Awaited<ReturnType<typeof simNodes>> }> {
  const sim = await simNodes(n);
  t.teardown(sim.cleanup);
  const servers: WsqServer[] = [];
  const urls: string[] = [];
  const lines: Line[][] = [];
  for (const node of sim.nodes) {
    const mine: Line[] = [];
    lines.push(mine);
    const { server, url } = await startServer(t, { ...node.options, logger: (level: string, msg: string) => void mine.push({ level, msg }) });
    servers.push(server);
    urls.push(url);
  }
  return { prefix: sim.prefix, servers, urls, lines, sim };
}

/** A client on `url` joined (live) to `room`. */
async function member(t: Test, url: string, room: string): Promise<RawClient> {
  const c = await rawClient(t, url);
  const r = await c.request({ type: 'join', room });
  t.equal(r.type, 'joined', `joined ${room}`);
  return c;
}

t.test('issue 9 item 2, decision 3: publishes on every node reach members on every node exactly once, in offset order', async (t) => {
  const { servers, urls } = await cluster(t);
  const members: RawClient[] = [];
  for (const url of urls) for (let i = 0; i < 2; i++) members.push(await member(t, url, 'r'));
  const per = 20;
  // Every node publishes at once, interleaved: offsets come from the store, delivery from the feed.
  await Promise.all(servers.map((s, k) => Promise.all(range(1, per).map((i) => s.of('/').publish('r', 'm', { k, i })))));
  const total = per * servers.length;
  for (const [i, c] of members.entries()) {
    const got = await waitFrames(c, eventIn('r'), total);
    t.same(offsets(got), range(1, total), `member ${i} (node ${Math.floor(i / 2)}): every offset once, ascending`);
  }
  // Nothing more comes (a fence on each connection).
  for (const c of members) {
    await c.sync();
    t.equal(c.seen(eventIn('r')).length, total, 'no duplicate');
  }
});

t.test('issue 9 item 2: a node with no member of a room subscribes none of its channels and gets no traffic for it', async (t) => {
  const { prefix, servers, urls, sim } = await cluster(t);
  const a = await member(t, urls[0]!, 'r');
  const b = await member(t, urls[1]!, 'r');
  const idle = sim.nodes[2]!.bus;
  const before = idle.received;
  await servers[0]!.of('/').publish('r', 'stored', 1);
  servers[1]!.of('/').to('r').emit('live', 2);
  // Both reach both members (in either order: the stored one comes on the log feed, the live one on the adapter's channel).
  for (const c of [a, b]) await waitFrames(c, (f) => f.event === 'stored' || f.event === 'live', 2);
  t.notOk(idle.subscribed(roomChannel(prefix, '/', 'r')), 'node 2 does not subscribe the adapter room channel');
  t.notOk(idle.subscribed(redisKeys(prefix, '/', 'r').channel), "node 2 does not subscribe the room's log feed");
  t.equal(idle.received, before, 'node 2 received no message at all meanwhile');
  t.ok(sim.nodes[0]!.bus.subscribed(roomChannel(prefix, '/', 'r')), 'a node with a member does');
  void servers;
});

t.test('decision 3: a gap in the feed is read from the store — members still get every offset once, in order', async (t) => {
  const { prefix, servers, urls, sim } = await cluster(t, 2);
  const far = await member(t, urls[1]!, 'g');
  const feed = redisKeys(prefix, '/', 'g').channel;
  // Node 1's feed misses two messages (its subscriber connection leaves the channel behind the bus's back) …
  await sim.nodes[1]!.bus.sub.sunsubscribe(feed);
  await servers[0]!.of('/').publish('g', 'm', 1);
  await servers[0]!.of('/').publish('g', 'm', 2);
  await sim.nodes[1]!.bus.sub.ssubscribe(feed);
  // … and the next one shows the gap.
  await servers[0]!.of('/').publish('g', 'm', 3);
  const got = await waitFrames(far, eventIn('g'), 3);
  t.same(offsets(got), [1, 2, 3]);
  t.same(
    got.map((f) => f.data),
    [1, 2, 3],
  );
});

t.test('decision 3: the appending node resolves publish after its own members got the message; a lost feed message is read from the store', async (t) => {
  const { prefix, servers, urls, sim } = await cluster(t, 1);
  const c = await member(t, urls[0]!, 'own');
  await sim.nodes[0]!.bus.sub.sunsubscribe(redisKeys(prefix, '/', 'own').channel);
  const r = await servers[0]!.of('/').publish('own', 'solo', 'x');
  t.equal(r.offset, 1);
  t.match(await c.next((f) => f.event === 'solo'), { offset: 1, data: 'x' }, 'delivered although the feed never carried it');
});

t.test('decision 3, R5.3: a new epoch (Redis lost the log) resets the log on every node and is logged', async (t) => {
  const { prefix, servers, urls, lines, sim } = await cluster(t, 2);
  const near = await member(t, urls[0]!, 'e');
  const far = await member(t, urls[1]!, 'e');
  await servers[0]!.of('/').publish('e', 'old', 1);
  await servers[0]!.of('/').publish('e', 'old', 2);
  for (const c of [near, far]) await waitFrames(c, eventIn('e'), 2);
  const epoch = near.seen(eventIn('e'))[0]!.epoch as string;
  await deletePrefix(sim.nodes[0]!.bus, prefix); // what a restart of a Redis without persistence does
  await servers[1]!.of('/').publish('e', 'new', 3);
  for (const c of [near, far]) {
    const f = await c.next((x) => x.event === 'new');
    t.equal(f.offset, 1, 'offsets start again');
    t.not(f.epoch, epoch, 'under a new epoch');
  }
  for (const l of lines)
    t.ok(
      l.some((x) => /epoch changed/.test(x.msg)),
      'each node logs the epoch change',
    );
});

t.test('decision 3: Redis reconnect — the log re-reads its position and delivers what the feed missed', async (t) => {
  const { servers, urls, sim } = await cluster(t, 2);
  const far = await member(t, urls[1]!, 'rc');
  await servers[0]!.of('/').publish('rc', 'm', 1);
  await waitFrames(far, eventIn('rc'), 1);
  const bus = sim.nodes[1]!.bus;
  const down = new Promise((r) => bus.once('down', r));
  const up = new Promise((r) => bus.once('up', r));
  // Only this test's own connection: found by its name (wsq:<nodeId>:sub).
  const list = (await bus.cmd.client('LIST')) as string;
  const id = /^id=(\d+) .*name=(\S+)/gm;
  let sub: string | undefined;
  for (const m of list.matchAll(id)) if (m[2] === `wsq:${bus.nodeId}:sub`) sub = m[1];
  t.ok(sub, 'found the subscriber connection');
  await bus.cmd.client('KILL', 'ID', sub!);
  await down;
  await servers[0]!.of('/').publish('rc', 'm', 2);
  await servers[0]!.of('/').publish('rc', 'm', 3);
  await up;
  const got = await waitFrames(far, eventIn('rc'), 3);
  t.same(offsets(got), [1, 2, 3], 'missed while the subscriber was away, delivered after it came back');
});

t.test('issue 9 item 5 (Redis restarted), decision 3: logs made or broken while Redis is away load again when it is back; members carry on under the new epoch', async (t) => {
  const redis = await startRedis(t); // own redis-server without persistence: a restart is an empty Redis
  const sim = await simNodes(2, { url: redis.url });
  t.teardown(sim.cleanup);
  const a = await startServer(t, { ...sim.nodes[0]!.options, logger: () => {} });
  const linesB: string[] = [];
  const b = await startServer(t, { ...sim.nodes[1]!.options, logger: (_level: string, msg: string) => void linesB.push(msg) });
  const joined = await member(t, b.url, 'r'); // a live subscriber (its log loaded)
  await a.server.of('/').publish('r', 'before', 1);
  const first = await joined.next((f) => f.event === 'before');
  const late = await rawClient(t, b.url);
  await late.sync();
  const down = Promise.all(sim.nodes.map((n) => new Promise((r) => n.bus.once('down', r))));
  await redis.kill();
  await down;
  // While Redis is away an application joins a socket to a new room: its log cannot load yet.
  b.server.of('/').sockets.get(late.welcome.sid)!.join('later');
  const up = Promise.all(sim.nodes.map((n) => new Promise((r) => n.bus.once('up', r))));
  await redis.restart();
  await up;
  await until(async () => {
    const r = await a.server
      .of('/')
      .publish('later', 'after', 2)
      .then(() => true)
      .catch(() => false);
    return r;
  }, 'a publish succeeds again');
  t.match(await late.next((f) => f.event === 'after'), { room: 'later', offset: 1 }, 'the room joined while Redis was away gets its messages');
  // (Its load either waited for the feed's subscription, or failed on the position and was retried after the reconnect.)
  t.notOk(
    linesB.some((l) => /room "r".*failed/.test(l)),
    'the loaded log needed no retry',
  );
  await a.server.of('/').publish('r', 'again', 3);
  const again = await joined.next((f) => f.event === 'again');
  t.equal(again.offset, 1, 'the old room goes on at offset 1 …');
  t.not(again.epoch, first.epoch, '… of a new epoch');
});

t.test('decision 3, R4.5.2: a client publish on a shared store skips its sender (unless echo) and reaches members on the other nodes', async (t) => {
  const { urls } = await cluster(t, 2);
  const sender = await member(t, urls[0]!, 's');
  const near = await member(t, urls[0]!, 's');
  const far = await member(t, urls[1]!, 's');
  const r1 = await sender.request({ type: 'emit', room: 's', event: 'quiet', data: 1 });
  t.equal(r1.type, 'ack');
  const r2 = await sender.request({ type: 'emit', room: 's', event: 'loud', data: 2, echo: true });
  t.equal(r2.type, 'ack');
  for (const c of [near, far]) t.same(offsets(await waitFrames(c, eventIn('s'), 2)), [1, 2], 'members on both nodes get both');
  await sender.sync();
  t.match(
    sender.seen((f) => f.event === 'loud'),
    [{ offset: 2 }],
    'the echo reaches the sender (before its ack, as on one node)',
  );
  t.same(
    sender.seen((f) => f.event === 'quiet'),
    [],
    'without echo the sender does not get its own message',
  );
});
