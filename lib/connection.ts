/**
 * Connection: one WebSocket's state — its sid and identity, the namespaces it has
 * connected (one Socket each), the ids it is expected to ack, the bad-frame limiter —
 * and the only place frames are read from or written to a socket on the server side.
 */
import type { WebSocket } from 'ws';
import { decodeClientBinary, decodeClientFrame, encodeFrame, errorFrame } from '../protocol/codec.js';
import { isBinaryBytes, isBinaryWire, wireBuffer } from './wire.js';
import { CLOSE_CODES, type ErrorCode } from '../protocol/codes.js';
import { LIMITS, type ClientFrame, type RequestId, type ServerFrame } from '../protocol/frames.js';
import type { Credentials } from './auth/permissions.js';
import { connFields, type Log, type LogFields, type LogLevel } from './logging.js';
import type { FrameInType, FrameOutType, WireStats } from './http/stats.js';
import type { Socket } from './socket.js';
import type { Claimed, SentRing } from './recovery.js';

/**
 * Why a socket left its namespace: Socket.IO's server-side reasons (PROTOCOL.md R2.5.8), the
 * argument of the server's `disconnecting` and `disconnect` events.
 */
export type DisconnectReason =
  | 'server namespace disconnect'
  | 'client namespace disconnect'
  | 'server shutting down'
  | 'ping timeout'
  | 'transport close'
  | 'transport error'
  | 'parse error'
  | 'forced close';

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly limits: { maxPayload: number; badFrameLimit: number; badFrameWindowMs: number; volatileHighWater: number; maxBufferedBytes: number };
  now(): number;
  dispatch(conn: Connection, frame: ClientFrame): void | Promise<void>;
  onClose(conn: Connection): void;
  /** Log a line; lines about a connection pass its `sid` and `client` in `fields`. */
  log(level: LogLevel, msg: string, err?: unknown, fields?: LogFields): void;
  /** The server's log, for rate-limited lines (kicks, slow consumers, bad-frame closes). */
  readonly logs?: Log;
  /** Counters read by `/metrics` (plain integers: one increment per frame). */
  readonly stats: WireStats;
}

/** Facts of the upgrade, kept small (the request itself is not held). */
export interface HandshakeInfo {
  /** Stable client identity from `?client=` (or, later, the token's subject). */
  client?: string;
  /** Credentials from `Authorization: Bearer` or `?token=`. */
  token?: string;
  /** What the verified credential proved: identity, JWT claims, permissions (set by lib/auth at the upgrade; absent when no `auth` is configured). */
  credentials?: Credentials;
  /** Query parameters of the upgrade URL. */
  query: Record<string, string>;
  /** Remote address. */
  address: string;
  /** When the connection opened (ms since the Unix epoch). */
  issued: number;
}

/**
 * The application's request (`emitWithAck`) waiting for the client's `ack` (or `nack`) of an id the server sent.
 * A consumer's delivery is not one: its consumer keeps the only record of it (`ConsumerHandle.settle`, issue 9 seam).
 */
export type Waiter = { kind: 'request'; settle: (err: Error | undefined, data?: unknown, answers?: unknown[]) => void };

const TEXT = { binary: false } as const;
const TEXT_PLAIN = { binary: false, compress: false } as const;
/** A binary message (R4.9: frames whose arguments hold binary values). */
const BINARY = { binary: true } as const;
const BINARY_PLAIN = { binary: true, compress: false } as const;
/** Over this many bytes queued, replay and consumer deliveries wait for the socket to drain (R2.5.7). */
const DRAIN_HIGH_WATER = 1 << 20;
/** `drain` while the queued bytes are in ws's sender (permessage-deflate), not the socket: how often it looks again. */
const DEFLATE_LOOK_MS = 2;
/** `sendEvents`: frames of one run go in one buffer of about this many bytes at most; longer frames are written alone. */
const RUN_BYTES = 256 * 1024;
const RUN_FRAME_CHARS = 16 * 1024;
/** `sendEvents`' byte lengths of the run being framed (reused). */
const runLengths: number[] = [];
/** After a 4002 close, the TCP connection is dropped this long later if the peer never read the close frame. */
const SLOW_CLOSE_GRACE_MS = 5000;
/** Within one tick, the outgoing buffer's cap is checked every this many frames (a power of 2). */
const CHECK_EVERY = 16;
/** Frames held while the main namespace's middleware runs; more are refused with rate_limited. */
export const MAX_EARLY_FRAMES = 1000;
/** Bytes held while the main namespace's middleware runs (at least one maxPayload). */
const MAX_EARLY_BYTES = 1 << 20;

