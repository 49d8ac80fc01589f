/**
 * Connection: one WebSocket's state — its sid and identity, the namespaces it has
 * connected (one Socket each), the ids it is expected to ack, the bad-frame limiter —
 * and the only place frames are read from or written to a socket on the server side.
 */
import type { WebSocket } from 'ws';
import { decodeClientFrame, encodeFrame, errorFrame } from '../protocol/codec.js';
import { CLOSE_CODES, type ErrorCode } from '../protocol/codes.js';
import type { ClientFrame, RequestId } from '../protocol/frames.js';
import type { Consumer } from './consumer.js';
import type { Socket } from './socket.js';

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly limits: { maxPayload: number; badFrameLimit: number; badFrameWindowMs: number; volatileHighWater: number };
  now(): number;
  dispatch(conn: Connection, frame: ClientFrame): void | Promise<void>;
  onClose(conn: Connection): void;
  log(level: 'warn' | 'error', msg: string, err?: unknown): void;
}

/** Facts of the upgrade, kept small (the request itself is not held). */
export interface HandshakeInfo {
  /** Stable client identity from `?client=` (or, later, the token's subject). */
  client?: string;
  /** Credentials from `Authorization: Bearer` or `?token=`. */
  token?: string;
  /** Query parameters of the upgrade URL. */
  query: Record<string, string>;
  /** Remote address. */
  address: string;
  /** When the connection opened (ms since the Unix epoch). */
  issued: number;
}

/** Something waiting for the client's `ack` (or `nack`) of an id the server sent. */
export type Waiter =
  | { kind: 'delivery'; consumer: Consumer; offset: number }
  | { kind: 'request'; settle: (err: Error | undefined, data?: unknown) => void };

const TEXT = { binary: false } as const;
const TEXT_PLAIN = { binary: false, compress: false } as const;
const DRAIN_HIGH_WATER = 1 << 20;
/** Frames held while the main namespace's middleware runs; more are refused with rate_limited. */
const MAX_EARLY_FRAMES = 1000;
/** Bytes held while the main namespace's middleware runs (at least one maxPayload). */
const MAX_EARLY_BYTES = 1 << 20;

// Write batching: a socket's first frame in a tick goes out at once (no added latency);
// from its second frame in the same tick on, the socket is corked, so a burst leaves in one
// write when the tick ends (fewer syscalls per delivery under load).
let touched: Connection[] = [];
function endTick(): void {
  const list = touched;
  touched = [];
  for (const c of list) c.endTick();
}

/** One client connection. */
export class Connection {
  readonly sockets = new Map<string, Socket>();
  lastSeen: number;
  private readonly waiting = new Map<RequestId, Waiter>();
  private nextId = 1;
  private badCount = 0;
  private badWindowStart = 0;
  /** 0: nothing sent this tick; 1: one frame sent; 2: corked for the rest of the tick. */
  private tick: 0 | 1 | 2 = 0;
  private queue: [Buffer, boolean][] | undefined = [];
  private queuedBytes = 0;
  private closed = false;

