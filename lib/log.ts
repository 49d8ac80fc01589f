/**
 * RoomLog: one room's ordered log as the server sees it. It appends through the Store,
 * delivers each committed message live in offset order (encoded once), feeds durable and
 * group consumers, and runs the replay seam: a joiner gets the stored range, then every
 * live message committed after it, with no gap and no duplicate (PROTOCOL.md §5.3).
 */
import { encodeFrame, encodeStoredEvent } from '../protocol/codec.js';
import type { JoinedFrame, RequestId } from '../protocol/frames.js';
import type { Adapter } from './adapter/types.js';
import type { WireStats } from './http/stats.js';
import { planRecovery, type RecoveryRequest } from './replay.js';
import type { AppendExtra, AppendResult, NewMessage, Store, StoredMessage } from './store/types.js';

/** What a log needs from its namespace. */
export interface LogHost {
  readonly name: string;
  readonly adapter: Adapter;
  readonly store: Store;
  /** Counters read by `/metrics`. */
  readonly stats: WireStats;
  /** Log a line (failures the log and its consumers recover from). */
  report(level: 'warn' | 'error', msg: string, err?: unknown): void;
}

/** Something a log can replay to: a socket's view for the seam. */
export interface ReplayTarget {
  readonly id: string;
  sendText(frame: string, type?: 'joined'): void;
  /** Resolves when the socket's send buffer has drained below its high-water mark. */
  drain(): Promise<void>;
  /** False once the socket left the room, joined it again, or disconnected. */
  current(): boolean;
}

/** A consumer the log wakes when messages commit. */
export interface LogListener {
  notify(): void;
}

const RECENT = 4096;
/** Most bytes of encoded frames the recent cache holds per room. */
const RECENT_BYTES = 4 * 1024 * 1024;
const PAGE = 1000;
/** The first replay page is small; later pages hold about PAGE_BYTES of frames (large messages: fewer per page). */
const FIRST_PAGE = 100;
const PAGE_BYTES = 1 << 20;
/** A replay waits for the socket to drain after about this many bytes (so a paused reader holds ~1 MiB, not a page: I8 row 4). */
const DRAIN_EVERY = 256 * 1024;
/** Live frames buffered for one joiner during its replay; past this the buffer is dropped and the replay reads them from the store. */
const JOINER_BUFFER_BYTES = 4 * 1024 * 1024;
/** Commits held behind a hole at most; past this the oldest are delivered even though an earlier append is still unsettled. */
const HELD_MAX = 10_000;
/** Bytes the recent caches of all rooms together hold at most (a room over it starts its cache afresh): I8 row 5. */
const CACHE_BUDGET = 64 * 1024 * 1024;
let cachedBytes = 0;
const EMPTY: ReadonlySet<string> = new Set();

interface Recent {
  msg: StoredMessage;
  frame: string;
}

interface Held {
  msg: StoredMessage;
  echo: boolean;
  json: string;
  /** Sequence number of the append that committed it. */
  seq: number;
}

interface Joiner {
  sid: string;
  buffer: string[];
  bytes: number;
  /** The buffer passed JOINER_BUFFER_BYTES and was dropped: the replay reads on from the store. */
  overflow: boolean;
}

/** One room's log. Built by the namespace on first use; `ready` resolves once its position is loaded. */
export class RoomLog {
  epoch = '';
  /** Last offset delivered live (committed by the store and fanned out). */
  committed = 0;
  readonly ready: Promise<void>;
  readonly listeners = new Set<LogListener>();
  private loaded = false;
  private readonly roomSet: ReadonlySet<string>;
  private readonly held = new Map<number, Held>();
  /** Appends started (each gets the next number) and those not settled yet, in start order. */
  private seq = 0;
  private readonly unsettled = new Set<number>();
  private readonly joiners = new Set<Joiner>();
  /** Recent committed messages with their encoded frames, a ring indexed by offset; grows from 16 to RECENT slots. */
  private recent: (Recent | undefined)[] = [];
  private recentBytes = 0;
  /** Appends and joins under way. */
  private busy = 0;
  /** When the namespace's sweep first saw this log idle (0: not idle). */
  idleSince = 0;

  constructor(
    readonly host: LogHost,
    readonly room: string,
  ) {
    this.roomSet = new Set([room]);
    this.ready = this.load();
  }

  private async load(): Promise<void> {
    const p = await this.host.store.position(this.host.name, this.room);
    this.epoch = p.epoch;
    this.committed = p.last;
    this.loaded = true;
  }

  /**
   * Store a message and, once committed, deliver it live. Resolves with the store's result
   * (after the commit). `echo` also delivers it to the sender.
   */
  append(msg: NewMessage, echo = false, extra?: AppendExtra): Promise<AppendResult> {
    return this.busyWith(() => this.appendNow(msg, echo, extra));
  }

  /** Count work under way (an idle log may be dropped by its namespace only when there is none). */
  private async busyWith<T>(work: () => Promise<T>): Promise<T> {
    this.busy++;
    try {
      return await work();
    } finally {
      this.busy--;
    }
  }

