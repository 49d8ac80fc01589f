/**
 * SharedGroup: a consumer group (PROTOCOL.md §5.5) whose progress lives in the Redis Streams
 * consumer group of the room's stream (lib/store/redis-groups.ts), so members on different
 * nodes get each message once (issue 9 item 5, decision 5). The same surface as `Consumer`
 * towards subscriptions, members, connections and the ack handler (`ConsumerHandle`).
 *
 * This node is one Streams consumer of the group (named by its `nodeId`); its member sockets
 * share it, in turn, each up to its `prefetch` (R5.5.2, R5.4.5) and only while its socket is not
 * backed up (R2.5.7). What it holds:
 * - `pending`: deliveries sent to a member and not acked yet. Each is also pending in Redis on
 *   this node's consumer with the delivery count it was sent with (its `attempt`).
 * - nothing else of the group's progress: a restart, or another node, continues from Redis.
 *
 * Redelivery (R5.5.3): a delivery not acked within `ackTimeoutMs` is taken back here (its id becomes
 * unknown) and, being idle that long in Redis, claimed by the next `take` of any node (XAUTOCLAIM),
 * with the delivery count + 1 as its attempt; so are a dead node's entries. A nack or a leaving
 * member releases the entry at once (or after `delayMs`). Every node sweeps every `sweepMs` while it
 * has members, so entries released elsewhere, left by a dead node, or published on another node
 * reach it even without a wake-up. A message due again after `maxDeliver` attempts is dead-lettered
 * to `$dead:<room>` and acked in one store step (R5.5.4, R5.5.9: `AppendExtra.groupAck`).
 *
 * Differences from `Consumer` (one node), all within PROTOCOL.md §5.5:
 * - "members in turn" (R5.5.2) holds among one node's members; across nodes, whichever node asks
 *   Redis first takes the next entries (each node asks for its members' free prefetch only);
 * - a release (member left, nack, shutdown) reaches this node's other members at once and other
 *   nodes' members within their sweep (≤ 1 s by default);
 * - `state()` gives the floor only (Redis holds which entries above it are acked);
 * - a nack's `delayMs` longer than `ackTimeoutMs` is kept by this node (keep-alive); if the node
 *   dies meanwhile the message is redelivered after `ackTimeoutMs`, earlier than asked.
 *
 * Caps: `pending` and the per-member maps hold at most the members' prefetch (≤ 10,000 each);
 * queued acks and releases at most that, written every turn of the event loop; long nack delays
 * `MAX_LONG_DELAYS`; wake-up timers `MAX_TIMERS`; dead letters in flight `MAX_DYING` (from
 * takes; `nack` with `requeue: false` adds one per delivery it ends); one `take` `MAX_TAKE` entries.
 */
import { DEAD_ROOM_PREFIX, deadLetterRoom } from '../protocol/frames.js';
import { type ConsumerHandle, type ConsumerMember, MemberDeliveries, type PendingDelivery } from './consumer.js';
import type { LogListener, RoomLog } from './log.js';
import { decodeStreamEntry, RedisStore, redisKeys } from './store/redis.js';
import { type GroupStream, type Held, MAX_TAKE, RedisGroupOps, type Taken } from './store/redis-groups.js';
import type { ConsumerState, Store, StoredMessage } from './store/types.js';

/** Wake-up timers (nacks with a delay) one group holds at once; past it a nack's wake-up is left to the sweep. */
const MAX_TIMERS = 10_000;
/** Longest sweep interval (ms): the most a message released or published elsewhere waits for this node when nothing wakes it. */
export const MAX_SWEEP_MS = 1000;
/** Shortest sweep interval (ms). */
const MIN_SWEEP_MS = 20;
/**
 * Nacks with a `delayMs` of at least `ackTimeoutMs` that one group holds on this node (kept from other
 * nodes by a keep-alive until their delay is nearly over). Past it, such a nack is released with the
 * longest delay Redis can hold for it (`ackTimeoutMs`).
 */
export const MAX_LONG_DELAYS = 10_000;
/** Dead letters one group has in flight at once (more wait for one to finish). */
const MAX_DYING = 256;
/** Added to a wake-up for an entry becoming claimable (Redis counts idle time in whole ms). */
const CLOCK_MARGIN_MS = 2;
/** XAUTOCLAIM scans one pump makes past an empty answer before it waits for the next wake-up or sweep. */
const MAX_EMPTY_SCANS = 8;

