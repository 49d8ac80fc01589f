/**
 * A minimal MQTT 3.1.1 client for the peers bench: CONNECT (clean session), SUBSCRIBE,
 * PUBLISH at QoS 0, and the PUBLISH packets a subscription receives, over TCP or WebSocket
 * (subprotocol "mqtt"). Mosquitto is in the fan-out and idle-memory rows only: it has no
 * replayable log and no competing consumers to compare.
 */
import { Bytes, type Endpoint, openPipe, type Pipe } from './pipe.js';

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function str(s: string): Buffer {
  const b = Buffer.from(s);
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

function packet(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), remainingLength(body.length), body]);
}

/** One MQTT connection. */
export class MqttClient {
  private readonly bytes = new Bytes();
  private readonly pipe: Pipe;
  private onConnack: (() => void) | undefined;
  private onSuback: (() => void) | undefined;
  /** Called with each received PUBLISH payload. */
  onMessage: (payload: Buffer) => void = () => undefined;
  /** Set when the connection ended. */
  closed: string | undefined;

  private constructor(ep: Endpoint) {
    this.pipe = openPipe({ protocol: 'mqtt', ...ep }, { onData: (c) => this.onData(c), onClose: (e) => (this.closed = e ?? 'closed') });
  }

  /** Connect with a clean session and wait for CONNACK. */
  static async connect(ep: Endpoint, clientId: string): Promise<MqttClient> {
    const c = new MqttClient(ep);
    await c.pipe.opened;
    const acked = new Promise<void>((r) => (c.onConnack = r));
    const head = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c]);
    c.pipe.write(packet(0x10, Buffer.concat([head, str(clientId)])));
    await acked;
    return c;
  }

  /** Subscribe at QoS 0 and wait for SUBACK. */
  async subscribe(topic: string): Promise<void> {
    const done = new Promise<void>((r) => (this.onSuback = r));
    this.pipe.write(packet(0x82, Buffer.concat([Buffer.from([0x00, 0x01]), str(topic), Buffer.from([0x00])])));
    await done;
  }

  /** Publish at QoS 0 (fire and forget: Mosquitto acks nothing at this level). */
  publish(topic: string, payload: Buffer): void {
    this.pipe.write(packet(0x30, Buffer.concat([str(topic), payload])));
  }

  /** End the connection. */
  close(): void {
    this.pipe.end();
  }

  private onData(chunk: Buffer): void {
    this.bytes.push(chunk);
    for (;;) {
      const buf = this.bytes.view();
      if (buf.length < 2) return;
      let len = 0;
      let mul = 1;
      let i = 1;
      for (;;) {
        if (i >= buf.length) return;
        const b = buf[i++]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) break;
      }
      if (buf.length < i + len) return;
      const type = buf[0]! >> 4;
      if (type === 3) {
        const tlen = buf.readUInt16BE(i);
        const qos = (buf[0]! >> 1) & 3;
        const start = i + 2 + tlen + (qos > 0 ? 2 : 0);
        this.onMessage(buf.subarray(start, i + len));
      } else if (type === 2) this.onConnack?.();
      else if (type === 9) this.onSuback?.();
      this.bytes.skip(i + len);
    }
  }
}
