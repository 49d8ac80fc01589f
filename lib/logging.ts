/**
 * The server's log: structured lines through pino. JSON lines on stderr by default; pretty
 * (pino-pretty) when stderr is a terminal or `log.pretty` is true; the level from `log.level`.
 *
 * The `logger` option of `new WsqServer` takes either a pino logger (any object with pino's
 * level methods: `logger.info(fields, msg)`; its own level decides what is written) or a
 * function `(level, msg, err, fields) => void` (filtered by `log.level` first). Lines about a
 * connection carry `sid` and, when there is one, `client` as fields of that line (no child
 * logger per connection: that would cost an object per connection).
 *
 * Quiet under load: nothing is logged per frame or per delivery at `info`; `limited()` writes
 * at most one line per second per kind and says how many were suppressed meanwhile.
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

/** A level of a log line; `silent` (a configured level only) writes nothing. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** The levels `log.level` allows. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
/** A configured level. */
export type LogThreshold = (typeof LOG_LEVELS)[number];

/** Fields of one line: `sid` and `client` for a line about a connection, anything else that helps. */
export type LogFields = { sid?: string; client?: string; [key: string]: unknown };

/** An application's log function (the `logger` option). */
export type LogFunction = (level: LogLevel, msg: string, err?: unknown, fields?: LogFields) => void;

/** What the `logger` option takes: a log function, or a pino logger (or anything with pino's level methods). */
export type LoggerOption = LogFunction | PinoLike;

/** The part of a pino logger the server uses. */
export interface PinoLike {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  isLevelEnabled?(level: string): boolean;
}

/** True for a pino logger (or a look-alike), false for a function. */
export function isPinoLike(v: unknown): v is PinoLike {
  return typeof v === 'object' && v !== null && ['debug', 'info', 'warn', 'error'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function');
}

const RANK: Record<LogThreshold, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: Number.POSITIVE_INFINITY };

/** How often a kind of line given to `limited()` may be written. */
export const LIMIT_WINDOW_MS = 1000;
/** Kinds of limited lines remembered (a cap: kinds are a fixed set in the server, but the map is bounded anyway). */
const MAX_KINDS = 256;

/**
 * A pino logger writing to `destination` (default: stderr), pretty when asked or when stderr is a terminal.
 * @example
 * const logger = createLogger({ level: 'debug' }); // then: new WsqServer({ logger })
 */
export function createLogger(o: { level?: LogThreshold; pretty?: boolean; destination?: DestinationStream } = {}): Logger {
  const level = o.level ?? 'info';
  if (o.destination) return pino({ level, base: undefined }, o.destination);
  if (o.pretty ?? process.stderr.isTTY === true) {
    const pretty = createRequire(import.meta.url)('pino-pretty') as (opts: object) => DestinationStream;
    return pino({ level, base: undefined }, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, ignore: 'pid,hostname' }));
  }
  return pino({ level, base: undefined }, pino.destination({ dest: 2, sync: true }));
}

/** The server's log: levels, fields per line, rate-limited kinds. */
export class Log {
  private readonly threshold: number;
  private readonly kinds = new Map<string, { until: number; suppressed: number }>();

  /** `base`: fields of every line (a node on Redis: `{ node: nodeId }`, decision 6 of issue 9). */
  constructor(
    private readonly sink: LoggerOption,
    level: LogThreshold,
    private readonly now: () => number = Date.now,
    private readonly base?: LogFields,
  ) {
    this.threshold = RANK[level];
  }

  /** True when a line of this level would be written (check before building an expensive message). */
  enabled(level: LogLevel): boolean {
    if (RANK[level] < this.threshold) return false;
    const s = this.sink;
    return typeof s === 'function' || !s.isLevelEnabled || s.isLevelEnabled(level);
  }

  /** Write one line. */
  write(level: LogLevel, msg: string, fields?: LogFields, err?: unknown): void {
    if (!this.enabled(level)) return;
    const s = this.sink;
    if (this.base) fields = { ...this.base, ...fields };
    if (typeof s === 'function') return s(level, msg, err, fields);
    s[level](err === undefined ? (fields ?? {}) : { ...fields, err }, msg);
  }

  /**
   * Write a line of a kind at most once per LIMIT_WINDOW_MS; the next line written says how
   * many of that kind were suppressed meanwhile (`suppressed`).
   */
  limited(kind: string, level: LogLevel, msg: string, fields?: LogFields, err?: unknown): void {
    if (!this.enabled(level)) return;
    const now = this.now();
    let k = this.kinds.get(kind);
    if (k && now < k.until) {
      k.suppressed++;
      return;
    }
    const suppressed = k?.suppressed ?? 0;
    if (!k) {
      if (this.kinds.size >= MAX_KINDS) this.kinds.delete(this.kinds.keys().next().value!);
      this.kinds.set(kind, (k = { until: 0, suppressed: 0 }));
    }
    k.until = now + LIMIT_WINDOW_MS;
    k.suppressed = 0;
    this.write(level, msg, suppressed ? { ...fields, suppressed } : fields, err);
  }
}

/** The fields of a line about a connection: its sid and, when it has one, its client identity. */
export function connFields(c: { sid: string; client?: string | undefined }, more?: LogFields): LogFields {
  return c.client === undefined ? { sid: c.sid, ...more } : { sid: c.sid, client: c.client, ...more };
}
