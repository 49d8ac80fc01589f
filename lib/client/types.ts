/**
 * The client's public types: event maps (compile-time checks of `emit` and `on`), the
 * options of `connect`, `join` and `emit`, and what handlers and listeners receive.
 */
import type { BackoffOptions } from './backoff.js';
import type { WebSocketConstructor } from './transport.js';
import type { WsqError } from './errors.js';
import type { GapReport, PresenceFrame, RequestId, WelcomeFrame } from '../../protocol/frames.js';

/**
 * Event name → the type of its `data`. Give one to `connect`/`join` to have `emit` and
 * `on` checked at compile time, as Socket.IO's `Socket<ListenEvents, EmitEvents>`.
 * @example
 * interface ChatEvents { message: { from: string; text: string }; typing: { from: string } }
 * const client = connect<ChatEvents, ChatEvents>('ws://localhost:8080/');
 * client.emit('message', { from: 'ann', text: 'hi' }, { room: 'lobby' }); // checked
 * client.join('lobby').on('typing', (d) => d.from);                         // d: { from: string }
 */
export type EventMap = object; // an interface or type of event name → data (no index signature needed)

/** The map used when none is given: any event, any data. */
export type AnyEvents = { [event: string]: any };

/**
 * An ack callback, as Socket.IO has it: the server's answers (`reply(…answers)`); after
 * `timeout(ms)` an error (or null) comes first.
 */
export type AckCallback = (...answers: any[]) => void;

/**
 * The arguments of `emit(event, ...)`. With a typed event map: `data`, then the options, then an
 * optional ack callback (`data` may be left out when its type allows `undefined`). Without one
 * (`AnyEvents`), any arguments as Socket.IO takes them (R4.5.10): `emit(event, a, b, …, options?, cb?)`,
 * where `options` is a trailing plain object whose keys are all option names (to send such an
 * object as the last argument, pass `{}` after it) and `cb` a trailing function.
 */
export type EmitArgs<T, O> = 0 extends 1 & T
  ? any[]
  : (undefined extends T ? [data?: T, options?: O] : [data: T, options?: O]) | [data: T, ack: AckCallback] | [data: T, options: O, ack: AckCallback];

/** Options of `emit`. */
export interface EmitOptions {
  /** Send to this room (stored in its log unless volatile). Without a room the server's handlers take it. */
  room?: string;
  /** Not stored, no offset, dropped for slow readers; never queued: dropped when it cannot be sent at once (disconnected, or the namespace not connected). */
  volatile?: boolean;
  /** Deliver to the sender too (default false). */
  echo?: boolean;
  /**
   * Idempotency key: the server stores an emit with a key seen in the room within its
   * dedup window (2 min) only once. An emit with a key is tracked until acked and resent
   * after a reconnect, so it is stored exactly once even when an ack is lost.
   */
  key?: string;
}

/** Options of `emitWithAck`. */
export interface EmitWithAckOptions {
  room?: string;
  echo?: boolean;
  /** Idempotency key (see `EmitOptions.key`): with one, an emit pending across a reconnect is resent. */
  key?: string;
  /**
   * Reject with `WsqTimeoutError` when no ack came within this time. Default: the client's
   * `ackTimeoutMs`. `Infinity` or `0`: no time limit. Values over 2^31-1 ms (24.8 days) count as that.
   */
  timeoutMs?: number;
}

/** What `emitWithAck` of a room emit resolves with: the server's `ack` (an emit to the server's handlers resolves with the answer itself). */
export interface AckResult<R = unknown> {
  /** The stored message's offset (room emits). */
  offset?: number;
  /** The epoch of the room's log. */
  epoch?: string;
  /** True when the `key` repeated one already stored: nothing new was stored. */
  duplicate: boolean;
  /** The server handler's answer (emits without a room). */
  data?: R;
}

