/** lib/config.ts (I7 #19, I8 deliver 3): one schema for the library, the config file, WSQ_* variables and flags. In-process. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, ConfigSchema, MIN_MAX_PAYLOAD, parseConfig, parseServerOptions } from '../../lib/config.js';
import { loadConfig, readConfigFile } from '../../lib/config-load.js';
import { WsqServer } from '../../lib/index.js';
import { DEFAULT_RETENTION } from '../../lib/retention.js';

function file(t: { teardown(fn: () => void): void }, content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsq-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'wsq.json');
  writeFileSync(f, JSON.stringify(content));
  return f;
}

t.test('new WsqServer(opts) refuses a bad option with a TypeError naming the key and what is allowed', async (t) => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ path: 'chat' }, /path: must start with "\/"/],
    [{ maxPayload: 0 }, new RegExp(`maxPayload: must be at least ${MIN_MAX_PAYLOAD} bytes`)],
    [{ heartbeatMs: -5 }, /heartbeatMs: must be ≥ 1/],
    [{ hearbeatMs: 5 }, /unknown key "hearbeatMs" \(did you mean "heartbeatMs"\?\)/],
    [{ limits: { maxRoomsPerConection: 5 } }, /unknown key "limits\.maxRoomsPerConection" \(did you mean "limits\.maxRoomsPerConnection"\?\)/],
    [{ retention: { overflow: 'explode' } }, /retention\.overflow: must be "drop-oldest" or "reject"/],
    [{ auth: { keys: [{ client: 'a', hash: 'plain' }] } }, /auth\.keys\[0\]\.hash: must be "sha256:"/],
    [{ auth: { jwt: { audience: 'x' } } }, /auth\.jwt: needs "secretFile"/],
    [{ now: 5 }, /now: must be a function/],
  ];
  for (const [opts, re] of bad) {
    const err = (() => {
      try {
        new WsqServer(opts);
      } catch (e) {
        return e as Error;
      }
    })();
    t.type(err, TypeError, JSON.stringify(opts));
    t.type(err, ConfigError);
    t.match(err?.message, re);
  }
});

t.test('defaults come from the schema, once: the library and the service agree', async (t) => {
  const lib = parseServerOptions({});
  const svc = parseConfig({});
  for (const k of ['path', 'heartbeatMs', 'timeoutMs', 'maxPayload', 'badFrameLimit', 'ackTimeoutMs', 'maxDeliver', 'prefetch'] as const) t.equal(lib[k], svc[k], k);
  t.same(lib.retention, DEFAULT_RETENTION, "retention defaults are the stores' defaults");
  t.equal(lib.namespaces, 'declared', 'the library serves declared namespaces');
  t.equal(svc.namespaces, 'any', 'the stand-alone service serves any');
  t.same(svc.store, { kind: 'disk', dataDir: './data', idleRoomTtlMs: 24 * 60 * 60 * 1000 });
  const s = new WsqServer({ logger: () => {} });
  t.equal(s.options.maxPayload, 1024 * 1024, 'the server resolves through the schema');
  await s.close();
});

t.test('flags override WSQ_* variables, which override the file', async (t) => {
  const f = file(t, { maxPayload: 4096, prefetch: 7, heartbeatMs: 1000, limits: { maxConnections: 5 } });
  const cfg = loadConfig({ file: f, env: { WSQ_MAX_PAYLOAD: '2048', WSQ_PREFETCH: '8' }, flags: { prefetch: '9' } });
  t.equal(cfg.maxPayload, 2048, 'variable over file');
  t.equal(cfg.prefetch, 9, 'flag over variable');
  t.equal(cfg.heartbeatMs, 1000, 'file over default');
  t.equal(cfg.limits.maxConnections, 5, 'nested file value kept');
  t.equal(cfg.limits.maxPrefetch, 1000, 'nested default filled in beside it');
  t.equal(loadConfig({ flags: { memory: true } }).store.kind, 'memory', '--memory');
  t.same(loadConfig({ env: { WSQ_ORIGINS: 'https://a.example, https://b.example' } }).origins, ['https://a.example', 'https://b.example'], 'a list variable');
  const jwt = loadConfig({ env: { WSQ_JWT_SECRET_FILE: '/run/secrets/wsq' }, flags: { 'jwt-audience': 'wsq' } }).auth;
  t.same([jwt?.jwt?.secretFile, jwt?.jwt?.audience, jwt?.anonymous], ['/run/secrets/wsq', 'wsq', false], 'auth from variables and flags alone, strict by default');
  t.throws(() => loadConfig({ env: { WSQ_PORT: 'eighty' } }), /port \(--port, WSQ_PORT\): WSQ_PORT must be a whole number, not "eighty"/);
  t.throws(() => loadConfig({ file: f, flags: { 'max-payload': '10' } }), /maxPayload \(--max-payload, WSQ_MAX_PAYLOAD\): must be at least 1024/);
});

t.test('examples/wsq.config.json parses through the schema', async (t) => {
  const raw = readConfigFile('examples/wsq.config.json');
  const r = ConfigSchema.safeParse(raw);
  t.ok(r.success, r.success ? 'valid' : r.error.message);
  t.equal(r.data?.auth?.keys.length, 1);
  t.ok(r.data?.auth?.anonymous);
});

t.test('a server with auth.jwt names an unreadable or too short secret file', async (t) => {
  t.throws(() => new WsqServer({ auth: { jwt: { secretFile: '/nonexistent/wsq-secret' } } }), /auth\.jwt\.secretFile: cannot read \/nonexistent\/wsq-secret/);
  const short = file(t, 'short');
  t.throws(() => new WsqServer({ auth: { jwt: { secretFile: short } } }), /needs at least 32/);
  const notJwks = file(t, { nope: 1 });
  t.throws(() => new WsqServer({ auth: { jwt: { jwksFile: notJwks } } }), new RegExp(`auth\\.jwt\\.jwksFile: ${notJwks.replace(/[.]/g, '\\.')} is not a JWKS`));
});

t.test('R5.6.7 the idle-room TTL of the store is one setting: default 24 h, set by file, WSQ_IDLE_ROOM_TTL_MS or --idle-room-ttl-ms, refused when not positive', async (t) => {
  t.equal(parseConfig({}).store.idleRoomTtlMs, 24 * 60 * 60 * 1000, 'the default');
  t.equal(loadConfig({ env: { WSQ_IDLE_ROOM_TTL_MS: '60000' } }).store.idleRoomTtlMs, 60_000, 'from the environment');
  t.equal(loadConfig({ env: { WSQ_IDLE_ROOM_TTL_MS: '60000' }, flags: { 'idle-room-ttl-ms': '5000' } }).store.idleRoomTtlMs, 5000, 'the flag wins');
  t.throws(() => parseConfig({ store: { idleRoomTtlMs: 0 } }), /store\.idleRoomTtlMs/, 'zero is refused, naming the key');
});
