/**
 * examples/work-queue: runs the built example (a server, three workers in the group
 * "workers", a producer, all in one process) and checks its summary: every job done
 * exactly once, the one failed job redelivered once, the resent key not stored again.
 */
import t from 'tap';
import { dist, start } from './children.js';

const JOBS = 15;

t.test('work queue: each job done exactly once, one nack redelivered', async (t) => {
  const child = start(t, dist('examples/work-queue/index.js'), [String(JOBS)]);
  const exit = await child.exit(60_000);
  t.same(exit, { code: 0, signal: null }, `exits 0\n${child.stdout}\n${child.stderr}`);
  const out = child.stdout;

  t.match(out, `summary: ${JOBS} jobs published, ${JOBS} done, each exactly once: yes`);
  t.match(out, /summary: deliveries: 16, redeliveries: 1 \(job \d+ \(attempt 2, to worker-\d\)\)/, 'one redelivery, attempt 2');
  t.match(out, 'summary: duplicate publishes stored: 0');
  t.match(out, /producer: sent job 1 again with key job-1 → duplicate of offset 1, not stored again/);

  // worker-2 failed one job, and that job was done by someone afterwards.
  const failed = /worker-2: job (\d+) failed → nack/.exec(out);
  t.ok(failed, 'worker-2 failed a job');
  const failedJob = Number(failed![1]);

  // Who did what: every job in exactly one worker's list, and each worker did some.
  const did = new Map<number, string>();
  for (const m of out.matchAll(/^summary: (worker-\d) did (\d+): (.*)$/gm)) {
    const jobs = m[3] === '-' ? [] : m[3]!.split(', ').map(Number);
    t.equal(jobs.length, Number(m[2]), `${m[1]}'s count matches its list`);
    t.ok(jobs.length > 0, `${m[1]} did some jobs`);
    for (const n of jobs) {
      t.notOk(did.has(n), `job ${n} done by one worker only`);
      did.set(n, m[1]!);
    }
  }
  t.same(
    [...did.keys()].sort((a, b) => a - b),
    Array.from({ length: JOBS }, (_, i) => i + 1),
    'every job done',
  );

  // The log lines agree: each job "done" exactly once, the failed one started twice.
  for (let n = 1; n <= JOBS; n++) {
    const done = out.match(new RegExp(`^worker-\\d: done job ${n}$`, 'gm')) ?? [];
    t.equal(done.length, 1, `job ${n}: one "done" line`);
  }
  const starts = out.match(new RegExp(`^worker-\\d: doing job ${failedJob} \\(`, 'gm')) ?? [];
  t.equal(starts.length, 2, `job ${failedJob} was delivered twice (failed, then redone)`);
});
