#!/usr/bin/env node
/**
 * The `wsq` command: `wsq serve` runs the stand-alone service (every namespace served,
 * room emits relayed and stored), on the disk store under ./data by default. Its settings
 * come from `--config FILE`, then `WSQ_<KEY>` variables, then flags, validated by the one
 * schema in lib/config.ts (defaults live there, not here). `wsq hash-key` prints the stored
 * form of an API key; `wsq config check FILE` validates a config file.
 */
import { mkdirSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { hashKey, newKey } from './auth/keys.js';
import type { Config } from './config.js';
import { defaultOf, envName, FLAGS, loadConfig } from './config-load.js';
import { retentionResolver } from './retention.js';
import { WsqServer } from './server.js';
import { LmdbStore } from './store/lmdb.js';
import { MemoryStore } from './store/memory.js';
import type { Store } from './store/types.js';
import { VERSION } from './version.js';

const program = new Command('wsq').version(VERSION).description('wsq: a WebSocket message queue on plain ws (protocol wsq/1)');

const serve = program
  .command('serve')
  .description('run the stand-alone wsq/1 service (settings: --config FILE, then WSQ_<FLAG> variables, then flags)')
  .option('--config <file>', 'JSON config file: every setting of docs/security.md and README (unknown keys are errors)');
for (const f of FLAGS) {
  const names = `${f.short ? `-${f.short}, ` : ''}--${f.flag}${f.kind === 'bool' ? '' : ` <${f.kind === 'int' ? 'n' : 'value'}>`}`;
  const d = f.kind === 'bool' ? undefined : defaultOf(f.key);
  serve.option(names, `${f.help} [${envName(f.flag)}]${d !== undefined ? ` (default: ${JSON.stringify(d)})` : ''}`);
}
serve.action(async (o: Record<string, string | boolean | undefined>) => {
  const flags: Record<string, string | boolean | undefined> = {};
  for (const f of FLAGS) flags[f.flag] = o[f.flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())];
  const cfg = loadConfig({ file: o.config as string | undefined, env: process.env, flags });
  const store = await openStore(cfg);
  const { host, port, store: _kind, ...options } = cfg;
  let server: WsqServer;
  try {
    server = new WsqServer({ ...options, store });
  } catch (err) {
    await store.close();
    throw err;
  }
  await server.listen({ port, host });
  const where = cfg.store.kind === 'memory' ? 'memory store (not durable)' : `disk store at ${resolve(cfg.store.dataDir)}`;
  console.log(`wsq ${VERSION} listening on ${addresses(host, server.port, cfg.path)} (${where})`);
  if (!cfg.auth) {
    console.error(
      'wsq: warning: no "auth" is configured, so this server is unprotected: anyone who can reach the port can read, write and erase every room. Configure "auth" (see docs/security.md).',
    );
  }
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`wsq: ${sig}, shutting down`);
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
});

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
function addresses(host: string, port: number, path: string): string {
  const url = (a: string): string => `ws://${a.includes(':') ? `[${a}]` : a}:${port}${path}`;
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

program
  .command('config')
  .description('configuration tools')
  .command('check <file>')
  .description('validate a config file (with WSQ_* variables applied) and print the resolved configuration')
  .action((file: string) => {
    console.log(JSON.stringify(loadConfig({ file, env: process.env }), null, 2));
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

program.parseAsync().catch((err) => {
  console.error(`wsq: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
