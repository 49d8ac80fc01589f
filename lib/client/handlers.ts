/**
 * The handlers of a client, a namespace or a subscription, kept in one place: lifecycle
 * listeners (a typed `Emitter`), application-event handlers by event name, and `onAny`
 * handlers; the dispatch of an event to them, with the reporting of their failures; and
 * `HandlerHost`, the `on`/`off`/`onAny`/`offAny` the three classes share.
 */
import type { EventFrame } from '../../protocol/frames.js';
import { Emitter, type ListenerMap } from './emitter.js';
import { WsqError } from './errors.js';
import { dispatch, hasHandlers, toMessage, type Answer } from './link.js';
import type { AnyHandler, EventMap, MessageHandler } from './types.js';

/** A lifecycle listener or an application-event handler, as `on` and `off` take them. */
export type Handler = (...args: any[]) => unknown;

/** Somewhere else to keep application-event handlers (the client's are its root namespace's). */
export interface HandlerTarget {
  on(event: string, handler: Handler): unknown;
  off(event: string, handler?: Handler): unknown;
}

/** Lifecycle listener signatures by event name; every owner of handlers has an `error` event. */
export type LifecycleMap<L> = ListenerMap<L> & { error: (error: WsqError) => void };

/** How a registry is set up. */
export interface HandlerRegistryOptions<L> {
  /** The lifecycle event names: `on`/`off` give them to the listeners, every other name to the event handlers. */
  lifecycle: readonly (keyof L & string)[];
  /**
   * Whose handlers they are, for error messages: `name` is the namespace's or room's name,
   * `kind` says which. With an owner, an exception of a lifecycle listener goes to `report`
   * as a `handler_failed`.
   */
  owner?: { kind: 'namespace' | 'room'; name: string };
  /** Where an error goes when nobody listens to the `error` lifecycle event. Default: nowhere. */
  report?: (error: WsqError) => void;
  /** Keep application-event handlers there instead of here. */
  events?: HandlerTarget;
  /** Further `onAny` handlers that see these events (the namespace's, the client's), after this registry's own. */
  outerAny?: () => Iterable<AnyHandler>[];
}

/**
 * @example
 * const handlers = new HandlerRegistry<NamespaceEvents>({
 *   lifecycle: ['connected', 'disconnected', 'error'],
 *   owner: { kind: 'namespace', name: '/chat' },
 *   report: (e) => link.report(e),
 * });
 * handlers.on('message', (data) => console.log(data));     // an application event
 * handlers.on('error', (e) => console.error(e.code));      // a lifecycle event
 * handlers.notify(frame);                                   // runs the 'message' handlers and every onAny
 */
export class HandlerRegistry<L extends LifecycleMap<L>> {
  /** The lifecycle listeners. */
  readonly lifecycle = new Emitter<L>();
  /** The `onAny` handlers registered here. */
  readonly any = new Set<AnyHandler>();
  private readonly events = new Map<string, Set<MessageHandler<any>>>();
  private readonly names: ReadonlySet<string>;
  private readonly options: HandlerRegistryOptions<L>;

  constructor(options: HandlerRegistryOptions<L>) {
    this.options = options;
    this.names = new Set<string>(options.lifecycle);
    const { owner, report } = options;
    if (owner && report) this.lifecycle.onListenerError = (e) => report(handlerError(e, `a "${owner.name}" lifecycle listener`));
  }

  /** Add a lifecycle listener or an application-event handler. */
  on(event: string, handler: Handler): void {
    if (this.names.has(event)) this.lifecycle.on(event as keyof L, handler as L[keyof L]);
    else if (this.options.events) this.options.events.on(event, handler);
    else {
      let set = this.events.get(event);
      if (!set) this.events.set(event, (set = new Set()));
      set.add(handler as MessageHandler<any>);
    }
  }
  /** Remove a listener or handler (every one of `event`, without one). */
  off(event: string, handler?: Handler): void {
    if (this.names.has(event)) this.lifecycle.off(event as keyof L, handler as L[keyof L] | undefined);
    else if (this.options.events) this.options.events.off(event, handler);
    else if (handler) this.events.get(event)?.delete(handler as MessageHandler<any>);
    else this.events.delete(event);
  }
  /** Add an `onAny` handler. */
  onAny(handler: AnyHandler): void {
    this.any.add(handler);
  }
  /** Remove an `onAny` handler (every one without an argument). */
  offAny(handler?: AnyHandler): void {
    if (handler) this.any.delete(handler);
    else this.any.clear();
  }
  /** Add an `onAny` handler that runs before those added so far. */
  prependAny(handler: AnyHandler): void {
    const rest = [...this.any];
    this.any.clear();
    this.any.add(handler);
    for (const h of rest) this.any.add(h);
  }
  /** The `onAny` handlers, in call order (a copy). */
  listenersAny(): AnyHandler[] {
    return [...this.any];
  }

