/**
 * Connection state recovery (PROTOCOL.md §2.7, issue 10 item 7): Socket.IO's
 * `connectionStateRecovery` on wsq's logs. When a connection drops for a recoverable reason,
 * its *session* — the sid, each namespace's rooms (those the application joined; the client
 * rejoins its own `join` subscriptions with `since`) and `socket.data`, the event frames sent
 * just before the drop, and every event sent to the sid or its rooms while it is away — is
 * kept for `maxDisconnectionDuration`. A client that reconnects within the window with
 * `?recover=<pid>&seen=<n>` gets the same sid, rooms and data back, and the frames it missed.
 *
 * Where it lives: in memory (this class) and, on a durable store, in the store too, as the log
 * of the room `$session:<pid>` of namespace `/` (a snapshot message, then one message per
 * captured frame, then a `claimed` marker), so a session survives a restart of the server
 * (`wsq serve --data-dir`, LmdbStore). Only Store methods every store has are used (append,
 * read, listRooms). Nothing here runs when the option is off: the server holds no Recovery.
 *
 * Caps (each documented in PROTOCOL.md R2.7.7): MAX_SESSIONS sessions at once (the oldest goes
 * first), MAX_SESSION_FRAMES frames and MAX_SESSION_BYTES bytes per session (past either the
 * session is marked overflowed and can no longer be recovered: recovery is all or nothing),
 * RING_FRAMES / RING_BYTES of recent event frames per open connection.
 */
import { nanoid } from 'nanoid';
import type { Store, StoredMessage } from './store/types.js';

/** Rooms of namespace `/` holding the sessions on a durable store: `$session:<pid>` (reserved: `$`, R5.1.2). */
export const SESSION_ROOM_PREFIX = '$session:';
/** The namespace whose `$session:` rooms hold the sessions. */
export const SESSION_NS = '/';
/** Most sessions kept at once; past it the oldest is forgotten (its client is not recovered). */
export const MAX_SESSIONS = 10_000;
/** Most frames one session holds (sent before the drop + captured while away); past it the session overflows. */
export const MAX_SESSION_FRAMES = 1_000;
/** Most bytes of frames one session holds; past it the session overflows. */
export const MAX_SESSION_BYTES = 1 << 20;
/** Event frames an open connection keeps after sending them, in case the drop swallowed them. */
export const RING_FRAMES = 256;
/** Bytes of event frames an open connection keeps after sending them. */
export const RING_BYTES = 256 * 1024;
/** How long a claim waits for a still-open old connection of the same session to close. */
const TAKEOVER_WAIT_MS = 2000;

const PID = /^[A-Za-z0-9_-]{21}$/;

/** The `connectionStateRecovery` option, defaults filled in (lib/config.ts). */
export interface RecoveryOptions {
  /** How long a session is kept after its connection dropped, in ms. Default 120 000. */
  maxDisconnectionDuration: number;
  /** A recovered connection skips the namespaces' middleware. Default true (as in Socket.IO). */
  skipMiddlewares: boolean;
}

/** What one namespace's socket was when the connection dropped. */
export interface SavedNamespace {
  /** The rooms the application had joined (the sid included; `join` subscriptions excluded). */
  rooms: string[];
  /** `socket.data` (kept as is in memory; as JSON on a durable store). */
  data: unknown;
}

/** A frame to send a recovered connection, in its namespace. */
export interface KeptFrame {
  ns: string;
  text: string;
}

/**
 * A session a reconnecting connection took (R2.7.5). It keeps capturing frames for the
 * namespaces not restored yet, so nothing sent between the claim and each namespace's
 * restore is lost; `resume` hands over one namespace, `release` ends it.
 */
export interface Claimed {
  readonly sid: string;
  /** Saved state by namespace (a namespace leaves once resumed). */
  readonly namespaces: ReadonlyMap<string, SavedNamespace>;
}

