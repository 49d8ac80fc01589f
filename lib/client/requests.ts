/**
 * Requests waiting for their reply on the current connection (connect, disconnect, join,
 * leave), and the request ids of the connection (emits take theirs here too, so no two
 * frames in flight share one).
 */
import type { RequestId, ServerFrame } from '../../protocol/frames.js';
import type { WsqError } from './errors.js';
import type { RequestCallbacks } from './link.js';

/**
 * @example
 * const requests = new Requests();
 * const id = requests.add({ reply: (f) => console.log(f.type), error: (e) => console.log(e.code) });
 * requests.reply({ type: 'joined', id, ... }); // true: the callbacks got it
 * requests.drop();                            // the connection is gone: `dropped` of every waiting request
 */
export class Requests {
  private nextId = 1;
  private readonly waiting = new Map<RequestId, RequestCallbacks>();

  /** A fresh request id. */
  newId(): number {
    return this.nextId++;
  }

  /** Wait for the reply to a request; returns the id to send it with. */
  add(callbacks: RequestCallbacks): number {
    const id = this.newId();
    this.waiting.set(id, callbacks);
    return id;
  }

  /** A reply frame: handed to the request waiting for its id. False when none waits. */
  reply(frame: ServerFrame & { id?: RequestId }): boolean {
    const cb = this.take(frame.id);
    cb?.reply(frame);
    return cb !== undefined;
  }

  /** An `error` frame answering request `id`: handed to it. False when none waits. */
  error(id: RequestId | undefined, error: WsqError): boolean {
    const cb = this.take(id);
    cb?.error(error);
    return cb !== undefined;
  }

  /** The connection dropped: every waiting request is told, and forgotten. */
  drop(): void {
    const dropped = [...this.waiting.values()];
    this.waiting.clear();
    for (const cb of dropped) cb.dropped?.();
  }

  private take(id: RequestId | undefined): RequestCallbacks | undefined {
    if (id === undefined) return undefined;
    const cb = this.waiting.get(id);
    if (cb) this.waiting.delete(id);
    return cb;
  }
}
