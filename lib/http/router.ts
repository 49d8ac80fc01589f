/**
 * HttpRouter: the one place plain HTTP requests on the server's port are routed (health,
 * readiness, metrics, admin). Exact paths; WebSocket upgrades never come here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A route handler. It may answer asynchronously; a throw or rejection is answered 500 and logged, never a crash. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/** Answer a request with JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(`${JSON.stringify(body)}\n`);
}

/**
 * Routes by method and exact path; anything not routed goes to the fallback (the server's 426 answer).
 * @example
 * server.http.route('GET', '/hello', (req, res) => {
 *   res.writeHead(200, { 'content-type': 'text/plain' }).end('hi\n');
 * });
 */
export class HttpRouter {
  private readonly routes = new Map<string, Map<string, HttpHandler>>();

  /**
   * @param fallback answers requests no route matches.
   * @param onError told about a handler that threw (the request is answered 500 either way).
   */
  constructor(
    private readonly fallback: HttpHandler,
    private readonly onError: (msg: string, err: unknown) => void = () => {},
  ) {}

  /**
   * Route `method` (e.g. "GET"; "HEAD" is served by a GET route too) on an exact `path` to `handler`. A later route for the same method and path replaces the earlier one.
   * @example
   * router.route('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));
   */
  route(method: string, path: string, handler: HttpHandler): this {
    let byMethod = this.routes.get(path);
    if (!byMethod) this.routes.set(path, (byMethod = new Map()));
    byMethod.set(method.toUpperCase(), handler);
    return this;
  }

  /** True when some method is routed on `path`. */
  has(path: string): boolean {
    return this.routes.has(path);
  }

  /** Answer a request: its route, 405 when the path is routed for other methods, 400 for a bad target, else the fallback. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://x');
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('Bad Request: the request target is not a valid URL path\n');
      return;
    }
    const byMethod = this.routes.get(url.pathname);
    const method = (req.method ?? 'GET').toUpperCase();
    const handler = byMethod ? (byMethod.get(method) ?? (method === 'HEAD' ? byMethod.get('GET') : undefined)) : this.fallback;
    if (!handler) {
      const allow = [...(byMethod?.keys() ?? [])].join(', ');
      res.writeHead(405, { 'content-type': 'text/plain', allow }).end(`Method Not Allowed: ${url.pathname} answers ${allow}\n`);
      return;
    }
    const failed = (err: unknown) => {
      this.onError(`HTTP handler for ${method} ${url.pathname} failed`, err);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(`Internal Server Error: the handler for ${url.pathname} failed\n`);
      else res.destroy();
    };
    try {
      const r = handler(req, res, url);
      if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).then(undefined, failed);
    } catch (err) {
      failed(err);
    }
  }
}
