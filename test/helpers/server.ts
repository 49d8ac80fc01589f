/** Start a wsq server on 127.0.0.1:0 for one test; closed at teardown. */
import { WsqServer, type WsqServerOptions } from '../../lib/index.js';
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
