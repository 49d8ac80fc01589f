/** Conformance checks of PROTOCOL.md §1 (conventions), §2 (transport) and §3 (common fields). */
import { type Check, check, enter, eventsAfter, expect, isError, join, limit, na, publish, refused, refusedRaw } from '../check.js';
import { Peer, UpgradeRefused, short, withQuery } from '../peer.js';

/** Open with these options and expect an HTTP refusal; returns it. */
async function refusedUpgrade(url: string, waitMs: number, protocols: string[], headers?: Record<string, string>): Promise<UpgradeRefused> {
  try {
    const p = await Peer.open(url, { protocols, headers, waitMs, welcome: false });
    await p.close();
  } catch (err) {
    if (err instanceof UpgradeRefused) return err;
    throw new Error(`expected an HTTP refusal, the connection failed otherwise: ${(err as Error).message}`);
  }
  throw new Error('expected an HTTP refusal, the upgrade was accepted');
}

/** Checks of §1–§3. */
export const transportChecks: Check[] = [
  check('R1.2', 'server frames are JSON objects in text messages', async (ctx) => {
    const p = await ctx.open();
    await p.request({ type: 'ping' });
    await join(p, ctx.room('json'));
    expect(p.binary === 0, 'the server sent a binary message');
    const bad = p.frames.find((f) => '$text' in f);
    expect(!bad, `the server sent text that is not a JSON object: ${short(bad)}`);
  }),
  check('R1.3', 'an unknown field is bad_frame naming the field', async (ctx) => {
    const p = await ctx.open();
    const e = await refused(p, { type: 'ping', pign: 1 }, 'bad_frame');
    expect(String(e.message).includes('pign'), `the message does not name the unknown field "pign": ${e.message}`);
    await refused(p, { type: 'join', room: ctx.room('x'), rom: 'x' }, 'bad_frame');
  }),
  check('R1.5', 'wrong types, null for an omitted field, fractional ids are bad_frame', async (ctx) => {
    const p = await ctx.open();
    await refused(p, { type: 'join', room: ctx.room('x'), since: null }, 'bad_frame', 'since: null');
    await refused(p, { type: 'join', room: 123 }, 'bad_frame', 'room: 123');
    await refusedRaw(p, '{"type":"ping","id":1.5}', 'bad_frame', 'a fractional id');
    await refused(p, { type: 'join', room: ctx.room('x'), since: -1 }, 'bad_frame', 'since: -1');
  }),
  check(['R1.6', 'R1.7'], 'names: 256 UTF-8 bytes pass, 257 and control characters do not', async (ctx) => {
    const p = await ctx.open();
    const base = ctx.room('n');
    const four = '\u{1F600}'; // 4 bytes in UTF-8, 2 UTF-16 units
    const pad = (bytes: number): string => base + 'x'.repeat((bytes - Buffer.byteLength(base)) % 4) + four.repeat(Math.floor((bytes - Buffer.byteLength(base)) / 4));
    const ok = pad(256);
    expect(Buffer.byteLength(ok) === 256, 'runner bug: the name is not 256 bytes');
    await join(p, ok);
    await publish(p, ok, 1);
    const long = `${ok}x`;
    await refused(p, { type: 'join', room: long }, 'bad_frame', 'a room of 257 bytes');
    await refused(p, { type: 'emit', room: ctx.room('e'), event: `${'é'.repeat(128)}x` }, 'bad_frame', 'an event name of 257 bytes');
    await refused(p, { type: 'join', room: `${base}\u0007` }, 'bad_frame', 'a room with U+0007');
    await refused(p, { type: 'emit', room: ctx.room('e'), event: 'a\u007fb' }, 'bad_frame', 'an event with U+007F');
  }),
  check('R1.12', 'groups and keys 1-128 bytes, string ids 64; no lone surrogate in a name', async (ctx) => {
    const p = await ctx.open();
    await join(p, ctx.room('g'), { group: 'é'.repeat(64) });
    await refused(p, { type: 'join', room: ctx.room('g'), group: `${'é'.repeat(64)}x` }, 'bad_frame', 'a group of 129 bytes');
    await publish(p, ctx.room('k'), 1, { key: 'é'.repeat(64) });
    await refused(p, { type: 'emit', room: ctx.room('k'), event: 'cf', key: `${'é'.repeat(64)}x` }, 'bad_frame', 'a key of 129 bytes');
    const e = await refusedRaw(p, `{"type":"ping","id":"${'é'.repeat(33)}"}`, 'bad_frame', 'a string id of 66 bytes');
    expect(!('id' in e), `the error echoes an id over 64 bytes: ${short(e)}`);
    await refusedRaw(p, `{"type":"join","room":"${ctx.room('s')}\\ud800","id":"ls"}`, 'bad_frame', 'a room with a lone surrogate');
  }),
  check('R1.13', 'values nest at most 64 levels; numbers beyond a 64-bit float are bad_frame', async (ctx) => {
    const p = await ctx.open();
    const room = ctx.room('depth');
    const nest = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
    p.sendRaw(`{"type":"emit","room":"${room}","event":"cf","data":${nest(64)},"id":"d64"}`);
    const ok = await p.next((f) => f.id === 'd64');
    expect(ok.type === 'ack', `64 levels: ${short(ok)}`);
    p.sendRaw(`{"type":"emit","room":"${room}","event":"cf","data":${nest(65)},"id":"d65"}`);
    const bad = await p.next((f) => f.id === 'd65');
    expect(bad.type === 'error' && bad.code === 'bad_frame' && /64/.test(bad.message), `65 levels: ${short(bad)}`);
    p.sendRaw(`{"type":"emit","room":"${room}","event":"cf","data":{"n":1e400},"id":"inf"}`);
    const inf = await p.next((f) => f.id === 'inf');
    expect(inf.type === 'error' && inf.code === 'bad_frame', `1e400: ${short(inf)}`);
  }),
  check(['R1.8', 'R6.7.3'], 'an ack/nack error carries details.delivery and no id', async (ctx) => {
    const p = await ctx.open();
    p.send({ type: 'ack', id: 987654 });
    const e = isError(await p.next('error'), 'unknown_id', 'ack of an unknown id');
    expect(!('id' in e), `the error carries "id" (${short(e.id)}), which a client would read as a request id`);
    expect(e.details?.delivery === 987654, `details.delivery is not the delivery id: ${short(e.details)}`);
    p.send({ type: 'nack', id: 'cf-none' });
    const n = isError(await p.next('error'), 'unknown_id', 'nack of an unknown id');
    expect(!('id' in n) && n.details?.delivery === 'cf-none', `nack error: ${short(n)}`);
  }),
  check('R2.1.1', 'an offered wsq.v1 is selected', async (ctx) => {
    const p = await ctx.open({ protocols: ['cf-other', 'wsq.v1'] });
    expect(p.ws.protocol === 'wsq.v1', `selected sub-protocol: "${p.ws.protocol}"`);
  }),
  check('R2.1.2', 'no sub-protocol offered: accepted', async (ctx) => {
    const p = await ctx.open({ protocols: [] });
    expect(p.welcome.type === 'welcome', 'no welcome');
  }),
  check('R2.1.3', 'other sub-protocols only: HTTP 400', async (ctx) => {
    const r = await refusedUpgrade(ctx.url, ctx.waitMs, ['cf-other'], ctx.headers);
    expect(r.status === 400, `status ${r.status}`);
  }),
  check('R2.1.5', 'refused upgrades: 404 for a wrong path, 400 for a bad ?client=, with a sentence', async (ctx) => {
    const u = new URL(ctx.url);
    u.pathname = `${u.pathname.replace(/\/$/, '')}/cf-no-such-path`;
    const r = await refusedUpgrade(u.toString(), ctx.waitMs, ['wsq.v1'], ctx.headers);
    expect(r.status === 404, `wrong path: status ${r.status}`);
    expect(r.body.length > 0, 'the 404 has no sentence');
    const b = await refusedUpgrade(withQuery(ctx.url, { client: 'a b' }), ctx.waitMs, ['wsq.v1'], ctx.headers);
    expect(b.status === 400 && b.body.length > 0, `?client=a%20b: status ${b.status}, body "${b.body}"`);
  }),
  check(['R2.1.8', 'R6.1.1'], 'welcome comes first, once', async (ctx) => {
    const p = await ctx.open();
    expect(p.frames[0]?.type === 'welcome', `first frame: ${short(p.frames[0])}`);
    await p.request({ type: 'ping' });
    expect(p.seen((f) => f.type === 'welcome').length === 1, 'more than one welcome');
  }),
  check(['R2.1.9', 'R2.5.5'], 'a refused connection gets one error and close 4001, no welcome', async (ctx) => {
    if (!ctx.refusedToken) na('needs credentials the server refuses (--refused-token)');
    let p: Peer;
    try {
      p = await ctx.open({ welcome: false, headers: { Authorization: `Bearer ${ctx.refusedToken}` } });
    } catch (err) {
      if (err instanceof UpgradeRefused && (err.status === 401 || err.status === 403)) na(`the server refuses these credentials at the upgrade (HTTP ${err.status}, R2.2.9)`);
      throw err;
    }
    p.send({ type: 'ping', id: 'held' });
    const code = await p.closeCode();
    expect(code === 4001, `close code: ${code ?? 'none (still open)'}; frames: ${short(p.frames)}`);
    expect(!p.frames.some((f) => f.type === 'welcome'), 'a refused connection got welcome');
    const errs = p.frames.filter((f) => f.type === 'error');
    expect(errs.length === 1 && (errs[0]!.code === 'unauthorized' || errs[0]!.code === 'forbidden'), `errors: ${short(errs)}`);
    expect(!p.frames.some((f) => f.type === 'pong'), 'a frame held before the refusal was answered');
  }),
  check('R2.2.5', 'the Authorization header wins over ?token=', async (ctx) => {
    if (!ctx.refusedToken || !ctx.headers?.Authorization) na('needs a token the server accepts (--token) and one it refuses (--refused-token)');
    const url = withQuery(ctx.url, { token: ctx.refusedToken });
    const ok = await Peer.open(url, { waitMs: ctx.waitMs, headers: ctx.headers }).catch((err: Error) => {
      throw new Error(`refused with a good Authorization header and a refused ?token=: ${err.message}`);
    });
    await ok.close();
  }),
  check('R2.1.10', 'frames sent before welcome are answered after it, in order', async (ctx) => {
    const p = await ctx.open({ welcome: false });
    p.send({ type: 'ping', id: 'early-1' });
    p.send({ type: 'join', room: ctx.room('early'), id: 'early-2' });
    p.send({ type: 'ping', id: 'early-3' });
    // Replies are matched by id (R3.12): the join's may come after the second pong.
    await p.collect((f) => typeof f.id === 'string' && f.id.startsWith('early-'), 3);
    const types = p.frames.map((f) => `${f.type}${f.id ? `:${f.id}` : ''}`);
    expect(types[0] === 'welcome', `the first frame is not welcome: ${types.join(', ')}`);
    const i1 = types.indexOf('pong:early-1');
    const i3 = types.indexOf('pong:early-3');
    expect(i1 > 0 && i3 > i1 && types.includes('joined:early-2'), `replies: ${types.join(', ')}`);
  }),
  check('R2.2.2', 'a client id of 128 allowed characters passes, 129 does not', async (ctx) => {
    const id = `${ctx.client('id')}_.:@-`.padEnd(128, 'z');
    const p = await ctx.open({ client: id });
    expect(p.welcome.client === id, `welcome.client: ${short(p.welcome.client)}`);
    const r = await refusedUpgrade(withQuery(ctx.url, { client: `${id}z` }), ctx.waitMs, ['wsq.v1'], ctx.headers);
    expect(r.status === 400, `129 characters: status ${r.status}`);
  }),
  check('R2.2.3', 'welcome.client echoes the identity; anonymous gets none', async (ctx) => {
    const id = ctx.client('echo');
    const p = await ctx.open({ client: id });
    expect(p.welcome.client === id, `welcome.client: ${short(p.welcome.client)}`);
    const a = await ctx.open();
    expect(!('client' in a.welcome), `an anonymous welcome carries client: ${short(a.welcome)}`);
  }),
  check(['R2.2.4', 'R4.3.6', 'R5.4.1'], 'a durable join without identity is unauthorized', async (ctx) => {
    const p = await ctx.open();
    await refused(p, { type: 'join', room: ctx.room('d'), durable: true }, 'unauthorized');
  }),
  check('R2.2.7', 'each connection has its own sid, the same in every namespace', async (ctx) => {
    const a = await ctx.open();
    const b = await ctx.open();
    expect(typeof a.welcome.sid === 'string' && a.welcome.sid !== b.welcome.sid, `sids: ${a.welcome.sid}, ${b.welcome.sid}`);
    const ns = ctx.ns('sid');
    await enter(a, ns);
    await enter(b, ns);
    const room = ctx.room('sid');
    await join(b, room, { ns });
    await a.request({ type: 'emit', ns, room, event: 'cf', data: 1, volatile: true });
    const e = await b.next((f) => f.type === 'event' && f.room === room);
    expect(e.from === a.welcome.sid, `from in ${ns}: ${short(e.from)}, sid in welcome: ${a.welcome.sid}`);
  }),
  check('R2.3.1', 'a binary message is unsupported_frame; the connection stays', async (ctx) => {
    const p = await ctx.open();
    p.sendRaw(Buffer.from('{"type":"ping"}'), true);
    isError(await p.next('error'), 'unsupported_frame', 'binary message');
    await p.request({ type: 'ping' });
  }),
  check('R2.3.2', 'a message over maxPayload is payload_too_large; the connection stays', async (ctx) => {
    const max = ctx.welcome.maxPayload;
    if (!Number.isInteger(max) || max > 16 * 1024 * 1024) na(`welcome.maxPayload is ${max}`);
    const p = await ctx.open();
    p.sendRaw(JSON.stringify({ type: 'emit', room: ctx.room('big'), event: 'cf', data: 'x'.repeat(max) }));
    isError(await p.next('error'), 'payload_too_large', `a message of ${max + 40} bytes`);
    await p.request({ type: 'ping' });
  }),
  check(['R2.3.4', 'R2.5.1'], 'a message over 4 x maxPayload closes with 1009', async (ctx) => {
    const max = ctx.welcome.maxPayload;
    if (!Number.isInteger(max) || max > 4 * 1024 * 1024) na(`welcome.maxPayload is ${max}`);
    const p = await ctx.open();
    p.sendRaw(JSON.stringify({ type: 'emit', room: ctx.room('huge'), event: 'cf', data: 'x'.repeat(4 * max + 16) }));
    const code = await p.closeCode(ctx.waitMs * 2);
    expect(code === 1009, `close code: ${code ?? 'none (still open)'}`);
  }),
  check('R2.4.1', 'the server pings within heartbeatMs', async (ctx) => {
    const hb = ctx.welcome.heartbeatMs;
    if (!Number.isInteger(hb) || hb > 5000) na(`welcome.heartbeatMs is ${hb}; this runner waits at most 5 s for a ping`);
    const p = await ctx.open();
    const end = Date.now() + hb * 2 + 500;
    while (p.pings === 0 && Date.now() < end) await p.sync();
    expect(p.pings > 0, `no WebSocket ping within ${hb * 2 + 500} ms`);
  }),
  check(['R2.4.3', 'R6.9.1'], 'ping is answered with pong carrying the id', async (ctx) => {
    const p = await ctx.open();
    const a = await p.request({ type: 'ping', id: 7 });
    expect(a.type === 'pong' && a.id === 7, `reply: ${short(a)}`);
    p.send({ type: 'ping' });
    const b = await p.next('pong');
    expect(!('id' in b), `a pong to a ping without id carries one: ${short(b)}`);
  }),
  check(['R2.6.1', 'R7.3'], 'bad frames are answered and the connection stays', async (ctx) => {
    const p = await ctx.open();
    await refusedRaw(p, '{"type":', 'bad_json', 'truncated JSON');
    await refusedRaw(p, '[1,2]', 'bad_frame', 'an array');
    await refused(p, { type: 'nope' }, 'unknown_type');
    await refused(p, { type: 'leave', room: ctx.room('none') }, 'not_member');
    await p.request({ type: 'ping' });
    expect(p.open, 'the connection closed');
  }),
  check('R2.6.2', 'errors a correct client can meet do not count toward the limit', async (ctx) => {
    const n = limit(ctx, 'badFrameLimit', 1000) + 2;
    const p = await ctx.open();
    const other = `@${ctx.client('nobody')}`;
    for (let i = 0; i < n; i++) p.send({ type: 'join', room: other, id: `f${i}` });
    await p.next((f) => f.id === `f${n - 1}`);
    await p.request({ type: 'ping' });
    expect(p.open, `closed after ${n} forbidden errors`);
  }),
  check(['R2.6.4', 'R2.5.5'], 'more than badFrameLimit counted errors: the error, then 1008', async (ctx) => {
    const n = limit(ctx, 'badFrameLimit', 1000) + 1;
    const p = await ctx.open();
    for (let i = 0; i < n; i++) p.sendRaw('{bad');
    const code = await p.closeCode(ctx.waitMs * 2);
    expect(code === 1008, `close code after ${n} bad frames: ${code ?? 'none (still open)'}`);
    expect(
      p.seen((f) => f.type === 'error' && f.code === 'bad_json').length === n,
      `expected ${n} bad_json errors before the close, saw ${p.seen((f) => f.type === 'error').length}`,
    );
  }),
  check('R3.1', 'a frame without a string type is bad_frame', async (ctx) => {
    const p = await ctx.open();
    await refusedRaw(p, '{}', 'bad_frame', '{}');
    await refusedRaw(p, '{"type":5}', 'bad_frame', 'type: 5');
  }),
  check('R3.14', 'prototype names are unknown types, and ordinary strings elsewhere', async (ctx) => {
    const p = await ctx.open();
    for (const type of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) await refused(p, { type }, 'unknown_type', `type "${type}"`);
    const j = await join(p, 'constructor');
    expect(j.room === 'constructor', `joined: ${short(j)}`);
    await publish(p, '__proto__', { toString: 1 }, { event: 'toString', key: 'hasOwnProperty' });
    await p.request({ type: 'ping', id: 'constructor' });
  }),
  check('R3.2', 'replies carry the request id with its JSON type', async (ctx) => {
    const p = await ctx.open();
    const s = await p.request({ type: 'ping', id: '7' });
    expect(s.id === '7', `string id: ${short(s)}`);
    const j = await p.request({ type: 'join', room: ctx.room('id'), id: 8 });
    expect(j.type === 'joined' && j.id === 8, `number id: ${short(j)}`);
    const e = await p.request({ type: 'emit', room: ctx.room('id'), event: 'cf', id: 'e-1' });
    expect(e.type === 'ack' && e.id === 'e-1', `emit id: ${short(e)}`);
  }),
  check('R3.4', 'a request without id still gets its reply, without id', async (ctx) => {
    const p = await ctx.open();
    const room = ctx.room('noid');
    p.send({ type: 'join', room });
    const j = await p.next('joined');
    expect(j.room === room && !('id' in j), `joined: ${short(j)}`);
    p.send({ type: 'leave', room });
    const l = await p.next('left');
    expect(!('id' in l), `left: ${short(l)}`);
  }),
  check('R3.5', 'errors carry a valid id; none for bad JSON or an invalid id', async (ctx) => {
    const p = await ctx.open();
    const e = await p.request({ type: 'join', id: 5 });
    expect(e.type === 'error' && e.code === 'bad_frame' && e.id === 5, `join without room: ${short(e)}`);
    const a = await refusedRaw(p, '{"type":"ping","id":{"x":1}}', 'bad_frame', 'an object id');
    expect(!('id' in a), `the error about an invalid id carries one: ${short(a)}`);
    const b = await refusedRaw(p, '{"id":3,', 'bad_json', 'bad JSON');
    expect(!('id' in b), `the bad_json error carries an id: ${short(b)}`);
  }),
  check('R3.6', 'an omitted ns means /', async (ctx) => {
    const p = await ctx.open();
    const j = await join(p, ctx.room('ns'));
    expect(j.ns === '/', `joined.ns: ${short(j.ns)}`);
  }),
  check('R3.7', 'a frame for a namespace not entered is not_connected', async (ctx) => {
    const p = await ctx.open();
    await refused(p, { type: 'join', ns: ctx.ns('never'), room: ctx.room('x') }, 'not_connected');
  }),
  check('R3.8', 'rooms of the same name in two namespaces are separate', async (ctx) => {
    const a = await ctx.open();
    const b = await ctx.open();
    const ns = ctx.ns('sep');
    await enter(a, ns);
    const room = ctx.room('sep');
    await join(b, room);
    const mark = b.frames.length;
    const ack = await publish(a, room, 1, { ns });
    expect(ack.offset === 1, `the room in ${ns} is new, but the offset is ${ack.offset}`);
    const j = await join(a, room, { ns: '/' });
    expect(j.offset === 0, `room ${room} in / got offset ${j.offset} from an emit in ${ns}`);
    const got = (await eventsAfter(b, mark, room)).length;
    expect(got === 0, `a member in / received ${got} events emitted in ${ns}`);
  }),
  check(['R3.9', 'R3.10'], 'pipelined stored emits get offsets in send order', async (ctx) => {
    const p = await ctx.open();
    const room = ctx.room('order');
    for (let i = 0; i < 20; i++) p.send({ type: 'emit', room, event: 'cf', data: i, id: `o${i}` });
    const acks = await p.collect((f) => f.type === 'ack' && String(f.id).startsWith('o'), 20);
    const offsetOf = new Map(acks.map((a) => [a.id, a.offset as number]));
    for (let i = 1; i < 20; i++)
      expect(offsetOf.get(`o${i}`)! > offsetOf.get(`o${i - 1}`)!, `emit o${i} got offset ${offsetOf.get(`o${i}`)}, o${i - 1} got ${offsetOf.get(`o${i - 1}`)}`);
  }),
  check('R3.11', 'every request gets exactly one reply', async (ctx) => {
    const p = await ctx.open();
    const room = ctx.room('one');
    const frames = [
      { type: 'join', room, id: 'x1' },
      { type: 'emit', room, event: 'cf', id: 'x2' },
      { type: 'emit', room, event: 'cf', volatile: true, id: 'x3' },
      { type: 'leave', room, id: 'x4' },
      { type: 'leave', room, id: 'x5' },
      { type: 'ping', id: 'x6' },
      { type: 'join', room, durable: true, group: 'g', id: 'x7' },
    ];
    for (const f of frames) p.send(f);
    await p.collect((f) => f.type !== 'event' && typeof f.id === 'string' && f.id.startsWith('x'), frames.length);
    await p.sync();
    for (const f of frames) {
      const n = p.seen((x) => x.type !== 'event' && x.id === f.id).length;
      expect(n === 1, `${f.type} ${f.id} got ${n} replies`);
    }
  }),
];
