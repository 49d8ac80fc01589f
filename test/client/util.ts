/**
 * Shared helpers of the client tests: bounded waits on events (never a bare sleep),
 * clients with the tests' defaults, and the setup several tests share.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeFrame } from '../../protocol/codec.js';
import type { WsqServerOptions } from '../../lib/index.js';
import { connect, type Subscription, type WsqClient } from '../../lib/client/index.js';
import { startServer, type Tap } from '../helpers/server.js';
import { startProxy } from '../helpers/proxy.js';

/** Resolve with the arguments of the first `event`, or reject after `ms`. */
export function next<T = unknown>(target: { once?: unknown; on: (e: any, fn: any) => unknown; off: (e: any, fn?: any) => unknown }, event: string, ms = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      target.off(event, fn);
      reject(new Error(`no "${event}" within ${ms} ms`));
    }, ms);
    const fn = (arg: T) => {
      clearTimeout(timer);
      target.off(event, fn);
      resolve(arg);
    };
    target.on(event, fn);
  });
}

/** Reject with a clear message when `p` takes longer than `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Fast reconnects for tests. */
export const FAST = { baseMs: 5, capMs: 50 } as const;

/** A client without heartbeat and with fast reconnects (`opts` may override them), closed at teardown. */
export function client(t: Tap, url: string, opts: Parameters<typeof connect>[1] = {}): WsqClient {
  const c = connect(url, { heartbeat: false, backoff: FAST, ...opts });
  t.teardown(() => c.close());
  return c;
}

/** A promise and the function that resolves it. */
export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Collect a room's `m` values; `upTo(n)` resolves once n were seen. */
export function collect(room: Subscription) {
  const seen: unknown[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  room.on('m', (v: unknown) => {
    seen.push(v);
    for (const w of waiters.filter((w) => seen.length >= w.n)) w.resolve();
  });
  return {
    seen,
    upTo: (n: number, ms = 5000) => within(new Promise<void>((resolve) => (seen.length >= n ? resolve() : waiters.push({ n, resolve }))), ms, `${n} messages`),
  };
}

/**
 * A new session of a durable consumer: `c` joins room `jobs` and collects the `job` values
 * it gets until `marker`, emitted by `pub` once the join is ready, arrives (or rejects,
 * saying `what`, after 5 s). Resolves with the values seen.
 */
export async function jobsUntil<T>(c: WsqClient, pub: WsqClient, marker: T, what: string): Promise<T[]> {
  const again = c.join('jobs', { durable: true });
  const seen: T[] = [];
  const arrived = deferred();
  again.on('job', (v: T) => {
    seen.push(v);
    if (v === marker) arrived.resolve();
  });
  await again.ready();
  await pub.emitWithAck('job', marker, { room: 'jobs' });
  await within(arrived.promise, 5000, what);
  return seen;
}

/** A server (see `startServer`) with a proxy in front of it: `url` reaches it directly, `proxy.url` through the proxy. */
export async function startProxied(t: Tap, opts: WsqServerOptions = {}) {
  const { server, url } = await startServer(t, opts);
  const proxy = await startProxy(t, url);
  return { server, url, proxy };
}

/**
 * A server with a proxy in front of it; `sub`, connected directly, joined room `r` and
 * collects its `m` values (`got`); `pub` is connected through the proxy (cut or freeze
 * it to take `pub`'s connection away). Both are ready.
 */
export async function pubThroughProxy(t: Tap) {
  const { url, proxy } = await startProxied(t);
  const sub = client(t, url);
  const pub = client(t, proxy.url);
  const room = sub.join('r');
  const got = collect(room);
  await room.ready();
  await pub.ready();
  return { url, proxy, sub, pub, room, got };
}

/**
 * A scripted wsq/1 peer on a real `ws` server (127.0.0.1:0): it sends `welcome`, records
 * every frame a client sends, and lets the test answer. For client behaviour a real
 * server cannot be made to show on demand (a lost ack, an overlapping replay).
 */
export interface Stub {
  url: string;
  /** Frames received, per connection (in order of connections). */
  frames: Record<string, any>[];
  /** The latest connection. */
  socket(): WebSocket;
  connections: number;
  /** The upgrade request of each connection: its URL, offered sub-protocols and Authorization header. */
  upgrades: { url: string; protocols: string; authorization?: string }[];
  send(frame: object, ws?: WebSocket): void;
  /** Resolve with the next received frame matching `pred` (including ones already received and not yet taken). */
  take(pred: (f: Record<string, any>) => boolean, ms?: number): Promise<Record<string, any>>;
  /** Drop the latest connection at the TCP level. */
  kill(): void;
  close(): Promise<void>;
}

export async function startStub(
  t: { teardown(fn: () => unknown): void },
  opts: { heartbeatMs?: number; maxPayload?: number; auto?: (f: Record<string, any>, stub: Stub) => boolean } = {},
): Promise<Stub> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has('wsq.v1') ? 'wsq.v1' : false) });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const port = (wss.address() as { port: number }).port;
  const sockets: WebSocket[] = [];
  const unread: Record<string, any>[] = [];
  const waiters: { pred: (f: Record<string, any>) => boolean; resolve: (f: Record<string, any>) => void }[] = [];
  const stub: Stub = {
    url: `ws://127.0.0.1:${port}/`,
    frames: [],
    upgrades: [],
    socket: () => sockets[sockets.length - 1]!,
    get connections() {
      return sockets.length;
    },
    send(frame, ws) {
      (ws ?? stub.socket()).send(encodeFrame(frame));
    },
    take(pred, ms = 5000) {
      const i = unread.findIndex(pred);
      if (i >= 0) return Promise.resolve(unread.splice(i, 1)[0]!);
      return within(new Promise((resolve) => waiters.push({ pred, resolve })), ms, 'stub.take');
    },
    kill() {
      (stub.socket() as unknown as { _socket: { destroy(): void } })._socket.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.terminate();
        wss.close(() => r());
      }),
  };
  wss.on('connection', (ws, req) => {
    sockets.push(ws);
    stub.upgrades.push({
      url: req.url ?? '',
      protocols: String(req.headers['sec-websocket-protocol'] ?? ''),
      ...(req.headers.authorization === undefined ? {} : { authorization: req.headers.authorization }),
    });
    ws.send(
      encodeFrame({
        type: 'welcome',
        sid: `s${sockets.length}`,
        protocol: 1,
        heartbeatMs: opts.heartbeatMs ?? 25_000,
        maxPayload: opts.maxPayload ?? 1 << 20,
        server: { name: 'stub', version: '0' },
      }),
    );
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Record<string, any>;
      stub.frames.push(f);
      if (opts.auto?.(f, stub)) return; // answered and consumed by `auto`
      const w = waiters.findIndex((x) => x.pred(f));
      if (w >= 0) waiters.splice(w, 1)[0]!.resolve(f);
      else unread.push(f);
    });
  });
  t.teardown(() => stub.close());
  return stub;
}
