/** Runs the Adapter contract against every adapter (memory: one node; role C adds Redis with several). */
import t from 'tap';
import { MemoryAdapter } from '../../lib/adapter/memory.js';
import { adapterContract } from './adapter-contract.js';

adapterContract(t, 'MemoryAdapter', async () => ({ adapters: [(nsp) => new MemoryAdapter(nsp)] }), 1);
