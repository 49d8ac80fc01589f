/**
 * Consumer: server-tracked delivery over one room's log, for a durable subscription
 * (one client, in order, no attempt limit) or a consumer group (competing members, each
 * message to exactly one, redelivery, dead letters). PROTOCOL.md §5.4 and §5.5.
 */
import type { RequestId } from '../protocol/frames.js';
import type { LogListener, RoomLog } from './log.js';
import type { ConsumerState, StoredMessage } from './store/types.js';

/**
 * What subscriptions, members, connections and the ack handler use of a consumer. `Consumer`
 * (progress on this node) and `SharedGroup` (lib/group-shared.ts: a group whose progress is a
 * Redis Streams group, for members on several nodes) both have it.
 */
export interface ConsumerHandle {
  /** The stored name: `group:<name>` or `client:<id>`. */
  readonly name: string;
  /** Resolves once the consumer's saved state is loaded. */
  readonly ready: Promise<void>;
  /** True when no saved state was found (it started at `startAfter`), until the namespace has reported it (R5.4.10). */
  fresh: boolean;
  /** Members (on this node). */
  readonly size: number;
  /** Messages committed to the room and not yet done by this consumer. */
  readonly lag: number;
  add(member: ConsumerMember): void;
  remove(member: ConsumerMember): void;
  ack(offset: number): void;
  nack(offset: number, requeue?: boolean, delayMs?: number): void;
  close(): void;
  /** Resolves once every state change made so far is committed to the store. */
  flushed(): Promise<void>;
  state(): ConsumerState;
  /**
   * The client of `member` answered delivery `id` (ack, or `nack`); false when no such delivery waits.
   * contract: a handle is the only owner of its pending deliveries: its members' connections keep no
   * record of them (issue 9 seam); the ack handler finds them here through the connection's subscriptions.
   */
  settle(member: ConsumerMember, id: RequestId, nack?: { requeue?: boolean; delayMs?: number }): boolean;
  /** Deliveries to `member` waiting for its ack (read at `/metrics` scrape time). */
  pendingFor(member: ConsumerMember): number;
}

/** A socket receiving deliveries from a consumer. */
export interface ConsumerMember {
  readonly sid: string;
  readonly prefetch: number;
  /** Send one delivery (the encoded event frame, to which the member adds `id` and `attempt`); returns the id the client acks. */
  deliver(frame: string, consumer: ConsumerHandle, offset: number, attempt: number): RequestId;
  /** Forget a delivery id (acked elsewhere, redelivered, or the member left). */
  forget(id: RequestId): void;
  /**
   * False while the member's socket is backed up (its outgoing buffer over the drain mark):
   * it gets nothing, new or redelivered, until it drained; then it calls `wake` (R2.5.7).
   */
  ready?(wake: () => void): boolean;
}

/** Policy of a consumer. */
export interface ConsumerOptions {
  /** Deliveries before a message goes to `$dead:<room>` (R5.4.9, R5.5.4: groups, durable subscriptions and personal rooms alike). */
  maxDeliver: number;
  /** Unacked deliveries are redelivered after this long. */
  ackTimeoutMs: number;
  /** Where a new consumer starts: after this offset (0 = from the earliest held message). */
  startAfter: number;
  /** Where dead letters go: called with the message that ran out of attempts. */
  /**
   * Where dead letters go: called with the message that ran out of attempts and a function
   * giving this consumer's state with that message done. The callee commits the dead letter
   * and that state in ONE store step (R5.5.9), calling `stateAfter` just as it queues it.
   */
  deadLetter?: (msg: StoredMessage, stateAfter: () => ConsumerState) => Promise<unknown>;
  /** Called when the last member left and nothing is in flight (the namespace may drop it). */
  onIdle?: () => void;
}

/** A delivery waiting for its member's ack. */
export interface PendingDelivery {
  member: ConsumerMember;
  id: RequestId;
  /** When the ack timeout passes (ms, Date.now()). Pending entries are kept in deadline order. */
  deadline: number;
}

type Pending = PendingDelivery;

/**
 * The member side every consumer shares (`Consumer` below, `SharedGroup` in lib/group-shared.ts):
 * the members taken in turn, each member's pending deliveries by the id it acks (id → offset: how
 * `settle` finds an ack's offset, and the member's in-flight count, at most its prefetch), and the
 * pending deliveries by offset in deadline order (one ack timeout for all, so insertion order).
 * With these the consumer is the only owner of its deliveries: the connection keeps no record of
 * them (issue 9 seam). Subclasses say what an ack, a nack and a delivery taken back from a
 * leaving member do.
 */
