/**
 * A TCP proxy on 127.0.0.1:0 in front of a server, for tests that drop connections for
 * real (no mocked sockets): `cut()` destroys every piped socket and refuses new ones,
 * `restore()` accepts again, `drop()` destroys the current ones but keeps accepting, and
 * `freeze()` holds back what the server sends (so a following cut loses it: a lost ack).
 */
import net from 'node:net';

export interface Tap {
  teardown(fn: () => unknown): void;
}

export interface Proxy {
  /** The proxy's WebSocket URL: the target's URL with the proxy's port. */
  readonly url: string;
  readonly port: number;
  /** Connections piped right now. */
  readonly connections: number;
  /** Connections accepted since the start. */
  readonly accepted: number;
  /** True while new connections are accepted. */
  readonly accepting: boolean;
  /** Destroy every piped connection and refuse new ones until `restore()`. */
  cut(): void;
  /** Accept (and pipe) new connections again. */
  restore(): void;
  /** Destroy every piped connection; keep accepting. */
  drop(): void;
  /** Stop forwarding what the server sends on the current connections (client → server still flows). */
  freeze(): void;
  /** Forward again what `freeze()` held. */
  thaw(): void;
  /** Stop listening and destroy everything. */
  close(): Promise<void>;
}

/**
 * Start a proxy to `targetUrl` (a ws:// URL or host:port); closed at teardown when `t` is given.
 * @example
 * const proxy = await startProxy(t, url);
 * const client = connect(proxy.url);
 * proxy.cut(); // the client sees its connection drop
 * proxy.restore(); // and reconnects
 */
export async function startProxy(t: Tap | undefined, targetUrl: string): Promise<Proxy> {
  const target = new URL(targetUrl.includes('://') ? targetUrl : `tcp://${targetUrl}`);
  const targetHost = target.hostname.replace(/^\[|\]$/g, '');
  const targetPort = Number(target.port);
  const pipes = new Set<net.Socket>();
  const pairs = new Set<{ down: net.Socket; up: net.Socket }>();
  let accepting = true;
  let accepted = 0;

  const destroyAll = (): void => {
    for (const s of [...pipes]) s.destroy();
    pipes.clear();
  };

  const server = net.createServer((down) => {
    if (!accepting) {
      down.destroy();
      return;
    }
    accepted++;
    down.setNoDelay(true);
    const up = net.connect({ host: targetHost, port: targetPort });
    up.setNoDelay(true);
    pipes.add(down);
    pipes.add(up);
    const pair = { down, up };
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      pipes.delete(down);
      pipes.delete(up);
      down.destroy();
      up.destroy();
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const url = new URL(targetUrl.includes('://') ? targetUrl : `ws://${targetUrl}/`);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  let closed: Promise<void> | undefined;
  const proxy: Proxy = {
    url: url.toString(),
    port,
    get connections() {
      return pipes.size / 2;
    },
    get accepted() {
      return accepted;
    },
    get accepting() {
      return accepting;
    },
    cut() {
      accepting = false;
      destroyAll();
    },
    restore() {
      accepting = true;
    },
    drop() {
      destroyAll();
    },
    freeze() {
      for (const { up, down } of pairs) {
        up.unpipe(down);
        up.pause();
      }
    },
    thaw() {
      for (const { up, down } of pairs) up.pipe(down);
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        accepting = false;
        destroyAll();
        server.close(() => resolve());
      });
      return closed;
    },
  };
  t?.teardown(() => proxy.close());
  return proxy;
}
