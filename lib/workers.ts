/**
 * `wsq serve --workers N` (issue 12 item 4): more than one core on one machine. The `wsq serve`
 * process becomes a node:cluster primary that forks N workers; each worker runs the ordinary
 * serve path and is one node on the Redis adapter and store (so `--redis` is required: the
 * workers share rooms, logs and offsets only through Redis, as separate machines would).
 *
 * The workers share one port through node:cluster's handle sharing (Node 20's `net` has no
 * SO_REUSEPORT): on Linux the primary accepts each TCP connection and hands it to the next worker
 * in turn (round-robin, `cluster.SCHED_RR`), after which bytes flow between the client and that
 * worker only. Port 0 picks one free port for all of them. Every request — a WebSocket upgrade,
 * `/healthz`, `/readyz`, `/metrics`, the admin API — is answered by the one worker that got its
 * connection; the primary serves nothing itself (README "Using more than one core").
 *
 * The primary prints one start line (the port, each worker's PID and node id), restarts a worker
 * that exits unexpectedly (after a backoff, at most `restartsPerMinute` a minute, each logged),
 * and on SIGTERM or SIGINT sends SIGTERM to every worker (each closes gracefully, as a single
 * `wsq serve` does), exits once all have exited, and SIGKILLs by PID any worker still there after
 * `stopMs`.
 */
import cluster, { type Worker } from 'node:cluster';

/** The variable that marks a process as a worker of this primary (its value: the primary's PID). */
const MARK = 'WSQ_WORKERS_PRIMARY';
/** The message a worker sends once it listens. */
const READY = 'wsq:worker-ready';
/** The plain-HTTP paths a worker reports, so the primary's start lines can say what is served. */
export const ROUTES = ['/healthz', '/readyz', '/metrics', '/dashboard', '/admin/api/rooms'];

/** What a worker tells the primary once it listens. */
export interface WorkerInfo {
  pid: number;
  port: number;
  nodeId: string;
  /** Which of ROUTES it serves. */
  routes: string[];
}

/** True in a worker forked by `runWorkers` (not in a process that is a cluster worker of something else, e.g. pm2). */
export function isWorker(): boolean {
  return cluster.isWorker && process.env[MARK] === String(process.ppid);
}

/** In a worker: tell the primary this worker listens. */
export function reportListening(info: Omit<WorkerInfo, 'pid'>): void {
  process.send?.({ type: READY, ...info, pid: process.pid });
}

/** How the primary runs its workers. */
export interface WorkersOptions {
  /** Number of workers (≥ 2). */
  workers: number;
  /** The start lines, printed once every worker listens (the first names the port and every worker). */
  startLines(workers: WorkerInfo[]): string[];
  /** Warnings printed once at start (on stderr, as `wsq: warning: …`). */
  warnings(workers: WorkerInfo[]): string[];
  /** How long workers have to exit after SIGTERM before they are SIGKILLed (default 10 s). */
  stopMs?: number;
  /** Most restarts in any minute, over all workers (default 10); past it a worker that exits stays down. */
  restartsPerMinute?: number;
  /** Where lines go (default: console.log / console.error). */
  out?: (line: string) => void;
  err?: (line: string) => void;
}

/** Delay before the next restart, doubling with the restarts of the last minute: 100 ms, 200 ms, … at most 5 s. */
export function restartDelay(recentRestarts: number): number {
  return Math.min(5_000, 100 * 2 ** Math.min(recentRestarts, 16));
}

const how = (code: number | null, signal: string | null): string => (signal ? `was killed by ${signal}` : `exited with code ${code}`);

/**
 * Run the primary: fork the workers, watch them, stop them on SIGTERM/SIGINT. Resolves never
 * (the process exits: 0 after a clean stop, 1 when a worker failed to start or none is left).
 */
