/** Shared helpers of the memory tests: a server child process (for honest RSS), RSS sampling, ping latency. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { WebSocket } from 'ws';

export interface Tap {
  teardown(fn: () => unknown): void;
}

export interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
}

/** A wsq server in a child process (killed by PID at teardown). */
export class ServerChild {
  readonly logs: { level: string; msg: string }[] = [];
  private nextId = 0;
  private readonly waiters = new Map<number, (m: any) => void>();
  private logWaiters: { re: RegExp; resolve: () => void }[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (m: any) => {
      if (m.type === 'log') {
        this.logs.push(m);
        this.logWaiters = this.logWaiters.filter((w) => (w.re.test(m.msg) ? (w.resolve(), false) : true));
      } else if (m.id !== undefined) {
        this.waiters.get(m.id)?.(m);
        this.waiters.delete(m.id);
      }
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  static async start(t: Tap, opts: Record<string, unknown> = {}): Promise<ServerChild> {
    const file = await childScript();
    const child = fork(file, [], { execArgv: ['--expose-gc'], env: { ...process.env, WSQ_TEST_OPTS: JSON.stringify(opts) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    t.teardown(() => {
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server child did not start within 15 s')), 15_000);
      child.on('message', (m: any) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          resolve(m.port);
        }
      });
      child.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
    });
    return new ServerChild(child, port);
  }

  private call(m: Record<string, unknown>, timeoutMs = 20_000): Promise<any> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${m.type} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.child.send({ ...m, id });
    });
  }

  /** The server process's memory (after a full GC when `gc`). */
  mem(gc = false): Promise<Mem> {
    return this.call({ type: 'mem', gc });
  }

  /** The server's event-loop delay (p99 and max, ms) since the previous call. */
  loopDelay(): Promise<{ p99: number; max: number }> {
    return this.call({ type: 'eld' });
  }

  /** Store `count` messages of `bytes` bytes in a room, from the server side (pausing `pauseMs` after every 4). */
  publish(room: string, count: number, bytes: number, pauseMs = 0): Promise<void> {
    return this.call({ type: 'publish', room, count, bytes, pauseMs }, 60_000);
  }

  /** Resolves when the server logs a line matching `re` (within `timeoutMs`). */
  waitLog(re: RegExp, timeoutMs = 10_000): Promise<void> {
    if (this.logs.some((l) => re.test(l.msg))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line matching ${re} within ${timeoutMs} ms`)), timeoutMs);
      this.logWaiters.push({ re, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }
}

let script: Promise<string> | undefined;

/**
 * The server child as plain JavaScript, bundled once with esbuild (packages stay external and
 * resolve from the project's node_modules): it starts in well under a second, and its RSS is the
 * server's, not a TypeScript compiler's.
 */
function childScript(): Promise<string> {
  script ??= (async () => {
    const outfile = fileURLToPath(new URL('../../node_modules/.cache/wsq-memory-test/server-child.mjs', import.meta.url));
    await build({
      entryPoints: [fileURLToPath(new URL('./fixtures/server-child.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outfile,
      logLevel: 'error',
    });
    return outfile;
  })();
  return script;
}

/** Samples a value every `everyMs` until stopped; keeps the maximum. */
export function sampler(read: () => Promise<number>, everyMs = 200): { max: () => number; values: number[]; stop: () => Promise<void> } {
  const values: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      values.push(await read());
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    values,
    max: () => Math.max(0, ...values),
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** A raw WebSocket that measures the round trip of `{"type":"ping","id":n}` every `everyMs`. */
export function pinger(url: string, everyMs = 50): { ready: Promise<void>; stop: () => number[]; lat: number[] } {
  const ws = new WebSocket(url);
  const lat: number[] = [];
  const sent = new Map<number, number>();
  let n = 0;
  let timer: NodeJS.Timeout | undefined;
  ws.on('message', (d: Buffer) => {
    const f = JSON.parse(d.toString());
    if (f.type === 'pong' && sent.has(f.id)) {
      lat.push(performance.now() - sent.get(f.id)!);
      sent.delete(f.id);
    }
  });
  const ready = new Promise<void>((resolve, reject) => {
    ws.once('open', () => {
      timer = setInterval(() => {
        sent.set(++n, performance.now());
        ws.send(JSON.stringify({ type: 'ping', id: n }));
      }, everyMs);
      resolve();
    });
    ws.once('error', reject);
  });
  return {
    ready,
    lat,
    stop: () => {
      clearInterval(timer);
      // Pings never answered count as their age.
      const now = performance.now();
      for (const at of sent.values()) lat.push(now - at);
      ws.terminate();
      return lat;
    },
  };
}

/** The p-th percentile (0–100) of a list of numbers. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export const MiB = 1024 * 1024;
