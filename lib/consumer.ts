/**
 * Consumer: server-tracked delivery over one room's log, for a durable subscription
 * (one client, in order, no attempt limit) or a consumer group (competing members, each
 * message to exactly one, redelivery, dead letters). PROTOCOL.md §5.4 and §5.5.
 */
import type { RequestId } from '../protocol/frames.js';
import type { LogListener, RoomLog } from './log.js';
import type { ConsumerState, StoredMessage } from './store/types.js';

/** A socket receiving deliveries from a consumer. */
export interface ConsumerMember {
  readonly sid: string;
  readonly prefetch: number;
  /** Send one delivery (the encoded event frame, to which the member adds `id` and `attempt`); returns the id the client acks. */
  deliver(frame: string, consumer: Consumer, offset: number, attempt: number): RequestId;
  /** Forget a delivery id (acked elsewhere, redelivered, or the member left). */
  forget(id: RequestId): void;
}

/** Policy of a consumer. */
export interface ConsumerOptions {
  /** Deliveries before a message goes to `<room>.dead` (Infinity for durable subscriptions). */
  maxDeliver: number;
  /** Unacked deliveries are redelivered after this long. */
  ackTimeoutMs: number;
  /** Where a new consumer starts: after this offset (0 = from the earliest held message). */
  startAfter: number;
  /** Where dead letters go: called with the message that ran out of attempts. */
  deadLetter?: (msg: StoredMessage) => Promise<unknown>;
  /** Called when the last member left and nothing is in flight (the namespace may drop it). */
  onIdle?: () => void;
}

interface Pending {
  member: ConsumerMember;
  id: RequestId;
  timer: NodeJS.Timeout;
}

function insertSorted(a: number[], v: number): void {
  let i = a.length;
  while (i > 0 && a[i - 1]! > v) i--;
  if (a[i - 1] !== v) a.splice(i, 0, v);
}

/** One consumer (durable or group) of one room's log. `ready` resolves once its saved state is loaded. */
export class Consumer implements LogListener {
  readonly ready: Promise<void>;
  /** True when no saved state was found (this consumer started at `startAfter`), until the namespace has reported it (R5.4.10). */
  fresh = false;
  private floor = 0;
  private next = 1;
  private readonly acked = new Set<number>();
  private readonly attempts = new Map<number, number>();
  private readonly pending = new Map<number, Pending>();
  private readonly inflight = new Map<ConsumerMember, number>();
  private due: number[] = [];
  private readonly delayed = new Map<number, NodeJS.Timeout>();
  private members: ConsumerMember[] = [];
  private rr = 0;
  private ahead: StoredMessage[] = [];
  private pumping = false;
  private again = false;
  private saving = false;
  private savingDone: Promise<void> = Promise.resolve();
  private dirty = false;
  private closed = false;

  constructor(readonly log: RoomLog, readonly name: string, readonly opts: ConsumerOptions) {
    this.ready = this.load();
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
    this.log.listeners.add(this);
  }

  /** Number of members. */
  get size(): number {
    return this.members.length;
  }

  /** Add a member and start delivering to it. */
  add(member: ConsumerMember): void {
    if (this.members.includes(member)) return;
    this.members.push(member);
    this.inflight.set(member, 0);
    this.notify();
  }

  /** Remove a member: its unacked deliveries go back to be redelivered at once. */
  remove(member: ConsumerMember): void {
    const i = this.members.indexOf(member);
    if (i < 0) return;
    this.members.splice(i, 1);
    this.inflight.delete(member);
    for (const [offset, p] of this.pending) {
      if (p.member !== member) continue;
      clearTimeout(p.timer);
      member.forget(p.id);
      this.pending.delete(offset);
      insertSorted(this.due, offset);
    }
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
    this.pump().catch((err) => this.log.host.report('error', `consumer ${this.name} of room "${this.log.room}" failed`, err));
  }

  /** Stop timers; unacked deliveries stay unacked in the store and are redelivered by the next life. */
  close(): void {
    this.closed = true;
    this.log.listeners.delete(this);
    for (const p of this.pending.values()) clearTimeout(p.timer);
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
    return { floor: this.floor, done: [...this.acked].filter((o) => o > this.floor).sort((a, b) => a - b), attempts };
  }

