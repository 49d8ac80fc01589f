/**
 * A namespace as the client sees it: its rooms (subscriptions), its handlers of events
 * outside rooms, and its emits. The root namespace `/` is the client itself.
 */
import type { EventFrame, PresenceFrame } from '../../protocol/frames.js';
import { isReservedEvent } from '../../protocol/codes.js';
import { WsqError } from './errors.js';
import { HandlerHost, HandlerRegistry } from './handlers.js';
import { UNACKED_OUTCOME, answerer, noHandler, type EmitEntry, type Link } from './link.js';
import { Subscription, modeOf } from './subscription.js';
import { DeliveryTracker } from './tracking.js';
import { takeCallback, takeOptions } from '../args.js';
import type { AckCallback, AckResult, AnyEvents, ClientDisconnectReason, EmitArgs, EmitOptions, EmitWithAckOptions, EventMap, JoinOptions, NamespaceEvents } from './types.js';

/** The options `emit` takes as its last argument (before a callback). */
const EMIT_KEYS = ['room', 'volatile', 'echo', 'key'] as const;

/**
 * `volatile`: a room emit carries it on the wire (R4.5.2 rule 3); an emit to the server's handlers is volatile on
 * this side only (as socket.io-client's): sent now if the namespace can be sent to, else dropped, never queued.
 */
function setVolatile(entry: EmitEntry, options: EmitOptions): void {
  if (options.room !== undefined) (entry.frame as { volatile?: boolean }).volatile = true;
  else entry.volatile = true;
}
/** The options `emitWithAck` takes as its last argument. */
const ACK_KEYS = ['room', 'echo', 'key', 'timeoutMs'] as const;

/**
 * A namespace: `client.ns('/chat', { auth })`. It connects with every connection of the
 * client (sending `auth` to the server's middleware) and rejoins its rooms.
 *
 * `on(name)` takes the lifecycle events `connected`, `disconnected` and `error`; any
 * other name handles an application event that arrives outside a joined room (a
 * server's `socket.emit`, a direct message, a delivery of the personal room `@<client>`).
 * A handler's return value answers a server's `emitWithAck`. `onAny` sees every
 * application event of the namespace, its rooms' included.
 *
 * An event that waits for an answer and finds neither a handler nor an `onAny` handler is
 * not answered, and a `WsqError` `no_handler` goes to the `error` event: a delivery of
 * the personal room is left unacked (the server delivers it again after its ack timeout,
 * so a handler added meanwhile gets it, and moves it to `$dead:@<client>` after
 * `maxDeliver` attempts); a server's `emitWithAck` is left unanswered (the server's own
 * timeout decides).
 *
 * When the server disconnects the namespace (`socket.disconnect()` on its side), the
 * `disconnected` event fires, its rooms end (state `left`; not rejoined), its queued emits
 * reject with `not_connected`, and `emit`/`join` throw `not_connected` (`emitWithAck`
 * rejects) until `client.ns(name)` is called again, which re-enters it (handlers kept).
 * It is not re-entered by itself after a reconnect.
 * @example
 * const chat = client.ns('/chat', { auth: { user: 'ann' } });
 * chat.on('error', (e) => console.error(e.code, e.message));
 * chat.on('ping-me', () => 'pong');               // answers the server's emitWithAck
 * const lobby = chat.join('lobby', { since: 'earliest' });
 * chat.emit('message', { text: 'hi' }, { room: 'lobby' });
 */
export class WsqNamespace<Listen extends EventMap = AnyEvents, Emit extends EventMap = AnyEvents> extends HandlerHost<NamespaceEvents, Listen> {
  /** The namespace's name, e.g. "/chat". */
  readonly name: string;
  /** The `auth` object sent with `connect`. */
  auth: Record<string, unknown> | undefined;
  private readonly link: Link;
  private readonly subs = new Map<string, Subscription<any>>();
  protected readonly handlers: HandlerRegistry<NamespaceEvents>;
  private readonly deliveries = new DeliveryTracker();
  private connectedConn = 0;
  private gone = false;
  /** The server disconnected the namespace; `client.ns(name)` re-enters it. */
  private dropped = false;
  /** The connection on which the server disconnected it (`/` needs a `connect` to come back there). */
  private droppedOn = 0;
  /** The server refused `connect` on this connection: emits fail at once with its error. */
  private refusal: { conn: number; error: WsqError } | undefined;
  private readonly readyPromise: Promise<void>;
  private settleReady!: { resolve: () => void; reject: (e: WsqError) => void; done: boolean };

