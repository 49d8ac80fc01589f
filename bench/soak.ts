/**
 * Soak (I8 deliver 7): many connections on loopback joining, emitting and leaving for a while,
 * against a wsq server in a child process. Prints a progress line every few seconds and a summary:
 * errors (target 0), server RSS per connection, the server's event-loop delay p99.
 *
 *   npm run soak                                  # 5,000 connections, 60 s
 *   node dist/bench/soak.js --connections 1000 --seconds 20 --rooms 200 --emit-every 5000
 *
 * Flags (or environment variables SOAK_CONNECTIONS, SOAK_SECONDS, …):
 *   --connections N   connections (default 5000)
 *   --seconds S       how long the load runs after the ramp-up (default 60)
 *   --rooms R         rooms the connections spread over (default 500)
 *   --emit-every MS   each connection emits once per MS on average (default 5000)
 *   --churn-every MS  each connection leaves its room and joins another once per MS on average (default 10000)
 *   --reconnect-every MS  each connection closes and reconnects once per MS on average (default 30000)
 *
 * File descriptors: the client side and the server each hold one per connection. The server
 * child is started through `sh -c 'ulimit -n …'`, which raises its soft limit up to the hard
 * limit; this process's own limit is checked and a shortfall is reported before starting.
 * Ends by itself; stops only the child it started, by PID.
 */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

