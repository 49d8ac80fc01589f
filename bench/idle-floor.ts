/**
 * The floor under wsq's idle memory per connection (issue 12): what a bare `ws` WebSocketServer
 * on this Node costs per idle connection, measured exactly as `bench:peers --only idle` measures
 * wsq, beside wsq with the `wsq serve` defaults, in one run.
 *
 *   node dist/bench/idle-floor.js [--count 5000] [--rounds 3]
 *
 * Every figure comes from a fresh server process pinned to core 0 (this generator on core 1):
 *
 * - **RSS growth** per connection: `idleMemory` of bench/peers (RSS 300 ms after start, open
 *   `count` connections 200 at a time, each waits for the server's first frame, RSS 1 s later),
 *   the number bench:peers reports;
 * - **heap after GC** per connection, from a second fresh process (`--expose-gc`): V8's used heap
 *   after a full GC before and after the connections, which is what the server's objects hold;
 *   the rest of the RSS growth is V8's young generation grown during the burst of connections
 *   (a fixed cost, amortised over `count`), old-space slack and native memory (libuv, malloc);
 * - the same two with `--max-semi-space-size=1` (young generation capped at 1 MiB per
 *   semi-space), to show how much of the RSS figure is that young generation, not the connections.
 *
 * Servers:
 * - `bare ws`: a WebSocketServer on node:http as wsq makes it (noServer, no client tracking, no
 *   permessage-deflate, the wsq.v1 sub-protocol), listening to message/close/error of each socket
 *   and sending one short text frame on open — the least any WebSocket server on Node holds;
 * - `wsq`: `new WsqServer({ namespaces: 'any' })`, the `wsq serve` defaults (memory store, default
 *   retention, no connection state recovery), logging off.
 *
 * First run (2026-12-02, 2 cores, Node 20.20.2, 5,000 connections, medians of 3 rounds), KiB per
 * connection: bare ws 8.63 RSS growth / 2.44 heap after GC; wsq 9.99 / 5.21; with
 * `--max-semi-space-size=1` bare ws 4.57 / 2.45, wsq 6.29 / 5.21. Mosquitto's WebSocket listener
 * measured 5.87 in bench:peers the same morning: below what `ws` alone costs on Node with V8's
 * default young generation (about 4 KiB of bare ws's 8.6 is that generation grown during the burst).
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { serveBenchIpc } from './child.js';
import { pin } from './peers/brokers.js';
import { wsqSides } from './peers/sides.js';
import { idleMemory } from './peers/workloads.js';

type Mode = 'bare' | 'wsq';
const SERVER_CORE = 0;

// ------------------------------------------------------------------ parent: the run

interface Child {
  pid: number;
  port: number;
  heap(): Promise<{ heapUsed: number; rss: number }>;
  stop(): Promise<void>;
}

/** A fresh server process of `mode` with these V8 flags; ended by PID at stop (and if this process ends). */
function start(mode: Mode, v8Flags: string[]): Promise<Child> {
  const child = fork(fileURLToPath(import.meta.url), ['child', mode], { execArgv: ['--expose-gc', ...v8Flags], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', kill);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let nextId = 1;
  const replies = new Map<number, (m: { heapUsed: number; rss: number }) => void>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (kill(), reject(new Error(`${mode} server did not start within 15 s`))), 15_000);
    child.once('exit', (code) => reject(new Error(`${mode} server exited (code ${code})`)));
    child.on('message', (m: { type: string; id?: number; port?: number; heapUsed: number; rss: number }) => {
      if (m.type === 'heap') {
        replies.get(m.id!)?.(m);
        replies.delete(m.id!);
      } else if (m.type === 'ready') {
        clearTimeout(timer);
        pin(child.pid!, SERVER_CORE);
        resolve({
          pid: child.pid!,
          port: m.port!,
          heap: () =>
            new Promise((res) => {
              const id = nextId++;
              replies.set(id, res);
              child.send({ type: 'heap', id });
            }),
          stop: async () => {
            if (child.connected) child.send({ type: 'stop' });
            const t = setTimeout(kill, 3000);
            await exited;
            clearTimeout(t);
            process.off('exit', kill);
          },
        });
      }
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** RSS growth per connection, bytes, as bench:peers measures it (fresh process, no forced GC). */
async function rssGrowth(mode: Mode, flags: string[], count: number): Promise<number> {
  const c = await start(mode, flags);
  try {
    return await idleMemory(wsqSides(c.port, 'floor').idle, count, c.pid);
  } finally {
    await c.stop();
  }
}

/** Used heap (after full GCs) per connection, bytes, in another fresh process; and RSS growth measured after those GCs. */
async function heapGrowth(mode: Mode, flags: string[], count: number): Promise<{ heap: number; rss: number }> {
  const c = await start(mode, flags);
  const side = wsqSides(c.port, 'floor').idle;
  const conns: { close(): void }[] = [];
  try {
    await sleep(300);
    const before = await c.heap();
    for (let i = 0; i < count; i += 200) conns.push(...(await Promise.all(Array.from({ length: Math.min(200, count - i) }, () => side.open()))));
    await sleep(1_000);
    const after = await c.heap();
    return { heap: (after.heapUsed - before.heapUsed) / count, rss: (after.rss - before.rss) / count };
  } finally {
    for (const x of conns) x.close();
    await c.stop();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const count = Math.max(100, Number(option('--count') ?? 5000) || 5000);
  const rounds = Math.max(1, Number(option('--rounds') ?? 3) || 1);
  pin(process.pid, 1);
  const cpus = os.cpus();
  console.log(`wsq idle floor — ${cpus[0]?.model ?? '?'} × ${cpus.length}, Node ${process.version}, ${count.toLocaleString('en-US')} idle connections, ${rounds} round(s)`);
  const variants: { label: string; mode: Mode; flags: string[] }[] = [
    { label: 'bare ws', mode: 'bare', flags: [] },
    { label: 'wsq', mode: 'wsq', flags: [] },
    { label: 'bare ws, --max-semi-space-size=1', mode: 'bare', flags: ['--max-semi-space-size=1'] },
    { label: 'wsq, --max-semi-space-size=1', mode: 'wsq', flags: ['--max-semi-space-size=1'] },
  ];
  const figures = new Map<string, { rss: number[]; heap: number[]; gcRss: number[] }>(variants.map((v) => [v.label, { rss: [], heap: [], gcRss: [] }]));
  const kib = (b: number): string => (b / 1024).toFixed(2);
  for (let round = 0; round < rounds; round++) {
    // The order alternates per round, so neither side always runs on a machine warmed by the other.
    for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
      const f = figures.get(v.label)!;
      const rss = await rssGrowth(v.mode, v.flags, count);
      const h = await heapGrowth(v.mode, v.flags, count);
      f.rss.push(rss);
      f.heap.push(h.heap);
      f.gcRss.push(h.rss);
      console.log(`  round ${round + 1} ${v.label}: RSS growth ${kib(rss)} KiB/connection; heap after GC ${kib(h.heap)}, RSS after GC ${kib(h.rss)}`);
    }
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  console.log(`\nMedians of ${rounds} round(s), KiB per idle connection (wsq / bare ws in brackets):`);
  console.log('| server | RSS growth (bench:peers method) | heap used after GC | RSS growth after GC |');
  console.log('|---|---:|---:|---:|');
  for (const v of variants) {
    const f = figures.get(v.label)!;
    const bare = figures.get(v.flags.length ? 'bare ws, --max-semi-space-size=1' : 'bare ws')!;
    const cell = (xs: number[], base: number[]): string => (v.mode === 'wsq' ? `${kib(median(xs))} (${(median(xs) / median(base)).toFixed(2)})` : kib(median(xs)));
    console.log(`| ${v.label} | ${cell(f.rss, bare.rss)} | ${cell(f.heap, bare.heap)} | ${cell(f.gcRss, bare.gcRss)} |`);
  }
}

// ------------------------------------------------------------------ child: one server

/** Run the server of `mode` in this (child) process and speak the bench IPC (child.ts), plus `heap`. */
async function serve(mode: Mode): Promise<void> {
  let port: number;
  let close: () => unknown;
  if (mode === 'bare') {
    const wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: 4 << 20,
      handleProtocols: (p) => (p.has('wsq.v1') ? 'wsq.v1' : false),
    });
    const noop = (): void => {};
    const http = createServer((_req, res) => res.writeHead(426).end());
    http.on('upgrade', (req, sock, head) =>
      wss.handleUpgrade(req, sock, head, (ws) => {
        ws.on('message', noop);
        ws.on('close', noop);
        ws.on('error', noop);
        ws.send('{"type":"welcome"}');
      }),
    );
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    port = (http.address() as AddressInfo).port;
    close = () => http.close();
  } else {
    const { WsqServer } = await import('../lib/server.js');
    const server = new WsqServer({ namespaces: 'any', logger: () => {} });
    await server.listen({ port: 0, host: '127.0.0.1' });
    port = server.port;
    close = () => server.close();
  }
  // `heap`: used heap after a full GC (the child runs with --expose-gc), and RSS then.
  process.on('message', (m: { type?: string; id?: number }) => {
    if (m.type !== 'heap') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const u = process.memoryUsage();
    process.send!({ type: 'heap', id: m.id, heapUsed: u.heapUsed, rss: u.rss });
  });
  serveBenchIpc(port, close);
}

if (process.argv[2] === 'child') await serve(process.argv[3] as Mode);
else await main();
