/**
 * Rate limits: a token bucket (frames per connection, publishes per room) and a per-minute
 * count of distinct room names per identity. Every map here has a cap (LRU).
 */
import { LRUCache } from 'lru-cache';

/**
 * A token bucket: `perSecond` tokens a second, at most `burst` saved (0 = perSecond).
 * @example
 * const b = new Bucket(); b.take(Date.now(), 10, 20); // 0 (taken) or ms until a token
 */
export class Bucket {
  private tokens = -1;
  private last = 0;
  /** Take one token: 0 when taken, otherwise the ms until one is available. perSecond 0 = no limit. */
  take(now: number, perSecond: number, burst: number): number {
    if (perSecond <= 0) return 0;
    const cap = burst > 0 ? burst : perSecond;
    this.tokens = this.tokens < 0 ? cap : Math.min(cap, this.tokens + ((now - this.last) * perSecond) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / perSecond));
  }
}

/** Buckets by key (e.g. per room), at most `max` remembered (least recently used forgotten). */
export class BucketMap {
  private readonly map: LRUCache<string, Bucket>;
  constructor(max = 100_000) {
    this.map = new LRUCache({ max });
  }
  /** Take a token from the bucket of `key`: 0 or ms to wait. */
  take(key: string, now: number, perSecond: number, burst: number): number {
    if (perSecond <= 0) return 0;
    let b = this.map.get(key);
    if (!b) this.map.set(key, (b = new Bucket()));
    return b.take(now, perSecond, burst);
  }
}

/** Cheap 32-bit FNV-1a hash: names are remembered as numbers, not strings. */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Distinct names per identity per minute; at most `maxIdentities` identities remembered. */
export class NameBudget {
  private readonly map: LRUCache<string, { start: number; names: Set<number> }>;
  constructor(maxIdentities = 1_000) {
    this.map = new LRUCache({ max: maxIdentities });
  }
  /** Count `name` for `who`: 0 when within `perMinute` (or already counted this minute), otherwise ms until the minute ends. */
  use(who: string, name: string, now: number, perMinute: number): number {
    if (perMinute <= 0) return 0;
    let e = this.map.get(who);
    if (!e || now - e.start >= 60_000) this.map.set(who, (e = { start: now, names: new Set() }));
    const h = fnv(name);
    if (e.names.has(h)) return 0;
    if (e.names.size >= perMinute) return Math.max(1, e.start + 60_000 - now);
    e.names.add(h);
    return 0;
  }
}

/** Open connections per identity (a count; an identity at 0 is forgotten). */
export class Counter {
  private readonly map = new Map<string, number>();
  /** Connections open for `key`. */
  get(key: string): number {
    return this.map.get(key) ?? 0;
  }
  /** Count one connection opened (1) or closed (-1). */
  add(key: string, n: 1 | -1): void {
    const v = this.get(key) + n;
    if (v <= 0) this.map.delete(key);
    else this.map.set(key, v);
  }
}
