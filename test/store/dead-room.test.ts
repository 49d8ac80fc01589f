/**
 * I8 #9: the longest names the schema accepts (D3: a 256-byte namespace and a 256-byte room,
 * non-ASCII) still have a working dead-letter room on the disk store: `$dead:` + room is 262
 * bytes, and with the consumer's key it once passed LMDB's key limit (dead-lettering failed and
 * was retried every 2 s forever). Over a real socket: a group member refuses, the message
 * reaches `$dead:R` live and is there after a restart of the store.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { WsqServer } from '../../lib/index.js';
import { LmdbStore } from '../../lib/store/lmdb.js';
import type { Retention } from '../../lib/store/types.js';
import { RawClient } from '../helpers/raw-client.js';

const retention = (): Retention => ({ maxMessages: 0, maxAgeMs: 0, maxBytes: 0, overflow: 'drop-oldest', dedupWindowMs: 0 });

t.test('R5.5.5 a 256-byte room in a 256-byte namespace has a usable dead-letter room on the disk store', async (tt) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-dead-room-'));
  tt.teardown(() => rm(dir, { recursive: true, force: true }));
  const ns = `/${'\u20ac'.repeat(85)}`;
  const room = '\u{1d11e}'.repeat(64);
  tt.same([Buffer.byteLength(ns), Buffer.byteLength(room)], [256, 256]);
  const store = await LmdbStore.open(dir, { retention });
  const server = new WsqServer({ namespaces: 'any', logger: () => {}, store, maxDeliver: 1 });
  await server.listen({ port: 0, host: '127.0.0.1' });
  const c = await RawClient.connect(server.url);
  const p = await RawClient.connect(server.url);
  tt.teardown(async () => {
    await c.close();
    await p.close();
    await server.close();
  });
  for (const x of [c, p]) tt.match(await x.request({ type: 'connect', ns, id: 'c' }), { type: 'connected' });
  tt.match(await c.request({ type: 'join', ns, room, group: 'g', id: 'g' }), { type: 'joined', group: 'g' });
  tt.match(await c.request({ type: 'join', ns, room: `$dead:${room}`, id: 'd' }), { type: 'joined' }, 'the 262-byte dead room can be joined');
  tt.match(await p.request({ type: 'emit', ns, room, event: 'e', data: { n: 1 }, id: 'e' }), { type: 'ack', offset: 1 });
  const ev = await c.next((f) => f.type === 'event' && f.room === room);
  c.send({ type: 'nack', id: ev.id });
  const dead = await c.next((f) => f.type === 'event' && f.room === `$dead:${room}`, 5000);
  tt.same([dead.data, dead.offset, Buffer.byteLength(dead.room)], [{ n: 1 }, 1, 262], 'the refused message is dead-lettered at once');
  await server.close();
  const again = await LmdbStore.open(dir, { retention });
  tt.teardown(() => again.close());
  tt.same(
    (await again.read(ns, `$dead:${room}`, 1, 10)).map((m) => m.data),
    [{ n: 1 }],
    'and stored',
  );
  tt.same((await again.getConsumer(ns, room, 'group:g'))?.floor, 1, 'the group counts it done');
});
