/**
 * Connection state recovery across a restart of the server (issue 10 item 7, PROTOCOL.md
 * R2.7.6): on the disk store (LmdbStore, the store of `wsq serve --data-dir`) a session outlives
 * the process that kept it — Socket.IO's in-memory recovery cannot do this. The server is shut
 * down (clients see 1001, the sockets' reason is `server shutting down`), a new server opens the
 * same data directory, and the client reconnecting within the window gets its sid, rooms and data
 * back, with what was sent to it before the restart and after it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { retentionResolver } from '../../lib/retention.js';
import { LmdbStore } from '../../lib/store/lmdb.js';
import { WsqServer, type Socket } from '../../lib/index.js';
import { RawClient, type Frame } from '../helpers/raw-client.js';
import { once } from '../helpers/events.js';

async function serverOn(dir: string): Promise<WsqServer> {
  const store = await LmdbStore.open(dir, { retention: retentionResolver() });
  const server = new WsqServer({ namespaces: 'any', logger: () => {}, store, connectionStateRecovery: { maxDisconnectionDuration: 60_000 } });
  await server.listen({ port: 0 });
  return server;
}

t.test('R2.7.6: on the disk store a session survives a restart: same sid, rooms, data, and the frames of before and after', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-recovery-restart-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const one = await serverOn(dir);
  t.teardown(() => one.close());
  const chat = one.of('/chat');
  const first = once<Socket>(one.sockets, 'connection');
  const a = await RawClient.connect(one.url);
  t.teardown(() => a.close());
  const s = await first;
  s.join('news');
  s.data = { user: 'ann' };
  const inChat = once<Socket>(chat, 'connection');
  await a.request({ type: 'connect', ns: '/chat' });
  (await inChat).join('lobby');
  s.emit('read', 1);
  s.emit('unread', 2); // the client will say it read only one event
  await a.collect((f) => f.type === 'event', 2);
  const reason = once<string>(s, 'disconnect');
  await one.close();
  t.equal(await reason, 'server shutting down');
  t.equal((await a.closed).code, 1001);

  const two = await serverOn(dir);
  t.teardown(() => two.close());
  await two.recovery!.loaded;
  t.equal(two.recovery!.size, 1, 'the session was read back from the store');
  two.to('news').emit('after', 3); // sent after the restart, before the client is back
  two.of('/chat').to('lobby').emit('said', 4);

  const back = once<Socket>(two.sockets, 'connection');
  const b = await RawClient.connect(`${two.url}?recover=${a.welcome.pid}&seen=1`);
  t.teardown(() => b.close());
  const s2 = await back;
  t.equal(b.welcome.recovered, true);
  t.equal(b.welcome.sid, a.welcome.sid, 'the same sid after the restart');
  t.equal(s2.recovered, true);
  t.same(s2.data, { user: 'ann' }, 'socket.data came back from disk');
  t.ok(s2.rooms.has('news'), 'rooms came back from disk');
  await b.sync();
  const ev = (f: Frame) => f.type === 'event' && f.ns === '/';
  t.same(
    b.frames.filter(ev).map((f) => [f.event, f.data]),
    [
      ['unread', 2],
      ['after', 3],
    ],
  );
  const r = await b.request({ type: 'connect', ns: '/chat' });
  t.equal(r.recovered, true);
  const said = await b.next((f) => f.type === 'event' && f.ns === '/chat');
  t.same([said.event, said.data], ['said', 4]);
  t.ok(two.of('/chat').sockets.get(b.welcome.sid)?.rooms.has('lobby'));

  // Used once: a third server on the same directory does not offer it again.
  await b.close();
  await two.close();
  const three = await serverOn(dir);
  t.teardown(() => three.close());
  await three.recovery!.loaded;
  const c = await RawClient.connect(`${three.url}?recover=${a.welcome.pid}&seen=0`);
  t.teardown(() => c.close());
  t.equal(c.welcome.recovered, false, 'a claimed session is not recovered again after a restart');
});
