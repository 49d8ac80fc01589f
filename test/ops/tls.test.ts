/**
 * Issue 11 item 3: TLS. A self-signed certificate made here with openssl; `wsq serve --tls-cert --tls-key`
 * listens with https, prints wss:// and a `ws` client trusting that certificate gets `welcome`;
 * `tls` in a config file is relative to the file; a missing file stops the start naming it.
 * The library: `new WsqServer(opts, httpsServer)` serves wss:// on an https server of the application.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { WebSocket } from 'ws';
import { WsqServer } from '../../lib/index.js';
import { dist, start } from '../examples/children.js';

const cli = dist('lib/cli.js');

/** A tmp dir holding cert.pem and key.pem: a self-signed P-256 certificate for 127.0.0.1, valid one day. */
function selfSigned(t: { teardown(fn: () => void): void }): { dir: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'wsq-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore', timeout: 10_000 },
  );
  return { dir, cert, key };
}

/** The first frame a wss client trusting `ca` receives (the server's welcome), within 5 s. */
function firstFrame(url: string, ca?: Buffer): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ca ? { ca } : {});
    const timer = setTimeout(() => reject(new Error(`no frame from ${url} within 5 s`)), 5000);
    ws.once('message', (d: Buffer) => {
      clearTimeout(timer);
      resolve(JSON.parse(d.toString()));
      ws.close();
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** GET over https trusting `ca`: the status. */
function getStatus(url: string, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

t.test('wsq serve --tls-cert --tls-key serves wss:// and a client trusting the certificate gets welcome', async (t) => {
  const { cert, key } = selfSigned(t);
  const c = start(t, cli, ['serve', '--tls-cert', cert, '--tls-key', key, '--memory', '--port', '0']);
  const url = await c.waitFor((x) => /listening on (wss:\S+)/.exec(x.stdout)?.[1], 10_000, 'a wss:// listening line');
  t.match(url, /^wss:\/\/127\.0\.0\.1:\d+\/$/);
  await c.waitFor((x) => (/wsq: tls: /.test(x.stdout) ? true : undefined), 5000, 'the tls line');
  t.match(c.stdout, `wsq: tls: on (certificate ${cert})`);
  const welcome = await firstFrame(url, readFileSync(cert));
  t.equal(welcome.type, 'welcome');
  t.equal(await getStatus(`${url.replace(/^wss/, 'https')}healthz`, readFileSync(cert)), 200, '/healthz over https on the same port');
  await t.rejects(firstFrame(url), 'a client that does not trust the certificate is refused by TLS');
  c.kill('SIGTERM');
  t.equal((await c.exit(10_000)).code, 0);
});

t.test('tls paths in a config file are taken from the file directory', async (t) => {
  const { dir, cert } = selfSigned(t);
  const file = join(dir, 'wsq.json');
  writeFileSync(file, JSON.stringify({ tls: { cert: 'cert.pem', key: 'key.pem' }, store: { kind: 'memory' }, port: 0 }));
  const c = start(t, cli, ['serve', '--config', file], { cwd: tmpdir() });
  const url = await c.waitFor((x) => /listening on (wss:\S+)/.exec(x.stdout)?.[1], 10_000, 'a wss:// listening line');
  t.equal((await firstFrame(url, readFileSync(cert))).type, 'welcome');
  c.kill('SIGTERM');
  t.equal((await c.exit(10_000)).code, 0);
});

t.test('a missing or unusable certificate or key stops the start, naming the file', async (t) => {
  const { dir, cert, key } = selfSigned(t);
  const missing = join(dir, 'nope.pem');
  const a = start(t, cli, ['serve', '--tls-cert', missing, '--tls-key', key, '--memory', '--port', '0']);
  t.equal((await a.exit(10_000)).code, 1);
  t.match(a.stderr, `cannot read the TLS certificate ${missing} (tls.cert, --tls-cert, WSQ_TLS_CERT)`);
  const junk = join(dir, 'junk.pem');
  writeFileSync(junk, 'not a key\n');
  const b = start(t, cli, ['serve', '--tls-cert', cert, '--tls-key', junk, '--memory', '--port', '0']);
  t.equal((await b.exit(10_000)).code, 1);
  t.match(b.stderr, `and key ${junk} (tls.cert, tls.key) cannot be used`);
  const only = start(t, cli, ['serve', '--tls-cert', cert, '--memory', '--port', '0']);
  t.equal((await only.exit(10_000)).code, 1);
  t.match(only.stderr, /tls\.key \(--tls-key, WSQ_TLS_KEY\)/, 'a certificate without a key names the key');
});

t.test('the library: new WsqServer(opts, httpsServer) serves wss:// and server.url says so', async (t) => {
  const { cert, key } = selfSigned(t);
  const https = createServer({ cert: readFileSync(cert), key: readFileSync(key) });
  const server = new WsqServer({ logger: () => {} }, https);
  t.teardown(() => server.close());
  await server.listen({ port: 0, host: '127.0.0.1' });
  t.match(server.url, /^wss:\/\/127\.0\.0\.1:\d+\/$/);
  t.equal((await firstFrame(server.url, readFileSync(cert))).type, 'welcome');
});
