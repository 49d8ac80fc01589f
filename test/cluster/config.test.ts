/**
 * Issue 9 item 1 and decision 1: `--redis <url>` (WSQ_REDIS, `redis.url` in the config file, the
 * `redis` option of the server library) and what is refused: a bad URL, the memory store beside
 * Redis, a `store` or `adapter` given beside `redis`, a cross-node adapter over a node-local store.
 * These checks open no Redis connection. CLI checks run `node dist/lib/cli.js` (build first).
 */
import t from 'tap';
import { MemoryAdapter } from '../../lib/adapter/memory.js';
import { redactUrl } from '../../lib/cluster.js';
import { ConfigError } from '../../lib/config.js';
import { retentionResolver } from '../../lib/retention.js';
import { WsqServer } from '../../lib/server.js';
import { MemoryStore } from '../../lib/store/memory.js';
import { dist, start } from '../examples/children.js';

const cli = dist('lib/cli.js');

async function run(tt: Parameters<typeof start>[0], args: string[], env: Record<string, string> = {}) {
  const c = start(tt, cli, args, { env });
  const { code } = await c.exit(10_000);
  return { code, stdout: c.stdout, stderr: c.stderr };
}

t.test('issue 9 item 1: WSQ_REDIS and --redis set redis.url (flag wins); the prefix defaults to "wsq:"; config print masks a password in the URL', async (tt) => {
  const r = await run(tt, ['config', 'print'], { WSQ_REDIS: 'redis://:hunter2@127.0.0.1:6379/0' });
  tt.equal(r.code, 0, r.stderr);
  const cfg = JSON.parse(r.stdout);
  tt.same(cfg.redis, { url: 'redis://:***@127.0.0.1:6379/0', prefix: 'wsq:', durable: false });
  tt.notMatch(r.stdout, /hunter2/, 'the password is never printed');
  const f = await run(tt, ['config', 'print', '--redis', 'redis://10.0.0.9:6380', '--redis-prefix', 'app1:', '--redis-durable'], { WSQ_REDIS: 'redis://127.0.0.1:6379' });
  tt.equal(f.code, 0, f.stderr);
  tt.same(JSON.parse(f.stdout).redis, { url: 'redis://10.0.0.9:6380', prefix: 'app1:', durable: true });
});

t.test('issue 9 item 1: wsq serve refuses a Redis URL that is not redis:// and --redis with --memory, saying which flag', async (tt) => {
  const bad = await run(tt, ['serve', '--port', '0', '--redis', 'localhost:6379']);
  tt.equal(bad.code, 1);
  tt.match(bad.stderr, /redis\.url \(--redis, WSQ_REDIS\): must be a redis:\/\/ or rediss:\/\/ URL/);
  const mem = await run(tt, ['serve', '--port', '0', '--memory', '--redis', 'redis://127.0.0.1:6379']);
  tt.equal(mem.code, 1);
  tt.match(mem.stderr, /cannot be combined with the memory store \(--memory, store\.kind\)/);
  const prefix = await run(tt, ['serve', '--port', '0', '--redis', 'redis://127.0.0.1:6379', '--redis-prefix', 'a{b}']);
  tt.equal(prefix.code, 1);
  tt.match(prefix.stderr, /redis\.prefix \(--redis-prefix, WSQ_REDIS_PREFIX\): must be 1-64 characters without spaces or braces/);
});

t.test('decision 1: the library refuses "store" or "adapter" beside "redis" (it builds both), before connecting', async (tt) => {
  const store = new MemoryStore({ retention: retentionResolver() });
  tt.teardown(() => store.close());
  tt.throws(() => new WsqServer({ redis: { url: 'redis://127.0.0.1:6379' }, store }), {
    name: 'ConfigError',
    message: /store: the "redis" option builds its own store \(shared by every node on redis:\/\/127\.0\.0\.1:6379\)/,
  });
  tt.throws(() => new WsqServer({ redis: { url: 'redis://:pw@127.0.0.1:6379' }, adapter: (nsp) => new MemoryAdapter(nsp) }), {
    name: 'ConfigError',
    message: /adapter: the "redis" option builds its own adapter \(shared by every node on redis:\/\/:\*\*\*@127\.0\.0\.1:6379\)/,
  });
  tt.throws(() => new WsqServer({ redis: { url: 'http://x' } }), ConfigError, 'a bad URL is a ConfigError');
});

t.test('decision 1: a cross-node adapter over a node-local store is refused at construction with a sentence that says what to do', async (tt) => {
  class CrossNodeAdapter extends MemoryAdapter {
    readonly crossNode = true; // contract: what lib/cluster.ts refuseLocalStore() looks for
  }
  tt.throws(() => new WsqServer({ adapter: (nsp) => new CrossNodeAdapter(nsp) }), {
    name: 'ConfigError',
    message: /a cross-node adapter needs a store every node shares, but the store is the node-local memory store.*Use the "redis" option \(--redis, WSQ_REDIS\)/,
  });
});

t.test('redactUrl hides only the password', async (tt) => {
  tt.equal(redactUrl('redis://:s3cret@10.0.0.5:6379/0'), 'redis://:***@10.0.0.5:6379/0');
  tt.equal(redactUrl('rediss://user:s3cret@h:1'), 'rediss://user:***@h:1');
  tt.equal(redactUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
});
