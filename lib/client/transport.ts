/**
 * The WebSocket seam. The client talks to any constructor shaped like the browser's
 * `WebSocket` (the browser's own, or the `ws` package in Node), so nothing here imports
 * a Node module: the Node entry (`index.ts`) passes `ws`, the browser entry
 * (`browser.ts`) passes `globalThis.WebSocket`.
 */
import { binaryWireBytes, isBinaryWire } from '../../protocol/binary.js';
import { SUBPROTOCOL } from '../../protocol/codes.js';

/** The part of a WebSocket the client uses (the browser's WebSocket and `ws` both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  /** The sub-protocol the server chose ("" when none). */
  readonly protocol: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  /**
   * The HTTP answer of a refused upgrade, set before `onclose` by an implementation that
   * can read it (the Node entry's; a browser's WebSocket cannot: it reports 1006 only).
   */
  readonly refusal?: UpgradeRefusal;
}

/** A refused upgrade as the Node entry sees it: the HTTP status and the server's one-line body. */
export interface UpgradeRefusal {
  status: number;
  /** The first line of the body (at most 1 KiB read), or the status text when there was none. */
  body: string;
  /** The `Retry-After` header, in ms, when it carried a number of seconds. */
  retryAfterMs?: number;
}

/** Opens one WebSocket (the client passes the URL with `?client=`, and `?token=` unless `bearer` is set). */
export type SocketFactory = (url: string, protocols: string[]) => WebSocketLike;

/** A WebSocket constructor: `globalThis.WebSocket` in a browser, `ws`'s default export in Node. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** What a transport reports. */
export interface TransportHandlers {
  /** The WebSocket is open. */
  open(): void;
  /** One text frame arrived. */
  message(text: string): void;
  /** A binary message arrived (R4.9: a frame with attachments), as its bytes. */
  binary(data: Uint8Array): void;
  /**
   * The WebSocket closed (or could not open: then `refusal` says why, where it is known). Called once, never after `close()`.
   * `errored`: the WebSocket reported an error before it closed (R2.5.9 `transport error`).
   */
  close(code: number, reason: string, refusal?: UpgradeRefusal, errored?: boolean): void;
}

/** Credentials and identity the client sends at the upgrade. */
export interface UpgradeParams {
  /** A stable client identity: sent as `?client=`. */
  client?: string;
  /** A token: sent as `?token=` (browsers cannot set an Authorization header). */
  token?: string;
  /** Connection state recovery (R2.7.5): the session's `pid` (`?recover=`) and the events received on it (`?seen=`). */
  recover?: string;
  seen?: number;
}

/**
 * The URL to open: `url` with `?client=` and `?token=` set (other query parameters kept).
 * @example
 * upgradeUrl('ws://localhost:8080/', { client: 'alice', token: 't0k' });
 * // 'ws://localhost:8080/?client=alice&token=t0k'
 */
export function upgradeUrl(url: string, params: UpgradeParams): string {
  const u = new URL(url);
  if (params.client !== undefined) u.searchParams.set('client', params.client);
  if (params.token !== undefined) u.searchParams.set('token', params.token);
  if (params.recover !== undefined) {
    u.searchParams.set('recover', params.recover);
    u.searchParams.set('seen', String(params.seen ?? 0));
  }
  return u.toString();
}

/** WebSocket `readyState` values (the same numbers in browsers and `ws`). */
export const OPEN = 1;

/**
 * One WebSocket connection. It offers the `wsq.v1` sub-protocol, hands text frames to
 * `handlers.message`, and reports the end exactly once, unless the owner closed it.
 * @example
 * const t = new Transport((url, protocols) => new WebSocket(url, protocols), 'ws://localhost:8080/', {
 *   open: () => t.send('{"type":"ping"}'),
 *   message: (text) => console.log(text),
 *   binary: () => {},
 *   close: (code) => console.log('closed', code),
 * });
 */
export class Transport {
  private socket: WebSocketLike | undefined;
  private ended = false;
  private errored = false;

  constructor(
    create: SocketFactory,
    url: string,
    private readonly handlers: TransportHandlers,
  ) {
    let socket: WebSocketLike;
    try {
      socket = create(url, [SUBPROTOCOL]);
    } catch (e) {
      // A malformed URL throws synchronously; report it as a failed connection.
      queueMicrotask(() => this.end(1006, (e as Error).message));
      return;
    }
    this.socket = socket;
    // R4.9: binary messages as ArrayBuffers (a browser's default, Blob, would need an await per message).
    try {
      (socket as { binaryType?: string }).binaryType = 'arraybuffer';
    } catch {
      // a WebSocket-like object without binaryType: its binary data is handled below as it comes
    }
    socket.onopen = () => {
      if (!this.ended) handlers.open();
    };
    socket.onmessage = (event: { data: unknown }) => {
      if (this.ended) return;
      if (typeof event.data === 'string') handlers.message(event.data);
      else if (event.data instanceof ArrayBuffer) handlers.binary(new Uint8Array(event.data));
      else if (ArrayBuffer.isView(event.data)) handlers.binary(new Uint8Array(event.data.buffer, event.data.byteOffset, event.data.byteLength));
      else handlers.binary(new Uint8Array(0)); // unreadable here (e.g. a Blob): reported as a malformed binary message
    };
    socket.onclose = (event: { code?: number; reason?: string }) => {
      this.end(event.code ?? 1006, event.reason ?? '', socket.refusal);
    };
    // An error is always followed by a close; the close is what the client acts on (its reason: `transport error`).
    socket.onerror = () => {
      this.errored = true;
    };
  }

  /** True while frames can be sent. */
  get isOpen(): boolean {
    return !this.ended && this.socket?.readyState === OPEN;
  }

  /** Send one frame (a wire text: JSON, or a binary message, protocol/binary.ts); false when the socket is not open (nothing was sent). */
  send(text: string): boolean {
    if (!this.isOpen) return false;
    try {
      this.socket!.send(isBinaryWire(text) ? binaryWireBytes(text) : text);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Close the socket and stop reporting: no `close` handler call follows. Returns a
   * promise that settles when the socket has closed (or right away if it never opened).
   */
  close(code = 1000, reason = ''): Promise<void> {
    this.ended = true;
    const socket = this.socket;
    if (!socket || socket.readyState === 3 /* CLOSED */) return Promise.resolve();
    return new Promise<void>((resolve) => {
      socket.onclose = () => resolve();
      socket.onmessage = null;
      socket.onopen = null;
      try {
        socket.close(code, reason);
      } catch {
        resolve();
      }
    });
  }

  private end(code: number, reason: string, refusal?: UpgradeRefusal): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.close(code, reason, refusal, this.errored);
  }
}
