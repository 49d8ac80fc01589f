/**
 * A minimal AMQP 0-9-1 client for the peers bench, enough for RabbitMQ quorum queues:
 * the connection handshake (PLAIN guest/guest, no heartbeats), one channel, queue.declare /
 * queue.delete, confirm.select with basic.publish (persistent) and the broker's basic.ack
 * confirms, basic.qos + basic.consume with manual acks. One connection, one channel, no
 * recovery. A quorum queue confirms a publish once a majority of its Raft log has it on disk
 * (fsync): here, one node, so after this node's fsync.
 */
import net from 'node:net';

const FRAME_END = 0xce;

/** Field-table values the bench needs (strings and integers). */
type TableValue = string | number | boolean;

function shortstr(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length]), b]);
}

function longstr(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  const n = Buffer.allocUnsafe(4);
  n.writeUInt32BE(b.length);
  return Buffer.concat([n, b]);
}

function table(t: Record<string, TableValue>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(t)) {
    parts.push(shortstr(k));
    if (typeof v === 'string') parts.push(Buffer.from('S'), longstr(v));
    else if (typeof v === 'boolean') parts.push(Buffer.from([0x74, v ? 1 : 0]));
    else {
      const b = Buffer.allocUnsafe(5);
      b[0] = 0x49; // 'I'
      b.writeInt32BE(v, 1);
      parts.push(b);
    }
  }
  return longstr(Buffer.concat(parts));
}

const u16 = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
};
const u64 = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

function frame(type: number, channel: number, payload: Buffer): Buffer {
  const head = Buffer.allocUnsafe(7);
  head[0] = type;
  head.writeUInt16BE(channel, 1);
  head.writeUInt32BE(payload.length, 3);
  return Buffer.concat([head, payload, Buffer.from([FRAME_END])]);
}

function method(channel: number, cls: number, m: number, args: Buffer): Buffer {
  return frame(1, channel, Buffer.concat([u16(cls), u16(m), args]));
}

/** A delivery: its tag (to ack) and body. */
export type AmqpDelivery = (tag: number, body: Buffer) => void;

/** One connection with one channel (number 1). */
export class AmqpClient {
  private rest: Buffer | undefined;
  private readonly socket: net.Socket;
  private waiters: { cls: number; m: number; resolve: (args: Buffer) => void }[] = [];
  private confirmSeq = 0;
  private readonly confirms = new Map<number, () => void>();
  private deliver: AmqpDelivery = () => undefined;
  private pendingTag = 0;
  private pendingBody: Buffer[] = [];
  private pendingSize = 0;
  private out: Buffer[] = [];
  private flushQueued = false;
  /** Set when the broker closed the connection or channel (with its reply text). */
  closed: string | undefined;

