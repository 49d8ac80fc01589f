/**
 * Reconnect and resume through a real TCP proxy that the tests cut and restore: nothing
 * stored is lost, nothing is seen twice, and gaps are reported instead of hidden.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import type { Proxy } from '../helpers/proxy.js';
import type { GapInfo, JoinedInfo, WsqClient } from '../../lib/client/index.js';
import { client, next, startProxied, within } from './util.js';

/** Cut the proxy and restore it once every client given has seen its connection close. */
async function blip(proxy: Proxy, clients: WsqClient[]): Promise<void> {
  const closed = clients.map((c) => next(c, 'close', 5000));
  proxy.cut();
  await Promise.all(closed);
  proxy.restore();
}

t.test('THE acceptance test: 10 cuts while 10,000 messages are published; the handler sees each once, in offset order', async (t) => {
  const N = 10_000;
  const CUTS = 10;
  const { url, proxy } = await startProxied(t, { retention: { maxMessages: 20_000 } });
  const sub = client(t, proxy.url, { client: 'subscriber' });
  const pub = client(t, url, { client: 'publisher' });

  let reconnects = 0;
  sub.on('reconnected', () => reconnects++);
  const gaps: GapInfo[] = [];
  const room = sub.join<{ tick: number }>('ticks');
  room.on('gap', (g) => gaps.push(g));

  const offsets: number[] = [];
  const values: number[] = [];
  let cuts = 0;
  // Cut k (k = 0..9) happens when the subscriber has seen 500 + 1000k messages; the
  // publisher starts round k + 1 only after cut k, so every cut lands mid-publishing.
  const cutDone: (() => void)[] = [];
  const cutHappened = Array.from({ length: CUTS }, (_, k) => new Promise<void>((r) => (cutDone[k] = r)));
  let allSeen!: () => void;
  const finished = new Promise<void>((r) => (allSeen = r));
  room.on('tick', (value, msg) => {
    offsets.push(msg.offset!);
    values.push(value);
    if (cuts < CUTS && offsets.length === 500 + 1000 * cuts) {
      void blip(proxy, [sub]).then(cutDone[cuts]);
      cuts++;
    }
    if (offsets.length === N) allSeen();
  });
  await room.ready();

  const ROUND = N / CUTS;
  for (let round = 0; round < CUTS; round++) {
    if (round > 0) await within(cutHappened[round - 1]!, 20_000, `cut ${round}`);
    const acks: Promise<unknown>[] = [];
    for (let i = round * ROUND; i < (round + 1) * ROUND; i++) {
      acks.push(pub.emitWithAck('tick', i, { room: 'ticks', key: `t-${i}` }));
      if (acks.length >= 200) await Promise.all(acks.splice(0));
    }
    await Promise.all(acks);
  }
  await within(finished, 60_000, 'all 10,000 seen');
  await within(cutHappened[CUTS - 1]!, 20_000, 'the last cut restored');

  t.equal(cuts, CUTS, 'ten cuts');
  t.equal(offsets.length, N, 'ten thousand deliveries');
  let inOrder = true;
  for (let i = 0; i < N; i++) if (offsets[i] !== i + 1 || values[i] !== i) inOrder = false;
  t.ok(inOrder, 'offsets 1..10000, each once, in order, with their values');
  t.equal(new Set(offsets).size, N, 'no duplicates');
  t.same(gaps, [], 'no gap reported');
  await within(new Promise<void>((r) => (reconnects >= CUTS ? r() : sub.on('reconnected', () => reconnects >= CUTS && r()))), 5000, 'reconnected events');
  t.equal(reconnects, CUTS, 'reconnected after each cut');
  t.ok(proxy.accepted >= CUTS + 1, `the subscriber connected ${proxy.accepted} times`);
});

