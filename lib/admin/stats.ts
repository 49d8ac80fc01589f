/**
 * What the dashboard shows over time, kept per server with fixed caps: the last 50 refusals
 * (upgrade and middleware, with time, status and reason) and 60 ten-second buckets of stored
 * messages and connections. Messages are counted by sampling each loaded room log's last
 * committed offset once a second (no work on the publish or fan-out path).
 */
import type { WsqServer } from '../server.js';

/** Refusals kept (the oldest goes first). */
export const MAX_REFUSALS = 50;
/** Rate buckets kept: 60 × 10 s = the last 10 minutes. */
export const RATE_BUCKETS = 60;
/** Width of one rate bucket. */
export const BUCKET_MS = 10_000;
/** How often the room logs are sampled. */
const SAMPLE_MS = 1000;
/** Room logs remembered between two samples at most (their last offsets); past it, new rooms count from their next sample. */
const MAX_SAMPLED_ROOMS = 100_000;

/** One refused connection attempt. */
export interface Refusal {
  ts: number;
  status: number;
  reason: string;
}

/** One rate bucket: messages stored in it, connections at its last sample. */
export interface RateBucket {
  /** Start of the bucket (ms since the epoch). */
  ts: number;
  messages: number;
  connections: number;
}

const refusals = new WeakMap<object, Refusal[]>();

/**
 * Remember a refusal of `server` (called where the server refuses an upgrade or a middleware refuses a connection).
 * @example
 * recordRefusal(this, 401, 'Unauthorized: the token is invalid');
 */
export function recordRefusal(server: object, status: number, reason: string): void {
  let ring = refusals.get(server);
  if (!ring) refusals.set(server, (ring = []));
  ring.push({ ts: Date.now(), status, reason });
  if (ring.length > MAX_REFUSALS) ring.shift();
}

/** The refusals remembered for `server`, oldest first. */
export function recentRefusals(server: object): Refusal[] {
  return [...(refusals.get(server) ?? [])];
}

/** Samples a server's room logs once a second into 10-s buckets (started by the admin module). */
export class RateRing {
  private readonly buckets: RateBucket[] = [];
  private last = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private listened = false;

  constructor(private readonly server: WsqServer) {
    this.timer = setInterval(() => this.tick(), SAMPLE_MS).unref();
  }

  /** Sample while the server listens; stop once it stopped listening (the ring is built before the server listens). */
  private tick(): void {
    if (this.server.httpServer?.listening) {
      this.listened = true;
      this.sample();
    } else if (this.listened) this.stop();
  }

  /** Stop sampling. */
  stop(): void {
    clearInterval(this.timer);
  }

  /** The buckets, oldest first (the newest is still filling). */
  list(): RateBucket[] {
    return this.buckets.map((b) => ({ ...b }));
  }

  /** Add what was stored since the last sample to the current bucket. */
  sample(now = Date.now()): void {
    const next = new Map<string, number>();
    let messages = 0;
    for (const name of this.server.namespaceNames()) {
      const nsp = this.server.namespace(name);
      if (!nsp) continue;
      for (const room of nsp.loadedRooms()) {
        if (next.size >= MAX_SAMPLED_ROOMS) break;
        const key = `${name.length}:${name}${room}`;
        const committed = nsp.log(room).committed;
        const before = this.last.get(key);
        if (before !== undefined && committed > before) messages += committed - before;
        next.set(key, committed);
      }
    }
    this.last = next;
    const start = now - (now % BUCKET_MS);
    let b = this.buckets.at(-1);
    if (!b || b.ts !== start) {
      this.buckets.push((b = { ts: start, messages: 0, connections: 0 }));
      if (this.buckets.length > RATE_BUCKETS) this.buckets.shift();
    }
    b.messages += messages;
    b.connections = this.server.sockets.sockets.size;
  }
}
