/**
 * Issue 9 item 5: SIGKILL one node mid-stream (each node a separate `wsq serve --redis …` process on
 * the system Redis): its clients reconnect to another node and lose nothing acked — a live member
 * resumes with `since`/`epoch`, a durable consumer resumes from its stored cursor, the publisher
 * resends its unacked emit with the same idempotency key (stored once), a consumer group's
 * deliveries held by the dead node are claimed by a member on another node after the ack timeout
 * — and the members on the other nodes see every offset once, in order, throughout.
 */
import t from 'tap';
import type { Frame, RawClient } from '../helpers/raw-client.js';
import { client, events, join, killNode, startNodes, SYSTEM_REDIS, testPrefix, until } from './nodes.js';

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const offsets = (c: RawClient, room: string): number[] => events(c, room).map((f) => f.offset as number);

/** Send a keyed stored emit; resolves with the ack, or undefined when the connection closed first (the node died). */
async function emitOrClosed(c: RawClient, room: string, i: number): Promise<Frame | undefined> {
  const id = `e${i}`;
  c.send({ type: 'emit', room, event: 'm', data: i, key: `k${i}`, id });
  const r = await Promise.race([c.next((f) => f.id === id, 10_000), c.closed.then(() => undefined)]);
  if (r && r.type !== 'ack') throw new Error(`emit ${i}: ${JSON.stringify(r)}`);
  return r;
}

t.test('issue 9 item 5: SIGKILL one node mid-stream: its clients reconnect to another node and lose nothing acked', async (tt) => {
  const prefix = testPrefix(tt);
  const [a, b, c] = await startNodes(tt, 3, SYSTEM_REDIS, prefix, ['--ack-timeout-ms', '2000']);
  const room = 'stream';
  // A live member on each node; a durable consumer on the node that dies.
  const onA = await client(tt, a!.url);
  const onB = await client(tt, b!.url);
  const onC = await client(tt, c!.url);
  const j = await join(onA, room);
  await join(onB, room);
  await join(onC, room);
  const durableAcked = new Set<number>();
  const groupAcked = new Set<number>();
  const autoAck = (d: RawClient, into: Set<number>): void => {
    d.ws.on('message', (m: Buffer) => {
      const f = JSON.parse(m.toString());
      if (f.type === 'event' && f.room === room && f.id !== undefined) {
        d.send({ type: 'ack', id: f.id });
        into.add(f.offset);
      }
    });
  };
  const durA = await client(tt, `${a!.url}?client=worker-1`);
  autoAck(durA, durableAcked);
  await join(durA, room, { durable: true, prefetch: 10 });
  // A consumer group with a member on the node that dies and one on B.
  for (const n of [a!, b!]) {
    const g = await client(tt, n.url);
    autoAck(g, groupAcked);
    await join(g, room, { group: 'workers', prefetch: 5 });
  }

  // The publisher writes through the node that dies, then through another.
  let pub = await client(tt, a!.url);
  const acked = new Map<number, number>(); // i → offset
  const N = 40;
  const WINDOW = 5;
  const KILL_WINDOW = 11; // the kill goes out right after this window's emits: they are in flight when the node dies
  let killed: Promise<void> | undefined;
  let resent = 0;
  for (let w = 1; w <= N; w += WINDOW) {
    const batch = range(w, Math.min(N, w + WINDOW - 1));
    const pending = batch.map((i) => emitOrClosed(pub, room, i));
    if (w === KILL_WINDOW) killed = killNode(a!);
    const acks = await Promise.all(pending);
    for (const [k, i] of batch.entries()) {
      let ack = acks[k];
      if (!ack) {
        await killed;
        if (pub.ws.readyState !== pub.ws.OPEN) pub = await client(tt, b!.url);
        resent++;
        ack = await emitOrClosed(pub, room, i); // same key: stored once even if the dead node had stored it
      }
      acked.set(i, ack!.offset);
    }
  }
  tt.ok(killed, 'node A was killed mid-stream');
  tt.comment(`emits resent after the kill: ${resent}`);
  const last = Math.max(...acked.values());
  tt.same(
    [...acked.values()].sort((x, y) => x - y),
    range(1, N),
    'every message acked exactly once, offsets 1..N (a resend after the kill was a duplicate or a first store, never both)',
  );

  // The live member of the dead node reconnects to C and resumes with since/epoch.
  const seenOnA = offsets(onA, room);
  const resumed = await client(tt, c!.url);
  const r = await join(resumed, room, { since: seenOnA.at(-1) ?? 0, epoch: j.epoch });
  tt.equal(r.recovered, true, 'resumed on another node with nothing lost');
  await until('the resumed member caught up', () => ((offsets(resumed, room).at(-1) ?? seenOnA.at(-1)) === last ? true : undefined));
  tt.same([...seenOnA, ...offsets(resumed, room)], range(1, last), 'before the kill on A, then replay and live on C: each offset once, in order');

  // The durable consumer reconnects to B with the same identity and resumes from its stored cursor.
  const durB = await client(tt, `${b!.url}?client=worker-1`);
  autoAck(durB, durableAcked);
  await join(durB, room, { durable: true, prefetch: 10 });
  await until('the durable consumer acked everything', () => (range(1, last).every((o) => durableAcked.has(o)) ? true : undefined), 15_000);
  tt.pass('the durable consumer got every acked message (at least once)');
  await until('the group acked everything', () => (range(1, last).every((o) => groupAcked.has(o)) ? true : undefined), 20_000);
  tt.pass("the group got every acked message: the dead node's unacked deliveries were claimed on B after the ack timeout");

  // The members on the surviving nodes never noticed.
  for (const [name, m] of [
    ['B', onB],
    ['C', onC],
  ] as const) {
    await until(`member on ${name} caught up`, () => (offsets(m, room).at(-1) === last ? true : undefined));
    tt.same(offsets(m, room), range(1, last), `member on ${name}: every offset once, in order`);
  }
});
