/**
 * A minimal WebSocket client (RFC 6455) for the bench's subscribers: a real handshake and
 * real framing over a TCP socket, but none of the per-message layers of a full client
 * (no stream, no event per frame, no copies): each complete data frame is handed to a
 * callback as (chunk, start, end) inside the received chunk. A server cannot tell it from any
 * other client; it exists so that 1,000 subscribers in one process cost less than the server
 * they measure.
 *
 * Limits (fine for a bench against our own servers): no extensions, no fragmented messages
 * (reported as an error), server frames under 4 GiB.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEADER_END = Buffer.from('\r\n\r\n');

/** What a {@link LeanWebSocket} reports to its owner. */
export interface LeanHandlers {
  /** A complete text or binary message: its payload is `chunk[start, end)`; valid only during the call. */
  onMessage(chunk: Buffer, start: number, end: number): void;
  /** A protocol problem (a fragmented or masked frame, a bad handshake). */
  onError(message: string): void;
  /** The connection ended. */
  onClose(): void;
  /** Called once per read from the socket after the handshake (to count reads). */
  onRead?(): void;
}

/** One client connection; create with {@link connectLean}. */
export class LeanWebSocket {
  private rest: Buffer | undefined;
  private open = false;
  private header: Buffer = Buffer.alloc(0);
  private closed = false;
  private onOpen: (err?: Error) => void = () => undefined;
  /** Settles when the handshake succeeded (or failed). Frames may be reported before it settles. */
  readonly opened: Promise<void>;

  /** @internal use {@link connectLean} */
  constructor(
    private readonly socket: net.Socket,
    private readonly handlers: LeanHandlers,
    private readonly key: string,
  ) {
    this.opened = new Promise((resolve, reject) => {
      this.onOpen = (err) => (err ? reject(err) : resolve());
    });
    this.opened.catch(() => undefined); // the owner awaits it; never an unhandled rejection
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (!this.open) return this.handshake(chunk);
      handlers.onRead?.();
      this.frames(chunk);
    });
    socket.on('error', (err) => (this.open ? handlers.onError(err.message) : this.onOpen(err)));
    socket.on('close', () => {
      if (!this.open) this.onOpen(new Error('connection closed during the WebSocket handshake'));
      if (!this.closed) {
        this.closed = true;
        handlers.onClose();
      }
    });
  }

  /** Send one text message (masked, as a client must). */
  send(text: string): void {
    this.sendFrame(0x1, Buffer.from(text));
  }

  /** Send one binary message (masked): the peers bench speaks NATS and MQTT over WebSocket with it. */
  sendBinary(payload: Buffer): void {
    this.sendFrame(0x2, payload);
  }

  /** End the connection at once (no closing handshake) and stop reporting. */
  terminate(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private sendFrame(opcode: number, payload: Buffer): void {
    const len = payload.length;
    const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(head + 4 + len);
    frame[0] = 0x80 | opcode;
    if (head === 2) frame[1] = 0x80 | len;
    else if (head === 4) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(len, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(len), 2);
    }
    const mask = randomBytes(4);
    mask.copy(frame, head);
    for (let i = 0; i < len; i++) frame[head + 4 + i] = payload[i]! ^ mask[i & 3]!;
    this.socket.write(frame);
  }

  private handshake(chunk: Buffer): void {
    this.header = this.header.length === 0 ? chunk : Buffer.concat([this.header, chunk]);
    const end = this.header.indexOf(HEADER_END);
    if (end === -1) return;
    const text = this.header.toString('latin1', 0, end);
    const rest = this.header.subarray(end + HEADER_END.length);
    this.header = Buffer.alloc(0);
    const expected = createHash('sha1')
      .update(this.key + GUID)
      .digest('base64');
    const accept = /^sec-websocket-accept:\s*(\S+)/im.exec(text)?.[1];
    if (!/^HTTP\/1\.1 101 /.test(text) || accept !== expected) {
      this.onOpen(new Error(`WebSocket handshake refused: ${text.split('\r\n')[0]}`));
      this.terminate();
      return;
    }
    this.open = true;
    this.onOpen();
    if (rest.length > 0) this.frames(rest);
  }

  /** Split a chunk into frames; keep an incomplete tail for the next chunk. */
  private frames(chunk: Buffer): void {
    const buf = this.rest === undefined ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = undefined;
    const len = buf.length;
    let i = 0;
    while (i + 2 <= len) {
      const b0 = buf[i]!;
      const b1 = buf[i + 1]!;
      let size = b1 & 0x7f;
      let start = i + 2;
      if (size === 126) {
        if (i + 4 > len) break;
        size = buf.readUInt16BE(i + 2);
        start = i + 4;
      } else if (size === 127) {
        if (i + 10 > len) break;
        size = buf.readUInt32BE(i + 6);
        start = i + 10;
      }
      if (b1 & 0x80) {
        this.handlers.onError('the server sent a masked frame');
        this.terminate();
        return;
      }
      const end = start + size;
      if (end > len) break;
      const opcode = b0 & 0x0f;
      if (opcode === 0x1 || opcode === 0x2) {
        if (b0 & 0x80) this.handlers.onMessage(buf, start, end);
        else this.handlers.onError('fragmented message (not supported by the bench client)');
      } else if (opcode === 0x0) {
        this.handlers.onError('continuation frame (not supported by the bench client)');
      } else if (opcode === 0x9) {
        this.sendFrame(0xa, buf.subarray(start, end));
      } else if (opcode === 0x8) {
        this.socket.end();
      }
      i = end;
    }
    if (i < len) this.rest = Buffer.from(buf.subarray(i));
  }
}

/**
 * Open a WebSocket to `url` (ws:// only). The socket is returned at once; `opened` settles
 * when the handshake is done. Messages in the same read as the handshake response are
 * reported right away, so handlers may already use the returned socket.
 *
 * @example
 * const ws = connectLean('ws://127.0.0.1:8080/', 'wsq.v1', {
 *   onMessage: (b, s, e) => console.log(b.toString('utf8', s, e)), onError: console.error, onClose: () => {},
 * });
 * await ws.opened;
 * ws.send('{"type":"join","room":"bench"}');
 */
export function connectLean(url: string, protocol: string | undefined, handlers: LeanHandlers): LeanWebSocket {
  const { hostname, port, pathname, search } = new URL(url);
  const key = randomBytes(16).toString('base64');
  const socket = net.connect({ host: hostname, port: Number(port) });
  const ws = new LeanWebSocket(socket, handlers, key);
  socket.write(
    `GET ${pathname || '/'}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
      '\r\n',
  );
  return ws;
}
