/**
 * `wsq conformance` against a deliberately faulty server (faulty-server.ts) names the
 * broken requirements as FAIL and keeps the others; the CLI exits non-zero on it and
 * zero against the reference server.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { WebSocketServer } from 'ws';
import { runConformance } from '../../lib/conformance/index.js';
import { startServer } from '../helpers/server.js';
import { startFaultyServer } from './faulty-server.js';

const ONLY = ['R1.3', 'R1.8', 'R2.4', 'R3', 'R6.7', 'R6.9', 'R7.2'];

t.test('the runner names the requirements a faulty server breaks', async (t) => {
  const f = await startFaultyServer();
  t.teardown(f.close);
  const results = await runConformance(f.url, { waitMs: 300, only: ONLY });
  const status = new Map(results.map((r) => [r.id, r.status]));
  for (const id of ['R2.4.3', 'R3.2', 'R6.9.1', 'R7.2', 'R1.8', 'R6.7.3', 'R1.3']) t.equal(status.get(id), 'fail', `${id} fails`);
  for (const id of ['R3.6', 'R3.4']) t.equal(status.get(id), 'pass', `${id} passes`);
  t.ok(
    results.every((r) => ONLY.some((p) => r.id === p || r.id.startsWith(`${p}.`))),
    '--only keeps to the prefixes',
  );
  const r32 = results.find((r) => r.id === 'R3.2')!;
  t.match(r32.detail, /pong|id/, `the failure says what was seen: ${r32.detail}`);
});

t.test('a server that never sends welcome is reported at once, not checked', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  );
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
  await t.rejects(runConformance(url, { waitMs: 200 }), /cannot open a wsq\/1 connection to .*nothing matching arrived within 200 ms/);
});

const cli = new URL('../../dist/lib/cli.js', import.meta.url);

/** Run `wsq conformance` and resolve with its exit code and output (bounded). */
function runCli(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cli.pathname, 'conformance', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      p.kill();
      reject(new Error(`wsq conformance did not end within 60 s: ${out}`));
    }, 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const built = existsSync(cli) && existsSync(new URL('../../dist/lib/conformance/index.js', import.meta.url));
t.test(
  'wsq conformance (the built CLI) exits 1 on the faulty server, 0 on the reference server',
  { skip: built ? false : 'dist/ is not built (npx tsc -p tsconfig.json)' },
  async (t) => {
    const f = await startFaultyServer();
    t.teardown(f.close);
    const bad = await runCli([f.url, '--wait-ms', '300', '--only', ONLY.join(',')]);
    t.equal(bad.code, 1, 'exit code 1');
    t.match(bad.out, /^FAIL R6\.9\.1 /m, 'a FAIL line names R6.9.1');
    t.match(bad.out, /^PASS R3\.6 /m, 'a PASS line for R3.6');
    t.match(bad.out, /NOT CONFORMANT/, 'the summary says so');
    const { url } = await startServer(t);
    const good = await runCli([url, '--wait-ms', '1500', '--only', 'R2.4,R3,R4.1,R4.4,R5.3,R6.9']);
    t.equal(
      good.code,
      0,
      `exit code 0\n${good.out
        .split('\n')
        .filter((l) => l.startsWith('FAIL'))
        .join('\n')}`,
    );
    t.match(good.out, /^PASS R5\.3\.1 /m, 'a PASS line for R5.3.1');
    t.match(good.out, /wsq\/1 conformance of .*: \d+ pass, 0 fail/, 'the summary line');
  },
);
