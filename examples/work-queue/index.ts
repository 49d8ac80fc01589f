/**
 * A work queue: one producer, three workers in the consumer group "workers", and a wsq
 * server, all in this process (each worker and the producer on its own connection).
 *
 * - The producer publishes N jobs to the room "jobs", each with an idempotency key
 *   (`job-<n>`), and then sends job 1 again with the same key: the server answers
 *   `duplicate` and stores nothing new.
 * - The group hands each job to one worker (round robin, at most `prefetch` in flight
 *   per worker). A worker acks a job when its handler's promise resolves; worker-2
 *   throws on its first job, which the SDK turns into a nack, and the server redelivers
 *   that job (attempt 2).
 * - When every job is done, it prints a summary and exits (code 0 when each job was done
 *   exactly once, 1 otherwise).
 *
 *   node dist/examples/work-queue/index.js [jobs]      # or: npm run example:work-queue; JOBS=20 also works
 */
import { setTimeout as delay } from 'node:timers/promises';
import { WsqServer } from '../../lib/index.js';
import { connect, type WsqClient } from '../../lib/client/index.js';

interface Job {
  n: number;
  /** How long "doing" it takes, in ms. */
  ms: number;
}
type QueueEvents = {
  job: Job;
};

const WORKERS = 3;
const FAILING_WORKER = 'worker-2';
const DEADLINE_MS = 60_000;

function jobCount(): number {
  const v = process.argv[2] ?? process.env.JOBS ?? '12';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) {
    console.error(`work-queue: the number of jobs must be a whole number from 1 to 10000 (got "${v}")`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<number> {
  const jobs = jobCount();
  const server = new WsqServer({ logger: () => {} }); // memory store; group redelivery after a nack or 30 s without an ack
  await server.listen({ port: 0, host: '127.0.0.1' });
  console.log(`server: ${server.url}`);

  /** Successful completions per job: worker names. */
  const doneBy = new Map<number, string[]>();
  let deliveries = 0;
  let redeliveries = 0;
  const redelivered: string[] = [];
  let allDone!: () => void;
  const finished = new Promise<void>((r) => (allDone = r));

  const clients: WsqClient<QueueEvents, QueueEvents>[] = [];
  for (let i = 1; i <= WORKERS; i++) {
    const name = `worker-${i}`;
    let failedOnce = false;
    // nackDelayMs: how long the server waits before redelivering a job whose handler threw.
    const client = connect<QueueEvents, QueueEvents>(server.url, { client: name, nackDelayMs: 100 });
    clients.push(client);
    const sub = client.join('jobs', { group: 'workers', prefetch: 1 });
    sub.on('job', async (job, msg) => {
      deliveries++;
      if ((msg.attempt ?? 1) > 1) {
        redeliveries++;
        redelivered.push(`job ${job.n} (attempt ${msg.attempt}, to ${name})`);
      }
      console.log(`${name}: doing job ${job.n} (offset ${msg.offset}, attempt ${msg.attempt})`);
      if (name === FAILING_WORKER && !failedOnce) {
        failedOnce = true;
        console.log(`${name}: job ${job.n} failed → nack, the server will redeliver it`);
        throw new Error(`${name} dropped job ${job.n} on purpose`);
      }
      await delay(job.ms); // the work
      const by = doneBy.get(job.n) ?? [];
      by.push(name);
      doneBy.set(job.n, by);
      console.log(`${name}: done job ${job.n}`);
      if (doneBy.size === jobs) allDone();
      // Returning acks the delivery.
    });
    // The thrown error is reported here (and the SDK has nacked the delivery).
    sub.on('error', (e) => console.log(`${name}: handler error reported: ${e.message}`));
    await sub.ready();
  }

  const producer = connect<QueueEvents, QueueEvents>(server.url, { client: 'producer' });
  clients.push(producer);
  const acks = await Promise.all(
    Array.from({ length: jobs }, (_, k) => {
      const job: Job = { n: k + 1, ms: 5 + ((k * 7) % 20) };
      return producer.emitWithAck('job', job, { room: 'jobs', key: `job-${job.n}` });
    }),
  );
  console.log(`producer: published ${jobs} jobs (offsets ${acks[0]!.offset}..${acks[acks.length - 1]!.offset})`);
  const again = await producer.emitWithAck('job', { n: 1, ms: 5 }, { room: 'jobs', key: 'job-1' });
  const duplicatesStored = again.duplicate ? 0 : 1;
  console.log(`producer: sent job 1 again with key job-1 → ${again.duplicate ? `duplicate of offset ${again.offset}, not stored again` : 'STORED AGAIN'}`);

  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([finished.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(r, DEADLINE_MS, true)))]);
  clearTimeout(timer);
  await Promise.all(clients.map((c) => c.close()));
  await server.close();

  const counts = [...Array(jobs).keys()].map((k) => doneBy.get(k + 1)?.length ?? 0);
  const exactlyOnce = counts.every((c) => c === 1) && duplicatesStored === 0;
  console.log('');
  console.log(`summary: ${jobs} jobs published, ${doneBy.size} done, each exactly once: ${exactlyOnce ? 'yes' : 'NO'}`);
  console.log(`summary: deliveries: ${deliveries}, redeliveries: ${redeliveries}${redelivered.length ? ` (${redelivered.join(', ')})` : ''}`);
  console.log(`summary: duplicate publishes stored: ${duplicatesStored}`);
  for (let i = 1; i <= WORKERS; i++) {
    const name = `worker-${i}`;
    const did = [...doneBy]
      .filter(([, by]) => by.includes(name))
      .map(([n]) => n)
      .sort((a, b) => a - b);
    console.log(`summary: ${name} did ${did.length}: ${did.join(', ') || '-'}`);
  }
  if (timedOut) console.log(`summary: TIMED OUT after ${DEADLINE_MS} ms with ${doneBy.size} of ${jobs} jobs done`);
  return exactlyOnce && !timedOut ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
