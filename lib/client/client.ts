/**
 * The client: one WebSocket connection at a time, reconnected with backoff; namespaces
 * reconnected and rooms rejoined (resuming from the last offset) after every drop; an
 * outbox for emits made while disconnected; acks with timeouts.
 */
import { encodeFrameBinary } from '../../protocol/binary.js';
import { encodeFrame, readServerBinary, readServerFrame } from '../../protocol/codec.js';
import { CLOSE_CODES, TERMINAL_CLOSE_CODES } from '../../protocol/codes.js';
import type { WelcomeFrame } from '../../protocol/frames.js';
import { Backoff } from './backoff.js';
import { Emits } from './emits.js';
import { HandlerHost, HandlerRegistry } from './handlers.js';
import { Heartbeat } from './heartbeat.js';
import { resolveSettings, type Settings } from './settings.js';
import { WsqError, WsqUpgradeError, errorFromFrame, tooBigForServer } from './errors.js';
import { route, type FrameTargets } from './route.js';
import type { Link } from './link.js';
import { Requests } from './requests.js';
import { WsqNamespace } from './namespace.js';
import type { Subscription } from './subscription.js';
import { Transport, upgradeUrl, type UpgradeRefusal, type WebSocketConstructor, type WebSocketLike } from './transport.js';
import { Emitter } from './emitter.js';
import type {
  AnyEvents,
  ClientDisconnectReason,
  ClientEvents,
  CloseInfo,
  ManagerEvents,
  ConnectOptions,
  EmitArgs,
  EmitOptions,
  EmitWithAckOptions,
  EventMap,
  JoinOptions,
  MessageHandler,
} from './types.js';

/** Where the connection stands: `disconnected` after `client.disconnect()` (or with `autoConnect: false`) until `client.connect()`. */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'disconnected' | 'closed';

/** @internal Opens a WebSocket with extra upgrade headers (the Node entry's, on `ws`). */
export type HeaderSocketFactory = (url: string, protocols: string[], headers: Record<string, string>) => WebSocketLike;

/** @internal What the entries pass besides the user's options. */
export interface ClientInternals {
  WebSocket: WebSocketConstructor;
  /** When set, the token goes in `Authorization: Bearer` through this factory instead of `?token=`. */
  headerSocket?: HeaderSocketFactory;
}

/**
 * A wsq client. Create it with `connect(url, options)` (from `wsq/client`, or the
 * browser bundle). It is also the root namespace `/`: `join`, `emit`, `emitWithAck` and
 * `on(event)` act there; `ns(name)` reaches other namespaces.
 *
 * `on(name)` takes the lifecycle events `open`, `close`, `reconnecting`, `reconnected`
 * and `error`; any other name handles an application event of `/` that arrives outside
 * a joined room. `onAny` sees every application event of every namespace (rooms included).
 * @example
 * import { connect } from 'wsq/client';
 * const client = connect('ws://localhost:8080/', { client: 'ann' });
 * client.on('reconnecting', ({ delayMs }) => console.log(`reconnecting in ${delayMs} ms`));
 * const lobby = client.join('lobby', { since: 'earliest' });
 * lobby.on('message', (data, msg) => console.log(msg.offset, data));
 * await client.emitWithAck('message', { text: 'hi' }, { room: 'lobby' });
 * await client.close();
 */