// Write batching: a socket is corked at its first frame in a tick and uncorked when the tick's
// work is done (process.nextTick, before the event loop waits for I/O again: no added latency),
// so whatever the tick sends it leaves in one write (one syscall per socket per tick).
let touched: Connection[] = [];
function endTick(): void {
  const list = touched;
  touched = [];
  for (const c of list) c.endTick();
}

/** The last broadcast payload framed, and its frame: a broadcast hands every recipient the same Buffer. */
let framedPayload: Buffer | undefined;
let framed: Buffer = Buffer.alloc(0);

/** Write the header of a server's (unmasked, final, uncompressed) WebSocket frame of `n` payload bytes at `at` (RFC 6455 §5.2); returns where the payload goes. */
export function putHeader(f: Buffer, at: number, n: number, binary: boolean): number {
  f[at] = 0x80 | (binary ? 0x2 : 0x1);
  if (n < 126) {
    f[at + 1] = n;
    return at + 2;
  }
  if (n < 65536) {
    f[at + 1] = 126;
    f.writeUInt16BE(n, at + 2);
    return at + 4;
  }
  f[at + 1] = 127;
  f.writeUInt32BE(Math.floor(n / 0x1_0000_0000), at + 2);
  f.writeUInt32BE(n >>> 0, at + 6);
  return at + 10;
}

/** Bytes of that header. */
export const headerBytes = (n: number): number => (n < 126 ? 2 : n < 65536 ? 4 : 10);

/** A buffer for the frame of `n` payload bytes, its header written; returns it and where the payload goes. */
function frameFor(n: number, binary: boolean): [Buffer, number] {
  const f = Buffer.allocUnsafe(headerBytes(n) + n);
  return [f, putHeader(f, 0, n, binary)];
}

/**
 * The WebSocket frame of `payload`: text, or binary for a binary message (R4.9). The frame of
 * the latest payload is kept, so a broadcast builds it once whatever the number of recipients.
 */
function wsFrame(payload: Buffer, binary: boolean): Buffer {
  if (payload === framedPayload) return framed;
  const [f, at] = frameFor(payload.length, binary);
  payload.copy(f, at);
  framedPayload = payload;
  framed = f;
  return f;
}

/** The text frame of `text`, its UTF-8 written straight into the frame (one buffer, one write). */
function wsTextFrame(text: string): Buffer {
  const [f, at] = frameFor(Buffer.byteLength(text), false);
  f.write(text, at, 'utf8');
  return f;
}

/** The connection a WebSocket belongs to, on the WebSocket itself (read by the shared listeners). */
const CONN: unique symbol = Symbol('wsq.connection');
type Owned = WebSocket & { [CONN]?: Connection };

