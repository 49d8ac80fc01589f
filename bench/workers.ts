/**
 * `npm run bench:workers` (issue 12 item 4): what `wsq serve --workers 2` gains over one process,
 * both on Redis, in one run. Two real `wsq serve` servers (dist/lib/cli.js) on the system Redis,
 * each under a key prefix of this run (deleted at the end): `--redis` alone (one process, one
 * node) and `--workers 2 --redis` (a node:cluster primary and two worker nodes on one port).
 *
 * The figure is the peers bench's fan-out at the limit (bench/peers/workloads.ts `fanout` over
 * bench/peers/sides.ts `wsqSides`: one room, S subscribers, one publisher keeping at most 32
 * messages not yet received by every subscriber), deliveries/s. The subscribers connect to the one
 * port, so the cluster scheduler deals them round-robin to the two workers (the publisher lands on
 * one of them; its emits reach the other worker through Redis). Rounds are interleaved (the order
 * of the two set-ups alternates), the ratio is 2 workers / 1 worker of the medians.
 *
 * Nothing is pinned: the point is using more cores. The load generator (this process) and Redis
 * need CPU too, so on a machine with few cores the 2-worker figure is bounded by the core count;
 * each line reports the generator's CPU (% of one core, from `fanout`) and the CPU of the wsq
 * processes (primary + workers, from /proc) and of Redis (`INFO cpu`) in cores over the measured
 * window (sampled every 100 ms).
 *
 * Flags (after `npm run bench:workers --`): `--quick` (1 round, short phases), `--rounds N`
 * (default 3), `--subscribers 100,1000` (default), `--json FILE`. Every process started here is
 * ended by its PID, on every path.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { cpuOf } from './peers/brokers.js';
import { deletePrefix } from './redis-keys.js';
import { wsqSides } from './peers/sides.js';
import { fanout, type Phases } from './peers/workloads.js';

const CLI = fileURLToPath(new URL('../lib/cli.js', import.meta.url));
const REDIS = process.env.WSQ_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const START_MS = 30_000;
const STOP_MS = 15_000;
const WINDOW = Number(process.env.WSQ_BENCH_WINDOW ?? 32);

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const rounds = Math.max(1, Number(option('--rounds') ?? (quick ? 1 : 3)) || 1);
const sizes = (option('--subscribers') ?? '100,1000').split(',').map((s) => Math.max(1, Number(s) || 1));
const ph: Phases = quick ? { warmupMs: 500, measureMs: 1_500 } : { warmupMs: 1_000, measureMs: 3_000 };
const jsonFile = option('--json');
const runId = `${process.pid}-${Date.now().toString(36)}`;

// ------------------------------------------------------------------ servers (ended by PID)

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(p.pid, 'SIGKILL');
});

/** A running `wsq serve`: its port, its process and every PID that serves (the process, or the primary and its workers). */
interface Server {
  name: string;
  port: number;
  proc: ChildProcess;
  pids: number[];
  prefix: string;
}

/** Start `wsq serve --redis` (with `--workers n` when n > 1) on a free port; resolves once it listens. */
function startServer(name: string, workers: number, prefix: string): Promise<Server> {
  const extra = workers > 1 ? ['--workers', String(workers)] : [];
  const proc = spawn(
    process.execPath,
    [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn', '--max-connections-per-client', '0', '--redis', REDIS, '--redis-prefix', prefix, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  let out = '';
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not listen within ${START_MS} ms: ${out}`)), START_MS);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = /listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(line);
      if (!m) return;
      clearTimeout(timer);
      const workerPids = [...line.matchAll(/pid (\d+) node/g)].map((w) => Number(w[1]));
      if (workerPids.length !== (workers > 1 ? workers : 0)) return reject(new Error(`${name}: expected ${workers} worker PIDs in the start line: ${line}`));
      resolve({ name, port: Number(m[1]), proc, pids: [proc.pid!, ...workerPids], prefix });
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before listening: ${out}`));
    });
  });
}

/** SIGTERM by PID (the primary stops its workers), SIGKILL after STOP_MS. */
async function stopServer(s: Server): Promise<void> {
  const p = s.proc;
  if (p.exitCode !== null || p.signalCode !== null || !p.pid) return;
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  process.kill(p.pid, 'SIGTERM');
  const t = setTimeout(() => p.pid && process.kill(p.pid, 'SIGKILL'), STOP_MS);
  await gone;
  clearTimeout(t);
}

/** Redis's own CPU time (INFO cpu: used_cpu_user + used_cpu_sys), µs. */
async function redisCpu(r: Redis): Promise<number> {
  const info = await r.info('cpu');
  const v = (k: string): number => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (v('used_cpu_user') + v('used_cpu_sys')) * 1e6;
}

// ------------------------------------------------------------------ measuring

/** One figure: deliveries/s at the limit, and who used how much CPU meanwhile. */
interface Figure {
  deliveriesPerSec: number;
  generatorCpuPct: number;
  /** CPU of the wsq processes (primary and workers), in cores, over the measured window. */
  serverCores: number;
  /** CPU of Redis, in cores, over the measured window. */
  redisCores: number;
}

/** CPU of the wsq processes and of Redis, µs, at a moment. */
interface Sample {
  at: number;
  wsq: number;
  redis: number;
}

async function sample(s: Server, r: Redis): Promise<Sample> {
  return { at: performance.now(), wsq: s.pids.reduce((a, pid) => a + cpuOf(pid), 0), redis: await redisCpu(r) };
}

/**
 * One fan-out figure. CPU is sampled every 100 ms meanwhile; `fanout` returns right after its
 * measured window, so the CPU figures are taken between the sample nearest to the window's start
 * (`measureMs` before the return) and a sample at the return.
 */
