/**
 * A deliberately faulty wsq/1 server for the conformance runner's tests: a few dozen lines
 * of raw `ws` that speak wsq/1 badly in known ways, so the runner must name exactly these
 * requirements as FAIL:
 *
 * - `pong` never carries the ping's id (R2.4.3, R3.2, R6.9.1);
 * - an unknown frame type is answered with `bad_frame`, not `unknown_type` (R7.2, R2.6.1);
 * - an error about an `ack`/`nack` carries the delivery id as `id` (R1.8);
 * - an unknown field is accepted silently (R1.3).
 *
 * Everything else gets a plausible, fast answer so that the run stays short.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** Start the faulty server on 127.0.0.1 and a free port. */
export async function startFaultyServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('wsq.v1') ? 'wsq.v1' : false) });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  let n = 0;
  wss.on('connection', (ws) => {
    const send = (f: object): void => ws.send(JSON.stringify(f));
    send({ type: 'welcome', sid: `faulty${++n}`, protocol: 1, heartbeatMs: 25000, maxPayload: 1048576, server: { name: 'faulty', version: '0' } });
    ws.on('message', (data, binary) => {
      if (binary) return send({ type: 'error', code: 'unsupported_frame', message: 'Binary frames are not supported.' });
      let f: Record<string, any>;
      try {
        f = JSON.parse(data.toString());
      } catch {
        return send({ type: 'error', code: 'bad_json', message: 'The frame is not valid JSON.' });
      }
      const id = f.id === undefined ? {} : { id: f.id };
      switch (f.type) {
        case 'ping':
          return send({ type: 'pong' }); // fault: the id is dropped
        case 'join':
          return send({ type: 'joined', ns: f.ns ?? '/', room: f.room, epoch: 'e1', offset: 0, recovered: true, ...id });
        case 'leave':
          return send({ type: 'left', ns: f.ns ?? '/', room: f.room, ...id });
        case 'emit':
          return f.id === undefined ? undefined : send({ type: 'ack', ...id, ...(f.room && !f.volatile ? { offset: 1, epoch: 'e1' } : {}) });
        case 'ack':
        case 'nack':
          return send({ type: 'error', code: 'unknown_id', message: 'No delivery with that id is waiting.', ...id }); // fault: id, not details.delivery
        case 'connect':
          return send({ type: 'connected', ns: f.ns, ...id });
        case 'disconnect':
          return send({ type: 'disconnected', ns: f.ns, ...id });
        default:
          return send({ type: 'error', code: 'bad_frame', message: `Unknown type ${String(f.type)}.`, ...id }); // fault: not unknown_type
      }
    });
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}
