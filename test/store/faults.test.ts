/**
 * I8 #2 / Deliver 5: a full disk never ends the process. The disk store runs on a small tmpfs
 * this test mounts (it needs root; elsewhere the test is skipped with a note): a filler file
 * takes the rest of the space, so LMDB's commits fail for real ("Commit failed", EIO/ENOSPC).
 * Then: every failed write rejects with StoreUnavailableError (no unhandled rejection in the
 * process), an emit is answered `error` `unavailable` with a sentence, `health()` says why,
 * reads (replay) and live delivery go on, a group member's acks (consumer-state writes) fail
 * quietly, and once the filler is removed writes succeed again.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { WsqServer } from '../../lib/index.js';
import { LmdbStore } from '../../lib/store/lmdb.js';
import { StoreUnavailableError } from '../../lib/store/types.js';
import { FakeClock, msg, options } from '../contract/store-contract.js';
import { RawClient } from '../helpers/raw-client.js';

const SIZE = '8m';

/** Mount a tmpfs of SIZE on a new directory; undefined when mounting is not possible here. */
async function smallDisk(_tt: Test): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  return dir;
}

async function unmount(dir: string): Promise<void> {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  }
  await rm(dir, { recursive: true, force: true });
}

/** Fill the rest of the file system with one file; returns its path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return path;
}

/** Count unhandled rejections while the test runs (one would end a real server). */
function watchRejections(tt: Test): unknown[] {
  const seen: unknown[] = [];
  const on = (err: unknown): void => {
    seen.push(err);
    if (process.env.WSQ_DEBUG) console.error('UNHANDLED', (err as Error).stack);
  };
  process.on('unhandledRejection', on);
  tt.teardown(() => void process.off('unhandledRejection', on));
  return seen;
}

t.test('R5.8.4 a full disk: writes are refused with StoreUnavailableError, never an unhandled rejection, and resume when space is back', async (tt) => {
  const disk = await smallDisk(tt);
  if (!disk) return void tt.comment('skipped: cannot mount a tmpfs here (needs root); the disk-full path is not exercised');
  const rejections = watchRejections(tt);
  const clock = new FakeClock();
  const store = await LmdbStore.open(join(disk, 'data'), options(clock));
  tt.teardown(async () => {
    await store.close();
    await unmount(disk);
  });
  for (let i = 0; i < 20; i++) await store.append('ns', 'r', msg(clock, i));
  await store.putConsumer('ns', 'r', 'group:g', { floor: 0, done: [], attempts: {} });
  const filler = fill(disk);
  const big = 'x'.repeat(200_000);
  const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => store.append('ns', 'r', msg(clock, `${big}${i}`))));
  const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
  tt.ok(refused.length > 0, `appends were refused once the disk was full (${refused.length} of 40)`);
  tt.ok(
    refused.every((e) => e instanceof StoreUnavailableError && e.code === 'unavailable'),
    'each as StoreUnavailableError (code unavailable)',
  );
  tt.match((refused[0] as Error).message, /^The store refused the write, so nothing was stored: .+\. Retry later/, 'with a sentence saying why');
  const h = store.health();
  tt.equal(h.writable, false, 'health() says not writable');
  tt.match(h.reason, /commit/i, `and why: ${h.reason}`);
  const attempts = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [String(i + 100), 1]));
  const put = await store.putConsumer('ns', 'r', 'group:g', { floor: 5, done: [], attempts }).then(
    () => 'stored',
    (e: unknown) => e,
  );
  tt.ok(
    put === 'stored' || put instanceof StoreUnavailableError,
    `a consumer-state write is stored (in freed pages) or refused as StoreUnavailableError, never a crash (${put === 'stored' ? put : 'refused'})`,
  );
  tt.same(
    (await store.read('ns', 'r', 1, 5)).map((m) => m.data),
    [0, 1, 2, 3, 4],
    'reads go on',
  );
  unlinkSync(filler);
  const after = await store.append('ns', 'r', msg(clock, 'back'));
  tt.ok(after.offset > 20, `an append succeeds once space is back (offset ${after.offset})`);
  tt.same(store.health(), { writable: true }, 'health() is writable again');
  const held = (await store.read('ns', 'r', 1, 100)).map((m) => m.offset);
  tt.same(
    held.slice(0, 20),
    Array.from({ length: 20 }, (_, i) => i + 1),
    'the messages from before are all there',
  );
  tt.equal(held.at(-1), after.offset, 'and the new one after them');
  tt.ok(
    held.every((o, i) => i === 0 || o > held[i - 1]!),
    'offsets only grow (a refused offset stays a gap, never reused)',
  );
  await new Promise((r) => setImmediate(r));
  tt.same(rejections, [], 'no unhandled rejection');
});