  /** True when an event handler of `event` or an `onAny` handler (here or outer) would see it. */
  has(event: string): boolean {
    return hasHandlers(this.handlersOf(event), this.anyGroups());
  }

  /** Run the handlers of the event in `frame`, then every `onAny` handler (see `dispatch`); `answer` backs the message's ack()/nack(). */
  dispatch(frame: EventFrame, answer: Answer): Promise<unknown> {
    return dispatch(toMessage(frame, answer), this.handlersOf(frame.event), this.anyGroups());
  }

  /** Dispatch an event that waits for no answer; a handler's failure is reported. */
  notify(frame: EventFrame): void {
    this.dispatch(frame, () => {}).catch((e) => this.failed(e, frame.event));
  }

  /** A handler of `event` failed: a `handler_failed` error, reported. */
  failed(error: unknown, event: string): void {
    const owner = this.options.owner;
    this.reportError(handlerError(error, `the "${event}" handler of ${owner ? `${owner.kind} "${owner.name}"` : 'the client'}`));
  }

  /** To the `error` listeners, or to `report` when there are none. */
  reportError(error: WsqError): void {
    if (this.lifecycle.listenerCount('error') > 0) this.lifecycle.emit('error', ...([error] as Parameters<L['error']>));
    else this.options.report?.(error);
  }

  private handlersOf(event: string): Iterable<MessageHandler<any>> {
    return this.events.get(event) ?? [];
  }

  /** Every `onAny` group that sees these events: this registry's, then the outer ones. */
  private anyGroups(): Iterable<AnyHandler>[] {
    return [this.any, ...(this.options.outerAny?.() ?? [])];
  }
}

/**
 * What the client, its namespaces and their subscriptions share: `on`/`off` for their
 * lifecycle events (`Lifecycle`, listed in each class's doc) and their application events
 * (`Listen`), and `onAny`/`offAny` for every application event they see.
 */
export abstract class HandlerHost<Lifecycle extends LifecycleMap<Lifecycle>, Listen extends EventMap> {
  /** @internal Where the handlers are kept. */
  protected abstract readonly handlers: HandlerRegistry<Lifecycle>;

  /**
   * Listen to a lifecycle event, or handle an application event: for the client and a
   * namespace one that arrives outside a joined room (its result answers the server's
   * emitWithAck; the client's are the root namespace's), for a subscription one of its
   * room (a durable/group delivery is acked when the returned promise resolves).
   * @example
   * client.on('close', ({ code, willReconnect }) => console.log('closed', code, willReconnect));
   * client.on('notice', (text: string) => console.log('server says', text));
   * chat.on('error', (e) => console.error(e.code));
   * chat.on('confirm', (order: { id: string }) => window.confirm(`Place ${order.id}?`));
   * room.on('gap', ({ earliest }) => reload(earliest));
   * room.on('message', async (data, msg) => { await save(msg.offset, data); }); // acked when saved (durable/group)
   */
  on<K extends keyof Lifecycle>(event: K, listener: Lifecycle[K]): this;
  /** Handle an application event (its result answers the server's emitWithAck; a durable/group delivery is acked when it resolves). */
  on<K extends keyof Listen & string>(event: K, handler: MessageHandler<Listen[K]>): this;
  on(event: string, handler: Handler): this {
    this.handlers.on(event, handler);
    return this;
  }
  /** Remove a listener or handler (every one of `event`, without one). */
  off(event: string, handler?: Handler): this {
    this.handlers.off(event, handler);
    return this;
  }
  /**
   * Handle every application event seen here: the client's see every namespace, a
   * namespace's its own (rooms included), a subscription's its room's.
   * @example
   * client.onAny((event, data, msg) => console.log(msg.ns, msg.room, event, data));
   * room.onAny((event, data, msg) => log(msg.offset, event, data));
   */
  onAny(handler: AnyHandler): this {
    this.handlers.onAny(handler);
    return this;
  }
  /** Remove an `onAny` handler (every one without an argument, as socket.io-client's `offAny()`). */
  offAny(handler?: AnyHandler): this {
    this.handlers.offAny(handler);
    return this;
  }
  /** As `onAny`, before the handlers added so far (socket.io-client's `prependAny`). */
  prependAny(handler: AnyHandler): this {
    this.handlers.prependAny(handler);
    return this;
  }
  /** The `onAny` handlers, in call order (socket.io-client's `listenersAny`). */
  listenersAny(): AnyHandler[] {
    return this.handlers.listenersAny();
  }
}

/** A handler's exception as a `WsqError` `handler_failed` (the original is its `cause`). */
export function handlerError(error: unknown, where: string): WsqError {
  const text = error instanceof Error ? error.message : String(error);
  return new WsqError('handler_failed', `${where} failed: ${text}`, { cause: error });
}
