/**
 * The browser entry on a standard (WHATWG) WebSocket: Node's own, behind
 * --experimental-websocket, as a stand-in for a browser until the Chromium test runs.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import t from 'tap';
import { connect } from '../../lib/client/index.js';
import { startProxied, within } from './util.js';

t.test('the browser entry joins, resumes after a cut, and emits on a WHATWG WebSocket', async (t) => {
  const { url, proxy } = await startProxied(t);
  const script = fileURLToPath(new URL('./fixtures/browser-run.ts', import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, '--experimental-websocket', '--no-warnings', script, proxy.url, '3'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill());
  const steps: Record<string, any>[] = [];
  const waiters: { step: string; resolve: (s: Record<string, any>) => void }[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    const s = JSON.parse(line) as Record<string, any>;
    steps.push(s);
    for (const w of waiters.filter((w) => w.step === s.step)) w.resolve(s);
  });
  const step = (name: string) =>
    within(
      new Promise<Record<string, any>>((resolve) => {
        const had = steps.find((s) => s.step === name);
        if (had) resolve(had);
        else waiters.push({ step: name, resolve });
      }),
      15_000,
      `step ${name}`,
    );

  t.equal((await step('open')).client, 'browser');
  await step('joined');
  proxy.cut(); // the child's connection drops; messages are published while it is away
  const pub = connect(url, { heartbeat: false });
  t.teardown(() => pub.close());
  for (let i = 1; i <= 3; i++) await pub.emitWithAck('m', i, { room: 'r' });
  proxy.restore();
  await step('reconnected');
  const done = await step('done');
  t.same(done.seen, [1, 2, 3], 'replayed after the reconnect, each once');
  t.equal(done.ackOffset, 4);
  const code = await within(new Promise<number | null>((r) => child.on('exit', (c) => r(c))), 10_000, 'child exit');
  t.equal(code, 0, 'the client closed and the process ended by itself');
  t.same(
    steps.filter((s) => s.step === 'error'),
    [],
    'no errors',
  );
});
