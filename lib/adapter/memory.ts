/** The in-memory adapter: room membership and fan-out for sockets on this node. */
import { EventEmitter } from 'node:events';
import type { Adapter, AdapterNamespace, BroadcastOptions } from './types.js';

/**
 * Rooms as `Map<room, Set<sid>>` and the reverse `Map<sid, Set<room>>`, as in Socket.IO.
 * A broadcast converts the frame to bytes once and writes the same buffer to every recipient.
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
      const buf = Buffer.from(frame); // the bytes are built once, for every recipient
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
    const buf = Buffer.from(frame);
    for (const sid of this.sockets(opts)) {
      sockets.get(sid)?.sendEncoded(buf, volatile, compress);
      n++;
    }
    return n;
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
