#!/usr/bin/env node
/**
 * The `wsq` command: `wsq serve` runs the stand-alone service (every namespace served,
 * room emits relayed and stored), on the disk store under ./data by default.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { retentionResolver, type RetentionRule } from './retention.js';
import { WsqServer } from './server.js';
import { LmdbStore } from './store/lmdb.js';
import { MemoryStore } from './store/memory.js';
import type { Store } from './store/types.js';
import { VERSION } from './version.js';

function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number ≥ 0`);
    return n;
  };
}

const program = new Command('wsq').version(VERSION).description('wsq: a WebSocket message queue on plain ws (protocol wsq/1)');

program
  .command('serve')
  .description('run the stand-alone wsq/1 service')
  .option('-p, --port <port>', 'port to listen on', int('port'), 8080)
  .option('-H, --host <host>', 'address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
  .option('--path <path>', 'WebSocket path', '/')
  .option('--data-dir <dir>', 'directory of the disk store', './data')
  .option('--memory', 'keep logs in memory only (lost on restart) instead of on disk')
  .option('--heartbeat-ms <ms>', 'WebSocket ping interval', int('heartbeat-ms'), 25_000)
  .option('--timeout-ms <ms>', 'drop a peer silent for heartbeat + this', int('timeout-ms'), 20_000)
  .option('--max-payload <bytes>', 'largest frame accepted', int('max-payload'), 1024 * 1024)
  .option('--max-messages <n>', 'retention: messages kept per room (0 = no limit)', int('max-messages'), 10_000)
  .option('--max-age-ms <ms>', 'retention: age of messages kept (0 = no limit)', int('max-age-ms'), 86_400_000)
  .option('--max-bytes <bytes>', 'retention: payload bytes kept per room (0 = no limit)', int('max-bytes'), 16 * 1024 * 1024)
  .addOption(new Option('--overflow <policy>', 'what a full room does').choices(['drop-oldest', 'reject']).default('drop-oldest'))
  .option('--dedup-window-ms <ms>', 'idempotency-key window', int('dedup-window-ms'), 120_000)
  .option('--ack-timeout-ms <ms>', 'redeliver unacked group deliveries after', int('ack-timeout-ms'), 30_000)
  .option('--max-deliver <n>', 'group deliveries before dead-lettering', int('max-deliver'), 5)
  .option('--config <file>', 'JSON file with "retentionRules": [{"ns": "/", "room": "jobs.*", "maxMessages": 100000, "overflow": "reject"}, …] (room and ns are globs)')
  .action(async (o) => {
    const rules = o.config ? readRules(o.config) : [];
    const retention = {
      maxMessages: o.maxMessages, maxAgeMs: o.maxAgeMs, maxBytes: o.maxBytes,
      overflow: o.overflow as 'drop-oldest' | 'reject', dedupWindowMs: o.dedupWindowMs,
    };
    let store: Store;
    if (o.memory) {
      store = new MemoryStore({ retention: retentionResolver(retention, rules) });
    } else {
      const dir = resolve(o.dataDir);
      mkdirSync(dir, { recursive: true });
      store = await LmdbStore.open(dir, { retention: retentionResolver(retention, rules) });
    }
    const server = new WsqServer({
      namespaces: 'any', path: o.path, heartbeatMs: o.heartbeatMs, timeoutMs: o.timeoutMs,
      maxPayload: o.maxPayload, store, retention, retentionRules: rules, ackTimeoutMs: o.ackTimeoutMs, maxDeliver: o.maxDeliver,
    });
    await server.listen({ port: o.port, host: o.host });
    const where = o.memory ? 'memory store (not durable)' : `disk store at ${resolve(o.dataDir)}`;
    console.log(`wsq ${VERSION} listening on ${server.url} (${where})`);
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      console.log(`wsq: ${sig}, shutting down`);
      server.close().then(() => process.exit(0), () => process.exit(1));
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });

const RULE_KEYS = new Set(['ns', 'room', 'maxMessages', 'maxAgeMs', 'maxBytes', 'overflow', 'dedupWindowMs']);

/** Read and check the retention rules of a --config file; a mistake stops the start with a sentence saying what. */
function readRules(file: string): RetentionRule[] {
  let cfg: unknown;
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read --config ${file}: ${(err as Error).message}`);
  }
  const rules = (cfg as { retentionRules?: unknown }).retentionRules ?? [];
  if (!Array.isArray(rules)) throw new Error(`--config ${file}: "retentionRules" must be a list`);
  rules.forEach((r: Record<string, unknown>, i) => {
    for (const k of Object.keys(r)) if (!RULE_KEYS.has(k)) throw new Error(`--config ${file}: retentionRules[${i}] has an unknown field "${k}" (allowed: ${[...RULE_KEYS].join(', ')})`);
    if (r.overflow !== undefined && r.overflow !== 'drop-oldest' && r.overflow !== 'reject') throw new Error(`--config ${file}: retentionRules[${i}].overflow must be "drop-oldest" or "reject"`);
  });
  return rules as RetentionRule[];
}

program.parseAsync().catch((err) => {
  console.error(`wsq: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
