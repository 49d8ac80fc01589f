/**
 * I7 #2 and Deliver 5: the package as users install it. `npm pack` (which builds, through
 * `prepare`) gives a tarball; it is installed into a fresh temporary project with the
 * registry's npm client (`--prefer-offline` uses the npm cache); there:
 *
 * - the README's server and client snippets type-check under `strict` with
 *   `skipLibCheck: false`, so the public types need nothing from wsq's devDependencies,
 *   and `socket` in `on('connection')` is typed (not `any`);
 * - `npx wsq serve --memory --port 0` starts, and a client made with `wsq/client` talks to it;
 * - `wsq/client` bundled by esbuild with `--platform=browser` (no `ws` stub: the package's
 *   `browser` condition picks the browser entry) runs in Chromium against that server.
 *
 * Slow (npm pack builds, npm install fetches): bounded at 4 minutes in all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { launchChromium } from '../helpers/chromium.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const ESBUILD = join(ROOT, 'node_modules/.bin/esbuild');

t.setTimeout(240_000);

/** Run a command to its end (bounded); resolves with its output, rejects with it on a non-zero exit. */
function run(cmd: string, args: string[], cwd: string, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: not done within ${ms} ms\n${out}`));
    }, ms);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}\n${out}`));
    });
  });
}

/** The first ```ts block after the heading `## <heading>` in README.md. */
function snippet(readme: string, heading: string): string {
  const at = readme.indexOf(`\n## ${heading}\n`);
  if (at < 0) throw new Error(`README.md has no "## ${heading}" section`);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error(`README.md's "${heading}" section has no ts block`);
  return m[1]!;
}