  /** @internal Use `client.ns(name)`. */
  constructor(link: Link, name: string, auth?: Record<string, unknown>) {
    super();
    this.link = link;
    this.name = name;
    this.auth = auth;
    this.readyPromise = new Promise<void>((resolve, reject) => (this.settleReady = { resolve, reject, done: false }));
    this.readyPromise.catch(() => {});
    this.handlers = new HandlerRegistry<NamespaceEvents>({
      lifecycle: ['connected', 'disconnected', 'error', 'connect', 'disconnect'],
      owner: { kind: 'namespace', name },
      report: (e) => this.link.report(e),
      outerAny: () => [this.link.anyHandlers()],
    });
  }

  /** True while the namespace is connected on the current connection. */
  get connected(): boolean {
    return !this.gone && this.connectedConn !== 0 && this.connectedConn === this.link.conn;
  }

  /** Resolves when the namespace is first connected; rejects if the server refused it. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /**
   * Join a room. The subscription is kept across reconnects: the room is rejoined and
   * resumed from the last offset seen (plain), or from the server's cursor (durable,
   * group). Joining a room already joined in the same mode (live, durable, or the same
   * group) returns the existing subscription (its first options stay); in another mode it
   * throws `WsqError` `already_joined` — leave the first subscription, then join again.
   * @example
   * const jobs = client.join('jobs', { group: 'workers', prefetch: 10 });
   * jobs.on('job', async (job) => { await work(job); }); // acked when it resolves, nacked if it throws
   */
  join<L extends EventMap = Listen>(room: string, options: JoinOptions = {}): Subscription<L> {
    if (this.gone) throw new WsqError('closed', `Namespace "${this.name}" was disconnected; call client.ns("${this.name}") again.`);
    const existing = this.subs.get(room);
    if (existing) {
      // I7 #17: never hand back a subscription of another mode (a live one for a group join).
      const have = existing.mode;
      const want = modeOf(options);
      if (have !== want) {
        throw new WsqError(
          'already_joined',
          `A subscription to "${room}"${this.name === '/' ? '' : ` in "${this.name}"`} in mode ${have} exists; leave it first (await sub.leave()), then join in mode ${want}.`,
        );
      }
      return existing as Subscription<L>;
    }
    if (this.dropped) throw this.droppedError();
    const sub = new Subscription<L>(
      this.link,
      this.name,
      room,
      options,
      () => {
        if (this.subs.get(room) === sub) this.subs.delete(room);
      },
      this.handlers.any,
    );
    this.subs.set(room, sub);
    if (this.connected) void sub.sendJoin();
    return sub;
  }

  /** The subscription of a room, if joined. */
  subscription(room: string): Subscription<any> | undefined {
    return this.subs.get(room);
  }

  /**
   * Emit an event: to a room (stored in its log) or, without a room, to the server's
   * handlers. While disconnected it waits in the outbox (volatile emits are dropped);
   * throws `WsqError` `outbox_full` when the outbox is full.
   * @example
   * client.emit('message', { text: 'hi' }, { room: 'lobby' });
   * client.emit('order', order, { room: 'orders', key: order.id }); // stored once, resent if the ack is lost
   */
  emit<K extends keyof Emit & string>(event: K, ...args: EmitArgs<Emit[K], EmitOptions>): this {
    // R4.5.10, as in Socket.IO: any arguments, then (optionally) the options, then (optionally) the ack callback.
    const { args: rest, cb } = takeCallback(args as unknown[]);
    const { args: list, opts } = takeOptions(rest, EMIT_KEYS);
    const options = (opts ?? {}) as EmitOptions;
    if (cb) {
      this.withCallback(event, list, options, cb, undefined);
      return this;
    }
    // A stored emit into a room joined here is acked too, so its offset is known and the
    // room never hands the sender's own message to its handlers (echo off).
    const own = options.room !== undefined && !options.volatile && !options.echo && this.subs.get(options.room)?.consumer === false;
    const entry = this.entry(event, list, options, options.key !== undefined || own);
    if (options.volatile) setVolatile(entry, options);
    this.link.submit(entry);
    return this;
  }

