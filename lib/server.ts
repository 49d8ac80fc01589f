/**
 * WsqServer: the HTTP server and WebSocket upgrade (the only `ws` import on the server
 * side), the namespaces, heartbeats and shutdown.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { type AddressInfo, Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { Server as TlsServer } from 'node:tls';
import { nanoid } from 'nanoid';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE_CODES, PROTOCOL_VERSION, SUBPROTOCOL } from '../protocol/codes.js';
import { type ClientFrame, type RequestId, SERVER_FEATURES, type WelcomeFrame } from '../protocol/frames.js';
import type { AdapterFactory } from './adapter/types.js';
import { Connection, type ConnectionHost, type HandshakeInfo, MAX_EARLY_FRAMES } from './connection.js';
import { ConfigError, parseServerOptions, type AuthConfigInput, type LimitsConfigInput, type ServerOptions } from './config.js';
import { type Cluster, newNodeId, openCluster, redactUrl, refuseLocalStore } from './cluster.js';
import { mountAdmin } from './admin/api.js';
import { recordRefusal } from './admin/stats.js';
import { Guard, type AuthorizeHook } from './auth/guard.js';
import { Readiness, routeHealth } from './http/health.js';
import { ServerMetrics, routeMetrics } from './http/metrics.js';
import { HttpRouter } from './http/router.js';
import { WireStats } from './http/stats.js';
import { WsqError } from './errors.js';
import { connFields, createLogger, isPinoLike, Log, type LogFields, type LoggerOption, type LogLevel, type LogThreshold } from './logging.js';
import { connecting } from './handlers/connect.js';
import { dispatch } from './handlers/index.js';
import { Namespace, ParentNamespace, type Middleware, type NamespaceMatcher } from './namespace.js';
import { DEFAULT_RETENTION, retentionResolver, type RetentionRule } from './retention.js';
import type { BroadcastOperator } from './broadcast.js';
import { NO_AUTH, rememberRequest, type Socket } from './socket.js';
import { MemoryStore } from './store/memory.js';
import type { DefaultEventsMap, EventNames, EventParams, EventsMap } from './typed-events.js';
import { StoreUnavailableError, type Retention, type Store } from './store/types.js';
import { VERSION } from './version.js';
import { Recovery, SentRing, type Claimed } from './recovery.js';

/** Options of a WsqServer. Every field has a default. */
export interface WsqServerOptions {
  /** Path WebSocket upgrades are served on. Default "/". */
  path?: string;
  /** "any": serve every namespace a client asks for (the stand-alone service); "declared": only those made with `of()`. Default "declared". */
  namespaces?: 'any' | 'declared';
  /** WebSocket ping interval. Default 25 000 ms. */
  heartbeatMs?: number;
  /** A peer not heard from within heartbeatMs + timeoutMs is dropped. Default 20 000 ms. */
  timeoutMs?: number;
  /** Largest frame accepted, in bytes; larger ones get `payload_too_large`. Default 1 MiB. Frames over 4× this close the connection (1009). */
  maxPayload?: number;
  /** Bad frames tolerated per window before closing with 1008. Default 100. */
  badFrameLimit?: number;
  /** Window of the bad-frame limit. Default 10 000 ms. */
  badFrameWindowMs?: number;
  /** Volatile frames are dropped for a socket with more than this many bytes queued. Default 1 MiB. */
  volatileHighWater?: number;
  /** A socket with more than this many bytes queued is closed with 4002 slow_consumer (R2.5.6). Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Room logs and cursors. Default: a MemoryStore with `retention`. */
  store?: Store;
  /** Default retention of every room (see DEFAULT_RETENTION). */
  retention?: Partial<Retention>;
  /** Retention overrides per namespace and room pattern. */
  retentionRules?: RetentionRule[];
  /** Group deliveries unacked this long are redelivered. Default 30 000 ms. */
  ackTimeoutMs?: number;
  /** Deliveries (group, durable, personal room) before a message goes to `$dead:<room>`. Default 5. */
  maxDeliver?: number;
  /** Default unacked deliveries in flight per durable/group member. Default 100. */
  prefetch?: number;
  /** Builds each namespace's adapter. Default: MemoryAdapter. */
  adapter?: AdapterFactory;
  /** permessage-deflate: off by default (as in Socket.IO); `{ threshold }` compresses frames above it. */
  perMessageDeflate?: boolean | { threshold: number };
  /** Clock (injectable for tests). */
  now?: () => number;
  /** Where log lines go: a pino logger (its own level applies too), or a function `(level, msg, err, fields) => void`. Default: pino JSON lines on stderr (lib/logging.ts). */
  logger?: LoggerOption;
  /** Which lines are written (`level`, default "warn" in the library) and whether the default logger is pretty (default: when stderr is a terminal). */
  log?: { level?: LogThreshold; pretty?: boolean };
  /** Tokens, API keys and permissions checked at the upgrade (docs/security.md). Absent: every connection is let in with every permission. */
  auth?: AuthConfigInput;
  /** Connection, room, namespace, name, prefetch and rate limits (docs/security.md); 0 = no limit. */
  limits?: LimitsConfigInput;
  /** Browser origins allowed (`*` globs; ["*"] = any). Default: the same host only. Requests without `Origin` are always allowed. */
  origins?: string[];
  /** `GET /metrics` (Prometheus text): `enabled` (default true); rooms matching `roomPatterns` (`*` globs, default none) get per-consumer lag series. */
  metrics?: { enabled?: boolean; roomPatterns?: string[] };
  /**
   * Connection state recovery (PROTOCOL.md §2.7), as Socket.IO's option: a client reconnecting within `maxDisconnectionDuration`
   * ms (default 120 000) keeps its sid, rooms and `socket.data` (`socket.recovered` is true) and receives what was sent to it and
   * its rooms meanwhile — on a durable store across a restart too. `skipMiddlewares` (default true): a recovered connection skips
   * the namespaces' middleware. Absent: off (nothing is counted or kept).
   */
  connectionStateRecovery?: { maxDisconnectionDuration?: number; skipMiddlewares?: boolean };
  /**
   * Decide on each upgrade request before anything else (as Socket.IO's `allowRequest`): call
   * `callback(null, true)` to go on; `callback(err, false)` answers HTTP 403 with `err` as the reason.
   * @example
   * allowRequest: (req, callback) => callback(null, req.headers['x-api-version'] === '2')
   */
  allowRequest?: (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) => void;
  /** A child namespace of a dynamic parent (`of(RegExp | fn)`) goes as soon as its last socket leaves (as in Socket.IO). Default false: it goes after a heartbeat unused. */
  cleanupEmptyChildNamespaces?: boolean;
  /**
   * Scale out (README "Scaling out", lib/cluster.ts): every node with the same `url` and `prefix` shares rooms, logs, offsets,
   * cursors and groups. Builds the Redis store and the Redis adapter, so `store` and `adapter` must not be given too.
   * `durable`: set true only when that Redis fsyncs every write (`appendfsync always`). Default prefix "wsq:".
   */
  redis?: { url: string; prefix?: string; durable?: boolean };
}

