/**
 * The bench's child-process plumbing, both sides of one tiny IPC protocol:
 *
 * - child → parent: `{ type: 'ready', port }` once listening;
 *   `{ type: 'cpu', id, user, system, rss }` answering a request (µs, bytes).
 * - parent → child: `{ type: 'cpu', id }` (sample `process.cpuUsage()`), `{ type: 'stop' }`.
 *
 * A server entry (raw relay, wsq) calls {@link serveBenchIpc} after it listens; the harness
 * starts it with {@link startServerChild}, which owns the PID and ends it on every path.
 */
import { fork, type ChildProcess } from 'node:child_process';

/** CPU time of a process in microseconds (as `process.cpuUsage()`), plus its RSS in bytes. */
export interface CpuSample {
  user: number;
  system: number;
  rss: number;
}

/** Messages a bench server child sends to the harness. */
type ChildMessage = { type: 'ready'; port: number } | ({ type: 'cpu'; id: number } & CpuSample);
/** Messages the harness sends to a bench server child. */
type ParentMessage = { type: 'cpu'; id: number } | { type: 'stop' };

// ------------------------------------------------------------------ child side

/**
 * Called by a server entry once it listens: reports `port` to the parent over IPC, answers
 * CPU requests, and runs `close` then exits on `stop` or when the parent goes away.
 *
 * @example
 * const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
 * wss.on('listening', () => serveBenchIpc((wss.address() as AddressInfo).port, () => wss.close()));
 */
export function serveBenchIpc(port: number, close: () => unknown = () => undefined): void {
  if (typeof process.send !== 'function') {
    // Started by hand: say where we are and keep running until interrupted.
    console.log(`listening on 127.0.0.1:${port} (no IPC channel: not started by the bench harness)`);
    return;
  }
  const send = process.send.bind(process);
  const quit = (): void => {
    try {
      void close();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (raw: unknown) => {
    const msg = raw as ParentMessage;
    if (msg.type === 'cpu') {
      const cpu = process.cpuUsage();
      const reply: ChildMessage = { type: 'cpu', id: msg.id, user: cpu.user, system: cpu.system, rss: process.memoryUsage.rss() };
      send(reply);
    } else if (msg.type === 'stop') {
      quit();
    }
  });
  // The parent died or closed the channel: do not linger as an orphan.
  process.on('disconnect', quit);
  const ready: ChildMessage = { type: 'ready', port };
  send(ready);
}

// ------------------------------------------------------------------ parent side

/** A running bench server child, as the harness sees it. */
export interface ServerChild {
  /** The child's PID. */
  readonly pid: number;
  /** The TCP port it listens on (127.0.0.1). */
  readonly port: number;
  /** Sample the child's CPU time and RSS. */
  cpu(): Promise<CpuSample>;
  /** End the child by PID (stop over IPC, then SIGTERM, then SIGKILL) and wait for its exit. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();

/** Signal one process by PID; a process that is already gone is fine. */
function signalPid(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
let exitHookInstalled = false;

/** Make sure no child outlives the harness, whatever way the harness ends. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      if (child.exitCode === null && child.signalCode === null) signalPid(child.pid, 'SIGKILL');
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal}: ending ${live.size} server child(ren)`);
      process.exit(130);
    });
  }
}

/**
 * Start a bench server entry (a compiled `.js` file that calls {@link serveBenchIpc}) in its
 * own process and wait until it reports its port.
 *
 * @param entry absolute path of the child's JavaScript entry
 * @param timeoutMs how long to wait for `ready` before ending the child and failing
 */
export function startServerChild(entry: string, timeoutMs = 15_000): Promise<ServerChild> {
  installExitHook();
  return new Promise((resolve, reject) => {
    // WSQ_BENCH_CPU_PROF=<dir>: the child writes a .cpuprofile there when it ends (as in bench/durable.ts).
    const prof = process.env.WSQ_BENCH_CPU_PROF;
    const execArgv = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
    const child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    live.add(child);
    const pending = new Map<number, (s: CpuSample) => void>();
    let nextId = 1;
    let settled = false;
    const exited = new Promise<void>((res) =>
      child.once('exit', () => {
        live.delete(child);
        res();
      }),
    );

    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ type: 'stop' } satisfies ParentMessage);
      const escalate = setTimeout(() => signalPid(child.pid, 'SIGTERM'), 2_000);
      const kill = setTimeout(() => signalPid(child.pid, 'SIGKILL'), 5_000);
      await exited;
      clearTimeout(escalate);
      clearTimeout(kill);
    };

    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stop().finally(() => reject(err));
    };
    const timer = setTimeout(() => fail(new Error(`${entry} did not report its port within ${timeoutMs} ms`)), timeoutMs);

    child.once('error', fail);
    child.once('exit', (code, signal) => {
      fail(new Error(`${entry} exited before it was ready (code ${code}, signal ${signal})`));
      for (const done of pending.values()) done({ user: NaN, system: NaN, rss: NaN });
      pending.clear();
    });
    child.on('message', (raw: unknown) => {
      const msg = raw as ChildMessage;
      if (msg.type === 'cpu') {
        pending.get(msg.id)?.({ user: msg.user, system: msg.system, rss: msg.rss });
        pending.delete(msg.id);
      } else if (msg.type === 'ready' && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve({
          pid: child.pid!,
          port: msg.port,
          cpu: () =>
            new Promise<CpuSample>((res, rej) => {
              if (!child.connected) return rej(new Error(`server child ${child.pid} is gone`));
              const id = nextId++;
              pending.set(id, res);
              child.send({ type: 'cpu', id } satisfies ParentMessage);
            }),
          stop,
        });
      }
    });
  });
}
