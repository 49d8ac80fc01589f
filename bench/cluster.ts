/**
 * `npm run bench:cluster` (issue 9 item 6): what scaling out on Redis costs, in one run, every
 * server a real `wsq serve` process (dist/lib/cli.js), the load generator here, 127.0.0.1 only.
 *
 * 1. **Fan-out of stored room emits**: S subscribers in one room, one publisher keeping at most
 *    `window` messages not yet received by every subscriber (a closed loop). Deliveries/s over
 *    `measureMs` after `warmupMs`, and the latency (publish → receive, same clock) sampled at one
 *    subscriber per node. Three set-ups, same S:
 *    - **single node, memory store** (`--memory`): the single-node figure;
 *    - **single node on Redis** (`--redis`, the system Redis): what the Redis store and feed cost alone;
 *    - **three nodes on Redis**: publisher on node A, subscribers spread evenly over A, B, C.
 *    The table gives each figure and the ratio three-node / single-node.
 * 2. **Durable publish**: acked stored emits/s into a room nobody reads, one publisher, a window
 *    of 1 (stop-and-wait) and 32 (pipelined), on the disk store (LMDB, synced) beside the Redis
 *    store on an own `redis-server --appendonly yes --appendfsync always` (`--redis-durable`), and
 *    beside the system Redis (no persistence) for reference.
 *
 * Flags: `--quick` (shorter phases, fewer subscribers: a smoke run), `--subscribers N`
 * (default 300), `--json FILE`. Redis keys are under a prefix of this run, deleted at the end.
 * Every process started here is ended by its PID, on every path.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { connectLean, type LeanWebSocket } from './lean-ws.js';
import { deletePrefix } from './redis-keys.js';

const CLI = fileURLToPath(new URL('../lib/cli.js', import.meta.url));
const SYSTEM_REDIS = process.env.WSQ_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const START_TIMEOUT_MS = 30_000;

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const SUBSCRIBERS = Number(option('--subscribers') ?? (quick ? 150 : 300));
const WINDOW = 16;
const phases = quick ? { warmupMs: 500, measureMs: 2_000 } : { warmupMs: 1_000, measureMs: 4_000 };
const jsonFile = option('--json');
const runId = `${process.pid}-${Date.now().toString(36)}`;

// ------------------------------------------------------------------ processes (ended by PID)

const procs = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(p.pid, 'SIGKILL');
});

/** End a child by PID: SIGTERM, SIGKILL after 5 s. */
async function end(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null || !p.pid) return;
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  process.kill(p.pid, 'SIGTERM');
  const t = setTimeout(() => p.pid && process.kill(p.pid, 'SIGKILL'), 5_000);
  await gone;
  clearTimeout(t);
}

/** A `wsq serve` node: its URL and its process. */
interface Node {
  url: string;
  proc: ChildProcess;
}

