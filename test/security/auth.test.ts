/** PROTOCOL.md §2.2 credentials at the upgrade (R2.2.9-R2.2.11): tokens and keys refused before the socket opens, identity bound to them, expiry while connected. */
import t, { type Test } from 'tap';
import { hashKey } from '../../lib/auth/keys.js';
import type { Socket } from '../../lib/index.js';
import { rawClient, startServer } from '../helpers/server.js';
import { bearer, es, hs, jwtConfig, keyFiles, upgrade } from './setup.js';

const KEY = 'wsq_test_key_for_svc';

async function authServer(t: Test, auth: Record<string, unknown> = {}) {
  const files = await keyFiles(t);
  const s = await startServer(t, { auth: { jwt: jwtConfig(files), keys: [{ client: 'svc', hash: hashKey(KEY) }], ...auth } });
  return { ...s, files };
}

t.test('R2.2.9 a valid HS256 token, ES256 token (JWKS) or API key opens the socket with the identity it carries', async (t) => {
  const { url, files } = await authServer(t);
  const a = await rawClient(t, url, { headers: bearer(await hs({ sub: 'alice' })) });
  t.equal(a.welcome.client, 'alice', 'HS256: identity from sub');
  const b = await rawClient(t, `${url}?token=${await es(files.es, { sub: 'bob' })}`);
  t.equal(b.welcome.client, 'bob', 'ES256 from the JWKS, sent as ?token=');
  const k = await rawClient(t, url, { headers: bearer(KEY) });
  t.equal(k.welcome.client, 'svc', 'API key: identity from the key entry');
  const lower = await rawClient(t, url, { headers: { authorization: `bearer ${KEY}` } });
  t.equal(lower.welcome.client, 'svc', 'the Bearer scheme is case-insensitive');
});

