/** `wsq serve`: flags, --config, WSQ_* variables, refusing a bad config with a sentence, SIGTERM shutdown; `wsq hash-key`, `wsq config check`. */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { dist, start } from './examples/children.js';
import { rawClient } from './helpers/server.js';

const cli = dist('lib/cli.js');

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsq-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Run `wsq serve …` expecting a refusal: exit 1 and stderr matching `re`. */
async function refused(t: Test, args: string[], re: RegExp, env?: Record<string, string>): Promise<void> {
  const c = start(t, cli, ['serve', '--port', '0', '--memory', ...args], env ? { env } : {});
  t.equal((await c.exit(10_000)).code, 1, `${args.join(' ')} exits 1`);
  t.match(c.stderr, re);
}

t.test('wsq serve --help lists the flags and their variables', async (t) => {
  const c = start(t, cli, ['serve', '--help']);
  t.equal((await c.exit(10_000)).code, 0);
  for (const flag of ['--port', '--data-dir', '--memory', '--max-messages', '--overflow', '--config', '--origins', 'WSQ_MAX_PAYLOAD']) t.match(c.stdout, flag);
});

t.test('wsq serve --config applies per-room retention rules (5.6)', async (t) => {
  const cfg = join(tmp(t), 'wsq.json');
  writeFileSync(cfg, JSON.stringify({ retentionRules: [{ room: 'jobs.*', overflow: 'reject', maxMessages: 2 }] }));
  const c = start(t, cli, ['serve', '--port', '0', '--memory', '--config', cfg]);
  const url = await c.waitFor((x) => /listening on (ws:\S+)/.exec(x.stdout)?.[1], 10_000, 'listening line');
  const ws = await rawClient(t, url);
  for (const id of [1, 2]) t.equal((await ws.request({ type: 'emit', room: 'jobs.a', event: 'j', id })).type, 'ack');
  t.equal((await ws.request({ type: 'emit', room: 'jobs.a', event: 'j', id: 3 })).code, 'queue_full', 'a matching room rejects when full');
  for (const id of [4, 5, 6]) t.equal((await ws.request({ type: 'emit', room: 'other', event: 'j', id })).type, 'ack', 'other rooms keep the defaults');
  t.match(c.stderr, /warning: no "auth" is configured, so this server is unprotected/, 'an open server says so at start');
  c.kill('SIGTERM');
  t.equal((await c.exit(10_000)).code, 0, 'SIGTERM shuts down cleanly');
});

t.test('I7 #19 a config with an unknown or misspelt key is refused, naming it and the nearest key', async (t) => {
  const dir = tmp(t);
  const rule = join(dir, 'rule.json');
  writeFileSync(rule, JSON.stringify({ retentionRules: [{ rom: 'x' }] }));
  const top = join(dir, 'top.json');
  writeFileSync(top, JSON.stringify({ maxPayLoad: 4096, limits: { maxConections: 1 } }));
  const notJson = join(dir, 'bad.json');
  writeFileSync(notJson, '{ "port": 1,');
  await Promise.all([
    refused(t, ['--config', rule], /unknown key "retentionRules\[0\]\.rom" \(did you mean "retentionRules\[0\]\.room"\?\)/),
    refused(t, ['--config', top], /unknown key "maxPayLoad" \(did you mean "maxPayload"\?\)/),
    refused(t, ['--config', top], /unknown key "limits\.maxConections" \(did you mean "limits\.maxConnections"\?\)/),
    refused(t, ['--config', notJson], new RegExp(`cannot read ${notJson.replace(/[.]/g, '\\.')}`)),
  ]);
});

t.test('I7 #19 values that would break the server are refused with a sentence', async (t) => {
  await Promise.all([
    refused(t, ['--path', 'chat'], /path \(--path, WSQ_PATH\): must start with "\/"/),
    refused(t, ['--max-payload', '0'], /maxPayload \(--max-payload, WSQ_MAX_PAYLOAD\): must be at least 1024 bytes, so that a ping/),
    refused(t, ['--max-messages', '-1'], /retention\.maxMessages \(--max-messages, WSQ_MAX_MESSAGES\): must be ≥ 0/),
    refused(t, ['--max-deliver', 'abc'], /--max-deliver must be a whole number, not "abc"/),
    refused(t, ['--overflow', 'explode'], /retention\.overflow .*must be "drop-oldest" or "reject"/),
    refused(t, [], /maxPayload \(--max-payload, WSQ_MAX_PAYLOAD\): must be at least 1024/, { WSQ_MAX_PAYLOAD: '10' }),
  ]);
});

