/**
 * The browser entry of the client SDK: the same client as `wsq/client`, on the browser's
 * own `WebSocket`. It imports no Node module, so a bundler can build it as is.
 * @example
 * <script type="module">
 *   import { connect } from '/wsq-client.js';
 *   const client = connect(`ws://${location.host}/`, { client: 'ann' });
 *   client.join('lobby', { since: 'earliest' }).on('message', (m) => show(m));
 * </script>
 */
import { WsqClient } from './client.js';
import { WsqError } from './errors.js';
import type { WebSocketConstructor } from './transport.js';
import type { AnyEvents, ConnectOptions, EventMap } from './types.js';

export * from './common.js';

/**
 * Connect to a wsq server over `globalThis.WebSocket` (or `options.WebSocket`).
 * @example
 * const client = connect('wss://example.com/', { token: sessionToken });
 * client.on('reconnecting', () => banner.show('reconnecting…'));
 * client.on('reconnected', () => banner.hide());
 */
export function connect<Listen extends EventMap = AnyEvents, Emit extends EventMap = AnyEvents>(url: string, options: ConnectOptions = {}): WsqClient<Listen, Emit> {
  const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!impl) throw new WsqError('closed', 'There is no global WebSocket here; pass one as the "WebSocket" option (in Node, import connect from "wsq/client").');
  return new WsqClient<Listen, Emit>(url, { ...options, WebSocket: impl });
}
