/**
 * `/healthz` (the process is up and answering) and `/readyz` (this server can take traffic:
 * the store is writable, every registered readiness check passes, it is not shutting down).
 */
import type { Store } from '../store/types.js';
import { type HttpRouter, sendJson } from './router.js';

/** A readiness check: a sentence saying why not ready, or undefined when ready. */
export type ReadinessCheck = () => string | undefined | Promise<string | undefined>;

/** A check that does not answer within this long counts as not ready (a hanging dependency must not hang `/readyz`). */
const CHECK_TIMEOUT_MS = 1000;

/**
 * What `/readyz` asks. Built-in: the store's `health()` and shutting down; more (e.g. "Redis reachable" for a Redis
 * adapter) are added with `add()`.
 * @example
 * server.readiness.add('redis', async () => ((await redis.ping()) === 'PONG' ? undefined : 'Redis does not answer PING'));
 */
export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();

  constructor(
    private readonly store: Store,
    private readonly shuttingDown: () => boolean,
  ) {}

  /** Add (or replace) a named check. */
  add(name: string, check: ReadinessCheck): this {
    this.checks.set(name, check);
    return this;
  }

  /** Remove a named check. */
  delete(name: string): boolean {
    return this.checks.delete(name);
  }

  /** Why this server is not ready; empty when it is. */
  async reasons(): Promise<string[]> {
    const out: string[] = [];
    if (this.shuttingDown()) out.push('the server is shutting down');
    const h = this.store.health();
    if (!h.writable) out.push(`the ${this.store.kind} store is not writable${h.reason ? `: ${h.reason}` : ''}`);
    const results = await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          const timeout = new Promise<string>((r) => {
            timer = setTimeout(() => r(`${name}: no answer within ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS);
          });
          const why = await Promise.race([Promise.resolve().then(check), timeout]);
          return why === undefined ? undefined : why.startsWith(`${name}:`) ? why : `${name}: ${why}`;
        } catch (err) {
          return `${name}: the check failed: ${err instanceof Error ? err.message : String(err)}`;
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    for (const r of results) if (r !== undefined) out.push(r);
    return out;
  }
}

/**
 * Route `GET /healthz` and `GET /readyz` on a router. `node` (e.g. `{ nodeId }` of a node on Redis, decision 6)
 * is added to both answers, so a load balancer's probe says which node answered.
 */
export function routeHealth(router: HttpRouter, readiness: Readiness, node?: Record<string, string>): void {
  router.route('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok', ...node }));
  router.route('GET', '/readyz', async (_req, res) => {
    const reasons = await readiness.reasons();
    if (reasons.length === 0) sendJson(res, 200, { status: 'ready', ...node });
    else sendJson(res, 503, { status: 'not ready', reasons, ...node });
  });
}
