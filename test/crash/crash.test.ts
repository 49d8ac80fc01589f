import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { RawClient, type Frame } from '../helpers/raw-client.js';
import { CLI, startWsq, WAIT_MS } from './wsq-process.js';

/** No redelivery during the test, and no retention limit (every acked emit must stay). */
const SERVE_ARGS = ['--ack-timeout-ms', '600000', '--max-messages', '0'];

/** Publishers, each emitting alternately into "orders" and "jobs". */
const PUBLISHERS = 3;
/** Unacked emits each publisher keeps in flight. */
const WINDOW = 16;
/** Emits per publisher in phase 1 (all acked before the barrier). */
const PHASE1 = 100;
/** Most emits per publisher in phase 2 (the kill comes long before). */
const PHASE2_MAX = 3000;
/** The kill comes when this many phase-2 emits have been acked (all publishers together). */
const KILL_AFTER = 600;
/** The consumers ack a delivery unless its offset is a multiple of this. */
const SKIP_EVERY = 3;
const PREFETCH = 1000; // the default cap (limits.maxPrefetch)

/** Wakes waiters whenever a frame has been handled. */
const progress = new EventEmitter();
progress.setMaxListeners(100);

/** Resolve once `cond()` holds, checked after every handled frame; reject after `ms`. */
function until(cond: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!cond()) return;
      clearTimeout(timer);
      progress.off('tick', check);
      resolve();
    };
    const timer = setTimeout(() => {
      progress.off('tick', check);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    progress.on('tick', check);
  });
}

/** Reject when `p` does not settle within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** Call `fn` for every frame `c` receives from now on, then wake the waiters. */
function onFrames(c: RawClient, fn: (f: Frame) => void): void {
  c.ws.on('message', (d: Buffer) => {
    fn(JSON.parse(d.toString()) as Frame);
    progress.emit('tick');
  });
}

async function connect(tt: Test, url: string, client?: string): Promise<RawClient> {
  const c = await RawClient.connect(client ? `${url}?client=${client}` : url);
  tt.teardown(() => c.close());
  return c;
}

interface Emitted {
  room: string;
  p: number;
  n: number;
}

interface Acked extends Emitted {
  offset: number;
  epoch: string;
}

/** A publisher streaming emits with ids, keeping `WINDOW` unacked in flight. */
class Publisher {
  readonly sent = new Map<string, Emitted>();
  readonly inflight = new Set<string>();
  readonly acked: Acked[] = [];
  readonly errors: Frame[] = [];
  private k = 0;
  private limit = 0;
  stopped = false;

  constructor(
    readonly c: RawClient,
    readonly p: number,
    readonly onAck: (a: Acked) => void,
  ) {
    onFrames(c, (f) => {
      if (f.type === 'error') this.errors.push(f);
      if (f.type !== 'ack' || typeof f.id !== 'string' || !this.inflight.delete(f.id)) return;
      const e = this.sent.get(f.id)!;
      const a = { ...e, offset: f.offset as number, epoch: f.epoch as string };
      this.acked.push(a);
      this.onAck(a);
      this.fill();
    });
  }

  /** Send until `count` more emits have been sent, keeping the window full. */
  run(count: number): void {
    this.limit = this.k + count;
    this.fill();
  }

  get done(): boolean {
    return this.k >= this.limit && this.inflight.size === 0;
  }

  private fill(): void {
    while (!this.stopped && this.inflight.size < WINDOW && this.k < this.limit) {
      const i = this.k++;
      const room = i % 2 === 0 ? 'orders' : 'jobs';
      const n = i >> 1;
      const id = `p${this.p}-${i}`;
      this.sent.set(id, { room, p: this.p, n });
      this.inflight.add(id);
      this.c.send({ type: 'emit', room, event: room === 'orders' ? 'order' : 'job', data: { p: this.p, n }, id });
    }
  }
}

/** A consumer connection: records deliveries of `room`, acks those whose offset is not a multiple of SKIP_EVERY. */
class Consumer {
  /** offset → attempt of each delivery received (the latest). */
  readonly delivered = new Map<number, number>();
  readonly acked = new Set<number>();
  readonly dupes: number[] = [];
  readonly order: number[] = [];
  ackAll = false;

