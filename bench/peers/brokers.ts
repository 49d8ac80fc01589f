/**
 * The peers bench's own broker processes: nats-server (TCP, a WebSocket listener and
 * JetStream on a temporary store directory) and mosquitto (TCP and WebSockets), each started
 * here under a temporary directory on free loopback ports, pinned to one core with `taskset`
 * when it exists, and ended by PID. RabbitMQ is the machine's own (127.0.0.1:5672): starting
 * a second Erlang node takes too long for a bench, so it runs unpinned and is marked so.
 * A peer whose binary or port is missing is reported as skipped, never as a failure.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';

/** A process of ours: its PID, where it listens, and how to end it. */
export interface OwnProcess {
  readonly pid: number;
  readonly ports: Record<string, number>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
});

/** A free loopback port (bound once and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function answers(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Whether a command is on PATH. */
export function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Pin a process to one core (no-op without taskset or with one core). */
export function pin(pid: number, core: number): boolean {
  if (os.cpus().length < 2 || !have('taskset')) return false;
  try {
    execFileSync('taskset', ['-a', '-cp', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Resident memory of a process, bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** CPU time of a process in µs (user + system, Linux /proc). */
export function cpuOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return (ticks / 100) * 1e6;
}

async function waitFor(ports: number[], child: ChildProcess, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (code ${child.exitCode}) before it listened`);
    const ok = await Promise.all(ports.map((p) => answers(p)));
    if (ok.every(Boolean)) return;
    if (Date.now() > until) throw new Error(`${what} did not listen on ${ports.join(', ')} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function own(child: ChildProcess, dir: string, ports: Record<string, number>): OwnProcess {
  live.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    pid: child.pid!,
    ports,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        const kill = setTimeout(() => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'), 3_000);
        await exited;
        clearTimeout(kill);
      }
      live.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Start nats-server with TCP, WebSocket and JetStream (file store under a temp dir), pinned to `core`. */
export async function startNats(core: number): Promise<OwnProcess> {
  const dir = mkdtempSync(join(os.tmpdir(), 'wsq-peers-nats-'));
  const tcp = await freePort();
  const ws = await freePort();
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, `listen: 127.0.0.1:${tcp}\nmax_payload: 1048576\nwebsocket { listen: "127.0.0.1:${ws}", no_tls: true }\njetstream { store_dir: "${join(dir, 'js')}" }\n`);
  const child = spawn('nats-server', ['-c', conf], { stdio: 'ignore' });
  pin(child.pid!, core);
  const p = own(child, dir, { tcp, ws });
  try {
    await waitFor([tcp, ws], child, 'nats-server');
  } catch (err) {
    await p.stop();
    throw err;
  }
  return p;
}

/** Start mosquitto with a TCP and a WebSockets listener (no persistence), pinned to `core`. */
export async function startMosquitto(core: number): Promise<OwnProcess> {
  const dir = mkdtempSync(join(os.tmpdir(), 'wsq-peers-mosquitto-'));
  const tcp = await freePort();
  const ws = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${tcp} 127.0.0.1\nallow_anonymous true\nlistener ${ws} 127.0.0.1\nprotocol websockets\npersistence false\nmax_connections -1\n`);
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  pin(child.pid!, core);
  const p = own(child, dir, { tcp, ws });
  try {
    await waitFor([tcp, ws], child, 'mosquitto');
  } catch (err) {
    await p.stop();
    throw err;
  }
  return p;
}
