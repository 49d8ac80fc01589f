/**
 * The Store: room logs (append, read, retention, epoch), consumer state (durable cursors
 * and group progress) and idempotency keys. Every implementation runs the same contract
 * suite (`test/contract/store.test.ts`); a Redis store will run it too.
 */

/** Retention and dedup policy of one room, resolved by the server from its configuration. */
export interface Retention {
  /** Keep at most this many messages (0 = no limit). */
  maxMessages: number;
  /** Drop messages older than this many milliseconds (0 = no limit). */
  maxAgeMs: number;
  /** Keep at most this many bytes of message payload (0 = no limit). Size = JSON length of `data` + event name. */
  maxBytes: number;
  /** What an append does when a limit would be passed: trim the oldest, or refuse with QueueFullError. */
  overflow: 'drop-oldest' | 'reject';
  /** An append whose `key` was seen in this room within this window is not stored again. */
  dedupWindowMs: number;
}

/** Resolves the retention of a room; given to a store when it is built. */
export type RetentionResolver = (ns: string, room: string) => Retention;

/** A message as it is appended (the store assigns the offset). */
export interface NewMessage {
  event: string;
  data: unknown;
  /** Milliseconds since the Unix epoch when the server accepted it. */
  ts: number;
  /** The sender's sid, if any. */
  from?: string;
  /** Idempotency key. */
  key?: string;
}

/** A message as it is stored and read back. */
export interface StoredMessage extends NewMessage {
  offset: number;
}

/**
 * A stored message as JSON text (`Store.readJson`): what a replay needs to build its `event` frame
 * without parsing `data` and serializing it again.
 */
export interface StoredJson {
  offset: number;
  ts: number;
  /** `JSON.stringify(event)`. */
  eventJson: string;
  /** `JSON.stringify(from)`, when the message has a sender. */
  fromJson?: string;
  /** `data`'s JSON text as stored (`JSON.stringify(data ?? null)`). */
  json: string;
}

/**
 * A stored message's record as bytes (`Store.readRecords`), valid only during the visit that gets
 * it: the byte ranges [start, end) in `bytes` of its timestamp (a JSON integer), its event name and
 * sender (JSON string literals; `fromStart` < 0: no sender) and its data's JSON as stored.
 * `eventStart` < 0: a record of another shape (read that one with `readJson`).
 */
export interface RawRecord {
  offset: number;
  ts: number;
  bytes: Uint8Array;
  tsStart: number;
  tsEnd: number;
  eventStart: number;
  eventEnd: number;
  fromStart: number;
  fromEnd: number;
  dataStart: number;
  dataEnd: number;
}

/** Where a log stands. An empty log has `first === last + 1`. */
export interface LogPosition {
  /** Names the life of this log; offsets never repeat within one epoch. */
  epoch: string;
  /** The earliest offset still held (after retention). */
  first: number;
  /** The last offset ever assigned (0 before the first message). */
  last: number;
}

/**
 * What a resolved append guarantees (R5.8.1), named by the signal the store waited for before
 * it resolved:
 * - `synced`: the commit holding the message was flushed to disk — the disk store resolves on
 *   lmdb's `flushed` promise of that transaction (fdatasync returned and the synced meta page was
 *   written), never on the commit alone; survives a crash of the process and of the machine;
 * - `memory`: held in this process only (lost with it);
 * - `redis`: Redis answered the write; whether it survives a Redis crash is Redis's fsync policy
 *   (`RedisStoreOptions.durable` says it is `appendfsync always`).
 */
export type Durability = 'synced' | 'memory' | 'redis';

/** What an append did. */
export interface AppendResult {
  offset: number;
  epoch: string;
  /** True when `key` repeated a recent key: nothing was stored, `offset` is the first copy's. */
  duplicate: boolean;
  /**
   * What the resolved promise guarantees (`Durability`); the built-in stores always say it. A
   * store that leaves it out is taken at its `durable` word (`synced` when true, else `memory`).
   * For a duplicate: the first copy's (its commit was awaited).
   */
  durability?: Durability;
  /** True when `extra.groupAck`'s guard failed (the entry is no longer held so): nothing was stored, `offset` is 0. */
  stale?: boolean;
}

/** Progress of one consumer (a durable subscription or a group) over one room's log. */
export interface ConsumerState {
  /** Every offset at or below this is done (acked or dead-lettered). */
  floor: number;
  /** Offsets above `floor` that are done, ascending. */
  done: number[];
  /** Delivery attempts so far of offsets above `floor` that are not done. */
  attempts: Record<string, number>;
}

