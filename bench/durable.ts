/**
 * The durable bench (issue 3, item 10): for the disk store (LmdbStore in a temp directory)
 * and the memory store, side by side in one run, against a wsq server in a child process
 * (`wsq-durable-server.ts`), load from this process, 127.0.0.1 only:
 *
 * 1. **Acked durable emits per second**: P publishers (1 and 10), each keeping a window of
 *    W emits with `id` not yet acked (1 = stop-and-wait, 32 = pipelined), all into one room
 *    nobody consumes. Each ack means "stored" (on disk, synced, for the disk store). Counted
 *    over `measureMs` after `warmupMs`.
 * 2. **Replay of a 100,000-message backlog**: the server child appends 100,000 messages
 *    (~100 bytes of data each) to a room in-process, then a client joins with `since: 0`;
 *    the time from sending `join` to the last replayed event, and messages/s.
 *
 * Each figure is measured `rounds` times (default 3), disk and memory interleaved, and the
 * table shows medians; a line flags runs that shared the machine with other busy processes.
 *
 * Run alone: `npm run build && node dist/bench/durable.js` (flags: `--quick`). Profile the
 * server: `WSQ_BENCH_CPU_PROF=/tmp/prof node dist/bench/durable.js` writes a .cpuprofile per
 * server child there.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

/** One metric, disk beside memory. */
export interface DurableRow {
  metric: string;
  unit: string;
  disk: number;
  memory: number;
  /** The target for the disk store, when it has one (e.g. "≥ 20,000"). */
  target?: string;
  /** Whether the disk figure meets the target. */
  met?: boolean;
}

/** What `durableBench` returns. */
export type Rows = DurableRow[];

export interface DurableOptions {
  /** Publishers counts to run (default [1, 10]). */
  publishers?: number[];
  /** Windows of unacked emits per publisher (default [1, 32]). */
  windows?: number[];
  warmupMs?: number;
  measureMs?: number;
  /** Backlog size to replay (default 100,000). */
  backlog?: number;
  /** Bytes of `data.body` per message (default 64; the whole data is ~90 bytes of JSON). */
  bodyBytes?: number;
  /** Measurements of each figure; the rows carry the medians (default 3). */
  rounds?: number;
  /** Where progress lines go (default console.log). */
  log?: (line: string) => void;
}

/** Which store the durable server child runs on. */
export type Kind = 'disk' | 'memory';

const ENTRY = fileURLToPath(new URL('./wsq-durable-server.js', import.meta.url));
const CONNECT_TIMEOUT_MS = 10_000;

// ------------------------------------------------------------------ the server child

/** A running durable server child (`wsq-durable-server.ts`): its PID, port, CPU samples, in-process fill, and stop. */
export interface DurableChild {
  pid: number;
  port: number;
  cpu(): Promise<{ user: number; system: number; rss: number }>;
  fill(room: string, count: number, bytes: number): Promise<{ ms: number; last: number }>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
});

/** Fork the durable server on `kind`, wait for its port (bounded); ended by PID on every path. The peers bench uses it too. */
export function startDurableChild(kind: Kind, dir: string | undefined, timeoutMs = 15_000): Promise<DurableChild> {
  const prof = process.env.WSQ_BENCH_CPU_PROF;
  const execArgv = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`, `--cpu-prof-name=wsq-durable-${kind}-${Date.now()}.cpuprofile`] : [];
  const child = fork(ENTRY, dir ? [kind, dir] : [kind], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
  children.add(child);
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      children.delete(child);
      r();
    }),
  );
  const replies = new Map<number, (m: any) => void>();
  let nextId = 1;
  const ask = <T>(msg: Record<string, unknown>, ms: number): Promise<T> =>
    new Promise((resolve, reject) => {
      if (!child.connected) return reject(new Error(`server child ${child.pid} is gone`));
      const id = nextId++;
      const timer = setTimeout(() => {
        replies.delete(id);
        reject(new Error(`server child did not answer ${msg.type} within ${ms} ms`));
      }, ms);
      replies.set(id, (m) => {
        clearTimeout(timer);
        resolve(m as T);
      });
      child.send({ ...msg, id });
    });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (child.connected) child.send({ type: 'stop' });
    const term = setTimeout(() => child.pid && process.kill(child.pid, 'SIGTERM'), 5_000);
    const kill = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(term);
    clearTimeout(kill);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void stop().finally(() => reject(new Error(`${ENTRY} did not report its port within ${timeoutMs} ms`))), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${ENTRY} exited before it was ready (code ${code}, signal ${signal})`));
    });
    child.on('message', (m: any) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve({
          pid: child.pid!,
          port: m.port,
          cpu: () => ask({ type: 'cpu' }, 5_000),
          fill: (room, count, bytes) => ask({ type: 'fill', room, count, bytes }, 300_000),
          stop,
        });
      } else if (typeof m.id === 'number') {
        replies.get(m.id)?.(m);
        replies.delete(m.id);
      }
    });
  });
}

