#!/usr/bin/env node
/**
 * The `wsq` command: `wsq serve` runs the stand-alone service (every namespace served,
 * room emits relayed and stored), on the disk store under ./data by default. Its settings
 * come from `--config FILE`, then `WSQ_<KEY>` variables, then flags, validated by the one
 * schema in lib/config.ts (defaults live there, not here). `wsq hash-key` prints the stored
 * form of an API key; `wsq config check FILE` validates a config file.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { hashKey, newKey } from './auth/keys.js';
import { redactUrl } from './cluster.js';
import type { Config } from './config.js';
import { defaultOf, envName, FLAGS, loadConfig } from './config-load.js';
import { retentionResolver } from './retention.js';
import { WsqServer } from './server.js';
import { LmdbStore } from './store/lmdb.js';
import { MemoryStore } from './store/memory.js';
import type { Store } from './store/types.js';
import { VERSION } from './version.js';
import { isWorker, ROUTES, reportListening, runWorkers, type WorkerInfo } from './workers.js';

const program = new Command('wsq').version(VERSION).description('wsq: a WebSocket message queue on plain ws (protocol wsq/1)');

/** `--config FILE` and every flag of the one flag table (lib/config-load.ts) on a command. */
function configOptions(cmd: Command): Command {
  cmd.option('--config <file>', 'JSON config file: every setting of docs/security.md and README (unknown keys are errors)');
  for (const f of FLAGS) {
    const names = `${f.short ? `-${f.short}, ` : ''}--${f.flag}${f.kind === 'bool' ? '' : ` <${f.kind === 'int' ? 'n' : 'value'}>`}`;
    const d = f.kind === 'bool' ? undefined : defaultOf(f.key);
    cmd.option(names, `${f.help} [${envName(f.flag)}]${d !== undefined ? ` (default: ${JSON.stringify(d)})` : ''}`);
  }
  return cmd;
}

/** The effective configuration: the `--config` file, then WSQ_* variables, then flags. */
function effectiveConfig(o: Record<string, string | boolean | undefined>): Config {
  const flags: Record<string, string | boolean | undefined> = {};
  const camel = (name: string): string => name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  // commander keeps a `--no-x` flag as `x: false` (and `x: true` when it is not given).
  for (const f of FLAGS) flags[f.flag] = f.flag.startsWith('no-') ? (o[camel(f.flag.slice(3))] === false ? true : undefined) : o[camel(f.flag)];
  const cfg = loadConfig({ file: o.config as string | undefined, env: process.env, flags });
  // Decision 1 of issue 9: on Redis the logs are in Redis; a node-local store beside it would split the offsets.
  if (cfg.redis && cfg.store.kind === 'memory') {
    throw new Error(
      '--redis (WSQ_REDIS, redis.url) keeps logs, cursors and groups in Redis, shared by every node; it cannot be combined with the memory store (--memory, store.kind). Drop one of them.',
    );
  }
  // Issue 12 item 4: workers are nodes of one machine; they share rooms and logs only through Redis.
  if (cfg.workers > 1 && !cfg.redis) {
    throw new Error(
      `--workers ${cfg.workers} (WSQ_WORKERS, workers) runs ${cfg.workers} nodes of this machine, which share rooms, logs and offsets only through Redis: add --redis redis://host:port (WSQ_REDIS, redis.url), or drop --workers.`,
    );
  }
  return cfg;
}

const serve = configOptions(program.command('serve').description('run the stand-alone wsq/1 service (settings: --config FILE, then WSQ_<FLAG> variables, then flags)'));
serve.action(async (o: Record<string, string | boolean | undefined>) => {
  const cfg = effectiveConfig(o);
  const tls = cfg.tls ? httpsServer(cfg.tls) : undefined; // before the store opens: a bad certificate stops the start naming its file
  const worker = isWorker();
  if (cfg.workers > 1 && !worker) {
    // Issue 12 item 4: this process forks the workers (lib/workers.ts); each runs this action as one node on Redis.
    const served = (ws: WorkerInfo[]): Served => ({ nodeId: '', port: ws[0]!.port, http: { has: (p) => ws[0]!.routes.includes(p) } });
    const who = (ws: WorkerInfo[]): string => `${ws.length} workers: ${ws.map((w) => `pid ${w.pid} node ${w.nodeId}`).join(', ')}`;
    return runWorkers({
      workers: cfg.workers,
      startLines: (ws) => startLines(cfg, served(ws), who(ws)),
      warnings: (ws) => unprotected(cfg, served(ws)),
    });
  }
  const store = cfg.redis ? undefined : await openStore(cfg); // on Redis the server builds the shared store itself (lib/cluster.ts)
  const { host, port, store: storeCfg, tls: _tls, workers: _workers, ...options } = cfg;
  // R5.6.7: one setting for every store: on Redis, store.idleRoomTtlMs reaches the Redis store.
  if (options.redis) options.redis = { ...options.redis, idleRoomTtlMs: options.redis.idleRoomTtlMs ?? storeCfg.idleRoomTtlMs };
  let server: WsqServer;
  try {
    server = new WsqServer(store ? { ...options, store } : options, tls);
  } catch (err) {
    await store?.close();
    throw err;
  }
  // A server passed in keeps its own request listener: route its plain HTTP requests (health, metrics, admin) here.
  if (tls) tls.on('request', (req, res) => server.http.handle(req, res));
  await server.listen({ port, host });
  if (worker) {
    reportListening({ port: server.port, nodeId: server.nodeId, routes: ROUTES.filter((p) => server.http.has(p)) }); // the primary prints the start lines
  } else {
    for (const line of startLines(cfg, server)) console.log(line);
    for (const line of unprotected(cfg, server)) console.error(`wsq: warning: ${line}`);
  }
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    if (!worker) console.log(`wsq: ${sig}, shutting down`);
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
});

