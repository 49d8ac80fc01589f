/**
 * RedisAdapter: room membership and live (not stored) delivery across nodes over Redis sharded
 * pub/sub (decision 4 of issue 9). Local membership and local delivery are the MemoryAdapter's;
 * this class adds the channels, the forwarding and the cluster-wide requests.
 *
 * Channels (all under the bus prefix, names length-prefixed as lib/store/keys.ts does, so no two
 * namespace/room pairs share one):
 * - room channel `<prefix>adapter:r:<ns,room>`: a node subscribes to it only while it has a local
 *   member of the room (`create-room` → SSUBSCRIBE, `delete-room` → SUNSUBSCRIBE; a sid is a
 *   room too, so `socket.emit` to a sid on another node reaches only that node). A broadcast to
 *   one room, and `socketsJoin`/`socketsLeave`/`disconnectSockets` of one room, go here: a node
 *   that hosts no member of the room gets no traffic for it.
 * - namespace channel `<prefix>adapter:n:<ns>`: every node serving the namespace. Multi-room and
 *   namespace-wide broadcasts, and every request that waits for answers (`fetchSockets`,
 *   `broadcastWithAck`, `serverSideEmit(WithAck)`), go here.
 * - response channel `<prefix>adapter:s:<ns,nodeId>`: this node's answers.
 *
 * The receiving node applies `rooms` and `except` to its own membership and delivers to each
 * selected local socket once. A node ignores its own messages (it delivered locally already).
 *
 * Answers to wait for: the reply of the SPUBLISH that sent the request is the number of
 * subscribers of the namespace channel that received it, the same count `PUBSUB SHARDNUMSUB`
 * gives (which `serverCount()` uses) but taken atomically with the delivery: a node that starts
 * or stops meanwhile cannot make the count wrong. Minus this node. Every wait has a timeout.
 *
 * Wire form of a message: one line of JSON (the header), a `\n`, then the encoded frame bytes (a
 * broadcast's frame is shipped as is, never re-encoded: the receiving node writes the same bytes).
 *
 * Caps: at most `maxPendingRequests` (default 1,000) requests of one namespace wait for answers
 * at once (past it a request rejects with `unavailable`); answers of one request are bounded by
 * the nodes (and, for acks, by the sockets) that got it; nothing is buffered while Redis is down
 * (forwarding fails and is reported; live pub/sub is at-most-once, stored messages are re-read by
 * RoomLog from the store).
 * @example
 * const bus = new RedisBus({ url: 'redis://127.0.0.1:6379' });
 * const server = new WsqServer({ adapter: redisAdapter(bus), store: redisStore });
 */
import { WsqError } from '../errors.js';
import type { ChannelSubscription, RedisBus } from '../redis/bus.js';
import { compositeKey } from '../store/keys.js';
import { MemoryAdapter } from './memory.js';
import {
  type AckCallback,
  type AckCount,
  type AdapterFactory,
  type AdapterNamespace,
  type BroadcastOptions,
  DEFAULT_TIMEOUT_MS,
  type EncodedFrame,
  type SocketInfo,
  type SocketSelector,
} from './types.js';

/** Options of the Redis adapter. */
export interface RedisAdapterOptions {
  /** Default wait for answers when an operation sets no `timeoutMs` (default 5,000 ms). */
  timeoutMs?: number;
  /** Most requests of one namespace waiting for answers at once (default 1,000). */
  maxPendingRequests?: number;
}

/** Default cap on requests waiting for answers, per namespace. */
export const MAX_PENDING_REQUESTS = 1000;

/** The namespace channel: every node serving `ns` subscribes to it. */
export function namespaceChannel(prefix: string, ns: string): string {
  return `${prefix}adapter:n:${compositeKey(ns)}`;
}

/** A room's channel: subscribed by the nodes with a local member of the room. */
export function roomChannel(prefix: string, ns: string, room: string): string {
  return `${prefix}adapter:r:${compositeKey(ns, room)}`;
}

/** A node's response channel for one namespace. */
export function responseChannel(prefix: string, ns: string, nodeId: string): string {
  return `${prefix}adapter:s:${compositeKey(ns, nodeId)}`;
}

/**
 * The adapter factory for `new WsqServer({ adapter })`: one RedisAdapter per namespace, all on
 * the process's one bus.
 * @example
 * new WsqServer({ adapter: redisAdapter(bus, { timeoutMs: 2000 }) });
 */
export function redisAdapter(bus: RedisBus, opts: RedisAdapterOptions = {}): AdapterFactory {
  return (nsp) => new RedisAdapter(nsp, bus, opts);
}

