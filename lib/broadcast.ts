/**
 * BroadcastOperator: an immutable target builder (`to`, `in`, `except`, `volatile`,
 * `local`, `timeout`) that encodes a frame once and hands it to each namespace's adapter.
 */
import type { RequestId } from '../protocol/frames.js';
import type { BroadcastFlags } from './adapter/types.js';
import { WsqError } from './errors.js';
import type { Namespace } from './namespace.js';
import { assertEventName, reservedEventError } from './names.js';
import type { Socket } from './socket.js';

/** Targets and flags of a broadcast; every method returns a new operator. */
export class BroadcastOperator {
  constructor(
    private readonly nsps: () => Namespace[],
    private readonly rooms: ReadonlySet<string> = new Set(),
    private readonly exceptRooms: ReadonlySet<string> = new Set(),
    private readonly flags: BroadcastFlags & { timeoutMs?: number } = {},
  ) {}

  /** Target a room (or several). A socket in several targeted rooms gets the frame once. */
  to(room: string | string[]): BroadcastOperator {
    const rooms = new Set(this.rooms);
    for (const r of Array.isArray(room) ? room : [room]) rooms.add(r);
    return new BroadcastOperator(this.nsps, rooms, this.exceptRooms, this.flags);
  }

  /** Alias of `to`. */
  in(room: string | string[]): BroadcastOperator {
    return this.to(room);
  }

  /** Skip the sockets in these rooms (a sid is a room). */
  except(room: string | string[]): BroadcastOperator {
    const except = new Set(this.exceptRooms);
    for (const r of Array.isArray(room) ? room : [room]) except.add(r);
    return new BroadcastOperator(this.nsps, this.rooms, except, this.flags);
  }

  /** The frame may be dropped for sockets whose send buffer is backed up. */
  get volatile(): BroadcastOperator {
    return new BroadcastOperator(this.nsps, this.rooms, this.exceptRooms, { ...this.flags, volatile: true });
  }

  /** This node only (all nodes by default, once an adapter spans nodes). */
  get local(): BroadcastOperator {
    return new BroadcastOperator(this.nsps, this.rooms, this.exceptRooms, { ...this.flags, local: true });
  }

  /** `compress(false)`: never compress these frames, even when permessage-deflate is on. */
  compress(flag: boolean): BroadcastOperator {
    return new BroadcastOperator(this.nsps, this.rooms, this.exceptRooms, { ...this.flags, compress: flag });
  }

  /** Set the answer timeout of `emitWithAck`. */
  timeout(ms: number): BroadcastOperator {
    return new BroadcastOperator(this.nsps, this.rooms, this.exceptRooms, { ...this.flags, timeoutMs: ms });
  }

  /**
   * Send an event to every targeted socket, live (not stored: use `nsp.publish` to append to a room's log).
   * @example
   * server.of('/chat').to('lobby').except(socket.id).emit('notice', { text: 'hi' });
   */
  emit(event: string, data?: unknown): boolean {
    assertEventName(event); // R4.5.1: reserved names never reach a client
    for (const nsp of this.nsps()) {
      const text = nsp.encodeEvent(event, data);
      const dropped = nsp.stats.volatileDropped;
      nsp.recovery?.capture(nsp.name, text, this.rooms, this.exceptRooms, this.flags.volatile); // R2.7.4: sessions away in these rooms
      nsp.stats.fanout(nsp.adapter.broadcast(text, { rooms: this.rooms, except: this.exceptRooms, flags: this.flags }), text.length, dropped);
    }
    return true;
  }

  /**
   * Send an event that every targeted socket must ack; resolves with every answer once all
   * answered, rejects with a `timeout` WsqError (carrying the answers so far in `details`) when
   * the timeout (default 5 s) passes first.
   * @example
   * const answers = await server.of('/').timeout(1000).to('voters').emitWithAck('vote?', {});
   */
  emitWithAck(event: string, data?: unknown): Promise<unknown[]> {
    const reserved = reservedEventError(event); // R4.5.1
    if (reserved) return Promise.reject(reserved);
    const timeoutMs = this.flags.timeoutMs ?? 5000;
    // Encoded once per namespace; each recipient only gets its own id spliced in.
    const targets: [Socket, string][] = [];
    for (const nsp of this.nsps()) {
      const base = nsp.encodeEvent(event, data);
      for (const sid of nsp.adapter.sockets({ rooms: this.rooms, except: this.exceptRooms })) {
        const s = nsp.sockets.get(sid);
        if (s) targets.push([s, base]);
      }
    }
    return new Promise((resolve, reject) => {
      const answers: unknown[] = [];
      if (targets.length === 0) return resolve(answers);
      let left = targets.length;
      const pending = new Map<Socket, RequestId>();
      const timer = setTimeout(() => {
        for (const [s, id] of pending) s.conn.untrack(id); // a late ack is then unknown_id, and nothing leaks
        reject(new WsqError('timeout', `${left} of ${targets.length} clients did not answer within ${timeoutMs} ms`, answers));
      }, timeoutMs);
      for (const [s, base] of targets) {
        const id = s.request(base, (err, answer) => {
          pending.delete(s);
          if (!err) answers.push(answer);
          if (--left === 0) {
            clearTimeout(timer);
            resolve(answers);
          }
        });
        pending.set(s, id);
      }
    });
  }

  /** The sockets targeted, on this node. */
  async fetchSockets(): Promise<Socket[]> {
    return this.localSockets();
  }

  /** The sockets targeted on this node, synchronously (so `socketsJoin` then `to(room).emit` sees the join, as in Socket.IO). */
  private localSockets(): Socket[] {
    const out: Socket[] = [];
    for (const nsp of this.nsps()) {
      for (const sid of nsp.adapter.sockets({ rooms: this.rooms, except: this.exceptRooms })) {
        const s = nsp.sockets.get(sid);
        if (s) out.push(s);
      }
    }
    return out;
  }

  /** Make the targeted sockets join rooms (live membership). */
  socketsJoin(room: string | string[]): void {
    for (const s of this.localSockets()) s.join(room);
  }

  /** Make the targeted sockets leave rooms. */
  socketsLeave(room: string | string[]): void {
    for (const s of this.localSockets()) for (const r of Array.isArray(room) ? room : [room]) s.leave(r);
  }

  /** Disconnect the targeted sockets from their namespace (or close their connections with `close`). */
  disconnectSockets(close = false): void {
    for (const s of this.localSockets()) s.disconnect(close);
  }
}
