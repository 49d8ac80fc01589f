/**
 * `wsq/client` for Node: the client SDK on the `ws` package. Browsers use the browser
 * entry (`browser.ts`, bundled), which is the same client on the browser's WebSocket.
 * @example
 * import { connect } from 'wsq/client';
 * const client = connect('ws://localhost:8080/', { client: 'worker-1' });
 * client.join('jobs', { group: 'workers' }).on('job', async (job) => { await run(job); });
 */
import WebSocket from 'ws';
import { WsqClient } from './client.js';
import type { UpgradeRefusal, WebSocketConstructor, WebSocketLike } from './transport.js';
import type { AnyEvents, ConnectOptions, EventMap } from './types.js';

export * from './common.js';

/**
 * Connect to a wsq server (over `ws` unless `options.WebSocket` says otherwise). Returns at
 * once; the connection opens in the background (emits made before then wait in the
 * outbox), and it reconnects by itself after a drop.
 *
 * `token` (a string, or a callback called before every attempt) goes in the header
 * `Authorization: Bearer <token>`, not in the URL (query strings end up in logs; PROTOCOL.md
 * §2.2). With your own `options.WebSocket`, which may not take headers, it goes as
 * `?token=` as in browsers. A refused upgrade (401, 404, …) is reported as a
 * `WsqUpgradeError` with the HTTP status and the server's sentence.
 * @example
 * interface Chat { message: { text: string } }
 * const client = connect<Chat, Chat>('ws://localhost:8080/', { client: 'ann', token });
 * client.join('lobby').on('message', (m) => console.log(m.text));
 * client.emit('message', { text: 'hello' }, { room: 'lobby' });
 */
export function connect<Listen extends EventMap = AnyEvents, Emit extends EventMap = AnyEvents>(url: string, options: ConnectOptions = {}): WsqClient<Listen, Emit> {
  if (options.WebSocket) return new WsqClient<Listen, Emit>(url, { ...options, WebSocket: options.WebSocket });
  return new WsqClient<Listen, Emit>(url, { ...options, WebSocket: NodeWebSocket, headerSocket: nodeSocket });
}

/** `ws` that reads a refused upgrade's answer (see `nodeSocket`). */
const NodeWebSocket = function NodeWebSocket(url: string, protocols?: string | string[]) {
  return nodeSocket(url, protocols === undefined ? [] : ([] as string[]).concat(protocols), {});
} as unknown as WebSocketConstructor;

/** The most of a refused upgrade's body that is read, and how long it may take. */
const REFUSAL_BODY_BYTES = 1024;
const REFUSAL_BODY_MS = 2000;

/**
 * A `ws` WebSocket with `headers` on its upgrade. When the server answers the upgrade
 * with an HTTP status instead of 101 (I7 #16), it reads the status, `Retry-After` and the
 * first line of the body (at most 1 KiB, 2 s), puts them in `refusal`, and ends the
 * socket, so the client can report the server's sentence and decide whether to retry.
 */
function nodeSocket(url: string, protocols: string[], headers: Record<string, string>): WebSocketLike {
  const ws = new WebSocket(url, protocols, { headers });
  ws.on('unexpected-response', (_req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const line =
        text
          .split(/\r?\n/)
          .find((l) => l.trim() !== '')
          ?.trim() ??
        res.statusMessage ??
        '';
      const refusal: UpgradeRefusal = { status: res.statusCode ?? 0, body: line.slice(0, 300) };
      const retryAfter = Number(res.headers['retry-after']);
      if (res.headers['retry-after'] !== undefined && Number.isFinite(retryAfter) && retryAfter >= 0) refusal.retryAfterMs = retryAfter * 1000;
      (ws as unknown as { refusal: UpgradeRefusal }).refusal = refusal;
      res.removeAllListeners('data');
      res.on('error', () => {});
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate(); // ends the handshake: `error`, then `close` 1006, which the client reads with `refusal`
    };
    const timer = setTimeout(finish, REFUSAL_BODY_MS);
    res.on('data', (chunk: Buffer) => {
      if (size < REFUSAL_BODY_BYTES) chunks.push(chunk.subarray(0, REFUSAL_BODY_BYTES - size));
      size += chunk.length;
      if (size >= REFUSAL_BODY_BYTES) finish();
    });
    res.on('end', finish);
    res.on('error', finish);
    res.on('close', finish);
  });
  return ws as unknown as WebSocketLike;
}
