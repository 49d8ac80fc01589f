/**
 * RemoteSocket: what `fetchSockets()` returns for a socket on another node (as Socket.IO's
 * `RemoteSocket`): a snapshot of its id, rooms, data and handshake, and methods that act on
 * it through the adapter, wherever it is. (Sockets of this node come back as the `Socket` itself.)
 */
import { assertEventName } from '../names.js';
import type { Adapter, EncodedFrame, SocketInfo, SocketSelector } from './types.js';

/** What a remote socket needs from its namespace (kept small: no import of the Namespace class). */
export interface RemoteSocketHost {
  readonly name: string;
  readonly adapter: Adapter;
  /** Encode a live event frame of this namespace. */
  encodeEvent(event: string, data: unknown): EncodedFrame;
  /** Log a line (an operation that failed on the way to the other node). */
  report(level: 'warn' | 'error', msg: string, err?: unknown): void;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * A socket on another node, as `fetchSockets` saw it. `rooms`, `data` and `handshake` are a
 * snapshot taken when it answered; `emit`, `join`, `leave` and `disconnect` go to its node
 * through the adapter (fire and forget: a socket gone meanwhile is simply not found).
 * @example
 * for (const s of await server.of('/').in('lobby').fetchSockets()) s.emit('notice', { text: 'hi' });
 */
export class RemoteSocket {
  /** The sid. */
  readonly id: string;
  /** Its rooms when it was fetched (its own sid included). */
  readonly rooms: ReadonlySet<string>;
  /** Its `socket.data` when it was fetched. */
  readonly data: unknown;
  /** Its handshake (without the credential). */
  readonly handshake: Record<string, unknown>;

  constructor(
    private readonly host: RemoteSocketHost,
    info: SocketInfo,
  ) {
    this.id = info.id;
    this.rooms = new Set(info.rooms);
    this.data = info.data;
    this.handshake = info.handshake;
  }

  /** Just this socket, wherever it is. */
  private get target(): SocketSelector {
    return { rooms: new Set([this.id]), except: NONE };
  }

  /** Send it an event (live, not stored). A reserved name (R4.5.1) throws a TypeError, as `socket.emit` does. */
  emit(event: string, data?: unknown): boolean {
    assertEventName(event);
    this.host.adapter.broadcast(this.host.encodeEvent(event, data), { rooms: new Set([this.id]), except: NONE, flags: {} });
    return true;
  }

  /** Make it join rooms. */
  join(room: string | string[]): void {
    this.forward('join', this.host.adapter.addSockets(this.target, Array.isArray(room) ? room : [room]));
  }

  /** Make it leave a room (as `socket.leave`: a client subscription to it ends, with `left`). */
  leave(room: string): void {
    this.forward('leave', this.host.adapter.delSockets(this.target, [room]));
  }

  /** Make it leave its namespace (`close`: close its whole connection with 4000). */
  disconnect(close = false): this {
    this.forward('disconnect', this.host.adapter.disconnectSockets(this.target, close));
    return this;
  }

  private forward(what: string, p: Promise<void>): void {
    p.catch((err) => this.host.report('warn', `${what} of remote socket ${this.id} in namespace "${this.host.name}" failed`, err));
  }
}