/** Thrown by `append` when a room is full and its overflow policy is `reject`. */
export class QueueFullError extends Error {
  readonly code = 'queue_full';
  constructor(ns: string, room: string, limit: string) {
    super(`Room "${room}" in namespace "${ns}" is full (${limit}) and its overflow policy is "reject". Retry after older messages expire (maxAgeMs), or raise the room's limits.`);
  }
}

/**
 * Thrown (as a rejection) by `append`, `putConsumer` and every other write when the store
 * could not commit it: the disk is full or failing (LMDB "Commit failed", ENOSPC, EIO …).
 * Nothing of that write was stored. The process goes on: reads and live delivery still work,
 * and writes succeed again once the disk does (R5.8.4: error `unavailable`).
 */
export class StoreUnavailableError extends Error {
  readonly code = 'unavailable';
  constructor(readonly reason: string) {
    super(`The store refused the write, so nothing was stored: ${reason}. Retry later; reads and live delivery go on.`);
  }
}

/** Whether the store accepts writes now (for a readiness probe such as /readyz). */
export interface StoreHealth {
  writable: boolean;
  /** Why not, when `writable` is false (the last failed commit's cause). */
  reason?: string;
}

/** What else an append carries. */
export interface AppendExtra {
  /** `JSON.stringify(msg.data ?? null)`, when the caller already has it (the disk store keeps this text). */
  json?: string;
  /**
   * Save this consumer state in the same atomic step as the message (dead-lettering: the copy
   * in the dead room and the original marked done commit together or not at all).
   */
  consumer?: { room: string; name: string; state: ConsumerState };
  /**
   * Shared stores with Streams consumer groups (lib/store/redis-groups.ts): a group's dead letter.
   * contract: (B↔E) in the same atomic step as the append, first check that entry `<offset>-0` of
   * `room`'s stream is pending in Streams group `group` on consumer `consumer` with delivery count
   * `attempt` (`GROUP_ACK_GUARD_LUA`'s `group_ack_ok`); if not, store nothing and answer
   * `stale: true`; else append, then `XACK` that entry (R5.5.4, R5.5.9: pending or dead, never both).
   */
  groupAck?: GroupAck;
}

/** The group entry a dead letter acks in its append's step (`AppendExtra.groupAck`). */
export interface GroupAck {
  /** The room whose stream holds the entry (the dead letter goes to `$dead:<room>`). */
  room: string;
  /** The Streams group (the wsq consumer name, `group:<name>`). */
  group: string;
  /** The Streams consumer (node id) that must hold the entry. */
  consumer: string;
  offset: number;
  /** The entry's delivery count as this node holds it. */
  attempt: number;
}

/** A room the store knows (for admin listings). */
export interface RoomSummary extends LogPosition {
  ns: string;
  room: string;
}

/** One consumer's saved progress, by its stored name (`group:<name>`, `client:<id>`, `admin:redrive`). */
export interface NamedConsumerState {
  name: string;
  state: ConsumerState;
}

/** A committed message as a shared store announces it (`Store.watch`). */
export interface LiveMessage extends StoredMessage {
  /** The epoch of the log the offset belongs to. */
  epoch: string;
  /** `data`'s JSON text exactly as stored (the `AppendExtra.json` given), when the store has it: no need to stringify again. */
  json?: string;
}

/** A running `Store.watch`. */
export interface StoreWatch {
  /** Resolves once the subscription is in place: every message committed after that is announced. */
  readonly ready: Promise<void>;
  /** Stop following the room (idempotent). */
  stop(): void;
}

/** Options every store takes. */
export interface StoreOptions {
  retention: RetentionResolver;
  /** Clock for timestamps, age retention and dedup windows (injectable for tests). */
  now?: () => number;
  /**
   * A room whose log holds no message (all trimmed or expired), with no consumer state, and not
   * written for this long is forgotten: its record, epoch and dedup keys leave the store
   * (0 = never). Default 24 h. A later use starts a new log with a new epoch.
   */
  idleRoomTtlMs?: number;
  /** How often the store sweeps for idle rooms, in ms (0 = only when `sweepIdle` is called). Default 10 s. */
  idleSweepMs?: number;
  /** Room records the disk store caches in memory (LRU; rooms with writes in flight are always kept). Default 10,000. */
  cacheRooms?: number;
}

