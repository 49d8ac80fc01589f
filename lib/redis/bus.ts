/**
 * RedisBus: the one owner of a process's Redis connections (decision 4 of issue 9).
 *
 * - `cmd`: the command connection (store scripts, SPUBLISH, PUBSUB SHARDNUMSUB). Shared by the
 *   Redis store and the Redis adapter of every namespace.
 * - `sub`: the subscriber connection, in sharded pub/sub mode (SSUBSCRIBE, Redis >= 7.0).
 *
 * Sharded subscriptions are refcounted per channel: `subscribe(channel, handler)` sends SSUBSCRIBE
 * only for the first handler of a channel and SUNSUBSCRIBE when the last one goes, so the adapter
 * (a room with a local member) and a RoomLog (a live log) can hold the same room channel.
 *
 * Reconnects: ioredis' own `autoResubscribe` restores the channels it saw confirmed, but says
 * nothing when that is done, and commands in flight at the drop could be resent after it and
 * undo it. The bus instead keeps the wanted set itself (ioredis resubscribe and resend are off
 * on `sub`): on every `ready` of `sub` it sends one SSUBSCRIBE for every wanted channel, and only
 * once Redis confirmed them and `cmd` is ready too does it emit `up`. So a listener of `up`
 * (a RoomLog re-reading its position) is already subscribed when it reads (decision 3).
 *
 * Events: `down` (reason: string) when either connection is lost, once per outage;
 * `up` (info: { downMs, reconnect }) once both are ready and every channel is subscribed again.
 *
 * Caps (nothing grows without bound):
 * - channels subscribed at once: `maxChannels` (default 1,000,000; a sid is a room, so one per socket too); past it `subscribe` throws;
 * - publishes while Redis is down: none are buffered (`publish` rejects at once: pub/sub is
 *   at-most-once anyway; stored messages are re-read from the log by position);
 * - commands on `cmd` while Redis is away: none queued (no offline queue, no resend: they reject at
 *   once, and the store turns that into StoreUnavailableError); `commandTimeout` 10 s;
 * - `sub` has no offline queue either: (un)subscribes while down only change the wanted set.
 * @example
 * const bus = new RedisBus({ url: 'redis://127.0.0.1:6379', prefix: 'wsq:' });
 * await bus.ready();
 * const s = bus.subscribe('wsq:x', (msg) => console.log(msg.toString()));
 * await s.ready;
 * await bus.publish('wsq:x', 'hello');
 */
import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { nanoid } from 'nanoid';

/** Options of a RedisBus. */
export interface RedisBusOptions {
  /** `redis://[user:pass@]host:port[/db]` (default `redis://127.0.0.1:6379`). */
  url?: string;
  /** Prefix of every key and channel of this deployment (default `wsq:`). */
  prefix?: string;
  /** This process's node id (default: a fresh nanoid). */
  nodeId?: string;
  /** Most channels subscribed at once (default 1,000,000). */
  maxChannels?: number;
  /** Extra ioredis options for both connections (tests: `connectTimeout`, `retryStrategy`). */
  redis?: RedisOptions;
  /** Where the bus reports a failing handler or a refused subscribe (default: nowhere). */
  report?: (level: 'warn' | 'error', msg: string, err?: unknown) => void;
}

/** Receives each message published on a channel (the raw bytes, and the channel's name). */
export type ChannelHandler = (message: Buffer, channel: string) => void;

/** One handler's hold on a channel. */
export interface ChannelSubscription {
  /** Resolves once Redis confirmed the channel's SSUBSCRIBE (at once if it already had). Rejects when the bus closes first or `subscribeTimeoutMs` passes. */
  readonly ready: Promise<void>;
  /** Drop this handler (idempotent); the channel is unsubscribed when its last handler goes. */
  close(): void;
}

/** Connection state, for logs and `/readyz`. */
export interface BusStatus {
  up: boolean;
  /** Why it is down (the last connection error), when it is. */
  reason?: string;
  /** Milliseconds since the Unix epoch of the last change. */
  since: number;
}

/** What `up` carries. */
export interface BusUpInfo {
  /** How long Redis was unreachable (0 on the first connect). */
  downMs: number;
  /** False on the first connect. */
  reconnect: boolean;
}

