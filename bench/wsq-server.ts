/**
 * The wsq side of the fan-out bench: a child-process entry that starts a stand-alone
 * WsqServer on 127.0.0.1, port 0, with an in-memory store, and reports its port to the
 * harness (`serveBenchIpc`). Kept tiny so it is easy to adjust to the server's API.
 *
 * ADJUST HERE once lib/index.ts exists: replace the dynamic import and `WsqLib` with
 *   import { WsqServer, MemoryStore } from '../lib/index.js';
 * and fix the option names / how the port is read. The import is dynamic only so that this
 * file compiles before lib/index.ts exists.
 */
import type { Retention } from '../lib/store/types.js';
import { serveBenchIpc } from './child.js';

/** Retention of the bench room: bounded, so a long run at the limit does not grow the heap. */
const retention: Retention = { maxMessages: 10_000, maxAgeMs: 0, maxBytes: 0, overflow: 'drop-oldest', dedupWindowMs: 0 };

/** The part of the wsq API this entry uses (what the lead described; adjust to the real one). */
interface WsqLib {
  MemoryStore: new (options: { retention: (ns: string, room: string) => Retention }) => unknown;
  WsqServer: new (options: { namespaces: 'any'; store: unknown }) => {
    listen(options: { port: number; host: string }): Promise<unknown>;
    readonly port: number;
    close(): Promise<unknown> | unknown;
  };
}

const lib = (await import(new URL('../lib/index.js', import.meta.url).href)) as WsqLib;
const server = new lib.WsqServer({ namespaces: 'any', store: new lib.MemoryStore({ retention: () => retention }) });
await server.listen({ port: 0, host: '127.0.0.1' });
serveBenchIpc(server.port, () => server.close());
