/**
 * Where a subscription stands in its room's log, so that a resume neither loses nor
 * repeats a message. Pure: no sockets, no timers.
 *
 * - `OffsetTracker` (plain subscriptions): the last offset handed to the application and
 *   the epoch it was read in; it drops anything at or below that offset (a replay that
 *   overlaps what was already seen, or a live message racing a rejoin).
 * - `DeliveryTracker` (durable and group subscriptions): deliveries carry an `id` per
 *   connection and may be redelivered (same offset, new id). It remembers which offsets
 *   are being handled and which are done, so a redelivery of a finished message is
 *   acked again without running the handler twice, and one still running is acked once,
 *   with the id of the connection that is current when it finishes.
 */
import type { JoinedFrame, RequestId } from '../../protocol/frames.js';

/** The position to resume from: what a `join` carries after a reconnect. */
export interface ResumePoint {
  since: number;
  epoch: string;
}

/**
 * @example
 * const t = new OffsetTracker();
 * t.joined({ epoch: 'e1', offset: 4, recovered: true });   // joined live at offset 4
 * t.accept(5, 'e1'); // true
 * t.accept(5, 'e1'); // false: already seen
 * t.resumePoint();   // { since: 5, epoch: 'e1' }
 * t.skip(6, 'e1');   // our own emit (echo off) was stored at 6: never hand it over
 * t.resumePoint();   // { since: 6, epoch: 'e1' }
 */
export class OffsetTracker {
  private lastOffset: number | undefined;
  private currentEpoch: string | undefined;
  /** Offsets (of `currentEpoch`, above `lastOffset`) that must not reach the application. */
  private readonly skipped = new Set<number>();

  /** The last offset handed to the application, if any position is known. */
  get last(): number | undefined {
    return this.lastOffset;
  }
  /** The epoch of the log `last` belongs to. */
  get epoch(): string | undefined {
    return this.currentEpoch;
  }

  /** Where to resume, once a `joined` has been seen. */
  resumePoint(): ResumePoint | undefined {
    if (this.lastOffset === undefined || this.currentEpoch === undefined) return undefined;
    return { since: this.lastOffset, epoch: this.currentEpoch };
  }

  /**
   * Take in a `joined` reply. Returns true when the epoch changed (the log was lost or
   * replaced): offsets start over and everything before is gone.
   */
  joined(frame: Pick<JoinedFrame, 'epoch' | 'offset' | 'replay' | 'recovered'>): boolean {
    const epochChanged = this.currentEpoch !== undefined && this.currentEpoch !== frame.epoch;
    if (this.currentEpoch === undefined || epochChanged || this.lastOffset === undefined) {
      this.currentEpoch = frame.epoch;
      this.lastOffset = frame.replay ? frame.replay.from - 1 : frame.offset;
      this.skipped.clear();
      return epochChanged;
    }
    // Same epoch: we asked for everything after lastOffset.
    if (!frame.replay) {
      // Nothing to replay: either we had everything, or we were ahead of the log
      // (recovered: false); either way live messages start after `offset`.
      if (frame.offset < this.lastOffset || frame.recovered) this.lastOffset = frame.offset;
    }
    // With a replay, keep lastOffset: a replay that starts at or below it overlaps what
    // was already seen and is dropped by accept(); one that starts above it is a gap.
    this.absorb();
    return false;
  }

  /**
   * A message this client stored itself without echo, at `offset` of `epoch`: the
   * application must not get it, live or in a replay. Ignored for another epoch than the
   * one joined, or for an offset already passed.
   */
  skip(offset: number, epoch: string): void {
    if (this.lastOffset === undefined || epoch !== this.currentEpoch || offset <= this.lastOffset) return;
    this.skipped.add(offset);
    this.absorb();
  }

  /** Move `lastOffset` over skipped offsets that follow it, and forget those passed. */
  private absorb(): void {
    if (this.lastOffset === undefined || this.skipped.size === 0) return;
    while (this.skipped.delete(this.lastOffset + 1)) this.lastOffset++;
    for (const o of this.skipped) if (o <= this.lastOffset) this.skipped.delete(o);
  }

  /**
   * Should a message at `offset` reach the application? True (and remembered) when it
   * is newer than anything seen; false for a duplicate. Messages without an offset
   * (volatile, direct) are always accepted.
   */
  accept(offset: number | undefined, epoch?: string): boolean {
    if (offset === undefined) return true;
    if (epoch !== undefined && this.currentEpoch !== undefined && epoch !== this.currentEpoch) {
      // A message from another epoch than the one joined: only a joined() may switch.
      return false;
    }
    if (this.lastOffset !== undefined && offset <= this.lastOffset) return false;
    if (this.skipped.has(offset)) return false; // our own emit: passed over once its predecessors came
    this.lastOffset = offset;
    if (this.currentEpoch === undefined && epoch !== undefined) this.currentEpoch = epoch;
    this.absorb();
    return true;
  }
}

/** A delivery being handled: which id (on which connection) to answer when done. */
export interface InFlight {
  id: RequestId;
  /** The connection generation the id belongs to. */
  conn: number;
}

/** What to do with a delivery that just arrived. */
export type DeliveryVerdict =
  /** New: run the handlers. */
  | { action: 'handle' }
  /** Already done: ack it again (the earlier ack was lost), do not run the handlers. */
  | { action: 'ack' }
  /** Its handler is still running: it will be answered with this newer id. */
  | { action: 'wait' };

/**
 * @example
 * const d = new DeliveryTracker();
 * d.arrive('e1:7', 12, 1);          // { action: 'handle' }
 * d.arrive('e1:7', 3, 2);           // { action: 'wait' } (redelivered on connection 2)
 * d.finish('e1:7', true);           // { id: 3, conn: 2 }: ack id 3 if connection 2 is current
 * d.arrive('e1:7', 9, 3);           // { action: 'ack' }
 */
export class DeliveryTracker {
  private readonly inFlight = new Map<string, InFlight>();
  private readonly done = new Set<string>();
  constructor(private readonly rememberDone = 10_000) {}

  /** A delivery of message `key` (epoch and offset) arrived with `id` on connection `conn`. */
  arrive(key: string, id: RequestId, conn: number): DeliveryVerdict {
    if (this.done.has(key)) return { action: 'ack' };
    const running = this.inFlight.get(key);
    if (running) {
      running.id = id;
      running.conn = conn;
      return { action: 'wait' };
    }
    this.inFlight.set(key, { id, conn });
    return { action: 'handle' };
  }

  /** The handling of `key` ended (acked when `ok`); returns the id to answer, if still pending. */
  finish(key: string, ok: boolean): InFlight | undefined {
    const running = this.inFlight.get(key);
    if (!running) return undefined;
    this.inFlight.delete(key);
    if (ok) {
      this.done.add(key);
      if (this.done.size > this.rememberDone) {
        const oldest = this.done.values().next().value as string;
        this.done.delete(oldest);
      }
    }
    return running;
  }

  /** Stop tracking `key` without an answer (no handler took it: it is left unacked for the server to redeliver). */
  release(key: string): void {
    this.inFlight.delete(key);
  }

  /** Messages whose handlers are running. */
  get pending(): number {
    return this.inFlight.size;
  }
}
