/**
 * Static API keys: the config stores only `sha256:<hex>` of each key (`wsq hash-key` prints
 * it). Keys are random 256-bit strings, so a fast hash is enough: unlike a password, a key
 * cannot be guessed from a dictionary, and a slow hash (scrypt) would make every upgrade
 * cost tens of milliseconds — a lever for anyone flooding the port.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ApiKey } from '../config.js';

/** The stored form of a key: `sha256:` and 64 hex digits. */
export function hashKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/** A new random API key (`wsq_` + 43 base64url characters, 256 bits). */
export function newKey(): string {
  return `wsq_${randomBytes(32).toString('base64url')}`;
}

/**
 * The configured keys, looked up by hash.
 * @example
 * const ring = new KeyRing([{ client: 'svc', hash: hashKey('wsq_…') }]);
 * ring.find('wsq_…')?.client; // 'svc'
 */
export class KeyRing {
  private readonly byHash = new Map<string, ApiKey>();
  constructor(keys: readonly ApiKey[]) {
    for (const k of keys) this.byHash.set(k.hash, k);
  }
  /** How many keys are configured. */
  get size(): number {
    return this.byHash.size;
  }
  /** The key's entry, or undefined when no configured key has this hash. */
  find(key: string): ApiKey | undefined {
    return this.byHash.get(hashKey(key));
  }
}
