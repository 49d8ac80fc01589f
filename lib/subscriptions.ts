/**
 * Subscriptions: the room subscriptions of one namespace's sockets as the `join` frame asks
 * for them — live (with replay, through the room log), durable and group (through consumers),
 * presence watchers and the presence snapshot (R6.3.2). Split from namespace.ts by concern.
 */
import { encodeFrame } from '../protocol/codec.js';
import { DEAD_ROOM_PREFIX, deadLetterRoom, type JoinFrame, type JoinedFrame, type PresenceFrame } from '../protocol/frames.js';
import { Consumer, type ConsumerHandle } from './consumer.js';
import { groupStreamOf, SharedGroup } from './group-shared.js';
import type { Namespace } from './namespace.js';
import { consumerStart, planConsumerJoin } from './replay.js';
import { SocketMember, type Socket, type Subscription } from './socket.js';
import { compositeKey } from './store/keys.js';
import type { ConsumerState, StoredMessage } from './store/types.js';

/** Most members a presence snapshot lists (R6.3.2); past it, `membersTruncated: true`. */
export const MAX_SNAPSHOT_MEMBERS = 1000;
/** Most presence frames held for one watcher while its join is under way; past it they go out at once. */
const MAX_HELD_PRESENCE = 10_000;

/** The subscriptions of one namespace. */
export class Subscriptions {
  private readonly consumers = new Map<string, ConsumerHandle>();
  private readonly watchers = new Map<string, Set<Socket>>();

  constructor(private readonly nsp: Namespace) {}

  /** True when no consumer and no presence watcher is left (the namespace may be dropped). */
  idle(): boolean {
    return this.consumers.size === 0 && this.watchers.size === 0;
  }

  /**
   * Subscribe a socket to a room as the `join` frame asks: live (with replay),
   * durable (server-tracked cursor) or group (competing consumers).
   */
  async subscribe(socket: Socket, f: JoinFrame, quiet = false): Promise<void> {
    if (socket.subs.has(f.room)) this.unsubscribe(socket, f.room);
    const mode = f.group !== undefined ? 'group' : f.durable ? 'durable' : 'live';
    const sub: Subscription = { mode, presence: f.presence ?? false, ...(quiet ? { auto: true } : {}) };
    socket.setSub(f.room, sub);
    let snapshot: Partial<JoinedFrame> | undefined;
    if (sub.presence) {
      let w = this.watchers.get(f.room);
      if (!w) this.watchers.set(f.room, (w = new Set()));
      w.add(socket);
      // R6.3.2: the snapshot is taken as the watcher registers, so no change slips between it and the
      // presence frames; those are held until `joined` went out, so they follow it (R3.13).
      if (!quiet) {
        snapshot = this.snapshot(f.room, socket);
        sub.heldPresence = [];
      }
    }
    const log = this.nsp.log(f.room);
    const current = (): boolean => socket.connected && socket.subs.get(f.room) === sub;
    if (mode === 'live') {
      await log.join(
        {
          id: socket.id,
          sendText: (t, type) => socket.conn.sendText(t, type),
          sendEvents: (frames) => socket.conn.sendEvents(frames),
          // Offered only where frames go as bytes, so a replay never builds a page of bytes to throw away.
          ...(socket.conn.takesBytes() ? { sendEventBytes: (buf: Buffer, frames: number, chars: number) => socket.conn.sendEventBytes(buf, frames, chars) } : {}),
          drain: () => socket.conn.drain(),
          current,
        },
        { since: f.since, epoch: f.epoch },
        f.id,
        snapshot,
      );
    } else {
      const name = mode === 'group' ? `group:${f.group}` : `client:${socket.client}`;
      const key = compositeKey(f.room, name); // D6: length-prefixed, never a bare separator
      await log.ready; // a new consumer's start is clamped to the log's end (R5.4.10)
      let consumer = this.consumer(f.room, name, f.since);
      await consumer.ready;
      // An idle consumer may have been retired while we waited: take the live one.
      while (this.consumers.get(key) !== consumer) {
        consumer = this.consumer(f.room, name, f.since);
        await consumer.ready;
      }
      const fresh = consumer.fresh; // made by this join (later joins find it existing)
      consumer.fresh = false;
      if (!quiet) {
        // R5.4.10: not `recovered` when retention removed messages this consumer never finished, or `since` is past the end.
        const { first } = await this.nsp.store.position(this.nsp.name, f.room);
        const state = consumer.state();
        const plan = planConsumerJoin(f.since, { fresh, floor: state.floor, done: state.done }, { epoch: log.epoch, first, last: log.committed });
        // Answered even when a later frame already replaced this subscription: every request gets a reply.
        socket.conn.send({
          type: 'joined',
          ns: this.nsp.name,
          room: f.room,
          epoch: log.epoch,
          offset: log.committed,
          recovered: plan.recovered,
          ...(plan.gap ? { gap: plan.gap } : {}),
          ...(mode === 'group' ? { group: f.group } : { durable: true }),
          ...(f.id !== undefined ? { id: f.id } : {}),
          ...snapshot,
        });
      }
      if (!current()) {
        if (consumer.size === 0) this.retire(key, consumer);
        return;
      }
      sub.consumer = consumer;
      sub.member = new SocketMember(socket, f.prefetch ?? this.nsp.server.options.prefetch);
      consumer.add(sub.member);
    }
    if (!current()) return;
    const held = sub.heldPresence;
    sub.heldPresence = undefined;
    if (held) for (const text of held) socket.conn.sendText(text);
    sub.announced = true;
    this.presence(f.room, socket, 'join');
  }