/** Policy of a shared group (as `ConsumerOptions`, plus where it lives in Redis). */
export interface SharedGroupOptions {
  /** Deliveries before a message goes to `$dead:<room>` (R5.5.4). */
  maxDeliver: number;
  /** Unacked deliveries are taken back and become due after this long (R5.5.3). */
  ackTimeoutMs: number;
  /** Where a new group starts: after this offset (0 = the earliest held message), R5.5.1. */
  startAfter: number;
  /** The room's stream in Redis (from the shared store). */
  stream: GroupStream;
  /** This node's Streams consumer name (its nodeId). */
  node: string;
  /** Clock for the dead letters' `ts`. */
  now: () => number;
  /** How often this node looks for due and new entries without a wake-up (default: ackTimeoutMs / 4, within 20 ms – 1 s). */
  sweepMs?: number;
  /** Called when the last member left and nothing is in flight (the namespace may drop it). */
  onIdle?: () => void;
}

interface Pending extends PendingDelivery {
  attempt: number;
}

interface LongDelay {
  attempt: number;
  /** When it is due (Date.now() ms). */
  until: number;
  /** Last keep-alive (Date.now() ms). */
  touched: number;
}

type Release = Held & { afterMs: number; uncount?: boolean };

/** One group of one room on a shared store, as seen from this node. `ready` resolves once the Redis group exists. */
export class SharedGroup extends MemberDeliveries<Pending> implements LogListener, ConsumerHandle {
  readonly ready: Promise<void>;
  /** True when this node created the group (it started at `startAfter`), until the namespace has reported it (R5.4.10). */
  fresh = false;
  private floor = 0;
  private readonly ops: RedisGroupOps;
  private readonly longDelays = new Map<number, LongDelay>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly sweepMs: number;
  private readonly wake = (): void => this.notify();
  /** Acks and releases queued for the next write (one script each, batched). */
  private acks: Held[] = [];
  private releases: Release[] = [];
  private writing: Promise<void> = Promise.resolve();
  private writeQueued = false;
  private dying = 0;
  private readonly dyingDone = new Set<Promise<void>>();
  private pumping = false;
  /** The last pump failed (Redis away); reported once until one succeeds. */
  private failing = false;
  private again = false;

  constructor(
    readonly log: RoomLog,
    readonly name: string,
    readonly opts: SharedGroupOptions,
  ) {
    super();
    this.ops = new RedisGroupOps(opts.stream, name, opts.node);
    this.sweepMs = opts.sweepMs ?? Math.min(MAX_SWEEP_MS, Math.max(MIN_SWEEP_MS, Math.floor(opts.ackTimeoutMs / 4)));
    // Listening from the start: a log with a listener is not idle, so it cannot be dropped meanwhile.
    this.log.listeners.add(this);
    this.ready = this.load();
    // Redis away at the first join: that join fails (unavailable); this group goes, so the next join tries again.
    this.ready.catch(() => {
      this.close();
      this.opts.onIdle?.();
    });
  }

  private async load(): Promise<void> {
    // The log's meta must exist before the group's stream does (a stream without it is from an earlier life).
    await this.log.ready;
    const p = await this.ops.ensure(this.opts.startAfter);
    this.fresh = p.fresh;
    this.floor = p.floor;
  }

  /** @internal Messages committed to the room and not yet done by the group, as far as this node knows (`committed - floor`). */
  get lag(): number {
    return Math.max(0, this.log.committed - this.floor);
  }

  protected override afterAdd(): void {
    this.armSweep();
    this.notify();
  }

  /** A leaving member's unacked delivery is released at once, to this node's other members or any node's (R5.5.3). */
  protected takenBack(offset: number, p: Pending): void {
    this.queueRelease({ offset, attempt: p.attempt, afterMs: 0 });
  }

  protected afterRemove(): void {
    if (this.members.length === 0) this.stopSweep();
    this.idleCheck();
    this.notify();
  }

  /** The member acked this delivery (R5.4.3). */
  ack(offset: number): void {
    const p = this.take(offset);
    if (!p) return;
    this.acks.push({ offset, attempt: p.attempt });
    this.scheduleWrite();
    this.notify();
  }

