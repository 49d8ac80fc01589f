/**
 * Guard: everything the server checks about who may do what, in one object per server —
 * at the upgrade (Origin, connection limits, credentials → identity and permissions) and per
 * frame (rate limit, permissions, per-connection limits, publish rate per room). Handlers call
 * one method per action (`connect`, `join`, `emit`) and send the refusal it returns.
 */
import type { IncomingMessage } from 'node:http';
import type { JoinFrame } from '../../protocol/frames.js';
import { PermissionRule, type Action, type AuthConfig, type LimitsConfig } from '../config.js';
import type { Connection } from '../connection.js';
import type { Socket } from '../socket.js';
import { JwtVerifier, TokenRefused } from './jwt.js';
import { KeyRing } from './keys.js';
import { Bucket, BucketMap, Counter, NameBudget } from './limits.js';
import { authorize, globMatch, type Credentials, type Refusal } from './permissions.js';

/**
 * The per-frame hook of the server library (`server.authorize = …`): runs after the
 * configured permissions allowed an action; return a sentence to refuse it (`forbidden`).
 * @example
 * server.authorize = (socket, action, { room }) => (action === 'emit' && room === 'announcements' && !socket.handshake.credentials?.claims?.admin ? 'only admins announce' : undefined);
 */
export type AuthorizeHook = (socket: Socket, action: Action, target: { ns: string; room?: string }) => string | undefined | void;

/** The outcome of the upgrade checks. */
export type Admission =
  | {
      ok: true;
      credentials?: Credentials;
      client?: string;
      /** The identity counted by maxConnectionsPerClient (connections without one count only in the total). */
      identity?: string;
      /** Give back the connection slot `admit` reserved, when the upgrade does not complete (idempotent). */
      release: () => void;
    }
  | { ok: false; status: number; reason: string };

/** Who a credential names, before a connection slot is reserved for it. */
type Identified = Omit<Extract<Admission, { ok: true }>, 'release'> | Extract<Admission, { ok: false }>;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const MAX_TIMER = 2 ** 31 - 1;
const EMIT: Action[] = ['emit'];
const no = (status: number, reason: string): Admission => ({ ok: false, status, reason });
/** The credentials the upgrade put on the connection's handshake (undefined when no `auth` is configured). */
const credentialsOf = (conn: Connection): Credentials | undefined => (conn.handshake as { credentials?: Credentials }).credentials;

/** One server's checks and counters. */
export class Guard {
  private readonly jwt: JwtVerifier | undefined;
  private readonly keys: KeyRing;
  private open = 0;
  private readonly perIdentity = new Counter();
  private readonly frameBuckets = new WeakMap<Connection, Bucket>();
  private readonly roomBuckets = new BucketMap();
  private readonly names = new NameBudget();

  constructor(
    private readonly o: { auth?: AuthConfig; limits: LimitsConfig; origins?: string[] },
    private readonly now: () => number,
    private readonly hook: () => AuthorizeHook | undefined,
  ) {
    this.jwt = o.auth?.jwt ? JwtVerifier.load(o.auth.jwt) : undefined;
    this.keys = new KeyRing(o.auth?.keys ?? []);
  }

  /** Connections open now (admitted, not yet closed). */
  get connections(): number {
    return this.open;
  }

