/**
 * Socket: one connection's presence in one namespace — the object a server application
 * gets in `nsp.on('connection', socket => …)`, shaped like Socket.IO's.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { frameArgs } from '../protocol/binary.js';
import { withDelivery } from '../protocol/codec.js';
import { type AckCallback, encodeAck, takeCallback, takeOptions } from './args.js';
import { wireBuffer } from './wire.js';
import { CLOSE_CODES } from '../protocol/codes.js';
import type { EmitFrame, RequestId } from '../protocol/frames.js';
import type { AdapterSocket } from './adapter/types.js';
import type { BroadcastOperator } from './broadcast.js';
import type { Connection, HandshakeInfo } from './connection.js';
import type { ConsumerHandle, ConsumerMember } from './consumer.js';
import { WsqError } from './errors.js';
import type { Namespace } from './namespace.js';
import { assertEventName, reservedEventError } from './names.js';
import type { DefaultEventsMap, EventNames, EventParams, EventsMap } from './typed-events.js';

/** The options `emitWithAck` takes as its last argument. */
const TIMEOUT_OPTION = ['timeoutMs'] as const;

/** Most emits a middleware may make to a socket before its namespace accepted it (held until then, R2.1.8). */
const MAX_EARLY_EMITS = 100;

/** An event handler: the client's arguments (one `data`, or each of `args`: R4.5.10), then `reply(…answers)`, which sends the ack (a no-op when the client asked for none). */
export type EventHandler = (...args: any[]) => unknown;
/** A catch-all listener for every incoming emit. */
/**
 * A catch-all listener of incoming emits (`onAny`), as Socket.IO's: the event name, then every argument.
 * A client emit *with a room* (relayed by the server, not handled) adds one last argument `{ room }`.
 */
export type AnyHandler = (event: string, ...args: unknown[]) => void;
/** A catch-all listener for every event sent to this socket's client (`onAnyOutgoing`): the name, then the arguments. */
export type AnyOutgoingHandler = (event: string, ...args: unknown[]) => void;
/**
 * A per-packet middleware (`socket.use`, as in Socket.IO): `packet` is `[event, data]` of an emit to the
 * server's handlers (change it in place to change what the handlers get); `next()` passes it on,
 * `next(err)` (or a throw / rejection) stops it and fires the socket's `error` event with `err`.
 */
export type PacketMiddleware = (packet: unknown[], next: (err?: Error) => void) => unknown;

/** The upgrade facts the server adds to each connection's handshake (Socket.IO's handshake fields). */
export interface UpgradeFacts {
  /** The upgrade request's headers. */
  headers: IncomingHttpHeaders;
  /** When the connection opened, as `Date.toString()`. */
  time: string;
  /** The upgrade request's target (path and query). */
  url: string;
  /** True when the connection is TLS (wss://). */
  secure: boolean;
  /** True when the request came from another origin (an `Origin` header whose host is not the `Host` header). */
  xdomain: boolean;
}

/** The handshake facts a middleware or handler can read. */
export interface Handshake extends HandshakeInfo, UpgradeFacts {
  /** The `auth` object of the namespace `connect` frame (empty for "/"). */
  auth: Record<string, unknown>;
}

/** @internal The `auth` of a namespace connect without one (the main namespace's): the socket's handshake gets its own `{}` when read. */
export const NO_AUTH: Record<string, unknown> = Object.freeze({});

/** Shared by every socket without subscriptions (never written: `setSub` makes a socket its own map). */
const NO_SUBS: ReadonlyMap<string, Subscription> = new Map();

/** Upgrade requests by connection (`socket.request`); weak, so a closed connection's request is not kept. */
const requests = new WeakMap<Connection, IncomingMessage>();

/** @internal The server remembers a connection's upgrade request for `socket.request`. */
export function rememberRequest(conn: Connection, req: IncomingMessage): void {
  requests.set(conn, req);
}

