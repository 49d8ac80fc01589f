/**
 * The room fan-out harness, server-agnostic: it starts a server entry in its own process
 * (see `child.ts`), opens N subscriber sockets here (all in room "bench"), one publisher, and
 * measures, against 127.0.0.1 only:
 *
 * 1. **At a fixed offered rate** (`rate` messages/s, open loop, paced by a 1 ms timer), first,
 *    while the server is fresh — latency p50/p99 from `data.t` (the publisher's
 *    `performance.now()` when it sent) to the moment a subscriber received the frame (same
 *    process, same clock), and the server's CPU time per delivery from `process.cpuUsage()`
 *    deltas of the child.
 * 2. **At the limit** — the publisher keeps at most `window` messages not yet received by
 *    every subscriber (a closed loop counted in deliveries), and the deliveries received by
 *    all subscribers over `measureMs` after `warmupMs` give deliveries/s.
 *
 * The per-delivery work here is kept small so the generator is not the bottleneck:
 * subscribers use a minimal WebSocket client (`lean-ws.ts`: real handshake and framing, no
 * per-message layers; `client: 'ws'` uses the `ws` client instead); at the limit a frame is
 * only recognised as an event (a native byte search) and counted; only the fixed-rate phase
 * parses frames, and it reads nothing but `data` (wsq frames also carry `offset` and
 * `epoch`). The parent's own CPU is reported so a generator-bound run shows.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { startServerChild, type CpuSample, type ServerChild } from './child.js';
import { connectLean } from './lean-ws.js';

/** What to run. */
export interface FanoutOptions {
  /** Absolute path of the compiled server entry (it must call `serveBenchIpc`). */
  entry: string;
  /** Subscribers in the room. */
  subscribers: number;
  /** Room name (default "bench"). */
  room?: string;
  /** At the limit: messages in flight, i.e. published but not yet received by every subscriber. */
  window: number;
  /** At the limit: publish this long before counting. */
  warmupMs: number;
  /** At the limit: count deliveries for this long. */
  measureMs: number;
  /** Fixed-rate phase: messages per second offered by the publisher. */
  rate: number;
  /** Fixed-rate phase: run this long before sampling. */
  rateWarmupMs: number;
  /** Fixed-rate phase: sample latency and CPU for this long. */
  rateMeasureMs: number;
  /** Subscriber sockets opened at once while connecting (default 100). */
  connectConcurrency?: number;
  /** Subscriber client: the minimal bench client (default) or the `ws` library's client. */
  client?: 'lean' | 'ws';
}

/** What one run measured. Times in ms, CPU in µs or % of one core. */
export interface FanoutResult {
  subscribers: number;
  /** At the limit: deliveries per second received by all subscribers together. */
  deliveriesPerSec: number;
  /** At the limit: server CPU use, % of one core (≈100 means the server was the bottleneck). */
  limitServerCpuPct: number;
  /** At the limit: server CPU per delivery, µs. */
  limitServerUsPerDelivery: number;
  /**
   * At the limit: event frames per socket read at the subscribers (minimal client only, else
   * NaN). Near 1 means one server write per delivery; more means the server (or TCP) packed
   * several frames per write.
   */
  limitFramesPerRead: number;
  /** At the limit: this (generator) process's CPU use, % of one core. */
  limitParentCpuPct: number;
  /**
   * At the limit: CPU used by everything else on the machine, % of one core (Linux: from
   * /proc/stat, NaN elsewhere). Well above ~10 means the run shared its cores with other work.
   */
  limitOtherCpuPct: number;
  /** Fixed-rate phase: offered messages/s. */
  rate: number;
  /** Fixed-rate phase: deliveries/s actually received. */
  rateDeliveriesPerSec: number;
  /** Fixed-rate phase: latency percentiles over every delivery sampled, ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Fixed-rate phase: server CPU per delivery, µs. */
  cpuUsPerDelivery: number;
  /** Fixed-rate phase: event frames per subscriber read (see `limitFramesPerRead`). */
  rateFramesPerRead: number;
  /** Fixed-rate phase: this process's CPU use, % of one core. */
  rateParentCpuPct: number;
  /** Fixed-rate phase: CPU used by everything else, % of one core (see `limitOtherCpuPct`). */
  rateOtherCpuPct: number;
  /** Server RSS at the end, bytes. */
  serverRss: number;
  /**
   * Deliveries not received within 5 s after each phase stopped publishing (should be 0; a
   * server that fell far behind, or that dropped frames, leaves some).
   */
  undelivered: number;
  /** Frames after `joined` that were not events (errors, etc.), and the first of them. */
  otherFrames: number;
  firstOtherFrame?: string;
  /** Subscriber or publisher sockets that closed during the run. */
  closedSockets: number;
}