/** Options with their defaults filled in (by lib/config.ts). */
export type ResolvedOptions = Omit<ServerOptions, 'store'>;

/** How long `close()` keeps listening (answering upgrades with 503) while the connections close. */
const SHUTDOWN_DRAIN_MS = 1000;

const CLIENT_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;

/** The request target as a URL, or undefined when it is not one (never throws: a bad target must not crash the server). */
function parseUrl(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://x');
  } catch {
    return undefined;
  }
}

/** The error listener of an upgrading socket (shared: it holds nothing of the request; removed once ws adopted the socket). */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** Validate the options and fill in the defaults, both from lib/config.ts (the one schema); a bad option throws ConfigError (a TypeError) naming it. */
function resolve(o: WsqServerOptions): ResolvedOptions {
  const { store: _store, ...rest } = parseServerOptions(o);
  return rest;
}

/**
 * A wsq/1 server.
 * @example
 * const server = new WsqServer({ namespaces: 'any' });
 * server.on('connection', (socket) => socket.on('hello', (data, reply) => reply('hi')));
 * await server.listen({ port: 8080 });
 */
export class WsqServer<CTS extends EventsMap = DefaultEventsMap, STC extends EventsMap = DefaultEventsMap, ISE extends EventsMap = DefaultEventsMap, SD = any>
  implements ConnectionHost
{
  readonly options: ResolvedOptions;
  readonly store: Store;
  /** @internal Connection state recovery's sessions (lib/recovery.ts); undefined when the option is off. */
  readonly recovery: Recovery | undefined;
  /** This server's node id (nanoid): in its log lines and `/healthz`/`/readyz` when it runs on Redis (`redis` option). */
  readonly nodeId: string = newNodeId();
  /** The Redis side (store, adapter, connections) when the `redis` option is set. */
  private readonly cluster: Cluster | undefined;
  readonly limits: ConnectionHost['limits'];
  /** @internal Credentials, permissions and limits (lib/auth/guard.ts). */
  readonly guard: Guard;
  /**
   * Per-frame authorization hook: called after the configured permissions allowed a
   * `connect`, `join` (`history`, `durable`, `group`, `dead`) or room `emit`; return a sentence to
   * refuse it with `forbidden` (nothing changes). Per-connection decisions belong in `use()`.
   * @example
   * server.authorize = (socket, action, { room }) => (room === 'admin' && !socket.handshake.credentials?.claims?.admin ? 'admins only' : undefined);
   */
  authorize: AuthorizeHook | undefined;
  readonly httpServer: HttpServer;
  /**
   * Routes of plain HTTP requests on this server's port (health, readiness, metrics, admin); unrouted paths answer 426.
   * With your own `httpServer`, its request listener decides: call `server.http.handle(req, res)` to serve these routes.
   * @example
   * server.http.route('GET', '/version', (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('1\n'));
   */
  readonly http: HttpRouter = new HttpRouter(
    (req, res) => this.notRouted(req, res),
    (msg, err) => this.log('error', msg, err),
  );
  /** What `/readyz` checks: the store is writable, not shutting down, and every check added here (e.g. a Redis ping). */
  readonly readiness: Readiness;
  /** @internal Counters of the hot paths (plain integers), read by `/metrics`. */
  readonly stats = new WireStats();
  /** `/metrics` (prom-client, this server's own Registry); undefined when `metrics.enabled` is false. */
  readonly metrics: ServerMetrics | undefined;
  /** @internal The server's log (levels, fields per line, rate-limited kinds). */
  readonly logs: Log;
  /** Writes refused by the store since the current storage fault began (undefined: no fault now). */
  private storeFault: number | undefined;
  private wss: WebSocketServer;
  /** Server-level events (`new_namespace`). */
  private readonly events = new EventEmitter();
  /** The `upgrade` listener on the HTTP server (moved by `attach`). */
  private readonly upgradeListener = (req: IncomingMessage, sock: Duplex, head: Buffer): void => this.onUpgrade(req, sock, head);
  /** True once `close()` finished (a later `listen()` starts the server again). */
  private closed = false;
  /** The store is the default MemoryStore this server made (so it can serve again after `close()`). */
  private readonly ownStore: boolean;
  private readonly nsps = new Map<string, Namespace>();
  private readonly parents: ParentNamespace[] = [];
  private readonly connections = new Set<Connection>();
  private heartbeat: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  /** Called once the last connection closed while `close()` drains. */
  private drained: (() => void) | undefined;

  constructor(options?: WsqServerOptions, httpServer?: HttpServer);
  /** Socket.IO's order: `new Server(httpServer, options)`. */
  constructor(httpServer: HttpServer, options?: WsqServerOptions);
  constructor(first: WsqServerOptions | HttpServer = {}, second?: HttpServer | WsqServerOptions) {
    const [options, httpServer] = first instanceof NetServer ? [(second ?? {}) as WsqServerOptions, first as HttpServer] : [first, second as HttpServer | undefined];
    this.options = resolve(options);
    const o = this.options;
    this.logs = new Log(
      o.logger ?? createLogger({ level: o.log.level, ...(o.log.pretty !== undefined ? { pretty: o.log.pretty } : {}) }),
      isPinoLike(o.logger) ? 'debug' : o.log.level,
      () => this.now(),
      o.redis ? { node: this.nodeId } : undefined, // on Redis every line says which node wrote it
    );
    if (o.redis) {
      // lib/cluster.ts: `redis` brings the shared store and the cross-node adapter (decision 1); one of them given as well is a conflict.
      for (const k of ['store', 'adapter'] as const) {
        if (options[k] !== undefined)
          throw new ConfigError([`${k}: the "redis" option builds its own ${k} (shared by every node on ${redactUrl(o.redis.url)}); drop "${k}" or "redis"`], 'WsqServer option');
      }
      this.cluster = openCluster(o.redis, { nodeId: this.nodeId, retention: retentionResolver(o.retention, o.retentionRules), now: o.now, logs: this.logs });
      this.options = { ...o, adapter: this.cluster.adapter };
    }
    this.store = this.cluster?.store ?? options.store ?? new MemoryStore({ retention: retentionResolver(o.retention, o.retentionRules), now: o.now });
    this.readiness = new Readiness(this.store, () => this.closing !== undefined);
    const csr = o.connectionStateRecovery;
    if (csr)
      this.recovery = new Recovery(
        csr,
        this.store,
        () => this.now(),
        (msg, err) => this.log('error', msg, err),
      );
    if (this.cluster) this.readiness.add('redis', () => this.cluster?.readiness());
    routeHealth(this.http, this.readiness, this.cluster ? { nodeId: this.nodeId } : undefined);
    if (o.metrics.enabled) {
      this.metrics = new ServerMetrics(
        {
          stats: this.stats,
          connections: () => this.connections,
          connectionCount: () => this.connections.size,
          namespaces: () => this.nsps.values(),
        },
        { roomPatterns: o.metrics.roomPatterns },
      );
      routeMetrics(this.http, this.metrics);
    }
    mountAdmin(this); // /admin/api/… and /dashboard, only when `admin` is configured
    this.limits = {
      maxPayload: o.maxPayload,
      badFrameLimit: o.badFrameLimit,
      badFrameWindowMs: o.badFrameWindowMs,
      volatileHighWater: o.volatileHighWater,
      maxBufferedBytes: o.maxBufferedBytes,
    };
    this.guard = new Guard(
      o,
      () => this.now(),
      () => this.authorize,
    );
    this.ownStore = !options.store && !this.cluster;
    this.wss = this.makeWss();
    this.httpServer = httpServer ?? createServer((req, res) => this.onHttp(req, res));
    this.httpServer.on('upgrade', this.upgradeListener);
    this.of('/');
    try {
      refuseLocalStore(this.sockets.adapter, this.store); // a cross-node adapter over a node-local store: refused (lib/cluster.ts)
    } catch (err) {
      void this.sockets.adapter.close(); // its channels are released: the refused server leaves nothing subscribed
      throw err;
    }
    this.heartbeat = setInterval(() => this.beat(), o.heartbeatMs).unref();
  }

  /** The WebSocket side (upgrades are handed to it; made again when the server listens after `close()`). */
  private makeWss(): WebSocketServer {
    const o = this.options;
    return new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: o.maxPayload * 4,
      perMessageDeflate: o.perMessageDeflate === false ? false : o.perMessageDeflate === true ? { threshold: 1024 } : o.perMessageDeflate,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
  }

  /** The current time in ms (the injected clock). */
  now(): number {
    return this.options.now();
  }

  /** @internal Log a line (`fields`: `sid` and `client` for a line about a connection), rate-limited per message; a storage fault is logged once per episode. */
  log(level: LogLevel, msg: string, err?: unknown, fields?: LogFields): void {
    if (err instanceof StoreUnavailableError) return this.storageFault(err, fields);
    this.logs.limited(msg, level, msg, fields, err); // the same line at most once a second (with the count of those suppressed)
  }

  /** @internal A write the store refused: logged (error) once per fault episode; the recovery is logged when the store is writable again. */
  storageFault(err: StoreUnavailableError, fields?: LogFields): void {
    if (this.storeFault !== undefined) {
      this.storeFault++;
      return;
    }
    this.storeFault = 1;
    this.logs.write('error', `the store refuses writes: ${err.reason}`, { ...fields, store: this.store.kind, reason: err.reason });
  }

  /**
   * Listen on a port (0 picks a free one; a number alone, as Socket.IO's `listen(port)`, is the port).
   * After `close()` it serves again — declared namespaces, middleware and listeners kept — when the store is
   * the server's own memory store (its contents are gone, as in Socket.IO); a store you passed in was closed
   * by `close()`, so then it rejects: make a new WsqServer on a reopened store.
   */
  listen(opts: number | { port?: number; host?: string } = {}): Promise<AddressInfo> {
    if (typeof opts === 'number') opts = { port: opts };
    if (this.closed) {
      if (!this.ownStore) return Promise.reject(new Error('listen() after close(): close() closed the store this server was given; make a new WsqServer with a reopened store'));
      this.reopen();
    }
    const o = opts;
    return new Promise((res, rej) => {
      this.httpServer.once('error', rej);
      this.httpServer.listen(o.port ?? 8080, o.host ?? '127.0.0.1', () => {
        this.httpServer.off('error', rej);
        res(this.httpServer.address() as AddressInfo);
      });
    });
  }

  /** After `close()`: serve again (a new WebSocket side, the heartbeat, namespaces without their room logs). */
  private reopen(): void {
    this.closed = false;
    this.closing = undefined;
    this.wss = this.makeWss();
    for (const nsp of this.nsps.values()) nsp.forgetIdle(); // their logs' positions were of the store's old contents
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs).unref();
  }

  /**
   * Serve WebSocket upgrades on another HTTP(S) server (as Socket.IO's `io.attach(httpServer)`), or with a
   * port, listen on one (`attach(3000)`). The HTTP routes (`/healthz`, `/metrics`, …) are then served only if
   * that server's request listener calls `server.http.handle(req, res)`.
   * @example
   * const httpServer = createServer(app);
   * io.attach(httpServer);
   * httpServer.listen(3000);
   */
  attach(target: HttpServer | number, opts: { host?: string } = {}): this | Promise<AddressInfo> {
    if (typeof target === 'number') return this.listen({ port: target, ...opts });
    if (target === this.httpServer) return this;
    if (this.httpServer.listening) throw new Error('attach(): this server already listens on its own HTTP server; attach before listen(), or close() first');
    this.httpServer.off('upgrade', this.upgradeListener);
    (this as { httpServer: HttpServer }).httpServer = target;
    target.on('upgrade', this.upgradeListener);
    return this;
  }

  /** The port listened on. */
  get port(): number {
    return (this.httpServer.address() as AddressInfo).port;
  }

  /** The WebSocket URL clients connect to, e.g. `ws://127.0.0.1:8080/`. */
  get url(): string {
    const a = this.httpServer.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
    return `${this.httpServer instanceof TlsServer ? 'wss' : 'ws'}://${host}:${a.port}${this.options.path}`;
  }

  /**
   * A namespace by name, or a parent of dynamic namespaces by RegExp or function.
   * @example
   * server.of(/^\/team-\w+$/).on('connection', (socket) => socket.emit('welcome', socket.nsp.name));
   */
  of(name: string | NamespaceMatcher, fn?: (socket: Socket<CTS, STC, ISE, SD>) => void): Namespace<CTS, STC, ISE, SD> {
    const nsp = this.ofNow(name) as unknown as Namespace<CTS, STC, ISE, SD>;
    if (fn) nsp.on('connection', fn); // `of(name, fn)`: fn is a `connection` listener, as in Socket.IO
    return nsp;
  }

  private ofNow(name: string | NamespaceMatcher): Namespace {
    if (typeof name !== 'string') {
      const parent = new ParentNamespace(this, name);
      this.parents.push(parent);
      // Namespaces declared before a RegExp parent that matches them become its children (not "/").
      if (name instanceof RegExp) {
        for (const nsp of this.nsps.values()) if (nsp.name !== '/' && !nsp.parent && parent.matchesName(nsp.name)) parent.attach(nsp);
      }
      return parent;
    }
    const ns = name.startsWith('/') ? name : `/${name}`;
    let nsp = this.nsps.get(ns);
    if (!nsp) {
      this.nsps.set(ns, (nsp = new Namespace(this, ns)));
      // A declared name that a RegExp parent matches is that parent's child (its middleware applies), as in Socket.IO.
      if (ns !== '/') this.parents.find((p) => p.matchesName(ns))?.attach(nsp);
      this.created(nsp);
    }
    nsp.dynamic = false; // declared by the application: kept for the server's life
    return nsp;
  }

  /** @internal Names of the namespaces in memory now (for tests and, later, metrics). */
  namespaceNames(): string[] {
    return [...this.nsps.keys()];
  }

  /** @internal A namespace in memory by name, or undefined (never creates or re-declares one; for the admin API). */
  namespace(name: string): Namespace | undefined {
    return this.nsps.get(name);
  }

  /** `new_namespace` listeners hear of a namespace made now (declared with `of`, or on a client's connect). */
  private created(nsp: Namespace): void {
    try {
      this.events.emit('new_namespace', nsp);
    } catch (err) {
      this.log('error', 'a "new_namespace" listener threw', err);
    }
  }

  /** @internal With `cleanupEmptyChildNamespaces`: forget a dynamic child namespace that lost its last socket (its data stays in the store). */
  dropNamespace(nsp: Namespace): void {
    if (this.nsps.get(nsp.name) !== nsp || !nsp.forgetIdle()) return; // still in use (a connect in its middleware, a consumer)
    this.nsps.delete(nsp.name);
    for (const p of this.parents) p.children.delete(nsp);
    void nsp.adapter.close();
  }

  /** The main namespace "/". */
  get sockets(): Namespace<CTS, STC, ISE, SD> {
    return this.of('/');
  }

  /**
   * `server.on('connection' | 'connect', …)`: listen on the main namespace; `new_namespace` hears of every
   * namespace made (as in Socket.IO); any other name: `serverSideEmit` listeners of the main namespace.
   */
  on(event: 'connection' | 'connect', fn: (socket: Socket<CTS, STC, ISE, SD>) => void): this;
  on(event: 'new_namespace', fn: (nsp: Namespace) => void): this;
  on<E extends EventNames<ISE>>(event: E, fn: ISE[E]): this;
  on(event: string, fn: (...args: any[]) => void): this {
    if (event === 'new_namespace') this.events.on(event, fn);
    else this.sockets.on(event, fn);
    return this;
  }

  /** As `on`, once. */
  once(event: 'connection' | 'connect', fn: (socket: Socket<CTS, STC, ISE, SD>) => void): this;
  once(event: 'new_namespace', fn: (nsp: Namespace) => void): this;
  once(event: string, fn: (...args: any[]) => void): this;
  once(event: string, fn: (...args: any[]) => void): this {
    if (event === 'new_namespace') this.events.once(event, fn);
    else this.sockets.once(event, fn);
    return this;
  }

  /** Remove a listener added with `on`/`once`. */
  off(event: string, fn: (...args: any[]) => void): this {
    if (event === 'new_namespace') this.events.off(event, fn);
    else this.sockets.off(event, fn);
    return this;
  }

  /** Alias of `to` (main namespace). */
  in(room: string | string[]): BroadcastOperator<STC> {
    return this.sockets.in(room);
  }

  /** Every socket of the main namespace except those in `room` (a sid is a room). */
  except(room: string | string[]): BroadcastOperator<STC> {
    return this.sockets.except(room);
  }

  /** Broadcast flag (main namespace): dropped for sockets whose transport is not writable (R2.3.6). */
  get volatile(): BroadcastOperator<STC> {
    return this.sockets.volatile;
  }

  /** Broadcast flag (main namespace): this node only. */
  get local(): BroadcastOperator<STC> {
    return this.sockets.local;
  }

  /** Broadcast flag (main namespace): `compress(false)` never compresses these frames. */
  compress(flag: boolean): BroadcastOperator<STC> {
    return this.sockets.compress(flag);
  }

  /** The ack timeout of the next `emitWithAck` (main namespace). */
  timeout(ms: number): BroadcastOperator<STC> {
    return this.sockets.timeout(ms);
  }

  /** The sids of every socket of the main namespace (Socket.IO's deprecated `allSockets()`). */
  allSockets(): Promise<Set<string>> {
    return this.sockets.allSockets();
  }

  /** Every socket of the main namespace (every node). */
  fetchSockets(): ReturnType<Namespace['fetchSockets']> {
    return this.sockets.fetchSockets();
  }

  /** Make every socket of the main namespace join rooms. */
  socketsJoin(room: string | string[]): ReturnType<Namespace['socketsJoin']> {
    return this.sockets.socketsJoin(room);
  }

  /** Make every socket of the main namespace leave rooms. */
  socketsLeave(room: string | string[]): ReturnType<Namespace['socketsLeave']> {
    return this.sockets.socketsLeave(room);
  }

  /** Disconnect every socket of the main namespace (`close`: their connections). */
  disconnectSockets(close = false): ReturnType<Namespace['disconnectSockets']> {
    return this.sockets.disconnectSockets(close);
  }

  /** Send to every socket of the main namespace and wait for each one's ack (see BroadcastOperator.emitWithAck). */
  emitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    return (this.sockets.timeout(5000).emitWithAck as (event: string, ...a: unknown[]) => Promise<unknown[]>)(event, ...args);
  }

  /** `serverSideEmit` of the main namespace: to the other servers of the cluster (see Namespace.serverSideEmit). */
  serverSideEmit<E extends EventNames<ISE>>(event: E, ...args: EventParams<ISE, E>): boolean;
  serverSideEmit(event: string, ...args: unknown[]): boolean {
    return (this.sockets.serverSideEmit as (event: string, ...a: unknown[]) => boolean)(event, ...args);
  }

  /** `serverSideEmitWithAck` of the main namespace: one answer per other server. */
  serverSideEmitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    return this.sockets.serverSideEmitWithAck(event, ...args);
  }

  /** `emit('message', …)` to the main namespace, as Socket.IO's `send`/`write`. */
  send(...args: unknown[]): this {
    this.sockets.send(...args);
    return this;
  }

  /** Alias of `send`, as Socket.IO's `io.write`. */
  write(...args: unknown[]): this {
    return this.send(...args);
  }

  /** Add a middleware to the main namespace. */
  use(fn: Middleware): this {
    this.sockets.use(fn);
    return this;
  }

  /** Target rooms of the main namespace. */
  to(room: string | string[]) {
    return this.sockets.to(room);
  }

  /** Send to every socket of the main namespace. */
  emit<E extends EventNames<STC>>(event: E, ...args: EventParams<STC, E>): boolean;
  emit(event: string, ...args: unknown[]): boolean {
    return (this.sockets.emit as (event: string, ...a: unknown[]) => boolean)(event, ...args);
  }

  /** Append to a room of the main namespace (stored; see Namespace.publish). */
  publish(room: string, event: string, data?: unknown) {
    return this.sockets.publish(room, event, data);
  }

  /** @internal The namespace a `connect` frame names, creating dynamic and (in "any" mode) new ones. */
  async resolveNamespace(name: string, auth: Record<string, unknown>): Promise<Namespace | undefined> {
    const known = this.nsps.get(name);
    if (known) return known;
    for (const p of this.parents) {
      if (!(await p.matches(name, auth))) continue;
      const existing = this.nsps.get(name);
      if (existing) return existing;
      const child = p.createChild(name);
      child.dynamic = true;
      this.nsps.set(name, child);
      this.created(child);
      return child;
    }
    if (this.options.namespaces !== 'any') return undefined;
    const nsp = new Namespace(this, name);
    nsp.dynamic = true;
    this.nsps.set(name, nsp);
    this.created(nsp);
    return nsp;
  }

  /** @internal The socket of a connection in a namespace, or an error sent and undefined. */
  socketOf(conn: Connection, ns: string | undefined, id: RequestId | undefined): Socket | undefined {
    const name = ns ?? '/';
    const s = conn.sockets.get(name);
    if (!s) conn.bad('not_connected', `This connection is not in namespace "${name}". Send {"type":"connect","ns":"${name}"} first.`, id);
    return s;
  }

  /** @internal True when a room name is the sid of a connected socket of the namespace (a direct room). */
  isDirectRoom(nsp: Namespace, room: string): boolean {
    return nsp.sockets.has(room);
  }

  /** @internal */
  dispatch(conn: Connection, frame: ClientFrame): void | Promise<void> {
    const limited = this.guard.frame(conn, frame.type); // R2.2.15: per-connection frame rate
    if (limited) return conn.sendError(limited.code, limited.message, 'id' in frame && frame.type !== 'ack' && frame.type !== 'nack' ? frame.id : undefined, limited.details);
    // A frame for a namespace whose `connect` is still in its middleware waits for it (pipelined connect + join).
    if (frame.type !== 'connect' && 'ns' in frame) {
      const ns = frame.ns ?? '/';
      const pending = connecting(conn, ns);
      if (pending) {
        // R4.1.7: as many frames may wait for a namespace's middleware as for the main one's, no more.
        if (conn.waitingForConnect >= MAX_EARLY_FRAMES) {
          return conn.sendError(
            'rate_limited',
            `More than ${MAX_EARLY_FRAMES} frames for namespace "${ns}" arrived while its connect was still in the middleware; this one was dropped. Wait for "connected" before sending more.`,
            frame.id,
          );
        }
        conn.waitingForConnect++;
        return pending.then(() => {
          conn.waitingForConnect--;
          return dispatch(this, conn, frame);
        });
      }
    }
    return dispatch(this, conn, frame);
  }

  /** @internal */
  onClose(conn: Connection): void {
    if (this.connections.delete(conn)) {
      this.guard.closed(conn.client); // the slot admit() reserved (its identity is the connection's client)
      if (this.logs.enabled('debug')) this.logs.write('debug', 'connection closed', connFields(conn));
    }
    if (this.recovery && conn.pid && conn.ring) {
      if (conn.restored) this.recovery.release(conn.restored); // namespaces of the recovered session never re-entered
      // R2.7.2: the session is kept before the sockets leave, so their `disconnect` listeners' emits are kept too.
      if (conn.recoverable) {
        const sockets = [...conn.sockets.values()].map((s) => ({ ns: s.nsp.name, rooms: s.rooms, subscribed: new Set(s.subs.keys()), data: s.data }));
        this.recovery.save({ pid: conn.pid, sid: conn.sid, client: conn.client, ring: conn.ring, sockets });
      } else this.recovery.save({ pid: conn.pid, sid: conn.sid, client: conn.client, ring: conn.ring, sockets: [] }); // forgets the pid
    }
    // R2.5.8: the reason the connection ended (Socket.IO's strings), in every socket's `disconnecting`/`disconnect`.
    for (const socket of [...conn.sockets.values()]) socket.nsp.remove(socket, conn.closeReason);
    if (this.connections.size === 0) this.drained?.();
  }

  /**
   * Close every connection (1001), stop listening, and close the store; `cb` (as Socket.IO's `close(cb)`) is
   * called once done, with an error if closing failed. The port is free when it resolves.
   */
  close(cb?: (err?: Error) => void): Promise<void> {
    const done = this.closeNow();
    if (cb) {
      done.then(
        () => cb(),
        (err: Error) => cb(err),
      );
    }
    return done;
  }

  private closeNow(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.heartbeat);
      this.metrics?.close();
      this.logs.write('info', 'shutting down', { connections: this.connections.size });
      for (const c of this.connections) c.close(CLOSE_CODES.going_away, 'server shutting down');
      // R2.1.5: the listener stays open while the connections close (at most SHUTDOWN_DRAIN_MS), so a
      // new upgrade meanwhile is answered 503 "shutting down" instead of finding the port closed.
      await new Promise<void>((r) => {
        if (this.connections.size === 0 || !this.httpServer.listening) return r();
        const timer = setTimeout(r, SHUTDOWN_DRAIN_MS);
        this.drained = () => {
          clearTimeout(timer);
          r();
        };
      });
      this.drained = undefined;
      // Peers that did not finish the close handshake in time are dropped now: the listener's close waits for every socket.
      for (const c of this.connections) c.terminate();
      await new Promise<void>((r) => {
        if (!this.httpServer.listening) return r();
        this.httpServer.close(() => r());
        this.httpServer.closeAllConnections?.();
      });
      this.wss.close();
      // Settle sockets now (their close events may come later) and commit consumer state before the store closes.
      for (const c of [...this.connections]) this.onClose(c);
      await Promise.all([...this.nsps.values()].map((n) => n.closeConsumers()));
      await this.recovery?.flush(); // sessions of the connections just closed, before the store closes (R2.7.6)
      await this.store.close();
      await this.cluster?.close(); // the Redis connections, after the store's last write
      this.closed = true;
      this.logs.write('info', 'shut down');
    })();
    return this.closing;
  }

  private onHttp(req: IncomingMessage, res: import('node:http').ServerResponse): void {
    this.http.handle(req, res);
  }

  /** Requests no route answers: this is a WebSocket endpoint (426 Upgrade Required). */
  private notRouted(_req: IncomingMessage, res: import('node:http').ServerResponse): void {
    res
      .writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' })
      .end('This is a wsq/1 WebSocket endpoint. Connect with a WebSocket client, e.g. wscat -c ws://HOST:PORT/\n');
  }

  private refuse(sock: Duplex, status: number, text: string): void {
    recordRefusal(this, status, text); // the dashboard's recent refusals (capped ring, lib/admin/stats.ts)
    // Refusals are logged at info, at most one line per second per status (with the count of those suppressed).
    this.logs.limited(`refused:${status}`, 'info', 'upgrade refused', { status, reason: text, address: (sock as { remoteAddress?: string }).remoteAddress });
    // Destroyed once written: a peer that never closes its side must not hold the listener's close() open.
    sock.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text) + 1}\r\nConnection: close\r\n\r\n${text}\n`, () =>
      sock.destroy(),
    );
  }

  private onUpgrade(req: IncomingMessage, sock: Duplex, head: Buffer): void {
    // Node removes its own error listener from an upgrading socket: a reset while the credential is checked (or a refusal is written) must not be an unhandled 'error'.
    sock.on('error', destroyOnError);
    if (this.closing) return this.refuse(sock, 503, 'Service Unavailable: the server is shutting down');
    const url = parseUrl(req.url);
    if (!url) return this.refuse(sock, 400, 'Bad Request: the request target is not a valid URL path');
    if (url.pathname !== this.options.path) return this.refuse(sock, 404, `Not Found: wsq serves WebSocket upgrades on ${this.options.path}`);
    const offered = req.headers['sec-websocket-protocol'];
    if (
      offered !== undefined &&
      !offered
        .split(',')
        .map((p) => p.trim())
        .includes(SUBPROTOCOL)
    ) {
      return this.refuse(sock, 400, `Bad Request: unsupported sub-protocol; offer ${SUBPROTOCOL} or none`);
    }
    const query = Object.fromEntries(url.searchParams);
    const client = query.client;
    if (client !== undefined && !CLIENT_ID.test(client)) {
      return this.refuse(sock, 400, 'Bad Request: client must be 1-128 characters of A-Z a-z 0-9 _ . : @ -');
    }
    const bearer = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1]; // the scheme is case-insensitive (RFC 7235)
    const token = bearer ?? query.token;
    // The application's allowRequest (Socket.IO's) decides first; then the guard.
    this.allowed(req, sock, () => this.admit(req, sock, head, query, token));
  }

  /** Run the `allowRequest` option, if any: `go` on success, else HTTP 403 (500 if it threw). */
  private allowed(req: IncomingMessage, sock: Duplex, go: () => void): void {
    const allow = this.options.allowRequest;
    if (!allow) return go();
    let answered = false;
    try {
      allow(req, (err, success) => {
        if (answered) return;
        answered = true;
        if (this.closing) return this.refuse(sock, 503, 'Service Unavailable: the server is shutting down');
        if (err || !success) return this.refuse(sock, 403, `Forbidden: ${typeof err === 'string' && err ? err : 'allowRequest refused the connection'}`);
        go();
      });
    } catch (err) {
      if (answered) return;
      answered = true;
      this.log('error', 'allowRequest threw', err);
      this.refuse(sock, 500, 'Internal Server Error: allowRequest failed');
    }
  }

  private admit(req: IncomingMessage, sock: Duplex, head: Buffer, query: Record<string, string>, token: string | undefined): void {
    // R2.2.9, R2.2.10, R2.2.13, R2.2.14: Origin, connection limits, credentials → identity, all before the socket opens.
    this.guard.admit(req, query, token).then(
      (a) => {
        if (!a.ok) return this.refuse(sock, a.status, a.reason);
        if (this.closing) {
          a.release();
          return this.refuse(sock, 503, 'Service Unavailable: the server is shutting down');
        }
        // The slot admit() reserved is given back if the socket goes before the WebSocket is made (then onClose does it: Guard.closed).
        const dropped = (): void => a.release();
        sock.once('close', dropped);
        // Only the facts; Socket.IO's other handshake fields (headers, time, url, …) are read off the kept request when a socket's
        // `handshake` is first read (lib/socket.ts). Assigned one by one: no spread, so every connection's object has the same shape.
        const info: HandshakeInfo = { query, address: req.socket.remoteAddress ?? '', issued: this.now() };
        if (a.client) info.client = a.client;
        if (token) info.token = token;
        if (a.credentials) info.credentials = a.credentials;
        const upgrade = (claimed: Claimed | undefined): void => {
          if (sock.destroyed) return void (claimed && this.recovery?.release(claimed));
          this.wss.handleUpgrade(req, sock, head, (ws) => {
            // Adopted: nothing of this upgrade stays on the socket (ws listens for its errors and close now).
            sock.off('close', dropped);
            sock.off('error', destroyOnError);
            const conn = this.onConnection(ws, info, req, claimed);
            this.guard.opened(ws, a, CLOSE_CODES.credentials_expired, () =>
              this.logs.limited('closed:4003', 'info', 'credentials expired; closing with 4003', connFields(conn, { code: CLOSE_CODES.credentials_expired })),
            );
          });
        };
        // R2.7.5: `?recover=<pid>&seen=<n>` takes that session, when it can be recovered whole (else a fresh connection).
        const { recover, seen } = query;
        if (!this.recovery || recover === undefined) return upgrade(undefined);
        this.recovery.claim(recover, seen !== undefined && /^\d{1,15}$/.test(seen) ? Number(seen) : Number.NaN, a.client).then(upgrade, (err) => {
          this.log('error', 'recovering a session failed', err);
          upgrade(undefined);
        });
      },
      (err) => {
        this.log('error', 'checking an upgrade failed', err);
        this.refuse(sock, 500, 'Internal Server Error: the credential could not be checked');
      },
    );
  }

  private onConnection(ws: WebSocket, info: HandshakeInfo, req: IncomingMessage, claimed?: Claimed): Connection {
    const conn = new Connection(this, ws, claimed?.sid ?? nanoid(12), info);
    if (this.recovery) {
      // R2.7.1, R2.7.3: a private session id, and the event frames sent counted (the recent ones kept).
      conn.pid = this.recovery.newPid();
      conn.ring = new SentRing();
      conn.restored = claimed;
      this.recovery.track(conn.pid, conn);
    }
    rememberRequest(conn, req); // socket.request, already in the main namespace's middleware
    this.connections.add(conn);
    if (this.logs.enabled('debug')) this.logs.write('debug', 'connection opened', connFields(conn, { address: info.address }));
    const main = this.sockets;
    // D1 (R2.1.8, R2.1.9): `welcome` means accepted, so it goes out only once the main namespace's middleware
    // accepted. Frames that arrive meanwhile are held by the connection and handled, in order, after
    // the application's `connection` listeners ran (R2.1.10), so an emit to a handler they add works.
    const restore = claimed?.namespaces.get('/');
    main.add(conn, NO_AUTH, restore).then(
      (socket) => {
        conn.send(this.welcome(conn));
        // R2.7.5: the frames of "/" the client missed follow `welcome`, then the rooms are back (one step), then `connection`.
        if (restore && claimed)
          this.recovery?.resume(
            claimed,
            '/',
            (t) => conn.sendText(t),
            (r) => main.adapter.addAll(socket.id, r),
          );
        main.announce(socket);
        conn.start();
      },
      (err: Error) => {
        const code = err instanceof WsqError && err.code === 'forbidden' ? 'forbidden' : 'unauthorized';
        conn.sendError(code, `The server refused the connection: ${err.message}.`, undefined, err instanceof WsqError ? err.details : undefined);
        this.logs.limited('refused:middleware', 'info', 'connection refused by middleware', connFields(conn, { code: CLOSE_CODES.unauthorized, reason: err.message }));
        recordRefusal(this, CLOSE_CODES.unauthorized, `refused by middleware: ${err.message}`);
        conn.close(CLOSE_CODES.unauthorized, 'refused by middleware');
      },
    );
    return conn;
  }

  /** The `welcome` frame of a connection, with the limits a client needs (R6.1.3). */
  private welcome(conn: Connection): WelcomeFrame {
    const o = this.options;
    return {
      type: 'welcome',
      sid: conn.sid,
      protocol: PROTOCOL_VERSION,
      heartbeatMs: o.heartbeatMs,
      maxPayload: o.maxPayload,
      server: { name: 'wsq', version: VERSION },
      ...(conn.client ? { client: conn.client } : {}),
      ...(conn.pid ? { pid: conn.pid, recovered: conn.sockets.get('/')?.recovered === true } : {}), // R2.7.1, R2.7.5
      limits: {
        timeoutMs: o.timeoutMs,
        ackTimeoutMs: o.ackTimeoutMs,
        maxDeliver: o.maxDeliver,
        prefetch: o.prefetch,
        badFrameLimit: o.badFrameLimit,
        badFrameWindowMs: o.badFrameWindowMs,
        dedupWindowMs: { ...DEFAULT_RETENTION, ...o.retention }.dedupWindowMs,
        ...(o.limits.maxRoomsPerConnection > 0 ? { maxRooms: o.limits.maxRoomsPerConnection } : {}), // R2.2.15, R11.5: announce the room cap
      },
      features: [...SERVER_FEATURES], // R1.10, R6.1.4 (contract: role F's `args` and `binary`; add others to SERVER_FEATURES)
    };
  }

  private beat(): void {
    const now = this.now();
    if (this.storeFault !== undefined && this.store.health().writable) {
      this.logs.write('info', 'the store accepts writes again', { store: this.store.kind, refused: this.storeFault });
      this.storeFault = undefined;
    }
    const { heartbeatMs, timeoutMs } = this.options;
    for (const c of this.connections) {
      // R2.4.5: lastSeen is the last pong, so a peer that writes but never reads is dropped too.
      if (now - c.lastSeen > heartbeatMs + timeoutMs) c.terminate('ping timeout');
      else if (c.open) {
        c.ws.ping();
        c.checkBuffer();
      }
    }
    this.recovery?.sweep(now);
    for (const [name, nsp] of this.nsps) {
      nsp.sweep(now, heartbeatMs);
      // A namespace made on demand (a client's connect) goes once nothing uses it; its data stays in the store.
      if (nsp.dynamic && nsp.unused(now, heartbeatMs)) {
        this.nsps.delete(name);
        for (const p of this.parents) p.children.delete(nsp);
        void nsp.adapter.close();
      }
    }
  }
}