/** A socket's handshake: the connection's facts, then Socket.IO's fields read off the upgrade request, then `auth` (assigned in this order, one shape for all). */
function handshakeOf(conn: Connection, auth: Record<string, unknown>): Handshake {
  const f = conn.handshake;
  const req = requests.get(conn);
  const h = {
    query: f.query,
    address: f.address,
    issued: f.issued,
    headers: req?.headers ?? {},
    time: new Date(f.issued).toString(),
    url: req?.url ?? '/',
    secure: (req?.socket as { encrypted?: boolean } | undefined)?.encrypted === true,
    xdomain: req?.headers.origin !== undefined,
  } as Handshake;
  if (f.client !== undefined) h.client = f.client;
  if (f.token !== undefined) h.token = f.token;
  if (f.credentials !== undefined) h.credentials = f.credentials;
  h.auth = auth === NO_AUTH ? {} : auth;
  return h;
}

/**
 * Socket.IO's "the transport is not writable", in Node's terms: the connection is not open, or its TCP
 * socket signalled back-pressure (a write went past its 16 KiB high-water mark — also within one burst of
 * writes — and has not drained). A volatile frame is dropped then (R2.3.6).
 */
function writable(conn: Connection): boolean {
  if (!conn.open) return false;
  return (conn.ws as unknown as { _socket?: { writableNeedDrain?: boolean } })._socket?.writableNeedDrain !== true;
}

/** @internal True for the arguments EventEmitter itself passes when it emits `newListener`/`removeListener` (a name and a listener). */
export function isListenerBookkeeping(args: unknown[]): boolean {
  return args.length === 2 && (typeof args[0] === 'string' || typeof args[0] === 'symbol') && typeof args[1] === 'function';
}

/** A socket's subscription to one room. */
export interface Subscription {
  mode: 'live' | 'durable' | 'group';
  presence: boolean;
  /** Made by the server, not by a `join` frame (the personal room): ending it is not announced to the client. */
  auto?: boolean;
  /** Its `presence` join went out (so a snapshot lists it and its leave is announced; R6.3.2). */
  announced?: boolean;
  /** Presence frames (encoded) for this watcher held until its `joined` went out (R6.3.2, R3.13). */
  heldPresence?: string[];
  consumer?: ConsumerHandle;
  member?: SocketMember;
}

/** Delivers a consumer's messages to one socket, each with a per-connection id to ack. */
export class SocketMember implements ConsumerMember {
  constructor(
    readonly socket: Socket,
    readonly prefetch: number,
  ) {}
  get sid(): string {
    return this.socket.id;
  }
  deliver(frame: string, _consumer: ConsumerHandle, _offset: number, attempt: number): RequestId {
    // The consumer keeps the only record of the delivery (ConsumerHandle.settle finds it on ack): the connection only issues the id.
    const id = this.socket.conn.issue();
    this.socket.conn.sendText(withDelivery(frame, id, attempt));
    return id;
  }
  /** Nothing to forget here: the consumer held the only record of the delivery. */
  forget(_id: RequestId): void {}
  private waking = false;
  /** R2.5.7: nothing more (new or redelivered) while the socket is backed up; `wake` once it drained. */
  ready(wake: () => void): boolean {
    const conn = this.socket.conn;
    if (!conn.backedUp()) return true;
    if (!this.waking && conn.open) {
      this.waking = true;
      conn.whenDrained(() => {
        this.waking = false;
        wake();
      });
    }
    return false;
  }
}

