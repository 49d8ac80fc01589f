/**
 * I8 #9: dead-lettering is idempotent across a crash. `wsq serve` on the disk store with
 * `--max-deliver 1`; a group member refuses every delivery (`nack`), so every message of
 * "jobs" runs out of attempts and moves to `$dead:jobs`; SIGKILL comes while that is going on. After the restart the member refuses
 * the rest. Each message must be in the dead room exactly once: the copy in `$dead:jobs` and
 * the original marked done commit in one store step (R5.5.9), so a crash keeps both or neither.
 * Also prints the dead-lettering rate on disk (it was ~220 messages/s when each dead letter
 * waited for its own commit).
 *
 * Needs `dist/` (`npx tsc -p tsconfig.json`).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Frame, RawClient } from '../helpers/raw-client.js';
import { CLI, WAIT_MS, connect, startWsq } from './wsq-process.js';

const N = 6000;
const KILL_AT = 2000;

/** Resolve once `cond()` holds, checked on every frame `c` gets; reject after WAIT_MS. */
function until(c: RawClient, cond: () => boolean, what: string): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!cond()) return;
      clearTimeout(timer);
      c.ws.off('message', check);
      resolve();
    };
    const timer = setTimeout(() => {
      c.ws.off('message', check);
      reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`));
    }, WAIT_MS);
    c.ws.on('message', () => setImmediate(check));
  });
}

/** A group member of "jobs" that refuses every delivery (`nack`): with `--max-deliver 1` each goes to the dead room at once. */
async function refuser(tt: Test, url: string): Promise<RawClient> {
  const c = await connect(tt, url);
  c.ws.on('message', (d: Buffer) => {
    const f = JSON.parse(d.toString()) as Frame;
    if (f.type === 'event' && f.room === 'jobs' && f.id !== undefined) c.send({ type: 'nack', id: f.id });
  });
  tt.match(await c.request({ type: 'join', room: 'jobs', group: 'w', prefetch: 1000 }, WAIT_MS), { type: 'joined', group: 'w' }, 'the refusing member joined');
  return c;
}

/** Watches `$dead:jobs` live: the `n` of every dead letter seen. */
async function watcher(tt: Test, url: string): Promise<{ c: RawClient; seen: number[] }> {
  const c = await connect(tt, url);
  const seen: number[] = [];
  c.ws.on('message', (d: Buffer) => {
    const f = JSON.parse(d.toString()) as Frame;
    if (f.type === 'event' && f.room === '$dead:jobs') seen.push(typeof f.data?.n === 'number' ? f.data.n : -1);
  });
  tt.match(await c.request({ type: 'join', room: '$dead:jobs' }, WAIT_MS), { type: 'joined' }, 'the watcher joined $dead:jobs');
  return { c, seen };
}

t.test('R5.5.9 SIGKILL during dead-lettering: after a restart every message is in $dead:jobs exactly once', async (tt) => {
  if (!existsSync(CLI)) return tt.fail(`${CLI} is missing: run "npx tsc -p tsconfig.json" first`);
  const dir = await mkdtemp(join(tmpdir(), 'wsq-crash-dead-'));
  tt.teardown(() => rm(dir, { recursive: true, force: true }));

  // ---- life 1: fill "jobs", then refuse everything and kill mid-way ----
  const a = await startWsq(tt, dir, ['--max-messages', '0', '--max-age-ms', '0', '--max-bytes', '0', '--ack-timeout-ms', '600000', '--max-deliver', '1']);
  const pub = await connect(tt, a.url);
  let acked = 0;
  let sent = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('publishing timed out')), WAIT_MS);
    const fill = (): void => {
      while (sent < N && sent - acked < 64) {
        pub.send({ type: 'emit', room: 'jobs', event: 'job', data: { n: sent }, id: `e${sent}` });
        sent++;
      }
    };
    pub.ws.on('message', (d: Buffer) => {
      const f = JSON.parse(d.toString()) as Frame;
      if (f.type === 'error') reject(new Error(`publish refused: ${JSON.stringify(f)}`));
      if (f.type !== 'ack') return;
      if (++acked === N) {
        clearTimeout(timer);
        resolve();
      } else fill();
    });
    fill();
  });
  tt.pass(`${N} jobs published and acked`);
  const w1 = await watcher(tt, a.url);
  const started = performance.now();
  const r1 = await refuser(tt, a.url);
  await until(w1.c, () => w1.seen.length >= KILL_AT, `${KILL_AT} dead letters`);
  const rate = Math.round(w1.seen.length / ((performance.now() - started) / 1000));
  a.proc.kill('SIGKILL');
  tt.equal((await a.exited).signal, 'SIGKILL', `killed after ${w1.seen.length} dead letters were delivered live (${rate} dead letters/s on disk)`);
  // Measured, not asserted (shared CI machines vary): 1.2k-2.4k/s alone on this machine, ~670/s beside another test; it was ~220/s.
  tt.comment(`dead-lettering rate on disk: ${rate} messages/s`);
  tt.ok(w1.seen.length < N, 'the kill came while dead-lettering was going on');
  await r1.close();

  // ---- life 2: refuse the rest, then read the dead room back ----
  const b = await startWsq(tt, dir, ['--max-messages', '0', '--max-age-ms', '0', '--max-bytes', '0', '--ack-timeout-ms', '600000', '--max-deliver', '1']);
  const w2 = await watcher(tt, b.url);
  await refuser(tt, b.url);
  const pub2 = await connect(tt, b.url);
  tt.match(await pub2.request({ type: 'emit', room: 'jobs', event: 'job', data: { n: N }, id: 'sentinel' }, WAIT_MS), { type: 'ack' }, 'a sentinel job after the restart');
  await until(w2.c, () => w2.seen.includes(N), 'the sentinel in $dead:jobs');

  const reader = await connect(tt, b.url);
  const joined = await reader.request({ type: 'join', room: '$dead:jobs', since: 0 }, WAIT_MS);
  const count = (joined.replay?.count as number | undefined) ?? 0;
  const events = await reader.collect((f) => f.type === 'event' && f.room === '$dead:jobs', count, WAIT_MS);
  const times = new Map<number, number>();
  for (const e of events) times.set(e.data.n as number, (times.get(e.data.n as number) ?? 0) + 1);
  const dupes = [...times].filter(([, k]) => k > 1).map(([n]) => n);
  const missing = Array.from({ length: N + 1 }, (_, n) => n).filter((n) => !times.has(n));
  tt.same(dupes, [], `no dead letter twice (${events.length} in $dead:jobs)`);
  tt.same(missing, [], 'every job is in $dead:jobs');
  tt.equal(events.length, N + 1, 'exactly one dead letter per job');
});
