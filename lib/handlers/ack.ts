/** `ack` and `nack` from a client: complete a delivery, or answer the server's emitWithAck. */
import type { AckFrame, NackFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import { Namespace } from '../namespace.js';
import type { WsqServer } from '../server.js';

function unknownId(conn: Connection, id: AckFrame['id'], what: string): void {
  conn.bad('unknown_id', `No delivery or request with id ${JSON.stringify(id)} is waiting for ${what} on this connection (already acked, redelivered elsewhere after the ack timeout, or never sent).`, id);
}

/** PROTOCOL.md §4.6 */
export function handleAck(_s: WsqServer, conn: Connection, f: AckFrame): void {
  if (!Namespace.settle(conn, f.id, undefined, f.data)) unknownId(conn, f.id, 'an ack');
}

/** PROTOCOL.md §4.7 */
export function handleNack(_s: WsqServer, conn: Connection, f: NackFrame): void {
  if (!Namespace.settle(conn, f.id, { requeue: f.requeue, delayMs: f.delayMs })) unknownId(conn, f.id, 'a nack');
}