/** Typed listeners (issue 10 item 5): `socket.on(event, …)` takes the listener type of the server's `ClientToServer` map. */
// biome-ignore lint/correctness/noUnusedVariables: the type parameters must be the class's for declaration merging
export interface Socket<CTS extends EventsMap = DefaultEventsMap, STC extends EventsMap = DefaultEventsMap, ISE extends EventsMap = DefaultEventsMap, SD = any> {
  on<E extends EventNames<CTS>>(event: E, listener: CTS[E]): this;
  on(event: 'disconnect' | 'disconnecting', listener: (reason: string) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<E extends EventNames<CTS>>(event: E, listener: CTS[E]): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

/**
 * One connection in one namespace.
 * @example
 * server.of('/chat').on('connection', (socket) => {
 *   socket.on('hello', (data, reply) => reply({ hi: socket.id }));
 *   socket.join('lobby');
 *   socket.to('lobby').emit('joined', { sid: socket.id });
 * });
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface only adds typed on/once overloads
// biome-ignore lint/correctness/noUnusedVariables: CTS, ISE are used by the merged interface and by Namespace/WsqServer
export class Socket<CTS extends EventsMap = DefaultEventsMap, STC extends EventsMap = DefaultEventsMap, ISE extends EventsMap = DefaultEventsMap, SD = any>
  extends EventEmitter
  implements AdapterSocket
{
  /** `data`, made at its first read (most sockets never have any). */
  private dataValue: SD | undefined;
  /** True once the namespace's middleware accepted this socket, false again once it left (as in Socket.IO). */
  connected = false;
  /**
   * True when this socket is a recovered one (connection state recovery, PROTOCOL.md §2.7): same sid, rooms and `data`
   * as before the drop, and what was sent to it meanwhile follows. False for a new session (as Socket.IO's `socket.recovered`).
   */
  recovered = false;
  /** @internal True once the socket was refused, left its namespace, or its connection closed: it joins no room any more (issue 7 #8). */
  ended = false;
  /** Room subscriptions (made at the first: most sockets have none). */
  private subsMap: Map<string, Subscription> | undefined;
  /** `onAny` listeners (undefined until the first). */
  private anyHandlers: AnyHandler[] | undefined;
  /** `handshake`, made at its first read. */
  private shake: Handshake | undefined;
  /** `onAnyOutgoing` listeners (undefined until the first: the send paths test one field). */
  private anyOutgoing: AnyOutgoingHandler[] | undefined;
  /** `socket.use` middlewares (undefined until the first: an emit without them takes the direct path). */
  private packetMiddlewares: PacketMiddleware[] | undefined;
  private nextVolatile = false;
  private nextCompress: boolean | undefined;
  /** Frames emitted before acceptance (from a middleware), held until `accepted()`. */
  private early: string[] | undefined = [];

  constructor(
    readonly nsp: Namespace,
    readonly conn: Connection,
    /** The `auth` object of the namespace `connect` frame (empty for "/"). */
    private readonly auth: Record<string, unknown>,
  ) {
    super();
  }

  /**
   * The handshake facts (Socket.IO's `socket.handshake`): the connection's, the upgrade request's headers, time, url,
   * secure and xdomain, and this namespace's `auth`. One object per socket, made when first read.
   */
  get handshake(): Handshake {
    return (this.shake ??= handshakeOf(this.conn, this.auth));
  }

  /** This socket's room subscriptions made by `join` frames (room → subscription). */
  get subs(): ReadonlyMap<string, Subscription> {
    return this.subsMap ?? NO_SUBS;
  }

  /** @internal Record the subscription to `room` (lib/subscriptions.ts). */
  setSub(room: string, sub: Subscription): void {
    (this.subsMap ??= new Map()).set(room, sub);
  }

  /** @internal Forget the subscription to `room`, if any. */
  deleteSub(room: string): void {
    if (this.subsMap?.delete(room) && this.subsMap.size === 0) this.subsMap = undefined;
  }

  /** Application data attached to the socket (as Socket.IO's `socket.data`, `{}` at first; typed by the server's `SocketData` type argument). */
  get data(): SD {
    return (this.dataValue ??= {} as SD);
  }

  set data(value: SD) {
    this.dataValue = value;
  }

  /** The sid: the connection's id, the same in every namespace. */
  get id(): string {
    return this.conn.sid;
  }

  /** The client identity, if the connection has one. */
  get client(): string | undefined {
    return this.conn.client;
  }

  /** The rooms this socket is in (live membership, including its own sid). */
  get rooms(): ReadonlySet<string> {
    return this.nsp.adapter.socketRooms(this.id) ?? new Set();
  }

  /**
   * The HTTP upgrade request of this socket's connection (Node's IncomingMessage), as Socket.IO's
   * `socket.request`: headers, cookies, `request.socket`. Held while the connection lives.
   */
  get request(): IncomingMessage {
    return requests.get(this.conn)!;
  }

  /**
   * `socket.volatile.emit(…)`: the next emit to this client is dropped when its transport is not writable
   * (backed up, or closing), instead of queued (R2.3.6).
   */
  get volatile(): this {
    this.nextVolatile = true;
    return this;
  }

  /** Every socket in the namespace but this one, on this node only (`socket.local.emit`, as in Socket.IO). */
  get local(): BroadcastOperator<STC> {
    return this.nsp.local.except(this.id);
  }

  /** Every socket of the namespace except those in `room` and this one (`socket.except(room).emit`, as in Socket.IO). */
  except(room: string | string[]): BroadcastOperator<STC> {
    return this.nsp.except(room).except(this.id);
  }

  /**
   * Send an event to this client. A reserved name (`disconnect`, `$…`, R4.5.1) throws a TypeError, as in Socket.IO.
   */
  override emit<E extends EventNames<STC>>(event: E, ...args: EventParams<STC, E>): boolean;
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    // EventEmitter itself emits newListener/removeListener (a name and a listener) through this method: those stay local.
    // The application emitting them (any other arguments) throws, as the other reserved names do (Socket.IO).
    if (typeof event === 'symbol' || ((event === 'newListener' || event === 'removeListener') && isListenerBookkeeping(args))) return super.emit(event, ...args);
    assertEventName(event); // R4.5.1: reserved names never reach a client
    if (this.anyOutgoing) this.notifyOutgoing(event, args); // an ack callback is not reported as an argument
    // R4.6.4, as in Socket.IO: a function as the last argument is the ack callback, `cb(...answers)`.
    if (typeof args[args.length - 1] === 'function') {
      this.emitCallback(event, args.slice(0, -1), args[args.length - 1] as AckCallback);
      return true;
    }
    const text = this.nsp.encodeEvent(event, undefined, args); // R4.5.10: every argument (one: `data`, as before)
    if (this.early) this.hold(text);
    else if (this.ended && !this.conn.open && this.nsp.server.recovery) {
      if (!this.nextVolatile) this.nsp.server.recovery.captureDirect(this.nsp.name, this.id, text); // R2.7.4: kept for its session
    } else if (this.nextVolatile) this.sendVolatile(text);
    else if (this.nextCompress === false) {
      this.conn.host.stats.fanout(1, text.length); // sendEncoded counts no frames (broadcasts count theirs once)
      this.conn.sendEncoded(wireBuffer(text), false, false);
    } else this.conn.sendText(text);
    this.nextCompress = undefined;
    this.nextVolatile = false;
    return true;
  }

