/**
 * BroadcastOperator: an immutable target builder (`to`, `in`, `except`, `volatile`,
 * `local`, `timeout`) that encodes a frame once and hands it to each namespace's adapter.
 */
import { RemoteSocket } from './adapter/remote-socket.js';
import { type AckCallback, type BroadcastFlags, DEFAULT_TIMEOUT_MS, type SocketSelector } from './adapter/types.js';
import { WsqError } from './errors.js';
import type { Namespace } from './namespace.js';
import { assertEventName, reservedEventError } from './names.js';
import type { Socket } from './socket.js';
import type { DefaultEventsMap, EventNames, EventParams, EventsMap } from './typed-events.js';

/** An event frame of every argument (R6.5.4: one argument encodes as `data`, exactly as before; none as `args: []` with `data: null`, as socket.emit does). */
function encodeArgs(nsp: Namespace, event: string, args: unknown[]): string {
  return args.length === 1 ? nsp.encodeEvent(event, args[0]) : nsp.encodeEvent(event, undefined, args);
}

/** Targets and flags of a broadcast; every method returns a new operator. `STC` (the server's ServerToClient map) types `emit`. */
export class BroadcastOperator<STC extends EventsMap = DefaultEventsMap> {
  constructor(
    private readonly nsps: () => Namespace[],
    private readonly rooms: ReadonlySet<string> = new Set(),
    private readonly exceptRooms: ReadonlySet<string> = new Set(),
    private readonly flags: BroadcastFlags = {},
  ) {}

  /** Target a room (or several). A socket in several targeted rooms gets the frame once. */
  to(room: string | string[]): BroadcastOperator<STC> {
    const rooms = new Set(this.rooms);
    for (const r of Array.isArray(room) ? room : [room]) rooms.add(r);
    return new BroadcastOperator<STC>(this.nsps, rooms, this.exceptRooms, this.flags);
  }

  /** Alias of `to`. */
  in(room: string | string[]): BroadcastOperator<STC> {
    return this.to(room);
  }

  /** Skip the sockets in these rooms (a sid is a room). */
  except(room: string | string[]): BroadcastOperator<STC> {
    const except = new Set(this.exceptRooms);
    for (const r of Array.isArray(room) ? room : [room]) except.add(r);
    return new BroadcastOperator<STC>(this.nsps, this.rooms, except, this.flags);
  }

  /** The frame may be dropped for sockets whose send buffer is backed up. */
  get volatile(): BroadcastOperator<STC> {
    return new BroadcastOperator<STC>(this.nsps, this.rooms, this.exceptRooms, { ...this.flags, volatile: true });
  }

  /** This node only (all nodes by default, once an adapter spans nodes). */
  get local(): BroadcastOperator<STC> {
    return new BroadcastOperator<STC>(this.nsps, this.rooms, this.exceptRooms, { ...this.flags, local: true });
  }

  /** `compress(false)`: never compress these frames, even when permessage-deflate is on. */
  compress(flag: boolean): BroadcastOperator<STC> {
    return new BroadcastOperator<STC>(this.nsps, this.rooms, this.exceptRooms, { ...this.flags, compress: flag });
  }

  /** Set the answer timeout of `emitWithAck`. */
  timeout(ms: number): BroadcastOperator<STC> {
    return new BroadcastOperator<STC>(this.nsps, this.rooms, this.exceptRooms, { ...this.flags, timeoutMs: ms });
  }

