/**
 * I8 Deliver 1, the SDK side: `token` as a string or a callback called before every
 * connection attempt; `Authorization: Bearer` in Node, `?token=` on a WebSocket that
 * takes no headers (browsers); close 4003 `credentials_expired` reconnects with a fresh
 * token; a 401 is retried only when the callback gives a new token.
 */
import t from 'tap';
import WebSocket from 'ws';
import type { CloseInfo, WebSocketConstructor, WsqError, WsqUpgradeError } from '../../lib/client/index.js';
import { startServer } from '../helpers/server.js';
import { hs, jwtConfig, keyFiles } from '../security/setup.js';
import { startFixture } from './fixtures/refusal-server.js';
import { client, next, within } from './util.js';

t.test('a token callback is called before every attempt; its token goes as a Bearer header, never in the URL', async (t) => {
  let calls = 0;
  const fx = await startFixture(t, () => ({ welcome: true, then: (ws) => ws.close(1011, 'server hiccup') }));
  const c = client(t, fx.url, { token: () => `tok-${++calls}` });
  await within(new Promise<void>((resolve) => c.on('open', () => fx.upgrades.length >= 3 && resolve())), 5000, 'three connections');
  t.ok(calls >= 3, `called ${calls} times`);
  t.same(
    fx.upgrades.slice(0, 3).map((u) => u.authorization),
    ['Bearer tok-1', 'Bearer tok-2', 'Bearer tok-3'],
    'a fresh token each attempt',
  );
  t.notOk(
    fx.upgrades.some((u) => u.url.includes('token')),
    'the token stays out of the URL',
  );
});

t.test('an async token callback works, and a custom WebSocket (as in browsers) carries it as ?token=', async (t) => {
  const fx = await startFixture(t, () => ({ welcome: true }));
  const c = client(t, fx.url, { token: async () => 'a b', WebSocket: WebSocket as unknown as WebSocketConstructor });
  await within(c.ready(), 5000, 'ready()');
  t.equal(new URL(fx.upgrades[0]!.url, 'ws://h').searchParams.get('token'), 'a b');
  t.equal(fx.upgrades[0]!.authorization, undefined);
});

t.test('close 4003 credentials_expired: the client reconnects, calling the callback again for a fresh token', async (t) => {
  let calls = 0;
  const fx = await startFixture(t, (req) => ({
    welcome: true,
    // The first token "expires" once the connection is open.
    then: (ws) => req.headers.authorization === 'Bearer old' && ws.close(4003, 'credentials expired'),
  }));
  const c = client(t, fx.url, { token: () => (++calls === 1 ? 'old' : 'fresh') });
  const closed = next<CloseInfo>(c, 'close');
  const reconnected = next(c, 'open');
  await within(c.ready(), 5000, 'ready()');
  const info = await closed;
  t.equal(info.code, 4003);
  t.equal(info.willReconnect, true, '4003 is not terminal');
  await reconnected; // the first open
  await within(new Promise<void>((r) => (fx.upgrades.length >= 2 && c.connected ? r() : c.on('open', () => r()))), 5000, 'reopened');
  t.same(
    fx.upgrades.map((u) => u.authorization),
    ['Bearer old', 'Bearer fresh'],
  );
  t.equal(calls, 2);
});

t.test('a 401 with a token callback is retried with the fresh token; the same refused token again stops the client', async (t) => {
  await t.test('fresh token: accepted', async (t) => {
    let calls = 0;
    const fx = await startFixture(t, (req) => (req.headers.authorization === 'Bearer good' ? { welcome: true } : { http: 401, body: 'Unauthorized: the token expired' }));
    const c = client(t, fx.url, { token: () => (++calls === 1 ? 'stale' : 'good') });
    const errors: WsqError[] = [];
    c.on('error', (e) => errors.push(e));
    await within(c.ready(), 5000, 'ready() after the refresh');
    t.equal(errors.length, 1, 'the 401 was reported');
    t.equal((errors[0] as WsqUpgradeError).status, 401);
    t.equal(calls, 2);
  });
  await t.test('same token: stops', async (t) => {
    let calls = 0;
    const fx = await startFixture(t, () => ({ http: 401, body: 'Unauthorized: bad signature' }));
    const c = client(t, fx.url, { token: () => (calls++, 'same') });
    const err = (await within(
      c.ready().catch((e: unknown) => e),
      5000,
      'ready() settles',
    )) as WsqUpgradeError;
    t.equal(err.status, 401);
    t.match(err.message, /bad signature/);
    t.equal(c.state, 'closed');
    t.equal(fx.upgrades.length, 1, 'the refused token was not sent again');
    t.equal(calls, 2, 'the callback was asked once more');
  });
});

t.test('a failing token callback reports token_failed and is retried with backoff', async (t) => {
  let calls = 0;
  const fx = await startFixture(t, () => ({ welcome: true }));
  const c = client(t, fx.url, {
    token: () => {
      if (++calls < 3) throw new Error('auth service down');
      return 'ok';
    },
  });
  const errors: WsqError[] = [];
  c.on('error', (e) => errors.push(e));
  await within(c.ready(), 5000, 'ready()');
  t.same(
    errors.map((e) => e.code),
    ['token_failed', 'token_failed'],
  );
  t.match(errors[0]!.message, /auth service down/);
  t.equal(fx.upgrades.length, 1, 'no upgrade without a token');
});

t.test('a token callback that never answers is bounded by connectTimeoutMs', async (t) => {
  let calls = 0;
  const fx = await startFixture(t, () => ({ welcome: true }));
  const c = client(t, fx.url, { connectTimeoutMs: 200, token: () => (++calls === 1 ? new Promise<string>(() => {}) : 'late') });
  const first = await next<CloseInfo>(c, 'close');
  t.match(first.reason, /no welcome from the server within 200 ms/);
  await within(c.ready(), 5000, 'ready() on the next attempt');
  t.equal(fx.upgrades[0]!.authorization, 'Bearer late');
});

t.test(
  'against the real server (R2.2.9, R2.2.11): an expired token is a 401 with its reason; a token that expires while connected (4003) is replaced by the callback on reconnect',
  async (t) => {
    const files = await keyFiles(t);
    const { url } = await startServer(t, { auth: { jwt: { ...jwtConfig(files), clockToleranceSec: 0 } } });

    const stale = client(t, url, { token: await hs({ sub: 'alice' }, { exp: Math.floor(Date.now() / 1000) - 60 }) });
    const err = (await within(
      stale.ready().catch((e: unknown) => e),
      5000,
      'ready() of the stale token',
    )) as WsqUpgradeError;
    t.equal(err.status, 401);
    t.equal(err.code, 'unauthorized');
    t.match(err.sentence, /expired/, "the server's reason");
    t.equal(stale.state, 'closed', 'a static token that was refused is not retried');

    const issued: string[] = [];
    const c = client(t, url, {
      token: async () => {
        // The first token lives 2 s; the next ones an hour.
        const token = await hs({ sub: 'alice' }, { exp: Math.floor(Date.now() / 1000) + (issued.length === 0 ? 2 : 3600) });
        issued.push(token);
        return token;
      },
    });
    t.equal((await within(c.ready(), 5000, 'ready()')).client, 'alice');
    const closed = await next<CloseInfo>(c, 'close', 6000);
    t.equal(closed.code, 4003, 'credentials_expired');
    t.equal(closed.willReconnect, true);
    const back = await next<{ client?: string }>(c, 'open', 5000);
    t.equal(back.client, 'alice', 'back with a fresh token');
    t.equal(issued.length, 2, 'the callback was asked again');
    t.not(issued[0], issued[1]);
  },
);
