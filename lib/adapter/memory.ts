/** The in-memory adapter: room membership and fan-out for sockets on this node. */
import { EventEmitter } from 'node:events';
import { wireBuffer } from '../wire.js';
import {
  type AckCallback,
  type AckCount,
  type Adapter,
  type AdapterNamespace,
  type AdapterSocket,
  type BroadcastOptions,
  DEFAULT_TIMEOUT_MS,
  type EncodedFrame,
  type SocketInfo,
  type SocketSelector,
} from './types.js';

/**
 * What `fetchSockets` reports of a local socket: plain JSON-able fields, the handshake without
 * its credential (`token`). Cluster adapters use it for the answers they send to other nodes.
 */
export function socketInfo(s: AdapterSocket, rooms: Iterable<string> | undefined): SocketInfo {
  const { token: _token, ...handshake } = s.handshake as Record<string, unknown>;
  return { id: s.id, rooms: rooms ? [...rooms] : [], data: s.data, handshake };
}

/**
 * Rooms as `Map<room, Set<sid>>` and the reverse `Map<sid, Set<room>>`, as in Socket.IO.
 * A broadcast converts the frame to bytes once and writes the same buffer to every recipient.
 * One node: the cluster-wide operations act on local sockets only, `serverCount` is 1 and
 * `serverSideEmit` reaches nobody (there is no other node). Maps hold one entry per local
 * socket and per non-empty room: bounded by the connection limits, nothing else is kept.
 * @example
 * const server = new WsqServer({ adapter: (nsp) => new MemoryAdapter(nsp) });
 */
export class MemoryAdapter extends EventEmitter implements Adapter {
  readonly rooms = new Map<string, Set<string>>();
  readonly sids = new Map<string, Set<string>>();

  constructor(readonly nsp: AdapterNamespace) {
    super();
  }

  addAll(sid: string, rooms: Iterable<string>): void {
    let mine = this.sids.get(sid);
    if (!mine) this.sids.set(sid, (mine = new Set()));
    for (const room of rooms) {
      if (mine.has(room)) continue;
      mine.add(room);
      let members = this.rooms.get(room);
      if (!members) {
        this.rooms.set(room, (members = new Set()));
        this.emit('create-room', room);
      }
      members.add(sid);
      this.emit('join-room', room, sid);
    }
  }

  del(sid: string, room: string): void {
    this.sids.get(sid)?.delete(room);
    this.removeMember(room, sid);
  }

  delAll(sid: string): void {
    const mine = this.sids.get(sid);
    if (!mine) return;
    for (const room of mine) this.removeMember(room, sid);
    this.sids.delete(sid);
  }

  /** Take a sid out of a room's member set; the room goes when its last member does. */
  private removeMember(room: string, sid: string): void {
    const members = this.rooms.get(room);
    if (!members?.delete(sid)) return;
    this.emit('leave-room', room, sid);
    if (members.size === 0) {
      this.rooms.delete(room);
      this.emit('delete-room', room);
    }
  }

  socketRooms(sid: string): ReadonlySet<string> | undefined {
    return this.sids.get(sid);
  }

  roomMembers(room: string): ReadonlySet<string> | undefined {
    return this.rooms.get(room);
  }

  sockets(opts: Pick<BroadcastOptions, 'rooms' | 'except'>): Set<string> {
    const out = new Set<string>();
    const except = this.exceptSids(opts.except);
    const source = opts.rooms.size === 0 ? [this.nsp.sockets.keys()] : [...opts.rooms].map((r) => this.rooms.get(r) ?? []);
    for (const sids of source) for (const sid of sids) if (!except?.has(sid)) out.add(sid);
    return out;
  }

  broadcast(frame: string, opts: BroadcastOptions): number {
    const volatile = opts.flags.volatile === true;
    const compress = opts.flags.compress !== false;
    const sockets = this.nsp.sockets;
    // Hot path: one room, at most one excluded sid (a room emit without echo).
    if (opts.rooms.size === 1 && opts.except.size <= 1) {
      const [room] = opts.rooms;
      const members = this.rooms.get(room!);
      if (!members) return 0; // nobody live (e.g. only consumers): no bytes to build
      const buf = wireBuffer(frame); // the bytes are built once, for every recipient (a binary message's too: lib/wire.ts)
      const [skip] = opts.except;
      const skipSids = skip !== undefined && !this.isSid(skip) ? this.rooms.get(skip) : undefined;
      let n = 0;
      for (const sid of members) {
        if (sid === skip || skipSids?.has(sid)) continue;
        sockets.get(sid)?.sendEncoded(buf, volatile, compress);
        n++;
      }
      return n;
    }
    let n = 0;
    const buf = wireBuffer(frame);
    for (const sid of this.sockets(opts)) {
      sockets.get(sid)?.sendEncoded(buf, volatile, compress);
      n++;
    }
    return n;
  }

  broadcastWithAck(frame: EncodedFrame, opts: BroadcastOptions, onAck: AckCallback): Promise<AckCount> {
    const timeoutMs = opts.flags.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let expected = 0;
    for (const sid of this.sockets(opts)) {
      const s = this.nsp.sockets.get(sid);
      if (!s) continue;
      expected++;
      s.ask(frame, timeoutMs, (err, answer) => onAck(sid, err, answer));
    }
    return Promise.resolve({ expected, complete: true });
  }

  fetchSockets(opts: SocketSelector): Promise<SocketInfo[]> {
    return Promise.resolve(this.localSockets(opts).map((s) => socketInfo(s, this.sids.get(s.id))));
  }

  addSockets(opts: SocketSelector, rooms: string[]): Promise<void> {
    for (const s of this.localSockets(opts)) s.join(rooms);
    return Promise.resolve();
  }

  delSockets(opts: SocketSelector, rooms: string[]): Promise<void> {
    for (const s of this.localSockets(opts)) for (const room of rooms) s.leave(room);
    return Promise.resolve();
  }

  disconnectSockets(opts: SocketSelector, close: boolean): Promise<void> {
    for (const s of this.localSockets(opts)) s.disconnect(close);
    return Promise.resolve();
  }

  serverSideEmit(_event: string, _args: unknown[]): Promise<void> {
    return Promise.resolve(); // no other node
  }

  serverSideEmitWithAck(_event: string, _args: unknown[], _timeoutMs?: number): Promise<unknown[]> {
    return Promise.resolve([]); // no other node, so no answer to wait for
  }

  serverCount(): Promise<number> {
    return Promise.resolve(1);
  }

  /** The local sockets the selector picks, taken before any is changed (a leave or disconnect does not disturb the walk). */
  private localSockets(opts: SocketSelector): AdapterSocket[] {
    const out: AdapterSocket[] = [];
    for (const sid of this.sockets(opts)) {
      const s = this.nsp.sockets.get(sid);
      if (s) out.push(s);
    }
    return out;
  }

  close(): void {
    this.rooms.clear();
    this.sids.clear();
  }

  private isSid(room: string): boolean {
    return this.nsp.sockets.has(room);
  }

  private exceptSids(except: ReadonlySet<string>): Set<string> | undefined {
    if (except.size === 0) return undefined;
    const out = new Set<string>();
    for (const room of except) {
      out.add(room);
      const members = this.rooms.get(room);
      if (members) for (const sid of members) out.add(sid);
    }
    return out;
  }
}
