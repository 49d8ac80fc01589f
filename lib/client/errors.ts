/**
 * Errors the client raises. Every error is a `WsqError` with a stable `code`: the
 * protocol's codes (from a server `error` frame) or the client's own codes below.
 */
import type { ErrorCode } from '../../protocol/codes.js';
import { WsqError as ProtocolWsqError } from '../../protocol/errors.js';

/** Codes the client itself raises (never sent by a server). */
export type ClientErrorCode =
  /** The outbox already holds `outboxLimit` frames while the connection is down. */
  | 'outbox_full'
  /** The connection dropped after the emit was sent and before its ack came; it had no `key`, so it was not resent. */
  | 'outcome_unknown'
  /** The client was closed (by `client.close()`, a terminal close code, or after the last reconnect attempt). */
  | 'closed'
  /** An application handler threw or its promise rejected. */
  | 'handler_failed'
  /** `join` of a room already joined here in another mode (live, durable, a group): leave it first. */
  | 'already_joined'
  /** The server refused the WebSocket upgrade with an HTTP status other than 401, 403, 429 and 503 (e.g. 404 wrong path, 400 bad `?client=`). */
  | 'upgrade_refused'
  /** The `token` callback threw, rejected, or gave no non-empty string; the attempt is retried with backoff. */
  | 'token_failed'
  /** The emit needs a feature the server did not announce in `welcome.features` (`args`: several arguments; `binary`: binary values; R1.10). */
  | 'unsupported';

/** Every code a `WsqError` may carry. */
export type WsqErrorCode = ErrorCode | ClientErrorCode;

/**
 * An error from wsq: a server `error` frame (its `code`, `message` and `details`) or a
 * client-side failure (`outbox_full`, `outcome_unknown`, `closed`, `handler_failed`).
 * @example
 * try {
 *   await client.emitWithAck('order', { sku: 'a1' }, { room: 'orders' });
 * } catch (e) {
 *   if (e instanceof WsqError && e.code === 'forbidden') console.log('not allowed:', e.message);
 * }
 */
export class WsqError extends ProtocolWsqError<WsqErrorCode> {
  // One WsqError (Deliver 3): this extends the protocol's (protocol/errors.ts), which the server library throws too.
  constructor(code: WsqErrorCode, message: string, options?: { details?: unknown; cause?: unknown }) {
    super(code, message, options?.details, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/**
 * No ack came within the time allowed. The emit may or may not have been stored:
 * resend it with the same `key` to be sure it is stored exactly once.
 * @example
 * try {
 *   await client.emitWithAck('job', data, { room: 'jobs', key: jobId, timeoutMs: 2000 });
 * } catch (e) {
 *   if (e instanceof WsqTimeoutError) retryLater(jobId); // same key: no duplicate
 * }
 */
export class WsqTimeoutError extends WsqError {
  override readonly name: string = 'WsqTimeoutError';
  /** The time that was allowed, in milliseconds. */
  readonly timeoutMs: number;
  constructor(what: string, timeoutMs: number) {
    super('timeout', `No ack for ${what} within ${timeoutMs} ms. It may or may not have been stored: resend it with the same "key" to be safe.`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The connection dropped after an `emitWithAck` without a `key` was sent and before its
 * ack came. The server may or may not have stored it; the client did not resend it
 * because that could store it twice. Give emits a `key` to have them resent safely.
 * @example
 * client.emitWithAck('x', 1, { room: 'r' }).catch((e) => {
 *   if (e instanceof WsqOutcomeUnknownError) console.log('unknown outcome, check state');
 * });
 */
export class WsqOutcomeUnknownError extends WsqError {
  override readonly name: string = 'WsqOutcomeUnknownError';
  constructor(what: string) {
    super(
      'outcome_unknown',
      `The connection dropped after ${what} was sent and before its ack came, so whether it was stored is unknown. It had no "key", so it was not resent; give emits a "key" to make resending safe.`,
    );
  }
}

/**
 * The server refused the WebSocket upgrade with an HTTP status (seen in Node only: a
 * browser's WebSocket hides it and reports close 1006). `status` is the HTTP status,
 * `message` carries the server's one-line body. The code is `unauthorized` (401),
 * `forbidden` (403), `rate_limited` (429), `unavailable` (503), else `upgrade_refused`.
 * `retryable` is true for 408, 429 and 5xx: the client backs off and tries again; after
 * any other status it stops (a `close` with `willReconnect: false` and this `error`) —
 * except a 401 when `token` is a callback, retried once the callback gives a new token.
 * @example
 * client.on('error', (e) => {
 *   if (e instanceof WsqUpgradeError && e.status === 404) console.error('wrong URL path:', e.message);
 * });
 */
export class WsqUpgradeError extends WsqError {
  override readonly name: string = 'WsqUpgradeError';
  /** The HTTP status of the refusal. */
  readonly status: number;
  /** The server's one-line body (or status text). */
  readonly sentence: string;
  /** True when retrying later can succeed (408, 429, 5xx). */
  readonly retryable: boolean;
  constructor(status: number, sentence: string) {
    super(codeOfStatus(status), `The server refused the WebSocket upgrade with HTTP ${status}${sentence ? `: ${sentence}` : ''}`);
    this.status = status;
    this.sentence = sentence;
    this.retryable = status === 408 || status === 429 || status >= 500;
  }
}

function codeOfStatus(status: number): WsqErrorCode {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 429:
      return 'rate_limited';
    case 503:
      return 'unavailable';
    default:
      return 'upgrade_refused';
  }
}

/**
 * The error of an emit that was waiting for its ack when the server closed the connection
 * with 1009 (a message too big to read): it is failed, not resent.
 */
export function tooBigForServer(what: string): WsqError {
  return new WsqError(
    'payload_too_large',
    `The server closed the connection with 1009 (a message too big to read) while ${what} was waiting for its ack; it was not resent. Send smaller messages (see maxPayload in welcome).`,
  );
}

/** The error a server `error` frame stands for. */
export function errorFromFrame(frame: { code: ErrorCode; message: string; details?: unknown }): WsqError {
  return new WsqError(frame.code, frame.message, frame.details === undefined ? undefined : { details: frame.details });
}
