/**
 * Recovery planning for `join` with `since`: a pure function from what the client asked
 * and where the log stands to what to replay and what to report (PROTOCOL.md §5.3).
 */
import type { GapReport, ReplayRange } from '../protocol/frames.js';

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