export abstract class MemberDeliveries<P extends PendingDelivery> {
  protected members: ConsumerMember[] = [];
  protected rr = 0;
  /** Set by `close`: nothing is delivered or timed any more. */
  protected closed = false;
  /** One timer for every pending delivery: set for the earliest deadline. */
  protected expiryTimer: NodeJS.Timeout | undefined;
  protected readonly inflight = new Map<ConsumerMember, Map<RequestId, number>>();
  protected readonly pending = new Map<number, P>();

  /** Number of members (on this node). */
  get size(): number {
    return this.members.length;
  }

  /** Add a member and start delivering to it. */
  add(member: ConsumerMember): void {
    if (this.members.includes(member)) return;
    this.members.push(member);
    this.inflight.set(member, new Map());
    this.afterAdd();
  }

  /** Remove a member: each of its unacked deliveries is taken back (`takenBack`), then `afterRemove`. */
  remove(member: ConsumerMember): void {
    const i = this.members.indexOf(member);
    if (i < 0) return;
    this.members.splice(i, 1);
    this.inflight.delete(member);
    for (const [offset, p] of this.pending) {
      if (p.member !== member) continue;
      member.forget(p.id);
      this.pending.delete(offset);
      this.takenBack(offset, p);
    }
    this.afterRemove();
  }

  /**
   * The client of `member` answered delivery `id`: ack it, or (with `nack`) nack it. False when
   * `id` is no delivery of this consumer waiting on that member (late, taken back, or another's).
   */
  settle(member: ConsumerMember, id: RequestId, nack?: { requeue?: boolean; delayMs?: number }): boolean {
    const offset = this.inflight.get(member)?.get(id);
    if (offset === undefined) return false;
    if (nack) this.nack(offset, nack.requeue ?? true, nack.delayMs ?? 0);
    else this.ack(offset);
    return true;
  }

  /** Deliveries to `member` waiting for its ack (read at `/metrics` scrape time). */
  pendingFor(member: ConsumerMember): number {
    return this.inflight.get(member)?.size ?? 0;
  }

  /** Set the one expiry timer for the earliest pending deadline (if not set). */
  protected armExpiry(): void {
    if (this.expiryTimer || this.closed) return;
    const first = this.pending.values().next();
    if (first.done) return;
    this.expiryTimer = setTimeout(() => this.expireDue(), Math.max(0, first.value.deadline - Date.now())).unref();
  }

  /** The next member (in turn, R5.5.2) that can take a delivery now, if any. */
  protected pickMember(): ConsumerMember | undefined {
    const n = this.members.length;
    for (let i = 0; i < n; i++) {
      const m = this.members[(this.rr + i) % n]!;
      if (this.hasRoom(m)) {
        this.rr = (this.rr + i + 1) % n;
        return m;
      }
    }
    return undefined;
  }

  abstract ack(offset: number): void;
  abstract nack(offset: number, requeue?: boolean, delayMs?: number): void;
  abstract notify(): void;
  /** Whether `m` can take one more delivery now (prefetch, backpressure). */
  protected abstract hasRoom(m: ConsumerMember): boolean;
  /** Take back the deliveries whose ack timeout passed (armExpiry's timer calls it). */
  protected abstract expireDue(): void;
  /** A delivery of a member that left: make it deliverable again. */
  protected abstract takenBack(offset: number, p: P): void;

  /** After a member joined (default: deliver). */
  protected afterAdd(): void {
    this.notify();
  }

  /** After a member left and its deliveries were taken back. */
  protected abstract afterRemove(): void;
}

/**
 * Work done in one go before the loop yields to I/O (setImmediate), so that one consumer with
 * thousands of deliveries due (a stuck member, prefetch 10 000) cannot hold up other clients.
 */
const BATCH = 256;
/**
 * Time every consumer together may spend delivering before yielding to I/O (ms). The budget is
 * shared (one slice per turn of the event loop for all consumers), so 20 busy consumers cannot
 * each take a slice in the same turn; an expensive step (a dead letter that commits the
 * consumer's state) counts by its time, not as one step.
 */
const SLICE_MS = 10;
let sliceStart = 0;

/** True when the shared slice is used up (the caller yields with yieldSlice). */
function sliceOver(): boolean {
  return performance.now() - sliceStart > SLICE_MS;
}