  /**
   * Emit and wait for the server's ack: the stored offset for a room emit, the handler's
   * answer otherwise. Rejects with `WsqTimeoutError` after `timeoutMs` (`Infinity` or 0:
   * no time limit; longer than 2^31-1 ms counts as that), with `WsqError`
   * (its `code`) when the server refuses, and with `WsqOutcomeUnknownError` when the
   * connection dropped after sending an emit without `key` (with a key it is resent).
   * @example
   * const { offset } = await client.emitWithAck('message', { text: 'hi' }, { room: 'lobby', key: 'm-1' });
   * const { data } = await client.emitWithAck('sum', [1, 2], { timeoutMs: 2000 }); // a server handler's answer
   */
  emitWithAck<K extends keyof Emit & string, R = any>(event: K, ...args: EmitArgs<Emit[K], EmitWithAckOptions>): Promise<R> {
    const { args: list, opts } = takeOptions(args as unknown[], ACK_KEYS);
    return this.ackPromise<R>(event, list, (opts ?? {}) as EmitWithAckOptions);
  }

  /**
   * Socket.IO's `socket.timeout(ms)`: `emit(event, …args, (err, …answers) => …)` gets an error first
   * (`WsqTimeoutError` when no answer came within `ms`, the server's `WsqError` when it refused,
   * else null, then the answers); `emitWithAck(event, …args)` rejects after `ms`.
   * @example
   * client.timeout(2000).emit('add', 1, 2, (err, sum) => console.log(err ?? sum));
   * const sum = await client.timeout(2000).emitWithAck('add', 1, 2);
   */
  timeout(ms: number): { emit: (event: string, ...args: any[]) => WsqNamespace<Listen, Emit>; emitWithAck: <R = any>(event: string, ...args: any[]) => Promise<R> } {
    return {
      emit: (event, ...args) => {
        const { args: rest, cb } = takeCallback(args);
        if (!cb) {
          (this.emit as (e: string, ...a: unknown[]) => unknown).call(this, event, ...rest);
          return this;
        }
        const { args: list, opts } = takeOptions(rest, EMIT_KEYS);
        this.withCallback(event, list, (opts ?? {}) as EmitOptions, cb, ms);
        return this;
      },
      emitWithAck: <R>(event: string, ...args: any[]) => {
        const { args: list, opts } = takeOptions(args, ACK_KEYS);
        return this.ackPromise<R>(event, list, { ...(opts as EmitWithAckOptions | undefined), timeoutMs: ms });
      },
    };
  }

