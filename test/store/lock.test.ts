/**
 * I7 #1: one data directory, one process. `LmdbStore` takes an exclusive lock file
 * (`wsq.lock`, the holder's PID, created with `wx`); a second `wsq serve` on the same
 * `--data-dir` refuses to start with a sentence naming the directory and the PID; a lock
 * left by a process that is gone is taken over; close releases it.
 *
 * Needs `dist/` for the CLI part (`npx tsc -p tsconfig.json`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { LmdbStore } from '../../lib/store/lmdb.js';
import { FakeClock, msg, options } from '../contract/store-contract.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist/lib/cli.js');
const WAIT_MS = 15_000;

async function tempDir(tt: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-lock-'));
  tt.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Run {
  proc: ChildProcess;
  out: string[];
  err: () => string;
  exited: Promise<number | null>;
}

/** Spawn `wsq serve` on `dir`; killed at teardown if still running. */
function serve(tt: Test, dir: string): Run {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  createInterface({ input: proc.stdout! }).on('line', (l) => out.push(l));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  tt.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return { proc, out, err: () => err, exited };
}

/** Resolve once `run` printed its listening line; reject on exit or after WAIT_MS. */
function listening(run: Run): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line within ${WAIT_MS} ms: ${run.err()}`)), WAIT_MS);
    const check = setInterval(() => {
      if (!run.out.some((l) => /listening on/.test(l))) return;
      clearInterval(check);
      clearTimeout(timer);
      resolve();
    }, 20);
    void run.exited.then((code) => {
      clearInterval(check);
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before listening: ${run.err()}`));
    });
  });
}

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS))),
  ]);
}

/** A PID that was alive a moment ago and is not any more. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = p.pid!;
  await new Promise((r) => p.once('exit', r));
  return pid;
}

t.test('I7.1 a second wsq serve on the same --data-dir refuses to start, naming the directory and the PID holding it', async (tt) => {
  if (!existsSync(CLI)) return tt.fail(`${CLI} is missing: run "npx tsc -p tsconfig.json" first`);
  const dir = await tempDir(tt);
  const a = serve(tt, dir);
  await listening(a);
  tt.equal(readFileSync(join(dir, 'wsq.lock'), 'utf8').trim(), String(a.proc.pid), "the lock file holds the first process's PID");
  const b = serve(tt, dir);
  const code = await within(b.exited, 'the second wsq to exit');
  tt.not(code, 0, 'the second process exits non-zero');
  tt.match(
    b.err(),
    new RegExp(`^wsq: the data directory ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another wsq process \\(PID ${a.proc.pid}\\b`),
    'its sentence names the directory and the PID',
  );
  tt.notOk(
    b.out.some((l) => /listening on/.test(l)),
    'the second never listened',
  );
  tt.equal(a.proc.exitCode, null, 'the first keeps running');
  a.proc.kill('SIGTERM');
  tt.equal(await within(a.exited, 'the first wsq to stop'), 0, 'the first stops cleanly');
  tt.notOk(existsSync(join(dir, 'wsq.lock')), 'stopping releases the lock');
  const c = serve(tt, dir);
  await listening(c);
  tt.pass('a new process starts once the first is gone');
});

t.test('I7.1 a stale lock whose PID is not alive is taken over; close releases the lock', async (tt) => {
  const dir = await tempDir(tt);
  const pid = await deadPid();
  writeFileSync(join(dir, 'wsq.lock'), `${pid}\n`);
  const clock = new FakeClock();
  const s = await LmdbStore.open(dir, options(clock));
  tt.equal(readFileSync(join(dir, 'wsq.lock'), 'utf8').trim(), String(process.pid), 'the lock now names this process');
  tt.equal((await s.append('ns', 'r', msg(clock, 1))).offset, 1, 'the store works');
  await s.close();
  tt.notOk(existsSync(join(dir, 'wsq.lock')), 'close removed the lock file');
});

t.test('I7.1 a lock naming a live process that is not node or wsq (a reused PID) is taken over', async (tt) => {
  const dir = await tempDir(tt);
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  tt.teardown(() => void sleeper.kill('SIGKILL'));
  writeFileSync(join(dir, 'wsq.lock'), `${sleeper.pid}\n`);
  const s = await LmdbStore.open(dir, options(new FakeClock()));
  tt.equal(readFileSync(join(dir, 'wsq.lock'), 'utf8').trim(), String(process.pid));
  await s.close();
});

t.test('I7.1 the same directory cannot be opened twice in one process either', async (tt) => {
  const dir = await tempDir(tt);
  const clock = new FakeClock();
  const s = await LmdbStore.open(dir, options(clock));
  tt.teardown(() => s.close());
  await tt.rejects(LmdbStore.open(dir, options(clock)), { message: new RegExp(`in use by another wsq process \\(PID ${process.pid}, this one`) });
  const empty = await tempDir(tt);
  writeFileSync(join(empty, 'wsq.lock'), 'garbage');
  const s2 = await LmdbStore.open(empty, options(clock));
  await s2.close();
  tt.pass('an unreadable lock file is treated as stale');
});