interface Stats {
  type: 'stats';
  rss: number;
  heapUsed: number;
  connections: number;
  eldP99: number;
  eldMax: number;
  eldP99All: number;
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const env = process.env[`SOAK_${name.toUpperCase().replace(/-/g, '_')}`];
  const raw = i >= 0 ? process.argv[i + 1] : env;
  const v = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number (got ${raw})`);
  return v;
}

// ------------------------------------------------------------------ server child

async function serve(): Promise<void> {
  const { WsqServer } = await import('../lib/index.js');
  const server = new WsqServer({
    namespaces: 'any',
    logger: (level, msg) => (level === 'info' ? undefined : console.error(`[server] ${level}: ${msg}`)),
    limits: { maxConnections: 0, maxConnectionsPerClient: 0 },
  });
  await server.listen({ port: 0, host: '127.0.0.1' });
  const all = monitorEventLoopDelay({ resolution: 10 });
  const recent = monitorEventLoopDelay({ resolution: 10 });
  all.enable();
  recent.enable();
  process.send!({ type: 'ready', port: server.port });
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stats') {
      const u = process.memoryUsage();
      const health = server.httpServer.listening ? (server as unknown as { connections: Set<unknown> }).connections.size : 0;
      const s: Stats = {
        type: 'stats',
        rss: u.rss,
        heapUsed: u.heapUsed,
        connections: health,
        eldP99: recent.percentile(99) / 1e6,
        eldMax: recent.max / 1e6,
        eldP99All: all.percentile(99) / 1e6,
      };
      recent.reset();
      process.send!(s);
    } else if (m.type === 'gc') {
      globalThis.gc?.();
      process.send!({ type: 'gc' });
    } else if (m.type === 'stop') {
      void server.close().then(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
}

// ------------------------------------------------------------------ harness

class Soak {
  readonly errors = new Map<string, number>();
  acked = 0;
  events = 0;
  joins = 0;
  leaves = 0;
  reconnects = 0;
  open = 0;
  stopping = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly url: string,
    readonly o: { rooms: number; emitEvery: number; churnEvery: number; reconnectEvery: number },
  ) {}

  /** Emit-to-ack round trips (ms), for the summary. */
  readonly ackMs: number[] = [];

  error(kind: string): void {
    if (this.stopping) return; // closing sockets that are still connecting is the harness, not the server
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }

  get errorCount(): number {
    let n = 0;
    for (const v of this.errors.values()) n += v;
    return n;
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopping) fn();
    }, ms);
    this.timers.add(t);
  }

  /** One simulated client: connect, join a room, emit now and then, move rooms, reconnect; forever until stop. */
  connect(i: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopping) return resolve();
      const ws = new WebSocket(this.url, { perMessageDeflate: false });
      let room = `room-${i % this.o.rooms}`;
      let seq = 0;
      const waiting = new Map<string, number>();
      let opened = false;
      let closing = false;
      ws.on('open', () => {
        opened = true;
        this.open++;
        resolve();
        ws.send(JSON.stringify({ type: 'join', room, id: `j${++seq}` }));
        const emit = (): void => {
          if (ws.readyState !== WebSocket.OPEN || closing) return;
          const id = `e${++seq}`;
          waiting.set(id, Date.now());
          ws.send(JSON.stringify({ type: 'emit', room, event: 'chat', data: { from: i, n: seq, text: 'soak' }, id }));
          this.later(Math.random() * 2 * this.o.emitEvery, emit);
        };
        const churn = (): void => {
          if (ws.readyState !== WebSocket.OPEN || closing) return;
          ws.send(JSON.stringify({ type: 'leave', room, id: `l${++seq}` }));
          room = `room-${Math.floor(Math.random() * this.o.rooms)}`;
          ws.send(JSON.stringify({ type: 'join', room, id: `j${++seq}` }));
          this.later(Math.random() * 2 * this.o.churnEvery, churn);
        };
        const reconnect = (): void => {
          if (ws.readyState !== WebSocket.OPEN) return;
          // Wait (up to 10 s) for the acks of what this connection emitted, then close and come back.
          closing = true;
          const deadline = Date.now() + 10_000;
          const go = (): void => {
            if (waiting.size > 0 && Date.now() < deadline && !this.stopping) return void setTimeout(go, 50);
            for (let n = waiting.size; n > 0; n--) this.error('ack missing after 10 s');
            waiting.clear();
            this.reconnects++;
            ws.close(1000);
            ws.once('close', () => void this.connect(i));
          };
          go();
        };
        this.later(Math.random() * this.o.emitEvery, emit);
        this.later(Math.random() * 2 * this.o.churnEvery, churn);
        this.later(Math.random() * 2 * this.o.reconnectEvery, reconnect);
      });
      ws.on('message', (d: Buffer) => {
        const f = JSON.parse(d.toString()) as { type: string; id?: string; code?: string; offset?: number };
        if (f.type === 'event') this.events++;
        else if (f.type === 'ack' && f.id && waiting.has(f.id)) {
          this.ackMs.push(Date.now() - waiting.get(f.id)!);
          waiting.delete(f.id);
          this.acked++;
        } else if (f.type === 'joined') this.joins++;
        else if (f.type === 'left') this.leaves++;
        else if (f.type === 'error') this.error(`error ${f.code}`);
      });
      ws.on('error', (err) => {
        this.error(`socket error ${(err as NodeJS.ErrnoException).code ?? err.message}`);
        if (!opened) resolve();
      });
      ws.on('close', (code) => {
        if (opened) this.open--;
        if (!this.stopping && code !== 1000 && code !== 1005) this.error(`close ${code}`);
        // A connection that closed while emits were unanswered (not by the harness) lost their acks.
        if (!closing) for (let n = waiting.size; n > 0; n--) this.error('ack missing at close');
        if (!opened) resolve();
      });
      (this as unknown as { sockets?: Set<WebSocket> }).sockets ??= new Set();
      const set = (this as unknown as { sockets: Set<WebSocket> }).sockets;
      set.add(ws);
      ws.once('close', () => set.delete(ws));
    });
  }

  stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    const set = (this as unknown as { sockets?: Set<WebSocket> }).sockets ?? new Set<WebSocket>();
    return Promise.all(
      [...set].map(
        (ws) =>
          new Promise<void>((r) => {
            if (ws.readyState === WebSocket.CLOSED) return r();
            ws.once('close', () => r());
            ws.close(1000);
            setTimeout(() => (ws.terminate(), r()), 3000).unref();
          }),
      ),
    ).then(() => undefined);
  }
}

function fdLimit(): number {
  try {
    return Number(execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim()) || Infinity;
  } catch {
    return Infinity;
  }
}

async function main(): Promise<void> {
  const connections = flag('connections', 5000);
  const seconds = flag('seconds', 60);
  const rooms = flag('rooms', 500);
  const emitEvery = flag('emit-every', 5000);
  const churnEvery = flag('churn-every', 10_000);
  const reconnectEvery = flag('reconnect-every', 30_000);
  const limit = fdLimit();
  if (limit < connections + 200) {
    console.error(
      `soak: this shell allows ${limit} open files; ${connections} connections need about ${connections + 200}. Run "ulimit -n ${connections * 2 + 1000}" first (or lower --connections).`,
    );
    process.exit(2);
  }
  const self = fileURLToPath(import.meta.url);
  const want = connections * 2 + 1000;
  // The child raises its own soft limit (up to the hard limit) before node starts.
  const child: ChildProcess = spawn('/bin/sh', ['-c', `ulimit -n ${want} 2>/dev/null || ulimit -n hard 2>/dev/null; exec "$0" --expose-gc "$1" --server`, process.execPath, self], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const stopChild = (): void => {
    if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  };
  process.on('exit', stopChild);
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (m: { type: string; port?: number }) => m.type === 'ready' && resolve(m.port!));
    child.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
  });
  let pending: ((s: Stats) => void) | undefined;
  child.on('message', (m: Stats) => {
    if (m.type === 'stats') pending?.(m);
  });
  const stats = (): Promise<Stats> => new Promise((r) => ((pending = r), child.send({ type: 'stats' })));
  const base = await stats();
  const soak = new Soak(`ws://127.0.0.1:${port}/`, { rooms, emitEvery, churnEvery, reconnectEvery });
  const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(0)} MiB`;
  console.log(
    `soak: ${connections} connections, ${rooms} rooms, an emit per ${emitEvery} ms, a room change per ${churnEvery} ms, a reconnect per ${reconnectEvery} ms each; ${seconds} s after ramp-up; server pid ${child.pid}, RSS before ${mib(base.rss)}; fd limit ${limit}`,
  );
  const t0 = Date.now();
  for (let i = 0; i < connections; i += 250) {
    await Promise.all(Array.from({ length: Math.min(250, connections - i) }, (_, k) => soak.connect(i + k)));
  }
  const ramp = Date.now() - t0;
  const afterRamp = await stats();
  console.log(
    `ramp-up: ${soak.open} open in ${(ramp / 1000).toFixed(1)} s; server RSS ${mib(afterRamp.rss)} (${((afterRamp.rss - base.rss) / soak.open / 1024).toFixed(1)} KiB per connection); errors ${soak.errorCount}`,
  );
  const start = Date.now();
  let last = { at: start, acked: soak.acked, events: soak.events };
  let peakRss = afterRamp.rss;
  let worstEld = 0;
  while (Date.now() - start < seconds * 1000) {
    await new Promise((r) => setTimeout(r, Math.min(5000, seconds * 1000 - (Date.now() - start))));
    const s = await stats();
    const now = Date.now();
    const dt = (now - last.at) / 1000;
    peakRss = Math.max(peakRss, s.rss);
    worstEld = Math.max(worstEld, s.eldP99);
    console.log(
      `${((now - start) / 1000).toFixed(0).padStart(4)} s  open ${String(soak.open).padStart(5)}  acked ${((soak.acked - last.acked) / dt).toFixed(0).padStart(6)}/s  deliveries ${((soak.events - last.events) / dt).toFixed(0).padStart(7)}/s  errors ${soak.errorCount}  server RSS ${mib(s.rss)} (${((s.rss - base.rss) / Math.max(1, s.connections) / 1024).toFixed(1)} KiB/conn)  event-loop p99 ${s.eldP99.toFixed(1)} ms (max ${s.eldMax.toFixed(1)})`,
    );
    last = { at: now, acked: soak.acked, events: soak.events };
  }
  const end = await stats();
  // Let the acks in flight arrive before stopping (they are counted as missing otherwise).
  soak.stopping = true;
  await new Promise((r) => setTimeout(r, 2000));
  await soak.stop();
  child.send({ type: 'stop' });
  await new Promise<void>((r) => {
    if (child.exitCode !== null) return r();
    child.once('exit', () => r());
    setTimeout(() => (stopChild(), r()), 5000).unref();
  });
  const errs = [...soak.errors].map(([k, v]) => `${k}: ${v}`).join(', ');
  console.log('');
  console.log(`soak done: ${connections} connections for ${seconds} s (+ ${(ramp / 1000).toFixed(1)} s ramp-up)`);
  console.log(`  errors: ${soak.errorCount}${errs ? ` (${errs})` : ''}`);
  console.log(`  emits acked: ${soak.acked}; deliveries: ${soak.events}; joins: ${soak.joins}; leaves: ${soak.leaves}; reconnects: ${soak.reconnects}`);
  console.log(
    `  server RSS: ${mib(base.rss)} before, ${mib(afterRamp.rss)} after ramp-up, peak ${mib(peakRss)}, end ${mib(end.rss)}; per connection ${((afterRamp.rss - base.rss) / Math.max(1, afterRamp.connections) / 1024).toFixed(1)} KiB after ramp-up, ${((end.rss - base.rss) / Math.max(1, end.connections) / 1024).toFixed(1)} KiB at the end`,
  );
  const sorted = [...soak.ackMs].sort((a, b) => a - b);
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
  console.log(`  emit → ack round trip (client side, includes this process's own lag): p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${sorted.at(-1)} ms`);
  console.log(`  server event-loop delay p99: ${end.eldP99All.toFixed(1)} ms over the run (worst 5 s window ${worstEld.toFixed(1)} ms)`);
  process.exit(soak.errorCount === 0 ? 0 : 1);
}

if (process.argv.includes('--server')) await serve();
else await main();
