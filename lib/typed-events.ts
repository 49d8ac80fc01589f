/**
 * Typed event maps for the server library, as Socket.IO's: `WsqServer<ClientToServer,
 * ServerToClient, InterServer, SocketData>` types `socket.on` listeners, `emit` arguments
 * (socket, namespace and broadcasts), `serverSideEmit` and `socket.data`. Without type
 * arguments every event takes any arguments (DefaultEventsMap), as before.
 * @example
 * interface ClientToServer { 'chat message': (text: string) => void }
 * interface ServerToClient { 'chat message': (text: string, from: string) => void }
 * interface SocketData { name: string }
 * const io = new WsqServer<ClientToServer, ServerToClient, DefaultEventsMap, SocketData>();
 * io.on('connection', (socket) => socket.on('chat message', (text) => io.emit('chat message', text, socket.data.name)));
 */

/** A map of event names to listener signatures. */
// biome-ignore lint/suspicious/noExplicitAny: the listeners' own signatures are checked by EventParams
export type EventsMap = Record<string, any>;

/** Every event name, any arguments: the map used when no type argument is given. */
export interface DefaultEventsMap {
  // biome-ignore lint/suspicious/noExplicitAny: untyped events take anything, as in Socket.IO
  [event: string]: (...args: any[]) => void;
}

/** The event names of a map. */
export type EventNames<M extends EventsMap> = keyof M & string;

/** The arguments an event's listener takes (what `emit` must pass after the name). */
// biome-ignore lint/suspicious/noExplicitAny: infers from any function type
export type EventParams<M extends EventsMap, E extends EventNames<M>> = M[E] extends (...args: infer P) => any ? P : never;
