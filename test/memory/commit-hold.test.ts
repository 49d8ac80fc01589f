/**
 * I7 #14: the room log holds a commit that resolved ahead of an earlier append. It used to give
 * up after 1 s and deliver past the hole, and then the late commit was never delivered live.
 * Now a held commit waits until every append started before it has settled (PROTOCOL.md R5.2.4):
 * a slow store delays live delivery but never loses a message from it. The store here is a
 * MemoryStore whose append resolves late (offsets are still assigned in call order).
 */
import t from 'tap';
import { retentionResolver } from '../../lib/retention.js';
import { MemoryStore } from '../../lib/store/memory.js';
import type { AppendResult } from '../../lib/store/types.js';
import { rawClient, startServer } from '../helpers/server.js';

/** A MemoryStore whose n-th append resolves after delays[n] ms (or, when negative, takes its offset and then rejects: a hole). */
class SlowStore extends MemoryStore {
  delays: number[] = [];
  constructor() {
    super({ retention: retentionResolver() });
  }
  override append(...args: Parameters<MemoryStore['append']>): Promise<AppendResult> {
    const d = this.delays.shift() ?? 0;
    const r = super.append(...args);
    if (d < 0) return r.then(() => new Promise((_, reject) => setTimeout(() => reject(new Error('injected append failure')), -d)));
    return d === 0 ? r : r.then((v) => new Promise((res) => setTimeout(() => res(v), d)));
  }
}

t.test('R5.2.4 a commit held behind a slow earlier append (1.5 s, longer than the old 1 s hold) is delivered live, in order', async (t) => {
  const store = new SlowStore();
  const { server, url } = await startServer(t, { store });
  const member = await rawClient(t, url);
  await member.request({ type: 'join', room: 'r' });
  store.delays = [1500, 0];
  const first = server.publish('r', 'e', 1);
  const second = server.publish('r', 'e', 2);
  t.match(await second, { offset: 2 }, 'the second append resolved first');
  const evs = await member.collect((f) => f.type === 'event' && f.room === 'r', 2, 5000);
  t.same(
    evs.map((e) => [e.offset, e.data]),
    [
      [1, 1],
      [2, 2],
    ],
    'both delivered live, in offset order',
  );
  t.match(await first, { offset: 1 });
});

t.test('R5.2.4 appends resolving in random order are all delivered live, in offset order', async (t) => {
  const store = new SlowStore();
  const { server, url } = await startServer(t, { store });
  const member = await rawClient(t, url);
  await member.request({ type: 'join', room: 'r' });
  store.delays = Array.from({ length: 60 }, (_, i) => (i * 7919) % 97); // a fixed shuffle of 0..96 ms
  await Promise.all(Array.from({ length: 60 }, (_, i) => server.publish('r', 'e', i)));
  const evs = await member.collect((f) => f.type === 'event' && f.room === 'r', 60, 5000);
  t.same(
    evs.map((e) => e.offset),
    Array.from({ length: 60 }, (_, i) => i + 1),
  );
});

t.test('R5.2.4 a failed earlier append releases the commits held behind it once it settled', async (t) => {
  const store = new SlowStore();
  const { server, url } = await startServer(t, { store });
  const member = await rawClient(t, url);
  await member.request({ type: 'join', room: 'r' });
  // The first append takes offset 1 and then fails after 300 ms: offset 1 is a hole that never fills.
  store.delays = [-300, 0, 0];
  const failed = server.publish('r', 'e', 'lost').catch((e: Error) => e);
  await server.publish('r', 'e', 'a');
  await server.publish('r', 'e', 'b');
  const evs = await member.collect((f) => f.type === 'event' && f.room === 'r', 2, 3000);
  t.same(
    evs.map((e) => [e.offset, e.data]),
    [
      [2, 'a'],
      [3, 'b'],
    ],
    'delivered once the failed append settled',
  );
  t.ok((await failed) instanceof Error);
});
