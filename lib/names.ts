/**
 * The one reserved-event rule for every path of the server library (R4.5.1): library
 * broadcasts, `socket.emit`, `emitWithAck` and `publish` refuse the names clients may not
 * use either (`isReservedEvent` in protocol/codes.ts), as Socket.IO does.
 */
import { isReservedEvent } from '../protocol/codes.js';

/** The error for a reserved event name, or undefined when `event` may be sent to clients. */
export function reservedEventError(event: string): TypeError | undefined {
  if (!isReservedEvent(event)) return undefined;
  return new TypeError(
    `"${event.length > 64 ? `${event.slice(0, 64)}…` : event}" is a reserved event name (names starting with "$", and connect, connect_error, disconnect, disconnecting, newListener, removeListener); pick another name`,
  );
}

/** Throw a TypeError when `event` is reserved (R4.5.1). */
export function assertEventName(event: string): void {
  const err = reservedEventError(event);
  if (err) throw err;
}
