/**
 * `npm run bench:peers`: wsq beside NATS (core and JetStream), RabbitMQ (quorum queues) and
 * Mosquitto, in one run, on this machine's loopback.
 *
 * Every server runs pinned to core 0 (`taskset`; the machine's RabbitMQ is not ours to pin
 * and runs as it is, which can only favour it), the load generator here pinned to core 1.
 * Workloads, each in interleaved rounds (the order of the systems rotates per round):
 *
 * | workload | wsq | peers |
 * |---|---|---|
 * | fan-out, 1 topic × 100 and × 1,000 subscribers, deliveries/s at the limit (32 in flight) | memory store, default retention | NATS core TCP and WebSocket, Mosquitto TCP and WebSocket (QoS 0) |
 * | durable acked publish, 10 publishers × 32 in flight | disk store (ack after a synced commit) | JetStream file store (acks before fsync), RabbitMQ quorum with confirms (after fsync) |
 * | stop-and-wait acked publish (1 × 1), rate and median latency | same | same |
 * | work queue, 3 consumers × 32 unacked, fed by 4 × 32 acked publishers | consumer group | JetStream pull consumer, RabbitMQ quorum + manual acks |
 * | replay of a 100,000 backlog by a fresh reader, messages/s | `since: 0` | JetStream push consumer (ack none) |
 * | idle memory per connection, 5,000 connections | RSS growth | NATS WebSocket, Mosquitto WebSocket |
 *
 * Ratios are peer / wsq of the medians (> 1: the peer is faster; for memory > 1: the peer
 * uses more). A peer that is not installed or not answering is reported as skipped.
 *
 * Flags (after `npm run bench:peers --`): `--quick` (1 round, short phases, 20,000 backlog,
 * 1,000 idle connections: a smoke test), `--rounds N` (default 3), `--only a,b` (workloads:
 * fanout, durable, stopwait, work, replay, idle).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerChild, startServerChild } from '../child.js';
import { type DurableChild, startDurableChild } from '../durable.js';
import { answers, have, type OwnProcess, pin, startMosquitto, startNats } from './brokers.js';
import { jetstreamSides, mqttFanout, mqttIdle, natsFanout, natsIdle, rabbitSides, type IdleSide, type WorkSide, wsqSides } from './sides.js';
import { ackedPublish, fanout, type IdleFigures, idleMemory, type Phases, replay, workQueue } from './workloads.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const rounds = Math.max(1, Number(option('--rounds') ?? (quick ? 1 : 3)) || 1);
const only = new Set((option('--only') ?? 'fanout,durable,stopwait,work,replay,idle').split(','));
const ph: Phases = quick ? { warmupMs: 500, measureMs: 1_500 } : { warmupMs: 1_000, measureMs: 3_000 };
const BACKLOG = quick ? 20_000 : 100_000;
const IDLE = quick ? 1_000 : 5_000;
const SERVER_CORE = 0;

/** One row of the table: a workload, its unit, whether more is better, and the figures per system. */
interface Row {
  label: string;
  unit: string;
  /** For memory, less is better. */
  lowerIsBetter?: boolean;
  /** The target, as a test on the ratio of the named peer over wsq. */
  target?: { peer: string; maxRatio?: number; minRatio?: number; text: string };
  values: Map<string, number[]>;
}

const rows = new Map<string, Row>();
function record(key: string, init: Omit<Row, 'values'>, system: string, value: number): void {
  let row = rows.get(key);
  if (!row) rows.set(key, (row = { ...init, values: new Map() }));
  const list = row.values.get(system) ?? [];
  list.push(value);
  row.values.set(system, list);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: number): string => (!Number.isFinite(x) ? '—' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2));
const rotate = <T>(xs: T[], k: number): T[] => xs.map((_, i) => xs[(i + k) % xs.length]!);

// ------------------------------------------------------------------ start everything

