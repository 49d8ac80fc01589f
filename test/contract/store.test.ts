/** Runs the Store contract against every embedded store. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nanoid } from 'nanoid';
import t from 'tap';
import { LmdbStore } from '../../lib/store/lmdb.js';
import { MemoryStore } from '../../lib/store/memory.js';
import { deleteKeysWithPrefix, RedisStore } from '../../lib/store/redis.js';
import { storeContract } from './store-contract.js';

storeContract(t, 'MemoryStore', async (opts) => {
  const store = new MemoryStore(opts);
  return { store, cleanup: () => store.close() };
});

storeContract(t, 'LmdbStore', async (opts) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-lmdb-contract-'));
  let store = await LmdbStore.open(dir, opts);
  return {
    store,
    reopen: async () => {
      await store.close();
      return (store = await LmdbStore.open(dir, opts));
    },
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

// The Redis store on the system Redis (127.0.0.1:6379): every store of this run under its own key
// prefix, and only that prefix's keys are deleted afterwards (never FLUSHDB).
const redisPrefix = `wsq-test-${nanoid()}:`;
let redisStores = 0;
storeContract(t, 'RedisStore', async (opts) => {
  const prefix = `${redisPrefix}${redisStores++}:`;
  const open = () => RedisStore.open({ ...opts, url: 'redis://127.0.0.1:6379', prefix });
  let store = await open();
  return {
    store,
    reopen: async () => {
      await store.close();
      return (store = await open());
    },
    cleanup: async () => {
      await store.close();
      await deleteKeysWithPrefix('redis://127.0.0.1:6379', prefix);
    },
  };
});
