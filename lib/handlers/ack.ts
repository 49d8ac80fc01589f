/** `ack` and `nack` from a client: complete a delivery, or answer the server's emitWithAck. */
import { ackArgs } from '../../protocol/binary.js';
import type { AckFrame, NackFrame, RequestId } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import { WsqError } from '../errors.js';
import type { HandlerHost } from './host.js';

/**
 * An ack or nack that found nothing waiting. Per D5 the error carries no `id` (the id is the
 * server's, not a request of the client's): it says `details.delivery` instead.
 * R2.6.3, R4.6.2 (I7 #7): an id this connection did issue is a late answer (the request timed out, the
 * delivery was taken back after the ack timeout or went to another member): a correct client
 * meets this, so it is answered but not counted toward the bad-frame limit. Only an id the
 * server never sent on this connection is the client's mistake and counts.
 */
function unknownId(conn: Connection, id: AckFrame['id'], what: string): void {
  const details = { delivery: id };
  if (conn.issued(id)) {
    conn.sendError(
      'unknown_id',
      `${what}: delivery or request ${id} is no longer waiting (already answered, timed out, or taken back after the ack timeout); nothing was changed. This is not counted as a bad frame.`,
      undefined,
      details,
    );
    return;
  }
  conn.bad(
    'unknown_id',
    `${what}: this connection was never sent a delivery or request with id ${JSON.stringify(id)}. Ack only the "id" of an event you received on this connection.`,
    undefined,
    details,
  );
}

/**
 * Answer what waits for this id: the application's request (the connection's), or a consumer's
 * delivery (ack or nack). A delivery is recorded only by its consumer, so it is found through
 * the connection's subscriptions: one map lookup per consumer subscription of the connection.
 */
function settle(conn: Connection, id: RequestId, nack?: { requeue?: boolean; delayMs?: number }, frame?: AckFrame): boolean {
  const w = conn.takeWaiter(id);
  if (!w) {
    for (const socket of conn.sockets.values()) {
      for (const sub of socket.subs.values()) if (sub.member && sub.consumer?.settle(sub.member, id, nack)) return true;
    }
    return false;
  }
  // R4.6.4: the answers are `args`, else `[data]`; the first is the answer a promise resolves to.
  const answers = frame ? ackArgs(frame) : [];
  w.settle(nack ? new WsqError('forbidden', 'the client refused the request (nack)') : undefined, answers[0], answers);
  return true;
}

/** PROTOCOL.md §4.6 */
export function handleAck(_s: HandlerHost, conn: Connection, f: AckFrame): void {
  if (!settle(conn, f.id, undefined, f)) unknownId(conn, f.id, 'ack');
}

/** PROTOCOL.md §4.7 */
export function handleNack(_s: HandlerHost, conn: Connection, f: NackFrame): void {
  if (!settle(conn, f.id, { requeue: f.requeue, delayMs: f.delayMs })) unknownId(conn, f.id, 'nack');
}
