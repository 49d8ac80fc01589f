/**
 * Refusals the SDK surfaces instead of hiding: D1 / I7 #5 (the main namespace's middleware
 * refuses: `error` and close 4001, no `welcome`) and I7 #16 (the HTTP upgrade is refused:
 * the status and the server's sentence, no retry when retrying cannot help, backoff when it can).
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import { WsqUpgradeError, type CloseInfo, type WsqError } from '../../lib/client/index.js';
import { startFixture } from './fixtures/refusal-server.js';
import { client, next, within } from './util.js';

/** Record a client's lifecycle events in order. */
function record(c: { on(e: string, fn: (...a: any[]) => void): unknown }) {
  const events: { type: string; arg?: any }[] = [];
  for (const type of ['open', 'close', 'error', 'reconnecting']) c.on(type, (arg: any) => events.push({ type, arg }));
  return events;
}

t.test("I7 #5 (D1) a refused client sees error (the server's code and sentence), then close 4001; never open; ready() rejects with that error; no reconnect", async (t) => {
  const fx = await startFixture(t, () => ({ refuse: { code: 'unauthorized', message: 'The server refused the connection: no valid key.' } }));
  const c = client(t, fx.url);
  const events = record(c);
  const err = (await within(
    c.ready().catch((e: unknown) => e),
    5000,
    'ready() settles',
  )) as WsqError;
  t.equal(err.code, 'unauthorized', "ready() rejects with the server's code");
  t.equal(err.message, 'The server refused the connection: no valid key.', 'and its sentence');
  t.same(
    events.map((e) => e.type),
    ['error', 'close'],
    'error, then close; never open',
  );
  t.equal(events[0]!.arg, err, 'the error event carries the same error');
  const close = events[1]!.arg as CloseInfo;
  t.equal(close.code, 4001);
  t.equal(close.willReconnect, false, '4001 is terminal');
  t.equal(close.error, err);
  t.equal(c.state, 'closed');
  // Bounded check that nobody dials again: a second upgrade would land within the fast backoff (≤ 50 ms).
  await new Promise((r) => setTimeout(r, 300));
  t.equal(fx.upgrades.length, 1, 'one attempt only');
  const emitErr = (await c.emitWithAck('m', 1, { room: 'r' }).catch((e: unknown) => e)) as WsqError;
  t.equal(emitErr.code, 'closed', 'emits after the refusal fail as closed');
});

t.test('I7 #5 (D1) a forbidden refusal keeps its code', async (t) => {
  const fx = await startFixture(t, () => ({ refuse: { code: 'forbidden', message: 'The server refused the connection: banned.' } }));
  const c = client(t, fx.url);
  const err = (await within(
    c.ready().catch((e: unknown) => e),
    5000,
    'ready()',
  )) as WsqError;
  t.equal(err.code, 'forbidden');
  t.match(err.message, /banned/);
});

t.test("I7 #16 a wrong path (404) is an error with the status and the server's sentence, and stops the client", async (t) => {
  const { url } = await startServer(t);
  const c = client(t, `${url}wrong/path`);
  const events = record(c);
  const err = (await within(
    c.ready().catch((e: unknown) => e),
    5000,
    'ready()',
  )) as WsqUpgradeError;
  t.ok(err instanceof WsqUpgradeError, 'a WsqUpgradeError');
  t.equal(err.status, 404);
  t.equal(err.code, 'upgrade_refused');
  t.match(err.sentence, /^Not Found: wsq serves WebSocket upgrades on \//, "the server's one-line body");
  t.match(err.message, /HTTP 404: Not Found/);
  t.same(
    events.map((e) => e.type),
    ['error', 'close'],
    'error, then a terminal close; no reconnecting',
  );
  t.equal((events[1]!.arg as CloseInfo).status, 404);
  t.equal((events[1]!.arg as CloseInfo).willReconnect, false);
  t.equal(c.state, 'closed');
});

t.test('I7 #16 a bad ?client= (400) is an error with its sentence and is not retried', async (t) => {
  const { url } = await startServer(t);
  const c = client(t, url, { client: 'no spaces allowed' });
  const err = (await within(
    c.ready().catch((e: unknown) => e),
    5000,
    'ready()',
  )) as WsqUpgradeError;
  t.equal(err.status, 400);
  t.match(err.sentence, /client must be/);
  t.equal(c.state, 'closed');
});

for (const status of [401, 403]) {
  t.test(`I7 #16 an upgrade refused with ${status} is terminal with a static token`, async (t) => {
    const fx = await startFixture(t, () => ({ http: status, body: status === 401 ? 'Unauthorized: the token expired' : 'Forbidden: not for you' }));
    const c = client(t, fx.url, { token: 'static' });
    const err = (await within(
      c.ready().catch((e: unknown) => e),
      5000,
      'ready()',
    )) as WsqUpgradeError;
    t.equal(err.status, status);
    t.equal(err.code, status === 401 ? 'unauthorized' : 'forbidden');
    t.match(err.sentence, status === 401 ? /the token expired/ : /not for you/);
    await new Promise((r) => setTimeout(r, 300));
    t.equal(fx.upgrades.length, 1, 'not retried');
  });
}

for (const status of [429, 503]) {
  t.test(`I7 #16 an upgrade refused with ${status} is reported, then retried with backoff until it is accepted`, async (t) => {
    const fx = await startFixture(t, (_req, n) =>
      n <= 2 ? { http: status, body: status === 429 ? 'Too Many Requests: slow down' : 'Service Unavailable: the server is shutting down' } : { welcome: true },
    );
    const c = client(t, fx.url);
    const errors: WsqUpgradeError[] = [];
    c.on('error', (e) => errors.push(e as WsqUpgradeError));
    const closes: CloseInfo[] = [];
    c.on('close', (i) => closes.push(i));
    const welcome = await within(c.ready(), 5000, 'ready() after the refusals');
    t.equal(welcome.sid, 's3', 'the third attempt got in');
    t.equal(errors.length, 2, 'each refusal reported');
    t.same(
      errors.map((e) => e.status),
      [status, status],
    );
    t.equal(errors[0]!.code, status === 429 ? 'rate_limited' : 'unavailable');
    t.ok(errors[0]!.retryable);
    t.same(
      closes.map((i) => i.willReconnect),
      [true, true],
      'each refusal closes with a reconnect scheduled',
    );
  });
}

t.test('I7 #16 Retry-After is honoured as the least delay before the next attempt', async (t) => {
  const fx = await startFixture(t, (_req, n) => (n === 1 ? { http: 503, body: 'Service Unavailable: busy', headers: { 'Retry-After': '1' } } : { welcome: true }));
  const c = client(t, fx.url);
  const reconnecting = await next<{ delayMs: number }>(c, 'reconnecting');
  t.ok(reconnecting.delayMs >= 1000, `waits at least 1 s (${reconnecting.delayMs} ms)`);
  await within(c.ready(), 5000, 'ready()');
});

t.test('I7 #16 the refusal body is read bounded: a huge body gives its first line, at once', async (t) => {
  const fx = await startFixture(t, () => ({ http: 404, body: `Not Found: nothing here\n${'x'.repeat(200_000)}` }));
  const c = client(t, fx.url);
  const t0 = Date.now();
  const err = (await within(
    c.ready().catch((e: unknown) => e),
    5000,
    'ready()',
  )) as WsqUpgradeError;
  t.equal(err.sentence, 'Not Found: nothing here');
  t.ok(Date.now() - t0 < 2000, 'did not wait for the whole body');
});
