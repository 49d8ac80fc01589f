/**
 * The outbox: emits waiting for a connection, in the order they were made, bounded.
 * Pure: it holds entries; the client decides when to send them.
 */
import { WsqError } from './errors.js';

/** Anything the outbox holds: `seq` is the emit's place in the order emits were made. */
export interface Sequenced {
  readonly seq: number;
}

/**
 * @example
 * const box = new Outbox<{ seq: number; text: string }>(2);
 * box.push({ seq: 1, text: 'a' });
 * box.push({ seq: 2, text: 'b' });
 * box.push({ seq: 3, text: 'c' }); // throws WsqError outbox_full
 * box.takeWhere(() => true);       // [a, b], in order
 */
export class Outbox<T extends Sequenced> {
  private items: T[] = [];
  constructor(readonly limit: number) {
    if (!(limit >= 0)) throw new RangeError('outboxLimit must be >= 0');
  }

  /** Entries waiting. */
  get size(): number {
    return this.items.length;
  }

  /** Queue a new emit; throws `WsqError` `outbox_full` when `limit` entries already wait. */
  push(item: T): void {
    if (this.items.length >= this.limit) {
      throw new WsqError(
        'outbox_full',
        `The outbox is full: ${this.limit} emits are already waiting for the connection to come back. Wait for the "reconnected" event, drop this emit, or raise "outboxLimit".`,
      );
    }
    this.items.push(item);
  }

  /**
   * Put back emits that were sent but not acknowledged (they will be resent), in their
   * original order and ahead of later emits. Not bounded: these were accepted already.
   */
  requeue(items: Iterable<T>): void {
    const back = [...items];
    if (back.length === 0) return;
    this.items = [...this.items, ...back].sort((a, b) => a.seq - b.seq);
  }

  /** True when some waiting entry satisfies `pred`. */
  has(pred: (item: T) => boolean): boolean {
    return this.items.some(pred);
  }

  /** Remove one entry (e.g. its emitWithAck timed out). Returns true if it was queued. */
  remove(item: T): boolean {
    const i = this.items.indexOf(item);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  /**
   * Take out, in order, the entries for which `ready` holds, keeping the rest (in order).
   * Use it to send what can be sent now.
   */
  takeWhere(ready: (item: T) => boolean): T[] {
    const taken: T[] = [];
    const kept: T[] = [];
    for (const item of this.items) (ready(item) ? taken : kept).push(item);
    this.items = kept;
    return taken;
  }

  /** Take out every entry (e.g. to reject them when the client closes). */
  drain(): T[] {
    const all = this.items;
    this.items = [];
    return all;
  }
}
