/**
 * planRecovery (lib/replay.ts) against every rule of docs/decisions.md "Replay" and
 * PROTOCOL.md §5.3: what a join with `since` replays and what it reports.
 */
import t from 'tap';
import { planRecovery, type LogView, type RecoveryPlan, type RecoveryRequest } from '../../lib/replay.js';

const E = 'e1';
/** A log of the current epoch holding first..last. */
const log = (first: number, last: number, epoch = E): LogView => ({ epoch, first, last });
const range = (from: number, to: number) => ({ from, to, count: to - from + 1 });
const gap = (requested: number | 'earliest', earliest: number, latest: number) => ({ requested, earliest, latest });

interface Case {
  rule: string;
  req: RecoveryRequest;
  log: LogView;
  plan: RecoveryPlan;
}

const cases: Case[] = [
  // No since: no replay, recovered.
  { rule: 'no since: no replay', req: {}, log: log(1, 5), plan: { recovered: true } },
  { rule: 'no since on an empty log', req: {}, log: log(1, 0), plan: { recovered: true } },
  { rule: 'no since, an old epoch is ignored', req: { epoch: 'old' }, log: log(1, 5), plan: { recovered: true } },
  { rule: 'no since on a trimmed log', req: {}, log: log(50, 60), plan: { recovered: true } },

  // since "earliest": every held message, recovered.
  { rule: 'earliest: replay all held', req: { since: 'earliest' }, log: log(1, 5), plan: { recovered: true, range: range(1, 5) } },
  { rule: 'earliest on a trimmed log: from the first held', req: { since: 'earliest' }, log: log(4, 6), plan: { recovered: true, range: range(4, 6) } },
  { rule: 'earliest on an empty log: nothing to replay', req: { since: 'earliest' }, log: log(1, 0), plan: { recovered: true } },
  { rule: 'earliest on a fully trimmed log', req: { since: 'earliest' }, log: log(8, 7), plan: { recovered: true } },
  {
    rule: 'earliest with another epoch: still every held message, recovered',
    req: { since: 'earliest', epoch: 'old' },
    log: log(1, 3),
    plan: { recovered: true, range: range(1, 3) },
  },

  // since N, current epoch (or none), N + 1 >= first: replay N+1..last, recovered.
  { rule: 'since N: replay after N', req: { since: 3 }, log: log(1, 5), plan: { recovered: true, range: range(4, 5) } },
  { rule: 'since N with the current epoch', req: { since: 3, epoch: E }, log: log(1, 5), plan: { recovered: true, range: range(4, 5) } },
  { rule: 'since 0: everything', req: { since: 0 }, log: log(1, 5), plan: { recovered: true, range: range(1, 5) } },
  { rule: 'since N = last: up to date, nothing to replay', req: { since: 5, epoch: E }, log: log(1, 5), plan: { recovered: true } },
  { rule: 'since 0 on an empty log', req: { since: 0 }, log: log(1, 0), plan: { recovered: true } },
  { rule: 'since N with N + 1 = first exactly: nothing lost', req: { since: 3 }, log: log(4, 6), plan: { recovered: true, range: range(4, 6) } },
  { rule: 'since N = last of a fully trimmed log: nothing lost', req: { since: 5 }, log: log(6, 5), plan: { recovered: true } },

  // since N, N + 1 < first (trimmed): replay first..last, not recovered, gap.
  { rule: 'trimmed: replay from the first held, with a gap', req: { since: 1 }, log: log(4, 6), plan: { recovered: false, range: range(4, 6), gap: gap(1, 4, 6) } },
  { rule: 'trimmed, current epoch given', req: { since: 2, epoch: E }, log: log(4, 6), plan: { recovered: false, range: range(4, 6), gap: gap(2, 4, 6) } },
  { rule: 'since 0 on a trimmed log', req: { since: 0 }, log: log(2, 2), plan: { recovered: false, range: range(2, 2), gap: gap(0, 2, 2) } },
  { rule: 'trimmed to nothing: no replay, gap', req: { since: 2 }, log: log(6, 5), plan: { recovered: false, gap: gap(2, 6, 5) } },

  // since N > last: no replay, not recovered, gap.
  { rule: 'since beyond the log: gap, no replay', req: { since: 9 }, log: log(1, 5), plan: { recovered: false, gap: gap(9, 1, 5) } },
  { rule: 'since beyond an empty log', req: { since: 1, epoch: E }, log: log(1, 0), plan: { recovered: false, gap: gap(1, 1, 0) } },
  { rule: 'since last + 1', req: { since: 6 }, log: log(1, 5), plan: { recovered: false, gap: gap(6, 1, 5) } },

  // epoch differs: replay first..last, not recovered, gap (whatever N is).
  { rule: 'other epoch: replay every held message, gap', req: { since: 3, epoch: 'old' }, log: log(1, 5), plan: { recovered: false, range: range(1, 5), gap: gap(3, 1, 5) } },
  { rule: 'other epoch, since 0', req: { since: 0, epoch: 'old' }, log: log(1, 2), plan: { recovered: false, range: range(1, 2), gap: gap(0, 1, 2) } },
  {
    rule: 'other epoch, since beyond last: still replays first..last',
    req: { since: 99, epoch: 'old' },
    log: log(1, 5),
    plan: { recovered: false, range: range(1, 5), gap: gap(99, 1, 5) },
  },
  { rule: 'other epoch on a trimmed log', req: { since: 10, epoch: 'old' }, log: log(4, 6), plan: { recovered: false, range: range(4, 6), gap: gap(10, 4, 6) } },
  { rule: 'other epoch on an empty log: no replay, gap', req: { since: 3, epoch: 'old' }, log: log(1, 0), plan: { recovered: false, gap: gap(3, 1, 0) } },

  // A log view whose first is past last + 1 is read as "empty after last".
  { rule: 'first past last + 1 is clamped (earliest)', req: { since: 'earliest' }, log: log(9, 5), plan: { recovered: true } },
  { rule: 'first past last + 1 is clamped (since = last)', req: { since: 5 }, log: log(9, 5), plan: { recovered: true } },
  { rule: 'first past last + 1 is clamped in the gap', req: { since: 1 }, log: log(9, 5), plan: { recovered: false, gap: gap(1, 6, 5) } },
];

