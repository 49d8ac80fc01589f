/** Conformance checks of PROTOCOL.md §6 (server frames), §7 (errors) and §11 (security). */
import { ERROR_CODE_LIST } from '../../../protocol/codes.js';
import { ServerFrame } from '../../../protocol/frames.js';
import { type Check, after, check, expect, join, na, nextEvent, publish, refused, refusedRaw } from '../check.js';
import { short } from '../peer.js';

const LIMIT_FIELDS: Record<string, number> = { timeoutMs: 0, ackTimeoutMs: 1, maxDeliver: 1, prefetch: 1, badFrameLimit: 0, badFrameWindowMs: 1, dedupWindowMs: 0, maxRooms: 1 };

/** Checks of §6, §7 and §11. */
export const serverChecks: Check[] = [
  check('R1.4', 'every server frame of a sample session has only defined fields, of the right types', async (ctx) => {
    const room = ctx.room('shape');
    const a = await ctx.open({ client: ctx.client('shape') });
    const b = await ctx.open();
    await publish(b, room, { n: 1 }, { key: 'k1' });
    await publish(b, room, { n: 1 }, { key: 'k1' });
    await join(a, room, { since: 0, presence: true });
    await join(b, room, { presence: true });
    await b.request({ type: 'emit', room, event: 'cf', volatile: true });
    await join(a, `${room}-d`, { durable: true });
    await publish(b, `${room}-d`, 2);
    const d = await nextEvent(a, `${room}-d`);
    a.send({ type: 'ack', id: d.id });
    await refused(b, { type: 'join', rom: 1 }, 'bad_frame');
    await b.request({ type: 'leave', room });
    await a.sync();
    for (const p of [a, b]) {
      for (const f of p.frames) {
        const r = ServerFrame.safeParse(f);
        expect(r.success, `a ${f.type} frame does not match §6: ${short(f)} (${r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`);
      }
    }
  }),
  check('R6.1.2', 'welcome: protocol 1, integer heartbeatMs and maxPayload, server name and version', async (ctx) => {
    const w = ctx.welcome;
    expect(w.protocol === 1, `protocol: ${short(w.protocol)}`);
    expect(Number.isInteger(w.heartbeatMs) && w.heartbeatMs > 0, `heartbeatMs: ${short(w.heartbeatMs)}`);
    expect(Number.isInteger(w.maxPayload) && w.maxPayload > 0, `maxPayload: ${short(w.maxPayload)}`);
    expect(typeof w.server?.name === 'string' && typeof w.server?.version === 'string', `server: ${short(w.server)}`);
  }),
  check(['R6.1.3', 'R11.5'], 'welcome.limits announces the limits with the right types', async (ctx) => {
    const l = ctx.welcome.limits;
    if (l === undefined) na('welcome.limits is absent (optional in 1.x)');
    expect(typeof l === 'object' && l !== null && !Array.isArray(l), `limits: ${short(l)}`);
    for (const [k, v] of Object.entries(l as Record<string, unknown>)) {
      if (!(k in LIMIT_FIELDS)) continue; // a later 1.x field: clients ignore it (R1.4)
      expect(Number.isInteger(v) && (v as number) >= LIMIT_FIELDS[k]!, `limits.${k}: ${short(v)}`);
    }
  }),
  check('R6.1.4', 'welcome.features, when sent, is an array of strings', async (ctx) => {
    const f = ctx.welcome.features;
    if (f === undefined) na('welcome.features is absent (means no optional feature)');
    expect(Array.isArray(f) && f.every((x: unknown) => typeof x === 'string'), `features: ${short(f)}`);
  }),
  check('R6.3.2', 'joined.members lists the other members with presence: true', async (ctx) => {
    const room = ctx.room('members');
    const id = ctx.client('mem');
    const a = await ctx.open({ client: id });
    await join(a, room);
    const b = await ctx.open();
    const j = await join(b, room, { presence: true });
    if (j.members === undefined) na('joined.members is absent (optional in 1.x)');
    expect(Array.isArray(j.members), `members: ${short(j.members)}`);
    const m = j.members.find((x: { sid?: string }) => x.sid === a.welcome.sid);
    expect(m && m.client === id, `members ${short(j.members)} do not list ${a.welcome.sid} with client ${id}`);
    expect(!j.members.some((x: { sid?: string }) => x.sid === b.welcome.sid), 'members lists the joining connection itself');
  }),
  check(['R6.5.1', 'R6.5.3'], 'event fields per kind; distinct delivery ids', async (ctx) => {
    const room = ctx.room('kinds6');
    const live = await ctx.open();
    await join(live, room);
    const d = await ctx.open({ client: ctx.client('k6') });
    await join(d, room, { durable: true });
    const s = await ctx.open();
    await publish(s, room, 1);
    await publish(s, room, 2);
    const le = await nextEvent(live, room);
    expect(le.offset === 1 && typeof le.epoch === 'string' && !('id' in le) && !('attempt' in le) && !('replay' in le), `live event: ${short(le)}`);
    expect(typeof le.ts === 'number' && le.ns === '/' && le.event === 'cf' && le.from === s.welcome.sid, `live event fields: ${short(le)}`);
    const [d1, d2] = await d.collect((f) => f.type === 'event' && f.room === room, 2);
    expect(d1!.id !== undefined && d1!.attempt === 1 && d1!.id !== d2!.id, `deliveries: ${short([d1, d2])}`);
    for (const x of [d1, d2]) d.send({ type: 'ack', id: x!.id });
    await s.request({ type: 'emit', room, event: 'cf', data: null, volatile: true });
    const v = await nextEvent(live, room, (f) => f.offset === undefined);
    expect(!('epoch' in v) && !('id' in v) && v.data === null, `volatile event: ${short(v)}`);
  }),
  check('R6.7.1', 'error codes come from §7, with a sentence', async (ctx) => {
    const p = await ctx.open();
    const errs = [
      await refusedRaw(p, 'nope', 'bad_json', 'bad JSON'),
      await refused(p, { type: 'nope' }, 'unknown_type'),
      await refused(p, { type: 'leave', room: ctx.room('x') }, 'not_member'),
    ];
    for (const e of errs) {
      expect((ERROR_CODE_LIST as readonly string[]).includes(e.code), `code ${e.code} is not in §7`);
      expect(/\w+ \w+/.test(e.message), `message is not a sentence: ${short(e.message)}`);
    }
  }),
  check('R6.8.1', "presence frames for other connections' joins and leaves, not for oneself", async (ctx) => {
    const room = ctx.room('pres');
    const w = await ctx.open();
    const mark = w.frames.length;
    await join(w, room, { presence: true });
    const id = ctx.client('pres');
    const o = await ctx.open({ client: id });
    await join(o, room);
    const pj = await w.next((f) => f.type === 'presence' && f.room === room);
    expect(pj.action === 'join' && pj.sid === o.welcome.sid && pj.client === id && pj.ns === '/', `presence: ${short(pj)}`);
    await o.request({ type: 'leave', room });
    const pl = await w.next((f) => f.type === 'presence' && f.room === room);
    expect(pl.action === 'leave' && pl.sid === o.welcome.sid, `presence: ${short(pl)}`);
    const self = w.frames.slice(mark).filter((f) => f.type === 'presence' && f.sid === w.welcome.sid);
    expect(self.length === 0, 'the connection was told about itself');
  }),
  check('R7.1', 'one error per failing frame', async (ctx) => {
    const p = await ctx.open();
    const mark = p.frames.length;
    p.send({ type: 'join', ns: ctx.ns('never'), room: 123, durable: 'yes', id: 'multi' });
    const got = await after(p, mark, (f) => f.type === 'error');
    expect(got.length === 1, `errors for one frame: ${short(got)}`);
  }),
  check('R7.2', "error precedence: shape, then the connection's state, then resources", async (ctx) => {
    const p = await ctx.open();
    const ns = ctx.ns('never');
    const cases: [object, string, string][] = [
      [{ type: 'nope', x: 1 }, 'unknown_type', 'an unknown type with an unknown field'],
      [{ type: 'join', ns, room: 'r', rom: 1 }, 'bad_frame', 'an unknown field in a namespace not entered'],
      [{ type: 'join', ns, room: 'r', durable: true, group: 'g' }, 'bad_frame', 'durable + group in a namespace not entered'],
      [{ type: 'emit', ns, room: 'r', event: '$x' }, 'bad_frame', 'a reserved event in a namespace not entered'],
      [{ type: 'emit', ns, room: '$x', event: 'cf' }, 'bad_frame', 'an emit into a $ room in a namespace not entered'],
      [{ type: 'join', ns, room: '$x' }, 'not_connected', 'a join of a $ room in a namespace not entered'],
      [{ type: 'join', room: `@${ctx.client('y')}`, durable: true }, 'unauthorized', "an anonymous durable join of another's @room"],
    ];
    for (const [frame, code, what] of cases) {
      const f = await p.request(frame);
      expect(f.type === 'error' && f.code === code, `${what}: expected ${code}, got ${short(f)}`);
    }
  }),
  check('R7.4', 'a bad_frame names the field, what it expects and what came', async (ctx) => {
    const p = await ctx.open();
    const a = await refused(p, { type: 'join', room: ctx.room('x'), since: 'latest' }, 'bad_frame', 'since: "latest"');
    expect(/since/.test(a.message) && /latest/.test(a.message), `the message does not name "since" and what came: ${a.message}`);
    const b = await refused(p, { type: 'emit', event: 'cf', room: 123 }, 'bad_frame', 'room: 123');
    expect(/room/.test(b.message) && /123/.test(b.message) && /string/.test(b.message), `the message does not say "room" must be a string and 123 came: ${b.message}`);
    const c = await refused(p, { type: 'emit', event: 'cf', room: 'x'.repeat(5000) }, 'bad_frame', 'a room of 5,000 bytes');
    expect(c.message.length < 1000, `the message quotes too much: ${c.message.length} characters`);
  }),
  check('R11.1', 'Object.prototype names and deep nesting do not break the server', async (ctx) => {
    const p = await ctx.open();
    for (const type of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) await refused(p, { type }, 'unknown_type', `type "${type}"`);
    await refusedRaw(p, '{"type":"ping","__proto__":{"id":1}}', 'bad_frame', 'a "__proto__" field');
    p.sendRaw(`{"type":"emit","room":"${ctx.room('deep')}","event":"cf","data":${'['.repeat(20000)}${']'.repeat(20000)},"id":"deep"}`);
    const f = await p.next((x) => x.id === 'deep');
    expect(f.type === 'ack' || (f.type === 'error' && f.code === 'bad_frame'), `deeply nested data: ${short(f)}`);
    const q = await ctx.open();
    await q.request({ type: 'ping' });
  }),
];
