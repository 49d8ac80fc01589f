/**
 * The floor under wsq's idle memory per connection (issue 12): what a bare `ws` WebSocketServer
 * on this Node costs per idle connection, measured as `bench:peers --only idle` measures wsq,
 * beside wsq with the `wsq serve` defaults and Mosquitto's WebSocket listener, in one run.
 *
 *   node dist/bench/idle-floor.js [--count 5000] [--rounds 3]
 *
 * Every figure comes from a fresh server process pinned to core 0 (this generator on core 1):
 *
 * - **RSS growth, first `count`**: the steps of bench:peers' `idleMemory` (RSS 300 ms after the
 *   start, open `count` connections 200 at a time, each waiting for the server's first frame, RSS
 *   1 s later): the number bench:peers reports;
 * - **RSS growth, next `count`**: `count` more connections in the same process, RSS 1 s later: the
 *   cost of one more connection, without what a fresh process pays once — on Node, V8's young
 *   generation growing to its maximum during the first burst (tens of MiB, whatever the count);
 * - **heap used after GC**, from another fresh process (`--expose-gc`, Node servers only): what
 *   the server's objects hold per connection;
 * - bare ws and wsq again with `--max-semi-space-size=1` (young generation capped at 1 MiB per
 *   semi-space), to show how much of the first figure is that young generation.
 *
 * Servers:
 * - `bare ws`: a WebSocketServer on node:http as wsq makes it (noServer, no client tracking, no
 *   permessage-deflate, the wsq.v1 sub-protocol), listening to message/close/error of each socket
 *   and sending one short text frame on open — the least any WebSocket server on Node holds;
 * - `wsq`: `new WsqServer({ namespaces: 'any' })`, the `wsq serve` defaults (memory store, default
 *   retention, no connection state recovery), logging off;
 * - `Mosquitto WS` (when installed): bench/peers' Mosquitto, QoS 0 MQTT over WebSocket.
 *
 * First runs (2026-12-02, 2 cores, Node 20.20.2, 5,000 connections, medians of 3 rounds), KiB per
 * connection, first 5,000 / heap after GC: bare ws 8.63 / 2.44, wsq 9.99 / 5.21; with
 * `--max-semi-space-size=1` bare ws 4.57, wsq 6.29; Mosquitto WS 5.87 (and 5.87 for the next
 * 5,000), while the next 5,000 cost bare ws about 4.0 and wsq about 5.3.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { serveBenchIpc } from './child.js';
import { have, pin, startMosquitto } from './peers/brokers.js';
import { type Closable, mqttIdle, wsqSides } from './peers/sides.js';
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

/** Used heap (after full GCs) per connection over `count` connections, in a fresh process. */
async function heapGrowth(c: Child, count: number): Promise<number> {
  const conns: Closable[] = [];
  try {
    await sleep(300);
    const before = await c.heap();
    const side = wsqSides(c.port, 'floor').idle;
    for (let i = 0; i < count; i += 200) conns.push(...(await Promise.all(Array.from({ length: Math.min(200, count - i) }, () => side.open()))));
    await sleep(1_000);
    const after = await c.heap();
    return (after.heapUsed - before.heapUsed) / count;
  } finally {
    for (const x of conns) x.close();
  }
}

interface Figures {
  first: number[];
  next: number[];
  heap: number[];
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
  console.log(
    `wsq idle floor — ${cpus[0]?.model ?? '?'} × ${cpus.length}, Node ${process.version}, ${count.toLocaleString('en-US')} + ${count.toLocaleString('en-US')} idle connections, ${rounds} round(s)`,
  );
  const mosquitto = have('mosquitto');
  const variants: { label: string; mode: Mode | 'mosquitto'; flags: string[] }[] = [
    { label: 'bare ws', mode: 'bare', flags: [] },
    { label: 'wsq', mode: 'wsq', flags: [] },
    { label: 'bare ws, --max-semi-space-size=1', mode: 'bare', flags: ['--max-semi-space-size=1'] },
    { label: 'wsq, --max-semi-space-size=1', mode: 'wsq', flags: ['--max-semi-space-size=1'] },
    ...(mosquitto ? [{ label: 'Mosquitto WS', mode: 'mosquitto' as const, flags: [] }] : []),
  ];
  if (!mosquitto) console.log('(mosquitto is not installed: its row is skipped)');
  const figures = new Map<string, Figures>(variants.map((v) => [v.label, { first: [], next: [], heap: [] }]));
  const kib = (b: number): string => (b / 1024).toFixed(2);
  for (let round = 0; round < rounds; round++) {
    // The order alternates per round, so neither side always runs on a machine warmed by the other.
    for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
      const f = figures.get(v.label)!;
      let steps: { first: number; next: number };
      let heap = Number.NaN;
      if (v.mode === 'mosquitto') {
        const p = await startMosquitto(SERVER_CORE);
        try {
          steps = await idleMemory(mqttIdle({ url: `ws://127.0.0.1:${p.ports.ws}/` }), count, p.pid);
        } finally {
          await p.stop();
        }
      } else {
        const c = await start(v.mode, v.flags);
        try {
          steps = await idleMemory(wsqSides(c.port, 'floor').idle, count, c.pid);
        } finally {
          await c.stop();
        }
        const h = await start(v.mode, v.flags);
        try {
          heap = await heapGrowth(h, count);
        } finally {
          await h.stop();
        }
      }
      f.first.push(steps.first);
      f.next.push(steps.next);
      f.heap.push(heap);
      console.log(`  round ${round + 1} ${v.label}: first ${kib(steps.first)} KiB/connection, next ${kib(steps.next)}; heap after GC ${kib(heap)}`);
    }
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const n = count.toLocaleString('en-US');
  console.log(`\nMedians of ${rounds} round(s), KiB per idle connection (in brackets: / bare ws with the same flags):`);
  console.log(`| server | RSS growth, first ${n} (bench:peers method) | RSS growth, next ${n} | heap used after GC |`);
  console.log('|---|---:|---:|---:|');
  for (const v of variants) {
    const f = figures.get(v.label)!;
    const bare = figures.get(v.flags.length ? 'bare ws, --max-semi-space-size=1' : 'bare ws')!;
    const cell = (xs: number[], base: number[]): string => {
      const m = median(xs);
      if (Number.isNaN(m)) return '–';
      return v.mode === 'bare' ? kib(m) : `${kib(m)} (${(m / median(base)).toFixed(2)})`;
    };
    console.log(`| ${v.label} | ${cell(f.first, bare.first)} | ${cell(f.next, bare.next)} | ${cell(f.heap, bare.heap)} |`);
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
