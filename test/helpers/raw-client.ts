/**
 * A raw wsq/1 client for tests: sends JSON frames as a person in wscat would, and waits
 * for frames with a bounded timeout (never a sleep).
 */
import { WebSocket } from 'ws';

export type Frame = Record<string, any>;

export interface RawOptions {
  protocols?: string | string[];
  headers?: Record<string, string>;
  /** Wait for welcome before resolving (default true). */
  welcome?: boolean;
}

export class RawClient {
  readonly frames: Frame[] = [];
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private cursor = 0;
  private syncs = 0;
  closed: Promise<{ code: number; reason: string }>;
  welcome!: Frame;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const f = JSON.parse(data.toString()) as Frame;
      this.frames.push(f);
      const i = this.waiters.findIndex((w) => w.pred(f));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        this.cursor = this.frames.length;
        w!.resolve(f);
      }
    });
    this.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  }

  /** Connect and (by default) wait for the welcome frame. */
  static async connect(url: string, opts: RawOptions = {}): Promise<RawClient> {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers });
    const c = new RawClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    });
    if (opts.welcome !== false) c.welcome = await c.next((f) => f.type === 'welcome');
    return c;
  }

  /** Send a frame object as JSON text. */
  send(frame: Frame): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Send raw text (or a Buffer as binary). */
  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /**
   * The next frame (after the last one waited for) matching `pred`, within `timeoutMs`.
   * Frames already received count, so a reply that raced ahead is not missed.
   */
  next(pred: ((f: Frame) => boolean) | string = () => true, timeoutMs = 3000): Promise<Frame> {
    const p = typeof pred === 'string' ? (f: Frame) => f.type === pred : pred;
    for (let i = this.cursor; i < this.frames.length; i++) {
      if (p(this.frames[i]!)) {
        this.cursor = i + 1;
        return Promise.resolve(this.frames[i]!);
      }
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
        reject(new Error(`no matching frame within ${timeoutMs} ms; last frames: ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Send a frame with an id and wait for the reply carrying that id. */
  async request(frame: Frame, timeoutMs = 3000): Promise<Frame> {
    const id = frame.id ?? `r${Math.random().toString(36).slice(2, 10)}`;
    this.send({ ...frame, id });
    return this.next((f) => f.id === id && f.type !== 'event', timeoutMs);
  }

  /** Collect `n` frames matching pred. */
  async collect(pred: (f: Frame) => boolean, n: number, timeoutMs = 5000): Promise<Frame[]> {
    const out: Frame[] = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < n) out.push(await this.next(pred, Math.max(1, deadline - Date.now())));
    return out;
  }

  /**
   * Round-trip a ping and wait for its pong: frames on one connection are ordered, so every
   * frame the server sent before the pong has arrived when this resolves. Use it to assert
   * that something did NOT arrive (then check `seen`). Does not move the `next` cursor.
   */
  async sync(timeoutMs = 3000): Promise<void> {
    const id = `sync-${++this.syncs}`;
    const cursor = this.cursor;
    this.send({ type: 'ping', id });
    await this.next((f) => f.type === 'pong' && f.id === id, timeoutMs);
    this.cursor = cursor;
  }

  /** Frames received so far that match pred. */
  seen(pred: (f: Frame) => boolean): Frame[] {
    return this.frames.filter(pred);
  }

  /** Close and wait for the close event. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}
