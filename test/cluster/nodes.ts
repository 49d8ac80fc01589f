/**
 * Multi-node harness (issue 9 item 5): each node a separate `wsq serve --redis …` process
 * (started through test/crash/wsq-process.ts, so the CLI path is the one `npm start` uses), a
 * key prefix of its own per test on the system Redis (its keys deleted at teardown, SCAN MATCH
 * prefix*, never FLUSH*), and bounded waits for log lines and `/readyz` answers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { Redis } from 'ioredis';
import { nanoid } from 'nanoid';
import type { Test } from 'tap';
import { RawClient, type Frame } from '../helpers/raw-client.js';
import { startWsq, type Wsq } from '../crash/wsq-process.js';

/** The system Redis (7.0.15 on this machine, no persistence; CI starts one when it does not answer). */
export const SYSTEM_REDIS = process.env.WSQ_TEST_REDIS ?? 'redis://127.0.0.1:6379';

/** A node: the process, its WebSocket URL, its HTTP port and its node id (from its start line). */
export interface Node extends Wsq {
  port: number;
  nodeId: string;
}

/** A key prefix of its own for one test, its keys deleted (SCAN MATCH prefix*, DEL) at teardown on `redisUrl`. */
export function testPrefix(tt: Test, redisUrl = SYSTEM_REDIS): string {
  const prefix = `wsq-test-${nanoid(10).replace(/[^A-Za-z0-9]/g, 'x')}:`;
  tt.teardown(async () => {
    const r = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true, connectTimeout: 2000, retryStrategy: () => null });
    try {
      await r.connect();
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await r.del(...keys);
      } while (cursor !== '0');
    } catch {
      // an own redis-server already gone: nothing to delete
    } finally {
      r.disconnect();
    }
  });
  return prefix;
}

/** Start one node on `redisUrl` with `prefix`; SIGKILLed at teardown if still running. */
export async function startNode(tt: Test, redisUrl: string, prefix: string, args: string[] = []): Promise<Node> {
  const dir = mkdtempSync(joinPath(tmpdir(), 'wsq-node-'));
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const w = await startWsq(tt, dir, ['--redis', redisUrl, '--redis-prefix', prefix, '--log-level', 'info', ...args]);
  const port = Number(/:(\d+)\/$/.exec(w.url)![1]);
  const nodeId = /, node ([A-Za-z0-9_-]+)\)/.exec(w.output())?.[1] ?? ''; // from the listening line
  return { ...w, port, nodeId };
}

/** `n` nodes started together. */
export function startNodes(tt: Test, n: number, redisUrl: string, prefix: string, args: string[] = []): Promise<Node[]> {
  return Promise.all(Array.from({ length: n }, () => startNode(tt, redisUrl, prefix, args)));
}

/** SIGKILL a node by PID and wait until it is gone. */
export async function killNode(node: Node): Promise<void> {
  if (node.proc.exitCode !== null || node.proc.signalCode !== null) return;
  process.kill(node.proc.pid!, 'SIGKILL');
  await node.exited;
}

/** GET a path on a node's port: status and parsed JSON body. */
export function getJson(port: number, path: string, timeoutMs = 3000): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: timeoutMs }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: text });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on port ${port}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Poll until `check` returns a value (not undefined), every 50 ms, at most `timeoutMs`; the error says what was awaited. */
export async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Wait until a node's output holds a line matching `re` (bounded). */
export function logLine(node: Node, re: RegExp, timeoutMs = 10_000): Promise<string> {
  return until(
    `log line ${re} on node ${node.nodeId}`,
    () =>
      node
        .output()
        .split('\n')
        .find((l) => re.test(l)),
    timeoutMs,
  );
}

/** A raw client on a node, closed at teardown. */
export async function client(tt: Test, url: string): Promise<RawClient> {
  const c = await RawClient.connect(url);
  tt.teardown(() => c.close());
  return c;
}

/** Join a room and return the `joined` frame (throws on an error reply). */
export async function join(c: RawClient, room: string, extra: Frame = {}, timeoutMs = 5000): Promise<Frame> {
  const r = await c.request({ type: 'join', room, ...extra }, timeoutMs);
  if (r.type !== 'joined') throw new Error(`join ${room} failed: ${JSON.stringify(r)}`);
  return r;
}

/** Stored emit with an ack; returns the ack (offset, epoch). */
export async function publish(c: RawClient, room: string, data: unknown, extra: Frame = {}, timeoutMs = 5000): Promise<Frame> {
  const r = await c.request({ type: 'emit', room, event: 'm', data, ...extra }, timeoutMs);
  if (r.type !== 'ack' || typeof r.offset !== 'number') throw new Error(`emit into ${room} was not acked with an offset: ${JSON.stringify(r)}`);
  return r;
}

/** The stored events of a room a client received so far (frames in arrival order). */
export function events(c: RawClient, room: string): Frame[] {
  return c.seen((f) => f.type === 'event' && f.room === room && typeof f.offset === 'number');
}

/** Wait until a client received `n` stored events of a room (bounded). */
export function eventsOf(c: RawClient, room: string, n: number, timeoutMs = 10_000): Promise<Frame[]> {
  return until(`${n} events of ${room}`, () => (events(c, room).length >= n ? events(c, room) : undefined), timeoutMs);
}
