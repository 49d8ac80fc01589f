/**
 * The server side of the durable bench (`durable.ts`): a child-process entry running a
 * stand-alone WsqServer on 127.0.0.1, port 0, on the store named by argv:
 *
 *   node dist/bench/wsq-durable-server.js <disk|memory> [dataDir]
 *
 * Retention holds everything (no count, age or byte limit), so a 100,000-message backlog
 * stays whole. Speaks the bench IPC of `child.ts` (ready/cpu/stop) plus one message of its
 * own: `{ type: 'fill', id, room, count, bytes }` appends `count` messages of about `bytes`
 * bytes of data to `room` in-process (no sockets) and answers `{ type: 'filled', id, ms, last }`.
 */
import { WsqServer } from '../lib/server.js';
import { retentionResolver } from '../lib/retention.js';
import { LmdbStore } from '../lib/store/lmdb.js';
import { MemoryStore } from '../lib/store/memory.js';
import type { Retention, Store } from '../lib/store/types.js';
import { serveBenchIpc } from './child.js';

const kind = process.argv[2];
const dir = process.argv[3];
if (kind !== 'disk' && kind !== 'memory') throw new Error('usage: wsq-durable-server.js <disk|memory> [dataDir]');
if (kind === 'disk' && !dir) throw new Error('wsq-durable-server.js disk needs a data directory');

/** Hold every message: no count, age or byte limit (the replay backlog must stay whole). */
const retention: Retention = { maxMessages: 0, maxAgeMs: 0, maxBytes: 0, overflow: 'drop-oldest', dedupWindowMs: 120_000 };
const resolver = retentionResolver(retention);
const store: Store = kind === 'disk' ? await LmdbStore.open(dir!, { retention: resolver }) : new MemoryStore({ retention: resolver });
const server = new WsqServer({ namespaces: 'any', store, retention, logger: () => {} });
await server.listen({ port: 0, host: '127.0.0.1' });

/** Appends at most this many messages before awaiting their commits. */
const FILL_WINDOW = 2000;

process.on('message', (raw: unknown) => {
  const m = raw as { type: string; id: number; room: string; count: number; bytes: number };
  if (m.type !== 'fill') return;
  void (async () => {
    const t0 = performance.now();
    const nsp = server.of('/');
    const body = 'x'.repeat(m.bytes);
    let last = 0;
    for (let i = 0; i < m.count; i += FILL_WINDOW) {
      const batch: Promise<{ offset: number }>[] = [];
      for (let j = i; j < Math.min(m.count, i + FILL_WINDOW); j++) batch.push(nsp.publish(m.room, 'fill', { seq: j, body }));
      for (const r of await Promise.all(batch)) last = r.offset;
    }
    process.send!({ type: 'filled', id: m.id, ms: performance.now() - t0, last });
  })();
});

serveBenchIpc(server.port, () => server.close());