t.test('I7 #19 WSQ_* variables override the config file and flags override both', async (t) => {
  const cfg = join(tmp(t), 'wsq.json');
  writeFileSync(cfg, JSON.stringify({ maxPayload: 4096, heartbeatMs: 11_000 }));
  const c = start(t, cli, ['serve', '--port', '0', '--memory', '--config', cfg, '--heartbeat-ms', '13000'], { env: { WSQ_MAX_PAYLOAD: '2048', WSQ_HEARTBEAT_MS: '12000' } });
  const url = await c.waitFor((x) => /listening on (ws:\S+)/.exec(x.stdout)?.[1], 10_000, 'listening line');
  const ws = await rawClient(t, url);
  t.equal(ws.welcome.maxPayload, 2048, 'the variable beat the file');
  t.equal(ws.welcome.heartbeatMs, 13_000, 'the flag beat the variable and the file');
  c.kill('SIGTERM');
  await c.exit(10_000);
});

t.test('I7 #19 --host 0.0.0.0 prints every address it listens on', async (t) => {
  const c = start(t, cli, ['serve', '--port', '0', '--memory', '--host', '0.0.0.0']);
  const line = await c.waitFor((x) => /listening on (.*)/.exec(x.stdout)?.[1], 10_000, 'listening line');
  t.match(line, /^ws:\/\/0\.0\.0\.0:\d+\/ \(every interface: ws:\/\/127\.0\.0\.1:\d+\//, 'the wildcard address and each interface, loopback included');
  c.kill('SIGTERM');
  await c.exit(10_000);
});

t.test('I7 #19 a data directory that cannot be opened is named in the error', async (t) => {
  const file = join(tmp(t), 'not-a-dir');
  writeFileSync(file, 'x');
  const c = start(t, cli, ['serve', '--port', '0', '--data-dir', join(file, 'sub')]);
  t.equal((await c.exit(10_000)).code, 1);
  t.match(c.stderr, `cannot open the disk store at ${join(file, 'sub')}`);
});

t.test('wsq hash-key prints the sha256 form; without a key it makes one', async (t) => {
  const c = start(t, cli, ['hash-key', 'wsq_k1']);
  t.equal((await c.exit(10_000)).code, 0);
  t.equal(c.stdout.trim(), `sha256:${createHash('sha256').update('wsq_k1').digest('hex')}`);
  const n = start(t, cli, ['hash-key']);
  await n.exit(10_000);
  const [, key, hash] = /key: +(\S+)\nhash: +(\S+)/.exec(n.stdout) ?? [];
  t.ok(key?.startsWith('wsq_'), 'a new key');
  t.equal(
    hash,
    `sha256:${createHash('sha256')
      .update(key ?? '')
      .digest('hex')}`,
    'with its hash',
  );
});

t.test('wsq config check validates examples/wsq.config.json', async (t) => {
  const c = start(t, cli, ['config', 'check', 'examples/wsq.config.json']);
  t.equal((await c.exit(10_000)).code, 0, c.stderr);
  const cfg = JSON.parse(c.stdout);
  t.equal(cfg.limits.frameRate.perSecond, 200);
  t.match(cfg.auth.jwt.secretFile, /examples\/wsq-jwt-secret\.txt$/, 'auth file paths are relative to the config file');
});

t.test('R2.2.9 wsq serve --config with auth: the secret file is found beside the config, credentials are required, no warning', async (t) => {
  const { hashKey } = await import('../lib/auth/keys.js');
  const { upgrade } = await import('./security/setup.js');
  const dir = tmp(t);
  writeFileSync(join(dir, 'secret.txt'), 'a-secret-for-the-cli-test-that-is-long-enough\n');
  const cfg = join(dir, 'wsq.json');
  writeFileSync(cfg, JSON.stringify({ store: { kind: 'memory' }, auth: { jwt: { secretFile: 'secret.txt' }, keys: [{ client: 'svc', hash: hashKey('wsq_cli') }] } }));
  const c = start(t, cli, ['serve', '--port', '0', '--config', cfg]);
  const url = await c.waitFor((x) => /listening on (ws:\S+)/.exec(x.stdout)?.[1], 10_000, 'listening line');
  t.equal((await upgrade(url)).status, 401, 'no credential: 401');
  const ws = await rawClient(t, url, { headers: { authorization: 'Bearer wsq_cli' } });
  t.equal(ws.welcome.client, 'svc', 'the key gives its identity');
  t.notMatch(c.stderr, /unprotected/, 'no warning with auth configured');
  c.kill('SIGTERM');
  await c.exit(10_000);
});