// ------------------------------------------------------------------ load

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no connection to ${url} within ${CONNECT_TIMEOUT_MS} ms`));
    }, CONNECT_TIMEOUT_MS);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function closeAll(sockets: WebSocket[]): Promise<void> {
  return Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((r) => {
          if (ws.readyState === WebSocket.CLOSED) return r();
          const timer = setTimeout(() => {
            ws.terminate();
            r();
          }, 2_000);
          ws.once('close', () => {
            clearTimeout(timer);
            r();
          });
          ws.close();
        }),
    ),
  ).then(() => undefined);
}

interface EmitResult {
  perSec: number;
  serverCpuPct: number;
  genCpuPct: number;
}

/** Acked emits/s of `publishers` sockets, each with `window` emits in flight, into one room. */
async function emitRate(child: DurableChild, room: string, publishers: number, window: number, body: string, warmupMs: number, measureMs: number): Promise<EmitResult> {
  const url = `ws://127.0.0.1:${child.port}/`;
  const sockets = await Promise.all(Array.from({ length: publishers }, () => open(url)));
  let acks = 0;
  let stopping = false;
  let inflight = 0;
  let failure: string | undefined;
  let drained: (() => void) | undefined;
  let seq = 0;
  const send = (ws: WebSocket): void => {
    const n = seq++;
    inflight++;
    ws.send(`{"type":"emit","room":"${room}","event":"e","data":{"seq":${n},"body":"${body}"},"id":${n}}`);
  };
  for (const ws of sockets) {
    ws.on('message', (d: Buffer) => {
      const s = d.toString();
      if (s.startsWith('{"type":"ack"')) {
        acks++;
        inflight--;
        if (!stopping) send(ws);
        else if (inflight === 0) drained?.();
      } else if (s.includes('"type":"error"')) {
        failure ??= s;
      }
    });
  }
  for (const ws of sockets) for (let i = 0; i < window; i++) send(ws);
  await new Promise((r) => setTimeout(r, warmupMs));
  const a0 = acks;
  const t0 = performance.now();
  const c0 = await child.cpu();
  const g0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, measureMs));
  const a1 = acks;
  const t1 = performance.now();
  const c1 = await child.cpu();
  const g1 = process.cpuUsage(g0);
  stopping = true;
  if (inflight > 0) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${inflight} emits still unacked 10 s after the load stopped`)), 10_000);
      drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  await closeAll(sockets);
  if (failure) throw new Error(`the server answered an emit with an error: ${failure}`);
  const secs = (t1 - t0) / 1000;
  return {
    perSec: (a1 - a0) / secs,
    serverCpuPct: ((c1.user + c1.system - c0.user - c0.system) / 1e6 / secs) * 100,
    genCpuPct: ((g1.user + g1.system) / 1e6 / secs) * 100,
  };
}

interface ReplayResult {
  ms: number;
  firstMs: number;
  perSec: number;
}

/** Join `room` with since 0 and time the replay of its `count` messages (bounded). */
async function replay(port: number, room: string, count: number): Promise<ReplayResult> {
  const ws = await open(`ws://127.0.0.1:${port}/`);
  try {
    return await new Promise<ReplayResult>((resolve, reject) => {
      let joined = false;
      let received = 0;
      let firstMs = NaN;
      const timer = setTimeout(() => reject(new Error(`replay: ${received} of ${count} events within 120 s`)), 120_000);
      let t0 = 0;
      ws.on('message', (d: Buffer) => {
        if (!joined) {
          const f = JSON.parse(d.toString());
          if (f.type === 'welcome') return;
          if (f.type !== 'joined' || f.replay?.count !== count) {
            clearTimeout(timer);
            return reject(new Error(`replay: expected joined with ${count} to replay, got ${d.toString().slice(0, 300)}`));
          }
          joined = true;
          return;
        }
        received++;
        if (received === 1) firstMs = performance.now() - t0;
        if (received < count) return;
        const ms = performance.now() - t0;
        clearTimeout(timer);
        const last = JSON.parse(d.toString());
        if (last.offset !== count || last.replay !== true) return reject(new Error(`replay: the last frame is not offset ${count}: ${d.toString().slice(0, 300)}`));
        resolve({ ms, firstMs, perSec: count / (ms / 1000) });
      });
      t0 = performance.now();
      ws.send(JSON.stringify({ type: 'join', room, since: 0, id: 1 }));
    });
  } finally {
    await closeAll([ws]);
  }
}

