/**
 * RoomLog: one room's ordered log as the server sees it. It appends through the Store,
 * delivers each committed message live in offset order (encoded once), feeds durable and
 * group consumers, and runs the replay seam: a joiner gets the stored range, then every
 * live message committed after it, with no gap and no duplicate (PROTOCOL.md §5.3).
 */
import { encodeFrame, encodeStoredEvent, replayEncoder } from '../protocol/codec.js';
import type { JoinedFrame, RequestId } from '../protocol/frames.js';
import type { Adapter } from './adapter/types.js';
import type { WireStats } from './http/stats.js';
import { planRecovery, type RecoveryRequest, ReplayBytes } from './replay.js';
import { type AppendExtra, type AppendResult, type LiveMessage, type NewMessage, type Store, type StoredMessage, type StoreWatch, StoreUnavailableError } from './store/types.js';
import type { StoredJson } from './store/types.js';

/** What a log needs from its namespace. */
export interface LogHost {
  readonly name: string;
  readonly adapter: Adapter;
  readonly store: Store;
  /** Counters read by `/metrics`. */
  readonly stats: WireStats;
  /** Log a line (failures the log and its consumers recover from). */
  report(level: 'warn' | 'error', msg: string, err?: unknown): void;
  /** Connection state recovery, when on: live fan-outs are kept for sessions away (lib/recovery.ts). */
  readonly recovery?: { capture(ns: string, frame: string, rooms: ReadonlySet<string>, except: ReadonlySet<string>): void } | undefined;
}

/** Something a log can replay to: a socket's view for the seam. */
export interface ReplayTarget {
  readonly id: string;
  sendText(frame: string, type?: 'joined'): void;
  /** Optional: send `event` frames in order, as `sendText` of each would (a replay's frames in one write). */
  sendEvents?(frames: readonly string[]): void;
  /** Optional: send `frames` `event` frames built as WebSocket frames in `buf` (`Connection.sendEventBytes`); false when it can't, nothing sent. */
  sendEventBytes?(buf: Buffer, frames: number, chars: number): boolean;
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
/** A replay page built as bytes holds at most this many messages (and DRAIN_EVERY bytes of frames). */
const RAW_PAGE = 4096;
/** Live frames buffered for one joiner during its replay; past this the buffer is dropped and the replay reads them from the store. */
const JOINER_BUFFER_BYTES = 4 * 1024 * 1024;
/** Commits held behind a hole at most; past this the oldest are delivered even though an earlier append is still unsettled. */
const HELD_MAX = 10_000;
/** R5.8.1: a store that says it is durable resolved an append as held in memory only: that is no ground for an ack. */
const NOT_SYNCED = 'the store says it is durable but resolved an append as held in memory only (AppendResult.durability "memory"), so it is not acknowledged as stored';
/** Bytes the recent caches of all rooms together hold at most (a room over it starts its cache afresh): I8 row 5. */
const CACHE_BUDGET = 64 * 1024 * 1024;
let cachedBytes = 0;
const EMPTY: ReadonlySet<string> = new Set();
/** Flags of a log's live fan-out: on a shared store every node delivers to its own members only (decision 3). */
const ALL_NODES = {};
const THIS_NODE = { local: true };
/** Shared store: feed messages that arrived ahead of `committed + 1` (or before the position loaded) held at most; past it the rest is read from the store. */
const FEED_AHEAD_MAX = 10_000;
/** Shared store: how long an append waits for its own message on the feed before it reads it from the store. */
const FEED_WAIT_MS = 250;
/** Shared store: an append resolves after at most this long even when its message could not be delivered locally yet. */
const FEED_GIVE_UP_MS = 10_000;

/** An append of this node on a shared store whose message has not come back on the feed yet. */
interface Mine {
  from: string;
  echo: boolean;
  /** Known once the store replied. */
  offset?: number;
}

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

/** `{ ...msg, offset }` built field by field, in the same order (a spread of it cost more than the JSON.stringify of its data). */
function stored(msg: NewMessage, offset: number): StoredMessage {
  const m = { event: msg.event, data: msg.data, ts: msg.ts } as StoredMessage;
  if (msg.from !== undefined) m.from = msg.from;
  if (msg.key !== undefined) m.key = msg.key;
  m.offset = offset;
  return m;
}

/** One room's log. Built by the namespace on first use; `ready` resolves once its position is loaded. */
export class RoomLog {
  epoch = '';
  /** Last offset delivered live (committed by the store and fanned out). */
  committed = 0;
  private readyP: Promise<void>;
  /** Shared store: the last load failed (Redis away); the next `ready` (or a reconnect) tries again. */
  private loadFailed = false;
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
  /**
   * Shared store (decision 3): the room's feed (`Store.watch`). This log delivers what the feed
   * announces — every node's appends, this one's too — to this node's members only; arrivals
   * past `committed + 1` are held in `ahead` while the gap is read from the store.
   */
  private readonly shared: boolean;
  private feed: StoreWatch | undefined;
  private readonly ahead = new Map<number, StoredMessage>();
  /** Feed messages that came before the position loaded. */
  private early: LiveMessage[] | undefined;
  /** Highest offset known to exist (feed arrivals, append replies, a reloaded position). */
  private target = 0;
  private pumping = false;
  private pumpRetry: NodeJS.Timeout | undefined;
  /** This node's appends with a sender, waiting for their message on the feed (which says whether to skip the sender). */
  private readonly mine: Mine[] = [];
  /** Appends waiting until their offset is delivered here. */
  private readonly waiting = new Set<{ offset: number; epoch: string; done: () => void }>();
  /** The replay frame encoder of the current epoch (built at the first replay of a store with `readJson`). */
  private replayEnc: { epoch: string; encode: (m: StoredJson) => string } | undefined;
  /** The replay frame builder of the current epoch, as bytes (built at the first replay of a store with `readRecords`). */
  private replayBytes: ReplayBytes | undefined;

