/** The client's options with their defaults filled in. */
import type { ConnectOptions, TokenSource } from './types.js';

/** Options after defaults. */
export interface Settings {
  client?: string;
  token?: string | TokenSource;
  reconnect: boolean;
  ackTimeoutMs: number;
  outboxLimit: number;
  nackDelayMs: number;
  heartbeat: boolean;
  heartbeatTimeoutMs: number;
  connectTimeoutMs: number;
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (handle: any) => void;
  now: () => number;
}

/**
 * Fill in the defaults of `connect`'s options.
 * @example
 * resolveSettings({ outboxLimit: 10 }).ackTimeoutMs; // 10000
 */
export function resolveSettings(options: ConnectOptions): Settings {
  const timers = options.timers ?? { setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: any) => clearTimeout(h) };
  const settings: Settings = {
    reconnect: options.reconnect ?? true,
    ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
    outboxLimit: options.outboxLimit ?? 1000,
    nackDelayMs: options.nackDelayMs ?? 1000,
    heartbeat: options.heartbeat ?? true,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 20_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 20_000,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    now: options.now ?? Date.now,
  };
  if (options.client !== undefined) settings.client = options.client;
  if (options.token !== undefined) settings.token = options.token;
  return settings;
}
