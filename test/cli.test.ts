/** `wsq serve`: flags, --config retention rules, refusing a bad config, SIGTERM shutdown. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { dist, start } from './examples/children.js';
import { rawClient } from './helpers/server.js';

const cli = dist('lib/cli.js');

t.test('wsq serve --help lists the flags', async (t) => {
  const c = start(t, cli, ['serve', '--help']);
  t.equal((await c.exit(10_000)).code, 0);
  for (const flag of ['--port', '--data-dir', '--memory', '--max-messages', '--overflow', '--config']) t.match(c.stdout, flag);
});

t.test('wsq serve --config applies per-room retention rules (5.6)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsq-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'wsq.json');
  writeFileSync(cfg, JSON.stringify({ retentionRules: [{ room: 'jobs.*', overflow: 'reject', maxMessages: 2 }] }));
  const c = start(t, cli, ['serve', '--port', '0', '--memory', '--config', cfg]);
  const url = await c.waitFor((x) => /listening on (ws:\S+)/.exec(x.stdout)?.[1], 10_000, 'listening line');
  const ws = await rawClient(t, url);
  for (const id of [1, 2]) t.equal((await ws.request({ type: 'emit', room: 'jobs.a', event: 'j', id })).type, 'ack');
  t.equal((await ws.request({ type: 'emit', room: 'jobs.a', event: 'j', id: 3 })).code, 'queue_full', 'a matching room rejects when full');
  for (const id of [4, 5, 6]) t.equal((await ws.request({ type: 'emit', room: 'other', event: 'j', id })).type, 'ack', 'other rooms keep the defaults');
  c.kill('SIGTERM');
  t.equal((await c.exit(10_000)).code, 0, 'SIGTERM shuts down cleanly');
});

t.test('wsq serve refuses a config with an unknown field, saying which', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsq-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'bad.json');
  writeFileSync(cfg, JSON.stringify({ retentionRules: [{ rom: 'x' }] }));
  const c = start(t, cli, ['serve', '--port', '0', '--memory', '--config', cfg]);
  t.equal((await c.exit(10_000)).code, 1);
  t.match(c.stderr, /unknown field "rom"/);
});
