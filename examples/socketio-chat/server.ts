/**
 * Socket.IO's official chat example (socketio/socket.io `examples/chat`), ported to wsq: the
 * same events and payloads (`add user`, `new message`, `typing`, `stop typing`, `login`,
 * `user joined`, `user left`), the same server logic; what changed is the import, `socket.username`
 * → `socket.data.username` (typed by the event maps), and serving the page without express.
 * docs/from-socket-io.md walks through the differences.
 *
 *   npm run build && PORT=3000 node dist/examples/socketio-chat/server.js   # then open http://127.0.0.1:3000
 *
 * Settings: port from `PORT` (default 3000; 0 picks a free one), address from `HOST` (default 127.0.0.1).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type DefaultEventsMap, WsqServer } from '../../lib/index.js';

/** What the browser sends (Socket.IO's example, unchanged). */
export interface ClientToServer {
  'add user': (username: string) => void;
  'new message': (message: string) => void;
  typing: () => void;
  'stop typing': () => void;
}

/** What the server sends (Socket.IO's example, unchanged). */
export interface ServerToClient {
  login: (data: { numUsers: number }) => void;
  'new message': (data: { username: string; message: string }) => void;
  'user joined': (data: { username: string; numUsers: number }) => void;
  'user left': (data: { username: string; numUsers: number }) => void;
  typing: (data: { username: string }) => void;
  'stop typing': (data: { username: string }) => void;
}

/** Per-socket data (Socket.IO's example keeps it on `socket.username`). */
export interface SocketData {
  username?: string;
}

/** The project root: the nearest folder above this file with a package.json (works from the source and from dist/). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('socketio-chat: cannot find the project root (no package.json above this file)');
    dir = up;
  }
  return dir;
}

const ROOT = projectRoot();
const PUBLIC = join(ROOT, 'examples/socketio-chat/public');

/** URL path → file and content type (the example's public/ folder, and the SDK's browser bundle). Nothing else is served. */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: join(PUBLIC, 'index.html'), type: 'text/html; charset=utf-8' },
  '/index.html': { file: join(PUBLIC, 'index.html'), type: 'text/html; charset=utf-8' },
  '/main.js': { file: join(PUBLIC, 'main.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: join(PUBLIC, 'style.css'), type: 'text/css; charset=utf-8' },
  '/wsq-client.js': { file: join(ROOT, 'dist/browser/wsq-client.js'), type: 'text/javascript; charset=utf-8' },
};

/** A running chat: the HTTP server (page + WebSocket upgrades) and the wsq server attached to it. */
export interface Chat {
  io: WsqServer<ClientToServer, ServerToClient, DefaultEventsMap, SocketData>;
  http: HttpServer;
  port: number;
  close(): Promise<void>;
}

/** Start the chat on `port` (0: a free one). */
export async function startChat(port = 3000, host = '127.0.0.1'): Promise<Chat> {
  // Socket.IO: `const server = require('http').createServer(app); const io = require('socket.io')(server);`
  const http = createServer((req, res) => {
    const entry = FILES[new URL(req.url ?? '/', 'http://x').pathname];
    if (!entry) return void res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n');
    readFile(entry.file).then(
      (body) => res.writeHead(200, { 'content-type': entry.type, 'content-length': body.length }).end(body),
      () => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`Cannot read ${entry.file} (the bundle: run \`npm run build\`)\n`),
    );
  });
  const io = new WsqServer<ClientToServer, ServerToClient, DefaultEventsMap, SocketData>(http, { logger: () => {} });

  // Chatroom — the logic of Socket.IO's example, line for line.
  let numUsers = 0;

  io.on('connection', (socket) => {
    let addedUser = false;

    // when the client emits 'new message', this listens and executes
    socket.on('new message', (data) => {
      // we tell the client to execute 'new message'
      socket.broadcast.emit('new message', { username: socket.data.username ?? '', message: data });
    });

    // when the client emits 'add user', this listens and executes
    socket.on('add user', (username) => {
      if (addedUser) return;
      // we store the username in the socket session for this client
      socket.data.username = username;
      ++numUsers;
      addedUser = true;
      socket.emit('login', { numUsers });
      // echo globally (all clients) that a person has connected
      socket.broadcast.emit('user joined', { username: socket.data.username, numUsers });
    });

    // when the client emits 'typing', we broadcast it to others
    socket.on('typing', () => {
      socket.broadcast.emit('typing', { username: socket.data.username ?? '' });
    });

    // when the client emits 'stop typing', we broadcast it to others
    socket.on('stop typing', () => {
      socket.broadcast.emit('stop typing', { username: socket.data.username ?? '' });
    });

    // when the user disconnects.. perform this
    socket.on('disconnect', () => {
      if (addedUser) {
        --numUsers;
        // echo globally that this client has left
        socket.broadcast.emit('user left', { username: socket.data.username ?? '', numUsers });
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => resolve());
  });
  return { io, http, port: (http.address() as AddressInfo).port, close: () => io.close() };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const chat = await startChat(Number(process.env.PORT ?? 3000), process.env.HOST || '127.0.0.1');
  console.log(`Server listening at port ${chat.port}: open http://127.0.0.1:${chat.port}/`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void chat.close().then(() => process.exit(0)));
}