  /**
   * Send an event to every targeted socket, live (not stored: use `nsp.publish` to append to a room's log).
   * @example
   * server.of('/chat').to('lobby').except(socket.id).emit('notice', { text: 'hi' });
   */
  emit<E extends EventNames<STC>>(event: E, ...args: EventParams<STC, E>): boolean;
  emit(event: string, ...args: unknown[]): boolean {
    assertEventName(event); // R4.5.1: reserved names never reach a client
    // As in Socket.IO: a last function argument collects every socket's answer, `cb(err, answers)` (err: the timeout).
    if (typeof args[args.length - 1] === 'function') {
      const cb = args.pop() as (err: Error | null, answers: unknown[]) => void;
      this.emitWithAck(event, ...args).then(
        (answers) => cb(null, answers),
        (err: Error & { details?: unknown }) => cb(err, Array.isArray(err.details) ? err.details : []),
      );
      return true;
    }
    for (const nsp of this.nsps()) {
      const text = encodeArgs(nsp, event, args);
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
  emitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    const reserved = reservedEventError(event); // R4.5.1
    if (reserved) return Promise.reject(reserved);
    const timeoutMs = this.flags.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const flags = { ...this.flags, timeoutMs };
    return new Promise((resolve, reject) => {
      const answers: unknown[] = [];
      // Sockets reached (summed as each namespace's adapter reports, from every node) and those settled.
      let expected = 0;
      let settled = 0;
      let counting = 0;
      let complete = true;
      let done = false;
      const finish = (): void => {
        if (done || counting > 0 || !complete || settled < expected) return;
        done = true;
        clearTimeout(timer);
        resolve(answers);
      };
      // Set before any socket's own timer (same delay): the timeout rejects before late "timeout" settles come in.
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        reject(new WsqError('timeout', `${expected - settled} of ${expected} clients did not answer within ${timeoutMs} ms`, answers));
      }, timeoutMs);
      const onAck: AckCallback = (_sid, err, answer) => {
        if (done) return;
        if (err instanceof WsqError && err.code === 'timeout') return; // not an answer: the timer above decides
        settled++;
        if (!err) answers.push(answer); // a nack or a disconnect leaves the socket out of the answers
        finish();
      };
      const nsps = this.nsps();
      counting = nsps.length;
      for (const nsp of nsps) {
        // Encoded once per namespace; each recipient only gets its own id spliced in (by its node).
        nsp.adapter.broadcastWithAck(encodeArgs(nsp, event, args), { rooms: this.rooms, except: this.exceptRooms, flags }, onAck).then(
          (count) => {
            counting--;
            expected += count.expected;
            if (!count.complete) complete = false; // a node did not report: only the timeout ends this
            finish();
          },
          (err: unknown) => {
            counting--;
            complete = false;
            nsp.report('warn', `emitWithAck "${event}" in namespace "${nsp.name}" could not reach every node`, err);
          },
        );
      }
      finish();
    });
  }

  /** The selection as the adapter takes it. */
  private selector(): SocketSelector {
    return { rooms: this.rooms, except: this.exceptRooms, flags: { local: this.flags.local, timeoutMs: this.flags.timeoutMs } };
  }

  /**
   * The targeted sockets, on every node (this one only with `local`): this node's as their
   * `Socket`, other nodes' as `RemoteSocket` snapshots whose methods act through the adapter.
   * @example
   * const sockets = await server.of('/').in('lobby').fetchSockets();
   */
  async fetchSockets(): Promise<(Socket | RemoteSocket)[]> {
    const out: (Socket | RemoteSocket)[] = [];
    for (const nsp of this.nsps()) {
      for (const info of await nsp.adapter.fetchSockets(this.selector())) {
        out.push(nsp.sockets.get(info.id) ?? new RemoteSocket(nsp, info));
      }
    }
    return out;
  }

  /** Make the targeted sockets join rooms, on every node (this node's before it returns, so `socketsJoin` then `to(room).emit` sees the join, as in Socket.IO). */
  socketsJoin(room: string | string[]): void {
    const rooms = Array.isArray(room) ? room : [room];
    for (const nsp of this.nsps()) this.forward(nsp, 'socketsJoin', nsp.adapter.addSockets(this.selector(), rooms));
  }

  /** Make the targeted sockets leave rooms (as `socket.leave`), on every node. */
  socketsLeave(room: string | string[]): void {
    const rooms = Array.isArray(room) ? room : [room];
    for (const nsp of this.nsps()) this.forward(nsp, 'socketsLeave', nsp.adapter.delSockets(this.selector(), rooms));
  }

  /** Disconnect the targeted sockets from their namespace (or close their connections with `close`), on every node. */
  disconnectSockets(close = false): void {
    for (const nsp of this.nsps()) this.forward(nsp, 'disconnectSockets', nsp.adapter.disconnectSockets(this.selector(), close));
  }

  /** The local part is done; a failure to reach the other nodes is logged (the call itself returns nothing, as in Socket.IO). */
  private forward(nsp: Namespace, what: string, p: Promise<void>): void {
    p.catch((err: unknown) => nsp.report('warn', `${what} in namespace "${nsp.name}" could not reach every node`, err));
  }
}
