/**
 * RoomLog: one room's ordered log as the server sees it. It appends through the Store,
 * delivers each committed message live in offset order (encoded once), feeds durable and
 * group consumers, and runs the replay seam: a joiner gets the stored range, then every
 * live message committed after it, with no gap and no duplicate (PROTOCOL.md §5.3).
 */
import { encodeFrame, encodeStoredEvent } from '../protocol/codec.js';
import type { JoinedFrame, RequestId } from '../protocol/frames.js';
import type { Adapter } from './adapter/types.js';
import { planRecovery, type RecoveryRequest } from './replay.js';
import type { AppendResult, NewMessage, Store, StoredMessage } from './store/types.js';

/** What a log needs from its namespace. */
export interface LogHost {
  readonly name: string;
  readonly adapter: Adapter;
  readonly store: Store;
  /** Log a line (failures the log and its consumers recover from). */
  report(level: 'warn' | 'error', msg: string, err?: unknown): void;
}

/** Something a log can replay to: a socket's view for the seam. */
export interface ReplayTarget {
  readonly id: string;
  sendText(frame: string): void;
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
const EMPTY: ReadonlySet<string> = new Set();
const HOLD_MS = 1000;

interface Recent {
  msg: StoredMessage;
  frame: string;
}

interface Held {
  msg: StoredMessage;
  echo: boolean;
  json: string;
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
  private holdTimer: NodeJS.Timeout | undefined;
  private readonly joiners = new Set<{ sid: string; buffer: string[] }>();
  /** Recent committed messages with their encoded frames, a ring indexed by offset; grows from 16 to RECENT slots. */
  private recent: (Recent | undefined)[] = [];
  private recentBytes = 0;
  /** Appends and joins under way. */
  private busy = 0;
  /** When the namespace's sweep first saw this log idle (0: not idle). */
  idleSince = 0;

  constructor(readonly host: LogHost, readonly room: string) {
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
  append(msg: NewMessage, echo = false): Promise<AppendResult> {
    return this.busyWith(() => this.appendNow(msg, echo));
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

  private async appendNow(msg: NewMessage, echo: boolean): Promise<AppendResult> {
    if (!this.loaded) await this.ready;
    const json = JSON.stringify(msg.data ?? null); // once: for the store's size and for the frame
    const r = await this.host.store.append(this.host.name, this.room, msg, json.length + msg.event.length);
    if (!r.duplicate) this.onCommitted({ ...msg, offset: r.offset }, echo, json);
    return r;
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
    target.sendText(encodeFrame(joined));
    if (!target.current()) return;
    if (!plan.range) {
      this.host.adapter.addAll(target.id, this.roomSet);
      return;
    }
    // A socket already in the live room (e.g. `socket.join` by the application) would get live
    // frames twice, and ahead of the replay: take it out until the replay is done.
    this.host.adapter.del(target.id, this.room);
    const joiner = { sid: target.id, buffer: [] as string[] };
    this.joiners.add(joiner);
    try {
      let from = plan.range.from;
      const to = plan.range.to;
      while (from <= to && target.current()) {
        const page = await this.host.store.read(this.host.name, this.room, from, Math.min(PAGE, to - from + 1));
        if (page.length === 0 || !target.current()) break;
        for (const m of page) if (m.offset <= to) target.sendText(this.encode(m, true));
        from = page[page.length - 1]!.offset + 1;
        await target.drain();
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
    if (this.recentBytes > RECENT_BYTES) {
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
    if (old) this.recentBytes -= old.frame.length;
    this.recent[slot] = r;
  }

  private onCommitted(msg: StoredMessage, echo: boolean, json: string): void {
    if (msg.offset <= this.committed) return;
    if (msg.offset !== this.committed + 1) {
      // An earlier append has not resolved yet: hold this one (bounded wait, then accept the hole).
      this.held.set(msg.offset, { msg, echo, json });
      this.holdTimer ??= setTimeout(() => this.releaseHeld(), HOLD_MS).unref();
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
    if (this.held.size === 0 && this.holdTimer) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
    }
  }

  private releaseHeld(): void {
    this.holdTimer = undefined;
    const offsets = [...this.held.keys()].sort((a, b) => a - b);
    for (const o of offsets) {
      const h = this.held.get(o)!;
      this.held.delete(o);
      if (o > this.committed) this.deliver(h.msg, h.echo, h.json);
    }
  }

  private deliver(msg: StoredMessage, echo: boolean, json: string): void {
    this.committed = msg.offset;
    const frame = this.encode(msg, false, json);
    this.remember({ msg, frame });
    const skip = echo || msg.from === undefined ? undefined : msg.from;
    for (const j of this.joiners) if (j.sid !== skip) j.buffer.push(frame);
    this.host.adapter.broadcast(frame, { rooms: this.roomSet, except: skip === undefined ? EMPTY : new Set([skip]), flags: {} });
    for (const l of this.listeners) l.notify();
  }
}