  private ackPromise<R>(event: string, list: unknown[], options: EmitWithAckOptions): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const entry = this.entry(event, list, options, true);
      entry.settle = { resolve: resolve as (a: AckResult<any>) => void, reject };
      // R4.6.4: an emit to the server's handlers resolves with the answer itself (its first); a room emit with its ack.
      if (options.room === undefined) entry.answer = { kind: 'promise' };
      entry.timeoutMs = options.timeoutMs ?? this.link.ackTimeoutMs;
      this.link.submit(entry);
    });
  }

  /**
   * An emit whose last argument was a callback (R4.6.4): `cb(…answers)` once the server answers
   * (a room emit: `cb(ack)`); a failure goes to the `error` event. With `timeoutMs` (`timeout(ms)`)
   * `cb(err, …answers)`, error first, and failures go to `cb`.
   */
  private withCallback(event: string, list: unknown[], options: EmitOptions, cb: AckCallback, timeoutMs: number | undefined): void {
    const errorFirst = timeoutMs !== undefined;
    const entry = this.entry(event, list, options, true);
    entry.answer = { kind: 'callback', cb, errorFirst };
    entry.settle = { resolve: () => {}, reject: (e) => (errorFirst ? cb(e) : this.handlers.reportError(e)) };
    if (errorFirst) entry.timeoutMs = timeoutMs;
    if (options.volatile) setVolatile(entry, options);
    this.link.submit(entry);
  }

  /**
   * Leave the namespace on the server and forget it (its rooms too): sends `disconnect`
   * and resolves on the server's `disconnected` (or its error, or a drop), waiting at most
   * `timeoutMs` (default: the client's `ackTimeoutMs`); at once while not connected. Never rejects.
   * @example
   * await chat.disconnect();
   */
  disconnect(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.gone) return Promise.resolve();
    // Read before `gone` is set: `connected` is false once the namespace is gone.
    const wasConnected = this.connected;
    this.gone = true;
    this.connectedConn = 0;
    this.link.forget(this.name);
    this.link.rejectQueued(this.name, new WsqError('closed', `Namespace "${this.name}" was disconnected before this emit was sent.`));
    const subs = [...this.subs.values()];
    this.subs.clear();
    const error = new WsqError('closed', `Namespace "${this.name}" was disconnected by this client.`);
    for (const sub of subs) sub.ended(error);
    if (!wasConnected) return Promise.resolve();
    const ms = options.timeoutMs ?? this.link.ackTimeoutMs;
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      const sent = this.link.request({ type: 'disconnect', ns: this.name }, { reply: done, error: done, dropped: done });
      if (!sent) return resolve();
      if (Number.isFinite(ms) && ms > 0) timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
    });
  }

  private entry(event: string, list: readonly unknown[], options: EmitOptions | EmitWithAckOptions, track: boolean): EmitEntry {
    if (typeof event !== 'string' || event.length === 0) throw new WsqError('bad_frame', 'emit: the event name must be a non-empty string.');
    if (isReservedEvent(event)) {
      throw new WsqError(
        'bad_frame',
        `emit: the event name "${event}" is reserved for the server (names starting with "$", and connect, connect_error, disconnect, disconnecting, newListener, removeListener). Pick another name.`,
      );
    }
    if (this.gone) throw new WsqError('closed', `Namespace "${this.name}" was disconnected; call client.ns("${this.name}") again.`);
    if (this.dropped) throw this.droppedError();
    if (this.refusal && this.refusal.conn === this.link.conn) throw this.refusal.error;
    // R4.9: a Blob's bytes can only be read asynchronously; an argument that is one is refused rather than sent as {}.
    const BlobType = (globalThis as { Blob?: abstract new (...a: never[]) => unknown }).Blob;
    if (BlobType && list.some((a) => a instanceof BlobType)) {
      throw new WsqError('unsupported', `emit "${event}": a Blob argument is not sent as it is; send its bytes instead: await blob.arrayBuffer().`);
    }
    const frame: EmitEntry['frame'] = { type: 'emit', event };
    // R4.5.10: one argument is `data` (as without the feature), any other number `args`.
    if (list.length !== 1) frame.args = list.map((a) => (a === undefined ? null : a));
    else if (list[0] !== undefined) frame.data = list[0];
    if (options.room !== undefined) frame.room = options.room;
    if (this.name !== '/') frame.ns = this.name;
    if (options.echo) frame.echo = true;
    if (options.key !== undefined) frame.key = options.key;
    const what = `emit "${event}"${options.room === undefined ? '' : ` to room "${options.room}"`}${this.name === '/' ? '' : ` in "${this.name}"`}`;
    const entry: EmitEntry = { seq: this.link.nextSeq(), ns: this.name, frame, track, what };
    const room = options.room;
    if (room !== undefined && !options.echo) entry.onStored = (ack) => this.subs.get(room)?.ownEmit(ack);
    return entry;
  }

  private droppedError(): WsqError {
    return new WsqError('not_connected', `The server disconnected namespace "${this.name}"; call client.ns("${this.name}") to enter it again.`);
  }

  // ------------------------------------------------------------ internal (the client calls these)

  /**
   * @internal A connection (generation `conn`) is open: connect (unless root) and rejoin.
   * Settles when the namespace is connected and every join answered (or refused, or the
   * connection dropped).
   */
  open(conn: number): Promise<void> {
    if (this.gone || this.dropped) return Promise.resolve();
    // Every connection starts in "/"; only one the server took out of it needs a `connect`.
    if (this.name === '/' && this.droppedOn !== conn) return this.markConnected(conn);
    const frame: { type: 'connect'; ns: string; auth?: Record<string, unknown> } = { type: 'connect', ns: this.name };
    if (this.auth !== undefined) frame.auth = this.auth;
    return new Promise<void>((resolve) => {
      const sent = this.link.request(frame, {
        reply: (reply) => {
          if (reply.type === 'connected') this.markConnected(conn).then(resolve);
          else resolve();
        },
        error: (e) => {
          this.refused(e);
          resolve();
        },
        dropped: resolve,
      });
      if (!sent) resolve();
    });
  }

  /**
   * @internal The server says the namespace is disconnected (without our asking): its
   * rooms end, its queued emits fail, and it stays out until `reenter()`.
   */
  serverDisconnected(): void {
    if (this.gone) return;
    this.connectedConn = 0;
    this.dropped = true;
    this.droppedOn = this.link.conn;
    const error = this.droppedError();
    const subs = [...this.subs.values()];
    this.subs.clear();
    for (const sub of subs) sub.ended(error);
    this.link.rejectQueued(this.name, error);
    this.handlers.lifecycle.emit('disconnected');
    this.handlers.lifecycle.emit('disconnect', 'io server disconnect'); // R2.5.9
  }

  /** @internal The client's connection ended while this namespace was connected (socket.io-client's namespace `disconnect`). */
  connectionLost(reason: ClientDisconnectReason): void {
    this.handlers.lifecycle.emit('disconnect', reason);
  }

  /**
   * @internal `client.ns(name)` of a namespace the server disconnected: it may be entered
   * again (the client then calls `open`). False when it was not disconnected by the server.
   */
  reenter(): boolean {
    if (!this.dropped) return false;
    this.dropped = false;
    return true;
  }

  /** @internal The client closed for good. */
  closed(error: WsqError): void {
    if (!this.settleReady.done) {
      this.settleReady.done = true;
      this.settleReady.reject(error);
    }
    for (const sub of this.subs.values()) sub.closed(error);
  }

  /** @internal An event of this namespace. */
  deliver(frame: EventFrame, conn: number): void {
    const sub = frame.room === undefined ? undefined : this.subs.get(frame.room);
    if (sub) return sub.deliver(frame, conn);
    this.deliverLoose(frame, conn);
  }

  /** @internal A presence notice. */
  presence(frame: PresenceFrame): void {
    this.subs.get(frame.room)?.presence(frame);
  }

  /**
   * @internal The server took this connection out of `room` (a `left` without an id: the
   * application's `socket.leave`): the subscription ends and is not rejoined.
   */
  serverLeft(room: string): void {
    const sub = this.subs.get(room);
    if (!sub) return;
    this.subs.delete(room);
    sub.removedByServer();
  }

  /** @internal A `joined` that did not answer a request of ours (e.g. the server joined us). */
  joinedBy(room: string): Subscription<any> | undefined {
    return this.subs.get(room);
  }

  private markConnected(conn: number): Promise<void> {
    if (this.gone || conn !== this.link.conn) return Promise.resolve();
    this.connectedConn = conn;
    const joins = [...this.subs.values()].map((sub) => sub.sendJoin());
    if (!this.settleReady.done) {
      this.settleReady.done = true;
      this.settleReady.resolve();
    }
    this.handlers.lifecycle.emit('connected');
    this.handlers.lifecycle.emit('connect');
    this.link.flush();
    return Promise.all(joins).then(() => {});
  }

  private refused(error: WsqError): void {
    this.refusal = { conn: this.link.conn, error };
    if (!this.settleReady.done) {
      this.settleReady.done = true;
      this.settleReady.reject(error);
    }
    this.link.rejectQueued(this.name, error);
    this.handlers.reportError(error);
  }

  /** Events outside joined rooms: server emits, direct messages, personal-room deliveries. */
  private deliverLoose(frame: EventFrame, conn: number): void {
    const id = frame.id;
    if (id === undefined) return this.handlers.notify(frame);
    // The server waits for an answer: its emitWithAck, or a delivery of the personal room.
    const key = frame.offset === undefined ? undefined : `${frame.room ?? ''}:${frame.epoch ?? ''}:${frame.offset}`;
    const answer = answerer(this.link, this.deliveries, key, id, conn, this.link.nackDelayMs);
    if (!answer) return;
    if (!this.handlers.has(frame.event)) {
      // I7 #18: nobody to answer. A personal-room delivery is left unacked (no nack loop):
      // the server redelivers it after its ack timeout and dead-letters it after maxDeliver
      // attempts (R5.4.9); a server request is left unanswered, so the server's timeout decides.
      if (key !== undefined) this.deliveries.release(key);
      this.handlers.reportError(noHandler(frame, key !== undefined ? UNACKED_OUTCOME : "the server's request was not answered (it times out there)"));
      return;
    }
    this.handlers.dispatch(frame, answer).then(
      (result) => answer(true, result),
      (e) => {
        answer(false);
        this.handlers.failed(e, frame.event);
      },
    );
  }
}
