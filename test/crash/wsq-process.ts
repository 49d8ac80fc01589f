/** `wsq serve` as a child process on the disk store, for the crash and shutdown tests (needs `dist/`). */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { RawClient } from '../helpers/raw-client.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(ROOT, 'dist/lib/cli.js');
export const WAIT_MS = 20_000;

export interface Wsq {
  proc: ChildProcess;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
}

/** Start `wsq serve` on `dir` (a free loopback port, `args` added); SIGKILLed at teardown if still running. */
export async function startWsq(tt: Test, dir: string, args: string[] = []): Promise<Wsq> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  tt.teardown(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGKILL');
    await exited;
  });
  let out = '';
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wsq did not listen within ${WAIT_MS} ms: ${out}`)), WAIT_MS);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      out += `${line}\n`;
      const m = /listening on (ws:\/\/127\.0\.0\.1:\d+\/)/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      resolve(m[1]!);
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`wsq exited (${code ?? signal}) before listening: ${out}`));
    });
  });
  return { proc, url, exited, output: () => out };
}

/** A raw client, closed at teardown. */
export async function connect(tt: Test, url: string): Promise<RawClient> {
  const c = await RawClient.connect(url);
  tt.teardown(() => c.close());
  return c;
}
