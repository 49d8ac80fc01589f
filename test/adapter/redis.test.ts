/**
 * RedisAdapter specifics (issue 9 item 2) beyond the adapter contract: cluster-wide requests time
 * out when a node does not answer (a "node" that subscribes the namespace channel and stays
 * silent), the cap on requests waiting for answers, room channels follow local membership, and
 * the wire form ships a broadcast's frame bytes unchanged.
 */
import t from 'tap';
import { namespaceChannel, type RedisAdapter, roomChannel } from '../../lib/adapter/redis.js';
import { WsqError } from '../../lib/errors.js';
import { RedisBus } from '../../lib/redis/bus.js';
import { rawClient, startServer } from '../helpers/server.js';
import { simNodes } from './nodes.js';

/** Wait (bounded) until `cond` holds. */
async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('issue 9 item 2: requests time out when a node does not answer — fetchSockets keeps what came, serverSideEmitWithAck and emitWithAck reject with timeout', async (t) => {
  const sim = await simNodes(2, { adapter: { timeoutMs: 400 } });
  t.teardown(sim.cleanup);
  const a = await startServer(t, { ...sim.nodes[0]!.options, logger: () => {} });
  const b = await startServer(t, { ...sim.nodes[1]!.options, logger: () => {} });
  const ca = await rawClient(t, a.url);
  const cb = await rawClient(t, b.url);
  b.server.of('/').on('who', (reply?: (x: unknown) => void) => reply?.('b'));
  // A third "node" that gets every request and never answers.
  const silent = new RedisBus({ prefix: sim.prefix });
  t.teardown(() => silent.close());
  await silent.ready();
  await silent.subscribe(namespaceChannel(sim.prefix, '/'), () => {}).ready;
  t.equal(await a.server.of('/').adapter.serverCount(), 3, 'serverCount counts the silent node (PUBSUB SHARDNUMSUB)');

  const t0 = Date.now();
  const all = await a.server.of('/').fetchSockets();
  t.ok(Date.now() - t0 >= 350, 'fetchSockets waited for the silent node until the timeout');
  t.same(all.map((s) => s.id).sort(), [ca.welcome.sid, cb.welcome.sid].sort(), 'and kept the answers that came');

  const err = await a.server
    .of('/')
    .adapter.serverSideEmitWithAck('who', [], 400)
    .catch((e: unknown) => e);
  t.ok(err instanceof WsqError && err.code === 'timeout', 'serverSideEmitWithAck rejects with timeout');
  t.match((err as WsqError).message, /1 of 2 other nodes did not answer/);
  t.same((err as WsqError).details, ['b'], 'with the answers so far');

  // emitWithAck: the silent node never reports its count, so even when every real socket answered it times out.
  const p = a.server
    .of('/')
    .timeout(400)
    .emitWithAck('q')
    .catch((e: unknown) => e);
  for (const c of [ca, cb]) {
    const f = await c.next((x) => x.event === 'q');
    c.send({ type: 'ack', id: f.id, data: 'ok' });
  }
  const e2 = (await p) as WsqError;
  t.equal(e2.code, 'timeout');
  t.same(e2.details, ['ok', 'ok'], 'both answers came back, across nodes');
});

t.test('issue 9 item 2: at most maxPendingRequests requests wait for answers per namespace', async (t) => {
  const sim = await simNodes(1, { adapter: { timeoutMs: 300, maxPendingRequests: 2 } });
  t.teardown(sim.cleanup);
  const a = await startServer(t, { ...sim.nodes[0]!.options, logger: () => {} });
  const silent = new RedisBus({ prefix: sim.prefix });
  t.teardown(() => silent.close());
  await silent.ready();
  await silent.subscribe(namespaceChannel(sim.prefix, '/'), () => {}).ready;
  const adapter = a.server.of('/').adapter;
  const waits = [adapter.serverSideEmitWithAck('x', []).catch((e: unknown) => e), adapter.serverSideEmitWithAck('x', []).catch((e: unknown) => e)];
  await until(() => (adapter as RedisAdapter).pendingRequests() === 2, 'two requests wait');
  const third = await adapter.serverSideEmitWithAck('x', []).catch((e: unknown) => e);
  t.ok(third instanceof WsqError && third.code === 'unavailable', 'the third is refused at once');
  for (const w of await Promise.all(waits)) t.equal((w as WsqError).code, 'timeout');
  t.equal((adapter as RedisAdapter).pendingRequests(), 0, 'nothing left waiting');
});

t.test('issue 9 item 2: a node subscribes a room channel only while it has a local member', async (t) => {
  const sim = await simNodes(2);
  t.teardown(sim.cleanup);
  const a = await startServer(t, { ...sim.nodes[0]!.options, logger: () => {} });
  const b = await startServer(t, { ...sim.nodes[1]!.options, logger: () => {} });
  const cb = await rawClient(t, b.url);
  await cb.sync();
  const sb = b.server.of('/').sockets.get(cb.welcome.sid)!;
  const ch = roomChannel(sim.prefix, '/', 'room');
  t.notOk(sim.nodes[1]!.bus.subscribed(ch));
  sb.join('room');
  t.ok(sim.nodes[1]!.bus.subscribed(ch), 'subscribed with the first member');
  await until(async () => (await sim.nodes[0]!.bus.numsub(ch)) === 1, 'Redis sees one subscriber');
  a.server.of('/').to('room').emit('hi', 1);
  t.match(await cb.next((f) => f.event === 'hi'), { data: 1 });
  sb.leave('room');
  t.notOk(sim.nodes[1]!.bus.subscribed(ch), 'unsubscribed with the last');
  await until(async () => (await sim.nodes[0]!.bus.numsub(ch)) === 0, 'Redis sees none');
  t.ok(sim.nodes[1]!.bus.subscribed(roomChannel(sim.prefix, '/', cb.welcome.sid)), "a socket's own sid room has its channel (socket.emit to it from any node)");
  t.notOk(sim.nodes[0]!.bus.subscribed(roomChannel(sim.prefix, '/', cb.welcome.sid)), 'on its node only');
});