const EVENT_MARK = Buffer.from('"type":"event"');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Shared counters of all sockets of one run; the message handlers touch only these. */
interface RunState {
  subscribers: number;
  /** Event frames received by all subscribers. */
  delivered: number;
  /** Socket reads at all subscribers after their handshake (minimal client only). */
  reads: number;
  /** Emits sent by the publisher. */
  sent: number;
  /** Closed loop at the limit is on: every delivery may publish the next message. */
  pumping: boolean;
  /** Deliveries allowed in flight at the limit (`window × subscribers`). */
  maxInFlight: number;
  /** Record latency of each delivery (fixed-rate phase). */
  sampling: boolean;
  latencies: Float64Array;
  nLatencies: number;
  otherFrames: number;
  firstOtherFrame?: string;
  closedSockets: number;
  closing: boolean;
  publish: () => void;
}

/**
 * Run the whole fan-out measurement once against one server entry: start it, connect,
 * measure both phases, end every socket and the child (also when something fails).
 *
 * @example
 * const r = await runFanout({ entry: '/abs/dist/bench/raw-relay.js', subscribers: 100, window: 32,
 *   warmupMs: 1000, measureMs: 3000, rate: 500, rateWarmupMs: 500, rateMeasureMs: 2500 });
 * console.log(r.deliveriesPerSec, r.p99Ms, r.cpuUsPerDelivery);
 */
export async function runFanout(opts: FanoutOptions): Promise<FanoutResult> {
  const room = opts.room ?? 'bench';
  const n = opts.subscribers;
  const st: RunState = {
    subscribers: n,
    delivered: 0,
    reads: 0,
    sent: 0,
    pumping: false,
    maxInFlight: opts.window * n,
    sampling: false,
    latencies: new Float64Array(Math.ceil(opts.rate * (opts.rateMeasureMs / 1000) * n * 1.5) + 1024),
    nLatencies: 0,
    otherFrames: 0,
    closedSockets: 0,
    closing: false,
    publish: () => undefined,
  };
  const sockets: Closable[] = [];
  let server: ServerChild | undefined;
  try {
    server = await startServerChild(opts.entry);
    const url = `ws://127.0.0.1:${server.port}/`;
    await openSubscribers(url, room, n, opts.connectConcurrency ?? 100, opts.client ?? 'lean', st, sockets);
    const publisher = await openPublisher(url, st, sockets);
    const prefix = `{"type":"emit","event":"tick","room":${JSON.stringify(room)},"data":{"t":`;
    st.publish = () => {
      publisher.send(`${prefix}${performance.now()},"n":${st.sent}}}`);
      st.sent++;
    };

    // ---- 1. fixed offered rate, on the fresh server: latency and CPU per delivery
    const base = st.sent;
    const t0 = performance.now();
    const pacer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) * opts.rate) / 1000);
      while (st.sent - base < due) st.publish();
    }, 1);
    let b0: Snapshot, b1: Snapshot, rateReads0: number, rateReads1: number;
    try {
      await sleep(opts.rateWarmupMs);
      b0 = await snapshot(st, server);
      rateReads0 = st.reads;
      st.sampling = true;
      await sleep(opts.rateMeasureMs);
      st.sampling = false;
      b1 = await snapshot(st, server);
      rateReads1 = st.reads;
    } finally {
      clearInterval(pacer);
    }
    let undelivered = await drain(st);

    // ---- 2. at the limit: closed loop, `window` messages in flight
    st.pumping = true;
    pump(st);
    await sleep(opts.warmupMs);
    const a0 = await snapshot(st, server);
    const reads0 = st.reads;
    await sleep(opts.measureMs);
    const a1 = await snapshot(st, server);
    const reads1 = st.reads;
    st.pumping = false;
    undelivered += await drain(st);

    const lat = st.latencies.subarray(0, st.nLatencies).sort();
    const pct = (p: number): number => (lat.length === 0 ? NaN : lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!);
    const aDeliveries = a1.delivered - a0.delivered;
    const bDeliveries = b1.delivered - b0.delivered;
    const lean = (opts.client ?? 'lean') === 'lean';
    return {
      subscribers: n,
      deliveriesPerSec: (aDeliveries * 1000) / (a1.at - a0.at),
      limitServerCpuPct: cpuPct(a0.server, a1.server, a1.at - a0.at),
      limitServerUsPerDelivery: cpuUs(a0.server, a1.server) / aDeliveries,
      limitFramesPerRead: lean ? aDeliveries / (reads1 - reads0) : NaN,
      limitParentCpuPct: cpuPct(a0.parent, a1.parent, a1.at - a0.at),
      limitOtherCpuPct: otherPct(a0, a1),
      rate: opts.rate,
      rateDeliveriesPerSec: (bDeliveries * 1000) / (b1.at - b0.at),
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
      maxMs: lat.length === 0 ? NaN : lat[lat.length - 1]!,
      cpuUsPerDelivery: cpuUs(b0.server, b1.server) / bDeliveries,
      rateFramesPerRead: lean ? bDeliveries / (rateReads1 - rateReads0) : NaN,
      rateParentCpuPct: cpuPct(b0.parent, b1.parent, b1.at - b0.at),
      rateOtherCpuPct: otherPct(b0, b1),
      serverRss: b1.server.rss,
      undelivered,
      otherFrames: st.otherFrames,
      ...(st.firstOtherFrame === undefined ? {} : { firstOtherFrame: st.firstOtherFrame }),
      closedSockets: st.closedSockets,
    };
  } finally {
    st.pumping = false;
    st.closing = true;
    for (const ws of sockets) ws.terminate();
    await server?.stop();
  }
}

