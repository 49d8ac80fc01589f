/** `emit`: to a room (stored, or volatile, or a direct message to a sid) or to the server's handlers. */
import { carriesBinary, frameArgs, JsonValue, StoredArgs } from '../../protocol/binary.js';
import { encodeArgsFrame, encodeFrame } from '../../protocol/codec.js';
import type { EmitFrame, EventFrame, ServerAckFrame as AckFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import { connFields } from '../logging.js';
import { QueueFullError, StoreUnavailableError } from '../store/types.js';
import type { HandlerHost } from './host.js';

const NONE: ReadonlySet<string> = new Set();

/** PROTOCOL.md §4.5 */
export async function handleEmit(server: HandlerHost, conn: Connection, f: EmitFrame): Promise<void> {
  const socket = server.socketOf(conn, f.ns, f.id);
  if (!socket) return;
  // R4.5.2, R5.7.5: volatile/echo/key without room and key with volatile were refused by the codec.
  if (f.room === undefined) return socket.handleEmit(f);
  const denied = server.guard.emit(conn, socket, f.room); // R2.2.12, R2.2.15: permission `emit`, names and publish rate per room
  if (denied) return conn.sendError(denied.code, denied.message, f.id, denied.details);
  const nsp = socket.nsp;
  socket.notifyAny(f as EmitFrame & { room: string }); // f.room is set (checked above)
  const direct = server.isDirectRoom(nsp, f.room);
  if (f.volatile || direct) {
    if (f.key !== undefined) return conn.bad('bad_frame', 'emit: "key" makes sense only for stored emits; a direct message to a sid is never stored, so drop "key".', f.id);
    const frame: EventFrame = { type: 'event', ns: nsp.name, event: f.event, data: f.data ?? null, room: f.room, from: socket.id, ts: server.now() };
    // R4.5.10, R4.9: several arguments or binary values are relayed as they came (`args`, a binary message); JSON as before.
    const plain = f.args === undefined && !carriesBinary(f);
    const text = plain ? encodeFrame(frame) : encodeArgsFrame({ type: 'event', ns: nsp.name, event: f.event }, frameArgs(f), { room: f.room, from: socket.id, ts: frame.ts });
    // R4.5.3: a volatile emit reaches the room's live members; its echo reaches the sender only when the
    // sender is one of them (the adapter's membership decides: never a non-member, durable or group member).
    const dropped = server.stats.volatileDropped;
    server.stats.fanout(
      nsp.adapter.broadcast(text, { rooms: new Set([f.room]), except: f.echo ? NONE : new Set([socket.id]), flags: { volatile: f.volatile } }),
      text.length,
      dropped,
    );
    // R4.5.2: a direct message's echo: the sender is not in the recipient's sid room, so send it its copy here.
    if (f.echo && direct && f.room !== socket.id) conn.sendText(text);
    if (f.id !== undefined) conn.send({ type: 'ack', id: f.id });
    return;
  }
  try {
    // R5.8.6: several arguments or bytes are stored as one envelope; a text frame's one value as it is (known JSON: not walked for bytes).
    const data = f.args !== undefined ? new StoredArgs(f.args) : carriesBinary(f) ? f.data : new JsonValue(f.data ?? null);
    const r = await nsp.publish(f.room, f.event, data, { from: socket.id, echo: f.echo, key: f.key });
    if (f.id !== undefined) {
      const ack: AckFrame = { type: 'ack', id: f.id, offset: r.offset, epoch: r.epoch };
      if (r.duplicate) ack.duplicate = true;
      conn.send(ack);
    }
  } catch (err) {
    if (err instanceof QueueFullError) return conn.sendError('queue_full', err.message, f.id);
    if (err instanceof StoreUnavailableError) {
      server.storageFault(err, connFields(conn, { room: f.room })); // logged once per fault episode
      return conn.sendError('unavailable', err.message, f.id); // R5.8.4: the store refused the write
    }
    throw err;
  }
}