  constructor(
    readonly host: ConnectionHost,
    readonly ws: WebSocket,
    readonly sid: string,
    readonly handshake: HandshakeInfo,
  ) {
    this.lastSeen = host.now();
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('pong', () => (this.lastSeen = this.host.now()));
    ws.on('close', () => this.onClosed());
    ws.on('error', (err) => this.host.log('warn', `socket ${sid}: ${err.message}`));
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

  /** Send a frame object. */
  send(frame: object): void {
    this.sendText(encodeFrame(frame));
  }

  /** Send an error frame; `message` defaults to the code's sentence. */
  sendError(code: ErrorCode, message?: string, id?: RequestId, details?: unknown): void {
    this.send(errorFrame(code, message, id, details));
  }

  /** Send already encoded JSON text. */
  sendText(text: string): void {
    if (!this.open) return;
    this.cork();
    this.ws.send(text);
  }

  /** Send an encoded frame from a broadcast; volatile frames are dropped when the socket is backed up. */
  sendEncoded(buf: Buffer, volatile = false, compress = true): void {
    if (!this.open) return;
    if (volatile && this.ws.bufferedAmount > this.host.limits.volatileHighWater) return;
    this.cork();
    this.ws.send(buf, compress ? TEXT : TEXT_PLAIN);
  }

  /** Resolves once the socket's send buffer is below the high-water mark (replay backpressure). */
  drain(): Promise<void> {
    const raw = (this.ws as unknown as { _socket?: import('node:net').Socket })._socket;
    if (!this.open || !raw || this.ws.bufferedAmount < DRAIN_HIGH_WATER) return new Promise((r) => setImmediate(r));
    return new Promise((resolve) => {
      const done = (): void => {
        raw.off('drain', done);
        raw.off('close', done);
        resolve();
      };
      raw.on('drain', done);
      raw.on('close', done);
    });
  }

  /** Register something waiting for the client's ack; returns the id to send. */
  track(w: Waiter): number {
    const id = this.nextId++;
    this.waiting.set(id, w);
    return id;
  }

  /** Forget an id (its delivery was completed or moved elsewhere). */
  untrack(id: RequestId): void {
    this.waiting.delete(id);
  }

  /** Take the waiter for an id the client acked or nacked. */
  takeWaiter(id: RequestId): Waiter | undefined {
    const w = this.waiting.get(id);
    if (w) this.waiting.delete(id);
    return w;
  }

  /** Close the WebSocket with a code and reason. */
  close(code: number = CLOSE_CODES.normal, reason = ''): void {
    if (this.closed) return;
    this.ws.close(code, reason);
  }

  /** Drop the TCP connection at once (dead peer). */
  terminate(): void {
    this.ws.terminate();
  }

  /** @internal End of the tick: flush a corked socket. */
  endTick(): void {
    if (this.tick === 2) (this.ws as unknown as { _socket?: import('node:net').Socket })._socket?.uncork();
    this.tick = 0;
  }

  /** Called before every write: counts frames this tick and corks from the second on. */
  private cork(): void {
    if (this.tick === 0) {
      this.tick = 1;
      if (touched.push(this) === 1) process.nextTick(endTick);
      return;
    }
    if (this.tick === 2) return;
    const raw = (this.ws as unknown as { _socket?: import('node:net').Socket })._socket;
    if (!raw) return;
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
    this.lastSeen = this.host.now();
    if (isBinary) return this.bad('unsupported_frame');
    const max = this.host.limits.maxPayload;
    if (data.length > max) {
      return this.bad('payload_too_large', `The frame is ${data.length} bytes; this server accepts at most ${max} bytes per frame (see maxPayload in welcome). Send smaller frames.`);
    }
    if (this.queue) {
      if (this.queue.length < MAX_EARLY_FRAMES && this.queuedBytes + data.length <= Math.max(max, MAX_EARLY_BYTES)) {
        this.queue.push([data, isBinary]);
        this.queuedBytes += data.length;
      } else {
        this.sendError('rate_limited', `More than ${MAX_EARLY_FRAMES} frames (or ${Math.max(max, MAX_EARLY_BYTES)} bytes) arrived before the server accepted this connection; this one was dropped. Wait for the replies before sending more.`);
      }
      return;
    }
    const decoded = decodeClientFrame(data.toString());
    if (!decoded.ok) return this.bad(decoded.error.code, decoded.error.message, decoded.error.id, decoded.error.details);
    try {
      const r = this.host.dispatch(this, decoded.frame);
      if (r) r.catch((err) => this.failed(decoded.frame, err));
    } catch (err) {
      this.failed(decoded.frame, err);
    }
  }

  private failed(frame: ClientFrame, err: unknown): void {
    const id = 'id' in frame ? frame.id : undefined;
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      return this.bad('bad_frame', `${frame.type}: the frame's JSON is nested too deeply to handle. Flatten "data" (a few hundred levels at most).`, id);
    }
    this.host.log('error', `handling ${frame.type} from ${this.sid} failed`, err);
    this.sendError('internal', undefined, id);
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.values()) if (w.kind === 'request') w.settle(new Error('the connection closed before the client answered'));
    this.waiting.clear();
    this.host.onClose(this);
  }
}
