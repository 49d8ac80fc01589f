/** `connect` and `disconnect`: enter and leave namespaces. */
import type { ConnectedFrame, ConnectFrame, DisconnectFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import { WsqError } from '../errors.js';
import type { HandlerHost } from './host.js';
import type { Socket } from '../socket.js';

/** Connects still running (namespace resolution, middleware), per connection and namespace. */
const inFlight = new WeakMap<Connection, Map<string, Promise<void>>>();

/** PROTOCOL.md §4.1 */
export async function handleConnect(server: HandlerHost, conn: Connection, f: ConnectFrame): Promise<void> {
  const reply: ConnectedFrame = f.id === undefined ? { type: 'connected', ns: f.ns } : { type: 'connected', ns: f.ns, id: f.id };
  let running = inFlight.get(conn);
  if (!running) inFlight.set(conn, (running = new Map()));
  // A second connect while the first is still in its middleware waits for it (one socket, one `connection` event).
  for (let p = running.get(f.ns); p; p = running.get(f.ns)) await p;
  if (conn.sockets.has(f.ns)) return conn.send(reply);
  let done!: () => void;
  running.set(f.ns, new Promise<void>((r) => (done = r)));
  try {
    await connectOnce(server, conn, f, reply);
  } finally {
    running.delete(f.ns);
    done();
  }
}

async function connectOnce(server: HandlerHost, conn: Connection, f: ConnectFrame, reply: ConnectedFrame): Promise<void> {
  const others = (inFlight.get(conn)?.size ?? 1) - 1; // connects of other namespaces still in their middleware count too
  const denied = server.guard.connect(conn, f.ns, others); // R2.2.12, R2.2.15: permission `connect`, namespaces per connection
  if (denied) return conn.sendError(denied.code, denied.message, f.id, denied.details);
  const nsp = await server.resolveNamespace(f.ns, f.auth ?? {});
  if (!nsp) {
    return conn.sendError('unknown_namespace', `There is no namespace "${f.ns}" on this server. Connect to one the server serves (every connection starts in "/").`, f.id);
  }
  let socket: Socket;
  // R2.7.5: on a recovered connection, the namespace's saved state (data and rooms) comes back with its connect.
  const restore = conn.restored?.namespaces.get(f.ns);
  try {
    socket = await nsp.add(conn, f.auth ?? {}, restore);
  } catch (err) {
    if (restore && conn.restored) server.recovery?.release(conn.restored, f.ns);
    const code = err instanceof WsqError && err.code === 'forbidden' ? 'forbidden' : 'unauthorized';
    const why = err instanceof Error && err.message ? err.message : 'the namespace refused the connection';
    return conn.sendError(code, `Namespace "${f.ns}" refused the connection: ${why}.`, f.id, err instanceof WsqError ? err.details : undefined);
  }
  if (!restore || !conn.restored || !server.recovery) {
    conn.send(reply);
    return nsp.announce(socket);
  }
  conn.send({ ...reply, recovered: true });
  const claimed = conn.restored;
  server.recovery.resume(
    claimed,
    f.ns,
    (t) => conn.sendText(t),
    (rooms) => nsp.adapter.addAll(socket.id, rooms),
  );
  nsp.announce(socket);
}

/** The connect of `ns` still running on this connection, if any (frames for that namespace wait for it). */
export function connecting(conn: Connection, ns: string): Promise<void> | undefined {
  return inFlight.get(conn)?.get(ns);
}

/** PROTOCOL.md §4.2 */
export function handleDisconnect(_server: HandlerHost, conn: Connection, f: DisconnectFrame): void {
  const socket = conn.sockets.get(f.ns);
  if (!socket) return conn.bad('not_connected', `This connection is not in namespace "${f.ns}", so there is nothing to disconnect.`, f.id);
  socket.nsp.remove(socket, 'client namespace disconnect');
  conn.send(f.id === undefined ? { type: 'disconnected', ns: f.ns } : { type: 'disconnected', ns: f.ns, id: f.id });
}