/** One client connection. */
export class Connection {
  readonly sockets = new Map<string, Socket>();
  /** Frames waiting for a namespace `connect` still in its middleware (capped at MAX_EARLY_FRAMES, R4.1.7). */
  waitingForConnect = 0;
  /** Last pong (proof that the peer read everything sent before the ping): R2.4.2, R2.4.5. */
  lastSeen: number;
  /** Why the connection ended, once it is ending (R2.5.8): what its sockets' `disconnect` events say. */
  closeReason: DisconnectReason = 'transport close';
  /** False once the application kicked it (`disconnect(true)`) or it broke the protocol: no session is kept (R2.7.2). */
  recoverable = true;
  /** Private session id (`welcome.pid`), with connection state recovery on (R2.7.1). */
  pid: string | undefined;
  /** Event frames sent, counted, the recent ones kept: only with connection state recovery on (R2.7.3). */
  ring: SentRing | undefined;
  /** The session this connection recovered (R2.7.5): namespaces other than `/` take their part at their `connect`. */
  restored: Claimed | undefined;
  /** Made at the first `track` (most connections never wait for an ack of theirs). */
  private waiting: Map<RequestId, Waiter> | undefined;
  private nextId = 1;
  private badCount = 0;
  private badWindowStart = 0;
  /** 0: nothing sent this tick; 1: one frame sent; 2: corked for the rest of the tick. */
  private tick: 0 | 1 | 2 = 0;
  /** Frames written this tick (the cap is checked every CHECK_EVERY of them, and at the end of the tick). */
  private frames = 0;
  private queue: [Buffer, boolean][] | undefined = [];
  private queuedBytes = 0;
  private closed = false;
  /** The server began to close it (closeReason is set). */
  private closing = false;
  /** Set once the outgoing buffer passed its cap and the 4002 close was started. */
  private overflowed = false;
  /** Callbacks waiting for the send buffer to drain below DRAIN_HIGH_WATER (consumer members). */
  private drainWaiters: (() => void)[] | undefined;
  /** No permessage-deflate was negotiated: broadcast frames go to the TCP socket as built (read once, at the first broadcast). */
  private plain: boolean | undefined;

  constructor(
    readonly host: ConnectionHost,
    readonly ws: WebSocket,
    readonly sid: string,
    readonly handshake: HandshakeInfo,
  ) {
    this.lastSeen = host.now();
    // One set of listeners for every connection (no closures per connection): each finds its connection on the WebSocket.
    (ws as Owned)[CONN] = this;
    ws.on('message', Connection.onWsMessage);
    ws.on('pong', Connection.onWsPong);
    ws.on('close', Connection.onWsClose);
    ws.on('error', Connection.onWsError);
  }