let sliceQueued = false;

/**
 * Yield to I/O. The first consumer to yield queues the start of the next slice ahead of every
 * consumer's resumption (immediates run in order), so all of them share that one slice.
 */
function yieldSlice(): Promise<void> {
  if (!sliceQueued) {
    sliceQueued = true;
    setImmediate(() => {
      sliceQueued = false;
      sliceStart = performance.now();
    });
  }
  return new Promise((r) => setImmediate(r));
}

/** Offsets waiting for redelivery: a binary min-heap with a membership set (O(log n) push and pop, no duplicates). */
class OffsetQueue {
  private readonly heap: number[] = [];
  private readonly members = new Set<number>();

  get size(): number {
    return this.heap.length;
  }

  has(o: number): boolean {
    return this.members.has(o);
  }

  push(o: number): void {
    if (this.members.has(o)) return;
    this.members.add(o);
    const h = this.heap;
    let i = h.push(o) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= o) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = o;
  }

  pop(): number | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    this.members.delete(top);
    if (h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]! < h[l]! ? r : l;
      if (h[c]! >= last) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

/** One consumer (durable or group) of one room's log. `ready` resolves once its saved state is loaded. */
export class Consumer extends MemberDeliveries<Pending> implements LogListener, ConsumerHandle {
  readonly ready: Promise<void>;
  /** True when no saved state was found (this consumer started at `startAfter`), until the namespace has reported it (R5.4.10). */
  fresh = false;
  private floor = 0;
  private next = 1;
  private readonly acked = new Set<number>();
  private readonly attempts = new Map<number, number>();
  /** Offsets being dead-lettered (saves wait meanwhile), and those whose store step is queued (counted done in `state()`). */
  private readonly dying = new Set<number>();
  private readonly dead = new Set<number>();
  private readonly due = new OffsetQueue();
  private readonly wake = (): void => this.notify();
  private readonly delayed = new Map<number, NodeJS.Timeout>();
  private ahead: StoredMessage[] = [];
  private pumping = false;
  private again = false;
  private saving = false;
  private savingDone: Promise<void> = Promise.resolve();
  private dirty = false;
  /** Set once the saved state is loaded (`ready` resolved). */
  private loaded = false;

  constructor(
    readonly log: RoomLog,
    readonly name: string,
    readonly opts: ConsumerOptions,
  ) {
    super();
    // Listening from the start (not once loaded): a log with a listener is not idle, so it cannot be dropped meanwhile.
    this.log.listeners.add(this);
    this.ready = this.load();
  }

  /** @internal Messages committed to the room and not yet done by this consumer (`committed offset - floor`; read at `/metrics` scrape time). */
  get lag(): number {
    return Math.max(0, this.log.committed - this.floor);
  }

  private async load(): Promise<void> {
    await this.log.ready;
    const s = await this.log.host.store.getConsumer(this.log.host.name, this.log.room, this.name);
    if (s) {
      this.floor = s.floor;
      for (const o of s.done) this.acked.add(o);
      for (const [o, n] of Object.entries(s.attempts)) this.attempts.set(Number(o), n);
    } else {
      this.fresh = true;
      this.floor = this.opts.startAfter;
      this.save();
    }
    this.next = this.floor + 1;
    this.loaded = true;
  }

  protected takenBack(offset: number): void {
    this.due.push(offset);
  }

  protected afterRemove(): void {
    if (this.members.length === 0 && this.pending.size === 0) this.opts.onIdle?.();
    this.notify();
  }

  /** The member acked this delivery. */
  ack(offset: number): void {
    const p = this.take(offset);
    if (!p) return;
    this.attempts.delete(offset);
    this.acked.add(offset);
    this.advanceFloor();
    this.save();
    this.notify();
  }

  /** The member refused this delivery: redeliver (after `delayMs`), or dead-letter it when `requeue` is false. */
  nack(offset: number, requeue = true, delayMs = 0): void {
    if (!this.take(offset)) return;
    if (!requeue) {
      void this.kill(offset).catch((err) => this.failed(offset, err));
      return;
    }
    this.requeue(offset, delayMs);
  }

