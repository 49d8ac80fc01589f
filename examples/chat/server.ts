/**
 * The chat example's server: one HTTP server on one port that serves the chat page
 * (`index.html`), the browser bundle of the client SDK (`/wsq-client.js`, built by
 * `npm run build`) and the wsq endpoint (WebSocket upgrades on `/`). Room logs live in the
 * disk store, so a restart keeps the history and clients resume where they stopped.
 *
 *   PORT=3000 DATA_DIR=./data/chat node dist/examples/chat/server.js   # or: npm run example:chat
 *
 * Settings: port from `PORT` or the first argument (default 3000; 0 picks a free one),
 * address from `HOST` (default 127.0.0.1), store directory from `DATA_DIR` (default ./data/chat).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LmdbStore, WsqServer, retentionResolver } from '../../lib/index.js';

/** The project root: the nearest folder above this file with a package.json (works from the source and from dist/). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('chat: cannot find the project root (no package.json above this file)');
    dir = up;
  }
  return dir;
}

const ROOT = projectRoot();

/** URL path → file and content type. Nothing else is served. */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: join(ROOT, 'examples/chat/index.html'), type: 'text/html; charset=utf-8' },
  '/index.html': { file: join(ROOT, 'examples/chat/index.html'), type: 'text/html; charset=utf-8' },
  '/wsq-client.js': { file: join(ROOT, 'dist/browser/wsq-client.js'), type: 'text/javascript; charset=utf-8' },
  '/wsq-client.js.map': { file: join(ROOT, 'dist/browser/wsq-client.js.map'), type: 'application/json; charset=utf-8' },
};

function parsePort(v: string | undefined): number {
  if (v === undefined || v === '') return 3000;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`chat: the port must be a whole number from 0 to 65535 (got "${v}")`);
  return n;
}

async function serveFile(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const entry = FILES[path];
  if (!entry) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`Not found: ${path}\n`);
    return;
  }
  let body: Buffer;
  try {
    body = await readFile(entry.file);
  } catch {
    const hint = path.startsWith('/wsq-client') ? ' Run `npm run build` first: it builds dist/browser/wsq-client.js.' : '';
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`Cannot read ${entry.file}.${hint}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': entry.type, 'content-length': body.length, 'cache-control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function main(): Promise<void> {
  const port = parsePort(process.env.PORT ?? process.argv[2]);
  const host = process.env.HOST || '127.0.0.1';
  const dataDir = resolve(process.env.DATA_DIR || './data/chat');
  if (!existsSync(FILES['/wsq-client.js']!.file)) {
    console.error('chat: warning: dist/browser/wsq-client.js is missing; run `npm run build` (npm run example:chat does).');
  }

  const store = await LmdbStore.open(dataDir, { retention: retentionResolver({ maxMessages: 1000 }) });
  let wsq: WsqServer | undefined;
  const http = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', store: store.kind }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
      return;
    }
    serveFile(req, res, path).catch((err) => {
      wsq?.log('error', `serving ${path}`, err);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  // WsqServer adds its upgrade handler to our HTTP server; plain requests stay ours.
  wsq = new WsqServer({ store }, http);
  const addr = await wsq.listen({ port, host });
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  console.log(`chat: listening on http://${shown}:${addr.port}/ (wsq endpoint ${wsq.url}, disk store at ${dataDir})`);

  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`chat: ${sig}, shutting down`);
    wsq!.close().then(
      () => process.exit(0),
      (err) => {
        console.error('chat: shutdown failed', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