  private static onWsMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
    // biome-ignore lint/complexity/noThisInStatic: a listener's `this` is the WebSocket (typed so), not the class
    (this as Owned)[CONN]!.onMessage(data, isBinary);
  }

  private static onWsPong(this: WebSocket): void {
    // biome-ignore lint/complexity/noThisInStatic: a listener's `this` is the WebSocket (typed so), not the class
    const conn = (this as Owned)[CONN]!;
    conn.lastSeen = conn.host.now();
  }

  private static onWsClose(this: WebSocket): void {
    // biome-ignore lint/complexity/noThisInStatic: a listener's `this` is the WebSocket (typed so), not the class
    (this as Owned)[CONN]!.onClosed();
  }

  private static onWsError(this: WebSocket, err: Error): void {
    // biome-ignore lint/complexity/noThisInStatic: a listener's `this` is the WebSocket (typed so), not the class
    const conn = (this as Owned)[CONN]!;
    if (!conn.closed && !conn.closing) conn.closeReason = 'transport error';
    conn.logLimited('socket-error', 'warn', `socket error: ${err.message}`);
  }

  /** The client identity, if any. */
  get client(): string | undefined {
    return this.handshake.client;
  }

  /** True while the WebSocket is open. */
  get open(): boolean {
    return !this.closed && this.ws.readyState === 1;
  }

  /** Start handling frames (frames that arrived while the main namespace was set up are handled now, in order). */
  start(): void {
    const q = this.queue;
    this.queue = undefined;
    if (q) for (const [b, bin] of q) this.onMessage(b, bin);
  }

  /** Send a server frame (typed: only frames of wsq/1 §6 can be sent). */
  send(frame: ServerFrame): void {
    if (frame.type === 'error' && this.open) this.host.stats.errors[frame.code]++;
    this.sendText(encodeFrame(frame), frame.type);
  }

  /** Send an error frame; `message` defaults to the code's sentence. */
  sendError(code: ErrorCode, message?: string, id?: RequestId, details?: unknown): void {
    this.send(errorFrame(code, message, id, details));
  }

  /** Send already encoded JSON text (a frame of `type`, counted for `/metrics`; deliveries and replays are events). */
  sendText(text: string, type: FrameOutType = 'event'): void {
    if (!this.open) return;
    const stats = this.host.stats;
    stats.framesOut[type]++;
    stats.bytesOut += text.length;
    this.cork();
    if (this.ring && isEvent(text)) this.ring.push(text); // R2.7.3 (recovery on only)
    // R4.9: a wire text starting with U+0000 is a binary message (protocol/binary.ts); JSON goes as text.
    const raw = this.plainSocket();
    if (isBinaryWire(text)) {
      const buf = wireBuffer(text);
      if (raw) raw.write(wsFrame(buf, true));
      else this.ws.send(buf, BINARY);
    } else if (raw) raw.write(wsTextFrame(text));
    else this.ws.send(text);
  }

  /** Send an encoded frame from a broadcast; volatile frames are dropped when the socket is backed up. */
  sendEncoded(buf: Buffer, volatile = false, compress = true): void {
    if (!this.open) return;
    if (volatile && this.ws.bufferedAmount > this.host.limits.volatileHighWater) {
      this.host.stats.volatileDropped++;
      return;
    }
    this.cork();
    if (this.ring && isEvent(buf)) this.ring.push(buf); // R2.7.3 (recovery on only)
    const binary = isBinaryBytes(buf);
    const raw = this.plainSocket();
    // Without permessage-deflate a frame is header + payload, the same bytes for every recipient:
    // built once per broadcast (wsFrame) and written as they are, one write per recipient.
    if (raw) raw.write(wsFrame(buf, binary));
    else this.ws.send(buf, binary ? (compress ? BINARY : BINARY_PLAIN) : compress ? TEXT : TEXT_PLAIN);
  }

  /**
   * Send encoded `event` frames in order, each counted as `sendText` counts it
   * (a replay page). Without permessage-deflate and the recovery ring, a run of JSON frames is
   * framed into one buffer and written at once (one write per run, not one per frame); a binary
   * message or a large frame goes through `sendText` in its place.
   */
  sendEvents(frames: readonly string[]): void {
    if (!this.open) return;
    const raw = this.plainSocket();
    if (!raw || this.ring) {
      for (const f of frames) this.sendText(f);
      return;
    }
    const stats = this.host.stats;
    const end = frames.length;
    for (let i = 0; i < end; ) {
      let j = i;
      let size = 0;
      let chars = 0;
      for (; j < end && size < RUN_BYTES; j++) {
        const f = frames[j]!;
        if (f.length > RUN_FRAME_CHARS || isBinaryWire(f)) break;
        const n = Buffer.byteLength(f);
        runLengths[j - i] = n;
        size += n + headerBytes(n);
        chars += f.length;
      }
      if (j === i) {
        this.sendText(frames[i++]!);
        continue;
      }
      const buf = Buffer.allocUnsafe(size);
      let at = 0;
      for (let k = i; k < j; k++) {
        const n = runLengths[k - i]!;
        at = putHeader(buf, at, n, false);
        at += buf.write(frames[k]!, at, n, 'utf8');
      }
      stats.framesOut.event += j - i;
      stats.bytesOut += chars;
      this.cork();
      raw.write(buf);
      i = j;
    }
  }

  /** True when `sendEventBytes` takes frames as bytes on this connection (fixed once it is open: no permessage-deflate, no recovery ring). */
  takesBytes(): boolean {
    return this.plainSocket() !== undefined && !this.ring;
  }

  /**
   * Send `frames` `event` frames built as WebSocket text frames (headers and payloads, `putHeader`)
   * in `buf`, their JSON `chars` UTF-16 units long in all: one write, counted as `sendText` counts
   * them. False, nothing sent, when this connection's frames can't be written as they are
   * (permessage-deflate, or the recovery ring keeps what is sent): send them with `sendEvents`.
   */
  sendEventBytes(buf: Buffer, frames: number, chars: number): boolean {
    if (!this.open) return true;
    const raw = this.plainSocket();
    if (!raw || this.ring) return false; // where takesBytes() is false (the replay does not offer bytes there)
    const stats = this.host.stats;
    stats.framesOut.event += frames;
    stats.bytesOut += chars;
    this.cork();
    raw.write(buf);
    return true;
  }

  /**
   * The TCP socket, when frames may be written to it directly: no permessage-deflate on this
   * connection (ws then writes every frame synchronously, in call order, so a direct write keeps
   * the order of frames; ws's own `bufferedAmount` counts what is queued there).
   */
  private plainSocket(): import('node:net').Socket | undefined {
    if (this.plain === undefined) this.plain = this.ws.extensions === '';
    return this.plain ? (this.ws as unknown as { _socket?: import('node:net').Socket })._socket : undefined;
  }

  /** True while more than the drain high-water mark is queued (or the socket is closing): deliveries wait (R2.5.7). */
  backedUp(): boolean {
    return !this.open || this.ws.bufferedAmount >= DRAIN_HIGH_WATER;
  }

  /** Call `fn` once the send buffer has drained below the high-water mark (or the socket closed). One wait per connection, shared. */
  whenDrained(fn: () => void): void {
    if (this.drainWaiters) {
      this.drainWaiters.push(fn);
      return;
    }
    this.drainWaiters = [fn];
    const run = (): void => {
      if (this.open && this.ws.bufferedAmount >= DRAIN_HIGH_WATER) return void this.drain().then(run);
      const list = this.drainWaiters ?? [];
      this.drainWaiters = undefined;
      for (const f of list) f();
    };
    void this.drain().then(run);
  }

  /** Resolves once the socket's send buffer is below the high-water mark (replay backpressure). */
  drain(): Promise<void> {
    const raw = (this.ws as unknown as { _socket?: import('node:net').Socket })._socket;
    if (!this.open || !raw || this.ws.bufferedAmount < DRAIN_HIGH_WATER) return new Promise((r) => setImmediate(r));
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        raw.off('drain', done);
        raw.off('close', done);
        resolve();
      };
      // With permessage-deflate the bytes may wait in ws's sender (being compressed), not in the socket,
      // which then never emits 'drain' for them: look again shortly until they are below the mark.
      const look = (): void => {
        if (!this.open || this.ws.bufferedAmount < DRAIN_HIGH_WATER) return done();
        if (!raw.writableNeedDrain) timer = setTimeout(look, DEFLATE_LOOK_MS);
      };
      raw.on('drain', done);
      raw.on('close', done);
      look();
    });
  }

  /**
   * True when `id` is one this connection issued (an integer below the next id): an ack of it
   * that finds no waiter is late (the request timed out, the delivery was taken back), not a
   * mistake of the client (R2.6.3, R4.6.2).
   */
  issued(id: RequestId): boolean {
    return typeof id === 'number' && Number.isInteger(id) && id >= 1 && id < this.nextId;
  }

  /** Register something waiting for the client's ack; returns the id to send. */
  track(w: Waiter): number {
    const id = this.nextId++;
    (this.waiting ??= new Map()).set(id, w);
    return id;
  }

  /** A fresh id for a delivery whose consumer keeps the only record of it (`ConsumerHandle.settle`): nothing is kept here. */
  issue(): number {
    return this.nextId++;
  }

  /** Consumer deliveries waiting for this client's ack (read at `/metrics` scrape time, not counted on the way): their consumers count them. */
  pendingDeliveries(): number {
    let n = 0;
    for (const socket of this.sockets.values()) for (const sub of socket.subs.values()) if (sub.member) n += sub.consumer?.pendingFor(sub.member) ?? 0;
    return n;
  }

  /** Forget an id (its delivery was completed or moved elsewhere). */
  untrack(id: RequestId): void {
    this.waiting?.delete(id);
  }

  /** Take the waiter for an id the client acked or nacked. */
  takeWaiter(id: RequestId): Waiter | undefined {
    const w = this.waiting?.get(id);
    if (w) this.waiting!.delete(id);
    return w;
  }

  /** Close the WebSocket with a code and reason (kicks and bad-frame closes are logged, rate-limited). */
  close(code: number = CLOSE_CODES.normal, reason = ''): void {
    if (this.closed) return;
    if (code === CLOSE_CODES.kicked) this.logLimited('closed:4000', 'info', 'kicked; closing with 4000', { code, reason });
    else if (code === CLOSE_CODES.policy_violation) this.logLimited('closed:1008', 'warn', 'too many bad frames; closing with 1008', { code, reason });
    this.ending(
      code === CLOSE_CODES.going_away ? 'server shutting down' : code === CLOSE_CODES.policy_violation ? 'parse error' : 'forced close',
      code !== CLOSE_CODES.kicked && code !== CLOSE_CODES.policy_violation && code !== CLOSE_CODES.unauthorized,
    );
    this.ws.close(code, reason);
  }

  /** A line about this connection, at most one per second of its kind across the server. */
  private logLimited(kind: string, level: LogLevel, msg: string, more?: LogFields): void {
    const fields = connFields(this, more);
    if (this.host.logs) this.host.logs.limited(kind, level, msg, fields);
    else this.host.log(level, msg, undefined, fields);
  }

  /** Drop the TCP connection at once (a dead peer: `ping timeout`; otherwise `forced close`). */
  terminate(reason: DisconnectReason = 'forced close'): void {
    this.ending(reason, true);
    this.ws.terminate();
  }

  /** The server ends the connection for `reason` (the first reason given wins). */
  private ending(reason: DisconnectReason, recoverable: boolean): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    this.closeReason = reason;
    this.recoverable = recoverable;
  }

  /** @internal End of the tick: flush a corked socket, then check the outgoing buffer's cap (once per tick, not per write). */
  endTick(): void {
    if (this.tick === 2) (this.ws as unknown as { _socket?: import('node:net').Socket })._socket?.uncork();
    this.tick = 0;
    this.frames = 0;
    this.checkBuffer();
  }

  /**
   * R2.5.6: past `maxBufferedBytes` queued the connection is closed with 4002 slow_consumer
   * (nothing more is queued for it; the client resumes with since/durable). The close frame
   * waits behind the queued bytes; a peer that never reads them is dropped a little later.
   */
  checkBuffer(): void {
    const cap = this.host.limits.maxBufferedBytes; // 0: no cap
    if (!cap || this.overflowed || !this.open || this.ws.bufferedAmount <= cap) return;
    this.overflowed = true;
    this.host.stats.slowConsumerCloses++;
    this.logLimited('closed:4002', 'warn', `more than ${cap} bytes queued; closing with 4002 slow_consumer`, { code: CLOSE_CODES.slow_consumer });
    this.ending('forced close', true);
    this.ws.close(CLOSE_CODES.slow_consumer, 'slow_consumer: outgoing buffer over its cap; reconnect and resume');
    setTimeout(() => this.ws.terminate(), SLOW_CLOSE_GRACE_MS).unref();
  }

  /** Called before every write: corks the socket at the tick's first frame (endTick uncorks it), counts the frames after it. */
  private cork(): void {
    if (this.tick !== 0) {
      // A burst within one tick (e.g. a long replay page or a server-side publish loop) is checked as it goes.
      if ((++this.frames & (CHECK_EVERY - 1)) === 0) this.checkBuffer();
      return;
    }
    if (touched.push(this) === 1) process.nextTick(endTick);
    const raw = (this.ws as unknown as { _socket?: import('node:net').Socket })._socket;
    if (!raw) {
      this.tick = 1;
      return;
    }
    this.tick = 2;
    raw.cork();
  }

  /** Count a bad frame; past the limit the connection is closed with 1008. */
  bad(code: ErrorCode, message?: string, id?: RequestId, details?: unknown): void {
    this.sendError(code, message, id, details);
    const now = this.host.now();
    const { badFrameLimit, badFrameWindowMs } = this.host.limits;
    if (now - this.badWindowStart > badFrameWindowMs) {
      this.badWindowStart = now;
      this.badCount = 0;
    }
    if (++this.badCount > badFrameLimit) {
      this.close(CLOSE_CODES.policy_violation, `more than ${badFrameLimit} bad frames in ${badFrameWindowMs / 1000} s`);
    }
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (!this.open) return; // closing (e.g. after 1008): frames still in flight are not handled
    // Frames do not refresh lastSeen: only a pong proves the peer reads what it is sent (R2.4.5).
    const stats = this.host.stats;
    if (data.length > this.host.limits.maxPayload) {
      stats.bytesIn += data.length;
      stats.framesIn.invalid++;
    }
    const max = this.host.limits.maxPayload;
    if (data.length > max) {
      return this.bad(
        'payload_too_large',
        `The frame is ${data.length} bytes; this server accepts at most ${max} bytes per frame (see maxPayload in welcome). Send smaller frames.`,
      );
    }
    if (this.queue) {
      if (this.queue.length < MAX_EARLY_FRAMES && this.queuedBytes + data.length <= Math.max(max, MAX_EARLY_BYTES)) {
        this.queue.push([data, isBinary]);
        this.queuedBytes += data.length;
      } else {
        this.sendError(
          'rate_limited',
          `More than ${MAX_EARLY_FRAMES} frames (or ${Math.max(max, MAX_EARLY_BYTES)} bytes) arrived before the server accepted this connection; this one was dropped. Wait for the replies before sending more.`,
        );
      }
      return;
    }
    stats.bytesIn += data.length; // here, not above: a frame held before the start comes through again
    let frame: ClientFrame | undefined;
    try {
      // R3.14: decoding sits inside the try too: no exception from a frame ever escapes the connection.
      // R4.9: a binary message is a frame with attachments (maxPayload above counted all of it); JSON comes as text.
      const decoded = isBinary ? decodeClientBinary(data) : decodeClientFrame(data.toString());
      const framesIn = stats.framesIn;
      if (!decoded.ok) {
        framesIn.invalid++;
        return this.bad(decoded.error.code, decoded.error.message, decoded.error.id, decoded.error.details);
      }
      const f = (frame = decoded.frame);
      framesIn[f.type as FrameInType]++;
      const r = this.host.dispatch(this, f);
      if (r) r.catch((err) => this.failed(f, err));
    } catch (err) {
      this.failed(frame, err);
    }
  }

  private failed(frame: ClientFrame | undefined, err: unknown): void {
    const id = frame && 'id' in frame ? frame.id : undefined;
    const type = frame?.type ?? 'frame';
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      return this.bad('bad_frame', `${type}: the frame's JSON is nested too deeply to handle. Flatten "data" (at most ${LIMITS.depth} levels, R1.13).`, id);
    }
    this.host.log('error', `handling ${type} failed`, err, connFields(this));
    this.sendError('internal', undefined, id);
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.waiting) {
      for (const w of this.waiting.values()) if (w.kind === 'request') w.settle(new Error('the connection closed before the client answered'));
      this.waiting.clear();
    }
    this.host.onClose(this);
  }
}

/** True for an encoded `event` frame (every encoder writes `type` first; R2.7.3 counts these). */
function isEvent(frame: string | Buffer): boolean {
  return typeof frame === 'string'
    ? frame.startsWith(EVENT_PREFIX)
    : frame.length > EVENT_BYTES.length && frame.compare(EVENT_BYTES, 0, EVENT_BYTES.length, 0, EVENT_BYTES.length) === 0;
}
const EVENT_PREFIX = '{"type":"event"';
const EVENT_BYTES = Buffer.from(EVENT_PREFIX);
