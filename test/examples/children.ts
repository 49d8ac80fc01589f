/**
 * Child processes for the example tests: start `node <script>`, collect its output,
 * wait (bounded) for a line or for its exit, and end it by PID at teardown.
 * Examples run from dist/ (`npm test` builds first; alone: `npm run build` first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The built script of an example, e.g. `dist('examples/chat/server.js')`; throws a clear error when it is not built. */
export function dist(path: string): string {
  const file = join(ROOT, 'dist', path);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first (npm test does).`);
  return file;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running child with its output so far. */
export class Child {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private readonly waiters = new Set<() => void>();
  /** Exited, and its output is all read. */
  private ended = false;

  constructor(script: string, args: string[], opts: { env?: Record<string, string>; stdin?: 'pipe' | 'ignore'; cwd?: string } = {}) {
    this.proc = spawn(process.execPath, [script, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
    });
    // 'close' comes after the exit and after stdout and stderr are drained.
    this.exited = new Promise<Exit>((r) =>
      this.proc.once('close', (code, signal) => {
        this.ended = true;
        r({ code, signal });
        this.wake();
      }),
    );
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.wake();
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.wake();
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Complete lines of stdout. */
  get lines(): string[] {
    return this.stdout.split('\n').filter((l, i, all) => i < all.length - 1 || l !== '');
  }

  /** Resolve with the value `check` returns once it is not undefined (re-checked on every output and at exit); reject after `ms`. */
  waitFor<T>(check: (c: this) => T | undefined, ms: number, what: string): Promise<T> {
    const first = check(this);
    if (first !== undefined) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const poke = (): void => {
        const v = check(this);
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (this.ended) {
          done();
          reject(new Error(`${what}: the process exited (${this.proc.exitCode ?? this.proc.signalCode}) first.\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what}: not within ${ms} ms.\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(poke);
      };
      this.waiters.add(poke);
      if (this.ended) poke();
    });
  }

  /** Wait for the exit (bounded); kills the child when it takes longer. */
  async exit(ms: number): Promise<Exit> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([this.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
    clearTimeout(timer);
    if (result) return result;
    this.kill('SIGKILL');
    throw new Error(`the process did not exit within ${ms} ms (killed).\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
  }

  /** Send a signal to this child's PID (no-op once it has exited). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) process.kill(this.pid, signal);
  }

  /** End it: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.kill('SIGTERM');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([this.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), graceMs)))]);
    clearTimeout(timer);
    if (!done) {
      this.kill('SIGKILL');
      await this.exited;
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** Start a child and register its end (by PID) at the test's teardown. */
export function start(t: Test, script: string, args: string[] = [], opts: ConstructorParameters<typeof Child>[2] = {}): Child {
  const c = new Child(script, args, opts);
  t.teardown(() => c.stop());
  return c;
}

/** Start the chat example's server; resolves with the child and its port once it listens. */
export async function startChatServer(t: Test, env: { PORT: string; DATA_DIR: string }, ms = 20_000): Promise<{ child: Child; port: number }> {
  const child = start(t, dist('examples/chat/server.js'), [], { env });
  const port = await child.waitFor(
    (c) => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(c.stdout);
      return m ? Number(m[1]) : undefined;
    },
    ms,
    'the chat server to listen',
  );
  return { child, port };
}