/** Message kinds. Requests: broadcast, ack broadcast, fetch, join, leave, disconnect, server-side emit. Responses: ack count, ack answer, fetch answer, emit answer. */
type Kind = 'b' | 'a' | 'f' | 'j' | 'l' | 'd' | 'e' | 'ac' | 'an' | 'fr' | 'er';

/** A message header (the JSON line). */
interface Header {
  t: Kind;
  /** Sending node. */
  n: string;
  /** Request id (answers go to the sender's response channel with it). */
  q?: string;
  /** Rooms and except of the selection. */
  r?: string[];
  x?: string[];
  /** Flags: volatile (1), compress (0: never). */
  v?: 1;
  c?: 0;
  /** Timeout the asking node waits (ack broadcasts: each socket's ask timeout). */
  w?: number;
  /** Ack broadcasts: the asking node's deadline (ms since the epoch), so a socket's ask ends with the request, not `w` after it arrived. */
  dl?: number;
  /** Rooms to join/leave. */
  rooms?: string[];
  /** disconnectSockets: close the whole connection. */
  close?: boolean;
  /** serverSideEmit event and arguments. */
  ev?: string;
  args?: unknown[];
  /** Answers: ack count, sid, error, answer, fetched sockets. */
  k?: number;
  s?: string;
  e?: { c: string; m: string };
  a?: unknown;
  fs?: SocketInfo[];
}

/** A request waiting for the answers of the other nodes. */
interface Pending {
  kind: 'fetch' | 'emit' | 'ack';
  /** Nodes that got the request (known once the SPUBLISH replied). */
  nodes: number | undefined;
  answered: number;
  timer: NodeJS.Timeout;
  /** Called when every node answered (or at close). */
  finish(complete: boolean): void;
  onAnswer(h: Header): void;
}

const NL = 0x0a;

/** A Redis-backed adapter for one namespace. */
export class RedisAdapter extends MemoryAdapter {
  /** contract: (C↔D) lib/cluster.ts refuseLocalStore: this adapter spans nodes, so it needs a shared store. */
  readonly crossNode = true;
  readonly nodeId: string;
  /** Channel names of this namespace. */
  readonly channels: { readonly namespace: string; readonly response: string };
  /** Messages received from other nodes and acted on (for tests and metrics). */
  received = 0;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  private readonly roomSubs = new Map<string, ChannelSubscription>();
  private readonly pending = new Map<string, Pending>();
  private readonly nsSub: ChannelSubscription;
  private readonly respSub: ChannelSubscription;
  private readonly initP: Promise<void>;
  private nsSubscribed = false;
  private seq = 0;
  private closed = false;
  private readonly onRaw = (msg: Buffer): void => this.onMessage(msg);

  constructor(
    nsp: AdapterNamespace,
    readonly bus: RedisBus,
    opts: RedisAdapterOptions = {},
  ) {
    super(nsp);
    this.nodeId = bus.nodeId;
    this.prefix = bus.prefix;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxPending = opts.maxPendingRequests ?? MAX_PENDING_REQUESTS;
    this.channels = { namespace: namespaceChannel(this.prefix, nsp.name), response: responseChannel(this.prefix, nsp.name, this.nodeId) };
    this.nsSub = bus.subscribe(this.channels.namespace, this.onRaw);
    this.respSub = bus.subscribe(this.channels.response, (msg) => this.onResponse(msg));
    this.initP = Promise.all([this.nsSub.ready, this.respSub.ready]).then(() => {
      this.nsSubscribed = true;
    });
    this.initP.catch((err) => this.nsp.report('error', `namespace "${nsp.name}": subscribing its Redis channels failed`, err));
    this.on('create-room', (room: string) => this.subscribeRoom(room));
    this.on('delete-room', (room: string) => {
      this.roomSubs.get(room)?.close();
      this.roomSubs.delete(room);
    });
  }

  /** Resolves once the namespace and response channels are subscribed. */
  init(): Promise<void> {
    return this.initP;
  }

  /** Requests of this namespace waiting for other nodes' answers now (at most `maxPendingRequests`). */
  pendingRequests(): number {
    return this.pending.size;
  }

  /** Whether this node subscribes to a room's channel now (it has a local member). */
  subscribesRoom(room: string): boolean {
    return this.roomSubs.has(room);
  }

  private subscribeRoom(room: string): void {
    if (this.closed || this.roomSubs.has(room)) return;
    try {
      this.roomSubs.set(room, this.bus.subscribe(roomChannel(this.prefix, this.nsp.name, room), this.onRaw));
    } catch (err) {
      this.nsp.report('error', `room "${room}" of namespace "${this.nsp.name}" gets no traffic from other nodes`, err);
    }
  }

