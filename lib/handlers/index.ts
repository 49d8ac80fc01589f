/**
 * Frame handlers, one per client frame type (PROTOCOL.md §4), behind one table.
 * Each answers on the connection it was given and never touches another client's state
 * except through the namespace (rooms, logs, consumers).
 */
import type { ClientFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { HandlerHost } from './host.js';
import { handleAck, handleNack } from './ack.js';
import { handleConnect, handleDisconnect } from './connect.js';
import { handleEmit } from './emit.js';
import { handleJoin, handleLeave } from './join.js';

/** A frame handler. */
export type Handler<F> = (server: HandlerHost, conn: Connection, frame: F) => void | Promise<void>;

type Table = { [T in ClientFrame['type']]: Handler<Extract<ClientFrame, { type: T }>> };

const handlers: Table = {
  connect: handleConnect,
  disconnect: handleDisconnect,
  join: handleJoin,
  leave: handleLeave,
  emit: handleEmit,
  ack: handleAck,
  nack: handleNack,
  ping: (_s, conn, f) => conn.send(f.id === undefined ? { type: 'pong' } : { type: 'pong', id: f.id }),
};

/** Route a decoded frame to its handler. */
export function dispatch(server: HandlerHost, conn: Connection, frame: ClientFrame): void | Promise<void> {
  return (handlers[frame.type] as Handler<ClientFrame>)(server, conn, frame);
}
