/**
 * MemoryStore: room logs, consumer state and dedup keys in process memory. Not durable: a new
 * MemoryStore is a new life, so every log it creates gets a fresh epoch.
 */
import { nanoid } from 'nanoid';
import { compositeKey } from './keys.js';
import {
  QueueFullError,
  type AppendExtra,
  type AppendResult,
  type ConsumerState,
  type LogPosition,
  type NamedConsumerState,
  type NewMessage,
  type Retention,
  type RetentionResolver,
  type RoomSummary,
  type Store,
  type StoreHealth,
  type StoreOptions,
  type StoredMessage,
} from './types.js';

export { compositeKey } from './keys.js';

/**
 * Size of a message for `maxBytes` retention: the JSON length (in UTF-16 code units) of `data`
 * plus the length of the event name. `undefined` data counts as 0.
 */
export function messageSize(msg: NewMessage): number {
  const json = JSON.stringify(msg.data);
  return (json === undefined ? 0 : json.length) + msg.event.length;
}

/** The part of a log that count and bytes retention look at. */
export interface HeldRange {
  /** Earliest offset held. */
  first: number;
  /** Last offset assigned. */
  last: number;
  /** Payload bytes held. */
  bytes: number;
}

/**
 * Make room for one more message of `size` bytes under count and bytes retention.
 * Under `reject`, throws QueueFullError when a limit would be passed (a message larger than
 * `maxBytes` never fits and is refused). Under `drop-oldest`, returns the new `first` and
 * `bytes` after trimming from the front; a message larger than `maxBytes` is kept alone
 * (the log then holds only it) rather than lost. Does not change `held`.
 * @param sizeAt size of the held message at an offset (for bytes bookkeeping)
 */
export function makeRoom(ns: string, room: string, held: HeldRange, size: number, r: Retention, sizeAt: (offset: number) => number): { first: number; bytes: number } {
  let { first, bytes } = held;
  const last = held.last;
  const tooMany = () => r.maxMessages > 0 && last - first + 2 > r.maxMessages;
  const tooBig = () => r.maxBytes > 0 && bytes + size > r.maxBytes;
  if (r.overflow === 'reject') {
    if (tooMany()) throw new QueueFullError(ns, room, `maxMessages ${r.maxMessages}`);
    if (tooBig()) throw new QueueFullError(ns, room, `maxBytes ${r.maxBytes}`);
    return { first, bytes };
  }
  while (first <= last && (tooMany() || tooBig())) {
    bytes -= sizeAt(first);
    first++;
  }
  return { first, bytes };
}

/** Deep copy of a consumer state, so callers never share arrays with the store. */
export function copyConsumer(s: ConsumerState): ConsumerState {
  return { floor: s.floor, done: [...s.done], attempts: { ...s.attempts } };
}

/** A first copy of a key, remembered for the dedup window. */
interface Seen {
  offset: number;
  ts: number;
}

/** One room's log. Offset `o` (first <= o <= last) lives at `items[head + o - first]`. */
interface MemLog extends HeldRange {
  epoch: string;
  items: (StoredMessage | undefined)[];
  sizes: number[];
  head: number;
  /** Keys in insertion order (so the oldest are swept first). */
  seen: Map<string, Seen>;
  ns: string;
  room: string;
  /** Store clock at the last append (or creation). */
  touched: number;
}

/** Defaults of the idle-room sweep (StoreOptions). */
export const IDLE_ROOM_TTL_MS = 24 * 60 * 60 * 1000;
export const IDLE_SWEEP_MS = 10_000;
/** Rooms looked at per timed sweep. */
export const SWEEP_CHUNK = 5000;

/** Compact the arrays once the dead prefix is both large and more than half of them. */
const COMPACT_AT = 1024;

