/** The Adapter contract (test/contract/adapter-contract.ts) on the Redis adapter: three simulated nodes, each with its own bus and store, on the system Redis under a fresh prefix. */
import t from 'tap';
import { adapterContract } from '../contract/adapter-contract.js';
import { simNodes } from './nodes.js';

adapterContract(
  t,
  'RedisAdapter',
  async (n) => {
    const { nodes, cleanup } = await simNodes(n);
    return { adapters: nodes.map((x) => x.adapter), serverOptions: (i: number) => ({ store: nodes[i]!.store }), cleanup };
  },
  3,
);