  private constructor(host: string, port: number) {
    this.socket = net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (c: Buffer) => this.onData(c));
    this.socket.on('error', (e) => (this.closed = e.message));
    this.socket.on('close', () => (this.closed ??= 'closed'));
  }

  /** Connect, authenticate as guest/guest, open channel 1. */
  static async connect(host = '127.0.0.1', port = 5672, user = 'guest', pass = 'guest'): Promise<AmqpClient> {
    const c = new AmqpClient(host, port);
    await new Promise<void>((resolve, reject) => {
      c.socket.once('connect', () => resolve());
      c.socket.once('error', reject);
    });
    const start = c.expect(10, 10);
    c.socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
    await start;
    const tune = c.expect(10, 30);
    c.send(method(0, 10, 11, Buffer.concat([table({ product: 'wsq-bench' }), shortstr('PLAIN'), longstr(`\0${user}\0${pass}`), shortstr('en_US')])));
    const t = await tune;
    const frameMax = t.readUInt32BE(2);
    c.send(method(0, 10, 31, Buffer.concat([u16(1), u32(frameMax), u16(0)])));
    const opened = c.expect(10, 41);
    c.send(method(0, 10, 40, Buffer.concat([shortstr('/'), shortstr(''), Buffer.from([0])])));
    await opened;
    const ch = c.expect(20, 11);
    c.send(method(1, 20, 10, shortstr('')));
    await ch;
    return c;
  }

  /** Declare a durable quorum queue (deleting an old one of that name first). */
  async quorumQueue(name: string): Promise<void> {
    const del = this.expect(50, 41);
    this.send(method(1, 50, 40, Buffer.concat([u16(0), shortstr(name), Buffer.from([0])])));
    await del;
    const ok = this.expect(50, 11);
    this.send(method(1, 50, 10, Buffer.concat([u16(0), shortstr(name), Buffer.from([0x02]), table({ 'x-queue-type': 'quorum' })])));
    await ok;
  }

  /** Delete a queue. */
  async deleteQueue(name: string): Promise<void> {
    const del = this.expect(50, 41);
    this.send(method(1, 50, 40, Buffer.concat([u16(0), shortstr(name), Buffer.from([0])])));
    await del;
  }

  /** Put the channel in confirm mode (each publish gets a broker ack). */
  async confirmSelect(): Promise<void> {
    const ok = this.expect(85, 11);
    this.send(method(1, 85, 10, Buffer.from([0])));
    await ok;
  }

  /** Publish a persistent message to a queue (default exchange); `onConfirm` runs at the broker's ack. */
  publish(queue: string, body: Buffer, onConfirm?: () => void): void {
    const seq = ++this.confirmSeq;
    if (onConfirm) this.confirms.set(seq, onConfirm);
    const header = Buffer.concat([u16(60), u16(0), u64(body.length), u16(0x1000), Buffer.from([2])]);
    this.send(Buffer.concat([method(1, 60, 40, Buffer.concat([u16(0), shortstr(''), shortstr(queue), Buffer.from([0])])), frame(2, 1, header), frame(3, 1, body)]));
  }

  /** Set the channel's prefetch and consume a queue with manual acks. */
  async consume(queue: string, prefetch: number, onDelivery: AmqpDelivery): Promise<void> {
    const qos = this.expect(60, 11);
    this.send(method(1, 60, 10, Buffer.concat([u32(0), u16(prefetch), Buffer.from([0])])));
    await qos;
    this.deliver = onDelivery;
    const ok = this.expect(60, 21);
    this.send(method(1, 60, 20, Buffer.concat([u16(0), shortstr(queue), shortstr(''), Buffer.from([0]), table({})])));
    await ok;
  }

  /** Ack one delivery. */
  ack(tag: number): void {
    this.send(method(1, 60, 80, Buffer.concat([u64(tag), Buffer.from([0])])));
  }

  /** End the connection. */
  close(): void {
    this.flush();
    this.socket.destroy();
  }

  private expect(cls: number, m: number): Promise<Buffer> {
    return new Promise((resolve) => this.waiters.push({ cls, m, resolve }));
  }

  private send(b: Buffer): void {
    this.out.push(b);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0) return;
    this.socket.write(this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out));
    this.out = [];
  }

  private onData(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    let i = 0;
    while (i + 7 <= buf.length) {
      const type = buf[i]!;
      const size = buf.readUInt32BE(i + 3);
      if (i + 8 + size > buf.length) break;
      const payload = buf.subarray(i + 7, i + 7 + size);
      i += 8 + size;
      if (type === 1) this.onMethod(payload.readUInt16BE(0), payload.readUInt16BE(2), payload.subarray(4));
      else if (type === 2) {
        this.pendingSize = Number(payload.readBigUInt64BE(4));
        this.pendingBody = [];
        if (this.pendingSize === 0) this.deliver(this.pendingTag, Buffer.alloc(0));
      } else if (type === 3) {
        this.pendingBody.push(payload);
        this.pendingSize -= payload.length;
        if (this.pendingSize <= 0) this.deliver(this.pendingTag, this.pendingBody.length === 1 ? this.pendingBody[0]! : Buffer.concat(this.pendingBody));
      }
    }
    if (i < buf.length) this.rest = Buffer.from(buf.subarray(i));
  }

  private onMethod(cls: number, m: number, args: Buffer): void {
    if (cls === 60 && m === 60) {
      // basic.deliver: consumer-tag shortstr, delivery-tag longlong, ...
      this.pendingTag = Number(args.readBigUInt64BE(1 + args[0]!));
      return;
    }
    if (cls === 60 && (m === 80 || m === 120)) {
      // basic.ack / basic.nack from the broker (confirm mode)
      const tag = Number(args.readBigUInt64BE(0));
      const multiple = (args[8]! & 1) === 1;
      if (!multiple) {
        this.confirms.get(tag)?.();
        this.confirms.delete(tag);
      } else
        for (const [k, fn] of this.confirms)
          if (k <= tag) {
            fn();
            this.confirms.delete(k);
          }
      return;
    }
    if ((cls === 10 && m === 50) || (cls === 20 && m === 40)) {
      this.closed = `${cls === 10 ? 'connection' : 'channel'} closed by the broker: ${args.readUInt16BE(0)} ${args.toString('utf8', 3, 3 + args[2]!)}`;
      return;
    }
    const i = this.waiters.findIndex((w) => w.cls === cls && w.m === m);
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(args);
  }
}
