/**
 * Watches a connection from the client's side. Browsers do not expose WebSocket pings,
 * so the client pings at the application level (`{"type":"ping"}`) when nothing was heard
 * for `heartbeatMs`, and gives the connection up when nothing was heard for
 * `heartbeatMs + timeoutMs` (a half-open TCP connection never reports its own death).
 */

/** What the watchdog needs: timers, a clock, and what to do. */
export interface HeartbeatHost {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
  /** Send an application-level ping. */
  ping(): void;
  /** Nothing was heard for `idleMs`: drop the connection. */
  dead(idleMs: number): void;
}

/**
 * @example
 * const hb = new Heartbeat(host);
 * hb.start(25_000, 20_000); // after welcome
 * hb.heard();               // on every frame
 * hb.stop();                // on close
 */
export class Heartbeat {
  private timer: unknown;
  private lastHeard = 0;
  constructor(private readonly host: HeartbeatHost) {}

  /** Something arrived from the server. */
  heard(): void {
    this.lastHeard = this.host.now();
  }

  /** Start watching (restarts if running). */
  start(heartbeatMs: number, timeoutMs: number): void {
    this.stop();
    if (!(heartbeatMs > 0)) return;
    const limit = heartbeatMs + timeoutMs;
    const every = Math.max(10, Math.floor(Math.min(heartbeatMs, timeoutMs) / 2));
    this.heard();
    const tick = () => {
      this.timer = undefined;
      const idle = this.host.now() - this.lastHeard;
      if (idle >= limit) return this.host.dead(idle);
      if (idle >= heartbeatMs) this.host.ping();
      this.timer = this.host.setTimeout(tick, every);
    };
    this.timer = this.host.setTimeout(tick, every);
  }

  /** Stop watching. */
  stop(): void {
    if (this.timer !== undefined) this.host.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
