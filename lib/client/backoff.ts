/**
 * Reconnect delays: exponential backoff with full jitter (a delay drawn uniformly from
 * `[0, min(capMs, baseMs * 2^attempt))`), as in AWS's "Exponential Backoff and Jitter".
 * Pure: the random source is injected, and the class only counts attempts (the client
 * owns the timers).
 */

/** Backoff settings. Defaults follow socket.io-client: 1 s base, 5 s cap, unlimited attempts. */
export interface BackoffOptions {
  /** The first attempt's upper bound, in ms. Default 1000. */
  baseMs?: number;
  /** No delay exceeds this, in ms. Default 5000. */
  capMs?: number;
  /** Give up after this many attempts in a row without success. Default Infinity. */
  maxAttempts?: number;
  /** A source of numbers in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first), with full jitter.
 * @example
 * backoffDelay(0, { random: () => 0.5 }); // 500: half of the 1000 ms base
 * backoffDelay(10, { random: () => 0.5 }); // 2500: half of the 5000 ms cap
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 1000;
  const cap = options.capMs ?? 5000;
  const random = options.random ?? Math.random;
  // 2^attempt overflows to Infinity for large attempts; min() keeps the bound finite.
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 1023));
  const r = random();
  const unit = r >= 0 && r < 1 ? r : 0;
  return Math.floor(unit * ceiling);
}

/**
 * Counts reconnect attempts and hands out their delays.
 * @example
 * const b = new Backoff({ baseMs: 100, capMs: 1000, maxAttempts: 5 });
 * let delay = b.next(); // a number in [0, 100), or undefined once 5 attempts are used
 * b.reset(); // after a successful connection
 */
export class Backoff {
  private readonly options: BackoffOptions;
  private count = 0;
  constructor(options: BackoffOptions = {}) {
    const { baseMs = 1000, capMs = 5000, maxAttempts = Infinity } = options;
    if (!(baseMs >= 0) || !(capMs >= 0)) throw new RangeError('backoff: baseMs and capMs must be >= 0');
    if (!(maxAttempts >= 0)) throw new RangeError('backoff: maxAttempts must be >= 0');
    this.options = { ...options, baseMs, capMs, maxAttempts };
  }
  /** Attempts handed out since the last reset. */
  get attempts(): number {
    return this.count;
  }
  /** The delay before the next attempt, or `undefined` when `maxAttempts` are used up. */
  next(): number | undefined {
    if (this.count >= (this.options.maxAttempts ?? Infinity)) return undefined;
    const delay = backoffDelay(this.count, this.options);
    this.count++;
    return delay;
  }
  /** Start over (after a connection succeeded). */
  reset(): void {
    this.count = 0;
  }
}