/** Options of `join`. */
export interface JoinOptions {
  /** Replay from the room's log: every message after this offset, or `"earliest"`. */
  since?: number | 'earliest';
  /** The epoch `since` was read in (from an earlier session). */
  epoch?: string;
  /** A server-tracked subscription (needs a client identity): the server keeps the cursor. */
  durable?: boolean;
  /** Competing consumers: each message goes to one member of this group. */
  group?: string;
  /** Most unacked deliveries in flight (durable and group). Server default 100. */
  prefetch?: number;
  /** Receive `presence` notices of members joining and leaving. */
  presence?: boolean;
  /**
   * Durable and group deliveries: ack when the handlers' promises resolve, nack when one
   * throws (default true). With false, call `msg.ack()` / `msg.nack()` yourself; a handler
   * that throws (or rejects) before answering still nacks.
   *
   * In both modes a delivery whose event has no handler here (nor an `onAny` handler of
   * the room, its namespace or the client) is never acked, and a `WsqError` `no_handler`
   * is reported. In a group it is nacked (another member may take it; it comes back after
   * `nackDelayMs`); a durable delivery is left unacked (the server redelivers it after its
   * ack timeout). Either way each attempt counts toward the server's `maxDeliver`, after
   * which it goes to `$dead:<room>`.
   */
  autoAck?: boolean;
  /** The `delayMs` of the nack sent when a handler throws or a group delivery has no handler. Default: the client's `nackDelayMs`. */
  nackDelayMs?: number;
}

/**
 * Gives the token for the next connection attempt (called before each one).
 * @example
 * const client = connect(url, { token: async () => (await fetch('/token')).text() });
 */
export type TokenSource = () => string | Promise<string>;

/** Options of `connect`. */
export interface ConnectOptions {
  /** A stable client identity (`?client=`): needed for durable subscriptions and the personal room `@<client>`. */
  client?: string;
  /**
   * A token for the server's auth (`socket.handshake.token`). The Node entry sends it as
   * `Authorization: Bearer <token>`; the browser entry (and a custom `WebSocket`), which
   * cannot set headers, as `?token=`. A function is called before every connection
   * attempt (the first and each reconnect, e.g. after close 4003 `credentials_expired`),
   * so it can hand out a fresh token; if it throws or rejects, a `token_failed` error is
   * reported and the attempt is retried with backoff.
   */
  token?: string | TokenSource;
  /** The WebSocket constructor. Node entry default: `ws`; browser entry default: `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Reconnect backoff: full jitter, 1 s base, 5 s cap, unlimited attempts by default. */
  backoff?: BackoffOptions;
  /** Reconnect on its own after a drop (default true). */
  reconnect?: boolean;
  /** Default timeout of `emitWithAck`, in ms. Default 10 000. */
  ackTimeoutMs?: number;
  /** Most emits held while disconnected (default 1000); one more throws `WsqError` `outbox_full`. */
  outboxLimit?: number;
  /**
   * The `delayMs` of the nack sent when a handler throws, or when a group delivery finds
   * no handler (default 1000; 0 redelivers at once). A durable or personal-room
   * (`@<client>`) delivery with no handler is not nacked but left unacked: the server
   * redelivers it after its ack timeout and dead-letters it after `maxDeliver` attempts.
   */
  nackDelayMs?: number;
  /**
   * Watch the connection: ping when nothing was heard for `heartbeatMs` (from `welcome`)
   * and reconnect when nothing was heard for `heartbeatMs + heartbeatTimeoutMs`. Default true.
   */
  heartbeat?: boolean;
  /** See `heartbeat`. Default 20 000. */
  heartbeatTimeoutMs?: number;
  /**
   * Give up a connection attempt that has not been welcomed within this time, and retry
   * with backoff. Default 20 000 (as socket.io-client's `timeout`).
   */
  connectTimeoutMs?: number;
  /** Connect at once (default true, as socket.io-client's `autoConnect`); with false, call `client.connect()`. */
  autoConnect?: boolean;
  /** Timers (injectable for tests). Default: the global ones. */
  timers?: { setTimeout: (fn: () => void, ms: number) => unknown; clearTimeout: (handle: any) => void };
  /** Clock, ms (injectable for tests). Default `Date.now`. */
  now?: () => number;
}

