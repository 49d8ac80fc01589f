/**
 * Where each server frame goes: `welcome` to the client, events and presence to their
 * namespace, acks and errors to the emit or request they answer, the rest to the client's
 * `error` event.
 */
import type { ServerFrame, WelcomeFrame } from '../../protocol/frames.js';
import type { Emits } from './emits.js';
import { errorFromFrame, type WsqError } from './errors.js';
import type { WsqNamespace } from './namespace.js';
import type { Requests } from './requests.js';

/** What frames are handed to. */
export interface FrameTargets {
  welcome(frame: WelcomeFrame): void;
  namespace(name: string): WsqNamespace<any, any> | undefined;
  emits: Emits;
  requests: Requests;
  /** The current connection's generation (deliveries are answered on it). */
  conn: number;
  report(error: WsqError): void;
}

/**
 * Hand one decoded server frame to whatever waits for it.
 * @example
 * const decoded = decodeServerFrame(text);
 * if (decoded.ok) route(decoded.frame, targets);
 */
export function route(frame: ServerFrame, to: FrameTargets): void {
  switch (frame.type) {
    case 'welcome':
      return to.welcome(frame);
    case 'event':
      return to.namespace(frame.ns)?.deliver(frame, to.conn);
    case 'presence':
      return to.namespace(frame.ns)?.presence(frame);
    case 'ack':
      to.emits.ack(frame); // an ack for nothing we wait for (e.g. after a timeout) is ignored
      return;
    case 'error':
      return routeError(frame, to);
    case 'connected':
    case 'joined':
    case 'left':
    case 'disconnected':
    case 'pong':
      if (to.requests.reply(frame)) return;
      // A `disconnected` that answers nothing of ours: the server ended the namespace.
      if (frame.type === 'disconnected') to.namespace(frame.ns)?.serverDisconnected();
      // R6.4.1: a `left` without our id: the application took this connection out of the room (socket.leave).
      else if (frame.type === 'left' && frame.id === undefined) to.namespace(frame.ns)?.serverLeft(frame.room);
      return;
  }
}

function routeError(frame: Extract<ServerFrame, { type: 'error' }>, to: FrameTargets): void {
  const error = errorFromFrame(frame);
  // unknown_id carries a delivery id (of a late ack or nack), not one of our request ids:
  // both are small counters, so matching it would fail an unrelated request.
  if (frame.code === 'unknown_id') return to.report(error);
  const emit = to.emits.error(frame, error);
  if (emit) {
    if (emit.report) to.report(emit.report);
    return;
  }
  if (!to.requests.error(frame.id, error)) to.report(error);
}