/** Store held in process memory (kind "memory", not durable). Appends resolve at once. */
export class MemoryStore implements Store {
  /** Always "memory". */
  readonly kind = 'memory';
  /** Always false: nothing survives the process. */
  readonly durable = false;
  private readonly logs = new Map<string, MemLog>();
  private readonly consumers = new Map<string, ConsumerState>();
  /** Consumer states per room key (a room with any is never idle). */
  private readonly consumerRooms = new Map<string, number>();
  /** Consumer names per room key (for `consumerStates`). */
  private readonly consumerNames = new Map<string, Set<string>>();
  private readonly retention: RetentionResolver;
  private readonly now: () => number;
  private readonly idleTtl: number;
  private sweepAt: Iterator<[string, MemLog]> | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  /** A new, empty store; `opts.now` replaces `Date.now` (tests). */
  constructor(opts: StoreOptions) {
    this.retention = opts.retention;
    this.now = opts.now ?? Date.now;
    this.idleTtl = opts.idleRoomTtlMs ?? IDLE_ROOM_TTL_MS;
    const every = opts.idleSweepMs ?? IDLE_SWEEP_MS;
    if (this.idleTtl > 0 && every > 0) this.timer = setInterval(() => void this.sweepIdle(SWEEP_CHUNK), every).unref();
  }

  /** Always writable: memory does not fail like a disk. */
  health(): StoreHealth {
    return { writable: true };
  }

  /**
   * R5.6.7: forget idle rooms: no message held (after age retention), no consumer state, no append
   * for `idleRoomTtlMs`. Looks at up to `limit` rooms, continuing where the last sweep stopped.
   */
  async sweepIdle(limit = Infinity): Promise<number> {
    if (this.idleTtl <= 0) return 0;
    const now = this.now();
    let removed = 0;
    for (let seen = 0; seen < limit && seen < this.logs.size; seen++) {
      this.sweepAt ??= this.logs.entries();
      const next = this.sweepAt.next();
      if (next.done) {
        this.sweepAt = undefined;
        if (seen === 0) break;
        continue;
      }
      const [k, log] = next.value;
      if (now - log.touched < this.idleTtl || this.consumerRooms.has(k)) continue;
      this.expire(log, this.retention(log.ns, log.room));
      if (log.first <= log.last) continue;
      this.logs.delete(k);
      removed++;
    }
    return removed;
  }

  /** The log's position, creating the log (and its epoch) if needed; expired messages are trimmed first. */
  async position(ns: string, room: string): Promise<LogPosition> {
    const log = this.log(ns, room);
    this.expire(log, this.retention(ns, room));
    return { epoch: log.epoch, first: log.first, last: log.last };
  }

