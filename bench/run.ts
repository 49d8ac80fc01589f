/**
 * `npm run bench`: room fan-out, wsq against a raw-`ws` relay, in one run.
 *
 * For a room of 100 and of 1,000 subscribers with one publisher, each server in its own
 * child process and the load generator here: deliveries/s at the limit, latency p50/p99 and
 * server CPU per delivery at a fixed offered rate. Raw and wsq runs are interleaved (the
 * order alternates per round) and repeated; the table shows medians, their min–max, and the
 * ratio wsq / raw of the medians, all from this one run.
 *
 * Flags (after `npm run bench --`): `--raw-only`, `--rounds N` (default 3),
 * `--sizes 100,1000`, `--quick` (1 round, shorter phases: a smoke test), `--ws-client`
 * (subscribers use the `ws` library's client instead of the minimal bench client),
 * `--json FILE` (also write every run's figures as JSON).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { runFanout, type FanoutOptions, type FanoutResult } from './fanout.js';

/** A server under test: a label and its compiled child entry. */
interface Target {
  name: 'wsq' | 'raw';
  entry: string;
}

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
const RAW: Target = { name: 'raw', entry: here('./raw-relay.js') };
const WSQ: Target = { name: 'wsq', entry: here('./wsq-server.js') };
/** Fixed-rate phase offers this many deliveries/s (50 msg/s into 1,000; 500 msg/s into 100). */
const FIXED_DELIVERIES_PER_SEC = 50_000;
/** At the limit: messages in flight (published, not yet received by every subscriber). */
const WINDOW = 32;
/** At the limit a server below this CPU use (% of a core) was not the bottleneck: flagged. */
const SATURATED_PCT = 85;
/** A run during which other processes used more than this (% of a core) is flagged. */
const BUSY_PCT = 15;

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(name);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('--quick');
const rounds = Math.max(1, Math.floor(Number(option('--rounds') ?? (quick ? 1 : 3))) || 1);
const sizes = (option('--sizes') ?? '100,1000').split(',').map(Number);
const client = flag('--ws-client') ? 'ws' : 'lean';
const jsonFile = option('--json');
const phases = quick
  ? { warmupMs: 500, measureMs: 1_500, rateWarmupMs: 300, rateMeasureMs: 1_200 }
  : { warmupMs: 1_000, measureMs: 3_000, rateWarmupMs: 1_000, rateMeasureMs: 2_500 };

const wsqBuilt = existsSync(here('../lib/index.js'));
const targets: Target[] = flag('--raw-only') || !wsqBuilt ? [RAW] : [RAW, WSQ];

// ------------------------------------------------------------------ formatting

const fmtInt = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const fmt =
  (digits: number) =>
  (x: number): string =>
    Number.isFinite(x) ? x.toFixed(digits) : '—';
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const cell = (xs: number[] | undefined, f: (x: number) => string): string => {
  if (xs === undefined || xs.length === 0) return '—';
  const spread = xs.length > 1 ? ` (${f(Math.min(...xs))}–${f(Math.max(...xs))})` : '';
  return f(median(xs)) + spread;
};

function wsVersion(): string {
  try {
    const pkg = fileURLToPath(new URL('../../node_modules/ws/package.json', import.meta.url));
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

// ------------------------------------------------------------------ run

const results = new Map<string, FanoutResult[]>(); // key: `${target}/${size}`
const key = (t: Target, size: number): string => `${t.name}/${size}`;

const cpus = os.cpus();
console.log(`wsq fan-out bench — ${cpus[0]?.model ?? '?'} × ${cpus.length}, Node ${process.version}, ws ${wsVersion()}, ${os.platform()} ${os.release()}`);
console.log(
  `rooms of ${sizes.join(' and ')} subscribers, 1 publisher; ${rounds} round(s), raw/wsq interleaved; ` +
    `limit: window ${WINDOW} messages, ${phases.measureMs / 1000} s after ${phases.warmupMs / 1000} s warm-up; ` +
    `fixed rate: ${fmtInt(FIXED_DELIVERIES_PER_SEC)} deliveries/s offered, ${phases.rateMeasureMs / 1000} s sampled; ` +
    `subscribers on the ${client === 'ws' ? '`ws` client' : 'minimal bench client'}`,
);
if (!wsqBuilt) console.log('NOTE: dist/lib/index.js does not exist yet (no wsq server to start): running the raw relay only.');
else if (targets.length === 1) console.log('NOTE: --raw-only: running the raw relay only.');
console.log('');

const started = Date.now();
for (let round = 0; round < rounds; round++) {
  for (const size of sizes) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const target of order) {
      const opts: FanoutOptions = {
        entry: target.entry,
        subscribers: size,
        window: WINDOW,
        rate: FIXED_DELIVERIES_PER_SEC / size,
        client,
        ...phases,
      };
      let r: FanoutResult;
      try {
        r = await runFanout(opts);
      } catch (err) {
        console.error(`bench: ${target.name}, room of ${size}, round ${round + 1} failed:`, err);
        process.exit(1);
      }
      const list = results.get(key(target, size)) ?? [];
      list.push(r);
      results.set(key(target, size), list);
      const warn = [
        r.undelivered ? `${fmtInt(r.undelivered)} deliveries not received 5 s after publishing stopped` : '',
        r.rateDeliveriesPerSec < 0.97 * r.rate * r.subscribers
          ? `SERVER FELL BEHIND the fixed rate (${fmtInt(r.rateDeliveriesPerSec)} of ${fmtInt(r.rate * r.subscribers)} deliveries/s)`
          : '',
        r.otherFrames ? `${r.otherFrames} other frames, first: ${r.firstOtherFrame}` : '',
        r.closedSockets ? `${r.closedSockets} sockets closed` : '',
        r.limitServerCpuPct < SATURATED_PCT
          ? `NOT SERVER-BOUND at the limit (server ${fmt(0)(r.limitServerCpuPct)}% of a core${r.limitParentCpuPct > 90 ? ': the generator is saturated' : ''})`
          : '',
        Math.max(r.limitOtherCpuPct, r.rateOtherCpuPct) > BUSY_PCT
          ? `MACHINE BUSY (other processes used ${fmt(0)(Math.max(r.limitOtherCpuPct, r.rateOtherCpuPct))}% of a core)`
          : '',
      ].filter(Boolean);
      console.log(
        `  round ${round + 1} ${target.name.padEnd(3)} room ${String(size).padStart(4)}: ` +
          `${fmtInt(r.deliveriesPerSec)} deliveries/s (server ${fmt(0)(r.limitServerCpuPct)}%, generator ${fmt(0)(r.limitParentCpuPct)}%), ` +
          `p50 ${fmt(2)(r.p50Ms)} ms, p99 ${fmt(2)(r.p99Ms)} ms, ${fmt(2)(r.cpuUsPerDelivery)} µs/delivery` +
          (warn.length ? `  !! ${warn.join('; ')}` : ''),
      );
    }
  }
}

