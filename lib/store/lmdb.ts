/**
 * LmdbStore: the durable embedded store, on LMDB (`lmdb` package). One environment per
 * directory, storage format 2, with sub-databases (keys are binary, built in keys.ts:
 * length-prefixed names, so no two names can collide, and hashed when long, so every name
 * fits LMDB's key limit):
 * - `v2-messages`  room key + offset → the message as JSON text `{"t":ts,"s":size,"e":event,"f":from,"k":key,"d":<data>}`,
 *   where `<data>` is the JSON the server serialized once (so a replay is the same JSON as the
 *   live copy: own `__proto__` keys and lone surrogates survive; msgpack did not keep them)
 * - `v2-logs`      room key → { ns, room, epoch, first, last, bytes, touched } (JSON)
 * - `v2-consumers` room key + name → ConsumerState (JSON)
 * - `v2-dedup`     room key + key → { offset, ts } (ts = store clock when first seen)
 * - `v2-dedup-expiry` expiresAt + room key + key → [ns, room, key] (lets expired keys be swept in order)
 * - `wsq`          "format" → 2
 * A directory written by the format-1 store (array keys, msgpack values) is refused with a
 * sentence; docs/store-choice.md says why and what to do.
 *
 * Each log's meta is cached in memory (an LRU of settled logs plus every log with writes in
 * flight), so offsets are assigned synchronously in `append`. Writes are grouped: all those
 * made before the microtasks of one turn run (e.g. every emit of one socket read) go in one
 * lmdb batch, so in one transaction — each append's writes (message, trimmed oldest, dedup key,
 * a dead-lettering consumer's state) whole, and each log's meta once, at the end. lmdb commits
 * batches in order; with its overlapping sync (the default on Linux and macOS) a commit is
 * visible first and flushed after, so `append` resolves on the batch's `flushed` promise
 * (`separateFlushed`), never on the commit alone: an append that resolved is on disk, synced
 * (`durability: 'synced'`, R5.8.1). Under `reject`, a full room makes `append` return a rejected promise
 * (nothing is written). A failed commit (disk full or failing) rejects with
 * StoreUnavailableError, marks the store unwritable in `health()` until a commit succeeds, and
 * never escapes as an unhandled rejection.
 */
