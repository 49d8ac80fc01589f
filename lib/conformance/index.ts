/**
 * `wsq conformance <url>`: drives any wsq/1 server through raw frames (plain `ws`, no
 * server code) and reports one line per numbered requirement of PROTOCOL.md: PASS, FAIL
 * (with what was seen), N/A (the server lacks an optional part the check needs), NOT
 * TESTABLE (a requirement no client can check over a wire, with the reason) or NOT COVERED
 * (testable, but no check yet).
 */
import { type Check, type Ctx, NotApplicable } from './check.js';
import { CHECKS } from './checks.js';
import { Peer, type PeerOptions } from './peer.js';
import { REQUIREMENTS, type Requirement } from './requirements.js';

export { CHECKS } from './checks.js';
export { REQUIREMENTS, type Requirement } from './requirements.js';

/** How a requirement fared. */
export type Status = 'pass' | 'fail' | 'n/a' | 'not testable' | 'not covered';

/** The verdict on one numbered requirement. */
export interface Result {
  id: string;
  title: string;
  status: Status;
  /** What was seen (fail), why not applicable or not testable. */
  detail?: string;
  /** The names of the checks that decided it. */
  checks: string[];
}

/** Options of a conformance run. */
export interface ConformanceOptions {
  /** Bounded wait for one expected frame, in ms (default 2000). */
  waitMs?: number;
  /** Most time one check may take, in ms (default 8 × waitMs + 5000). */
  checkTimeoutMs?: number;
  /** A bearer token sent as `Authorization: Bearer <token>` on every connection. */
  token?: string;
  /** A bearer token the server refuses, to check how a refused connection is told (R2.1.9, R2.2.5). */
  refusedToken?: string;
  /** More upgrade headers for every connection. */
  headers?: Record<string, string>;
  /** Only requirements whose number starts with one of these (e.g. `['R4.5', 'R5.3']`). */
  only?: string[];
  /** The checks to run (default: all of them; tests pass their own). */
  checks?: readonly Check[];
  /** Called with each check's outcome as it finishes (for progress output). */
  onCheck?: (name: string, outcome: 'pass' | 'fail' | 'n/a', detail?: string) => void;
}

type Outcome = { check: Check; outcome: 'pass' | 'fail' | 'n/a'; detail?: string };

/**
 * Run every check against the server at `url` and return one result per numbered
 * requirement, in document order. Rejects only when no wsq/1 connection can be opened at all.
 */
export async function runConformance(url: string, opts: ConformanceOptions = {}): Promise<Result[]> {
  const waitMs = opts.waitMs ?? 2000;
  const checkTimeoutMs = opts.checkTimeoutMs ?? 8 * waitMs + 5000;
  const headers = { ...opts.headers, ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}) };
  const selected = (id: string): boolean => !opts.only?.length || opts.only.some((p) => id === p || id.startsWith(`${p}.`));
  const probe = await Peer.open(url, { headers, waitMs }).catch((err: Error) => {
    throw new Error(`cannot open a wsq/1 connection to ${url}: ${err.message}`);
  });
  const welcome = probe.welcome;
  await probe.close();
  const run = Math.random().toString(36).slice(2, 8);
  const outcomes: Outcome[] = [];
  const checks = (opts.checks ?? CHECKS).filter((c) => c.reqs.some(selected));
  for (const [i, c] of checks.entries()) {
    const peers: Peer[] = [];
    const tag = (t: string): string => `cf-${run}-${i}-${t}`;
    const ctx: Ctx = {
      url,
      waitMs,
      headers,
      ...(opts.refusedToken ? { refusedToken: opts.refusedToken } : {}),
      welcome,
      limits: typeof welcome.limits === 'object' && welcome.limits !== null ? welcome.limits : undefined,
      open: async (o: Partial<PeerOptions> = {}) => {
        const p = await Peer.open(url, { waitMs, ...o, headers: { ...headers, ...o.headers } });
        peers.push(p);
        return p;
      },
      room: tag,
      client: tag,
      ns: (t) => `/${tag(t)}`,
    };
    const o = await runOne(c, ctx, checkTimeoutMs);
    await Promise.all(peers.map((p) => p.close().catch(() => {})));
    outcomes.push(o);
    opts.onCheck?.(c.name, o.outcome, o.detail);
  }
  return REQUIREMENTS.filter((r) => selected(r.id)).map((r) =>
    verdict(
      r,
      outcomes.filter((o) => o.check.reqs.includes(r.id)),
    ),
  );
}

async function runOne(check: Check, ctx: Ctx, timeoutMs: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the check did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check.run(ctx), timeout]);
    return { check, outcome: 'pass' };
  } catch (err) {
    if (err instanceof NotApplicable) return { check, outcome: 'n/a', detail: err.message };
    return { check, outcome: 'fail', detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** One requirement's verdict from the outcomes of the checks that decide it. */
function verdict(r: Requirement, os: Outcome[]): Result {
  const checks = os.map((o) => o.check.name);
  const base = { id: r.id, title: r.title, checks };
  const failed = os.filter((o) => o.outcome === 'fail');
  if (failed.length > 0) return { ...base, status: 'fail', detail: failed.map((o) => `${o.check.name}: ${o.detail}`).join('; ') };
  if (os.some((o) => o.outcome === 'pass')) return { ...base, status: 'pass' };
  if (os.length > 0) return { ...base, status: 'n/a', detail: os.map((o) => o.detail).join('; ') };
  if (r.untestable) return { ...base, status: 'not testable', detail: r.untestable };
  return { ...base, status: 'not covered', detail: 'no check of this runner covers it yet' };
}

const LABEL: Record<Status, string> = { pass: 'PASS', fail: 'FAIL', 'n/a': 'N/A', 'not testable': 'NOT TESTABLE', 'not covered': 'NOT COVERED' };

/** One line for a result: `PASS R4.5.3 title`, `FAIL R4.5.3 title — what was seen`. */
export function formatResult(r: Result): string {
  return `${LABEL[r.status]} ${r.id} ${r.title}${r.detail ? ` — ${r.detail}` : ''}`;
}

/** Counts per status. */
export function tally(results: readonly Result[]): Record<Status, number> {
  const t: Record<Status, number> = { pass: 0, fail: 0, 'n/a': 0, 'not testable': 0, 'not covered': 0 };
  for (const r of results) t[r.status]++;
  return t;
}

/** The summary line: counts per status and the verdict. */
export function formatSummary(results: readonly Result[], url: string): string {
  const t = tally(results);
  const verdictText = t.fail > 0 ? 'NOT CONFORMANT' : 'conformant (every checked requirement passed)';
  return `wsq/1 conformance of ${url}: ${t.pass} pass, ${t.fail} fail, ${t['n/a']} n/a, ${t['not testable']} not testable, ${t['not covered']} not covered (${results.length} requirements) — ${verdictText}`;
}
