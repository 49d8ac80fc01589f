/**
 * R5.8.1 (durable store): an `ack` of a stored emit means "committed to disk, synced". Checked by
 * a real observation of LMDB's own files at the moment each ack arrives, not by a mock: with
 * lmdb's overlapping sync (the default on Linux and macOS) a commit first writes a meta page
 * flagged "not yet flushed", then — only after fdatasync returned — writes the transaction's id
 * into the synced meta (half a page into page 0, through the O_DSYNC descriptor). So at each ack
 * the synced meta must name the newest committed transaction: the one holding the message (the
 * emits are sequential and nothing else writes).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { WsqServer } from '../../lib/index.js';
import { LmdbStore } from '../../lib/store/lmdb.js';
import { RawClient } from '../helpers/raw-client.js';

/** MDB_MAGIC, the first word of an LMDB meta page. */
const MAGIC = 0xbeefc0de;
/** MDB_OVERLAPPINGSYNC in a meta's flags: this meta's commit was not known to be flushed when it was written. */
const NOT_FLUSHED = 0x1000;

/**
 * The newest committed and the newest synced transaction of an LMDB file, read from its meta
 * pages (layout of lmdb-js's LMDB, x64: the meta follows the page header; flags at +28, txnid at
 * +128; the synced meta sits half a page after the first meta).
 */
function lmdbTxns(file: string): { committed: number; synced: number } {
  const b = Buffer.alloc(16 * 1024);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, b, 0, b.length, 0);
  } finally {
    closeSync(fd);
  }
  let h = -1;
  for (let i = 0; i < 64; i += 4) if (b.readUInt32LE(i) === MAGIC) h = h < 0 ? i : h;
  if (h < 0) throw new Error('no LMDB meta page found');
  const psize = b.readUInt32LE(h + 24);
  const meta = (at: number) => ({ txn: Number(b.readBigUInt64LE(at + 128)), flags: b.readUInt16LE(at + 28) });
  const m0 = meta(h);
  const m1 = meta(psize + h);
  const latest = m0.txn >= m1.txn ? m0 : m1;
  // Without overlapping sync a commit writes its meta only after the data is synced: committed is synced.
  const synced = latest.flags & NOT_FLUSHED ? meta(h + psize / 2).txn : latest.txn;
  return { committed: latest.txn, synced };
}

t.test("R5.8.1 a disk-store ack comes only after the commit holding the message is flushed (LMDB's synced meta names it)", async (tt) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-ack-synced-'));
  const store = await LmdbStore.open(dir, { retention: () => ({ maxMessages: 0, maxAgeMs: 0, maxBytes: 0, overflow: 'drop-oldest', dedupWindowMs: 60_000 }) });
  const server = new WsqServer({ namespaces: 'any', logger: () => {}, store });
  await server.listen({ port: 0, host: '127.0.0.1' });
  const pub = await RawClient.connect(server.url);
  tt.teardown(async () => {
    await pub.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const file = join(dir, 'data.mdb');
  const before = lmdbTxns(file);
  let unsynced = 0;
  let last = before.committed;
  const N = 40;
  for (let i = 0; i < N; i++) {
    const ack = await pub.request({ type: 'emit', room: 'orders', event: 'o', data: { i, body: 'x'.repeat(i * 50) }, id: `e${i}`, ...(i % 10 === 0 ? { key: `k${i}` } : {}) });
    const now = lmdbTxns(file); // read at the ack's arrival, before anything else runs
    tt.match(ack, { type: 'ack', id: `e${i}`, offset: i + 1 });
    if (now.committed <= last) tt.fail(`emit ${i}: no new commit before its ack (${now.committed})`);
    if (now.synced < now.committed) unsynced++;
    last = now.committed;
  }
  tt.equal(unsynced, 0, `at each of ${N} acks the newest commit (the one holding the message) was already synced`);
  const dup = await pub.request({ type: 'emit', room: 'orders', event: 'o', data: 'again', key: 'k0', id: 'dup' });
  const now = lmdbTxns(file);
  tt.match(dup, { type: 'ack', offset: 1, duplicate: true }, "a duplicate is acked with the first copy's offset");
  tt.ok(now.synced >= now.committed, 'and only once everything committed is synced');
  tt.ok(last > before.committed, `the emits made commits (transactions ${before.committed + 1}..${last})`);
});
