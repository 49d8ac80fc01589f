/** Conformance checks of PROTOCOL.md §4.6–§4.7 (ack, nack) and §5 (rooms, logs, consumers). */
import { type Check, after, check, eventsAfter, expect, isError, join, limit, nextEvent, publish, refused } from '../check.js';
import { type Frame, short } from '../peer.js';
import type { Peer } from '../peer.js';

/** Publish `n` messages (data 1..n) into a fresh room; returns the room and the acks. */
/**
 * Ack every event of `room` the members get, pacing by ping round trips, until `n` arrived or
 * `waitMs` passed: the offsets acked, in arrival order.
 */
async function ackAll(members: Peer[], room: string, n: number, waitMs: number): Promise<number[]> {
  const seen: number[] = [];
  const done = members.map(() => 0);
  const end = Date.now() + waitMs;
  while (seen.length < n && Date.now() < end) {
    for (const [i, m] of members.entries()) {
      const evs = m.seen((f) => f.type === 'event' && f.room === room);
      for (const d of evs.slice(done[i])) {
        m.send({ type: 'ack', id: d.id });
        seen.push(d.offset);
      }
      done[i] = evs.length;
      await m.sync();
    }
  }
  return seen;
}

async function filled(ctx: Parameters<Check['run']>[0], tag: string, n: number): Promise<{ room: string; acks: Frame[]; s: Peer }> {
  const s = await ctx.open();
  const room = ctx.room(tag);
  const acks: Frame[] = [];
  for (let i = 1; i <= n; i++) acks.push(await publish(s, room, i));
  return { room, acks, s };
}

