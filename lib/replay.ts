/**
 * Recovery planning for `join` with `since`: a pure function from what the client asked
 * and where the log stands to what to replay and what to report (PROTOCOL.md §5.3).
 */
import { isAscii } from 'node:buffer';
import { ENVELOPE_KEY } from '../protocol/binary.js';
import type { GapReport, ReplayRange } from '../protocol/frames.js';
import { headerBytes, putHeader } from './connection.js';
import type { RawRecord } from './store/types.js';

/** What the client asked for. */
export interface RecoveryRequest {
  since?: number | 'earliest';
  epoch?: string;
}

/** Where the log stands at the moment the join takes effect. */
export interface LogView {
  epoch: string;
  /** Earliest offset still held. */
  first: number;
  /** Last committed offset. */
  last: number;
}

/** The outcome: replay `range` (if any), then go live. */
export interface RecoveryPlan {
  recovered: boolean;
  range?: ReplayRange;
  gap?: GapReport;
}

function range(from: number, to: number): ReplayRange | undefined {
  return from <= to ? { from, to, count: to - from + 1 } : undefined;
}

/**
 * Plan a replay.
 * @example
 * planRecovery({ since: 3 }, { epoch: 'e1', first: 1, last: 5 })
 * // → { recovered: true, range: { from: 4, to: 5, count: 2 } }
 */
export function planRecovery(req: RecoveryRequest, log: LogView): RecoveryPlan {
  const { since } = req;
  if (since === undefined) return { recovered: true };
  const first = Math.min(log.first, log.last + 1);
  if (since === 'earliest') return withRange({ recovered: true }, range(first, log.last));
  const gap: GapReport = { requested: since, earliest: first, latest: log.last };
  if (req.epoch !== undefined && req.epoch !== log.epoch) return withRange({ recovered: false, gap }, range(first, log.last));
  if (since > log.last) return { recovered: false, gap };
  if (since + 1 < first) return withRange({ recovered: false, gap }, range(first, log.last));
  return withRange({ recovered: true }, range(since + 1, log.last));
}

function withRange(plan: RecoveryPlan, r: ReplayRange | undefined): RecoveryPlan {
  if (r) plan.range = r;
  return plan;
}

/** A durable or group consumer as a join finds it (R5.4.10). */
export interface ConsumerView {
  /** True when this join created the consumer (no saved state). */
  fresh: boolean;
  /** Every offset up to `floor` is done. */
  floor: number;
  /** Offsets above `floor` that are done. */
  done: readonly number[];
}

/**
 * Where a new consumer starts (R5.4.2, R5.4.10): after an integer `since`, clamped to the
 * log's end (a `since` past the end would otherwise skip every message up to it unseen);
 * from the earliest held message without `since` or with "earliest".
 * @example
 * consumerStart(50, { epoch: 'e', first: 1, last: 5 }) // → 5
 */
export function consumerStart(since: number | 'earliest' | undefined, log: LogView): number {
  return typeof since === 'number' ? Math.min(since, log.last) : 0;
}

/**
 * Whether a durable or group join is `recovered` (R5.4.10, R6.3.1). A new consumer is not when
 * its `since` is past the log's end, or older than what retention still holds; an existing one
 * is not when retention removed messages it had not finished (between its `floor` and the log's
 * `first`), or when the log is behind it (the log's epoch changed). `gap.requested` is the
 * `since` of a new consumer, else the consumer's position (`floor`).
 * @example
 * planConsumerJoin(undefined, { fresh: false, floor: 2, done: [] }, { epoch: 'e', first: 6, last: 9 })
 * // → { recovered: false, gap: { requested: 2, earliest: 6, latest: 9 } }
 */
export function planConsumerJoin(since: number | 'earliest' | undefined, c: ConsumerView, log: LogView): RecoveryPlan {
  const first = Math.min(log.first, log.last + 1);
  const gap = (requested: number): RecoveryPlan => ({ recovered: false, gap: { requested, earliest: first, latest: log.last } });
  if (c.fresh) {
    if (typeof since !== 'number') return { recovered: true };
    return since > log.last || since + 1 < first ? gap(since) : { recovered: true };
  }
  if (c.floor > log.last) return gap(c.floor);
  const trimmed = first - 1 - c.floor; // offsets floor+1 .. first-1 are gone from the log
  if (trimmed > 0 && c.done.filter((o) => o < first).length < trimmed) return gap(c.floor);
  return { recovered: true };
}

/** A stored envelope's data (R5.8.6: arguments or binary values) starts so: its frame is built from the opened envelope. */
const ENVELOPE = Buffer.from(`{"${ENVELOPE_KEY}":`);
/** `ReplayBytes`: a record's frame is built as bytes up to this payload size; longer ones go through the JSON text path. */
const MAX_FRAME_BYTES = 16 * 1024;
const DATA = Buffer.from(',"data":');
const OFFSET = Buffer.from(',"offset":');
const FROM = Buffer.from(',"from":');
const TS = Buffer.from(',"ts":');
const TAIL = Buffer.from(',"replay":true}');

