/**
 * Issue 11 items 3 and 7 through the CLI (`node dist/lib/cli.js`; build with `npx tsc -p tsconfig.json` first):
 * `wsq config print` (file < WSQ_* < flags, secrets masked), `wsq config check`, and what `wsq serve`
 * says at start: where it listens, which store and directory, what the port serves, what is not protected.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { hashKey } from '../../lib/auth/keys.js';
import { dist, start } from '../examples/children.js';

const cli = dist('lib/cli.js');

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsq-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Run a wsq command to its end: exit code, stdout, stderr. */
async function run(t: Parameters<typeof start>[0], args: string[], env: Record<string, string> = {}) {
  const c = start(t, cli, args, { env });
  const { code } = await c.exit(10_000);
  return { code, stdout: c.stdout, stderr: c.stderr };
}

const KEY_HASH = hashKey('k-alice-0123456789');
const ADMIN_HASH = hashKey('k-admin-0123456789');

t.test('wsq config print: the effective config from the file, WSQ_* variables and flags (flags win), as JSON', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'wsq.json');
  writeFileSync(file, JSON.stringify({ port: 9001, maxPayload: 4096, log: { level: 'warn' }, retention: { maxMessages: 10 } }));
  const r = await run(t, ['config', 'print', '--config', file, '--port', '9003', '--log-level', 'debug'], { WSQ_PORT: '9002', WSQ_MAX_PAYLOAD: '8192' });
  t.equal(r.code, 0, r.stderr);
  const cfg = JSON.parse(r.stdout);
  t.equal(cfg.port, 9003, 'a flag beats the variable and the file');
  t.equal(cfg.maxPayload, 8192, 'a variable beats the file');
  t.equal(cfg.retention.maxMessages, 10, 'the file beats the default');
  t.equal(cfg.retention.overflow, 'drop-oldest', 'defaults are filled in');
  t.equal(cfg.log.level, 'debug', '--log-level');
  t.equal(cfg.store.kind, 'disk');
});

t.test('wsq config print masks secrets: key hashes and secret-named values are "***"; secret files are named, never read', async (t) => {
  const dir = tmp(t);
  const secret = join(dir, 'jwt.secret');
  writeFileSync(secret, 'a-shared-secret-that-must-never-be-printed-0123456789');
  const file = join(dir, 'wsq.json');
  writeFileSync(
    file,
    JSON.stringify({
      auth: { keys: [{ client: 'alice', hash: KEY_HASH }], jwt: { secretFile: 'jwt.secret' } },
      admin: { keys: [{ name: 'ops', hash: ADMIN_HASH }] },
    }),
  );
  const r = await run(t, ['config', 'print', '--config', file]);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stdout, KEY_HASH.slice(7, 30), 'no API key hash');
  t.notMatch(r.stdout, ADMIN_HASH.slice(7, 30), 'no admin key hash');
  t.notMatch(r.stdout, 'a-shared-secret', 'the secret file is not read into the print');
  const cfg = JSON.parse(r.stdout);
  t.same(cfg.auth.keys[0], { client: 'alice', hash: '***' }, 'the key is named, its hash masked');
  t.equal(cfg.admin.keys[0].hash, '***');
  t.equal(cfg.auth.jwt.secretFile, secret, 'the secret file is named (relative to the config file)');
  const check = await run(t, ['config', 'check', file]);
  t.equal(check.code, 0, check.stderr);
  t.notMatch(check.stdout, KEY_HASH.slice(7, 30), 'config check masks too');
});

t.test('wsq config print and check refuse a bad value naming the key, its flag and what is allowed', async (t) => {
  const r = await run(t, ['config', 'print', '--log-level', 'loud']);
  t.equal(r.code, 1);
  t.match(r.stderr, /log\.level \(--log-level, WSQ_LOG_LEVEL\): must be one of debug, info, warn, error, silent/);
  const dir = tmp(t);
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ tls: { cert: 'c.pem' } }));
  const c = await run(t, ['config', 'check', file]);
  t.equal(c.code, 1);
  t.match(c.stderr, /tls\.key/, 'a tls section without its key names tls.key');
});

t.test('wsq serve says at start where it listens, the store and its directory, what the port serves and what is not protected', async (t) => {
  const dir = tmp(t);
  const data = join(dir, 'data');
  const c = start(t, cli, ['serve', '--port', '0', '--host', '0.0.0.0', '--data-dir', data]);
  await c.waitFor((x) => (/wsq: tls: /.test(x.stdout) ? true : undefined), 10_000, 'start lines');
  t.match(c.stdout, /listening on ws:\/\/0\.0\.0\.0:\d+\/ \(every interface: ws:\/\/127\.0\.0\.1:\d+\//, 'every address of a 0.0.0.0 bind');
  t.match(c.stdout, `wsq: store: disk, directory ${data}`, 'the store and its directory');
  t.match(c.stdout, /wsq: http: \/healthz, \/readyz, \/metrics \(no auth\); admin API and dashboard off/, 'what the port serves');
  t.match(c.stdout, /wsq: tls: off; log: info, JSON lines on stderr/);
  await c.waitFor((x) => (/TLS is off/.test(x.stderr) ? true : undefined), 5000, 'warnings');
  t.match(c.stderr, /warning: no "auth" is configured/, 'no auth');
  t.match(c.stderr, /warning: \/metrics is served without authentication on 0\.0\.0\.0/, 'metrics open on a non-loopback bind');
  t.match(c.stderr, /warning: TLS is off on 0\.0\.0\.0, a non-loopback address/, 'TLS off on a non-loopback bind');
  c.kill('SIGTERM');
  t.equal((await c.exit(10_000)).code, 0);
  t.match(c.stderr, /\{"level":30,"time":\d+,"connections":0,"msg":"shutting down"\}/, 'the shutdown is a JSON log line');
});

t.test('wsq serve with auth and admin on loopback: the admin routes are listed, no warnings', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'wsq.json');
  writeFileSync(file, JSON.stringify({ auth: { keys: [{ client: 'alice', hash: KEY_HASH }] }, admin: { keys: [{ hash: ADMIN_HASH }] }, metrics: { enabled: false } }));
  const c = start(t, cli, ['serve', '--port', '0', '--memory', '--config', file]);
  await c.waitFor((x) => (/wsq: tls: /.test(x.stdout) ? true : undefined), 10_000, 'start lines');
  t.match(c.stdout, 'wsq: store: memory (everything is lost when the process stops)');
  t.match(c.stdout, /wsq: http: \/healthz, \/readyz \(no auth\); \/dashboard, \/admin\/api\/ \(admin keys\)/, 'metrics off, admin on');
  c.kill('SIGTERM');
  t.equal((await c.exit(10_000)).code, 0);
  t.notMatch(c.stderr, /warning/, 'nothing unprotected');
});
