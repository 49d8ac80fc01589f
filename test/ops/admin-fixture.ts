/** Shared by the admin and dashboard tests: a `wsq serve` child with admin configured, and scripted traffic. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { hashKey } from '../../lib/auth/keys.js';
import { type Child, dist, start } from '../examples/children.js';
import type { RawClient } from '../helpers/raw-client.js';
import { rawClient } from '../helpers/server.js';

export const cli = dist('lib/cli.js');
/** The admin key of every test server (its hash is in the config). */
export const ADMIN_KEY = 'wsq_admin-test-key-0123456789abcdefghijklmnopqrstu';

/** A temp directory removed when the test ends. */
export function tmp(t: Test, prefix = 'wsq-admin-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Served {
  child: Child;
  /** ws://127.0.0.1:PORT/ */
  ws: string;
  /** http://127.0.0.1:PORT */
  http: string;
}

/** `wsq serve` on a free port with `admin.keys` holding ADMIN_KEY's hash; `store` "memory" or a data directory. */
export async function serve(t: Test, store: 'memory' | string, extra: Record<string, unknown> = {}): Promise<Served> {
  const cfg = join(tmp(t, 'wsq-admin-cfg-'), 'wsq.json');
  writeFileSync(cfg, JSON.stringify({ admin: { keys: [{ hash: hashKey(ADMIN_KEY) }] }, ...extra }));
  const storeArgs = store === 'memory' ? ['--memory'] : ['--data-dir', store];
  const child = start(t, cli, ['serve', '--port', '0', '--config', cfg, ...storeArgs]);
  const ws = await child.waitFor((c) => /listening on (ws:\/\/\S+)/.exec(c.stdout)?.[1], 10_000, 'the listening line');
  return { child, ws, http: ws.replace(/^ws/, 'http').replace(/\/$/, '') };
}

/** Run a `wsq` command to its end (bounded). */
export async function wsq(t: Test, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = start(t, cli, args, { env });
  const { code } = await c.exit(15_000);
  return { code, stdout: c.stdout, stderr: c.stderr };
}

/** What the traffic left behind, for the assertions. */
export interface Traffic {
  publisher: RawClient;
  live: RawClient;
  worker: RawClient;
}

/**
 * Scripted traffic on room `jobs`: 3 messages published; a live member; a group "workers" whose one
 * member (prefetch 1) nacks offset 1 without requeue (a dead letter), acks 2 and holds 3 unacked
 * (lag 1, pending 1). The worker stays connected; close it to free the group.
 */
export async function traffic(t: Test, ws: string): Promise<Traffic> {
  const publisher = await rawClient(t, ws);
  const live = await rawClient(t, ws);
  const worker = await rawClient(t, ws);
  t.equal((await live.request({ type: 'join', room: 'jobs', id: 1 })).type, 'joined');
  t.equal((await worker.request({ type: 'join', room: 'jobs', group: 'workers', prefetch: 1, id: 1 })).type, 'joined');
  for (const n of [1, 2, 3]) t.equal((await publisher.request({ type: 'emit', room: 'jobs', event: 'job', data: { n }, id: n })).type, 'ack', `job ${n} stored`);
  const first = await worker.next((f) => f.type === 'event' && f.offset === 1, 5000);
  worker.send({ type: 'nack', id: first.id, requeue: false });
  const second = await worker.next((f) => f.type === 'event' && f.offset === 2, 5000);
  worker.send({ type: 'ack', id: second.id });
  await worker.next((f) => f.type === 'event' && f.offset === 3, 5000);
  return { publisher, live, worker };
}

/** Poll `check` until it returns a value (bounded); for state the server saves asynchronously. */
export async function until<T>(check: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Call the admin API directly. */
export async function adminApi(http: string, method: string, path: string, key = ADMIN_KEY): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${http}/admin/api/${path}`, { method, headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}