export class WsqClient<Listen extends EventMap = AnyEvents, Emit extends EventMap = AnyEvents> extends HandlerHost<ClientEvents, Listen> {
  /** The server URL (without the `client`/`token` query parameters). */
  readonly url: string;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly headerSocket: HeaderSocketFactory | undefined;
  private readonly settings: Settings;
  private readonly backoff: Backoff;
  /** Lifecycle listeners and `onAny` handlers; application-event handlers are the root namespace's. */
  protected readonly handlers = new HandlerRegistry<ClientEvents>({
    lifecycle: ['open', 'close', 'reconnecting', 'reconnected', 'error', 'connect', 'disconnect', 'connect_error'],
    events: {
      on: (event, handler) => this.root.on(event as keyof Listen & string, handler as MessageHandler<any>),
      off: (event, handler) => this.root.off(event, handler),
    },
  });
  private readonly lifecycle = this.handlers.lifecycle;
  private readonly namespaces = new Map<string, WsqNamespace<any, any>>();
  private readonly root: WsqNamespace<Listen, Emit>;
  private readonly emits: Emits;
  private readonly requests = new Requests();
  private readonly link: Link;
  private transport: Transport | undefined;
  private current: ClientState = 'connecting';
  /** Connection generation: changes on every open and every drop. */
  private gen = 0;
  private seq = 0;
  private everOpened = false;
  private reconnectTimer: unknown;
  private readonly heartbeat: Heartbeat;
  private connectTimer: unknown;
  private closing: Promise<void> | undefined;
  private welcomeFrame: WelcomeFrame | undefined;
  private readonly targets: FrameTargets;
  /** Connection attempts made (a token callback's late answer for an older one is ignored). */
  private attempt = 0;
  /** The `error` frame the server sent on this attempt before any `welcome` (D1: a refusal, followed by close 4001). */
  private preWelcomeError: WsqError | undefined;
  /** The token of the attempt in progress. */
  private attemptToken: string | undefined;
  /** A 401 refusal and the token it refused: the same token again is not retried. */
  private refusedToken: { token: string | undefined; error: WsqError } | undefined;
  /** `event` frames received on the current WebSocket (R2.7.3: `seen` of a recovery). */
  private received = 0;
  /** The session to recover on the next attempts (R2.7.9): set when an open connection dropped, until a `welcome`. */
  private recoverFrom: { pid: string; seen: number } | undefined;
  private recoveredFlag = false;
  /** Set just before a drop the client itself diagnosed (`ping timeout`). */
  private dropReason: ClientDisconnectReason | undefined;
  private readonly manager = new Emitter<ManagerEvents>();
  /**
   * The manager events, as socket.io-client's `socket.io`: `reconnect_attempt` (attempt), `reconnect` (attempts),
   * `reconnect_error` (error), `reconnect_failed`.
   * @example
   * client.io.on('reconnect_attempt', (n) => console.log('attempt', n));
   */
  readonly io: {
    on<K extends keyof ManagerEvents>(event: K, listener: ManagerEvents[K]): unknown;
    once<K extends keyof ManagerEvents>(event: K, listener: ManagerEvents[K]): unknown;
    off<K extends keyof ManagerEvents>(event: K, listener?: ManagerEvents[K]): unknown;
  } = this.manager;

