/** `ack` and `nack` from a client: complete a delivery, or answer the server's emitWithAck. */
import type { AckFrame, NackFrame, RequestId } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import { WsqError } from '../errors.js';
import type { WsqServer } from '../server.js';

function unknownId(conn: Connection, id: AckFrame['id'], what: string): void {
  conn.bad('unknown_id', `No delivery or request with id ${JSON.stringify(id)} is waiting for ${what} on this connection (already acked, redelivered elsewhere after the ack timeout, or never sent).`, id);
}

/** Answer what waits for this id: a consumer's delivery (ack or nack) or the application's request. */
function settle(conn: Connection, id: RequestId, nack?: { requeue?: boolean; delayMs?: number }, data?: unknown): boolean {
  const w = conn.takeWaiter(id);
  if (!w) return false;
  if (w.kind === 'request') w.settle(nack ? new WsqError('forbidden', 'the client refused the request (nack)') : undefined, data);
  else if (nack) w.consumer.nack(w.offset, nack.requeue ?? true, nack.delayMs ?? 0);
  else w.consumer.ack(w.offset);
  return true;
}

/** PROTOCOL.md §4.6 */
export function handleAck(_s: WsqServer, conn: Connection, f: AckFrame): void {
  if (!settle(conn, f.id, undefined, f.data)) unknownId(conn, f.id, 'an ack');
}

/** PROTOCOL.md §4.7 */
export function handleNack(_s: WsqServer, conn: Connection, f: NackFrame): void {
  if (!settle(conn, f.id, { requeue: f.requeue, delayMs: f.delayMs })) unknownId(conn, f.id, 'a nack');
}
