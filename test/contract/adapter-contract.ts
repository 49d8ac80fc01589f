/**
 * The Adapter contract (issue 9 "First: finish the seam"): one suite of tap subtests every
 * Adapter runs — memory with one node, Redis (role C) with several nodes in one process.
 * Each subtest starts its own wsq servers ("nodes", one adapter each, on 127.0.0.1 port 0)
 * and talks to them with raw wsq/1 clients over real sockets. Clients are spread round-robin
 * over the nodes, so with N > 1 every check crosses nodes; with N = 1 the same checks hold
 * on one node. Waits are bounded; "did not arrive" is proven with a fence (a later frame on
 * the same path, see `fenced`), never a sleep.
 */
import type { Test } from 'tap';
import { RemoteSocket } from '../../lib/adapter/remote-socket.js';
import type { AdapterFactory } from '../../lib/adapter/types.js';
import { WsqError } from '../../lib/errors.js';
import type { Socket, WsqServer, WsqServerOptions } from '../../lib/index.js';
import type { Frame, RawClient } from '../helpers/raw-client.js';
import { clientSocket, startServer } from '../helpers/server.js';

/** What one contract subtest gets from the adapter under test. */
export interface AdapterNodes {
  /** One adapter factory per node; as many as asked for, or fewer when the adapter cannot span nodes (memory: 1). */
  adapters: AdapterFactory[];
  /** Server options every node gets too (e.g. a shared store a cross-node adapter requires), or node `i`'s own (its own store on its own connections). */
  serverOptions?: Partial<WsqServerOptions> | ((node: number) => Partial<WsqServerOptions>);
  /** Release what the nodes shared (connections, keys under the test's prefix). Servers are closed by the suite first. */
  cleanup?: () => Promise<void>;
}

/** Builds fresh adapters for `nodes` nodes, for one subtest (own key prefix, own channels). */
export type BuildAdapterNodes = (nodes: number) => Promise<AdapterNodes>;

/** One node of a subtest. */
interface Node {
  server: WsqServer;
  url: string;
}

/** A client and its server-side socket, and the node it is on. */
interface Member {
  c: RawClient;
  socket: Socket;
  node: number;
}