/** Event frames a connection sent, counted, and the recent ones kept (R2.7.3): a fixed ring, no allocation per frame. */
export class SentRing {
  /** Event frames sent on the connection so far. */
  sent = 0;
  private readonly frames: (string | Buffer | undefined)[] = new Array(RING_FRAMES);
  /** Index of the oldest kept frame. */
  private head = 0;
  private count = 0;
  private bytes = 0;

  /** Count one event frame written to the socket and keep it (the oldest go past RING_FRAMES or RING_BYTES). */
  push(text: string | Buffer): void {
    this.sent++;
    if (this.count === RING_FRAMES) this.evict();
    this.frames[(this.head + this.count++) % RING_FRAMES] = text;
    this.bytes += text.length;
    while (this.bytes > RING_BYTES && this.count > 1) this.evict();
  }

  private evict(): void {
    this.bytes -= this.frames[this.head]!.length;
    this.frames[this.head] = undefined;
    this.head = (this.head + 1) % RING_FRAMES;
    this.count--;
  }

  /** The seq of the oldest frame kept (`sent + 1` when none is). */
  get first(): number {
    return this.sent - this.count + 1;
  }

  /** The kept frames, oldest first. */
  kept(): { seq: number; text: string }[] {
    const out: { seq: number; text: string }[] = [];
    for (let i = 0; i < this.count; i++) {
      const f = this.frames[(this.head + i) % RING_FRAMES]!;
      out.push({ seq: this.first + i, text: typeof f === 'string' ? f : f.toString() });
    }
    return out;
  }
}

/** What `save` needs of one namespace's socket at the drop. */
export interface SocketSnapshot {
  ns: string;
  rooms: Iterable<string>;
  /** Rooms of the client's own `join` subscriptions: it resumes them itself (`since`), so they are neither restored nor captured. */
  subscribed: ReadonlySet<string>;
  data: unknown;
}

/** What `save` needs of a connection at the drop. */
export interface ConnectionSnapshot {
  pid: string;
  sid: string;
  client: string | undefined;
  ring: SentRing;
  sockets: SocketSnapshot[];
}

interface Session extends Claimed {
  /** Taken by a reconnect: it cannot be claimed again; it still captures until every namespace resumed. */
  claimed: boolean;
  pid: string;
  sid: string;
  client: string | undefined;
  expires: number;
  namespaces: Map<string, SavedNamespace>;
  /** Event frames the old connection had sent (the client says how many it got). */
  sent: number;
  /** The oldest seq the kept frames cover. */
  first: number;
  /** Recoverable frames sent before the drop: [seq, ns, text]. */
  ring: [number, string, string][];
  /** Frames captured while away. */
  missed: KeptFrame[];
  frames: number;
  bytes: number;
  overflow: boolean;
}

/** A connection a later claim of its pid may take over (the server has not seen it drop yet). */
export interface LiveConnection {
  terminate(): void;
  readonly ws: { once(event: 'close', fn: () => void): unknown };
}

/**
 * The sessions of one server.
 * @example
 * const recovery = new Recovery({ maxDisconnectionDuration: 120_000, skipMiddlewares: true }, store, Date.now, log);
 * const pid = recovery.newPid();             // sent in welcome.pid
 * recovery.save(snapshotOf(conn), 'transport close'); // at the drop
 * const claimed = await recovery.claim(pid, seen, client); // at the reconnect
 */
export class Recovery {
  private readonly sessions = new Map<string, Session>();
  private readonly bySid = new Map<string, Session>();
  /** ns → room → sessions away that were in it. */
  private readonly index = new Map<string, Map<string, Set<Session>>>();
  private readonly live = new Map<string, LiveConnection>();
  private readonly writes = new Set<Promise<unknown>>();
  /** Sessions read back from a durable store at start (claims wait for it). */
  readonly loaded: Promise<void>;

  constructor(
    readonly options: RecoveryOptions,
    private readonly store: Store,
    private readonly now: () => number,
    private readonly report: (msg: string, err?: unknown) => void,
  ) {
    this.loaded = store.durable ? this.load().catch((err) => this.report('reading saved sessions failed', err)) : Promise.resolve();
  }