  /** A volatile emit to this client: dropped (and counted) when the transport is not writable. */
  private sendVolatile(text: string): void {
    const stats = this.conn.host.stats;
    if (!writable(this.conn)) {
      stats.volatileDropped++;
      return;
    }
    const dropped = stats.volatileDropped;
    this.conn.sendEncoded(wireBuffer(text), true, this.nextCompress !== false); // still dropped past volatileHighWater
    stats.fanout(stats.volatileDropped === dropped ? 1 : 0, text.length, dropped);
  }

  /** An emit from a middleware, before acceptance: it goes out after `welcome`/`connected` (R2.1.8), or never if refused. */
  private hold(text: string): void {
    if (this.ended) return;
    if (this.early!.length >= MAX_EARLY_EMITS) throw new RangeError(`more than ${MAX_EARLY_EMITS} emits to socket ${this.id} before its namespace accepted it`);
    this.early!.push(text);
  }

  /** @internal The namespace accepted this socket and told the client: send what its middleware emitted. */
  accepted(): void {
    const early = this.early ?? [];
    this.early = undefined;
    for (const text of early) this.conn.sendText(text);
  }

  /**
   * Send an event with any number of arguments and wait for the client's ack: resolves with its
   * answer (the first of its answers, as Socket.IO's `emitWithAck`; `socket.emit(event, …args, cb)`
   * gets them all). A last argument that is a plain object of `timeoutMs` only is the options
   * (default 5 s); to send such an object as the last argument, pass `{}` after it.
   * @example
   * const answer = await socket.emitWithAck('confirm?', { order: 42 }, { timeoutMs: 2000 });
   * const sum = await socket.timeout(2000).emitWithAck('add', 1, 2);
   */
  emitWithAck(event: string, ...args: unknown[]): Promise<unknown> {
    const reserved = reservedEventError(event); // R4.5.1
    if (reserved) return Promise.reject(reserved);
    const { args: list, opts } = takeOptions(args, TIMEOUT_OPTION);
    return this.withAck(event, list, (opts?.timeoutMs as number | undefined) ?? 5000);
  }

