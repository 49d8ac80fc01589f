/** Start a wsq server on 127.0.0.1:0 for one test; closed at teardown. */
import { WsqServer, type Socket, type WsqServerOptions } from '../../lib/index.js';
import { RawClient, type RawOptions } from './raw-client.js';

export interface Tap {
  teardown(fn: () => unknown): void;
}

/** A server on a free port, closed when the test ends. Defaults to the stand-alone mode ("any" namespace). */
export async function startServer(t: Tap, opts: WsqServerOptions = {}): Promise<{ server: WsqServer; url: string }> {
  const server = new WsqServer({ namespaces: 'any', logger: () => {}, ...opts });
  await server.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => server.close());
  return { server, url: server.url };
}

/** A raw client, closed when the test ends. */
export async function rawClient(t: Tap, url: string, opts?: RawOptions): Promise<RawClient> {
  const c = await RawClient.connect(url, opts);
  t.teardown(() => c.close());
  return c;
}

/**
 * A raw client and its server-side Socket in namespace `ns` (connected first when not "/").
 * For "/" it waits for a ping round-trip, so the `connection` listeners have run.
 */
export async function clientSocket(
  t: Tap,
  server: WsqServer,
  url: string,
  ns = '/',
  opts: RawOptions & { auth?: Record<string, unknown> } = {},
): Promise<{ c: RawClient; socket: Socket }> {
  const c = await rawClient(t, url, opts);
  if (ns === '/') await c.sync();
  else {
    const r = await c.request({ type: 'connect', ns, ...(opts.auth ? { auth: opts.auth } : {}) });
    if (r.type !== 'connected') throw new Error(`connect ${ns} failed: ${JSON.stringify(r)}`);
  }
  const socket = server.of(ns).sockets.get(c.welcome.sid);
  if (!socket) throw new Error(`no socket for ${c.welcome.sid} in ${ns}`);
  return { c, socket };
}