  /**
   * Store a message at the next offset (assigned synchronously); rejects with QueueFullError when
   * full under `reject`. `extra.consumer` is saved in the same step (nothing can come between).
   */
  append(ns: string, room: string, msg: NewMessage, size?: number, extra?: AppendExtra): Promise<AppendResult> {
    try {
      const r = this.appendNow(ns, room, msg, size);
      if (extra?.consumer) this.setConsumer(ns, extra.consumer.room, extra.consumer.name, extra.consumer.state);
      return Promise.resolve(r);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Held, unexpired messages with offset >= from, ascending, at most `limit`. */
  async read(ns: string, room: string, from: number, limit: number): Promise<StoredMessage[]> {
    const log = this.logs.get(compositeKey(ns, room));
    const out: StoredMessage[] = [];
    if (!log || limit <= 0) return out;
    const r = this.retention(ns, room);
    this.expire(log, r);
    const cutoff = r.maxAgeMs > 0 ? this.now() - r.maxAgeMs : -Infinity;
    for (let o = Math.max(from, log.first); o <= log.last && out.length < limit; o++) {
      const m = log.items[log.head + o - log.first];
      if (m && m.ts >= cutoff) out.push({ ...m });
    }
    return out;
  }

  /** A copy of the consumer's saved state, or undefined. */
  async getConsumer(ns: string, room: string, name: string): Promise<ConsumerState | undefined> {
    const s = this.consumers.get(compositeKey(ns, room, name));
    return s && copyConsumer(s);
  }

  /** Save (a copy of) the consumer's state. */
  async putConsumer(ns: string, room: string, name: string, state: ConsumerState): Promise<void> {
    this.setConsumer(ns, room, name, state);
  }

  /** Rooms with a log here (of `ns` when given), at most `limit`. */
  async listRooms(ns?: string, limit = 1000): Promise<RoomSummary[]> {
    const out: RoomSummary[] = [];
    for (const log of this.logs.values()) {
      if (out.length >= limit) break;
      if (ns === undefined || log.ns === ns) out.push({ ns: log.ns, room: log.room, epoch: log.epoch, first: log.first, last: log.last });
    }
    return out;
  }

  /** Copies of every saved consumer state of a room, at most `limit`. */
  async consumerStates(ns: string, room: string, limit = 1000): Promise<NamedConsumerState[]> {
    const out: NamedConsumerState[] = [];
    for (const name of this.consumerNames.get(compositeKey(ns, room)) ?? []) {
      if (out.length >= limit) break;
      const s = this.consumers.get(compositeKey(ns, room, name));
      if (s) out.push({ name, state: copyConsumer(s) });
    }
    return out;
  }

  /** Drop everything held. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.logs.clear();
    this.consumers.clear();
    this.consumerRooms.clear();
    this.consumerNames.clear();
  }

  private setConsumer(ns: string, room: string, name: string, state: ConsumerState): void {
    const k = compositeKey(ns, room, name);
    if (!this.consumers.has(k)) {
      const rk = compositeKey(ns, room);
      this.consumerRooms.set(rk, (this.consumerRooms.get(rk) ?? 0) + 1);
      let names = this.consumerNames.get(rk);
      if (!names) this.consumerNames.set(rk, (names = new Set()));
      names.add(name);
    }
    this.consumers.set(k, copyConsumer(state));
  }

  private appendNow(ns: string, room: string, msg: NewMessage, size?: number): AppendResult {
    const log = this.log(ns, room);
    const r = this.retention(ns, room);
    const now = this.now();
    const dedup = msg.key !== undefined && r.dedupWindowMs > 0;
    if (dedup) {
      const cutoff = now - r.dedupWindowMs;
      sweep(log.seen, cutoff);
      const first = log.seen.get(msg.key!);
      if (first) {
        if (first.ts > cutoff) return { offset: first.offset, epoch: log.epoch, duplicate: true, durability: 'memory' };
        log.seen.delete(msg.key!); // stale but not swept (clock went back): re-insert at the end
      }
    }
    size ??= messageSize(msg);
    if (r.overflow === 'reject' && r.maxAgeMs > 0) this.expire(log, r);
    const fit = makeRoom(ns, room, log, size, r, (o) => log.sizes[log.head + o - log.first]);
    this.dropTo(log, fit.first);
    const offset = ++log.last;
    const stored: StoredMessage = { event: msg.event, data: msg.data, ts: msg.ts, offset };
    if (msg.from !== undefined) stored.from = msg.from;
    if (msg.key !== undefined) stored.key = msg.key;
    log.items.push(stored);
    log.sizes.push(size);
    log.bytes += size;
    log.touched = now;
    if (dedup) log.seen.set(msg.key!, { offset, ts: now });
    return { offset, epoch: log.epoch, duplicate: false, durability: 'memory' };
  }

  private log(ns: string, room: string): MemLog {
    const k = compositeKey(ns, room);
    let log = this.logs.get(k);
    if (!log) {
      log = { epoch: nanoid(10), first: 1, last: 0, bytes: 0, items: [], sizes: [], head: 0, seen: new Map(), ns, room, touched: this.now() };
      this.logs.set(k, log);
    }
    return log;
  }

  /** Trim messages older than `maxAgeMs` from the front. */
  private expire(log: MemLog, r: Retention): void {
    if (r.maxAgeMs <= 0) return;
    const cutoff = this.now() - r.maxAgeMs;
    let first = log.first;
    while (first <= log.last && log.items[log.head + first - log.first]!.ts < cutoff) first++;
    this.dropTo(log, first);
  }

  /** Drop every held message below `first` (bytes are recomputed here, from the sizes dropped). */
  private dropTo(log: MemLog, first: number): void {
    while (log.first < first) {
      log.bytes -= log.sizes[log.head];
      log.items[log.head] = undefined;
      log.head++;
      log.first++;
    }
    if (log.head >= COMPACT_AT && log.head * 2 >= log.items.length) {
      log.items = log.items.slice(log.head);
      log.sizes = log.sizes.slice(log.head);
      log.head = 0;
    }
  }
}

/** Forget keys first seen before `cutoff` (the map is in insertion order, so stop at the first fresh one). */
function sweep(seen: Map<string, Seen>, cutoff: number): void {
  for (const [key, s] of seen) {
    if (s.ts > cutoff) break;
    seen.delete(key);
  }
}