  /** The member refused this delivery: due again after `delayMs` (R4.7), or dead-lettered at once when `requeue` is false (R5.5.4). */
  nack(offset: number, requeue = true, delayMs = 0): void {
    const p = this.take(offset);
    if (!p) return;
    if (!requeue) {
      this.startKill(offset, p.attempt);
    } else if (delayMs < this.opts.ackTimeoutMs) {
      this.queueRelease({ offset, attempt: p.attempt, afterMs: delayMs });
      // The entry's idle clock starts when the release is written: look again once it is claimable.
      if (delayMs > 0) void this.flushWrites().then(() => this.later(delayMs + CLOCK_MARGIN_MS));
    } else if (this.longDelays.size < MAX_LONG_DELAYS) {
      // Redis can make an entry claimable at most ackTimeoutMs from now: keep it (alive) until then.
      const now = Date.now();
      this.longDelays.set(offset, { attempt: p.attempt, until: now + delayMs, touched: now });
      this.armSweep();
    } else {
      this.queueRelease({ offset, attempt: p.attempt, afterMs: this.opts.ackTimeoutMs });
      void this.flushWrites().then(() => this.later(this.opts.ackTimeoutMs + CLOCK_MARGIN_MS));
    }
    this.notify();
  }

  /** Wake the delivery loop (new messages, freed capacity). */
  notify(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pump().then(
      () => {
        if (!this.failing) return;
        this.failing = false;
        this.log.host.report('warn', `group ${this.name} of room "${this.log.room}" reads from Redis again`);
      },
      (err) => {
        // Redis away: said once per outage; the sweep (or the next wake-up) tries again.
        if (this.failing) return;
        this.failing = true;
        this.log.host.report('warn', `group ${this.name} of room "${this.log.room}" cannot read from Redis; retrying every ${this.sweepMs} ms while it has members`, err);
      },
    );
  }

  /**
   * Stop: timers end, and what this node's members hold goes back to the group at once (released
   * in Redis), so another node delivers it without waiting for the ack timeout. `flushed` waits for that.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.log.listeners.delete(this);
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.stopSweep();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const [offset, p] of this.pending) {
      p.member.forget(p.id);
      this.queueRelease({ offset, attempt: p.attempt, afterMs: 0 });
    }
    this.pending.clear();
    for (const [offset, d] of this.longDelays) this.queueRelease({ offset, attempt: d.attempt, afterMs: Math.min(this.opts.ackTimeoutMs, d.until - Date.now()) });
    this.longDelays.clear();
  }

  /** Resolves once every ack, release and dead letter made so far is committed to Redis. */
  async flushed(): Promise<void> {
    for (;;) {
      if (this.acks.length > 0 || this.releases.length > 0) await this.flushWrites();
      await this.writing;
      if (this.dyingDone.size > 0) await Promise.all(this.dyingDone);
      if (this.acks.length === 0 && this.releases.length === 0 && this.dyingDone.size === 0) return;
    }
  }

  /**
   * The group's progress as this node last read it from Redis: `floor` is below the lowest entry
   * pending on any node (else the last delivered); the offsets acked above it are not listed.
   */
  state(): ConsumerState {
    return { floor: this.floor, done: [], attempts: {} };
  }

  private take(offset: number): Pending | undefined {
    const p = this.pending.get(offset);
    if (!p) return undefined;
    p.member.forget(p.id);
    this.pending.delete(offset);
    this.inflight.get(p.member)?.delete(p.id);
    this.idleCheck();
    return p;
  }

  private idleCheck(): void {
    if (this.members.length === 0 && this.pending.size === 0 && this.longDelays.size === 0) this.opts.onIdle?.();
  }