  /** Wake the delivery loop (new messages, freed capacity). */
  notify(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    // Nothing to deliver (no redelivery due, nothing committed past the cursor): the loop would find nothing,
    // so it is not started (an ack of a consumer that keeps up wakes it for nothing otherwise).
    if (this.loaded && this.due.size === 0 && this.ahead.length === 0 && this.next > this.log.committed) return;
    this.pump().catch((err) => this.log.host.report('error', `consumer ${this.name} of room "${this.log.room}" failed`, err));
  }

  /** Stop timers; unacked deliveries stay unacked in the store and are redelivered by the next life. */
  close(): void {
    this.closed = true;
    this.log.listeners.delete(this);
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    for (const t of this.delayed.values()) clearTimeout(t);
  }

  /** Resolves once every state change made so far is committed to the store. */
  async flushed(): Promise<void> {
    while (this.saving) await this.savingDone;
  }

  /** The state to persist. */
  state(): ConsumerState {
    const attempts: Record<string, number> = {};
    for (const [o, n] of this.attempts) if (o > this.floor) attempts[o] = n;
    for (const o of this.dead) delete attempts[o];
    const done = this.dead.size ? [...this.acked, ...this.dead] : [...this.acked];
    return { floor: this.floor, done: done.filter((o) => o > this.floor).sort((a, b) => a - b), attempts };
  }

  private take(offset: number): Pending | undefined {
    const p = this.pending.get(offset);
    if (!p) return undefined;
    p.member.forget(p.id);
    this.pending.delete(offset);
    this.inflight.get(p.member)?.delete(p.id);
    return p;
  }

  private requeue(offset: number, delayMs: number): void {
    if (delayMs > 0) {
      this.delayed.set(
        offset,
        setTimeout(() => {
          this.delayed.delete(offset);
          this.due.push(offset);
          this.notify();
        }, delayMs).unref(),
      );
    } else {
      this.due.push(offset);
    }
    this.notify();
  }

  /** Dead-lettering failed (e.g. the dead room is full under "reject", or the store closed): keep the message, retry later. */
  private failed(offset: number, err: unknown): void {
    this.log.host.report('warn', `could not dead-letter offset ${offset} of room "${this.log.room}"; it stays queued`, err);
    if (!this.closed) this.requeue(offset, Math.min(this.opts.ackTimeoutMs, 5000));
  }

  private async kill(offset: number, known?: StoredMessage): Promise<void> {
    const msg = known?.offset === offset ? known : (await this.log.readFrom(offset, 1))[0];
    if (msg && msg.offset === offset && this.opts.deadLetter) {
      // R5.5.9: the dead letter and "done" commit in one store step, so a crash cannot duplicate or lose it;
      // no other save of this consumer may come between (one computed before would undo "done").
      this.dying.add(offset);
      try {
        await this.opts.deadLetter(msg, () => {
          this.dead.add(offset);
          return this.state();
        });
        this.log.host.stats.deadLettered++;
      } finally {
        this.dying.delete(offset);
        this.dead.delete(offset);
        if (this.dying.size === 0 && this.dirty && !this.saving) {
          this.dirty = false;
          this.save();
        }
      }
    }
    this.attempts.delete(offset);
    this.acked.add(offset);
    this.advanceFloor();
    this.save();
    this.notify();
  }

  /**
   * Move the floor (every offset at or below it is done) up to the first offset still
   * outstanding. Every delivered, not yet done offset has an `attempts` entry (pending, due,
   * delayed or being dead-lettered), so the walk only asks that map: amortized O(1) per
   * message, since the floor never moves back (a scan of every pending delivery on each
   * ack made a stuck member with prefetch 10 000 quadratic: I8 row 6).
   */
  private advanceFloor(): void {
    const limit = this.next - 1;
    if (this.floor >= limit) return;
    if (this.attempts.size === 0 && this.acked.size === 0) {
      this.floor = limit;
      return;
    }
    let f = this.floor;
    while (f < limit && (!this.attempts.has(f + 1) || this.acked.has(f + 1))) {
      f++;
      this.acked.delete(f);
    }
    this.floor = f;
  }

  /** The member holds fewer unacked deliveries than its prefetch, and its socket is not backed up (R2.5.7). */
  protected hasRoom(m: ConsumerMember): boolean {
    return (this.inflight.get(m)?.size ?? 0) < m.prefetch && (m.ready?.(this.wake) ?? true);
  }

