/**
 * An own `redis-server` for tests that kill and restart Redis (the system Redis on 6379 is shared
 * and must never be restarted): a free loopback port, its own temporary directory, either
 * persistent (`--appendonly yes --appendfsync always`: every acked write is fsynced before Redis
 * replies) or not persistent at all (nothing on disk: a restart is an empty Redis). Every wait is
 * bounded; the process is ended by its PID; the directory is removed at teardown.
 * @example
 * const redis = await startRedis(t, { persistent: true });
 * await redis.kill();     // SIGKILL, as a crash
 * await redis.restart();  // same port, same directory: the AOF is replayed
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long a start (including an AOF replay) or a stop may take before the helper gives up. */
export const REDIS_WAIT_MS = 15_000;

/** Options of an own redis-server. */
export interface RedisServerOptions {
  /** true: `--appendonly yes --appendfsync always` (acked = fsynced); false (default): nothing is written to disk. */
  persistent?: boolean;
  /** The directory (default: a new temporary one, removed by `close()`). */
  dir?: string;
  /** The port (default: a free one). */
  port?: number;
}

/** Something that takes teardown functions (a tap Test). */
export interface Teardowns {
  teardown(fn: () => unknown): void;
}

/** A free loopback TCP port (bound and released; Redis takes it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: the reply line (`+PONG`, `-LOADING …`), or an error message if it failed; never waits longer than `ms`. */
export function ping(port: number, ms = 1000): Promise<string> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    let buf = '';
    const done = (r: string): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('timeout'), ms);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\r\n');
      if (nl >= 0) done(buf.slice(0, nl));
    });
    sock.on('error', (err) => done(`error: ${err.message}`));
  });
}

/** A redis-server child process on its own port and directory. */
export class RedisServer {
  /** The running process, or undefined while it is down. */
  proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private out = '';
  private readonly ownDir: boolean;

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly persistent: boolean,
    ownDir: boolean,
  ) {
    this.ownDir = ownDir;
  }

  /** Start one and wait until it answers PING (bounded). A port taken meanwhile is retried with another. */
  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const ownDir = opts.dir === undefined;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'wsq-redis-'));
    let lastErr: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = new RedisServer(opts.port ?? (await freePort()), dir, opts.persistent === true, ownDir);
      try {
        await r.restart();
        return r;
      } catch (err) {
        lastErr = err;
        await r.kill();
        if (opts.port !== undefined) break;
      }
    }
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw lastErr;
  }

  /** `redis://127.0.0.1:<port>` */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The PID of the running process, or undefined while it is down. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Everything the server wrote (its log goes to stdout), all starts included. */
  output(): string {
    return this.out;
  }

  /** Start it again (after `kill()`/`stop()`) on the same port and directory, and wait until PING answers PONG (an AOF is replayed first). */
  async restart(): Promise<void> {
    if (this.proc) throw new Error(`redis-server on port ${this.port} is still running (pid ${this.proc.pid})`);
    const persist = this.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', ...persist, '--daemonize', 'no', '--logfile', ''];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exited = new Promise<void>((r) =>
      proc.once('exit', () => {
        if (this.proc === proc) this.proc = undefined;
        r();
      }),
    );
    proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    proc.once('error', (err) => {
      this.out += `spawn error: ${err.message}\n`;
      if (this.proc === proc) this.proc = undefined;
    });
    const deadline = Date.now() + REDIS_WAIT_MS;
    let last = '';
    while (Date.now() < deadline) {
      if (this.proc !== proc) throw new Error(`redis-server on port ${this.port} exited while starting: ${this.out.slice(-2000)}`);
      last = await ping(this.port, 500);
      if (last === '+PONG') return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`redis-server on port ${this.port} did not answer PING within ${REDIS_WAIT_MS} ms (last: ${last}): ${this.out.slice(-2000)}`);
  }

  /** SIGKILL by PID (a crash: no final fsync, no shutdown save) and wait until it is gone. */
  kill(): Promise<void> {
    return this.end('SIGKILL');
  }

  /** SIGTERM by PID (a clean shutdown), SIGKILL if it is not gone within the bound. */
  stop(): Promise<void> {
    return this.end('SIGTERM');
  }

  /** End it (SIGKILL) if still running and remove its own temporary directory. */
  async close(): Promise<void> {
    await this.kill();
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    if (!proc?.pid || proc.exitCode !== null || proc.signalCode !== null) {
      await this.exited;
      return;
    }
    process.kill(proc.pid, signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), REDIS_WAIT_MS)));
    const r = await Promise.race([this.exited.then(() => 'gone' as const), late]);
    clearTimeout(timer);
    if (r === 'late') {
      if (proc.pid) process.kill(proc.pid, 'SIGKILL');
      await this.exited;
    }
  }
}

/** An own redis-server for one test, ended (by PID) and its directory removed at teardown. */
export async function startRedis(t: Teardowns, opts: RedisServerOptions = {}): Promise<RedisServer> {
  const r = await RedisServer.start(opts);
  t.teardown(() => r.close());
  return r;
}
