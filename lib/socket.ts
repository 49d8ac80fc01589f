/**
 * Socket: one connection's presence in one namespace — the object a server application
 * gets in `nsp.on('connection', socket => …)`, shaped like Socket.IO's.
 */
import { EventEmitter } from 'node:events';
import { withDelivery } from '../protocol/codec.js';
import { CLOSE_CODES } from '../protocol/codes.js';
import type { EmitFrame, RequestId } from '../protocol/frames.js';
import type { AdapterSocket } from './adapter/types.js';
import type { BroadcastOperator } from './broadcast.js';
import type { Connection, HandshakeInfo } from './connection.js';
import type { ConsumerHandle, ConsumerMember } from './consumer.js';
import { WsqError } from './errors.js';
import type { Namespace } from './namespace.js';
import { assertEventName, reservedEventError } from './names.js';

/** Most emits a middleware may make to a socket before its namespace accepted it (held until then, R2.1.8). */
const MAX_EARLY_EMITS = 100;

/** An event handler: `data` from the client and, when the client asked for an ack, `reply`. */
export type EventHandler = (data: unknown, reply: (answer?: unknown) => void) => unknown;
/** A catch-all listener for every incoming emit. */
export type AnyHandler = (event: string, data: unknown, room?: string) => void;

/** The handshake facts a middleware or handler can read. */
export interface Handshake extends HandshakeInfo {
  /** The `auth` object of the namespace `connect` frame (empty for "/"). */
  auth: Record<string, unknown>;
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
  deliver(frame: string, consumer: ConsumerHandle, offset: number, attempt: number): RequestId {
    const id = this.socket.conn.track({ kind: 'delivery', consumer, offset });
    this.socket.conn.sendText(withDelivery(frame, id, attempt));
    return id;
  }
  forget(id: RequestId): void {
    this.socket.conn.untrack(id);
  }
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

/**
 * One connection in one namespace.
 * @example
 * server.of('/chat').on('connection', (socket) => {
 *   socket.on('hello', (data, reply) => reply({ hi: socket.id }));
 *   socket.join('lobby');
 *   socket.to('lobby').emit('joined', { sid: socket.id });
 * });
 */
export class Socket extends EventEmitter implements AdapterSocket {
  /** Application data attached to the socket (as Socket.IO's `socket.data`). */
  data: Record<string, unknown> = {};
  /** True once the namespace's middleware accepted this socket, false again once it left (as in Socket.IO). */
  connected = false;
  /** @internal True once the socket was refused, left its namespace, or its connection closed: it joins no room any more (issue 7 #8). */
  ended = false;
  /** This socket's room subscriptions made by `join` frames (room → subscription). */
  readonly subs = new Map<string, Subscription>();
  private readonly anyHandlers: AnyHandler[] = [];
  private nextCompress: boolean | undefined;
  /** Frames emitted before acceptance (from a middleware), held until `accepted()`. */
  private early: string[] | undefined = [];