interface Channel {
  /** Each handler, with what to call when the channel is subscribed again after an outage. */
  readonly handlers: Map<ChannelHandler, (() => void) | undefined>;
  confirmed: boolean;
  waiters: { resolve: () => void; reject: (err: Error) => void }[];
}

/** Default cap on channels subscribed at once. */
export const MAX_CHANNELS = 1_000_000;
/** How long `ChannelSubscription.ready` waits for Redis at most. */
const SUBSCRIBE_TIMEOUT_MS = 10_000;
/** Channels per SSUBSCRIBE command when resubscribing after a reconnect. */
const RESUBSCRIBE_BATCH = 1000;

/** The connections, sharded subscriptions and up/down state of one process. */
export class RedisBus extends EventEmitter {
  readonly nodeId: string;
  readonly prefix: string;
  readonly url: string;
  /** The command connection. */
  readonly cmd: Redis;
  /** The subscriber connection (sharded pub/sub mode). */
  readonly sub: Redis;
  private readonly channels = new Map<string, Channel>();
  private readonly maxChannels: number;
  private readonly report: NonNullable<RedisBusOptions['report']>;
  private isUp = false;
  private everUp = false;
  private resubscribed = false;
  private downAt = 0;
  private since = Date.now();
  private reason: string | undefined = 'connecting';
  private closed = false;
  private readonly readyWaiters = new Set<() => void>();
  /** Messages received on subscribed channels (every channel; for tests and metrics). */
  received = 0;

  constructor(opts: RedisBusOptions = {}) {
    super();
    this.url = opts.url ?? 'redis://127.0.0.1:6379';
    this.prefix = opts.prefix ?? 'wsq:';
    this.nodeId = opts.nodeId ?? nanoid();
    this.maxChannels = opts.maxChannels ?? MAX_CHANNELS;
    this.report = opts.report ?? (() => {});
    const retryStrategy = (times: number): number => Math.min(times * 100, 2000);
    const base: RedisOptions = { retryStrategy, ...opts.redis };
    // contract: (B↔C) the options lib/store/redis.ts STORE_CONNECTION_OPTIONS asks of a shared command connection:
    // no offline queue and no resend, so a write while Redis is away fails at once (never waits, never applies twice).
    this.cmd = new Redis(this.url, {
      commandTimeout: 10_000,
      ...base,
      connectionName: `wsq:${this.nodeId}:cmd`,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
    });
    this.sub = new Redis(this.url, {
      ...base,
      connectionName: `wsq:${this.nodeId}:sub`,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: null,
    });
    for (const conn of [this.cmd, this.sub]) {
      conn.on('error', (err: Error) => {
        this.reason = err.message || String(err);
        // Redis is unreachable: whoever waits for a channel's confirmation hears it now, not after
        // the subscribe timeout (a node started while Redis is down welcomes its clients at once and
        // refuses writes with "unavailable"). The channels stay wanted and are subscribed when it is back.
        if (!this.isUp) this.failWaiters();
      });
      conn.on('close', () => {
        if (conn === this.sub) this.resubscribed = false;
        this.goDown(this.reason && this.reason !== 'connecting' ? this.reason : 'connection closed');
      });
      conn.on('end', () => this.goDown('connection ended'));
    }
    this.cmd.on('ready', () => this.maybeUp());
    this.sub.on('ready', () => this.resubscribe());
    this.sub.on('smessageBuffer', (channel: Buffer, message: Buffer) => this.dispatch(channel.toString(), message));
  }

  /** Reject every wait for a channel's confirmation (Redis is unreachable); the channels stay wanted. */
  private failWaiters(): void {
    for (const [channel, ch] of this.channels) {
      if (ch.confirmed || ch.waiters.length === 0) continue;
      const waiters = ch.waiters;
      ch.waiters = [];
      for (const w of waiters) w.reject(new Error(`Redis is unreachable (${this.reason}): ${channel} is subscribed when it is back`));
    }
  }

  /** True while both connections are ready and every channel is subscribed. */
  get up(): boolean {
    return this.isUp;
  }

  /** Connection state now (for `/readyz` and logs). */
  status(): BusStatus {
    return this.isUp ? { up: true, since: this.since } : { up: false, reason: this.reason ?? 'connecting', since: this.since };
  }

