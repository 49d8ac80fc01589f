/**
 * examples/chat server without a browser: it serves the page, the client bundle and
 * /healthz on the wsq port, and its disk store keeps a room's history across a kill and
 * restart on the same port and data directory (same epoch, same offsets). The browser
 * side is test/browser/chat.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { connect, type Message } from '../../lib/client/index.js';
import { startChatServer } from './children.js';

const WAIT = 20_000;

async function get(url: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(WAIT) });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

/** Join `room` from the earliest message and resolve with the first `n` messages. */
async function history(url: string, room: string, n: number): Promise<Message[]> {
  const client = connect(url, { reconnect: false });
  try {
    const got: Message[] = [];
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} messages within ${WAIT} ms`)), WAIT);
      client.join(room, { since: 'earliest' }).on('message', (_data, msg) => {
        got.push(msg);
        if (got.length === n) resolve();
      });
    }).finally(() => clearTimeout(timer));
    return got;
  } finally {
    await client.close();
  }
}

t.test('the chat server serves the page and keeps history across a restart', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'wsq-chat-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));

  const first = await startChatServer(t, { PORT: '0', DATA_DIR: dataDir });
  const http = `http://127.0.0.1:${first.port}`;
  const ws = `ws://127.0.0.1:${first.port}/`;

  const page = await get(`${http}/`);
  t.equal(page.status, 200, 'GET / serves the page');
  t.match(page.type, /^text\/html/);
  t.match(page.body, "import { connect } from '/wsq-client.js'");
  const bundle = await get(`${http}/wsq-client.js`);
  t.equal(bundle.status, 200, 'GET /wsq-client.js serves the bundle');
  t.match(bundle.type, /^text\/javascript/);
  t.match(bundle.body, /export\s*\{[^}]*connect/, 'the bundle exports connect');
  t.equal((await get(`${http}/nothing-here`)).status, 404, 'anything else is 404');
  t.same(JSON.parse((await get(`${http}/healthz`)).body), { status: 'ok', store: 'disk' }, '/healthz');

  const sender = connect(ws, { reconnect: false });
  const a1 = await sender.emitWithAck('message', { name: 'ann', text: 'one' }, { room: 'lobby', key: 'k1' });
  const a2 = await sender.emitWithAck('message', { name: 'ann', text: 'two' }, { room: 'lobby', key: 'k2' });
  await sender.close();
  t.same([a1.offset, a2.offset], [1, 2], 'stored at offsets 1 and 2');

  // Kill it outright (the acks above mean "on disk"), then start it again on the same port and directory.
  first.child.kill('SIGKILL');
  await first.child.exit(WAIT);
  const second = await startChatServer(t, { PORT: String(first.port), DATA_DIR: dataDir });
  t.equal(second.port, first.port, 'restarted on the same port');

  const msgs = await history(ws, 'lobby', 2);
  t.same(
    msgs.map((m) => [m.offset, m.data]),
    [
      [1, { name: 'ann', text: 'one' }],
      [2, { name: 'ann', text: 'two' }],
    ],
    'history survived the restart',
  );
  t.equal(msgs[0]!.epoch, a1.epoch, 'same epoch: clients resume without a gap');

  await second.child.stop();
  t.equal(second.child.proc.exitCode, 0, 'SIGTERM shuts it down cleanly');
  t.match(second.child.stdout, 'chat: SIGTERM, shutting down');
});