// ------------------------------------------------------------------ report

interface Row {
  label: string;
  pick: (r: FanoutResult) => number;
  f: (x: number) => string;
  /** Print wsq/raw (false for diagnostics where a ratio means nothing). */
  ratio?: boolean;
}

console.log('');
for (const size of sizes) {
  const raw = results.get(key(RAW, size)) ?? [];
  const wsq = results.get(key(WSQ, size));
  const rate = FIXED_DELIVERIES_PER_SEC / size;
  const rows: Row[] = [
    { label: 'deliveries/s at the limit', pick: (r) => r.deliveriesPerSec, f: fmtInt },
    { label: `latency p50, ${fmtInt(rate)} msg/s (ms)`, pick: (r) => r.p50Ms, f: fmt(2) },
    { label: `latency p99, ${fmtInt(rate)} msg/s (ms)`, pick: (r) => r.p99Ms, f: fmt(2) },
    { label: `server CPU/delivery, ${fmtInt(rate)} msg/s (µs)`, pick: (r) => r.cpuUsPerDelivery, f: fmt(2) },
    { label: `event frames per subscriber read, ${fmtInt(rate)} msg/s`, pick: (r) => r.rateFramesPerRead, f: fmt(2) },
    { label: 'server CPU/delivery at the limit (µs)', pick: (r) => r.limitServerUsPerDelivery, f: fmt(2) },
    { label: 'server CPU at the limit (% of a core)', pick: (r) => r.limitServerCpuPct, f: fmt(0) },
    { label: 'event frames per subscriber read, limit', pick: (r) => r.limitFramesPerRead, f: fmt(2) },
    { label: 'generator CPU at the limit (% of a core)', pick: (r) => r.limitParentCpuPct, f: fmt(0), ratio: false },
    { label: "other processes' CPU at the limit (%)", pick: (r) => r.limitOtherCpuPct, f: fmt(0), ratio: false },
    { label: 'server RSS (MB)', pick: (r) => r.serverRss / 1_048_576, f: fmt(1) },
  ];
  const w = [44, 28, 28, 8];
  console.log(`Room of ${fmtInt(size)} subscribers, 1 publisher — medians of ${rounds} (min–max)`);
  console.log('metric'.padEnd(w[0]!) + 'wsq'.padStart(w[1]!) + 'raw ws'.padStart(w[2]!) + 'wsq/raw'.padStart(w[3]! + 2));
  for (const row of rows) {
    const rawXs = raw.map(row.pick);
    const wsqXs = wsq?.map(row.pick);
    const ratio = wsqXs && row.ratio !== false ? median(wsqXs) / median(rawXs) : NaN;
    console.log(
      row.label.padEnd(w[0]!) +
        cell(wsqXs, row.f).padStart(w[1]!) +
        cell(rawXs, row.f).padStart(w[2]!) +
        (Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '—').padStart(w[3]! + 2),
    );
  }
  if (wsq && wsq.length === raw.length) {
    const perRound = wsq.map((r, i) => (r.deliveriesPerSec / raw[i]!.deliveriesPerSec).toFixed(2));
    console.log(`  wsq/raw deliveries/s per round: ${perRound.join(', ')}`);
  }
  console.log('');
}
console.log(
  'Higher is better for deliveries/s; lower for latency and CPU. Throughput at the limit varies ±10% between runs: ' +
    'compare ratios from one run; CPU per delivery at a fixed rate is the steadier figure.\n' +
    `At the limit ${WINDOW} messages are in flight, so a server that writes all of a tick's frames for one socket together ` +
    '(event frames per subscriber read well above 1) makes fewer syscalls per delivery; at the fixed rate messages ' +
    'arrive mostly one at a time (frames per read close to 1), so both servers make about one write per delivery.',
);
if (jsonFile !== undefined) {
  const machine = { cpu: cpus[0]?.model, cpus: cpus.length, node: process.version, ws: wsVersion(), os: `${os.platform()} ${os.release()}` };
  writeFileSync(jsonFile, JSON.stringify({ machine, window: WINDOW, phases, client, results: Object.fromEntries(results) }, null, 2));
  console.log(`wrote ${jsonFile}`);
}
const busy = [...results.values()].flat().filter((r) => Math.max(r.limitOtherCpuPct, r.rateOtherCpuPct) > BUSY_PCT).length;
if (busy > 0) console.log(`WARNING: ${busy} run(s) shared the machine with other work (flagged "MACHINE BUSY" above): their figures are low and noisy.`);
console.log(`total ${((Date.now() - started) / 1000).toFixed(0)} s`);