  /** Sessions kept now (for tests and metrics). */
  get size(): number {
    return this.sessions.size;
  }

  /** A new private session id for a connection (sent in `welcome.pid`; never shown to other clients). */
  newPid(): string {
    return nanoid();
  }

  /** An open connection of `pid` (a claim of it closes this one first). */
  track(pid: string, conn: LiveConnection): void {
    this.live.set(pid, conn);
  }

  /**
   * The connection of `snap.pid` dropped (R2.7.2): keep its session for the window. Returns
   * false when there was nothing to keep (no namespace left).
   */
  save(snap: ConnectionSnapshot): boolean {
    this.live.delete(snap.pid);
    if (snap.sockets.length === 0) return false;
    const namespaces = new Map<string, SavedNamespace>();
    const subscribed = new Map<string, ReadonlySet<string>>();
    for (const s of snap.sockets) {
      const rooms = [...s.rooms].filter((r) => !s.subscribed.has(r));
      if (!rooms.includes(snap.sid)) rooms.push(snap.sid);
      namespaces.set(s.ns, { rooms, data: s.data });
      subscribed.set(s.ns, s.subscribed);
    }
    const ring: [number, string, string][] = [];
    let bytes = 0;
    for (const { seq, text } of snap.ring.kept()) {
      const f = peek(text);
      // Not resent: deliveries and requests (ids of the old connection), replays, frames of the
      // client's own subscriptions (it resumes those with since), namespaces it had left.
      if (!f || f.id || f.replay || !namespaces.has(f.ns) || (f.room !== undefined && subscribed.get(f.ns)?.has(f.room))) continue;
      ring.push([seq, f.ns, text]);
      bytes += text.length;
    }
    const s: Session = {
      pid: snap.pid,
      sid: snap.sid,
      client: snap.client,
      expires: this.now() + this.options.maxDisconnectionDuration,
      namespaces,
      sent: snap.ring.sent,
      first: snap.ring.first,
      ring,
      missed: [],
      frames: ring.length,
      bytes,
      overflow: ring.length > MAX_SESSION_FRAMES || bytes > MAX_SESSION_BYTES,
      claimed: false,
    };
    this.install(s);
    if (this.store.durable) this.write(s.pid, 'session', snapshotOf(s));
    return true;
  }

  /**
   * A broadcast of namespace `ns` (encoded `text`) to `rooms` (all sockets when empty) except
   * `except`: keep it for every session away that it would have reached (R2.7.4). Volatile
   * frames are not kept. Costs one Map lookup when no session of `ns` is away.
   */
  capture(ns: string, text: string, rooms: ReadonlySet<string>, except: ReadonlySet<string>, volatile = false): void {
    const byRoom = this.index.get(ns);
    if (!byRoom || volatile) return;
    const reached = new Set<Session>();
    if (rooms.size === 0) {
      for (const set of byRoom.values()) for (const s of set) reached.add(s);
    } else {
      for (const r of rooms) {
        const set = byRoom.get(r);
        if (set) for (const s of set) reached.add(s);
      }
    }
    for (const s of reached) {
      const saved = s.namespaces.get(ns);
      if (saved && except.size > 0 && saved.rooms.some((r) => except.has(r))) continue;
      this.keep(s, ns, text);
    }
  }

  /** `socket.emit` on the Socket object of a connection that dropped: kept for its session, if any (R2.7.4). */
  captureDirect(ns: string, sid: string, text: string): void {
    const s = this.bySid.get(sid);
    if (s?.namespaces.has(ns)) this.keep(s, ns, text);
  }