// ------------------------------------------------------------------ the bench

const emitKey = (p: number, w: number): string => `${p}x${w}`;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Busy CPU time of the whole machine so far, in µs (all cores). */
function machineBusyUs(): number {
  let busy = 0;
  for (const c of os.cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  return busy * 1000;
}

/**
 * Run the durable bench: disk and memory store side by side in one run. Both server
 * children run for the whole bench (an idle one costs nothing); each figure is measured
 * `rounds` times, disk and memory interleaved (the order alternates per round), and the
 * rows carry the medians.
 * @example
 * const rows = await durableBench();
 * console.log(formatRows(rows));
 */
export async function durableBench(opts: DurableOptions = {}): Promise<Rows> {
  const o = {
    publishers: opts.publishers ?? [1, 10],
    windows: opts.windows ?? [1, 32],
    warmupMs: opts.warmupMs ?? 1_000,
    measureMs: opts.measureMs ?? 3_000,
    backlog: opts.backlog ?? 100_000,
    bodyBytes: opts.bodyBytes ?? 64,
    rounds: opts.rounds ?? 3,
  };
  const log = opts.log ?? ((l: string) => console.log(l));
  const body = 'x'.repeat(o.bodyBytes);
  const dir = mkdtempSync(join(os.tmpdir(), 'wsq-bench-durable-'));
  const kinds: Kind[] = ['disk', 'memory'];
  const servers = new Map<Kind, DurableChild>();
  const emits = new Map<string, EmitResult[]>(); // `${kind}/${p}x${w}`
  const others: number[] = [];
  const fills = new Map<Kind, number>();
  const replays = new Map<Kind, ReplayResult[]>();
  try {
    servers.set('disk', await startDurableChild('disk', dir));
    servers.set('memory', await startDurableChild('memory', undefined));
    for (let round = 0; round < o.rounds; round++) {
      const order = round % 2 === 0 ? kinds : [...kinds].reverse();
      for (const p of o.publishers) {
        for (const w of o.windows) {
          for (const kind of order) {
            const m0 = machineBusyUs();
            const t0 = performance.now();
            const r = await emitRate(servers.get(kind)!, `emits-${p}x${w}`, p, w, body, o.warmupMs, o.measureMs);
            const wall = (performance.now() - t0) / 1000;
            // Everything but this bench's two busy processes, averaged over the whole measurement (warm-up included).
            const other = ((machineBusyUs() - m0) / 1e6 / wall) * 100 - r.serverCpuPct - r.genCpuPct;
            others.push(other);
            const k = `${kind}/${emitKey(p, w)}`;
            emits.set(k, [...(emits.get(k) ?? []), r]);
            log(
              `  round ${round + 1} ${kind.padEnd(6)} ${String(p).padStart(2)} publisher(s), window ${String(w).padStart(2)}: ` +
                `${fmtInt(r.perSec)} acked emits/s (server CPU ${r.serverCpuPct.toFixed(0)}%, generator ${r.genCpuPct.toFixed(0)}%, ` +
                `other processes ~${Math.max(0, other).toFixed(0)}%)`,
            );
          }
        }
      }
    }
    for (const kind of kinds) {
      const filled = await servers.get(kind)!.fill('backlog', o.backlog, o.bodyBytes);
      if (filled.last !== o.backlog) throw new Error(`fill: the ${kind} backlog ends at offset ${filled.last}, not ${o.backlog}`);
      fills.set(kind, filled.ms);
      log(`  ${kind.padEnd(6)} backlog of ${fmtInt(o.backlog)} appended in-process in ${(filled.ms / 1000).toFixed(2)} s`);
    }
    for (let round = 0; round < o.rounds; round++) {
      for (const kind of round % 2 === 0 ? kinds : [...kinds].reverse()) {
        const r = await replay(servers.get(kind)!.port, 'backlog', o.backlog);
        replays.set(kind, [...(replays.get(kind) ?? []), r]);
        log(
          `  round ${round + 1} ${kind.padEnd(6)} replay: ${fmtInt(o.backlog)} in ${(r.ms / 1000).toFixed(2)} s = ${fmtInt(r.perSec)} msgs/s (first event after ${r.firstMs.toFixed(1)} ms)`,
        );
      }
    }
  } finally {
    for (const s of servers.values()) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const rows: Rows = [];
  const med = (kind: Kind, p: number, w: number, pick: (r: EmitResult) => number): number => median((emits.get(`${kind}/${emitKey(p, w)}`) ?? []).map(pick));
  for (const p of o.publishers) {
    for (const w of o.windows) {
      const row: DurableRow = {
        metric: `acked emits/s, ${p} publisher${p > 1 ? 's' : ''}, window ${w}${w === 1 ? ' (stop-and-wait)' : ''}`,
        unit: 'msg/s',
        disk: med('disk', p, w, (r) => r.perSec),
        memory: med('memory', p, w, (r) => r.perSec),
      };
      if (p === 10 && w === Math.max(...o.windows)) Object.assign(row, { target: '≥ 20,000', met: row.disk >= 20_000 });
      rows.push(row);
      rows.push({ metric: `  server CPU at ${p}×${w}`, unit: '% core', disk: med('disk', p, w, (r) => r.serverCpuPct), memory: med('memory', p, w, (r) => r.serverCpuPct) });
    }
  }
  rows.push({ metric: `backlog append, ${fmtInt(o.backlog)} msgs (in-process)`, unit: 's', disk: fills.get('disk')! / 1000, memory: fills.get('memory')! / 1000 });
  const rep = (kind: Kind, pick: (r: ReplayResult) => number): number => median((replays.get(kind) ?? []).map(pick));
  const time: DurableRow = {
    metric: `replay of ${fmtInt(o.backlog)} (join since 0): time`,
    unit: 's',
    disk: rep('disk', (r) => r.ms / 1000),
    memory: rep('memory', (r) => r.ms / 1000),
  };
  if (o.backlog === 100_000) Object.assign(time, { target: '< 2', met: time.disk < 2 });
  rows.push(time);
  rows.push({ metric: `replay of ${fmtInt(o.backlog)}: rate`, unit: 'msg/s', disk: rep('disk', (r) => r.perSec), memory: rep('memory', (r) => r.perSec) });
  rows.push({ metric: `replay of ${fmtInt(o.backlog)}: first event after`, unit: 'ms', disk: rep('disk', (r) => r.firstMs), memory: rep('memory', (r) => r.firstMs) });
  const busy = others.filter((x) => x > 15).length;
  if (busy > 0) log(`  NOTE: ${busy} of ${others.length} emit runs shared the machine with other work (other processes > 15% of a core): those figures are low.`);
  return rows;
}

// ------------------------------------------------------------------ formatting

function fmtInt(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—';
}

function fmtVal(x: number, unit: string): string {
  if (!Number.isFinite(x)) return '—';
  return unit === 's' ? x.toFixed(2) : unit === 'ms' ? x.toFixed(1) : fmtInt(x);
}

/** The rows as a table: metric, unit, disk, memory, target. */
export function formatRows(rows: Rows): string {
  const w = [58, 7, 12, 12, 16];
  const lines = [`${'metric'.padEnd(w[0]!) + 'unit'.padEnd(w[1]!) + 'disk'.padStart(w[2]!) + 'memory'.padStart(w[3]!)}  target (disk)`];
  for (const r of rows) {
    const target = r.target ? `  ${r.target} ${r.met ? 'met' : 'MISSED'}` : '';
    lines.push(r.metric.padEnd(w[0]!) + r.unit.padEnd(w[1]!) + fmtVal(r.disk, r.unit).padStart(w[2]!) + fmtVal(r.memory, r.unit).padStart(w[3]!) + target);
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------ run alone

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes('--quick');
  const cpus = os.cpus();
  console.log(`wsq durable bench — ${cpus[0]?.model ?? '?'} × ${cpus.length}, Node ${process.version}, ${os.platform()} ${os.release()}`);
  console.log('disk = LmdbStore in a temp dir (ack after a synced commit); memory = MemoryStore. Server in a child process, load here, 127.0.0.1.\n');
  durableBench(quick ? { warmupMs: 300, measureMs: 1_000, backlog: 20_000, rounds: 1 } : {}).then(
    (rows) => {
      console.log('');
      console.log(formatRows(rows));
    },
    (err) => {
      console.error('durable bench failed:', err);
      process.exitCode = 1;
    },
  );
}