  private async appendNow(msg: NewMessage, echo: boolean, extra?: AppendExtra): Promise<AppendResult> {
    if (!this.loaded) await this.ready;
    const json = JSON.stringify(msg.data ?? null); // once: for the store's size and for the frame
    const seq = ++this.seq;
    this.unsettled.add(seq);
    try {
      // The store keeps this JSON text as it is (a replay is the same JSON as the live copy); `extra` may carry a consumer state to commit with it.
      const t0 = performance.now();
      const r = await this.host.store.append(this.host.name, this.room, msg, json.length + msg.event.length, { ...extra, json });
      this.host.stats.commitObserved((performance.now() - t0) / 1000);
      if (r.epoch !== this.epoch) {
        // The store forgot this room while it was idle (StoreOptions.idleRoomTtlMs) and began a new log: follow it.
        this.epoch = r.epoch;
        this.committed = r.offset - 1;
      }
      if (!r.duplicate) this.onCommitted({ ...msg, offset: r.offset }, echo, json, seq);
      return r;
    } finally {
      this.unsettled.delete(seq);
      if (this.held.size > 0) this.releaseSettled();
    }
  }

  /** The encoded live `event` frame of a message (cached for recent offsets). */
  frameOf(msg: StoredMessage): string {
    const slot = this.slot(msg.offset);
    if (slot?.msg.offset === msg.offset) return slot.frame;
    return this.encode(msg, false);
  }

  /** Messages with offset >= from, up to the committed offset: from the recent cache when it has them. */
  async readFrom(from: number, limit: number): Promise<StoredMessage[]> {
    // Retention may have trimmed messages that are still cached: never hand out what the store no longer holds.
    from = Math.max(from, (await this.host.store.position(this.host.name, this.room)).first);
    const out: StoredMessage[] = [];
    for (let o = from; o <= this.committed && out.length < limit; o++) {
      const slot = this.slot(o);
      if (slot?.msg.offset !== o) break;
      out.push(slot.msg);
    }
    if (out.length > 0 || from > this.committed) return out;
    const page = await this.host.store.read(this.host.name, this.room, from, limit);
    return page.filter((m) => m.offset <= this.committed);
  }

  /**
   * Join a socket to this room's live fan-out, replaying first when asked.
   * Sends `joined` (built by `joinedFrame`), the replayed events, the live events that
   * committed during the replay, and only then adds the socket to the adapter's room.
   */
  join(target: ReplayTarget, req: RecoveryRequest, id: RequestId | undefined, extra?: Partial<JoinedFrame>): Promise<void> {
    return this.busyWith(() => this.joinNow(target, req, id, extra));
  }

  /**
   * True when nothing uses this log: no append or join under way, no consumer, no held commit,
   * and nobody in the live room. The namespace drops idle logs (their state is in the store).
   */
  idle(): boolean {
    return this.busy === 0 && this.listeners.size === 0 && this.held.size === 0 && !this.host.adapter.roomMembers(this.room)?.size;
  }

  /** The namespace dropped this (idle) log: give its cached frames back to the shared budget. */
  dispose(): void {
    cachedBytes -= this.recentBytes;
    this.recentBytes = 0;
    this.recent = [];
  }

  private async joinNow(target: ReplayTarget, req: RecoveryRequest, id: RequestId | undefined, extra?: Partial<JoinedFrame>): Promise<void> {
    if (!this.loaded) await this.ready;
    const first = req.since === undefined ? 1 : (await this.host.store.position(this.host.name, this.room)).first;
    // From here to the joiner registration everything is synchronous: no commit can slip between.
    const plan = planRecovery(req, { epoch: this.epoch, first, last: this.committed });
    const joined: JoinedFrame = { type: 'joined', ns: this.host.name, room: this.room, epoch: this.epoch, offset: this.committed, recovered: plan.recovered, ...extra };
    if (id !== undefined) joined.id = id;
    if (plan.range) joined.replay = plan.range;
    if (plan.gap) joined.gap = plan.gap;
    // Answered even when a later frame already replaced this subscription: every request gets a reply.
    target.sendText(encodeFrame(joined), 'joined');
    if (!target.current()) return;
    if (!plan.range) {
      this.host.adapter.addAll(target.id, this.roomSet);
      return;
    }
    // A socket already in the live room (e.g. `socket.join` by the application) would get live
    // frames twice, and ahead of the replay: take it out until the replay is done.
    this.host.adapter.del(target.id, this.room);
    const joiner: Joiner = { sid: target.id, buffer: [], bytes: 0, overflow: false };
    this.joiners.add(joiner);
    try {
      let from = plan.range.from;
      let to = plan.range.to;
      let limit = FIRST_PAGE;
      for (;;) {
        while (from <= to && target.current()) {
          const page = await this.host.store.read(this.host.name, this.room, from, Math.min(limit, to - from + 1));
          if (page.length === 0 || !target.current()) break;
          // R2.5.7: bounded by bytes, not by page: a paused reader stops the replay after ~DRAIN_EVERY queued.
          let bytes = 0;
          let sent = 0;
          for (const m of page) {
            if (m.offset > to) break;
            const f = this.encode(m, true);
            target.sendText(f);
            this.host.stats.replayed++;
            bytes += f.length;
            if ((sent += f.length) >= DRAIN_EVERY) {
              sent = 0;
              await target.drain();
              if (!target.current()) return;
            }
          }
          from = page[page.length - 1]!.offset + 1;
          limit = Math.max(1, Math.min(PAGE, Math.floor((PAGE_BYTES * page.length) / Math.max(1, bytes))));
          await target.drain();
        }
        if (!target.current() || !joiner.overflow) break;
        // The live frames committed meanwhile overflowed the joiner's buffer: read them from the store instead.
        joiner.overflow = false;
        from = Math.max(from, to + 1);
        to = this.committed;
      }
      if (!target.current()) return;
      for (const f of joiner.buffer) target.sendText(f);
      this.host.adapter.addAll(target.id, this.roomSet);
    } finally {
      this.joiners.delete(joiner);
    }
  }