/** Checks of §4.6–§4.7 and §5. */
export const roomChecks: Check[] = [
  check(['R4.6.1', 'R4.7.1', 'R5.4.3'], 'deliveries carry id and attempt; ack and nack get no reply', async (ctx) => {
    const { room } = await filled(ctx, 'ack', 2);
    const p = await ctx.open({ client: ctx.client('ack') });
    await join(p, room, { durable: true });
    const [d1, d2] = await p.collect((f) => f.type === 'event' && f.room === room, 2);
    expect(d1!.id !== undefined && d1!.attempt === 1 && d1!.offset === 1, `delivery: ${short(d1)}`);
    const mark = p.frames.length;
    p.send({ type: 'ack', id: d1!.id });
    p.send({ type: 'nack', id: d2!.id, requeue: false });
    const got = await after(p, mark, (f) => f.type !== 'pong' && f.type !== 'event');
    expect(got.length === 0, `replies to a good ack/nack: ${short(got)}`);
  }),
  check('R4.6.2', 'an ack of an id never sent is unknown_id', async (ctx) => {
    const p = await ctx.open();
    p.send({ type: 'ack', id: 424242 });
    isError(await p.next('error'), 'unknown_id', 'ack of an unknown id');
  }),
  check(['R4.6.3', 'R5.4.2'], 'a durable consumer resumes after what it acknowledged, across reconnects', async (ctx) => {
    const { room, s } = await filled(ctx, 'cursor', 2);
    const id = ctx.client('cursor');
    const p = await ctx.open({ client: id });
    await join(p, room, { durable: true });
    const ds = await p.collect((f) => f.type === 'event' && f.room === room, 2);
    for (const d of ds) p.send({ type: 'ack', id: d.id });
    await p.sync();
    await p.close();
    await publish(s, room, 3);
    const q = await ctx.open({ client: id });
    await join(q, room, { durable: true, since: 0 });
    const d = await nextEvent(q, room);
    expect(d.offset === 3, `after reconnecting, the first delivery is offset ${d.offset} (expected 3)`);
    q.send({ type: 'ack', id: d.id });
    const more = await eventsAfter(q, q.frames.length, room);
    expect(more.length === 0, `acknowledged messages came again: ${short(more)}`);
  }),
  check('R4.7.2', 'nack with requeue redelivers with attempt + 1', async (ctx) => {
    const { room } = await filled(ctx, 'nack', 1);
    const p = await ctx.open();
    await join(p, room, { group: 'g' });
    const d = await nextEvent(p, room);
    p.send({ type: 'nack', id: d.id });
    const r = await nextEvent(p, room);
    expect(r.offset === d.offset && r.attempt === d.attempt + 1 && r.id !== d.id, `redelivery: ${short(r)} after ${short(d)}`);
    p.send({ type: 'ack', id: r.id });
  }),
  check('R4.7.3', 'nack without requeue moves the message to $dead:room', async (ctx) => {
    const { room } = await filled(ctx, 'dl', 1);
    const p = await ctx.open();
    await join(p, room, { group: 'g' });
    const d = await nextEvent(p, room);
    p.send({ type: 'nack', id: d.id, requeue: false });
    await p.sync();
    const dead = `$dead:${room}`;
    const j = await join(p, dead, { since: 0 });
    expect(j.replay?.count === 1, `$dead:room after a nack without requeue: ${short(j)}`);
    const e = await nextEvent(p, dead);
    expect(e.data === 1 && e.event === 'cf', `dead letter: ${short(e)}`);
  }),
  check(['R5.1.3', 'R5.4.11', 'R5.5.8'], 'durable and group members get own stored emits, no volatile events', async (ctx) => {
    const room = ctx.room('kinds');
    const d = await ctx.open({ client: ctx.client('kinds') });
    const g = await ctx.open();
    await join(d, room, { durable: true });
    await join(g, room, { group: 'g' });
    const md = d.frames.length;
    const mg = g.frames.length;
    await d.request({ type: 'emit', room, event: 'cf', volatile: true });
    await g.request({ type: 'emit', room, event: 'cf', volatile: true });
    await publish(d, room, 'mine');
    const own = await nextEvent(d, room, (f) => f.data === 'mine');
    d.send({ type: 'ack', id: own.id });
    const gs = await nextEvent(g, room, (f) => f.data === 'mine');
    g.send({ type: 'ack', id: gs.id });
    const dv = (await eventsAfter(d, md, room)).filter((f) => f.offset === undefined);
    const gv = (await eventsAfter(g, mg, room)).filter((f) => f.offset === undefined);
    expect(dv.length === 0 && gv.length === 0, `volatile events reached durable (${dv.length}) or group (${gv.length}) members`);
  }),
  check(['R5.1.6', 'R5.1.7'], 'messages to @X wait for X and are delivered with id and attempt', async (ctx) => {
    const id = ctx.client('pr');
    const s = await ctx.open();
    await publish(s, `@${id}`, 'while away');
    const x = await ctx.open({ client: id });
    const e = await nextEvent(x, `@${id}`);
    expect(e.data === 'while away' && e.id !== undefined && e.attempt === 1, `personal delivery: ${short(e)}`);
    x.send({ type: 'ack', id: e.id });
  }),
  check('R5.1.8', 'leave of @X by X ends the personal subscription on that connection', async (ctx) => {
    const id = ctx.client('pl');
    const x = await ctx.open({ client: id });
    const l = await x.request({ type: 'leave', room: `@${id}` });
    expect(l.type === 'left', `leave @${id}: ${short(l)}`);
    const s = await ctx.open();
    const mark = x.frames.length;
    await publish(s, `@${id}`, 1);
    const got = await eventsAfter(x, mark, `@${id}`);
    expect(got.length === 0, `after leaving its personal room, X got ${got.length} deliveries`);
  }),
  check('R5.1.9', 'only X may join @X', async (ctx) => {
    const a = await ctx.open();
    const b = await ctx.open({ client: ctx.client('b') });
    await refused(a, { type: 'join', room: `@${ctx.client('x')}` }, 'forbidden', 'anonymous join of @X');
    await refused(b, { type: 'join', room: `@${ctx.client('x')}` }, 'forbidden', 'another identity joining @X');
  }),
  check(['R5.2.1', 'R5.2.3', 'R5.2.4'], 'offsets from 1, one epoch everywhere, live order', async (ctx) => {
    const p = await ctx.open();
    const s = await ctx.open();
    const room = ctx.room('off');
    const j = await join(p, room);
    for (let i = 0; i < 10; i++) s.send({ type: 'emit', room, event: 'cf', data: i, id: `w${i}` });
    const acks = await s.collect((f) => f.type === 'ack', 10);
    const evs = await p.collect((f) => f.type === 'event' && f.room === room, 10);
    const offs = evs.map((e) => e.offset);
    expect(offs.join() === '1,2,3,4,5,6,7,8,9,10', `live offsets: ${offs.join()}`);
    expect(
      [...acks, ...evs].every((f) => f.epoch === j.epoch),
      `epochs differ from joined.epoch ${j.epoch}`,
    );
  }),
  check(['R5.3.1', 'R5.3.7', 'R6.3.1'], 'the replay decision table', async (ctx) => {
    const { room } = await filled(ctx, 'plan', 3);
    const p = await ctx.open();
    const a = await join(p, room);
    expect(a.recovered === true && !('replay' in a) && !('gap' in a), `no since: ${short(a)}`);
    const b = await join(p, room, { since: 'earliest', epoch: 'cf-wrong' });
    expect(b.recovered === true && b.replay?.from === 1 && b.replay?.to === 3, `earliest: ${short(b)}`);
    const c = await join(p, room, { since: 1, epoch: `${a.epoch}x` });
    expect(c.recovered === false && c.replay?.from === 1 && c.gap?.requested === 1 && c.gap?.latest === 3, `wrong epoch: ${short(c)}`);
    const d = await join(p, room, { since: 9, epoch: a.epoch });
    expect(d.recovered === false && !('replay' in d) && d.gap?.requested === 9, `since past the end: ${short(d)}`);
    const e = await join(p, room, { since: 1, epoch: a.epoch });
    expect(e.recovered === true && e.replay?.from === 2 && e.replay?.to === 3 && !('gap' in e), `since 1: ${short(e)}`);
  }),
  check(['R5.3.2', 'R5.3.3', 'R5.3.8'], 'no replay field for an empty range; count = to - from + 1', async (ctx) => {
    const { room } = await filled(ctx, 'range', 4);
    const p = await ctx.open();
    const j = await join(p, room, { since: 4 });
    expect(!('replay' in j) && j.recovered === true, `since = last: ${short(j)}`);
    const r = await join(p, room, { since: 1 });
    expect(r.replay && r.replay.count === r.replay.to - r.replay.from + 1 && r.replay.count === 3, `replay: ${short(r.replay)}`);
  }),
  check(['R5.3.4', 'R5.3.5', 'R5.3.6', 'R3.13'], 'joined, replay (marked, counted), then live unmarked, no gap or duplicate', async (ctx) => {
    const { room, s } = await filled(ctx, 'rep', 5);
    const p = await ctx.open();
    p.send({ type: 'join', room, since: 2, id: 'rj' });
    for (let i = 6; i <= 8; i++) s.send({ type: 'emit', room, event: 'cf', data: i, id: `l${i}` });
    await s.collect((f) => f.type === 'ack', 3);
    const evs = await p.collect((f) => f.type === 'event' && f.room === room, 6);
    const j = p.frames.find((f) => f.id === 'rj')!;
    expect(j && j.type === 'joined' && p.frames.indexOf(j) < p.frames.indexOf(evs[0]!), 'an event came before joined');
    const offs = evs.map((e) => e.offset);
    expect(offs.join() === '3,4,5,6,7,8', `offsets after joined: ${offs.join()}`);
    const marked = evs.filter((e) => e.replay === true).map((e) => e.offset);
    const expected = Array.from({ length: j.replay.count }, (_, i) => j.replay.from + i);
    expect(marked.join() === expected.join(), `replay: true on ${marked.join()}, replay range ${j.replay.from}..${j.replay.to}`);
    const more = await eventsAfter(p, p.frames.length, room);
    expect(more.length === 0, `duplicates: ${short(more)}`);
  }),
  check(['R5.3.9', 'R5.5.1'], 'durable and group joins have no replay', async (ctx) => {
    const { room } = await filled(ctx, 'nrep', 2);
    const d = await ctx.open({ client: ctx.client('nrep') });
    const j = await join(d, room, { durable: true, since: 0 });
    expect(j.durable === true && !('replay' in j), `durable joined: ${short(j)}`);
    const g = await ctx.open();
    const k = await join(g, room, { group: 'g', since: 0 });
    expect(k.group === 'g' && !('replay' in k) && !('durable' in k), `group joined: ${short(k)}`);
    expect((await nextEvent(g, room)).replay === undefined, 'a group delivery is marked replay');
  }),
  check('R5.4.4', 'durable deliveries in offset order', async (ctx) => {
    const { room } = await filled(ctx, 'dord', 5);
    const p = await ctx.open({ client: ctx.client('dord') });
    await join(p, room, { durable: true });
    const ds = await p.collect((f) => f.type === 'event' && f.room === room, 5);
    expect(ds.map((d) => d.offset).join() === '1,2,3,4,5', `order: ${ds.map((d) => d.offset).join()}`);
    for (const d of ds) p.send({ type: 'ack', id: d.id });
  }),
  check('R5.4.5', 'at most prefetch deliveries unacknowledged', async (ctx) => {
    const { room } = await filled(ctx, 'pf', 3);
    const p = await ctx.open({ client: ctx.client('pf') });
    await join(p, room, { durable: true, prefetch: 1 });
    const d1 = await nextEvent(p, room);
    const early = await eventsAfter(p, p.frames.length, room);
    expect(early.length === 0, `with prefetch 1, ${early.length} more deliveries came before the ack`);
    p.send({ type: 'ack', id: d1.id });
    const d2 = await nextEvent(p, room);
    expect(d2.offset === 2, `next delivery: ${short(d2)}`);
  }),
  check('R5.4.6', 'unacknowledged durable deliveries come back after a disconnect', async (ctx) => {
    const { room } = await filled(ctx, 'redel', 1);
    const id = ctx.client('redel');
    const p = await ctx.open({ client: id });
    await join(p, room, { durable: true });
    await nextEvent(p, room);
    await p.close();
    const q = await ctx.open({ client: id });
    await join(q, room, { durable: true });
    const d = await nextEvent(q, room);
    expect(d.offset === 1 && d.attempt === 2, `after the disconnect: ${short(d)}`);
    q.send({ type: 'ack', id: d.id });
  }),
  check('R5.4.6', 'an unacknowledged delivery comes back after ackTimeoutMs', async (ctx) => {
    const ms = limit(ctx, 'ackTimeoutMs', 5000);
    const { room } = await filled(ctx, 'ackto', 1);
    const p = await ctx.open({ client: ctx.client('ackto') });
    await join(p, room, { durable: true });
    const d = await nextEvent(p, room);
    const r = await p.next((f) => f.type === 'event' && f.room === room && f.attempt === 2, ms * 3 + ctx.waitMs);
    expect(r.offset === d.offset, `redelivery: ${short(r)}`);
    p.send({ type: 'ack', id: r.id });
  }),
  check('R5.4.7', 'two connections of one client share its durable subscription', async (ctx) => {
    const { room } = await filled(ctx, 'share', 4);
    const id = ctx.client('share');
    const a = await ctx.open({ client: id });
    const b = await ctx.open({ client: id });
    await join(a, room, { durable: true, prefetch: 1 });
    await join(b, room, { durable: true, prefetch: 1 });
    const seen = await ackAll([a, b], room, 4, ctx.waitMs);
    expect([...seen].sort((x, y) => x - y).join() === '1,2,3,4', `the two connections got offsets ${seen.join()} (each of 1..4 once expected)`);
  }),
  check(['R5.4.9', 'R5.5.4'], 'after maxDeliver attempts a message goes to $dead:room (durable and group)', async (ctx) => {
    const max = limit(ctx, 'maxDeliver', 20);
    for (const mode of ['durable', 'group'] as const) {
      const { room } = await filled(ctx, `max${mode}`, 1);
      const p = await ctx.open({ client: ctx.client(`max${mode}`) });
      await join(p, room, mode === 'durable' ? { durable: true } : { group: 'g' });
      for (let a = 1; a <= max; a++) {
        const d = await nextEvent(p, room, (f) => f.attempt === a);
        p.send({ type: 'nack', id: d.id });
      }
      const dead = `$dead:${room}`;
      const end = Date.now() + ctx.waitMs;
      let j: Frame;
      do j = await join(p, dead, { since: 0 });
      while ((j.replay?.count ?? 0) < 1 && Date.now() < end);
      expect(j.replay?.count === 1, `${mode}: after ${max} attempts ${dead} holds ${j.replay?.count ?? 0} messages`);
      const more = (await eventsAfter(p, p.frames.length, room)).filter((f) => f.attempt > max);
      expect(more.length === 0, `${mode}: attempt ${max + 1} was delivered`);
    }
  }),
  check(['R5.5.2', 'R5.5.6'], 'each message to one member of a group; every group gets every message', async (ctx) => {
    const room = ctx.room('grp');
    const m1 = await ctx.open();
    const m2 = await ctx.open();
    const o = await ctx.open();
    for (const m of [m1, m2]) await join(m, room, { group: 'a' });
    await join(o, room, { group: 'b' });
    const s = await ctx.open();
    for (let i = 1; i <= 6; i++) await publish(s, room, i);
    const ob = await o.collect((f) => f.type === 'event' && f.room === room, 6);
    for (const d of ob) o.send({ type: 'ack', id: d.id });
    // Ack what group a's members get, pacing by ping round trips, until six arrived or the wait ends.
    const seen = await ackAll([m1, m2], room, 6, ctx.waitMs);
    expect([...seen].sort((x, y) => x - y).join() === '1,2,3,4,5,6', `group a got offsets ${seen.join()} (each of 1..6 exactly once expected)`);
  }),
  check(['R5.5.3', 'R4.2.2'], "a group member's unacknowledged delivery goes to another member when it leaves the namespace", async (ctx) => {
    const room = ctx.room('hand');
    const m1 = await ctx.open();
    await join(m1, room, { group: 'g', prefetch: 1 });
    const s = await ctx.open();
    await publish(s, room, 1);
    const d = await nextEvent(m1, room);
    const m2 = await ctx.open();
    await join(m2, room, { group: 'g' });
    await m1.request({ type: 'disconnect', ns: '/' });
    const r = await nextEvent(m2, room);
    expect(r.offset === d.offset && r.attempt === 2, `handed over: ${short(r)}`);
    m2.send({ type: 'ack', id: r.id });
  }),
  check('R5.5.7', 'a group without members keeps its position', async (ctx) => {
    const room = ctx.room('keep');
    const m = await ctx.open();
    await join(m, room, { group: 'g' });
    const s = await ctx.open();
    await publish(s, room, 1);
    const d = await nextEvent(m, room);
    m.send({ type: 'ack', id: d.id });
    await m.sync();
    await m.close();
    await publish(s, room, 2);
    const n = await ctx.open();
    await join(n, room, { group: 'g', since: 0 });
    const e = await nextEvent(n, room);
    expect(e.offset === 2, `the group's next member got offset ${e.offset} (expected 2)`);
    n.send({ type: 'ack', id: e.id });
  }),
  check('R5.8.5', 'a replayed message is the same JSON value as the live one', async (ctx) => {
    const room = ctx.room('same');
    const a = await ctx.open();
    const s = await ctx.open();
    await join(a, room);
    const data = '{"z":1,"a":"x\\ud800y","__proto__":{"p":[1,2]},"n":[0.1,1e21,-5,123456789012345680000,1.5e-7],"u":"\u00e9\ud83d\ude00"}';
    s.sendRaw(`{"type":"emit","room":"${room}","event":"cf","data":${data},"id":"same"}`);
    const ack = await s.next((f) => f.id === 'same');
    expect(ack.type === 'ack', `emit: ${short(ack)}`);
    const live = await nextEvent(a, room);
    const b = await ctx.open();
    await join(b, room, { since: 0 });
    const replayed = await nextEvent(b, room);
    const sent = JSON.stringify(JSON.parse(data));
    expect(JSON.stringify(live.data) === sent, `live data ${short(live.data)} differs from what was sent ${sent}`);
    expect(JSON.stringify(replayed.data) === sent, `replayed data ${short(replayed.data)} differs from what was sent ${sent}`);
  }),
  check(['R5.7.1', 'R5.7.4'], 'a repeated key: duplicate with the first offset, not delivered; keys are per room', async (ctx) => {
    const p = await ctx.open();
    const s = await ctx.open();
    const room = ctx.room('key');
    await join(p, room);
    const key = `k-${ctx.room('k')}`;
    const a = await publish(s, room, 'one', { key });
    await nextEvent(p, room);
    const mark = p.frames.length;
    const b = await publish(s, room, 'one', { key });
    expect(b.duplicate === true && b.offset === a.offset && b.epoch === a.epoch, `resend: ${short(b)} (first: ${short(a)})`);
    const again = await eventsAfter(p, mark, room);
    expect(again.length === 0, `the duplicate was delivered: ${short(again)}`);
    const c = await publish(s, ctx.room('key2'), 'one', { key });
    expect(c.duplicate === undefined, `the same key in another room: ${short(c)}`);
  }),
  check('R5.7.5', 'key on an emit that is not stored is bad_frame', async (ctx) => {
    const p = await ctx.open();
    const q = await ctx.open();
    await refused(p, { type: 'emit', room: ctx.room('k'), event: 'cf', volatile: true, key: 'k' }, 'bad_frame', 'volatile with key');
    await refused(p, { type: 'emit', room: q.welcome.sid, event: 'cf', key: 'k' }, 'bad_frame', 'direct with key');
    await refused(p, { type: 'emit', event: 'cf', key: 'k' }, 'bad_frame', 'no room with key');
  }),
];
