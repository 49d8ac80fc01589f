/**
 * JWT verification with `jose`: HS256 with a shared secret read from a file, RS256/ES256
 * with public keys from a JWKS file. Files are read once, at start; a missing or bad file
 * stops the start with its path. A refused token gets a one-line reason for the HTTP 401.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config.js';

type JwtConfig = NonNullable<AuthConfig['jwt']>;

/** A token the verifier refused, with the reason sent in the 401. */
export class TokenRefused extends Error {
  override name = 'TokenRefused';
}

/** The smallest HS256 secret accepted (RFC 7518 §3.2: at least the hash size). */
const MIN_SECRET_BYTES = 32;

function readOrThrow(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new TypeError(`auth.jwt.${what}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * Verifies JWTs against the configured secret and/or JWKS, issuer and audience.
 * @example
 * const v = JwtVerifier.load({ secretFile: '/etc/wsq/secret', audience: 'wsq', clockToleranceSec: 5, claim: 'wsq' });
 * const { payload } = await v.verify(token);
 */
export class JwtVerifier {
  private constructor(
    private readonly cfg: JwtConfig,
    private readonly secret: Uint8Array | undefined,
    private readonly jwks: JWTVerifyGetKey | undefined,
  ) {}

  /** Read the secret and JWKS files now (errors name the file). */
  static load(cfg: JwtConfig): JwtVerifier {
    let secret: Uint8Array | undefined;
    let jwks: JWTVerifyGetKey | undefined;
    if (cfg.secretFile) {
      secret = new TextEncoder().encode(readOrThrow(cfg.secretFile, 'secretFile').trim());
      if (secret.length < MIN_SECRET_BYTES)
        throw new TypeError(
          `auth.jwt.secretFile: ${cfg.secretFile} holds ${secret.length} bytes; an HS256 secret needs at least ${MIN_SECRET_BYTES} (e.g. \`openssl rand -base64 48\`)`,
        );
    }
    if (cfg.jwksFile) {
      let set: unknown;
      try {
        set = JSON.parse(readOrThrow(cfg.jwksFile, 'jwksFile'));
        jwks = createLocalJWKSet(set as Parameters<typeof createLocalJWKSet>[0]);
      } catch (err) {
        throw err instanceof TypeError && err.message.startsWith('auth.')
          ? err
          : new TypeError(`auth.jwt.jwksFile: ${cfg.jwksFile} is not a JWKS ({"keys": [...]}): ${(err as Error).message}`);
      }
    }
    return new JwtVerifier(cfg, secret, jwks);
  }

  /** The algorithms accepted: the configured ones, or those the loaded keys allow. */
  private algorithms(): string[] {
    return this.cfg.algorithms ?? [...(this.secret ? ['HS256'] : []), ...(this.jwks ? ['RS256', 'ES256'] : [])];
  }

  /** Verify a token; throws TokenRefused with a one-line reason. */
  async verify(token: string): Promise<JWTPayload> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new TokenRefused('the token is not a JWT (its header cannot be read)');
    }
    const algorithms = this.algorithms();
    if (!alg || !algorithms.includes(alg)) throw new TokenRefused(`the token is signed with ${alg ?? 'no algorithm'}; this server accepts ${algorithms.join(', ')}`);
    const opts = {
      algorithms,
      clockTolerance: this.cfg.clockToleranceSec,
      ...(this.cfg.issuer ? { issuer: this.cfg.issuer } : {}),
      ...(this.cfg.audience ? { audience: this.cfg.audience } : {}),
    };
    try {
      const r = alg === 'HS256' ? await jwtVerify(token, this.secret!, opts) : await jwtVerify(token, this.jwks!, opts);
      return r.payload;
    } catch (err) {
      throw new TokenRefused(reason(err as Error & { code?: string; claim?: string }));
    }
  }
}

function reason(err: Error & { code?: string; claim?: string }): string {
  switch (err.code) {
    case 'ERR_JWT_EXPIRED':
      return 'the token has expired (exp is past); get a fresh one';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'the token signature does not verify (wrong key or forged)';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return "no key of the server's JWKS matches the token (unknown kid or key)";
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return `the token's "${err.claim}" claim is not accepted: ${err.message}`;
    default:
      return `the token is invalid: ${err.message}`;
  }
}
