/**
 * A raw wsq/1 peer for the conformance runner: plain `ws`, JSON frames, and waits that
 * always end (a bounded timeout, never a hopeful sleep). It knows nothing of the server.
 */
import { WebSocket } from 'ws';

/** A frame as received: any JSON object. */
export type Frame = Record<string, any>;

/** How to open a peer. */
export interface PeerOptions {
  /** Sub-protocols to offer (default: `wsq.v1`). */
  protocols?: string[];
  /** Extra upgrade headers (e.g. `Authorization`). */
  headers?: Record<string, string>;
  /** `?client=` identity. */
  client?: string;
  /** Wait for `welcome` before resolving (default true). */
  welcome?: boolean;
  /** Bounded wait for one frame, in ms. */
  waitMs: number;
}

/** The outcome of an upgrade the server refused. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}: ${body}`);
  }
}

/** Add query parameters to a ws:// URL. */
export function withQuery(url: string, q: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
  return u.toString();
}

/** One WebSocket to the server under test, recording every frame it receives. */
export class Peer {
  /** Every text frame received, parsed (or `{ $text }` when it was not a JSON object). */
  readonly frames: Frame[] = [];
  /** Binary messages received (a wsq/1 server sends none). */
  binary = 0;
  /** WebSocket pings received from the server. */
  pings = 0;
  welcome: Frame = {};
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Frames already handed out by `next` (each frame is handed out once). */
  private readonly used = new WeakSet<Frame>();
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private n = 0;

  private constructor(
    readonly ws: WebSocket,
    readonly waitMs: number,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return void this.binary++;
      let f: Frame;
      try {
        const v: unknown = JSON.parse(data.toString());
        f = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Frame) : { $text: data.toString() };
      } catch {
        f = { $text: data.toString() };
      }
      this.frames.push(f);
      const i = this.waiters.findIndex((w) => w.pred(f));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        this.used.add(f);
        w!.resolve(f);
      }
    });
    ws.on('ping', () => void this.pings++);
    ws.on('error', () => {});
    this.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  }

  /** Open a connection (rejects with UpgradeRefused on an HTTP refusal) and by default wait for welcome. */
  static async open(url: string, opts: PeerOptions): Promise<Peer> {
    const target = opts.client !== undefined ? withQuery(url, { client: opts.client }) : url;
    const ws = new WebSocket(target, opts.protocols ?? ['wsq.v1'], { headers: opts.headers, handshakeTimeout: opts.waitMs });
    const p = new Peer(ws, opts.waitMs);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, body.trim())));
        res.on('error', () => reject(new UpgradeRefused(res.statusCode ?? 0, body.trim())));
      });
    });
    if (opts.welcome !== false) p.welcome = await p.next('welcome');
    return p;
  }

  /** Send a frame object as JSON text. */
  send(frame: Frame): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  /** Send raw text, or a Buffer as a binary message. */
  sendRaw(data: string | Buffer, binary = false): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, { binary });
  }

  /** The first frame not handed out before that matches (already received or arriving within the wait). */
  next(pred: ((f: Frame) => boolean) | string = () => true, waitMs = this.waitMs): Promise<Frame> {
    const p = typeof pred === 'string' ? (f: Frame) => f.type === pred : pred;
    const f = this.frames.find((x) => !this.used.has(x) && p(x));
    if (f) {
      this.used.add(f);
      return Promise.resolve(f);
    }
    return new Promise((resolve, reject) => {
      const w = {
        pred: p,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w) >>> 0, 1);
        reject(new Error(`nothing matching arrived within ${waitMs} ms (last frames: ${short(this.frames.slice(-3))})`));
      }, waitMs);
      this.waiters.push(w);
    });
  }

  /** Send a request with a fresh id (unless it has one) and wait for the non-event frame carrying it. */
  async request(frame: Frame, waitMs = this.waitMs): Promise<Frame> {
    const id = frame.id ?? `q${++this.n}`;
    this.send({ ...frame, id });
    return this.next((f) => f.id === id && f.type !== 'event', waitMs);
  }

  /** Collect `n` frames matching pred within one overall wait. */
  async collect(pred: (f: Frame) => boolean, n: number, waitMs = this.waitMs): Promise<Frame[]> {
    const out: Frame[] = [];
    const end = Date.now() + waitMs;
    while (out.length < n) out.push(await this.next(pred, Math.max(1, end - Date.now())));
    return out;
  }

  /**
   * Round-trip a ping: every frame the server sent before its pong has arrived when this
   * resolves (one connection is ordered). Use it before asserting that something did NOT come.
   */
  async sync(waitMs = this.waitMs): Promise<void> {
    const id = `sync-${++this.n}`;
    this.send({ type: 'ping', id });
    await this.next((f) => f.type === 'pong' && f.id === id, waitMs);
  }

  /** Frames received so far that match. */
  seen(pred: (f: Frame) => boolean): Frame[] {
    return this.frames.filter(pred);
  }

  /** The close code, or undefined if the connection did not close within the wait. */
  async closeCode(waitMs = this.waitMs): Promise<number | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.closed, new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), waitMs)))]);
    clearTimeout(timer);
    return r?.code;
  }

  /** True while the WebSocket is open. */
  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Close and wait (bounded) for the close to complete. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    const timer = setTimeout(() => this.ws.terminate(), 1000);
    await this.closed;
    clearTimeout(timer);
  }
}

/** A short rendering of frames for failure messages. */
export function short(v: unknown, max = 300): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
