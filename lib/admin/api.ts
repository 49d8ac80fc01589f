/**
 * The admin HTTP API (`/admin/api/…`, JSON) and the dashboard (`/dashboard`), on the server's
 * own port, off unless `admin: { keys: [{ hash }] }` is configured. Every API request carries
 * `Authorization: Bearer <admin key>`; admin keys are a list of their own, not client
 * credentials. Endpoints: GET rooms, GET groups, GET dead, GET stats, POST redrive,
 * POST cursor/reset, POST backup (README "Operations").
 *
 * Re-driving (`POST redrive`) re-publishes each dead letter of `$dead:<room>` into `<room>`
 * with the idempotency key `redrive:<dead epoch>:<offset>` (a repeat within the dedup window
 * is not stored twice), then advances the consumer `admin:redrive` of the dead room past them.
 * The dead room is not trimmed: offsets are never deleted one by one from a log, and other
 * readers of `$dead:<room>` (durable subscribers, `history`) keep their own cursors. "Dead
 * letters" are the messages of the dead room above that consumer's floor.
 */
import { republishData } from '../../protocol/binary.js';
import type { IncomingMessage } from 'node:http';
import { deadLetterRoom } from '../../protocol/frames.js';
import { hashKey } from '../auth/keys.js';
import { sendJson, type HttpHandler } from '../http/router.js';
import { retentionResolver } from '../retention.js';
import type { WsqServer } from '../server.js';
import type { ConsumerState, RetentionResolver, StoredMessage } from '../store/types.js';
import { DASHBOARD_HTML } from './dashboard-page.js';
import { RateRing, recentRefusals } from './stats.js';

/** Where the API lives. */
export const ADMIN_API = '/admin/api/';
/** The consumer of `$dead:<room>` whose floor marks the dead letters already re-driven. */
export const REDRIVE_CONSUMER = 'admin:redrive';
/** Most dead letters one `GET dead` answers, and one `POST redrive` moves. */
export const MAX_PAGE = 1000;
/** Most rooms `GET rooms` lists from the store. */
const MAX_ROOMS = 1000;
/** Largest request body read (the backup's `{dir}`). */
const MAX_BODY = 16 * 1024;

/** A refusal with its status: answered as `{ "error": reason }`. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A room as `GET rooms` lists it. */
export interface RoomRow {
  ns: string;
  room: string;
  /** Sockets subscribed now (any mode). */
  members: number;
  /** Its log is loaded in memory now. */
  loaded: boolean;
  epoch?: string;
  first?: number;
  last?: number;
  retention: ReturnType<RetentionResolver>;
}

/** A consumer as `GET groups` lists it. */
export interface GroupRow {
  name: string;
  kind: 'group' | 'durable' | 'admin';
  members: number;
  floor: number;
  /** last − floor. */
  lag: number;
  /** Delivered, not yet done (as last saved). */
  pending: number;
  /** Done above the floor (acked out of order). */
  done: number;
}

/**
 * Register the admin API and the dashboard on `server.http` when `admin` is configured; returns whether it did.
 * Called by the server's constructor.
 */