  // --- sending ---

  override broadcast(frame: EncodedFrame, opts: BroadcastOptions): number {
    const n = super.broadcast(frame, opts);
    if (!opts.flags.local && !this.closed && !this.onlyHere(opts.rooms)) {
      const h: Header = { t: 'b', n: this.nodeId, ...this.selection(opts) };
      if (opts.flags.volatile) h.v = 1;
      if (opts.flags.compress === false) h.c = 0;
      this.send(this.channelOf(opts.rooms), h, frame).catch((err) => this.failed('broadcast', err));
    }
    return n;
  }

  override broadcastWithAck(frame: EncodedFrame, opts: BroadcastOptions, onAck: AckCallback): Promise<AckCount> {
    const timeoutMs = opts.flags.timeoutMs ?? this.timeoutMs;
    // The asker's deadline, taken now (with the caller's own timer): rounded down, so other nodes' asks end no later than it.
    const deadline = Date.now() + timeoutMs - 1;
    const local = super.broadcastWithAck(frame, { ...opts, flags: { ...opts.flags, timeoutMs } }, onAck);
    if (opts.flags.local || this.closed) return local;
    return local.then((count) => {
      let expected = count.expected;
      const h: Header = { t: 'a', n: this.nodeId, ...this.selection(opts), w: timeoutMs, dl: deadline };
      if (opts.flags.volatile) h.v = 1;
      if (opts.flags.compress === false) h.c = 0;
      return new Promise<AckCount>((resolve) => {
        let reported = false;
        // The entry lives for the whole timeout (answers may come until then), even after every node reported.
        this.request(
          h,
          timeoutMs,
          {
            kind: 'ack',
            finish: (complete) => {
              if (reported) return;
              reported = true;
              resolve({ expected, complete });
            },
            onAnswer: (a) => {
              if (a.t === 'ac') expected += a.k ?? 0;
              else if (a.t === 'an' && typeof a.s === 'string') onAck(a.s, a.e ? new WsqError(a.e.c as never, a.e.m) : undefined, a.a);
              return a.t === 'ac';
            },
            keepAfterFinish: true,
          },
          frame,
        ).catch((err) => {
          this.failed('emitWithAck', err);
          if (!reported) {
            reported = true;
            resolve({ expected, complete: false });
          }
        });
      });
    });
  }

  override async fetchSockets(opts: SocketSelector): Promise<SocketInfo[]> {
    const out = await super.fetchSockets(opts);
    if (opts.flags?.local || this.closed) return out;
    const timeoutMs = opts.flags?.timeoutMs ?? this.timeoutMs;
    return new Promise<SocketInfo[]>((resolve) => {
      this.request({ t: 'f', n: this.nodeId, ...this.selection(opts) }, timeoutMs, {
        kind: 'fetch',
        finish: (complete) => {
          if (!complete) this.nsp.report('warn', `fetchSockets in namespace "${this.nsp.name}": some nodes did not answer within ${timeoutMs} ms; their sockets are left out`);
          resolve(out);
        },
        onAnswer: (a) => {
          if (a.t !== 'fr') return false;
          if (Array.isArray(a.fs)) for (const s of a.fs) out.push(s);
          return true;
        },
      }).catch((err) => {
        this.failed('fetchSockets', err);
        resolve(out);
      });
    });
  }

  override async addSockets(opts: SocketSelector, rooms: string[]): Promise<void> {
    await super.addSockets(opts, rooms);
    if (!opts.flags?.local && !this.closed && !this.onlyHere(opts.rooms)) await this.send(this.channelOf(opts.rooms), { t: 'j', n: this.nodeId, ...this.selection(opts), rooms });
  }

  override async delSockets(opts: SocketSelector, rooms: string[]): Promise<void> {
    await super.delSockets(opts, rooms);
    if (!opts.flags?.local && !this.closed && !this.onlyHere(opts.rooms)) await this.send(this.channelOf(opts.rooms), { t: 'l', n: this.nodeId, ...this.selection(opts), rooms });
  }

  override async disconnectSockets(opts: SocketSelector, close: boolean): Promise<void> {
    await super.disconnectSockets(opts, close);
    if (!opts.flags?.local && !this.closed && !this.onlyHere(opts.rooms)) await this.send(this.channelOf(opts.rooms), { t: 'd', n: this.nodeId, ...this.selection(opts), close });
  }

  override async serverSideEmit(event: string, args: unknown[]): Promise<void> {
    if (this.closed) return;
    await this.send(this.channels.namespace, { t: 'e', n: this.nodeId, ev: event, args });
  }