  private take(offset: number): Pending | undefined {
    const p = this.pending.get(offset);
    if (!p) return undefined;
    clearTimeout(p.timer);
    p.member.forget(p.id);
    this.pending.delete(offset);
    const n = this.inflight.get(p.member);
    if (n !== undefined) this.inflight.set(p.member, n - 1);
    return p;
  }

  private requeue(offset: number, delayMs: number): void {
    if (delayMs > 0) {
      this.delayed.set(offset, setTimeout(() => {
        this.delayed.delete(offset);
        insertSorted(this.due, offset);
        this.notify();
      }, delayMs).unref());
    } else {
      insertSorted(this.due, offset);
    }
    this.notify();
  }

  /** Dead-lettering failed (e.g. the dead room is full under "reject", or the store closed): keep the message, retry later. */
  private failed(offset: number, err: unknown): void {
    this.log.host.report('warn', `could not dead-letter offset ${offset} of room "${this.log.room}"; it stays queued`, err);
    if (!this.closed) this.requeue(offset, Math.min(this.opts.ackTimeoutMs, 5000));
  }

  private async kill(offset: number): Promise<void> {
    const [msg] = await this.log.readFrom(offset, 1);
    if (msg && msg.offset === offset && this.opts.deadLetter) await this.opts.deadLetter(msg);
    this.attempts.delete(offset);
    this.acked.add(offset);
    this.advanceFloor();
    this.save();
    this.notify();
  }

  private advanceFloor(): void {
    let low = this.next;
    for (const o of this.pending.keys()) if (o < low) low = o;
    for (const o of this.delayed.keys()) if (o < low) low = o;
    if (this.due.length && this.due[0]! < low) low = this.due[0]!;
    for (const o of this.attempts.keys()) if (o < low && !this.acked.has(o)) low = o;
    if (low - 1 > this.floor) {
      this.floor = low - 1;
      for (const o of this.acked) if (o <= this.floor) this.acked.delete(o);
    }
  }

  /** The member holds fewer unacked deliveries than its prefetch. */
  private hasRoom(m: ConsumerMember): boolean {
    return (this.inflight.get(m) ?? 0) < m.prefetch;
  }

  private pickMember(): ConsumerMember | undefined {
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

  /** The next message to deliver: a due redelivery first, else the next new one. */
  private async nextMessage(): Promise<StoredMessage | undefined> {
    while (this.due.length > 0) {
      // Leave it in `due` while it is read, so an ack meanwhile cannot move the floor past it.
      const offset = this.due[0]!;
      const [msg] = await this.log.readFrom(offset, 1);
      const at = this.due.indexOf(offset);
      if (at >= 0) this.due.splice(at, 1);
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
    try {
      do {
        this.again = false;
        await this.ready;
        while (!this.closed && this.pickMemberPeek()) {
          const msg = await this.nextMessage();
          if (!msg) break;
          const attempt = (this.attempts.get(msg.offset) ?? 0) + 1;
          if (attempt > this.opts.maxDeliver) {
            await this.kill(msg.offset).catch((err) => this.failed(msg.offset, err));
            changed = true;
            continue;
          }
          const member = this.pickMember();
          if (!member) {
            insertSorted(this.due, msg.offset);
            break;
          }
          this.attempts.set(msg.offset, attempt);
          changed = true;
          const id = member.deliver(this.log.frameOf(msg), this, msg.offset, attempt);
          const timer = setTimeout(() => this.expire(msg.offset), this.opts.ackTimeoutMs).unref();
          this.pending.set(msg.offset, { member, id, timer });
          this.inflight.set(member, (this.inflight.get(member) ?? 0) + 1);
        }
      } while (this.again && !this.closed);
    } finally {
      this.pumping = false;
    }
    if (changed) this.save();
  }

  private pickMemberPeek(): boolean {
    return this.members.some((m) => this.hasRoom(m));
  }

  private expire(offset: number): void {
    if (this.take(offset)) this.requeue(offset, 0);
  }

  /** Persist state; at most one write in flight, coalescing changes made meanwhile. */
  private save(): void {
    if (this.saving) {
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