/** At the limit: publish while fewer than `window` messages' deliveries are outstanding. */
function pump(st: RunState): void {
  while (st.pumping && st.sent * st.subscribers - st.delivered < st.maxInFlight) st.publish();
}

interface Snapshot {
  at: number;
  delivered: number;
  server: CpuSample;
  parent: NodeJS.CpuUsage;
  /** Busy CPU time of the whole machine, µs (NaN where /proc/stat is not there). */
  machineBusy: number;
}

async function snapshot(st: RunState, server: ServerChild): Promise<Snapshot> {
  const cpu = await server.cpu();
  return { at: performance.now(), delivered: st.delivered, server: cpu, parent: process.cpuUsage(), machineBusy: machineBusyUs() };
}

/**
 * Busy time of all CPUs from the first line of /proc/stat (user, nice, system, irq, softirq,
 * steal; in USER_HZ = 100 ticks/s), in µs. Loopback softirq work is counted here and may
 * or may not be charged to our processes, so the "other" figure has a few % of slack.
 */
function machineBusyUs(): number {
  try {
    const f = readFileSync('/proc/stat', 'latin1').slice(0, 200).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return (user + nice + system + irq + softirq + steal) * 10_000;
  } catch {
    return NaN;
  }
}

/** CPU used by other processes between two snapshots, % of one core (never below 0). */
function otherPct(a: Snapshot, b: Snapshot): number {
  const ours = cpuUs(a.server, b.server) + cpuUs(a.parent, b.parent);
  return Math.max(0, ((b.machineBusy - a.machineBusy - ours) / ((b.at - a.at) * 1000)) * 100);
}

const cpuUs = (a: { user: number; system: number }, b: { user: number; system: number }): number => b.user + b.system - (a.user + a.system);
const cpuPct = (a: { user: number; system: number }, b: { user: number; system: number }, ms: number): number => (cpuUs(a, b) / (ms * 1000)) * 100;

/** Wait until every published message reached every subscriber; returns how many deliveries never came. */
async function drain(st: RunState, timeoutMs = 5_000): Promise<number> {
  const until = performance.now() + timeoutMs;
  while (st.delivered < st.sent * st.subscribers && performance.now() < until) await sleep(5);
  return st.sent * st.subscribers - st.delivered;
}