/**
 * One message as handlers receive it (the second argument; the first is `data`).
 * For durable and group deliveries `ack()` / `nack()` answer the server (with
 * `autoAck: false`); elsewhere they do nothing.
 */
export interface Message<T = unknown> {
  event: string;
  data: T;
  ns: string;
  room?: string;
  /** The message's offset in its room's log (stored messages). */
  offset?: number;
  epoch?: string;
  /** The sender's sid. */
  from?: string;
  /** When the server accepted it, ms since the Unix epoch. */
  ts: number;
  /** True when it comes from a replay of the log, not live. */
  replay: boolean;
  /** Delivery attempt (durable and group deliveries). */
  attempt?: number;
  /** The delivery id, when the server waits for an ack. */
  id?: RequestId;
  /**
   * Every argument the sender gave (R4.5.10): `[data]` for one, and so for every event of a server
   * or sender without the `args` feature. Handlers receive them spread, then this message.
   */
  args: unknown[];
  /** Acknowledge the delivery (manual ack mode), or answer a server's `emitWithAck` with these answers. Idempotent. */
  ack(...answers: unknown[]): void;
  /** Reject the delivery: the server redelivers it (after `delayMs`) unless `requeue` is false. */
  nack(options?: { requeue?: boolean; delayMs?: number }): void;
}

/**
 * One message as the last argument of a handler: also callable, as Socket.IO's ack callback:
 * `msg(…answers)` acks a delivery, or answers the server's `emitWithAck`/callback with those answers.
 */
export type MessageArg<T = unknown> = Message<T> & ((...answers: unknown[]) => void);

/**
 * A handler of one event: its arguments (one: `data`; several: each, R4.5.10), then the message
 * (callable: the ack callback). Its result (awaited) acks a delivery or answers the server's
 * `emitWithAck`, unless it called `msg(…)` or `msg.ack(…)` first.
 */
export type MessageHandler<T = unknown> = 0 extends 1 & T ? (...args: any[]) => unknown : (data: T, msg: MessageArg<T>) => unknown;

/** A handler of every event: its name, its arguments, then the message (as `MessageHandler`). */
export type AnyHandler = (event: string, ...args: any[]) => unknown;

/** Why a connection closed. */
export interface CloseInfo {
  code: number;
  reason: string;
  /** True when the client will try to reconnect. */
  willReconnect: boolean;
  /** The HTTP status when the server refused the upgrade (Node only; browsers cannot see it). */
  status?: number;
  /**
   * What the server said when it refused: the `error` frame before close 4001 (no
   * `welcome` came), or the `WsqUpgradeError` of a refused upgrade. `ready()` rejects with it.
   */
  error?: WsqError;
}

