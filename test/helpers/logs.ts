/**
 * Helpers for the room-log specs (§5): waiting for counts of frames, publishing over a
 * socket, auto-acking deliveries, proving absence with a ping barrier, and disk stores in
 * temp dirs. Everything waits for frames with a bounded timeout; nothing sleeps.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WsqServer, WsqServerOptions } from '../../lib/index.js';
import { retentionResolver, type RetentionRule } from '../../lib/retention.js';
import { LmdbStore } from '../../lib/store/lmdb.js';
import type { Retention } from '../../lib/store/types.js';
import type { Frame, RawClient } from './raw-client.js';
import type { Tap } from './server.js';

/** Predicate: an `event` frame of a room. */
export const eventIn =
  (room: string) =>
  (f: Frame): boolean =>
    f.type === 'event' && f.room === room;

/** Offsets of frames, in arrival order. */
export const offsets = (frames: Frame[]): number[] => frames.map((f) => f.offset as number);

/** 1..n (or from..to). */
export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/**
 * Wait until at least `n` frames matching `pred` have arrived (counting those already
 * received), within `timeoutMs`; resolves with every matching frame so far.
 */
export function waitFrames(c: RawClient, pred: (f: Frame) => boolean, n: number, timeoutMs = 5000): Promise<Frame[]> {
  let count = c.frames.filter(pred).length;
  if (count >= n) return Promise.resolve(c.frames.filter(pred));
  return new Promise((resolve, reject) => {
    const on = (): void => {
      if (pred(c.frames[c.frames.length - 1]!) && ++count >= n) {
        done();
        resolve(c.frames.filter(pred));
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`only ${count} of ${n} matching frames within ${timeoutMs} ms; last frames: ${JSON.stringify(c.frames.slice(-3))}`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      c.ws.off('message', on);
    };
    c.ws.on('message', on); // registered after RawClient's own listener: the frame is already in c.frames
  });
}

/** Wait until `cond()` holds, re-checking whenever any of `clients` receives a frame; bounded by `timeoutMs`. */
export function until(clients: RawClient[], cond: () => boolean, timeoutMs = 5000, what = 'the condition'): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const on = (): void => {
      if (!cond()) return;
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what} did not hold within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      for (const c of clients) c.ws.off('message', on);
    };
    for (const c of clients) c.ws.on('message', on);
  });
}

/**
 * Frames on one connection arrive in order: once the pong to this ping is in, everything the
 * server sent before answering it is in too. Used to prove that something did not arrive.
 */
export async function barrier(c: RawClient, timeoutMs = 3000): Promise<void> {
  await c.request({ type: 'ping' }, timeoutMs);
}

/** A stored emit into a room, waiting for its ack (or error). */
export function publish(c: RawClient, room: string, event: string, data?: unknown, extra: Frame = {}): Promise<Frame> {
  return c.request({ type: 'emit', room, event, ...(data === undefined ? {} : { data }), ...extra });
}

let batch = 0;

/**
 * Pipeline `n` stored emits into a room (event `e`, data `{ i }` from 1) and wait for every
 * ack; resolves with the acks in send order. Fails on any error frame.
 */
export function publishMany(c: RawClient, room: string, n: number, opts: { event?: string; timeoutMs?: number } = {}): Promise<Frame[]> {
  const prefix = `pm${++batch}-`;
  const acks = new Map<string, Frame>();
  return new Promise((resolve, reject) => {
    const on = (): void => {
      const f = c.frames[c.frames.length - 1]!;
      if (typeof f.id !== 'string' || !f.id.startsWith(prefix)) return;
      if (f.type !== 'ack') {
        done();
        reject(new Error(`publishMany: ${JSON.stringify(f)}`));
        return;
      }
      acks.set(f.id, f);
      if (acks.size === n) {
        done();
        resolve(range(1, n).map((i) => acks.get(`${prefix}${i}`)!));
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`publishMany: ${acks.size} of ${n} acks within ${opts.timeoutMs ?? 10_000} ms`));
    }, opts.timeoutMs ?? 10_000);
    const done = (): void => {
      clearTimeout(timer);
      c.ws.off('message', on);
    };
    c.ws.on('message', on);
    for (let i = 1; i <= n; i++) c.send({ type: 'emit', room, event: opts.event ?? 'e', data: { i }, id: `${prefix}${i}` });
  });
}

/** Ack every delivery (an event with an `id`) of a room as it arrives; returns the deliveries seen. */
export function autoAck(c: RawClient, room: string): Frame[] {
  const got: Frame[] = [];
  const ack = (f: Frame): void => {
    got.push(f);
    c.send({ type: 'ack', id: f.id });
  };
  for (const f of c.frames) if (f.type === 'event' && f.room === room && f.id !== undefined) ack(f);
  c.ws.on('message', () => {
    const f = c.frames[c.frames.length - 1]!;
    if (f.type === 'event' && f.room === room && f.id !== undefined) ack(f);
  });
  return got;
}

/** Close a client and wait until the server has removed its socket from namespace `ns`. */
export async function closeAndWait(server: WsqServer, c: RawClient, ns = '/'): Promise<void> {
  const socket = server.of(ns).sockets.get(c.welcome.sid as string);
  const gone = socket ? once(socket, 'disconnect') : Promise.resolve();
  await c.close();
  await gone;
}

/** A temp directory, removed at teardown (register it before the server, so it is removed after). */
export async function tempDir(t: Tap, prefix = 'wsq-spec-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Retention configuration and clock of a store built for a test. */
export interface StoreSetup {
  retention?: Partial<Retention>;
  retentionRules?: RetentionRule[];
  now?: () => number;
}

/** Open an LmdbStore in `dir` (closed at teardown; closing twice is harmless). */
export async function openLmdb(t: Tap, dir: string, s: StoreSetup = {}): Promise<LmdbStore> {
  const store = await LmdbStore.open(dir, { retention: retentionResolver(s.retention, s.retentionRules), ...(s.now ? { now: s.now } : {}) });
  t.teardown(() => store.close());
  return store;
}

/** The two embedded stores, by the name used in subtest titles. */
export const STORES = ['memory', 'lmdb'] as const;
export type StoreKind = (typeof STORES)[number];

/**
 * Server options for a store kind with the given retention and clock: the memory store is
 * built by the server from `retention`/`retentionRules`/`now`; the disk store is opened here
 * in a temp dir removed at teardown.
 */
export async function storeOptions(t: Tap, kind: StoreKind, s: StoreSetup = {}): Promise<WsqServerOptions> {
  const base: WsqServerOptions = { ...s };
  if (kind === 'memory') return base;
  const dir = await tempDir(t, 'wsq-spec-lmdb-');
  return { ...base, store: await openLmdb(t, dir, s) };
}
