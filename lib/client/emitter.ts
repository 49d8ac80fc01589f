/**
 * A tiny typed event emitter that runs in browsers and Node (no `node:events`).
 * A listener that throws does not stop the others; the error goes to `onListenerError`.
 */

/** Listener signatures by event name (an interface of methods-as-properties fits). */
export type ListenerMap<L> = { [K in keyof L]: (...args: any[]) => unknown };

/**
 * @example
 * const e = new Emitter<{ open: (sid: string) => void }>();
 * e.on('open', (sid) => console.log(sid));
 * e.emit('open', 'abc');
 */
export class Emitter<L extends ListenerMap<L>> {
  private readonly listeners = new Map<keyof L, Set<L[keyof L]>>();
  /** Where an exception thrown by a listener goes. Default: rethrown asynchronously. */
  onListenerError: (error: unknown, event: keyof L) => void = (error) => {
    queueMicrotask(() => {
      throw error;
    });
  };

  /** Add a listener. */
  on<K extends keyof L>(event: K, listener: L[K]): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }
  /** Add a listener that runs once. `off(event, listener)` removes it before it ran. */
  once<K extends keyof L>(event: K, listener: L[K]): this {
    const wrapper = ((...args: unknown[]) => {
      this.off(event, wrapper);
      return listener(...args);
    }) as L[K] & { original?: L[K] };
    wrapper.original = listener;
    return this.on(event, wrapper);
  }
  /** Remove a listener, also one added with `once` (or every listener of `event`, without one). */
  off<K extends keyof L>(event: K, listener?: L[K]): this {
    if (listener === undefined) {
      this.listeners.delete(event);
      return this;
    }
    const set = this.listeners.get(event);
    if (!set) return this;
    if (set.delete(listener)) return this;
    for (const l of set) {
      if ((l as { original?: unknown }).original === listener) {
        set.delete(l);
        break;
      }
    }
    return this;
  }
  /** How many listeners `event` has. */
  listenerCount(event: keyof L): number {
    return this.listeners.get(event)?.size ?? 0;
  }
  /** Call every listener of `event` in order; returns their results. */
  emit<K extends keyof L>(event: K, ...args: Parameters<L[K]>): unknown[] {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return [];
    const results: unknown[] = [];
    for (const listener of [...set]) {
      try {
        results.push(listener(...args));
      } catch (e) {
        this.onListenerError(e, event);
      }
    }
    return results;
  }
}
