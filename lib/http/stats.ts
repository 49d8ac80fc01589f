/**
 * WireStats: the plain integer counters the hot paths bump (one increment per frame at the
 * connection, one addition per broadcast), read by prom-client only when `/metrics` is scraped
 * (lib/http/metrics.ts). No prom-client call and no allocation on the paths that count.
 */
import { ERROR_CODE_LIST } from '../../protocol/codes.js';

/** Client frame types of wsq/1, and `invalid` for a frame that did not decode. */
export const FRAMES_IN = ['connect', 'disconnect', 'join', 'leave', 'emit', 'ack', 'nack', 'ping', 'invalid'] as const;
/** Server frame types of wsq/1. */
export const FRAMES_OUT = ['welcome', 'connected', 'disconnected', 'joined', 'left', 'event', 'ack', 'error', 'presence', 'pong'] as const;

export type FrameInType = (typeof FRAMES_IN)[number];
export type FrameOutType = (typeof FRAMES_OUT)[number];

function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

/** Counters of one server (one per WsqServer, so two servers in one process do not add up). */
export class WireStats {
  /** Frames received by type (after decoding; `invalid`: did not decode). */
  readonly framesIn: Record<FrameInType, number> = zeros(FRAMES_IN);
  /** Frames sent by type (a broadcast adds its number of recipients once). */
  readonly framesOut: Record<FrameOutType, number> = zeros(FRAMES_OUT);
  /** `error` frames sent, by code (the fixed set of wsq/1 codes). */
  readonly errors: Record<string, number> = zeros(ERROR_CODE_LIST);
  /** Bytes of frames received (WebSocket payloads). */
  bytesIn = 0;
  /** Bytes of frames sent (payloads; text counted in UTF-16 units, exact for ASCII). */
  bytesOut = 0;
  /** Stored messages sent again from the log on a join with `since` (replay). */
  replayed = 0;
  /** Consumer deliveries with attempt > 1. */
  redeliveries = 0;
  /** Messages moved to `$dead:<room>` after maxDeliver attempts (or a nack without requeue). */
  deadLettered = 0;
  /** Volatile frames not sent to a backed-up socket. */
  volatileDropped = 0;
  /** Connections closed with 4002 slow_consumer. */
  slowConsumerCloses = 0;
  /** Told each store append's commit time in seconds (the metrics histogram; a no-op without metrics). */
  commitObserved: (seconds: number) => void = () => {};

  /** Count one broadcast: `n` recipients (the adapter's count) of a frame of `bytes`, less the volatile drops since `droppedBefore`. */
  fanout(n: number, bytes: number, droppedBefore = this.volatileDropped): void {
    const sent = n - (this.volatileDropped - droppedBefore);
    this.framesOut.event += sent;
    this.bytesOut += sent * bytes;
  }
}