import { closeSync, openSync, readFileSync, realpathSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { LRUCache } from 'lru-cache';
import { nanoid } from 'nanoid';
import { nameKey, nameOf, nsPrefix, offsetKey, offsetOf, prefixEnd, roomKey, timeKey } from './keys.js';
import { IDLE_ROOM_TTL_MS, IDLE_SWEEP_MS, SWEEP_CHUNK, compositeKey, copyConsumer, makeRoom, messageSize } from './memory.js';
import {
  StoreUnavailableError,
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
  type RawRecord,
  type StoredJson,
  type StoredMessage,
} from './types.js';

/** The storage format this code reads and writes. */
export const FORMAT = 2;

/** A log's meta as kept on disk. */
interface LogMeta {
  ns: string;
  room: string;
  epoch: string;
  first: number;
  last: number;
  bytes: number;
  /** Store clock at the last write of this log. */
  touched: number;
}

/** A first copy of a key. */
interface Seen {
  offset: number;
  ts: number;
}

/** A first copy of a key and the commit of its append. */
interface SeenPending extends Seen {
  done: Promise<unknown>;
}

/** One log's cached meta plus what is in flight (lmdb reads see only committed data). */
interface DiskLog extends LogMeta {
  /** Binary key prefix of this room (keys.ts). */
  key: Buffer;
  /** compositeKey(ns, room): the cache key. */
  ck: string;
  /** ts and size of appended messages whose batch is not committed yet. */
  unsynced: Map<number, { ts: number; size: number }>;
  /** Keys appended but not committed yet. */
  pendingKeys: Map<string, SeenPending>;
  /** The latest write touching this log; batches commit in order, so awaiting it awaits them all. */
  tail: Promise<unknown>;
  /** Writes of this log in flight (while > 0 the log is never evicted from the cache). */
  inflight: number;
}

/**
 * Writes queued before the microtasks of one turn ran: one lmdb batch (one transaction, or part
 * of one), each listed log's meta written once after the writes.
 */
interface WriteGroup {
  writes: (() => void)[];
  /** Logs written by the group: the batch saves their meta (after `writes`: as it stands when the batch is built), and they stay busy until it settles. */
  metas: Set<DiskLog>;
  /** Run in order once the group settled, either way, before its promise's callbacks. */
  after: (() => void)[];
  /** Writes that threw while the batch was built: only their callers are refused (`failure`). */
  failed?: Map<() => void, unknown>;
  /** Resolves once the batch's commit is flushed to disk (synced); rejects when it could not be. */
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The promise of an lmdb write opened with `separateFlushed`: resolves on commit, `flushed` once that commit is synced. */
type FlushedPromise = Promise<unknown> & { flushed?: PromiseLike<unknown> };

/** Expired dedup keys swept per keyed append (amortised cleanup, in the same batch). */
const SWEEP_PER_APPEND = 8;
const CACHE_ROOMS = 10_000;
/** Room records the idle sweep looks at before it commits or yields. */
const IDLE_SLICE = 200;
const noop = (): void => {};
/** How long a refusal waits for lmdb's detailed commit error (it arrives just after). */
const REASON_WAIT_MS = 200;

/** Leading `{"t":<ts>,"s":<size>` of a message record: read without parsing the data. */
const HEAD = /^\{"t":(-?[\d.eE+-]+),"s":(\d+)/;

/** A message record as JSON text; `json` is the data's JSON, kept as it is (R5.8.5: a replay is the same JSON as the live copy). */
function encodeRecord(msg: NewMessage, size: number, json: string): string {
  const q = JSON.stringify;
  return `{"t":${q(msg.ts)},"s":${size},"e":${q(msg.event)}${msg.from === undefined ? '' : `,"f":${q(msg.from)}`}${msg.key === undefined ? '' : `,"k":${q(msg.key)}`},"d":${json}}`;
}

function decodeRecord(text: string, offset: number): StoredMessage {
  const r = JSON.parse(text) as { t: number; e: string; f?: string; k?: string; d: unknown };
  const m: StoredMessage = { event: r.e, data: r.d, ts: r.t, offset };
  if (r.f !== undefined) m.from = r.f;
  if (r.k !== undefined) m.key = r.k;
  return m;
}

/**
 * A record as its JSON pieces, read off the text `encodeRecord` writes without parsing `data`: the
 * event and sender as their JSON string literals, `data` as the text up to the closing brace. A
 * record in any other shape is parsed whole and its pieces serialized again (the same text).
 */
function splitRecord(text: string, offset: number): StoredJson {
  const s = text.indexOf(',"s":', 5);
  const ts = s > 5 && text.startsWith('{"t":') ? Number(text.slice(5, s)) : Number.NaN;
  let i = s + 5;
  while (text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
  const e = i > s + 5 && text.startsWith(',"e":"', i) ? stringEnd(text, i + 5) : -1;
  let j = e;
  let f = -1;
  if (j > 0 && text.startsWith(',"f":"', j)) j = f = stringEnd(text, j + 5);
  if (j > 0 && text.startsWith(',"k":"', j)) j = stringEnd(text, j + 5);
  if (Number.isFinite(ts) && j > 0 && text.startsWith(',"d":', j) && text.charCodeAt(text.length - 1) === 125) {
    const m: StoredJson = { offset, ts, eventJson: text.slice(i + 5, e), json: text.slice(j + 5, -1) };
    if (f > 0) m.fromJson = text.slice(e + 5, f);
    return m;
  }
  const m = decodeRecord(text, offset);
  const q = JSON.stringify;
  const out: StoredJson = { offset, ts: m.ts, eventJson: q(m.event), json: q(m.data ?? null) };
  if (m.from !== undefined) out.fromJson = q(m.from);
  return out;
}

/** The index just past the JSON string literal whose opening quote is at `at`, or -1 when it does not close. */
function stringEnd(text: string, at: number): number {
  for (let k = at + 1; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c === 92) k++;
    else if (c === 34) return k + 1;
  }
  return -1;
}

/** The size of the value the last `RAW_VALUES.decode` was handed. */
let rawSize = 0;
/**
 * `v2-messages` read as bytes (`readRecords`): lmdb hands the decoder its own read buffer (no copy,
 * valid until the cursor moves on), and keys come back as their offsets (no key Buffer per entry).
 * Nothing is written through this handle.
 */
const RAW_VALUES = {
  encode(): never {
    throw new Error('v2-messages is written through its string handle');
  },
  decode(bytes: Uint8Array, size: number): Uint8Array {
    rawSize = size;
    return bytes;
  },
};
const OFFSET_KEYS = {
  writeKey(key: Buffer, target: Uint8Array, start: number): number {
    target.set(key, start);
    return start + key.length;
  },
  readKey(b: Uint8Array, _start: number, end: number): number {
    return (
      (b[end - 8]! * 0x1000000 + ((b[end - 7]! << 16) | (b[end - 6]! << 8) | b[end - 5]!)) * 0x1_0000_0000 +
      b[end - 4]! * 0x1000000 +
      ((b[end - 3]! << 16) | (b[end - 2]! << 8) | b[end - 1]!)
    );
  },
};

/** True when the bytes at `at` are `word`'s (ASCII). */
function bytesAt(b: Uint8Array, at: number, word: Uint8Array): boolean {
  for (let k = 0; k < word.length; k++) if (b[at + k] !== word[k]) return false;
  return true;
}
const S_KEY = Buffer.from(',"s":');
const E_KEY = Buffer.from(',"e":"');
const F_KEY = Buffer.from(',"f":"');
const K_KEY = Buffer.from(',"k":"');
const D_KEY = Buffer.from(',"d":');

/** The index just past the JSON string literal (bytes) whose opening quote is at `at`, or -1 when it does not close before `n`. */
function bytesStringEnd(b: Uint8Array, at: number, n: number): number {
  for (let k = at + 1; k < n; k++) {
    const c = b[k];
    if (c === 92) k++;
    else if (c === 34) return k + 1;
  }
  return -1;
}

/**
 * Find the parts of the record `encodeRecord` wrote in `b` (`n` bytes) as `splitRecord` finds them
 * in its text; a timestamp that is not a plain integer, or any other shape, leaves `eventStart` -1.
 */
function splitBytes(b: Uint8Array, n: number, r: RawRecord): void {
  r.bytes = b;
  r.eventStart = -1;
  if (n < 7 || b[0] !== 123 || b[1] !== 34 || b[2] !== 116 || b[3] !== 34 || b[4] !== 58 || b[n - 1] !== 125) return;
  let i = 5;
  let ts = 0;
  for (let c = b[i]!; c >= 48 && c <= 57 && i < n; c = b[++i]!) ts = ts * 10 + (c - 48);
  // Canonical digits only (as `${ts}` writes them): no sign, fraction, exponent or leading zero.
  if (i === 5 || i > 20 || (b[5] === 48 && i > 6)) return;
  r.ts = ts;
  r.tsStart = 5;
  r.tsEnd = i;
  if (!bytesAt(b, i, S_KEY)) return;
  i += 5;
  const s0 = i;
  while (i < n && b[i]! >= 48 && b[i]! <= 57) i++;
  if (i === s0 || !bytesAt(b, i, E_KEY)) return;
  const e0 = i + 5;
  const e1 = bytesStringEnd(b, e0, n);
  if (e1 < 0) return;
  i = e1;
  r.fromStart = -1;
  if (bytesAt(b, i, F_KEY)) {
    r.fromStart = i + 5;
    i = r.fromEnd = bytesStringEnd(b, i + 5, n);
    if (i < 0) return;
  }
  if (bytesAt(b, i, K_KEY)) {
    i = bytesStringEnd(b, i + 5, n);
    if (i < 0) return;
  }
  if (!bytesAt(b, i, D_KEY) || i + 5 >= n - 1) return;
  r.dataStart = i + 5;
  r.dataEnd = n - 1;
  r.eventStart = e0;
  r.eventEnd = e1;
}

/** Durable store on LMDB (kind "disk"): an append's promise resolves once it is on disk. */
export class LmdbStore implements Store {
  /** Always "disk". */
  readonly kind = 'disk';
  /** Always true. */
  readonly durable = true;
  private readonly env: RootDatabase;
  private readonly msgs: Database<string, Buffer>;
  /** The same sub-database, read as bytes (`readRecords`). */
  private readonly rawMsgs: Database<Uint8Array, Buffer>;
  /** `readRecords`' record (one, reused). */
  private readonly rawRecord: RawRecord = {
    offset: 0,
    ts: 0,
    bytes: new Uint8Array(0),
    tsStart: 0,
    tsEnd: 0,
    eventStart: -1,
    eventEnd: 0,
    fromStart: -1,
    fromEnd: 0,
    dataStart: 0,
    dataEnd: 0,
  };
  private readonly metas: Database<LogMeta, Buffer>;
  private readonly consumers: Database<ConsumerState, Buffer>;
  private readonly dedup: Database<Seen, Buffer>;
  private readonly expiry: Database<[string, string, string], Buffer>;
  /** Settled logs, least recently used evicted (their meta on disk is current). */
  private readonly cache: LRUCache<string, DiskLog>;
  /** Logs with writes in flight: never evicted. */
  private readonly busy = new Map<string, DiskLog>();
  private readonly pendingConsumers = new Map<string, ConsumerState>();
  private readonly retention: RetentionResolver;
  private readonly now: () => number;
  private readonly idleTtl: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private lastWrite: Promise<unknown> = Promise.resolve();
  /** The write group still taking writes (flushed into one batch by a microtask). */
  private group: WriteGroup | undefined;
  /** Last expiry entry swept (its removal may still be in flight, so the next sweep starts after it). */
  private sweptTo: Buffer | undefined;
  /** Where the idle-room sweep goes on from. */
  private idleFrom: Buffer | undefined;
  private sweeping = false;
  private closed = false;
  private readonly lock: DirLock;
  private state: StoreHealth = { writable: true };
  /** Numbers each write; health follows the latest settled one. */
  private writeSeq = 0;
  private healthSeq = 0;

  /**
   * Open (or create) the store in directory `dir`, which must exist. Prefer `LmdbStore.open`,
   * which creates the directory. Takes the directory's exclusive lock first (see `DirLock`).
   */
  constructor(dir: string, opts: StoreOptions) {
    this.retention = opts.retention;
    this.now = opts.now ?? Date.now;
    this.idleTtl = opts.idleRoomTtlMs ?? IDLE_ROOM_TTL_MS;
    this.cache = new LRUCache({ max: Math.max(1, opts.cacheRooms ?? CACHE_ROOMS) });
    this.lock = new DirLock(dir);
    let env: RootDatabase | undefined;
    try {
      // noSubdir: false — lmdb treats a path with a dot in its last segment (e.g. /tmp/tmp.x1Y) as a file otherwise.
      // eventTurnBatching off: every write here is in an explicit batch, and lmdb's own per-turn batch would
      // create a commit promise nobody holds (an unhandled rejection when a commit fails).
      // separateFlushed: a batch's promise carries `flushed`, resolved once its commit is synced (R5.8.1: what an append waits for).
      this.env = env = open({ path: dir, noSubdir: false, eventTurnBatching: false, separateFlushed: true });
      const names = new Set([...this.env.getKeys()].map(String));
      const info = this.env.openDB<number, string>({ name: 'wsq', encoding: 'json' });
      const format = info.get('format');
      if (format === undefined && names.has('messages') && names.has('logs')) {
        throw new Error(
          `the data directory ${dir} was written by an earlier wsq (storage format 1) that this version cannot read; start with another --data-dir (or move this one aside), or keep running the earlier wsq to drain it.`,
        );
      }
      if (format !== undefined && format !== FORMAT) {
        throw new Error(`the data directory ${dir} has storage format ${format}, and this wsq reads format ${FORMAT}; use a matching wsq version, or another --data-dir.`);
      }
      if (format === undefined) info.putSync('format', FORMAT);
      this.msgs = this.env.openDB({ name: 'v2-messages', keyEncoding: 'binary', encoding: 'string' });
      const raw = { name: 'v2-messages', keyEncoder: OFFSET_KEYS, encoder: RAW_VALUES };
      this.rawMsgs = this.env.openDB<Uint8Array, Buffer>(raw);
      this.metas = this.env.openDB({ name: 'v2-logs', keyEncoding: 'binary', encoding: 'json' });
      this.consumers = this.env.openDB({ name: 'v2-consumers', keyEncoding: 'binary', encoding: 'json' });
      this.dedup = this.env.openDB({ name: 'v2-dedup', keyEncoding: 'binary', encoding: 'json' });
      this.expiry = this.env.openDB({ name: 'v2-dedup-expiry', keyEncoding: 'binary', encoding: 'json' });
    } catch (err) {
      void env?.close().catch(noop);
      this.lock.release();
      throw err;
    }
    const every = opts.idleSweepMs ?? IDLE_SWEEP_MS;
    if (this.idleTtl > 0 && every > 0) this.timer = setInterval(() => void this.sweepIdle(SWEEP_CHUNK).catch(noop), every).unref();
  }

  /** Create `dir` if needed and open the store there; reopening a directory keeps its logs, epochs and state. */
  static async open(dir: string, opts: StoreOptions): Promise<LmdbStore> {
    await mkdir(dir, { recursive: true });
    return new LmdbStore(dir, opts);
  }

  /** Writable unless the latest settled commit failed; then `reason` says why. */
  health(): StoreHealth {
    return { ...this.state };
  }

  /** The log's position (creating the log and its epoch, committed before this resolves); expired messages are trimmed. */
  async position(ns: string, room: string): Promise<LogPosition> {
    const log = this.log(ns, room);
    await log.tail.catch(noop);
    this.expire(log, this.retention(ns, room), this.now());
    return { epoch: log.epoch, first: log.first, last: log.last };
  }

  /** Store a message at the next offset (assigned synchronously); resolves once committed to disk. */
  append(ns: string, room: string, msg: NewMessage, size?: number, extra?: AppendExtra): Promise<AppendResult> {
    try {
      return this.appendNow(ns, room, msg, size, extra);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Held, unexpired messages with offset >= from, ascending, at most `limit`; waits for appends already made to commit. */
  read(ns: string, room: string, from: number, limit: number): Promise<StoredMessage[]> {
    return this.readWith(ns, room, from, limit, decodeRecord);
  }

  /** As `read`, each message as the JSON text its record holds (`data` not parsed: a replay splices it into the frame). */
  readJson(ns: string, room: string, from: number, limit: number): Promise<StoredJson[]> {
    return this.readWith(ns, room, from, limit, splitRecord);
  }

  private async readWith<T extends { ts: number }>(ns: string, room: string, from: number, limit: number, decode: (text: string, offset: number) => T): Promise<T[]> {
    const out: T[] = [];
    const log = this.find(ns, room);
    if (!log || limit <= 0) return out;
    await log.tail.catch(noop);
    const r = this.retention(ns, room);
    const now = this.now();
    this.expire(log, r, now);
    const start = Math.max(from, log.first);
    if (start > log.last) return out;
    const cutoff = r.maxAgeMs > 0 ? now - r.maxAgeMs : -Infinity;
    for (const { key, value } of this.msgs.getRange({ start: offsetKey(log.key, start), end: offsetKey(log.key, log.last + 1) })) {
      const m = decode(value, offsetOf(key));
      if (m.ts < cutoff) continue;
      out.push(m);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** As `read`, each message handed to `visit` as its record's bytes (the replay copies them into its frames). */
  async readRecords(ns: string, room: string, from: number, limit: number, visit: (r: RawRecord) => boolean): Promise<void> {
    const log = this.find(ns, room);
    if (!log || limit <= 0) return;
    await log.tail.catch(noop);
    const r = this.retention(ns, room);
    const now = this.now();
    this.expire(log, r, now);
    const start = Math.max(from, log.first);
    if (start > log.last) return;
    const cutoff = r.maxAgeMs > 0 ? now - r.maxAgeMs : -Infinity;
    const rec = this.rawRecord;
    let n = 0;
    for (const { key, value } of this.rawMsgs.getRange({ start: offsetKey(log.key, start), end: offsetKey(log.key, log.last + 1) })) {
      splitBytes(value, rawSize, rec);
      if (rec.eventStart < 0) rec.ts = decodeRecord(Buffer.from(value.buffer, value.byteOffset, rawSize).toString('utf8'), 0).ts;
      if (rec.ts < cutoff) continue;
      rec.offset = key as unknown as number;
      if (!visit(rec) || ++n >= limit) break;
    }
  }

  /** The consumer's saved state (including a save still in flight), or undefined. */
  async getConsumer(ns: string, room: string, name: string): Promise<ConsumerState | undefined> {
    const s = this.pendingConsumers.get(compositeKey(ns, room, name)) ?? this.consumers.get(nameKey(roomKey(ns, room), name));
    return s && copyConsumer(s);
  }

  /** Save the consumer's state; resolves once committed to disk (rejects with StoreUnavailableError if it could not be). */
  async putConsumer(ns: string, room: string, name: string, state: ConsumerState): Promise<void> {
    const k = compositeKey(ns, room, name);
    const copy = copyConsumer(state);
    this.pendingConsumers.set(k, copy);
    try {
      await this.write(() => quiet(this.consumers.put(nameKey(roomKey(ns, room), name), copy)));
    } finally {
      if (this.pendingConsumers.get(k) === copy) this.pendingConsumers.delete(k);
    }
  }

  /**
   * R5.6.7: forget idle rooms: no message held (after age retention), no consumer state, no write for
   * `idleRoomTtlMs`, nothing in flight. Looks at up to `limit` room records, going on from where
   * the last sweep stopped; removes each room's record, leftover messages and dedup keys in one batch.
   */
  async sweepIdle(limit = Infinity): Promise<number> {
    if (this.idleTtl <= 0 || this.closed || this.sweeping) return 0;
    this.sweeping = true;
    try {
      const now = this.now();
      const total = Math.min(limit, (this.metas.getStats() as { entryCount: number }).entryCount);
      let seen = 0;
      let removed = 0;
      while (seen < total && !this.closed) {
        // A slice at a time, committed (or yielded) before the next: the event loop is never held for long.
        const victims: DiskLog[] = [];
        let got = 0;
        const range = { start: this.idleFrom, exclusiveStart: this.idleFrom !== undefined, limit: Math.min(IDLE_SLICE, total - seen) };
        for (const { key, value } of this.metas.getRange(range)) {
          got++;
          this.idleFrom = key;
          if (now - value.touched < this.idleTtl) continue;
          const ck = compositeKey(value.ns, value.room);
          if (this.busy.has(ck)) continue;
          const log = this.cache.peek(ck) ?? this.toLog(value, key);
          if (this.held(log, this.retention(value.ns, value.room), now)) continue;
          if (this.hasConsumer(key, ck)) continue;
          victims.push(log);
        }
        seen += got;
        if (got < range.limit) this.idleFrom = undefined; // reached the end: the next slice starts over
        if (victims.length === 0) {
          await new Promise((r) => setImmediate(r));
          continue;
        }
        for (const log of victims) this.cache.delete(log.ck);
        await this.write(() => {
          for (const log of victims) {
            quiet(this.metas.remove(log.key));
            if (log.last === 0) continue; // never held a message or a key
            const end = prefixEnd(log.key);
            for (const k of this.msgs.getKeys({ start: log.key, end })) quiet(this.msgs.remove(k));
            for (const k of this.dedup.getKeys({ start: log.key, end })) quiet(this.dedup.remove(k));
          }
        });
        removed += victims.length;
      }
      return removed;
    } finally {
      this.sweeping = false;
    }
  }

  /** Rooms with a log on disk or in flight (of `ns` when given), at most `limit`. */
  async listRooms(ns?: string, limit = 1000): Promise<RoomSummary[]> {
    await this.lastWrite;
    const out: RoomSummary[] = [];
    // One namespace's rooms are one key range (plain keys are length-prefixed ns first), so a listing reads at most `limit` records.
    const range = ns === undefined ? { limit } : { start: nsPrefix(ns), end: prefixEnd(nsPrefix(ns)), limit };
    for (const { value } of this.metas.getRange(range)) {
      if (ns !== undefined && value.ns !== ns) continue;
      const log = this.busy.get(compositeKey(value.ns, value.room)) ?? this.cache.peek(compositeKey(value.ns, value.room)) ?? value;
      out.push({ ns: value.ns, room: value.room, epoch: log.epoch, first: log.first, last: log.last });
    }
    return out;
  }

  /** Every saved consumer state of a room (saves in flight committed first), at most `limit`. A name too long to keep in its key is shown as its hash. */
  async consumerStates(ns: string, room: string, limit = 1000): Promise<NamedConsumerState[]> {
    await this.lastWrite;
    const key = roomKey(ns, room);
    const out: NamedConsumerState[] = [];
    for (const { key: k, value } of this.consumers.getRange({ start: key, end: prefixEnd(key), limit })) {
      out.push({ name: nameOf(k.subarray(key.length)), state: copyConsumer(value) });
    }
    return out;
  }

  /**
   * Copy the environment to directory `dir` while serving (LMDB's consistent hot copy, one read
   * transaction; writers go on). `dir` is created; it must not already hold a data.mdb.
   */
  async backup(dir: string, compact = false): Promise<void> {
    if (this.closed) throw new Error('LmdbStore is closed: backup after close()');
    await mkdir(dir, { recursive: true });
    await this.lastWrite;
    await this.env.backup(dir, compact); // an environment with a subdirectory copies into dir/data.mdb
  }

  /** Whether any consumer state (saved or being saved) exists for the room with this key. */
  private hasConsumer(key: Buffer, ck: string): boolean {
    for (const _ of this.consumers.getKeys({ start: key, end: prefixEnd(key), limit: 1 })) return true;
    for (const k of this.pendingConsumers.keys()) if (k.startsWith(ck)) return true;
    return false;
  }

  /** Wait for every write made so far to commit, then close the environment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.lastWrite;
    this.cache.clear();
    this.busy.clear();
    try {
      await this.env.close();
    } finally {
      this.lock.release();
    }
  }

  private appendNow(ns: string, room: string, msg: NewMessage, size?: number, extra?: AppendExtra): Promise<AppendResult> {
    if (this.closed) throw new Error('LmdbStore is closed: append after close()');
    const log = this.log(ns, room);
    const r = this.retention(ns, room);
    const now = this.now();
    const { epoch } = log;
    const key = r.dedupWindowMs > 0 ? msg.key : undefined;
    if (key !== undefined) {
      const seen = this.seen(log, key, now - r.dedupWindowMs);
      if (seen) {
        const c = extra?.consumer;
        const saved = c ? this.putConsumer(ns, c.room, c.name, c.state) : undefined;
        return Promise.all([seen.done, saved]).then((): AppendResult => ({ offset: seen.offset, epoch, duplicate: true, durability: 'synced' }));
      }
    }
    const json = extra?.json ?? JSON.stringify(msg.data ?? null);
    size ??= messageSize(msg);
    if (r.overflow === 'reject' && r.maxAgeMs > 0) this.expire(log, r, now);
    const fit = makeRoom(ns, room, log, size, r, (o) => this.info(log, o)?.size ?? 0);
    const offset = ++log.last;
    const from = log.first;
    log.first = fit.first;
    log.bytes = fit.bytes + size;
    log.touched = now;
    const text = encodeRecord(msg, size, json);
    const c = extra?.consumer;
    const ck = c && compositeKey(ns, c.room, c.name);
    const cstate = c && copyConsumer(c.state);
    if (ck) this.pendingConsumers.set(ck, cstate!);
    // No meta here: the group saves each log's meta once, after its writes (WriteGroup.metas).
    const writes = (): void => {
      quiet(this.msgs.put(offsetKey(log.key, offset), text));
      for (let o = from; o < fit.first; o++) quiet(this.msgs.remove(offsetKey(log.key, o)));
      if (c) quiet(this.consumers.put(nameKey(roomKey(ns, c.room), c.name), cstate!));
      if (key === undefined) return;
      this.sweepKeys(now);
      const dk = nameKey(log.key, key);
      quiet(this.dedup.put(dk, { offset, ts: now }));
      quiet(this.expiry.put(timeKey(now + r.dedupWindowMs, dk), [ns, room, key]));
    };
    log.unsynced.set(offset, { ts: msg.ts, size });
    const g = this.writeLog(log, writes, () => {
      log.unsynced.delete(offset);
      if (key !== undefined && log.pendingKeys.get(key)?.offset === offset) log.pendingKeys.delete(key);
      if (ck && this.pendingConsumers.get(ck) === cstate) this.pendingConsumers.delete(ck);
    });
    // R5.8.1: resolves only on the group's `done`, i.e. lmdb's `flushed` for the transaction holding this message.
    const result = g.done.then((): AppendResult => {
      failure(g, writes);
      return { offset, epoch, duplicate: false, durability: 'synced' };
    });
    if (key !== undefined) log.pendingKeys.set(key, { offset, ts: now, done: result });
    return result;
  }

  /** Queue writes (run when the group's batch is built, in order); resolves once they are committed and synced. */
  private write(writes: () => void): Promise<void> {
    const g = this.enqueue(writes);
    return g.done.then(() => failure(g, writes));
  }

  /**
   * The write group taking writes now, with `writes` added. A new group
   * is flushed into one lmdb batch by a microtask: after the synchronous work of this turn, so
   * every append made meanwhile (e.g. all emits of one socket read) shares the batch, before the
   * turn's I/O (no added latency).
   */
  private enqueue(writes: (() => void) | undefined): WriteGroup {
    let g = this.group;
    if (!g) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const group: WriteGroup = { writes: [], metas: new Set(), after: [], done, resolve, reject };
      g = this.group = group;
      this.lastWrite = done.catch(noop); // also: the group's rejection is always handled
      queueMicrotask(() => this.flush(group));
    }
    if (writes) g.writes.push(writes);
    return g;
  }

  /**
   * Build the group's batch (one transaction) and settle the group once lmdb says the commit is
   * flushed: the batch promise (resolved on commit, rejected when the commit failed), then its
   * `flushed` (resolved once that commit is synced; it never settles for a failed commit, hence
   * the commit promise first). A failed commit becomes StoreUnavailableError for every write of
   * the group. Every lmdb write promise inside is handled (`quiet`).
   */
  private flush(g: WriteGroup): void {
    if (this.group === g) this.group = undefined;
    const seq = ++this.writeSeq;
    let p: FlushedPromise;
    try {
      p = this.env.batch(() => {
        for (const w of g.writes) {
          try {
            w();
          } catch (err) {
            (g.failed ??= new Map()).set(w, err);
          }
        }
        for (const log of g.metas) this.saveMeta(log);
      }) as FlushedPromise;
    } catch (err) {
      this.settle(g);
      g.reject(err);
      return;
    }
    p.then(() => p.flushed ?? this.env.flushed).then(
      () => {
        if (seq > this.healthSeq) {
          this.healthSeq = seq;
          this.state = { writable: true };
        }
        this.settle(g);
        g.resolve();
      },
      (err: unknown) =>
        this.refused(seq, err).catch((e: unknown) => {
          this.settle(g);
          g.reject(e);
        }),
    );
  }

  /** Run the group's `after` callbacks (each on its own: one that throws does not stop the rest), then release its logs. */
  private settle(g: WriteGroup): void {
    for (const f of g.after) {
      try {
        f();
      } catch {
        // bookkeeping only; nothing to undo
      }
    }
    for (const log of g.metas) {
      if (--log.inflight > 0) continue;
      if (this.busy.get(log.ck) === log) this.busy.delete(log.ck);
      if (!this.closed) this.cache.set(log.ck, log);
    }
  }

  /**
   * A write of one log (its meta saved with the group): keeps the log in the busy map until the
   * group settles, sets its tail, and runs `settled` then (either way), before the log is released.
   */
  private writeLog(log: DiskLog, writes: (() => void) | undefined, settled?: () => void): WriteGroup {
    const g = this.enqueue(writes);
    if (!g.metas.has(log)) {
      // The log's first write in this group: `inflight` counts groups, released in `settle`.
      g.metas.add(log);
      if (log.inflight++ === 0) {
        this.cache.delete(log.ck);
        this.busy.set(log.ck, log);
      }
      log.tail = g.done;
    }
    if (settled) g.after.push(settled);
    return g;
  }

  /** R5.8.4: a failed commit marks the store unwritable and rejects with why (waiting briefly for lmdb's detailed error). */
  private async refused(seq: number, err: unknown): Promise<never> {
    const e = err as { message?: string; commitError?: Promise<unknown> };
    let reason = `the disk commit failed (${e?.message ?? String(err)})`;
    if (e?.commitError && typeof e.commitError.then === 'function') {
      const detail = await Promise.race([
        e.commitError.then(
          () => undefined,
          (ce: { message?: string; code?: unknown }) => `${ce?.message ?? ce}${ce?.code !== undefined ? ` (code ${ce.code})` : ''}`,
        ),
        new Promise<undefined>((r) => (setTimeout(r, REASON_WAIT_MS) as unknown as NodeJS.Timeout).unref()),
      ]);
      if (detail) reason = `the disk commit failed (${detail}), so the disk is probably full or failing`;
    }
    if (seq > this.healthSeq) {
      this.healthSeq = seq;
      this.state = { writable: false, reason };
    }
    throw new StoreUnavailableError(reason);
  }

  private saveMeta(log: DiskLog): void {
    const meta: LogMeta = { ns: log.ns, room: log.room, epoch: log.epoch, first: log.first, last: log.last, bytes: log.bytes, touched: log.touched };
    quiet(this.metas.put(log.key, meta));
  }

  private toLog(meta: LogMeta, key: Buffer): DiskLog {
    return { ...meta, key, ck: compositeKey(meta.ns, meta.room), unsynced: new Map(), pendingKeys: new Map(), tail: Promise.resolve(), inflight: 0 };
  }

  /** The cached log, loading its meta from disk if needed; undefined when it was never created. */
  private find(ns: string, room: string): DiskLog | undefined {
    const ck = compositeKey(ns, room);
    const cached = this.busy.get(ck) ?? this.cache.get(ck);
    if (cached) return cached;
    const key = roomKey(ns, room);
    const meta = this.metas.get(key);
    if (!meta) return undefined;
    const log = this.toLog(meta, key);
    this.cache.set(ck, log);
    return log;
  }

  /** The log, created with a fresh epoch (and its meta written) when it does not exist. */
  private log(ns: string, room: string): DiskLog {
    const found = this.find(ns, room);
    if (found) return found;
    const log = this.toLog({ ns, room, epoch: nanoid(10), first: 1, last: 0, bytes: 0, touched: this.now() }, roomKey(ns, room));
    this.cache.set(log.ck, log);
    this.writeLog(log, undefined); // its meta, with the group (a failure is handled there and reported to the writes that need it)
    return log;
  }

  /** ts and size of the message at `offset`, in flight or on disk. */
  private info(log: DiskLog, offset: number): { ts: number; size: number } | undefined {
    const u = log.unsynced.get(offset);
    if (u) return u;
    const text = this.msgs.get(offsetKey(log.key, offset));
    if (text === undefined) return undefined;
    const m = HEAD.exec(text);
    return m ? { ts: Number(m[1]), size: Number(m[2]) } : undefined;
  }

  /** Whether the log still holds an unexpired message (checks the newest one). */
  private held(log: DiskLog, r: Retention, now: number): boolean {
    if (log.first > log.last) return false;
    if (r.maxAgeMs <= 0) return true;
    const m = this.info(log, log.last);
    return m !== undefined && m.ts >= now - r.maxAgeMs;
  }

  /** The first copy of `key` if seen after `cutoff` (in flight, or committed). */
  private seen(log: DiskLog, key: string, cutoff: number): SeenPending | undefined {
    const pending = log.pendingKeys.get(key);
    if (pending) return pending.ts > cutoff ? pending : undefined;
    const s = this.dedup.get(nameKey(log.key, key));
    return s && s.ts > cutoff ? { ...s, done: Promise.resolve() } : undefined;
  }

  /** Trim messages older than `maxAgeMs` from the front, in memory now and on disk in a batch. */
  private expire(log: DiskLog, r: Retention, now: number): void {
    if (r.maxAgeMs <= 0) return;
    const cutoff = now - r.maxAgeMs;
    const from = log.first;
    while (log.first <= log.last) {
      const m = this.info(log, log.first);
      if (m && m.ts >= cutoff) break;
      log.bytes -= m?.size ?? 0;
      log.first++;
    }
    if (log.first === from) return;
    const to = log.first;
    this.writeLog(log, () => {
      for (let o = from; o < to; o++) quiet(this.msgs.remove(offsetKey(log.key, o)));
    }); // and its meta, with the group
  }

  /** Remove a few expired dedup keys (called inside a write batch). A key re-appended in flight is kept. */
  private sweepKeys(now: number): void {
    const range = { start: this.sweptTo, exclusiveStart: this.sweptTo !== undefined, end: timeKey(now, Buffer.alloc(0)), limit: SWEEP_PER_APPEND };
    for (const { key: ix, value } of this.expiry.getRange(range)) {
      this.sweptTo = ix;
      quiet(this.expiry.remove(ix));
      const [ns, room, key] = value;
      const dk = ix.subarray(8);
      const s = this.dedup.get(dk);
      if (!s || s.ts + this.retention(ns, room).dedupWindowMs > now) continue;
      if ((this.busy.get(compositeKey(ns, room)) ?? this.cache.peek(compositeKey(ns, room)))?.pendingKeys.has(key)) continue;
      quiet(this.dedup.remove(dk));
    }
  }
}

/** Throw what `writes` threw while its group's batch was built, if it did (the rest of the group committed). */
function failure(g: WriteGroup, writes: () => void): void {
  const err = g.failed?.get(writes);
  if (err !== undefined) throw err;
}

/** Handle an lmdb write's own promise: a failed commit rejects it too, and the batch's promise reports that. */
function quiet(p: unknown): void {
  if (!p || typeof (p as Promise<unknown>).then !== 'function' || p === lastQuieted) return;
  lastQuieted = p; // inside a batch lmdb hands every write the same promise: one handler is enough
  (p as Promise<unknown>).then(noop, noop);
}
let lastQuieted: unknown;

/** Directories whose lock this process holds (real paths). */
const heldDirs = new Set<string>();

/**
 * Whether a process with this PID exists (EPERM: it exists but belongs to another user) and,
 * where /proc tells, is a Node or wsq process: after a crash a PID may be reused by an
 * unrelated process, which must not keep the directory locked.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return /node|wsq/i.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc (or not readable): trust kill(pid, 0)
  }
}

/**
 * The exclusive lock of a data directory: a file `wsq.lock` holding the owner's PID, created
 * with `wx` (fails if it exists). Two processes writing one LMDB directory would assign the
 * same offsets twice and overwrite each other's acked messages, so a second one refuses to
 * start. A lock whose PID is no longer alive (the owner was killed) is taken over.
 */
export class DirLock {
  readonly path: string;
  private readonly dir: string;
  private held = false;

  constructor(dir: string) {
    this.dir = realpathSync(dir);
    this.path = join(this.dir, 'wsq.lock');
    for (let tries = 0; ; tries++) {
      try {
        const fd = openSync(this.path, 'wx');
        try {
          writeSync(fd, `${process.pid}\n`);
        } finally {
          closeSync(fd);
        }
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 3) throw err;
      }
      const pid = this.holder();
      const mine = pid === process.pid && heldDirs.has(this.dir);
      if (mine || (pid !== undefined && pid !== process.pid && alive(pid))) {
        throw new Error(
          `the data directory ${this.dir} is in use by another wsq process (PID ${pid}${mine ? ', this one' : ''}, lock file ${this.path}); stop that process first, or give this one another --data-dir.`,
        );
      }
      // Stale: its owner is gone (or the file is unreadable or empty). Take it over.
      try {
        unlinkSync(this.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    this.held = true;
    heldDirs.add(this.dir);
  }

  /** The PID in the lock file, or undefined when it is missing or unreadable. */
  holder(): number | undefined {
    try {
      const pid = Number.parseInt(readFileSync(this.path, 'utf8'), 10);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Remove the lock file (only if it is still ours). */
  release(): void {
    if (!this.held) return;
    this.held = false;
    heldDirs.delete(this.dir);
    if (this.holder() !== process.pid) return;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone: nothing to release
    }
  }
}
