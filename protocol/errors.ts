/**
 * The one `WsqError` of wsq: an error carrying a stable wsq/1 code (protocol/codes.ts) and a
 * sentence a person can act on. The server library throws and raises it (lib/errors.ts
 * re-exports this class); the client SDK's `WsqError` extends it with the client's own codes,
 * so `instanceof WsqError` from `wsq/protocol` holds for both.
 */
import type { ErrorCode } from './codes.js';

/**
 * An error with a wsq/1 code. Thrown by middleware to refuse a connection
 * (`new WsqError('forbidden', 'only admins may join /admin')`), raised by `emitWithAck` on
 * timeout (`code: 'timeout'`), and, in the client, made from a server `error` frame.
 * @example
 * import { WsqError } from 'wsq/protocol';
 * server.of('/admin').use((socket, next) => next(new WsqError('forbidden', 'admins only', { rule: 'admin' })));
 */
export class WsqError<C extends string = ErrorCode> extends Error {
  override readonly name: string = 'WsqError';
  /** The stable code (PROTOCOL.md §7). */
  readonly code: C;
  /** Extra detail (e.g. the issues of a bad frame, the rule that refused), when there is any. */
  declare readonly details?: unknown;
  constructor(code: C, message: string, details?: unknown, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}
