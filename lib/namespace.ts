/**
 * Namespace: a named group of sockets with its own middleware, adapter (rooms), room logs
 * and subscriptions (lib/subscriptions.ts). `ParentNamespace` serves dynamic names (RegExp or function) by creating
 * a child namespace per name, sharing the parent's middleware and connection listeners.
 */
import { EventEmitter } from 'node:events';
import { storedData } from '../protocol/binary.js';
import { encodeArgsFrame, encodeFrame } from '../protocol/codec.js';
import type { EventFrame, JoinFrame } from '../protocol/frames.js';
import type { RemoteSocket } from './adapter/remote-socket.js';
import type { Adapter } from './adapter/types.js';
import { BroadcastOperator } from './broadcast.js';
import type { Connection } from './connection.js';
import type { Recovery, SavedNamespace } from './recovery.js';
import { WsqError } from './errors.js';
import type { WireStats } from './http/stats.js';
import { RoomLog } from './log.js';
import { reservedEventError } from './names.js';
import type { NamespaceHost } from './host.js';
import { isListenerBookkeeping, Socket } from './socket.js';
import type { AppendResult, NewMessage, Store } from './store/types.js';
import { Subscriptions } from './subscriptions.js';
import type { DefaultEventsMap, EventNames, EventParams, EventsMap } from './typed-events.js';

/** A namespace middleware: call `next()` to accept, `next(err)` to refuse (or throw / reject). */
export type Middleware = (socket: Socket, next: (err?: Error) => void) => unknown;

/** Options of a stored publish. */
export interface PublishOptions {
  /** Idempotency key: a repeat within the dedup window is not stored again. */
  key?: string;
  /** Sender sid (excluded from the live fan-out unless `echo`). */
  from?: string;
  echo?: boolean;
}

/** Typed listeners (I7 deliver 5): `socket` in `nsp.on('connection', …)` is a `Socket` (typed by the server's event maps), not `any`; `serverSideEmit` listeners by `InterServer`. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface Namespace<CTS extends EventsMap = DefaultEventsMap, STC extends EventsMap = DefaultEventsMap, ISE extends EventsMap = DefaultEventsMap, SD = any> {
  on(event: 'connection' | 'connect', listener: (socket: Socket<CTS, STC, ISE, SD>) => void): this;
  on<E extends EventNames<ISE>>(event: E, listener: ISE[E]): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'connection' | 'connect', listener: (socket: Socket<CTS, STC, ISE, SD>) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** Event names a namespace's `emit` and `serverSideEmit` refuse (its own lifecycle events, as in Socket.IO). */
const NAMESPACE_RESERVED = new Set(['connect', 'connection', 'new_namespace']);

/** Throw for a namespace's own lifecycle names (`connection`, `connect`, `new_namespace`). */
function assertNamespaceEvent(event: string): void {
  if (NAMESPACE_RESERVED.has(event)) throw new TypeError(`"${event}" is a reserved event name of a namespace; pick another name`);
}

/** Room logs kept in memory per namespace before idle ones are dropped at once (memory side of I8 row 5). */
const MAX_LOGS = 10_000;