/** Handle a control frame (before `joined`, or anything that is not an event). */
function parseControl(data: Buffer): { type?: string } {
  try {
    return JSON.parse(data.toString()) as { type?: string };
  } catch {
    return {};
  }
}

function noteOther(st: RunState, data: Buffer): void {
  st.otherFrames++;
  st.firstOtherFrame ??= data.toString().slice(0, 300);
}

/** Anything the run must end: a `ws` socket or a lean one. */
interface Closable {
  terminate(): void;
}

/** A subscriber's frame after `joined`: count events; in the fixed-rate phase, time them. */
function onSubscriberFrame(st: RunState, buf: Buffer, start: number, end: number): void {
  const at = buf.indexOf(EVENT_MARK, start);
  if (at === -1 || at + EVENT_MARK.length > end) return noteOther(st, buf.subarray(start, end));
  st.delivered++;
  if (st.sampling) {
    const now = performance.now();
    const frame = JSON.parse(buf.toString('utf8', start, end)) as { data: { t: number } };
    if (st.nLatencies < st.latencies.length) st.latencies[st.nLatencies++] = now - frame.data.t;
  }
  if (st.pumping) pump(st);
}

/** Open one `ws` socket with the options the generator always uses. */
function connect(url: string, st: RunState, sockets: Closable[]): WebSocket {
  const ws = new WebSocket(url, 'wsq.v1', { perMessageDeflate: false, skipUTF8Validation: true });
  sockets.push(ws);
  ws.on('close', () => {
    if (!st.closing) st.closedSockets++;
  });
  return ws;
}

/** Open one subscriber, send `join` after `welcome`, resolve on `joined`. */
function openSubscriber(url: string, join: string, client: 'lean' | 'ws', st: RunState, sockets: Closable[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let joined = false;
    let send: (text: string) => void = () => undefined;
    const timer = setTimeout(() => reject(new Error(`a subscriber got no "joined" within 20 s from ${url}`)), 20_000);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    const onFrame = (buf: Buffer, start: number, end: number): void => {
      if (joined) return onSubscriberFrame(st, buf, start, end);
      const frame = parseControl(buf.subarray(start, end));
      if (frame.type === 'welcome') send(join);
      else if (frame.type === 'joined') {
        joined = true;
        clearTimeout(timer);
        resolve();
      } else fail(new Error(`subscriber: expected welcome/joined, got ${buf.toString('utf8', start, Math.min(end, start + 300))}`));
    };
    if (client === 'ws') {
      const ws = connect(url, st, sockets);
      send = (text) => ws.send(text);
      ws.on('error', fail);
      ws.on('message', (raw) => {
        const data = raw as Buffer;
        onFrame(data, 0, data.length);
      });
      return;
    }
    const ws = connectLean(url, 'wsq.v1', {
      onMessage: onFrame,
      onError: (message) => (joined ? noteOther(st, Buffer.from(`client error: ${message}`)) : fail(new Error(message))),
      onClose: () => {
        if (!st.closing) st.closedSockets++;
      },
      onRead: () => {
        st.reads++;
      },
    });
    sockets.push(ws);
    send = (text) => ws.send(text);
    ws.opened.catch(fail);
  });
}

/** Open `n` subscribers, at most `concurrency` handshakes at a time, and wait for every `joined`. */
async function openSubscribers(url: string, room: string, n: number, concurrency: number, client: 'lean' | 'ws', st: RunState, sockets: Closable[]): Promise<void> {
  const join = JSON.stringify({ type: 'join', room, id: 1 });
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < n) {
      started++;
      await openSubscriber(url, join, client, st, sockets);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
}

/** Open the publisher (not a room member) and wait for its `welcome`. */
function openPublisher(url: string, st: RunState, sockets: Closable[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = connect(url, st, sockets);
    let welcomed = false;
    ws.on('error', reject);
    ws.on('message', (raw) => {
      const data = raw as Buffer;
      if (!welcomed && parseControl(data).type === 'welcome') {
        welcomed = true;
        resolve(ws);
      } else {
        noteOther(st, data);
      }
    });
  });
}