/** The https server of `tls.cert` and `tls.key`; a file that cannot be read or used stops the start, naming it. */
function httpsServer(tls: { cert: string; key: string }): HttpsServer {
  const read = (path: string, what: string, key: string, flag: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${resolve(path)} (${key}, --${flag}, ${envName(flag)}): ${(err as Error).message}`);
    }
  };
  const cert = read(tls.cert, 'certificate', 'tls.cert', 'tls-cert');
  const key = read(tls.key, 'key', 'tls.key', 'tls-key');
  try {
    return createHttpsServer({ cert, key });
  } catch (err) {
    throw new Error(`the TLS certificate ${resolve(tls.cert)} and key ${resolve(tls.key)} (tls.cert, tls.key) cannot be used: ${(err as Error).message}`);
  }
}

/** A loopback address: only this machine can connect. */
const loopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);

/** What the start lines need of a server (a WsqServer, or what `--workers` workers reported). */
interface Served {
  nodeId: string;
  port: number;
  http: { has(path: string): boolean };
}

/** What `wsq serve` prints once listening: where, which store, what is served on the port, the log; `nodes` replaces "node <id>" (workers). */
function startLines(cfg: Config, server: Served, nodes?: string): string[] {
  const r = cfg.redis;
  const where = r
    ? `redis store at ${redactUrl(r.url)}, ${nodes ?? `node ${server.nodeId}`}`
    : cfg.store.kind === 'memory'
      ? 'memory store (not durable)'
      : `disk store at ${resolve(cfg.store.dataDir)}`;
  const scheme = cfg.tls ? 'wss' : 'ws';
  const lines = [`wsq ${VERSION} listening on ${addresses(cfg.host, server.port, cfg.path, scheme)} (${where})`];
  if (r) {
    lines.push(
      `wsq: store: redis ${redactUrl(r.url)}, prefix "${r.prefix}", shared with every node on it (${r.durable ? 'durable: that Redis fsyncs every write' : 'acks mean "in Redis memory"; see README "Scaling out"'}); ${nodes ?? `node id ${server.nodeId}`}`,
    );
  } else lines.push(cfg.store.kind === 'memory' ? 'wsq: store: memory (everything is lost when the process stops)' : `wsq: store: disk, directory ${resolve(cfg.store.dataDir)}`);
  const http = cfg.tls ? 'https' : 'http';
  const open = ['/healthz', '/readyz', '/metrics'].filter((p) => server.http.has(p));
  const admin = ['/dashboard', '/admin/api/rooms'].filter((p) => server.http.has(p)).map((p) => (p.startsWith('/admin/api/') ? '/admin/api/' : p));
  lines.push(
    `wsq: ${http}: ${open.length ? `${open.join(', ')} (no auth)` : 'no plain HTTP routes'}; ${admin.length ? `${admin.join(', ')} (admin keys)` : 'admin API and dashboard off (no "admin" configured)'}`,
  );
  lines.push(
    `wsq: tls: ${cfg.tls ? `on (certificate ${resolve(cfg.tls.cert)})` : 'off'}; log: ${cfg.log.level}, ${(cfg.log.pretty ?? process.stderr.isTTY === true) ? 'pretty' : 'JSON lines'} on stderr`,
  );
  return lines;
}

/** What is not protected, one sentence each (printed as warnings). */
function unprotected(cfg: Config, server: Served): string[] {
  const out: string[] = [];
  if (!cfg.auth) {
    out.push(
      'no "auth" is configured, so this server is unprotected: anyone who can reach the port can read, write and erase every room. Configure "auth" (see docs/security.md).',
    );
  }
  const exposed = !loopback(cfg.host);
  if (exposed && server.http.has('/metrics')) out.push(`/metrics is served without authentication on ${cfg.host}; set "metrics": { "enabled": false } or keep the port private.`);
  if (exposed && !cfg.tls)
    out.push(
      `TLS is off on ${cfg.host}, a non-loopback address: credentials and messages cross the network in clear. Set "tls" (--tls-cert, --tls-key) or terminate TLS in front.`,
    );
  return out;
}

/** The configuration with secret material replaced by "***": key hashes and any value whose key names a secret (file paths are kept: files are never read into it). */
function masked(v: unknown, key = ''): unknown {
  if (key === 'hash' || (/secret|password|token/i.test(key) && !/File$/.test(key))) return '***';
  if (typeof v === 'string' && /^rediss?:\/\//.test(v)) return redactUrl(v); // a password in the Redis URL
  if (Array.isArray(v)) return v.map((x) => masked(x));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, masked(x, k)]));
  return v;
}

/** The store a config names; a failure to open it says which directory. */
async function openStore(cfg: Config): Promise<Store> {
  const retention = retentionResolver(cfg.retention, cfg.retentionRules);
  if (cfg.store.kind === 'memory') return new MemoryStore({ retention, idleRoomTtlMs: cfg.store.idleRoomTtlMs });
  const dir = resolve(cfg.store.dataDir);
  try {
    mkdirSync(dir, { recursive: true });
    return await LmdbStore.open(dir, { retention, idleRoomTtlMs: cfg.store.idleRoomTtlMs });
  } catch (err) {
    const msg = (err as Error).message;
    if (msg.includes(dir) && !(err as NodeJS.ErrnoException).syscall) throw err; // the store's own sentence (e.g. the lock) already names the directory
    throw new Error(`cannot open the disk store at ${dir} (--data-dir, WSQ_DATA_DIR, store.dataDir): ${msg}`);
  }
}

/** Every URL the server answers on: one for a specific host; each interface's address for 0.0.0.0 or ::. */
function addresses(host: string, port: number, path: string, scheme = 'ws'): string {
  const url = (a: string): string => `${scheme}://${a.includes(':') ? `[${a}]` : a}:${port}${path}`;
  if (host !== '0.0.0.0' && host !== '::') return url(host);
  const all = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i && (host === '::' || i.family === 'IPv4'));
  return `${url(host)} (every interface: ${all.map((i) => url(i!.address)).join(', ')})`;
}

