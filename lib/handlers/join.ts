/** `join` and `leave`: room subscriptions (live with replay, durable, group). */
import { DEAD_ROOM_PREFIX, isReservedRoom, type JoinFrame, type LeaveFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { HandlerHost } from './host.js';

/** PROTOCOL.md §4.3. The frame's shape rules (R4.3.5, R4.3.7: durable with group, epoch) were checked by the codec. */
export async function handleJoin(server: HandlerHost, conn: Connection, f: JoinFrame): Promise<void> {
  const socket = server.socketOf(conn, f.ns, f.id);
  if (!socket) return;
  if (f.durable && !conn.client) {
    return conn.sendError('unauthorized', 'join: a durable subscription needs a client identity. Reconnect with ?client=<your-id> in the URL.', f.id);
  }
  // R4.3.11, R5.5.5 (D4): the only `$` rooms a client may join are dead-letter rooms `$dead:R` of ordinary rooms R.
  const deadOf = f.room.startsWith(DEAD_ROOM_PREFIX) ? f.room.slice(DEAD_ROOM_PREFIX.length) : undefined;
  if (isReservedRoom(f.room) && (deadOf === undefined || isReservedRoom(deadOf))) {
    return conn.sendError(
      'forbidden',
      `join: "${f.room}" is in the server's reserved space (rooms starting with "$"); the only ones a client may join are dead-letter rooms "${DEAD_ROOM_PREFIX}<room>".`,
      f.id,
    );
  }
  // R5.1.9: only X may join `@X`, and so its dead letters `$dead:@X` too.
  const personal = deadOf ?? f.room;
  if (personal.startsWith('@') && personal.slice(1) !== conn.client) {
    return conn.sendError(
      'forbidden',
      `join: "${f.room}" holds the ${deadOf === undefined ? 'personal room' : 'dead letters of the personal room'} of client "${personal.slice(1)}"; only a connection with ?client=${personal.slice(1)} may join it (anyone may emit to "${personal}").`,
      f.id,
    );
  }
  if (server.isDirectRoom(socket.nsp, f.room)) {
    return conn.sendError('forbidden', `join: "${f.room}" is a connection's own room (its sid); only that connection is in it.`, f.id);
  }
  const denied = server.guard.join(conn, socket, f); // R2.2.12, R2.2.15: join/history/durable/group/dead permissions, room and prefetch limits
  if (denied) return conn.sendError(denied.code, denied.message, f.id, denied.details);
  await socket.nsp.subscribe(socket, f);
}

/** PROTOCOL.md §4.4 */
export function handleLeave(server: HandlerHost, conn: Connection, f: LeaveFrame): void {
  const socket = server.socketOf(conn, f.ns, f.id);
  if (!socket) return;
  const member = socket.subs.has(f.room) || (f.room !== socket.id && socket.rooms.has(f.room));
  if (!member) {
    return conn.bad('not_member', `leave: this connection is not in room "${f.room}" of namespace "${socket.nsp.name}". Join it first, or check the name.`, f.id);
  }
  socket.drop(f.room);
  conn.send(f.id === undefined ? { type: 'left', ns: socket.nsp.name, room: f.room } : { type: 'left', ns: socket.nsp.name, room: f.room, id: f.id });
}