  /**
   * The upgrade checks, in order: Origin (403), total connections (503), credentials (401)
   * and identity (403), connections per identity (429). Being admitted is the `connect` to "/";
   * the `connect` permission governs the other namespaces.
   */
  async admit(req: IncomingMessage, query: Record<string, string>, token: string | undefined): Promise<Admission> {
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin, req.headers.host)) {
      return no(403, `Forbidden: origin ${origin} may not connect (allowed: ${this.o.origins?.join(', ') ?? 'the same host only'}; see "origins")`);
    }
    const { maxConnections, maxConnectionsPerClient } = this.o.limits;
    if (maxConnections > 0 && this.open >= maxConnections) return no(503, `Service Unavailable: the server holds its maximum of ${maxConnections} connections; retry later`);
    const who = await this.identify(query, token);
    if (!who.ok) return who;
    // Checked again after the await and reserved at once, with nothing in between: concurrent upgrades cannot all pass.
    if (maxConnections > 0 && this.open >= maxConnections) return no(503, `Service Unavailable: the server holds its maximum of ${maxConnections} connections; retry later`);
    if (maxConnectionsPerClient > 0 && who.identity !== undefined && this.perIdentity.get(who.identity) >= maxConnectionsPerClient) {
      return no(429, `Too Many Requests: ${who.identity} already holds ${maxConnectionsPerClient} connections (limits.maxConnectionsPerClient); close one first`);
    }
    this.open++;
    if (who.identity !== undefined) this.perIdentity.add(who.identity, 1);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.open--;
      if (who.identity !== undefined) this.perIdentity.add(who.identity, -1);
    };
    return { ...who, release };
  }

  private originAllowed(origin: string, host: string | undefined): boolean {
    if (this.o.origins) return this.o.origins.some((p) => globMatch(p, origin));
    try {
      return new URL(origin).host === host;
    } catch {
      return false;
    }
  }

  /** Credentials → identity: `?client=` may only repeat the credential's own identity. */
  private async identify(query: Record<string, string>, token: string | undefined): Promise<Identified> {
    const auth = this.o.auth;
    const asked = query.client;
    if (!auth) return { ok: true, ...(asked ? { client: asked } : {}), ...(asked ? { identity: asked } : {}) };
    if (token === undefined) {
      if (!auth.anonymous) return no(401, 'Unauthorized: this server needs a credential: send "Authorization: Bearer <token or API key>" or ?token=');
      if (asked !== undefined && !auth.anonymousClients) {
        return no(403, `Forbidden: an anonymous connection cannot take the durable identity "${asked}"; send a credential for it (or drop ?client=)`);
      }
      const credentials: Credentials = { kind: 'anonymous', permissions: auth.anonymousPermissions, ...(asked ? { client: asked } : {}) };
      return { ok: true, credentials, ...(asked ? { client: asked, identity: asked } : {}) };
    }
    let credentials: Credentials;
    if (JWT_SHAPE.test(token) && this.jwt) {
      try {
        const claims = await this.jwt.verify(token);
        const extra = (claims as Record<string, unknown>)[auth.jwt!.claim];
        let permissions = auth.defaultPermissions;
        if (extra !== undefined) {
          const r = PermissionRule.array().safeParse((extra as { allow?: unknown } | null)?.allow);
          if (!r.success) return no(401, `Unauthorized: the token's "${auth.jwt!.claim}" claim must be {"allow": [{"ns", "room", "actions"}, …]}: ${r.error.issues[0]?.message}`);
          permissions = r.data;
        }
        if (claims.sub !== undefined && !/^[A-Za-z0-9_.:@-]{1,128}$/.test(claims.sub))
          return no(401, 'Unauthorized: the token\'s "sub" must be 1-128 characters of A-Z a-z 0-9 _ . : @ -');
        credentials = { kind: 'jwt', claims, permissions, ...(claims.sub ? { client: claims.sub } : {}), ...(claims.exp ? { expiresAt: claims.exp * 1000 } : {}) };
      } catch (err) {
        if (err instanceof TokenRefused) return no(401, `Unauthorized: ${err.message}`);
        throw err;
      }
    } else {
      const key = this.keys.find(token);
      if (!key) return no(401, `Unauthorized: ${JWT_SHAPE.test(token) ? 'this server does not accept JWTs (no auth.jwt)' : 'unknown API key'}`);
      credentials = { kind: 'key', client: key.client, permissions: key.permissions ?? auth.defaultPermissions };
    }
    if (asked !== undefined && asked !== credentials.client) {
      return no(
        403,
        `Forbidden: the credential is for ${credentials.client ? `"${credentials.client}"` : 'no identity'}, not "${asked}"; a connection cannot claim another identity`,
      );
    }
    return { ok: true, credentials, ...(credentials.client ? { client: credentials.client, identity: credentials.client } : {}) };
  }

  /**
   * An admitted connection's WebSocket opened: close it with 4003 when its credential expires (`expired` is told first, to
   * log it). It stays counted until `closed`. Nothing is kept for a connection whose credential does not expire.
   */
  opened(ws: import('ws').WebSocket, a: Extract<Admission, { ok: true }>, closeCode: number, expired?: () => void): void {
    const exp = a.credentials?.expiresAt;
    if (exp === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const left = exp! - this.now();
      if (left <= 0) {
        expired?.();
        return ws.close(closeCode, 'credentials_expired');
      }
      timer = setTimeout(arm, Math.min(left, MAX_TIMER)).unref(); // R2.2.11: one timer per connection
    };
    arm();
    ws.once('close', () => clearTimeout(timer));
  }

  /** An opened connection ended: its slot is given back (`identity`: the admission's, which is its `client`). Once per opened connection. */
  closed(identity: string | undefined): void {
    this.open--;
    if (identity !== undefined) this.perIdentity.add(identity, -1);
  }

  /** The per-connection frame rate (token bucket); acks and nacks are never limited (they only free the server's work). */
  frame(conn: Connection, type: string): Refusal | undefined {
    const { perSecond, burst } = this.o.limits.frameRate;
    if (perSecond <= 0 || type === 'ack' || type === 'nack') return undefined;
    let b = this.frameBuckets.get(conn);
    if (!b) this.frameBuckets.set(conn, (b = new Bucket()));
    const wait = b.take(this.now(), perSecond, burst);
    if (!wait) return undefined;
    return {
      code: 'rate_limited',
      message: `This connection sent more than ${perSecond} frames a second (burst ${burst || perSecond}; limits.frameRate); this ${type} was dropped. Retry in ${wait} ms.`,
      details: { retryAfterMs: wait, limit: 'frameRate' },
    };
  }

  private check(socket: Socket | undefined, credentials: Credentials | undefined, actions: Action[], ns: string, room?: string): Refusal | undefined {
    for (const a of actions) {
      const r = authorize(credentials, a, ns, room);
      if (r) return r;
    }
    const hook = this.hook();
    if (hook && socket) {
      for (const a of actions) {
        const why = hook(socket, a, room === undefined ? { ns } : { ns, room });
        if (why)
          return {
            code: 'forbidden',
            message: `${a} refused by the server: ${why}`,
            details: { action: a, ns, ...(room !== undefined ? { room } : {}), permission: 'server.authorize' },
          };
      }
    }
    return undefined;
  }

  /** `connect` to a namespace: permission, then namespaces per connection. */
  connect(conn: Connection, ns: string, connecting = 0): Refusal | undefined {
    const r = this.check(conn.sockets.get('/'), credentialsOf(conn), ['connect'], ns);
    if (r) return r;
    const max = this.o.limits.maxNamespacesPerConnection;
    const held = conn.sockets.size + connecting; // `connecting`: this connection's other connects still in their middleware
    if (max > 0 && held >= max)
      return {
        code: 'forbidden',
        message: `This connection is in (or entering) ${held} namespaces, the most allowed (limits.maxNamespacesPerConnection); disconnect one first.`,
        details: { limit: 'maxNamespacesPerConnection', max },
      };
    return this.newName(conn, ns);
  }

  /** `join`: the actions it needs (join + history for `since`, durable, group, dead for `$dead:` rooms), then prefetch, rooms and names limits. */
  join(conn: Connection, socket: Socket, f: JoinFrame): Refusal | undefined {
    const actions: Action[] = f.room.startsWith('$dead:')
      ? ['dead']
      : f.durable
        ? ['durable']
        : f.group !== undefined
          ? ['group']
          : f.since !== undefined
            ? ['join', 'history']
            : ['join'];
    const r = this.check(socket, credentialsOf(conn), actions, socket.nsp.name, f.room);
    if (r) return r;
    const { maxPrefetch, maxRoomsPerConnection } = this.o.limits;
    if (f.prefetch !== undefined && f.prefetch > maxPrefetch)
      return {
        code: 'forbidden',
        message: `join: prefetch ${f.prefetch} is above this server's cap of ${maxPrefetch} (limits.maxPrefetch); ask for ${maxPrefetch} or fewer.`,
        details: { limit: 'maxPrefetch', max: maxPrefetch },
      };
    if (maxRoomsPerConnection > 0 && !socket.subs.has(f.room)) {
      let n = 0;
      for (const s of conn.sockets.values()) n += s.subs.size;
      if (n >= maxRoomsPerConnection)
        return {
          code: 'forbidden',
          message: `join: this connection is in ${n} rooms, the most allowed (limits.maxRoomsPerConnection); leave one first.`,
          details: { limit: 'maxRoomsPerConnection', max: maxRoomsPerConnection },
        };
    }
    return this.newName(conn, socket.nsp.name, f.room);
  }

  /** A room `emit`: permission, names per identity, then the room's publish rate. */
  emit(conn: Connection, socket: Socket, room: string): Refusal | undefined {
    const ns = socket.nsp.name;
    const r = this.check(socket, credentialsOf(conn), EMIT, ns, room) ?? this.newName(conn, ns, room);
    if (r) return r;
    const { perSecond, burst } = this.o.limits.publishRatePerRoom;
    if (perSecond <= 0) return undefined;
    const wait = this.roomBuckets.take(`${ns.length}:${ns}${room}`, this.now(), perSecond, burst);
    if (!wait) return undefined;
    return {
      code: 'rate_limited',
      message: `Room "${room}" takes at most ${perSecond} emits a second (limits.publishRatePerRoom); this emit was not stored or sent. Retry in ${wait} ms.`,
      details: { retryAfterMs: wait, limit: 'publishRatePerRoom' },
    };
  }

  /** Count a namespace or room name against the identity's (or, anonymous, the address's) names per minute. */
  private newName(conn: Connection, ns: string, room?: string): Refusal | undefined {
    const per = this.o.limits.maxNewNamesPerMinute;
    if (per <= 0) return undefined;
    const who = conn.client ?? `address:${conn.handshake.address}`;
    const wait = this.names.use(who, room === undefined ? ns : `${ns.length}:${ns}${room}`, this.now(), per);
    if (!wait) return undefined;
    return {
      code: 'rate_limited',
      message: `This identity used ${per} different names in the last minute (limits.maxNewNamesPerMinute); ${room === undefined ? `namespace "${ns}"` : `room "${room}"`} was refused. Retry in ${wait} ms.`,
      details: { retryAfterMs: wait, limit: 'maxNewNamesPerMinute' },
    };
  }
}