  /** `emitWithAck` of these arguments with this timeout: resolves with the first answer. */
  private withAck(event: string, list: unknown[], timeoutMs: number): Promise<unknown> {
    if (this.anyOutgoing) this.notifyOutgoing(event, list);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.conn.untrack(id);
        reject(new WsqError('timeout', `the client did not ack "${event}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const id = this.requestAck(this.nsp.encodeEvent(event, undefined, list), (err, answer) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(answer);
      });
    });
  }

  /**
   * `socket.emit(event, …args, cb)`: the client's answers go to `cb` (R4.6.4). With `timeoutMs`
   * (`socket.timeout(ms).emit`) `cb(err, …answers)`, error first: a `WsqError` `timeout` when no
   * answer came in time, `forbidden` for a nack, null with the answers. Without, `cb(…answers)` once
   * the client answers (never, if it does not; a nack or a closed connection calls nothing, as in Socket.IO).
   */
  private emitCallback(event: string, args: unknown[], cb: AckCallback, timeoutMs?: number): void {
    if (this.anyOutgoing) this.notifyOutgoing(event, args);
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const id = this.requestAck(this.nsp.encodeEvent(event, undefined, args), (err, _first, answers = []) => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      if (timeoutMs === undefined) {
        if (!err) cb(...answers);
      } else cb(err ?? null, ...answers);
    });
    if (timeoutMs === undefined) return;
    timer = setTimeout(() => {
      if (done) return;
      done = true;
      this.conn.untrack(id); // a late ack is then unknown_id, and nothing leaks
      cb(new WsqError('timeout', `the client did not ack "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
  }

  /** @internal Send an encoded event that the client must ack: adds a fresh id, returns it. */
  requestAck(encodedEvent: string, settle: (err: Error | undefined, answer?: unknown, answers?: unknown[]) => void): RequestId {
    const id = this.conn.track({ kind: 'request', settle });
    if (this.early) this.hold(withDelivery(encodedEvent, id));
    else this.conn.sendText(withDelivery(encodedEvent, id));
    return id;
  }

  /** @internal Adapter delivery of a `broadcastWithAck` (AdapterSocket.ask): `settle` once, with the answer or an error (nack, close, `timeoutMs`). */
  ask(encodedEvent: string, timeoutMs: number, settle: (err: Error | undefined, answer?: unknown) => void): void {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      this.conn.untrack(id); // a late ack is then unknown_id, and nothing leaks
      settle(new WsqError('timeout', `the client did not ack within ${timeoutMs} ms`));
    }, timeoutMs);
    const id = this.requestAck(encodedEvent, (err, answer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      settle(err, answer);
    });
  }

  /** `emit('message', …)`, as Socket.IO's `socket.send`. */
  send(...args: unknown[]): this {
    (this.emit as (event: string, ...a: unknown[]) => boolean)('message', ...args);
    return this;
  }

  /** Alias of `send`, as Socket.IO's `socket.write`. */
  write(...args: unknown[]): this {
    return this.send(...args);
  }

  /** True when the socket is not (or no longer) in its namespace: `!connected`, as Socket.IO's `socket.disconnected`. */
  get disconnected(): boolean {
    return !this.connected;
  }

