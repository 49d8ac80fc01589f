/**
 * What a conformance check is, and the helpers checks share. A check drives the server
 * under test through raw frames and either returns (pass), throws `NotApplicable` (the
 * server does not offer what the check needs, e.g. an optional 1.x field), or throws
 * anything else (fail, with a sentence saying what was seen).
 */
import { type Peer, type Frame, type PeerOptions, short } from './peer.js';

/** What every check gets: the server's address, bounded waits, and fresh names. */
export interface Ctx {
  /** The ws:// or wss:// URL under test. */
  url: string;
  /** The bounded wait for one expected frame, in ms. */
  waitMs: number;
  /** Upgrade headers every peer sends (e.g. an Authorization header). */
  headers?: Record<string, string>;
  /** The welcome of a probe connection. */
  welcome: Frame;
  /** Credentials the server refuses (for R2.1.9, R2.2.5), when the operator gave some. */
  refusedToken?: string;
  /** `welcome.limits`, when the server announces it. */
  limits?: Record<string, unknown>;
  /** Open a peer (closed after the check). */
  open(opts?: Partial<PeerOptions>): Promise<Peer>;
  /** A room name unique to this run. */
  room(tag: string): string;
  /** A client identity unique to this run. */
  client(tag: string): string;
  /** A namespace name unique to this run. */
  ns(tag: string): string;
}

/** One check: the requirements it decides, a name, and what it does. */
export interface Check {
  reqs: string[];
  name: string;
  run(ctx: Ctx): Promise<void>;
}

/** Thrown by a check that cannot run against this server; reported as N/A with the reason. */
export class NotApplicable extends Error {}

/** Give up on a check as not applicable. */
export function na(why: string): never {
  throw new NotApplicable(why);
}

/** Fail the check with `msg` unless `cond` holds. */
export function expect(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** Fail unless `f` is an error frame with `code`; returns it. */
export function isError(f: Frame, code: string, what: string): Frame {
  expect(f.type === 'error' && f.code === code, `${what}: expected error ${code}, got ${short(f)}`);
  expect(typeof f.message === 'string' && f.message.length > 0, `${what}: the ${code} error has no message`);
  return f;
}

/** Send a request and expect an error with `code` carrying its id. */
export async function refused(p: Peer, frame: Frame, code: string, what = frame.type as string): Promise<Frame> {
  return isError(await p.request(frame), code, what);
}

/** Send raw text and expect an error of `code` (matched by code, since raw text may carry no usable id). */
export async function refusedRaw(p: Peer, text: string, code: string, what: string): Promise<Frame> {
  const mark = p.frames.length;
  p.sendRaw(text);
  const f = await p.next((x) => x.type === 'error');
  expect(p.frames.indexOf(f) >= mark, `${what}: an earlier error arrived`);
  return isError(f, code, what);
}

/** Join and expect `joined`. */
export async function join(p: Peer, room: string, extra: Frame = {}): Promise<Frame> {
  const f = await p.request({ type: 'join', room, ...extra });
  expect(f.type === 'joined', `join ${room}: expected joined, got ${short(f)}`);
  return f;
}

/** A stored emit with id; expects an ack with an integer offset and a string epoch. */
export async function publish(p: Peer, room: string, data: unknown, extra: Frame = {}): Promise<Frame> {
  const f = await p.request({ type: 'emit', room, event: 'cf', data, ...extra });
  expect(f.type === 'ack', `emit into ${room}: expected ack, got ${short(f)}`);
  expect(Number.isInteger(f.offset) && typeof f.epoch === 'string', `stored emit into ${room}: the ack lacks offset/epoch: ${short(f)}`);
  return f;
}

/** Events of a room received after `mark`, once a ping round-trip proved everything sent before has arrived. */
export async function eventsAfter(p: Peer, mark: number, room: string): Promise<Frame[]> {
  await p.sync();
  return p.frames.slice(mark).filter((f) => f.type === 'event' && f.room === room);
}

/** Frames after `mark` matching pred, after a sync. */
export async function after(p: Peer, mark: number, pred: (f: Frame) => boolean): Promise<Frame[]> {
  await p.sync();
  return p.frames.slice(mark).filter(pred);
}

/** The next event of a room. */
export function nextEvent(p: Peer, room: string, pred: (f: Frame) => boolean = () => true): Promise<Frame> {
  return p.next((f) => f.type === 'event' && f.room === room && pred(f));
}

/** Enter a namespace, or give up as N/A when the server does not serve it. */
export async function enter(p: Peer, ns: string): Promise<void> {
  const f = await p.request({ type: 'connect', ns });
  if (f.type === 'error' && (f.code === 'unknown_namespace' || f.code === 'unauthorized' || f.code === 'forbidden'))
    na(`the server does not let this runner into namespace ${ns} (${f.code})`);
  expect(f.type === 'connected' && f.ns === ns, `connect ${ns}: expected connected, got ${short(f)}`);
}

/** A numeric limit from welcome.limits, or N/A when absent or larger than `max`. */
export function limit(ctx: Ctx, name: string, max: number): number {
  const v = ctx.limits?.[name];
  if (typeof v !== 'number') na(`welcome.limits.${name} is not announced (optional in 1.x), so the runner cannot know the value`);
  if (v > max) na(`welcome.limits.${name} is ${v}, more than this runner waits for (${max})`);
  return v;
}

/** A simple check for one requirement. */
export function check(req: string | string[], name: string, run: (ctx: Ctx) => Promise<void>): Check {
  return { reqs: Array.isArray(req) ? req : [req], name, run };
}