/**
 * The storage seam. Rules every implementation keeps (the contract suite checks them):
 * - offsets of one room start at 1 and increase by 1 for each stored message, within one epoch;
 * - `append` assigns the offset synchronously, before it first awaits, so appends to one room
 *   made in one order get offsets in that order; its promise resolves once the message is
 *   as safe as its result's `durability` says (for a durable store: `synced`, the commit flushed
 *   to disk, not merely committed), and for a duplicate key no earlier than the first copy's;
 * - retention is applied on append (count and bytes, `drop-oldest` trims, `reject` throws
 *   QueueFullError) and on read and position (age);
 * - `read` returns messages with offset >= `from`, ascending, at most `limit`;
 * - a read returns the same JSON as was appended (own `__proto__` keys and lone surrogates included);
 * - keys built from several names never collide (length-prefixed, see keys.ts), and every name
 *   the wire schema accepts is accepted;
 * - a failed commit rejects with StoreUnavailableError and never ends the process; offsets it
 *   had taken are never reused for another message once a later write committed (they stay gaps).
 */
export interface Store {
  /** "memory", "disk" or "redis". */
  readonly kind: string;
  /** True when an append's promise means "on disk": survives a crash of the process. */
  readonly durable: boolean;
  /**
   * True when several processes share this store (Redis): it assigns every node's offsets, and a
   * RoomLog delivers what `watch` announces, not its own append replies (decision 3).
   */
  readonly shared?: boolean;
  /**
   * Shared stores: follow one room's committed messages in offset order, as every node sees them
   * (the append publishes each message in the same atomic step that commits it). `onMessage` gets
   * every message committed after `ready` resolved; `onReset` is called when the feed may have
   * missed messages (the subscription was lost and is back): re-read the position and fill the gap
   * from `read`. Stop with `stop()`.
   */
  watch?(ns: string, room: string, onMessage: (m: LiveMessage) => void, onReset: () => void): StoreWatch;
  /** The log's position; creates the log (and its epoch) when it does not exist yet. */
  position(ns: string, room: string): Promise<LogPosition>;
  /**
   * Store one message at the room's next offset. `size` is the message's retention size
   * (`JSON.stringify(data).length + event.length`) when the caller has already serialized
   * `data`, so the store need not serialize it again.
   */
  append(ns: string, room: string, msg: NewMessage, size?: number, extra?: AppendExtra): Promise<AppendResult>;
  /** Messages with offset >= from, ascending, at most `limit`, skipping trimmed and expired ones. */
  read(ns: string, room: string, from: number, limit: number): Promise<StoredMessage[]>;
  /**
   * Optional, the replay's read: the messages `read` would return, as JSON text (`StoredJson`), so a
   * store that keeps the JSON hands it over as it is. Stores without it are replayed through `read`.
   */
  readJson?(ns: string, room: string, from: number, limit: number): Promise<StoredJson[]>;
  /**
   * Optional, the replay's read as bytes: `visit` each message `read` would return, in order, as
   * its record (`RawRecord`, the same object each time, valid during the call only), until it
   * returns false (that message is not taken) or `limit` were visited. Resolves once done.
   */
  readRecords?(ns: string, room: string, from: number, limit: number, visit: (r: RawRecord) => boolean): Promise<void>;
  /** A consumer's saved progress, or undefined. */
  getConsumer(ns: string, room: string, name: string): Promise<ConsumerState | undefined>;
  /** Save a consumer's progress; resolves once committed. */
  putConsumer(ns: string, room: string, name: string, state: ConsumerState): Promise<void>;
  /** Whether writes are accepted now (false after a failed commit, until one succeeds again). */
  health(): StoreHealth;
  /**
   * Forget up to `limit` idle rooms (see `StoreOptions.idleRoomTtlMs`); returns how many went.
   * Stores also run it on their own timer.
   */
  sweepIdle(limit?: number): Promise<number>;
  /**
   * Rooms the store holds a log for (admin listings), of namespace `ns` when given, at most `limit`
   * (default 1,000), in no promised order; positions as stored (age retention is not applied here). The disk store
   * lists a namespace's rooms from one key range, which leaves out rooms whose names were too long to key plainly (hashed keys).
   */
  listRooms(ns?: string, limit?: number): Promise<RoomSummary[]>;
  /** Every consumer with saved state over one room's log, at most `limit` (default 1,000). */
  consumerStates(ns: string, room: string, limit?: number): Promise<NamedConsumerState[]>;
  /** Flush and release resources. */
  close(): Promise<void>;
}
