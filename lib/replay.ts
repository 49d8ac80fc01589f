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