/** Lifecycle events of the client (`client.on(...)`). */
export interface ClientEvents {
  /** Connected and accepted (socket.io-client's `connect`): after every `welcome`; `client.recovered` says whether the session came back. */
  connect: () => void;
  /**
   * The connection ended (socket.io-client's `disconnect`, R2.5.9): `reason` is one of its strings; `details` has the
   * close code and the server's close reason. Fires only for a connection that was open (a failed attempt is `connect_error`).
   */
  disconnect: (reason: ClientDisconnectReason, details: { code: number; reason: string }) => void;
  /** A connection attempt failed (socket.io-client's `connect_error`): refused, or closed before `welcome`. */
  connect_error: (error: WsqError) => void;
  /**
   * A connection is open and the server accepted it: its `welcome` arrived (D1: sent only
   * once the main namespace's middleware accepted). A refused connection never fires it.
   */
  open: (welcome: WelcomeFrame) => void;
  /**
   * The connection closed, or an attempt failed. `willReconnect` false: the client stopped
   * (a terminal close code such as 4001, a refused upgrade that retrying cannot cure,
   * `close()`); `error` then says what the server said, if anything.
   */
  close: (info: CloseInfo) => void;
  /** A reconnect attempt is scheduled in `delayMs`. */
  reconnecting: (info: { attempt: number; delayMs: number }) => void;
  /** Back after a drop: every namespace reconnected and every room rejoined. */
  reconnected: (info: { attempts: number }) => void;
  /**
   * Something failed that no promise reports: the server refusing the connection (its
   * `error` before close 4001; in Node a refused upgrade, as a `WsqUpgradeError` with the
   * HTTP status — a browser's WebSocket hides the status, so there a refused upgrade is a
   * close 1006, retried with backoff), a failing `token` callback (`token_failed`), a
   * server `error` frame answering no request (`unknown_id` always comes here), a malformed frame, a queued plain `emit` found too
   * large when sent (`payload_too_large`), a handler that threw (`handler_failed`) or an
   * event that waits for an answer and has no handler (`no_handler`) (those two unless its
   * subscription or namespace has an `error` listener). Without a listener these errors are dropped.
   */
  error: (error: WsqError) => void;
}

/** Lifecycle events of a namespace (`ns.on(...)`). */
export interface NamespaceEvents {
  /** The namespace is connected (socket.io-client's `connect` of a namespace socket): after each connection. */
  connect: () => void;
  /** The namespace lost its connection (socket.io-client's `disconnect`): the client's connection dropped (its reason), or the server disconnected it (`io server disconnect`). */
  disconnect: (reason: ClientDisconnectReason) => void;
  /** The namespace is connected (after each connection). */
  connected: () => void;
  /** The server disconnected the namespace. */
  disconnected: () => void;
  /** A `connect` was refused, or something failed in this namespace. */
  error: (error: WsqError) => void;
}

/** What a subscription's `joined` reports. */
export interface JoinedInfo {
  epoch: string;
  /** The room's last offset when the join took effect. */
  offset: number;
  /** The replayed range, if any. */
  replay?: { from: number; to: number; count: number };
  recovered: boolean;
  /** True when this join resumed after a reconnect. */
  resumed: boolean;
}

/** What a `gap` reports: messages the subscription will never see. */
export interface GapInfo extends Partial<GapReport> {
  /** The epoch changed: the old log is gone (e.g. a memory store restarted). */
  epochChanged: boolean;
  epoch: string;
}

/** Lifecycle events of a subscription (`sub.on(...)`). */
export interface SubscriptionEvents {
  /** Each `joined` (the first join and every rejoin). */
  joined: (info: JoinedInfo) => void;
  /** A rejoin resumed with nothing lost. */
  recovered: (info: JoinedInfo) => void;
  /** Messages were lost (trimmed by retention, or a new epoch): refetch state. */
  gap: (info: GapInfo) => void;
  /** A member joined or left (with `presence: true`). */
  presence: (frame: PresenceFrame) => void;
  /** The server took this connection out of the room (the application's `socket.leave`): the subscription is over and not rejoined. */
  left: (info: { by: 'server' }) => void;
  /** The join was refused, or a handler failed. */
  error: (error: WsqError) => void;
}

/** Why a connection ended, in socket.io-client's strings (PROTOCOL.md R2.5.9). */
export type ClientDisconnectReason = 'io server disconnect' | 'io client disconnect' | 'ping timeout' | 'transport close' | 'transport error' | 'parse error';

/** The manager events of `client.io` (socket.io-client's `socket.io.on(…)`). */
export interface ManagerEvents {
  /** A reconnect attempt starts (1 for the first after a drop). */
  reconnect_attempt: (attempt: number) => void;
  /** Connected again after a drop, after `attempt` attempts. */
  reconnect: (attempt: number) => void;
  /** A reconnect attempt failed. */
  reconnect_error: (error: WsqError) => void;
  /** No attempt left (`backoff.maxAttempts`): the client stopped. */
  reconnect_failed: () => void;
}
