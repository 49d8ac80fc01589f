/** PROTOCOL.md §2.2 permissions (R2.2.12): actions per namespace and room glob, from token claims, key entries and the anonymous rules; refused = forbidden, nothing changes. */
import t from 'tap';
import { authorize } from '../../lib/auth/permissions.js';
import { hashKey } from '../../lib/auth/keys.js';
import { rawClient, startServer } from '../helpers/server.js';
import { bearer, hs, jwtConfig, keyFiles } from './setup.js';

const allow = (...rules: { ns?: string; room?: string; actions: string[] }[]) => ({ wsq: { allow: rules } });

async function server(t: Tap, opts: Record<string, unknown> = {}) {
  const files = await keyFiles(t);
  return startServer(t, {
    auth: {
      jwt: jwtConfig(files),
      keys: [{ client: 'reader', hash: hashKey('wsq_reader'), permissions: [{ ns: '/', room: 'chat.*', actions: ['join'] }] }],
      anonymous: true,
      anonymousPermissions: [{ ns: '/', room: 'public.*', actions: ['join'] }],
    },
    ...opts,
  });
}
type Tap = Parameters<typeof startServer>[0];

t.test('R2.2.12 authorize() grants by namespace and room glob, and names the missing permission', async (t) => {
  const creds = { kind: 'jwt' as const, client: 'alice', permissions: [{ ns: '/', room: 'chat.*', actions: ['join' as const, 'emit' as const] }] };
  t.equal(authorize(creds, 'join', '/', 'chat.lobby'), undefined);
  t.equal(authorize(creds, 'emit', '/', 'chat.lobby'), undefined);
  const no = authorize(creds, 'history', '/', 'chat.lobby');
  t.equal(no?.code, 'forbidden');
  t.match(no?.message, /grants "history" on room "chat.lobby" of namespace "\/"/);
  t.same(no?.details, { action: 'history', ns: '/', room: 'chat.lobby', permission: 'history / chat.lobby' });
  t.ok(authorize(creds, 'join', '/other', 'chat.lobby'), 'another namespace is not granted');
  t.ok(authorize(creds, 'join', '/', 'chatter'), 'the glob is anchored');
  t.equal(authorize(creds, 'durable', '/', '@alice'), undefined, "the personal room @alice is always alice's");
  t.ok(authorize(creds, 'join', '/', '@bob'), 'but not @bob');
  const everything = { ...creds, permissions: [{ ns: '*', room: '*', actions: ['*' as const] }] };
  t.match(authorize(everything, 'dead', '/', '$dead:@bob')?.message, /belongs to client "bob"/, "bob's personal dead letters are bob's, whatever the rules");
  t.equal(authorize(everything, 'dead', '/', '$dead:@alice'), undefined, 'alice reads her own');
  t.equal(authorize(everything, 'emit', '/', '@bob'), undefined, 'emitting to @bob is a matter of rules');
  t.equal(authorize({ ...creds, permissions: [{ ns: '/', room: 'jobs', actions: ['dead'] }] }, 'dead', '/', '$dead:jobs'), undefined, '$dead:R is governed by "dead" on R');
  t.equal(authorize(undefined, 'emit', '/', 'x'), undefined, 'no auth configured: everything is allowed');
});

t.test('R2.2.12 token claims decide join, emit and history; a refusal answers forbidden and changes nothing', async (t) => {
  const { url, server: s } = await server(t);
  await s.publish('chat.lobby', 'msg', { n: 1 });
  const alice = await rawClient(t, url, { headers: bearer(await hs({ sub: 'alice', ...allow({ ns: '/', room: 'chat.*', actions: ['join', 'emit'] }) })) });
  t.equal((await alice.request({ type: 'join', room: 'chat.lobby', id: 1 })).type, 'joined', 'live join granted');
  const h = await alice.request({ type: 'join', room: 'chat.lobby', since: 0, id: 2 });
  t.equal(h.code, 'forbidden', 'history (since) is not granted');
  t.equal(h.details.action, 'history');
  t.notOk(alice.seen((f) => f.type === 'event' && f.data?.n === 1).length, 'no history was sent');
  const e = await alice.request({ type: 'emit', room: 'admin', event: 'x', data: 1, id: 3 });
  t.equal(e.code, 'forbidden', 'emit outside chat.* refused');
  t.match(e.message, /No permission of client "alice" grants "emit" on room "admin"/);
  const c = await alice.request({ type: 'connect', ns: '/other', id: 4 });
  t.equal(c.code, 'forbidden', 'connect to another namespace refused');
  const d = await alice.request({ type: 'join', room: 'jobs', group: 'w', id: 5 });
  t.equal(d.code, 'forbidden', 'group not granted');
  const dur = await alice.request({ type: 'join', room: 'chat.lobby', durable: true, id: 6 });
  t.equal(dur.code, 'forbidden', 'durable not granted');
  t.equal((await s.store.read('/', 'admin', 0, 10)).length, 0, 'the refused emit stored nothing');
});