t.test('reconnect while a publisher keeps sending through the proxy: keyed emits are resent, stored once', async (t) => {
  const N = 2000;
  const { proxy } = await startProxied(t);
  const sub = client(t, proxy.url);
  const pub = client(t, proxy.url);
  const room = sub.join('feed');
  const seen: number[] = [];
  const offsets: number[] = [];
  let allSeen!: () => void;
  const finished = new Promise<void>((r) => (allSeen = r));
  const cuts: Promise<void>[] = [];
  room.on('n', (value: number, msg) => {
    seen.push(value);
    offsets.push(msg.offset!);
    // Cut both connections at five points; each time the publisher has emits in flight.
    if (seen.length % 350 === 0 && cuts.length < 5) cuts.push(blip(proxy, [sub, pub]));
    if (seen.length === N) allSeen();
  });
  await room.ready();
  let pubDrops = 0;
  pub.on('close', () => pubDrops++);

  const acks: Promise<{ duplicate: boolean }>[] = [];
  for (let i = 0; i < N; i++) {
    acks.push(pub.emitWithAck('n', i, { room: 'feed', key: `n-${i}`, timeoutMs: 30_000 }));
    if (i % 50 === 49) await Promise.all(acks.slice(-50)); // keep sending, 50 in flight at most
  }
  const results = await within(Promise.all(acks), 30_000, 'every emit acked');
  await within(finished, 30_000, 'every message seen');
  await Promise.all(cuts);

  t.equal(cuts.length, 5, 'five cuts');
  t.ok(pubDrops >= 5, `the publisher lost its connection ${pubDrops} times`);
  t.same(
    seen,
    Array.from({ length: N }, (_, i) => i),
    'every message once, in publishing order',
  );
  t.same(
    offsets,
    Array.from({ length: N }, (_, i) => i + 1),
    'and in offset order, no offset skipped',
  );
  const dups = results.filter((r) => r.duplicate).length;
  t.comment(`${dups} resent emits were recognized as duplicates by the server`);
  t.equal(pub.outboxSize, 0);
});

t.test('rejoin resumes from the last offset: `recovered` after a cut, nothing lost', async (t) => {
  const { url, proxy } = await startProxied(t);
  const sub = client(t, proxy.url);
  const pub = client(t, url);
  const room = sub.join('r');
  const joins: JoinedInfo[] = [];
  room.on('joined', (j) => joins.push(j));
  await room.ready();
  const first = next(room, 'm');
  await pub.emitWithAck('m', 1, { room: 'r' });
  await first;

  const closed = next(sub, 'close');
  proxy.cut();
  t.equal(((await closed) as { willReconnect: boolean }).willReconnect, true);
  for (let i = 2; i <= 5; i++) await pub.emitWithAck('m', i, { room: 'r' }); // missed while away
  const recovered = next<JoinedInfo>(room, 'recovered');
  const got: number[] = [];
  const four = new Promise<void>((r) => room.on('m', (v: number) => got.push(v) === 4 && r()));
  proxy.restore();
  const info = await within(recovered, 5000, 'recovered');
  t.equal(info.resumed, true);
  t.same(info.replay, { from: 2, to: 5, count: 4 });
  await within(four, 5000, 'replayed');
  t.same(got, [2, 3, 4, 5]);
  t.equal(joins.length, 2);
});

t.test('a gap is reported when retention trimmed what the subscriber missed', async (t) => {
  const { url, proxy } = await startProxied(t, { retention: { maxMessages: 5 } });
  const sub = client(t, proxy.url);
  const pub = client(t, url);
  const room = sub.join('r');
  await room.ready();
  const two = new Promise<void>((r) => room.on('m', (v: number) => v === 2 && r()));
  await pub.emitWithAck('m', 1, { room: 'r' });
  await pub.emitWithAck('m', 2, { room: 'r' });
  await within(two, 5000, 'two live');

  const closed = next(sub, 'close');
  proxy.cut();
  await closed;
  for (let i = 3; i <= 22; i++) await pub.emitWithAck('m', i, { room: 'r' }); // 18..22 kept
  const gap = next<GapInfo>(room, 'gap');
  const got: number[] = [];
  const five = new Promise<void>((r) => room.on('m', (v: number) => got.push(v) === 5 && r()));
  proxy.restore();
  const g = await within(gap, 5000, 'gap');
  t.same({ requested: g.requested, earliest: g.earliest, latest: g.latest, epochChanged: g.epochChanged }, { requested: 2, earliest: 18, latest: 22, epochChanged: false });
  await within(five, 5000, 'what is left');
  t.same(got, [18, 19, 20, 21, 22], 'then the messages that are left');
});