  /** A readiness check for `server.readiness.add('redis', …)`: undefined when up, else `redis: <reason>`. */
  readinessCheck(): string | undefined {
    return this.isUp ? undefined : `redis: ${this.reason ?? 'connecting'} (${this.url})`;
  }

  /** Resolves once the bus is up (both connections ready); rejects after `timeoutMs` with the last connection error. */
  ready(timeoutMs = 10_000): Promise<void> {
    if (this.isUp) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('the Redis bus is closed'));
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.readyWaiters.delete(done);
        reject(new Error(`Redis at ${this.url} did not answer within ${timeoutMs} ms (${this.reason ?? 'connecting'}); start Redis or fix --redis`));
      }, timeoutMs);
      this.readyWaiters.add(done);
    });
  }

  /** How many channels are subscribed (wanted) now. */
  channelCount(): number {
    return this.channels.size;
  }

  /** Whether a channel is wanted now (has a handler). */
  subscribed(channel: string): boolean {
    return this.channels.has(channel);
  }

  /**
   * Add a handler to a sharded channel; the first handler SSUBSCRIBEs it. Throws past
   * `maxChannels`. `onResubscribed` is called after an outage, once the channel is subscribed
   * again (messages published meanwhile were missed: re-read what matters). A handler is one
   * subscription: adding the same function twice to one channel keeps one.
   */
  subscribe(channel: string, handler: ChannelHandler, onResubscribed?: () => void): ChannelSubscription {
    if (this.closed) throw new Error('the Redis bus is closed');
    let ch = this.channels.get(channel);
    if (!ch) {
      if (this.channels.size >= this.maxChannels) {
        throw new Error(`this node already subscribes ${this.maxChannels} Redis channels (RedisBusOptions.maxChannels); raise it or use fewer rooms per node`);
      }
      ch = { handlers: new Map(), confirmed: false, waiters: [] };
      this.channels.set(channel, ch);
      if (this.sub.status === 'ready' && this.resubscribed) void this.sendSubscribe([[channel, ch]]);
    }
    ch.handlers.set(handler, onResubscribed);
    const entry = ch;
    let closed = false;
    // Redis is known to be away (a connection attempt failed): say so now rather than after the
    // subscribe timeout; the channel stays wanted and is subscribed when Redis is back.
    const away = !entry.confirmed && !this.isUp && this.reason !== undefined && this.reason !== 'connecting';
    const ready: Promise<void> = entry.confirmed
      ? Promise.resolve()
      : away
        ? Promise.reject(new Error(`Redis is unreachable (${this.reason}): ${channel} is subscribed when it is back`))
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`Redis did not confirm SSUBSCRIBE ${channel} within ${SUBSCRIBE_TIMEOUT_MS} ms (${this.reason ?? 'no answer'})`)),
              SUBSCRIBE_TIMEOUT_MS,
            );
            entry.waiters.push({
              resolve: () => {
                clearTimeout(timer);
                resolve();
              },
              reject: (err) => {
                clearTimeout(timer);
                reject(err);
              },
            });
          });
    ready.catch(() => {}); // a caller that does not await it must not see an unhandled rejection
    return {
      ready,
      close: () => {
        if (closed) return;
        closed = true;
        entry.handlers.delete(handler);
        if (entry.handlers.size > 0 || this.channels.get(channel) !== entry) return;
        this.channels.delete(channel);
        for (const w of entry.waiters) w.reject(new Error(`unsubscribed from ${channel} before Redis confirmed it`));
        entry.waiters = [];
        if (this.sub.status === 'ready' && !this.closed) this.sub.sunsubscribe(channel).catch(() => {});
      },
    };
  }

  /**
   * The bus as lib/store/redis.ts's `ShardSubscriber` (string payloads), so the store's `watch`
   * shares this process's subscriber connection.
   * contract: (B↔C) RedisStoreOptions.subscriber = bus.shardSubscriber().
   */
  shardSubscriber(): {
    subscribe(channel: string, onMessage: (payload: string) => void, onResubscribed: () => void): { ready: Promise<void>; unsubscribe(): void };
  } {
    return {
      subscribe: (channel, onMessage, onResubscribed) => {
        const s = this.subscribe(channel, (m) => onMessage(m.toString('utf8')), onResubscribed);
        return { ready: s.ready, unsubscribe: () => s.close() };
      },
    };
  }

  /**
   * SPUBLISH a message; resolves with how many subscribers (on its shard) got it. Rejects at once
   * while Redis is down: nothing is buffered.
   */
  publish(channel: string, message: string | Buffer): Promise<number> {
    if (!this.isUp) return Promise.reject(new Error(`Redis is unreachable (${this.reason ?? 'connecting'}): message not published`));
    return this.cmd.spublish(channel, message) as Promise<number>;
  }

  /** `PUBSUB SHARDNUMSUB channel`: how many connections subscribe the channel. */
  async numsub(channel: string): Promise<number> {
    const r = (await this.cmd.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number | string];
    return Number(r[1]);
  }

  /** Close both connections; pending `ready` promises reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ch of this.channels.values()) for (const w of ch.waiters) w.reject(new Error('the Redis bus closed'));
    this.channels.clear();
    const quit = async (r: Redis): Promise<void> => {
      try {
        if (r.status === 'ready') await r.quit();
        else r.disconnect();
      } catch {
        r.disconnect();
      }
    };
    await Promise.all([quit(this.cmd), quit(this.sub)]);
    this.isUp = false;
  }

  private dispatch(channel: string, message: Buffer): void {
    this.received++;
    const ch = this.channels.get(channel);
    if (!ch) return; // a message racing our SUNSUBSCRIBE
    for (const h of ch.handlers.keys()) {
      try {
        h(message, channel);
      } catch (err) {
        this.report('error', `a handler of Redis channel ${channel} threw`, err);
      }
    }
  }

  /** SSUBSCRIBE these entries; each is confirmed only if it is still the wanted entry of its name (not one re-created meanwhile). */
  private sendSubscribe(channels: [string, Channel][]): Promise<void> {
    return (this.sub.ssubscribe(...channels.map(([name]) => name)) as Promise<unknown>).then(
      () => {
        for (const [name, ch] of channels) {
          if (this.channels.get(name) !== ch || ch.confirmed) continue;
          ch.confirmed = true;
          const ws = ch.waiters;
          ch.waiters = [];
          for (const w of ws) w.resolve();
        }
      },
      (err: Error) => {
        // Left unconfirmed: the next reconnect subscribes it again. A refusal (e.g. Redis < 7) is worth a line.
        this.report('error', `Redis refused SSUBSCRIBE (${channels.length} channel(s); sharded pub/sub needs Redis >= 7.0)`, err);
      },
    );
  }

  /** `sub` is (again) ready: subscribe every wanted channel, then maybe `up`. */
  private resubscribe(): void {
    for (const ch of this.channels.values()) ch.confirmed = false;
    const names = [...this.channels.entries()];
    const batches: Promise<void>[] = [];
    for (let i = 0; i < names.length; i += RESUBSCRIBE_BATCH) batches.push(this.sendSubscribe(names.slice(i, i + RESUBSCRIBE_BATCH)));
    this.resubscribed = true; // from now on new channels are sent at once (after these, on the same connection)
    void Promise.all(batches).then(() => this.maybeUp());
  }

  private maybeUp(): void {
    if (this.isUp || this.closed || !this.resubscribed || this.cmd.status !== 'ready' || this.sub.status !== 'ready') return;
    this.isUp = true;
    const now = Date.now();
    const info: BusUpInfo = { downMs: this.everUp ? now - this.downAt : 0, reconnect: this.everUp };
    this.everUp = true;
    this.since = now;
    this.reason = undefined;
    for (const w of [...this.readyWaiters]) w();
    this.emit('up', info);
    if (!info.reconnect) return;
    for (const [name, ch] of [...this.channels]) {
      for (const reset of [...ch.handlers.values()]) {
        try {
          reset?.();
        } catch (err) {
          this.report('error', `a resubscribe handler of Redis channel ${name} threw`, err);
        }
      }
    }
  }

  private goDown(reason: string): void {
    if (this.closed) return;
    if (!this.isUp) {
      this.reason = reason;
      return;
    }
    this.isUp = false;
    this.downAt = this.since = Date.now();
    this.reason = reason;
    this.emit('down', reason);
  }
}