  constructor(
    readonly host: LogHost,
    readonly room: string,
  ) {
    this.roomSet = new Set([room]);
    this.shared = host.store.shared === true && typeof host.store.watch === 'function';
    this.readyP = this.load();
    if (this.shared) this.noteFailure();
  }

  /**
   * Resolves once the log's position is loaded. On a shared store a load that failed (Redis away)
   * is tried again by the next caller, or when Redis is back; on the memory and disk stores it is
   * the one load made at construction.
   */
  get ready(): Promise<void> {
    if (this.loadFailed) {
      this.loadFailed = false;
      this.readyP = this.load(true);
      this.noteFailure();
    }
    return this.readyP;
  }

  /** A shared store's log may be made for a member's room before anyone awaits it (Namespace): say why its load failed, and let a later use retry. */
  private noteFailure(): void {
    this.readyP.catch((err) => {
      this.loadFailed = true;
      this.host.report('warn', `room "${this.room}": loading its shared log (feed, position) failed; retried on next use or when Redis is back`, err);
    });
  }

  private async load(retry = false): Promise<void> {
    if (this.shared) {
      // contract: (B↔C) Store.watch — subscribed before the position is read, so nothing committed after it is missed.
      if (!this.feed) {
        this.early = [];
        this.feed = this.host.store.watch!(
          this.host.name,
          this.room,
          (m) => this.onFeed(m),
          () => this.onFeedReset(),
        );
      }
      // A retry comes after Redis was away: the bus resubscribes the (still wanted) feed itself, and a
      // message missed meanwhile shows as a gap or is found by the reset's position re-read.
      if (!retry) {
        try {
          await this.feed.ready;
        } catch (err) {
          // R5.8.4: Redis away is "unavailable" for the emit or join waiting on this load, not an internal error.
          throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError((err as Error).message);
        }
      }
    }
    const p = await this.host.store.position(this.host.name, this.room);
    this.epoch = p.epoch;
    this.committed = p.last;
    this.loaded = true;
    if (this.early) {
      const early = this.early;
      this.early = undefined;
      for (const m of early) this.onFeed(m);
      if (this.target > this.committed) this.pump(); // arrivals past the early cap: read from the store
    }
  }