  /** `socket.compress(false).emit(…)`: do not compress the next emit, even when permessage-deflate is on. */
  compress(flag: boolean): this {
    this.nextCompress = flag;
    return this;
  }

  /**
   * `socket.timeout(ms).emit(event, …args, (err, …answers) => …)` and `socket.timeout(ms).emitWithAck(event, …args)`,
   * as in Socket.IO: the callback gets an error first (a `WsqError` `timeout` when the client did not answer within `ms`).
   * @example
   * socket.timeout(1000).emit('ready?', (err, answer) => (err ? retry() : go(answer)));
   */
  timeout(ms: number): { emit: (event: string, ...args: unknown[]) => boolean; emitWithAck: (event: string, ...args: unknown[]) => Promise<unknown> } {
    return {
      emit: (event, ...args) => {
        const { args: list, cb } = takeCallback(args);
        if (!cb) return (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...list);
        assertEventName(event); // R4.5.1
        this.emitCallback(event, list, cb, ms);
        return true;
      },
      emitWithAck: (event, ...args) => {
        const reserved = reservedEventError(event); // R4.5.1
        return reserved ? Promise.reject(reserved) : this.withAck(event, takeOptions(args, TIMEOUT_OPTION).args, ms);
      },
    };
  }

  /** Target rooms, excluding this socket. */
  to(room: string | string[]): BroadcastOperator<STC> {
    return this.nsp.to(room).except(this.id);
  }

  /** Alias of `to`. */
  in(room: string | string[]): BroadcastOperator<STC> {
    return this.to(room);
  }

  /** Every other socket of the namespace. */
  get broadcast(): BroadcastOperator<STC> {
    return this.nsp.except(this.id);
  }

  /** Join rooms for live delivery (no replay; clients use the `join` frame for that). */
  join(room: string | string[]): void {
    // The adapter owns membership; a socket that was refused or left must not stay in a room under a dead sid.
    if (this.ended) return;
    this.nsp.adapter.addAll(this.id, Array.isArray(room) ? room : [room]);
  }

  /** Leave a room (any subscription to it ends too). */
  leave(room: string): void {
    const sub = this.drop(room);
    // R6.4.1: a subscription the client made with `join` ends only with a word to the client, so it does not join it
    // again on its next reconnect. (A room the application joined with `socket.join` is not announced, as in Socket.IO.)
    if (sub && !sub.auto && this.connected) this.conn.send({ type: 'left', ns: this.nsp.name, room, reason: 'server' });
  }

  /** @internal Leave a room without telling the client; returns the subscription that ended, if any. */
  drop(room: string): Subscription | undefined {
    const sub = this.subs.get(room);
    if (!this.nsp.unsubscribe(this, room)) this.nsp.adapter.del(this.id, room);
    return sub;
  }

  /** Listen to every incoming emit: `(event, ...args)`, as Socket.IO's (room emits add `{ room }` last). */
  onAny(fn: AnyHandler): this {
    (this.anyHandlers ??= []).push(fn);
    return this;
  }

  /** Stop listening with `fn` (or every catch-all listener). */
  offAny(fn?: AnyHandler): this {
    if (fn && this.anyHandlers) this.anyHandlers.splice(this.anyHandlers.indexOf(fn) >>> 0, 1);
    if (!fn || this.anyHandlers?.length === 0) this.anyHandlers = undefined;
    return this;
  }

  /** Listen to every incoming emit, before the listeners `onAny` added (as Socket.IO's `prependAny`). */
  prependAny(fn: AnyHandler): this {
    (this.anyHandlers ??= []).unshift(fn);
    return this;
  }

  /** The catch-all listeners of incoming emits, in call order (a copy). */
  listenersAny(): AnyHandler[] {
    return [...(this.anyHandlers ?? [])];
  }

  /**
   * Listen to every event sent to this socket's client: its own emits (`socket.emit`, `emitWithAck`) and the
   * broadcasts and room events that reach it, called with the event name and its arguments (as Socket.IO's).
   * @example
   * socket.onAnyOutgoing((event, ...args) => console.log('to', socket.id, event, args));
   */
  onAnyOutgoing(fn: AnyOutgoingHandler): this {
    (this.anyOutgoing ??= []).push(fn);
    return this;
  }

