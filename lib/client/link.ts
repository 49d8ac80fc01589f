/**
 * The internal seam between the client (which owns the connection) and its namespaces
 * and subscriptions (which own the application's handlers). Not exported publicly.
 */
import type { ClientFrame, EventFrame, RequestId, ServerFrame } from '../../protocol/frames.js';
import { WsqError } from './errors.js';
import type { AckCallback, AckResult, AnyHandler, Message, MessageArg, MessageHandler } from './types.js';
import type { DeliveryTracker } from './tracking.js';

/** An emit as the client holds it until it is sent (and, when tracked, acked). */
export interface EmitEntry {
  /** Place in the order emits were made. */
  readonly seq: number;
  readonly ns: string;
  /** The frame without its request id (a new one is given at each send). */
  readonly frame: Extract<ClientFrame, { type: 'emit' }>;
  /** Ask for an ack: emitWithAck, or an emit with a key (tracked so it can be resent). */
  readonly track: boolean;
  /** For errors: `emit "x" to room "r"`. */
  readonly what: string;
  /** The emitWithAck promise, if any. */
  settle?: { resolve: (ack: AckResult<any>) => void; reject: (error: WsqError) => void };
  /**
   * An emit to the server's handlers with an answer to wait for (R4.6.4): `promise` resolves
   * emitWithAck with the first answer; `callback` gets them all (Socket.IO's ack callback), after
   * `timeout(ms)` an error or null first (`errorFirst`).
   */
  answer?: { kind: 'promise' } | { kind: 'callback'; cb: AckCallback; errorFirst: boolean };
  /** Volatile without a room (socket.io-client's `volatile` to the server's handlers): sent now or dropped, never queued; the wire frame has no `volatile` (R4.5.2 rule 1). */
  volatile?: boolean;
  /** The request id of the current send. */
  id?: number;
  /** emitWithAck: reject with WsqTimeoutError after this many ms. */
  timeoutMs?: number;
  timer?: unknown;
  done?: boolean;
  /** Called with the ack of a stored emit (one with an offset): lets a subscription skip the sender's own message. */
  onStored?: (ack: AckResult<unknown>) => void;
}

/** Replies to a request frame (connect, join, leave). */
export interface RequestCallbacks {
  reply: (frame: ServerFrame) => void;
  error: (error: WsqError) => void;
  /** The connection dropped before a reply came. */
  dropped?: () => void;
}

/** What namespaces and subscriptions may ask of the client. */
export interface Link {
  /** The current connection's generation (increments with each connection), 0 before the first. */
  readonly conn: number;
  /** True when the client was closed for good. */
  readonly closed: boolean;
  /** Default delay of a handler-failure nack. */
  readonly nackDelayMs: number;
  /** Send a request with a fresh id; the callbacks get its reply on this connection. False if not open. */
  request(frame: ClientFrame, callbacks: RequestCallbacks): boolean;
  /** Send an ack or nack for a delivery of connection `conn` (skipped when that connection is gone). */
  answer(conn: number, frame: Extract<ClientFrame, { type: 'ack' | 'nack' }>): void;
  /** Send an emit now, or queue it (throws `outbox_full`). */
  submit(entry: EmitEntry): void;
  /** Next emit sequence number. */
  nextSeq(): number;
  /** Default emitWithAck timeout. */
  readonly ackTimeoutMs: number;
  /** The client's own `onAny` handlers (they see every namespace). */
  anyHandlers(): Iterable<AnyHandler>;
  /** Report an error on the client's `error` event. */
  report(error: WsqError): void;
  /** Drop the outbox entries of a namespace, rejecting their promises with `error`. */
  rejectQueued(ns: string, error: WsqError): void;
  /** Send what the outbox holds for namespaces that are connected. */
  flush(): void;
  /** Forget a namespace (after `ns.disconnect()`). */
  forget(ns: string): void;
}

/**
 * Answers one delivery: ack or nack, once, on the connection current when it is done. An ack
 * carries `answers` when given (any number, R4.6.4), else `data` as its one answer, if any.
 */
export type Answer = (ok: boolean, data?: unknown, nack?: { requeue?: boolean; delayMs?: number }, answers?: unknown[]) => void;

/** The `ack` frame of a delivery or request id with these answers (R4.6.4): none, `data` (one), or `args`. */
export function ackFrame(id: RequestId, answers: readonly unknown[]): Extract<ClientFrame, { type: 'ack' }> {
  if (answers.length === 0 || (answers.length === 1 && answers[0] === undefined)) return { type: 'ack', id };
  if (answers.length === 1) return { type: 'ack', id, data: answers[0] };
  return { type: 'ack', id, args: answers.map((a) => (a === undefined ? null : a)) };
}

/**
 * A delivery `id` that waits for an answer arrived on connection `conn`: its `answer`, or
 * undefined when the handlers are not to run. With a `key` (epoch and offset) the
 * `tracker` decides: a delivery already acked is acked again at once (the earlier ack was
 * lost); one whose handler is still running waits for it (a redelivery that came while
 * the handler ran replaces the id to answer). When `live` says no (the subscription was
 * left or failed, so the server took the delivery back), nothing is sent: the id is
 * unknown there.
 */