/**
 * A namespace.
 * @example
 * const chat = server.of('/chat');
 * chat.use((socket, next) => (socket.handshake.auth.name ? next() : next(new WsqError('unauthorized', 'send auth.name'))));
 * chat.on('connection', (socket) => socket.join('lobby'));
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface only adds typed on/once('connection') overloads
export class Namespace<
  // biome-ignore lint/correctness/noUnusedVariables: types the merged interface's connection listeners
  CTS extends EventsMap = DefaultEventsMap,
  STC extends EventsMap = DefaultEventsMap,
  ISE extends EventsMap = DefaultEventsMap,
  // biome-ignore lint/correctness/noUnusedVariables: types the merged interface's connection listeners
  SD = any,
> extends EventEmitter {
  readonly sockets = new Map<string, Socket>();
  readonly adapter: Adapter;
  /** Settles once the adapter's optional `init()` did (undefined: nothing to wait for). */
  private readonly adapterReady: Promise<void> | undefined;
  readonly middlewares: Middleware[] = [];
  private readonly logs = new Map<string, RoomLog>();
  /** Room subscriptions of this namespace's sockets: consumers and presence watchers. */
  private readonly subscriptions = new Subscriptions(this);
  /** True for a namespace created by a client's `connect` ("any" mode, or a dynamic parent's child), not by `of()`. */
  dynamic = false;
  /** The dynamic parent (`of(RegExp)`, `of(fn)`) whose middleware and `connection` listeners apply here too. */
  parent: ParentNamespace | undefined;
  /** Connects running their middleware. */
  private joining = 0;
  private unusedSince = 0;

  constructor(
    readonly server: NamespaceHost,
    readonly name: string,
  ) {
    super();
    this.adapter = server.options.adapter(this);
    this.adapterReady = this.adapter.init?.().catch(() => undefined);
    // contract: (C) decision 3: on a shared store each node delivers a room's stored messages from the room's feed to its own
    // members only, so a room with a member here needs its log (and feed) here, however the member joined (socket.join too).
    if (server.store.shared) this.adapter.on('create-room', (room: string) => this.sockets.has(room) || this.log(room));
  }

  /** The store of room logs and cursors. */
  get store(): Store {
    return this.server.store;
  }

  /** @internal Connection state recovery (lib/recovery.ts), when the server has it on. */
  get recovery(): Recovery | undefined {
    return this.server.recovery;
  }

  /** @internal The server's `/metrics` counters. */
  get stats(): WireStats {
    return this.server.stats;
  }

  /** Add a middleware run for every socket connecting to this namespace. */
  use(fn: Middleware): this {
    this.middlewares.push(fn);
    return this;
  }

  /** The sids of every socket of the namespace (Socket.IO's deprecated `allSockets()`; prefer `fetchSockets()`). */
  async allSockets(): Promise<Set<string>> {
    return new Set((await this.fetchSockets()).map((s) => s.id));
  }

  /** `emit('message', …)`, as Socket.IO's `send`. */
  send(...args: unknown[]): this {
    (this.emit as (event: string, ...a: unknown[]) => boolean)('message', ...args);
    return this;
  }

  /**
   * Send an event to this namespace on every OTHER server of the cluster (their `nsp.on(event, …)`
   * listeners; never this server's own), through the adapter — with one node, nobody (as in Socket.IO).
   * A last argument that is a function gets `(err, answers)` as `serverSideEmitWithAck` would settle.
   * @example
   * io.serverSideEmit('hello', 'world');                 // other nodes: io.on('hello', (arg) => …)
   */
  serverSideEmit<E extends EventNames<ISE>>(event: E, ...args: EventParams<ISE, E>): boolean;
  serverSideEmit(event: string, ...args: unknown[]): boolean {
    assertNamespaceEvent(event);
    const reserved = reservedEventError(event);
    if (reserved) throw reserved;
    const last = args[args.length - 1];
    if (typeof last === 'function') {
      const cb = last as (err: Error | null, answers: unknown[]) => void;
      this.adapter.serverSideEmitWithAck(event, args.slice(0, -1)).then(
        (answers) => cb(null, answers),
        (err: Error & { details?: unknown }) => cb(err, Array.isArray(err.details) ? err.details : []),
      );
      return true;
    }
    // contract: role A's Adapter.serverSideEmit (lib/adapter/types.ts) reaches the other nodes' serverSideReceive.
    this.adapter.serverSideEmit(event, args).catch((err) => this.server.log('warn', `serverSideEmit "${event}" of namespace "${this.name}" failed`, err));
    return true;
  }

  /**
   * As `serverSideEmit`, resolving with one answer per other server (each listener's last argument is
   * its reply callback); rejects with a `timeout` WsqError after the adapter's timeout. One node: `[]`.
   * @example
   * const counts = await io.serverSideEmitWithAck('count-users'); // other nodes: io.on('count-users', (reply) => reply(n))
   */
  serverSideEmitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    try {
      assertNamespaceEvent(event);
      const reserved = reservedEventError(event);
      if (reserved) throw reserved;
    } catch (err) {
      return Promise.reject(err);
    }
    return this.adapter.serverSideEmitWithAck(event, args);
  }

  /** Target rooms. */
  to(room: string | string[]): BroadcastOperator<STC> {
    return this.operator().to(room);
  }
  /** Alias of `to`. */
  in(room: string | string[]): BroadcastOperator<STC> {
    return this.to(room);
  }
  /** Skip rooms (a sid is a room). */
  except(room: string | string[]): BroadcastOperator<STC> {
    return this.operator().except(room);
  }
  /** Broadcast flag: may be dropped for backed-up sockets. */
  get volatile(): BroadcastOperator<STC> {
    return this.operator().volatile;
  }
  /** Broadcast flag: this node only. */
  get local(): BroadcastOperator<STC> {
    return this.operator().local;
  }
  /** Broadcast flag: `compress(false)` never compresses these frames. */
  compress(flag: boolean): BroadcastOperator<STC> {
    return this.operator().compress(flag);
  }
  /** Broadcast with an ack timeout. */
  timeout(ms: number): BroadcastOperator<STC> {
    return this.operator().timeout(ms);
  }
  /** Send to every socket of the namespace (live; not stored). A reserved name (`connection`, `disconnect`, `$…`, R4.5.1) throws a TypeError, as in Socket.IO. */
  override emit<E extends EventNames<STC>>(event: E, ...args: EventParams<STC, E>): boolean;
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    // EventEmitter itself emits newListener/removeListener (a name and a listener) through this method: those stay local; the application's throw.
    if (typeof event === 'symbol' || ((event === 'newListener' || event === 'removeListener') && isListenerBookkeeping(args))) return super.emit(event, ...args);
    assertNamespaceEvent(event);
    return (this.operator().emit as (e: string, ...a: unknown[]) => boolean)(event, ...args); // (…).emit keeps `this`
  }
  /** Every socket of the namespace, on every node (this node's as `Socket`, others' as `RemoteSocket`). */
  fetchSockets(): Promise<(Socket | RemoteSocket)[]> {
    return this.operator().fetchSockets();
  }
  /** Make every socket join rooms. */
  socketsJoin(room: string | string[]): void {
    this.operator().socketsJoin(room);
  }
  /** Make every socket leave rooms. */
  socketsLeave(room: string | string[]): void {
    this.operator().socketsLeave(room);
  }
  /** Disconnect every socket. */
  disconnectSockets(close = false): void {
    this.operator().disconnectSockets(close);
  }

  protected operator(): BroadcastOperator<STC> {
    return new BroadcastOperator<STC>(() => [this as Namespace]);
  }

  /**
   * Append a message to a room's log (offset, replay, durable and group delivery), then fan it
   * out live. Resolves after the store committed it.
   * @example
   * const { offset } = await server.of('/').publish('news', 'headline', { title: 'wsq 0.1' });
   */
  publish(room: string, event: string, data?: unknown, opts: PublishOptions = {}): Promise<AppendResult> {
    const reserved = reservedEventError(event); // R4.5.1: the same rule as for clients' emits
    if (reserved) return Promise.reject(reserved);
    // R5.8.6: several arguments or binary values are stored as one JSON envelope (protocol/binary.ts); plain JSON as it is.
    const msg: NewMessage = { event, data: storedData(data ?? null), ts: this.server.now() };
    if (opts.from) msg.from = opts.from;
    if (opts.key) msg.key = opts.key;
    return this.log(room).append(msg, opts.echo ?? false);
  }

  /** @internal Encode a live event frame of this namespace (no room, no offset: not stored). */
  encodeEvent(event: string, data: unknown, args?: readonly unknown[]): string {
    // contract: role F — `args` (all the arguments) replaces `data` when given; several arguments or binary values
    // make an `args` field or a binary message (R4.5.10, R4.9); one JSON value encodes exactly as before.
    if (args !== undefined || (typeof data === 'object' && data !== null)) {
      return encodeArgsFrame({ type: 'event', ns: this.name, event }, args ?? [data], { ts: this.server.now() });
    }
    return encodeFrame({ type: 'event', ns: this.name, event, data: data ?? null, ts: this.server.now() } satisfies EventFrame);
  }

  /** @internal Log a line through the server's logger. */
  report(level: 'warn' | 'error', msg: string, err?: unknown): void {
    this.server.log(level, msg, err);
  }

  /**
   * @internal AdapterNamespace: an event another node sent with `serverSideEmit`, to this
   * namespace's own listeners (`nsp.on(event, (...args, reply?) => …)`, as in Socket.IO);
   * `reply` is the last argument for `serverSideEmitWithAck`. A listener that throws is logged.
   */
  serverSideReceive(event: string, args: unknown[], reply?: (answer: unknown) => void): void {
    try {
      EventEmitter.prototype.emit.call(this, event, ...args, ...(reply ? [reply] : []));
    } catch (err) {
      this.server.log('error', `a serverSideEmit listener for "${event}" of namespace "${this.name}" threw`, err);
    }
  }

  /**
   * @internal Drop room logs that have been idle for at least `idleMs` (called on every
   * heartbeat), so rooms nobody uses any more do not hold memory. Their data stays in the store.
   */
  sweep(now: number, idleMs: number): void {
    for (const [room, log] of this.logs) {
      if (!log.idle()) log.idleSince = 0;
      else if (log.idleSince === 0) log.idleSince = now;
      else if (now - log.idleSince >= idleMs) {
        this.logs.delete(room);
        log.dispose();
      }
    }
  }

  /** @internal Rooms whose log is in memory now (for tests and, later, metrics). */
  loadedRooms(): string[] {
    return [...this.logs.keys()];
  }

  /** The log of a room (created on first use). */
  log(room: string): RoomLog {
    let log = this.logs.get(room);
    if (!log) {
      if (this.logs.size >= MAX_LOGS) this.evictIdleLogs();
      this.logs.set(room, (log = new RoomLog(this, room)));
    }
    return log;
  }

  /**
   * I8 row 5 (memory side): past MAX_LOGS room logs, idle ones go at once (oldest first) instead of
   * waiting for the heartbeat's sweep, so a client naming a million rooms between two sweeps does
   * not hold a million logs. Looks at a few per call; busy ones move to the back.
   */
  private evictIdleLogs(): void {
    let looked = 0;
    for (const [room, log] of this.logs) {
      if (++looked > 64 || this.logs.size < MAX_LOGS) break;
      this.logs.delete(room);
      if (log.idle()) log.dispose();
      else this.logs.set(room, log);
    }
  }

  /**
   * @internal True once nothing has used this namespace (no socket, connect, room log,
   * consumer or presence watcher) for at least `idleMs`; checked on every heartbeat.
   */
  unused(now: number, idleMs: number): boolean {
    const idle = this.sockets.size === 0 && this.joining === 0 && this.logs.size === 0 && this.subscriptions.idle();
    if (!idle) this.unusedSince = 0;
    else if (this.unusedSince === 0) this.unusedSince = now;
    return idle && now - this.unusedSince >= idleMs;
  }

  /**
   * @internal Run middleware and add a connection to this namespace. `restore`: the socket's saved state of a recovered
   * session (R2.7.5): `data` and `recovered` are set before the middleware runs (skipped with `skipMiddlewares`); the
   * caller restores the rooms once it told the client (lib/recovery.ts `resume`).
   */
  async add(conn: Connection, auth: Record<string, unknown>, restore?: SavedNamespace): Promise<Socket> {
    this.joining++;
    try {
      // contract: Adapter.init (optional): a cluster adapter's subscriptions are made before its first socket joins. A failure
      // was logged by the adapter; the namespace serves this node's sockets anyway.
      if (this.adapterReady) await this.adapterReady;
      return await this.addNow(conn, auth, restore);
    } finally {
      this.joining--;
    }
  }

  private async addNow(conn: Connection, auth: Record<string, unknown>, restore?: SavedNamespace): Promise<Socket> {
    // Its `handshake` (the connection's facts, Socket.IO's headers, time, url, secure, xdomain, and `auth`) is made when first read.
    const socket = new Socket(this, conn, auth);
    if (restore) {
      socket.data = restore.data as typeof socket.data;
      socket.recovered = true;
    }
    const skip = restore !== undefined && this.server.recovery?.options.skipMiddlewares === true;
    // Issue 7 #8: rooms a middleware joined belong to the adapter under this sid; every way out of the
    // handshake (refusal, a throw, the connection closing meanwhile) takes them away again.
    const abandon = (): void => {
      socket.ended = true;
      this.adapter.delAll(socket.id);
    };
    conn.ws.once('close', abandon);
    try {
      // A parent's middleware runs first, then this namespace's own (both read live, so a
      // middleware added to the parent later applies to existing children too).
      for (const mw of skip ? [] : this.parent ? [...this.parent.middlewares, ...this.middlewares] : this.middlewares) {
        await new Promise<void>((resolve, reject) => {
          try {
            const r = mw(socket, (err) => (err ? reject(err) : resolve())) as Promise<unknown> | undefined;
            if (r && typeof r.then === 'function') r.then(undefined, reject);
          } catch (err) {
            reject(err);
          }
        });
      }
      if (!conn.open) throw new WsqError('internal', 'the connection closed during the handshake');
    } catch (err) {
      abandon();
      throw err;
    } finally {
      conn.ws.off('close', abandon);
    }
    socket.connected = true;
    this.sockets.set(socket.id, socket);
    conn.sockets.set(this.name, socket);
    this.adapter.addAll(socket.id, [socket.id]);
    return socket;
  }

  /** @internal Announce a socket after `connected` was sent, and subscribe its personal room. */
  announce(socket: Socket): void {
    socket.accepted(); // emits from a middleware follow `welcome`/`connected` (R2.1.8)
    // The parent's `connection` and `connect` listeners (a dynamic child's) run first, then this namespace's.
    for (const nsp of this.parent ? [this.parent, this] : [this]) {
      for (const event of ['connection', 'connect']) {
        try {
          EventEmitter.prototype.emit.call(nsp, event, socket);
        } catch (err) {
          // The application's listener threw: log it; the socket stays connected (as in Socket.IO).
          this.server.log('error', `a "${event}" listener of namespace "${nsp.name}" threw`, err);
        }
      }
    }
    if (socket.client && socket.connected) {
      this.subscribe(socket, { type: 'join', room: `@${socket.client}`, durable: true }, true).catch((err) =>
        this.server.log('error', `subscribing ${socket.id} to its personal room failed`, err),
      );
    }
  }

  /** @internal Remove a socket: `disconnecting` (rooms still visible), leave everything, `disconnect`. */
  remove(socket: Socket, reason: string): void {
    if (!socket.connected) return;
    socket.ended = true; // a join from a `disconnecting` or `disconnect` listener (or later) is ignored
    socket.emitReserved('disconnecting', reason);
    socket.connected = false;
    for (const room of [...socket.subs.keys()]) this.unsubscribe(socket, room);
    this.adapter.delAll(socket.id);
    this.sockets.delete(socket.id);
    socket.conn.sockets.delete(this.name);
    socket.emitReserved('disconnect', reason);
    if (this.parent && this.dynamic && this.sockets.size === 0) this.parent.childEmptied(this); // cleanupEmptyChildNamespaces
  }

  /** @internal Nothing connects or is connected now: drop every idle room log (their data stays in the store); true when the namespace is unused. */
  forgetIdle(): boolean {
    for (const [room, log] of this.logs) {
      if (!log.idle()) continue;
      this.logs.delete(room);
      log.dispose();
    }
    return this.sockets.size === 0 && this.joining === 0 && this.logs.size === 0 && this.subscriptions.idle();
  }

  /**
   * @internal Subscribe a socket to a room as the `join` frame asks: live (with replay),
   * durable (server-tracked cursor) or group (competing consumers).
   */
  subscribe(socket: Socket, f: JoinFrame, quiet = false): Promise<void> {
    return this.subscriptions.subscribe(socket, f, quiet);
  }

  /** @internal End a socket's subscription to a room (no-op when it has none). Returns whether it had one. */
  unsubscribe(socket: Socket, room: string): boolean {
    return this.subscriptions.unsubscribe(socket, room);
  }

  /** @internal Server shutdown: stop every consumer and wait until its state is committed (before the store closes). */
  closeConsumers(): Promise<void> {
    return this.subscriptions.closeConsumers();
  }
}