  constructor(
    readonly nsp: Namespace,
    readonly conn: Connection,
    readonly handshake: Handshake,
  ) {
    super();
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
   * Send an event to this client. A reserved name (`disconnect`, `$…`, R4.5.1) throws a TypeError, as in Socket.IO.
   */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    // EventEmitter itself emits newListener/removeListener through this method: those stay local.
    if (typeof event === 'symbol' || event === 'newListener' || event === 'removeListener') return super.emit(event, ...args);
    assertEventName(event); // R4.5.1: reserved names never reach a client
    const text = this.nsp.encodeEvent(event, args[0]);
    if (this.early) this.hold(text);
    else if (this.nextCompress === false) {
      this.conn.host.stats.fanout(1, text.length); // sendEncoded counts no frames (broadcasts count theirs once)
      this.conn.sendEncoded(Buffer.from(text), false, false);
    } else this.conn.sendText(text);
    this.nextCompress = undefined;
    return true;
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
   * Send an event and wait for the client's ack.
   * @example
   * const answer = await socket.emitWithAck('confirm?', { order: 42 }, { timeoutMs: 2000 });
   */
  emitWithAck(event: string, data?: unknown, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    const reserved = reservedEventError(event); // R4.5.1
    if (reserved) return Promise.reject(reserved);
    const timeoutMs = opts.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.conn.untrack(id);
        reject(new WsqError('timeout', `the client did not ack "${event}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const id = this.request(this.nsp.encodeEvent(event, data), (err, answer) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(answer);
      });
    });
  }

  /** @internal Send an encoded event that the client must ack: adds a fresh id, returns it. */
  request(encodedEvent: string, settle: (err: Error | undefined, answer?: unknown) => void): RequestId {
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
    const id = this.request(encodedEvent, (err, answer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      settle(err, answer);
    });
  }

  /** `socket.compress(false).emit(…)`: do not compress the next emit, even when permessage-deflate is on. */
  compress(flag: boolean): this {
    this.nextCompress = flag;
    return this;
  }

  /** `socket.timeout(ms).emitWithAck(event, data)`, as in Socket.IO. */
  timeout(ms: number): { emitWithAck: (event: string, data?: unknown) => Promise<unknown> } {
    return { emitWithAck: (event, data) => this.emitWithAck(event, data, { timeoutMs: ms }) };
  }

  /** Target rooms, excluding this socket. */
  to(room: string | string[]): BroadcastOperator {
    return this.nsp.to(room).except(this.id);
  }

  /** Alias of `to`. */
  in(room: string | string[]): BroadcastOperator {
    return this.to(room);
  }

  /** Every other socket of the namespace. */
  get broadcast(): BroadcastOperator {
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

  /** Listen to every incoming emit. */
  onAny(fn: AnyHandler): this {
    this.anyHandlers.push(fn);
    return this;
  }

  /** Stop listening with `fn` (or every catch-all listener). */
  offAny(fn?: AnyHandler): this {
    if (!fn) this.anyHandlers.length = 0;
    else this.anyHandlers.splice(this.anyHandlers.indexOf(fn) >>> 0, 1);
    return this;
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

  /** @internal Adapter delivery. */
  sendEncoded(buf: Buffer, volatile?: boolean, compress?: boolean): void {
    this.conn.sendEncoded(buf, volatile, compress);
  }

  /** @internal Handle an emit without a room from this socket's client. */
  handleEmit(frame: EmitFrame): void {
    for (const fn of this.anyHandlers) fn(frame.event, frame.data ?? null);
    const listeners = this.listeners(frame.event) as EventHandler[];
    if (listeners.length === 0) {
      if (this.anyHandlers.length > 0 && frame.id === undefined) return;
      this.conn.sendError(
        'no_handler',
        `Nothing on the server handles "${frame.event}" in namespace "${this.nsp.name}". Add "room" to send it to a room, or use an event the server handles.`,
        frame.id,
      );
      return;
    }
    let replied = false;
    const reply = (answer?: unknown): void => {
      if (replied || frame.id === undefined) return;
      replied = true;
      this.conn.send({ type: 'ack', id: frame.id, ...(answer === undefined ? {} : { data: answer }) });
    };
    const fail = (err: unknown): void => {
      this.nsp.server.log('error', `handler for "${frame.event}" failed`, err);
      if (replied) return;
      replied = true;
      this.conn.sendError('internal', `The server's handler for "${frame.event}" failed. The connection is still usable.`, frame.id);
    };
    for (const fn of listeners) {
      try {
        const r = fn(frame.data ?? null, reply) as { catch?: (f: (e: unknown) => void) => void } | undefined;
        if (r && typeof r.catch === 'function') r.catch(fail);
      } catch (err) {
        fail(err);
      }
    }
  }

  /** @internal Notify catch-all listeners of a room emit. */
  notifyAny(event: string, data: unknown, room: string): void {
    for (const fn of this.anyHandlers) fn(event, data, room);
  }
}
