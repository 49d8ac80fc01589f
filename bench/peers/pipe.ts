/**
 * A byte pipe for the peers bench's minimal protocol clients: the same client code speaks
 * over plain TCP or over a WebSocket (binary frames, through `lean-ws.ts`), so NATS and MQTT
 * are measured over both transports with one parser each.
 */
import net from 'node:net';
import { connectLean } from '../lean-ws.js';

/** Bytes in, bytes out (Node hands each read a fresh buffer, so a parser may keep a chunk's tail). */
export interface Pipe {
  write(bytes: Buffer): void;
  end(): void;
  /** Resolves once the connection is open. */
  readonly opened: Promise<void>;
}

/** What a pipe reports. */
export interface PipeHandlers {
  onData(chunk: Buffer): void;
  onClose(err?: string): void;
}

/** Where a peer listens: `tcp://host:port` or `ws://host:port/path` (with a WebSocket subprotocol). */
export interface Endpoint {
  url: string;
  /** WebSocket subprotocol (MQTT needs "mqtt"). */
  protocol?: string;
}

/** Open a pipe to `ep`. */
export function openPipe(ep: Endpoint, h: PipeHandlers): Pipe {
  const u = new URL(ep.url);
  if (u.protocol === 'tcp:') {
    const socket = net.connect({ host: u.hostname, port: Number(u.port) });
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => h.onData(c));
    socket.on('error', (e) => h.onClose(e.message));
    socket.on('close', () => h.onClose());
    const opened = new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    opened.catch(() => undefined);
    return { write: (b) => void socket.write(b), end: () => socket.destroy(), opened };
  }
  const ws = connectLean(ep.url, ep.protocol, {
    onMessage: (chunk, start, end) => h.onData(chunk.subarray(start, end)),
    onError: (m) => h.onClose(m),
    onClose: () => h.onClose(),
  });
  return { write: (b) => ws.sendBinary(b), end: () => ws.terminate(), opened: ws.opened };
}

/** Collects chunks into one buffer a parser consumes from the front. */
export class Bytes {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  /** Add a chunk (copied only when a tail is pending). */
  push(chunk: Buffer): void {
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
      this.pos = 0;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
      this.pos = 0;
    }
  }

  /** Unread bytes. */
  get length(): number {
    return this.buf.length - this.pos;
  }

  /** The unread bytes (a view). */
  view(): Buffer {
    return this.buf.subarray(this.pos);
  }

  /** Consume n bytes. */
  skip(n: number): void {
    this.pos += n;
  }
}