  /**
   * A connection asks for session `pid`, having read `seen` event frames of the old one
   * (R2.7.5). Resolves with the session (then forgotten: a session is recovered at most once),
   * or undefined when it cannot be recovered whole: unknown, expired, another identity,
   * overflowed, or frames the client missed are no longer kept.
   */
  async claim(pid: string, seen: number, client: string | undefined): Promise<Claimed | undefined> {
    if (!PID.test(pid) || !Number.isSafeInteger(seen) || seen < 0) return undefined;
    await this.loaded;
    const old = this.live.get(pid);
    if (old) {
      // The old connection is still open here (its drop not noticed yet): close it, which saves its session.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, TAKEOVER_WAIT_MS);
        old.ws.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        old.terminate();
      });
    }
    const s = this.sessions.get(pid);
    if (!s || s.claimed) return undefined;
    s.claimed = true; // a session is claimed at most once, whatever comes of it
    if (this.store.durable) this.write(pid, 'claimed', null);
    if (s.expires < this.now() || s.client !== client || s.overflow || seen > s.sent || seen + 1 < s.first) {
      this.forget(s);
      return undefined;
    }
    // The frames the client did not get before the drop come first, then those captured while away.
    s.missed = [...s.ring.filter(([seq]) => seq > seen).map(([, ns, text]) => ({ ns, text })), ...s.missed];
    s.ring = [];
    return s;
  }

  /**
   * Namespace `ns` of a claimed session was entered again: `send` each frame kept for it, then
   * `join` its rooms, in one synchronous step (so no broadcast falls between the two). Returns
   * false when the session has nothing for `ns` (or overflowed meanwhile: then nothing is sent).
   */
  resume(claimed: Claimed, ns: string, send: (text: string) => void, join: (rooms: string[]) => void): boolean {
    const s = claimed as Session;
    const saved = s.namespaces.get(ns);
    if (!saved || this.sessions.get(s.pid) !== s) return false;
    if (s.overflow) {
      this.forget(s);
      return false;
    }
    const rest: KeptFrame[] = [];
    for (const f of s.missed) {
      if (f.ns === ns) send(f.text);
      else rest.push(f);
    }
    s.missed = rest;
    join(saved.rooms);
    this.unindex(s, ns);
    s.namespaces.delete(ns);
    if (s.namespaces.size === 0) this.forget(s);
    return true;
  }

  /** The connection that claimed a session closed, or a namespace of it was refused: stop keeping it (or that namespace). */
  release(claimed: Claimed, ns?: string): void {
    const s = claimed as Session;
    if (ns === undefined || s.namespaces.size <= 1) return this.forget(s);
    this.unindex(s, ns);
    s.namespaces.delete(ns);
  }

  /** Forget expired sessions (called on every heartbeat); their store rooms age out by retention. */
  sweep(now: number): void {
    for (const s of this.sessions.values()) if (s.expires < now) this.forget(s);
  }

  /** Resolves once every store write begun so far has settled (before the store closes). */
  async flush(): Promise<void> {
    while (this.writes.size > 0) await Promise.allSettled([...this.writes]);
  }

  private install(s: Session): void {
    const prior = this.sessions.get(s.pid);
    if (prior) this.forget(prior);
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.values().next().value;
      if (oldest) this.forget(oldest);
    }
    this.sessions.set(s.pid, s);
    this.bySid.set(s.sid, s);
    for (const [ns, saved] of s.namespaces) {
      let byRoom = this.index.get(ns);
      if (!byRoom) this.index.set(ns, (byRoom = new Map()));
      for (const r of saved.rooms) {
        let set = byRoom.get(r);
        if (!set) byRoom.set(r, (set = new Set()));
        set.add(s);
      }
    }
  }

  private forget(s: Session): void {
    if (this.sessions.get(s.pid) !== s) return;
    this.sessions.delete(s.pid);
    if (this.bySid.get(s.sid) === s) this.bySid.delete(s.sid);
    for (const ns of s.namespaces.keys()) this.unindex(s, ns);
  }

  private unindex(s: Session, ns: string): void {
    const byRoom = this.index.get(ns);
    const saved = s.namespaces.get(ns);
    if (!byRoom || !saved) return;
    for (const r of saved.rooms) {
      const set = byRoom.get(r);
      if (!set) continue;
      set.delete(s);
      if (set.size === 0) byRoom.delete(r);
    }
    if (byRoom.size === 0) this.index.delete(ns);
  }

  private keep(s: Session, ns: string, text: string): void {
    if (s.overflow) return;
    if (s.frames + 1 > MAX_SESSION_FRAMES || s.bytes + text.length > MAX_SESSION_BYTES) {
      s.overflow = true;
      s.missed = [];
      if (this.store.durable) this.write(s.pid, 'overflow', null);
      return;
    }
    s.frames++;
    s.bytes += text.length;
    s.missed.push({ ns, text });
    if (this.store.durable) this.write(s.pid, 'frame', { ns, text });
  }

  private write(pid: string, event: string, data: unknown): void {
    const p = this.store
      .append(SESSION_NS, SESSION_ROOM_PREFIX + pid, { event, data, ts: this.now() })
      .catch((err) => this.report(`saving session ${event} failed`, err))
      .finally(() => this.writes.delete(p));
    this.writes.add(p);
  }

  /** Read the sessions a durable store holds back into memory (after a restart). */
  private async load(): Promise<void> {
    const rooms = await this.store.listRooms(SESSION_NS, MAX_SESSIONS * 2);
    const now = this.now();
    for (const r of rooms) {
      if (!r.room.startsWith(SESSION_ROOM_PREFIX) || r.last < 1) continue;
      const msgs = await this.store.read(SESSION_NS, r.room, r.first, MAX_SESSION_FRAMES + 8);
      const s = fromLog(r.room.slice(SESSION_ROOM_PREFIX.length), msgs);
      if (s && s.expires >= now) this.install(s);
    }
  }
}