export function answerer(
  link: Link,
  tracker: DeliveryTracker,
  key: string | undefined,
  id: RequestId,
  conn: number,
  nackDelayMs: number,
  live: () => boolean = () => true,
): Answer | undefined {
  if (key !== undefined) {
    const verdict = tracker.arrive(key, id, conn);
    if (verdict.action === 'ack') {
      link.answer(conn, { type: 'ack', id });
      return undefined;
    }
    if (verdict.action === 'wait') return undefined;
  }
  let answered = false;
  return (ok, data, nack, answers) => {
    if (answered) return;
    answered = true;
    const target = key === undefined ? { id, conn } : tracker.finish(key, ok);
    if (!target || !live()) return;
    if (ok) {
      link.answer(target.conn, ackFrame(target.id, answers ?? (data === undefined ? [] : [data])));
      return;
    }
    const f: { type: 'nack'; id: RequestId; requeue?: boolean; delayMs?: number } = { type: 'nack', id: target.id };
    if (nack?.requeue !== undefined) f.requeue = nack.requeue;
    const delayMs = nack?.delayMs ?? nackDelayMs;
    if (delayMs > 0) f.delayMs = delayMs;
    link.answer(target.conn, f);
  };
}

/**
 * Build the `Message` handed to handlers, callable as the ack callback (`msg(…answers)`, as in
 * Socket.IO). `answer` backs it and ack()/nack(). Its `args` are every argument (R4.5.10).
 */
export function toMessage<T>(frame: EventFrame, answer: Answer): MessageArg<T> {
  const ack = (...answers: unknown[]) => answer(true, undefined, undefined, answers);
  const fields: Message<T> = {
    event: frame.event,
    data: frame.data as T,
    args: frame.args ?? [frame.data],
    ns: frame.ns,
    ts: frame.ts,
    replay: frame.replay === true,
    ack,
    nack: (options) => answer(false, undefined, options),
  };
  const msg = Object.assign((...answers: unknown[]) => ack(...answers), fields) as MessageArg<T>;
  if (frame.room !== undefined) msg.room = frame.room;
  if (frame.offset !== undefined) msg.offset = frame.offset;
  if (frame.epoch !== undefined) msg.epoch = frame.epoch;
  if (frame.from !== undefined) msg.from = frame.from;
  if (frame.attempt !== undefined) msg.attempt = frame.attempt;
  if (frame.id !== undefined) msg.id = frame.id as RequestId;
  return msg;
}

/** True when an event handler or an `onAny` handler would see the event. */
export function hasHandlers(handlers: Iterable<unknown>, anyHandlers: Iterable<Iterable<unknown>>): boolean {
  const some = (it: Iterable<unknown>) => !it[Symbol.iterator]().next().done;
  if (some(handlers)) return true;
  for (const group of anyHandlers) if (some(group)) return true;
  return false;
}

/**
 * What happens to a durable or personal-room delivery that no handler takes (I7 #18): it is
 * left unacked — neither acked nor nacked — as NATS JetStream does with a message nobody
 * acks. The server delivers it again once its ack timeout passes (so a handler added
 * meanwhile gets it), each time counting an attempt; after `maxDeliver` attempts it moves
 * it to `$dead:<room>` (R5.4.9). No tight redelivery loop, whatever `nackDelayMs` is.
 */
export const UNACKED_OUTCOME = 'it was left unacked: the server delivers it again after its ack timeout, and after maxDeliver attempts moves it to "$dead:<room>"';

/**
 * A delivery no handler can take: a `WsqError` `no_handler` saying what happens to it.
 * @example
 * link.report(noHandler(frame, 'it was nacked and comes back in 1000 ms'));
 */
export function noHandler(frame: EventFrame, outcome: string): WsqError {
  const where = `${frame.room === undefined ? '' : `room "${frame.room}" of `}namespace "${frame.ns}"`;
  return new WsqError('no_handler', `No handler for event "${frame.event}" in ${where} (nor an onAny handler); ${outcome}. Add the handler before the delivery arrives.`);
}

/**
 * Call the event's handlers, then every `onAny` handler, synchronously and in that
 * order (so messages reach them in arrival order). The promise resolves with the first
 * event handler's result once every result has settled, and rejects if any threw.
 */
export function dispatch(msg: MessageArg, handlers: Iterable<MessageHandler<any>>, anyHandlers: Iterable<Iterable<AnyHandler>>): Promise<unknown> {
  const results: unknown[] = [];
  let failure: { error: unknown } | undefined;
  let first = true;
  let firstResult: unknown;
  for (const h of [...handlers]) {
    try {
      const r = h(...msg.args, msg); // R4.5.10: every argument, then the message (the ack callback)
      if (first) firstResult = r;
      results.push(r);
    } catch (e) {
      failure ??= { error: e };
    }
    first = false;
  }
  for (const group of anyHandlers) {
    for (const h of [...group]) {
      try {
        results.push(h(msg.event, ...msg.args, msg));
      } catch (e) {
        failure ??= { error: e };
      }
    }
  }
  if (failure) {
    // Still observe the other results so their rejections are not unhandled.
    for (const r of results) if (isThenable(r)) r.then(undefined, () => {});
    return Promise.reject(failure.error);
  }
  if (!results.some(isThenable)) return Promise.resolve(firstResult);
  return Promise.all(results).then(() => firstResult);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
