/**
 * The peers bench's workloads, system-agnostic: each takes a side from `sides.ts`, opens its
 * connections from this (the generator) process, measures over a fixed window after a
 * warm-up, closes everything, and returns figures. Server CPU is read from /proc for the
 * server's PID when the caller gives one.
 */
import { cpuOf, rssOf } from './brokers.js';
import type { AckedPublisher, Closable, DurableSide, FanoutSide, IdleSide, ReplaySide, WorkSide } from './sides.js';

/** Phase lengths. */
export interface Phases {
  warmupMs: number;
  measureMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Open `n` things, `concurrency` at a time. */
async function openMany<T>(n: number, concurrency: number, open: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += concurrency) out.push(...(await Promise.all(Array.from({ length: Math.min(concurrency, n - i) }, open))));
  return out;
}

const closeAll = (xs: Closable[]): void => {
  for (const x of xs) x.close();
};

/** What a fan-out run measured. */
export interface FanoutFigures {
  deliveriesPerSec: number;
  /** Server CPU per delivery at the limit, µs (NaN without a PID). */
  serverUsPerDelivery: number;
  /** This (generator) process's CPU at the limit, % of one core: near 100 means the generator, not the server, bounded the run. */
  generatorCpuPct: number;
}

/**
 * Fan-out at the limit: `subscribers` on one topic, one publisher keeping at most `window`
 * messages not yet received by every subscriber; deliveries/s over `measureMs`.
 */
export async function fanout(side: FanoutSide, subscribers: number, window: number, ph: Phases, pid?: number): Promise<FanoutFigures> {
  let delivered = 0;
  let sent = 0;
  let pumping = true;
  const body = JSON.stringify({ t: 0, n: 0, pad: 'x'.repeat(48) });
  let pub: { publish(p: string): void } | undefined;
  const pump = (): void => {
    if (!pumping || !pub) return;
    while (sent * subscribers - delivered < window * subscribers) {
      pub.publish(body);
      sent++;
    }
  };
  const subs = await openMany(subscribers, 100, () =>
    side.subscribe(() => {
      delivered++;
      if (delivered % subscribers === 0) pump();
    }),
  );
  const publisher = await side.publisher();
  pub = publisher;
  try {
    pump();
    await sleep(ph.warmupMs);
    const d0 = delivered;
    const c0 = pid ? cpuOf(pid) : NaN;
    const g0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(ph.measureMs);
    const d1 = delivered;
    const c1 = pid ? cpuOf(pid) : NaN;
    const g = process.cpuUsage(g0);
    const secs = (performance.now() - t0) / 1000;
    pumping = false;
    return { deliveriesPerSec: (d1 - d0) / secs, serverUsPerDelivery: (c1 - c0) / (d1 - d0), generatorCpuPct: ((g.user + g.system) / (secs * 1e6)) * 100 };
  } finally {
    pumping = false;
    publisher.close();
    closeAll(subs);
  }
}

/** What an acked-publish run measured. */
export interface PublishFigures {
  perSec: number;
  /** Median time from publish to its ack, ms. */
  p50Ms: number;
}

/** `publishers` connections, each keeping `window` publishes unacked; acks/s and the median ack latency. */
export async function ackedPublish(side: DurableSide, publishers: number, window: number, ph: Phases): Promise<PublishFigures> {
  const pubs = await openMany(publishers, 10, () => side.publisher());
  const lat: number[] = [];
  let acks = 0;
  let running = true;
  let sampling = false;
  let inflight = 0;
  const body = JSON.stringify({ body: 'x'.repeat(64) });
  const send = (p: AckedPublisher): void => {
    const t = performance.now();
    inflight++;
    p.publish(body, () => {
      inflight--;
      acks++;
      if (sampling && lat.length < 200_000) lat.push(performance.now() - t);
      if (running) send(p);
    });
  };
  try {
    for (const p of pubs) for (let i = 0; i < window; i++) send(p);
    await sleep(ph.warmupMs);
    const a0 = acks;
    const t0 = performance.now();
    sampling = true;
    await sleep(ph.measureMs);
    sampling = false;
    const perSec = (acks - a0) / ((performance.now() - t0) / 1000);
    running = false;
    const until = performance.now() + 10_000;
    while (inflight > 0 && performance.now() < until) await sleep(5);
    lat.sort((a, b) => a - b);
    return { perSec, p50Ms: lat[Math.floor(lat.length / 2)] ?? NaN };
  } finally {
    running = false;
    closeAll(pubs);
  }
}

/** What a work-queue run measured. */
export interface WorkFigures {
  /** Messages consumed and acked per second. */
  consumedPerSec: number;
  /** Publishes acked per second meanwhile (a consumer rate close to it means the producer bounded the run). */
  producedPerSec: number;
}

/**
 * A work queue: `consumers` competing consumers with `prefetch` unacked each, fed by
 * `producers` acked publishers with `window` in flight; consumed/s over `measureMs`.
 */
export async function workQueue(side: WorkSide, consumers: number, prefetch: number, producers: number, window: number, ph: Phases): Promise<WorkFigures> {
  let consumed = 0;
  const cons = await openMany(consumers, consumers, () => side.consumer(prefetch, () => consumed++));
  const pubs = await openMany(producers, producers, () => side.publisher());
  let produced = 0;
  let running = true;
  let inflight = 0;
  const body = JSON.stringify({ job: 'x'.repeat(64) });
  const send = (p: AckedPublisher): void => {
    inflight++;
    p.publish(body, () => {
      inflight--;
      produced++;
      if (running) send(p);
    });
  };
  try {
    for (const p of pubs) for (let i = 0; i < window; i++) send(p);
    await sleep(ph.warmupMs);
    const c0 = consumed;
    const p0 = produced;
    const t0 = performance.now();
    await sleep(ph.measureMs);
    const secs = (performance.now() - t0) / 1000;
    const figures = { consumedPerSec: (consumed - c0) / secs, producedPerSec: (produced - p0) / secs };
    running = false;
    const until = performance.now() + 10_000;
    while (inflight > 0 && performance.now() < until) await sleep(5);
    return figures;
  } finally {
    running = false;
    closeAll(pubs);
    closeAll(cons);
  }
}

/** Time a fresh reader through a backlog of `count` (filled first, untimed). */
export async function replay(side: ReplaySide, count: number, bytes: number, fill?: () => Promise<void>): Promise<{ ms: number; perSec: number }> {
  await (fill ? fill() : side.fill(count, bytes));
  const ms = await side.readAll(count);
  return { ms, perSec: count / (ms / 1000) };
}

/** What an idle-memory run measured, bytes of RSS per connection. */
export interface IdleFigures {
  /** The first `count` connections of a fresh process (what the process costs at that size, one-time growth included). */
  first: number;
  /** The next `count`, in the same process: the cost of one more connection once the process has grown. */
  next: number;
}

/** Server RSS growth per idle connection, bytes, over `count` connections of `side`. */
export async function idleMemory(side: IdleSide, count: number, pid: number): Promise<IdleFigures> {
  await sleep(300);
  const before = rssOf(pid);
  const conns = await openMany(count, 200, () => side.open());
  try {
    await sleep(1_000);
    const first = rssOf(pid);
    conns.push(...(await openMany(count, 200, () => side.open())));
    await sleep(1_000);
    return { first: (first - before) / count, next: (rssOf(pid) - first) / count };
  } finally {
    closeAll(conns);
    await sleep(300);
  }
}