/** Start `npx wsq serve --memory --port 0` and read the URL it prints. */
function serve(t: Test, cwd: string, origin: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn('npx', ['--no-install', 'wsq', 'serve', '--memory', '--port', '0', '--host', '127.0.0.1', '--origins', origin], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  t.teardown(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone already */
    }
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wsq serve printed no address within 30 s\n${err}`)), 30_000);
    child.on('exit', (code) => reject(new Error(`wsq serve exited with ${code}\n${err}`)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /listening on (ws:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!.replace(/,$/, ''), child });
      }
    });
  });
}

t.test('the packed package installs, type-checks, serves, and runs in Node and in Chromium', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsq-pack-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const packDir = join(dir, 'pack');
  const app = join(dir, 'app');
  await run('mkdir', ['-p', packDir, app], dir, 5000);

  // 1. npm pack from the work tree: `prepare` builds dist/ first.
  const packed = JSON.parse(await run('npm', ['pack', '--json', '--pack-destination', packDir], ROOT, 150_000).then((o) => o.slice(o.indexOf('[')))) as {
    filename: string;
    files: { path: string }[];
  }[];
  const files = packed[0]!.files.map((f) => f.path);
  const tarball = join(packDir, (await readdir(packDir)).find((f) => f.endsWith('.tgz'))!);
  for (const f of [
    'dist/lib/index.js',
    'dist/lib/index.d.ts',
    'dist/lib/cli.js',
    'dist/lib/client/index.js',
    'dist/lib/client/browser.js',
    'dist/protocol/index.js',
    'dist/browser/wsq-client.js',
    'README.md',
    'package.json',
  ]) {
    t.ok(files.includes(f), `the tarball holds ${f}`);
  }
  t.notOk(
    files.some((f) => f.startsWith('test/') || f.startsWith('dist/test') || f.startsWith('bench/') || f.startsWith('dist/bench') || f.startsWith('lib/')),
    'no tests, benches or TypeScript sources',
  );

  // 2. A fresh project installs the tarball (and @types/node, as any Node TypeScript project has).
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball, '@types/node@20'], app, 180_000);
  t.ok(existsSync(join(app, 'node_modules/wsq/dist/lib/index.js')), 'installed');

  // 3. The README's snippets type-check under strict, with the library's own .d.ts checked too.
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  await writeFile(join(app, 'server-snippet.ts'), `${snippet(readme, 'The server as a library')}\nexport {};\n`);
  await writeFile(join(app, 'client-snippet.ts'), `${snippet(readme, 'The client SDK')}\nexport {};\n`);
  await writeFile(
    join(app, 'typed.ts'),
    [
      "import { WsqServer, type Socket } from 'wsq';",
      "import { connect, WsqUpgradeError, type Subscription } from 'wsq/client';",
      'const server = new WsqServer();',
      "server.on('connection', (socket) => {",
      '  const s: Socket = socket;',
      '  // @ts-expect-error socket is typed, not any',
      '  socket.noSuchMember();',
      '  void s;',
      '});',
      "const c = connect('ws://127.0.0.1:1/');",
      "const sub: Subscription = c.join('r');",
      "c.on('error', (e) => { if (e instanceof WsqUpgradeError) console.log(e.status); });",
      'void sub;',
      'export {};',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], lib: ['ES2022'] },
      include: ['server-snippet.ts', 'client-snippet.ts', 'typed.ts'],
    }),
  );
  const tsc = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], app, 90_000).then(
    () => '',
    (e: Error) => e.message,
  );
  // A "Could not find a declaration file for module 'ws'" here means a public .d.ts exposes ws's types:
  // then @types/ws must be a dependency (not a devDependency), or the type must not be public.
  t.equal(tsc, '', 'tsc --strict (skipLibCheck false) passes on the snippets and the public types');

  // The page server comes first: wsq serve admits browsers from its origin only.
  let bundle = '';
  const page = http.createServer((req, res) => {
    if (req.url?.startsWith('/page.js')) res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/page.js"></script>');
  });
  await new Promise<void>((r) => page.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => page.close(() => r())));
  const origin = `http://127.0.0.1:${(page.address() as { port: number }).port}`;

  // 4. npx wsq serve, and a Node client of the installed package against it.
  const { url } = await serve(t, app, origin);
  t.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/$/, `wsq serve printed its address (${url})`);
  await writeFile(
    join(app, 'node-client.mjs'),
    [
      "import { connect } from 'wsq/client';",
      "import { WsqServer } from 'wsq';",
      "if (typeof WsqServer !== 'function') throw new Error('no WsqServer export');",
      "const c = connect(process.argv[2], { client: 'pack-test', heartbeat: false });",
      "const room = c.join('lobby', { since: 'earliest' });",
      "const got = new Promise((r) => room.on('message', (m, msg) => r({ m, offset: msg.offset })));",
      'await room.ready();',
      "const ack = await c.emitWithAck('message', { text: 'from node' }, { room: 'lobby', echo: true });",
      'console.log(JSON.stringify({ ack: ack.offset, got: await got }));',
      'await c.close();',
      '',
    ].join('\n'),
  );
  const out = await run(process.execPath, ['node-client.mjs', url], app, 20_000);
  t.same(JSON.parse(out.trim().split('\n').pop()!), { ack: 1, got: { m: { text: 'from node' }, offset: 1 } }, 'the Node client stored and received a message');

  // 5. wsq/client bundled for the browser, without a ws stub, run in Chromium.
  await writeFile(
    join(app, 'page.ts'),
    [
      "import { connect } from 'wsq/client';",
      'const url = new URLSearchParams(location.search).get("ws")!;',
      "const c = connect(url, { client: 'browser' });",
      "const room = c.join('lobby', { since: 'earliest' });",
      'const seen: unknown[] = [];',
      "room.on('message', (m: unknown) => { seen.push(m); if (seen.length === 2) (window as any).done = seen; });",
      "c.on('error', (e) => ((window as any).failed = `${e.code}: ${e.message}`));",
      "room.ready().then(() => c.emitWithAck('message', { text: 'from chromium' }, { room: 'lobby', echo: true }));",
      '',
    ].join('\n'),
  );
  const meta = join(app, 'meta.json');
  await run(ESBUILD, ['page.ts', '--bundle', '--platform=browser', '--format=esm', '--outfile=page.js', `--metafile=${meta}`, '--log-level=error'], app, 60_000);
  const inputs = Object.keys((JSON.parse(await readFile(meta, 'utf8')) as { inputs: Record<string, unknown> }).inputs);
  t.ok(
    inputs.some((i) => i.includes('node_modules/wsq/dist/lib/client/browser.js')),
    'the browser entry was picked',
  );
  t.notOk(
    inputs.some((i) => /node_modules\/ws\//.test(i)),
    'ws is not in the bundle',
  );
  bundle = await readFile(join(app, 'page.js'), 'utf8');

  const browser = await launchChromium(t, 20_000);
  const tab = await browser.newPage();
  const pageErrors: string[] = [];
  tab.on('pageerror', (e) => pageErrors.push(e.message));
  await tab.goto(`${origin}/?ws=${encodeURIComponent(url)}`, { timeout: 20_000 });
  await tab.waitForFunction(() => (window as any).done || (window as any).failed, undefined, { timeout: 20_000, polling: 50 });
  t.equal(await tab.evaluate(() => (window as any).failed), undefined, 'no error in the page');
  t.same(await tab.evaluate(() => (window as any).done), [{ text: 'from node' }, { text: 'from chromium' }], 'the page got the history and its own message');
  t.same(pageErrors, [], 'no page errors');
});