  /** Wake up after `ms` and scan from the start (an entry becomes claimable then). */
  private later(ms: number): void {
    if (this.closed || this.timers.size >= MAX_TIMERS) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.ops.rewind();
      this.notify();
    }, ms).unref();
    this.timers.add(t);
  }

  private queueRelease(r: Release): void {
    this.releases.push(r);
    this.ops.rewind();
    this.scheduleWrite();
  }

  private scheduleWrite(): void {
    if (this.writeQueued) return;
    this.writeQueued = true;
    setImmediate(() => {
      this.writeQueued = false;
      void this.flushWrites();
    });
  }

  /** Send the queued acks and releases (one script call each), after the writes before them. */
  private flushWrites(): Promise<void> {
    const acks = this.acks;
    const releases = this.releases;
    if (acks.length === 0 && releases.length === 0) return this.writing;
    this.acks = [];
    this.releases = [];
    const run = async (): Promise<void> => {
      try {
        await Promise.all([this.ops.ack(acks), this.ops.release(releases, this.opts.ackTimeoutMs)]);
      } catch (err) {
        // Not lost: unacked entries are redelivered after the ack timeout (at least once, R5.4.8).
        this.log.host.report('warn', `group ${this.name} of room "${this.log.room}": ${acks.length} acks and ${releases.length} releases not written to Redis`, err);
      }
    };
    this.writing = this.writing.then(run);
    return this.writing;
  }

  /** The member holds fewer unacked deliveries than its prefetch, and its socket is not backed up (R2.5.7). */
  private roomOf(m: ConsumerMember): number {
    const free = m.prefetch - (this.inflight.get(m)?.size ?? 0);
    if (free <= 0) return 0;
    return (m.ready?.(this.wake) ?? true) ? free : 0;
  }

  private capacity(): number {
    let n = 0;
    for (const m of this.members) {
      n += this.roomOf(m);
      if (n >= MAX_TAKE) return MAX_TAKE;
    }
    return n;
  }

  protected hasRoom(m: ConsumerMember): boolean {
    return this.roomOf(m) > 0;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.again = false;
        await this.ready;
        let empty = 0;
        while (!this.closed) {
          const want = this.capacity();
          if (want === 0) break;
          await this.flushWrites(); // releases first, so this take can claim them
          const r = await this.ops.take(want, this.opts.ackTimeoutMs);
          if (r.missing) {
            await this.recreate();
            continue;
          }
          if (r.undecodable > 0)
            this.log.host.report('warn', `group ${this.name} of room "${this.log.room}": ${r.undecodable} stream entries could not be read; they stay pending`);
          const got = r.due.length + r.fresh.length;
          this.deliverAll(r.due);
          this.deliverAll(r.fresh);
          if (got < want && this.ops.scannedAll) break;
          if (got === 0 && ++empty >= MAX_EMPTY_SCANS) break;
          if (this.dying >= MAX_DYING) await Promise.race(this.dyingDone);
        }
      } while (this.again && !this.closed);
    } finally {
      this.pumping = false;
    }
  }

  /** Redis lost the group (restarted without persistence, or the room's log was removed): the log is read again (a new epoch), then the group is made from its start. */
  private async recreate(): Promise<void> {
    await this.log.host.store.position(this.log.host.name, this.log.room);
    const p = await this.ops.ensure(0);
    this.floor = p.floor;
    this.log.host.report('warn', `group ${this.name} of room "${this.log.room}" was missing in Redis (Redis restarted without its data?); made again from the log's start`);
  }

  /** Send taken entries to members in turn; past `maxDeliver` they are dead-lettered; what no member can take now goes back uncounted. */
  private deliverAll(list: Taken[]): void {
    let back: Release[] | undefined;
    for (const t of list) {
      const offset = t.msg.offset;
      if (this.closed) {
        (back ??= []).push({ offset, attempt: t.attempt, afterMs: 0, uncount: true });
        continue;
      }
      if (t.attempt > this.opts.maxDeliver) {
        this.startKill(offset, t.attempt, t.msg);
        continue;
      }
      // Claimed again while a member here still holds it (Redis counted the ack timeout a moment before this node's
      // timer did): that delivery is taken back first, so its id becomes unknown and its prefetch slot frees.
      if (this.pending.has(offset)) this.take(offset);
      const member = this.pickMember();
      if (!member) {
        (back ??= []).push({ offset, attempt: t.attempt, afterMs: 0, uncount: true });
        continue;
      }
      if (t.attempt > 1) this.log.host.stats.redeliveries++;
      const id = member.deliver(this.log.frameOf(t.msg), this, offset, t.attempt);
      this.pending.set(offset, { member, id, attempt: t.attempt, deadline: Date.now() + this.opts.ackTimeoutMs });
      this.inflight.get(member)?.set(id, offset);
      this.armExpiry();
    }
    if (back) for (const r of back) this.queueRelease(r);
  }

  private startKill(offset: number, attempt: number, known?: StoredMessage): void {
    this.dying++;
    const done: Promise<void> = this.kill(offset, attempt, known)
      .catch((err) => {
        // Still pending in Redis: due again after the ack timeout, and dead-lettered then (R5.5.9).
        this.log.host.report('warn', `could not dead-letter offset ${offset} of room "${this.log.room}"; it stays pending`, err);
      })
      .finally(() => {
        this.dying--;
        this.dyingDone.delete(done);
        this.notify();
      });
    this.dyingDone.add(done);
  }

  /**
   * R5.5.4, R5.5.9: append the message to `$dead:<room>` and ack it in the group in one store
   * step, guarded (nothing happens if this node no longer holds it with that attempt). A dead-letter
   * room's own groups do not dead-letter again: the message counts as done (acked) and stays in that log.
   */
  private async kill(offset: number, attempt: number, known?: StoredMessage): Promise<void> {
    const held = [{ offset, attempt }];
    const room = this.log.room;
    if (room.startsWith(DEAD_ROOM_PREFIX)) {
      await this.ops.ack(held);
      return;
    }
    const { store, name: ns } = this.log.host;
    const msg = known ?? (await store.read(ns, room, offset, 1)).find((m) => m.offset === offset);
    if (!msg) {
      await this.ops.ack(held); // trimmed by retention meanwhile: nothing left to dead-letter
      return;
    }
    const data = msg.data ?? null;
    const json = JSON.stringify(data);
    const r = await store.append(
      ns,
      deadLetterRoom(room),
      { event: msg.event, data, ts: this.opts.now(), ...(msg.from ? { from: msg.from } : {}) },
      json.length + msg.event.length,
      { json, groupAck: { room, group: this.name, consumer: this.opts.node, offset, attempt } },
    );
    if (!r.stale) this.log.host.stats.deadLettered++;
  }

  /** Take back deliveries whose ack timeout passed (R5.5.3: their ids become unknown); the next take claims them (attempt + 1). */
  protected expireDue(): void {
    this.expiryTimer = undefined;
    if (this.closed) return;
    const now = Date.now();
    let n = 0;
    for (const [offset, p] of this.pending) {
      if (p.deadline > now) break;
      this.take(offset);
      n++;
    }
    if (n > 0) {
      this.ops.rewind();
      this.notify();
    }
    this.armExpiry();
  }

  private armSweep(): void {
    if (this.sweepTimer || this.closed) return;
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepMs).unref();
  }

  private stopSweep(): void {
    if (this.longDelays.size > 0) return;
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** Every sweepMs: keep long-delayed nacks from other nodes, release those nearly due, read the progress, look for work. */
  private sweep(): void {
    if (this.closed) return;
    const now = Date.now();
    const touch: Held[] = [];
    for (const [offset, d] of this.longDelays) {
      const left = d.until - now;
      if (left < this.opts.ackTimeoutMs) {
        this.longDelays.delete(offset);
        this.queueRelease({ offset, attempt: d.attempt, afterMs: Math.max(0, left) });
        void this.flushWrites().then(() => this.later(Math.max(0, left) + CLOCK_MARGIN_MS));
      } else if (now - d.touched >= this.opts.ackTimeoutMs / 2) {
        d.touched = now;
        touch.push({ offset, attempt: d.attempt });
      }
    }
    if (touch.length > 0)
      this.writing = this.writing.then(() =>
        this.ops.touch(touch).then(
          () => undefined,
          () => undefined,
        ),
      );
    if (this.members.length === 0) {
      this.stopSweep();
      this.idleCheck();
      return;
    }
    this.ops.progress().then(
      (p) => {
        if (!p.missing) this.floor = p.floor;
      },
      () => undefined,
    );
    this.notify();
  }
}

/** The stream of a room's groups when `store` is the Redis store (else undefined: groups stay on this node, lib/consumer.ts). */
export function groupStreamOf(store: Store, ns: string, room: string): GroupStream | undefined {
  if (!(store instanceof RedisStore)) return undefined;
  return { redis: store.redis, key: redisKeys(store.prefix, ns, room).stream, decode: decodeStreamEntry };
}