export function mountAdmin(server: WsqServer): boolean {
  const cfg = server.options.admin;
  if (!cfg) return false;
  const hashes = new Set(cfg.keys.map((k) => k.hash));
  const retention = retentionResolver(server.options.retention, server.options.retentionRules);
  const rates = new RateRing(server);

  const api = (method: string, path: string, fn: (url: URL, req: IncomingMessage) => Promise<unknown>): void => {
    const handler: HttpHandler = async (req, res, url) => {
      const denied = checkKey(req, hashes);
      if (denied) return sendJson(res, 401, { error: denied }, { 'www-authenticate': 'Bearer realm="wsq admin"' });
      try {
        sendJson(res, 200, await fn(url, req));
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        sendJson(res, err.status, { error: err.message });
      }
    };
    server.http.route(method, ADMIN_API + path, handler);
  };

  api('GET', 'rooms', async (url) => ({ rooms: await listRooms(server, retention, url.searchParams.get('ns') ?? undefined) }));
  api('GET', 'groups', async (url) => {
    const { ns, room } = target(url);
    return { ns, room, groups: await groups(server, ns, room) };
  });
  api('GET', 'dead', async (url) => {
    const { ns, room } = target(url);
    const from = Number(url.searchParams.get('from') ?? 0);
    const limit = Math.min(MAX_PAGE, Number(url.searchParams.get('limit') ?? MAX_PAGE));
    if (!Number.isInteger(from) || from < 0 || !Number.isInteger(limit) || limit < 1) throw new HttpError(400, 'from must be an offset ≥ 0 and limit 1-1000');
    return dead(server, ns, room, from, limit);
  });
  api('GET', 'stats', async () => ({
    connections: server.sockets.sockets.size,
    namespaces: server.namespaceNames().length,
    store: server.store.kind,
    rates: rates.list(),
    refusals: recentRefusals(server),
  }));
  // One re-drive of a room at a time (a second waits for the first), so two at once cannot publish the same dead letters twice.
  const redriving = new Map<string, Promise<unknown>>();
  api('POST', 'redrive', async (url) => {
    const { ns, room } = target(url);
    const k = `${ns.length}:${ns}${room}`;
    const run = (redriving.get(k) ?? Promise.resolve()).catch(() => undefined).then(() => redrive(server, ns, room));
    redriving.set(k, run);
    try {
      return await run;
    } finally {
      if (redriving.get(k) === run) redriving.delete(k);
    }
  });
  api('POST', 'cursor/reset', async (url) => {
    const { ns, room } = target(url);
    const name = url.searchParams.get('consumer');
    const to = url.searchParams.get('to');
    if (!name) throw new HttpError(400, 'consumer is required (a name as `wsq groups` shows it, e.g. group:workers)');
    if (!to) throw new HttpError(400, 'to is required: earliest, latest or an offset');
    return resetCursor(server, ns, room, name, to);
  });
  api('POST', 'backup', async (_url, req) => {
    const body = (await readJson(req)) as { dir?: unknown; compact?: unknown };
    if (typeof body.dir !== 'string' || !body.dir.startsWith('/')) throw new HttpError(400, 'the body must be {"dir": "/absolute/path"} (a directory on the server machine)');
    const store = server.store as { backup?: (dir: string, compact?: boolean) => Promise<void> };
    if (typeof store.backup !== 'function') {
      throw new HttpError(409, `this server runs the ${server.store.kind} store, which has nothing on disk to back up; backups are of the disk store (--data-dir)`);
    }
    const started = Date.now();
    try {
      await store.backup(body.dir, body.compact === true);
    } catch (err) {
      throw new HttpError(409, `the backup to ${body.dir} failed: ${(err as Error).message} (the directory must not already hold a data.mdb)`);
    }
    return { dir: body.dir, ms: Date.now() - started, file: `${body.dir}/data.mdb` };
  });

  server.http.route('GET', '/dashboard', (_req, res) => {
    res
      .writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
      })
      .end(DASHBOARD_HTML);
  });
  return true;
}

/** Why the request is not an admin's (one line), or undefined when its bearer key is a configured admin key. */
function checkKey(req: IncomingMessage, hashes: Set<string>): string | undefined {
  const header = req.headers.authorization;
  if (!header) return 'Unauthorized: send "Authorization: Bearer <admin key>" (admin.keys in the config)';
  const key = /^Bearer +(\S+) *$/i.exec(header)?.[1];
  if (!key) return 'Unauthorized: the Authorization header must be "Bearer <admin key>"';
  if (!hashes.has(hashKey(key))) return 'Unauthorized: this is not an admin key (admin.keys); client API keys do not open the admin API';
  return undefined;
}

/** `ns` (default "/") and `room` (required) of a request. */
function target(url: URL): { ns: string; room: string } {
  const ns = url.searchParams.get('ns') || '/';
  const room = url.searchParams.get('room');
  if (!room) throw new HttpError(400, 'room is required (?room=NAME, and ?ns= for a namespace other than "/")');
  return { ns, room };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > MAX_BODY) throw new HttpError(413, `the request body is over ${MAX_BODY} bytes`);
  }
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    throw new HttpError(400, 'the request body is not JSON');
  }
}

/** Live members per room of a namespace in memory (sockets subscribed, any mode). */
function membersOf(server: WsqServer, ns: string): Map<string, number> {
  const counts = new Map<string, number>();
  const nsp = server.namespace(ns);
  if (!nsp) return counts;
  for (const s of nsp.sockets.values()) for (const room of s.subs.keys()) counts.set(room, (counts.get(room) ?? 0) + 1);
  return counts;
}

async function listRooms(server: WsqServer, retention: RetentionResolver, ns?: string): Promise<RoomRow[]> {
  const rows = new Map<string, RoomRow>();
  const key = (n: string, r: string) => `${n.length}:${n}${r}`;
  const names = ns !== undefined ? [ns] : server.namespaceNames();
  for (const n of names) {
    const members = membersOf(server, n);
    const loaded = new Set(server.namespace(n)?.loadedRooms() ?? []);
    for (const room of new Set([...members.keys(), ...loaded])) {
      rows.set(key(n, room), { ns: n, room, members: members.get(room) ?? 0, loaded: loaded.has(room), retention: retention(n, room) });
    }
  }
  for (const r of await server.store.listRooms(ns, MAX_ROOMS)) {
    const row = rows.get(key(r.ns, r.room)) ?? { ns: r.ns, room: r.room, members: 0, loaded: false, retention: retention(r.ns, r.room) };
    Object.assign(row, { epoch: r.epoch, first: r.first, last: r.last });
    rows.set(key(r.ns, r.room), row);
  }
  return [...rows.values()].sort((a, b) => (a.ns === b.ns ? (a.room < b.room ? -1 : 1) : a.ns < b.ns ? -1 : 1));
}