  override serverSideEmitWithAck(event: string, args: unknown[], timeoutMs = this.timeoutMs): Promise<unknown[]> {
    if (this.closed) return Promise.resolve([]);
    const answers: unknown[] = [];
    return new Promise<unknown[]>((resolve, reject) => {
      let nodes = 0;
      const p = this.request({ t: 'e', n: this.nodeId, ev: event, args }, timeoutMs, {
        kind: 'emit',
        finish: (complete) => {
          if (complete) resolve(answers);
          else reject(new WsqError('timeout', `${nodes - answers.length} of ${nodes} other nodes did not answer serverSideEmitWithAck "${event}" within ${timeoutMs} ms`, answers));
        },
        onAnswer: (a) => {
          if (a.t !== 'er') return false;
          answers.push(a.a);
          return true;
        },
      });
      p.then((n) => {
        nodes = n;
      }, reject);
    });
  }

  override async serverCount(): Promise<number> {
    return Math.max(1, await this.bus.numsub(this.channels.namespace));
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.pending.values()]) {
      clearTimeout(p.timer);
      p.finish(false);
    }
    this.pending.clear();
    for (const s of this.roomSubs.values()) s.close();
    this.roomSubs.clear();
    this.nsSub.close();
    this.respSub.close();
    super.close();
  }

  /** True when the selection is one sid of this node: no other node has it, so nothing is sent (`socket.emit` stays off Redis). */
  private onlyHere(rooms: ReadonlySet<string>): boolean {
    if (rooms.size !== 1) return false;
    const [room] = rooms;
    return this.nsp.sockets.has(room!);
  }

  /** One room: its channel; several or none: the namespace channel. */
  private channelOf(rooms: ReadonlySet<string>): string {
    if (rooms.size !== 1) return this.channels.namespace;
    const [room] = rooms;
    return roomChannel(this.prefix, this.nsp.name, room!);
  }

  private selection(opts: Pick<BroadcastOptions, 'rooms' | 'except'>): Pick<Header, 'r' | 'x'> {
    const s: Pick<Header, 'r' | 'x'> = {};
    if (opts.rooms.size > 0) s.r = [...opts.rooms];
    if (opts.except.size > 0) s.x = [...opts.except];
    return s;
  }

  /** SPUBLISH header + frame; resolves with how many subscribers got it. */
  private send(channel: string, h: Header, frame = ''): Promise<number> {
    return this.bus.publish(channel, `${JSON.stringify(h)}\n${frame}`);
  }

  /**
   * Publish a request on the namespace channel and wait for one answer per other node (the
   * SPUBLISH reply, minus this node), at most `timeoutMs`. Resolves with the number of other nodes.
   */
  private async request(
    h: Header,
    timeoutMs: number,
    p: Pick<Pending, 'kind' | 'finish'> & { onAnswer(h: Header): boolean; keepAfterFinish?: boolean },
    frame = '',
  ): Promise<number> {
    if (this.pending.size >= this.maxPending) {
      throw new WsqError('unavailable', `namespace "${this.nsp.name}" already waits for ${this.maxPending} cluster requests (RedisAdapterOptions.maxPendingRequests); retry later`);
    }
    const q = String(++this.seq);
    h.q = q;
    let finished = false;
    const entry: Pending = {
      kind: p.kind,
      nodes: undefined,
      answered: 0,
      timer: setTimeout(() => {
        this.pending.delete(q);
        if (!finished) {
          finished = true;
          p.finish(false);
        }
      }, timeoutMs),
      finish: (complete) => {
        if (finished) return;
        finished = true;
        p.finish(complete);
      },
      onAnswer: (a) => {
        if (p.onAnswer(a)) entry.answered++;
        check();
      },
    };
    const check = (): void => {
      if (finished || entry.nodes === undefined || entry.answered < entry.nodes) return;
      entry.finish(true);
      if (!p.keepAfterFinish) {
        clearTimeout(entry.timer);
        this.pending.delete(q);
      }
    };
    this.pending.set(q, entry);
    let got: number;
    try {
      got = await this.send(this.channels.namespace, h, frame);
    } catch (err) {
      clearTimeout(entry.timer);
      this.pending.delete(q);
      finished = true;
      throw err;
    }
    entry.nodes = Math.max(0, got - (this.nsSubscribed ? 1 : 0));
    check();
    return entry.nodes;
  }

  private failed(what: string, err: unknown): void {
    this.nsp.report('warn', `${what} in namespace "${this.nsp.name}" was not forwarded to the other nodes`, err);
  }

  // --- receiving ---

  private parse(msg: Buffer): { h: Header; frame: Buffer } | undefined {
    const i = msg.indexOf(NL);
    try {
      if (i < 0) throw new Error('no header line');
      const h = JSON.parse(msg.toString('utf8', 0, i)) as Header;
      if (typeof h !== 'object' || h === null || typeof h.t !== 'string' || typeof h.n !== 'string') throw new Error('bad header');
      return { h, frame: msg.subarray(i + 1) };
    } catch (err) {
      this.nsp.report('warn', `namespace "${this.nsp.name}": a malformed adapter message from Redis was dropped`, err);
      return undefined;
    }
  }

  private onMessage(msg: Buffer): void {
    if (this.closed) return;
    const m = this.parse(msg);
    if (!m || m.h.n === this.nodeId) return; // our own: delivered locally already
    const { h, frame } = m;
    this.received++;
    const sel: SocketSelector = { rooms: new Set(h.r ?? []), except: new Set(h.x ?? []), flags: { local: true } };
    switch (h.t) {
      case 'b':
        this.deliver(frame, sel, h.v === 1, h.c !== 0);
        return;
      case 'a':
        this.answerAck(h, frame.toString('utf8'), sel);
        return;
      case 'f':
        void super.fetchSockets(sel).then((fs) => this.reply(h, { t: 'fr', fs }));
        return;
      case 'j':
        if (Array.isArray(h.rooms)) void super.addSockets(sel, h.rooms);
        return;
      case 'l':
        if (Array.isArray(h.rooms)) void super.delSockets(sel, h.rooms);
        return;
      case 'd':
        void super.disconnectSockets(sel, h.close === true);
        return;
      case 'e': {
        if (typeof h.ev !== 'string') return;
        const args = Array.isArray(h.args) ? h.args : [];
        if (h.q === undefined) this.nsp.serverSideReceive(h.ev, args);
        else {
          let once = false;
          this.nsp.serverSideReceive(h.ev, args, (answer) => {
            if (once) return;
            once = true;
            this.reply(h, { t: 'er', a: answer });
          });
        }
        return;
      }
      default:
        return;
    }
  }

  /** Deliver a frame (the bytes as received) to the selected local sockets, once each. */
  private deliver(frame: Buffer, sel: SocketSelector, volatile: boolean, compress: boolean): void {
    const sockets = this.nsp.sockets;
    if (sel.rooms.size === 1 && sel.except.size === 0) {
      const [room] = sel.rooms;
      const members = this.rooms.get(room!);
      if (members) for (const sid of members) sockets.get(sid)?.sendEncoded(frame, volatile, compress);
      return;
    }
    for (const sid of this.sockets(sel)) sockets.get(sid)?.sendEncoded(frame, volatile, compress);
  }

  /** Another node's emitWithAck: ask our selected sockets, report how many, then each answer. */
  private answerAck(h: Header, frame: string, sel: SocketSelector): void {
    let timeoutMs = typeof h.w === 'number' && h.w > 0 ? h.w : this.timeoutMs;
    // What is left of the asker's wait (a late ack is then unknown_id here too); a deadline that does not fit (clocks apart) is ignored.
    const left = typeof h.dl === 'number' ? h.dl - Date.now() : 0;
    if (left > 0 && left <= timeoutMs) timeoutMs = left;
    const targets = [...this.sockets(sel)];
    const answers: Header[] = [];
    let counted = false;
    const answer = (sid: string, err: Error | undefined, a?: unknown): void => {
      const r: Partial<Header> = { t: 'an', s: sid };
      if (err) r.e = { c: err instanceof WsqError ? err.code : 'internal', m: err.message };
      else r.a = a;
      if (counted) this.reply(h, r);
      else answers.push(r as Header); // a socket that answered synchronously: after the count
    };
    let n = 0;
    for (const sid of targets) {
      const s = this.nsp.sockets.get(sid);
      if (!s) continue;
      n++;
      s.ask(frame, timeoutMs, (err, a) => answer(sid, err, a));
    }
    this.reply(h, { t: 'ac', k: n });
    counted = true;
    for (const r of answers) this.reply(h, r);
  }

  private reply(req: Header, r: Partial<Header>): void {
    if (req.q === undefined || this.closed) return;
    const h = { ...r, n: this.nodeId, q: req.q } as Header;
    this.send(responseChannel(this.prefix, this.nsp.name, req.n), h).catch((err) => this.failed(`an answer to node ${req.n}`, err));
  }

  private onResponse(msg: Buffer): void {
    const m = this.parse(msg);
    if (!m || m.h.q === undefined) return;
    this.pending.get(m.h.q)?.onAnswer(m.h);
  }
}
