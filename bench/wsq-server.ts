/**
 * The wsq side of the fan-out bench: a child-process entry that runs the stand-alone wsq
 * server (every namespace served, in-memory room logs) on 127.0.0.1, port 0, and reports
 * its port to the harness. Kept tiny so it is easy to adjust when the server API changes.
 *
 * Every `emit` into the bench room is stored (offset, epoch) before it is relayed, as in
 * production; the default retention (10,000 messages / 16 MiB per room) keeps the log
 * bounded during a run at the limit.
 */
import { MemoryStore, WsqServer, retentionResolver } from '../lib/index.js';
import { serveBenchIpc } from './child.js';

const server = new WsqServer({
  namespaces: 'any',
  store: new MemoryStore({ retention: retentionResolver() }),
});
await server.listen({ port: 0, host: '127.0.0.1' });
serveBenchIpc(server.port, () => server.close());