t.test('planRecovery follows the replay rules', async (t) => {
  for (const c of cases) t.strictSame(planRecovery(c.req, c.log), c.plan, c.rule);
});

t.test('invariants over many logs and requests', async (t) => {
  let checked = 0;
  for (let first = 1; first <= 6; first++) {
    for (let last = first - 1; last <= 8; last++) {
      for (const epoch of [undefined, E, 'old']) {
        for (const since of [undefined, 'earliest' as const, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
          const req: RecoveryRequest = {};
          if (since !== undefined) req.since = since;
          if (epoch !== undefined) req.epoch = epoch;
          const p = planRecovery(req, log(first, last));
          const where = JSON.stringify({ req, first, last });
          if (p.range) {
            if (p.range.count !== p.range.to - p.range.from + 1) t.fail(`count = to - from + 1 ${where}`);
            if (p.range.from < first || p.range.to !== last) t.fail(`replays only held messages, up to last ${where}`);
            if (p.recovered && typeof since === 'number' && p.range.from !== since + 1) t.fail(`a recovered replay starts right after since ${where}`);
          }
          if (p.recovered === (p.gap !== undefined)) t.fail(`a gap is reported exactly when not recovered ${where}`);
          if (since === undefined && (p.range || !p.recovered)) t.fail(`no since: nothing replayed ${where}`);
          if (p.gap && p.gap.requested !== since) t.fail(`the gap echoes since ${where}`);
          checked++;
        }
      }
    }
  }
  t.pass(`${checked} combinations hold the invariants`);
});