  /** @internal End a socket's subscription to a room (no-op when it has none). Returns whether it had one. */
  unsubscribe(socket: Socket, room: string): boolean {
    const sub = socket.subs.get(room);
    if (!sub) return false;
    socket.deleteSub(room);
    if (sub.consumer && sub.member) sub.consumer.remove(sub.member);
    this.nsp.adapter.del(socket.id, room);
    const w = this.watchers.get(room);
    if (w?.delete(socket) && w.size === 0) this.watchers.delete(room);
    if (sub.announced) this.presence(room, socket, 'leave'); // a join never announced ends unannounced too
    return true;
  }

  /** @internal Server shutdown: stop every consumer and wait until its state is committed (before the store closes). */
  async closeConsumers(): Promise<void> {
    const all = [...this.consumers.values()];
    for (const c of all) c.close();
    await Promise.all(all.map((c) => c.flushed()));
  }

  private consumer(room: string, name: string, since: number | 'earliest' | undefined): ConsumerHandle {
    const key = compositeKey(room, name); // D6
    let c = this.consumers.get(key);
    if (!c) {
      const o = this.nsp.server.options;
      // Issue 9, decision 5: on a shared store a group's progress is the room stream's Redis Streams group, so members on every node share it.
      const stream = name.startsWith('group:') && this.nsp.store.shared ? groupStreamOf(this.nsp.store, this.nsp.name, room) : undefined;
      if (stream) {
        c = new SharedGroup(this.nsp.log(room), name, {
          maxDeliver: o.maxDeliver,
          ackTimeoutMs: o.ackTimeoutMs,
          startAfter: consumerStart(since, { epoch: '', first: 0, last: this.nsp.log(room).committed }),
          stream,
          node: this.nsp.server.nodeId,
          now: () => this.nsp.server.now(),
          onIdle: () => this.retire(key, c!),
        });
        this.consumers.set(key, c);
        return c;
      }
      c = new Consumer(this.nsp.log(room), name, {
        // R5.4.9 (D7): durable subscriptions and personal rooms have bounded attempts too, as groups do (R5.5.4).
        maxDeliver: o.maxDeliver,
        ackTimeoutMs: o.ackTimeoutMs,
        startAfter: consumerStart(since, { epoch: '', first: 0, last: this.nsp.log(room).committed }),
        // R5.5.4, R5.5.5 (D4): dead letters go to `$dead:<room>`. A dead-letter room's own consumers do not dead-letter
        // again: a message they run out of attempts on counts as done and stays readable in that room's log.
        ...(room.startsWith(DEAD_ROOM_PREFIX)
          ? {}
          : {
              // R5.5.9: the dead letter and the consumer's "done" commit in one store step (no duplicate after a crash).
              // R5.5.4: `from` names the original publisher, who is not the dead letter's sender: every live member gets it (echo).
              deadLetter: async (m: StoredMessage, stateAfter: () => ConsumerState) => {
                const dead = this.nsp.log(deadLetterRoom(room));
                await dead.ready;
                return dead.append({ event: m.event, data: m.data ?? null, ts: this.nsp.server.now(), ...(m.from ? { from: m.from } : {}) }, true, {
                  consumer: {
                    room,
                    name,
                    get state() {
                      return stateAfter();
                    },
                  },
                });
              },
            }),
        onIdle: () => this.retire(key, c!),
      });
      this.consumers.set(key, c);
    }
    return c;
  }

  /** Drop an idle consumer, once its state is on disk, so a quick return reloads the latest state. */
  private retire(key: string, c: ConsumerHandle): void {
    void c.flushed().then(() => {
      if (this.consumers.get(key) === c && c.size === 0) {
        c.close();
        this.consumers.delete(key);
      }
    });
  }

  private presence(room: string, socket: Socket, action: 'join' | 'leave'): void {
    const w = this.watchers.get(room);
    if (!w || w.size === 0) return;
    const frame: PresenceFrame = { type: 'presence', ns: this.nsp.name, room, action, sid: socket.id, ...(socket.client ? { client: socket.client } : {}) };
    const text = encodeFrame(frame); // encoded once for every watcher
    for (const s of w) {
      if (s === socket) continue;
      const held = s.subs.get(room)?.heldPresence;
      if (held && held.length < MAX_HELD_PRESENCE) held.push(text);
      else s.conn.sendText(text);
    }
  }

  /**
   * The presence snapshot of a room for a joiner (R6.3.2): every other socket of the namespace whose
   * subscription to the room was announced, with its client identity; at most MAX_SNAPSHOT_MEMBERS,
   * then `membersTruncated: true`. Visits the namespace's sockets once (presence joins only).
   */
  private snapshot(room: string, joiner: Socket): Partial<JoinedFrame> {
    const members: { sid: string; client?: string }[] = [];
    for (const s of this.nsp.sockets.values()) {
      if (s === joiner || !s.subs.get(room)?.announced) continue;
      if (members.length === MAX_SNAPSHOT_MEMBERS) return { members, membersTruncated: true };
      members.push(s.client ? { sid: s.id, client: s.client } : { sid: s.id });
    }
    return { members };
  }
}
