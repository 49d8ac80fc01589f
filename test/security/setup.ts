/** Shared setup of the security tests: secret and JWKS files, signed tokens, and upgrades that may be refused. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { WebSocket } from 'ws';
import type { Tap } from '../helpers/server.js';

export const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789';

/** A temp dir holding `secret` (HS256) and `jwks.json` (one ES256 public key, kid "k1"); returns the private key too. */
export async function keyFiles(t: Tap): Promise<{ secretFile: string; jwksFile: string; es: CryptoKey }> {
  const dir = mkdtempSync(join(tmpdir(), 'wsq-sec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, `${SECRET}\n`);
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  return { secretFile, jwksFile, es: privateKey as CryptoKey };
}

/** An HS256 token (`secret` defaults to SECRET) for `sub`, expiring in `exp` (default 1 h). */
export function hs(claims: JWTPayload & { sub?: string }, opts: { secret?: string; exp?: string | number; aud?: string; iss?: string } = {}): Promise<string> {
  let j = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '1h')
    .setAudience(opts.aud ?? 'wsq')
    .setIssuer(opts.iss ?? 'test-issuer');
  if (claims.sub) j = j.setSubject(claims.sub);
  return j.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

/** An ES256 token signed with `key`, header kid `kid`. */
export function es(key: CryptoKey, claims: JWTPayload, kid = 'k1'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).setIssuedAt().setExpirationTime('1h').setAudience('wsq').setIssuer('test-issuer').sign(key);
}

/** The JWT part of an auth config using the files of keyFiles(). */
export const jwtConfig = (f: { secretFile: string; jwksFile: string }) => ({ secretFile: f.secretFile, jwksFile: f.jwksFile, audience: 'wsq', issuer: 'test-issuer' });

/** Try an upgrade: the HTTP status and body of a refusal, or 101 when the socket opened (then closed at once). */
export function upgrade(url: string, headers: Record<string, string> = {}, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no answer to the upgrade of ${url} in ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: body.trim() });
      });
    });
    ws.once('error', () => {}); // the refusal is reported through unexpected-response
  });
}

/** `Authorization: Bearer <token>` */
export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