  constructor(
    readonly c: RawClient,
    readonly room: string,
  ) {
    onFrames(c, (f) => {
      if (f.type !== 'event' || f.room !== room || f.id === undefined) return;
      const offset = f.offset as number;
      if (this.delivered.has(offset)) this.dupes.push(offset);
      this.delivered.set(offset, f.attempt as number);
      this.order.push(offset);
      if (this.ackAll || offset % SKIP_EVERY !== 0) {
        this.acked.add(offset);
        c.send({ type: 'ack', id: f.id });
      }
    });
  }
}

/** Every message of a room, read back with a plain join since 0. */
async function readAll(tt: Test, url: string, room: string): Promise<{ joined: Frame; events: Frame[] }> {
  const r = await connect(tt, url);
  const joined = await r.request({ type: 'join', room, since: 0 }, WAIT_MS);
  const count = (joined.replay?.count as number | undefined) ?? 0;
  const events = await r.collect((f) => f.type === 'event' && f.room === room, count, WAIT_MS);
  await r.close();
  return { joined, events };
}

t.test('SIGKILL mid-stream: acked emits, epochs, durable cursors and group deliveries survive a restart', async (tt) => {
  if (!existsSync(CLI)) {
    tt.fail(`${CLI} is missing: run "npm run build" first (npm test does)`);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'wsq-crash-'));
  tt.teardown(() => rm(dir, { recursive: true, force: true }));

  // ---- life 1 ----
  const a = await startWsq(tt, dir, SERVE_ARGS);

  const sub = new Consumer(await connect(tt, a.url, 'sub'), 'orders');
  tt.match(await sub.c.request({ type: 'join', room: 'orders', durable: true, prefetch: PREFETCH }), { type: 'joined', durable: true }, 'the durable subscriber joined');
  const workers = [new Consumer(await connect(tt, a.url, 'w1'), 'jobs'), new Consumer(await connect(tt, a.url, 'w2'), 'jobs')];
  for (const w of workers)
    tt.match(await w.c.request({ type: 'join', room: 'jobs', group: 'workers', prefetch: PREFETCH }), { type: 'joined', group: 'workers' }, 'a group member joined');

  let phase = 1;
  let phase2Acks = 0;
  let killedAt: { inflight: number } | undefined;
  const pubs: Publisher[] = [];
  const kill = (): void => {
    if (killedAt) return;
    for (const p of pubs) p.stopped = true;
    killedAt = { inflight: pubs.reduce((n, p) => n + p.inflight.size, 0) };
    process.kill(a.proc.pid!, 'SIGKILL');
  };
  for (let p = 0; p < PUBLISHERS; p++) {
    pubs.push(
      new Publisher(await connect(tt, a.url), p, () => {
        if (phase === 2 && ++phase2Acks === KILL_AFTER) kill();
      }),
    );
  }

  // Phase 1: stream, every emit acked, every delivery received; then the barrier.
  for (const p of pubs) p.run(PHASE1);
  await until(() => pubs.every((p) => p.done), 'phase-1 acks');
  const perRoom = (PUBLISHERS * PHASE1) / 2;
  const groupDelivered = (): Set<number> => new Set(workers.flatMap((w) => [...w.delivered.keys()]));
  await until(() => sub.delivered.size === perRoom && groupDelivered().size === perRoom, 'phase-1 deliveries');
  tt.same(
    pubs.flatMap((p) => p.errors),
    [],
    'no publisher errors',
  );
  tt.ok(
    workers.every((w) => w.delivered.size > 0),
    'both group members got deliveries',
  );
  for (const cons of [sub, ...workers]) await cons.c.sync(WAIT_MS);
  for (let i = 0; i < 3; i++) {
    tt.match(await pubs[0]!.c.request({ type: 'emit', room: 'barrier', event: 'b', data: i }, WAIT_MS), { type: 'ack' }, `barrier emit ${i + 1} acked`);
  }
  const subAckedSure = new Set(sub.acked);
  const groupAckedSure = new Set(workers.flatMap((w) => [...w.acked]));
  const groupPendingSure = [...groupDelivered()].filter((o) => !groupAckedSure.has(o));
  tt.equal(groupPendingSure.length, Math.floor(perRoom / SKIP_EVERY), 'phase 1 left every third group delivery unacked');
  tt.equal(subAckedSure.size, perRoom - Math.floor(perRoom / SKIP_EVERY), 'phase 1 acked two thirds of the durable deliveries');

  // Phase 2: stream again; SIGKILL once KILL_AFTER more emits are acked, with emits, deliveries and acks in flight.
  phase = 2;
  for (const p of pubs) p.run(PHASE2_MAX);
  await until(() => killedAt !== undefined, 'the kill');
  const exit = await within(a.exited, WAIT_MS, 'the killed server to exit');
  tt.equal(exit.signal, 'SIGKILL', 'the server died of SIGKILL');
  tt.ok(killedAt!.inflight > 0, `emits were in flight at the kill (${killedAt!.inflight})`);
  await within(Promise.all([sub, ...workers, ...pubs].map((x) => x.c.closed)), WAIT_MS, 'every client to see the close');
  const subAckedMaybe = new Set([...sub.acked].filter((o) => !subAckedSure.has(o)));
  const groupAckedMaybe = new Set(workers.flatMap((w) => [...w.acked]).filter((o) => !groupAckedSure.has(o)));
  tt.ok(subAckedMaybe.size > 0 && groupAckedMaybe.size > 0, 'consumers were acking when the server died');

  const acked = pubs.flatMap((p) => p.acked);
  const epochs = { orders: new Set<string>(), jobs: new Set<string>() };
  for (const x of acked) epochs[x.room as 'orders' | 'jobs'].add(x.epoch);
  tt.equal(epochs.orders.size, 1, 'one epoch in the acks of "orders"');
  tt.equal(epochs.jobs.size, 1, 'one epoch in the acks of "jobs"');

  // ---- life 2: same directory, new port ----
  const b = await startWsq(tt, dir, SERVE_ARGS);
  tt.not(b.url, a.url, 'the restarted server is on a new port');

  for (const room of ['orders', 'jobs'] as const) {
    const { joined, events } = await readAll(tt, b.url, room);
    const epoch = [...epochs[room]][0]!;
    tt.equal(joined.epoch, epoch, `${room}: the epoch is unchanged`);
    tt.equal(joined.recovered, true, `${room}: recovered`);
    const offsets = events.map((e) => e.offset as number);
    tt.same(
      offsets,
      Array.from({ length: joined.offset as number }, (_, i) => i + 1),
      `${room}: offsets 1..${joined.offset}, in order, no gap`,
    );
    const byKey = new Map<string, number[]>();
    for (const e of events) {
      const k = `${e.data.p}/${e.data.n}`;
      byKey.set(k, [...(byKey.get(k) ?? []), e.offset as number]);
    }
    tt.same(
      [...byKey].filter(([, o]) => o.length > 1),
      [],
      `${room}: no emit stored twice`,
    );
    const sent = new Set(
      pubs
        .flatMap((p) => [...p.sent.values()])
        .filter((e) => e.room === room)
        .map((e) => `${e.p}/${e.n}`),
    );
    tt.same(
      [...byKey.keys()].filter((k) => !sent.has(k)),
      [],
      `${room}: nothing stored that was not sent`,
    );
    const ackedHere = acked.filter((x) => x.room === room);
    const wrong = ackedHere.filter((x) => {
      const e = events[x.offset - 1];
      return !e || e.data.p !== x.p || e.data.n !== x.n || e.epoch !== x.epoch;
    });
    tt.same(wrong, [], `${room}: all ${ackedHere.length} acked emits are present, each at the offset its ack named`);
    for (let p = 0; p < PUBLISHERS; p++) {
      const ns = events.filter((e) => e.data.p === p).map((e) => e.data.n as number);
      tt.ok(
        ns.every((n, i) => i === 0 || n > ns[i - 1]!),
        `${room}: publisher ${p}'s emits are in the order sent`,
      );
    }
    tt.ok(events.length <= ackedHere.length + killedAt!.inflight, `${room}: at most the in-flight emits are there unacked`);
  }

  // The durable subscriber comes back with the same identity and no state of its own.
  const sub2 = new Consumer(await connect(tt, b.url, 'sub'), 'orders');
  sub2.ackAll = true;
  tt.match(await sub2.c.request({ type: 'join', room: 'orders', durable: true, prefetch: PREFETCH }, WAIT_MS), { type: 'joined', durable: true }, 'the durable subscriber joined');
  const w2 = [new Consumer(await connect(tt, b.url, 'w1'), 'jobs'), new Consumer(await connect(tt, b.url, 'w2'), 'jobs')];
  for (const w of w2) {
    w.ackAll = true;
    tt.match(await w.c.request({ type: 'join', room: 'jobs', group: 'workers', prefetch: PREFETCH }, WAIT_MS), { type: 'joined', group: 'workers' }, 'a group member joined');
  }
  // A sentinel after the restart: consumers deliver in offset order, so once it arrives, everything before it has been sent.
  const pub = await connect(tt, b.url);
  const sentinels: Record<string, Frame> = {};
  for (const room of ['orders', 'jobs'] as const) {
    sentinels[room] = await pub.request({ type: 'emit', room, event: 'sentinel', data: null }, WAIT_MS);
    tt.equal(sentinels[room]!.epoch, [...epochs[room]][0], `${room}: a new emit is in the same epoch`);
  }
  const sOrders = sentinels.orders!.offset as number;
  const sJobs = sentinels.jobs!.offset as number;
  await until(() => sub2.delivered.has(sOrders), 'the durable subscriber to reach the sentinel');
  await until(() => w2.some((w) => w.delivered.has(sJobs)), 'the group to reach the sentinel');
  for (const cons of [sub2, ...w2]) await cons.c.sync(WAIT_MS);

  // Durable subscriber: everything not acked, in order, once; nothing acked before the crash.
  tt.same(sub2.dupes, [], 'durable: no delivery twice');
  tt.ok(
    sub2.order.every((o, i) => i === 0 || o > sub2.order[i - 1]!),
    'durable: deliveries in offset order',
  );
  tt.same(
    sub2.order.filter((o) => subAckedSure.has(o)),
    [],
    `durable: none of the ${subAckedSure.size} messages acked before the crash comes back`,
  );
  const subMissing: number[] = [];
  for (let o = 1; o <= sOrders; o++) if (!subAckedSure.has(o) && !subAckedMaybe.has(o) && !sub2.delivered.has(o)) subMissing.push(o);
  tt.same(subMissing, [], 'durable: every message it had not acked is delivered');
  tt.ok(
    [...sub.delivered.keys()].some((o) => !sub.acked.has(o) && sub2.delivered.has(o)),
    'durable: messages delivered but unacked before the crash come again',
  );

  // Group: each unacked message to exactly one member; attempt 2 for those delivered (and persisted) before the crash.
  const got = new Map<number, number>();
  const twice: number[] = [...w2.flatMap((w) => w.dupes)];
  for (const w of w2) for (const [o, att] of w.delivered) got.has(o) ? twice.push(o) : got.set(o, att);
  tt.same(twice, [], 'group: each message to one member, once');
  tt.same(
    [...got.keys()].filter((o) => groupAckedSure.has(o)),
    [],
    `group: none of the ${groupAckedSure.size} deliveries acked before the crash is redelivered`,
  );
  const groupMissing: number[] = [];
  for (let o = 1; o <= sJobs; o++) if (!groupAckedSure.has(o) && !groupAckedMaybe.has(o) && !got.has(o)) groupMissing.push(o);
  tt.same(groupMissing, [], 'group: every unacked message is delivered');
  tt.same(
    groupPendingSure.filter((o) => got.get(o) !== 2),
    [],
    `group: the ${groupPendingSure.length} deliveries left unacked before the crash come back with attempt 2`,
  );
  tt.equal(got.get(sJobs), 1, 'group: a new message has attempt 1');
});