t.test('R2.2.9 forged, expired, wrong-audience, wrong-issuer, unknown and missing credentials get 401 with a reason', async (t) => {
  const { url, files } = await authServer(t);
  const cases: [string, Record<string, string>, RegExp][] = [
    ['forged (other secret)', bearer(await hs({ sub: 'alice' }, { secret: 'another-secret-that-is-long-enough-000000' })), /signature does not verify/],
    ['expired', bearer(await hs({ sub: 'alice' }, { exp: Math.floor(Date.now() / 1000) - 60 })), /expired/],
    ['wrong audience', bearer(await hs({ sub: 'alice' }, { aud: 'someone-else' })), /"aud" claim/],
    ['wrong issuer', bearer(await hs({ sub: 'alice' }, { iss: 'evil' })), /"iss" claim/],
    ['unknown JWKS key', bearer(await es(files.es, { sub: 'alice' }, 'k-unknown')), /no key of the server's JWKS/],
    ['unknown API key', bearer('wsq_not_a_key'), /unknown API key/],
    ['not a JWT nor a key', bearer('eyJ.broken.x'), /Unauthorized/],
    ['no credential', {}, /needs a credential/],
  ];
  for (const [name, headers, reason] of cases) {
    const r = await upgrade(url, headers);
    t.equal(r.status, 401, `${name}: 401`);
    t.match(r.body, reason, `${name}: says why`);
  }
});

t.test('R2.2.10 a connection cannot claim another identity than its credential', async (t) => {
  const { url, server } = await authServer(t);
  await server.publish('@alice', 'note', { for: 'alice' }); // waits in alice's personal room
  const bob = await hs({ sub: 'bob' });
  let r = await upgrade(`${url}?client=alice`, bearer(bob));
  t.equal(r.status, 403, "bob's token with ?client=alice");
  t.match(r.body, /credential is for "bob", not "alice"/);
  r = await upgrade(`${url}?client=alice`);
  t.equal(r.status, 401, '?client=alice without a credential');
  r = await upgrade(`${url}?client=svc`, bearer(await hs({ sub: 'alice' })));
  t.equal(r.status, 403, "alice's token cannot take the key's identity either");
  const alice = await rawClient(t, url, { headers: bearer(await hs({ sub: 'alice' })) });
  const note = await alice.next((f) => f.type === 'event' && f.room === '@alice');
  t.same(note.data, { for: 'alice' }, "alice's queued message was still hers: nobody else got it");
});

t.test('R2.2.10 anonymous access only where configured, and then no durable identity unless allowed', async (t) => {
  const { url } = await authServer(t, { anonymous: true });
  t.equal((await upgrade(url)).status, 101, 'anonymous: true lets a connection without a credential in');
  const r = await upgrade(`${url}?client=alice`);
  t.equal(r.status, 403, 'but it cannot claim ?client=alice');
  t.match(r.body, /anonymous connection cannot take the durable identity "alice"/);
  const c = await rawClient(t, url);
  t.notOk(c.welcome.client, 'an anonymous welcome has no client');
  const j = await c.request({ type: 'join', room: 'news', durable: true, id: 1 });
  t.equal(j.code, 'unauthorized', 'and cannot hold a durable cursor');
  const open = await authServer(t, { anonymous: true, anonymousClients: true, anonymousPermissions: [{ actions: ['*'] }] });
  const named = await rawClient(t, `${open.url}?client=carol`);
  t.equal(named.welcome.client, 'carol', 'anonymousClients: true allows ?client= without a credential');
});

t.test('R2.2.10 a connection cannot ack or take the deliveries of an identity it does not hold', async (t) => {
  const { url, server } = await authServer(t);
  const alice = await rawClient(t, url, { headers: bearer(await hs({ sub: 'alice' })) });
  t.equal((await alice.request({ type: 'join', room: 'jobs', durable: true, id: 1 })).type, 'joined');
  await server.publish('jobs', 'job', { n: 1 });
  const d = await alice.next((f) => f.type === 'event' && f.room === 'jobs');
  const bob = await rawClient(t, url, { headers: bearer(await hs({ sub: 'bob' })) });
  bob.send({ type: 'ack', id: d.id });
  t.equal((await bob.next((f) => f.type === 'error')).code, 'unknown_id', "bob cannot ack alice's delivery");
  alice.send({ type: 'ack', id: d.id });
  t.equal((await alice.request({ type: 'ping', id: 2 })).type, 'pong', 'alice acks her own, no error');
  t.notOk(alice.seen((f) => f.type === 'error').length, 'alice saw no error');
});

t.test('R2.2.11 a connection whose token expires is closed with 4003 credentials_expired', async (t) => {
  const files = await keyFiles(t);
  const s2 = await startServer(t, { auth: { jwt: { ...jwtConfig(files), clockToleranceSec: 0 } } });
  const c = await rawClient(t, s2.url, { headers: bearer(await hs({ sub: 'alice' }, { exp: Math.floor(Date.now() / 1000) + 2 })) });
  const closed = await Promise.race([c.closed, new Promise<{ code: number; reason: string }>((r) => setTimeout(() => r({ code: -1, reason: 'still open' }), 5000).unref())]);
  t.same(closed, { code: 4003, reason: 'credentials_expired' });
});

t.test('R2.2.10 the verified credentials are on socket.handshake.credentials', async (t) => {
  const { server, url } = await authServer(t);
  const seen = new Promise<Socket>((r) => server.on('connection', r));
  await rawClient(t, url, { headers: bearer(await hs({ sub: 'alice', role: 'admin' })) });
  const creds = (await seen).handshake.credentials;
  t.equal(creds?.kind, 'jwt');
  t.equal(creds?.client, 'alice');
  t.equal(creds?.claims?.role, 'admin', 'claims are exposed to middleware and handlers');
  t.ok(creds?.expiresAt && creds.expiresAt > Date.now(), 'expiry in ms');
});

t.test('R2.2.9 a client that resets while its credential is being checked does not take the server down', async (t) => {
  const { url, server } = await authServer(t);
  const { connect } = await import('node:net');
  const token = await hs({ sub: 'alice' });
  const forged = await hs({ sub: 'alice' }, { secret: 'another-secret-that-is-long-enough-000000' });
  for (let i = 0; i < 40; i++) {
    const s = connect(server.port, '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write(
      `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${i % 2 ? forged : token}\r\n\r\n`,
    );
    s.resetAndDestroy(); // the 101 or the 401 is then written to a reset socket
  }
  const c = await rawClient(t, url, { headers: bearer(token) });
  t.equal((await c.request({ type: 'ping', id: 1 })).type, 'pong', 'still serving');
});

t.test('R2.2.10 another identity cannot take a durable cursor: it gets its own, and the owner resumes where it was', async (t) => {
  const { url, server } = await authServer(t);
  const aliceToken = await hs({ sub: 'alice' });
  const a1 = await rawClient(t, url, { headers: bearer(aliceToken) });
  t.equal((await a1.request({ type: 'join', room: 'feed', durable: true, id: 1 })).type, 'joined');
  await server.publish('feed', 'm', { n: 1 });
  const d1 = await a1.next((f) => f.type === 'event' && f.room === 'feed');
  a1.send({ type: 'ack', id: d1.id });
  await a1.sync();
  await a1.close();
  await a1.closed;
  await server.publish('feed', 'm', { n: 2 });
  t.equal((await upgrade(`${url}?client=alice`, bearer(await hs({ sub: 'mallory' })))).status, 403, "mallory cannot open alice's cursor");
  const m = await rawClient(t, url, { headers: bearer(await hs({ sub: 'mallory' })) });
  t.equal((await m.request({ type: 'join', room: 'feed', durable: true, id: 1 })).type, 'joined');
  const got = await m.collect((f) => f.type === 'event' && f.room === 'feed', 2);
  t.same(
    got.map((f) => f.data.n),
    [1, 2],
    "mallory's durable join is mallory's own cursor (from the earliest message)",
  );
  const a2 = await rawClient(t, url, { headers: bearer(aliceToken) });
  t.equal((await a2.request({ type: 'join', room: 'feed', durable: true, id: 1 })).type, 'joined');
  const next = await a2.next((f) => f.type === 'event' && f.room === 'feed');
  t.equal(next.data.n, 2, 'alice resumes after what she acked; mallory took nothing of hers');
});
