/**
 * Test helpers for wsq/1's binary messages (PROTOCOL.md §4.9), written from the spec rather than
 * from protocol/binary.ts, so the tests check the documented layout: a u32 count, u32 lengths, the
 * attachments, then the frame's JSON.
 */
import { WebSocket } from 'ws';

/** A received message: the frame, and for a binary message its attachments put back at `bin`. */
export interface Got {
  frame: Record<string, any>;
  binary: boolean;
  parts: Buffer[];
}

/** Build a binary message of `frame` (which lists `bin`) and its attachments. */
export function binaryMessage(frame: object, parts: Uint8Array[]): Buffer {
  const head = Buffer.alloc(4 + 4 * parts.length);
  head.writeUInt32BE(parts.length, 0);
  for (const [i, p] of parts.entries()) head.writeUInt32BE(p.byteLength, 4 + 4 * i);
  return Buffer.concat([head, ...parts.map((p) => Buffer.from(p)), Buffer.from(JSON.stringify(frame))]);
}

/** Split a binary message by the documented layout and put the attachments at their `bin` paths. */
export function readBinary(buf: Buffer): { frame: Record<string, any>; parts: Buffer[] } {
  const k = buf.readUInt32BE(0);
  let at = 4 + 4 * k;
  const parts: Buffer[] = [];
  for (let i = 0; i < k; i++) {
    const len = buf.readUInt32BE(4 + 4 * i);
    parts.push(buf.subarray(at, at + len));
    at += len;
  }
  const frame = JSON.parse(buf.subarray(at).toString('utf8')) as Record<string, any>;
  return { frame, parts };
}

/** Put each attachment where its `bin` path says (a copy of the frame; `bin` removed). */
export function placed(frame: Record<string, any>, parts: Buffer[]): Record<string, any> {
  const f = structuredClone(frame);
  (f.bin as (string | number)[][]).forEach((path, i) => {
    let at: any = f;
    for (const k of path.slice(0, -1)) at = at[k];
    at[path[path.length - 1]!] = parts[i];
  });
  delete f.bin;
  return f;
}

/** A raw WebSocket that keeps every message (text or binary) and waits for them with a bound. */
export class BinClient {
  readonly got: Got[] = [];
  private waiters: { pred: (g: Got) => boolean; resolve: (g: Got) => void }[] = [];
  private cursor = 0;
  welcome!: Record<string, any>;
  readonly closed: Promise<{ code: number }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const g: Got = isBinary ? { ...readBinary(data), binary: true } : { frame: JSON.parse(data.toString()), binary: false, parts: [] };
      this.got.push(g);
      const i = this.waiters.findIndex((w) => w.pred(g));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        this.cursor = this.got.length;
        w!.resolve(g);
      }
    });
    this.closed = new Promise((r) => ws.on('close', (code) => r({ code })));
  }

  static async connect(url: string): Promise<BinClient> {
    const c = new BinClient(new WebSocket(url));
    await new Promise<void>((resolve, reject) => {
      c.ws.once('open', () => resolve());
      c.ws.once('error', reject);
    });
    c.welcome = (await c.next((g) => g.frame.type === 'welcome')).frame;
    return c;
  }

  send(frame: object): void {
    this.ws.send(JSON.stringify(frame));
  }

  sendBinary(frame: object, parts: Uint8Array[]): void {
    this.ws.send(binaryMessage(frame, parts), { binary: true });
  }

  /** The next message (after the last one waited for) matching `pred`, within `ms`. */
  next(pred: (g: Got) => boolean, ms = 3000): Promise<Got> {
    for (let i = this.cursor; i < this.got.length; i++) {
      if (pred(this.got[i]!)) {
        this.cursor = i + 1;
        return Promise.resolve(this.got[i]!);
      }
    }
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (g: Got) => (clearTimeout(timer), resolve(g)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w) >>> 0, 1);
        reject(new Error(`no matching message within ${ms} ms; last: ${JSON.stringify(this.got.slice(-3).map((g) => g.frame))}`));
      }, ms);
      this.waiters.push(w);
    });
  }

  /** The next frame of `type` (and matching `pred`). */
  async frame(type: string, pred: (f: Record<string, any>) => boolean = () => true, ms = 3000): Promise<Got> {
    return this.next((g) => g.frame.type === type && pred(g.frame), ms);
  }

  async request(frame: Record<string, any>): Promise<Got> {
    this.send(frame);
    return this.next((g) => g.frame.id === frame.id && g.frame.type !== 'event');
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

/** A BinClient closed at teardown. */
export async function binClient(t: { teardown(fn: () => unknown): void }, url: string): Promise<BinClient> {
  const c = await BinClient.connect(url);
  t.teardown(() => c.close());
  return c;
}
