/** Conformance checks of PROTOCOL.md §4: the client frames and their replies. */
import { type Check, after, check, enter, eventsAfter, expect, isError, join, na, nextEvent, publish, refused } from '../check.js';
import { short } from '../peer.js';

/** Checks of §4 (client frames). */
export const frameChecks: Check[] = [
  check('R4.1.1', 'connect is answered with connected', async (ctx) => {
    const p = await ctx.open();
    await enter(p, ctx.ns('c1'));
  }),
  check('R4.1.2', 'a second connect of the same namespace: connected again', async (ctx) => {
    const p = await ctx.open();
    const ns = ctx.ns('c2');
    await enter(p, ns);
    const again = await p.request({ type: 'connect', ns });
    expect(again.type === 'connected', `second connect: ${short(again)}`);
  }),
  check('R4.1.3', 'an unknown namespace is unknown_namespace', async (ctx) => {
    const p = await ctx.open();
    const f = await p.request({ type: 'connect', ns: ctx.ns('unknown') });
    if (f.type === 'connected') na('the server serves every namespace name it is asked for');
    isError(f, 'unknown_namespace', 'connect');
  }),
  check('R4.1.5', 'an identified connection has its personal room in another namespace', async (ctx) => {
    const id = ctx.client('pns');
    const x = await ctx.open({ client: id });
    const ns = ctx.ns('pns');
    await enter(x, ns);
    const s = await ctx.open();
    await enter(s, ns);
    await publish(s, `@${id}`, 'hi', { ns });
    const e = await x.next((f) => f.type === 'event' && f.ns === ns && f.room === `@${id}`);
    expect(e.id !== undefined && e.attempt === 1, `the personal delivery lacks id/attempt: ${short(e)}`);
    x.send({ type: 'ack', id: e.id });
  }),
  check(['R4.1.6', 'R4.2.4', 'R4.8.1'], 'after leaving /, frames for / are not_connected, ping works, connect re-enters', async (ctx) => {
    const p = await ctx.open();
    const d = await p.request({ type: 'disconnect', ns: '/' });
    expect(d.type === 'disconnected' && d.ns === '/', `disconnect /: ${short(d)}`);
    await refused(p, { type: 'join', room: ctx.room('x') }, 'not_connected', 'join after leaving /');
    const pong = await p.request({ type: 'ping' });
    expect(pong.type === 'pong', `ping after leaving /: ${short(pong)}`);
    await enter(p, '/');
    await join(p, ctx.room('back'));
  }),
  check('R4.1.7', 'frames pipelined behind a connect wait for it', async (ctx) => {
    const p = await ctx.open();
    const ns = ctx.ns('pipe');
    p.send({ type: 'connect', ns, id: 'pc' });
    p.send({ type: 'join', ns, room: ctx.room('pipe'), id: 'pj' });
    const c = await p.next((f) => f.id === 'pc');
    if (c.type === 'error') na(`the server does not serve ${ns} (${c.code})`);
    const j = await p.next((f) => f.id === 'pj');
    expect(j.type === 'joined', `the pipelined join got ${short(j)}`);
  }),
  check('R4.2.1', 'disconnect is answered with disconnected', async (ctx) => {
    const p = await ctx.open();
    const ns = ctx.ns('d1');
    await enter(p, ns);
    const d = await p.request({ type: 'disconnect', ns });
    expect(d.type === 'disconnected' && d.ns === ns, `reply: ${short(d)}`);
  }),
  check(['R4.2.2', 'R6.2.1'], "disconnect ends the namespace's subscriptions; nothing of it follows", async (ctx) => {
    const a = await ctx.open();
    const b = await ctx.open();
    const ns = ctx.ns('d2');
    await enter(a, ns);
    await enter(b, ns);
    const room = ctx.room('d2');
    await join(a, room, { ns });
    await a.request({ type: 'disconnect', ns });
    const mark = a.frames.length;
    await publish(b, room, 1, { ns });
    await b.request({ type: 'emit', ns, room, event: 'cf', volatile: true });
    const got = await after(a, mark, (f) => f.ns === ns);
    expect(got.length === 0, `after disconnected, frames of ${ns} arrived: ${short(got)}`);
  }),
  check('R4.2.3', 'disconnect of a namespace not entered is not_connected', async (ctx) => {
    const p = await ctx.open();
    await refused(p, { type: 'disconnect', ns: ctx.ns('never') }, 'not_connected');
  }),
  check(['R4.3.1', 'R4.3.10', 'R5.1.1'], 'joining a new room: joined with epoch, offset 0, recovered', async (ctx) => {
    const p = await ctx.open();
    const room = ctx.room('new');
    const j = await join(p, room);
    expect(j.room === room && typeof j.epoch === 'string' && j.epoch.length > 0, `joined: ${short(j)}`);
    expect(j.offset === 0 && j.recovered === true, `a new room: offset ${j.offset}, recovered ${j.recovered}`);
  }),
  check('R4.3.2', 'a second join of a room replaces the first', async (ctx) => {
    const p = await ctx.open();
    const s = await ctx.open();
    const room = ctx.room('replace');
    await publish(s, room, 1);
    await join(p, room);
    const j = await join(p, room, { since: 0 });
    expect(j.replay?.count === 1, `the replacing join did not replay: ${short(j)}`);
    await nextEvent(p, room, (f) => f.replay === true);
    const mark = p.frames.length;
    await publish(s, room, 2);
    await nextEvent(p, room, (f) => f.data === 2);
    const evs = await eventsAfter(p, mark, room);
    expect(evs.length === 1, `one live emit arrived ${evs.length} times`);
  }),
  check('R4.3.3', 'a join ended by leave before it took effect is still answered', async (ctx) => {
    const p = await ctx.open();
    const room = ctx.room('race');
    p.send({ type: 'join', room, since: 0, id: 'rj' });
    p.send({ type: 'leave', room, id: 'rl' });
    const j = await p.next((f) => f.id === 'rj');
    const l = await p.next((f) => f.id === 'rl');
    expect(j.type === 'joined', `join: ${short(j)}`);
    expect(l.type === 'left' || (l.type === 'error' && l.code === 'not_member'), `leave: ${short(l)}`);
  }),
  check(['R4.3.5', 'R4.3.7'], 'durable with group, epoch on a durable or group join: bad_frame', async (ctx) => {
    const p = await ctx.open({ client: ctx.client('bf') });
    await refused(p, { type: 'join', room: ctx.room('x'), durable: true, group: 'g' }, 'bad_frame', 'durable + group');
    await refused(p, { type: 'join', room: ctx.room('x'), group: 'g', since: 0, epoch: 'e' }, 'bad_frame', 'epoch on a group join');
    await refused(p, { type: 'join', room: ctx.room('x'), durable: true, since: 0, epoch: 'e' }, 'bad_frame', 'epoch on a durable join');
  }),
  check(['R4.3.8', 'R5.1.5'], 'sid rooms cannot be joined or left', async (ctx) => {
    const a = await ctx.open();
    const b = await ctx.open();
    await refused(a, { type: 'join', room: b.welcome.sid }, 'forbidden', 'join of another sid');
    await refused(a, { type: 'join', room: a.welcome.sid }, 'forbidden', 'join of the own sid');
    await refused(a, { type: 'leave', room: a.welcome.sid }, 'not_member', 'leave of the own sid');
  }),
  check(['R4.3.9', 'R4.4.5', 'R4.5.9'], 'join, leave and emit in a namespace not entered: not_connected', async (ctx) => {
    const p = await ctx.open();
    const ns = ctx.ns('nc');
    await refused(p, { type: 'join', ns, room: 'r' }, 'not_connected', 'join');
    await refused(p, { type: 'leave', ns, room: 'r' }, 'not_connected', 'leave');
    await refused(p, { type: 'emit', ns, room: 'r', event: 'cf' }, 'not_connected', 'emit');
  }),
  check(['R4.3.11', 'R5.1.2'], '$ rooms other than $dead:R cannot be joined', async (ctx) => {
    const p = await ctx.open();
    await refused(p, { type: 'join', room: `$${ctx.room('x')}` }, 'forbidden', 'join of a $ room');
    await refused(p, { type: 'join', room: '$dead' }, 'forbidden', 'join of "$dead"');
  }),
  check('R5.5.5', '$dead:R can be joined, not emitted into', async (ctx) => {
    const p = await ctx.open();
    const j = await join(p, `$dead:${ctx.room('x')}`, { since: 0 });
    expect(j.offset === 0, `a fresh dead-letter room has offset ${j.offset}`);
    await refused(p, { type: 'emit', room: `$dead:${ctx.room('x')}`, event: 'cf' }, 'bad_frame', 'emit into $dead:R');
  }),
  check(['R4.4.1', 'R4.4.2', 'R6.4.2'], 'leave: left, and no more events of the room', async (ctx) => {
    const p = await ctx.open();
    const s = await ctx.open();
    const room = ctx.room('leave');
    await join(p, room);
    const l = await p.request({ type: 'leave', room });
    expect(l.type === 'left' && l.room === room && l.ns === '/', `reply: ${short(l)}`);
    const mark = p.frames.length;
    await publish(s, room, 1);
    await s.request({ type: 'emit', room, event: 'cf', volatile: true });
    const evs = await eventsAfter(p, mark, room);
    expect(evs.length === 0, `after left, ${evs.length} events of the room arrived`);
  }),
  check('R4.4.3', 'leave of a durable subscription hands deliveries back; the position stays', async (ctx) => {
    const id = ctx.client('lv');
    const room = ctx.room('lv');
    const s = await ctx.open();
    await publish(s, room, 1);
    await publish(s, room, 2);
    const p = await ctx.open({ client: id });
    await join(p, room, { durable: true, prefetch: 1 });
    const d1 = await nextEvent(p, room);
    p.send({ type: 'ack', id: d1.id });
    const d2 = await nextEvent(p, room);
    expect(d2.offset === 2, `second delivery: ${short(d2)}`);
    await p.request({ type: 'leave', room });
    await join(p, room, { durable: true, prefetch: 1 });
    const again = await nextEvent(p, room);
    expect(again.offset === 2 && again.attempt === 2, `after leave and join: ${short(again)} (expected offset 2, attempt 2)`);
    p.send({ type: 'ack', id: again.id });
  }),
  check('R4.4.4', 'leave of a room not joined is not_member', async (ctx) => {
    const p = await ctx.open();
    await refused(p, { type: 'leave', room: ctx.room('never') }, 'not_member');
  }),
  check('R4.5.1', 'reserved event names are bad_frame', async (ctx) => {
    const p = await ctx.open();
    for (const event of ['$x', 'connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']) {
      const e = await refused(p, { type: 'emit', room: ctx.room('r'), event }, 'bad_frame', `event "${event}"`);
      expect(/reserved/i.test(String(e.message)), `the message for "${event}" does not say it is reserved: ${e.message}`);
    }
  }),
  check(['R4.5.2', 'R5.1.4', 'R6.6.1'], 'emit routes: handlers, direct, volatile, stored', async (ctx) => {
    const a = await ctx.open();
    const b = await ctx.open();
    const nh = await a.request({ type: 'emit', event: `cf-nothing-${ctx.room('h')}` });
    expect(nh.type === 'error' && nh.code === 'no_handler', `emit without room to an event nobody handles: ${short(nh)}`);
    await refused(a, { type: 'emit', event: 'cf', volatile: true }, 'bad_frame', 'volatile without room');
    await refused(a, { type: 'emit', event: 'cf', echo: true }, 'bad_frame', 'echo without room');
    const d = await a.request({ type: 'emit', room: b.welcome.sid, event: 'cf', data: 'dm' });
    expect(d.type === 'ack' && !('offset' in d) && !('epoch' in d), `direct emit ack: ${short(d)}`);
    const de = await nextEvent(b, b.welcome.sid);
    expect(de.data === 'dm' && !('offset' in de) && de.from === a.welcome.sid, `direct event: ${short(de)}`);
    const room = ctx.room('routes');
    await join(b, room);
    const v = await a.request({ type: 'emit', room, event: 'cf', data: 'v', volatile: true });
    expect(v.type === 'ack' && !('offset' in v), `volatile ack: ${short(v)}`);
    const ve = await nextEvent(b, room);
    expect(ve.data === 'v' && !('offset' in ve), `volatile event: ${short(ve)}`);
    const s = await publish(a, room, 's');
    const se = await nextEvent(b, room, (f) => f.data === 's');
    expect(se.offset === s.offset && se.epoch === s.epoch, `stored event ${short(se)} vs ack ${short(s)}`);
  }),
  check('R4.5.3', 'echo reaches the sender only when it is a live member', async (ctx) => {
    const p = await ctx.open({ client: ctx.client('echo') });
    const room = ctx.room('echo');
    let mark = p.frames.length;
    await publish(p, room, 'x', { echo: true });
    await p.request({ type: 'emit', room, event: 'cf', volatile: true, echo: true });
    let evs = await eventsAfter(p, mark, room);
    expect(evs.length === 0, `a non-member got ${evs.length} echoes`);
    await join(p, room, { durable: true, since: 1 });
    mark = p.frames.length;
    await p.request({ type: 'emit', room, event: 'cf', volatile: true, echo: true });
    evs = (await eventsAfter(p, mark, room)).filter((f) => f.offset === undefined);
    expect(evs.length === 0, `a durable member got a volatile echo: ${short(evs)}`);
    await p.request({ type: 'leave', room });
    await join(p, room);
    mark = p.frames.length;
    await p.request({ type: 'emit', room, event: 'cf', data: 'e', volatile: true, echo: true });
    await publish(p, room, 'f', { echo: true });
    evs = await eventsAfter(p, mark, room);
    expect(evs.length === 2, `a live member got ${evs.length} of 2 echoes`);
  }),
  check(['R4.5.4', 'R4.5.6'], 'a non-member may emit; the sender gets no copy without echo', async (ctx) => {
    const p = await ctx.open();
    const room = ctx.room('noecho');
    await publish(p, room, 1);
    await join(p, room);
    const mark = p.frames.length;
    await publish(p, room, 2);
    await p.request({ type: 'emit', room, event: 'cf', volatile: true });
    const evs = await eventsAfter(p, mark, room);
    expect(evs.length === 0, `the sender got ${evs.length} copies of its own emits`);
  }),
  check('R4.5.7', 'an emit without id gets no reply', async (ctx) => {
    const p = await ctx.open();
    const room = ctx.room('quiet');
    const mark = p.frames.length;
    p.send({ type: 'emit', room, event: 'cf', data: 1 });
    p.send({ type: 'emit', room, event: 'cf', volatile: true });
    const got = await after(p, mark, (f) => f.type !== 'pong');
    expect(got.length === 0, `replies: ${short(got)}`);
  }),
  check(['R4.5.8', 'R11.6'], 'nobody writes into reserved space', async (ctx) => {
    const p = await ctx.open();
    await refused(p, { type: 'emit', room: `$${ctx.room('x')}`, event: 'cf' }, 'bad_frame', 'emit into a $ room');
    await refused(p, { type: 'emit', room: `$dead:${ctx.room('x')}`, event: 'cf', volatile: true }, 'bad_frame', 'volatile emit into $dead:R');
    await refused(p, { type: 'emit', room: ctx.room('x'), event: '$x' }, 'bad_frame', 'a $ event');
  }),
];
