/** Clean-up of a bench's own Redis keys, shared by bench:cluster and bench:workers. */
import type { Redis } from 'ioredis';

/** Delete the keys under `prefix` (SCAN MATCH prefix*, never FLUSH: the Redis may be shared). */
export async function deletePrefix(r: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== '0');
}