/** Sockets that are members of the consumer `name` of a room now. */
function consumerMembers(server: WsqServer, ns: string, room: string, name: string): number {
  let n = 0;
  for (const s of server.namespace(ns)?.sockets.values() ?? []) if (s.subs.get(room)?.consumer?.name === name) n++;
  return n;
}

async function groups(server: WsqServer, ns: string, room: string): Promise<GroupRow[]> {
  const { last } = await server.store.position(ns, room);
  const rows = (await server.store.consumerStates(ns, room)).map(({ name, state }) => row(server, ns, room, name, state, last));
  return rows.sort((a, b) => (a.name < b.name ? -1 : 1));
}

function row(server: WsqServer, ns: string, room: string, name: string, s: ConsumerState, last: number): GroupRow {
  const kind = name.startsWith('group:') ? 'group' : name.startsWith('admin:') ? 'admin' : 'durable';
  return {
    name,
    kind,
    members: consumerMembers(server, ns, room, name),
    floor: s.floor,
    lag: Math.max(0, last - s.floor),
    pending: Object.keys(s.attempts).length,
    done: s.done.length,
  };
}

/** The dead letters of `room` not yet re-driven, from offset `from`, at most `limit`. */
async function dead(server: WsqServer, ns: string, room: string, from: number, limit: number) {
  const deadRoom = deadLetterRoom(room);
  const pos = await server.store.position(ns, deadRoom);
  const floor = (await server.store.getConsumer(ns, deadRoom, REDRIVE_CONSUMER))?.floor ?? 0;
  const msgs = await server.store.read(ns, deadRoom, Math.max(from, floor + 1), limit + 1);
  const page = msgs.slice(0, limit);
  return {
    ns,
    room,
    deadRoom,
    epoch: pos.epoch,
    redriven: floor,
    count: Math.max(0, pos.last - Math.max(floor, pos.first - 1)),
    dead: page.map((m) => ({ offset: m.offset, event: m.event, data: m.data, ts: m.ts, ...(m.from ? { from: m.from } : {}) })),
    ...(msgs.length > limit ? { next: page.at(-1)!.offset + 1 } : {}),
  };
}

/** Re-publish the dead letters of `room` (at most MAX_PAGE per call) and mark them re-driven. */
async function redrive(server: WsqServer, ns: string, room: string) {
  const deadRoom = deadLetterRoom(room);
  const { epoch } = await server.store.position(ns, deadRoom);
  const saved = await server.store.getConsumer(ns, deadRoom, REDRIVE_CONSUMER);
  const floor = saved?.floor ?? 0;
  const msgs: StoredMessage[] = await server.store.read(ns, deadRoom, floor + 1, MAX_PAGE);
  const nsp = server.namespace(ns) ?? (await server.resolveNamespace(ns, {}));
  let stored = 0;
  for (const m of msgs) {
    const key = `redrive:${epoch}:${m.offset}`;
    const r = nsp
      ? await nsp.publish(room, m.event, republishData(m.data), { key, echo: true, ...(m.from ? { from: m.from } : {}) }) // R5.8.6: an envelope is not wrapped twice
      : await server.store.append(ns, room, { event: m.event, data: m.data, ts: server.now(), key, ...(m.from ? { from: m.from } : {}) });
    if (!r.duplicate) stored++;
  }
  const to = msgs.at(-1)?.offset ?? floor;
  if (to > floor) await server.store.putConsumer(ns, deadRoom, REDRIVE_CONSUMER, { floor: to, done: [], attempts: {} });
  const left = (await server.store.position(ns, deadRoom)).last - to;
  return { ns, room, redriven: msgs.length, stored, floor: to, left: Math.max(0, left) };
}

/**
 * Set a consumer's floor. Refused (409) while the consumer has members connected: a live
 * consumer holds its progress in memory and would write over the reset.
 */
async function resetCursor(server: WsqServer, ns: string, room: string, given: string, to: string) {
  const states = await server.store.consumerStates(ns, room);
  const name = states.some((c) => c.name === given) ? given : states.some((c) => c.name === `group:${given}`) ? `group:${given}` : undefined;
  if (!name) throw new HttpError(404, `room "${room}" in namespace "${ns}" has no consumer "${given}" (see GET groups / wsq groups ${room})`);
  const members = consumerMembers(server, ns, room, name);
  if (members > 0) throw new HttpError(409, `consumer "${name}" has ${members} member(s) connected; reset its cursor once they left (a live consumer would write over it)`);
  const { first, last } = await server.store.position(ns, room);
  let floor: number;
  if (to === 'earliest') floor = first - 1;
  else if (to === 'latest') floor = last;
  else if (/^\d+$/.test(to)) floor = Math.min(Number(to), last);
  else throw new HttpError(400, `to must be earliest, latest or an offset (everything at or below it counts as done); got "${to}"`);
  const before = states.find((c) => c.name === name)!.state.floor;
  await server.store.putConsumer(ns, room, name, { floor, done: [], attempts: {} });
  return { ns, room, consumer: name, before, floor, lag: last - floor };
}
