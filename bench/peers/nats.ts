/**
 * A minimal NATS client for the peers bench (the text protocol: INFO, CONNECT, PING/PONG,
 * SUB, PUB, MSG, HMSG), over TCP or WebSocket, plus the few JetStream API requests the
 * workloads need. No reconnects, no per-message objects beyond what a handler asks for:
 * it exists so the load generator costs less than the server it measures.
 */
import { Bytes, type Endpoint, openPipe, type Pipe } from './pipe.js';

const CRLF = Buffer.from('\r\n');

/** A delivered message: its reply subject (JetStream acks go there) and payload bytes. */
export type NatsHandler = (payload: Buffer, reply: string | undefined, headers: string | undefined) => void;

/** A decimal number from ASCII digits `buf[from, to)`. */
function num(buf: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) n = n * 10 + (buf[i]! - 48);
  return n;
}

/** One NATS connection. */
export class NatsClient {
  private readonly bytes = new Bytes();
  private readonly subs = new Map<number, NatsHandler>();
  private nextSid = 1;
  private pongs: (() => void)[] = [];
  private readonly pipe: Pipe;
  private inboxSid = 0;
  private readonly inbox: string;
  private readonly waiting = new Map<string, (payload: Buffer) => void>();
  private nextReq = 1;
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushQueued = false;
  /** Set when the connection ended. */
  closed: string | undefined;

  private constructor(ep: Endpoint) {
    this.inbox = `_INBOX.${Math.random().toString(36).slice(2)}`;
    this.pipe = openPipe(ep, {
      onData: (c) => this.onData(c),
      onClose: (err) => {
        this.closed = err ?? 'closed';
      },
    });
  }

  /** Connect and complete the CONNECT/PING handshake. */
  static async connect(ep: Endpoint): Promise<NatsClient> {
    const c = new NatsClient(ep);
    await c.pipe.opened;
    c.write(`CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"lang":"wsq-bench","version":"0"}\r\n`);
    await c.ping();
    return c;
  }

  /** Round trip to the server (everything written before it has been processed). */
  ping(): Promise<void> {
    return new Promise((resolve) => {
      this.pongs.push(resolve);
      this.write('PING\r\n');
    });
  }

  /** Subscribe (with a queue group, for competing consumers); returns the sid. */
  sub(subject: string, handler: NatsHandler, queue?: string): number {
    const sid = this.nextSid++;
    this.subs.set(sid, handler);
    this.write(`SUB ${subject}${queue ? ` ${queue}` : ''} ${sid}\r\n`);
    return sid;
  }

  /** Publish bytes (optionally with a reply subject). Writes are batched per tick. */
  pub(subject: string, payload: Buffer | string, reply?: string): void {
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    this.write(`PUB ${subject}${reply ? ` ${reply}` : ''} ${body.length}\r\n`);
    this.writeBytes(body);
    this.writeBytes(CRLF);
  }

  /** A request/response over this connection's inbox; resolves with the reply payload. */
  request(subject: string, payload: Buffer | string, timeoutMs = 5_000): Promise<Buffer> {
    if (this.inboxSid === 0) this.inboxSid = this.sub(`${this.inbox}.*`, () => undefined);
    const token = `${this.inbox}.${this.nextReq++}`;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(new Error(`NATS request to ${subject} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(token, (p) => {
        clearTimeout(timer);
        resolve(p);
      });
      this.pub(subject, payload, token);
    });
  }

  /** A fresh subject of this connection's own (for a pull consumer's or push consumer's deliveries). */
  newInbox(): string {
    return `${this.inbox}_d${this.nextReq++}`;
  }

  /** Send a JetStream API request and parse its JSON answer; throws on `error`. */
  async jsApi(subject: string, body: unknown): Promise<Record<string, unknown>> {
    const r = JSON.parse((await this.request(subject, JSON.stringify(body ?? {}))).toString()) as Record<string, unknown>;
    if (r.error) throw new Error(`JetStream ${subject}: ${JSON.stringify(r.error)}`);
    return r;
  }

  /** End the connection. */
  close(): void {
    this.flush();
    this.pipe.end();
  }

  private write(text: string): void {
    this.writeBytes(Buffer.from(text));
  }

  private writeBytes(b: Buffer): void {
    this.out.push(b);
    this.outBytes += b.length;
    if (this.outBytes > 64 * 1024) this.flush();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0) return;
    const b = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    this.pipe.write(b);
  }

  private onData(chunk: Buffer): void {
    this.bytes.push(chunk);
    for (;;) {
      const buf = this.bytes.view();
      const eol = buf.indexOf(CRLF);
      if (eol < 0) return;
      const c0 = buf[0];
      if (c0 === 0x4d /* M */ || c0 === 0x48 /* H */) {
        // MSG <subject> <sid> [reply] <#bytes>  |  HMSG <subject> <sid> [reply] <#hdr> <#total>
        // Split on spaces by byte search (no string per message unless a handler needs it).
        const sp: number[] = [];
        for (let at = buf.indexOf(0x20, 0); at >= 0 && at < eol; at = buf.indexOf(0x20, at + 1)) sp.push(at);
        const isH = c0 === 0x48;
        const total = num(buf, sp[sp.length - 1]! + 1, eol);
        const hdr = isH ? num(buf, sp[sp.length - 2]! + 1, sp[sp.length - 1]!) : 0;
        const hasReply = sp.length === (isH ? 5 : 4);
        const end = eol + 2 + total + 2;
        if (buf.length < end) return;
        const sid = num(buf, sp[1]! + 1, sp[2] ?? eol);
        const reply = hasReply ? buf.toString('latin1', sp[2]! + 1, sp[3]!) : undefined;
        const headers = isH ? buf.toString('latin1', eol + 2, eol + 2 + hdr) : undefined;
        const payload = buf.subarray(eol + 2 + hdr, eol + 2 + total);
        this.bytes.skip(end);
        if (sid === this.inboxSid) {
          const subject = buf.toString('latin1', sp[0]! + 1, sp[1]!);
          const w = this.waiting.get(subject);
          this.waiting.delete(subject);
          w?.(payload);
        } else this.subs.get(sid)?.(payload, reply, headers);
        continue;
      }
      const line = buf.toString('latin1', 0, eol);
      this.bytes.skip(eol + 2);
      if (line === 'PING') this.write('PONG\r\n');
      else if (line === 'PONG') this.pongs.shift()?.();
      else if (line.startsWith('-ERR')) this.closed = line;
      // INFO and +OK need nothing.
    }
  }
}
