/**
 * `GET /metrics`: Prometheus text through prom-client, one Registry per server (never the
 * global one, so two servers in one process do not clash). Everything is read at scrape time
 * (`collect()`) from plain integers (lib/http/stats.ts) and the server's own maps; the only
 * observation made on the way is one histogram sample per store append.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { globMatch } from '../auth/permissions.js';
import type { Connection } from '../connection.js';
import { Consumer } from '../consumer.js';
import { SharedGroup } from '../group-shared.js';
import type { Namespace } from '../namespace.js';
import type { HttpRouter } from './router.js';
import { FRAMES_IN, FRAMES_OUT, type WireStats } from './stats.js';

/** Opted-in rooms give at most this many per-consumer lag series; the rest count in the aggregate. */
export const MAX_LAG_SERIES = 1000;

/** What the metrics read from their server. */
export interface MetricsSource {
  readonly stats: WireStats;
  connections(): Iterable<Connection>;
  connectionCount(): number;
  namespaces(): Iterable<Namespace>;
}

export interface MetricsOptions {
  /** Rooms (`*` globs) whose consumers get their own `wsq_consumer_lag_messages` series. Default none. */
  roomPatterns?: readonly string[];
}

/**
 * The metrics of one server (`server.metrics`, served at `GET /metrics`).
 * @example
 * const text = await server.metrics?.scrape(); // "# HELP wsq_connections Open WebSocket connections.\n…"
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly loop: IntervalHistogram;

  constructor(
    private readonly src: MetricsSource,
    private readonly opts: MetricsOptions = {},
  ) {
    const r = [this.registry];
    const s = src.stats;
    this.loop = monitorEventLoopDelay({ resolution: 20 });
    this.loop.enable();
    const loop = this.loop;

    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: r,
        collect() {
          this.set(read());
        },
      });
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: r,
        collect() {
          this.reset();
          this.inc(read());
        },
      });

    gauge('wsq_connections', 'Open WebSocket connections.', () => src.connectionCount());
    gauge('wsq_namespaces', 'Namespaces in memory.', () => [...src.namespaces()].length);
    gauge('wsq_rooms', 'Rooms with at least one live member, over all namespaces.', () => this.rooms().rooms);
    gauge('wsq_room_members', 'Live room memberships (a socket in two rooms counts twice), over all namespaces.', () => this.rooms().members);
    gauge('wsq_acks_pending', 'Consumer deliveries sent and waiting for the client ack.', () => {
      let n = 0;
      for (const c of src.connections()) n += c.pendingDeliveries();
      return n;
    });
    new Counter({
      name: 'wsq_frames_in_total',
      help: 'Frames received, by type ("invalid": did not decode).',
      labelNames: ['type'],
      registers: r,
      collect() {
        this.reset();
        for (const t of FRAMES_IN) this.inc({ type: t }, s.framesIn[t]);
      },
    });
    new Counter({
      name: 'wsq_frames_out_total',
      help: 'Frames sent, by type.',
      labelNames: ['type'],
      registers: r,
      collect() {
        this.reset();
        for (const t of FRAMES_OUT) this.inc({ type: t }, s.framesOut[t]);
      },
    });
    new Counter({
      name: 'wsq_errors_sent_total',
      help: 'error frames sent, by code.',
      labelNames: ['code'],
      registers: r,
      collect() {
        this.reset();
        for (const [code, n] of Object.entries(s.errors)) this.inc({ code }, n);
      },
    });
    counter('wsq_bytes_in_total', 'Bytes of frames received (WebSocket payloads).', () => s.bytesIn);
    counter('wsq_bytes_out_total', 'Bytes of frames sent (WebSocket payloads; text in UTF-16 units, exact for ASCII).', () => s.bytesOut);
    counter('wsq_replayed_messages_total', 'Stored messages replayed on a join with since.', () => s.replayed);
    counter('wsq_redeliveries_total', 'Consumer deliveries with attempt > 1.', () => s.redeliveries);
    counter('wsq_dead_lettered_total', 'Messages moved to $dead:<room>.', () => s.deadLettered);
    counter('wsq_volatile_dropped_total', 'Volatile frames not sent to a backed-up socket.', () => s.volatileDropped);
    counter('wsq_slow_consumer_disconnects_total', 'Connections closed with 4002 slow_consumer.', () => s.slowConsumerCloses);
    const commit = new Histogram({
      name: 'wsq_store_commit_seconds',
      help: 'Time of each room-log append until the store committed it.',
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: r,
    });
    s.commitObserved = (sec) => commit.observe(sec);
    new Gauge({
      name: 'wsq_event_loop_delay_seconds',
      help: 'Event-loop delay since the last scrape, by quantile.',
      labelNames: ['quantile'],
      registers: r,
      collect() {
        this.set({ quantile: '0.5' }, loop.count ? loop.percentile(50) / 1e9 : 0);
        this.set({ quantile: '0.99' }, loop.count ? loop.percentile(99) / 1e9 : 0);
        loop.reset();
      },
    });
    const lags = () => this.lags();
    new Gauge({
      name: 'wsq_consumer_lag_messages',
      help: 'Messages committed and not yet done, per consumer (group, durable) of the rooms opted in by metrics.roomPatterns.',
      labelNames: ['ns', 'room', 'consumer'],
      registers: r,
      collect() {
        this.reset();
        for (const l of lags().series) this.set({ ns: l.ns, room: l.room, consumer: l.consumer }, l.lag);
      },
    });
    new Gauge({
      name: 'wsq_consumer_lag_messages_other',
      help: 'Messages committed and not yet done, summed over the consumers of every room not opted in.',
      registers: r,
      collect() {
        this.set(lags().other);
      },
    });
  }

  /** The text of a scrape. */
  async scrape(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stop the event-loop monitor. */
  close(): void {
    this.loop.disable();
  }

  private rooms(): { rooms: number; members: number } {
    let rooms = 0;
    let members = 0;
    for (const nsp of this.src.namespaces()) {
      const map = (nsp.adapter as { rooms?: unknown }).rooms;
      if (!(map instanceof Map)) continue;
      for (const [room, set] of map as Map<string, Set<string>>) {
        if (nsp.sockets.has(room)) continue; // a socket's own sid room is not a room anyone joined
        rooms++;
        members += set.size;
      }
    }
    return { rooms, members };
  }

  private lags(): { series: { ns: string; room: string; consumer: string; lag: number }[]; other: number } {
    const patterns = this.opts.roomPatterns ?? [];
    const series: { ns: string; room: string; consumer: string; lag: number }[] = [];
    let other = 0;
    for (const nsp of this.src.namespaces()) {
      for (const room of nsp.loadedRooms()) {
        const opted = patterns.some((p) => globMatch(p, room));
        for (const l of nsp.log(room).listeners) {
          if (!(l instanceof Consumer || l instanceof SharedGroup)) continue;
          if (opted && series.length < MAX_LAG_SERIES) series.push({ ns: nsp.name, room, consumer: l.name, lag: l.lag });
          else other += l.lag;
        }
      }
    }
    return { series, other };
  }
}

/** Route `GET /metrics` to a server's metrics. */
export function routeMetrics(router: HttpRouter, metrics: ServerMetrics): void {
  router.route('GET', '/metrics', async (_req, res) => {
    const text = await metrics.scrape();
    res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' }).end(text);
  });
}