t.test("R2.2.12 I8 row 3: nobody reads a room's history or erases it without the permission", async (t) => {
  const { url, server: s } = await server(t, { limits: { publishRatePerRoom: { perSecond: 5, burst: 5 } } });
  for (let i = 0; i < 3; i++) await s.publish('orders', 'o', { i });
  const anon = await rawClient(t, url);
  t.equal((await anon.request({ type: 'join', room: 'orders', since: 0, id: 1 })).code, 'forbidden', 'anonymous: no history of orders');
  t.equal((await anon.request({ type: 'emit', room: 'orders', event: 'x', id: 2 })).code, 'forbidden', 'anonymous: no emit into orders');
  const key = await rawClient(t, url, { headers: bearer('wsq_reader') });
  t.equal((await key.request({ type: 'join', room: 'orders', since: 0, id: 1 })).code, 'forbidden', "the reader key's own rules do not reach orders");
  // A writer with emit may not flood a room out of its retention: the per-room publish rate stops it.
  const writer = await rawClient(t, url, { headers: bearer(await hs({ sub: 'w', ...allow({ room: 'orders', actions: ['emit'] }) })) });
  const answers = [];
  for (let i = 0; i < 20; i++) answers.push(writer.request({ type: 'emit', room: 'orders', event: 'flood', data: 'x'.repeat(100), id: 10 + i }));
  const codes = (await Promise.all(answers)).map((f) => f.code ?? f.type);
  t.ok(codes.filter((c) => c === 'rate_limited').length >= 14, `the flood is rate limited (${codes.join(',')})`);
  const log = await s.store.read('/', 'orders', 0, 100);
  t.same((log[0]?.data as { i?: number })?.i, 0, 'the first message is still there');
});

t.test('R2.2.12 anonymous rules and key rules apply; dead-letter rooms need "dead"', async (t) => {
  const { url } = await server(t);
  const anon = await rawClient(t, url);
  t.equal((await anon.request({ type: 'join', room: 'public.news', id: 1 })).type, 'joined', 'anonymous may join public.*');
  t.equal((await anon.request({ type: 'join', room: 'chat.x', id: 2 })).code, 'forbidden');
  const key = await rawClient(t, url, { headers: bearer('wsq_reader') });
  t.equal((await key.request({ type: 'join', room: 'chat.x', id: 1 })).type, 'joined', 'the key may join chat.*');
  t.equal((await key.request({ type: 'join', room: '$dead:chat.x', id: 2 })).code, 'forbidden', 'but not its dead letters');
  const ops = await rawClient(t, url, { headers: bearer(await hs({ sub: 'ops', ...allow({ room: 'chat.*', actions: ['dead'] }) })) });
  const j = await ops.request({ type: 'join', room: '$dead:chat.x', id: 1 });
  t.not(j.code, 'forbidden', `"dead" on chat.* opens $dead:chat.x (${j.type} ${j.code ?? ''})`);
  const bad = await rawClient(t, url, { headers: bearer(await hs({ sub: 'x', wsq: { allow: 'everything' } })) }).catch((e: Error & { status?: number }) => e);
  t.equal((bad as { status?: number }).status, 401, 'a malformed wsq claim is refused at the upgrade');
});

t.test('R2.2.12 server.authorize decides per frame after the rules allowed', async (t) => {
  const { url, server: s } = await server(t);
  s.authorize = (socket, action, target) => (action === 'emit' && target.room === 'chat.locked' ? `${socket.client} may not write to a locked room` : undefined);
  const alice = await rawClient(t, url, { headers: bearer(await hs({ sub: 'alice' })) });
  t.equal((await alice.request({ type: 'emit', room: 'chat.open', event: 'x', id: 1 })).type, 'ack', 'default permissions: everything');
  const r = await alice.request({ type: 'emit', room: 'chat.locked', event: 'x', id: 2 });
  t.equal(r.code, 'forbidden');
  t.match(r.message, /alice may not write to a locked room/);
  t.equal(r.details.permission, 'server.authorize');
});
