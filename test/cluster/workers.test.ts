/**
 * README "Scaling out" → "Using more than one core" (issue 12 item 4): `wsq serve --workers N
 * --redis …` is a node:cluster primary and N worker processes on one port, each a node on the
 * Redis adapter and store. Every check runs the built CLI (dist/lib/cli.js) on port 0 over the
 * system Redis, a key prefix of its own per test; which worker a connection landed on is read
 * from that worker's own `connection opened` debug line (its `sid` is the client's `welcome.sid`,
 * its `node` the worker's node id). Bounded waits only; every process is ended by its PID.
 */
import { get } from 'node:http';
import t, { type Test } from 'tap';
import type { RawClient } from '../helpers/raw-client.js';
import { type Child, dist, start } from '../examples/children.js';
import { client, join, SYSTEM_REDIS, testPrefix, until } from './nodes.js';

const cli = dist('lib/cli.js');
const WAIT_MS = 20_000;

/** A running `--workers` primary: its child, URL, port and each worker's PID and node id (from its start line). */
interface Primary {
  child: Child;
  url: string;
  port: number;
  workers: { pid: number; nodeId: string }[];
}

/** The node id in `GET /healthz`, on a new TCP connection each time (no keep-alive: a kept connection stays on one worker). */
function healthNode(port: number, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve((JSON.parse(text) as { nodeId: string }).nodeId));
    });
    req.on('timeout', () => req.destroy(new Error(`GET /healthz on port ${port}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** True while a process with this PID exists. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Start `wsq serve --workers n` on Redis (debug log: one line per connection); workers still running at teardown are SIGKILLed by PID. */
async function startPrimary(tt: Test, n: number, prefix: string, extra: string[] = []): Promise<Primary> {
  const args = ['serve', '--port', '0', '--host', '127.0.0.1', '--workers', String(n), '--redis', SYSTEM_REDIS, '--redis-prefix', prefix, '--log-level', 'debug', ...extra];
  const child = start(tt, cli, args);
  const seen = new Set<number>();
  tt.teardown(() => {
    for (const pid of seen) if (running(pid)) process.kill(pid, 'SIGKILL');
  });
  const line = await child.waitFor((c) => c.lines.find((l) => /listening on ws:/.test(l)), WAIT_MS, 'the start line');
  const m = /listening on (ws:\/\/127\.0\.0\.1:(\d+)\/) \(redis store at \S+, (\d+) workers: (.*)\)$/.exec(line);
  if (!m) throw new Error(`unexpected start line: ${line}`);
  const workers = [...m[4]!.matchAll(/pid (\d+) node ([A-Za-z0-9_-]+)/g)].map((w) => ({ pid: Number(w[1]), nodeId: w[2]! }));
  for (const w of workers) seen.add(w.pid);
  // restarted workers too
  child.proc.stdout!.on('data', () => {
    for (const r of child.stdout.matchAll(/\(pid (\d+), node [A-Za-z0-9_-]+\) listening on port/g)) seen.add(Number(r[1]));
  });
  return { child, url: m[1]!, port: Number(m[2]), workers };
}

/** The node id of the worker that took a client's connection: its `connection opened` line names the welcome's sid. */
function nodeOf(p: Primary, c: RawClient): Promise<string> {
  const sid = c.welcome.sid as string;
  return until(`the worker of sid ${sid}`, () => {
    for (const l of p.child.stderr.split('\n')) {
      if (!l.includes('"connection opened"') || !l.includes(`"sid":"${sid}"`)) continue;
      return (JSON.parse(l) as { node: string }).node;
    }
    return undefined;
  });
}

/** Connect `n` clients (one after the other) and find which worker took each. */
async function clientsOn(tt: Test, p: Primary, n: number): Promise<{ c: RawClient; node: string }[]> {
  const out: { c: RawClient; node: string }[] = [];
  for (let i = 0; i < n; i++) {
    const c = await client(tt, p.url);
    out.push({ c, node: await nodeOf(p, c) });
  }
  return out;
}

t.test('Using more than one core: --workers 2 prints one start line with the port and both workers; connections to that one port land on both workers', async (tt) => {
  const p = await startPrimary(tt, 2, testPrefix(tt));
  tt.equal(p.workers.length, 2, 'two workers named in the start line');
  tt.not(p.workers[0]!.pid, p.workers[1]!.pid, 'two processes');
  tt.ok(
    p.workers.every((w) => running(w.pid) && w.pid !== p.child.pid),
    'each worker is a process of its own, beside the primary',
  );
  tt.equal(p.child.lines.filter((l) => /listening on ws:/.test(l)).length, 1, 'one start line, printed by the primary');
  const cs = await clientsOn(tt, p, 4);
  tt.same(new Set(cs.map((x) => x.node)), new Set(p.workers.map((w) => w.nodeId)), 'four connections are spread over both workers');
  const health = new Set<string>();
  await until('/healthz from both workers', async () => {
    health.add(await healthNode(p.port));
    return health.size === 2 ? true : undefined;
  });
  tt.pass('/healthz on the one port is answered by each worker in turn, naming its node');
});

t.test('Using more than one core: a room emit from a client on one worker reaches the members on every worker, once, in order', async (tt) => {
  const p = await startPrimary(tt, 2, testPrefix(tt));
  const cs = await clientsOn(tt, p, 4);
  for (const { c } of cs) await join(c, 'news');
  const pub = cs[0]!;
  for (const id of [1, 2, 3]) {
    const ack = await pub.c.request({ type: 'emit', room: 'news', event: 'm', data: { n: id }, id });
    tt.equal(ack.type, 'ack', `emit ${id} acked`);
  }
  const others = cs.filter((x) => x.node !== pub.node);
  tt.ok(others.length > 0, 'some members are on the other worker');
  for (const { c, node } of cs.slice(1)) {
    const got = await c.collect((f) => f.type === 'event' && f.room === 'news', 3);
    tt.same(
      got.map((f) => (f.data as { n: number }).n),
      [1, 2, 3],
      `the member on ${node === pub.node ? "the publisher's" : 'the other'} worker got every message in order`,
    );
    tt.same(
      got.map((f) => f.offset),
      [1, 2, 3],
      'one offset sequence (the Redis store)',
    );
  }
  await pub.c.sync();
  tt.same(
    pub.c.seen((f) => f.type === 'event'),
    [],
    'not delivered live to the sender (R4.5.4)',
  );
});

t.test('Using more than one core: a worker that dies is restarted (logged) and the service keeps answering', async (tt) => {
  const p = await startPrimary(tt, 2, testPrefix(tt));
  const [dead, kept] = p.workers as [{ pid: number; nodeId: string }, { pid: number; nodeId: string }];
  const cs = await clientsOn(tt, p, 2);
  const survivor = cs.find((x) => x.node === kept.nodeId);
  if (!survivor) throw new Error('no client on the second worker');
  process.kill(dead.pid, 'SIGKILL');
  const restarted = await p.child.waitFor(
    (c) => /worker 1 \(pid (\d+), node ([A-Za-z0-9_-]+)\) listening on port (\d+)/.exec(c.stdout) ?? undefined,
    WAIT_MS,
    'the restarted worker to listen',
  );
  const died = new RegExp(`worker 1 \\(pid ${dead.pid}, node ${dead.nodeId}\\) was killed by SIGKILL; restarting it in \\d+ ms \\(restart 1 of at most \\d+ a minute\\)`);
  tt.ok(await p.child.waitFor((c) => (died.test(c.stderr) ? true : undefined), WAIT_MS, 'the restart line'), 'the death and the restart are logged');
  tt.not(Number(restarted[1]), dead.pid, 'a new process');
  tt.ok(running(Number(restarted[1])), 'it runs');
  tt.equal(Number(restarted[3]), p.port, 'on the same port');
  tt.notOk(running(dead.pid), 'the killed one is gone');
  tt.equal((await survivor.c.request({ type: 'emit', room: 'r', event: 'm', data: 1, id: 1 })).type, 'ack', "the other worker's client was not disturbed");
  const nodes = new Set<string>();
  await until('/healthz from the new worker and the kept one', async () => {
    nodes.add(await healthNode(p.port));
    return nodes.has(restarted[2]!) && nodes.has(kept.nodeId) ? true : undefined;
  });
  const fresh = await clientsOn(tt, p, 2);
  tt.ok(
    fresh.every((x) => x.node === restarted[2] || x.node === kept.nodeId),
    'new connections are taken by the restarted worker and the kept one',
  );
  tt.equal(new Set(fresh.map((x) => x.node)).size, 2, 'by both');
});

t.test('Using more than one core: SIGTERM to the primary shuts every worker down gracefully and leaves no worker behind', async (tt) => {
  const p = await startPrimary(tt, 2, testPrefix(tt));
  const cs = await clientsOn(tt, p, 2);
  const closed = cs.map(({ c }) => new Promise<number>((r) => c.ws.once('close', (code: number) => r(code))));
  p.child.kill('SIGTERM');
  const exit = await p.child.exit(WAIT_MS);
  tt.equal(exit.code, 0, 'the primary exits 0 once every worker exited');
  tt.match(p.child.stdout, /wsq: SIGTERM, shutting down 2 workers/);
  for (const w of p.workers) tt.notOk(running(w.pid), `worker pid ${w.pid} is gone`);
  tt.same(await Promise.all(closed), [1001, 1001], 'each worker closed its connections with 1001 (going away)');
});

t.test('Using more than one core: --workers without --redis is refused with a sentence saying what to add (flag and WSQ_WORKERS)', async (tt) => {
  for (const [args, env] of [
    [['--workers', '2'], {}],
    [[], { WSQ_WORKERS: '3' }],
  ] as [string[], Record<string, string>][]) {
    const c = start(tt, cli, ['serve', '--port', '0', '--memory', ...args], { env });
    tt.equal((await c.exit(10_000)).code, 1, `${args.join(' ') || JSON.stringify(env)}: exits 1, as every configuration error`);
    tt.match(
      c.stderr,
      /--workers \d \(WSQ_WORKERS, workers\) runs \d nodes of this machine, which share rooms, logs and offsets only through Redis: add --redis redis:\/\/host:port \(WSQ_REDIS, redis\.url\), or drop --workers\./,
    );
    tt.notMatch(c.stdout, /listening/, 'nothing listened');
  }
  const bad = start(tt, cli, ['serve', '--port', '0', '--workers', '0', '--redis', SYSTEM_REDIS]);
  tt.equal((await bad.exit(10_000)).code, 1);
  tt.match(bad.stderr, /workers \(--workers, WSQ_WORKERS\): must be ≥ 1/, 'a bad count names the key, flag and variable');
});

t.test('Using more than one core: --workers 1 (the default) is one process, as before', async (tt) => {
  const c = start(tt, cli, ['serve', '--port', '0', '--host', '127.0.0.1', '--redis', SYSTEM_REDIS, '--redis-prefix', testPrefix(tt), '--workers', '1']);
  const line = await c.waitFor((x) => x.lines.find((l) => /listening on ws:/.test(l)), WAIT_MS, 'the start line');
  tt.match(line, /\(redis store at \S+, node [A-Za-z0-9_-]+\)$/, 'the single-node start line');
  const port = Number(/:(\d+)\//.exec(line)![1]);
  tt.match(await healthNode(port), /^[A-Za-z0-9_-]+$/, 'served by the process itself');
  c.kill('SIGTERM');
  tt.equal((await c.exit(WAIT_MS)).code, 0);
  tt.match(c.stdout, /wsq: SIGTERM, shutting down\n/);
});