/** UTF-16 code units of the UTF-8 bytes [s, e) of `b` (what `String.length` of their text is). */
function utf16Length(b: Uint8Array, s: number, e: number): number {
  let n = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if ((c & 0xc0) !== 0x80) n += c >= 0xf0 ? 2 : 1;
  }
  return n;
}

/** Decimal digits of a non-negative integer. */
function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/**
 * The replayed `event` frames (`replay: true`) of one room's log, built as WebSocket frames
 * straight from the stored records' bytes (`Store.readRecords`) into one buffer: the same bytes
 * as `encodeStoredEvent` of each message, framed as `Connection.sendText` frames it, with nothing
 * decoded to a string. A record the bytes path does not build (an envelope, a large frame, a
 * record of another shape) is left to the JSON text path.
 */
export class ReplayBytes {
  private readonly head: Buffer;
  private readonly epoch: Buffer;
  /** UTF-16 length of `head` + `epoch` (frames are counted in string length, as `sendText` counts them). */
  private readonly fixedChars: number;
  private buf: Buffer = Buffer.alloc(0);
  private at = 0;
  /** Frames in the buffer, and their JSON's UTF-16 length. */
  frames = 0;
  chars = 0;

  constructor(
    ns: string,
    room: string,
    readonly epochName: string,
  ) {
    const q = JSON.stringify;
    const head = `{"type":"event","ns":${q(ns)},"room":${q(room)},"event":`;
    const ep = `,"epoch":${q(epochName)}`;
    this.head = Buffer.from(head);
    this.epoch = Buffer.from(ep);
    this.fixedChars = head.length + ep.length;
  }

  /** Start a buffer of `size` bytes. */
  start(size: number): void {
    this.buf = Buffer.allocUnsafe(size);
    this.at = 0;
    this.frames = 0;
    this.chars = 0;
  }

  /** The frames built since `start`. */
  take(): Buffer {
    return this.buf.subarray(0, this.at);
  }

  /** Add the frame of `r`: 1, or 0 when it does not fit in what is left, or -1 when the JSON text path builds it. */
  put(r: RawRecord): number {
    const b = r.bytes;
    if (r.eventStart < 0) return -1;
    const { dataStart, dataEnd, fromStart } = r;
    if (dataEnd - dataStart >= ENVELOPE.length && b[dataStart] === 123 && b[dataStart + 1] === 34 && b[dataStart + 2] === 36) {
      let k = 3;
      while (k < ENVELOPE.length && b[dataStart + k] === ENVELOPE[k]) k++;
      if (k === ENVELOPE.length) return -1;
    }
    const n =
      this.head.length +
      (r.eventEnd - r.eventStart) +
      DATA.length +
      (dataEnd - dataStart) +
      OFFSET.length +
      digits(r.offset) +
      this.epoch.length +
      (fromStart < 0 ? 0 : FROM.length + (r.fromEnd - fromStart)) +
      TS.length +
      (r.tsEnd - r.tsStart) +
      TAIL.length;
    if (n > MAX_FRAME_BYTES) return -1;
    const buf = this.buf;
    if (this.at + headerBytes(n) + n > buf.length) return 0;
    this.at = putHeader(buf, this.at, n, false);
    let chars = this.fixedChars + DATA.length + OFFSET.length + TS.length + TAIL.length + (r.tsEnd - r.tsStart);
    this.fixed(this.head);
    chars += this.copy(b, r.eventStart, r.eventEnd);
    this.fixed(DATA);
    chars += this.copy(b, dataStart, dataEnd);
    this.fixed(OFFSET);
    let o = r.offset;
    const d = digits(o);
    chars += d;
    for (let i = this.at + d - 1; i >= this.at; i--) {
      buf[i] = 48 + (o % 10);
      o = Math.floor(o / 10);
    }
    this.at += d;
    this.fixed(this.epoch);
    if (fromStart >= 0) {
      this.fixed(FROM);
      chars += FROM.length + this.copy(b, fromStart, r.fromEnd);
    }
    this.fixed(TS);
    this.copy(b, r.tsStart, r.tsEnd);
    this.fixed(TAIL);
    this.frames++;
    this.chars += chars;
    return 1;
  }

  /** Copy `part` (ASCII) in. */
  private fixed(part: Buffer): void {
    this.buf.set(part, this.at);
    this.at += part.length;
  }

  /** Copy the bytes [s, e) of `src` in; returns their UTF-16 length. */
  private copy(src: Uint8Array, s: number, e: number): number {
    const buf = this.buf;
    let at = this.at;
    const n = e - s;
    if (n > 256) {
      const part = src.subarray(s, e);
      buf.set(part, at);
      this.at = at + n;
      return isAscii(part) ? n : utf16Length(src, s, e);
    }
    let hi = 0;
    for (let i = s; i < e; i++) {
      const c = src[i]!;
      hi |= c;
      buf[at++] = c;
    }
    this.at = at;
    return hi < 0x80 ? n : utf16Length(src, s, e);
  }
}