  private encode(m: StoredMessage, replay: boolean, json = JSON.stringify(m.data ?? null)): string {
    return encodeStoredEvent({ ns: this.host.name, room: this.room, event: m.event, offset: m.offset, epoch: this.epoch, from: m.from, ts: m.ts, replay }, json);
  }

  private slot(offset: number): Recent | undefined {
    const n = this.recent.length;
    return n === 0 ? undefined : this.recent[offset % n];
  }

  private remember(r: Recent): void {
    // Bounded by bytes too: large messages must not pin hundreds of MiB that retention already let go.
    this.recentBytes += r.frame.length;
    cachedBytes += r.frame.length;
    if (this.recentBytes > RECENT_BYTES || cachedBytes > CACHE_BUDGET) {
      cachedBytes -= this.recentBytes - r.frame.length;
      this.recent = [];
      this.recentBytes = r.frame.length;
    }
    const n = this.recent.length;
    if (n < RECENT && (n === 0 || this.recent[r.msg.offset % n] !== undefined)) {
      const grown: (Recent | undefined)[] = new Array(Math.min(RECENT, Math.max(16, n * 2)));
      for (const old of this.recent) if (old) grown[old.msg.offset % grown.length] = old;
      this.recent = grown;
    }
    const slot = r.msg.offset % this.recent.length;
    const old = this.recent[slot];
    if (old) {
      this.recentBytes -= old.frame.length;
      cachedBytes -= old.frame.length;
    }
    this.recent[slot] = r;
  }

  private onCommitted(msg: StoredMessage, echo: boolean, json: string, seq: number): void {
    if (msg.offset <= this.committed) return;
    if (msg.offset !== this.committed + 1) {
      // R5.2.4 (I7 #14): an earlier append has not resolved yet. Hold this one until every append
      // started before it has settled (it may fill the hole), however long that takes: a timed
      // release delivered past the hole and then dropped the late commit from live delivery.
      this.held.set(msg.offset, { msg, echo, json, seq });
      if (this.held.size > HELD_MAX) this.releaseSettled(true);
      return;
    }
    this.deliver(msg, echo, json);
    this.drainHeld();
  }

  private drainHeld(): void {
    let h: Held | undefined;
    while ((h = this.held.get(this.committed + 1))) {
      this.held.delete(this.committed + 1);
      this.deliver(h.msg, h.echo, h.json);
    }
  }

  /**
   * Deliver held commits past a hole that can no longer be filled: every append started before
   * the held one has settled (the missing offset's append failed, or it was a duplicate). With
   * `force` (too many held), the oldest goes anyway.
   */
  private releaseSettled(force = false): void {
    this.drainHeld();
    while (this.held.size > 0) {
      let o = Infinity;
      for (const k of this.held.keys()) if (k < o) o = k;
      const h = this.held.get(o)!;
      const [oldest] = this.unsettled;
      if (!force && oldest !== undefined && oldest < h.seq) return;
      if (force) this.host.report('warn', `room "${this.room}": ${this.held.size} commits held behind offset ${this.committed + 1}, which has not committed; delivering past it`);
      force = false;
      this.held.delete(o);
      this.deliver(h.msg, h.echo, h.json);
      this.drainHeld();
    }
  }

  private deliver(msg: StoredMessage, echo: boolean, json: string): void {
    this.committed = msg.offset;
    const frame = this.encode(msg, false, json);
    this.remember({ msg, frame });
    const skip = echo || msg.from === undefined ? undefined : msg.from;
    for (const j of this.joiners) {
      if (j.sid === skip || j.overflow) continue;
      if ((j.bytes += frame.length) > JOINER_BUFFER_BYTES) {
        j.overflow = true;
        j.buffer = [];
        j.bytes = 0;
      } else j.buffer.push(frame);
    }
    this.host.stats.fanout(this.host.adapter.broadcast(frame, { rooms: this.roomSet, except: skip === undefined ? EMPTY : new Set([skip]), flags: {} }), frame.length);
    for (const l of this.listeners) l.notify();
  }
}
