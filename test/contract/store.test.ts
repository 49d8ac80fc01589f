/** Runs the Store contract against every embedded store. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LmdbStore } from '../../lib/store/lmdb.js';
import { MemoryStore } from '../../lib/store/memory.js';
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
