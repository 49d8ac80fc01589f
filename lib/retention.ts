/** Retention configuration: defaults, per-namespace and per-room-pattern overrides. */
import { compositeKey } from './store/keys.js';
import type { Retention, RetentionResolver } from './store/types.js';

/** Defaults for every room (PROTOCOL.md §5.6). */
export const DEFAULT_RETENTION: Retention = {
  maxMessages: 10_000,
  maxAgeMs: 24 * 60 * 60 * 1000,
  maxBytes: 16 * 1024 * 1024,
  overflow: 'drop-oldest',
  dedupWindowMs: 2 * 60 * 1000,
};

/** An override for the rooms a rule matches. `room` is a glob (`*` matches any run of characters) or a RegExp. */
export interface RetentionRule extends Partial<Retention> {
  ns?: string | RegExp;
  room?: string | RegExp;
}

function matcher(p: string | RegExp | undefined): (s: string) => boolean {
  if (p === undefined) return () => true;
  if (p instanceof RegExp) return (s) => p.test(s);
  const re = new RegExp(
    `^${p
      .split('*')
      .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return (s) => re.test(s);
}

/**
 * Build a resolver: defaults, then `base`, then every matching rule in order (later wins).
 * Results are cached per (ns, room).
 * @example
 * const resolve = retentionResolver({ maxMessages: 1000 }, [{ room: 'jobs.*', overflow: 'reject' }]);
 */
export function retentionResolver(base: Partial<Retention> = {}, rules: RetentionRule[] = []): RetentionResolver {
  const compiled = rules.map((r) => ({ ns: matcher(r.ns), room: matcher(r.room), rule: r }));
  const cache = new Map<string, Retention>();
  return (ns, room) => {
    const k = compositeKey(ns, room); // D6: length-prefixed, so no two (ns, room) pairs share a cache entry
    let r = cache.get(k);
    if (!r) {
      r = { ...DEFAULT_RETENTION, ...base };
      for (const c of compiled) {
        if (!c.ns(ns) || !c.room(room)) continue;
        const { ns: _n, room: _r, ...limits } = c.rule;
        Object.assign(r, limits);
      }
      if (cache.size > 10_000) cache.clear();
      cache.set(k, r);
    }
    return r;
  };
}