  /**
   * Store a message and, once committed, deliver it live. Resolves with the store's result
   * (after the commit). `echo` also delivers it to the sender.
   */
  append(msg: NewMessage, echo = false, extra?: AppendExtra): Promise<AppendResult> {
    this.busy++; // until appendNow settles (it counts down itself: no wrapping async frame per append)
    return this.appendNow(msg, echo, extra);
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

  /** Counted in `busy` by `append`; counts itself down once settled. */
  private async appendNow(msg: NewMessage, echo: boolean, extra?: AppendExtra): Promise<AppendResult> {
    let seq = 0;
    try {
      if (this.shared) return await this.appendShared(msg, echo, extra);
      if (!this.loaded) await this.ready;
      const json = JSON.stringify(msg.data ?? null); // once: for the store's size and for the frame
      seq = ++this.seq;
      this.unsettled.add(seq);
      // The store keeps this JSON text as it is (a replay is the same JSON as the live copy); `extra` may carry a consumer state to commit with it.
      const t0 = performance.now();
      // R5.8.1: the store's promise is the signal the ack waits for; it resolves once the message is as safe as
      // `r.durability` says (the disk store: `synced`, on lmdb's `flushed` for the commit, never on the commit alone).
      const r = await this.host.store.append(this.host.name, this.room, msg, json.length + msg.event.length, extra ? { ...extra, json } : { json });
      this.host.stats.commitObserved((performance.now() - t0) / 1000);
      if (r.durability === 'memory' && this.host.store.durable) throw new StoreUnavailableError(NOT_SYNCED);
      if (r.epoch !== this.epoch) {
        // The store forgot this room while it was idle (StoreOptions.idleRoomTtlMs) and began a new log: follow it.
        this.epoch = r.epoch;
        this.committed = r.offset - 1;
      }
      if (!r.duplicate) this.onCommitted(stored(msg, r.offset), echo, json, seq);
      return r;
    } finally {
      this.busy--;
      if (seq !== 0) {
        this.unsettled.delete(seq);
        if (this.held.size > 0) this.releaseSettled();
      }
    }
  }

  /**
   * Shared store: append, then wait until the feed (or a read of the store) delivered the
   * message on this node, so the caller's ack still follows the live copy as on one node.
   */
  private async appendShared(msg: NewMessage, echo: boolean, extra?: AppendExtra): Promise<AppendResult> {
    if (!this.loaded) await this.ready;
    const json = JSON.stringify(msg.data ?? null);
    const mine: Mine | undefined = msg.from === undefined ? undefined : { from: msg.from, echo };
    if (mine) this.mine.push(mine);
    let r: AppendResult;
    try {
      const t0 = performance.now();
      r = await this.host.store.append(this.host.name, this.room, msg, json.length + msg.event.length, { ...extra, json });
      this.host.stats.commitObserved((performance.now() - t0) / 1000);
    } catch (err) {
      if (mine) this.forget(mine);
      throw err;
    }
    if (r.duplicate) {
      if (mine) this.forget(mine);
      return r;
    }
    if (mine) mine.offset = r.offset;
    if (r.epoch !== this.epoch) this.newEpoch(r.epoch, 'an append');
    if (this.epoch === r.epoch && this.committed < r.offset) await this.delivered(r.offset, r.epoch);
    return r;
  }

  private forget(m: Mine): void {
    const i = this.mine.indexOf(m);
    if (i >= 0) this.mine.splice(i, 1);
  }

  /** Resolves once `offset` of `epoch` was delivered here (or the epoch changed, or FEED_GIVE_UP_MS passed). */
  private delivered(offset: number, epoch: string): Promise<void> {
    return new Promise((resolve) => {
      const w = {
        offset,
        epoch,
        done: () => {
          clearTimeout(wait);
          clearTimeout(giveUp);
          this.waiting.delete(w);
          resolve();
        },
      };
      // Not on the feed in time (lost, or Redis is slow): read it from the store.
      const wait = setTimeout(() => {
        this.target = Math.max(this.target, offset);
        this.pump();
      }, FEED_WAIT_MS);
      const giveUp = setTimeout(() => {
        this.host.report('warn', `room "${this.room}": offset ${offset} is committed but could not be delivered on this node within ${FEED_GIVE_UP_MS} ms`);
        w.done();
      }, FEED_GIVE_UP_MS);
      this.waiting.add(w);
    });
  }

  /** A message on the room's feed (any node's append, in offset order). */
  private onFeed(m: LiveMessage): void {
    if (!this.loaded) {
      if (this.early && this.early.length < FEED_AHEAD_MAX) this.early.push(m);
      else this.target = Math.max(this.target, m.offset); // past the cap: the pump reads it from the store
      return;
    }
    if (m.epoch !== this.epoch) {
      this.newEpoch(m.epoch, 'the feed');
      if (m.epoch !== this.epoch) return;
    }
    if (m.offset <= this.committed) return; // delivered already (a gap read got it first)
    if (m.offset === this.committed + 1 && !this.pumping) {
      this.deliverShared(m);
      if (this.ahead.size > 0 || this.target > this.committed) this.pump();
      return;
    }
    if (this.ahead.size < FEED_AHEAD_MAX) this.ahead.set(m.offset, m);
    this.target = Math.max(this.target, m.offset);
    this.pump();
  }

  /** The feed was lost and is back (Redis reconnect): re-read the position and fill what was missed. */
  private onFeedReset(): void {
    if (!this.loaded) {
      if (this.loadFailed) this.ready.catch(() => {}); // Redis is back: load now (a member may be waiting for messages)
      return; // else the load under way reads the position after the feed is ready
    }
    this.host.store.position(this.host.name, this.room).then(
      (p) => {
        if (p.epoch !== this.epoch) this.newEpoch(p.epoch, 'a reconnect');
        this.target = Math.max(this.target, p.last);
        this.pump();
      },
      (err) => this.host.report('warn', `room "${this.room}": re-reading the log position after a Redis reconnect failed`, err),
    );
  }

  /**
   * The store began a new log for this room (R5.3 epoch rules: Redis lost it, or it was idle and
   * forgotten): start over at offset 0 of the new epoch; cached frames of the old one go.
   */
  private newEpoch(epoch: string, seenBy: string): void {
    if (epoch === this.epoch) return;
    this.host.report(
      'warn',
      `room "${this.room}" of namespace "${this.host.name}": the log's epoch changed from ${this.epoch} to ${epoch} (seen by ${seenBy}); offsets start again`,
    );
    this.epoch = epoch;
    this.committed = 0;
    this.target = 0;
    this.ahead.clear();
    this.mine.length = 0;
    this.held.clear();
    cachedBytes -= this.recentBytes;
    this.recentBytes = 0;
    this.recent = [];
    for (const w of [...this.waiting]) if (w.epoch !== epoch) w.done();
  }

  /** Deliver in offset order up to `target`: from `ahead` when held, else read from the store. One pump at a time. */
  private pump(): void {
    if (this.pumping || !this.loaded) return;
    this.pumping = true;
    void this.pumpNow().finally(() => {
      this.pumping = false;
      if (this.ahead.size > 0 && this.ahead.has(this.committed + 1)) this.pump();
    });
  }

  private async pumpNow(): Promise<void> {
    try {
      while (this.committed < this.target || this.ahead.size > 0) {
        const next = this.committed + 1;
        const held = this.ahead.get(next);
        if (held) {
          this.ahead.delete(next);
          this.deliverShared(held);
          continue;
        }
        for (const o of this.ahead.keys()) if (o <= this.committed) this.ahead.delete(o);
        let upTo = this.target;
        for (const o of this.ahead.keys()) if (o > this.committed) upTo = Math.max(upTo, o);
        if (upTo <= this.committed) break;
        const epoch = this.epoch;
        const page = await this.host.store.read(this.host.name, this.room, next, Math.min(PAGE, upTo - this.committed));
        if (epoch !== this.epoch) continue; // reset meanwhile: start over in the new epoch
        let progressed = false;
        for (const m of page) {
          if (m.offset <= this.committed) continue;
          if (m.offset > upTo) break;
          // Retention may have trimmed offsets in the gap: what the store no longer holds is skipped.
          this.ahead.delete(m.offset);
          this.deliverShared(m);
          progressed = true;
        }
        if (!progressed) {
          // Nothing left in the store up to the next held arrival (trimmed): go on from it.
          let lowest = Infinity;
          for (const o of this.ahead.keys()) if (o > this.committed && o < lowest) lowest = o;
          if (lowest !== Infinity) this.committed = lowest - 1;
          else {
            this.committed = Math.max(this.committed, upTo);
            this.settleWaiting();
          }
        }
      }
    } catch (err) {
      this.host.report('warn', `room "${this.room}": reading missed messages from the store failed; retrying`, err);
      clearTimeout(this.pumpRetry);
      this.pumpRetry = setTimeout(() => this.pump(), 1000);
      this.pumpRetry.unref?.();
    }
  }

  /** One message of the shared log, delivered to this node's members (the sender skipped only for this node's own non-echo appends). */
  private deliverShared(m: StoredMessage): void {
    let echo = true; // another node's message: its sender is not here, every local member gets it
    if (m.from !== undefined && this.mine.length > 0) {
      const i = this.mine.findIndex((x) => x.from === m.from && (x.offset === undefined || x.offset === m.offset));
      if (i >= 0) {
        echo = this.mine[i]!.echo;
        this.mine.splice(i, 1);
      }
    }
    // contract: (B↔C) a feed message may carry `json`, the data's JSON text as stored: no second stringify.
    const { epoch: _epoch, json, ...msg } = m as LiveMessage & { json?: string };
    this.deliver(msg, echo, json ?? JSON.stringify(m.data ?? null));
    this.settleWaiting();
  }

  private settleWaiting(): void {
    if (this.waiting.size === 0) return;
    for (const w of [...this.waiting]) if (w.offset <= this.committed) w.done();
    // This node's appends whose message was trimmed before it came back: nothing will match them now.
    for (let i = this.mine.length - 1; i >= 0; i--) {
      const o = this.mine[i]!.offset;
      if (o !== undefined && o <= this.committed) this.mine.splice(i, 1);
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
    return this.busy === 0 && this.listeners.size === 0 && this.held.size === 0 && !this.pumping && !this.host.adapter.roomMembers(this.room)?.size;
  }

  /** The namespace dropped this (idle) log: give its cached frames back to the shared budget (and stop its feed). */
  dispose(): void {
    this.feed?.stop();
    this.feed = undefined;
    clearTimeout(this.pumpRetry);
    this.ahead.clear();
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
      const frames: string[] = [];
      let raw = this.host.store.readRecords !== undefined && target.sendEventBytes !== undefined;
      for (;;) {
        while (from <= to && target.current()) {
          if (raw) {
            const next = await this.replayRaw(target, from, to, limit, frames);
            if (next === false) raw = false;
            else if (next === undefined) break;
            else {
              from = next;
              limit = RAW_PAGE;
              await target.drain();
              continue;
            }
          }
          const { page, frame } = await this.replayPage(from, Math.min(limit, to - from + 1));
          if (page.length === 0 || !target.current()) break;
          // R2.5.7: bounded by bytes, not by page: a paused reader stops the replay after ~DRAIN_EVERY queued.
          let bytes = 0;
          let sent = 0;
          for (let i = 0; i < page.length && page[i]!.offset <= to; i++) {
            const f = frame(i);
            frames.push(f);
            bytes += f.length;
            if ((sent += f.length) >= DRAIN_EVERY) {
              this.sendFrames(target, frames);
              sent = 0;
              await target.drain();
              if (!target.current()) return;
            }
          }
          this.sendFrames(target, frames);
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

  /**
   * One replay page: the stored messages from `from` on, at most `limit`, and the `event` frame
   * (replay: true) of the i-th, built when it is sent. A store with `readJson` hands over the JSON
   * it keeps, and the frame is built around it unparsed.
   */
  private async replayPage(from: number, limit: number): Promise<{ page: readonly { offset: number }[]; frame: (i: number) => string }> {
    const { store, name } = this.host;
    if (store.readJson) {
      const page = await store.readJson(name, this.room, from, limit);
      if (this.replayEnc?.epoch !== this.epoch) this.replayEnc = { epoch: this.epoch, encode: replayEncoder(name, this.room, this.epoch) };
      const { encode } = this.replayEnc;
      return { page, frame: (i) => encode(page[i]!) };
    }
    const page = await store.read(name, this.room, from, limit);
    return { page, frame: (i) => this.encode(page[i]!, true) };
  }

  /**
   * One replay page as bytes (`Store.readRecords`): the frames of the messages from `from` to `to`
   * (at most `limit`, at most DRAIN_EVERY bytes) built into one buffer and sent. A message the bytes
   * path does not build is sent next through the JSON path. Returns where the next page starts,
   * undefined when the store held nothing more (or the target left), false when the target does
   * not take frames as bytes (nothing sent).
   */
  private async replayRaw(target: ReplayTarget, from: number, to: number, limit: number, frames: string[]): Promise<number | undefined | false> {
    const { store, name } = this.host;
    if (this.replayBytes?.epochName !== this.epoch) this.replayBytes = new ReplayBytes(name, this.room, this.epoch);
    const enc = this.replayBytes;
    enc.start(DRAIN_EVERY);
    let next = -1;
    let other = -1;
    await store.readRecords!(name, this.room, from, Math.min(limit, to - from + 1), (r) => {
      if (r.offset > to) {
        next = to + 1;
        return false;
      }
      const k = enc.put(r);
      if (k > 0) next = r.offset + 1;
      else if (k < 0) other = r.offset;
      return k > 0;
    });
    if (!target.current()) return undefined;
    if (enc.frames > 0) {
      if (!target.sendEventBytes!(enc.take(), enc.frames, enc.chars)) return false;
      this.host.stats.replayed += enc.frames;
    }
    if (other < 0) return next < 0 ? undefined : next;
    const { page, frame } = await this.replayPage(other, 1);
    if (page.length === 0 || !target.current()) return undefined;
    if (page[0]!.offset <= to) frames.push(frame(0));
    this.sendFrames(target, frames);
    return page[0]!.offset + 1;
  }

  /** Send replayed frames in order (one write where the target takes them together), and empty `frames`. */
  private sendFrames(target: ReplayTarget, frames: string[]): void {
    if (frames.length === 0) return;
    if (target.sendEvents) target.sendEvents(frames);
    else for (const f of frames) target.sendText(f);
    this.host.stats.replayed += frames.length;
    frames.length = 0;
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
    const except = skip === undefined ? EMPTY : new Set([skip]);
    this.host.recovery?.capture(this.host.name, frame, this.roomSet, except); // R2.7.4: sessions away that were in the room
    this.host.stats.fanout(this.host.adapter.broadcast(frame, { rooms: this.roomSet, except, flags: this.shared ? THIS_NODE : ALL_NODES }), frame.length);
    for (const l of this.listeners) l.notify();
  }
}
