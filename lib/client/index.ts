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
import type { WebSocketConstructor } from './transport.js';
import type { AnyEvents, ConnectOptions, EventMap } from './types.js';

export * from './common.js';

/**
 * Connect to a wsq server (over `ws` unless `options.WebSocket` says otherwise). Returns at
 * once; the connection opens in the background (emits made before then wait in the
 * outbox), and it reconnects by itself after a drop.
 *
 * `token` goes in the header `Authorization: Bearer <token>`, not in the URL (query
 * strings end up in logs; PROTOCOL.md §2.2). With your own `options.WebSocket`, which may
 * not take headers, it goes as `?token=` as in browsers.
 * @example
 * interface Chat { message: { text: string } }
 * const client = connect<Chat, Chat>('ws://localhost:8080/', { client: 'ann', token });
 * client.join('lobby').on('message', (m) => console.log(m.text));
 * client.emit('message', { text: 'hello' }, { room: 'lobby' });
 */
export function connect<Listen extends EventMap = AnyEvents, Emit extends EventMap = AnyEvents>(
  url: string,
  options: ConnectOptions = {},
): WsqClient<Listen, Emit> {
  if (options.WebSocket) return new WsqClient<Listen, Emit>(url, { ...options, WebSocket: options.WebSocket });
  const { token, ...rest } = options;
  const impl = token === undefined ? (WebSocket as unknown as WebSocketConstructor) : withBearer(token);
  return new WsqClient<Listen, Emit>(url, { ...rest, WebSocket: impl });
}

/** `ws` sending `Authorization: Bearer <token>` with every upgrade. */
function withBearer(token: string): WebSocketConstructor {
  const headers = { Authorization: `Bearer ${token}` };
  return class BearerWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers });
    }
  } as unknown as WebSocketConstructor;
}