pin(process.pid, 1);
const skipped: string[] = [];
const owned: OwnProcess[] = [];
let nats: OwnProcess | undefined;
let mosquitto: OwnProcess | undefined;
if (have('nats-server')) owned.push((nats = await startNats(SERVER_CORE)));
else skipped.push('NATS (nats-server not installed)');
if (have('mosquitto')) owned.push((mosquitto = await startMosquitto(SERVER_CORE)));
else skipped.push('Mosquitto (mosquitto not installed)');
const rabbit = (await answers(5672)) ? rabbitSides(5672) : undefined;
if (!rabbit) skipped.push('RabbitMQ (nothing answers on 127.0.0.1:5672)');

const dataDir = mkdtempSync(join(os.tmpdir(), 'wsq-peers-disk-'));
// Fan-out runs on the fan-out bench's server (memory store, default retention: the log stays
// bounded as in production); the durable rows on the disk store holding everything.
const wsqMem: ServerChild = await startServerChild(fileURLToPath(new URL('../wsq-server.js', import.meta.url)));
const wsqDisk: DurableChild = await startDurableChild('disk', dataDir);
pin(wsqMem.pid, SERVER_CORE);
pin(wsqDisk.pid, SERVER_CORE);

const cleanup = async (): Promise<void> => {
  await Promise.allSettled([wsqMem.stop(), wsqDisk.stop(), ...owned.map((p) => p.stop())]);
  rmSync(dataDir, { recursive: true, force: true });
};

const cpus = os.cpus();
console.log(`wsq peers bench — ${cpus[0]?.model ?? '?'} × ${cpus.length}, Node ${process.version}, ${os.platform()} ${os.release()}, ${new Date().toISOString().slice(0, 10)}`);
console.log(
  `servers pinned to core ${SERVER_CORE} (RabbitMQ: the machine's own, unpinned), generator on core 1; ${rounds} round(s), ` +
    `${ph.warmupMs / 1000} s warm-up + ${ph.measureMs / 1000} s measured per figure; systems' order rotates per round`,
);
if (skipped.length) console.log(`skipped: ${skipped.join('; ')}`);
console.log('');

const log = (s: string): void => console.log(`  ${s}`);

// ------------------------------------------------------------------ rounds

