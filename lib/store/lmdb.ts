/**
 * LmdbStore: the durable embedded store, on LMDB (`lmdb` package). One environment per
 * directory with sub-databases:
 * - `messages`  [ns, room, offset] → message (+ its size for bytes retention)
 * - `logs`      [ns, room] → { epoch, first, last, bytes }
 * - `consumers` [ns, room, name] → ConsumerState
 * - `dedup`     [ns, room, key] → { offset, ts } (ts = store clock when first seen)
 * - `dedup-expiry` [expiresAt, ns, room, key] → true (lets expired keys be swept in order)
 *
 * Each log's meta is cached in memory, so offsets are assigned synchronously in `append`.
 * All writes of one append (message, trimmed oldest, meta, dedup key) go in one lmdb batch;
 * lmdb commits batches in order with its default synced commits, and a batch's promise
 * resolves only once the commit is flushed to disk, which is what `append` returns.
 * Under `reject`, a full room makes `append` return a rejected promise (nothing is written).
 * Names are bounded by LMDB's key size: ns + room at most 1024 UTF-8 bytes, idempotency keys
 * at most 768; longer ones are refused with a RangeError, as is a message msgpack cannot encode.
 */
import { closeSync, openSync, readFileSync, realpathSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { nanoid } from 'nanoid';
import { compositeKey, copyConsumer, makeRoom, messageSize } from './memory.js';
import type {
  AppendResult,
  ConsumerState,
  LogPosition,
  NewMessage,
  Retention,
  RetentionResolver,
  Store,
  StoreOptions,
  StoredMessage,
} from './types.js';

/** A message as kept on disk. */
interface MsgRecord extends NewMessage {
  size: number;
}

/** A log's meta as kept on disk. */
interface LogMeta {
  epoch: string;
  first: number;
  last: number;
  bytes: number;
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
  ns: string;
  room: string;
  /** ts and size of appended messages whose batch is not committed yet. */
  unsynced: Map<number, { ts: number; size: number }>;
  /** Keys appended but not committed yet. */
  pendingKeys: Map<string, SeenPending>;
  /** The latest write touching this log; batches commit in order, so awaiting it awaits them all. */
  tail: Promise<unknown>;
}

/** Longest room key (ns + room, UTF-8) and idempotency key: together they stay under LMDB's 1978-byte key limit. */
const MAX_NAME_BYTES = 1024;
const MAX_KEY_BYTES = 768;
/** Expired dedup keys swept per keyed append (amortised cleanup, in the same batch). */
const SWEEP_PER_APPEND = 8;
const noop = (): void => {};

/** Durable store on LMDB (kind "disk"): an append's promise resolves once it is on disk. */
export class LmdbStore implements Store {
  /** Always "disk". */
  readonly kind = 'disk';
  /** Always true. */
  readonly durable = true;
  private readonly env: RootDatabase;
  private readonly msgs: Database<MsgRecord, [string, string, number]>;
  private readonly metas: Database<LogMeta, [string, string]>;
  private readonly consumers: Database<ConsumerState, [string, string, string]>;
  private readonly dedup: Database<Seen, [string, string, string]>;
  private readonly expiry: Database<true, [number, string, string, string]>;
  private readonly logs = new Map<string, DiskLog>();
  private readonly pendingConsumers = new Map<string, ConsumerState>();
  private readonly retention: RetentionResolver;
  private readonly now: () => number;
  private lastWrite: Promise<unknown> = Promise.resolve();
  /** Last expiry entry swept (its removal may still be in flight, so the next sweep starts after it). */
  private sweptTo: [number, string, string, string] | undefined;
  private closed = false;
  private readonly lock: DirLock;

  /**
   * Open (or create) the store in directory `dir`, which must exist. Prefer `LmdbStore.open`,
   * which creates the directory. Takes the directory's exclusive lock first (see `DirLock`).
   */
  constructor(dir: string, opts: StoreOptions) {
    this.retention = opts.retention;
    this.now = opts.now ?? Date.now;
    this.lock = new DirLock(dir);
    // noSubdir: false — lmdb treats a path with a dot in its last segment (e.g. /tmp/tmp.x1Y) as a file otherwise.
    try {
      this.env = open({ path: dir, noSubdir: false });
      this.msgs = this.env.openDB({ name: 'messages' });
      this.metas = this.env.openDB({ name: 'logs' });
      this.consumers = this.env.openDB({ name: 'consumers' });
      this.dedup = this.env.openDB({ name: 'dedup' });
      this.expiry = this.env.openDB({ name: 'dedup-expiry' });
    } catch (err) {
      this.lock.release();
      throw err;
    }
  }

  /** Create `dir` if needed and open the store there; reopening a directory keeps its logs, epochs and state. */
  static async open(dir: string, opts: StoreOptions): Promise<LmdbStore> {
    await mkdir(dir, { recursive: true });
    return new LmdbStore(dir, opts);
  }

  /** The log's position (creating the log and its epoch, committed before this resolves); expired messages are trimmed. */
  async position(ns: string, room: string): Promise<LogPosition> {
    const log = this.log(ns, room);
    await log.tail.catch(noop);
    this.expire(log, this.retention(ns, room), this.now());
    return { epoch: log.epoch, first: log.first, last: log.last };
  }

  /** Store a message at the next offset (assigned synchronously); resolves once committed to disk. */
  append(ns: string, room: string, msg: NewMessage, size?: number): Promise<AppendResult> {
    try {
      return this.appendNow(ns, room, msg, size);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Held, unexpired messages with offset >= from, ascending, at most `limit`; waits for appends already made to commit. */
  async read(ns: string, room: string, from: number, limit: number): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    const log = this.find(ns, room);
    if (!log || limit <= 0) return out;
    await log.tail.catch(noop);
    const r = this.retention(ns, room);
    const now = this.now();
    this.expire(log, r, now);
    const start = Math.max(from, log.first);
    if (start > log.last) return out;
    const cutoff = r.maxAgeMs > 0 ? now - r.maxAgeMs : -Infinity;
    for (const { key, value } of this.msgs.getRange({ start: [ns, room, start], end: [ns, room, log.last + 1] })) {
      if (value.ts < cutoff) continue;
      const { size: _size, ...m } = value;
      out.push({ ...m, offset: key[2] });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The consumer's saved state (including a save still in flight), or undefined. */
  async getConsumer(ns: string, room: string, name: string): Promise<ConsumerState | undefined> {
    const s = this.pendingConsumers.get(compositeKey(ns, room, name)) ?? this.consumers.get([ns, room, name]);
    return s && copyConsumer(s);
  }

  /** Save the consumer's state; resolves once committed to disk. */
  async putConsumer(ns: string, room: string, name: string, state: ConsumerState): Promise<void> {
    const k = compositeKey(ns, room, name);
    const copy = copyConsumer(state);
    this.pendingConsumers.set(k, copy);
    try {
      await this.write(() => this.consumers.put([ns, room, name], copy));
    } finally {
      if (this.pendingConsumers.get(k) === copy) this.pendingConsumers.delete(k);
    }
  }

  /** Wait for every write made so far to commit, then close the environment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lastWrite;
    this.logs.clear();
    try {
      await this.env.close();
    } finally {
      this.lock.release();
    }
  }

  private appendNow(ns: string, room: string, msg: NewMessage, size?: number): Promise<AppendResult> {
    if (this.closed) throw new Error('LmdbStore is closed: append after close()');
    const log = this.log(ns, room);
    const r = this.retention(ns, room);
    const now = this.now();
    const { epoch } = log;
    const key = r.dedupWindowMs > 0 ? msg.key : undefined;
    if (key !== undefined) {
      const seen = this.seen(log, key, now - r.dedupWindowMs);
      if (seen) return seen.done.then(() => ({ offset: seen.offset, epoch, duplicate: true }));
    }
    if (key !== undefined && Buffer.byteLength(key) > MAX_KEY_BYTES) {
      throw new RangeError(`Idempotency key too long for LmdbStore (over ${MAX_KEY_BYTES} bytes)`);
    }
    size ??= messageSize(msg);
    if (r.overflow === 'reject' && r.maxAgeMs > 0) this.expire(log, r, now);
    const fit = makeRoom(ns, room, log, size, r, (o) => this.info(log, o)?.size ?? 0);
    const before = { first: log.first, last: log.last, bytes: log.bytes };
    const offset = ++log.last;
    log.first = fit.first;
    log.bytes = fit.bytes + size;
    const record: MsgRecord = { event: msg.event, data: msg.data, ts: msg.ts, size };
    if (msg.from !== undefined) record.from = msg.from;
    if (msg.key !== undefined) record.key = msg.key;
    let done: Promise<unknown>;
    try {
      done = this.write(() => {
        // The message goes first: if it cannot be encoded, nothing of this append was queued.
        this.msgs.put([ns, room, offset], record);
        for (let o = before.first; o < fit.first; o++) this.msgs.remove([ns, room, o]);
        this.saveMeta(log);
        if (key === undefined) return;
        this.sweepKeys(now);
        this.dedup.put([ns, room, key], { offset, ts: now });
        this.expiry.put([now + r.dedupWindowMs, ns, room, key], true);
      });
    } catch (err) {
      Object.assign(log, before);
      throw err;
    }
    log.unsynced.set(offset, { ts: msg.ts, size });
    log.tail = done;
    if (key !== undefined) log.pendingKeys.set(key, { offset, ts: now, done });
    const settle = (): void => {
      log.unsynced.delete(offset);
      if (key !== undefined && log.pendingKeys.get(key)?.offset === offset) log.pendingKeys.delete(key);
    };
    done.then(settle, settle);
    return done.then(() => ({ offset, epoch, duplicate: false }));
  }

  /** Queue one batch of writes; its promise resolves when the batch is committed and flushed. */
  private write(writes: () => void): Promise<unknown> {
    const p = this.env.batch(writes);
    this.lastWrite = p.catch(noop);
    return p;
  }

  private saveMeta(log: DiskLog): void {
    this.metas.put([log.ns, log.room], { epoch: log.epoch, first: log.first, last: log.last, bytes: log.bytes });
  }

  /** The cached log, loading its meta from disk if needed; undefined when it was never created. */
  private find(ns: string, room: string): DiskLog | undefined {
    const k = compositeKey(ns, room);
    const cached = this.logs.get(k);
    if (cached) return cached;
    const meta = this.metas.get([ns, room]);
    if (!meta) return undefined;
    const log: DiskLog = { ...meta, ns, room, unsynced: new Map(), pendingKeys: new Map(), tail: Promise.resolve() };
    this.logs.set(k, log);
    return log;
  }

  /** The log, created with a fresh epoch (and its meta written) when it does not exist. */
  private log(ns: string, room: string): DiskLog {
    const found = this.find(ns, room);
    if (found) return found;
    if (Buffer.byteLength(ns) + Buffer.byteLength(room) > MAX_NAME_BYTES) {
      throw new RangeError(`Namespace and room names too long for LmdbStore (over ${MAX_NAME_BYTES} bytes together)`);
    }
    const log: DiskLog = {
      epoch: nanoid(10), first: 1, last: 0, bytes: 0,
      ns, room, unsynced: new Map(), pendingKeys: new Map(), tail: Promise.resolve(),
    };
    this.logs.set(compositeKey(ns, room), log);
    log.tail = this.write(() => this.saveMeta(log));
    log.tail.catch(noop);
    return log;
  }

  /** ts and size of the message at `offset`, in flight or on disk. */
  private info(log: DiskLog, offset: number): { ts: number; size: number } | undefined {
    return log.unsynced.get(offset) ?? this.msgs.get([log.ns, log.room, offset]);
  }

  /** The first copy of `key` if seen after `cutoff` (in flight, or committed). */
  private seen(log: DiskLog, key: string, cutoff: number): SeenPending | undefined {
    const pending = log.pendingKeys.get(key);
    if (pending) return pending.ts > cutoff ? pending : undefined;
    const s = this.dedup.get([log.ns, log.room, key]);
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
    log.tail = this.write(() => {
      for (let o = from; o < to; o++) this.msgs.remove([log.ns, log.room, o]);
      this.saveMeta(log);
    });
    log.tail.catch(noop);
  }

  /** Remove a few expired dedup keys (called inside a write batch). A key re-appended in flight is kept. */
  private sweepKeys(now: number): void {
    const range = { start: this.sweptTo, exclusiveStart: this.sweptTo !== undefined, end: [now], limit: SWEEP_PER_APPEND };
    for (const { key: ix } of this.expiry.getRange(range)) {
      this.sweptTo = ix;
      const [, ns, room, key] = ix;
      this.expiry.remove(ix);
      const s = this.dedup.get([ns, room, key]);
      if (!s || s.ts + this.retention(ns, room).dedupWindowMs > now) continue;
      if (this.logs.get(compositeKey(ns, room))?.pendingKeys.has(key)) continue;
      this.dedup.remove([ns, room, key]);
    }
  }
}

/** Directories whose lock this process holds (real paths). */
const heldDirs = new Set<string>();

/** Whether a process with this PID exists (EPERM: it exists but belongs to another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
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
        throw new Error(`the data directory ${this.dir} is in use by another wsq process (PID ${pid}${mine ? ', this one' : ''}, lock file ${this.path}); stop that process first, or give this one another --data-dir.`);
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