  /**
   * The next new message when it is read already and no redelivery is due (else undefined: ask
   * `nextMessage`): the loop takes a page of messages without waiting on each.
   */
  private nextAhead(): StoredMessage | undefined {
    if (this.due.size > 0) return undefined;
    while (this.ahead.length > 0) {
      const msg = this.ahead.shift()!;
      if (msg.offset < this.next) continue;
      this.next = msg.offset + 1;
      if (this.acked.has(msg.offset) || this.pending.has(msg.offset)) continue;
      return msg;
    }
    return undefined;
  }

  /** The next message to deliver: a due redelivery first, else the next new one. */
  private async nextMessage(): Promise<StoredMessage | undefined> {
    while (this.due.size > 0) {
      // Its `attempts` entry stays while it is read, so an ack meanwhile cannot move the floor past it.
      const offset = this.due.pop()!;
      const [msg] = await this.log.readFrom(offset, 1);
      if (msg?.offset === offset) return msg;
      this.attempts.delete(offset); // trimmed by retention while waiting: nothing left to deliver
      this.advanceFloor();
    }
    for (;;) {
      if (this.ahead.length === 0) {
        if (this.next > this.log.committed) return undefined;
        this.ahead = await this.log.readFrom(this.next, 256);
        if (this.ahead.length === 0) {
          this.next = this.log.committed + 1;
          this.advanceFloor();
          return undefined;
        }
      }
      const msg = this.ahead.shift()!;
      if (msg.offset < this.next) continue;
      this.next = msg.offset + 1;
      if (this.acked.has(msg.offset) || this.pending.has(msg.offset)) continue;
      return msg;
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    let changed = false;
    let work = 0;
    try {
      do {
        this.again = false;
        await this.ready;
        while (!this.closed && this.anyRoom()) {
          // R5.5.10 (I8 row 6): bounded work per turn of the event loop (by count and by the shared time slice), then let I/O in.
          if (++work % BATCH === 0 || sliceOver()) await yieldSlice();
          const msg = this.nextAhead() ?? (await this.nextMessage());
          if (!msg) break;
          const attempt = (this.attempts.get(msg.offset) ?? 0) + 1;
          if (attempt > this.opts.maxDeliver) {
            // Dead letters go out without waiting for each commit (they share store batches: I8 row 6), at most 256 at once.
            const killed = this.kill(msg.offset, msg).catch((err) => this.failed(msg.offset, err));
            if (this.dying.size >= 256) await killed;
            changed = true;
            continue;
          }
          const member = this.pickMember();
          if (!member) {
            // Capacity went while the message was read: put it back where it came from.
            if (this.attempts.has(msg.offset)) this.due.push(msg.offset);
            else {
              this.ahead.unshift(msg);
              this.next = msg.offset;
            }
            break;
          }
          this.attempts.set(msg.offset, attempt);
          if (attempt > 1) this.log.host.stats.redeliveries++;
          changed = true;
          const id = member.deliver(this.log.frameOf(msg), this, msg.offset, attempt);
          this.pending.set(msg.offset, { member, id, deadline: Date.now() + this.opts.ackTimeoutMs });
          this.inflight.get(member)?.set(id, msg.offset);
          this.armExpiry();
        }
      } while (this.again && !this.closed);
    } finally {
      this.pumping = false;
    }
    if (changed) this.save();
  }

  /** Whether some member can take a delivery now. */
  private anyRoom(): boolean {
    for (const m of this.members) if (this.hasRoom(m)) return true;
    return false;
  }

  /** Take back deliveries whose ack timeout passed, BATCH at a time (then yield to I/O), and redeliver them. */
  protected expireDue(): void {
    this.expiryTimer = undefined;
    if (this.closed) return;
    const now = Date.now();
    let n = 0;
    for (const [offset, p] of this.pending) {
      if (p.deadline > now) break;
      if (++n > BATCH) {
        this.expiryTimer = setTimeout(() => this.expireDue(), 0).unref();
        this.notify();
        return;
      }
      if (this.take(offset)) this.due.push(offset);
    }
    if (n > 0) this.notify();
    this.armExpiry();
  }

  /** Persist state; at most one write in flight, coalescing changes made meanwhile. */
  private save(): void {
    if (this.saving || this.dying.size > 0) {
      this.dirty = true;
      return;
    }
    this.saving = true;
    this.savingDone = this.log.host.store
      .putConsumer(this.log.host.name, this.log.room, this.name, this.state())
      .catch(() => undefined)
      .finally(() => {
        this.saving = false;
        if (this.dirty) {
          this.dirty = false;
          this.save();
        }
      });
  }
}