/** The fields of an encoded event frame recovery looks at. */
function peek(text: string): { ns: string; room?: string; id?: unknown; replay?: boolean } | undefined {
  try {
    const f = JSON.parse(text) as { type?: string; ns?: string; room?: string; id?: unknown; replay?: boolean };
    return f.type === 'event' && typeof f.ns === 'string' ? (f as { ns: string }) : undefined;
  } catch {
    return undefined;
  }
}

interface Snapshot {
  sid: string;
  client?: string;
  expires: number;
  sent: number;
  first: number;
  namespaces: [string, string[], unknown][];
  ring: [number, string, string][];
}

function snapshotOf(s: Session): Snapshot {
  return {
    sid: s.sid,
    ...(s.client === undefined ? {} : { client: s.client }),
    expires: s.expires,
    sent: s.sent,
    first: s.first,
    namespaces: [...s.namespaces].map(([ns, v]) => [ns, v.rooms, v.data ?? null]),
    ring: s.overflow ? [] : s.ring,
  };
}

/** A session from its store log, or undefined when it was claimed (or is unreadable). */
function fromLog(pid: string, msgs: StoredMessage[]): Session | undefined {
  const first = msgs[0];
  if (first?.event !== 'session') return undefined;
  const snap = first.data as Snapshot;
  const s: Session = {
    pid,
    sid: snap.sid,
    client: snap.client,
    expires: snap.expires,
    namespaces: new Map(snap.namespaces.map(([ns, rooms, data]) => [ns, { rooms, data }])),
    sent: snap.sent,
    first: snap.first,
    ring: snap.ring,
    missed: [],
    frames: snap.ring.length,
    bytes: snap.ring.reduce((n, f) => n + f[2].length, 0),
    overflow: false,
    claimed: false,
  };
  for (const m of msgs.slice(1)) {
    if (m.event === 'claimed') return undefined;
    if (m.event === 'overflow') s.overflow = true;
    else if (m.event === 'frame' && !s.overflow) {
      const f = m.data as KeptFrame;
      s.missed.push(f);
      s.frames++;
      s.bytes += f.text.length;
    }
  }
  if (msgs.length > MAX_SESSION_FRAMES + 4) s.overflow = true;
  return s;
}