try {
  for (let round = 0; round < rounds; round++) {
    const tag = `r${round}-${Date.now().toString(36)}`;
    const wsq = wsqSides(wsqMem.port, tag);
    const wsqD = wsqSides(wsqDisk.port, tag);
    const js = nats ? jetstreamSides({ url: `tcp://127.0.0.1:${nats.ports.tcp}` }) : undefined;
    await js?.setup();
    await rabbit?.setup();

    if (only.has('fanout')) {
      for (const size of [100, 1_000]) {
        const systems: [string, () => ReturnType<typeof fanout>][] = [['wsq', () => fanout(wsq.fanout, size, 32, ph, wsqMem.pid)]];
        if (nats) {
          systems.push(['NATS TCP', () => fanout(natsFanout({ url: `tcp://127.0.0.1:${nats!.ports.tcp}` }), size, 32, ph, nats!.pid)]);
          systems.push(['NATS WS', () => fanout(natsFanout({ url: `ws://127.0.0.1:${nats!.ports.ws}/` }), size, 32, ph, nats!.pid)]);
        }
        if (mosquitto) {
          systems.push(['Mosquitto TCP', () => fanout(mqttFanout({ url: `tcp://127.0.0.1:${mosquitto!.ports.tcp}` }), size, 32, ph, mosquitto!.pid)]);
          systems.push(['Mosquitto WS', () => fanout(mqttFanout({ url: `ws://127.0.0.1:${mosquitto!.ports.ws}/` }), size, 32, ph, mosquitto!.pid)]);
        }
        for (const [name, run] of rotate(systems, round)) {
          const r = await run();
          log(
            `round ${round + 1} fan-out ×${size} ${name}: ${fmt(r.deliveriesPerSec)} deliveries/s, ${fmt(r.serverUsPerDelivery)} µs server CPU/delivery, ` +
              `generator ${fmt(r.generatorCpuPct)}% of a core${r.generatorCpuPct > 90 ? ' (GENERATOR-BOUND: the figure is a floor)' : ''}`,
          );
          record(
            `fanout${size}`,
            {
              label: `fan-out 1 × ${size.toLocaleString('en-US')}, deliveries/s`,
              unit: '/s',
              target: { peer: 'NATS WS', maxRatio: 1, text: 'wsq ≥ NATS WebSocket' },
            },
            name,
            r.deliveriesPerSec,
          );
          record(`fanout${size}cpu`, { label: `fan-out 1 × ${size.toLocaleString('en-US')}, server µs/delivery`, unit: 'µs', lowerIsBetter: true }, name, r.serverUsPerDelivery);
        }
      }
    }

    const durableSystems = (): [string, WorkSide][] => {
      const out: [string, WorkSide][] = [['wsq', wsqD.durable]];
      if (js) out.push(['JetStream', js.durable]);
      if (rabbit) out.push(['RabbitMQ quorum', rabbit.durable]);
      return out;
    };

    if (only.has('durable'))
      for (const [name, side] of rotate(durableSystems(), round)) {
        const r = await ackedPublish(side, 10, 32, ph);
        log(`round ${round + 1} durable 10×32 ${name}: ${fmt(r.perSec)} acked/s, p50 ${fmt(r.p50Ms)} ms`);
        record(
          'durable',
          { label: 'durable acked publish 10 × 32, acks/s', unit: '/s', target: { peer: 'RabbitMQ quorum', maxRatio: 1 / 1.5, text: 'wsq ≥ 1.5 × RabbitMQ quorum' } },
          name,
          r.perSec,
        );
      }

    if (only.has('stopwait'))
      for (const [name, side] of rotate(durableSystems(), round)) {
        const r = await ackedPublish(side, 1, 1, ph);
        log(`round ${round + 1} stop-and-wait ${name}: ${fmt(r.perSec)} acked/s, p50 ${fmt(r.p50Ms)} ms`);
        record(
          'stopwait',
          { label: 'stop-and-wait acked publish, acks/s', unit: '/s', target: { peer: 'RabbitMQ quorum', maxRatio: 0.5, text: 'wsq ≥ 2 × RabbitMQ quorum' } },
          name,
          r.perSec,
        );
        record('stopwaitp50', { label: 'stop-and-wait, p50 ms', unit: 'ms', lowerIsBetter: true }, name, r.p50Ms);
      }

    if (only.has('work'))
      for (const [name, side] of rotate(durableSystems(), round)) {
        const r = await workQueue(side, 3, 32, 4, 32, ph);
        log(`round ${round + 1} work queue 3×32 ${name}: ${fmt(r.consumedPerSec)} consumed/s (producers ${fmt(r.producedPerSec)} acked/s)`);
        record(
          'work',
          { label: 'work queue 3 consumers × 32, consumed/s', unit: '/s', target: { peer: 'JetStream', maxRatio: 1, text: 'wsq ≥ JetStream pull consumer' } },
          name,
          r.consumedPerSec,
        );
      }

    if (only.has('replay')) {
      const systems: [string, () => Promise<{ ms: number; perSec: number }>][] = [
        ['wsq', () => replay(wsqD.replay, BACKLOG, 64, () => wsqDisk.fill(wsqD.replay.room, BACKLOG, 64).then(() => undefined))],
      ];
      if (js) systems.push(['JetStream', () => replay(js.replay, BACKLOG, 64)]);
      for (const [name, run] of rotate(systems, round)) {
        const r = await run();
        log(`round ${round + 1} replay ${BACKLOG} ${name}: ${fmt(r.ms)} ms (${fmt(r.perSec)} msg/s)`);
        record(
          'replay',
          {
            label: `replay of ${BACKLOG.toLocaleString('en-US')}, messages/s`,
            unit: '/s',
            target: { peer: 'JetStream', maxRatio: 1, text: 'wsq faster than JetStream' },
          },
          name,
          r.perSec,
        );
      }
    }

    if (only.has('idle')) {
      // Every idle figure comes from a fresh server process: memory its allocator kept from the
      // other workloads would otherwise absorb the growth (or a GC would make it negative).
      const fresh = (start: () => Promise<{ pid: number; idle: IdleSide; stop(): Promise<void> }>) => async (): Promise<IdleFigures> => {
        const p = await start();
        try {
          return await idleMemory(p.idle, IDLE, p.pid);
        } finally {
          await p.stop();
        }
      };
      const systems: [string, () => Promise<IdleFigures>][] = [
        [
          'wsq',
          fresh(async () => {
            const child = await startDurableChild('memory', undefined);
            pin(child.pid, SERVER_CORE);
            return { pid: child.pid, idle: wsqSides(child.port, tag).idle, stop: () => child.stop() };
          }),
        ],
      ];
      if (nats)
        systems.push([
          'NATS WS',
          fresh(async () => {
            const p = await startNats(SERVER_CORE);
            return { pid: p.pid, idle: natsIdle({ url: `ws://127.0.0.1:${p.ports.ws}/` }), stop: () => p.stop() };
          }),
        ]);
      if (mosquitto)
        systems.push([
          'Mosquitto WS',
          fresh(async () => {
            const p = await startMosquitto(SERVER_CORE);
            return { pid: p.pid, idle: mqttIdle({ url: `ws://127.0.0.1:${p.ports.ws}/` }), stop: () => p.stop() };
          }),
        ]);
      for (const [name, run] of rotate(systems, round)) {
        const f = await run();
        log(`round ${round + 1} idle ${IDLE} ${name}: ${fmt(f.first / 1024)} KiB/connection (the next ${IDLE}: ${fmt(f.next / 1024)})`);
        record(
          'idle',
          {
            label: `idle memory per connection (${IDLE.toLocaleString('en-US')}), KiB`,
            unit: 'KiB',
            lowerIsBetter: true,
            target: { peer: 'Mosquitto WS', minRatio: 1, text: 'wsq ≤ Mosquitto WebSocket' },
          },
          name,
          f.first / 1024,
        );
        record(
          'idle-next',
          { label: `idle memory, the next ${IDLE.toLocaleString('en-US')} in the same process, KiB/connection`, unit: 'KiB', lowerIsBetter: true },
          name,
          f.next / 1024,
        );
      }
    }
  }
} finally {
  await cleanup();
}