t.test('a server restart (memory store): a new epoch is a gap, and the client follows the new log', async (t) => {
  const first = await startServer(t);
  const port = first.server.port;
  const sub = client(t, first.url);
  const pub = client(t, first.url);
  const room = sub.join('r');
  await room.ready();
  const one = next(room, 'm');
  await pub.emitWithAck('m', 'old', { room: 'r' });
  await one;
  const oldEpoch = room.position!.epoch;

  const gap = next<GapInfo>(room, 'gap', 10_000);
  await first.server.close();
  const { WsqServer } = await import('../../lib/index.js');
  const second = new WsqServer({ namespaces: 'any', logger: () => {} });
  await second.listen({ port, host: '127.0.0.1' });
  t.teardown(() => second.close());
  const g = await gap;
  t.equal(g.epochChanged, true);
  t.not(g.epoch, oldEpoch);
  await within(pub.ready(), 10_000, 'publisher back');
  const fresh = next(room, 'm');
  await pub.emitWithAck('m', 'new', { room: 'r' });
  t.equal(await fresh, 'new', 'offset 1 of the new epoch is not mistaken for a duplicate');
  t.same(room.position, { since: 1, epoch: g.epoch });
});

t.test('a server restart with the disk store: the client resumes with nothing lost', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { WsqServer, LmdbStore } = await import('../../lib/index.js');
  const { retentionResolver } = await import('../../lib/retention.js');
  const dir = mkdtempSync(join(tmpdir(), 'wsq-client-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const start = async (port: number) => {
    const server = new WsqServer({ namespaces: 'any', logger: () => {}, store: new LmdbStore(dir, { retention: retentionResolver() }) });
    await server.listen({ port, host: '127.0.0.1' });
    return server;
  };
  let server = await start(0);
  const port = server.port;
  t.teardown(() => server.close());
  const sub = client(t, server.url);
  const pub = client(t, server.url);
  const room = sub.join('r');
  await room.ready();
  const got: string[] = [];
  let want = 1;
  let reached: () => void = () => {};
  room.on('m', (v: string) => {
    got.push(v);
    if (got.length === want) reached();
  });
  const firstSeen = new Promise<void>((r) => (reached = r));
  await pub.emitWithAck('m', 'before', { room: 'r' });
  await within(firstSeen, 5000, 'first');

  // Stop the subscriber's server-side view: restart the server while the publisher adds more.
  await server.close();
  server = await start(port);
  await within(pub.ready(), 10_000, 'publisher back');
  want = 3;
  const all = new Promise<void>((r) => (reached = r));
  await pub.emitWithAck('m', 'after-1', { room: 'r' });
  await pub.emitWithAck('m', 'after-2', { room: 'r' });
  let gaps = 0;
  room.on('gap', () => gaps++);
  await within(all, 10_000, 'resumed');
  t.same(got, ['before', 'after-1', 'after-2']);
  t.equal(gaps, 0, 'same epoch on disk: no gap');
});

t.test('a later session resumes from a saved position (since + epoch); a stale epoch is a gap', async (t) => {
  const { url } = await startServer(t);
  const pub = client(t, url);
  for (let i = 1; i <= 3; i++) await pub.emitWithAck('m', i, { room: 'r' });
  const first = client(t, url);
  const room = first.join('r', { since: 'earliest' });
  const three = new Promise<void>((r) => room.on('m', (v: number) => v === 3 && r()));
  await within(three, 5000, 'three');
  const saved = room.position!;
  t.same(saved.since, 3);
  await first.close();
  for (let i = 4; i <= 5; i++) await pub.emitWithAck('m', i, { room: 'r' });

  const later = client(t, url);
  const resumed = later.join('r', saved);
  const got: number[] = [];
  const two = new Promise<void>((r) => resumed.on('m', (v: number) => got.push(v) === 2 && r()));
  const info = await resumed.ready();
  t.equal(info.recovered, true);
  await within(two, 5000, 'the two newer ones');
  t.same(got, [4, 5]);

  const stale = client(t, url).join('r', { since: 3, epoch: 'not-this-log' });
  const gap = await within(next<GapInfo>(stale, 'gap'), 5000, 'gap');
  t.equal(gap.epochChanged, true);
  t.equal(gap.earliest, 1);
});
