/**
 * Runs the CAPS example (`node dist/examples/caps/index.js`, as `npm run example:caps` does)
 * and checks the story its output tells: every order delivered exactly once by one driver,
 * the flaky pickup redelivered with attempt 2, the online vendor's notices live, and the
 * vendor that was offline getting every notice when it returns.
 *
 * Needs `dist/` (`npm test` builds first; alone: `npm run build && npx tap test/examples/caps.test.ts`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRY = join(ROOT, 'dist/examples/caps/index.js');
const TIMEOUT_MS = 45_000;

const BAKERY = ['B-1', 'B-2', 'B-3'];
const FLOWERS = ['F-1', 'F-2', 'F-3'];

/** Run the example to its exit (killed by PID after TIMEOUT_MS). */
function run(): Promise<{ code: number | null; signal: NodeJS.Signals | null; lines: string[]; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [ENTRY], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    }, TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, lines: out.split('\n').filter(Boolean), stderr });
    });
  });
}

t.test('the CAPS example: every order delivered once; the offline vendor gets every notice on return', async (t) => {
  if (!existsSync(ENTRY)) {
    t.fail(`${ENTRY} is missing: run "npm run build" first (npm test does)`);
    return;
  }
  const { code, signal, lines, stderr } = await run();
  const output = { stdout: lines, stderr };
  t.equal(signal, null, 'it exits by itself', output);
  t.equal(code, 0, 'with status 0', output);
  t.equal(stderr, '', 'nothing on stderr');
  t.equal(lines.at(-1), 'done', 'the last line is "done"');
  t.match(lines[0], /^server: listening on ws:\/\/127\.0\.0\.1:\d+\/ \(memory store\)$/, 'the server is on loopback');

  const idx = (line: string): number => lines.indexOf(line);
  const offline = idx('vendor bakery: offline');
  const back = idx('vendor bakery: back online');
  t.ok(offline > 0 && back > offline, 'the bakery goes offline, then comes back');

  // Every order queued once, delivered once, by one driver.
  for (const o of [...BAKERY, ...FLOWERS]) {
    t.equal(lines.filter((l) => new RegExp(`^vendor \\w+: order ${o} .* queued at pickups offset \\d+$`).test(l)).length, 1, `${o} queued once`);
    const delivered = lines.filter((l) => new RegExp(`^driver-\\d: delivered ${o}$`).test(l));
    t.equal(delivered.length, 1, `${o} delivered exactly once`);
  }
  t.notOk(
    lines.some((l) => l.includes('WARNING')),
    'no order delivered twice',
  );
  t.ok(
    lines.some((l) => /^driver-\d: flat tyre! hands F-2 back \(nack\)$/.test(l)),
    'a driver hands F-2 back',
  );
  t.ok(
    lines.some((l) => /^driver-\d: picked up F-2 from flowers \(attempt 2\)$/.test(l)),
    'F-2 is redelivered with attempt 2',
  );
  t.ok(idx('all 6 orders delivered') < back, 'every order is delivered while the bakery is away');

  // The bakery's drivers delivered while it was offline; it gets every notice when it returns, and none before.
  const bakeryNotices = lines.map((l, i) => ({ l, i })).filter(({ l }) => l.startsWith('vendor bakery: notice:'));
  t.ok(
    bakeryNotices.every(({ i }) => i > back),
    'the bakery gets its notices only after coming back',
  );
  for (const o of BAKERY) {
    for (const kind of ['in-transit', 'delivered']) {
      const got = bakeryNotices.filter(({ l }) => new RegExp(`^vendor bakery: notice: ${o} ${kind} \\(driver-\\d\\) \\[sent while it was offline\\]$`).test(l));
      t.equal(got.length, 1, `the bakery gets "${kind}" of ${o} once`);
    }
  }
  // The flower shop was online: its notices arrive live, before the bakery returns.
  for (const o of FLOWERS) {
    t.ok(
      lines.some((l, i) => i < back && new RegExp(`^vendor flowers: notice: ${o} delivered \\(driver-\\d\\)$`).test(l)),
      `the flower shop sees ${o} delivered live`,
    );
  }
  t.match(
    lines.find((l) => l.startsWith('summary:')),
    /6 of 6 orders delivered, each once .* the bakery got 3 of 3 "delivered" notices/,
    'the summary',
  );
});
