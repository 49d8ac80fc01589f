/**
 * The baseline for the fan-out bench: a relay on plain `ws` that does the least work a room
 * broadcast needs and speaks just enough wsq/1 for the harness:
 *
 * - on connect: `{"type":"welcome",...}`;
 * - `{"type":"join","room":R}` → added to R, `{"type":"joined",...}`;
 * - `{"type":"emit","event":E,"data":D,"room":R}` → the frame is parsed once, one
 *   `{"type":"event","ns":"/","room":R,"event":E,"data":D,"from":sid,"ts":...}` is serialized
 *   once (to one Buffer), and that Buffer is sent to every other member of R.
 *
 * No validation, no log, no acks: this is the floor wsq is compared against. Run it as a
 * child of the harness (it reports its port over IPC); started by hand it prints the port.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { serveBenchIpc } from './child.js';

/** Per-socket state the relay keeps: its sid and the rooms it is in. */
interface Peer {
  sid: string;
  rooms: Set<string>;
}

const rooms = new Map<string, Set<WebSocket>>();
const peers = new WeakMap<WebSocket, Peer>();
const TEXT = { binary: false } as const;
let nextSid = 1;

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });

wss.on('connection', (ws) => {
  const peer: Peer = { sid: `raw${nextSid++}`, rooms: new Set() };
  peers.set(ws, peer);
  ws.send(
    JSON.stringify({
      type: 'welcome',
      sid: peer.sid,
      protocol: 1,
      heartbeatMs: 25_000,
      maxPayload: 1_048_576,
      server: { name: 'raw-relay', version: '0' },
    }),
  );
  ws.on('message', (raw: RawData) => onMessage(ws, peer, raw));
  ws.on('close', () => {
    for (const room of peer.rooms) {
      const members = rooms.get(room);
      members?.delete(ws);
      if (members?.size === 0) rooms.delete(room);
    }
  });
  ws.on('error', () => ws.terminate());
});

/** Handle one client frame. */
function onMessage(ws: WebSocket, peer: Peer, raw: RawData): void {
  let frame: { type?: unknown; room?: unknown; event?: unknown; data?: unknown; id?: unknown };
  try {
    frame = JSON.parse(raw.toString());
  } catch {
    ws.send(JSON.stringify({ type: 'error', code: 'bad_json', message: 'The frame is not JSON.' }));
    return;
  }
  if (frame.type === 'emit' && typeof frame.room === 'string') {
    const members = rooms.get(frame.room);
    if (members === undefined) return;
    const encoded = Buffer.from(JSON.stringify({ type: 'event', ns: '/', room: frame.room, event: frame.event, data: frame.data, from: peer.sid, ts: Date.now() }));
    for (const member of members) if (member !== ws) member.send(encoded, TEXT);
  } else if (frame.type === 'join' && typeof frame.room === 'string') {
    let members = rooms.get(frame.room);
    if (members === undefined) rooms.set(frame.room, (members = new Set()));
    members.add(ws);
    peer.rooms.add(frame.room);
    ws.send(JSON.stringify({ type: 'joined', ns: '/', room: frame.room, id: frame.id, epoch: 'raw', offset: 0, recovered: true }));
  } else {
    ws.send(JSON.stringify({ type: 'error', code: 'unsupported_frame', message: 'The raw relay only knows join and room emit.', id: frame.id }));
  }
}

wss.on('listening', () => {
  const { port } = wss.address() as AddressInfo;
  serveBenchIpc(port, () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  });
});
