/** Errors the server library raises, each with a wire code from protocol/codes.ts. */
import type { ErrorCode } from '../protocol/codes.js';

/**
 * An error with a wsq/1 code. Thrown by middleware to refuse a connection
 * (`new WsqError('forbidden', 'only admins may join /admin')`), and raised by
 * `emitWithAck` on timeout (`code: 'timeout'`).
 */
export class WsqError extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly details?: unknown) {
    super(message);
    this.name = 'WsqError';
  }
}