/** Wait until `cond` holds, re-checking on a bounded interval (for effects on other nodes that show no frame). */
async function eventually(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Runs the contract. `nodes` is how many nodes to ask for (memory: 1; a cluster adapter: 2 or 3).
 * @example
 * adapterContract(t, 'MemoryAdapter', async () => ({ adapters: [(nsp) => new MemoryAdapter(nsp)] }), 1);
 */
export function adapterContract(t: Test, name: string, build: BuildAdapterNodes, nodes = 1): void {
  /** Start the nodes of one subtest; everything is closed at its teardown. */
  async function cluster(t: Test): Promise<{ nodes: Node[]; join: (ns?: string) => Promise<Member> }> {
    const built = await build(nodes);
    const list: Node[] = [];
    // Teardowns run last-registered first: the servers close before the shared resources.
    if (built.cleanup) t.teardown(built.cleanup);
    for (const [i, adapter] of built.adapters.entries()) {
      const extra = typeof built.serverOptions === 'function' ? built.serverOptions(i) : built.serverOptions;
      list.push(await startServer(t, { ...extra, adapter, namespaces: 'any' }));
    }
    let next = 0;
    const join = async (ns = '/'): Promise<Member> => {
      const node = next++ % list.length;
      const { c, socket } = await clientSocket(t, list[node]!.server, list[node]!.url, ns);
      return { c, socket, node };
    };
    return { nodes: list, join };
  }

  /**
   * Proves `outsider` got no `event` named `ev`: a fence broadcast to `room` reaches `member`
   * (on the outsider's node, through the same room's path, so after anything sent before it),
   * then a sync on the outsider's own connection.
   */
  async function fenced(t: Test, from: WsqServer, room: string, member: Member, outsider: Member, ev: string, msg: string): Promise<void> {
    const fence = `fence-${Math.random().toString(36).slice(2)}`;
    from.of('/').to(room).emit(fence);
    await member.c.next((f) => f.event === fence);
    await outsider.c.sync();
    t.same(
      outsider.c.seen((f) => f.event === ev),
      [],
      msg,
    );
  }

  t.test(`${name}: issue 9 seam — a room emit reaches every member on every node once, and nobody else`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const members = await Promise.all(Array.from({ length: 3 * ns.length }, () => join()));
    const outsiders = await Promise.all(Array.from({ length: ns.length }, () => join()));
    for (const m of members) m.socket.join(['r', 'r2']);
    await eventually(async () => (await ns[0]!.server.of('/').in('r').fetchSockets()).length === members.length, 'every member is seen in r');
    ns[0]!.server.of('/').to(['r', 'r2']).emit('hello', { n: 1 });
    for (const m of members) t.match(await m.c.next((f) => f.event === 'hello'), { type: 'event', ns: '/', event: 'hello', data: { n: 1 } }, `member on node ${m.node}`);
    for (const o of outsiders) {
      const m = members.find((x) => x.node === o.node)!;
      await fenced(t, ns[0]!.server, 'r', m, o, 'hello', `an outsider on node ${o.node} gets nothing`);
    }
    for (const m of members) t.equal(m.c.seen((f) => f.event === 'hello').length, 1, `once, though in both rooms (node ${m.node})`);
  });

  t.test(`${name}: issue 9 seam — except(room) and except(sid) skip sockets on every node`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const members = await Promise.all(Array.from({ length: 3 * ns.length }, () => join()));
    for (const m of members) m.socket.join('r');
    const vips = members.filter((_, i) => i % 2 === 1);
    for (const v of vips) v.socket.join('vip');
    const skipped = members[0]!;
    await eventually(async () => (await ns[0]!.server.of('/').in('vip').fetchSockets()).length === vips.length, 'vips are seen');
    ns[ns.length - 1]!.server.of('/').to('r').except('vip').except(skipped.socket.id).emit('plain');
    const reached = members.filter((m) => m !== skipped && !vips.includes(m));
    for (const m of reached) await m.c.next((f) => f.event === 'plain');
    for (const v of [...vips, skipped]) {
      const witness = reached.find((m) => m.node === v.node) ?? members.find((m) => m.node === v.node && m !== v)!;
      if (witness === v) continue;
      await fenced(t, ns[ns.length - 1]!.server, 'r', witness, v, 'plain', `an excepted socket on node ${v.node} is skipped`);
    }
  });

  t.test(`${name}: issue 9 seam — local stays on the emitting node`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const members = await Promise.all(Array.from({ length: 3 * ns.length }, () => join()));
    for (const m of members) m.socket.join('r');
    await eventually(async () => (await ns[0]!.server.of('/').in('r').fetchSockets()).length === members.length, 'every member is seen in r');
    ns[0]!.server.of('/').local.to('r').emit('mine');
    for (const m of members.filter((x) => x.node === 0)) await m.c.next((f) => f.event === 'mine');
    const others = members.filter((x) => x.node !== 0);
    for (const o of others) {
      const witness = others.find((x) => x.node === o.node && x !== o)!;
      await fenced(t, ns[0]!.server, 'r', witness, o, 'mine', `a member on node ${o.node} does not get a local emit of node 0`);
    }
    const all = await ns[0]!.server.of('/').local.fetchSockets();
    t.same(
      all.map((s) => s.id).sort(),
      members
        .filter((m) => m.node === 0)
        .map((m) => m.socket.id)
        .sort(),
      'local.fetchSockets: this node only',
    );
  });

  t.test(`${name}: issue 9 seam — to(sid).emit reaches that socket wherever it is; R4.5.3 a volatile room emit reaches live members`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const a = await join();
    const b = ns.length > 1 ? await join() : a;
    ns[0]!.server.of('/').to(b.socket.id).emit('direct', 'to-b');
    t.match(await b.c.next((f) => f.event === 'direct'), { event: 'direct', data: 'to-b' });
    b.socket.join('v');
    await eventually(async () => (await ns[0]!.server.of('/').in('v').fetchSockets()).length === 1, 'b is seen in v');
    ns[0]!.server.of('/').volatile.to('v').emit('maybe', 1);
    t.match(await b.c.next((f) => f.event === 'maybe'), { event: 'maybe', data: 1 }, 'an idle member gets a volatile emit');
    t.ok(a.c.welcome.sid);
  });

  t.test(`${name}: R4.5.3 a client's volatile emit reaches the room's live members on every node, not the sender (unless echo)`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const members = await Promise.all(Array.from({ length: 2 * ns.length }, () => join()));
    for (const m of members) m.socket.join('v');
    await eventually(async () => (await ns[0]!.server.of('/').in('v').fetchSockets()).length === members.length, 'every member is seen in v');
    const sender = members[0]!;
    t.match(await sender.c.request({ type: 'emit', room: 'v', event: 'wire', data: { n: 1 }, volatile: true }), { type: 'ack' }, 'acked once handed out');
    for (const m of members.slice(1)) {
      t.match(await m.c.next((f) => f.event === 'wire'), { type: 'event', event: 'wire', room: 'v', from: sender.socket.id, data: { n: 1 } }, `member on node ${m.node}`);
    }
    const witness = members.find((m) => m !== sender && m.node === sender.node)!;
    await fenced(t, ns[0]!.server, 'v', witness, sender, 'wire', 'the sender gets no copy without echo');
    sender.c.send({ type: 'emit', room: 'v', event: 'echoed', volatile: true, echo: true });
    for (const m of members) await m.c.next((f) => f.event === 'echoed');
    t.pass('with echo the sender, a member, gets it too');
  });

  t.test(`${name}: issue 9 seam — membership is the adapter's: join/leave show in socket.rooms and the room events, and go with the socket`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const m = await join();
    const adapter = ns[m.node]!.server.of('/').adapter;
    const events: string[] = [];
    for (const e of ['create-room', 'join-room', 'leave-room', 'delete-room']) adapter.on(e, (room: string) => room === 'x' && events.push(e));
    m.socket.join('x');
    t.ok(m.socket.rooms.has('x'));
    t.ok(adapter.socketRooms(m.socket.id)?.has('x'));
    t.ok(adapter.roomMembers('x')?.has(m.socket.id));
    m.socket.leave('x');
    t.notOk(m.socket.rooms.has('x'));
    t.equal(adapter.roomMembers('x'), undefined, 'an empty room goes');
    m.socket.join('x');
    const gone = new Promise((r) => m.socket.once('disconnect', r));
    await m.c.close();
    await gone;
    t.equal(adapter.socketRooms(m.socket.id), undefined, 'a closed socket is in no room');
    t.same(events, ['create-room', 'join-room', 'leave-room', 'delete-room', 'create-room', 'join-room', 'leave-room', 'delete-room']);
  });

  t.test(`${name}: issue 9 seam — timeout(ms).emitWithAck: every socket's answer comes back to the requesting node`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const voters = await Promise.all(Array.from({ length: 3 * ns.length }, () => join()));
    for (const v of voters) v.socket.join('voters');
    await eventually(async () => (await ns[0]!.server.of('/').in('voters').fetchSockets()).length === voters.length, 'every voter is seen');
    const p = ns[0]!.server.of('/').timeout(3000).to('voters').emitWithAck('vote?', { q: 1 });
    for (const v of voters) {
      const ev = await v.c.next((f) => f.event === 'vote?');
      t.match(ev, { id: Number });
      v.c.send({ type: 'ack', id: ev.id, data: `from-${v.socket.id}` });
    }
    t.same((await p).sort(), voters.map((v) => `from-${v.socket.id}`).sort());
    t.same(await ns[0]!.server.of('/').timeout(500).to('nobody').emitWithAck('anyone?'), [], 'an empty selection answers []');
  });

  t.test(`${name}: issue 9 seam, R4.7.4 — emitWithAck across nodes: a nack is left out; a silent socket makes it reject with timeout and the answers so far`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const yes = await join();
    const no = await join();
    const mute = await join();
    for (const v of [yes, no, mute]) v.socket.join('r');
    await eventually(async () => (await ns[0]!.server.of('/').in('r').fetchSockets()).length === 3, 'all three are seen');
    const p = ns[0]!.server
      .of('/')
      .to('r')
      .timeout(800)
      .emitWithAck('agree?')
      .catch((e: unknown) => e);
    const e1 = await yes.c.next((f) => f.event === 'agree?');
    const e2 = await no.c.next((f) => f.event === 'agree?');
    const e3 = await mute.c.next((f) => f.event === 'agree?');
    yes.c.send({ type: 'ack', id: e1.id, data: 'yes' });
    no.c.send({ type: 'nack', id: e2.id });
    const err = (await p) as WsqError;
    t.ok(err instanceof WsqError, 'rejects with a WsqError');
    t.equal(err.code, 'timeout');
    t.same(err.details, ['yes'], 'the answers so far; the nack is not one');
    mute.c.send({ type: 'ack', id: e3.id, data: 'late' });
    t.match(await mute.c.next((f: Frame) => f.type === 'error'), { code: 'unknown_id' }, 'after the timeout the id no longer waits on its node');
  });

  t.test(`${name}: issue 9 seam — fetchSockets: every socket of every node, with id, rooms, data, handshake; others' as RemoteSocket`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const all = await Promise.all(Array.from({ length: 3 * ns.length }, () => join()));
    for (const [i, m] of all.entries()) {
      m.socket.data = { i };
      if (i % 2 === 0) m.socket.join('even');
    }
    const seen = await ns[0]!.server.of('/').fetchSockets();
    t.same(seen.map((s) => s.id).sort(), all.map((m) => m.socket.id).sort(), 'every node answered');
    for (const s of seen) {
      const m = all.find((x) => x.socket.id === s.id)!;
      if (m.node === 0) t.equal(s, m.socket, 'a socket of this node is the Socket itself');
      else t.ok(s instanceof RemoteSocket, 'a socket of another node is a RemoteSocket');
      t.same(s.data, m.socket.data, 'data');
      t.ok(s.rooms.has(s.id), 'rooms include the sid');
      t.equal(s.rooms.has('even'), m.socket.rooms.has('even'), 'rooms');
      t.equal((s.handshake as { address?: string }).address, m.socket.handshake.address, 'handshake');
      t.notOk('token' in (s.handshake as object), 'the credential stays on its node');
    }
    const even = await ns[ns.length - 1]!.server.of('/').in('even').except(all[0]!.socket.id).fetchSockets();
    t.same(
      even.map((s) => s.id).sort(),
      all
        .filter((_, i) => i % 2 === 0 && i > 0)
        .map((m) => m.socket.id)
        .sort(),
      'in(room).except(sid)',
    );
  });

  t.test(`${name}: issue 9 seam — a RemoteSocket's emit, join, leave and disconnect act on its node`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const a = await join();
    const b = ns.length > 1 ? await join() : a;
    const [s] = await ns[0]!.server.of('/').in(b.socket.id).fetchSockets();
    t.ok(s, 'found');
    s!.emit('hi', { to: 'b' });
    t.match(await b.c.next((f) => f.event === 'hi'), { event: 'hi', data: { to: 'b' } });
    s!.join('club');
    await eventually(() => b.socket.rooms.has('club'), 'b joined club');
    s!.leave('club');
    await eventually(() => !b.socket.rooms.has('club'), 'b left club');
    s!.disconnect();
    t.same(await b.c.next('disconnected'), { type: 'disconnected', ns: '/' });
    t.ok(a.c.welcome.sid);
  });

  t.test(`${name}: issue 9 seam — socketsJoin / socketsLeave on every node; this node's before the call returns`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const all = await Promise.all(Array.from({ length: 3 * ns.length }, () => join()));
    const nsp0 = ns[0]!.server.of('/');
    nsp0.socketsJoin('all');
    for (const m of all.filter((x) => x.node === 0)) t.ok(m.socket.rooms.has('all'), 'a local socket joined at once');
    await eventually(() => all.every((m) => m.socket.rooms.has('all')), 'every socket joined');
    nsp0.to('all').emit('joined-all');
    for (const m of all) await m.c.next((f) => f.event === 'joined-all');
    const leaver = all[all.length - 1]!;
    nsp0.in(leaver.socket.id).socketsLeave('all');
    await eventually(() => !leaver.socket.rooms.has('all'), 'the leaver left');
    t.ok(
      all.filter((m) => m !== leaver).every((m) => m.socket.rooms.has('all')),
      'the others stay',
    );
  });

  t.test(`${name}: issue 9 seam — disconnectSockets on every node; (true) closes the connections with 4000`, async (t) => {
    const { nodes: ns, join } = await cluster(t);
    const chat = await Promise.all(Array.from({ length: 3 * ns.length }, () => join('/chat')));
    ns[0]!.server.of('/chat').disconnectSockets();
    for (const m of chat) t.same(await m.c.next('disconnected'), { type: 'disconnected', ns: '/chat' }, `node ${m.node}`);
    for (const m of chat) t.same(await m.c.request({ type: 'ping', id: 1 }), { type: 'pong', id: 1 }, 'the connection stays');
    ns[0]!.server.of('/').disconnectSockets(true);
    for (const m of chat) t.equal((await m.c.closed).code, 4000, `closed with 4000 (node ${m.node})`);
  });

  t.test(`${name}: issue 9 seam — serverCount, serverSideEmit (other nodes only) and serverSideEmitWithAck`, async (t) => {
    const { nodes: ns } = await cluster(t);
    for (const n of ns) t.equal(await n.server.of('/').adapter.serverCount(), ns.length, 'serverCount');
    const got: string[] = [];
    for (const [i, n] of ns.entries()) {
      n.server.of('/').on('ping-nodes', (x: unknown, reply?: (a: unknown) => void) => {
        got.push(`${i}:${JSON.stringify(x)}`);
        reply?.(`pong-${i}`);
      });
    }
    const adapter0 = ns[0]!.server.of('/').adapter;
    await adapter0.serverSideEmit('ping-nodes', [{ a: 1 }]);
    await eventually(() => got.length === ns.length - 1, 'every other node got it');
    t.notOk(
      got.some((g) => g.startsWith('0:')),
      'not the emitting node',
    );
    const answers = await adapter0.serverSideEmitWithAck('ping-nodes', [{ a: 2 }], 2000);
    t.same(
      answers.sort(),
      ns.slice(1).map((_, i) => `pong-${i + 1}`),
      'one answer per other node',
    );
  });
}