program
  .command('hash-key [key]')
  .description('print the stored form (sha256:<hex>) of an API key for "auth.keys"; without a key, make a new random one and print both')
  .action((key?: string) => {
    if (key) return console.log(hashKey(key));
    const k = newKey();
    console.log(`key:  ${k}\nhash: ${hashKey(k)}`);
  });

const configCommand = program.command('config').description('configuration tools');
configCommand
  .command('check <file>')
  .description('validate a config file (with WSQ_* variables applied) and print the resolved configuration (secrets masked)')
  .action((file: string) => {
    console.log(JSON.stringify(masked(loadConfig({ file, env: process.env })), null, 2));
  });
configOptions(
  configCommand.command('print').description('print the effective configuration (--config file, then WSQ_* variables, then flags, defaults filled in) as JSON, secrets masked'),
).action((o: Record<string, string | boolean | undefined>) => {
  console.log(JSON.stringify(masked(effectiveConfig(o)), null, 2));
});

program
  .command('conformance <url>')
  .description('check a running wsq/1 server (any implementation) against the numbered requirements of PROTOCOL.md: one line per requirement, a summary, exit 1 on any FAIL')
  .option('--wait-ms <n>', 'bounded wait for one expected frame, in ms', '2000')
  .option('--token <token>', 'send "Authorization: Bearer <token>" on every connection')
  .option('--refused-token <token>', 'a token the server refuses, to check how a refused connection is told (R2.1.9, R2.2.5)')
  .option('--only <prefixes>', 'only the requirements starting with these, comma-separated (e.g. R4.5,R5.3)')
  .action(async (url: string, o: { waitMs: string; token?: string; refusedToken?: string; only?: string }) => {
    const waitMs = Number(o.waitMs);
    if (!Number.isInteger(waitMs) || waitMs < 50) throw new Error(`--wait-ms must be a whole number of milliseconds ≥ 50; got "${o.waitMs}"`);
    const { formatResult, formatSummary, runConformance } = await import('./conformance/index.js');
    const results = await runConformance(url, {
      waitMs,
      token: o.token,
      refusedToken: o.refusedToken,
      only: o.only
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    });
    for (const r of results) console.log(formatResult(r));
    console.log(formatSummary(results, url));
    process.exitCode = results.some((r) => r.status === 'fail') ? 1 : 0;
  });

(await import('./admin/cli.js')).registerAdminCommands(program); // wsq rooms, groups, dead, redrive, cursor reset, backup, restore

program.parseAsync().catch((err) => {
  console.error(`wsq: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