export function runWorkers(o: WorkersOptions): Promise<never> {
  const out = o.out ?? ((l: string) => console.log(l));
  const err = o.err ?? ((l: string) => console.error(l));
  const stopMs = o.stopMs ?? 10_000;
  const cap = o.restartsPerMinute ?? 10;
  cluster.schedulingPolicy = cluster.SCHED_RR; // the default on Linux; also elsewhere (Windows defaults to the OS)

  /** One slot per worker: the process in it now (undefined while a restart waits) and what it reported. */
  const slots: { worker?: Worker; info?: WorkerInfo; timer?: NodeJS.Timeout }[] = Array.from({ length: o.workers }, () => ({}));
  const restarts: number[] = []; // times of the restarts of the last minute
  let started = false;
  let stopping = false;
  let port: number | undefined;

  const alive = (): Worker[] => slots.flatMap((s) => (s.worker && s.worker.process.exitCode === null && s.worker.process.signalCode === null ? [s.worker] : []));
  const label = (i: number, pid: number | undefined, nodeId?: string): string => `worker ${i + 1} (pid ${pid}${nodeId ? `, node ${nodeId}` : ''})`;

  // Whatever ends this process, no worker of it outlives it (workers also exit when their IPC channel closes).
  process.on('exit', () => {
    for (const w of alive()) if (w.process.pid) process.kill(w.process.pid, 'SIGKILL');
  });

  const fork = (i: number): void => {
    const slot = slots[i]!;
    slot.timer = undefined;
    slot.info = undefined;
    const w = cluster.fork({ [MARK]: String(process.pid) });
    slot.worker = w;
    w.on('message', (m: unknown) => {
      const msg = m as (WorkerInfo & { type?: string }) | undefined;
      if (msg?.type !== READY || stopping) return;
      slot.info = { pid: msg.pid, port: msg.port, nodeId: msg.nodeId, routes: msg.routes };
      if (!started) {
        if (slots.every((s) => s.info)) {
          started = true;
          port = msg.port;
          const infos = slots.map((s) => s.info!);
          for (const line of o.startLines(infos)) out(line);
          for (const line of o.warnings(infos)) err(`wsq: warning: ${line}`);
        }
        return;
      }
      const moved = msg.port !== port ? `; the port changed from ${port} to ${msg.port} (every worker had exited, and the port was 0)` : '';
      port = msg.port;
      out(`wsq: ${label(i, msg.pid, msg.nodeId)} listening on port ${msg.port}${moved}`);
    });
    w.on('exit', (code, signal) => {
      if (slot.worker !== w) return;
      slot.worker = undefined;
      const who = label(i, w.process.pid, slot.info?.nodeId);
      if (stopping) return;
      if (!started) {
        err(`wsq: ${who} ${how(code, signal)} before listening; stopping the other workers`);
        stop('a worker failed to start', 1);
        return;
      }
      const now = Date.now();
      while (restarts.length && restarts[0]! <= now - 60_000) restarts.shift();
      if (restarts.length >= cap) {
        err(
          `wsq: ${who} ${how(code, signal)}; not restarting it: ${restarts.length} restarts within the last minute (at most ${cap}). ${alive().length} of ${o.workers} workers serve.`,
        );
        if (alive().length === 0 && slots.every((s) => !s.timer)) stop('no worker is left', 1);
        return;
      }
      const delay = restartDelay(restarts.length);
      restarts.push(now);
      err(`wsq: ${who} ${how(code, signal)}; restarting it in ${delay} ms (restart ${restarts.length} of at most ${cap} a minute)`);
      slot.timer = setTimeout(() => fork(i), delay);
    });
  };

  let finish: ((code: number) => void) | undefined;
  const stop = (why: string, exitCode = 0): void => {
    if (stopping) return;
    stopping = true;
    for (const s of slots) if (s.timer) clearTimeout(s.timer);
    const ws = alive();
    out(`wsq: ${why}, shutting down ${ws.length} worker${ws.length === 1 ? '' : 's'}`);
    let failed = exitCode;
    const gone = ws.map(
      (w) =>
        new Promise<void>((r) => {
          if (w.process.exitCode !== null || w.process.signalCode !== null) return r();
          w.process.once('exit', (code) => {
            if (code !== 0) failed = 1;
            r();
          });
        }),
    );
    for (const w of ws) if (w.process.pid) process.kill(w.process.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      const left = alive();
      err(`wsq: ${left.length} worker${left.length === 1 ? '' : 's'} still running ${stopMs} ms after SIGTERM; killing ${left.map((w) => `pid ${w.process.pid}`).join(', ')}`);
      for (const w of left) if (w.process.pid) process.kill(w.process.pid, 'SIGKILL');
      failed = 1;
    }, stopMs);
    void Promise.all(gone).then(() => {
      clearTimeout(timer);
      finish?.(failed);
    });
  };

  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  for (let i = 0; i < o.workers; i++) fork(i);
  return new Promise<never>(() => {
    finish = (code) => process.exit(code);
  });
}