  /** As `onAnyOutgoing`, called before the listeners added so far. */
  prependAnyOutgoing(fn: AnyOutgoingHandler): this {
    (this.anyOutgoing ??= []).unshift(fn);
    return this;
  }

  /** Stop listening to outgoing events with `fn` (or every such listener). */
  offAnyOutgoing(fn?: AnyOutgoingHandler): this {
    if (fn && this.anyOutgoing) this.anyOutgoing.splice(this.anyOutgoing.indexOf(fn) >>> 0, 1);
    if (!fn || this.anyOutgoing?.length === 0) this.anyOutgoing = undefined;
    return this;
  }

  /** The outgoing catch-all listeners, in call order (a copy). */
  listenersAnyOutgoing(): AnyOutgoingHandler[] {
    return [...(this.anyOutgoing ?? [])];
  }

  /** Call the outgoing catch-all listeners (a throwing one is logged; the frame still goes out). */
  private notifyOutgoing(event: string, args: unknown[]): void {
    const list = typeof args[args.length - 1] === 'function' ? args.slice(0, -1) : args; // an ack callback is not an argument
    for (const fn of [...(this.anyOutgoing ?? [])]) {
      try {
        fn(event, ...list);
      } catch (err) {
        this.nsp.server.log('error', `an onAnyOutgoing listener of socket ${this.id} threw`, err);
      }
    }
  }

  /** Outgoing listeners of a frame encoded elsewhere (a broadcast, a room event): only event frames count. */
  private notifyOutgoingEncoded(buf: Buffer | string): void {
    let f: { type?: unknown; event?: unknown; data?: unknown; args?: unknown };
    try {
      f = JSON.parse(typeof buf === 'string' ? buf : buf.toString());
    } catch {
      return; // not a JSON frame (a binary one): nothing to report
    }
    // contract: role F's many-argument frames carry `args`; single-value frames `data`.
    if (f.type === 'event' && typeof f.event === 'string') this.notifyOutgoing(f.event, Array.isArray(f.args) ? f.args : [f.data ?? null]);
  }

  /**
   * Add a per-packet middleware (as Socket.IO's `socket.use`): it runs for every emit of this
   * client to the server's handlers, after `onAny` listeners and before `socket.on` handlers.
   * `next(err)` drops the packet and fires the socket's `error` event with `err` (logged when no
   * `error` listener); the client's ack, if it asked for one, is an error frame (the WsqError's
   * code, else `forbidden`). Room emits are relayed by the server and are checked by `server.authorize`.
   * @example
   * socket.use(([event, data], next) => (event === 'admin' && !socket.data.admin ? next(new Error('admins only')) : next()));
   * socket.on('error', (err) => socket.emit('refused', err.message));
   */
  use(fn: PacketMiddleware): this {
    (this.packetMiddlewares ??= []).push(fn);
    return this;
  }

  /** Run the packet middlewares of an emit, then its handlers (if every one passed and the socket is still connected). */
  private runPacket(frame: EmitFrame): void {
    const chain = [...(this.packetMiddlewares ?? [])];
    const packet: unknown[] = [frame.event, ...frameArgs(frame)]; // every argument (R4.5.10), as Socket.IO's [event, ...args]
    let i = 0;
    const step = (err?: unknown): void => {
      if (err) return this.packetRefused(frame, err);
      if (i === chain.length) {
        if (this.connected) this.handleEmit({ ...frame, event: String(packet[0]), data: undefined, args: packet.slice(1) } as EmitFrame, true);
        return;
      }
      const mw = chain[i++]!;
      let called = false;
      const next = (e?: unknown): void => {
        if (called) return;
        called = true;
        step(e ?? undefined);
      };
      try {
        const r = mw(packet, next) as { then?: unknown } | undefined;
        if (r && typeof r.then === 'function') (r as Promise<unknown>).then(undefined, (e) => next(e ?? new Error('a socket.use middleware rejected')));
      } catch (e) {
        next(e ?? new Error('a socket.use middleware threw'));
      }
    };
    step();
  }