  /** @internal Use `connect(url, options)`. */
  constructor(url: string, options: ConnectOptions & ClientInternals) {
    super();
    this.url = url;
    this.WebSocketImpl = options.WebSocket;
    this.headerSocket = options.headerSocket;
    this.settings = resolveSettings(options);
    this.backoff = new Backoff(options.backoff);
    this.emits = new Emits(
      {
        canSend: (ns) => this.canSend(ns),
        write: (text) => void this.transport?.send(text),
        maxPayload: () => this.welcomeFrame?.maxPayload,
        features: () => (this.welcomeFrame ? (this.welcomeFrame.features ?? []) : undefined), // R1.10: args/binary only when announced
        report: (error) => this.report(error),
        nextId: () => this.requests.newId(),
        setTimeout: this.settings.setTimeout,
        clearTimeout: this.settings.clearTimeout,
      },
      this.settings.outboxLimit,
    );
    this.lifecycle.onListenerError = (e, event) => {
      if (event === 'error')
        queueMicrotask(() => {
          throw e;
        });
      else this.report(new WsqError('handler_failed', `A "${String(event)}" listener failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
    };
    this.heartbeat = new Heartbeat({
      setTimeout: this.settings.setTimeout,
      clearTimeout: this.settings.clearTimeout,
      now: this.settings.now,
      ping: () => void this.transport?.send(encodeFrame({ type: 'ping' })),
      dead: (idle) => {
        // The connection is dead even if the socket does not know it yet.
        const t = this.transport;
        if (!t) return;
        this.dropReason = 'ping timeout';
        void t.close(1000, 'heartbeat timeout');
        this.onClose(t, 1006, `nothing heard from the server for ${idle} ms`);
      },
    });
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.targets = {
      welcome: (frame) => this.onWelcome(frame),
      namespace: (name) => this.namespaces.get(name),
      emits: this.emits,
      requests: this.requests,
      get conn() {
        return self.gen;
      },
      report: (error) => this.report(error),
    };
    this.link = this.makeLink();
    this.root = new WsqNamespace<Listen, Emit>(this.link, '/');
    this.namespaces.set('/', this.root);
    if (options.autoConnect === false) this.current = 'disconnected';
    else this.open();
  }

  /** Connecting, open, reconnecting (waiting for the next attempt) or closed. */
  get state(): ClientState {
    return this.current;
  }
  /** True while a connection is open. */
  get connected(): boolean {
    return this.current === 'open';
  }
  /** The server's `welcome` on the current (or last) connection. */
  get welcome(): WelcomeFrame | undefined {
    return this.welcomeFrame;
  }
  /** This connection's id on the server (changes with every connection). */
  get sid(): string | undefined {
    return this.welcomeFrame?.sid;
  }
  /** The sid while connected, undefined otherwise (socket.io-client's `socket.id`); the same after a recovery (R2.7.5). */
  get id(): string | undefined {
    return this.current === 'open' ? this.welcomeFrame?.sid : undefined;
  }
  /** True while not connected (socket.io-client's `socket.disconnected`). */
  get disconnected(): boolean {
    return this.current !== 'open';
  }
  /** True while the client is connected or will (re)connect on its own (socket.io-client's `socket.active`); false after `disconnect()`, `close()`, a terminal close or the last failed attempt. */
  get active(): boolean {
    return this.current !== 'closed' && this.current !== 'disconnected';
  }
  /** True when the current connection recovered the previous session (connection state recovery, R2.7.5): same sid, and missed events arrive. */
  get recovered(): boolean {
    return this.current === 'open' && this.recoveredFlag;
  }

  /**
   * Connect again after `disconnect()` (or the first time, with `autoConnect: false`), as socket.io-client's
   * `socket.connect()`. No-op while connecting or connected; throws `closed` after `close()` or a terminal close.
   * @example
   * client.disconnect();
   * client.connect();
   */
  connect(): this {
    if (this.current === 'closed') throw new WsqError('closed', 'The client is closed; create a new one with connect(url).');
    if (this.current === 'disconnected') this.open();
    return this;
  }

  /**
   * Disconnect on purpose, as socket.io-client's `socket.disconnect()`: each namespace is left on the server (its
   * sockets' reason: `client namespace disconnect`), the WebSocket closes, no reconnect follows and the session is
   * not recovered (R2.7.9). Subscriptions, handlers and the outbox stay: `connect()` resumes them. `disconnect`
   * fires with `io client disconnect`.
   */
  disconnect(): this {
    if (this.current === 'closed' || this.current === 'disconnected') return this;
    const t = this.transport;
    const wasOpen = this.current === 'open';
    const connected = wasOpen ? [...this.namespaces.values()].filter((ns) => ns.connected) : [];
    if (t && wasOpen) {
      for (const ns of [...connected].sort((a, b) => (a.name === '/' ? 1 : b.name === '/' ? -1 : 0))) t.send(encodeFrame({ type: 'disconnect', ns: ns.name }));
    }
    this.recoverFrom = undefined;
    this.current = 'disconnected';
    this.transport = undefined;
    this.gen++;
    this.heartbeat.stop();
    this.stopConnectTimer();
    if (this.reconnectTimer !== undefined) this.settings.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.requests.drop();
    this.emits.connectionLost();
    this.backoff.reset();
    if (t) void t.close(1000, 'io client disconnect');
    for (const ns of connected) ns.connectionLost('io client disconnect');
    this.lifecycle.emit('close', { code: 1000, reason: 'io client disconnect', willReconnect: false });
    if (wasOpen) this.lifecycle.emit('disconnect', 'io client disconnect', { code: 1000, reason: 'io client disconnect' });
    return this;
  }
  /** Emits waiting in the outbox. */
  get outboxSize(): number {
    return this.emits.queued;
  }

  /**
   * Resolves with the `welcome` once a connection is open (at once if one is). Rejects
   * when the client stops first: with the server's error when it refused the connection
   * (its `error` frame before close 4001, or a `WsqUpgradeError` for a refused upgrade).
   * @example
   * const welcome = await client.ready();
   * console.log('connected as', welcome.sid);
   */
  ready(): Promise<WelcomeFrame> {
    if (this.current === 'open' && this.welcomeFrame) return Promise.resolve(this.welcomeFrame);
    if (this.current === 'closed') return Promise.reject(new WsqError('closed', 'The client is closed.'));
    return new Promise((resolve, reject) => {
      const onOpen = (w: WelcomeFrame) => {
        this.lifecycle.off('close', onClose);
        resolve(w);
      };
      const onClose = (info: CloseInfo) => {
        if (info.willReconnect) return;
        this.lifecycle.off('open', onOpen);
        this.lifecycle.off('close', onClose);
        // The server's refusal (its error before close 4001, or a refused upgrade) when there was one.
        reject(info.error ?? new WsqError('closed', 'The client closed before a connection opened.'));
      };
      this.lifecycle.once('open', onOpen);
      this.lifecycle.on('close', onClose);
    });
  }

  /** Listen to a lifecycle event once. */
  once<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): this {
    this.lifecycle.once(event, listener);
    return this;
  }

  /**
   * A namespace: connected now (if open) and after every reconnect, with `auth` passed to
   * the server's middleware. The same object is returned for the same name.
   * @example
   * const admin = client.ns('/admin', { auth: { key: process.env.ADMIN_KEY } });
   * await admin.ready();
   */
  ns<L extends EventMap = Listen, E extends EventMap = Emit>(name: string, options: { auth?: Record<string, unknown> } = {}): WsqNamespace<L, E> {
    if (!name.startsWith('/')) throw new WsqError('bad_frame', `A namespace starts with "/", e.g. "/chat" (got "${name}").`);
    let ns = this.namespaces.get(name);
    if (ns) {
      if (options.auth !== undefined) ns.auth = options.auth;
      // The server had disconnected it: enter it again.
      if (ns.reenter() && this.current === 'open') void ns.open(this.gen);
      return ns as WsqNamespace<L, E>;
    }
    if (this.current === 'closed') throw new WsqError('closed', 'The client is closed.');
    ns = new WsqNamespace<L, E>(this.link, name, options.auth);
    this.namespaces.set(name, ns);
    if (this.current === 'open') void ns.open(this.gen);
    return ns as WsqNamespace<L, E>;
  }

  /**
   * Join a room of `/` (see `WsqNamespace.join`).
   * @example
   * const news = client.join('news', { since: 'earliest' });
   * news.on('headline', (h) => render(h));
   */
  join<L extends EventMap = Listen>(room: string, options: JoinOptions = {}): Subscription<L> {
    return this.root.join<L>(room, options);
  }
  /**
   * Emit in `/` (see `WsqNamespace.emit`).
   * @example
   * client.emit('message', { text: 'hi' }, { room: 'lobby' });
   */
  emit<K extends keyof Emit & string>(event: K, ...args: EmitArgs<Emit[K], EmitOptions>): this {
    this.root.emit(event, ...args);
    return this;
  }
  /**
   * Emit in `/` and wait for the ack (see `WsqNamespace.emitWithAck`): a room emit resolves with its
   * ack (offset, epoch), an emit to the server's handlers with the answer itself, as in Socket.IO.
   * @example
   * const { offset } = await client.emitWithAck('message', { text: 'hi' }, { room: 'lobby', key: 'msg-1', timeoutMs: 2000 });
   * const sum = await client.emitWithAck('add', 1, 2);
   */
  emitWithAck<K extends keyof Emit & string, R = any>(event: K, ...args: EmitArgs<Emit[K], EmitWithAckOptions>): Promise<R> {
    return this.root.emitWithAck<K, R>(event, ...args);
  }
  /** Socket.IO's `socket.timeout(ms)` in `/` (see `WsqNamespace.timeout`): error-first callbacks, `emitWithAck` bounded by `ms`. */
  timeout(ms: number): ReturnType<WsqNamespace['timeout']> {
    return this.root.timeout(ms);
  }

  /**
   * Close for good: no reconnect; waiting emits and acks are rejected with `WsqError`
   * `closed`. Acks of handlers that have already finished still go out (the socket
   * closes after the current macrotask). Resolves when the socket is closed.
   * @example
   * await client.close();
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const wasOpen = this.current === 'open';
    const connected = wasOpen ? [...this.namespaces.values()].filter((ns) => ns.connected) : [];
    this.requests.drop();
    this.shutdown(new WsqError('closed', 'The client was closed.'));
    this.lifecycle.emit('close', { code: 1000, reason: 'client closed', willReconnect: false });
    for (const ns of connected) ns.connectionLost('io client disconnect');
    if (wasOpen) this.lifecycle.emit('disconnect', 'io client disconnect', { code: 1000, reason: 'client closed' });
    this.closing = new Promise<void>((resolve) => {
      // Let handlers that already resolved send their acks (they are a few microtasks away).
      this.settings.setTimeout(() => {
        const t = this.transport;
        // On purpose: the server's sockets get `client namespace disconnect`, and no session is kept (R2.7.9).
        if (t && wasOpen) for (const ns of [...connected].sort((a, b) => (a.name === '/' ? 1 : b.name === '/' ? -1 : 0))) t.send(encodeFrame({ type: 'disconnect', ns: ns.name }));
        this.transport = undefined;
        this.gen++;
        (t ? t.close(1000, 'client closed') : Promise.resolve()).then(resolve);
      }, 0);
    });
    return this.closing;
  }

  // ------------------------------------------------------------------ connection

  private open(): void {
    this.current = this.everOpened ? 'reconnecting' : 'connecting';
    const attempt = ++this.attempt;
    this.preWelcomeError = undefined;
    // Some WebSocket implementations never report an attempt that dies during the
    // handshake; without a welcome in time (the token callback's time included), the
    // attempt is given up and retried.
    const ms = this.settings.connectTimeoutMs;
    this.connectTimer = this.settings.setTimeout(() => {
      this.connectTimer = undefined;
      if (this.attempt !== attempt || this.current === 'open' || this.current === 'closed') return;
      const t = this.transport;
      const why = `no welcome from the server within ${ms} ms`;
      if (t) {
        void t.close(1000, 'connect timeout');
        this.onClose(t, 1006, why);
      } else {
        this.attempt++; // the token callback's answer, if it ever comes, is for a dead attempt
        this.lost(1006, why);
      }
    }, ms);
    const token = this.settings.token;
    if (typeof token !== 'function') return this.dial(token);
    let pending: Promise<string>;
    try {
      pending = Promise.resolve(token());
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending
      .then((value) => {
        if (this.attempt !== attempt || this.current === 'closed') return;
        if (typeof value !== 'string' || value === '') throw new TypeError(`it gave ${value === '' ? 'an empty string' : typeof value}, not a token string`);
        this.dial(value);
      })
      .catch((e: unknown) => {
        if (this.attempt !== attempt || this.current === 'closed') return;
        this.report(new WsqError('token_failed', `The token callback failed: ${e instanceof Error ? e.message : String(e)}. Retrying with backoff.`, { cause: e }));
        this.lost(1006, 'token callback failed');
      });
  }

  /** Open the WebSocket of the current attempt with `token`. */
  private dial(token: string | undefined): void {
    // A 401 refused this very token: trying it again cannot succeed.
    if (this.refusedToken && this.refusedToken.token === token) {
      const { error } = this.refusedToken;
      this.lost(1006, 'the token callback gave the token the server refused', { error, terminal: true });
      return;
    }
    this.attemptToken = token;
    const headers = this.headerSocket && token !== undefined;
    // R2.7.9: after a drop, ask for the session back (`seen`: the events received on the connection that dropped).
    const recover = this.recoverFrom ? { recover: this.recoverFrom.pid, seen: this.recoverFrom.seen } : {};
    const url = upgradeUrl(this.url, { client: this.settings.client, ...(headers || token === undefined ? {} : { token }), ...recover });
    this.received = 0;
    const create = headers
      ? (u: string, protocols: string[]) => this.headerSocket!(u, protocols, { Authorization: `Bearer ${token}` })
      : (u: string, protocols: string[]) => new this.WebSocketImpl(u, protocols);
    const t: Transport = new Transport(create, url, {
      open: () => {},
      message: (text) => this.onText(t, text),
      binary: (data) => this.onBinary(t, data), // R4.9
      close: (code, reason, refusal, errored) => this.onClose(t, code, reason, refusal, errored),
    });
    this.transport = t;
  }

  private stopConnectTimer(): void {
    if (this.connectTimer !== undefined) this.settings.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  /** A binary message (R4.9): a frame with attachments, routed as a text frame is. */
  private onBinary(t: Transport, data: Uint8Array): void {
    if (t !== this.transport || this.current === 'closed') return;
    this.heartbeat.heard();
    // contract: role H — binary events are not counted for R2.7.3 (`received`), as the server's ring does not count them either.
    const decoded = readServerBinary(data);
    if (!decoded.ok) return this.report(errorFromFrame(decoded.error));
    if (decoded.frame !== undefined) route(decoded.frame, this.targets);
  }

  private onText(t: Transport, text: string): void {
    if (t !== this.transport || this.current === 'closed') return;
    this.heartbeat.heard();
    if (text.startsWith('{"type":"event"')) this.received++; // R2.7.3: counted as the server counts them
    const decoded = readServerFrame(text); // R1.4: unknown fields are dropped, unknown frame types ignored
    if (!decoded.ok) {
      this.report(errorFromFrame(decoded.error));
      return;
    }
    if (decoded.frame === undefined) return;
    // D1: before `welcome`, an `error` is the server refusing the connection (close 4001 follows).
    if (decoded.frame.type === 'error' && this.current !== 'open' && decoded.frame.id === undefined) {
      this.preWelcomeError = errorFromFrame(decoded.frame);
      return this.report(this.preWelcomeError);
    }
    route(decoded.frame, this.targets);
  }

  private flush(): void {
    if (this.current === 'open') this.emits.flush();
  }

  private onWelcome(frame: WelcomeFrame): void {
    this.stopConnectTimer();
    this.welcomeFrame = frame;
    this.gen++;
    const conn = this.gen;
    const reconnected = this.everOpened;
    const attempts = this.backoff.attempts;
    this.everOpened = true;
    this.current = 'open';
    this.recoverFrom = undefined;
    this.recoveredFlag = frame.recovered === true; // R2.7.5
    this.backoff.reset();
    this.refusedToken = undefined;
    if (this.settings.heartbeat) this.heartbeat.start(frame.heartbeatMs, this.settings.heartbeatTimeoutMs);
    const synced = [...this.namespaces.values()].map((ns) => ns.open(conn));
    this.flush();
    this.lifecycle.emit('open', frame);
    this.lifecycle.emit('connect');
    if (reconnected) this.manager.emit('reconnect', attempts);
    if (reconnected) {
      void Promise.all(synced).then(() => {
        if (this.gen === conn) this.lifecycle.emit('reconnected', { attempts });
      });
    }
  }

  private onClose(t: Transport, code: number, reason: string, refusal?: UpgradeRefusal, errored = false): void {
    if (t !== this.transport) return;
    if (errored && !this.dropReason) this.dropReason = 'transport error';
    this.transport = undefined;
    if (refusal) {
      // I7 #16: a refused upgrade is reported with its status and the server's sentence.
      const error = new WsqUpgradeError(refusal.status, refusal.body);
      this.report(error);
      // A 401 may be cured by a fresh token from the callback (not by the same one again).
      const refreshable = refusal.status === 401 && typeof this.settings.token === 'function';
      if (refusal.status === 401) this.refusedToken = { token: this.attemptToken, error };
      return this.lost(code, reason || refusal.body, { error, status: refusal.status, terminal: !error.retryable && !refreshable, minDelayMs: refusal.retryAfterMs });
    }
    const error = code === CLOSE_CODES.unauthorized ? this.preWelcomeError : undefined;
    this.lost(code, reason, error ? { error } : {});
  }

  /**
   * The current attempt or connection is over: settle what waited on it, then reconnect
   * with backoff, or stop (a terminal close code, `opts.terminal`, no attempts left).
   */
  private lost(code: number, reason: string, opts: { error?: WsqError; status?: number; terminal?: boolean; minDelayMs?: number | undefined } = {}): void {
    const wasOpen = this.current === 'open';
    const connected = wasOpen ? [...this.namespaces.values()].filter((ns) => ns.connected) : [];
    // R2.5.9: socket.io-client's reason strings.
    const why: ClientDisconnectReason =
      this.dropReason ?? (code === CLOSE_CODES.kicked ? 'io server disconnect' : code === CLOSE_CODES.policy_violation ? 'parse error' : 'transport close');
    this.dropReason = undefined;
    // R2.7.9: an open connection that dropped is recovered on the next attempts, if the server offered it.
    if (wasOpen) this.recoverFrom = this.welcomeFrame?.pid ? { pid: this.welcomeFrame.pid, seen: this.received } : undefined;
    this.transport = undefined;
    this.gen++;
    this.heartbeat.stop();
    this.stopConnectTimer();
    this.requests.drop();
    if (this.current === 'closed') return; // close() was called: everything is settled already
    // Emits sent but not acked: resend those with a key (the server dedups), fail the others;
    // after 1009 (a frame too big for the server to read) fail them all, or the resend would
    // close the next connection the same way, forever.
    this.emits.connectionLost(code === CLOSE_CODES.message_too_big ? (entry) => tooBigForServer(entry.what) : undefined);

    const terminal = !this.settings.reconnect || opts.terminal === true || TERMINAL_CLOSE_CODES.has(code);
    let delayMs = terminal ? undefined : this.backoff.next();
    // A Retry-After (429/503) is honoured, up to a minute.
    if (delayMs !== undefined && opts.minDelayMs !== undefined) delayMs = Math.max(delayMs, Math.min(opts.minDelayMs, 60_000));
    const willReconnect = delayMs !== undefined;
    this.current = willReconnect ? 'reconnecting' : 'closed';
    const info: CloseInfo = { code, reason, willReconnect };
    if (opts.status !== undefined) info.status = opts.status;
    if (opts.error) info.error = opts.error;
    this.lifecycle.emit('close', info);
    if (wasOpen) {
      for (const ns of connected) ns.connectionLost(why);
      this.lifecycle.emit('disconnect', why, { code, reason });
    } else {
      const error = opts.error ?? new WsqError('unavailable', `The connection attempt failed (close ${code}${reason ? `: ${reason}` : ''}).`);
      this.lifecycle.emit('connect_error', error);
      if (this.everOpened) this.manager.emit('reconnect_error', error);
    }
    if (delayMs === undefined) {
      if (!terminal) this.manager.emit('reconnect_failed');
      const why =
        opts.error && terminal
          ? opts.error.message.replace(/\.$/, '')
          : terminal
            ? `the server closed the connection with code ${code}${reason ? ` (${reason})` : ''}`
            : 'the last reconnect attempt failed';
      this.closing = Promise.resolve();
      this.shutdown(new WsqError('closed', `The client stopped: ${why}.`, opts.error ? { cause: opts.error } : undefined));
      return;
    }
    this.lifecycle.emit('reconnecting', { attempt: this.backoff.attempts, delayMs });
    const attempt = this.backoff.attempts;
    this.reconnectTimer = this.settings.setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.current === 'closed' || this.current === 'disconnected') return;
      this.manager.emit('reconnect_attempt', attempt);
      this.open();
    }, delayMs);
  }

  /** Stop for good: reject everything that waits. */
  private shutdown(error: WsqError): void {
    this.current = 'closed';
    this.heartbeat.stop();
    this.stopConnectTimer();
    if (this.reconnectTimer !== undefined) this.settings.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.emits.shutdown(error);
    for (const ns of this.namespaces.values()) ns.closed(error);
  }

  // ------------------------------------------------------------------ emits and replies

  private canSend(ns: string): boolean {
    return this.current === 'open' && this.transport?.isOpen === true && this.namespaces.get(ns)?.connected === true;
  }

  private report(error: WsqError): void {
    this.lifecycle.emit('error', error);
  }

  private makeLink(): Link {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      get conn() {
        return self.gen;
      },
      get closed() {
        return self.current === 'closed';
      },
      nackDelayMs: this.settings.nackDelayMs,
      ackTimeoutMs: this.settings.ackTimeoutMs,
      request(frame, callbacks) {
        const t = self.transport;
        if (self.current !== 'open' || !t?.isOpen) return false;
        const id = self.requests.add(callbacks);
        return t.send(encodeFrame({ ...frame, id }));
      },
      answer(conn, frame) {
        if (conn === self.gen) self.transport?.send(encodeFrameBinary(frame)); // R4.9: answers with binary values go as a binary message
      },
      submit(entry) {
        if (self.current === 'closed') throw new WsqError('closed', `The client is closed; ${entry.what} was not sent.`);
        self.emits.submit(entry);
      },
      nextSeq: () => ++self.seq,
      anyHandlers: () => self.handlers.any,
      report: (error) => self.report(error),
      rejectQueued: (ns, error) => {
        self.emits.rejectQueued(ns, error);
        self.flush();
      },
      flush: () => self.flush(),
      forget(ns) {
        self.namespaces.delete(ns);
      },
    };
  }
}
