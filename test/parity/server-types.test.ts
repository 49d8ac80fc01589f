/**
 * Issue 10 item 5: typed event maps, as Socket.IO's `Server<ClientToServer, ServerToClient,
 * InterServer, SocketData>`. The type checks are the `@ts-expect-error` lines below: this file is
 * in tsconfig.check.json's scope, so `npx tsc -p tsconfig.check.json` fails if a wrong call
 * type-checks (or a right one does not). At run time the typed server serves a real client.
 */
import t from 'tap';
import { type DefaultEventsMap, WsqServer } from '../../lib/index.js';
import { rawClient } from '../helpers/server.js';

interface ClientToServer {
  'chat message': (text: string) => void;
}
interface ServerToClient {
  'chat message': (text: string, from: string) => void;
  count: (n: number) => void;
}
interface InterServer {
  ping: (at: number) => void;
}
interface SocketData {
  name: string;
  age: number;
}

/** Compile-time only: never called. */
function typeChecks(io: WsqServer<ClientToServer, ServerToClient, InterServer, SocketData>): void {
  io.on('connection', (socket) => {
    socket.on('chat message', (text) => {
      const s: string = text; // inferred from ClientToServer
      // @ts-expect-error text is a string, not a number
      const n: number = text;
      void s;
      void n;
    });
    socket.emit('chat message', 'hi', 'server');
    // @ts-expect-error the second argument is missing
    socket.emit('chat message', 'hi');
    // @ts-expect-error count takes a number
    socket.emit('count', 'one');
    socket.data.name = 'ann';
    // @ts-expect-error SocketData.age is a number
    socket.data.age = 'old';
  });
  io.emit('count', 3);
  // @ts-expect-error not a ServerToClient event
  io.emit('nope', 3);
  io.of('/chat').emit('chat message', 'a', 'b');
  io.to('room').emit('count', 1);
  // @ts-expect-error count takes a number (broadcast operators are typed too)
  io.to('room').except('x').emit('count', 'one');
  io.on('connection', (socket) => {
    socket.broadcast.emit('chat message', 'a', 'b');
    // @ts-expect-error the second argument is missing
    socket.to('room').emit('chat message', 'a');
    io.timeout(100).emit('count', 2);
  });
  io.serverSideEmit('ping', Date.now());
  // @ts-expect-error ping takes a number
  io.serverSideEmit('ping', 'now');
  io.on('ping', (at) => {
    const x: number = at; // inferred from InterServer
    void x;
  });
  // Without type arguments everything goes, as before.
  const untyped: WsqServer<DefaultEventsMap> = new WsqServer();
  untyped.emit('anything', 1, 2, 3);
}
void typeChecks;

t.test('issue 10 item 5: a typed server (WsqServer<CTS, STC, ISE, SD>) with typed socket.data serves a client', async (t) => {
  const io = new WsqServer<ClientToServer, ServerToClient, InterServer, SocketData>({ namespaces: 'declared', logger: () => {} });
  await io.listen({ port: 0 });
  t.teardown(() => io.close());
  io.use((socket, next) => {
    socket.data.name = String(socket.handshake.query.name ?? 'anon');
    next();
  });
  io.on('connection', (socket) => {
    socket.on('chat message', (text) => io.emit('chat message', text.toUpperCase(), socket.data.name));
  });
  const c = await rawClient(t, `${io.url}?name=ann`);
  c.send({ type: 'emit', event: 'chat message', data: 'hello' });
  t.match(await c.next((f) => f.event === 'chat message'), { type: 'event', event: 'chat message' });
  const [s] = await io.fetchSockets();
  t.equal((s!.data as SocketData).name, 'ann', 'socket.data set in a middleware');
});