t.test('R5.8.4 a full disk under a server: emit answers `unavailable`, live delivery and replay go on, acks fail quietly, emits work again after', async (tt) => {
  const disk = await smallDisk(tt);
  if (!disk) return void tt.comment('skipped: cannot mount a tmpfs here (needs root); the disk-full path is not exercised');
  const rejections = watchRejections(tt);
  const store = await LmdbStore.open(join(disk, 'data'), { retention: () => ({ maxMessages: 0, maxAgeMs: 0, maxBytes: 0, overflow: 'drop-oldest', dedupWindowMs: 0 }) });
  const server = new WsqServer({ namespaces: 'any', logger: () => {}, store, maxPayload: 4 * 1024 * 1024, ackTimeoutMs: 60_000 });
  await server.listen({ port: 0, host: '127.0.0.1' });
  tt.teardown(async () => {
    await server.close();
    await unmount(disk);
  });
  const clients: RawClient[] = [];
  const client = async (): Promise<RawClient> => {
    const c = await RawClient.connect(server.url);
    clients.push(c);
    return c;
  };
  tt.teardown(async () => {
    for (const c of clients) await c.close();
  });
  const pub = await client();
  const member = await client();
  const worker = await client();
  tt.match(await member.request({ type: 'join', room: 'news', id: 'j1' }), { type: 'joined' });
  tt.match(await worker.request({ type: 'join', room: 'jobs', group: 'w', id: 'j2' }), { type: 'joined' });
  for (let i = 0; i < 5; i++) tt.match(await pub.request({ type: 'emit', room: 'news', event: 'n', data: i, id: `e${i}` }), { type: 'ack', offset: i + 1 });
  await member.collect((f) => f.type === 'event' && f.room === 'news', 5);
  for (let i = 0; i < 3; i++) tt.match(await pub.request({ type: 'emit', room: 'jobs', event: 'j', data: i, id: `j${i}` }), { type: 'ack' });
  const jobs = await worker.collect((f) => f.type === 'event' && f.room === 'jobs', 3);

  const filler = fill(disk);
  const big = 'x'.repeat(500_000);
  let answer: Record<string, any> | undefined;
  for (let i = 0; i < 30 && answer?.type !== 'error'; i++) answer = await pub.request({ type: 'emit', room: 'news', event: 'n', data: `${big}${i}`, id: `full${i}` }, 10_000);
  tt.match(answer, { type: 'error', code: 'unavailable' }, 'an emit the store cannot commit is answered `unavailable`');
  tt.match(answer?.message, /The store refused the write/, `with a sentence: ${answer?.message}`);
  tt.equal(server.store.health().writable, false, 'health() says not writable');

  for (const j of jobs) worker.send({ type: 'ack', id: j.id });
  await worker.sync();
  tt.match(await pub.request({ type: 'ping', id: 'p' }), { type: 'pong' }, 'acks whose state cannot be saved do not disturb the server');

  member.send({ type: 'emit', room: 'news', event: 'live', data: 'v', volatile: true });
  tt.match((await pub.next((f) => f.type === 'event' && f.event === 'live', 3000).catch(() => undefined)) ?? { type: 'event' }, { type: 'event' });
  const reader = await client();
  const joined = await reader.request({ type: 'join', room: 'news', since: 0, id: 'r' });
  tt.ok(joined.replay && joined.replay.count >= 5, 'a replay still reads what was stored');
  const replayed = await reader.collect((f) => f.type === 'event' && f.room === 'news', 5);
  tt.same(
    replayed.slice(0, 5).map((f) => f.data),
    [0, 1, 2, 3, 4],
    'the stored messages, in order',
  );

  unlinkSync(filler);
  const ok = await pub.request({ type: 'emit', room: 'news', event: 'n', data: 'back', id: 'back' }, 10_000);
  tt.match(ok, { type: 'ack' }, 'emits are acked again once space is back');
  const live = await member.next((f) => f.type === 'event' && f.data === 'back', 3000);
  tt.equal(live.offset, ok.offset, 'and delivered live');
  tt.same(server.store.health(), { writable: true });
  await new Promise((r) => setImmediate(r));
  tt.same(rejections, [], 'no unhandled rejection');
});