  /** A packet middleware refused: the socket's `error` event (as Socket.IO's), and the client's ack an error. */
  private packetRefused(frame: EmitFrame, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.listenerCount('error') > 0) super.emit('error', error);
    else this.nsp.server.log('warn', `a socket.use middleware refused "${frame.event}" (add socket.on("error") to handle it)`, error);
    if (frame.id !== undefined) {
      this.conn.sendError(error instanceof WsqError ? error.code : 'forbidden', `The server refused "${frame.event}": ${error.message}`, frame.id);
    }
  }

  /** Leave this namespace (`close`: close the whole connection with 4000). */
  disconnect(close = false): this {
    if (close) {
      this.conn.close(CLOSE_CODES.kicked, 'disconnected by the server');
      return this;
    }
    if (!this.connected) return this;
    this.conn.send({ type: 'disconnected', ns: this.nsp.name });
    this.nsp.remove(this, 'server namespace disconnect');
    return this;
  }

  /** @internal Fire a lifecycle event (`disconnecting`, `disconnect`) at the server's own listeners. */
  emitReserved(event: 'disconnecting' | 'disconnect', ...args: unknown[]): void {
    super.emit(event, ...args);
  }

  /** @internal Adapter delivery: a volatile frame is dropped (and counted) when the transport is not writable (R2.3.6). */
  sendEncoded(buf: Buffer, volatile?: boolean, compress?: boolean): void {
    if (volatile && !writable(this.conn)) {
      this.conn.host.stats.volatileDropped++;
      return;
    }
    if (this.anyOutgoing) this.notifyOutgoingEncoded(buf);
    this.conn.sendEncoded(buf, volatile, compress);
  }

  /** @internal Handle an emit without a room from this socket's client (`checked`: its packet middlewares passed). */
  handleEmit(frame: EmitFrame, checked = false): void {
    if (!checked) {
      if (this.anyHandlers) for (const fn of [...this.anyHandlers]) fn(frame.event, ...frameArgs(frame));
      if (this.packetMiddlewares) return this.runPacket(frame); // contract: role F's frames: `args` (many) or `data` (one)
    }
    const listeners = this.listeners(frame.event) as EventHandler[];
    if (listeners.length === 0) {
      if (this.anyHandlers && frame.id === undefined) return;
      this.conn.sendError(
        'no_handler',
        `Nothing on the server handles "${frame.event}" in namespace "${this.nsp.name}". Add "room" to send it to a room, or use an event the server handles.`,
        frame.id,
      );
      return;
    }
    let replied = false;
    // R6.6.2: `reply(…answers)`, as Socket.IO's ack callback: none → no data, one → `data`, more → `args` (binary too).
    const reply = (...answers: unknown[]): void => {
      if (replied || frame.id === undefined) return;
      replied = true;
      this.conn.sendText(encodeAck(frame.id, answers), 'ack');
    };
    const fail = (err: unknown): void => {
      this.nsp.server.log('error', `handler for "${frame.event}" failed`, err);
      if (replied) return;
      replied = true;
      this.conn.sendError('internal', `The server's handler for "${frame.event}" failed. The connection is still usable.`, frame.id);
    };
    for (const fn of listeners) {
      try {
        const r = fn(...frameArgs(frame), reply) as { catch?: (f: (e: unknown) => void) => void } | undefined;
        if (r && typeof r.catch === 'function') r.catch(fail);
      } catch (err) {
        fail(err);
      }
    }
  }

  /** @internal Notify catch-all listeners of a room emit: its arguments, then `{ room }`. */
  notifyAny(frame: EmitFrame & { room: string }): void {
    if (!this.anyHandlers) return;
    const args = frameArgs(frame);
    for (const fn of [...this.anyHandlers]) fn(frame.event, ...args, { room: frame.room });
  }
}