/** The callback of a Socket.IO-style matcher: `next(null, true)` serves the name; an error or `false` does not. */
export type MatcherCallback = (err: Error | null | undefined, ok?: boolean) => void;

/**
 * Decides whether a dynamic namespace name is served: a RegExp, a function answering a boolean
 * (or a promise of one), or a Socket.IO-style function `(name, auth, next) => next(err, ok)`.
 */
export type NamespaceMatcher = RegExp | ((name: string, auth: Record<string, unknown>, next: MatcherCallback) => boolean | Promise<boolean> | void);

/**
 * Serves every namespace name its matcher accepts, as a child namespace per name.
 * Middleware and `connection` listeners added to the parent apply to every child.
 */
export class ParentNamespace extends Namespace {
  readonly children = new Set<Namespace>();

  constructor(
    server: NamespaceHost,
    readonly matcher: NamespaceMatcher,
  ) {
    super(server, `parent:${String(matcher)}`);
  }

  /**
   * Whether a name is served by this parent. A matcher that throws, rejects or calls
   * `next(err)` does not serve it (the client gets `unknown_namespace`, as in Socket.IO); the
   * failure is logged.
   */
  matches(name: string, auth: Record<string, unknown>): Promise<boolean> {
    const m = this.matcher;
    if (m instanceof RegExp) {
      m.lastIndex = 0; // a /g or /y RegExp keeps state between tests
      return Promise.resolve(m.test(name));
    }
    return new Promise((resolve) => {
      let settled = false;
      const settle = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        resolve(ok);
      };
      const failed = (err: unknown): void => {
        this.server.log('warn', `the namespace matcher ${this.name} failed for "${name}"`, err);
        settle(false);
      };
      try {
        const r = m(name, auth, (err, ok) => settle(!err && ok === true));
        // A callback-style matcher (three parameters) answers through `next`; any other answers with its result.
        if (r !== undefined || m.length < 3) Promise.resolve(r).then((ok) => settle(ok === true), failed);
      } catch (err) {
        failed(err);
      }
    });
  }

  /** @internal True when this is a RegExp parent whose RegExp matches `name` (declared names are attached by it). */
  matchesName(name: string): boolean {
    if (!(this.matcher instanceof RegExp)) return false;
    this.matcher.lastIndex = 0;
    return this.matcher.test(name);
  }

  /** @internal Create the child namespace for a name. */
  createChild(name: string): Namespace {
    const child = new Namespace(this.server, name);
    this.attach(child);
    return child;
  }

  /** @internal Make a namespace a child: this parent's middleware and listeners apply to it, its broadcasts reach it. */
  attach(child: Namespace): void {
    child.parent = this;
    this.children.add(child);
  }

  /** @internal A child made for a client's connect lost its last socket: with `cleanupEmptyChildNamespaces` it goes at once (as in Socket.IO). */
  childEmptied(child: Namespace): void {
    if (this.server.options.cleanupEmptyChildNamespaces) this.server.dropNamespace(child);
  }

  protected override operator(): BroadcastOperator {
    return new BroadcastOperator(() => [...this.children]);
  }
}