/** Start `wsq serve` with `extra` flags on a free port; resolves once it listens. */
function startNode(extra: string[]): Promise<Node> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn', '--max-connections-per-client', '0', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.add(proc);
  proc.once('exit', () => procs.delete(proc));
  let out = '';
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wsq serve ${extra.join(' ')} did not listen within ${START_TIMEOUT_MS} ms: ${out}`)), START_TIMEOUT_MS);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = /listening on (ws:\/\/127\.0\.0\.1:\d+\/)/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      resolve({ url: m[1]!, proc });
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`wsq serve exited (${code}) before listening: ${out}`));
    });
  });
}

/** A free loopback port. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: true on +PONG within 500 ms. */
function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 500);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => done(d.toString().startsWith('+PONG')));
    sock.on('error', () => done(false));
  });
}

/** An own redis-server with `appendfsync always` in a temp directory (removed by `stop`). */
async function startDurableRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(os.tmpdir(), 'wsq-bench-redis-'));
  const port = await freePort();
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--logfile', ''],
    {
      stdio: 'ignore',
    },
  );
  procs.add(proc);
  proc.once('exit', () => procs.delete(proc));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await pong(port))) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`redis-server on port ${port} did not answer PING`);
    await sleep(25);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      await end(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Delete this run's keys under `prefix` (never FLUSH); Redis gone: nothing to delete. */
async function deleteRunKeys(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  try {
    await r.connect();
    await deletePrefix(r, prefix);
  } catch {
    // Redis gone: nothing to delete
  } finally {
    r.disconnect();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ fan-out

/** What one fan-out run measured. */
export interface FanoutFigures {
  setup: string;
  nodes: number;
  subscribers: number;
  deliveriesPerSec: number;
  messagesPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

const EVENT = Buffer.from('"type":"event"');
const JOINED = Buffer.from('"type":"joined"');

const pct = (sorted: number[], p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : Number.NaN);

/** Open a `ws` client and wait for its welcome. */
async function wsClient(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

/** Subscribers spread over `subUrls` (round robin), publisher on `pubUrl`; closed loop of WINDOW messages. */
async function fanout(setup: string, subUrls: string[], pubUrl: string, room: string): Promise<FanoutFigures> {
  let delivered = 0;
  let sent = 0;
  let sampling = false;
  let pumping = false;
  const latencies: number[] = [];
  const subs: LeanWebSocket[] = [];
  let joined = 0;
  let pub!: WebSocket;
  const publish = (): void => {
    sent++;
    pub.send(`{"type":"emit","room":"${room}","event":"m","data":{"t":${performance.now()}}}`);
  };
  const pump = (): void => {
    while (pumping && sent * SUBSCRIBERS - delivered < WINDOW * SUBSCRIBERS) publish();
  };
  const sampled = new Set(subUrls.map((_, i) => i)); // the first subscriber of each node parses for latency
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const sample = sampled.has(i);
    const ws = connectLean(subUrls[i % subUrls.length]!, undefined, {
      onMessage: (b, s, e) => {
        const frame = b.subarray(s, e);
        if (frame.indexOf(EVENT) >= 0) {
          delivered++;
          if (sample && sampling) {
            const m = /"t":([\d.]+)/.exec(frame.toString('utf8'));
            if (m) latencies.push(performance.now() - Number(m[1]));
          }
          pump();
        } else if (frame.indexOf(JOINED) >= 0) joined++;
      },
      onError: (msg) => console.error(`subscriber: ${msg}`),
      onClose: () => undefined,
    });
    subs.push(ws);
    if (i % 100 === 99) await Promise.all(subs.slice(-100).map((x) => x.opened));
  }
  await Promise.all(subs.map((s) => s.opened));
  for (const s of subs) s.send(`{"type":"join","room":"${room}"}`);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (joined < SUBSCRIBERS) {
    if (Date.now() > deadline) throw new Error(`${setup}: only ${joined} of ${SUBSCRIBERS} subscribers joined`);
    await sleep(20);
  }
  pub = await wsClient(pubUrl);
  pumping = true;
  pump();
  await sleep(phases.warmupMs);
  sampling = true;
  const d0 = delivered;
  const t0 = performance.now();
  await sleep(phases.measureMs);
  const secs = (performance.now() - t0) / 1000;
  const d = delivered - d0;
  sampling = false;
  pumping = false;
  pub.close();
  for (const s of subs) s.terminate();
  latencies.sort((a, b) => a - b);
  return {
    setup,
    nodes: new Set(subUrls).size,
    subscribers: SUBSCRIBERS,
    deliveriesPerSec: d / secs,
    messagesPerSec: d / secs / SUBSCRIBERS,
    p50Ms: pct(latencies, 50),
    p99Ms: pct(latencies, 99),
  };
}

// ------------------------------------------------------------------ durable publish

/** Acked stored emits per second of one publisher with `window` unacked emits, into a room nobody reads. */
async function durablePublish(url: string, window: number, room: string): Promise<number> {
  const ws = await wsClient(url);
  let acked = 0;
  let id = 0;
  let running = true;
  const send = (): void => {
    ws.send(`{"type":"emit","room":"${room}","event":"m","data":{"body":"${'x'.repeat(64)}"},"id":${++id}}`);
  };
  ws.on('message', (d: Buffer) => {
    if (d.indexOf('"type":"ack"') < 0) {
      if (d.indexOf('"type":"error"') >= 0) console.error(`durable publish: ${d.toString().slice(0, 300)}`);
      return;
    }
    acked++;
    if (running) send();
  });
  for (let i = 0; i < window; i++) send();
  await sleep(phases.warmupMs);
  const a0 = acked;
  const t0 = performance.now();
  await sleep(phases.measureMs);
  const rate = (acked - a0) / ((performance.now() - t0) / 1000);
  running = false;
  ws.close();
  return rate;
}

/** One durable-publish row: a store, its rates at window 1 and 32. */
export interface DurableFigures {
  store: string;
  window1: number;
  window32: number;
}

// ------------------------------------------------------------------ main

const fmt = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');

async function main(): Promise<void> {
  const prefix = `wsq-bench-${runId}:`;
  const started: Node[] = [];
  const node = async (extra: string[]): Promise<Node> => {
    const n = await startNode(extra);
    started.push(n);
    return n;
  };
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.splice(0).map((n) => end(n.proc)));
  };
  const load = os.loadavg()[0]!;
  console.log(`bench:cluster — ${SUBSCRIBERS} subscribers, window ${WINDOW}, ${phases.measureMs} ms per figure; ${os.cpus().length} cores, load ${load.toFixed(1)} at start`);
  const fan: FanoutFigures[] = [];
  const dur: DurableFigures[] = [];
  const dirs: string[] = [];
  let durableRedis: Awaited<ReturnType<typeof startDurableRedis>> | undefined;
  try {
    // 1. fan-out
    const single = await node(['--memory']);
    fan.push(await fanout('single node, memory store', [single.url], single.url, 'fan'));
    await stopAll();
    const oneRedis = await node(['--redis', SYSTEM_REDIS, '--redis-prefix', `${prefix}1:`]);
    fan.push(await fanout('single node on Redis', [oneRedis.url], oneRedis.url, 'fan'));
    await stopAll();
    const three = await Promise.all([0, 1, 2].map(() => node(['--redis', SYSTEM_REDIS, '--redis-prefix', `${prefix}3:`])));
    fan.push(
      await fanout(
        'three nodes on Redis (publisher on A)',
        three.map((n) => n.url),
        three[0]!.url,
        'fan',
      ),
    );
    await stopAll();

    // 2. durable publish
    const dir = mkdtempSync(join(os.tmpdir(), 'wsq-bench-disk-'));
    dirs.push(dir);
    const disk = await node(['--data-dir', dir]);
    dur.push({ store: 'disk (LMDB, synced)', window1: await durablePublish(disk.url, 1, 'd1'), window32: await durablePublish(disk.url, 32, 'd32') });
    await stopAll();
    durableRedis = await startDurableRedis();
    const rd = await node(['--redis', durableRedis.url, '--redis-prefix', prefix, '--redis-durable']);
    dur.push({ store: 'Redis, appendfsync always', window1: await durablePublish(rd.url, 1, 'd1'), window32: await durablePublish(rd.url, 32, 'd32') });
    await stopAll();
    const rs = await node(['--redis', SYSTEM_REDIS, '--redis-prefix', `${prefix}d:`]);
    dur.push({ store: 'Redis, no persistence (system)', window1: await durablePublish(rs.url, 1, 'd1'), window32: await durablePublish(rs.url, 32, 'd32') });
    await stopAll();
  } finally {
    await stopAll();
    await durableRedis?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    for (const p of ['1:', '3:', 'd:']) await deleteRunKeys(SYSTEM_REDIS, `${prefix}${p}`);
  }

  const base = fan[0]!.deliveriesPerSec;
  console.log('\nFan-out of stored room emits (deliveries/s at the limit; latency publish → receive)');
  console.log('| set-up | nodes | deliveries/s | messages/s | p50 ms | p99 ms | × single node |');
  console.log('|---|---|---|---|---|---|---|');
  for (const f of fan) {
    console.log(
      `| ${f.setup} | ${f.nodes} | ${fmt(f.deliveriesPerSec)} | ${fmt(f.messagesPerSec)} | ${fmt(f.p50Ms, 1)} | ${fmt(f.p99Ms, 1)} | ${fmt(f.deliveriesPerSec / base, 2)} |`,
    );
  }
  console.log('\nDurable publish (acked stored emits/s, one publisher)');
  console.log('| store | window 1 | window 32 | × disk (window 32) |');
  console.log('|---|---|---|---|');
  for (const d of dur) console.log(`| ${d.store} | ${fmt(d.window1)} | ${fmt(d.window32)} | ${fmt(d.window32 / dur[0]!.window32, 2)} |`);
  const endLoad = os.loadavg()[0]!;
  if (Math.max(load, endLoad) > os.cpus().length)
    console.log(
      `\nnote: the machine was busy (load ${load.toFixed(1)} → ${endLoad.toFixed(1)} on ${os.cpus().length} cores): absolute figures are low; the ratios are from the same run.`,
    );
  if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify({ subscribers: SUBSCRIBERS, window: WINDOW, phases, load: [load, endLoad], fanout: fan, durable: dur }, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench:cluster failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
