/** Runs the Adapter contract against every adapter (memory: one node; role C adds Redis with several). */
import t from 'tap';
import { MemoryAdapter } from '../../lib/adapter/memory.js';
import { simNodes } from '../adapter/nodes.js';
import { adapterContract } from './adapter-contract.js';

adapterContract(t, 'MemoryAdapter', async () => ({ adapters: [(nsp) => new MemoryAdapter(nsp)] }), 1);

// Role C: three simulated nodes, each its own RedisBus (command + subscriber connections) and RedisStore, on the system Redis under a fresh prefix.
adapterContract(
  t,
  'RedisAdapter',
  async (n) => {
    const { nodes, cleanup } = await simNodes(n);
    return { adapters: nodes.map((x) => x.adapter), serverOptions: (i: number) => ({ store: nodes[i]!.store }), cleanup };
  },
  3,
);