// ------------------------------------------------------------------ table

const peers = ['NATS TCP', 'NATS WS', 'JetStream', 'RabbitMQ quorum', 'Mosquitto TCP', 'Mosquitto WS'];
console.log('');
console.log(`Medians of ${rounds} round(s); peer columns are peer / wsq (> 1: the peer is faster, or for µs, ms and KiB uses more).`);
console.log(`| workload | wsq | ${peers.join(' | ')} | target |`);
console.log(`|---|---:|${peers.map(() => '---:|').join('')}---|`);
for (const row of rows.values()) {
  const wsq = median(row.values.get('wsq') ?? []);
  const cells = peers.map((p) => {
    const v = row.values.get(p);
    return v ? `${(median(v) / wsq).toFixed(2)}` : '–';
  });
  let target = '';
  if (row.target) {
    const v = row.values.get(row.target.peer);
    if (!v) target = `${row.target.text}: skipped`;
    else {
      const ratio = median(v) / wsq;
      const met = row.target.maxRatio !== undefined ? ratio <= row.target.maxRatio : ratio >= (row.target.minRatio ?? 0);
      target = `${row.target.text}: ${met ? 'met' : 'MISSED'}`;
    }
  }
  console.log(`| ${row.label} | ${fmt(wsq)} | ${cells.join(' | ')} | ${target} |`);
}
console.log('');
console.log(
  'What each ack means: wsq disk store — after the commit is synced to disk (fsync); JetStream 2.9 file store — after the write, ' +
    'before fsync (it syncs on its own timer); RabbitMQ quorum queue — after its Raft log is fsynced. Mosquitto QoS 0 and NATS core ack nothing.',
);
