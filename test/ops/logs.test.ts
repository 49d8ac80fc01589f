/**
 * Issue 11 item 2: structured logs through pino. A server given a pino logger writing to a
 * stream of this test: JSON lines with level, time, msg and the connection's sid (and client);
 * refusals with status and reason; kicks, bad-frame closes and storage faults; nothing per
 * message at info; repeated lines rate-limited.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { hashKey } from '../../lib/auth/keys.js';
import type { WsqServerOptions } from '../../lib/index.js';
import { createLogger, LIMIT_WINDOW_MS } from '../../lib/logging.js';
import { retentionResolver } from '../../lib/retention.js';
import { MemoryStore } from '../../lib/store/memory.js';
import { StoreUnavailableError, type StoreHealth } from '../../lib/store/types.js';
import { RawClient } from '../helpers/raw-client.js';
import { bearer, hs, jwtConfig, keyFiles } from '../security/setup.js';
import { clientSocket, rawClient, startServer } from '../helpers/server.js';

type Line = { level: number; time: number; msg: string; sid?: string; client?: string; [k: string]: unknown };

/** A pino destination collecting the lines written (every line is parsed as JSON: a non-JSON line fails the test). */
function sink(): { lines: Line[]; stream: Writable; waitFor: (pred: (l: Line) => boolean, what: string, ms?: number) => Promise<Line> } {
  const lines: Line[] = [];
  const waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString().split('\n').filter(Boolean)) {
        const line = JSON.parse(text) as Line;
        lines.push(line);
        for (const w of waiters.splice(0)) {
          if (w.pred(line)) w.resolve(line);
          else waiters.push(w);
        }
      }
      cb();
    },
  });
  const waitFor = (pred: (l: Line) => boolean, what: string, ms = 3000): Promise<Line> => {
    const found = lines.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line ${what} within ${ms} ms; lines: ${JSON.stringify(lines)}`)), ms);
      waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  };
  return { lines, stream, waitFor };
}

async function logged(t: Tap, level: 'debug' | 'info', opts: WsqServerOptions = {}) {
  const s = sink();
  const { server, url } = await startServer(t, { logger: pino({ level }, s.stream), ...opts });
  return { ...s, server, url };
}
type Tap = Parameters<typeof startServer>[0];

/** The HTTP status an upgrade was refused with (undefined: it was not refused). */
async function refusal(url: string, opts?: Parameters<typeof RawClient.connect>[1]): Promise<number | undefined> {
  return RawClient.connect(url, opts).then(
    async (c) => void (await c.close()),
    (err: { status?: number }) => err.status,
  );
}

const KEY = 'k-alice-0123456789';
const auth = { keys: [{ client: 'alice', hash: hashKey(KEY) }] };

t.test('every line is JSON with level, time and msg; a connection line carries its sid and client identity', async (t) => {
  const { lines, url } = await logged(t, 'debug', { auth });
  const c = await rawClient(t, url, { headers: { authorization: `Bearer ${KEY}` } });
  const opened = lines.find((l) => l.msg === 'connection opened');
  t.ok(opened, 'connection opened is logged at debug');
  t.equal(opened?.level, 20, 'debug');
  t.equal(typeof opened?.time, 'number', 'time');
  t.equal(opened?.sid, c.welcome.sid, 'the sid the client was told in welcome');
  t.equal(opened?.client, 'alice', 'the identity the credential proved');
  await c.close();
  for (const l of lines) t.ok(typeof l.level === 'number' && typeof l.time === 'number' && typeof l.msg === 'string', `a structured line: ${l.msg}`);
});

t.test('connection closed is logged at debug with its sid', async (t) => {
  const { url, waitFor } = await logged(t, 'debug');
  const c = await RawClient.connect(url);
  const sid = c.welcome.sid as string;
  await c.close();
  const closed = await waitFor((l) => l.msg === 'connection closed' && l.sid === sid, 'connection closed');
  t.equal(closed.level, 20);
});

t.test('a refusal at the upgrade is logged at info with its status and reason', async (t) => {
  const { url, waitFor } = await logged(t, 'info', { auth });
  t.equal(await refusal(url), 401);
  const line = await waitFor((l) => l.msg === 'upgrade refused', 'upgrade refused');
  t.equal(line.level, 30, 'info');
  t.equal(line.status, 401);
  t.match(line.reason, /^Unauthorized: .+/, 'the one-line reason the client was sent');
  t.equal(await refusal(url.replace(/\/$/, '/elsewhere'), { headers: { authorization: `Bearer ${KEY}` } }), 404);
  t.match(await waitFor((l) => l.status === 404, '404 refusal'), { msg: 'upgrade refused', reason: /^Not Found/ });
});

t.test('a refusal by the main namespace middleware is logged with the sid and the reason', async (t) => {
  const { server, url, waitFor } = await logged(t, 'info');
  server.use((_socket, next) => next(new Error('no entry today')));
  const c = await RawClient.connect(url, { welcome: false });
  t.equal((await c.closed).code, 4001);
  const line = await waitFor((l) => l.msg === 'connection refused by middleware', 'middleware refusal');
  t.equal(line.reason, 'no entry today');
  t.equal(line.code, 4001);
  t.type(line.sid, 'string');
});

t.test('repeated refusals are rate-limited: one line per second per kind, then the count of those suppressed', async (t) => {
  let clock = 1_000_000;
  const { url, lines, waitFor } = await logged(t, 'info', { auth, now: () => clock });
  for (let i = 0; i < 20; i++) t.equal(await refusal(url), 401);
  t.equal(lines.filter((l) => l.msg === 'upgrade refused').length, 1, '20 refusals within a second: one line');
  clock += LIMIT_WINDOW_MS;
  t.equal(await refusal(url), 401);
  const next = await waitFor((l) => l.msg === 'upgrade refused' && l.suppressed !== undefined, 'the next line with its suppressed count');
  t.equal(next.suppressed, 19, 'the next line says how many were not written');
});

t.test('a kick (4000) and a bad-frame close (1008) are logged with the sid', async (t) => {
  const { server, url, waitFor } = await logged(t, 'info', { badFrameLimit: 2 });
  const { c, socket } = await clientSocket(t, server, url);
  socket.disconnect(true);
  t.equal((await c.closed).code, 4000);
  t.match(await waitFor((l) => l.code === 4000, 'kick'), { level: 30, sid: c.welcome.sid, msg: /kicked/ });
  const bad = await rawClient(t, url);
  for (let i = 0; i < 3; i++) bad.sendRaw('not json');
  t.equal((await bad.closed).code, 1008);
  t.match(await waitFor((l) => l.code === 1008, 'bad-frame close'), { level: 40, sid: bad.welcome.sid, msg: /bad frames/ });
});

t.test('1,000 emits at info write no line per message', async (t) => {
  const { server, url, lines } = await logged(t, 'info');
  const { c } = await clientSocket(t, server, url);
  const peer = await rawClient(t, url);
  await peer.request({ type: 'join', room: 'busy', id: 1 });
  const before = lines.length;
  for (let i = 0; i < 1000; i++) c.send({ type: 'emit', room: 'busy', event: 'tick', data: i, id: i + 1 });
  await c.collect((f) => f.type === 'ack', 1000, 10_000);
  await peer.collect((f) => f.type === 'event' && f.event === 'tick', 1000, 10_000);
  t.same(lines.slice(before), [], 'no line written for 1,000 stored emits and their 1,000 deliveries');
});

/** A memory store whose writes fail while `failing` is set (as a disk that is full), for the storage-fault lines. */
class FailingStore extends MemoryStore {
  failing = false;
  override append(...args: Parameters<MemoryStore['append']>): ReturnType<MemoryStore['append']> {
    if (this.failing) return Promise.reject(new StoreUnavailableError('No space left on device (test)'));
    return super.append(...args);
  }
  override health(): StoreHealth {
    return this.failing ? { writable: false, reason: 'No space left on device (test)' } : { writable: true };
  }
}

t.test('a storage fault is logged once (error) however many writes it refuses, and its end once', async (t) => {
  const store = new FailingStore({ retention: retentionResolver() });
  const { server, url, lines, waitFor } = await logged(t, 'info', { store, heartbeatMs: 50 });
  const { c } = await clientSocket(t, server, url);
  store.failing = true;
  for (let i = 0; i < 50; i++) c.send({ type: 'emit', room: 'r', event: 'e', id: i + 1 });
  const errors = await c.collect((f) => f.type === 'error' && f.code === 'unavailable', 50, 5000);
  t.equal(errors.length, 50, 'every write refused with unavailable');
  const faults = lines.filter((l) => /store refuses writes/.test(l.msg));
  t.equal(faults.length, 1, 'one line for the episode');
  t.match(faults[0], { level: 50, sid: c.welcome.sid, reason: /No space left/ });
  store.failing = false;
  t.match(await waitFor((l) => /accepts writes again/.test(l.msg), 'recovery', 3000), { level: 30, refused: 50 });
  t.equal((await c.request({ type: 'emit', room: 'r', event: 'e', id: 100 })).type, 'ack', 'writes work again');
  store.failing = true;
  await c.request({ type: 'emit', room: 'r', event: 'e', id: 101 });
  t.equal(lines.filter((l) => /store refuses writes/.test(l.msg)).length, 2, 'a new episode is logged again');
});

t.test('a log function as the logger gets (level, msg, err, fields), filtered by log.level', async (t) => {
  const got: [string, string, unknown][] = [];
  const { url } = await startServer(t, { logger: (level, msg, _err, fields) => got.push([level, msg, fields]), log: { level: 'info' }, auth });
  t.equal(await refusal(url), 401);
  t.match(got, [['info', 'upgrade refused', { status: 401 }]]);
  const quiet: string[] = [];
  const { url: url2 } = await startServer(t, { logger: (level) => quiet.push(level), log: { level: 'warn' }, auth });
  t.equal(await refusal(url2), 401);
  t.same(quiet, [], 'info lines are not passed at level warn');
});

t.test('createLogger writes JSON lines to a destination at the level asked', async (t) => {
  const s = sink();
  const log = createLogger({ level: 'warn', destination: s.stream });
  log.info('hidden');
  log.warn({ sid: 'abc' }, 'shown');
  await s.waitFor((l) => l.msg === 'shown', 'shown');
  t.same(
    s.lines.map((l) => [l.level, l.msg, l.sid]),
    [[40, 'shown', 'abc']],
  );
});

t.test('credential expiry (4003) is logged with the sid and the identity', async (t) => {
  const files = await keyFiles(t);
  const { url, waitFor } = await logged(t, 'info', { auth: { jwt: jwtConfig(files) } });
  const token = await hs({ sub: 'bob' }, { exp: Math.floor(Date.now() / 1000) + 1 });
  const c = await rawClient(t, url, { headers: bearer(token) });
  const line = await waitFor((l) => l.code === 4003, 'credentials expired', 5000);
  t.match(line, { level: 30, sid: c.welcome.sid, client: 'bob', msg: /credentials expired/ });
  t.equal((await c.closed).code, 4003);
});

t.test('a slow-consumer close (4002) is logged with the sid', async (t) => {
  const { server, url, waitFor } = await logged(t, 'info', { maxBufferedBytes: 64 * 1024 });
  const { c } = await clientSocket(t, server, url);
  const raw = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
  raw.pause(); // this client stops reading
  t.teardown(() => raw.resume());
  const big = 'x'.repeat(64 * 1024);
  for (let i = 0; i < 200; i++) server.emit('fill', big);
  t.match(await waitFor((l) => l.code === 4002, 'slow consumer', 5000), { level: 40, sid: c.welcome.sid, msg: /4002 slow_consumer/ });
});

t.test('the same error line repeated (a failing handler on every frame) is written once a second, with the count suppressed', async (t) => {
  let clock = 2_000_000;
  const { server, url, lines, waitFor } = await logged(t, 'info', { now: () => clock });
  server.on('connection', (socket) =>
    socket.on('boom', () => {
      throw new Error('handler bug');
    }),
  );
  const c = await rawClient(t, url);
  for (let i = 0; i < 100; i++) c.send({ type: 'emit', event: 'boom', id: i + 1 });
  await c.collect((f) => f.type === 'ack' || f.type === 'error', 100, 5000).catch(() => undefined);
  await c.sync();
  const failed = lines.filter((l) => /failed/.test(l.msg));
  t.equal(failed.length, 1, '100 failures within a second: one line');
  t.equal(failed[0]?.level, 50);
  clock += LIMIT_WINDOW_MS;
  c.send({ type: 'emit', event: 'boom', id: 1000 });
  t.match(await waitFor((l) => /failed/.test(l.msg) && l.suppressed !== undefined, 'the next failure line'), { suppressed: 99 });
});
