/**
 * Error codes and close codes of wsq/1: one table, the only place they are defined.
 * PROTOCOL.md §7 (errors) and §2.5 (close codes) list the same codes; a test checks they agree.
 */

/** Every `error.code` a wsq/1 server may send, with the sentence a person sees by default. */
export const ERROR_CODES = {
  bad_json: 'The frame is not valid JSON. Send one JSON object per text frame, e.g. {"type":"ping"}.',
  bad_frame: 'The frame does not match the protocol. Check the field names and types in PROTOCOL.md.',
  unknown_type: 'Unknown frame type. Use one of: connect, disconnect, join, leave, emit, ack, nack, ping.',
  unsupported_frame: 'Binary frames are not supported by wsq/1. Send JSON as a text frame.',
  payload_too_large: 'The frame is larger than the server accepts (see maxPayload in the welcome frame). Send smaller frames.',
  unknown_namespace: 'There is no such namespace on this server.',
  not_connected: 'This connection has not joined that namespace. Send {"type":"connect","ns":"<name>"} first.',
  not_member: 'This connection is not a member of that room. Join it first.',
  unauthorized: 'Authentication is needed for this.',
  forbidden: 'You are not allowed to do this.',
  rate_limited: 'Too many frames. Slow down.',
  queue_full: 'The room is full and its overflow policy is "reject". Retry later.',
  timeout: 'No answer came in time.',
  no_handler: 'Nothing on the server handles this event. Emit it to a room, or use an event the server handles.',
  unknown_id: 'No delivery or request with that id is waiting for an ack on this connection.',
  unavailable: 'The store refused the write (disk full or failing), so nothing was stored. Retry later; reads and live delivery go on.',
  internal: 'The server failed while handling this frame. The connection is still usable.',
} as const;

/** A stable error code of wsq/1. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes as a list, in table order (for schemas and docs). */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** WebSocket close codes the server uses. */
export const CLOSE_CODES = {
  /** The connection ended normally (client or server closed it). */
  normal: 1000,
  /** The server is shutting down. Reconnect (to another node) after a short wait. */
  going_away: 1001,
  /** The peer broke the WebSocket protocol (sent by ws itself, e.g. an unmasked client frame). Fix the client. */
  protocol_error: 1002,
  /** A text frame was not valid UTF-8 (sent by ws itself). Fix the client. */
  invalid_payload: 1007,
  /** Too many bad frames (more than `badFrameLimit` in `badFrameWindowMs`). Fix the client before reconnecting. */
  policy_violation: 1008,
  /** A frame was larger than the hard frame limit; the server did not read it. */
  message_too_big: 1009,
  /** The server hit an unexpected condition. Reconnect. */
  internal_error: 1011,
  /** The application disconnected this client (`socket.disconnect(true)`, `disconnectSockets(true)`). Do not reconnect automatically. */
  kicked: 4000,
  /** The main namespace's middleware refused this connection (bad or missing credentials). */
  unauthorized: 4001,
  /** The socket's outgoing buffer passed its cap (the client does not read fast enough). Reconnect and resume (since / durable): nothing stored is lost. */
  slow_consumer: 4002,
  /** The connection's credentials expired while it was open. Reconnect with a fresh token. */
  credentials_expired: 4003,
} as const;

export type CloseCodeName = keyof typeof CLOSE_CODES;

/** Close codes after which a client should not reconnect on its own. */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CLOSE_CODES.protocol_error,
  CLOSE_CODES.invalid_payload,
  CLOSE_CODES.policy_violation,
  CLOSE_CODES.kicked,
  CLOSE_CODES.unauthorized,
]);

/** Event names an `emit` may not use: `$`-prefixed names and the library's lifecycle names. */
export const RESERVED_EVENT_NAMES: ReadonlySet<string> = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

/** True when `name` is reserved for the server. */
export function isReservedEvent(name: string): boolean {
  return name.startsWith('$') || RESERVED_EVENT_NAMES.has(name);
}

/** The WebSocket sub-protocol token of wsq/1. */
export const SUBPROTOCOL = 'wsq.v1';
/** The protocol version number carried in `welcome.protocol`. */
export const PROTOCOL_VERSION = 1;