async function measure(s: Server, size: number, tag: string, r: Redis): Promise<Figure> {
  const side = wsqSides(s.port, tag).fanout;
  const samples: Sample[] = [await sample(s, r)];
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      await new Promise((res) => setTimeout(res, 100));
      samples.push(await sample(s, r));
      if (samples.length > 10_000) samples.splice(0, 5_000); // a cap: a figure is seconds long
    }
  })();
  const f = await fanout(side, size, WINDOW, ph);
  const end = await sample(s, r);
  sampling = false;
  await loop;
  const from = end.at - ph.measureMs;
  const start = samples.reduce((best, x) => (Math.abs(x.at - from) < Math.abs(best.at - from) ? x : best), samples[0]!);
  const us = (end.at - start.at) * 1000;
  return { deliveriesPerSec: f.deliveriesPerSec, generatorCpuPct: f.generatorCpuPct, serverCores: (end.wsq - start.wsq) / us, redisCores: (end.redis - start.redis) / us };
}

/** wsq CPU per delivery, µs (all its processes). */
const usPer = (f: Figure): number => (f.serverCores * 1e6) / f.deliveriesPerSec;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const cores = os.cpus().length;
  const load0 = os.loadavg()[0]!;
  console.log(
    `bench:workers — ${os.cpus()[0]?.model ?? '?'} × ${cores}, Node ${process.version}, ${new Date().toISOString().slice(0, 16)}Z, load ${load0.toFixed(1)}; ` +
      `Redis ${REDIS}; ${rounds} round(s), ${ph.warmupMs / 1000} s warm-up + ${ph.measureMs / 1000} s measured per figure, ${WINDOW} in flight; nothing pinned`,
  );
  console.log(
    `note: the load generator (this process) and Redis run on the same ${cores} cores as the workers, so the 2-worker figure is bounded by the core count (generator CPU is shown: near 100% means the generator bounded it)\n`,
  );
  const redis = new Redis(REDIS, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  await redis.connect();
  const servers: Server[] = [];
  const results = new Map<string, Figure[]>(); // key `${size}:${name}`
  try {
    const one = await startServer('1 worker', 1, `wsq-bench-w-${runId}-1:`);
    servers.push(one);
    const two = await startServer('2 workers', 2, `wsq-bench-w-${runId}-2:`);
    servers.push(two);
    for (let round = 0; round < rounds; round++) {
      for (const size of sizes) {
        const order = (round + sizes.indexOf(size)) % 2 === 0 ? [one, two] : [two, one];
        for (const s of order) {
          const f = await measure(s, size, `r${round}`, redis);
          const key = `${size}:${s.name}`;
          results.set(key, [...(results.get(key) ?? []), f]);
          console.log(
            `  round ${round + 1} fan-out 1×${size} ${s.name}: ${fmt(f.deliveriesPerSec)} deliveries/s; CPU: wsq ${fmt(f.serverCores, 2)} cores (${fmt(usPer(f), 2)} µs/delivery), Redis ${fmt(f.redisCores, 2)}, ` +
              `generator ${fmt(f.generatorCpuPct)}% of a core${f.generatorCpuPct > 90 ? ' (GENERATOR-BOUND: the figure is a floor)' : ''}`,
          );
        }
      }
    }
  } finally {
    await Promise.allSettled(servers.map(stopServer));
    for (const s of servers) await deletePrefix(redis, s.prefix).catch(() => undefined);
    redis.disconnect();
  }

  const load1 = os.loadavg()[0]!;
  console.log(
    '\n| fan-out (deliveries/s, median) | 1 worker | 2 workers | 2w / 1w | per round | generator % of a core (1w / 2w) | wsq cores (1w / 2w) | wsq µs CPU/delivery (1w / 2w) | Redis cores (1w / 2w) |',
  );
  console.log('|---|---:|---:|---:|---|---|---|---|---|');
  const table: Record<string, unknown>[] = [];
  for (const size of sizes) {
    const a = results.get(`${size}:1 worker`) ?? [];
    const b = results.get(`${size}:2 workers`) ?? [];
    const m = (xs: Figure[], k: keyof Figure): number => median(xs.map((x) => x[k]));
    const ratio = m(b, 'deliveriesPerSec') / m(a, 'deliveriesPerSec');
    const perRound = a.map((x, i) => fmt((b[i]?.deliveriesPerSec ?? Number.NaN) / x.deliveriesPerSec, 2)).join(', ');
    console.log(
      `| 1 × ${fmt(size)} subscribers | ${fmt(m(a, 'deliveriesPerSec'))} | ${fmt(m(b, 'deliveriesPerSec'))} | **${fmt(ratio, 2)}** | ${perRound} | ` +
        `${fmt(m(a, 'generatorCpuPct'))} / ${fmt(m(b, 'generatorCpuPct'))} | ${fmt(m(a, 'serverCores'), 2)} / ${fmt(m(b, 'serverCores'), 2)} | ${fmt(median(a.map(usPer)), 2)} / ${fmt(median(b.map(usPer)), 2)} | ${fmt(m(a, 'redisCores'), 2)} / ${fmt(m(b, 'redisCores'), 2)} |`,
    );
    table.push({ subscribers: size, oneWorker: a, twoWorkers: b, ratio });
  }
  if (Math.max(load0, load1) > cores)
    console.log(`\nnote: the machine was busy (load ${load0.toFixed(1)} → ${load1.toFixed(1)} on ${cores} cores): read the ratios, from the same run.`);
  if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify({ cores, load: [load0, load1], phases: ph, window: WINDOW, rounds, results: table }, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench:workers failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
